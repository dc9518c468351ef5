/* Connections end to end over real sockets and real TLS on 127.0.0.1. */
#include <openssl/x509v3.h>

#include "net_fixture.h"

static bool answered(void *arg)
{
    return ((fx *)arg)->answers > 0;
}
static bool cli_got_packet(void *arg)
{
    return ((fx *)arg)->cli.packets > 0;
}
static bool both_closed(void *arg)
{
    fx *f = arg;
    return f->cli.closed && f->srv.closed;
}

static void test_handshake_query_packet(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 8, (net_timeouts){0});
    fx_connect(&f, (net_timeouts){0});
    assert_int_equal(f.accepts, 1);
    assert_true(net_conn_is_ready(f.cli.conn));
    assert_true(net_conn_is_outbound(f.cli.conn));
    assert_false(net_conn_is_outbound(f.srv.conn));
    /* both sides saw the other's key through their verify hook */
    assert_memory_equal(net_conn_peer_info(f.cli.conn), f.skey, 32);
    assert_memory_equal(net_conn_peer_info(f.srv.conn), f.ckey, 32);
    assert_int_equal(X509_cmp(net_conn_peer_cert(f.cli.conn), f.sid.cert), 0);
    assert_int_equal(X509_cmp(net_conn_peer_cert(f.srv.conn), f.cid.cert), 0);
    assert_true(net_conn_remote_id(f.cli.conn) == net_conn_remote_id(f.srv.conn));
    assert_non_null(strstr(net_conn_describe(f.cli.conn), "ready"));

    /* query → answer */
    uint64_t qid = 0;
    assert_int_equal(net_conn_query(f.cli.conn, "hello", 5, 5, fx_on_answer, &f, &qid, NULL), 0);
    assert_true(tu_run_until(f.base, answered, &f, 5));
    assert_int_equal(f.answer_code, 0);
    assert_int_equal(f.answer.len, 8);
    assert_memory_equal(f.answer.data, "re:hello", 8);
    assert_true(f.srv.last_query_id == qid);

    /* query → error from the peer */
    f.srv.mode = ANSWER_ERROR;
    f.answers = 0;
    assert_int_equal(net_conn_query(f.cli.conn, "x", 1, 5, fx_on_answer, &f, NULL, NULL), 0);
    assert_true(tu_run_until(f.base, answered, &f, 5));
    assert_int_equal(f.answer_code, 602);
    assert_string_equal(f.answer_msg, "no such thing");

    /* one-way packets both ways (the server echoes) */
    f.srv.echo_packets = true;
    assert_int_equal(net_conn_send_packet(f.cli.conn, "ping-data", 9, NULL), 0);
    assert_true(tu_run_until(f.base, cli_got_packet, &f, 5));
    assert_int_equal(f.srv.packets, 1);
    assert_int_equal(f.cli.last_packet.len, 9);
    assert_memory_equal(f.cli.last_packet.data, "ping-data", 9);

    /* empty packet */
    f.cli.packets = 0;
    assert_int_equal(net_conn_send_packet(f.cli.conn, NULL, 0, NULL), 0);
    assert_true(tu_run_until(f.base, cli_got_packet, &f, 5));
    assert_int_equal(f.cli.last_packet.len, 0);

    net_conn_stats st;
    net_conn_get_stats(f.cli.conn, &st);
    assert_int_equal(st.queries_out, 2);
    assert_int_equal(st.packets_out, 2);
    assert_int_equal(st.packets_in, 2);
    assert_int_equal(st.frames_out, 5); /* connect + 2 queries + 2 packets */
    assert_int_equal(st.frames_in, 5);  /* connected + answer + error + 2 packets */
    assert_true(st.bytes_out > 5 * 8);
    assert_true(st.ready_at > 0);
    fx_free(&f);
}

/* The connecting side pings after ping_interval of silence and the pongs keep
 * the link alive past the idle timeout; a silent peer is dropped. */
