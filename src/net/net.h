/*
 * net — COCOON-compatible transport on the caller's libevent loop (DESIGN §4.1).
 *
 * A connection goes through: TCP → proof of work (server speaks first) → TLS 1.3
 * with mutual self-signed Ed25519 certificates (checked by a caller-supplied
 * verify hook) → framed TL `tcp.Packet`s: `tcp.connect` / `tcp.connected`, then
 * packets, queries and keepalive pings.  Everything runs on one
 * `struct event_base` owned by the caller; there are no threads.
 *
 * Memory and lifetime rules (read these):
 *  - Payload pointers handed to callbacks are valid during the call only.
 *  - Data passed to the send functions is copied; the caller keeps ownership.
 *  - A net_conn is owned by the library until it is handed to the caller:
 *      * outbound: net_connect() returns it and the caller owns it from then;
 *      * inbound: the listener owns it while it handshakes and hands it over in
 *        `on_accept` (already ready: PoW, TLS, tcp.connect/connected done).
 *    A caller-owned connection ends in exactly one of two ways:
 *      * the caller calls net_conn_close(): no on_close callback follows;
 *      * the library closes it (peer gone, protocol violation, timeout, failed
 *        handshake of an outbound connection): `on_close` is called once and
 *        the connection is freed when it returns.
 *    In both cases pending outbound queries first get their answer callback
 *    with an error (NET_ERR_CANCELLED on a local close, NET_ERR_FAILURE on a
 *    remote one) and the peer info is released with `verify.free_info`.
 *    It is safe to call net_conn_close() (and any send function) from inside
 *    any callback of that connection, including answer callbacks.
 *  - Identities are borrowed: net takes its own OpenSSL references, so the
 *    caller may free its EVP_PKEY / X509 after net_listen()/net_connect().
 *  - OpenSSL writes to the socket with write(2): a program using net must
 *    ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)) or a peer that vanishes
 *    mid-write kills it.
 */
#ifndef COCOON_NET_H
#define COCOON_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/base.h"
#include "tl/tl.h"

struct event_base;
struct evbuffer;

/* ------------------------------------------------------------ error codes */

/* COCOON's RPC error codes; also put into cc_err.code by the functions here. */
enum {
    NET_ERR_FAILURE = 601,
    NET_ERR_ERROR = 602,
    NET_ERR_PROTOCOL = 621, /* protocol violation */
    NET_ERR_NOT_READY = 651,
    NET_ERR_TIMEOUT = 652,
    NET_ERR_CANCELLED = 653,
};

/* -------------------------------------------------------- TLS identity */

/* A private key (Ed25519) and its self-signed certificate.  Borrowed. */
typedef struct net_tls_identity {
    EVP_PKEY *key;
    X509 *cert;
} net_tls_identity;

/* Makes a fresh Ed25519 key and a plain self-signed certificate (CN=common_name,
 * valid 1 day, no attestation extensions) — a placeholder identity for tests
 * and for policy `any` until tee's RA-TLS certificates are used.  The caller
 * owns the result and frees it with net_tls_identity_free(). */
int net_tls_identity_self_signed(const char *common_name, net_tls_identity *out, cc_err *err);
void net_tls_identity_free(net_tls_identity *id); /* frees key and cert, zeroes *id */

/* Verify hook, called from OpenSSL's verify callback for the peer's depth-0
 * certificate once per handshake, in both directions.  net already enforced:
 * one certificate only (depth 0), self-signed (signature checks with its own
 * key); of OpenSSL's chain errors only "self-signed" and "unhandled critical
 * extension" are tolerated — everything else about the certificate (key type,
 * extensions, quote, policy) is the hook's job.
 * Return 0 to accept (optionally setting *peer_info_out to an object the
 * connection then owns and frees with `free_info`), or -1 with a message in
 * err to reject (the handshake fails; `peer_info_out` must be left NULL). */
/* The hook runs inside OpenSSL's handshake: it must not close connections or
 * free the listener. */
typedef int (*net_verify_fn)(void *ud, X509 *peer_cert, void **peer_info_out, cc_err *err);

typedef struct net_verify {
    net_verify_fn verify;          /* required */
    void *ud;                      /* passed to verify; must outlive the listener/conn */
    void (*free_info)(void *info); /* frees a peer_info; NULL = nothing to free */
} net_verify;

/* A verify function accepting every certificate that passed net's own checks
 * (policy `any`); sets no peer info. */
int net_verify_accept_any(void *ud, X509 *peer_cert, void **peer_info_out, cc_err *err);

/* ------------------------------------------------------------ connections */

