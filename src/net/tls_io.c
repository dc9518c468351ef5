/*
 * TLS on the connection's socket, driven by the event loop directly (no
 * bufferevent), so that a frame costs as few system calls as possible:
 *
 *  - Reading: one persistent EV_READ event for the life of the link (no
 *    epoll_ctl per read), OpenSSL read-ahead so a wakeup costs one read(2)
 *    for all records that arrived instead of two per record, and we read
 *    until OpenSSL holds nothing buffered, so no record can be stranded in
 *    its read-ahead buffer while the socket looks idle.
 *  - Writing: frames queued during one loop turn go into c->out; a deferred
 *    event encrypts them once at the end of the turn, as full 16 KiB records,
 *    through a small BIO that appends them to c->cout, and all those records
 *    leave in one sendmsg(2).  What the socket does not take stays in c->cout;
 *    EV_WRITE is armed only then, so a steady stream makes no epoll_ctl calls.
 *    A frame queued "later" schedules no flush: it leaves with the next one
 *    (or after its delay), so a notice the peer needs no wakeup for costs it none.
 *    (OpenSSL's memory BIO would do, but its reset clears its whole buffer.)
 */
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "net/net_internal.h"

/* A TLS record carries at most 16 KiB of plaintext. */
#define TLS_RECORD_MAX 16384
/* Read at most this much per wakeup before yielding to other links. */
#define READ_BUDGET ((size_t)1 << 20)
/* Encrypt at most this much before handing it to the socket. */
#define WRITE_BATCH ((size_t)256 << 10)

static void tls_flush(net_conn *c);
static void tls_read(net_conn *c);

static bool would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* The write side of the SSL object: records are appended to c->cout. */
static int cout_bio_write(BIO *b, const char *data, int len)
{
    net_conn *c = BIO_get_data(b);
    if (len <= 0) return 0;
    if (evbuffer_add(c->cout, data, (size_t)len) != 0) return -1;
    return len;
}

static long cout_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* sending is ours, after each SSL call */
}

/* Sends c->cout (the records OpenSSL produced) with as few sendmsg calls as
 * the socket allows; arms EV_WRITE for the rest.  Returns -1 if the link
 * failed (and was closed). */
static int push_cipher(net_conn *c)
{
    enum { MAX_IOV = 16 };
    while (evbuffer_get_length(c->cout) > 0) {
        struct evbuffer_iovec v[MAX_IOV];
        int n = evbuffer_peek(c->cout, -1, NULL, v, MAX_IOV);
        if (n > MAX_IOV) n = MAX_IOV;
        struct iovec iov[MAX_IOV];
        size_t want = 0;
        for (int i = 0; i < n; i++) {
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = v[i].iov_len;
            want += v[i].iov_len;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (would_block(errno)) break;
            net_conn_io_failed(c, SSL_ERROR_SYSCALL, errno);
            return -1;
        }
        evbuffer_drain(c->cout, (size_t)w);
        if ((size_t)w < want) break; /* the socket is full */
    }
    if (evbuffer_get_length(c->cout) > 0) event_add(c->wr_ev, NULL);
    return 0;
}

static void tls_handshake_step(net_conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    int en = errno;
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
    /* Our flight (or the alert that explains a failure) goes out first. */
    if (push_cipher(c) < 0) return;
    if (r == 1) {
        net_conn_tls_up(c);
        /* Read-ahead may already hold frames sent in the same flight. */
        if (!c->closing) tls_read(c);
        return;
    }
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
    net_conn_io_failed(c, e, en);
}

/* Decrypts what arrived into c->in and hands complete frames on. */
static void tls_read(net_conn *c)
{
    size_t got = 0;
    int e = SSL_ERROR_NONE, en = 0;
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
        en = errno;
        e = SSL_get_error(c->ssl, r);
        break;
    }
    /* Reading may make OpenSSL answer (a key update, an alert). */
    if (push_cipher(c) < 0) return;
    if (got) net_conn_on_input(c);
    if (c->closing || e == SSL_ERROR_NONE || e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    net_conn_io_failed(c, e, en); /* after delivering what came before */
}

/* Encrypts c->out as full TLS records and sends them, unless the socket is
 * still busy with earlier ones. */
static void tls_flush(net_conn *c)
{
    size_t left;
    /* Whatever waited for company leaves now. */
    if (c->later_ev) event_del(c->later_ev);
    while (evbuffer_get_length(c->cout) == 0 && (left = evbuffer_get_length(c->out)) > 0) {
        size_t batch = 0;
        while (left > 0 && batch < WRITE_BATCH) {
            size_t n = CC_MIN(left, (size_t)TLS_RECORD_MAX);
            unsigned char *p = evbuffer_pullup(c->out, (ev_ssize_t)n);
            if (!p) {
                net_conn_fail(c, NET_ERR_FAILURE, "cannot linearise output");
                return;
            }
            ERR_clear_error();
            int r = SSL_write(c->ssl, p, (int)n);
            if (r <= 0) {
                int en = errno;
                int e = SSL_get_error(c->ssl, r);
                if (push_cipher(c) < 0) return;
                if (e == SSL_ERROR_WANT_READ) {
                    c->write_wants_read = true; /* the read event retries */
                    if (c->draining) event_add(c->rd_ev, NULL);
                    return;
                }
                net_conn_io_failed(c, e, en);
                return;
            }
            evbuffer_drain(c->out, (size_t)r);
            batch += (size_t)r;
            left -= (size_t)r;
        }
        if (push_cipher(c) < 0) return;
    }
    if (c->draining && net_conn_output_pending(c) == 0) net_conn_close(c, "output flushed");
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
    if (push_cipher(c) < 0) {
        /* closed */
    } else if (evbuffer_get_length(c->cout) > 0) {
        /* push_cipher armed EV_WRITE again */
    } else if (c->state != NET_CONN_TLS && !c->write_wants_read) {
        tls_flush(c); /* what was queued meanwhile; closes a drained link */
    }
    net_conn_release(c);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    net_conn *c = arg;
    c->flush_scheduled = false;
    if (c->closing || c->state == NET_CONN_TLS || c->write_wants_read) return;
    net_conn_hold(c);
    tls_flush(c);
    net_conn_release(c);
}

