/* daemon outbound-link pieces: the reconnect schedule, handshake answers,
 * and a real dial to a loopback listener under the RA-TLS check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "daemon/daemon.h"

static void never(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    (void)ud;
}

static void test_schedule(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct event *timer = evtimer_new(base, never, NULL);
    net_backoff b;
    net_backoff_init(&b, 0.2, 1.0);
    char last[16];
    /* doubling from 0.2 s, capped at 1 s, each within the ±20% jitter */
    static const double nominal[] = {0.2, 0.4, 0.8, 1.0, 1.0};
    for (size_t i = 0; i < sizeof(nominal) / sizeof(nominal[0]); i++) {
        double d = daemon_link_schedule("127.0.0.1:1", &b, timer, last, sizeof(last),
                                        "connection refused by the peer");
        assert_true(d >= nominal[i] * 0.8 - 1e-9);
        assert_true(d <= nominal[i] * 1.2 + 1e-9);
        assert_true(evtimer_pending(timer, NULL));
    }
    /* the reason is kept, cut to the buffer */
    assert_string_equal(last, "connection refu");
    daemon_link_schedule("127.0.0.1:1", &b, timer, last, sizeof(last), NULL);
    assert_string_equal(last, "");
    /* after a good connection the schedule starts over */
    net_backoff_reset(&b);
    double d = daemon_link_schedule("127.0.0.1:1", &b, timer, last, sizeof(last), "x");
    assert_true(d <= 0.2 * 1.2 + 1e-9);
    event_free(timer);
    event_base_free(base);
}

static void test_decode_answer(void **state)
{
    (void)state;
    char why[128] = "";
    assert_null(daemon_link_decode_answer("worker.connectToProxy", 503, "busy", NULL, 0, 0, why,
                                          sizeof(why)));
    assert_string_equal(why, "worker.connectToProxy failed: 503 busy");
    assert_null(daemon_link_decode_answer("q", 7, NULL, NULL, 0, 0, why, sizeof(why)));
    assert_string_equal(why, "q failed: 7 ");

    tl_worker_compareBalanceWithProxyResult r = TL_INIT(worker_compareBalanceWithProxyResult);
    tl_proxy_signedPaymentEmpty empty = TL_INIT(proxy_signedPaymentEmpty);
    r.signed_payment = &empty.hdr;
    r.error_code = 42;
    cc_buf b = CC_BUF_INIT;
    cc_err err = {0};
    assert_int_equal(tl_encode(&r.hdr, &b, &err), 0);
    tl_obj *o =
        daemon_link_decode_answer("q", 0, NULL, b.data, b.len,
                                  TL_TYPE_worker_CompareBalanceWithProxyResult, why, sizeof(why));
    assert_non_null(o);
    assert_int_equal(((tl_worker_compareBalanceWithProxyResult *)o)->error_code, 42);
    tl_obj_free(o);
    /* the right bytes under another expected type, and cut bytes, are refused */
    assert_null(daemon_link_decode_answer("q", 0, NULL, b.data, b.len,
                                          TL_TYPE_worker_ConnectedToProxy, why, sizeof(why)));
    assert_true(strncmp(why, "q: bad answer: ", 15) == 0);
    assert_null(daemon_link_decode_answer("q", 0, NULL, b.data, b.len - 1,
                                          TL_TYPE_worker_CompareBalanceWithProxyResult, why,
                                          sizeof(why)));
    assert_true(strncmp(why, "q: bad answer: ", 15) == 0);
    cc_buf_free(&b);
}

/* --- a dial to a loopback listener --- */

typedef struct {
    struct event_base *base;
    net_conn *server_side;
    int ready, closed;
    char reason[256];
    json_t *stats; /* the dialer's link entry once ready */
} dial_ctx;

static void on_ready(net_conn *c, void *ud)
{
    dial_ctx *d = ud;
    d->ready++;
    daemon_link_stats ls = {.addr = "127.0.0.1:1", .state = 3, .connects = 1, .conn = c};
    d->stats = daemon_link_stats_json(&ls);
    event_base_loopbreak(d->base);
}

static void on_close(net_conn *c, void *ud, const char *reason)
{
    (void)c;
    dial_ctx *d = ud;
    d->closed++;
    snprintf(d->reason, sizeof(d->reason), "%s", reason ? reason : "");
    event_base_loopbreak(d->base);
}

static void on_server_close(net_conn *c, void *ud, const char *reason)
{
    (void)c;
    (void)reason;
    ((dial_ctx *)ud)->server_side = NULL;
}

static void on_accept(net_listener *l, net_conn *c, void *ud)
{
    (void)l;
    dial_ctx *d = ud;
    d->server_side = c;
    net_conn_callbacks cbs = {.on_close = on_server_close};
    net_conn_set_callbacks(c, &cbs, d);
}

