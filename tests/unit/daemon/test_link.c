/* The daemon link object: its state machine driven by hand (no sockets:
 * failures, backoff, ready, stale answers, sends and queries while not
 * connected), handshake answers, and a whole life against a loopback
 * listener playing the proxy (refused handshake, reconnect, ready, a packet,
 * the proxy closing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "daemon/daemon.h"
#include "../tee_fixture.h"

/* ---- a role that records what the link tells it ---- */

typedef struct {
    daemon_link link; /* the role embeds the link, as the client and worker do */
    int hellos, readies, packets, gones;
    daemon_link_state state_at_gone;
    net_conn *conn_at_gone;
    cc_buf last_packet;
    struct event_base *stop_on; /* loop to break on each callback, or NULL */
    bool answer_ok;             /* what the role's hello answer handler saw */
} role;

static role *role_of(daemon_link *l)
{
    return cc_container_of(l, role, link);
}

static void stop_loop(role *r)
{
    if (r->stop_on) event_base_loopbreak(r->stop_on);
}

static void on_hello_answer(daemon_link *l, const tl_obj *o)
{
    assert_int_equal(o->id, TL_ID_worker_proxyHandshakeCompleted);
    role_of(l)->answer_ok = true;
    daemon_link_set_ready(l);
}

static void r_hello(daemon_link *l)
{
    role_of(l)->hellos++;
    tl_worker_proxyHandshakeComplete q = TL_INIT(worker_proxyHandshakeComplete);
    daemon_link_handshake(l, &q.hdr, TL_TYPE_worker_HandshakeCompleted, on_hello_answer);
}

static void r_ready(daemon_link *l)
{
    role_of(l)->readies++;
    stop_loop(role_of(l));
}

static void r_packet(daemon_link *l, const uint8_t *data, size_t len)
{
    role *r = role_of(l);
    r->packets++;
    cc_buf_reset(&r->last_packet);
    cc_buf_append(&r->last_packet, data, len);
    stop_loop(r);
}

static void r_gone(daemon_link *l)
{
    role *r = role_of(l);
    r->gones++;
    r->state_at_gone = l->state;
    r->conn_at_gone = l->conn;
    stop_loop(r);
}

static const daemon_link_ops role_ops = {
    .hello = r_hello, .on_ready = r_ready, .on_packet = r_packet, .on_gone = r_gone};

static void test_init(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    daemon_tee tee = {0};
    daemon_link_env env = {.base = base,
                           .tee = &tee,
                           .ops = &role_ops,
                           .reconnect_min = 0.2,
                           .reconnect_max = 1.0,
                           .query_timeout = 5};
    role r = {0};
    cc_err err = {0};
    assert_int_equal(daemon_link_init(&r.link, &env, "no-port-here", &err), -1);
    assert_true(strlen(err.msg) > 0);
    assert_null(r.link.timer);

    assert_int_equal(daemon_link_init(&r.link, &env, "10.0.0.1:11002", &err), 0);
    assert_string_equal(r.link.addr, "10.0.0.1:11002");
    assert_string_equal(r.link.host, "10.0.0.1");
    assert_int_equal(r.link.port, 11002);
    assert_int_equal(r.link.state, DAEMON_LINK_WAITING);
    assert_null(r.link.conn);
    assert_non_null(r.link.timer);
    assert_false(evtimer_pending(r.link.timer, NULL));
    daemon_link_stop(&r.link, "test done");
    assert_null(r.link.timer);
    /* no connection: nothing to tell the role */
    assert_int_equal(r.gones, 0);
    event_base_free(base);
}

