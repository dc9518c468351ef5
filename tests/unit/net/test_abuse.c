/*
 * Hostile peers on a listener: each bad connection is dropped while an
 * already-connected good client keeps working.
 */
#include <errno.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include "crypto/crypto.h"
#include "net/tcp_codec.h"
#include "net_fixture.h"

#define MAX_ACCEPTED 8

typedef struct abuse {
    fx f;
    side good_srv;              /* the server side of the good client */
    side bad_srv[MAX_ACCEPTED]; /* server sides of hostile clients that got that far */
    int n_bad;
} abuse;

static void abuse_on_accept(net_listener *l, net_conn *c, void *ud)
{
    abuse *a = ud;
    a->f.accepts++;
    side *s = a->f.accepts == 1 ? &a->good_srv : &a->bad_srv[a->n_bad++];
    s->conn = c;
    s->mode = ANSWER_ECHO;
    net_conn_set_callbacks(c, &fx_cbs, s);
}

static void abuse_init_ex2(abuse *a, net_timeouts to, unsigned max_handshaking, size_t max_output)
{
    memset(a, 0, sizeof *a);
    fx_init(&a->f);
    net_listen_config lc = {.host = "127.0.0.1",
                            .pow_difficulty = 10,
                            .identity = a->f.sid,
                            .verify = tu_verify(a->f.ckey),
                            .timeouts = to,
                            .max_handshaking = max_handshaking,
                            .max_output = max_output,
                            .on_accept = abuse_on_accept,
                            .ud = a};
    a->f.l = net_listen(a->f.base, &lc, NULL);
    assert_non_null(a->f.l);
    net_connect_config cc = fx_connect_config(&a->f, (net_timeouts){0});
    a->f.cli.conn = net_connect(a->f.base, &cc, NULL);
    assert_non_null(a->f.cli.conn);
    assert_true(tu_run_until(a->f.base, tu_flag_cond, &a->f.cli.ready, 10));
}

static void abuse_init_ex(abuse *a, net_timeouts to, unsigned max_handshaking)
{
    abuse_init_ex2(a, to, max_handshaking, 0);
}

static void abuse_init(abuse *a, net_timeouts to)
{
    abuse_init_ex(a, to, 0);
}

static bool answered(void *arg)
{
    return ((fx *)arg)->answers > 0;
}

/* The good client still gets answers and nobody closed it. */
static void assert_good_client_works(abuse *a)
{
    a->f.answers = 0;
    assert_int_equal(
        net_conn_query(a->f.cli.conn, "still?", 6, 30, fx_on_answer, &a->f, NULL, NULL), 0);
    assert_true(tu_run_until(a->f.base, answered, &a->f, 30));
    assert_int_equal(a->f.answer_code, 0);
    assert_memory_equal(a->f.answer.data, "re:still?", 9);
    assert_false(a->f.cli.closed);
    assert_false(a->good_srv.closed);
}

static void abuse_free(abuse *a)
{
    for (int i = 0; i < a->n_bad; i++)
        if (a->bad_srv[i].conn) net_conn_close(a->bad_srv[i].conn, "test over");
    if (a->good_srv.conn) net_conn_close(a->good_srv.conn, "test over");
    for (int i = 0; i < a->n_bad; i++)
        cc_buf_free(&a->bad_srv[i].last_packet);
    cc_buf_free(&a->good_srv.last_packet);
    fx_free(&a->f);
}

/* ------------------------------------------------------- raw sockets */

static int raw_connect(abuse *a)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(net_listener_port(a->f.l))};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    return fd;
}

typedef struct {
    int fd;
    uint8_t *buf;
    size_t want, got;
    bool closed;
} raw_io;

static bool raw_read_cond(void *arg)
{
    raw_io *io = arg;
    while (io->got < io->want) {
        ssize_t n = recv(io->fd, io->buf + io->got, io->want - io->got, MSG_DONTWAIT);
        if (n > 0) {
            io->got += (size_t)n;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) io->closed = true;
        return io->closed;
    }
    return true;
}

