/* The HTTP server and our outbound client, against each other in one loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "http/http.h"

/* ------------------------------------------------------------ harness */

typedef struct resp {
    int status;
    char content_type[64];
    char request_id[160]; /* X-Request-Id of the answer */
    cc_buf body;
    int body_calls;
    bool done;
    http_client_result result;
    char error[256];
    int abort_head;          /* on_head returns -1 */
    http_client_req *handle; /* for cancel-from-callback */
    size_t cancel_after;     /* cancel once this many body bytes arrived (0 = never) */
    bool cancelled;
} resp;

static int on_head(void *ud, int status, const http_header *h, size_t n)
{
    resp *r = ud;
    r->status = status;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, "Content-Type") == 0)
            snprintf(r->content_type, sizeof(r->content_type), "%s", h[i].value);
        else if (strcasecmp(h[i].name, "X-Request-Id") == 0)
            snprintf(r->request_id, sizeof(r->request_id), "%s", h[i].value);
    return r->abort_head ? -1 : 0;
}

static void on_body(void *ud, const uint8_t *d, size_t n)
{
    resp *r = ud;
    assert_false(r->cancelled);
    cc_buf_append(&r->body, d, n);
    r->body_calls++;
    if (r->cancel_after && r->body.len >= r->cancel_after) {
        r->cancelled = true;
        http_client_cancel(r->handle);
    }
}

static void on_done(void *ud, http_client_result res, const char *err)
{
    resp *r = ud;
    assert_false(r->cancelled);
    r->done = true;
    r->result = res;
    snprintf(r->error, sizeof(r->error), "%s", err ? err : "");
}

static const http_client_callbacks cbs = {on_head, on_body, on_done};

typedef struct env {
    struct event_base *base;
    http_server *srv;
    http_client *cli;
    char url[64];
    /* handler state */
    http_req *held;
    int closed_calls;
    int stream_left;
    struct event *tick;
    struct event *heartbeat; /* wakes the loop so waits can check their deadline */
    bool stream_write_failed;
    char last_peer[80];
    bool healthy;
} env;

static void loop_until(env *e, bool *flag, double secs)
{
    double end = cc_now_mono() + secs;
    while (!*flag && cc_now_mono() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
}

/* A request with an X-Request-Id header (rid NULL = none). */
static http_client_req *get_rid(env *e, const char *method, const char *path, const char *body,
                                resp *r, double timeout, const char *rid)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", e->url, path);
    http_header hs[] = {
        {"Content-Type", "application/json"}, {"X-Test", "yes"}, {"X-Request-Id", rid}};
    http_client_request req = {method, url, hs, rid ? 3 : 2, body, body ? strlen(body) : 0,
                               timeout};
    memset(r, 0, sizeof(*r));
    cc_err err;
    http_client_req *h = http_client_start(e->cli, &req, &cbs, r, &err);
    assert_non_null(h);
    r->handle = h;
    return h;
}

static http_client_req *get(env *e, const char *method, const char *path, const char *body, resp *r,
                            double timeout)
{
    return get_rid(e, method, path, body, r, timeout, NULL);
}

/* ------------------------------------------------------------ handlers */

static void h_echo(http_req *r, void *ud)
{
    env *e = ud;
    size_t len;
    const uint8_t *b = http_req_body(r, &len);
    snprintf(e->last_peer, sizeof(e->last_peer), "%s", http_req_peer(r));
    json_t *o = json_pack("{s:s,s:s,s:i,s:s?,s:s?}", "method", http_req_method(r), "path",
                          http_req_path(r), "len", (int)len, "x_test", http_req_header(r, "x-test"),
                          "query", http_req_query(r));
    json_object_set_new(o, "body", json_stringn((const char *)b, len));
    http_reply_header(r, "X-Reply", "1");
    http_reply_json(r, 201, o);
    json_decref(o);
}

static void held_closed(http_req *r, void *ud)
{
    env *e = ud;
    e->closed_calls++;
    assert_true(http_req_client_gone(r));
}