static void test_ping_pong_and_idle_drop(void **state)
{
    fx f;
    fx_init(&f);
    net_timeouts to = {.ping_interval = 0.05, .idle_timeout = 0.8};
    fx_listen(&f, 4, to);
    fx_connect(&f, to);
    tu_run_for(f.base, 1.6); /* two idle timeouts */
    assert_false(f.cli.closed);
    assert_false(f.srv.closed);
    net_conn_stats st;
    net_conn_get_stats(f.cli.conn, &st);
    assert_true(st.pings_out >= 5);
    assert_true(st.pongs_in >= 5);
    assert_true(st.pongs_in <= st.pings_out);
    net_conn_close(f.cli.conn, "done");
    f.cli.conn = NULL;
    fx_free(&f);

    /* Now a client that never pings (ping interval longer than the server's
     * idle timeout): the server drops it and both ends see the close. */
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){.idle_timeout = 0.2});
    fx_connect(&f, (net_timeouts){.ping_interval = 30, .idle_timeout = 60});
    double t0 = tu_now();
    assert_true(tu_run_until(f.base, both_closed, &f, 5));
    assert_true(tu_now() - t0 >= 0.15);
    assert_non_null(strstr(f.srv.close_reason, "silent"));
    assert_int_equal(f.cli.closes, 1);
    assert_int_equal(f.srv.closes, 1);
    fx_free(&f);
}

static bool srv_pongs_20(void *arg)
{
    fx *f = arg;
    net_conn_stats st;
    net_conn_get_stats(f->srv.conn, &st);
    return st.pongs_in >= 20 || f->srv.closed;
}

/* With ping_inbound the accepting side pings too (a proxy watching its
 * workers): a peer that never pings stays up past the idle timeout because
 * it answers, while without the flag it was dropped above. */
static void test_inbound_pings(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    fx_listen(&f, 4,
              (net_timeouts){.ping_interval = 0.05, .idle_timeout = 0.4, .ping_inbound = true});
    fx_connect(&f, (net_timeouts){.ping_interval = 30, .idle_timeout = 60});
    double t0 = tu_now();
    /* 20 answered pings take about 1 s, over twice the idle timeout. */
    assert_true(tu_run_until(f.base, srv_pongs_20, &f, 20));
    assert_true(tu_now() - t0 > 0.4);
    assert_false(f.srv.closed);
    assert_false(f.cli.closed);
    net_conn_stats st;
    net_conn_get_stats(f.cli.conn, &st);
    assert_int_equal(st.pings_out, 0);
    net_conn_close(f.cli.conn, "done");
    f.cli.conn = NULL;
    fx_free(&f);
}

static void test_query_timeout(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    fx_connect(&f, (net_timeouts){0});
    f.srv.mode = ANSWER_NONE;
    assert_int_equal(net_conn_query(f.cli.conn, "slow", 4, 0.1, fx_on_answer, &f, NULL, NULL), 0);
    double t0 = tu_now();
    assert_true(tu_run_until(f.base, answered, &f, 5));
    assert_true(tu_now() - t0 >= 0.09);
    assert_int_equal(f.answer_code, NET_ERR_TIMEOUT);
    assert_int_equal(f.srv.queries, 1);
    /* the late answer is ignored, the link stays up */
    assert_int_equal(net_conn_answer(f.srv.conn, f.srv.last_query_id, "late", 4, NULL), 0);
    tu_run_for(f.base, 0.1);
    assert_int_equal(f.answers, 1);
    assert_true(net_conn_is_ready(f.cli.conn));

    /* a cancelled query never calls back */
    uint64_t qid;
    f.answers = 0;
    assert_int_equal(net_conn_query(f.cli.conn, "c", 1, 0.05, fx_on_answer, &f, &qid, NULL), 0);
    net_conn_cancel_query(f.cli.conn, qid);
    tu_run_for(f.base, 0.2);
    assert_int_equal(f.answers, 0);
    fx_free(&f);
}

/* Pending queries fail when the link closes: NET_ERR_FAILURE plus on_close
 * when the peer goes; NET_ERR_CANCELLED and no on_close on a local close. */
