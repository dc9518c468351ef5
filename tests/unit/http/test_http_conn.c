/* The HTTP server against raw sockets on loopback: rejections before the
 * handler, deadlines, keep-alive, the connection limit, descriptor
 * exhaustion and a client that does not read its stream. Deadlines are
 * configured short; every wait is on an event with a generous limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "http/http.h"

#define WAIT 10.0 /* seconds: the limit of any wait, far above what is expected */

typedef struct env {
    struct event_base *base;
    http_server *srv;
    http_req *held;
    int handled;
    int closed_calls;
    char last_body[256];
    struct event *tick;
    size_t stream_chunk;
    size_t streamed;
    size_t stream_limit; /* stop writing after this many bytes */
    size_t max_pending;
    bool write_failed;
} env;

static env E;

static void h_echo(http_req *r, void *ud)
{
    env *e = ud;
    e->handled++;
    size_t len;
    const uint8_t *b = http_req_body(r, &len);
    snprintf(e->last_body, sizeof(e->last_body), "%.*s", (int)len, (const char *)b);
    http_reply(r, 200, "text/plain", b, len);
}

static void h_closed(http_req *r, void *ud)
{
    (void)r;
    ((env *)ud)->closed_calls++;
}

/* Streams stream_chunk bytes per loop pass until the server refuses. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    env *e = arg;
    if (!e->held || e->write_failed) return;
    static char chunk[16384];
    memset(chunk, 'z', sizeof(chunk));
    if (http_stream_write(e->held, chunk, e->stream_chunk) < 0) {
        e->write_failed = true;
        return;
    }
    e->streamed += e->stream_chunk;
    e->max_pending = CC_MAX(e->max_pending, http_stream_pending(e->held));
    if (e->streamed < e->stream_limit) event_active(e->tick, 0, 0);
}

static void h_stream(http_req *r, void *ud)
{
    env *e = ud;
    e->held = r;
    http_req_on_close(r, h_closed, e);
    http_stream_start(r, 200, "text/event-stream");
    event_active(e->tick, 0, 0);
}

static void start(const http_server_config *cfg)
{
    memset(&E, 0, sizeof(E));
    E.base = event_base_new();
    cc_err err;
    E.srv = http_server_new(E.base, cfg, &err);
    assert_non_null(E.srv);
    http_server_route(E.srv, "POST", "/echo", h_echo, &E);
    http_server_route(E.srv, "GET", "/echo", h_echo, &E);
    http_server_route_ex(E.srv, "POST", "/any", h_echo, &E, HTTP_ROUTE_ANY_CONTENT_TYPE);
    http_server_route(E.srv, "GET", "/stream", h_stream, &E);
    E.tick = event_new(E.base, -1, 0, tick_cb, &E);
    E.stream_chunk = 16384;
    E.stream_limit = (size_t)256 << 20;
}

static void stop(void)
{
    if (E.held) http_stream_end(E.held);
    http_server_free(E.srv);
    event_free(E.tick);
    event_base_free(E.base);
}

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)http_server_port(E.srv))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void send_str(int fd, const char *s)
{
    assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Runs the loop while reading fd until `needle` appears (NULL: until EOF).
 * Returns what arrived; *eof tells whether the server closed. */
static char *read_until(int fd, const char *needle, bool *eof, double limit)
{
    cc_buf b = CC_BUF_INIT;
    double end = cc_now_mono() + limit;
    *eof = false;
    while (cc_now_mono() < end) {
        event_base_loop(E.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 2) == 1) {
            char buf[65536];
            ssize_t n = recv(fd, buf, sizeof(buf), 0);
            if (n <= 0) {
                *eof = true;
                break;
            }
            cc_buf_append(&b, buf, (size_t)n);
            cc_buf_append_u8(&b, 0);
            b.len--;
            if (needle && strstr((char *)b.data, needle)) break;
        }
    }
    cc_buf_append_u8(&b, 0);
    return cc_buf_steal_str(&b);
}

/* Sends a request and expects a status, an OpenAI error code in the body,
 * and whether the server then closes. */
