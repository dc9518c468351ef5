/* The request head and chunked body parser, and the Host/Origin/Content-Type
 * checks: every rejection and the accepted edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parse.h"

static int parse_max(const char *s, size_t max, http_head *h, http_perr *e)
{
    size_t scanned = 0;
    memset(e, 0, sizeof(*e));
    return http_head_parse((const uint8_t *)s, strlen(s), max, &scanned, h, e);
}

static int parse(const char *s, http_head *h, http_perr *e)
{
    return parse_max(s, 65536, h, e);
}

/* Expects a rejection with this status and a message containing `what`. */
static void reject(const char *s, int status, const char *what)
{
    http_head h;
    http_perr e;
    int rc = parse(s, &h, &e);
    if (rc != -1 || e.status != status || !strstr(e.message, what))
        fail_msg("%s: rc %d status %d message \"%s\" (wanted %d \"%s\")", s, rc, e.status,
                 e.message, status, what);
}

static void test_simple_get(void **state)
{
    (void)state;
    http_head h;
    http_perr e;
    const char *req = "\r\nGET /v1/models?x=1&y HTTP/1.1\r\nHost: localhost:8080\r\n"
                      "X-Spaces:   padded value \t\r\nAccept:\r\n\r\nNEXT";
    int n = parse(req, &h, &e);
    assert_int_equal(n, (int)(strstr(req, "NEXT") - req));
    assert_string_equal(h.method, "GET");
    assert_string_equal(h.path, "/v1/models");
    assert_string_equal(h.query, "x=1&y");
    assert_int_equal(h.minor, 1);
    assert_int_equal(h.n_headers, 3);
    assert_string_equal(http_head_get(&h, "x-spaces"), "padded value");
    assert_string_equal(http_head_get(&h, "ACCEPT"), "");
    assert_null(http_head_get(&h, "Missing"));
    assert_string_equal(h.host, "localhost:8080");
    assert_int_equal(h.content_length, -1);
    assert_false(h.chunked);
    assert_true(h.keep_alive);
    assert_false(h.expect_continue);
    http_head_clear(&h);
}

static void test_connection_semantics(void **state)
{
    (void)state;
    http_head h;
    http_perr e;
    assert_true(
        parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, Close\r\n\r\n", &h, &e) > 0);
    assert_false(h.keep_alive);
    http_head_clear(&h);
    assert_true(parse("GET / HTTP/1.0\r\n\r\n", &h, &e) > 0);
    assert_int_equal(h.minor, 0);
    assert_false(h.keep_alive);
    assert_null(h.host); /* HTTP/1.0 may omit Host */
    http_head_clear(&h);
    assert_true(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &h, &e) > 0);
    assert_true(h.keep_alive);
    http_head_clear(&h);
    assert_true(parse("POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
                      "Content-Length: 007\r\n\r\n",
                      &h, &e) > 0);
    assert_true(h.expect_continue);
    assert_int_equal(h.content_length, 7);
    http_head_clear(&h);
    assert_true(parse("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &h, &e) >
                0);
    assert_true(h.chunked);
    http_head_clear(&h);
    assert_true(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &h, &e) > 0);
    assert_string_equal(h.path, "*");
    http_head_clear(&h);
}

/* A head fed a byte at a time: more is needed until the last byte, and the
 * resume offset never moves past what was seen. */
static void test_incremental(void **state)
{
    (void)state;
    const char *req = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n";
    size_t len = strlen(req), scanned = 0;
    http_head h;
    http_perr e;
    for (size_t i = 1; i < len; i++) {
        assert_int_equal(http_head_parse((const uint8_t *)req, i, 4096, &scanned, &h, &e), 0);
        assert_true(scanned <= i);
    }
    assert_int_equal(http_head_parse((const uint8_t *)req, len, 4096, &scanned, &h, &e), (int)len);
    assert_int_equal(h.content_length, 2);
    http_head_clear(&h);
}

