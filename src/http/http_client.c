/*
 * Outbound HTTP/1.1 client on the caller's libevent loop (http.h, "outbound
 * client"). It replaced libcurl on the worker→backend hop, where curl cost a
 * few poll() calls per request and a copy per header line.
 *
 * Shape:
 *  - a request is parsed and serialised once in http_client_start (head and
 *    body in one buffer, so it goes out with one send) and queued; requests
 *    are handed to connections at once (so a burst's first requests reach
 *    the server while the caller still handles the rest) and again from a
 *    deferred event when slots free; handing over calls back nobody, so no
 *    callback ever fires from inside http_client_start;
 *  - connections are pooled per (scheme, host, port) and kept alive; one is
 *    reused only after a complete response with no bytes after it and no
 *    "Connection: close". The total open is capped by max_connections (idle
 *    connections of other hosts are closed to make room), the per-host count
 *    by max_host_connections, and the connections being opened (resolving,
 *    connecting, TLS handshake) by max_connecting: a burst of requests then
 *    dials a few connections per loop turn instead of all at once, so a
 *    server with a short listen queue is not sent more SYNs than it can
 *    queue (the kernel drops the rest and they come back only with the
 *    SYN retransmit, a second or more later). The requests beyond it wait in
 *    the pending FIFO, in order;
 *  - connect is non-blocking; numeric hosts go straight to connect(), names
 *    are resolved with evdns (asynchronous, on the loop, reading resolv.conf
 *    and /etc/hosts) and the answer is cached per pool for a minute, so the
 *    hot path never resolves;
 *  - each read wakeup does one recv (or SSL_read, plus whatever TLS already
 *    decrypted) into the connection's buffer; the head is parsed in place
 *    (http_resp.c) and body bytes go to on_body straight from that buffer;
 *  - https verifies the server's certificate against the system CA store and
 *    the URL's host name (or IP), and sends SNI for names.
 *
 * Failures that happen while the client is arranging work (connect refused at
 * once, a synchronous DNS answer, a send error) are reported through the
 * connection's timer made active, so callbacks always come from the loop.
 *
 * A request that fails on a reused connection before any response byte came
 * back (the server closed the idle connection as we sent) is retried once on
 * a fresh connection, as browsers and curl do.
 */
#include "http.h"
#include "http_resp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define HC_BUF 16384      /* read buffer; grows for a long head */
#define HC_MAX_HEAD 65536 /* status line + header fields */
#define HC_DNS_TTL 60.0   /* seconds a resolved address is reused */
#define HC_DEFAULT_CONNS 256
#define HC_DEFAULT_CONNECTING 32
/* Addresses kept per host name: "localhost" is often ::1 and 127.0.0.1, and a server may listen
 * on only one of them. */
#define HC_MAX_ADDRS 4

typedef struct hc_pool hc_pool;
typedef struct hc_conn hc_conn;

enum { CONN_RESOLVING, CONN_CONNECTING, CONN_HANDSHAKE, CONN_IDLE, CONN_BUSY };
enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };

struct hc_pool {
    char *host; /* as in the URL, without brackets */
    int port;
    bool tls;
    bool numeric;
    struct sockaddr_storage addr[HC_MAX_ADDRS];
    socklen_t addrlen[HC_MAX_ADDRS];
    int n_addrs;
    int preferred;      /* the address that last accepted a connection */
    double resolved_at; /* 0 = not resolved */
    cc_list idle;       /* of hc_conn; most recently used first */
    size_t n_open;
    hc_pool *next;
};

struct hc_conn {
    http_client *c;
    hc_pool *pool;
    int state;
    evutil_socket_t fd;
    SSL *ssl;
    struct event *ev_read, *ev_write; /* ev_write is added only while needed */
    struct event *timer;              /* connect timeout, or a deferred failure */
    struct evdns_getaddrinfo_request *dns;
    int addr_i;     /* the pool address being tried */
    int addr_tries; /* addresses tried before it */
    bool write_on;
    bool reused;    /* has carried a complete response before */
    bool opening;   /* counted in the client's n_connecting */
    char fail[256]; /* a failure waiting to be reported from the timer */
    int fail_result;
    http_client_req *req; /* the request it carries (or opens for) */
    uint8_t *buf;
    size_t len, cap;
    cc_list_node idle_node; /* in its pool's idle list */
    cc_list_node all_node;  /* in the client's conns */
};

struct http_client {
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *tls;
    struct event *deferred;
    hc_pool *pools;
    cc_list conns;   /* of hc_conn: all open connections */
    cc_list pending; /* FIFO of requests without a connection */
    size_t n_open;
    size_t n_active;
    size_t n_connecting; /* connections resolving, connecting or in their TLS handshake */
    int max_total, max_host, max_connecting;
    double connect_timeout;
    char *hosts_file;
    bool dispatching;
};

