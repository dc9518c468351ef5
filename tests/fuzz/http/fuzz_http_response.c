/*
 * The outbound client's response head parser and chunked decoder, fed as the
 * client feeds them. Properties: the outcome does not depend on how the bytes
 * arrive (whole, or growing in pieces with the parser resuming); a head's
 * fields lie inside the bytes it took; chunked framing decodes to the same
 * data whole or in pieces, never takes more than it was given, and every
 * error comes with a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_resp.h"

#define MAX_HEAD 4096

static int head_whole(const uint8_t *d, size_t n, char *buf, http_resp_head *h, char *err)
{
    memcpy(buf, d, n);
    return http_resp_head_parse(buf, n, MAX_HEAD, &(size_t){0}, h, err, 160);
}

static int head_in_pieces(const uint8_t *d, size_t n, size_t step, char *buf, http_resp_head *h,
                          char *err)
{
    size_t scanned = 0;
    for (size_t len = CC_MIN(step, n);; len = CC_MIN(len + step, n)) {
        memcpy(buf, d, len); /* the buffer grows as reads arrive */
        int rc = http_resp_head_parse(buf, len, MAX_HEAD, &scanned, h, err, 160);
        if (rc != 0 || len == n) return rc;
    }
}

/* Decodes with input arriving step bytes at a time; returns the last rc. */
static int dechunk(const uint8_t *d, size_t n, size_t step, cc_buf *out, size_t *used_total)
{
    http_resp_chunked c;
    http_resp_chunked_init(&c);
    size_t off = 0, avail = 0;
    int rc = 0;
    while (off < n && rc == 0) {
        avail = CC_MIN(avail + step, n);
        while (off < avail && rc == 0) {
            size_t used, dlen;
            const uint8_t *p;
            const char *err = NULL;
            rc = http_resp_chunked_step(&c, d + off, avail - off, &used, &p, &dlen, &err);
            if (rc < 0) {
                if (!err || !err[0]) abort();
                break;
            }
            if (used == 0 || used > avail - off) abort();
            if (dlen && (p < d + off || p + dlen > d + off + used)) abort();
            cc_buf_append(out, p, dlen);
            off += used;
        }
    }
    *used_total = off;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t step = 1 + data[0] % 7;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    char *ba = malloc(n + 1), *bb = malloc(n + 1);
    http_resp_head a, b;
    char ea[160] = "", eb[160] = "";
    int ra = head_whole(d, n, ba, &a, ea);
    int rb = head_in_pieces(d, n, step, bb, &b, eb);
    if (ra != rb) abort();
    if (ra < 0 && (strcmp(ea, eb) != 0 || !ea[0])) abort();
    if (ra > 0) {
        if ((size_t)ra > n || a.status < 100 || a.status > 999 || a.n_headers != b.n_headers ||
            a.content_length != b.content_length || a.chunked != b.chunked || a.close != b.close)
            abort();
        if (a.chunked && a.content_length >= 0) abort();
        for (size_t i = 0; i < a.n_headers; i++) {
            if (a.headers[i].name < ba || a.headers[i].value >= ba + ra) abort();
            if (strcmp(a.headers[i].name, b.headers[i].name) != 0 ||
                strcmp(a.headers[i].value, b.headers[i].value) != 0)
                abort();
        }
        if (a.chunked) {
            cc_buf w = CC_BUF_INIT, p = CC_BUF_INIT;
            size_t uw, up;
            int cw = dechunk(d + ra, n - (size_t)ra, n, &w, &uw);
            int cp = dechunk(d + ra, n - (size_t)ra, step, &p, &up);
            if (cw != cp || w.len != p.len || (w.len && memcmp(w.data, p.data, w.len) != 0))
                abort();
            if (cw == 1 && uw != up) abort();
            cc_buf_free(&w);
            cc_buf_free(&p);
        }
    }
    /* the whole input as a chunked body, too */
    cc_buf w = CC_BUF_INIT;
    size_t u;
    (void)dechunk(d, n, step, &w, &u);
    if (w.len > n) abort();
    cc_buf_free(&w);
    free(ba);
    free(bb);
    return 0;
}
