/*
 * Internal to src/net: the connection object shared by the listener, the
 * connector and the framed-RPC code.  Not part of the public API.
 */
#ifndef COCOON_NET_INTERNAL_H
#define COCOON_NET_INTERNAL_H

#include <openssl/ssl.h>

#include "net/net.h"

struct evbuffer;
struct event;
struct evutil_addrinfo;

typedef enum {
    NET_CONN_TCP_CONNECTING, /* outbound: non-blocking connect() in progress */
    NET_CONN_POW,            /* exchanging the proof of work on the raw socket */
    NET_CONN_TLS,            /* TLS handshake */
    NET_CONN_HELLO,          /* TLS up, waiting for tcp.connect / tcp.connected */
    NET_CONN_READY,
    NET_CONN_CLOSED,
} net_conn_state;

/* A byte queue in one flat block (fifo.c): bytes [off, b.len) of b.data. */
typedef struct net_fifo {
    cc_buf b;
    size_t off;
} net_fifo;

static inline size_t net_fifo_len(const net_fifo *f)
{
    return f->b.len - f->off;
}
static inline uint8_t *net_fifo_data(const net_fifo *f)
{
    return f->b.data + f->off;
}
/* Room for `want` more bytes at the end (valid until the next call); the
 * caller writes there and adds what it wrote to f->b.len. */
uint8_t *net_fifo_tail(net_fifo *f, size_t want);
void net_fifo_append(net_fifo *f, const void *p, size_t n);
/* Drops n <= net_fifo_len(f) bytes from the front. */
void net_fifo_consume(net_fifo *f, size_t n);
void net_fifo_free(net_fifo *f);

typedef struct net_query {
    uint64_t id;
    net_answer_fn cb;
    void *ud;
    struct event *timer;
    struct net_conn *conn;
    struct net_query *next;
} net_query;

struct net_conn {
    struct event_base *base;
    bool outbound;
    bool closing;
    bool draining;    /* net_conn_close_after_flush: only writing out what is queued */
    bool handed_over; /* inbound: given to the caller in on_accept */
    net_conn_state state;
    int refs; /* 1 while alive + 1 per callback in progress */
    int fd;   /* the socket, owned */

    struct event *io_ev;    /* raw socket readiness during connect / PoW */
    struct event *timer;    /* handshake deadline, then the keepalive tick */
    double hs_deadline;     /* length of the armed handshake deadline, for its message */
    struct event *solve_ev; /* outbound: solves the PoW in slices */
    /* TLS I/O (tls_io.c), from the handshake on */
    SSL *ssl;
    struct event *rd_ev;    /* persistent EV_READ */
    struct event *wr_ev;    /* EV_WRITE, armed only while a write would block */
    struct event *flush_ev; /* activated by the first frame queued in a loop turn */
    struct event *later_ev; /* sends frames queued to wait for company (send_msg_later) */
    net_fifo in;            /* decrypted bytes not yet deframed */
    net_fifo out;           /* frames not yet encrypted */
    BIO *wbio;              /* OpenSSL writes records through it to cout (owned by ssl) */
    BIO_METHOD *wbio_meth;  /* wbio's methods, one per link (no global state) */
    net_fifo cout;          /* encrypted bytes the socket did not take yet */
    bool flush_scheduled;
    unsigned out_holds; /* net_conn_output_hold: queued frames wait */
    bool write_wants_read;
    SSL_CTX *ssl_ctx; /* own reference */

    net_verify verify;
    bool verify_called;
    bool verify_ok;
    char verify_msg[256];
    void *peer_info;
    X509 *peer_cert; /* own reference */

    net_timeouts to;
    size_t max_output;
    struct event *kill_ev; /* deferred close after an output overflow */

    /* PoW: inbound keeps the salt and reads the answer; outbound reads the
     * challenge, solves and writes the answer. */
    uint8_t pow_buf[NET_POW_CHALLENGE_LEN];
    size_t pow_done;
    int pow_difficulty;
    int pow_max_difficulty;
    uint8_t pow_salt[NET_POW_SALT_LEN];
    int64_t pow_nonce;

