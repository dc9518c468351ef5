/*
 * Accepting side: send the PoW challenge, check the answer, run TLS as the
 * server, wait for tcp.connect, then hand the connection to the caller.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "net/net_internal.h"

struct net_listener {
    struct event_base *base;
    struct evconnlistener *evl;
    SSL_CTX *ssl_ctx;
    net_verify verify;
    net_timeouts to;
    int difficulty;
    unsigned max_handshaking, handshaking;
    unsigned max_per_addr;
    double pow_timeout;
    int pow_load_bits;
    cc_map per_addr; /* address key -> handshaking count (stored in the pointer) */
    /* Refusals are counted and logged once a second, so a flood cannot turn
     * into a flood of log lines. */
    double refusal_log_at;
    uint64_t refused_full, refused_addr, evicted;
    size_t max_output;
    cc_list handshaking_conns; /* net_conn still handshaking (owned here) */
    void (*on_accept)(net_listener *l, net_conn *c, void *ud);
    void *ud;
    uint16_t port;
    struct event *resume_ev; /* re-enables accepting after accept() failed */
};

/* The counts live in the map's pointer values (count + 1 would need no
 * allocation; a count of 0 removes the key). */
static unsigned addr_count(const net_listener *l, uint64_t key)
{
    return (unsigned)(uintptr_t)cc_map_get(&l->per_addr, key);
}

static void addr_add(net_listener *l, uint64_t key, int delta)
{
    unsigned n = addr_count(l, key) + (unsigned)delta;
    if (n)
        cc_map_put(&l->per_addr, key, (void *)(uintptr_t)n);
    else
        cc_map_del(&l->per_addr, key);
}

static uint64_t addr_key_of(const struct sockaddr *sa)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    if (sa->sa_family == AF_INET) {
        p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        n = 4;
    } else if (sa->sa_family == AF_INET6) {
        p = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        n = 16;
    }
    uint64_t h = 1469598103934665603ULL ^ sa->sa_family; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h ? h : 1; /* cc_map keys are any u64; keep 0 unused for clarity */
}

static void log_refusals(net_listener *l)
{
    double now = cc_now_mono();
    if (now < l->refusal_log_at) return;
    l->refusal_log_at = now + 1.0;
    CC_WARN("event=net_admission port=%u handshaking=%u refused_full=%llu refused_per_addr=%llu "
            "evicted_unsolved=%llu",
            l->port, l->handshaking, (unsigned long long)l->refused_full,
            (unsigned long long)l->refused_addr, (unsigned long long)l->evicted);
}

/* Extra bits for `used` of `max` slots taken: none below half, rising to
 * pow_load_bits when full. */
static int load_bits(const net_listener *l, unsigned used, unsigned max)
{
    if (l->pow_load_bits <= 0 || !max || used * 2 < max) return 0;
    double over = (double)(used * 2 - max) / (double)max;
    return (int)(over * l->pow_load_bits + 0.999);
}

/* The challenge gets harder as the handshaking slots fill, in all and from
 * the newcomer's own address, so a flood of work-doing peers costs them more
 * (one address flooding pays first) while honest peers barely notice. */
static int current_difficulty(const net_listener *l, uint64_t key)
{
    int extra = load_bits(l, l->handshaking, l->max_handshaking);
    int own = load_bits(l, addr_count(l, key), l->max_per_addr);
    int d = l->difficulty + (own > extra ? own : extra);
    return d > NET_POW_MAX_DIFFICULTY ? NET_POW_MAX_DIFFICULTY : d;
}

/* The oldest connection still waiting for its proof of work (from the
 * address `key` only, unless it is 0), or NULL. */
static net_conn *oldest_unsolved(net_listener *l, uint64_t key)
{
    net_conn *found = NULL;
    cc_list_foreach (net_conn, c, &l->handshaking_conns, lnode)
        if (c->state == NET_CONN_POW && (!key || c->addr_key == key))
            found = c; /* the list is newest first */
    return found;
}

static void hs_unlink(net_listener *l, net_conn *c)
{
    cc_list_remove(&l->handshaking_conns, &c->lnode);
    l->handshaking--;
    addr_add(l, c->addr_key, -1);
}

void net_listener_conn_ready(net_listener *l, net_conn *c)
{
    hs_unlink(l, c);
    c->handed_over = true;
    CC_DEBUG("event=net_accepted conn=\"%s\"", net_conn_describe(c));
    l->on_accept(l, c, l->ud);
}

