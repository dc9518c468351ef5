/*
 * TLS on the connection's socket, driven by the event loop directly (no
 * bufferevent), so that a frame costs as few system calls as possible:
 *
 *  - Reading: one persistent EV_READ event for the life of the link (no
 *    epoll_ctl per read), OpenSSL read-ahead so a wakeup costs one read(2)
 *    for all records that arrived instead of two per record, and we read
 *    until OpenSSL holds nothing buffered, so no record can be stranded in
 *    its read-ahead buffer while the socket looks idle.  Records are
 *    decrypted into one flat block (fifo.c), so a frame is never copied
 *    again to make it contiguous.
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
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>

#include "net/net_internal.h"

/* A TLS record carries at most 16 KiB of plaintext. */
#define TLS_RECORD_MAX 16384
/* OpenSSL's read-ahead block: what one read(2) can take. */
#define READ_AHEAD_LEN ((size_t)40 << 10)
/* Read at most this much per wakeup before yielding to other links. */
#define READ_BUDGET ((size_t)1 << 20)
/* Encrypt at most this much before handing it to the socket. */
#define WRITE_BATCH ((size_t)256 << 10)

static void tls_flush(net_conn *c);
static void tls_read(net_conn *c);

/* SSL_get_error() needs an empty error queue before each SSL call; it is
 * almost always empty already, and looking costs less than clearing all of
 * its slots every time (a few per cent of a relay's CPU at one request at a
 * time). */
static void clear_errors(void)
{
    if (ERR_peek_error() != 0) ERR_clear_error();
}

static bool would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* The write side of the SSL object: records are appended to c->cout. */
static int cout_bio_write(BIO *b, const char *data, int len)
{
    net_conn *c = BIO_get_data(b);
    if (len <= 0) return 0;
    net_fifo_append(&c->cout, data, (size_t)len);
    return len;
}

static long cout_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* sending is ours, after each SSL call */
}

/* Sends c->cout (the records OpenSSL produced, one flat block) with as few
 * send calls as the socket allows; arms EV_WRITE for the rest.  Returns -1
 * if the link failed (and was closed). */
static int push_cipher(net_conn *c)
{
    while (net_fifo_len(&c->cout) > 0) {
        size_t want = net_fifo_len(&c->cout);
        ssize_t w = send(c->fd, net_fifo_data(&c->cout), want, MSG_NOSIGNAL);
        if (w < 0) {
            if (would_block(errno)) break;
            net_conn_io_failed(c, SSL_ERROR_SYSCALL, errno);
            return -1;
        }
        net_fifo_consume(&c->cout, (size_t)w);
        if ((size_t)w < want) break; /* the socket is full */
    }
    if (net_fifo_len(&c->cout) > 0) event_add(c->wr_ev, NULL);
    return 0;
}

static void tls_handshake_step(net_conn *c)
{
    clear_errors();
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
        uint8_t *room = net_fifo_tail(&c->in, TLS_RECORD_MAX);
        clear_errors();
        int r = SSL_read(c->ssl, room, TLS_RECORD_MAX);
        if (r > 0) {
            c->in.b.len += (size_t)r;
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
    while (net_fifo_len(&c->cout) == 0 && (left = net_fifo_len(&c->out)) > 0) {
        size_t batch = 0;
        while (left > 0 && batch < WRITE_BATCH) {
            size_t n = CC_MIN(left, (size_t)TLS_RECORD_MAX);
            clear_errors();
            int r = SSL_write(c->ssl, net_fifo_data(&c->out), (int)n);
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
            net_fifo_consume(&c->out, (size_t)r);
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
    } else if (net_fifo_len(&c->cout) > 0) {
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
    if (c->closing || c->state == NET_CONN_TLS || c->write_wants_read || c->out_holds) return;
    net_conn_hold(c);
    tls_flush(c);
    net_conn_release(c);
}

/* Frames queued with net_conn_output_queued_later() found no company in time. */
static void later_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    net_conn *c = arg;
    if (c->flush_scheduled || c->closing || c->state == NET_CONN_TLS || c->write_wants_read ||
        c->out_holds)
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
    c->wbio_meth = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "cocoon-net-out");
    if (!c->wbio_meth || !BIO_meth_set_write(c->wbio_meth, cout_bio_write) ||
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
    /* Read-ahead's block holds one full record by default (16.3 KiB here):
     * an answer a little over 16 KiB (two records) then took two read(2)s.
     * Two full records and some fit in this. */
    SSL_set_default_read_buffer_len(ssl, READ_AHEAD_LEN);
    /* A write retried after WANT_READ passes c->out's block, which frames
     * queued meanwhile may have moved. */
    SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (c->outbound)
        SSL_set_connect_state(ssl);
    else
        SSL_set_accept_state(ssl);
    c->ssl = ssl;
    c->wbio = wbio;
    c->rd_ev = event_new(c->base, c->fd, EV_READ | EV_PERSIST, readable_cb, c);
    c->wr_ev = event_new(c->base, c->fd, EV_WRITE, writable_cb, c);
    c->flush_ev = event_new(c->base, -1, 0, flush_cb, c);
    if (!c->rd_ev || !c->wr_ev || !c->flush_ev)
        return cc_err_set(err, "cannot create the TLS events");
    c->state = NET_CONN_TLS;
    event_add(c->rd_ev, NULL);
    /* The first handshake step (the client's hello) runs from the loop. */
    event_active(c->rd_ev, EV_READ, 1);
    return 0;
}

void net_conn_output_queued(net_conn *c)
{
    if (!c->flush_scheduled) {
        c->flush_scheduled = true;
        event_active(c->flush_ev, 0, 1);
    }
}

void net_conn_output_queued_later(net_conn *c, double delay)
{
    if (c->flush_scheduled) return; /* leaves at the end of this turn anyway */
    if (!c->later_ev && !(c->later_ev = evtimer_new(c->base, later_cb, c))) {
        c->flush_scheduled = true; /* no timer: it goes at the end of this turn */
        event_active(c->flush_ev, 0, 1);
        return;
    }
    if (!evtimer_pending(c->later_ev, NULL)) {
        struct timeval tv = cc_timeval(delay);
        evtimer_add(c->later_ev, &tv);
    }
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

void net_conn_output_hold(net_conn *c)
{
    c->out_holds++;
}

void net_conn_output_release(net_conn *c)
{
    if (!c->out_holds || --c->out_holds) return;
    if (net_fifo_len(&c->out) > 0 && !c->flush_scheduled && c->flush_ev) {
        c->flush_scheduled = true;
        event_active(c->flush_ev, 0, 1);
    }
}

size_t net_conn_output_pending(const net_conn *c)
{
    return net_fifo_len(&c->out) + net_fifo_len(&c->cout);
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
    net_fifo_free(&c->in);
    net_fifo_free(&c->out);
    net_fifo_free(&c->cout);
    c->flush_scheduled = false;
}

void net_conn_stop_reading(net_conn *c)
{
    /* A write waiting for the peer's data still needs the read event. */
    if (c->rd_ev && !c->write_wants_read) event_del(c->rd_ev);
}