struct http_client_req {
    http_client *c;
    hc_pool *pool;
    hc_conn *conn;
    http_client_callbacks cb;
    void *ud;
    uint8_t *out; /* the serialised request */
    size_t out_len, out_off;
    bool head_request;
    struct event *timer; /* whole-request timeout, or NULL */
    bool in_cb;          /* inside on_head/on_body: cancel only marks */
    bool cancelled;      /* marked from inside a callback */
    bool finishing;      /* inside on_done */
    bool retried;
    bool got_bytes; /* any response byte arrived on this attempt */
    bool paused;    /* http_client_pause: its connection is not read */
    /* response state */
    bool head_done;
    size_t scanned;
    int body_mode;
    uint64_t body_left;
    bool close_after;
    http_resp_chunked chunked;
    cc_list_node node; /* in the pending FIFO */
};

static void dispatch(http_client *c);
static void conn_close(hc_conn *k);
static void conn_readable(hc_conn *k);
static void conn_writable(hc_conn *k);

/* ------------------------------------------------------------ pending */

static void pend_push(http_client *c, http_client_req *r, bool front)
{
    if (front)
        cc_list_push_front(&c->pending, &r->node);
    else
        cc_list_push_back(&c->pending, &r->node);
}

static void pend_remove(http_client *c, http_client_req *r)
{
    cc_list_remove(&c->pending, &r->node);
}

/* ------------------------------------------------------------ requests */

static void req_free(http_client_req *r)
{
    if (r->timer) event_free(r->timer);
    free(r->out);
    free(r);
}

/* Ends a request: detaches it from its connection (closing that unless the
 * response completed and it may be reused), reports, frees. */
static void req_finish(http_client_req *r, http_client_result res, const char *why)
{
    http_client *c = r->c;
    pend_remove(c, r);
    if (r->conn) {
        hc_conn *k = r->conn;
        k->req = NULL;
        r->conn = NULL;
        /* Reused only after a complete exchange with nothing left over on
         * either side (a server may answer before reading all we send). */
        if (res != HTTP_CLIENT_OK || r->close_after || k->len || r->out_off < r->out_len) {
            conn_close(k);
        } else {
            /* Idle connections are read again: a server closing one is noticed. */
            if (r->paused && k->ev_read) event_add(k->ev_read, NULL);
            k->state = CONN_IDLE;
            k->reused = true;
            cc_list_push_front(&k->pool->idle, &k->idle_node);
        }
    }
    c->n_active--;
    r->finishing = true;
    if (r->cb.on_done) r->cb.on_done(r->ud, res, res == HTTP_CLIENT_OK ? NULL : why);
    req_free(r);
    dispatch(c);
}

/* A failure of the connection carrying r: retried once on a fresh connection
 * when a reused one broke before any answer (a keep-alive race), else final. */
static void req_conn_failed(http_client_req *r, hc_conn *k, http_client_result res, const char *why)
{
    if (k->reused && !r->got_bytes && !r->retried && res != HTTP_CLIENT_ERR_TIMEOUT) {
        k->req = NULL;
        r->conn = NULL;
        conn_close(k);
        r->retried = true;
        r->out_off = 0;
        pend_push(r->c, r, true);
        dispatch(r->c);
        return;
    }
    req_finish(r, res, why);
}

static void req_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    http_client_req *r = arg;
    req_finish(r, HTTP_CLIENT_ERR_TIMEOUT, "request timed out");
}

/* --------------------------------------------------------- connections */

/* The connection is open (or gone): it no longer counts against max_connecting. Every caller
 * dispatches afterwards, or lets the deferred event do it. */
static void conn_opened(hc_conn *k)
{
    if (!k->opening) return;
    k->opening = false;
    k->c->n_connecting--;
}

static void conn_close(hc_conn *k)
{
    http_client *c = k->c;
    conn_opened(k);
    cc_list_remove(&k->pool->idle, &k->idle_node);
    if (k->dns) evdns_getaddrinfo_cancel(k->dns); /* its callback frees nothing of ours */
    if (k->ev_read) event_free(k->ev_read);
    if (k->ev_write) event_free(k->ev_write);
    event_free(k->timer);
    if (k->ssl) SSL_free(k->ssl);
    if (k->fd >= 0) evutil_closesocket(k->fd);
    free(k->buf);
    cc_list_remove(&c->conns, &k->all_node);
    k->pool->n_open--;
    c->n_open--;
    free(k);
}

/* Reports a failure from the loop rather than from the current call. */
static void conn_fail_later(hc_conn *k, http_client_result res, const char *msg)
{
    if (k->fail[0]) return;
    snprintf(k->fail, sizeof(k->fail), "%s", msg);
    k->fail_result = res;
    event_active(k->timer, EV_TIMEOUT, 0);
}

static void conn_fail(hc_conn *k, http_client_result res, const char *msg)
{
    http_client_req *r = k->req;
    if (!r) {
        conn_close(k);
        dispatch(k->c);
        return;
    }
    req_conn_failed(r, k, res, msg);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    hc_conn *k = arg;
    if (k->fail[0]) {
        char msg[256];
        memcpy(msg, k->fail, sizeof(msg));
        conn_fail(k, k->fail_result, msg);
        return;
    }
    char msg[96];
    snprintf(msg, sizeof(msg), "connect to %s:%d timed out after %.3g s", k->pool->host,
             k->pool->port, k->c->connect_timeout);
    conn_fail(k, HTTP_CLIENT_ERR_TIMEOUT, msg);
}

