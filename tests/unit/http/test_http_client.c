/*
 * The outbound HTTP client: its response parser and chunked decoder on their
 * own, then the client against scripted raw-socket servers on loopback (for
 * answers our own server would never give: malformed heads, bad chunk
 * framing, early closes) and against our http_server for volume.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "http/http.h"
#include "http/http_resp.h"

/* ------------------------------------------------------- parser units */

static int parse(const char *text, http_resp_head *h, char *buf, char *err)
{
    size_t scanned = 0;
    size_t n = strlen(text);
    memcpy(buf, text, n + 1);
    return http_resp_head_parse(buf, n, 4096, &scanned, h, err, 160);
}

static void test_head_parse(void **state)
{
    http_resp_head h;
    char buf[8192], err[160];
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain \r\nContent-Length: 5\r\n"
                     "X-Empty:\r\n\r\nhello";
    int n = parse(ok, &h, buf, err);
    assert_int_equal(n, (int)(strlen(ok) - 5));
    assert_int_equal(h.status, 200);
    assert_int_equal(h.minor, 1);
    assert_int_equal(h.n_headers, 3);
    assert_string_equal(h.headers[0].name, "Content-Type");
    assert_string_equal(h.headers[0].value, "text/plain");
    assert_string_equal(h.headers[2].value, "");
    assert_int_equal(h.content_length, 5);
    assert_false(h.close);

    /* incomplete: more needed, resumable byte by byte */
    size_t scanned = 0;
    size_t len = strlen(ok);
    memcpy(buf, ok, len);
    for (size_t i = 1; i < len - 5; i++)
        assert_int_equal(http_resp_head_parse(buf, i, 4096, &scanned, &h, err, 160), 0);
    assert_int_equal(http_resp_head_parse(buf, len, 4096, &scanned, &h, err, 160), (int)len - 5);

    n = parse("HTTP/1.0 204 No Content\r\n\r\n", &h, buf, err);
    assert_true(n > 0);
    assert_true(h.close); /* 1.0 without keep-alive */
    n = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", &h, buf,
              err);
    assert_true(n > 0);
    assert_true(h.chunked);
    assert_true(h.close); /* both framings: not trusted afterwards */
    n = parse("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\n\r\n", &h, buf, err);
    assert_true(n > 0 && h.close);

    static const struct {
        const char *text, *why;
    } bad[] = {
        {"HTTP/2 200 OK\r\n\r\n", "status line"},
        {"HTTP/1.1 2x0 OK\r\n\r\n", "status code"},
        {"HTTP/1.1 200 OK\nServer: x\r\n\r\n", "bare LF"},
        {"HTTP/1.1 200 OK\r\nA\rB: c\r\n\r\n", "bare CR"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "conflicting"},
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nName : v\r\n\r\n", "malformed header"},
        {"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", "folding"},
        {"HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n", "control byte"},
        {"garbage\r\n\r\n", "status line"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_int_equal(parse(bad[i].text, &h, buf, err), -1);
        if (!strstr(err, bad[i].why)) fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].why);
    }
    /* too many fields */
    cc_buf big = CC_BUF_INIT;
    cc_buf_append_str(&big, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < HTTP_RESP_MAX_FIELDS + 1; i++)
        cc_buf_append_fmt(&big, "X-%d: y\r\n", i);
    cc_buf_append_str(&big, "\r\n");
    /* no end within the limit */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nX: 1\r\n", &h, buf, err), 0);
    scanned = 0;
    assert_int_equal(http_resp_head_parse((char *)big.data, big.len, 64, &scanned, &h, err, 160),
                     -1);
    assert_non_null(strstr(err, "larger than 64"));
    scanned = 0; /* (a failed parse may have cut the buffer: this one goes last) */
    assert_int_equal(http_resp_head_parse((char *)big.data, big.len, 65536, &scanned, &h, err, 160),
                     -1);
    assert_non_null(strstr(err, "too many"));
    cc_buf_free(&big);
}

