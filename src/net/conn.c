/*
 * A framed connection: lifetime, TLS state changes, incoming frames and the
 * keepalive tick.  Sending and queries are in rpc.c, the PoW exchange and the
 * listener/connector in listener.c / connector.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>

#include "crypto/crypto.h"
#include "net/net_internal.h"
#include "net/rpc.h"
#include "net/tcp_codec.h"

static const char *state_name(net_conn_state s)
{
    switch (s) {
    case NET_CONN_TCP_CONNECTING:
        return "connecting";
    case NET_CONN_POW:
        return "pow";
    case NET_CONN_TLS:
        return "tls";
    case NET_CONN_HELLO:
        return "hello";
    case NET_CONN_READY:
        return "ready";
    default:
        return "closed";
    }
}

net_conn *net_conn_new(struct event_base *base, bool outbound, int fd, SSL_CTX *ctx,
                       const net_verify *verify, const net_timeouts *to, size_t max_output)
{
    net_conn *c = cc_calloc(1, sizeof *c);
    c->base = base;
    c->outbound = outbound;
    c->fd = fd;
    c->refs = 1;
    SSL_CTX_up_ref(ctx);
    c->ssl_ctx = ctx;
    c->verify = *verify;
    c->to = to ? *to : (net_timeouts){0};
    if (c->to.ping_interval <= 0) c->to.ping_interval = 10;
    if (c->to.idle_timeout <= 0) c->to.idle_timeout = 60;
    if (c->to.handshake_timeout <= 0) c->to.handshake_timeout = 30;
    c->max_output = max_output ? max_output : (size_t)64 << 20;
    net_deframer_init(&c->deframer);
    c->stats.created_at = cc_now_mono();
    c->state = outbound ? NET_CONN_TCP_CONNECTING : NET_CONN_POW;
    return c;
}

static void conn_free(net_conn *c)
{
    if (c->peer_info && c->verify.free_info) c->verify.free_info(c->peer_info);
    X509_free(c->peer_cert);
    SSL_CTX_free(c->ssl_ctx);
    if (c->addrs) evutil_freeaddrinfo(c->addrs);
    free(c);
}

void net_conn_hold(net_conn *c)
{
    c->refs++;
}

void net_conn_release(net_conn *c)
{
    if (--c->refs == 0) conn_free(c);
}

static void free_event(struct event **ev)
{
    if (*ev) {
        event_free(*ev);
        *ev = NULL;
    }
}

/* Releases every resource of a live connection and fails its queries; the
 * struct itself lives on until the last reference goes. */
static void conn_teardown(net_conn *c, int query_code, const char *reason)
{
    c->closing = true;
    c->state = NET_CONN_CLOSED;
    free_event(&c->io_ev);
    free_event(&c->timer);
    free_event(&c->solve_ev);
    free_event(&c->kill_ev);
    net_conn_io_free(c);
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    net_rpc_fail_all(c, query_code, reason);
}

void net_conn_fail(net_conn *c, int code, const char *fmt, ...)
{
    if (c->closing) return;
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    net_conn_hold(c);
    /* Inbound sockets that never solved the proof of work cost us nothing
     * worth a line each; a flood of them is summed up by the listener's
     * once-a-second admission line instead. */
    if (!c->outbound && c->state == NET_CONN_POW)
        CC_DEBUG("event=net_close conn=\"%s\" code=%d reason=\"%s\"", net_conn_describe(c), code,
                 reason);
    else
        CC_INFO("event=net_close conn=\"%s\" code=%d reason=\"%s\"", net_conn_describe(c), code,
                reason);
    conn_teardown(c, NET_ERR_FAILURE, reason);
    if (c->listener) {
        net_listener_conn_gone(c->listener, c);
        c->listener = NULL;
    } else if (c->cbs.on_close) {
        c->cbs.on_close(c, c->ud, reason);
    }
    c->refs--; /* the "alive" reference; the hold above keeps c valid */
    net_conn_release(c);
}

int net_conn_pow_recv(net_conn *c, int fd, size_t want, int closed_code, const char *closed_msg)
{
    ssize_t n = recv(fd, c->pow_buf + c->pow_done, want - c->pow_done, 0);
    if (n == 0) {
        net_conn_fail(c, closed_code, "%s", closed_msg);
        return -1;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        net_conn_fail(c, NET_ERR_FAILURE, "proof of work: recv: %s", strerror(errno));
        return -1;
    }
    c->pow_done += (size_t)n;
    return c->pow_done == want;
}

void net_conn_close(net_conn *c, const char *reason)
{
    if (!c || c->closing) return;
    net_conn_hold(c);
    CC_DEBUG("event=net_close_local conn=\"%s\" reason=\"%s\"", net_conn_describe(c),
             reason ? reason : "");
    char msg[300];
    snprintf(msg, sizeof msg, "connection closed locally%s%s", reason ? ": " : "",
             reason ? reason : "");
    conn_teardown(c, NET_ERR_CANCELLED, msg);
    if (c->listener) {
        net_listener_conn_gone(c->listener, c);
        c->listener = NULL;
    }
    c->refs--; /* the "alive" reference; the hold above keeps c valid */
    net_conn_release(c);
}

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    net_conn_close(arg, "output not flushed in time");
}

