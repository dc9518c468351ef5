/*
 * The HTTP request head and chunked body parser, fed as the server feeds it.
 * Properties: the outcome does not depend on how the bytes arrive (whole, or
 * in pieces with the parser resuming where it stopped); a head's fields lie
 * inside what was consumed; a chunked body never exceeds its limit and is
 * decoded the same whole or byte by byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parse.h"

#define MAX_HEAD 4096
#define MAX_BODY 2048

static int head_in_pieces(const uint8_t *d, size_t n, size_t step, http_head *h, http_perr *e)
{
    size_t scanned = 0;
    for (size_t len = CC_MIN(step, n);; len = CC_MIN(len + step, n)) {
        int rc = http_head_parse(d, len, MAX_HEAD, &scanned, h, e);
        if (rc != 0 || len == n) return rc;
    }
}

static int body(const uint8_t *d, size_t n, size_t step, cc_buf *out, size_t *used)
{
    http_chunked c;
    http_chunked_init(&c);
    http_perr e;
    size_t off = 0;
    int rc = 0;
    while (off < n) {
        size_t take = CC_MIN(step, n - off), u;
        rc = http_chunked_feed(&c, d + off, take, out, MAX_BODY, &u, &e);
        if (rc < 0) {
            if (e.status != 400 && e.status != 413) abort();
            break;
        }
        off += u;
        if (rc == 1) break;
        if (u != take) abort();
    }
    *used = off;
    if (out->len > MAX_BODY) abort();
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t step = 1 + data[0] % 7;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    http_head a, b;
    http_perr ea = {0}, eb = {0};
    int ra = http_head_parse(d, n, MAX_HEAD, &(size_t){0}, &a, &ea);
    int rb = head_in_pieces(d, n, step, &b, &eb);
    if (ra != rb) abort();
    if (ra < 0 && (ea.status != eb.status || strcmp(ea.message, eb.message) != 0)) abort();
    if (ra < 0 && (ea.status < 400 || ea.status > 505 || !ea.message[0])) abort();
    if (ra > 0) {
        if ((size_t)ra > n || a.n_headers != b.n_headers || strcmp(a.method, b.method) != 0 ||
            strcmp(a.path, b.path) != 0 || a.content_length != b.content_length ||
            a.chunked != b.chunked || a.keep_alive != b.keep_alive)
            abort();
        if (a.chunked && a.content_length >= 0) abort();
        for (size_t i = 0; i < a.n_headers; i++)
            if (strcmp(a.headers[i].name, b.headers[i].name) != 0 ||
                strcmp(a.headers[i].value, b.headers[i].value) != 0)
                abort();
        /* the checks the server runs on what the head carried */
        (void)http_host_allowed(a.host, "localhost,127.0.0.1,[::1],api.example:443", true);
        (void)http_origin_allowed(a.origin, "http://localhost,https://[::1]:8443");
        (void)http_content_type_is_json(http_head_get(&a, "Content-Type"));
        if (a.chunked) {
            cc_buf w = CC_BUF_INIT, p = CC_BUF_INIT;
            size_t uw, up;
            int cw = body(d + ra, n - (size_t)ra, n, &w, &uw);
            int cp = body(d + ra, n - (size_t)ra, step, &p, &up);
            if (cw != cp || (cw == 1 && (uw != up || w.len != p.len ||
                                         (w.len && memcmp(w.data, p.data, w.len) != 0))))
                abort();
            cc_buf_free(&w);
            cc_buf_free(&p);
        }
    }
    if (ra > 0) http_head_clear(&a);
    if (rb > 0) http_head_clear(&b);
    return 0;
}