static void raw_read_challenge(abuse *a, int fd, uint8_t salt[16])
{
    uint8_t ch[24];
    raw_io io = {fd, ch, 24, 0, false};
    assert_true(tu_run_until(a->f.base, raw_read_cond, &io, 30));
    assert_int_equal(io.got, 24);
    int d;
    assert_int_equal(net_pow_parse_challenge(ch, 28, &d, salt, NULL), 0);
    assert_int_equal(d, 10);
}

/* The server closed the socket (EOF or reset) within a few seconds. */
static bool raw_closed_cond(void *arg)
{
    raw_io *io = arg;
    uint8_t sink[256];
    ssize_t n = recv(io->fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) io->closed = true;
    return io->closed;
}

static void assert_raw_dropped(abuse *a, int fd)
{
    raw_io io = {.fd = fd};
    assert_true(tu_run_until(a->f.base, raw_closed_cond, &io, 30));
    close(fd);
}

static void send_all(int fd, const void *p, size_t n)
{
    assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void send_answer(int fd, uint32_t magic, int64_t nonce)
{
    uint8_t ans[12];
    cc_store_u32le(ans, magic);
    cc_store_u64le(ans + 4, (uint64_t)nonce);
    send_all(fd, ans, 12);
}

static int64_t solve(const uint8_t salt[16])
{
    int64_t n = 0;
    assert_int_equal(net_pow_search(salt, 10, &n, 1u << 24), 1);
    return n;
}

/* ------------------------------------------------------- pre-TLS abuse */

static void test_garbage_bytes(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){0});
    int fd = raw_connect(&a);
    const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, junk, sizeof junk - 1);
    assert_raw_dropped(&a, fd);
    assert_good_client_works(&a);
    assert_int_equal(a.f.accepts, 1);
    abuse_free(&a);
}

static void test_bad_magic(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){0});
    int fd = raw_connect(&a);
    uint8_t salt[16];
    raw_read_challenge(&a, fd, salt);
    send_answer(fd, NET_POW_SERVER_MAGIC, solve(salt)); /* the server's magic, not the client's */
    assert_raw_dropped(&a, fd);
    assert_good_client_works(&a);
    abuse_free(&a);
}

static void test_wrong_pow(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){0});
    int fd = raw_connect(&a);
    uint8_t salt[16];
    raw_read_challenge(&a, fd, salt);
    int64_t bad = 0;
    while (net_pow_check(salt, 10, bad))
        bad++;
    send_answer(fd, NET_POW_CLIENT_MAGIC, bad);
    assert_raw_dropped(&a, fd);
    assert_good_client_works(&a);
    abuse_free(&a);
}

/* A peer that connects and says nothing is dropped at the handshake deadline. */
static void test_silent_peer(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){.handshake_timeout = 0.2});
    int fd = raw_connect(&a);
    assert_raw_dropped(&a, fd);
    assert_good_client_works(&a);
    abuse_free(&a);
}

/* At max_handshaking a newcomer evicts the oldest connection that has not
 * solved its proof of work; connections that did the work are never evicted,
 * and when every slot has done it the newcomer is refused. */
static void test_handshake_limit(void **state)
{
    abuse a;
    abuse_init_ex(&a, (net_timeouts){0}, 2);
    int fd1 = raw_connect(&a), fd2 = raw_connect(&a);
    uint8_t salt1[16], salt2[16];
    raw_read_challenge(&a, fd1, salt1);
    raw_read_challenge(&a, fd2, salt2);
    /* fd2 solves its PoW (it then sits in the TLS step). */
    send_answer(fd2, NET_POW_CLIENT_MAGIC, solve(salt2));
    tu_run_for(a.f.base, 0.05);
    int fd3 = raw_connect(&a);
    uint8_t salt3[16];
    raw_read_challenge(&a, fd3, salt3); /* admitted ... */
    assert_raw_dropped(&a, fd1);        /* ... in place of the idle fd1 */
    send_answer(fd3, NET_POW_CLIENT_MAGIC, solve(salt3));
    tu_run_for(a.f.base, 0.05);
    /* Both slots hold solved connections now: a newcomer is refused. */
    int fd4 = raw_connect(&a);
    assert_raw_dropped(&a, fd4);
    assert_good_client_works(&a);
    close(fd2);
    close(fd3);
    abuse_free(&a);
}

static int raw_connect_from(abuse *a, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in from = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, src, &from.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof from), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(net_listener_port(a->f.l))};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    return fd;
}