void net_conn_close_after_flush(net_conn *c, const char *reason, double timeout_s)
{
    if (!c || c->closing || c->draining) return;
    if (net_conn_output_pending(c) == 0) {
        net_conn_close(c, reason);
        return;
    }
    CC_DEBUG("event=net_drain conn=\"%s\" reason=\"%s\"", net_conn_describe(c),
             reason ? reason : "");
    c->draining = true;
    /* From here on it is closed for the caller: no callbacks of any kind. */
    c->cbs = (net_conn_callbacks){0};
    c->ud = NULL;
    net_rpc_fail_all(c, NET_ERR_CANCELLED, "connection closed locally");
    net_conn_stop_reading(c); /* tls_io.c closes once c->out is written */
    net_conn_flush_later_now(c);
    free_event(&c->timer);
    c->timer = evtimer_new(c->base, drain_timeout_cb, c);
    struct timeval tv = cc_timeval(timeout_s > 0 ? timeout_s : 5);
    evtimer_add(c->timer, &tv);
}

static void kill_cb(evutil_socket_t fd, short what, void *arg)
{
    net_conn *c = arg;
    size_t queued = net_conn_output_pending(c);
    net_conn_fail(c, NET_ERR_FAILURE, "peer is not reading (%zu bytes queued)", queued);
}

void net_conn_fail_soon(net_conn *c)
{
    if (c->closing || c->kill_ev) return;
    c->kill_ev = evtimer_new(c->base, kill_cb, c);
    struct timeval zero = {0, 0};
    evtimer_add(c->kill_ev, &zero);
}

/* ------------------------------------------------------------ timers */

static void handshake_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    net_conn *c = arg;
    net_conn_fail(c, NET_ERR_TIMEOUT, "handshake timed out (%.1f s) in state %s", c->hs_deadline,
                  state_name(c->state));
}

void net_conn_arm_handshake_timer_in(net_conn *c, double seconds)
{
    free_event(&c->timer);
    c->timer = evtimer_new(c->base, handshake_timeout_cb, c);
    c->hs_deadline = seconds;
    struct timeval tv = cc_timeval(seconds);
    evtimer_add(c->timer, &tv);
}

void net_conn_arm_handshake_timer(net_conn *c)
{
    net_conn_arm_handshake_timer_in(c, c->to.handshake_timeout);
}

/* Keepalive: the outbound side pings after ping_interval of silence; either
 * side drops a link silent for idle_timeout.  A periodic check instead of a
 * timer reset per frame keeps the receive path cheap. */
static void keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
    net_conn *c = arg;
    double now = cc_now_mono();
    /* The checks run at most a second apart. A longer gap means this
     * process was stopped or its loop blocked: the peer's frames may be
     * waiting unread in the socket, so its silence is not the peer's fault
     * (a proxy resumed after SIGSTOP dropped every worker). Start its
     * window afresh. */
    if (now - c->last_tick > 2.5) c->last_rx = CC_MAX(c->last_rx, now - 1.0);
    c->last_tick = now;
    double silent = now - c->last_rx;
    if (silent >= c->to.idle_timeout) {
        net_conn_fail(c, NET_ERR_TIMEOUT, "peer silent for %.1f s", silent);
        return;
    }
    bool pings = c->outbound || c->to.ping_inbound;
    if (pings && silent >= c->to.ping_interval && now - c->last_ping >= c->to.ping_interval) {
        c->last_ping = now;
        net_rpc_send_id_msg(c, NET_TCP_PING, crypto_random_u64());
        c->stats.pings_out++;
    }
}

static void become_ready(net_conn *c)
{
    c->state = NET_CONN_READY;
    c->stats.ready_at = cc_now_mono();
    c->last_rx = c->stats.ready_at;
    c->last_ping = c->stats.ready_at;
    c->last_tick = c->stats.ready_at; /* a stop before the first check counts too */
    free_event(&c->timer);
    double tick =
        CC_MIN(c->outbound || c->to.ping_inbound ? c->to.ping_interval : c->to.idle_timeout,
               c->to.idle_timeout) /
        4;
    if (tick < 0.005) tick = 0.005;
    if (tick > 1) tick = 1;
    c->timer = event_new(c->base, -1, EV_PERSIST, keepalive_cb, c);
    struct timeval tv = cc_timeval(tick);
    event_add(c->timer, &tv);
}

/* ------------------------------------------------------------ frames */

static int handle_msg(net_conn *c, const net_tcp_msg *m);

/* Handles one frame.  Returns -1 if the connection was closed. */
static int handle_frame(net_conn *c, const uint8_t *p, size_t n)
{
    net_tcp_msg m;
    cc_err err;
    if (net_tcp_decode(p, n, &m, &err) < 0) {
        net_tcp_msg_free(&m);
        net_conn_fail(c, NET_ERR_PROTOCOL, "protocol violation: %s", err.msg);
        return -1;
    }
    int rc = handle_msg(c, &m);
    net_tcp_msg_free(&m);
    return rc;
}