/* Decodes all of in with pieces of step bytes; returns rc of the last step. */
static int dechunk(const char *in, size_t step, cc_buf *out, size_t *consumed, const char **err)
{
    http_resp_chunked c;
    http_resp_chunked_init(&c);
    size_t len = strlen(in), off = 0, avail = 0;
    int rc = 0;
    while (off < len) {
        avail = CC_MIN(avail + step, len);
        while (off < avail) {
            size_t used, dlen;
            const uint8_t *d;
            rc = http_resp_chunked_step(&c, (const uint8_t *)in + off, avail - off, &used, &d,
                                        &dlen, err);
            if (rc < 0) return rc;
            cc_buf_append(out, d, dlen);
            off += used;
            if (rc == 1) {
                *consumed = off;
                return 1;
            }
        }
    }
    *consumed = off;
    return rc;
}

static void test_chunked(void **state)
{
    const char *body =
        "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";
    for (size_t step = 1; step <= strlen(body); step++) {
        cc_buf out = CC_BUF_INIT;
        size_t used = 0;
        const char *err = NULL;
        assert_int_equal(dechunk(body, step, &out, &used, &err), 1);
        assert_int_equal(out.len, 16);
        assert_memory_equal(out.data, "hello 0123456789", 16);
        assert_int_equal(used, strlen(body) - 4); /* NEXT stays */
        cc_buf_free(&out);
    }
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"x\r\n", "chunk size"},
        {"\r\n", "chunk size"},
        {"5\r\nhelloX", "CRLF"},
        {"5\nhello", "chunk size"},
        {"11111111111111111\r\n", "too large"},
        {"0\r\n\rX", "CRLF"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cc_buf out = CC_BUF_INIT;
        size_t used;
        const char *err = NULL;
        assert_int_equal(dechunk(bad[i].text, 64, &out, &used, &err), -1);
        if (!strstr(err, bad[i].why)) fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].why);
        cc_buf_free(&out);
    }
}

/* ------------------------------------------------- scripted raw server */

typedef struct raw_conn {
    struct raw_srv *s;
    int fd;
    struct event *ev;
    cc_buf in;
} raw_conn;

typedef struct raw_srv {
    struct event_base *base;
    int fd;
    struct event *ev;
    int port;
    const char *reply; /* sent for each request head; NULL = never answer */
    size_t reply_len;  /* 0 = strlen(reply) */
    bool close_after;  /* close after replying */
    const char *greet; /* sent on accept, then the connection is closed */
    int accepted;
    int requests;
    char last_head[1024];
    raw_conn *conns[512];
    int n_conns;
} raw_srv;

static void raw_conn_close(raw_conn *k)
{
    event_free(k->ev);
    close(k->fd);
    cc_buf_free(&k->in);
    k->fd = -1;
}

static void raw_read(evutil_socket_t fd, short what, void *arg)
{
    raw_conn *k = arg;
    raw_srv *s = k->s;
    char b[4096];
    ssize_t n = recv(fd, b, sizeof(b), 0);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN) return;
        raw_conn_close(k);
        return;
    }
    cc_buf_append(&k->in, b, (size_t)n);
    for (;;) {
        uint8_t *end = memmem(k->in.data, k->in.len, "\r\n\r\n", 4);
        if (!end) return;
        size_t hl = (size_t)(end - k->in.data) + 4;
        snprintf(s->last_head, sizeof(s->last_head), "%.*s", (int)hl, (char *)k->in.data);
        /* a body announced by Content-Length is read and ignored */
        const char *cl = strcasestr(s->last_head, "content-length:");
        size_t blen = cl ? (size_t)atol(cl + 15) : 0;
        if (k->in.len < hl + blen) return;
        cc_buf_consume(&k->in, hl + blen);
        s->requests++;
        if (!s->reply) continue;
        size_t rl = s->reply_len ? s->reply_len : strlen(s->reply);
        assert_int_equal(send(fd, s->reply, rl, MSG_NOSIGNAL), (ssize_t)rl);
        if (s->close_after) {
            raw_conn_close(k);
            return;
        }
    }
}

static void raw_accept(evutil_socket_t fd, short what, void *arg)
{
    raw_srv *s = arg;
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return;
    if (s->greet) {
        assert_int_equal(send(c, s->greet, strlen(s->greet), MSG_NOSIGNAL),
                         (ssize_t)strlen(s->greet));
        close(c);
        s->accepted++;
        return;
    }
    raw_conn *k = cc_calloc(1, sizeof(*k));
    k->s = s;
    k->fd = c;
    k->ev = event_new(s->base, c, EV_READ | EV_PERSIST, raw_read, k);
    event_add(k->ev, NULL);
    s->accepted++;
    assert_true(s->n_conns < 512);
    s->conns[s->n_conns++] = k;
}