static void want_write(hc_conn *k, bool on)
{
    if (on == k->write_on) return;
    k->write_on = on;
    if (on)
        event_add(k->ev_write, NULL);
    else
        event_del(k->ev_write);
}

static void conn_event_cb(evutil_socket_t fd, short what, void *arg)
{
    hc_conn *k = arg;
    if (k->fail[0]) return; /* reported from the timer */
    if (what & EV_WRITE)
        conn_writable(k);
    else
        conn_readable(k);
}

static const char *ssl_error_text(hc_conn *k, char *buf, size_t n)
{
    long v = k->ssl ? SSL_get_verify_result(k->ssl) : X509_V_OK;
    unsigned long e = ERR_peek_last_error();
    if (v != X509_V_OK)
        snprintf(buf, n, "TLS certificate of %s not accepted: %s", k->pool->host,
                 X509_verify_cert_error_string(v));
    else if (e)
        snprintf(buf, n, "TLS with %s failed: %s", k->pool->host, ERR_reason_error_string(e));
    else
        snprintf(buf, n, "TLS with %s failed: %s", k->pool->host,
                 errno ? strerror(errno) : "connection closed");
    ERR_clear_error();
    return buf;
}

/* Sends what is left of the request (one send in the common case). */
static void conn_send(hc_conn *k)
{
    http_client_req *r = k->req;
    while (r->out_off < r->out_len) {
        ssize_t n;
        const uint8_t *p = r->out + r->out_off;
        size_t left = r->out_len - r->out_off;
        if (k->ssl) {
            ERR_clear_error();
            int m = SSL_write(k->ssl, p, (int)CC_MIN(left, (size_t)1 << 30));
            if (m <= 0) {
                int e = SSL_get_error(k->ssl, m);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    want_write(k, e == SSL_ERROR_WANT_WRITE);
                    return;
                }
                char buf[256];
                conn_fail_later(k, HTTP_CLIENT_ERR_CONNECT, ssl_error_text(k, buf, sizeof(buf)));
                return;
            }
            n = m;
        } else {
            n = send(k->fd, p, left, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                    want_write(k, true);
                    return;
                }
                char buf[160];
                snprintf(buf, sizeof(buf), "send to %s:%d: %s", k->pool->host, k->pool->port,
                         strerror(errno));
                conn_fail_later(k, HTTP_CLIENT_ERR_CONNECT, buf);
                return;
            }
        }
        r->out_off += (size_t)n;
    }
    want_write(k, false);
}

static void conn_ready(hc_conn *k)
{
    event_del(k->timer); /* the connect timeout */
    conn_opened(k);
    /* A request waiting for a connection slot may go now; dispatched from the loop, as
     * http_client_start does, so this call chain stays short. */
    if (!cc_list_empty(&k->c->pending)) event_active(k->c->deferred, EV_TIMEOUT, 0);
    k->state = CONN_BUSY;
    conn_send(k);
}

static void tls_handshake(hc_conn *k)
{
    ERR_clear_error();
    int rc = SSL_connect(k->ssl);
    if (rc == 1) {
        conn_ready(k);
        return;
    }
    int e = SSL_get_error(k->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        want_write(k, e == SSL_ERROR_WANT_WRITE);
        return;
    }
    char buf[256];
    conn_fail(k, HTTP_CLIENT_ERR_CONNECT, ssl_error_text(k, buf, sizeof(buf)));
}

static int tls_start(hc_conn *k)
{
    http_client *c = k->c;
    if (!c->tls) {
        c->tls = SSL_CTX_new(TLS_client_method());
        if (!c->tls) return -1;
        SSL_CTX_set_min_proto_version(c->tls, TLS1_2_VERSION);
        SSL_CTX_set_verify(c->tls, SSL_VERIFY_PEER, NULL);
        if (SSL_CTX_set_default_verify_paths(c->tls) != 1) return -1;
        SSL_CTX_set_mode(c->tls, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                     SSL_MODE_RELEASE_BUFFERS);
        SSL_CTX_set_options(c->tls, SSL_OP_IGNORE_UNEXPECTED_EOF);
    }
    k->ssl = SSL_new(c->tls);
    if (!k->ssl || SSL_set_fd(k->ssl, k->fd) != 1) return -1;
    if (k->pool->numeric) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(k->ssl), k->pool->host) != 1) return -1;
    } else {
        if (SSL_set_tlsext_host_name(k->ssl, k->pool->host) != 1) return -1;
        if (SSL_set1_host(k->ssl, k->pool->host) != 1) return -1;
    }
    k->state = CONN_HANDSHAKE;
    return 0;
}

static void conn_connect(hc_conn *k);

/* The connection to one address failed before anything was sent: drop its socket and dial the
 * pool's next address, if one is left untried. */
static bool try_next_addr(hc_conn *k)
{
    hc_pool *p = k->pool;
    if (k->addr_tries + 1 >= p->n_addrs) return false;
    if (k->ev_read) event_free(k->ev_read);
    if (k->ev_write) event_free(k->ev_write);
    k->ev_read = k->ev_write = NULL;
    k->write_on = false;
    if (k->fd >= 0) evutil_closesocket(k->fd);
    k->fd = -1;
    k->addr_tries++;
    k->addr_i = (k->addr_i + 1) % p->n_addrs;
    conn_connect(k);
    return true;
}