void net_listener_conn_gone(net_listener *l, net_conn *c)
{
    hs_unlink(l, c);
}

/* Reads the client's 12-byte answer straight from the socket: exactly 12 bytes,
 * so the TLS ClientHello that may follow stays in the kernel for OpenSSL. */
static void pow_answer_cb(evutil_socket_t fd, short what, void *arg)
{
    net_conn *c = arg;
    if (net_conn_pow_recv(c, fd, NET_POW_ANSWER_LEN, NET_ERR_PROTOCOL,
                          "peer closed during proof of work") <= 0)
        return;
    int64_t nonce;
    cc_err err;
    if (net_pow_parse_answer(c->pow_buf, &nonce, &err) < 0) {
        net_conn_fail(c, NET_ERR_PROTOCOL, "%s", err.msg);
        return;
    }
    if (!net_pow_check(c->pow_salt, c->pow_difficulty, nonce)) {
        net_conn_fail(c, NET_ERR_PROTOCOL, "proof of work: wrong answer");
        return;
    }
    /* Work done: the rest of the handshake gets the whole handshake deadline. */
    net_conn_arm_handshake_timer(c);
    if (net_conn_start_tls(c, &err) < 0) net_conn_fail(c, NET_ERR_FAILURE, "%s", err.msg);
}

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    net_listener *l = arg;
    (void)salen;
    uint64_t key = addr_key_of(sa);
    if (addr_count(l, key) >= l->max_per_addr) {
        /* As for the whole listener: idle sockets from an address (all of
         * loopback, a NAT) must not lock out a peer there that does work,
         * so the newcomer takes the place of the oldest one from that
         * address that has not solved its proof of work. */
        net_conn *victim = oldest_unsolved(l, key);
        if (victim) {
            l->evicted++;
            log_refusals(l);
            net_conn_fail(victim, NET_ERR_FAILURE,
                          "evicted: proof of work not solved while its address was at its limit");
        }
        if (addr_count(l, key) >= l->max_per_addr) {
            l->refused_addr++;
            log_refusals(l);
            evutil_closesocket(fd);
            return;
        }
    }
    if (l->handshaking >= l->max_handshaking) {
        net_conn *victim = oldest_unsolved(l, 0);
        if (!victim) {
            l->refused_full++;
            log_refusals(l);
            evutil_closesocket(fd);
            return;
        }
        l->evicted++;
        log_refusals(l);
        net_conn_fail(victim, NET_ERR_FAILURE,
                      "evicted: proof of work not solved while the "
                      "listener was full");
        if (l->handshaking >= l->max_handshaking) { /* not unlinked synchronously */
            l->refused_full++;
            evutil_closesocket(fd);
            return;
        }
    }
    int difficulty = current_difficulty(l, key); /* from the load before this one */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    net_conn *c = net_conn_new(l->base, false, fd, l->ssl_ctx, &l->verify, &l->to, l->max_output);
    char host[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(c->peer_addr, sizeof c->peer_addr, "%s:%u", host, port);
    c->listener = l;
    c->addr_key = key;
    addr_add(l, key, +1);
    cc_list_push_front(&l->handshaking_conns, &c->lnode);
    l->handshaking++;
    double hs = c->to.handshake_timeout;
    net_conn_arm_handshake_timer_in(c, l->pow_timeout < hs ? l->pow_timeout : hs);

    uint8_t challenge[NET_POW_CHALLENGE_LEN];
    c->pow_difficulty = difficulty;
    net_pow_make_challenge(challenge, c->pow_difficulty, c->pow_salt);
    /* 24 bytes into a fresh socket's empty send buffer: a short write only
     * happens when the socket is already broken. */
    ssize_t n = send(fd, challenge, sizeof challenge, MSG_NOSIGNAL);
    if (n != (ssize_t)sizeof challenge) {
        net_conn_fail(c, NET_ERR_FAILURE, "cannot send the proof-of-work challenge");
        return;
    }
    c->io_ev = event_new(l->base, fd, EV_READ | EV_PERSIST, pow_answer_cb, c);
    event_add(c->io_ev, NULL);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    evconnlistener_enable(((net_listener *)arg)->evl);
}

/* accept() failing (EMFILE, ENFILE, ENOBUFS) would otherwise make the
 * listener spin: pause it briefly and let existing connections drain. */
