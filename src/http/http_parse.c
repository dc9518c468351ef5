/*
 * HTTP/1.x request heads and chunked bodies (RFC 9110, RFC 9112), parsed
 * strictly: see http_parse.h for what is rejected and why.
 */
#include "http_parse.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest method accepted (the longest registered ones have 16 letters). */
#define MAX_METHOD 20
/* Longest chunk-size line (size and extensions) and the trailer section. */
#define MAX_CHUNK_LINE 4096
#define MAX_TRAILERS 8192

static int fail(http_perr *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(http_perr *e, int status, const char *code, const char *fmt, ...)
{
    e->status = status;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -1;
}

/* RFC 9110 token characters. */
static bool is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar, SP, HTAB and obs-text: everything but controls and DEL. */
static bool is_value_char(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

/* Whether a comma-separated list (Connection) holds a token, any case. */
static bool list_has(const char *list, const char *tok)
{
    size_t n = strlen(tok);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == n && strncasecmp(s, tok, n) == 0) return true;
    }
    return false;
}

/* Finds the end of the head, checking line endings on the way. Returns the
 * head's length, 0 for more, -1 on error. */
static long find_end(const uint8_t *buf, size_t len, size_t start, size_t *scanned, http_perr *e)
{
    /* Reject what cannot be a request line at once, without waiting for a
     * whole head of garbage. */
    for (size_t i = start; i < len; i++) {
        if (buf[i] == ' ') break;
        if (!is_tchar(buf[i]) || i - start >= MAX_METHOD)
            return fail(e, 400, "invalid_request", "Malformed HTTP request line");
    }
    size_t i = CC_MAX(*scanned, start);
    for (; i < len; i++) {
        uint8_t c = buf[i];
        if (c == '\r') {
            if (i + 1 == len) break; /* decided by the next byte */
            if (buf[i + 1] != '\n')
                return fail(e, 400, "invalid_request", "Bare CR in the request head");
        } else if (c == '\n') {
            if (i == start || buf[i - 1] != '\r')
                return fail(e, 400, "invalid_request", "Bare LF in the request head");
            if (i - start >= 3 && buf[i - 2] == '\n') {
                *scanned = i + 1;
                return (long)(i + 1);
            }
        } else if (c == 0) {
            return fail(e, 400, "invalid_request", "NUL byte in the request head");
        }
    }
    *scanned = i;
    return 0;
}