static void conn_connected(hc_conn *k)
{
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) soerr = errno;
    if (soerr) {
        if (try_next_addr(k)) return;
        char buf[160];
        snprintf(buf, sizeof(buf), "connect to %s:%d: %s", k->pool->host, k->pool->port,
                 strerror(soerr));
        conn_fail(k, HTTP_CLIENT_ERR_CONNECT, buf);
        return;
    }
    k->pool->preferred = k->addr_i;
    if (k->pool->tls) {
        if (tls_start(k) < 0) {
            char buf[256];
            conn_fail(k, HTTP_CLIENT_ERR_CONNECT, ssl_error_text(k, buf, sizeof(buf)));
            return;
        }
        tls_handshake(k);
        return;
    }
    conn_ready(k);
}

/* Opens the socket and starts connecting to the pool's resolved address. */
static void conn_connect(hc_conn *k)
{
    hc_pool *p = k->pool;
    char buf[160];
    const struct sockaddr_storage *addr = &p->addr[k->addr_i];
    k->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (k->fd < 0) {
        snprintf(buf, sizeof(buf), "socket: %s", strerror(errno));
        conn_fail_later(k, HTTP_CLIENT_ERR_CONNECT, buf);
        return;
    }
    int one = 1;
    setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    k->ev_read = event_new(k->c->base, k->fd, EV_READ | EV_PERSIST, conn_event_cb, k);
    k->ev_write = event_new(k->c->base, k->fd, EV_WRITE | EV_PERSIST, conn_event_cb, k);
    k->state = CONN_CONNECTING;
    if (connect(k->fd, (const struct sockaddr *)addr, p->addrlen[k->addr_i]) < 0 &&
        errno != EINPROGRESS) {
        int e = errno;
        if (try_next_addr(k)) return;
        snprintf(buf, sizeof(buf), "connect to %s:%d: %s", p->host, p->port, strerror(e));
        conn_fail_later(k, HTTP_CLIENT_ERR_CONNECT, buf);
        return;
    }
    event_add(k->ev_read, NULL);
    /* On loopback the handshake has usually completed inside connect(): then the request goes
     * out now, and the connection leaves the max_connecting count in this same dispatch pass
     * (so the cap holds back only connects whose SYN is really unanswered), without a wakeup for
     * writability. TLS still starts from the loop: its failures call back the user. */
    struct sockaddr_storage peer;
    socklen_t pl = sizeof(peer);
    if (!p->tls && getpeername(k->fd, (struct sockaddr *)&peer, &pl) == 0) {
        p->preferred = k->addr_i;
        conn_ready(k);
        return;
    }
    want_write(k, true);
}

static void dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    hc_conn *k = arg;
    /* A cancelled lookup is reported after its connection was freed. */
    if (result == EVUTIL_EAI_CANCEL) return;
    k->dns = NULL;
    if (result != 0 || !res) {
        char buf[200];
        snprintf(buf, sizeof(buf), "cannot resolve %s: %s", k->pool->host,
                 evutil_gai_strerror(result));
        conn_fail_later(k, HTTP_CLIENT_ERR_CONNECT, buf);
        if (res) evutil_freeaddrinfo(res);
        return;
    }
    hc_pool *p = k->pool;
    p->n_addrs = 0;
    for (struct evutil_addrinfo *a = res; a && p->n_addrs < HC_MAX_ADDRS; a = a->ai_next) {
        if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
            a->ai_addrlen > sizeof(p->addr[0]))
            continue;
        memcpy(&p->addr[p->n_addrs], a->ai_addr, a->ai_addrlen);
        p->addrlen[p->n_addrs] = (socklen_t)a->ai_addrlen;
        /* sin_port and sin6_port sit at the same offset */
        ((struct sockaddr_in *)&p->addr[p->n_addrs])->sin_port = htons((uint16_t)p->port);
        p->n_addrs++;
    }
    evutil_freeaddrinfo(res);
    if (!p->n_addrs) {
        char buf[200];
        snprintf(buf, sizeof(buf), "cannot resolve %s: no IPv4 or IPv6 address", p->host);
        conn_fail_later(k, HTTP_CLIENT_ERR_CONNECT, buf);
        return;
    }
    p->preferred = 0;
    p->resolved_at = cc_now_mono();
    k->addr_i = 0;
    conn_connect(k);
}