static void test_close_fails_pending(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    fx_connect(&f, (net_timeouts){0});
    f.srv.mode = ANSWER_NONE;
    assert_int_equal(net_conn_query(f.cli.conn, "q1", 2, 30, fx_on_answer, &f, NULL, NULL), 0);
    assert_int_equal(net_conn_query(f.cli.conn, "q2", 2, 30, fx_on_answer, &f, NULL, NULL), 0);
    bool got2 = false;
    for (double end = tu_now() + 5; tu_now() < end && !got2;) {
        event_base_loop(f.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        got2 = f.srv.queries == 2;
    }
    assert_true(got2);
    net_conn_close(f.srv.conn, "server shuts down");
    f.srv.conn = NULL;
    assert_true(tu_run_until(f.base, tu_flag_cond, &f.cli.closed, 5));
    assert_int_equal(f.answers, 2);
    assert_int_equal(f.answer_code, NET_ERR_FAILURE);
    assert_int_equal(f.cli.closes, 1);
    assert_false(f.srv.closed); /* a local close has no on_close */
    /* sending on a closed link fails cleanly */
    fx_free(&f);

    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    fx_connect(&f, (net_timeouts){0});
    f.srv.mode = ANSWER_NONE;
    assert_int_equal(net_conn_query(f.cli.conn, "q", 1, 30, fx_on_answer, &f, NULL, NULL), 0);
    net_conn_close(f.cli.conn, "client quits");
    f.cli.conn = NULL;
    assert_int_equal(f.answers, 1);
    assert_int_equal(f.answer_code, NET_ERR_CANCELLED);
    assert_false(f.cli.closed);
    assert_true(tu_run_until(f.base, tu_flag_cond, &f.srv.closed, 5));
    fx_free(&f);
}

/* Closing from inside a callback (the answer callback here) is safe. */
static void close_in_answer(net_conn *c, void *ud, int32_t code, const char *msg,
                            const uint8_t *data, size_t len)
{
    fx *f = ud;
    f->answers++;
    net_conn_close(c, "closing inside the callback");
    f->cli.conn = NULL;
}

static void test_close_inside_callback(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    fx_connect(&f, (net_timeouts){0});
    assert_int_equal(net_conn_query(f.cli.conn, "a", 1, 5, close_in_answer, &f, NULL, NULL), 0);
    assert_int_equal(net_conn_query(f.cli.conn, "b", 1, 5, close_in_answer, &f, NULL, NULL), 0);
    assert_true(tu_run_until(f.base, tu_flag_cond, &f.srv.closed, 5));
    /* first answered, second failed by the close inside the first callback */
    assert_int_equal(f.answers, 2);
    assert_false(f.cli.closed);
    fx_free(&f);
}

/* close_after_flush: what was queued (a 1 MiB packet, then an error answer)
 * still reaches the peer, which then sees the close. */
static void test_close_after_flush(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    fx_connect(&f, (net_timeouts){0});
    f.srv.mode = ANSWER_NONE;
    assert_int_equal(net_conn_query(f.cli.conn, "q", 1, 5, fx_on_answer, &f, NULL, NULL), 0);
    bool got = false;
    for (double end = tu_now() + 5; tu_now() < end && !got;) {
        event_base_loop(f.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        got = f.srv.queries == 1;
    }
    assert_true(got);
    size_t n = 1u << 20;
    uint8_t *big = malloc(n);
    memset(big, 0x3c, n);
    assert_int_equal(net_conn_send_packet(f.srv.conn, big, n, NULL), 0);
    free(big);
    assert_int_equal(net_conn_answer_error(f.srv.conn, f.srv.last_query_id, 621, "go away", NULL),
                     0);
    assert_true(net_conn_output_pending(f.srv.conn) > 0);
    net_conn_close_after_flush(f.srv.conn, "rejected", 5);
    f.srv.conn = NULL;
    assert_true(tu_run_until(f.base, tu_flag_cond, &f.cli.closed, 5));
    assert_int_equal(f.cli.packets, 1);
    assert_int_equal(f.cli.last_packet.len, n);
    assert_int_equal(f.answers, 1);
    assert_int_equal(f.answer_code, 621);
    assert_string_equal(f.answer_msg, "go away");
    assert_false(f.srv.closed); /* no callbacks for the side that closed */
    fx_free(&f);
}

/* A verify hook that says no: no connection on either side. */
static void test_verify_rejects(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    /* the client expects another server key */
    uint8_t other[32];
    memset(other, 0x5a, 32);
    net_connect_config cc = fx_connect_config(&f, (net_timeouts){0});
    cc.verify = tu_verify(other);
    f.cli.conn = net_connect(f.base, &cc, NULL);
    assert_non_null(f.cli.conn);
    assert_true(tu_run_until(f.base, tu_flag_cond, &f.cli.closed, 5));
    assert_false(f.cli.ready);
    assert_non_null(strstr(f.cli.close_reason, "unknown public key"));
    tu_run_for(f.base, 0.05);
    assert_int_equal(f.accepts, 0);
    fx_free(&f);

    /* the server does not know the client's key */
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    net_tls_identity stranger;
    assert_int_equal(net_tls_identity_self_signed("stranger", &stranger, NULL), 0);
    cc = fx_connect_config(&f, (net_timeouts){0});
    cc.identity = stranger;
    f.cli.conn = net_connect(f.base, &cc, NULL);
    net_tls_identity_free(&stranger); /* net keeps its own references */
    assert_non_null(f.cli.conn);
    assert_true(tu_run_until(f.base, tu_flag_cond, &f.cli.closed, 5));
    assert_false(f.cli.ready);
    assert_int_equal(f.accepts, 0);
    fx_free(&f);
}

static void test_pow_too_hard_and_bad_config(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 24, (net_timeouts){0});
    net_connect_config cc = fx_connect_config(&f, (net_timeouts){0});
    cc.max_pow_difficulty = 16;
    f.cli.conn = net_connect(f.base, &cc, NULL);
    assert_true(tu_run_until(f.base, tu_flag_cond, &f.cli.closed, 5));
    assert_non_null(strstr(f.cli.close_reason, "difficulty 24"));
    fx_free(&f);

    fx_init(&f);
    net_listen_config lc = {.host = "127.0.0.1",
                            .pow_difficulty = 29,
                            .identity = f.sid,
                            .verify = tu_verify(NULL),
                            .on_accept = fx_on_accept};
    cc_err err;
    assert_null(net_listen(f.base, &lc, &err));
    lc.pow_difficulty = 4;
    lc.host = "127.0.0.1";
    lc.on_accept = NULL;
    assert_null(net_listen(f.base, &lc, &err));
    lc.on_accept = fx_on_accept;
    /* a name resolves; port 0 gets a real port */
    lc.host = "localhost";
    net_listener *l = net_listen(f.base, &lc, &err);
    assert_non_null(l);
    assert_true(net_listener_port(l) != 0);
    net_listener_free(l);
    fx_free(&f);
}

/* A name that resolves to several addresses: the ones that refuse are
 * skipped (localhost may give ::1 first; the listener is on 127.0.0.1 only). */
static void test_connect_by_name(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    net_connect_config cc = fx_connect_config(&f, (net_timeouts){0});
    cc.host = "localhost";
    f.cli.conn = net_connect(f.base, &cc, NULL);
    assert_non_null(f.cli.conn);
    assert_true(tu_run_until(f.base, tu_flag_cond, &f.cli.ready, 10));
    assert_non_null(strstr(net_conn_peer_addr(f.cli.conn), "127.0.0.1:"));
    fx_free(&f);
}

static void test_connect_refused(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    uint16_t port = net_listener_port(f.l);
    net_listener_free(f.l);
    f.l = NULL;
    net_connect_config cc = {.host = "127.0.0.1",
                             .port = port,
                             .identity = f.cid,
                             .verify = tu_verify(NULL),
                             .cbs = fx_cbs,
                             .ud = &f.cli};
    cc_err err;
    f.cli.conn = net_connect(f.base, &cc, &err);
    if (f.cli.conn) {
        assert_true(tu_run_until(f.base, tu_flag_cond, &f.cli.closed, 5));
        assert_non_null(strstr(f.cli.close_reason, "refused"));
    } else {
        assert_non_null(strstr(err.msg, "refused"));
    }
    assert_false(f.cli.ready);
    fx_free(&f);
}

static bool srv_got_packet(void *arg)
{
    return ((fx *)arg)->srv.packets > 0;
}

/* net_conn_send_packet_tl delivers exactly tl_encode()'s bytes, across the
 * TL bytes length forms (1-byte below 254, 4-byte from 254) and every padding. */
static void test_send_packet_tl(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    fx_connect(&f, (net_timeouts){0});
    static uint8_t body[70001];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)(i * 131u + 7u);
    size_t sizes[80], n_sizes = 0;
    for (size_t k = 200; k < 270; k++) /* encoded sizes around 254 */
        sizes[n_sizes++] = k;
    sizes[n_sizes++] = 0;
    sizes[n_sizes++] = 16384;
    sizes[n_sizes++] = sizeof body;
    bool saw_short = false, saw_long = false;
    for (size_t i = 0; i < n_sizes; i++) {
        tl_http_response resp = TL_INIT(http_response);
        resp.http_version = tl_str("HTTP/1.1");
        resp.status_code = 200;
        resp.reason = tl_str(i & 1 ? "OK" : "");
        resp.payload = tl_mem(body, sizes[i]);
        cc_buf want = CC_BUF_INIT;
        assert_int_equal(tl_encode(&resp.hdr, &want, NULL), 0);
        if (want.len < 254) saw_short = true;
        if (want.len >= 254) saw_long = true;
        f.srv.packets = 0;
        assert_int_equal(net_conn_send_packet_tl(f.cli.conn, &resp.hdr, NULL), 0);
        assert_true(tu_run_until(f.base, srv_got_packet, &f, 5));
        assert_int_equal(f.srv.last_packet.len, want.len);
        assert_memory_equal(f.srv.last_packet.data, want.data, want.len);
        cc_buf_free(&want);
    }
    assert_true(saw_short && saw_long);
    net_conn_stats st;
    net_conn_get_stats(f.cli.conn, &st);
    assert_int_equal(st.packets_out, n_sizes);
    fx_free(&f);
}