static int parse_request_line(char *line, http_head *h, http_perr *e)
{
    char *sp1 = strchr(line, ' ');
    if (!sp1 || sp1 == line) return fail(e, 400, "invalid_request", "Malformed HTTP request line");
    *sp1 = '\0';
    h->method = line;
    char *target = sp1 + 1;
    char *sp2 = strchr(target, ' ');
    if (!sp2 || sp2 == target)
        return fail(e, 400, "invalid_request", "Malformed HTTP request line");
    *sp2 = '\0';
    const char *version = sp2 + 1;
    for (const char *p = target; *p; p++)
        if ((uint8_t)*p <= 0x20 || (uint8_t)*p >= 0x7f)
            return fail(e, 400, "invalid_request", "Invalid character in the request target");
    if (strncmp(version, "HTTP/", 5) != 0 || strlen(version) != 8 || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
        return fail(e, 400, "invalid_request", "Malformed HTTP version");
    if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
        return fail(e, 505, "http_version_not_supported", "HTTP version %s is not supported",
                    version);
    h->minor = version[7] - '0';
    if (target[0] != '/') {
        if (strcmp(target, "*") == 0 && strcmp(h->method, "OPTIONS") == 0) {
            h->path = target;
            return 0;
        }
        return fail(e, 400, "invalid_request", "The request target must be a path");
    }
    char *q = strchr(target, '?');
    if (q) {
        *q = '\0';
        h->query = q + 1;
    }
    h->path = target;
    return 0;
}

static int parse_content_length(const char *v, int64_t *out, http_perr *e)
{
    size_t n = strlen(v);
    if (n == 0 || n > 18 || strspn(v, "0123456789") != n)
        return fail(e, 400, "invalid_request", "Malformed Content-Length");
    *out = strtoll(v, NULL, 10);
    return 0;
}

/* The meaning of the fields the server acts on. */
static int interpret(http_head *h, http_perr *e)
{
    bool close = false, keep = false, have_te = false;
    h->content_length = -1;
    for (size_t i = 0; i < h->n_headers; i++) {
        const char *n = h->headers[i].name, *v = h->headers[i].value;
        if (ieq(n, "Content-Length")) {
            if (h->content_length >= 0)
                return fail(e, 400, "invalid_request", "Duplicate Content-Length");
            if (parse_content_length(v, &h->content_length, e) < 0) return -1;
        } else if (ieq(n, "Transfer-Encoding")) {
            if (have_te) return fail(e, 400, "invalid_request", "Duplicate Transfer-Encoding");
            have_te = true;
            if (h->minor == 0)
                return fail(e, 400, "invalid_request", "Transfer-Encoding in an HTTP/1.0 request");
            if (!ieq(v, "chunked"))
                return fail(e, 501, "not_implemented",
                            "Transfer-Encoding \"%.40s\" is not supported", v);
            h->chunked = true;
        } else if (ieq(n, "Host")) {
            if (h->host) return fail(e, 400, "invalid_request", "Duplicate Host");
            h->host = v;
        } else if (ieq(n, "Origin")) {
            if (h->origin) return fail(e, 400, "invalid_request", "Duplicate Origin");
            h->origin = v;
        } else if (ieq(n, "Connection")) {
            close |= list_has(v, "close");
            keep |= list_has(v, "keep-alive");
        } else if (ieq(n, "Expect")) {
            if (!ieq(v, "100-continue"))
                return fail(e, 417, "expectation_failed", "Expectation \"%.40s\" is not supported",
                            v);
            h->expect_continue = true;
        }
    }
    if (h->chunked && h->content_length >= 0)
        return fail(e, 400, "invalid_request", "Both Content-Length and Transfer-Encoding");
    if (h->minor == 1 && !h->host) return fail(e, 400, "invalid_request", "Missing Host header");
    h->keep_alive = !close && (h->minor == 1 || keep);
    return 0;
}

int http_head_parse(const uint8_t *buf, size_t len, size_t max_head, size_t *scanned,
                    http_head *out, http_perr *e)
{
    memset(out, 0, sizeof(*out));
    size_t start = 0;
    while (start + 1 < len && buf[start] == '\r' && buf[start + 1] == '\n')
        start += 2;
    if (start + 1 == len && buf[start] == '\r') /* maybe one more empty line */
        return len > max_head ? fail(e, 431, "request_header_fields_too_large",
                                     "The request head exceeds the limit of %zu bytes", max_head)
                              : 0;
    long end = find_end(buf, len, start, scanned, e);
    if (end < 0) return -1;
    if ((end == 0 && len > max_head) || (size_t)end > max_head)
        return fail(e, 431, "request_header_fields_too_large",
                    "The request head exceeds the limit of %zu bytes", max_head);
    if (end == 0) return 0;

    size_t n = (size_t)end - start;
    out->raw = cc_malloc(n + 1);
    memcpy(out->raw, buf + start, n);
    out->raw[n] = '\0';
    /* Cut at each CRLF: lines are then NUL-terminated strings in place. */
    char *line = out->raw;
    char *eol = strstr(line, "\r\n");
    *eol = '\0';
    if (parse_request_line(line, out, e) < 0) goto bad;
    size_t cap = 0;
    for (line = eol + 2; *line != '\r'; line = eol + 2) {
        eol = strstr(line, "\r\n");
        *eol = '\0';
        if (line[0] == ' ' || line[0] == '\t') {
            fail(e, 400, "invalid_request", "Folded header lines are not accepted");
            goto bad;
        }
        char *colon = line;
        while (is_tchar((uint8_t)*colon))
            colon++;
        if (colon == line || *colon != ':') {
            fail(e, 400, "invalid_request", "Malformed header field");
            goto bad;
        }
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        char *ve = v + strlen(v);
        for (char *p = v; p < ve; p++)
            if (!is_value_char((uint8_t)*p)) {
                fail(e, 400, "invalid_request", "Invalid character in header field %.40s", line);
                goto bad;
            }
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            *--ve = '\0';
        if (out->n_headers == HTTP_MAX_HEADER_FIELDS) {
            fail(e, 431, "request_header_fields_too_large",
                 "More than %d header fields in the request", HTTP_MAX_HEADER_FIELDS);
            goto bad;
        }
        if (out->n_headers == cap) {
            cap = cap ? cap * 2 : 16;
            out->headers = cc_realloc(out->headers, cap * sizeof(*out->headers));
        }
        out->headers[out->n_headers++] = (http_header){line, v};
    }
    if (interpret(out, e) < 0) goto bad;
    return (int)end;
bad:
    http_head_clear(out);
    return -1;
}

void http_head_clear(http_head *h)
{
    free(h->raw);
    free(h->headers);
    memset(h, 0, sizeof(*h));
}

const char *http_head_get(const http_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (ieq(h->headers[i].name, name)) return h->headers[i].value;
    return NULL;
}

/* ------------------------------------------------------------ chunked */

enum {
    CH_SIZE,         /* hex digits */
    CH_SIZE_WS,      /* whitespace after the digits */
    CH_EXT,          /* chunk extension, ignored */
    CH_SIZE_LF,      /* CR seen after the size line */
    CH_DATA,         /* chunk data */
    CH_DATA_CR,      /* CRLF after the data */
    CH_DATA_LF,      /* CR seen after the data */
    CH_TRAILER,      /* start of a trailer line, or of the final CRLF */
    CH_TRAILER_LINE, /* inside a trailer line */
    CH_TRAILER_LF,   /* CR seen at the end of a trailer line */
    CH_END_LF,       /* CR of the final empty line seen */
    CH_DONE,
};

void http_chunked_init(http_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = CH_SIZE;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int bad_chunk(http_perr *e, const char *what)
{
    return fail(e, 400, "invalid_request", "Malformed chunked body: %s", what);
}

int http_chunked_feed(http_chunked *c, const uint8_t *in, size_t len, cc_buf *body, size_t max_body,
                      size_t *used, http_perr *e)
{
    size_t i = 0;
    *used = 0;
    while (i < len && c->state != CH_DONE) {
        uint8_t b = in[i];
        switch (c->state) {
        case CH_DATA: {
            size_t take = (size_t)CC_MIN((uint64_t)(len - i), c->left);
            cc_buf_append(body, in + i, take);
            c->left -= take;
            i += take;
            if (c->left == 0) c->state = CH_DATA_CR;
            continue;
        }
        case CH_SIZE: {
            int v = hexval(b);
            if (v >= 0) {
                if (c->left >> 60) return bad_chunk(e, "chunk size too large");
                c->left = c->left << 4 | (uint64_t)v;
                c->digits = true;
            } else if (!c->digits) {
                return bad_chunk(e, "chunk size expected");
            } else if (b == ' ' || b == '\t') {
                c->state = CH_SIZE_WS;
            } else if (b == ';') {
                c->state = CH_EXT;
            } else if (b == '\r') {
                c->state = CH_SIZE_LF;
            } else {
                return bad_chunk(e, "invalid character in the chunk size");
            }
            break;
        }
        case CH_SIZE_WS:
            if (b == ';')
                c->state = CH_EXT;
            else if (b == '\r')
                c->state = CH_SIZE_LF;
            else if (b != ' ' && b != '\t')
                return bad_chunk(e, "invalid character after the chunk size");
            break;
        case CH_EXT:
            if (b == '\r')
                c->state = CH_SIZE_LF;
            else if (!is_value_char(b))
                return bad_chunk(e, "invalid character in a chunk extension");
            break;
        case CH_SIZE_LF:
            if (b != '\n') return bad_chunk(e, "CR without LF after the chunk size");
            if (c->left > max_body - CC_MIN(body->len, max_body))
                return fail(e, 413, "request_too_large",
                            "Request body exceeds the limit of %zu bytes", max_body);
            c->state = c->left ? CH_DATA : CH_TRAILER;
            c->digits = false;
            c->line = 0;
            break;
        case CH_DATA_CR:
            if (b != '\r') return bad_chunk(e, "chunk data longer than its size");
            c->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (b != '\n') return bad_chunk(e, "CR without LF after chunk data");
            c->state = CH_SIZE;
            break;
        case CH_TRAILER:
            if (b == '\r') {
                c->state = CH_END_LF;
                break;
            }
            if (!is_tchar(b)) return bad_chunk(e, "malformed trailer field");
            c->state = CH_TRAILER_LINE;
            break;
        case CH_TRAILER_LINE:
            if (b == '\r')
                c->state = CH_TRAILER_LF;
            else if (!is_value_char(b))
                return bad_chunk(e, "invalid character in a trailer field");
            break;
        case CH_TRAILER_LF:
            if (b != '\n') return bad_chunk(e, "CR without LF in the trailer section");
            c->state = CH_TRAILER;
            break;
        case CH_END_LF:
            if (b != '\n') return bad_chunk(e, "CR without LF at the end");
            c->state = CH_DONE;
            break;
        default:
            return bad_chunk(e, "internal state");
        }
        i++;
        /* Size lines and trailers are bounded: a sender cannot make us
         * scan extensions forever. */
        if (c->state == CH_SIZE || c->state == CH_SIZE_WS || c->state == CH_EXT) {
            if (++c->line > MAX_CHUNK_LINE) return bad_chunk(e, "chunk size line too long");
        } else if (c->state >= CH_TRAILER && c->state <= CH_END_LF) {
            if (++c->trailers > MAX_TRAILERS) return bad_chunk(e, "trailer section too large");
        }
    }
    *used = i;
    return c->state == CH_DONE ? 1 : 0;
}

/* ------------------------------------------------------ allow-lists */

typedef struct hostport {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    const char *port; /* digits, not NUL-terminated, or NULL */
    size_t port_len;
} hostport;

/* Splits "name[:port]" or "[v6][:port]" (s of length n). */
static bool split_hostport(const char *s, size_t n, hostport *hp)
{
    memset(hp, 0, sizeof(*hp));
    size_t name_end;
    if (n && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb) return false;
        name_end = (size_t)(rb - s) + 1;
    } else {
        const char *colon = memchr(s, ':', n);
        name_end = colon ? (size_t)(colon - s) : n;
    }
    hp->name = s;
    hp->name_len = name_end;
    if (name_end < n) {
        if (s[name_end] != ':') return false;
        hp->port = s + name_end + 1;
        hp->port_len = n - name_end - 1;
        if (hp->port_len == 0 || hp->port_len > 5) return false;
        for (size_t i = 0; i < hp->port_len; i++)
            if (hp->port[i] < '0' || hp->port[i] > '9') return false;
    }
    return hp->name_len > 0;
}

static bool is_ip_literal(const hostport *hp)
{
    char tmp[64];
    unsigned char addr[16];
    if (hp->name_len >= sizeof(tmp)) return false;
    if (hp->name[0] == '[') {
        memcpy(tmp, hp->name + 1, hp->name_len - 2);
        tmp[hp->name_len - 2] = '\0';
        return inet_pton(AF_INET6, tmp, addr) == 1;
    }
    memcpy(tmp, hp->name, hp->name_len);
    tmp[hp->name_len] = '\0';
    return inet_pton(AF_INET, tmp, addr) == 1;
}

/* Calls match(entry, entry_len, ctx) for each trimmed entry of a list. */
static bool list_any(const char *list, bool (*match)(const char *, size_t, const void *),
                     const void *ctx)
{
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && e[-1] == ' ')
            e--;
        if (e > s && ((e - s == 1 && *s == '*') || match(s, (size_t)(e - s), ctx))) return true;
    }
    return false;
}

