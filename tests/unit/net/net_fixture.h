/*
 * A listener and one connecting client on one event loop, with recording
 * callbacks; shared by the connection tests.
 */
#ifndef COCOON_NET_FIXTURE_H
#define COCOON_NET_FIXTURE_H

#include <signal.h>

#include "net_test_util.h"

typedef enum { ANSWER_ECHO, ANSWER_ERROR, ANSWER_NONE } answer_mode;

typedef struct side {
    net_conn *conn;
    bool ready, closed;
    int closes;
    char close_reason[600];
    int packets;
    cc_buf last_packet;
    int queries;
    uint64_t last_query_id;
    answer_mode mode;
    bool echo_packets;
} side;

typedef struct fx {
    struct event_base *base;
    net_tls_identity sid, cid;
    uint8_t skey[32], ckey[32];
    net_listener *l;
    int accepts;
    side srv, cli;
    int answers;
    int32_t answer_code;
    char answer_msg[600];
    cc_buf answer;
} fx;

static inline void fx_on_packet(net_conn *c, void *ud, const uint8_t *data, size_t len)
{
    side *s = ud;
    s->packets++;
    cc_buf_reset(&s->last_packet);
    cc_buf_append(&s->last_packet, data, len);
    if (s->echo_packets) assert_int_equal(net_conn_send_packet(c, data, len, NULL), 0);
}

static inline void fx_on_query(net_conn *c, void *ud, uint64_t qid, const uint8_t *data, size_t len)
{
    side *s = ud;
    s->queries++;
    s->last_query_id = qid;
    if (s->mode == ANSWER_ECHO) {
        cc_buf b = CC_BUF_INIT;
        cc_buf_append(&b, "re:", 3);
        cc_buf_append(&b, data, len);
        assert_int_equal(net_conn_answer(c, qid, b.data, b.len, NULL), 0);
        cc_buf_free(&b);
    } else if (s->mode == ANSWER_ERROR) {
        assert_int_equal(net_conn_answer_error(c, qid, 602, "no such thing", NULL), 0);
    }
}

static inline void fx_on_close(net_conn *c, void *ud, const char *reason)
{
    side *s = ud;
    s->closed = true;
    s->closes++;
    snprintf(s->close_reason, sizeof s->close_reason, "%s", reason);
    s->conn = NULL;
}

static inline void fx_on_ready(net_conn *c, void *ud)
{
    side *s = ud;
    s->ready = true;
}

static const net_conn_callbacks fx_cbs = {fx_on_ready, fx_on_packet, fx_on_query, fx_on_close};

static inline void fx_on_accept(net_listener *l, net_conn *c, void *ud)
{
    fx *f = ud;
    f->accepts++;
    f->srv.conn = c;
    net_conn_set_callbacks(c, &fx_cbs, &f->srv);
}

static inline void fx_on_answer(net_conn *c, void *ud, int32_t code, const char *msg,
                                const uint8_t *data, size_t len)
{
    fx *f = ud;
    f->answers++;
    f->answer_code = code;
    snprintf(f->answer_msg, sizeof f->answer_msg, "%s", msg ? msg : "");
    cc_buf_reset(&f->answer);
    if (len) cc_buf_append(&f->answer, data, len);
}

static inline void fx_init(fx *f)
{
    memset(f, 0, sizeof *f);
    cc_log_init("test", getenv("NET_TEST_LOG") ? CC_LOG_DEBUG : CC_LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    f->base = event_base_new();
    assert_int_equal(net_tls_identity_self_signed("server", &f->sid, NULL), 0);
    assert_int_equal(net_tls_identity_self_signed("client", &f->cid, NULL), 0);
    tu_cert_pubkey(f->sid.cert, f->skey);
    tu_cert_pubkey(f->cid.cert, f->ckey);
}

/* Starts a listener that accepts only the client's key. */
static inline void fx_listen(fx *f, int difficulty, net_timeouts to)
{
    net_listen_config lc = {.host = "127.0.0.1",
                            .port = 0,
                            .pow_difficulty = difficulty,
                            .identity = f->sid,
                            .verify = tu_verify(f->ckey),
                            .timeouts = to,
                            .on_accept = fx_on_accept,
                            .ud = f};
    cc_err err;
    f->l = net_listen(f->base, &lc, &err);
    assert_non_null(f->l);
    assert_true(net_listener_port(f->l) != 0);
}

static inline net_connect_config fx_connect_config(fx *f, net_timeouts to)
{
    net_connect_config cc = {.host = "127.0.0.1",
                             .port = net_listener_port(f->l),
                             .identity = f->cid,
                             .verify = tu_verify(f->skey),
                             .timeouts = to,
                             .cbs = fx_cbs,
                             .ud = &f->cli};
    return cc;
}

/* Connects the client and waits until both ends are ready. */
static inline void fx_connect(fx *f, net_timeouts to)
{
    net_connect_config cc = fx_connect_config(f, to);
    cc_err err;
    f->cli.conn = net_connect(f->base, &cc, &err);
    assert_non_null(f->cli.conn);
    assert_true(tu_run_until(f->base, tu_flag_cond, &f->cli.ready, 10));
    for (int i = 0; i < 1000 && !f->srv.conn; i++)
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_non_null(f->srv.conn);
}

static inline void fx_free(fx *f)
{
    if (f->cli.conn) net_conn_close(f->cli.conn, "test over");
    if (f->srv.conn) net_conn_close(f->srv.conn, "test over");
    net_listener_free(f->l);
    /* let libevent finish deferred frees */
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    event_base_free(f->base);
    net_tls_identity_free(&f->sid);
    net_tls_identity_free(&f->cid);
    cc_buf_free(&f->srv.last_packet);
    cc_buf_free(&f->cli.last_packet);
    cc_buf_free(&f->answer);
}

#endif