static int raw_challenge_difficulty(abuse *a, int fd)
{
    uint8_t ch[24], salt[16];
    raw_io io = {fd, ch, 24, 0, false};
    assert_true(tu_run_until(a->f.base, raw_read_cond, &io, 30));
    assert_int_equal(io.got, 24);
    int d = -1;
    assert_int_equal(net_pow_parse_challenge(ch, 28, &d, salt, NULL), 0);
    return d;
}

static void abuse_listen(abuse *a, const net_listen_config *extra)
{
    net_listen_config lc = *extra;
    lc.host = "127.0.0.1";
    lc.pow_difficulty = 10;
    lc.identity = a->f.sid;
    lc.verify = tu_verify(a->f.ckey);
    lc.on_accept = abuse_on_accept;
    lc.ud = a;
    net_listener_free(a->f.l);
    a->f.l = net_listen(a->f.base, &lc, NULL);
    assert_non_null(a->f.l);
}

/* A full table of idle sockets from another address never keeps an honest
 * peer out: it connects while the flood is still there. */
static void test_idle_flood_does_not_block_honest_peer(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){0});
    abuse_listen(&a, &(net_listen_config){.max_handshaking = 8});
    enum { FLOOD = 8 };
    int flood[FLOOD];
    for (int i = 0; i < FLOOD; i++) {
        flood[i] = raw_connect_from(&a, "127.0.0.2");
        assert_true(raw_challenge_difficulty(&a, flood[i]) >= 10);
    }
    side honest = {0};
    net_connect_config cc = fx_connect_config(&a.f, (net_timeouts){0});
    cc.ud = &honest;
    honest.conn = net_connect(a.f.base, &cc, NULL);
    assert_non_null(honest.conn);
    assert_true(tu_run_until(a.f.base, tu_flag_cond, &honest.ready, 20));
    /* It took the slot of the oldest idle socket. */
    assert_raw_dropped(&a, flood[0]);
    for (int i = 1; i < FLOOD; i++)
        close(flood[i]);
    net_conn_close(honest.conn, "test over");
    cc_buf_free(&honest.last_packet);
    abuse_free(&a);
}

/* One address may hold only max_handshaking_per_addr handshakes at once: at
 * the cap a newcomer from it takes the place of its oldest connection that
 * has not solved the proof of work, and the challenge gets harder as the
 * address's slots fill (not for other addresses). */
static void test_per_address_cap(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){0});
    abuse_listen(&a, &(net_listen_config){.max_handshaking_per_addr = 3});
    int fds[3], d[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = raw_connect_from(&a, "127.0.0.2");
        d[i] = raw_challenge_difficulty(&a, fds[i]);
    }
    assert_int_equal(d[0], 10);
    assert_int_equal(d[1], 10);
    assert_true(d[2] > 10); /* two of its three slots taken */
    int over = raw_connect_from(&a, "127.0.0.2");
    assert_true(raw_challenge_difficulty(&a, over) > 10);
    assert_raw_dropped(&a, fds[0]);
    int other = raw_connect_from(&a, "127.0.0.3");
    assert_int_equal(raw_challenge_difficulty(&a, other), 10);
    close(over);
    close(fds[1]);
    close(fds[2]);
    close(other);
    assert_good_client_works(&a);
    abuse_free(&a);
}

/* Idle sockets filling the honest peer's own address (loopback, a NAT) do
 * not keep it out either: it connects while they are still there. */
static void test_same_address_flood_does_not_block_honest_peer(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){0});
    abuse_listen(&a, &(net_listen_config){.max_handshaking_per_addr = 4});
    enum { FLOOD = 4 };
    int flood[FLOOD];
    for (int i = 0; i < FLOOD; i++) {
        flood[i] = raw_connect_from(&a, "127.0.0.1");
        assert_true(raw_challenge_difficulty(&a, flood[i]) >= 10);
    }
    side honest = {0};
    net_connect_config cc = fx_connect_config(&a.f, (net_timeouts){0});
    cc.ud = &honest;
    honest.conn = net_connect(a.f.base, &cc, NULL);
    assert_non_null(honest.conn);
    assert_true(tu_run_until(a.f.base, tu_flag_cond, &honest.ready, 20));
    assert_raw_dropped(&a, flood[0]);
    for (int i = 1; i < FLOOD; i++)
        close(flood[i]);
    net_conn_close(honest.conn, "test over");
    cc_buf_free(&honest.last_packet);
    abuse_free(&a);
}