static int handle_msg(net_conn *c, const net_tcp_msg *m)
{
    if (c->state == NET_CONN_HELLO) {
        net_tcp_kind want = c->outbound ? NET_TCP_CONNECTED : NET_TCP_CONNECT;
        if (m->kind != want) {
            net_conn_fail(c, NET_ERR_PROTOCOL, "protocol violation: expected %s first",
                          c->outbound ? "tcp.connected" : "tcp.connect");
            return -1;
        }
        if (!c->outbound) {
            c->remote_id = m->id;
            if (net_rpc_send_id_msg(c, NET_TCP_CONNECTED, m->id) < 0) return -1;
        }
        become_ready(c);
        if (c->outbound) {
            if (c->cbs.on_ready) c->cbs.on_ready(c, c->ud);
        } else if (c->listener) {
            net_listener *l = c->listener;
            c->listener = NULL;
            net_listener_conn_ready(l, c);
        }
        return c->closing ? -1 : 0;
    }
    return net_rpc_dispatch(c, m);
}

void net_conn_on_input(net_conn *c)
{
    net_conn_hold(c);
    for (;;) {
        if (c->closing || (c->state != NET_CONN_HELLO && c->state != NET_CONN_READY)) break;
        const uint8_t *payload;
        size_t len;
        cc_err err;
        /* The payload points into c->in, which only tls_read() appends to:
         * no handler below reads from the socket. */
        int r = net_deframer_next_mem(&c->deframer, net_fifo_data(&c->in), net_fifo_len(&c->in),
                                      &payload, &len, &err);
        if (r == 0) break;
        if (r < 0) {
            net_conn_fail(c, NET_ERR_PROTOCOL, "protocol violation: %s", err.msg);
            break;
        }
        c->stats.frames_in++;
        c->stats.bytes_in += NET_FRAME_HEADER_LEN + len;
        c->last_rx = cc_now_mono();
        int h = handle_frame(c, payload, len);
        if (h < 0 || c->closing) break;
        net_fifo_consume(&c->in, net_deframer_take(&c->deframer));
    }
    net_conn_release(c);
}

/* The newest real OpenSSL error in the thread's queue (empties it). */
static const char *openssl_reason(char *buf, size_t n)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        if (ERR_GET_LIB(e) != 0) last = e;
    if (!last) return NULL;
    ERR_error_string_n(last, buf, n);
    return buf;
}

void net_conn_tls_up(net_conn *c)
{
    if (!c->verify_ok || !c->peer_cert) {
        net_conn_fail(c, NET_ERR_PROTOCOL, "TLS: peer certificate was not verified");
        return;
    }
    c->state = NET_CONN_HELLO;
    if (c->outbound) {
        /* Random id; the acceptor echoes it in tcp.connected. */
        c->remote_id = crypto_random_u64();
        net_rpc_send_id_msg(c, NET_TCP_CONNECT, c->remote_id);
    }
}

void net_conn_io_failed(net_conn *c, int ssl_error, int sys_errno)
{
    char buf[256];
    const char *ssl = openssl_reason(buf, sizeof buf);
    if (c->verify_msg[0])
        net_conn_fail(c, NET_ERR_PROTOCOL, "TLS: %s", c->verify_msg);
    else if (ssl)
        net_conn_fail(c, NET_ERR_FAILURE, "TLS error in state %s: %s", state_name(c->state), ssl);
    else if (ssl_error == SSL_ERROR_SYSCALL && sys_errno)
        net_conn_fail(c, NET_ERR_FAILURE, "%s: %s", state_name(c->state), strerror(sys_errno));
    else
        net_conn_fail(c, NET_ERR_FAILURE, "peer closed the connection (%s)", state_name(c->state));
}

/* ------------------------------------------------------------ accessors */

void net_conn_set_callbacks(net_conn *c, const net_conn_callbacks *cbs, void *ud)
{
    c->cbs = cbs ? *cbs : (net_conn_callbacks){0};
    c->ud = ud;
}

void *net_conn_ud(const net_conn *c)
{
    return c->ud;
}
bool net_conn_is_ready(const net_conn *c)
{
    return c->state == NET_CONN_READY && !c->closing;
}
bool net_conn_is_outbound(const net_conn *c)
{
    return c->outbound;
}
void *net_conn_peer_info(const net_conn *c)
{
    return c->peer_info;
}
X509 *net_conn_peer_cert(const net_conn *c)
{
    return c->peer_cert;
}
const char *net_conn_peer_addr(const net_conn *c)
{
    return c->peer_addr;
}
uint64_t net_conn_remote_id(const net_conn *c)
{
    return c->remote_id;
}

void net_conn_get_stats(const net_conn *c, net_conn_stats *out)
{
    *out = c->stats;
}

const char *net_conn_describe(net_conn *c)
{
    snprintf(c->desc, sizeof c->desc, "%s %s id=%016llx %s", c->outbound ? "out" : "in",
             c->peer_addr, (unsigned long long)c->remote_id, state_name(c->state));
    return c->desc;
}