typedef struct net_conn net_conn;
typedef struct net_listener net_listener;

typedef struct net_conn_callbacks {
    /* Outbound only: tcp.connected arrived; the connection can send. */
    void (*on_ready)(net_conn *c, void *ud);
    /* One-way tcp.packet: `data` is the packet's inner bytes. */
    void (*on_packet)(net_conn *c, void *ud, const uint8_t *data, size_t len);
    /* tcp.query: answer later (or now) with net_conn_answer*() using query_id.
     * Unanswered queries need no cleanup. NULL = answer every query with an error. */
    void (*on_query)(net_conn *c, void *ud, uint64_t query_id, const uint8_t *data, size_t len);
    /* The library closed the connection (see the lifetime rules above); `c` is
     * freed after this returns. `reason` is valid during the call. */
    void (*on_close)(net_conn *c, void *ud, const char *reason);
} net_conn_callbacks;

/* Timing knobs; a zero field takes the default. Seconds. */
typedef struct net_timeouts {
    double ping_interval;     /* outbound side pings after this much silence (10) */
    double idle_timeout;      /* either side drops a link silent this long (60) */
    double handshake_timeout; /* TCP+PoW+TLS+tcp.connect must finish within (30) */
    /* The inbound side pings after ping_interval of silence too: a proxy
     * that must notice a stopped worker in seconds, not after idle_timeout
     * of the worker's own (slower) pings. Every peer answers tcp.ping. */
    bool ping_inbound;
} net_timeouts;

/* Answer to an outbound query.  error_code == 0: success, `data`/`len` is the
 * answer (valid during the call).  Otherwise error_code/error_msg describe the
 * failure (a tcp.queryError from the peer, or NET_ERR_TIMEOUT, NET_ERR_CANCELLED,
 * NET_ERR_FAILURE when the connection closed).  Called exactly once per query
 * unless the query was cancelled with net_conn_cancel_query(). */
typedef void (*net_answer_fn)(net_conn *c, void *ud, int32_t error_code, const char *error_msg,
                              const uint8_t *data, size_t len);

/* Sends a one-way tcp.packet carrying `data` (copied). Fails (NET_ERR_NOT_READY)
 * before the connection is ready or after it closed. */
int net_conn_send_packet(net_conn *c, const void *data, size_t len, cc_err *err);
/* Same as encoding `msg` with tl_encode() and sending the bytes with
 * net_conn_send_packet(), but `msg` is encoded straight into the frame: one
 * copy of its payload less on the relay path. */
int net_conn_send_packet_tl(net_conn *c, const tl_obj *msg, cc_err *err);
/* The send every daemon uses for one-way messages: net_conn_send_packet_tl
 * with the failure handled here. A closed or congested connection (c NULL
 * too) fails quietly, since its close callback deals with it; any other
 * failure (an unencodable message: a bug) is logged as encode_failed.
 * Returns 0 or -1. */
int net_conn_send_msg(net_conn *c, const tl_obj *msg);
/* Keeps the frames queued on c from leaving until the matching
 * net_conn_output_release(), which sends them (in this loop turn): a sender
 * that knows more frames for c follow later in the turn (the worker's
 * receipts, signed together at its end) sends them in one write with the
 * rest instead of a second one. Holds nest; a closed connection ignores
 * them. */
void net_conn_output_hold(net_conn *c);
void net_conn_output_release(net_conn *c);
/* net_conn_send_msg for a notice the peer need not hear at once: it leaves
 * with the next frame sent on c, or after `delay` seconds at the latest,
 * so it costs the peer no wakeup of its own (the proxy's payment notice
 * after each answer rides with the worker's next request). Order is kept. */
int net_conn_send_msg_later(net_conn *c, const tl_obj *msg, double delay);
/* A barrier: sends tcp.ping and calls cb when its pong comes back. The peer
 * reads and answers in order, so by then it has handled every frame sent
 * before the ping, and every frame it sent before the pong has arrived
 * (the worker knows no request is on its way once the proxy has seen its
 * "disabled"). One at a time (a new call replaces the last); never called
 * when the connection closes first. 0, or -1 when c is not connected. */
typedef void (*net_barrier_fn)(net_conn *c, void *ud);
int net_conn_barrier(net_conn *c, net_barrier_fn cb, void *ud);
/* Sends a tcp.query with a fresh random id; `cb` gets the answer, an error from
 * the peer, a timeout after `timeout_s` seconds (<= 0: 60 s), or the close error.  On success
 * stores the id in *query_id_out (may be NULL); on failure returns -1 and `cb`
 * is never called. */
