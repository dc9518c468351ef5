/* OpenAI-style error bodies: {"error":{"message","type","param","code"}}. */
#include "openai/openai_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int openai_error_set(openai_error *e, int status, const char *code, const char *fmt, ...)
{
    if (!e) return -1;
    e->status = status;
    e->type = openai_error_type_for_status(status);
    e->code = code;
    e->param[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -1;
}

int openai_error_param(openai_error *e, const char *param, const char *fmt, ...)
{
    if (!e) return -1;
    openai_error_set(e, 400, NULL, "%s", "");
    snprintf(e->param, sizeof(e->param), "%s", param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -1;
}

const char *openai_error_type_for_status(int status)
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
    /* The SDKs key on the status; the type only needs to be the usual family
     * (OpenAI itself answers an unknown URL or model with invalid_request_error). */
    return status >= 500 ? "server_error" : "invalid_request_error";
}

char *openai_error_json(const openai_error *e)
{
    const char *type = e->type ? e->type : openai_error_type_for_status(e->status);
    json_t *inner = json_object();
    json_object_set_new(inner, "message", openai_json_text(e->message, strlen(e->message), "?"));
    json_object_set_new(inner, "type", json_string(type));
    json_object_set_new(inner, "param",
                        e->param[0] ? openai_json_text(e->param, strlen(e->param), "?")
                                    : json_null());
    json_object_set_new(inner, "code", e->code ? json_string(e->code) : json_null());
    json_t *root = json_pack("{s:o}", "error", inner);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!s)
        s = cc_strdup("{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\","
                      "\"param\":null,\"code\":null}}");
    return s;
}
