/*
 * Inbound HTTP connections on the event loop: accepting (with a connection
 * limit), reading heads and bodies against deadlines, and writing replies.
 *
 * Writing goes straight to the socket (one sendmsg for the head and body of
 * a reply; a stream's chunks of one loop pass, with its head or its end, are
 * gathered and sent together at the end of the pass) and only what the
 * socket does not take is copied and waits for EV_WRITE, which is armed then
 * and only then: a steady stream costs one system call per loop pass and no
 * epoll_ctl.
 *
 * A connection is never freed inside a call chain that may still use it
 * (a handler replying from inside dispatch, a write failing inside a reply):
 * closing it shuts the socket at once, and the memory goes in reap_ev.
 */
#include "http_conn.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>

/* Read up to this much per wakeup. */
#define READ_CHUNK ((size_t)16 << 10)
/* While a request is with its handler, keep at most this much of what the
 * client sends next (pipelined requests); past it stop reading. */
#define HOLD_INPUT ((size_t)64 << 10)
/* Do not start on the next pipelined request while this much of the
 * previous replies is still unsent. */
#define OUT_PAUSE ((size_t)256 << 10)
/* After our side shut: discard at most this much, for at most LINGER_SECS,
 * so the client reads our reply before the kernel would reset it. */
#define LINGER_BYTES ((size_t)1 << 20)
#define LINGER_SECS 2.0
/* Accepting again after accept() failed (out of descriptors). */
#define RESUME_SECS 0.2

static bool would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

static void arm_timer(http_conn *c, double secs)
{
    struct timeval tv = cc_timeval(secs);
    evtimer_add(c->timer, &tv);
}

size_t http_conn_pending(const http_conn *c)
{
    return c->out.len - c->out_off;
}

/* Reads when there is a reason to: not while a request's handler holds the
 * connection and enough input is buffered, nor while replies pile up. */
static void update_read(http_conn *c)
{
    bool want = !c->dead;
    if (c->state == CONN_HANDLER && c->in.len >= HOLD_INPUT) want = false;
    if (c->state == CONN_HEAD && http_conn_pending(c) > OUT_PAUSE) want = false;
    /* Closing after the reply: nothing more will be parsed. */
    if (c->close_after && c->state != CONN_LINGER) want = false;
    if (want == c->reading) return;
    c->reading = want;
    if (want)
        event_add(c->rev, NULL);
    else
        event_del(c->rev);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    http_server *s = arg;
    while (!cc_list_empty(&s->dead)) {
        http_conn *c = cc_list_first(http_conn, &s->dead, node);
        cc_list_remove(&s->dead, &c->node);
        event_free(c->rev);
        event_free(c->wev);
        event_free(c->timer);
        event_free(c->uncork);
        cc_buf_free(&c->in);
        cc_buf_free(&c->out);
        free(c);
    }
}

void http_conn_close(http_conn *c, const char *why)
{
    if (c->dead) return;
    http_server *s = c->srv;
    CC_DEBUG("event=http_conn_close peer=%s reason=\"%s\"", c->peer, why);
    c->dead = true;
    event_del(c->rev);
    event_del(c->wev);
    event_del(c->timer);
    event_del(c->uncork);
    close(c->fd);
    c->fd = -1;
    if (c->req) {
        http_req *r = c->req;
        c->req = NULL;
        r->conn = NULL;
        if (r->dispatched)
            http_req_mark_gone(r);
        else if (c->state == CONN_BODY)
            http_req_discard(r); /* nobody else holds it */
        /* else it is being answered before its handler (a rejection inside
         * http_server_start_request): that reply frees it. */
    }
    cc_list_remove(&s->conns, &c->node);
    s->n_conns--;
    cc_list_push_front(&s->dead, &c->node);
    if (!s->closing) event_active(s->reap_ev, 0, 0);
    if (s->paused_full && s->n_conns < s->max_conns && !s->closing) {
        s->paused_full = false;
        CC_INFO("event=http_accept_resumed port=%d connections=%u", s->port, s->n_conns);
        evconnlistener_enable(s->evl);
    }
}

/* Our side is done: shut it, then discard what the client still sends so
 * that closing does not reset the connection before our reply is read. */