static hc_conn *conn_open(http_client *c, hc_pool *p, http_client_req *r)
{
    hc_conn *k = cc_calloc(1, sizeof(*k));
    k->c = c;
    k->pool = p;
    k->fd = -1;
    k->req = r;
    r->conn = k;
    k->timer = evtimer_new(c->base, conn_timer_cb, k);
    struct timeval tv = cc_timeval(c->connect_timeout);
    event_add(k->timer, &tv);
    p->n_open++;
    c->n_open++;
    k->opening = true;
    c->n_connecting++;
    cc_list_push_back(&c->conns, &k->all_node);
    if (p->numeric || (p->resolved_at > 0 && cc_now_mono() - p->resolved_at < HC_DNS_TTL)) {
        k->addr_i = p->preferred;
        conn_connect(k);
        return k;
    }
    if (!c->dns) {
        c->dns = evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        if (c->dns && c->hosts_file) evdns_base_load_hosts(c->dns, c->hosts_file);
    }
    if (!c->dns) {
        conn_fail_later(k, HTTP_CLIENT_ERR_CONNECT, "no DNS resolver (resolv.conf unreadable?)");
        return k;
    }
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    k->state = CONN_RESOLVING;
    /* The callback may run before this returns (hosts file): it then only
     * connects or schedules a failure, never calls back the user. */
    k->dns = evdns_getaddrinfo(c->dns, p->host, NULL, &hints, dns_cb, k); /* NULL if answered */
    return k;
}

/* ------------------------------------------------------------ responses */

static bool deliver(http_client_req *r, const uint8_t *d, size_t n)
{
    if (!n || !r->cb.on_body) return true;
    r->in_cb = true;
    r->cb.on_body(r->ud, d, n);
    r->in_cb = false;
    return !r->cancelled;
}

/* Drops a request cancelled from inside its own callback, with its connection. */
static void req_drop_cancelled(http_client_req *r)
{
    http_client *c = r->c;
    hc_conn *k = r->conn;
    if (k) {
        k->req = NULL;
        conn_close(k);
    }
    req_free(r);
    dispatch(c);
}

/* Parses the head in the buffer. Returns 1 when done (body follows), 0 when
 * more is needed, -1 when r is gone (finished, failed or cancelled). */
static int take_head(hc_conn *k, http_client_req *r)
{
    for (;;) {
        http_resp_head h;
        char err[160];
        int n = http_resp_head_parse((char *)k->buf, k->len, HC_MAX_HEAD, &r->scanned, &h, err,
                                     sizeof(err));
        if (n == 0) {
            if (k->len == k->cap) {
                k->cap = CC_MIN(k->cap * 2, (size_t)HC_MAX_HEAD);
                k->buf = cc_realloc(k->buf, k->cap);
            }
            return 0;
        }
        if (n < 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "bad response from %s:%d: %s", k->pool->host, k->pool->port,
                     err);
            req_finish(r, HTTP_CLIENT_ERR_IO, msg);
            return -1;
        }
        r->scanned = 0;
        if (h.status < 200 && h.status != 101) { /* interim: the real answer follows */
            k->len -= (size_t)n;
            memmove(k->buf, k->buf + n, k->len);
            continue;
        }
        if (h.status == 101) {
            req_finish(r, HTTP_CLIENT_ERR_IO, "server switched protocols (101), not supported");
            return -1;
        }
        r->head_done = true;
        r->close_after = h.close;
        if (r->head_request || h.status == 204 || h.status == 304) {
            r->body_mode = BODY_NONE;
        } else if (h.chunked) {
            r->body_mode = BODY_CHUNKED;
            http_resp_chunked_init(&r->chunked);
        } else if (h.content_length >= 0) {
            r->body_mode = h.content_length ? BODY_LENGTH : BODY_NONE;
            r->body_left = (uint64_t)h.content_length;
        } else {
            r->body_mode = BODY_CLOSE;
            r->close_after = true;
        }
        int rc = 0;
        if (r->cb.on_head) {
            r->in_cb = true;
            rc = r->cb.on_head(r->ud, h.status, h.headers, h.n_headers);
            r->in_cb = false;
        }
        if (r->cancelled) {
            req_drop_cancelled(r);
            return -1;
        }
        k->len -= (size_t)n;
        memmove(k->buf, k->buf + n, k->len);
        if (rc < 0) {
            req_finish(r, HTTP_CLIENT_ERR_ABORTED, "aborted by the caller");
            return -1;
        }
        return 1;
    }
}

/* Hands body bytes in the buffer to on_body. Returns 1 when the response is
 * complete (bytes after it stay in the buffer), 0 when more is needed, -1
 * when r is gone. */
static int take_body(hc_conn *k, http_client_req *r)
{
    size_t off = 0;
    int done = 0;
    switch (r->body_mode) {
    case BODY_NONE:
        done = 1;
        break;
    case BODY_LENGTH: {
        size_t n = (size_t)CC_MIN((uint64_t)k->len, r->body_left);
        r->body_left -= n;
        off = n;
        if (!deliver(r, k->buf, n)) {
            req_drop_cancelled(r);
            return -1;
        }
        done = r->body_left == 0;
        break;
    }
    case BODY_CHUNKED:
        while (off < k->len && !done) {
            size_t used, dlen;
            const uint8_t *d;
            const char *err = NULL;
            int rc = http_resp_chunked_step(&r->chunked, k->buf + off, k->len - off, &used, &d,
                                            &dlen, &err);
            if (rc < 0) {
                char msg[200];
                snprintf(msg, sizeof(msg), "bad chunked body from %s:%d: %s", k->pool->host,
                         k->pool->port, err);
                req_finish(r, HTTP_CLIENT_ERR_IO, msg);
                return -1;
            }
            off += used;
            if (!deliver(r, d, dlen)) {
                req_drop_cancelled(r);
                return -1;
            }
            done = rc;
        }
        break;
    default: /* BODY_CLOSE: everything until EOF */
        off = k->len;
        if (!deliver(r, k->buf, k->len)) {
            req_drop_cancelled(r);
            return -1;
        }
        break;
    }
    k->len -= off;
    if (k->len) memmove(k->buf, k->buf + off, k->len);
    return done;
}