/* Frames queued with net_conn_queue_output_later() found no company in time. */
static void later_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    net_conn *c = arg;
    if (c->flush_scheduled || c->closing || c->state == NET_CONN_TLS || c->write_wants_read)
        return; /* a flush is on its way, or the link cannot write now and retries itself */
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
    c->cout = evbuffer_new();
    c->wbio_meth = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "cocoon-net-out");
    if (!c->cout || !c->wbio_meth || !BIO_meth_set_write(c->wbio_meth, cout_bio_write) ||
        !BIO_meth_set_ctrl(c->wbio_meth, cout_bio_ctrl))
        return cc_err_set(err, "cannot create the TLS output");
    SSL *ssl = SSL_new(c->ssl_ctx);
    BIO *rbio = BIO_new_socket(c->fd, BIO_NOCLOSE);
    BIO *wbio = BIO_new(c->wbio_meth);
    if (!ssl || !rbio || !wbio) {
        SSL_free(ssl);
        BIO_free(rbio);
        BIO_free(wbio);
        return cc_err_set(err, "cannot create the TLS session");
    }
    BIO_set_data(wbio, c);
    BIO_set_init(wbio, 1);
    SSL_set_bio(ssl, rbio, wbio); /* ssl owns both now */
    SSL_set_app_data(ssl, c);
    SSL_set_read_ahead(ssl, 1);
    if (c->outbound)
        SSL_set_connect_state(ssl);
    else
        SSL_set_accept_state(ssl);
    c->ssl = ssl;
    c->wbio = wbio;
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    c->rd_ev = event_new(c->base, c->fd, EV_READ | EV_PERSIST, readable_cb, c);
    c->wr_ev = event_new(c->base, c->fd, EV_WRITE, writable_cb, c);
    c->flush_ev = event_new(c->base, -1, 0, flush_cb, c);
    if (!c->in || !c->out || !c->cout || !c->rd_ev || !c->wr_ev || !c->flush_ev)
        return cc_err_set(err, "cannot create the TLS events");
    c->state = NET_CONN_TLS;
    event_add(c->rd_ev, NULL);
    /* The first handshake step (the client's hello) runs from the loop. */
    event_active(c->rd_ev, EV_READ, 1);
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

int net_conn_queue_output_later(net_conn *c, const void *data, size_t len, double delay)
{
    if (evbuffer_add(c->out, data, len) != 0) return -1;
    if (c->flush_scheduled) return 0; /* leaves at the end of this turn anyway */
    if (!c->later_ev && !(c->later_ev = evtimer_new(c->base, later_cb, c))) {
        c->flush_scheduled = true; /* no timer: it goes at the end of this turn */
        event_active(c->flush_ev, 0, 1);
        return 0;
    }
    if (!evtimer_pending(c->later_ev, NULL)) {
        struct timeval tv = cc_timeval(delay);
        evtimer_add(c->later_ev, &tv);
    }
    return 0;
}

void net_conn_flush_later_now(net_conn *c)
{
    if (!c->later_ev || !evtimer_pending(c->later_ev, NULL)) return;
    event_del(c->later_ev);
    if (!c->flush_scheduled) {
        c->flush_scheduled = true;
        event_active(c->flush_ev, 0, 1);
    }
}

size_t net_conn_output_pending(const net_conn *c)
{
    return (c->out ? evbuffer_get_length(c->out) : 0) +
           (c->cout ? evbuffer_get_length(c->cout) : 0);
}

void net_conn_io_free(net_conn *c)
{
    struct event **evs[] = {&c->rd_ev, &c->wr_ev, &c->flush_ev, &c->later_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (*evs[i]) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
    if (c->ssl) {
        SSL_free(c->ssl); /* and both BIOs; the socket BIO does not close the fd */
        c->ssl = NULL;
        c->wbio = NULL;
    }
    if (c->wbio_meth) {
        BIO_meth_free(c->wbio_meth);
        c->wbio_meth = NULL;
    }
    struct evbuffer **bufs[] = {&c->in, &c->out, &c->cout};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (*bufs[i]) {
            evbuffer_free(*bufs[i]);
            *bufs[i] = NULL;
        }
    c->flush_scheduled = false;
}

void net_conn_stop_reading(net_conn *c)
{
    /* A write waiting for the peer's data still needs the read event. */
    if (c->rd_ev && !c->write_wants_read) event_del(c->rd_ev);
}
