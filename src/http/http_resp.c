/*
 * The client's response head parser and chunked decoder (see http_resp.h).
 * Both scan with memchr for line ends instead of walking every byte: a
 * streamed answer is mostly chunk data, which is handed on as spans of the
 * read buffer without being looked at.
 */
#include "http_resp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* Field-value and reason-phrase bytes: HTAB, SP, visible ASCII, obs-text. */
static bool is_text(unsigned char ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static int fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

/* Whether the comma-separated list of tokens v contains tok (case-insensitive). */
static bool has_token(const char *v, const char *tok)
{
    size_t tl = strlen(tok);
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        const char *e = v;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - v) == tl && strncasecmp(v, tok, tl) == 0) return true;
        v = e;
    }
    return false;
}

static int parse_length(const char *v, int64_t *out)
{
    if (!*v || strlen(v) > 18) return -1;
    int64_t n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        n = n * 10 + (*p - '0');
    }
    *out = n;
    return 0;
}

/* Finds the end of the head: the byte after the empty line's LF. Every LF
 * must follow a CR (a bare LF is how two parsers come to disagree). */
static long find_end(const char *buf, size_t len, size_t *scanned, char *err, size_t errlen)
{
    size_t i = *scanned;
    while (i < len) {
        const char *lf = memchr(buf + i, '\n', len - i);
        if (!lf) break;
        size_t at = (size_t)(lf - buf);
        if (at == 0 || buf[at - 1] != '\r') return fail(err, errlen, "bare LF in response head");
        if (at >= 3 && buf[at - 2] == '\n') return (long)(at + 1);
        i = at + 1;
    }
    /* Resume at the last CR so a CRLF split across reads is seen whole. */
    *scanned = len && buf[len - 1] == '\r' ? len - 1 : len;
    return 0;
}