/* An unanswered challenge is dropped at pow_timeout, long before the
 * handshake deadline. */
static void test_pow_deadline(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){.handshake_timeout = 600});
    abuse_listen(&a,
                 &(net_listen_config){.pow_timeout = 0.2, .timeouts = {.handshake_timeout = 600}});
    int fd = raw_connect(&a);
    assert_raw_dropped(&a, fd);
    assert_good_client_works(&a);
    abuse_free(&a);
}

/* The challenge hardens as the handshaking slots fill. */
static void test_difficulty_rises_with_load(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){0});
    abuse_listen(&a, &(net_listen_config){.max_handshaking = 4, .pow_load_bits = 4});
    int fds[4], d[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = raw_connect(&a);
        d[i] = raw_challenge_difficulty(&a, fds[i]);
    }
    assert_int_equal(d[0], 10); /* 0 of 4 handshaking */
    assert_int_equal(d[1], 10); /* 1 of 4 */
    assert_int_equal(d[2], 10); /* 2 of 4: half full */
    assert_int_equal(d[3], 12); /* 3 of 4: +4 bits x (6 - 4) / 4 */
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    /* With pow_load_bits -1 it never rises. */
    abuse_listen(&a, &(net_listen_config){.max_handshaking = 4, .pow_load_bits = -1});
    for (int i = 0; i < 4; i++) {
        fds[i] = raw_connect(&a);
        assert_int_equal(raw_challenge_difficulty(&a, fds[i]), 10);
    }
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    abuse_free(&a);
}

/* Freeing the listener drops connections still handshaking (ASan checks
 * that nothing leaks) and leaves handed-over ones alone. */
static void test_listener_free_with_handshakes(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){0});
    int fd = raw_connect(&a);
    uint8_t salt[16];
    raw_read_challenge(&a, fd, salt);
    net_listener_free(a.f.l);
    a.f.l = NULL;
    assert_raw_dropped(&a, fd);
    assert_good_client_works(&a);
    abuse_free(&a);
}

/* Right PoW, then bytes that are not a TLS ClientHello. */
static void test_garbage_instead_of_tls(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){0});
    int fd = raw_connect(&a);
    uint8_t salt[16];
    raw_read_challenge(&a, fd, salt);
    send_answer(fd, NET_POW_CLIENT_MAGIC, solve(salt));
    uint8_t junk[200];
    crypto_random(junk, sizeof junk);
    send_all(fd, junk, sizeof junk);
    assert_raw_dropped(&a, fd);
    assert_good_client_works(&a);
    assert_int_equal(a.f.accepts, 1);
    abuse_free(&a);
}

/* ------------------------------------------------------- in-TLS abuse */

typedef struct {
    abuse *a;
    struct bufferevent *bev;
    SSL_CTX *ctx;
    bool connected, closed;
    cc_buf in;
} tls_peer;

static void tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
    tls_peer *p = arg;
    if (what & BEV_EVENT_CONNECTED) p->connected = true;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) p->closed = true;
}

static void tls_read_cb(struct bufferevent *bev, void *arg)
{
    tls_peer *p = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    cc_buf_reserve(&p->in, n);
    evbuffer_remove(in, p->in.data + p->in.len, n);
    p->in.len += n;
}