static void expect(const char *req, const char *status_line, const char *code, bool closes)
{
    int fd = raw_connect();
    send_str(fd, req);
    bool eof;
    char *got = read_until(fd, closes ? NULL : "}", &eof, WAIT);
    if (!strstr(got, status_line)) fail_msg("%s\n-> %s (wanted %s)", req, got, status_line);
    if (code) {
        char want[96];
        snprintf(want, sizeof(want), "\"code\":\"%s\"", code);
        if (!strstr(got, want)) fail_msg("%s\n-> %s (wanted %s)", req, got, want);
        assert_non_null(strstr(got, "Content-Type: application/json\r\n"));
        assert_non_null(strstr(got, "{\"error\":{\"message\":"));
    }
    assert_int_equal(eof, closes);
    if (closes) assert_non_null(strstr(got, "Connection: close\r\n"));
    free(got);
    close(fd);
}

static void test_rejections(void **state)
{
    (void)state;
    http_server_config cfg = {.max_body = 100, .max_headers = 512};
    start(&cfg);
    expect("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
           "HTTP/1.1 400 ", "invalid_request", true);
    expect("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
           "HTTP/1.1 400 ", "invalid_request", true);
    char big[700];
    snprintf(big, sizeof(big), "GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Big: %0600d\r\n\r\n", 0);
    expect(big, "HTTP/1.1 431 ", "request_header_fields_too_large", true);
    /* the body is never sent: answered from the head */
    expect("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           "Content-Length: 16777216\r\n\r\n",
           "HTTP/1.1 413 ", "request_too_large", true);
    expect("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           "Transfer-Encoding: chunked\r\n\r\n65\r\n",
           "HTTP/1.1 413 ", "request_too_large", true);
    expect("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
           "HTTP/1.1 400 ", "invalid_request", true);
    /* DNS rebinding and cross-site requests */
    expect("GET /echo HTTP/1.1\r\nHost: rebind.example:10000\r\n\r\n", "HTTP/1.1 421 ",
           "host_not_allowed", false);
    expect("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://evil.example\r\n"
           "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
           "HTTP/1.1 403 ", "origin_not_allowed", true);
    expect("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
           "Content-Length: 2\r\n\r\n{}",
           "HTTP/1.1 415 ", "unsupported_media_type", true);
    expect("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 415 ",
           "unsupported_media_type", false);
    expect("GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n", "HTTP/1.1 404 ", "not_found", false);
    expect("GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ", "invalid_request", true);
    expect("GET / HTTP/3.0\r\nHost: a\r\n\r\n", "HTTP/1.1 505 ", "http_version_not_supported",
           true);
    assert_int_equal(E.handled, 0);
    /* accepted: a loopback Origin, a route that takes any type, JSON with a charset */
    expect("POST /echo HTTP/1.1\r\nHost: [::1]:99\r\nOrigin: http://localhost:3000\r\n"
           "Content-Type: application/json; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}",
           "HTTP/1.1 200 ", NULL, false);
    expect("POST /any HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
           "Content-Length: 3\r\n\r\nabc",
           "HTTP/1.1 200 ", NULL, false);
    assert_int_equal(E.handled, 2);
    stop();
}

/* Names added to the default Host list (a stats port scraped by name) are
 * let in; loopback names still are; others still get 421. */
static void test_extra_hosts(void **state)
{
    (void)state;
    http_server_config cfg = {.extra_hosts = "stats.internal,mon.example:9100"};
    start(&cfg);
    expect("POST /echo HTTP/1.1\r\nHost: stats.internal:11000\r\nContent-Type: application/json\r\n"
           "Content-Length: 2\r\n\r\n{}",
           "HTTP/1.1 200 ", NULL, false);
    expect("POST /echo HTTP/1.1\r\nHost: mon.example:9100\r\nContent-Type: application/json\r\n"
           "Content-Length: 2\r\n\r\n{}",
           "HTTP/1.1 200 ", NULL, false);
    expect("GET /echo HTTP/1.1\r\nHost: mon.example:9101\r\n\r\n", "HTTP/1.1 421 ",
           "host_not_allowed", false);
    expect("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           "Content-Length: 2\r\n\r\n{}",
           "HTTP/1.1 200 ", NULL, false);
    expect("GET /echo HTTP/1.1\r\nHost: rebind.example\r\n\r\n", "HTTP/1.1 421 ",
           "host_not_allowed", false);
    stop();
}