static bool srv_got_3(void *arg)
{
    return ((fx *)arg)->srv.packets >= 3;
}

/* The http.response whose reason is `tag`: a message told apart by its bytes. */
static void tagged(tl_http_response *m, cc_buf *enc, const char *tag)
{
    *m = (tl_http_response)TL_INIT(http_response);
    m->http_version = tl_str("HTTP/1.1");
    m->status_code = 200;
    m->reason = tl_str(tag);
    cc_buf_reset(enc);
    assert_int_equal(tl_encode(&m->hdr, enc, NULL), 0);
}

/* net_conn_send_msg_later: the message waits (no flush of its own) until
 * the next message goes, in order before it; alone it leaves after its
 * delay; a link closed after flush still delivers it. */
static void test_send_msg_later(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    fx_connect(&f, (net_timeouts){0});
    tl_http_response a, b, c, d;
    cc_buf ea = CC_BUF_INIT, eb = CC_BUF_INIT, ec = CC_BUF_INIT, ed = CC_BUF_INIT;
    tagged(&a, &ea, "waits");
    tagged(&b, &eb, "carries");
    tagged(&c, &ec, "alone");
    tagged(&d, &ed, "closing");

    assert_int_equal(net_conn_send_msg_later(f.cli.conn, &a.hdr, 600), 0);
    for (int i = 0; i < 50; i++) /* many loop turns: nothing makes it leave */
        event_base_loop(f.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(f.srv.packets, 0);
    assert_true(net_conn_output_pending(f.cli.conn) >= ea.len);

    assert_int_equal(net_conn_send_msg(f.cli.conn, &b.hdr), 0);
    for (double end = tu_now() + 10; tu_now() < end && f.srv.packets < 2;)
        event_base_loop(f.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(f.srv.packets, 2);
    assert_int_equal(f.srv.last_packet.len, eb.len); /* the waiting one went first */
    assert_memory_equal(f.srv.last_packet.data, eb.data, eb.len);
    assert_int_equal(net_conn_output_pending(f.cli.conn), 0);

    assert_int_equal(net_conn_send_msg_later(f.cli.conn, &c.hdr, 0.05), 0);
    assert_true(tu_run_until(f.base, srv_got_3, &f, 10));
    assert_int_equal(f.srv.last_packet.len, ec.len);
    assert_memory_equal(f.srv.last_packet.data, ec.data, ec.len);

    f.srv.packets = 0;
    assert_int_equal(net_conn_send_msg_later(f.cli.conn, &d.hdr, 600), 0);
    net_conn_close_after_flush(f.cli.conn, "done", 5);
    f.cli.conn = NULL;
    assert_true(tu_run_until(f.base, tu_flag_cond, &f.srv.closed, 10));
    assert_int_equal(f.srv.packets, 1);
    assert_int_equal(f.srv.last_packet.len, ed.len);
    assert_memory_equal(f.srv.last_packet.data, ed.data, ed.len);
    cc_buf_free(&ea);
    cc_buf_free(&eb);
    cc_buf_free(&ec);
    cc_buf_free(&ed);
    fx_free(&f);
}

/* net_conn_output_hold: what is queued while held stays queued however
 * many loop turns pass, holds nest, and the last release sends it all. */
static void test_output_hold(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    fx_connect(&f, (net_timeouts){0});
    tl_http_response a, b;
    cc_buf ea = CC_BUF_INIT, eb = CC_BUF_INIT;
    tagged(&a, &ea, "held");
    tagged(&b, &eb, "also held");
    net_conn_output_hold(f.cli.conn);
    net_conn_output_hold(f.cli.conn);
    assert_int_equal(net_conn_send_msg(f.cli.conn, &a.hdr), 0);
    for (int i = 0; i < 50; i++)
        event_base_loop(f.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(f.srv.packets, 0);
    net_conn_output_release(f.cli.conn); /* one hold is left */
    assert_int_equal(net_conn_send_msg(f.cli.conn, &b.hdr), 0);
    for (int i = 0; i < 50; i++)
        event_base_loop(f.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(f.srv.packets, 0);
    assert_true(net_conn_output_pending(f.cli.conn) >= ea.len + eb.len);
    net_conn_output_release(f.cli.conn);
    for (double end = tu_now() + 10; tu_now() < end && f.srv.packets < 2;)
        event_base_loop(f.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(f.srv.packets, 2);
    assert_int_equal(f.srv.last_packet.len, eb.len);
    assert_memory_equal(f.srv.last_packet.data, eb.data, eb.len);
    assert_int_equal(net_conn_output_pending(f.cli.conn), 0);
    cc_buf_free(&ea);
    cc_buf_free(&eb);
    fx_free(&f);
}

typedef struct {
    fx *f;
    int calls;
    uint64_t echoes_then; /* the client's packets when the pong came */
} barrier_seen;

static void on_barrier(net_conn *c, void *ud)
{
    barrier_seen *b = ud;
    assert_ptr_equal(c, b->f->cli.conn);
    b->calls++;
    b->echoes_then = (uint64_t)b->f->cli.packets;
}

static bool barrier_passed(void *arg)
{
    return ((barrier_seen *)arg)->calls > 0;
}

/* net_conn_barrier: the pong comes after the peer handled what was sent
 * before the ping, so whatever it sent in answer (here, echoes) has arrived
 * by the time the callback runs; the callback runs once. */
static void test_barrier(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    fx_connect(&f, (net_timeouts){0});
    f.srv.echo_packets = true;
    barrier_seen b = {.f = &f};
    for (int i = 0; i < 3; i++)
        assert_int_equal(net_conn_send_packet(f.cli.conn, "x", 1, NULL), 0);
    assert_int_equal(net_conn_barrier(f.cli.conn, on_barrier, &b), 0);
    assert_true(tu_run_until(f.base, barrier_passed, &b, 10));
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.echoes_then, 3);
    /* A keepalive ping's pong (another id) does not call it again. */
    for (int i = 0; i < 20; i++)
        event_base_loop(f.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(b.calls, 1);
    assert_int_equal(net_conn_barrier(NULL, on_barrier, &b), -1);
    fx_free(&f);
}

/* 1 MiB packets and answers cross intact; more than 2^24 bytes is refused. */
static void test_large_frames(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    fx_connect(&f, (net_timeouts){0});
    size_t n = 1u << 20;
    uint8_t *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)(i * 2654435761u >> 13);
    assert_int_equal(net_conn_send_packet(f.cli.conn, big, n, NULL), 0);
    assert_true(tu_run_until(f.base, srv_got_packet, &f, 10));
    assert_int_equal(f.srv.last_packet.len, n);
    assert_memory_equal(f.srv.last_packet.data, big, n);
    assert_int_equal(net_conn_query(f.cli.conn, big, n, 10, fx_on_answer, &f, NULL, NULL), 0);
    assert_true(tu_run_until(f.base, answered, &f, 10));
    assert_int_equal(f.answer_code, 0);
    assert_int_equal(f.answer.len, n + 3);
    assert_memory_equal(f.answer.data + 3, big, n);
    free(big);

    /* the largest payload that fits a 2^24-byte frame: 16 MiB - 8 (id + length) */
    size_t max = (1u << 24) - 8;
    uint8_t *huge = calloc(1, max + 1);
    huge[max - 1] = 0x77;
    f.srv.packets = 0;
    assert_int_equal(net_conn_send_packet(f.cli.conn, huge, max, NULL), 0);
    assert_true(tu_run_until(f.base, srv_got_packet, &f, 20));
    assert_int_equal(f.srv.last_packet.len, max);
    assert_int_equal(f.srv.last_packet.data[max - 1], 0x77);
    cc_err err;
    assert_int_equal(net_conn_send_packet(f.cli.conn, huge, max + 1, &err), -1);
    free(huge);
    /* the link still works */
    f.answers = 0;
    assert_int_equal(net_conn_query(f.cli.conn, "ok", 2, 5, fx_on_answer, &f, NULL, NULL), 0);
    assert_true(tu_run_until(f.base, answered, &f, 5));
    assert_int_equal(f.answer_code, 0);
    fx_free(&f);
}

/* A certificate shaped like an RA-TLS one (DESIGN §5.1): critical
 * basicConstraints/keyUsage (digitalSignature only)/extKeyUsage, and two
 * critical private extensions OpenSSL does not know. */
static void add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

static void add_private_ext(X509 *x, const char *oid, const char *content)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(os, (const unsigned char *)content, (int)strlen(content));
    X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, os);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
}

static void make_ratls_like(net_tls_identity *id)
{
    assert_int_equal(net_tls_identity_self_signed("ratls", id, NULL), 0);
    X509 *x = id->cert;
    add_ext(x, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, NID_key_usage, "critical,digitalSignature");
    add_ext(x, NID_ext_key_usage, "critical,serverAuth,clientAuth");
    add_ext(x, NID_subject_key_identifier, "hash");
    add_ext(x, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
    add_private_ext(x, "1.3.6.1.4.1.12345.1", "fake quote");
    add_private_ext(x, "1.3.6.1.4.1.12345.2", "claims");
    assert_true(X509_sign(x, id->key, NULL) > 0);
}

static void test_ratls_shaped_certificates(void **state)
{
    fx f;
    fx_init(&f);
    net_tls_identity_free(&f.sid);
    net_tls_identity_free(&f.cid);
    make_ratls_like(&f.sid);
    make_ratls_like(&f.cid);
    tu_cert_pubkey(f.sid.cert, f.skey);
    tu_cert_pubkey(f.cid.cert, f.ckey);
    fx_listen(&f, 4, (net_timeouts){0});
    fx_connect(&f, (net_timeouts){0});
    assert_memory_equal(net_conn_peer_info(f.cli.conn), f.skey, 32);
    assert_memory_equal(net_conn_peer_info(f.srv.conn), f.ckey, 32);
    assert_int_equal(net_conn_query(f.cli.conn, "hi", 2, 5, fx_on_answer, &f, NULL, NULL), 0);
    assert_true(tu_run_until(f.base, answered, &f, 5));
    assert_int_equal(f.answer_code, 0);
    fx_free(&f);
}

/* A certificate that is not self-signed (issued by another key) is refused
 * before the hook runs; so is an expired one. */
static void test_not_self_signed_or_expired(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    net_tls_identity other, forged;
    assert_int_equal(net_tls_identity_self_signed("issuer", &other, NULL), 0);
    assert_int_equal(net_tls_identity_self_signed("client", &forged, NULL), 0);
    /* keep the subject == issuer name but sign with another key */
    assert_true(X509_sign(forged.cert, other.key, NULL) > 0);
    net_connect_config cc = fx_connect_config(&f, (net_timeouts){0});
    cc.identity = forged;
    cc.verify = tu_verify(NULL);
    f.cli.conn = net_connect(f.base, &cc, NULL);
    assert_non_null(f.cli.conn);
    /* the client's own TLS stack may refuse its inconsistent key pair
     * already; either way the connection must not come up */
    if (f.cli.conn) assert_true(tu_run_until(f.base, tu_flag_cond, &f.cli.closed, 5));
    assert_false(f.cli.ready);
    assert_int_equal(f.accepts, 0);
    net_tls_identity_free(&other);
    net_tls_identity_free(&forged);
    fx_free(&f);

    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    net_tls_identity old;
    assert_int_equal(net_tls_identity_self_signed("client", &old, NULL), 0);
    X509_gmtime_adj(X509_getm_notBefore(old.cert), -3 * 24 * 3600);
    X509_gmtime_adj(X509_getm_notAfter(old.cert), -2 * 24 * 3600);
    assert_true(X509_sign(old.cert, old.key, NULL) > 0);
    cc = fx_connect_config(&f, (net_timeouts){0});
    cc.identity = old;
    f.cli.conn = net_connect(f.base, &cc, NULL);
    net_tls_identity_free(&old);
    assert_non_null(f.cli.conn);
    assert_true(tu_run_until(f.base, tu_flag_cond, &f.cli.closed, 5));
    assert_false(f.cli.ready);
    assert_int_equal(f.accepts, 0);
    fx_free(&f);
}

static void test_not_ready_and_backoff(void **state)
{
    fx f;
    fx_init(&f);
    fx_listen(&f, 4, (net_timeouts){0});
    net_connect_config cc = fx_connect_config(&f, (net_timeouts){0});
    f.cli.conn = net_connect(f.base, &cc, NULL);
    cc_err err;
    assert_int_equal(net_conn_send_packet(f.cli.conn, "x", 1, &err), -1);
    assert_int_equal(err.code, NET_ERR_NOT_READY);
    assert_int_equal(net_conn_query(f.cli.conn, "x", 1, 1, fx_on_answer, &f, NULL, &err), -1);
    assert_int_equal(err.code, NET_ERR_NOT_READY);
    assert_int_equal(f.answers, 0);
    fx_free(&f);

    net_backoff b;
    net_backoff_init(&b, 1, 8);
    double expect[] = {1, 2, 4, 8, 8};
    for (size_t i = 0; i < CC_ARRAY_LEN(expect); i++) {
        double d = net_backoff_next(&b);
        assert_true(d >= expect[i] * 0.8 - 1e-9 && d <= expect[i] * 1.2 + 1e-9);
    }
    net_backoff_reset(&b);
    double d = net_backoff_next(&b);
    assert_true(d >= 0.8 && d <= 1.2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_query_packet),
        cmocka_unit_test(test_ping_pong_and_idle_drop),
        cmocka_unit_test(test_inbound_pings),
        cmocka_unit_test(test_query_timeout),
        cmocka_unit_test(test_close_fails_pending),
        cmocka_unit_test(test_close_inside_callback),
        cmocka_unit_test(test_close_after_flush),
        cmocka_unit_test(test_verify_rejects),
        cmocka_unit_test(test_pow_too_hard_and_bad_config),
        cmocka_unit_test(test_connect_by_name),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_large_frames),
        cmocka_unit_test(test_send_packet_tl),
        cmocka_unit_test(test_send_msg_later),
        cmocka_unit_test(test_output_hold),
        cmocka_unit_test(test_barrier),
        cmocka_unit_test(test_ratls_shaped_certificates),
        cmocka_unit_test(test_not_self_signed_or_expired),
        cmocka_unit_test(test_not_ready_and_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