static bool hostport_match(const hostport *want, const hostport *got)
{
    if (want->name_len != got->name_len || strncasecmp(want->name, got->name, got->name_len) != 0)
        return false;
    if (!want->port) return true;
    return got->port && want->port_len == got->port_len &&
           memcmp(want->port, got->port, got->port_len) == 0;
}

static bool host_entry_match(const char *s, size_t n, const void *ctx)
{
    hostport want;
    return split_hostport(s, n, &want) && hostport_match(&want, ctx);
}

bool http_host_allowed(const char *host, const char *list, bool any_ip)
{
    hostport got;
    if (!host || !split_hostport(host, strlen(host), &got)) return false;
    if (any_ip && is_ip_literal(&got)) return true;
    return list && list_any(list, host_entry_match, &got);
}

typedef struct origin {
    const char *scheme;
    size_t scheme_len;
    hostport hp;
} origin;

static bool split_origin(const char *s, size_t n, origin *o)
{
    const char *sep = NULL;
    for (size_t i = 0; i + 3 <= n; i++)
        if (memcmp(s + i, "://", 3) == 0) {
            sep = s + i;
            break;
        }
    if (!sep || sep == s) return false;
    o->scheme = s;
    o->scheme_len = (size_t)(sep - s);
    const char *rest = sep + 3;
    return split_hostport(rest, n - (size_t)(rest - s), &o->hp);
}

static bool origin_entry_match(const char *s, size_t n, const void *ctx)
{
    const origin *got = ctx;
    origin want;
    return split_origin(s, n, &want) && want.scheme_len == got->scheme_len &&
           strncasecmp(want.scheme, got->scheme, got->scheme_len) == 0 &&
           hostport_match(&want.hp, &got->hp);
}

bool http_origin_allowed(const char *value, const char *list)
{
    origin got;
    if (!value || !list) return false;
    if (strcmp(list, "*") == 0) return true;
    if (!split_origin(value, strlen(value), &got)) return false;
    return list_any(list, origin_entry_match, &got);
}

bool http_content_type_is_json(const char *v)
{
    if (!v) return false;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strncasecmp(v, "application/json", 16) != 0) return false;
    v += 16;
    while (*v == ' ' || *v == '\t')
        v++;
    return *v == '\0' || *v == ';';
}