static void test_fail_ready_backoff(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    daemon_tee tee = {0};
    daemon_link_env env = {.base = base,
                           .tee = &tee,
                           .ops = &role_ops,
                           .reconnect_min = 0.2,
                           .reconnect_max = 1.0,
                           .query_timeout = 5};
    role r = {0};
    cc_err err = {0};
    assert_int_equal(daemon_link_init(&r.link, &env, "127.0.0.1:1", &err), 0);

    /* each failure tells the role, records why and arms the timer with the
     * next delay: 0.2 s doubling up to the 1 s cap */
    static const double next_after[] = {0.4, 0.8, 1.0, 1.0};
    for (size_t i = 0; i < CC_ARRAY_LEN(next_after); i++) {
        daemon_link_fail(&r.link, "connection refused by the peer");
        assert_int_equal(r.gones, (int)i + 1);
        assert_int_equal(r.state_at_gone, DAEMON_LINK_WAITING);
        assert_null(r.conn_at_gone);
        assert_int_equal(r.link.state, DAEMON_LINK_WAITING);
        assert_string_equal(r.link.last_error, "connection refused by the peer");
        assert_true(evtimer_pending(r.link.timer, NULL));
        assert_true(r.link.backoff.current == next_after[i]);
    }
    /* a long reason is cut to the field, still terminated */
    char longer[400];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = 0;
    daemon_link_fail(&r.link, longer);
    assert_int_equal(strlen(r.link.last_error), sizeof(r.link.last_error) - 1);

    /* ready: the error and the backoff start over, the role hears of it */
    r.link.proto_version = 2;
    daemon_link_set_ready(&r.link);
    assert_int_equal(r.link.state, DAEMON_LINK_READY);
    assert_int_equal(r.readies, 1);
    assert_string_equal(r.link.last_error, "");
    assert_true(r.link.backoff.current == 0.2);
    assert_true(r.link.ready_since > 0);
    json_t *e = daemon_link_stats_json(&r.link);
    char *text = json_dumps(e, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"address\":\"127.0.0.1:1\",\"connects\":0,\"proto_version\":2,"
                              "\"requests\":0,\"state\":\"ready\"}");
    free(text);
    json_decref(e);

    /* a stale answer (another connection than the link's) is ignored and
     * does not fail the link */
    net_conn *other = (net_conn *)&r; /* never dereferenced */
    assert_null(daemon_link_answer(&r.link, other, "q", 0, NULL, NULL, 0, 0));
    assert_null(daemon_link_answer(&r.link, NULL, "q", 602, "late", NULL, 0, 0));
    assert_int_equal(r.link.state, DAEMON_LINK_READY);
    assert_int_equal(r.gones, 5);

    /* without a connection nothing can be sent, and a handshake step that
     * cannot be sent fails the link */
    tl_worker_proxyHandshakeComplete q = TL_INIT(worker_proxyHandshakeComplete);
    assert_int_equal(daemon_link_send(&r.link, &q.hdr), -1);
    assert_int_equal(daemon_link_query(&r.link, &q.hdr, NULL, NULL, &err), -1);
    assert_int_equal(err.code, NET_ERR_NOT_READY);
    assert_string_equal(err.msg, "not connected to 127.0.0.1:1");
    daemon_link_handshake(&r.link, &q.hdr, TL_TYPE_worker_HandshakeCompleted, on_hello_answer);
    assert_int_equal(r.link.state, DAEMON_LINK_WAITING);
    assert_int_equal(r.gones, 6);
    assert_string_equal(r.link.last_error, "not connected to 127.0.0.1:1");
    assert_true(r.link.backoff.current == 0.4);

    daemon_link_stop(&r.link, "test done");
    event_base_free(base);
}