static void h_hold(http_req *r, void *ud)
{
    env *e = ud;
    e->held = r;
    http_req_on_close(r, held_closed, e);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    env *e = arg;
    if (!e->held) return;
    if (e->stream_left > 0) {
        char line[64];
        int n = snprintf(line, sizeof(line), "data: chunk %d\n\n", e->stream_left);
        if (http_stream_write(e->held, line, (size_t)n) < 0) e->stream_write_failed = true;
        e->stream_left--;
        struct timeval tv = {0, 20000};
        evtimer_add(e->tick, &tv);
        return;
    }
    http_stream_end(e->held);
    e->held = NULL;
}

static void h_stream(http_req *r, void *ud)
{
    env *e = ud;
    e->held = r;
    http_req_on_close(r, held_closed, e);
    http_stream_start(r, 200, "text/event-stream");
    struct timeval tv = {0, 1000};
    evtimer_add(e->tick, &tv);
}

static void fill_stats(void *ud, json_t *obj)
{
    json_object_set_new(obj, "requests", json_integer(5));
    json_object_set_new(obj, "name", json_string("<b>&"));
    json_object_set_new(obj, "inner", json_pack("{s:f,s:b}", "ratio", 0.25, "up", 1));
    static const double bounds[] = {0.1, 1};
    http_histogram h;
    http_histogram_init(&h, bounds, 2);
    http_histogram_add(&h, 0.05);
    http_histogram_add(&h, 0.5);
    http_histogram_add(&h, 7);
    json_object_set_new(obj, "latency_seconds", http_histogram_json(&h));
}

static bool health(void *ud, const char **detail)
{
    env *e = ud;
    *detail = e->healthy ? NULL : "backend down";
    return e->healthy;
}

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg) {}

static int setup(void **state)
{
    env *e = cc_calloc(1, sizeof(*e));
    e->base = event_base_new();
    cc_err err;
    http_server_config cfg = {.host = "127.0.0.1", .port = 0, .max_body = 1000};
    e->srv = http_server_new(e->base, &cfg, &err);
    assert_non_null(e->srv);
    assert_true(http_server_port(e->srv) > 0);
    snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d", http_server_port(e->srv));
    http_server_route(e->srv, "POST", "/echo", h_echo, e);
    http_server_route(e->srv, "GET", "/echo", h_echo, e);
    http_server_route(e->srv, NULL, "/hold", h_hold, e);
    http_server_route(e->srv, "POST", "/stream", h_stream, e);
    http_server_route(e->srv, "GET", "/pre/*", h_echo, e);
    http_server_route_ex(e->srv, "GET", "/control", h_echo, e, HTTP_ROUTE_NOT_CROSS_SITE);
    http_server_add_stats(e->srv, "Test <daemon>", fill_stats, health, e);
    e->cli = http_client_new(e->base, NULL, &err);
    assert_non_null(e->cli);
    e->tick = evtimer_new(e->base, tick_cb, e);
    e->heartbeat = event_new(e->base, -1, EV_PERSIST, heartbeat_cb, NULL);
    struct timeval hb = {0, 10000};
    event_add(e->heartbeat, &hb);
    e->healthy = true;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    http_client_free(e->cli);
    http_server_free(e->srv);
    event_free(e->tick);
    event_free(e->heartbeat);
    event_base_free(e->base);
    free(e);
    return 0;
}

/* -------------------------------------------------------------- tests */

static void test_routes_and_echo(void **state)
{
    env *e = *state;
    resp r;
    get(e, "POST", "/echo?x=1", "{\"a\":1}", &r, 5);
    loop_until(e, &r.done, 5);
    assert_true(r.done);
    assert_int_equal(r.result, HTTP_CLIENT_OK);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.content_type, "application/json");
    json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/echo");
    assert_string_equal(json_string_value(json_object_get(j, "query")), "x=1");
    assert_string_equal(json_string_value(json_object_get(j, "x_test")), "yes");
    assert_string_equal(json_string_value(json_object_get(j, "body")), "{\"a\":1}");
    json_decref(j);
    cc_buf_free(&r.body);
    char first_peer[80];
    snprintf(first_peer, sizeof(first_peer), "%s", e->last_peer);

    /* keep-alive: the second request reuses the connection (same client port) */
    get(e, "GET", "/echo", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 201);
    assert_string_equal(e->last_peer, first_peer);
    cc_buf_free(&r.body);

    get(e, "GET", "/nope", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr((char *)r.body.data, "\"type\":\"invalid_request_error\""));
    assert_non_null(strstr((char *)r.body.data, "\"code\":\"not_found\""));
    cc_buf_free(&r.body);

    get(e, "DELETE", "/echo", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr((char *)r.body.data, "Method DELETE is not allowed"));
    cc_buf_free(&r.body);
}