static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
    net_listener *l = arg;
    int e = EVUTIL_SOCKET_ERROR();
    CC_WARN("event=net_accept_error port=%u error=\"%s\"", l->port,
            evutil_socket_error_to_string(e));
    evconnlistener_disable(evl);
    struct timeval tv = cc_timeval(0.2);
    evtimer_add(l->resume_ev, &tv);
}

net_listener *net_listen(struct event_base *base, const net_listen_config *cfg, cc_err *err)
{
    if (!cfg->on_accept || !cfg->verify.verify) {
        (void)cc_err_set(err, "listen: on_accept and verify are required");
        return NULL;
    }
    if (cfg->pow_difficulty < 0 || cfg->pow_difficulty > NET_POW_MAX_DIFFICULTY) {
        (void)cc_err_set(err, "listen: PoW difficulty %d out of range [0, %d]", cfg->pow_difficulty,
                         NET_POW_MAX_DIFFICULTY);
        return NULL;
    }
    /* Numeric addresses, or a name such as "localhost" (resolved once, first
     * address). */
    const char *host = cfg->host && cfg->host[0] ? cfg->host : "0.0.0.0";
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", cfg->port);
    struct evutil_addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
    int gai = evutil_getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        (void)cc_err_set(err, "listen: cannot resolve \"%s\": %s", host, evutil_gai_strerror(gai));
        return NULL;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sslen = (socklen_t)CC_MIN((size_t)ai->ai_addrlen, sizeof ss);
    memcpy(&ss, ai->ai_addr, sslen);
    evutil_freeaddrinfo(ai);
    SSL_CTX *ctx = net_tls_ctx_new(true, &cfg->identity, err);
    if (!ctx) return NULL;
    net_listener *l = cc_calloc(1, sizeof *l);
    l->base = base;
    l->ssl_ctx = ctx;
    l->verify = cfg->verify;
    l->to = cfg->timeouts;
    l->difficulty = cfg->pow_difficulty;
    l->max_handshaking = cfg->max_handshaking ? cfg->max_handshaking : 1024;
    l->max_per_addr = cfg->max_handshaking_per_addr ? cfg->max_handshaking_per_addr : 64;
    l->pow_timeout = cfg->pow_timeout > 0 ? cfg->pow_timeout : 10;
    l->pow_load_bits = cfg->pow_load_bits == 0 ? 4 : cfg->pow_load_bits;
    cc_map_init(&l->per_addr);
    l->max_output = cfg->max_output;
    l->on_accept = cfg->on_accept;
    l->ud = cfg->ud;
    l->evl = evconnlistener_new_bind(
        base, accept_cb, l, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 512,
        (struct sockaddr *)&ss, (int)sslen);
    if (!l->evl) {
        (void)cc_err_set(err, "listen on %s:%u: %s", host, cfg->port, strerror(errno));
        SSL_CTX_free(ctx);
        free(l);
        return NULL;
    }
    evconnlistener_set_error_cb(l->evl, accept_error_cb);
    l->resume_ev = evtimer_new(base, resume_cb, l);
    struct sockaddr_storage bound;
    memset(&bound, 0, sizeof bound);
    socklen_t blen = sizeof bound;
    if (getsockname(evconnlistener_get_fd(l->evl), (struct sockaddr *)&bound, &blen) == 0)
        l->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                   : ((struct sockaddr_in6 *)&bound)->sin6_port);
    CC_INFO("event=net_listen addr=%s:%u pow_difficulty=%d", host, l->port, l->difficulty);
    return l;
}

int net_listener_set_identity(net_listener *l, const net_tls_identity *id, cc_err *err)
{
    SSL_CTX *ctx = net_tls_ctx_new(true, id, err);
    if (!ctx) return -1;
    /* Connections already created hold their own reference to the old one. */
    SSL_CTX_free(l->ssl_ctx);
    l->ssl_ctx = ctx;
    return 0;
}

uint16_t net_listener_port(const net_listener *l)
{
    return l->port;
}

void net_listener_free(net_listener *l)
{
    if (!l) return;
    evconnlistener_free(l->evl);
    event_free(l->resume_ev);
    while (!cc_list_empty(&l->handshaking_conns)) {
        net_conn *c = cc_list_first(net_conn, &l->handshaking_conns, lnode);
        net_conn_close(c, "listener stopped"); /* unlinks c */
    }
    SSL_CTX_free(l->ssl_ctx);
    cc_map_free(&l->per_addr);
    free(l);
}