static void test_link_set(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    daemon_tee tee = {0};
    int owner = 7; /* stands for the role's daemon */
    daemon_link_env env = {.base = base, .tee = &tee, .ops = &role_ops, .ud = &owner};
    daemon_links s = {0};
    daemon_config common;
    daemon_config_init(&common);
    common.reconnect_min = 0.5;
    cc_err err = {0};
    /* a bad address stops the set-up; what was made is still released */
    char *bad[] = {"127.0.0.1:1", "nonsense", "127.0.0.1:3"};
    assert_int_equal(daemon_links_init(&s, &env, &common, bad, 3, &err), -1);
    assert_int_equal(s.n, 1);
    daemon_links_stop(&s, "test");
    assert_null(s.at);
    assert_int_equal(s.n, 0);

    char *addrs[] = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"};
    assert_int_equal(daemon_links_init(&s, &env, &common, addrs, 3, &err), 0);
    assert_int_equal(s.n, 3);
    /* each link sees the set's copy of the env, and through it the owner */
    assert_ptr_equal(s.at[2].env, &s.env);
    assert_ptr_equal(s.at[2].env->ud, &owner);
    assert_int_equal(daemon_links_index(&s, &s.at[2]), 2);
    assert_string_equal(s.at[1].addr, "127.0.0.1:2");
    assert_true(s.env.reconnect_min == 0.5);
    assert_true(s.at[1].backoff.current == 0.5);
    /* nobody ready yet */
    assert_null(daemon_links_pick(&s, NULL));
    size_t ready = 99;
    json_t *a = daemon_links_stats_json(&s, &ready);
    assert_int_equal(json_array_size(a), 3);
    assert_int_equal(ready, 0);
    json_decref(a);
    /* the first ready one in configuration order, unless it is the one to avoid */
    s.at[1].state = DAEMON_LINK_READY;
    s.at[2].state = DAEMON_LINK_READY;
    assert_ptr_equal(daemon_links_pick(&s, NULL), &s.at[1]);
    assert_ptr_equal(daemon_links_pick(&s, &s.at[1]), &s.at[2]);
    a = daemon_links_stats_json(&s, &ready);
    assert_int_equal(ready, 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 2), "state")), "ready");
    json_decref(a);
    daemon_links_stop(&s, "test done");
    assert_null(s.at);
    daemon_config_clear(&common);
    event_base_free(base);
}

static void test_counts(void **state)
{
    (void)state;
    const daemon_count c[] = {{"total", 5}, {"ok", 4}, {"big", (int64_t)1 << 40}};
    json_t *o = daemon_json_counts(c, CC_ARRAY_LEN(c));
    char *text = json_dumps(o, JSON_COMPACT);
    assert_string_equal(text, "{\"total\":5,\"ok\":4,\"big\":1099511627776}");
    free(text);
    json_decref(o);
}