static void test_rejections(void **state)
{
    (void)state;
    /* framing: the request-smuggling family */
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400,
           "Duplicate Content-Length");
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400,
           "Malformed Content-Length");
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, "Malformed");
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400, "Malformed");
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400, "Malformed");
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400, "Malformed");
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n\r\n", 400,
           "Malformed");
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
           400, "Both Content-Length and Transfer-Encoding");
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
           "not supported");
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
           "Transfer-Encoding: chunked\r\n\r\n",
           400, "Duplicate Transfer-Encoding");
    reject("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0");
    /* field syntax */
    reject("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n", 400, "Folded");
    reject("GET / HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n", 400, "Malformed header field");
    reject("GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400, "Malformed header field");
    reject("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, "Malformed header field");
    reject("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01z\r\n\r\n", 400, "Invalid character");
    reject("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7fz\r\n\r\n", 400, "Invalid character");
    reject("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "Bare LF");
    reject("GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400, "Bare CR");
    {
        static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n";
        size_t scanned = 0;
        http_head h;
        http_perr e;
        assert_int_equal(
            http_head_parse((const uint8_t *)nul, sizeof(nul) - 1, 4096, &scanned, &h, &e), -1);
        assert_non_null(strstr(e.message, "NUL byte"));
    }
    /* Host */
    reject("GET / HTTP/1.1\r\n\r\n", 400, "Missing Host");
    reject("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Duplicate Host");
    reject("GET / HTTP/1.1\r\nHost: a\r\nOrigin: http://a\r\nOrigin: http://b\r\n\r\n", 400,
           "Duplicate Origin");
    /* request line */
    reject("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "not supported");
    reject("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "not supported");
    reject("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400, "Malformed HTTP version");
    reject("GET / http/1.1\r\nHost: a\r\n\r\n", 400, "Malformed HTTP version");
    reject("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "Malformed HTTP request line");
    reject("GET /\r\nHost: a\r\n\r\n", 400, "Malformed HTTP request line");
    reject("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "must be a path");
    reject("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "must be a path");
    reject("GET /a\x80 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "Invalid character");
    reject("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "Malformed HTTP version");
    /* garbage is refused before a whole head arrives */
    reject("\x16\x03\x01\x02", 400, "Malformed HTTP request line");
    reject("G\x01T", 400, "Malformed HTTP request line");
    reject("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 400, "Malformed HTTP request line");
    /* expectations */
    reject("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417, "not supported");
}

static void test_limits(void **state)
{
    (void)state;
    http_head h;
    http_perr e;
    /* incomplete and already past the limit */
    char big[300];
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /", 5);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(parse_max(big, 200, &h, &e), -1);
    assert_int_equal(e.status, 431);
    /* complete but larger than the limit */
    const char *req = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    assert_int_equal(parse_max(req, strlen(req) - 1, &h, &e), -1);
    assert_int_equal(e.status, 431);
    assert_int_equal(parse_max(req, strlen(req), &h, &e), (int)strlen(req));
    http_head_clear(&h);
    /* too many fields */
    cc_buf b = CC_BUF_INIT;
    cc_buf_append_str(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < HTTP_MAX_HEADER_FIELDS; i++)
        cc_buf_append_fmt(&b, "X-%d: v\r\n", i);
    cc_buf_append_str(&b, "\r\n");
    cc_buf_append_u8(&b, 0);
    assert_int_equal(parse((const char *)b.data, &h, &e), -1);
    assert_int_equal(e.status, 431);
    cc_buf_free(&b);
}

/* ------------------------------------------------------------ chunked */

static int chunked(const char *in, size_t step, size_t max, cc_buf *body, size_t *total_used,
                   http_perr *e)
{
    http_chunked c;
    http_chunked_init(&c);
    size_t len = strlen(in), off = 0;
    int rc = 0;
    while (off < len) {
        size_t n = step ? CC_MIN(step, len - off) : len - off, used;
        rc = http_chunked_feed(&c, (const uint8_t *)in + off, n, body, max, &used, e);
        if (rc < 0) return rc;
        off += used;
        if (rc == 1) break;
        assert_int_equal(used, n); /* all taken while not done */
    }
    *total_used = off;
    return rc;
}

static void test_chunked_ok(void **state)
{
    (void)state;
    const char *in = "5\r\nhello\r\n1A;name=value;x\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                     "0 \r\nTrailer-A: x\r\nT2: y\r\n\r\nGET / HTTP/1.1\r\n";
    for (size_t step = 0; step < 4; step++) {
        cc_buf body = CC_BUF_INIT;
        size_t used;
        http_perr e;
        assert_int_equal(chunked(in, step, 1000, &body, &used, &e), 1);
        assert_int_equal(used, (size_t)(strstr(in, "GET") - in)); /* the next request stays */
        assert_int_equal(body.len, 31);
        assert_memory_equal(body.data, "helloabcdefghijklmnopqrstuvwxyz", 31);
        cc_buf_free(&body);
    }
    /* empty body, upper-case hex, exactly the limit */
    cc_buf body = CC_BUF_INIT;
    size_t used;
    http_perr e;
    assert_int_equal(chunked("0\r\n\r\n", 0, 0, &body, &used, &e), 1);
    assert_int_equal(body.len, 0);
    assert_int_equal(chunked("A\r\n0123456789\r\n0\r\n\r\n", 1, 10, &body, &used, &e), 1);
    assert_int_equal(body.len, 10);
    cc_buf_free(&body);
    /* incomplete */
    assert_int_equal(chunked("5\r\nhel", 0, 100, &body, &used, &e), 0);
    cc_buf_free(&body);
}

static void chunk_reject(const char *in, int status, const char *what)
{
    for (size_t step = 0; step < 2; step++) {
        cc_buf body = CC_BUF_INIT;
        size_t used;
        http_perr e = {0};
        int rc = chunked(in, step, 64, &body, &used, &e);
        cc_buf_free(&body);
        if (rc != -1 || e.status != status || !strstr(e.message, what))
            fail_msg("%s: rc %d status %d \"%s\" (wanted %d \"%s\")", in, rc, e.status, e.message,
                     status, what);
    }
}

static void test_chunked_rejections(void **state)
{
    (void)state;
    chunk_reject("\r\n", 400, "chunk size expected");
    chunk_reject("-5\r\nhello\r\n", 400, "chunk size expected");
    chunk_reject("0x5\r\nhello\r\n", 400, "invalid character in the chunk size");
    chunk_reject("5 5\r\nhello\r\n", 400, "after the chunk size");
    chunk_reject("5\nhello\r\n", 400, "invalid character in the chunk size");
    chunk_reject("5\rhello\r\n", 400, "CR without LF");
    chunk_reject("5\r\nhelloX\r\n", 400, "longer than its size");
    chunk_reject("5\r\nhello\rX", 400, "CR without LF after chunk data");
    chunk_reject("5;a\x01\r\nhello\r\n", 400, "chunk extension");
    chunk_reject("fffffffffffffffff\r\n", 400, "too large");
    chunk_reject("41\r\n", 413, "exceeds the limit of 64");
    chunk_reject("20\r\n01234567890123456789012345678901\r\n21\r\n", 413, "limit");
    chunk_reject("0\r\n bad trailer\r\n\r\n", 400, "malformed trailer");
    chunk_reject("0\r\nT: a\x01\r\n\r\n", 400, "trailer field");
    chunk_reject("0\r\n\rX", 400, "at the end");
    /* an endless extension or trailer section is cut off */
    cc_buf b = CC_BUF_INIT;
    cc_buf_append_str(&b, "1;");
    for (int i = 0; i < 5000; i++)
        cc_buf_append_u8(&b, 'x');
    cc_buf_append_u8(&b, 0);
    chunk_reject((const char *)b.data, 400, "line too long");
    cc_buf_reset(&b);
    cc_buf_append_str(&b, "0\r\n");
    for (int i = 0; i < 1000; i++)
        cc_buf_append_str(&b, "X-T: 123456\r\n");
    cc_buf_append_u8(&b, 0);
    chunk_reject((const char *)b.data, 400, "trailer section too large");
    cc_buf_free(&b);
}

/* ----------------------------------------------------- allow-lists */

static void test_host_allowed(void **state)
{
    (void)state;
    const char *lo = "localhost,127.0.0.1,[::1]";
    assert_true(http_host_allowed("localhost", lo, false));
    assert_true(http_host_allowed("LocalHost:10000", lo, false));
    assert_true(http_host_allowed("127.0.0.1:1", lo, false));
    assert_true(http_host_allowed("[::1]:8080", lo, false));
    assert_false(http_host_allowed("evil.example", lo, false));
    assert_false(http_host_allowed("localhost.evil.example", lo, false));
    assert_false(http_host_allowed("127.0.0.2", lo, false));
    assert_false(http_host_allowed("", lo, false));
    assert_false(http_host_allowed("localhost:", lo, false));
    assert_false(http_host_allowed("localhost:80a", lo, false));
    assert_false(http_host_allowed("localhost:123456", lo, false));
    assert_false(http_host_allowed("[::1", lo, false));
    assert_false(http_host_allowed("[::1]x", lo, false));
    assert_false(http_host_allowed(NULL, lo, false));
    /* a port in the entry must match */
    assert_true(http_host_allowed("api.example:8443", "api.example:8443", false));
    assert_false(http_host_allowed("api.example:8444", "api.example:8443", false));
    assert_false(http_host_allowed("api.example", "api.example:8443", false));
    assert_true(http_host_allowed("b", " a , b ", false));
    assert_true(http_host_allowed("anything", "x,*", false));
    /* bound to a wildcard address: IP literals, not names */
    assert_true(http_host_allowed("10.1.2.3:10000", lo, true));
    assert_true(http_host_allowed("[fe80::1]", lo, true));
    assert_false(http_host_allowed("rebind.example", lo, true));
    assert_false(http_host_allowed("10.1.2.3.4", lo, true));
}

static void test_origin_allowed(void **state)
{
    (void)state;
    const char *lo = "http://localhost,http://127.0.0.1,https://[::1]";
    assert_true(http_origin_allowed("http://localhost:3000", lo));
    assert_true(http_origin_allowed("HTTP://127.0.0.1", lo));
    assert_true(http_origin_allowed("https://[::1]:1", lo));
    assert_false(http_origin_allowed("https://localhost", lo)); /* scheme differs */
    assert_false(http_origin_allowed("http://evil.example", lo));
    assert_false(http_origin_allowed("null", lo));
    assert_false(http_origin_allowed("http://localhost.evil.example", lo));
    assert_false(http_origin_allowed("", lo));
    assert_true(http_origin_allowed("https://app.example:8443", "https://app.example:8443"));
    assert_false(http_origin_allowed("https://app.example:8444", "https://app.example:8443"));
    assert_true(http_origin_allowed("null", "*"));
    assert_false(http_origin_allowed("http://a", NULL));
}

static void test_content_type(void **state)
{
    (void)state;
    assert_true(http_content_type_is_json("application/json"));
    assert_true(http_content_type_is_json("Application/JSON; charset=utf-8"));
    assert_true(http_content_type_is_json(" application/json "));
    assert_true(http_content_type_is_json("application/json ;charset=UTF-8"));
    assert_false(http_content_type_is_json("application/jsonx"));
    assert_false(http_content_type_is_json("text/plain"));
    assert_false(http_content_type_is_json("application/x-www-form-urlencoded"));
    assert_false(http_content_type_is_json(""));
    assert_false(http_content_type_is_json(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_connection_semantics),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_chunked_ok),
        cmocka_unit_test(test_chunked_rejections),
        cmocka_unit_test(test_host_allowed),
        cmocka_unit_test(test_origin_allowed),
        cmocka_unit_test(test_content_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
