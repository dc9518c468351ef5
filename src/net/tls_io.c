/*
 * TLS on the connection's socket, driven by the event loop directly (no
 * bufferevent): why, and how it stays cheap per frame.
 *
 *  - Reading: one persistent EV_READ event for the life of the link (no
 *    epoll_ctl per read), OpenSSL read-ahead so a wakeup costs one read(2)
 *    for all records that arrived instead of two per record, and we read
 *    until OpenSSL holds nothing buffered, so no record can be stranded in
 *    its read-ahead buffer while the socket looks idle.
 *  - Writing: frames queued during one loop turn go into c->out; a deferred
 *    event flushes them once at the end of the turn, up to 16 KiB (one TLS
 *    record, one write(2)) per SSL_write.  EV_WRITE is armed only while a
 *    write would block, so a steady stream makes no epoll_ctl calls.
 */
#include <errno.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "net/net_internal.h"

/* A TLS record carries at most 16 KiB of plaintext. */
#define TLS_RECORD_MAX 16384
/* Read at most this much per wakeup before yielding to other links. */
#define READ_BUDGET ((size_t)1 << 20)

static void tls_flush(net_conn *c);
static void tls_read(net_conn *c);

static void tls_handshake_step(net_conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        net_conn_tls_up(c);
        /* Read-ahead may already hold frames sent in the same flight. */
        if (!c->closing) tls_read(c);
        return;
    }
    int en = errno;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return; /* the read event is always armed */
    if (e == SSL_ERROR_WANT_WRITE) {
        event_add(c->wr_ev, NULL);
        return;
    }
    net_conn_io_failed(c, e, en);
}

/* Decrypts what arrived into c->in and hands complete frames on. */
static void tls_read(net_conn *c)
{
    size_t got = 0;
    for (;;) {
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(c->in, TLS_RECORD_MAX, &v, 1) < 1) {
            net_conn_fail(c, NET_ERR_FAILURE, "cannot buffer input");
            return;
        }
        ERR_clear_error();
        int r = SSL_read(c->ssl, v.iov_base, (int)CC_MIN(v.iov_len, (size_t)INT32_MAX));
        if (r > 0) {
            v.iov_len = (size_t)r;
            evbuffer_commit_space(c->in, &v, 1);
            got += (size_t)r;
            if (!SSL_has_pending(c->ssl)) break;
            if (got >= READ_BUDGET) {
                event_active(c->rd_ev, EV_READ, 1); /* the rest on the next turn */
                break;
            }
            continue;
        }
        int en = errno;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) break;
        if (e == SSL_ERROR_WANT_WRITE) { /* e.g. a key update needs an answer */
            c->read_wants_write = true;
            event_add(c->wr_ev, NULL);
            break;
        }
        /* Deliver what came before the close or error, then report it. */
        if (got) net_conn_on_input(c);
        if (!c->closing) net_conn_io_failed(c, e, en);
        return;
    }
    if (got) net_conn_on_input(c);
}

/* Writes c->out as full TLS records until it is empty or the socket is full. */
static void tls_flush(net_conn *c)
{
    size_t left;
    while ((left = evbuffer_get_length(c->out)) > 0) {
        /* After WANT_WRITE OpenSSL must be given the same length again. */
        size_t n = c->write_len ? c->write_len : CC_MIN(left, (size_t)TLS_RECORD_MAX);
        unsigned char *p = evbuffer_pullup(c->out, (ev_ssize_t)n);
        if (!p) {
            net_conn_fail(c, NET_ERR_FAILURE, "cannot linearise output");
            return;
        }
        ERR_clear_error();
        int r = SSL_write(c->ssl, p, (int)n);
        if (r > 0) {
            evbuffer_drain(c->out, (size_t)r);
            c->write_len = 0;
            continue;
        }
        int en = errno;
        int e = SSL_get_error(c->ssl, r);
        c->write_len = n;
        if (e == SSL_ERROR_WANT_WRITE) {
            event_add(c->wr_ev, NULL);
            return;
        }
        if (e == SSL_ERROR_WANT_READ) {
            c->write_wants_read = true; /* the read event retries */
            if (c->draining) event_add(c->rd_ev, NULL);
            return;
        }
        net_conn_io_failed(c, e, en);
        return;
    }
    if (c->draining) net_conn_close(c, "output flushed");
}