/* Every answer names its request: the caller's sane X-Request-Id, else a
 * fresh one; routes may match a path prefix. */
static void test_request_id_and_prefix(void **state)
{
    env *e = *state;
    resp r;
    get(e, "GET", "/echo", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 201);
    assert_int_equal(strlen(r.request_id), 36);
    assert_memory_equal(r.request_id, "req_", 4);
    char first[160];
    snprintf(first, sizeof(first), "%s", r.request_id);
    cc_buf_free(&r.body);
    get(e, "GET", "/echo", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    assert_string_not_equal(r.request_id, first);
    cc_buf_free(&r.body);

    get_rid(e, "GET", "/echo", NULL, &r, 5, "trace-42.a:b_c");
    loop_until(e, &r.done, 5);
    assert_string_equal(r.request_id, "trace-42.a:b_c");
    cc_buf_free(&r.body);
    /* not a token, or too long: replaced */
    get_rid(e, "GET", "/echo", NULL, &r, 5, "a<b>");
    loop_until(e, &r.done, 5);
    assert_memory_equal(r.request_id, "req_", 4);
    cc_buf_free(&r.body);
    char longid[200];
    memset(longid, 'x', 129);
    longid[129] = '\0';
    get_rid(e, "GET", "/echo", NULL, &r, 5, longid);
    loop_until(e, &r.done, 5);
    assert_memory_equal(r.request_id, "req_", 4);
    cc_buf_free(&r.body);
    /* refusals carry it too */
    get_rid(e, "GET", "/nope", NULL, &r, 5, "mine");
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.request_id, "mine");
    cc_buf_free(&r.body);

    get(e, "GET", "/pre/a%2Fb/c", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 201);
    cc_buf_append_u8(&r.body, 0);
    assert_non_null(strstr((char *)r.body.data, "\"path\":\"/pre/a%2Fb/c\""));
    cc_buf_free(&r.body);
    get(e, "GET", "/pre", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 404);
    cc_buf_free(&r.body);
}

/* A control route refuses what a browser sends because of another site (an <img> or a link on
 * any page), and serves scripts and the page's own origin. */
static void test_not_cross_site(void **state)
{
    env *e = *state;
    static const struct {
        const char *site;
        int status;
    } cases[] = {{NULL, 201},         {"none", 201},      {"same-origin", 201},
                 {"cross-site", 403}, {"same-site", 403}, {"CROSS-SITE", 403}};
    for (size_t i = 0; i < CC_ARRAY_LEN(cases); i++) {
        char url[256];
        snprintf(url, sizeof(url), "%s/control", e->url);
        http_header hs[] = {{"Sec-Fetch-Site", cases[i].site}};
        http_client_request req = {"GET", url, hs, cases[i].site ? 1 : 0, NULL, 0, 5};
        resp r;
        memset(&r, 0, sizeof(r));
        cc_err err;
        r.handle = http_client_start(e->cli, &req, &cbs, &r, &err);
        assert_non_null(r.handle);
        loop_until(e, &r.done, 5);
        if (r.status != cases[i].status)
            fail_msg("Sec-Fetch-Site %s: %d, want %d", cases[i].site ? cases[i].site : "(none)",
                     r.status, cases[i].status);
        cc_buf_free(&r.body);
    }
    /* other routes are not concerned */
    resp r;
    get(e, "GET", "/echo", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 201);
    cc_buf_free(&r.body);
}

