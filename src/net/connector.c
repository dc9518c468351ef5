/*
 * Connecting side: TCP connect, read the PoW challenge, solve it in slices on
 * the event loop (difficulty 20 is ~1M hashes; slicing keeps the daemon's
 * other connections served meanwhile), answer, run TLS as the client, send
 * tcp.connect and wait for tcp.connected.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/util.h>

#include "crypto/crypto.h"
#include "net/net_internal.h"

/* Candidates tried per loop iteration (~5-10 ms of hashing). */
#define POW_SLICE (1u << 15)

static void solve_cb(evutil_socket_t fd, short what, void *arg)
{
    net_conn *c = arg;
    if (!net_pow_search(c->pow_salt, c->pow_difficulty, &c->pow_nonce, POW_SLICE)) {
        struct timeval zero = {0, 0};
        evtimer_add(c->solve_ev, &zero); /* yield to the loop, then go on */
        return;
    }
    uint8_t answer[NET_POW_ANSWER_LEN];
    net_pow_make_answer(answer, c->pow_nonce);
    /* 12 bytes on a socket we have not written to yet: see listener.c. */
    ssize_t n = send(c->fd, answer, sizeof answer, MSG_NOSIGNAL);
    if (n != (ssize_t)sizeof answer) {
        net_conn_fail(c, NET_ERR_FAILURE, "cannot send the proof-of-work answer");
        return;
    }
    cc_err err;
    if (net_conn_start_tls(c, &err) < 0) net_conn_fail(c, NET_ERR_FAILURE, "%s", err.msg);
}

static void challenge_cb(evutil_socket_t fd, short what, void *arg)
{
    net_conn *c = arg;
    if (net_conn_pow_recv(c, fd, NET_POW_CHALLENGE_LEN, NET_ERR_FAILURE,
                          "peer closed before the proof-of-work challenge") <= 0)
        return;
    cc_err err;
    if (net_pow_parse_challenge(c->pow_buf, c->pow_max_difficulty, &c->pow_difficulty, c->pow_salt,
                                &err) < 0) {
        net_conn_fail(c, NET_ERR_PROTOCOL, "%s", err.msg);
        return;
    }
    event_free(c->io_ev);
    c->io_ev = NULL;
    c->pow_nonce = (int64_t)(crypto_random_u64() >> 1);
    c->solve_ev = evtimer_new(c->base, solve_cb, c);
    struct timeval zero = {0, 0};
    evtimer_add(c->solve_ev, &zero);
}

static void connected_cb(evutil_socket_t fd, short what, void *arg);

/* Starts a non-blocking connect to the next resolved address, skipping those
 * that fail at once.  -1 (with err) when none is left. */
static int dial_next(net_conn *c, cc_err *err)
{
    int last = 0;
    char host[INET6_ADDRSTRLEN] = "?";
    while (c->next_addr) {
        struct evutil_addrinfo *ai = c->next_addr;
        c->next_addr = ai->ai_next;
        if (ai->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, host, sizeof host);
        else if (ai->ai_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, host,
                      sizeof host);
        snprintf(c->peer_addr, sizeof c->peer_addr, "%s:%u", host, c->dial_port);
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            last = errno;
            close(fd);
            continue;
        }
        if (c->fd >= 0) close(c->fd);
        c->fd = fd;
        if (c->io_ev) event_free(c->io_ev);
        c->io_ev = event_new(c->base, fd, EV_WRITE, connected_cb, c);
        event_add(c->io_ev, NULL);
        return 0;
    }
    return cc_err_set(err, "connect to %s: %s", c->peer_addr,
                      last ? strerror(last) : "no address left");
}

static void connected_cb(evutil_socket_t fd, short what, void *arg)
{
    net_conn *c = arg;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) soerr = errno;
    if (soerr) {
        /* e.g. "localhost" gave ::1 first but the peer listens on 127.0.0.1 */
        char failed[sizeof c->peer_addr];
        memcpy(failed, c->peer_addr, sizeof failed);
        cc_err err;
        if (c->next_addr && dial_next(c, &err) == 0) return;
        net_conn_fail(c, NET_ERR_FAILURE, "connect to %s: %s", failed, strerror(soerr));
        return;
    }
    event_free(c->io_ev);
    c->state = NET_CONN_POW;
    c->io_ev = event_new(c->base, fd, EV_READ | EV_PERSIST, challenge_cb, c);
    event_add(c->io_ev, NULL);
}

net_conn *net_connect(struct event_base *base, const net_connect_config *cfg, cc_err *err)
{
    if (!cfg->host || !cfg->verify.verify) {
        (void)cc_err_set(err, "connect: host and verify are required");
        return NULL;
    }
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", cfg->port);
    struct evutil_addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_NUMERICSERV;
    int gai = evutil_getaddrinfo(cfg->host, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        (void)cc_err_set(err, "connect: cannot resolve %s: %s", cfg->host,
                         evutil_gai_strerror(gai));
        return NULL;
    }
    SSL_CTX *ctx = net_tls_ctx_new(false, &cfg->identity, err);
    if (!ctx) {
        evutil_freeaddrinfo(ai);
        return NULL;
    }
    net_conn *c = net_conn_new(base, true, -1, ctx, &cfg->verify, &cfg->timeouts, cfg->max_output);
    SSL_CTX_free(ctx); /* the connection holds its own reference */
    c->addrs = c->next_addr = ai;
    c->dial_port = cfg->port;
    if (dial_next(c, err) < 0) {
        net_conn_close(c, "no address could be dialled"); /* no callbacks set yet */
        return NULL;
    }
    c->pow_max_difficulty = cfg->max_pow_difficulty;
    c->cbs = cfg->cbs;
    c->ud = cfg->ud;
    net_conn_arm_handshake_timer(c);
    return c;
}

/* ------------------------------------------------------------ backoff */

void net_backoff_init(net_backoff *b, double initial_s, double max_s)
{
    b->initial = initial_s > 0 ? initial_s : 0.5;
    b->max = max_s >= b->initial ? max_s : b->initial;
    b->current = b->initial;
}

double net_backoff_next(net_backoff *b)
{
    double base = b->current;
    b->current = CC_MIN(b->current * 2, b->max);
    /* ±20% jitter so many workers do not reconnect in lockstep */
    double jitter = ((double)(crypto_random_u64() >> 11) / 9007199254740992.0) * 0.4 - 0.2;
    return base * (1 + jitter);
}

void net_backoff_reset(net_backoff *b)
{
    b->current = b->initial;
}