static void conn_process(hc_conn *k, http_client_req *r)
{
    if (!r->head_done) {
        int rc = take_head(k, r);
        if (rc <= 0) return;
    }
    int rc = take_body(k, r);
    if (rc == 1) req_finish(r, HTTP_CLIENT_OK, NULL);
}

/* One read per wakeup; TLS may hold more already decrypted, which no socket
 * event would announce, so that is drained too. */
static ssize_t conn_read(hc_conn *k, char *why, size_t whylen)
{
    if (k->len == k->cap) {
        if (k->cap >= HC_MAX_HEAD * 4) return -2; /* cannot happen: the buffer drains */
        k->cap *= 2;
        k->buf = cc_realloc(k->buf, k->cap);
    }
    if (!k->ssl) {
        ssize_t n = recv(k->fd, k->buf + k->len, k->cap - k->len, 0);
        if (n > 0) return n;
        if (n == 0) return 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return -1;
        snprintf(why, whylen, "recv from %s:%d: %s", k->pool->host, k->pool->port, strerror(errno));
        return -2;
    }
    size_t total = 0;
    do {
        ERR_clear_error();
        int n = SSL_read(k->ssl, k->buf + k->len + total, (int)(k->cap - k->len - total));
        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        int e = SSL_get_error(k->ssl, n);
        if (total) break;
        if (e == SSL_ERROR_WANT_READ) return -1;
        if (e == SSL_ERROR_WANT_WRITE) {
            want_write(k, true);
            return -1;
        }
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        ssl_error_text(k, why, whylen);
        return -2;
    } while (k->len + total < k->cap && SSL_pending(k->ssl) > 0);
    return (ssize_t)total;
}

static void conn_readable(hc_conn *k)
{
    if (k->state == CONN_CONNECTING) {
        conn_connected(k);
        return;
    }
    if (k->state == CONN_HANDSHAKE) {
        tls_handshake(k);
        return;
    }
    if (k->req && k->req->paused && k->state == CONN_BUSY) {
        event_del(k->ev_read); /* paused before it had this connection */
        return;
    }
    char why[256] = "";
    if (!k->buf) {
        k->cap = HC_BUF;
        k->buf = cc_malloc(k->cap);
    }
    ssize_t n = conn_read(k, why, sizeof(why));
    if (n == -1) return;
    http_client_req *r = k->req;
    if (k->state == CONN_IDLE || !r) {
        /* An idle connection that speaks or ends is of no further use. */
        http_client *c = k->c;
        conn_close(k);
        dispatch(c);
        return;
    }
    if (n == -2) {
        req_conn_failed(r, k, HTTP_CLIENT_ERR_IO, why);
        return;
    }
    if (n == 0) {
        if (r->head_done && r->body_mode == BODY_CLOSE) {
            req_finish(r, HTTP_CLIENT_OK, NULL);
            return;
        }
        char msg[200];
        if (!r->head_done)
            snprintf(msg, sizeof(msg), "%s:%d closed the connection before the response head",
                     k->pool->host, k->pool->port);
        else
            snprintf(msg, sizeof(msg), "%s:%d closed the connection in the middle of the body",
                     k->pool->host, k->pool->port);
        req_conn_failed(r, k, HTTP_CLIENT_ERR_IO, msg);
        return;
    }
    r->got_bytes = true;
    k->len += (size_t)n;
    conn_process(k, r);
}

static void conn_writable(hc_conn *k)
{
    if (k->state == CONN_CONNECTING) {
        conn_connected(k);
        return;
    }
    if (k->state == CONN_HANDSHAKE) {
        tls_handshake(k);
        return;
    }
    if (k->req && k->req->out_off < k->req->out_len) {
        conn_send(k);
        return;
    }
    want_write(k, false);
    if (k->ssl) conn_readable(k); /* SSL_read wanted to write */
}

/* ------------------------------------------------------------ dispatch */

static hc_conn *pool_take_idle(hc_pool *p)
{
    hc_conn *k = cc_list_first(hc_conn, &p->idle, idle_node);
    if (k) cc_list_remove(&p->idle, &k->idle_node);
    return k;
}

/* Closes an idle connection of some other pool to free a slot. */
static bool evict_idle(http_client *c)
{
    for (hc_pool *p = c->pools; p; p = p->next) {
        hc_conn *k = pool_take_idle(p);
        if (k) {
            k->state = CONN_BUSY; /* off the idle list already */
            conn_close(k);
            return true;
        }
    }
    return false;
}

/* Gives waiting requests connections. Never calls a user callback: failures
 * found here are reported from the loop (conn_fail_later). */