int http_resp_head_parse(char *buf, size_t len, size_t max_head, size_t *scanned,
                         http_resp_head *out, char *err, size_t errlen)
{
    long end = find_end(buf, CC_MIN(len, max_head), scanned, err, errlen);
    if (end < 0) return -1;
    if (end == 0) {
        if (len >= max_head) {
            snprintf(err, errlen, "response head larger than %zu bytes", max_head);
            return -1;
        }
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->content_length = -1;
    /* status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF */
    char *p = buf;
    if (end < 14 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return fail(err, errlen, "malformed status line (expected HTTP/1.0 or HTTP/1.1)");
    out->minor = p[7] - '0';
    for (int i = 9; i < 12; i++)
        if (p[i] < '0' || p[i] > '9') return fail(err, errlen, "malformed status code");
    out->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (out->status < 100) return fail(err, errlen, "status code below 100");
    char *eol = memchr(p, '\r', (size_t)end);
    if (eol[1] != '\n') return fail(err, errlen, "bare CR in status line");
    if (eol != p + 12 && p[12] != ' ') return fail(err, errlen, "malformed status line");
    for (char *q = p + 12; q < eol; q++)
        if (!is_text((unsigned char)*q)) return fail(err, errlen, "control byte in reason phrase");
    bool keep_alive = false, te = false;
    p = eol + 2;
    char *stop = buf + end - 2; /* the empty line's CR */
    while (p < stop) {
        eol = memchr(p, '\r', (size_t)(stop - p + 1));
        if (eol[1] != '\n') return fail(err, errlen, "bare CR in response head");
        char *colon = p;
        while (colon < eol && is_tchar((unsigned char)*colon))
            colon++;
        if (colon == p || colon == eol || *colon != ':')
            return fail(err, errlen,
                        *p == ' ' || *p == '\t' ? "obsolete line folding in response head"
                                                : "malformed header field");
        char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (char *q = v; q < ve; q++)
            if (!is_text((unsigned char)*q))
                return fail(err, errlen, "control byte in header value");
        if (out->n_headers == HTTP_RESP_MAX_FIELDS)
            return fail(err, errlen, "too many header fields in response");
        *colon = '\0';
        *ve = '\0';
        http_header *h = &out->headers[out->n_headers++];
        h->name = p;
        h->value = v;
        if (strcasecmp(p, "content-length") == 0) {
            int64_t n;
            if (parse_length(v, &n) < 0) return fail(err, errlen, "malformed Content-Length");
            if (out->content_length >= 0 && out->content_length != n)
                return fail(err, errlen, "conflicting Content-Length fields");
            out->content_length = n;
        } else if (strcasecmp(p, "transfer-encoding") == 0) {
            if (te || strcasecmp(v, "chunked") != 0)
                return fail(err, errlen, "unsupported Transfer-Encoding (only chunked)");
            te = true;
        } else if (strcasecmp(p, "connection") == 0) {
            if (has_token(v, "close")) out->close = true;
            if (has_token(v, "keep-alive")) keep_alive = true;
        }
        p = eol + 2;
    }
    if (te) {
        out->chunked = true;
        /* Both framings: chunked wins (RFC 9112 6.3), but a server that sent
         * both is not trusted with the connection afterwards. */
        if (out->content_length >= 0) out->close = true;
        out->content_length = -1;
    }
    if (out->minor == 0 && !keep_alive) out->close = true;
    return (int)end;
}

/* ------------------------------------------------------------ chunked */

enum {
    CH_SIZE,
    CH_EXT,
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER,
    CH_TRAILER_LINE,
    CH_END_LF,
    CH_DONE,
};

#define CH_MAX_LINE 4096     /* a size line with its extensions */
#define CH_MAX_TRAILERS 8192 /* all trailer fields */

void http_resp_chunked_init(http_resp_chunked *c)
{
    memset(c, 0, sizeof(*c));
}

static int hexval(unsigned char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

int http_resp_chunked_step(http_resp_chunked *c, const uint8_t *in, size_t len, size_t *used,
                           const uint8_t **data, size_t *dlen, const char **err)
{
    size_t i = 0;
    *dlen = 0;
    *data = NULL;
    int rc = 0;
    while (i < len && rc == 0) {
        unsigned char ch = in[i];
        switch (c->state) {
        case CH_SIZE: {
            int h = hexval(ch);
            if (h >= 0) {
                if (c->left > (UINT64_MAX >> 4) || ++c->line > 16) {
                    *err = "chunk size too large";
                    return -1;
                }
                c->left = (c->left << 4) | (uint64_t)h;
                c->digits = true;
                i++;
            } else if (c->digits && (ch == ';' || ch == ' ' || ch == '\t')) {
                c->state = CH_EXT;
            } else if (c->digits && ch == '\r') {
                c->state = CH_SIZE_LF;
                i++;
            } else {
                *err = "malformed chunk size";
                return -1;
            }
            break;
        }
        case CH_EXT: {
            const uint8_t *cr = memchr(in + i, '\r', len - i);
            size_t n = cr ? (size_t)(cr - (in + i)) : len - i;
            c->line += n;
            if (c->line > CH_MAX_LINE) {
                *err = "chunk extension too long";
                return -1;
            }
            i += n;
            if (cr) {
                c->state = CH_SIZE_LF;
                i++;
            }
            break;
        }
        case CH_SIZE_LF:
            if (ch != '\n') {
                *err = "chunk size line not ended by CRLF";
                return -1;
            }
            i++;
            c->state = c->left ? CH_DATA : CH_TRAILER;
            break;
        case CH_DATA: {
            size_t n = (size_t)CC_MIN((uint64_t)(len - i), c->left);
            *data = in + i;
            *dlen = n;
            c->left -= n;
            i += n;
            if (!c->left) c->state = CH_DATA_CR;
            *used = i;
            return 0; /* one span per call */
        }
        case CH_DATA_CR:
            if (ch != '\r') {
                *err = "chunk data not followed by CRLF";
                return -1;
            }
            i++;
            c->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (ch != '\n') {
                *err = "chunk data not followed by CRLF";
                return -1;
            }
            i++;
            c->state = CH_SIZE;
            c->line = 0;
            c->digits = false;
            break;
        case CH_TRAILER:
            if (ch == '\r') {
                c->state = CH_END_LF;
                i++;
            } else {
                c->state = CH_TRAILER_LINE;
            }
            break;
        case CH_TRAILER_LINE: {
            const uint8_t *lf = memchr(in + i, '\n', len - i);
            size_t n = lf ? (size_t)(lf - (in + i)) + 1 : len - i;
            c->trailers += n;
            if (c->trailers > CH_MAX_TRAILERS) {
                *err = "chunked trailers too long";
                return -1;
            }
            i += n;
            if (lf) c->state = CH_TRAILER;
            break;
        }
        case CH_END_LF:
            if (ch != '\n') {
                *err = "chunked body not ended by CRLF";
                return -1;
            }
            i++;
            c->state = CH_DONE;
            rc = 1;
            break;
        default: /* CH_DONE */
            rc = 1;
            break;
        }
    }
    *used = i;
    return c->state == CH_DONE ? 1 : rc;
}