static void raw_start(raw_srv *s, struct event_base *base)
{
    memset(s, 0, sizeof(*s));
    s->base = base;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->fd, 512), 0);
    socklen_t al = sizeof(a);
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    s->ev = event_new(base, s->fd, EV_READ | EV_PERSIST, raw_accept, s);
    event_add(s->ev, NULL);
}

static void raw_stop(raw_srv *s)
{
    for (int i = 0; i < s->n_conns; i++) {
        if (s->conns[i]->fd >= 0) raw_conn_close(s->conns[i]);
        free(s->conns[i]);
    }
    event_free(s->ev);
    close(s->fd);
}

/* ------------------------------------------------------------ harness */

typedef struct resp {
    int status;
    int n_headers;
    cc_buf body;
    bool done;
    http_client_result result;
    char error[256];
    bool cancel_in_head;
    http_client_req *handle;
    http_client_req *cancel_other; /* cancelled from on_body */
    bool gone;                     /* cancelled: no callback may follow */
} resp;

static int on_head(void *ud, int status, const http_header *h, size_t n)
{
    resp *r = ud;
    assert_false(r->gone);
    r->status = status;
    r->n_headers = (int)n;
    if (r->cancel_in_head) {
        r->gone = true;
        http_client_cancel(r->handle);
        http_client_cancel(r->handle); /* twice is harmless */
    }
    return 0;
}

static void on_body(void *ud, const uint8_t *d, size_t n)
{
    resp *r = ud;
    assert_false(r->gone);
    cc_buf_append(&r->body, d, n);
    if (r->cancel_other) {
        http_client_cancel(r->cancel_other);
        r->cancel_other = NULL;
    }
}

static void on_done(void *ud, http_client_result res, const char *err)
{
    resp *r = ud;
    assert_false(r->gone);
    assert_false(r->done);
    r->done = true;
    r->result = res;
    snprintf(r->error, sizeof(r->error), "%s", err ? err : "");
}

static const http_client_callbacks cbs = {on_head, on_body, on_done};

typedef struct env {
    struct event_base *base;
    http_client *cli;
    raw_srv srv;
    struct event *heartbeat;
} env;

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg) {}

static void loop_until(env *e, bool *flag, double secs)
{
    double end = cc_now_mono() + secs;
    while (!*flag && cc_now_mono() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
}

static http_client_req *start(env *e, const char *method, const char *url, resp *r, double timeout)
{
    memset(r, 0, sizeof(*r));
    http_client_request req = {method, url, NULL, 0, NULL, 0, timeout};
    cc_err err;
    r->handle = http_client_start(e->cli, &req, &cbs, r, &err);
    assert_non_null(r->handle);
    return r->handle;
}

/* Runs one request to the raw server and waits for its end. */
static void fetch(env *e, const char *method, resp *r)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/p?q=1", e->srv.port);
    start(e, method, url, r, 10);
    loop_until(e, &r->done, 20);
    assert_true(r->done);
}

static int setup(void **state)
{
    env *e = cc_calloc(1, sizeof(*e));
    e->base = event_base_new();
    raw_start(&e->srv, e->base);
    e->cli = http_client_new(e->base, NULL, NULL);
    assert_non_null(e->cli);
    /* wakes the loop so waits can check their deadline */
    e->heartbeat = event_new(e->base, -1, EV_PERSIST, heartbeat_cb, NULL);
    struct timeval hb = {0, 20000};
    event_add(e->heartbeat, &hb);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    http_client_free(e->cli);
    raw_stop(&e->srv);
    event_free(e->heartbeat);
    event_base_free(e->base);
    free(e);
    return 0;
}

/* ------------------------------------------------------------ tests */

static void test_keepalive_reuse(void **state)
{
    env *e = *state;
    e->srv.reply = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
    for (int i = 0; i < 5; i++) {
        resp r;
        fetch(e, "GET", &r);
        assert_int_equal(r.result, HTTP_CLIENT_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.n_headers, 2);
        assert_int_equal(r.body.len, 5);
        assert_memory_equal(r.body.data, "hello", 5);
        cc_buf_free(&r.body);
    }
    assert_int_equal(e->srv.requests, 5);
    assert_int_equal(e->srv.accepted, 1); /* one connection for all */
    assert_non_null(strstr(e->srv.last_head, "GET /p?q=1 HTTP/1.1\r\n"));
    char host[64];
    snprintf(host, sizeof(host), "Host: 127.0.0.1:%d\r\n", e->srv.port);
    assert_non_null(strstr(e->srv.last_head, host));
    assert_int_equal(http_client_active(e->cli), 0);
}