    net_deframer deframer;
    int32_t out_seqno;
    uint64_t remote_id;

    net_conn_callbacks cbs;
    void *ud;

    net_listener *listener; /* inbound, until handed over */
    uint64_t addr_key;      /* inbound: the peer address's slot in the listener's counts */
    cc_list_node lnode;     /* in the listener's handshaking list */

    struct evutil_addrinfo *addrs; /* outbound: resolved addresses, tried in order */
    struct evutil_addrinfo *next_addr;
    uint16_t dial_port;

    net_query *queries; /* pending outbound queries (few per link: a list) */

    /* net_conn_barrier: the ping's id and what to call on its pong. */
    uint64_t barrier_id;
    net_barrier_fn barrier_cb;
    void *barrier_ud;
    double last_rx; /* monotonic time of the last frame received */
    double last_ping;
    double last_tick; /* monotonic time of the last keepalive check */
    net_conn_stats stats;
    char peer_addr[64];
    char desc[160];
};

/* tls.c */
SSL_CTX *net_tls_ctx_new(bool server, const net_tls_identity *id, cc_err *err);

/* conn.c */
net_conn *net_conn_new(struct event_base *base, bool outbound, int fd, SSL_CTX *ctx,
                       const net_verify *verify, const net_timeouts *to, size_t max_output);
/* Closes the connection from the loop shortly (not from inside the caller's
 * send call), as net_conn_fail would. */
void net_conn_fail_soon(net_conn *c);
void net_conn_hold(net_conn *c);
void net_conn_release(net_conn *c);
/* The library closes the connection: fails queries, calls on_close if the
 * caller owns it, notifies the listener if it still handshakes. */
void net_conn_fail(net_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reads the proof-of-work message (challenge or answer) into c->pow_buf until
 * `want` bytes are there; before TLS, straight from the socket and never past
 * the message, so what follows stays for OpenSSL. Returns 1 when complete, 0 to
 * wait for more, -1 after failing the connection (closed_code/closed_msg when
 * the peer closed, NET_ERR_FAILURE on a socket error). */
int net_conn_pow_recv(net_conn *c, int fd, size_t want, int closed_code, const char *closed_msg);
/* Called by tls_io.c: the handshake finished; bytes were appended to c->in;
 * an SSL call failed with this SSL_get_error() code and errno. */
void net_conn_tls_up(net_conn *c);
void net_conn_on_input(net_conn *c);
void net_conn_io_failed(net_conn *c, int ssl_error, int sys_errno);

/* tls_io.c */
/* Starts the TLS handshake on c->fd (after the PoW). */
int net_conn_start_tls(net_conn *c, cc_err *err);
/* Frames were appended to c->out (rpc.c assembles them there in place);
 * they are written at the end of this loop turn. */
void net_conn_output_queued(net_conn *c);
/* The same without a flush of their own: they leave with the next frame
 * queued normally, or after `delay` seconds at the latest. */
void net_conn_output_queued_later(net_conn *c, double delay);
/* What waits for company leaves at the end of this turn (a link closing). */
void net_conn_flush_later_now(net_conn *c);
/* Frees the SSL object, buffers and events (not the socket). */
void net_conn_io_free(net_conn *c);
/* While draining: take no more input. */
void net_conn_stop_reading(net_conn *c);
/* Arms the handshake deadline. */
void net_conn_arm_handshake_timer(net_conn *c);
/* The same deadline with another length (the listener's shorter one for an
 * unsolved proof of work). */
void net_conn_arm_handshake_timer_in(net_conn *c, double seconds);

/* listener.c */
void net_listener_conn_ready(net_listener *l, net_conn *c);
void net_listener_conn_gone(net_listener *l, net_conn *c);

#endif