int net_conn_query(net_conn *c, const void *data, size_t len, double timeout_s, net_answer_fn cb,
                   void *ud, uint64_t *query_id_out, cc_err *err);
/* Forgets a pending outbound query: its callback will not be called.  No-op for
 * an unknown id.  (COCOON has no cancel message; the peer still answers.) */
void net_conn_cancel_query(net_conn *c, uint64_t query_id);
/* Answers an inbound query with tcp.queryAnswer / tcp.queryError. */
int net_conn_answer(net_conn *c, uint64_t query_id, const void *data, size_t len, cc_err *err);
int net_conn_answer_error(net_conn *c, uint64_t query_id, int32_t code, const char *message,
                          cc_err *err);

/* Closes now (unsent output is dropped) and frees; see the lifetime rules. */
void net_conn_close(net_conn *c, const char *reason);
/* Like net_conn_close() for the caller (pending queries fail with
 * NET_ERR_CANCELLED now, no callbacks follow, `c` must not be used again), but
 * first writes out what is queued — e.g. a final tcp.queryError — waiting at
 * most timeout_s seconds (0 = 5 s). */
void net_conn_close_after_flush(net_conn *c, const char *reason, double timeout_s);

/* Replaces the callbacks and their user data (inbound connections get theirs
 * this way inside on_accept). */
void net_conn_set_callbacks(net_conn *c, const net_conn_callbacks *cbs, void *ud);
void *net_conn_ud(const net_conn *c);

bool net_conn_is_ready(const net_conn *c);
bool net_conn_is_outbound(const net_conn *c);
/* The peer info the verify hook produced (owned by the connection; NULL if none). */
void *net_conn_peer_info(const net_conn *c);
/* The peer's certificate (borrowed; valid while the connection lives; NULL
 * before the TLS handshake). */
X509 *net_conn_peer_cert(const net_conn *c);
/* "127.0.0.1:11001" (borrowed). */
const char *net_conn_peer_addr(const net_conn *c);
/* The 64-bit id from tcp.connect. */
uint64_t net_conn_remote_id(const net_conn *c);
/* Bytes queued for sending and not yet handed to the kernel (backpressure). */
size_t net_conn_output_pending(const net_conn *c);

typedef struct net_conn_stats {
    uint64_t bytes_in, bytes_out;   /* TLS plaintext bytes incl. frame headers */
    uint64_t frames_in, frames_out; /* frames incl. control frames */
    uint64_t packets_in, packets_out;
    uint64_t queries_in, queries_out;
    uint64_t pings_out, pongs_in;
    double created_at; /* cc_now_mono() at creation */
    double ready_at;   /* cc_now_mono() when ready, 0 before */
} net_conn_stats;
void net_conn_get_stats(const net_conn *c, net_conn_stats *out);
/* One line for logs, e.g. "out 127.0.0.1:11001 id=5f51d822b704ff67 ready";
 * borrowed, valid until the next call for the same connection. */
const char *net_conn_describe(net_conn *c);

/* ------------------------------------------------------------- listener */

typedef struct net_listen_config {
    const char
        *host;     /* address to bind: "127.0.0.1", "0.0.0.0", "::", "localhost" (NULL = 0.0.0.0) */
    uint16_t port; /* 0 = any free port (read it with net_listener_port) */
    int pow_difficulty;
    net_tls_identity identity;
    net_verify verify;
    net_timeouts timeouts;
    /* Admission before cost: connections still in PoW/TLS at once (0 = 1024).
     * At the limit, a new connection evicts the oldest one that has not solved
     * its proof of work yet (idle sockets cannot crowd out a peer that works);
     * only when every slot has solved it is the newcomer refused. */
    unsigned max_handshaking;
    /* From one IP address at once (0 = 64); at it, a newcomer from that
     * address evicts its oldest one that has not solved its proof of work. */
    unsigned max_handshaking_per_addr;
    double pow_timeout; /* seconds to answer the challenge (0 = 10, at most the handshake's) */
    /* Extra PoW bits asked as the handshaking slots fill (in all, or the
     * newcomer's address's own, whichever is fuller): none below half full,
     * rising to this many when full (0 = 4; -1 = never; the total stays
     * within NET_POW_MAX_DIFFICULTY). */
    int pow_load_bits;
    size_t max_output; /* per connection, see net_connect_config (0 = 64 MiB) */
    /* A new connection is ready: set its callbacks with net_conn_set_callbacks().
     * The caller owns it from now on (it may also net_conn_close() it). */
    void (*on_accept)(net_listener *l, net_conn *c, void *ud);
    void *ud;
} net_listen_config;