static void test_body_too_large(void **state)
{
    env *e = *state;
    char *big = cc_malloc(5001);
    memset(big, 'x', 5000);
    big[5000] = 0;
    resp r;
    get(e, "POST", "/echo", big, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr((char *)r.body.data, "\"code\":\"request_too_large\""));
    assert_non_null(strstr((char *)r.body.data, "exceeds the limit of 1000 bytes"));
    cc_buf_free(&r.body);
    free(big);
    /* far past the limit: answered at once from the head, without reading the body */
    big = cc_malloc(200001);
    memset(big, 'z', 200000);
    big[200000] = 0;
    get(e, "POST", "/echo", big, &r, 5);
    loop_until(e, &r.done, 5);
    assert_true(r.done);
    assert_int_equal(r.result, HTTP_CLIENT_OK);
    assert_int_equal(r.status, 413);
    cc_buf_free(&r.body);
    free(big);
    /* exactly the limit is fine */
    big = cc_malloc(1001);
    memset(big, 'y', 1000);
    big[1000] = 0;
    get(e, "POST", "/echo", big, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 201);
    cc_buf_free(&r.body);
    free(big);
}

static void test_streaming(void **state)
{
    env *e = *state;
    e->stream_left = 3;
    resp r;
    get(e, "POST", "/stream", "{}", &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.result, HTTP_CLIENT_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/event-stream");
    cc_buf_append_u8(&r.body, 0);
    assert_string_equal((char *)r.body.data, "data: chunk 3\n\ndata: chunk 2\n\ndata: chunk 1\n\n");
    assert_true(r.body_calls >= 2); /* chunks arrive as they are written */
    assert_int_equal(e->closed_calls, 0);
    cc_buf_free(&r.body);
}

static void test_client_goes_away_while_pending(void **state)
{
    env *e = *state;
    resp r;
    http_client_req *h = get(e, "POST", "/hold", "{}", &r, 5);
    bool have = false;
    double end = cc_now_mono() + 5;
    while (!e->held && cc_now_mono() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
    assert_non_null(e->held);
    assert_false(http_req_client_gone(e->held));
    http_client_cancel(h); /* closes the connection */
    end = cc_now_mono() + 5;
    while (e->closed_calls == 0 && cc_now_mono() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
    assert_int_equal(e->closed_calls, 1);
    assert_true(http_req_client_gone(e->held));
    /* finishing a request whose client left is still required and harmless */
    http_reply_errorf(e->held, 504, NULL, "too late");
    e->held = NULL;
    loop_until(e, &have, 0.05);
    assert_false(r.done);
    cc_buf_free(&r.body);
}

static void test_client_goes_away_mid_stream(void **state)
{
    env *e = *state;
    e->stream_left = 1000;
    e->stream_write_failed = false;
    e->closed_calls = 0;
    resp r;
    get(e, "POST", "/stream", "{}", &r, 5);
    r.cancel_after = 40; /* cancel from inside on_body */
    double end = cc_now_mono() + 5;
    while (e->closed_calls == 0 && cc_now_mono() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
    assert_true(r.cancelled);
    assert_false(r.done);
    assert_int_equal(e->closed_calls, 1);
    assert_true(e->stream_left > 0); /* noticed long before the end */
    /* the next write reports the departure */
    assert_int_equal(http_stream_write(e->held, "x", 1), -1);
    http_stream_end(e->held);
    e->held = NULL;
    evtimer_del(e->tick);
    cc_buf_free(&r.body);
}

static void test_stats_pages(void **state)
{
    env *e = *state;
    resp r;
    get(e, "GET", "/jsonstats", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 200);
    json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "requests")), 5);
    json_decref(j);
    cc_buf_free(&r.body);

    get(e, "GET", "/stats", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 200);
    cc_buf_append_u8(&r.body, 0);
    assert_non_null(strstr((char *)r.body.data, "<title>Test &lt;daemon&gt;</title>"));
    assert_non_null(strstr((char *)r.body.data, "<th>name</th><td>&lt;b&gt;&amp;</td>"));
    assert_string_equal(r.content_type, "text/html; charset=utf-8");
    cc_buf_free(&r.body);

    get(e, "GET", "/metrics", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    cc_buf_append_u8(&r.body, 0);
    assert_non_null(strstr((char *)r.body.data, "cocoon_requests 5\n"));
    assert_non_null(strstr((char *)r.body.data, "cocoon_inner_ratio 0.25\n"));
    assert_non_null(strstr((char *)r.body.data, "cocoon_inner_up 1\n"));
    assert_null(strstr((char *)r.body.data, "cocoon_name"));
    /* exposition format: each metric announced, histograms as such */
    assert_non_null(strstr((char *)r.body.data, "# HELP cocoon_inner_ratio /jsonstats inner.ratio\n"
                                                "# TYPE cocoon_inner_ratio gauge\n"
                                                "cocoon_inner_ratio 0.25\n"));
    assert_non_null(strstr((char *)r.body.data, "# TYPE cocoon_latency_seconds histogram\n"
                                                "cocoon_latency_seconds_bucket{le=\"0.1\"} 1\n"
                                                "cocoon_latency_seconds_bucket{le=\"1\"} 2\n"
                                                "cocoon_latency_seconds_bucket{le=\"+Inf\"} 3\n"
                                                "cocoon_latency_seconds_sum 7.55\n"
                                                "cocoon_latency_seconds_count 3\n"));
    assert_null(strstr((char *)r.body.data, "cocoon_latency_seconds_type"));
    cc_buf_free(&r.body);

    /* COCOON's /perf: the process's own figures as text */
    get(e, "GET", "/perf", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; charset=utf-8");
    cc_buf_append_u8(&r.body, 0);
    assert_non_null(strstr((char *)r.body.data, "daemon Test <daemon>\n"));
    const char *rss = strstr((char *)r.body.data, "\nrss_kib ");
    assert_non_null(rss);
    assert_true(atol(rss + 9) > 0);
    assert_non_null(strstr((char *)r.body.data, "\ncpu_user_s "));
    const char *fds = strstr((char *)r.body.data, "\nopen_fds ");
    assert_non_null(fds);
    assert_true(atol(fds + 10) >= 3); /* stdio and the listener at least */
    cc_buf_free(&r.body);

    get(e, "GET", "/healthz", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    cc_buf_append_u8(&r.body, 0);
    assert_string_equal((char *)r.body.data, "{\"status\":\"ok\"}");
    cc_buf_free(&r.body);
    e->healthy = false;
    get(e, "GET", "/healthz", NULL, &r, 5);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.status, 503);
    cc_buf_append_u8(&r.body, 0);
    assert_string_equal((char *)r.body.data,
                        "{\"status\":\"unhealthy\",\"detail\":\"backend down\"}");
    cc_buf_free(&r.body);
}

static void test_client_errors(void **state)
{
    env *e = *state;
    resp r;
    /* timeout: the server holds the request */
    get(e, "POST", "/hold", "{}", &r, 0.2);
    loop_until(e, &r.done, 5);
    assert_true(r.done);
    assert_int_equal(r.result, HTTP_CLIENT_ERR_TIMEOUT);
    assert_true(r.error[0] != 0);
    if (e->held) {
        http_stream_end(e->held); /* never started: ends as an error */
        e->held = NULL;
    }
    cc_buf_free(&r.body);

    /* abort from on_head */
    memset(&r, 0, sizeof(r));
    char url[128];
    snprintf(url, sizeof(url), "%s/echo", e->url);
    http_client_request req = {"GET", url, NULL, 0, NULL, 0, 5};
    r.abort_head = 1;
    r.handle = http_client_start(e->cli, &req, &cbs, &r, NULL);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.result, HTTP_CLIENT_ERR_ABORTED);
    assert_int_equal(r.body.len, 0);
    cc_buf_free(&r.body);

    /* nothing listening */
    http_server_config cfg = {.port = 0};
    http_server *tmp = http_server_new(e->base, &cfg, NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", http_server_port(tmp));
    http_server_free(tmp);
    memset(&r, 0, sizeof(r));
    req.url = url;
    r.handle = http_client_start(e->cli, &req, &cbs, &r, NULL);
    loop_until(e, &r.done, 5);
    assert_int_equal(r.result, HTTP_CLIENT_ERR_CONNECT);
    cc_buf_free(&r.body);
    assert_int_equal(http_client_active(e->cli), 0);

    /* cancel before anything happened: no callback at all */
    memset(&r, 0, sizeof(r));
    snprintf(url, sizeof(url), "%s/echo", e->url);
    http_client_req *h = http_client_start(e->cli, &req, &cbs, &r, NULL);
    http_client_cancel(h);
    bool never = false;
    loop_until(e, &never, 0.1);
    assert_false(r.done);
    assert_int_equal(r.status, 0);
}

/* ------------------------------------------------- raw socket helpers */

static int raw_connect(env *e)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)http_server_port(e->srv))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Runs the loop while reading fd until `needle` occurs `times` times or EOF. */
static char *raw_read(env *e, int fd, const char *needle, size_t times, bool *eof)
{
    cc_buf b = CC_BUF_INIT;
    double end = cc_now_mono() + 5;
    *eof = false;
    while (cc_now_mono() < end) {
        event_base_loop(e->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 5) == 1) {
            char buf[4096];
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n <= 0) {
                *eof = true;
                break;
            }
            cc_buf_append(&b, buf, (size_t)n);
            cc_buf_append_u8(&b, 0);
            b.len--;
            if (count((char *)b.data, needle) >= times) break;
        }
    }
    cc_buf_append_u8(&b, 0);
    return cc_buf_steal_str(&b);
}

