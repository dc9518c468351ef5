/* A strict walk over JSON text for the hot paths that only need a field or
 * two of a small document (openai_int.h). */
#include "openai/openai_int.h"

#include <string.h>

static bool js_container(openai_jscan *j, int depth);

void openai_jscan_ws(openai_jscan *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* A string at j->p ('"' checked by the caller); *plain: no escape in it. */
bool openai_jscan_string(openai_jscan *j, const uint8_t **s, size_t *len, bool *plain)
{
    const uint8_t *start = ++j->p;
    *plain = true;
    while (j->p < j->end) {
        uint8_t c = *j->p;
        if (c == '"') {
            *s = start;
            *len = (size_t)(j->p - start);
            j->p++;
            return true;
        }
        if (c < 0x20) return false;
        if (c >= 0x80) j->unsure = true; /* UTF-8 validity: jansson's call */
        if (c == '\\') {
            *plain = false;
            if (++j->p >= j->end) return false;
            c = *j->p;
            if (c == 'u')
                j->unsure = true; /* surrogates and \u0000: jansson's call */
            else if (!strchr("\"\\/bfnrt", c) || !c)
                return false;
        }
        j->p++;
    }
    return false;
}

static bool js_digits(openai_jscan *j, int *count)
{
    const uint8_t *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    *count += (int)(j->p - s);
    return j->p > s;
}

static bool js_number(openai_jscan *j)
{
    int digits = 0;
    if (*j->p == '-') j->p++;
    if (j->p < j->end && *j->p == '0') {
        j->p++;
        digits++;
    } else if (!js_digits(j, &digits)) {
        return false;
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!js_digits(j, &digits)) return false;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->unsure = true; /* a real's range: jansson's call */
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (!js_digits(j, &digits)) return false;
    }
    if (digits > 15) j->unsure = true; /* an integer's range: jansson's call */
    return true;
}

static bool js_literal(openai_jscan *j, const char *word, size_t n)
{
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0) return false;
    j->p += n;
    return true;
}

/* An object or array at j->p; j->p ends after its closing bracket. */
static bool js_container(openai_jscan *j, int depth)
{
    bool object = *j->p++ == '{';
    uint8_t close = object ? '}' : ']';
    openai_jscan_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return true;
    }
    for (;;) {
        if (object) {
            const uint8_t *k;
            size_t kl;
            bool plain;
            if (j->p >= j->end || *j->p != '"' || !openai_jscan_string(j, &k, &kl, &plain))
                return false;
            openai_jscan_ws(j);
            if (j->p >= j->end || *j->p++ != ':') return false;
            openai_jscan_ws(j);
        }
        if (!openai_jscan_value(j, depth + 1)) return false;
        openai_jscan_ws(j);
        if (j->p >= j->end) return false;
        uint8_t c = *j->p++;
        if (c == close) return true;
        if (c != ',') return false;
        openai_jscan_ws(j);
    }
}

bool openai_jscan_value(openai_jscan *j, int depth)
{
    if (j->p >= j->end) return false;
    if (depth > 64) { /* jansson's depth limit is its call; and no deep recursion here */
        j->unsure = true;
        return false;
    }
    switch (*j->p) {
    case '{':
    case '[':
        return js_container(j, depth);
    case '"': {
        const uint8_t *s;
        size_t l;
        bool plain;
        return openai_jscan_string(j, &s, &l, &plain);
    }
    case 't':
        return js_literal(j, "true", 4);
    case 'f':
        return js_literal(j, "false", 5);
    case 'n':
        return js_literal(j, "null", 4);
    default:
        return (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) && js_number(j);
    }
}