static void dispatch(http_client *c)
{
    if (c->dispatching || cc_list_empty(&c->pending)) return;
    c->dispatching = true;
    /* Only the current request leaves the list in the body (no user
     * callback runs here), as cc_list_foreach allows. */
    cc_list_foreach (http_client_req, r, &c->pending, node) {
        hc_pool *p = r->pool;
        hc_conn *k = pool_take_idle(p);
        if (k) {
            pend_remove(c, r);
            k->req = r;
            r->conn = k;
            k->state = CONN_BUSY;
            conn_send(k);
        } else if ((c->max_host <= 0 || p->n_open < (size_t)c->max_host) &&
                   c->n_connecting < (size_t)c->max_connecting) {
            if (c->n_open < (size_t)c->max_total || evict_idle(c)) {
                pend_remove(c, r);
                conn_open(c, p, r);
            }
        }
    }
    c->dispatching = false;
}

static void deferred_cb(evutil_socket_t fd, short what, void *arg)
{
    dispatch(arg);
}

/* ------------------------------------------------------------ URL */

typedef struct hc_url {
    bool tls;
    char host[256];
    int port;
    const char *target; /* path and query, borrowed from the URL */
    size_t target_len;
    bool default_port;
} hc_url;

static int parse_url(const char *url, hc_url *u, cc_err *err)
{
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
        u->tls = false;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        p = url + 8;
        u->tls = true;
    } else {
        return cc_err_set(err, "http_client: URL must start with http:// or https://: %s", url);
    }
    for (const char *q = url; *q; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f)
            return cc_err_set(err, "http_client: space or control byte in URL");
    const char *auth_end = p + strcspn(p, "/?#");
    const char *hs = p, *he;
    const char *port = NULL;
    if (memchr(p, '@', (size_t)(auth_end - p)))
        return cc_err_set(err, "http_client: user info in URLs is not supported");
    if (*p == '[') {
        he = memchr(p, ']', (size_t)(auth_end - p));
        if (!he) return cc_err_set(err, "http_client: unterminated [IPv6] host in URL");
        hs = p + 1;
        if (he + 1 < auth_end) {
            if (he[1] != ':') return cc_err_set(err, "http_client: junk after ] in URL");
            port = he + 2;
        }
    } else {
        he = memchr(p, ':', (size_t)(auth_end - p));
        if (he)
            port = he + 1;
        else
            he = auth_end;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= sizeof(u->host)) return cc_err_set(err, "http_client: bad host in URL");
    memcpy(u->host, hs, hl);
    u->host[hl] = '\0';
    u->port = u->tls ? 443 : 80;
    u->default_port = true;
    if (port) {
        long v = 0;
        if (port == auth_end) return cc_err_set(err, "http_client: empty port in URL");
        for (const char *q = port; q < auth_end; q++) {
            if (*q < '0' || *q > '9' || v > 65535)
                return cc_err_set(err, "http_client: bad port in URL");
            v = v * 10 + (*q - '0');
        }
        if (v < 1 || v > 65535) return cc_err_set(err, "http_client: bad port in URL");
        u->default_port = v == u->port;
        u->port = (int)v;
    }
    u->target = auth_end;
    u->target_len = strcspn(auth_end, "#");
    return 0;
}

static hc_pool *pool_get(http_client *c, const hc_url *u)
{
    for (hc_pool *p = c->pools; p; p = p->next)
        if (p->port == u->port && p->tls == u->tls && strcasecmp(p->host, u->host) == 0) return p;
    hc_pool *p = cc_calloc(1, sizeof(*p));
    p->host = cc_strdup(u->host);
    p->port = u->port;
    p->tls = u->tls;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&p->addr[0];
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&p->addr[0];
    if (inet_pton(AF_INET, u->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)u->port);
        p->addrlen[0] = sizeof(*a4);
        p->numeric = true;
        p->n_addrs = 1;
    } else if (inet_pton(AF_INET6, u->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)u->port);
        p->addrlen[0] = sizeof(*a6);
        p->numeric = true;
        p->n_addrs = 1;
    }
    p->next = c->pools;
    c->pools = p;
    return p;
}

/* ------------------------------------------------------------ public */

http_client *http_client_new(struct event_base *base, const http_client_config *cfg, cc_err *err)
{
    if (!base) {
        cc_err_set(err, "http_client_new: no event base");
        return NULL;
    }
    http_client *c = cc_calloc(1, sizeof(*c));
    c->base = base;
    c->deferred = event_new(base, -1, 0, deferred_cb, c);
    c->max_total = cfg && cfg->max_connections > 0 ? cfg->max_connections : HC_DEFAULT_CONNS;
    c->max_host = cfg ? cfg->max_host_connections : 0;
    c->max_connecting =
        cfg && cfg->max_connecting > 0 ? cfg->max_connecting : HC_DEFAULT_CONNECTING;
    c->connect_timeout = cfg && cfg->connect_timeout > 0 ? cfg->connect_timeout : 10;
    c->hosts_file = cfg && cfg->hosts_file ? cc_strdup(cfg->hosts_file) : NULL;
    return c;
}