static void begin_linger(http_conn *c)
{
    c->state = CONN_LINGER;
    shutdown(c->fd, SHUT_WR);
    cc_buf_reset(&c->in);
    c->lingered = 0;
    arm_timer(c, LINGER_SECS);
    update_read(c);
}

/* Sends what waits in c->out; returns false if the connection failed. */
static bool flush_out(http_conn *c)
{
    while (http_conn_pending(c)) {
        ssize_t w = send(c->fd, c->out.data + c->out_off, http_conn_pending(c), MSG_NOSIGNAL);
        if (w < 0) {
            if (would_block(errno)) break;
            http_conn_close(c, strerror(errno));
            return false;
        }
        c->out_off += (size_t)w;
    }
    if (!http_conn_pending(c)) {
        cc_buf_reset(&c->out);
        c->out_off = 0;
    } else if (c->out_off > (64u << 10) && c->out_off > c->out.len / 2) {
        cc_buf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
    return true;
}

static void process(http_conn *c);

/* http_req_on_drain: the reply's unsent bytes fell to the mark. Last thing
 * write_cb does, since the callback may write, end the request or close. */
static void notify_drain(http_conn *c)
{
    http_req *r = c->req;
    if (c->dead || !r || !r->on_drain || http_conn_pending(c) + r->corked.len > r->drain_low)
        return;
    void (*cb)(http_req *, void *) = r->on_drain;
    r->on_drain = NULL;
    cb(r, r->drain_ud);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    http_conn *c = arg;
    if (!flush_out(c)) return;
    if (http_conn_pending(c)) {
        /* Progress, but not done: a client reading a stream slowly keeps its
         * connection while it reads. */
        if (c->state == CONN_HANDLER) arm_timer(c, c->srv->idle_timeout);
        notify_drain(c);
        return;
    }
    c->writing = false;
    event_del(c->wev);
    if (c->state == CONN_HANDLER) event_del(c->timer);
    if (c->close_after && !c->req) {
        begin_linger(c);
        return;
    }
    update_read(c);
    if (c->state == CONN_HEAD && c->in.len)
        process(c);
    else
        notify_drain(c);
}

void http_conn_send(http_conn *c, const struct iovec *iov, int n)
{
    if (c->dead) return;
    size_t total = 0, done = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (!total) return;
    if (!http_conn_pending(c)) {
        struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (w < 0 && !would_block(errno)) {
            http_conn_close(c, strerror(errno));
            return;
        }
        if (w > 0) done = (size_t)w;
        if (done == total) return;
    }
    /* Keep what the socket did not take, in order, after what already waits. */
    for (int i = 0; i < n; i++) {
        size_t len = iov[i].iov_len;
        if (done >= len) {
            done -= len;
            continue;
        }
        cc_buf_append(&c->out, (const uint8_t *)iov[i].iov_base + done, len - done);
        done = 0;
    }
    if (!c->writing) {
        c->writing = true;
        event_add(c->wev, NULL);
        if (c->state == CONN_HANDLER) arm_timer(c, c->srv->idle_timeout);
    }
}

void http_conn_request_done(http_conn *c, bool keep_alive)
{
    c->req = NULL;
    if (c->dead) return;
    c->state = CONN_HEAD;
    c->head_started = false;
    c->scanned = 0;
    if (!keep_alive) {
        c->close_after = true;
        arm_timer(c, c->srv->idle_timeout); /* for a client that never reads it */
        if (!http_conn_pending(c)) begin_linger(c);
        return;
    }
    arm_timer(c, c->srv->idle_timeout);
    update_read(c);
    /* A pipelined request already buffered: go on from the loop, not from
     * inside the reply call that got us here. */
    if (c->in.len && c->reading) event_active(c->rev, EV_READ, 0);
}

/* ------------------------------------------------------------- reading */

static void body_progress(http_conn *c)
{
    http_req *r = c->req;
    if (r->head.chunked) {
        size_t used;
        http_perr e;
        int rc = http_chunked_feed(&c->chunked, c->in.data, c->in.len, &r->body, c->srv->max_body,
                                   &used, &e);
        if (rc < 0) {
            http_conn_reply_perr(c, &e);
            return;
        }
        cc_buf_consume(&c->in, used);
        if (rc == 0) return;
    } else {
        size_t take = (size_t)CC_MIN((uint64_t)c->in.len, c->body_left);
        cc_buf_append(&r->body, c->in.data, take);
        cc_buf_consume(&c->in, take);
        c->body_left -= take;
        if (c->body_left) return;
    }
    r->body_done = true;
    event_del(c->timer);
    http_server_dispatch(c);
}

/* Parses and handles whatever complete requests the input holds. */
static void process(http_conn *c)
{
    while (!c->dead) {
        if (c->state == CONN_BODY) {
            body_progress(c);
            if (c->state == CONN_BODY) break;
            continue;
        }
        if (c->state != CONN_HEAD || !c->in.len || c->close_after) break;
        if (http_conn_pending(c) > OUT_PAUSE) break;
        if (!c->head_started) {
            c->head_started = true;
            arm_timer(c, c->srv->header_timeout);
        }
        http_head head;
        http_perr e;
        int n = http_head_parse(c->in.data, c->in.len, c->srv->max_head, &c->scanned, &head, &e);
        if (n == 0) break;
        if (n < 0) {
            http_conn_reply_perr(c, &e);
            break;
        }
        cc_buf_consume(&c->in, (size_t)n);
        c->scanned = 0;
        event_del(c->timer);
        http_server_start_request(c, &head); /* takes the head */
        if (c->dead || !c->req || c->req->body_done) continue;
        /* A body follows. */
        c->state = CONN_BODY;
        c->body_left = c->req->head.chunked ? 0 : (uint64_t)c->req->head.content_length;
        http_chunked_init(&c->chunked);
        c->body_start = cc_now_mono();
        arm_timer(c, c->srv->body_timeout);
    }
    update_read(c);
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    http_conn *c = arg;
    if (c->state == CONN_LINGER) {
        char junk[16384];
        ssize_t n = recv(fd, junk, sizeof(junk), 0);
        if (n > 0) c->lingered += (size_t)n;
        if (n == 0 || (n < 0 && !would_block(errno)) || c->lingered > LINGER_BYTES)
            http_conn_close(c, "closed after the reply");
        return;
    }
    cc_buf_reserve(&c->in, READ_CHUNK);
    ssize_t n = recv(fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
    if (n == 0 || (n < 0 && !would_block(errno))) {
        /* EOF (a half-close too: a client that stops sending is gone) or a
         * reset; an unfinished request goes with it. */
        http_conn_close(c, n == 0 ? "peer closed" : strerror(errno));
        return;
    }
    if (n > 0) c->in.len += (size_t)n;
    process(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    http_conn *c = arg;
    http_perr e = {.status = 408, .code = "request_timeout"};
    switch (c->state) {
    case CONN_HEAD:
        if (!c->head_started || c->close_after || !c->in.len) {
            http_conn_close(c, "idle");
            return;
        }
        snprintf(e.message, sizeof(e.message), "The request head did not arrive within %g s",
                 c->srv->header_timeout);
        CC_INFO("event=http_timeout peer=%s what=head", c->peer);
        http_conn_reply_perr(c, &e);
        return;
    case CONN_BODY: {
        /* The body gets body_timeout seconds plus one second for each
         * body_min_rate bytes received: a trickling sender falls behind. */
        http_server *s = c->srv;
        double got = (double)(c->req->body.len);
        double deadline = c->body_start + s->body_timeout + got / s->body_min_rate;
        double now = cc_now_mono();
        if (now < deadline) {
            arm_timer(c, deadline - now);
            return;
        }
        snprintf(e.message, sizeof(e.message),
                 "The request body arrived too slowly (%.0f bytes in %.1f s)", got,
                 now - c->body_start);
        CC_INFO("event=http_timeout peer=%s what=body bytes=%.0f", c->peer, got);
        http_conn_reply_perr(c, &e);
        return;
    }
    case CONN_HANDLER:
        http_conn_close(c, "the client stopped reading");
        return;
    case CONN_LINGER:
        http_conn_close(c, "linger over");
        return;
    }
}

/* ----------------------------------------------------------- accepting */

static void uncork_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    http_conn *c = arg;
    c->pass_sent = false;
    if (c->req) http_req_uncork(c->req);
    /* The held bytes may all have gone out in that one send, and then no
     * write event follows: a reply waiting for its drain mark (flow control
     * on a stream) hears it here, or it would wait forever. */
    if (!c->dead && !http_conn_pending(c)) notify_drain(c);
}

void http_conn_uncork_later(http_conn *c)
{
    event_active(c->uncork, 0, 0);
}

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)evl, (void)salen;
    http_server *s = arg;
    if (s->paused_error) {
        s->paused_error = false;
        CC_INFO("event=http_accept_resumed port=%d connections=%u", s->port, s->n_conns);
    }
    if (s->n_conns >= s->max_conns) { /* only between a pause and its effect */
        close(fd);
        return;
    }
    http_conn *c = cc_calloc(1, sizeof(*c));
    c->srv = s;
    c->fd = fd;
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    snprintf(c->peer, sizeof(c->peer), "%s:%u", host, port);
    c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, read_cb, c);
    c->wev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
    c->timer = evtimer_new(s->base, timer_cb, c);
    c->uncork = event_new(s->base, -1, 0, uncork_cb, c);
    cc_list_push_front(&s->conns, &c->node);
    s->n_conns++;
    /* A connection that never sends a whole head is dropped like a slow
     * head, not kept for the (longer) keep-alive idle time. */
    c->head_started = true;
    arm_timer(c, s->header_timeout);
    update_read(c);
    if (s->n_conns >= s->max_conns) {
        s->paused_full = true;
        CC_WARN("event=http_accept_paused port=%d reason=\"%u connections (the limit)\"", s->port,
                s->n_conns);
        evconnlistener_disable(s->evl);
    }
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    http_server *s = arg;
    if (!s->paused_full) evconnlistener_enable(s->evl);
}