net_listener *net_listen(struct event_base *base, const net_listen_config *cfg, cc_err *err);
uint16_t net_listener_port(const net_listener *l);
/* Replaces the identity presented by connections accepted from now on (e.g. a
 * rotated RA-TLS certificate, tee_identity_rotate); existing connections keep
 * theirs. Borrowed like the one in net_listen_config. */
int net_listener_set_identity(net_listener *l, const net_tls_identity *id, cc_err *err);
/* Stops listening and drops connections still handshaking; connections already
 * handed over in on_accept stay alive. */
void net_listener_free(net_listener *l);

/* ------------------------------------------------------------ connector */

typedef struct net_connect_config {
    const char *host; /* numeric address or name (resolved with getaddrinfo, blocking) */
    uint16_t port;
    int max_pow_difficulty; /* refuse harder challenges; 0 = 28 (never above 28) */
    net_tls_identity identity;
    net_verify verify;
    net_timeouts timeouts;
    /* A peer that stops reading must not make us buffer without bound: a send
     * that would queue more than this fails (cc_err code NET_ERR_FAILURE) and
     * the connection is closed from the loop right after (on_close).
     * 0 = 64 MiB. */
    size_t max_output;
    net_conn_callbacks cbs;
    void *ud;
} net_connect_config;

/* Starts one connection attempt.  Returns the connection (not yet ready) or NULL
 * when it could not even start (bad address, socket error).  Success is
 * reported by cbs.on_ready, failure at any later step by cbs.on_close. */
net_conn *net_connect(struct event_base *base, const net_connect_config *cfg, cc_err *err);

/* Exponential backoff for reconnects: delays grow from `initial` by x2 up to
 * `max`, each with ±20% jitter; reset after a successful connection. */
typedef struct net_backoff {
    double initial, max, current;
} net_backoff;
void net_backoff_init(net_backoff *b, double initial_s, double max_s);
double net_backoff_next(net_backoff *b); /* the next delay in seconds */
void net_backoff_reset(net_backoff *b);

/* ------------------------------------------------ per-stream flow control */

/* Credit-based flow control for one answer stream on a shared link (cocoon
 * extension, docs/net.md "Flow control"). The receiver of a stream's answer
 * parts grants the sender credit in bytes and grants more as its own
 * consumer drains what it received; the sender sends a part only within its
 * credit. Only the `answer` bytes of answer *parts* count; heads, errors,
 * receipts and final info are small and exempt. Pure bookkeeping: the
 * daemons send the grants (client.streamCredit, proxy.streamCredit). */
#define NET_FLOW_WINDOW_DEFAULT ((int64_t)256 << 10)
#define NET_FLOW_WINDOW_MIN ((int64_t)64 << 10)
#define NET_FLOW_WINDOW_MAX ((int64_t)64 << 20)
/* A single grant above this is refused as garbage (no window is larger). */
#define NET_FLOW_GRANT_MAX NET_FLOW_WINDOW_MAX

/* The sending side: how much it may still send. Never negative. */
typedef struct net_flow_tx {
    int64_t credit;
} net_flow_tx;

/* Adds a grant from the peer. Refuses (-1, NET_ERR_PROTOCOL) a grant <= 0,
 * above NET_FLOW_GRANT_MAX, or one that would lift the credit above
 * NET_FLOW_WINDOW_MAX (a peer returning more than it was ever sent). */
int net_flow_tx_grant(net_flow_tx *f, int64_t bytes, cc_err *err);
/* Bytes that may go now (the credit). */
int64_t net_flow_tx_avail(const net_flow_tx *f);
/* Records n bytes sent; n must be <= the credit (a bug otherwise: the
 * credit is clamped at 0 and -1 returned). */
int net_flow_tx_spend(net_flow_tx *f, size_t n);

/* The receiving side of one stream. Invariant:
 * avail + held + owed == window, each >= 0, where avail is the peer's
 * credit as we granted it, held what we received and our consumer has not
 * taken yet, owed what it took and we have not granted back yet. */
typedef struct net_flow_rx {
    int64_t window;
    int64_t avail;
    int64_t held;
    int64_t owed;
} net_flow_rx;

/* Starts with the whole window granted (send it as the initial grant). The
 * window is clamped to [NET_FLOW_WINDOW_MIN, NET_FLOW_WINDOW_MAX]. */
void net_flow_rx_init(net_flow_rx *f, int64_t window);
/* n bytes arrived. Refuses (-1, NET_ERR_PROTOCOL, "sent N bytes over its
 * window") when they exceed what was granted; nothing is recorded then. */