/* PoW + TLS as the good client's identity, then raw frames of our choosing. */
static void tls_peer_open(abuse *a, tls_peer *p)
{
    memset(p, 0, sizeof *p);
    p->a = a;
    int fd = raw_connect(a);
    uint8_t salt[16];
    raw_read_challenge(a, fd, salt);
    send_answer(fd, NET_POW_CLIENT_MAGIC, solve(salt));
    evutil_make_socket_nonblocking(fd);
    p->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(p->ctx, TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_use_certificate(p->ctx, a->f.cid.cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(p->ctx, a->f.cid.key), 1);
    SSL *ssl = SSL_new(p->ctx);
    p->bev = bufferevent_openssl_socket_new(a->f.base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    bufferevent_openssl_set_allow_dirty_shutdown(p->bev, 1);
    bufferevent_setcb(p->bev, tls_read_cb, NULL, tls_event_cb, p);
    bufferevent_enable(p->bev, EV_READ | EV_WRITE);
    assert_true(tu_run_until(a->f.base, tu_flag_cond, &p->connected, 5));
}

static void tls_peer_free(tls_peer *p)
{
    bufferevent_free(p->bev);
    SSL_CTX_free(p->ctx);
    cc_buf_free(&p->in);
}

static void tls_send_frame(tls_peer *p, uint32_t len, int32_t seqno, const void *payload, size_t n)
{
    uint8_t h[8];
    cc_store_u32le(h, len);
    cc_store_u32le(h + 4, (uint32_t)seqno);
    bufferevent_write(p->bev, h, 8);
    if (n) bufferevent_write(p->bev, payload, n);
}

static void tls_send_msg(tls_peer *p, int32_t seqno, net_tcp_msg m)
{
    cc_buf b = CC_BUF_INIT;
    assert_int_equal(net_tcp_encode(&b, &m, NULL), 0);
    tls_send_frame(p, (uint32_t)b.len, seqno, b.data, b.len);
    cc_buf_free(&b);
}

static void assert_tls_dropped(tls_peer *p)
{
    assert_true(tu_run_until(p->a->f.base, tu_flag_cond, &p->closed, 5));
}

static const net_tcp_msg msg_connect = {.kind = NET_TCP_CONNECT, .id = 77};

static void test_bad_seqno_first(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){0});
    tls_peer p;
    tls_peer_open(&a, &p);
    tls_send_msg(&p, 1, msg_connect);
    assert_tls_dropped(&p);
    tls_peer_free(&p);
    assert_good_client_works(&a);
    assert_int_equal(a.f.accepts, 1);
    abuse_free(&a);
}

static void test_oversized_and_undersized_length(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){0});
    tls_peer p;
    tls_peer_open(&a, &p);
    tls_send_frame(&p, (1u << 24) + 1, 0, NULL, 0); /* header only: refused at once */
    assert_tls_dropped(&p);
    tls_peer_free(&p);
    tls_peer_open(&a, &p);
    tls_send_frame(&p, 3, 0, "abc", 3);
    assert_tls_dropped(&p);
    tls_peer_free(&p);
    assert_good_client_works(&a);
    assert_int_equal(a.f.accepts, 1);
    abuse_free(&a);
}

static void test_first_packet_not_connect(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){0});
    tls_peer p;
    tls_peer_open(&a, &p);
    tls_send_msg(&p, 0, (net_tcp_msg){.kind = NET_TCP_PING, .id = 1});
    assert_tls_dropped(&p);
    tls_peer_free(&p);
    /* a valid frame that is no tcp.Packet at all */
    tls_peer_open(&a, &p);
    tls_send_frame(&p, 8, 0, "\x01\x02\x03\x04\0\0\0\0", 8);
    assert_tls_dropped(&p);
    tls_peer_free(&p);
    assert_good_client_works(&a);
    assert_int_equal(a.f.accepts, 1);
    abuse_free(&a);
}

static bool got_connected_frame(void *arg)
{
    return ((tls_peer *)arg)->in.len >= 20;
}

/* A peer that completes tcp.connect and then breaks the seqno rule, or sends
 * trailing bytes: its (accepted) connection closes with a protocol violation. */
