/* OpenAI-style error bodies: {"error":{"message","type","param","code"}}. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int http_error_set(http_error *e, int status, const char *code, const char *fmt, ...)
{
    if (!e) return -1;
    e->status = status;
    e->type = http_error_type_for_status(status);
    e->code = code;
    e->param[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -1;
}

const char *http_error_type_for_status(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 402:
        return "insufficient_quota";
    case 403:
        return "permission_error";
    case 429:
        return "rate_limit_error";
    default:
        break;
    }
    /* The SDKs key on the status; the type only needs to be the usual family. */
    return status >= 500 ? "server_error" : "invalid_request_error";
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* Messages may quote client input (or be cut mid-character by snprintf);
 * jansson refuses invalid UTF-8, so replace bad bytes with '?'. */
static json_t *json_string_lossy(const char *s)
{
    size_t n = strlen(s);
    char *copy = cc_strdup(s);
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len((const unsigned char *)copy + i, n - i);
        if (l == 0) {
            copy[i++] = '?';
        } else {
            i += l;
        }
    }
    json_t *j = json_string(copy);
    free(copy);
    return j;
}

char *http_error_json(const http_error *e)
{
    const char *type = e->type ? e->type : http_error_type_for_status(e->status);
    json_t *inner = json_object();
    json_object_set_new(inner, "message", json_string_lossy(e->message));
    json_object_set_new(inner, "type", json_string(type));
    json_object_set_new(inner, "param", e->param[0] ? json_string_lossy(e->param) : json_null());
    json_object_set_new(inner, "code", e->code ? json_string(e->code) : json_null());
    json_t *root = json_pack("{s:o}", "error", inner);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!s)
        s = cc_strdup("{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\","
                      "\"param\":null,\"code\":null}}");
    return s;
}