void http_client_free(http_client *c)
{
    if (!c) return;
    cc_list_foreach (http_client_req, r, &c->pending, node) {
        pend_remove(c, r);
        req_free(r);
    }
    cc_list_foreach (hc_conn, k, &c->conns, all_node) {
        if (k->req) {
            k->req->conn = NULL;
            req_free(k->req);
            k->req = NULL;
        }
        conn_close(k);
    }
    hc_pool *p = c->pools;
    while (p) {
        hc_pool *n = p->next;
        free(p->host);
        free(p);
        p = n;
    }
    if (c->dns) evdns_base_free(c->dns, 1);
    free(c->hosts_file);
    if (c->tls) SSL_CTX_free(c->tls);
    event_free(c->deferred);
    free(c);
}

static bool header_ok(const http_header *h)
{
    if (!h->name || !h->value || !h->name[0] || strpbrk(h->name, "\r\n: \t") ||
        strpbrk(h->value, "\r\n"))
        return false; /* never let a header value inject another header */
    /* Framing is ours to write. */
    return strcasecmp(h->name, "content-length") != 0 &&
           strcasecmp(h->name, "transfer-encoding") != 0 && strcasecmp(h->name, "connection") != 0;
}

http_client_req *http_client_start(http_client *c, const http_client_request *req,
                                   const http_client_callbacks *cb, void *ud, cc_err *err)
{
    if (!req->url || !req->method || !req->method[0]) {
        cc_err_set(err, "http_client_start: url and method are required");
        return NULL;
    }
    for (const char *m = req->method; *m; m++)
        if (*m <= ' ' || *m >= 0x7f) {
            cc_err_set(err, "http_client_start: bad method");
            return NULL;
        }
    hc_url u;
    if (parse_url(req->url, &u, err) < 0) return NULL;
    cc_buf out = CC_BUF_INIT;
    cc_buf_reserve(&out, 256 + req->body_len);
    cc_buf_append_str(&out, req->method);
    cc_buf_append_u8(&out, ' ');
    if (u.target_len == 0 || u.target[0] != '/') cc_buf_append_u8(&out, '/');
    cc_buf_append(&out, u.target, u.target_len);
    cc_buf_append_str(&out, " HTTP/1.1\r\n");
    bool has_host = false;
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name && strcasecmp(req->headers[i].name, "host") == 0 &&
            header_ok(&req->headers[i]))
            has_host = true;
    if (!has_host) {
        bool v6 = strchr(u.host, ':') != NULL;
        cc_buf_append_fmt(&out, "Host: %s%s%s", v6 ? "[" : "", u.host, v6 ? "]" : "");
        if (!u.default_port) cc_buf_append_fmt(&out, ":%d", u.port);
        cc_buf_append_str(&out, "\r\n");
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        const http_header *h = &req->headers[i];
        if (!header_ok(h)) continue;
        cc_buf_append_str(&out, h->name);
        cc_buf_append_str(&out, ": ");
        cc_buf_append_str(&out, h->value);
        cc_buf_append_str(&out, "\r\n");
    }
    bool head = strcmp(req->method, "HEAD") == 0;
    if (req->body_len ||
        !(strcmp(req->method, "GET") == 0 || head || strcmp(req->method, "DELETE") == 0 ||
          strcmp(req->method, "OPTIONS") == 0))
        cc_buf_append_fmt(&out, "Content-Length: %zu\r\n", req->body_len);
    cc_buf_append_str(&out, "\r\n");
    if (req->body_len) cc_buf_append(&out, req->body, req->body_len);

    http_client_req *r = cc_calloc(1, sizeof(*r));
    r->c = c;
    r->cb = *cb;
    r->ud = ud;
    r->head_request = head;
    r->out_len = out.len;
    r->out = out.data; /* owned now */
    r->pool = pool_get(c, &u);
    if (req->timeout > 0) {
        r->timer = evtimer_new(c->base, req_timeout_cb, r);
        struct timeval tv = cc_timeval(req->timeout);
        event_add(r->timer, &tv);
    }
    c->n_active++;
    pend_push(c, r, false);
    /* Dispatched now, not at the end of the caller's loop turn: in a burst the first requests
     * reach the server while the caller still handles the rest. dispatch calls no callback. */
    dispatch(c);
    return r;
}

void http_client_cancel(http_client_req *r)
{
    if (!r || r->finishing || r->cancelled) return;
    http_client *c = r->c;
    c->n_active--;
    if (r->in_cb) { /* the code that called the callback drops it on return */
        r->cancelled = true;
        return;
    }
    pend_remove(c, r);
    if (r->conn) {
        hc_conn *k = r->conn;
        k->req = NULL;
        conn_close(k);
    }
    req_free(r);
    dispatch(c);
}

size_t http_client_active(const http_client *c)
{
    return c->n_active;
}

void http_client_pause(http_client_req *r, bool paused)
{
    if (!r || r->paused == paused) return;
    r->paused = paused;
    hc_conn *k = r->conn;
    if (!k || k->state != CONN_BUSY || !k->ev_read) return;
    if (paused) {
        event_del(k->ev_read);
    } else {
        event_add(k->ev_read, NULL);
        /* TLS may hold decrypted bytes no socket event would announce. */
        event_active(k->ev_read, EV_READ, 0);
    }
}
