/*
 * multipart/form-data (RFC 7578 over RFC 2046), as the OpenAI SDKs, curl and
 * browsers send speech-to-text uploads. This parses outside input, so it is
 * strict and bounded: a boundary of 1..70 allowed characters, CRLF line ends
 * only, no preamble, every part headed by a Content-Disposition "form-data"
 * with a name, part headers of bounded size, no transport padding after a
 * delimiter, and nothing after the closing delimiter but one CRLF. Every
 * refusal says what was wrong, and where.
 */
#include "openai/openai.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define BOUNDARY_MAX 70
#define PART_HEADERS_MAX 8192
#define CODE "invalid_multipart"

static int form_error(openai_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int form_error(openai_error *e, const char *fmt, ...)
{
    char msg[sizeof(e->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return openai_error_set(e, 400, CODE, "%s", msg);
}

/* RFC 2046 bchars: DIGIT / ALPHA / "'()+_,-./:=? " (a space only inside). */
static bool bchar(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr("'()+_,-./:=? ", ch));
}

/* Skips blanks. */
static const char *skip_ws(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    return s;
}

/* Reads one header parameter value at *ps (a token or a quoted string with
 * backslash escapes) into out (NUL-terminated); returns -1 when malformed or
 * longer than out. */
static int param_value(const char **ps, const char *end, char *out, size_t cap)
{
    const char *s = *ps;
    size_t n = 0;
    if (s < end && *s == '"') {
        s++;
        for (;;) {
            if (s >= end) return -1; /* unterminated */
            char ch = *s++;
            if (ch == '"') break;
            if (ch == '\\') {
                if (s >= end) return -1;
                ch = *s++;
            }
            if (ch == '\0' || ch == '\r' || ch == '\n' || n + 1 >= cap) return -1;
            out[n++] = ch;
        }
    } else {
        while (s < end && *s != ';' && *s != ' ' && *s != '\t') {
            if ((unsigned char)*s < 0x21 || *s == '"' || n + 1 >= cap) return -1;
            out[n++] = *s++;
        }
        if (n == 0) return -1;
    }
    out[n] = '\0';
    *ps = s;
    return 0;
}

/* Iterates "; key=value" parameters after a media type or disposition.
 * Returns 1 with key/value filled, 0 at the end, -1 when malformed. */
static int next_param(const char **ps, const char *end, char *key, size_t kcap, char *val,
                      size_t vcap)
{
    const char *s = skip_ws(*ps, end);
    if (s >= end) return 0;
    if (*s != ';') return -1;
    s = skip_ws(s + 1, end);
    size_t k = 0;
    while (s < end && *s != '=' && *s != ' ' && *s != '\t' && *s != ';') {
        if (k + 1 >= kcap || (unsigned char)*s < 0x21) return -1;
        key[k++] = (char)((*s >= 'A' && *s <= 'Z') ? *s + 32 : *s);
        s++;
    }
    key[k] = '\0';
    s = skip_ws(s, end);
    if (k == 0 || s >= end || *s != '=') return -1;
    s = skip_ws(s + 1, end);
    if (param_value(&s, end, val, vcap) < 0) return -1;
    *ps = s;
    return 1;
}

static int boundary_of(const char *ct, char *b, openai_error *e)
{
    if (!ct) return form_error(e, "%s", "The request needs a Content-Type: multipart/form-data");
    const char *end = ct + strlen(ct);
    const char *s = skip_ws(ct, end);
    static const char mt[] = "multipart/form-data";
    if (strncasecmp(s, mt, sizeof(mt) - 1) != 0 ||
        (s[sizeof(mt) - 1] && s[sizeof(mt) - 1] != ';' && s[sizeof(mt) - 1] != ' '))
        return form_error(e, "Content-Type must be multipart/form-data, got '%.100s'", ct);
    s += sizeof(mt) - 1;
    char key[32], val[BOUNDARY_MAX + 2];
    b[0] = '\0';
    int rc;
    while ((rc = next_param(&s, end, key, sizeof(key), val, sizeof(val))) == 1) {
        if (strcmp(key, "boundary") != 0) continue;
        if (b[0]) return form_error(e, "%s", "Content-Type names the boundary twice");
        size_t n = strlen(val);
        if (n > BOUNDARY_MAX || val[n - 1] == ' ')
            return form_error(e, "%s", "the multipart boundary is not 1..70 allowed characters");
        for (size_t i = 0; i < n; i++)
            if (!bchar(val[i]))
                return form_error(e, "%s",
                                  "the multipart boundary is not 1..70 allowed characters");
        memcpy(b, val, n + 1);
    }
    if (rc < 0) return form_error(e, "the Content-Type parameters are malformed: '%.100s'", ct);
    if (!b[0]) return form_error(e, "%s", "Content-Type multipart/form-data names no boundary");
    return 0;
}

/* memmem for the delimiter (glibc's is fast, but keep to C17). */
static const uint8_t *find(const uint8_t *h, size_t hn, const uint8_t *nd, size_t nn)
{
    if (nn == 0 || hn < nn) return NULL;
    const uint8_t *last = h + hn - nn;
    for (const uint8_t *p = h; p <= last;) {
        p = memchr(p, nd[0], (size_t)(last - p) + 1);
        if (!p) return NULL;
        if (memcmp(p, nd, nn) == 0) return p;
        p++;
    }
    return NULL;
}

/* Part headers: "Name: value" lines, each ending in CRLF. */
static int part_headers(const char *h, size_t n, openai_form_part *p, size_t index, openai_error *e)
{
    bool disposition = false;
    const char *s = h, *end = h + n;
    while (s < end) {
        const char *eol = memchr(s, '\r', (size_t)(end - s));
        if (!eol || eol + 1 >= end || eol[1] != '\n') {
            return form_error(e, "part %zu: a header line does not end with CRLF", index + 1);
        }
        const char *colon = memchr(s, ':', (size_t)(eol - s));
        if (!colon || colon == s) {
            return form_error(e, "part %zu: a header line has no name", index + 1);
        }
        for (const char *q = s; q < eol; q++)
            if (*q == '\0' || *q == '\n' || (q < colon && (*q == ' ' || *q == '\t'))) {
                return form_error(e, "part %zu: a header line is malformed", index + 1);
            }
        size_t nl = (size_t)(colon - s);
        const char *v = skip_ws(colon + 1, eol);
        if (nl == 19 && strncasecmp(s, "Content-Disposition", nl) == 0) {
            if (disposition) {
                return form_error(e, "part %zu: two Content-Disposition headers", index + 1);
            }
            disposition = true;
            if (strncasecmp(v, "form-data", 9) != 0 ||
                (v + 9 < eol && v[9] != ';' && v[9] != ' ' && v[9] != '\t')) {
                return form_error(e, "part %zu: Content-Disposition is not form-data", index + 1);
            }
            const char *q = v + 9;
            char key[32], val[256];
            int rc;
            bool named = false;
            while ((rc = next_param(&q, eol, key, sizeof(key), val, sizeof(val))) == 1) {
                if (strcmp(key, "name") == 0) {
                    size_t vl = strlen(val);
                    if (named || vl >= sizeof(p->name)) rc = -1;
                    if (rc < 0) break;
                    named = true;
                    memcpy(p->name, val, vl + 1);
                } else if (strcmp(key, "filename") == 0) {
                    if (p->has_filename) {
                        rc = -1;
                        break;
                    }
                    p->has_filename = true;
                    snprintf(p->filename, sizeof(p->filename), "%s", val);
                }
            }
            if (rc < 0 || !named || !p->name[0]) {
                return form_error(
                    e,
                    "part %zu: Content-Disposition needs one name=\"...\" (and at most one "
                    "filename, each under 256 bytes)",
                    index + 1);
            }
        } else if (nl == 12 && strncasecmp(s, "Content-Type", nl) == 0) {
            size_t vl = (size_t)(eol - v);
            if (vl == 0 || vl >= sizeof(p->content_type) || p->content_type[0]) {
                return form_error(e, "part %zu: a bad or repeated Content-Type", index + 1);
            }
            memcpy(p->content_type, v, vl);
            p->content_type[vl] = '\0';
        } else if (nl == 25 && strncasecmp(s, "Content-Transfer-Encoding", nl) == 0) {
            /* RFC 7578 deprecates it; only the identity encodings mean the bytes are the data. */
            size_t vl = (size_t)(eol - v);
            if (!((vl == 6 && !strncasecmp(v, "binary", 6)) ||
                  (vl == 4 && !strncasecmp(v, "8bit", 4)) ||
                  (vl == 4 && !strncasecmp(v, "7bit", 4)))) {
                return form_error(e, "part %zu: Content-Transfer-Encoding must be binary",
                                  index + 1);
            }
        } /* other headers carry nothing a form field needs */
        s = eol + 2;
    }
    if (!disposition) {
        return form_error(e, "part %zu has no Content-Disposition header", index + 1);
    }
    return 0;
}

int openai_form_parse(const char *content_type, const uint8_t *body, size_t len, openai_form *out,
                      openai_error *e)
{
    memset(out, 0, sizeof(*out));
    char b[BOUNDARY_MAX + 1];
    if (boundary_of(content_type, b, e) < 0) return -1;
    /* The delimiter as it occurs between parts: CRLF "--" boundary. */
    uint8_t delim[BOUNDARY_MAX + 4] = {'\r', '\n', '-', '-'};
    size_t bl = strlen(b), dl = bl + 4;
    memcpy(delim + 4, b, bl);
    if (len < dl - 2 || memcmp(body, delim + 2, dl - 2) != 0)
        return form_error(e, "%s", "the body does not start with the multipart boundary");
    size_t pos = dl - 2;
    for (;;) {
        /* after a delimiter: "--" closes, CRLF opens the next part */
        if (len - pos >= 2 && body[pos] == '-' && body[pos + 1] == '-') {
            pos += 2;
            if (pos == len || (len - pos == 2 && body[pos] == '\r' && body[pos + 1] == '\n')) break;
            return form_error(e, "%s", "bytes follow the closing multipart boundary");
        }
        if (len - pos < 2 || body[pos] != '\r' || body[pos + 1] != '\n')
            return form_error(e, "%s", "a multipart boundary is not followed by CRLF");
        pos += 2;
        if (out->n == OPENAI_FORM_MAX_PARTS) {
            return form_error(e, "more than %d form fields", OPENAI_FORM_MAX_PARTS);
        }
        openai_form_part *p = &out->parts[out->n];
        /* the headers end at the first empty line */
        size_t hmax = CC_MIN(len - pos, (size_t)PART_HEADERS_MAX + 4);
        const uint8_t *hend = find(body + pos, hmax, (const uint8_t *)"\r\n\r\n", 4);
        if (!hend) {
            return form_error(e, "part %zu: its headers do not end (or exceed %d bytes)",
                              out->n + 1, PART_HEADERS_MAX);
        }
        if (part_headers((const char *)body + pos, (size_t)(hend - (body + pos)) + 2, p, out->n,
                         e) < 0)
            return -1;
        pos = (size_t)(hend - body) + 4;
        const uint8_t *next = find(body + pos, len - pos, delim, dl);
        if (!next) {
            return form_error(e, "part %zu ('%.64s') is not closed by a boundary", out->n + 1,
                              p->name);
        }
        p->data = body + pos;
        p->len = (size_t)(next - (body + pos));
        out->n++;
        pos = (size_t)(next - body) + dl;
    }
    if (out->n == 0) return form_error(e, "%s", "the multipart body has no fields");
    return 0;
}