int net_flow_rx_receive(net_flow_rx *f, size_t n, cc_err *err);
/* Our consumer took n of the held bytes (n is clamped to what is held).
 * Returns the grant to send now (> 0), or 0 while the bytes owed back are
 * below a quarter of the window (so grants go out in batches, not one per
 * part). */
int64_t net_flow_rx_consumed(net_flow_rx *f, size_t n);
/* Everything owed back, to grant now (0 when nothing). */
int64_t net_flow_rx_flush(net_flow_rx *f);
/* Our consumer took every held byte at once (a caller's socket drained):
 * returns the whole grant to send now, whatever its size. */
int64_t net_flow_rx_release(net_flow_rx *f);

/* ------------------------------------------------ wire level (tests, fuzz) */

#define NET_POW_SERVER_MAGIC 0x418e1291u
#define NET_POW_CLIENT_MAGIC 0x01827319u
#define NET_POW_CHALLENGE_LEN 24
#define NET_POW_ANSWER_LEN 12
#define NET_POW_SALT_LEN 16
#define NET_POW_MAX_DIFFICULTY 28

/* Leading zero bits of the first 8 bytes of a hash read as a little-endian u64
 * (so the count starts at the top bit of hash[7]); 0..64. */
int net_pow_leading_zeros(const uint8_t hash[32]);
/* True iff SHA-256(salt ‖ nonce as 8 LE bytes) has >= difficulty leading zeros. */
bool net_pow_check(const uint8_t salt[NET_POW_SALT_LEN], int difficulty, int64_t nonce);
/* Finds a nonce, trying at most `max_tries` candidates from *nonce upward.
 * Returns 1 and leaves the answer in *nonce, or 0 with *nonce advanced past the
 * tried range (call again to continue: lets a caller solve in slices). */
int net_pow_search(const uint8_t salt[NET_POW_SALT_LEN], int difficulty, int64_t *nonce,
                   uint64_t max_tries);
/* Builds the server's challenge with a fresh random salt (copied to salt_out). */
void net_pow_make_challenge(uint8_t out[NET_POW_CHALLENGE_LEN], int difficulty,
                            uint8_t salt_out[NET_POW_SALT_LEN]);
/* Parses a challenge; rejects a bad magic, difficulty < 0 or > max_difficulty
 * (max_difficulty itself is capped at NET_POW_MAX_DIFFICULTY). */
int net_pow_parse_challenge(const uint8_t in[NET_POW_CHALLENGE_LEN], int max_difficulty,
                            int *difficulty, uint8_t salt[NET_POW_SALT_LEN], cc_err *err);
void net_pow_make_answer(uint8_t out[NET_POW_ANSWER_LEN], int64_t nonce);
/* Parses a client answer; rejects a bad magic. */
int net_pow_parse_answer(const uint8_t in[NET_POW_ANSWER_LEN], int64_t *nonce, cc_err *err);

#define NET_FRAME_HEADER_LEN 8
#define NET_FRAME_MIN_LEN 4u
#define NET_FRAME_MAX_LEN (1u << 24)

/* Checks a frame header `u32le len ‖ i32le seqno`: 4 <= len <= 2^24 and seqno
 * == expected_seqno.  Stores len. */
int net_frame_check_header(const uint8_t hdr[NET_FRAME_HEADER_LEN], int32_t expected_seqno,
                           uint32_t *len_out, cc_err *err);

/* Incremental deframer over an evbuffer (what a connection uses on its TLS
 * input).  net_deframer_next() returns 1 with a pointer to the next whole frame
 * payload (contiguous, valid until net_deframer_consume()), 0 when more bytes are
 * needed, -1 on a protocol violation (err->code = NET_ERR_PROTOCOL). */
typedef struct net_deframer {
    int32_t seqno;        /* next expected */
    uint32_t current_len; /* length of the frame returned by next(), 0 if none */
} net_deframer;
void net_deframer_init(net_deframer *d);
int net_deframer_next(net_deframer *d, struct evbuffer *in, const uint8_t **payload, size_t *len,
                      cc_err *err);
void net_deframer_consume(net_deframer *d, struct evbuffer *in);
/* The same over the n bytes at `data` (a connection's flat input queue):
 * net_deframer_take() then returns how many bytes the frame returned by
 * next_mem() took, for the caller to drop. */
int net_deframer_next_mem(net_deframer *d, const uint8_t *data, size_t n, const uint8_t **payload,
                          size_t *len, cc_err *err);
size_t net_deframer_take(net_deframer *d);

#endif