static void test_chunked_and_interim(void **state)
{
    env *e = *state;
    e->srv.reply = "HTTP/1.1 100 Continue\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "6\r\ndata: \r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n";
    for (int i = 0; i < 2; i++) {
        resp r;
        fetch(e, "POST", &r);
        assert_int_equal(r.result, HTTP_CLIENT_OK);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body.len, 9);
        assert_memory_equal(r.body.data, "data: abc", 9);
        cc_buf_free(&r.body);
    }
    assert_int_equal(e->srv.accepted, 1);
    /* a POST without a body still says so */
    assert_non_null(strstr(e->srv.last_head, "Content-Length: 0\r\n"));
}

static void test_until_close_and_no_body(void **state)
{
    env *e = *state;
    /* no framing: the body runs to the close, and the connection is not reused */
    e->srv.reply = "HTTP/1.1 200 OK\r\n\r\nall of it";
    e->srv.close_after = true;
    resp r;
    fetch(e, "GET", &r);
    assert_int_equal(r.result, HTTP_CLIENT_OK);
    assert_int_equal(r.body.len, 9);
    cc_buf_free(&r.body);
    fetch(e, "GET", &r);
    assert_int_equal(r.result, HTTP_CLIENT_OK);
    cc_buf_free(&r.body);
    assert_int_equal(e->srv.accepted, 2);

    /* HEAD, 204 and 304 have no body whatever the head says; the connection stays usable */
    e->srv.close_after = false;
    e->srv.reply = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    fetch(e, "HEAD", &r);
    assert_int_equal(r.result, HTTP_CLIENT_OK);
    assert_int_equal(r.body.len, 0);
    e->srv.reply = "HTTP/1.1 204 No Content\r\n\r\n";
    fetch(e, "DELETE", &r);
    assert_int_equal(r.result, HTTP_CLIENT_OK);
    assert_int_equal(r.status, 204);
    e->srv.reply = "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n";
    fetch(e, "GET", &r);
    assert_int_equal(r.result, HTTP_CLIENT_OK);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.body.len, 0);
    assert_int_equal(e->srv.accepted, 3);
    assert_int_equal(e->srv.requests, 5);
}