static void test_raw_edge_cases(void **state)
{
    env *e = *state;
    bool eof;
    /* two pipelined requests in one write: both answered, in order */
    int fd = raw_connect(e);
    const char *two = "GET /echo?n=1 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                      "GET /echo?n=2 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(write(fd, two, strlen(two)), (ssize_t)strlen(two));
    char *got = raw_read(e, fd, "HTTP/1.1 201", 2, &eof);
    assert_int_equal(count(got, "HTTP/1.1 201"), 2);
    assert_true(strstr(got, "\"query\":\"n=1\"") < strstr(got, "\"query\":\"n=2\""));
    free(got);
    close(fd);

    /* HTTP/1.0 stream: no chunked encoding, the body ends with the connection */
    e->stream_left = 2;
    fd = raw_connect(e);
    const char *old =
        "POST /stream HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    assert_int_equal(write(fd, old, strlen(old)), (ssize_t)strlen(old));
    got = raw_read(e, fd, "never", 1, &eof);
    assert_true(eof);
    assert_non_null(strstr(got, "HTTP/1.0 200"));
    assert_null(strstr(got, "chunked"));
    assert_non_null(strstr(got, "\r\n\r\ndata: chunk 2\n\ndata: chunk 1\n\n"));
    free(got);
    close(fd);

    /* garbage: 400 with an OpenAI error, and the server keeps serving */
    fd = raw_connect(e);
    const char *junk = "\x01\x02 not http at all\r\n\r\n";
    assert_int_equal(write(fd, junk, strlen(junk)), (ssize_t)strlen(junk));
    got = raw_read(e, fd, "never", 1, &eof);
    assert_true(eof);
    assert_non_null(strstr(got, "HTTP/1.1 400 "));
    assert_non_null(strstr(got, "\"type\":\"invalid_request_error\""));
    free(got);
    close(fd);

    /* a client that sends and closes at once: noticed while pending */
    e->closed_calls = 0;
    fd = raw_connect(e);
    const char *hold =
        "POST /hold HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 0\r\n\r\n";
    assert_int_equal(write(fd, hold, strlen(hold)), (ssize_t)strlen(hold));
    double end = cc_now_mono() + 5;
    while (!e->held && cc_now_mono() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
    assert_non_null(e->held);
    close(fd);
    end = cc_now_mono() + 5;
    while (e->closed_calls == 0 && cc_now_mono() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
    assert_int_equal(e->closed_calls, 1);
    http_stream_start(e->held, 200, "text/event-stream");
    assert_int_equal(http_stream_write(e->held, "x", 1), -1);
    http_stream_end(e->held);
    e->held = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routes_and_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_id_and_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_cross_site, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streaming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_goes_away_while_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_goes_away_mid_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_edge_cases, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