static void test_protocol_features(void **state)
{
    (void)state;
    http_server_config cfg = {0};
    start(&cfg);
    bool eof;
    /* chunked body, then a keep-alive GET on the same connection */
    int fd = raw_connect();
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n3;x=y\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n");
    char *got = read_until(fd, "{\"a\":1}", &eof, WAIT);
    assert_non_null(strstr(got, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(got, "Content-Length: 7\r\n"));
    assert_string_equal(E.last_body, "{\"a\":1}");
    free(got);
    /* HEAD: the head of GET's reply, no body */
    send_str(fd, "HEAD /echo HTTP/1.1\r\nHost: localhost\r\n\r\n");
    got = read_until(fd, "\r\n\r\n", &eof, WAIT);
    assert_non_null(strstr(got, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(got, "Content-Length: 0\r\n"));
    free(got);
    /* Expect: 100-continue: the interim answer comes before the body is sent */
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                 "Expect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    got = read_until(fd, "\r\n\r\n", &eof, WAIT);
    assert_string_equal(got, "HTTP/1.1 100 Continue\r\n\r\n");
    free(got);
    send_str(fd, "null");
    got = read_until(fd, "null", &eof, WAIT);
    assert_non_null(strstr(got, "HTTP/1.1 200 OK\r\n"));
    free(got);
    /* Connection: close is honoured */
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    got = read_until(fd, NULL, &eof, WAIT);
    assert_true(eof);
    assert_non_null(strstr(got, "Connection: close\r\n"));
    free(got);
    close(fd);
    /* HTTP/1.0 with keep-alive asked for */
    fd = raw_connect();
    send_str(fd, "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    got = read_until(fd, "\r\n\r\n", &eof, WAIT);
    assert_non_null(strstr(got, "HTTP/1.0 200 OK\r\n"));
    assert_non_null(strstr(got, "Connection: keep-alive\r\n"));
    free(got);
    send_str(fd, "GET /echo HTTP/1.0\r\n\r\n");
    got = read_until(fd, NULL, &eof, WAIT);
    assert_true(eof);
    free(got);
    close(fd);
    assert_int_equal(E.handled, 6);
    stop();
}

static void test_deadlines(void **state)
{
    (void)state;
    http_server_config cfg = {
        .header_timeout = 0.3, .body_timeout = 0.3, .body_min_rate = 1000, .idle_timeout = 0.3};
    start(&cfg);
    bool eof;
    /* a head that never ends: 408, closed */
    int fd = raw_connect();
    double t0 = cc_now_mono();
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: loc");
    char *got = read_until(fd, NULL, &eof, WAIT);
    assert_true(eof);
    assert_non_null(strstr(got, "HTTP/1.1 408 "));
    assert_non_null(strstr(got, "\"code\":\"request_timeout\""));
    assert_true(cc_now_mono() - t0 >= 0.25);
    free(got);
    close(fd);
    /* a connection that sends nothing: closed without a word */
    fd = raw_connect();
    got = read_until(fd, NULL, &eof, WAIT);
    assert_true(eof);
    assert_string_equal(got, "");
    free(got);
    close(fd);
    /* a body trickling in: dropped once it falls behind the minimum rate */
    fd = raw_connect();
    t0 = cc_now_mono();
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                 "Content-Length: 100\r\n\r\n[1,");
    eof = false;
    cc_buf all = CC_BUF_INIT;
    while (!eof && cc_now_mono() - t0 < WAIT) {
        char *part = read_until(fd, NULL, &eof, 0.1);
        cc_buf_append_str(&all, part);
        free(part);
        if (!eof) send(fd, "1,", 2, MSG_NOSIGNAL); /* 20 bytes/s, far below 1000 */
    }
    assert_true(eof);
    cc_buf_append_u8(&all, 0);
    assert_non_null(strstr((char *)all.data, "HTTP/1.1 408 "));
    assert_non_null(strstr((char *)all.data, "arrived too slowly"));
    cc_buf_free(&all);
    close(fd);
    /* keep-alive: idle after a reply, then closed */
    fd = raw_connect();
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n");
    got = read_until(fd, "\r\n\r\n", &eof, WAIT);
    assert_non_null(strstr(got, "HTTP/1.1 200 "));
    free(got);
    got = read_until(fd, NULL, &eof, WAIT);
    assert_true(eof);
    assert_string_equal(got, "");
    free(got);
    close(fd);
    assert_int_equal(E.handled, 1);
    stop();
}

/* Whether a request on fd is answered within `secs` (the loop runs meanwhile). */
static bool answered(int fd, double secs)
{
    bool eof;
    char *got = read_until(fd, "HTTP/1.1 200", &eof, secs);
    bool ok = strstr(got, "HTTP/1.1 200") != NULL;
    free(got);
    return ok;
}

static void test_connection_limit(void **state)
{
    (void)state;
    http_server_config cfg = {.max_connections = 3};
    start(&cfg);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = raw_connect();
        send_str(fds[i], "GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_true(answered(fds[i], WAIT)); /* accepted and kept open */
    }
    /* the fourth waits in the kernel's backlog: not accepted at the limit */
    int extra = raw_connect();
    send_str(extra, "GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_false(answered(extra, 0.3));
    /* one closes: accepting resumes */
    close(fds[0]);
    assert_true(answered(extra, WAIT));
    close(extra);
    close(fds[1]);
    close(fds[2]);
    stop();
}

static int count_loops(double secs)
{
    int n = 0;
    double end = cc_now_mono() + secs;
    while (cc_now_mono() < end) {
        struct timeval tv = {0, 50000};
        event_base_loopexit(E.base, &tv);
        event_base_loop(E.base, EVLOOP_ONCE);
        n++;
    }
    return n;
}

static void test_descriptor_exhaustion(void **state)
{
    (void)state;
    http_server_config cfg = {0};
    start(&cfg);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    /* No descriptor left for accept(): the lowest free one is fd + 1. */
    low = old;
    low.rlim_cur = (rlim_t)fd + 1;
    int spare = dup(fd); /* fd + 1, if free: closed again below */
    if (spare != fd + 1) skip();
    close(spare);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)http_server_port(E.srv))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    send_str(fd, "GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n");
    /* accept() fails with EMFILE: the listener pauses instead of spinning
     * (a spin would run the loop thousands of times in half a second) */
    int loops = count_loops(0.5);
    assert_true(loops < 100);
    assert_int_equal(E.handled, 0);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_true(answered(fd, WAIT));
    close(fd);
    stop();
}

static void test_slow_reader(void **state)
{
    (void)state;
    http_server_config cfg = {.max_output = 256 << 10};
    start(&cfg);
    int fd = raw_connect();
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    send_str(fd, "GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n");
    /* the client never reads: the stream is refused once the cap is reached */
    double end = cc_now_mono() + WAIT;
    while (!E.write_failed && cc_now_mono() < end)
        event_base_loop(E.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_true(E.write_failed);
    assert_true(E.max_pending > 0);                  /* a real backlog was reported */
    assert_true(E.max_pending <= (size_t)256 << 10); /* and bounded */
    assert_true(http_req_client_gone(E.held));
    end = cc_now_mono() + WAIT;
    while (E.closed_calls == 0 && cc_now_mono() < end)
        event_base_loop(E.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(E.closed_calls, 1);
    http_stream_end(E.held);
    E.held = NULL;
    close(fd);
    stop();
}

/* A reading client gets every streamed byte in chunked framing. */
static void test_stream_framing(void **state)
{
    (void)state;
    http_server_config cfg = {0};
    start(&cfg);
    E.stream_chunk = 5;
    E.stream_limit = 10;
    int fd = raw_connect();
    send_str(fd, "GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n");
    bool eof;
    char *got = read_until(fd, "5\r\nzzzzz\r\n5\r\nzzzzz\r\n", &eof, WAIT);
    assert_non_null(strstr(got, "Transfer-Encoding: chunked\r\n"));
    assert_non_null(strstr(got, "Cache-Control: no-cache\r\n"));
    assert_non_null(strstr(got, "\r\n\r\n5\r\nzzzzz\r\n5\r\nzzzzz\r\n"));
    free(got);
    http_stream_end(E.held);
    E.held = NULL;
    got = read_until(fd, "0\r\n\r\n", &eof, WAIT);
    assert_non_null(strstr(got, "0\r\n\r\n"));
    free(got);
    close(fd);
    stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_protocol_features),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_connection_limit),
        cmocka_unit_test(test_descriptor_exhaustion),
        cmocka_unit_test(test_slow_reader),
        cmocka_unit_test(test_stream_framing),
        cmocka_unit_test(test_extra_hosts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