static void test_malformed(void **state)
{
    env *e = *state;
    static const struct {
        const char *reply;
        bool close;
        http_client_result result;
        const char *why;
    } cases[] = {
        {"HTTP/9 200 OK\r\n\r\n", false, HTTP_CLIENT_ERR_IO, "status line"},
        {"SSH-2.0-OpenSSH\r\n\r\n", false, HTTP_CLIENT_ERR_IO, "status line"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, HTTP_CLIENT_ERR_IO,
         "chunk size"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true, HTTP_CLIENT_ERR_IO,
         "middle of the body"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", true, HTTP_CLIENT_ERR_IO,
         "middle of the body"},
        {"HTTP/1.1 200", true, HTTP_CLIENT_ERR_IO, "before the response head"},
        {"HTTP/1.1 101 Switching Protocols\r\n\r\n", false, HTTP_CLIENT_ERR_IO, "101"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        e->srv.reply = cases[i].reply;
        e->srv.close_after = cases[i].close;
        resp r;
        fetch(e, "GET", &r);
        if (r.result != cases[i].result || !strstr(r.error, cases[i].why))
            fail_msg("case %zu: result %d error '%s'", i, r.result, r.error);
        cc_buf_free(&r.body);
    }
    /* a head that never ends within 64 KiB */
    cc_buf big = CC_BUF_INIT;
    cc_buf_append_str(&big, "HTTP/1.1 200 OK\r\n");
    while (big.len < 70000)
        cc_buf_append_str(&big, "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    cc_buf_append_str(&big, "\r\n");
    e->srv.reply = (const char *)big.data;
    e->srv.reply_len = big.len;
    resp r;
    fetch(e, "GET", &r);
    assert_int_equal(r.result, HTTP_CLIENT_ERR_IO);
    assert_non_null(strstr(r.error, "larger than"));
    e->srv.reply_len = 0;
    cc_buf_free(&big);
    /* the client still works */
    e->srv.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    e->srv.close_after = false;
    fetch(e, "GET", &r);
    assert_int_equal(r.result, HTTP_CLIENT_OK);
    cc_buf_free(&r.body);
    assert_int_equal(http_client_active(e->cli), 0);
}

static void test_cancel_from_callbacks(void **state)
{
    env *e = *state;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", e->srv.port);
    e->srv.reply = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    /* cancelled in its own on_head: nothing more for it */
    resp a;
    start(e, "GET", url, &a, 10);
    a.cancel_in_head = true;
    resp b; /* a second request completes normally */
    start(e, "GET", url, &b, 10);
    loop_until(e, &b.done, 20);
    assert_int_equal(b.result, HTTP_CLIENT_OK);
    assert_false(a.done);
    assert_true(a.gone);
    cc_buf_free(&a.body);
    cc_buf_free(&b.body);

    /* one request's on_body cancels another one in flight (never answered) */
    e->srv.reply = NULL;
    resp held;
    start(e, "GET", url, &held, 10);
    double end = cc_now_mono() + 20;
    while (e->srv.requests < 3 && cc_now_mono() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
    assert_int_equal(e->srv.requests, 3); /* a, b and held */
    e->srv.reply = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    resp c;
    start(e, "GET", url, &c, 10);
    c.cancel_other = held.handle;
    loop_until(e, &c.done, 20);
    assert_int_equal(c.result, HTTP_CLIENT_OK);
    held.gone = true;
    assert_false(held.done);
    /* cancel before anything happened, from outside */
    resp d;
    start(e, "GET", url, &d, 10);
    d.gone = true;
    http_client_cancel(d.handle);
    assert_int_equal(http_client_active(e->cli), 0);
    cc_buf_free(&c.body);
}

/* The server answers as if keeping the connection but closes it at once; the
 * next request, started from on_done, is handed that connection before its
 * EOF is seen. It must be retried on a fresh connection, not fail. */
typedef struct chain {
    env *e;
    char url[64];
    resp first, second;
} chain;

static void chain_done(void *ud, http_client_result res, const char *err)
{
    chain *ch = ud;
    on_done(&ch->first, res, err);
    http_client_request req = {"POST", ch->url, NULL, 0, "{}", 2, 10};
    ch->second.handle = http_client_start(ch->e->cli, &req, &cbs, &ch->second, NULL);
    assert_non_null(ch->second.handle);
}

static void test_stale_connection_retried(void **state)
{
    env *e = *state;
    chain ch = {.e = e};
    snprintf(ch.url, sizeof(ch.url), "http://127.0.0.1:%d/", e->srv.port);
    e->srv.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    e->srv.close_after = true;
    static const http_client_callbacks first_cbs = {NULL, NULL, chain_done};
    http_client_request req = {"GET", ch.url, NULL, 0, NULL, 0, 10};
    assert_non_null(http_client_start(e->cli, &req, &first_cbs, &ch, NULL));
    loop_until(e, &ch.second.done, 20);
    assert_int_equal(ch.first.result, HTTP_CLIENT_OK);
    assert_true(ch.second.done);
    if (ch.second.result != HTTP_CLIENT_OK) fail_msg("second: %s", ch.second.error);
    assert_int_equal(ch.second.body.len, 2);
    assert_int_equal(e->srv.accepted, 2);
    assert_int_equal(e->srv.requests, 2);
    cc_buf_free(&ch.second.body);
}

static void test_timeout_and_connect_errors(void **state)
{
    env *e = *state;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", e->srv.port);
    e->srv.reply = NULL; /* never answers */
    resp r;
    start(e, "GET", url, &r, 0.2);
    loop_until(e, &r.done, 20);
    assert_int_equal(r.result, HTTP_CLIENT_ERR_TIMEOUT);
    assert_non_null(strstr(r.error, "timed out"));

    /* nothing listening */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
    start(e, "GET", url, &r, 10);
    loop_until(e, &r.done, 20);
    assert_int_equal(r.result, HTTP_CLIENT_ERR_CONNECT);
    assert_non_null(strstr(r.error, "refused"));

    /* a TLS handshake with something that is not TLS */
    e->srv.greet = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/", e->srv.port);
    start(e, "GET", url, &r, 10);
    loop_until(e, &r.done, 20);
    assert_int_equal(r.result, HTTP_CLIENT_ERR_CONNECT);
    assert_non_null(strstr(r.error, "TLS"));

    /* bad URLs are refused at once */
    cc_err err;
    http_client_request bad = {"GET", "ftp://x/", NULL, 0, NULL, 0, 0};
    assert_null(http_client_start(e->cli, &bad, &cbs, &r, &err));
    bad.url = "http://[::1/";
    assert_null(http_client_start(e->cli, &bad, &cbs, &r, &err));
    bad.url = "http://h:99999/";
    assert_null(http_client_start(e->cli, &bad, &cbs, &r, &err));
    bad.url = "http://h/a b";
    assert_null(http_client_start(e->cli, &bad, &cbs, &r, &err));
    assert_int_equal(http_client_active(e->cli), 0);
}

static void test_name_resolution(void **state)
{
    env *e = *state;
    e->srv.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    char url[64];
    snprintf(url, sizeof(url), "http://localhost:%d/", e->srv.port);
    resp r;
    start(e, "GET", url, &r, 10);
    loop_until(e, &r.done, 20);
    /* Where localhost is ::1 too and listed first, the client falls back to 127.0.0.1. */
    assert_int_equal(r.result, HTTP_CLIENT_OK);
    assert_non_null(strstr(e->srv.last_head, "Host: localhost:"));
    cc_buf_free(&r.body);
    /* Only /etc/hosts names here: a name that needs a DNS server would send
     * traffic off this machine, which the tests never do. */
}

/* A name with two addresses, the first refusing (nothing listens on 127.0.0.2 at the server's
 * port): each new connection reaches the server through the second one. */
static void test_second_address(void **state)
{
    env *e = *state;
    char hosts[256];
    cc_tmp_template(hosts, sizeof(hosts), "cc-hosts");
    int fd = mkstemp(hosts);
    assert_true(fd >= 0);
    const char *text = "127.0.0.2 two-addresses.test\n127.0.0.1 two-addresses.test\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    http_client_config cfg = {.hosts_file = hosts};
    http_client *cli = http_client_new(e->base, &cfg, NULL);
    assert_non_null(cli);
    http_client *saved = e->cli;
    e->cli = cli;
    e->srv.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    char url[64];
    snprintf(url, sizeof(url), "http://two-addresses.test:%d/", e->srv.port);
    for (int i = 0; i < 2; i++) {
        resp r;
        int before = e->srv.accepted;
        start(e, "GET", url, &r, 10);
        loop_until(e, &r.done, 20);
        assert_int_equal(r.result, HTTP_CLIENT_OK);
        assert_int_equal(e->srv.accepted, before + 1);
        cc_buf_free(&r.body);
    }
    http_client_free(cli);
    e->cli = saved;
    unlink(hosts);
}

/* 300 requests at once against our own server with max_connections 300: the
 * server holds every request until all 300 have arrived, which can only
 * happen if the client opens 300 connections (no cap below the configured
 * one). Then 300 more with the default cap (256): the rest queue and all
 * complete. */
typedef struct many {
    http_req *held[300];
    int n_held;
    int total;
} many;

static void h_many(http_req *r, void *ud)
{
    many *m = ud;
    m->total++;
    if (m->n_held < 0) {
        http_reply(r, 200, "text/plain", "x", 1);
        return;
    }
    m->held[m->n_held++] = r;
    if (m->n_held == 300) {
        for (int i = 0; i < 300; i++)
            http_reply(m->held[i], 200, "text/plain", "x", 1);
        m->n_held = -1;
    }
}

static void test_many_concurrent(void **state)
{
    env *e = *state;
    many m = {0};
    http_server_config scfg = {.port = 0, .max_connections = 1000};
    http_server *srv = http_server_new(e->base, &scfg, NULL);
    assert_non_null(srv);
    http_server_route(srv, "GET", "/m", h_many, &m);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/m", http_server_port(srv));
    for (int round = 0; round < 2; round++) {
        http_client_config cfg = {.max_connections = round == 0 ? 300 : 0};
        http_client *cli = http_client_new(e->base, &cfg, NULL);
        resp *rs = cc_calloc(300, sizeof(*rs));
        http_client_request req = {"GET", url, NULL, 0, NULL, 0, 60};
        for (int i = 0; i < 300; i++)
            assert_non_null(http_client_start(cli, &req, &cbs, &rs[i], NULL));
        double end = cc_now_mono() + 60;
        int done = 0;
        while (done < 300 && cc_now_mono() < end) {
            event_base_loop(e->base, EVLOOP_ONCE);
            done = 0;
            for (int i = 0; i < 300; i++)
                done += rs[i].done;
        }
        assert_int_equal(done, 300);
        for (int i = 0; i < 300; i++) {
            assert_int_equal(rs[i].result, HTTP_CLIENT_OK);
            assert_int_equal(rs[i].status, 200);
            assert_int_equal(rs[i].body.len, 1);
            cc_buf_free(&rs[i].body);
        }
        assert_int_equal(http_client_active(cli), 0);
        http_client_free(cli);
        free(rs);
    }
    assert_int_equal(m.total, 600);
    http_server_free(srv);
}

/* Client sockets to 127.0.0.1:port in TCP state st (/proc/net/tcp: 02 SYN_SENT), or any
 * state for st < 0. */
static int sockets_to(int port, int st)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    assert_non_null(f);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned rport, state;
        if (sscanf(line, " %*d: %*x:%*x %*x:%x %x", &rport, &state) == 2 && (int)rport == port &&
            (st < 0 || (int)state == st))
            n++;
    }
    fclose(f);
    return n;
}

/* A burst to a server whose listen queue is full: only max_connecting connects are out at a
 * time (the kernel drops the SYNs of the others, which would come back only with the SYN
 * retransmit), the other requests wait for a slot rather than fail, and all complete once the
 * server takes connections again. */
static void test_max_connecting(void **state)
{
    env *e = *state;
    e->srv.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    /* A queue of one and nobody accepting: the first connection may be queued (with SYN
     * cookies), every later SYN is dropped and its connect stays in SYN_SENT. */
    event_del(e->srv.ev);
    assert_int_equal(listen(e->srv.fd, 0), 0);
    enum { N = 8, CAP = 2 };
    http_client_config cfg = {.max_connecting = CAP};
    http_client *cli = http_client_new(e->base, &cfg, NULL);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/c", e->srv.port);
    resp rs[N];
    memset(rs, 0, sizeof(rs));
    http_client_request req = {"GET", url, NULL, 0, NULL, 0, 60};
    for (int i = 0; i < N; i++)
        assert_non_null(http_client_start(cli, &req, &cbs, &rs[i], NULL));
    double end = cc_now_mono() + 20;
    while (sockets_to(e->srv.port, 2) < CAP && cc_now_mono() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
    assert_int_equal(sockets_to(e->srv.port, 2), CAP);
    /* More loop turns (the 20 ms heartbeat wakes each): still no further connect. */
    for (int i = 0; i < 10; i++)
        event_base_loop(e->base, EVLOOP_ONCE);
    assert_int_equal(sockets_to(e->srv.port, 2), CAP);
    assert_true(sockets_to(e->srv.port, -1) <= CAP + 1); /* + the one queued */
    for (int i = 0; i < N; i++)
        assert_false(rs[i].done);
    /* The server takes connections again: the dropped SYNs come back (a second later) and
     * every request completes, none failed for waiting. */
    assert_int_equal(listen(e->srv.fd, 512), 0);
    event_add(e->srv.ev, NULL);
    end = cc_now_mono() + 60;
    int done = 0;
    while (done < N && cc_now_mono() < end) {
        event_base_loop(e->base, EVLOOP_ONCE);
        done = 0;
        for (int i = 0; i < N; i++)
            done += rs[i].done;
    }
    assert_int_equal(done, N);
    for (int i = 0; i < N; i++) {
        if (rs[i].result != HTTP_CLIENT_OK) fail_msg("request %d: %s", i, rs[i].error);
        assert_int_equal(rs[i].status, 200);
        assert_int_equal(rs[i].body.len, 2);
        cc_buf_free(&rs[i].body);
    }
    assert_int_equal(e->srv.requests, N);
    assert_int_equal(http_client_active(cli), 0);
    http_client_free(cli);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_parse),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test_setup_teardown(test_keepalive_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_and_interim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_until_close_and_no_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_from_callbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_connection_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_and_connect_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_resolution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_connecting, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