static void test_violation_after_connect(void **state)
{
    abuse a;
    abuse_init(&a, (net_timeouts){0});
    tls_peer p;
    tls_peer_open(&a, &p);
    tls_send_msg(&p, 0, msg_connect);
    assert_true(tu_run_until(a.f.base, got_connected_frame, &p, 5));
    /* the answer is tcp.connected with our id, in frame 0 */
    assert_int_equal(cc_load_u32le(p.in.data), 12);
    assert_int_equal(cc_load_u32le(p.in.data + 4), 0);
    net_tcp_msg m;
    assert_int_equal(net_tcp_decode(p.in.data + 8, 12, &m, NULL), 0);
    assert_int_equal(m.kind, NET_TCP_CONNECTED);
    assert_int_equal(m.id, 77);
    net_tcp_msg_free(&m);
    assert_int_equal(a.f.accepts, 2);
    tls_send_msg(&p, 2,
                 (net_tcp_msg){.kind = NET_TCP_PACKET, .data = (const uint8_t *)"x", .len = 1});
    assert_tls_dropped(&p);
    assert_true(tu_run_until(a.f.base, tu_flag_cond, &a.bad_srv[0].closed, 5));
    assert_non_null(strstr(a.bad_srv[0].close_reason, "seqno"));
    assert_int_equal(a.bad_srv[0].packets, 0);
    tls_peer_free(&p);

    tls_peer_open(&a, &p);
    tls_send_msg(&p, 0, msg_connect);
    /* a tcp.packet with 4 extra bytes inside its frame */
    uint8_t pk[12];
    cc_store_u32le(pk, 0x9c17baf8u);
    pk[4] = 1;
    pk[5] = 'x';
    pk[6] = pk[7] = 0;
    memset(pk + 8, 0, 4);
    tls_send_frame(&p, 12, 1, pk, 12);
    assert_tls_dropped(&p);
    assert_true(tu_run_until(a.f.base, tu_flag_cond, &a.bad_srv[1].closed, 5));
    assert_non_null(strstr(a.bad_srv[1].close_reason, "protocol violation"));
    tls_peer_free(&p);

    /* a second tcp.connect */
    tls_peer_open(&a, &p);
    tls_send_msg(&p, 0, msg_connect);
    tls_send_msg(&p, 1, msg_connect);
    assert_tls_dropped(&p);
    assert_true(tu_run_until(a.f.base, tu_flag_cond, &a.bad_srv[2].closed, 5));
    tls_peer_free(&p);

    assert_good_client_works(&a);
    abuse_free(&a);
}

/* A peer that completes the hello and then stops reading: once the queue
 * passes max_output the send fails and the link is closed from the loop. */
static void test_peer_not_reading(void **state)
{
    abuse a;
    abuse_init_ex2(&a, (net_timeouts){0}, 0, 1u << 20);
    tls_peer p;
    tls_peer_open(&a, &p);
    tls_send_msg(&p, 0, msg_connect);
    assert_true(tu_run_until(a.f.base, got_connected_frame, &p, 5));
    bufferevent_disable(p.bev, EV_READ);
    net_conn *c = a.bad_srv[0].conn;
    assert_non_null(c);
    size_t chunk = 64 * 1024, sent = 0;
    uint8_t *buf = calloc(1, chunk);
    cc_err err;
    int rc = 0;
    while (sent < ((size_t)256 << 20) && (rc = net_conn_send_packet(c, buf, chunk, &err)) == 0) {
        sent += chunk;
        event_base_loop(a.f.base, EVLOOP_NONBLOCK);
    }
    free(buf);
    assert_int_equal(rc, -1);
    assert_int_equal(err.code, NET_ERR_FAILURE);
    assert_non_null(strstr(err.msg, "not reading"));
    assert_false(a.bad_srv[0].closed); /* not from inside the send call */
    assert_true(tu_run_until(a.f.base, tu_flag_cond, &a.bad_srv[0].closed, 5));
    assert_non_null(strstr(a.bad_srv[0].close_reason, "not reading"));
    tls_peer_free(&p);
    assert_good_client_works(&a);
    abuse_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage_bytes),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_wrong_pow),
        cmocka_unit_test(test_silent_peer),
        cmocka_unit_test(test_handshake_limit),
        cmocka_unit_test(test_idle_flood_does_not_block_honest_peer),
        cmocka_unit_test(test_per_address_cap),
        cmocka_unit_test(test_same_address_flood_does_not_block_honest_peer),
        cmocka_unit_test(test_pow_deadline),
        cmocka_unit_test(test_difficulty_rises_with_load),
        cmocka_unit_test(test_listener_free_with_handshakes),
        cmocka_unit_test(test_garbage_instead_of_tls),
        cmocka_unit_test(test_bad_seqno_first),
        cmocka_unit_test(test_oversized_and_undersized_length),
        cmocka_unit_test(test_first_packet_not_connect),
        cmocka_unit_test(test_violation_after_connect),
        cmocka_unit_test(test_peer_not_reading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