static void test_state_names(void **state)
{
    (void)state;
    assert_string_equal(daemon_link_state_name(DAEMON_LINK_WAITING), "waiting");
    assert_string_equal(daemon_link_state_name(DAEMON_LINK_CONNECTING), "connecting");
    assert_string_equal(daemon_link_state_name(DAEMON_LINK_HANDSHAKE), "handshake");
    assert_string_equal(daemon_link_state_name(DAEMON_LINK_READY), "ready");
    assert_string_equal(daemon_link_state_name((daemon_link_state)4), "unknown");
    assert_string_equal(daemon_link_state_name((daemon_link_state)-1), "unknown");
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

/* ---- a loopback listener playing the proxy ---- */

static int no_measure(const void *cfg, cc_buf *out, cc_err *err)
{
    (void)cfg;
    (void)out;
    return cc_err_set(err, "not measured");
}

typedef struct {
    net_conn *conn; /* the proxy's side of the current connection */
    int accepts, queries;
    bool refuse; /* answer the hello with an error */
} fake_proxy;

static void p_on_query(net_conn *c, void *ud, uint64_t qid, const uint8_t *data, size_t len)
{
    (void)data;
    (void)len;
    fake_proxy *p = ud;
    p->queries++;
    if (p->refuse) {
        assert_int_equal(net_conn_answer_error(c, qid, NET_ERR_ERROR, "busy", NULL), 0);
        return;
    }
    tl_worker_proxyHandshakeCompleted a = TL_INIT(worker_proxyHandshakeCompleted);
    cc_buf b = CC_BUF_INIT;
    assert_int_equal(tl_encode(&a.hdr, &b, NULL), 0);
    assert_int_equal(net_conn_answer(c, qid, b.data, b.len, NULL), 0);
    cc_buf_free(&b);
}

static void p_on_close(net_conn *c, void *ud, const char *reason)
{
    (void)reason;
    fake_proxy *p = ud;
    if (p->conn == c) p->conn = NULL; /* an earlier connection may close late */
}

static void p_on_accept(net_listener *l, net_conn *c, void *ud)
{
    (void)l;
    fake_proxy *p = ud;
    p->accepts++;
    p->conn = c;
    net_conn_callbacks cbs = {.on_query = p_on_query, .on_close = p_on_close};
    net_conn_set_callbacks(c, &cbs, p);
}

static void on_guard(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(ud);
}

/* Runs the loop until a role callback breaks it, or a generous guard. */
static void run(struct event_base *base)
{
    struct event *guard = evtimer_new(base, on_guard, base);
    struct timeval tv = {30, 0};
    evtimer_add(guard, &tv);
    event_base_dispatch(base);
    event_free(guard);
}

static void test_life_against_loopback_proxy(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    cc_err err = {0};
    daemon_tee server = {0}, tee = {0};
    daemon_tee_config sc = {.role = "proxy", .tee = "none", .policy = "any", .measure = no_measure};
    daemon_tee_config cc = {
        .role = "worker", .tee = "none", .policy = "any", .measure = no_measure};
    assert_int_equal(daemon_tee_setup(&server, &sc, &err), 0);
    assert_int_equal(daemon_tee_setup(&tee, &cc, &err), 0);
    fake_proxy p = {.refuse = true};
    net_listen_config lc = {
        .host = "127.0.0.1",
        .identity = {server.identity->key, server.identity->cert},
        .verify = {tee_verify_peer, server.policy, tee_peer_info_free},
        .on_accept = p_on_accept,
        .ud = &p,
    };
    net_listener *l = net_listen(base, &lc, &err);
    assert_non_null(l);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", net_listener_port(l));

    daemon_link_env env = {.base = base,
                           .tee = &tee,
                           .ops = &role_ops,
                           .reconnect_min = 0.05,
                           .reconnect_max = 0.1,
                           .query_timeout = 10};
    role r = {.stop_on = base};
    assert_int_equal(daemon_link_init(&r.link, &env, addr, &err), 0);
    daemon_link_start(&r.link);
    assert_int_equal(r.link.state, DAEMON_LINK_CONNECTING);
    assert_non_null(r.link.conn);

    /* the proxy refuses the handshake: the link fails and waits */
    run(base);
    assert_int_equal(r.hellos, 1);
    assert_int_equal(r.gones, 1);
    assert_int_equal(r.link.connects, 1);
    assert_int_equal(r.link.state, DAEMON_LINK_WAITING);
    assert_null(r.link.conn);
    assert_string_equal(r.link.last_error, "worker.proxyHandshakeComplete failed: 602 busy");
    assert_true(evtimer_pending(r.link.timer, NULL));
    assert_false(r.answer_ok);

    /* after the backoff it dials again; this time the proxy agrees */
    p.refuse = false;
    run(base);
    assert_int_equal(r.readies, 1);
    assert_int_equal(r.hellos, 2);
    assert_int_equal(p.accepts, 2);
    assert_int_equal(p.queries, 2);
    assert_int_equal(r.link.connects, 2);
    assert_int_equal(r.link.state, DAEMON_LINK_READY);
    assert_true(r.answer_ok);
    assert_string_equal(r.link.last_error, "");
    json_t *e = daemon_link_stats_json(&r.link);
    assert_string_equal(json_string_value(json_object_get(e, "state")), "ready");
    assert_non_null(json_object_get(e, "attestation")); /* the proxy's certificate */
    assert_null(json_object_get(e, "last_error"));
    json_decref(e);

    /* a packet from the proxy reaches the role */
    assert_non_null(p.conn);
    assert_int_equal(net_conn_send_packet(p.conn, "hi", 2, NULL), 0);
    run(base);
    assert_int_equal(r.packets, 1);
    assert_int_equal(r.last_packet.len, 2);
    assert_memory_equal(r.last_packet.data, "hi", 2);

    /* the proxy goes away: the role drops what ran on the link */
    net_conn_close(p.conn, "proxy restarting");
    p.conn = NULL;
    run(base);
    assert_int_equal(r.gones, 2);
    assert_int_equal(r.state_at_gone, DAEMON_LINK_WAITING);
    assert_null(r.conn_at_gone);
    assert_int_equal(r.link.state, DAEMON_LINK_WAITING);
    assert_true(strlen(r.link.last_error) > 0);
    assert_true(evtimer_pending(r.link.timer, NULL));

    r.stop_on = NULL;
    daemon_link_stop(&r.link, "test done");
    net_listener_free(l);
    if (p.conn) net_conn_close(p.conn, "test done");
    struct timeval zero = {0, 0};
    event_base_loopexit(base, &zero);
    event_base_dispatch(base);
    cc_buf_free(&r.last_packet);
    daemon_tee_clear(&server);
    daemon_tee_clear(&tee);
    event_base_free(base);
}

/* ---- a dial refused by the RA-TLS check ---- */

static char root_dir[512];

typedef struct {
    int ready, closed;
} dial_ctx;

static void d_on_ready(net_conn *c, void *ud)
{
    (void)c;
    ((dial_ctx *)ud)->ready++;
}

static void d_on_close(net_conn *c, void *ud, const char *reason)
{
    (void)c;
    (void)reason;
    ((dial_ctx *)ud)->closed++;
}

static void d_on_accept(net_listener *l, net_conn *c, void *ud)
{
    (void)l;
    (void)c;
    (void)ud;
}

static void test_dial_refused_by_policy(void **state)
{
    (void)state;
    /* a dialer holding peers to the fake TEE refuses a proxy with no quote */
    assert_int_equal(tee_fixture_root_create(root_dir, sizeof(root_dir), "cocoon-daemon-link"), 0);
    cc_err err = {0};

    struct event_base *base = event_base_new();
    daemon_tee server = {0}, client = {0};
    daemon_tee_config sc = {.role = "proxy", .tee = "none", .policy = "any", .measure = no_measure};
    daemon_tee_config cc = {.role = "worker",
                            .tee = "none",
                            .policy = "fake",
                            .fake_root = root_dir,
                            .measure = no_measure};
    assert_int_equal(daemon_tee_setup(&server, &sc, &err), 0);
    assert_int_equal(daemon_tee_setup(&client, &cc, &err), 0);
    net_listen_config lc = {
        .host = "127.0.0.1",
        .identity = {server.identity->key, server.identity->cert},
        .verify = {tee_verify_peer, server.policy, tee_peer_info_free},
        .on_accept = d_on_accept,
    };
    net_listener *l = net_listen(base, &lc, &err);
    assert_non_null(l);
    dial_ctx d = {0};
    net_conn_callbacks cbs = {.on_ready = d_on_ready, .on_close = d_on_close};
    net_conn *conn =
        daemon_link_dial(base, &client, "127.0.0.1", net_listener_port(l), &cbs, &d, &err);
    assert_non_null(conn);
    struct event *guard = evtimer_new(base, on_guard, base);
    struct timeval tv = {30, 0};
    evtimer_add(guard, &tv);
    while (!d.closed && !d.ready && evtimer_pending(guard, NULL))
        event_base_loop(base, EVLOOP_ONCE);
    event_free(guard);
    assert_int_equal(d.ready, 0);
    assert_int_equal(d.closed, 1);
    net_listener_free(l);
    struct timeval zero = {0, 0};
    event_base_loopexit(base, &zero);
    event_base_dispatch(base);
    daemon_tee_clear(&server);
    daemon_tee_clear(&client);
    event_base_free(base);

    tee_fixture_root_remove(root_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_fail_ready_backoff),
        cmocka_unit_test(test_link_set),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_decode_answer),
        cmocka_unit_test(test_life_against_loopback_proxy),
        cmocka_unit_test(test_dial_refused_by_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