static int no_measure(const void *cfg, cc_buf *out, cc_err *err)
{
    (void)cfg;
    (void)out;
    return cc_err_set(err, "not measured");
}

static void on_timeout(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(ud);
}

/* Dials a listener with identity (none, any) from a dialer that checks with
 * `dialer_policy`; returns the context after the first outcome. */
static dial_ctx dial(const char *dialer_policy, const char *fake_root)
{
    dial_ctx d = {.base = event_base_new()};
    cc_err err = {0};
    daemon_tee server = {0}, client = {0};
    daemon_tee_config sc = {.role = "proxy", .tee = "none", .policy = "any", .measure = no_measure};
    daemon_tee_config cc = {.role = "worker",
                            .tee = "none",
                            .policy = dialer_policy,
                            .fake_root = fake_root,
                            .measure = no_measure};
    assert_int_equal(daemon_tee_setup(&server, &sc, &err), 0);
    assert_int_equal(daemon_tee_setup(&client, &cc, &err), 0);
    net_listen_config lc = {
        .host = "127.0.0.1",
        .identity = {server.identity->key, server.identity->cert},
        .verify = {tee_verify_peer, server.policy, tee_peer_info_free},
        .on_accept = on_accept,
        .ud = &d,
    };
    net_listener *l = net_listen(d.base, &lc, &err);
    assert_non_null(l);
    net_conn_callbacks cbs = {.on_ready = on_ready, .on_close = on_close};
    net_conn *conn =
        daemon_link_dial(d.base, &client, "127.0.0.1", net_listener_port(l), &cbs, &d, &err);
    assert_non_null(conn);
    struct event *t = evtimer_new(d.base, on_timeout, d.base);
    struct timeval tv = {10, 0};
    evtimer_add(t, &tv);
    event_base_dispatch(d.base);
    event_free(t);
    if (!d.closed) net_conn_close(conn, "test done");
    if (d.server_side) net_conn_close(d.server_side, "test done");
    net_listener_free(l);
    /* let the closes run */
    struct timeval zero = {0, 0};
    event_base_loopexit(d.base, &zero);
    event_base_dispatch(d.base);
    daemon_tee_clear(&server);
    daemon_tee_clear(&client);
    event_base_free(d.base);
    d.base = NULL;
    return d;
}

static void test_link_stats(void **state)
{
    (void)state;
    assert_string_equal(daemon_link_state_name(0), "waiting");
    assert_string_equal(daemon_link_state_name(1), "connecting");
    assert_string_equal(daemon_link_state_name(2), "handshake");
    assert_string_equal(daemon_link_state_name(3), "ready");
    assert_string_equal(daemon_link_state_name(4), "unknown");
    assert_string_equal(daemon_link_state_name(-1), "unknown");
    daemon_link_stats ls = {.addr = "10.0.0.1:11002",
                            .state = 0,
                            .proto_version = 2,
                            .connects = 3,
                            .requests = 9,
                            .last_error = "connection refused"};
    json_t *e = daemon_link_stats_json(&ls);
    char *text = json_dumps(e, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"address\":\"10.0.0.1:11002\",\"connects\":3,"
                              "\"last_error\":\"connection refused\",\"proto_version\":2,"
                              "\"requests\":9,\"state\":\"waiting\"}");
    free(text);
    json_decref(e);
}

static char root_dir[512];

static void test_dial(void **state)
{
    (void)state;
    dial_ctx d = dial("any", NULL);
    assert_int_equal(d.ready, 1);
    assert_int_equal(d.closed, 0);
    /* the stats entry of a connected link shows the proxy's attestation */
    assert_non_null(d.stats);
    assert_string_equal(json_string_value(json_object_get(d.stats, "state")), "ready");
    assert_string_equal(json_string_value(json_object_get(d.stats, "image_hash")), "");
    assert_non_null(json_object_get(d.stats, "attestation"));
    assert_null(json_object_get(d.stats, "last_error"));
    json_decref(d.stats);

    /* a dialer holding peers to the fake TEE refuses a proxy with no quote */
    const char *build = getenv("COCOON_BUILD_DIR");
    snprintf(root_dir, sizeof(root_dir), "%s/daemon_link_XXXXXX", build ? build : ".");
    assert_non_null(mkdtemp(root_dir));
    cc_err err = {0};
    assert_int_equal(tee_fake_root_init(root_dir, false, &err), 0);
    d = dial("fake", root_dir);
    assert_int_equal(d.ready, 0);
    assert_int_equal(d.closed, 1);
    char path[600];
    snprintf(path, sizeof(path), "%s/fake_root.pem", root_dir);
    remove(path);
    snprintf(path, sizeof(path), "%s/fake_root.key", root_dir);
    remove(path);
    remove(root_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_decode_answer),
        cmocka_unit_test(test_dial),
        cmocka_unit_test(test_link_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