/* accept() failing (EMFILE, ENFILE, ENOBUFS) would make the listener spin on
 * the same pending connection: pause, let connections drain, try again. */
static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
    http_server *s = arg;
    int e = EVUTIL_SOCKET_ERROR();
    if (!s->paused_error) {
        s->paused_error = true;
        CC_WARN("event=http_accept_paused port=%d reason=\"%s\"", s->port, strerror(e));
    }
    evconnlistener_disable(evl);
    struct timeval tv = cc_timeval(RESUME_SECS);
    evtimer_add(s->resume_ev, &tv);
}

int http_conn_listen(http_server *s, const char *host, int port, cc_err *err)
{
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        cc_err_set(err, "cannot listen on %s:%d: %s", host, port, gai_strerror(gai));
        return -1;
    }
    /* A burst of callers (a thousand streams opened at once) must wait in the accept queue, not
     * lose their SYN and retry a second later: ask for a deep queue (the kernel caps it at
     * net.core.somaxconn); max_connections still bounds what is accepted. */
    s->evl = evconnlistener_new_bind(
        s->base, accept_cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        4096, ai->ai_addr, (int)ai->ai_addrlen);
    int family = ai->ai_family;
    freeaddrinfo(ai);
    if (!s->evl) {
        cc_err_set(err, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(s->evl, accept_error_cb);
    s->resume_ev = evtimer_new(s->base, resume_cb, s);
    s->reap_ev = event_new(s->base, -1, 0, reap_cb, s);
    int fd = evconnlistener_get_fd(s->evl);
    /* Accepted sockets inherit TCP_NODELAY (Linux): SSE chunks must leave at
     * once, not wait for the client's delayed ACK. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

void http_conn_stop_listening(http_server *s)
{
    if (s->evl) evconnlistener_free(s->evl);
    s->evl = NULL;
}

void http_conn_free_all(http_server *s)
{
    while (!cc_list_empty(&s->conns))
        http_conn_close(cc_list_first(http_conn, &s->conns, node), "server stopped");
    reap_cb(-1, 0, s);
    if (s->resume_ev) event_free(s->resume_ev);
    if (s->reap_ev) event_free(s->reap_ev);
}