static bool write_blocked(const net_conn *c)
{
    return c->write_len != 0 || c->write_wants_read;
}

static void readable_cb(evutil_socket_t fd, short what, void *arg)
{
    net_conn *c = arg;
    net_conn_hold(c);
    if (c->state == NET_CONN_TLS) {
        tls_handshake_step(c);
    } else {
        if (c->write_wants_read) {
            c->write_wants_read = false;
            tls_flush(c);
        }
        if (!c->closing && !c->draining) tls_read(c);
    }
    net_conn_release(c);
}

static void writable_cb(evutil_socket_t fd, short what, void *arg)
{
    net_conn *c = arg;
    net_conn_hold(c);
    if (c->state == NET_CONN_TLS) {
        tls_handshake_step(c);
    } else {
        if (c->read_wants_write) {
            c->read_wants_write = false;
            if (!c->draining) tls_read(c);
        }
        if (!c->closing && !c->write_wants_read) tls_flush(c);
    }
    net_conn_release(c);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    net_conn *c = arg;
    c->flush_scheduled = false;
    if (c->closing || c->state == NET_CONN_TLS || write_blocked(c)) return;
    net_conn_hold(c);
    tls_flush(c);
    net_conn_release(c);
}

int net_conn_start_tls(net_conn *c, cc_err *err)
{
    if (c->io_ev) {
        event_free(c->io_ev);
        c->io_ev = NULL;
    }
    SSL *ssl = SSL_new(c->ssl_ctx);
    if (!ssl) return cc_err_set(err, "SSL_new failed");
    if (SSL_set_fd(ssl, c->fd) != 1) {
        SSL_free(ssl);
        return cc_err_set(err, "SSL_set_fd failed");
    }
    SSL_set_app_data(ssl, c);
    SSL_set_read_ahead(ssl, 1);
    /* The retry after WANT_WRITE may come from a moved evbuffer block. */
    SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (c->outbound)
        SSL_set_connect_state(ssl);
    else
        SSL_set_accept_state(ssl);
    c->ssl = ssl;
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    c->rd_ev = event_new(c->base, c->fd, EV_READ | EV_PERSIST, readable_cb, c);
    c->wr_ev = event_new(c->base, c->fd, EV_WRITE, writable_cb, c);
    c->flush_ev = event_new(c->base, -1, 0, flush_cb, c);
    if (!c->in || !c->out || !c->rd_ev || !c->wr_ev || !c->flush_ev)
        return cc_err_set(err, "cannot create the TLS events");
    c->state = NET_CONN_TLS;
    event_add(c->rd_ev, NULL);
    event_add(c->wr_ev, NULL); /* the first handshake step runs when writable */
    return 0;
}

int net_conn_queue_output(net_conn *c, const void *data, size_t len)
{
    if (evbuffer_add(c->out, data, len) != 0) return -1;
    if (!c->flush_scheduled) {
        c->flush_scheduled = true;
        event_active(c->flush_ev, 0, 1);
    }
    return 0;
}

void net_conn_io_free(net_conn *c)
{
    struct event **evs[] = {&c->rd_ev, &c->wr_ev, &c->flush_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (*evs[i]) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
    if (c->ssl) {
        SSL_free(c->ssl); /* does not close the socket: SSL_set_fd's BIO is BIO_NOCLOSE */
        c->ssl = NULL;
    }
    if (c->in) evbuffer_free(c->in);
    if (c->out) evbuffer_free(c->out);
    c->in = c->out = NULL;
    c->flush_scheduled = false;
}

void net_conn_stop_reading(net_conn *c)
{
    /* A write waiting for the peer's data (TLS renegotiation-like states)
     * still needs the read event; otherwise stop taking input. */
    if (c->rd_ev && !c->write_wants_read) event_del(c->rd_ev);
}
