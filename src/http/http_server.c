/*
 * Inbound HTTP over evhttp: routing, whole and streamed replies, and noticing
 * a client that went away.
 *
 * evhttp frees a request object on its own when the connection dies, and
 * stops reading from the socket while a request is being handled, so a
 * client that hangs up while we wait for upstream work would go unnoticed.
 * Each request is therefore wrapped (http_req) and:
 *  - the connection's close callback tells the wrapper whether libevent
 *    detached the request (we still own it and free it when finishing) or is
 *    about to free it (we forget the pointer);
 *  - a small read watch on the socket sees EOF while the request is pending.
 */
#include "http_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define DEFAULT_MAX_BODY (16u << 20)
#define DEFAULT_MAX_HEADERS (64u << 10)

typedef struct http_route {
    char *method; /* NULL = any */
    char *path;
    http_handler handler;
    void *ud;
} http_route;

struct http_server {
    struct event_base *base;
    struct evhttp *evh;
    int port;
    size_t max_body;
    http_route *routes;
    size_t n_routes;
    http_req *live; /* unfinished requests (doubly linked) */
    bool closing;
    /* stats pages (http_stats.c) */
    http_stats_page *stats;
};

struct http_req {
    http_server *srv;
    struct evhttp_request *ev;       /* NULL once libevent freed it */
    struct evhttp_connection *evcon; /* NULL once the connection closed */
    struct event *peer_watch;        /* EOF detection while pending */
    struct event *notify;            /* deferred on_close call */
    struct evbuffer *chunk;          /* stream bytes not yet handed to evhttp */
    struct event *flush;             /* hands them over once per loop pass */
    bool flush_pending;
    bool gone;
    bool streaming;
    void (*on_close)(http_req *r, void *ud);
    void *close_ud;
    void *ud;
    char *path;
    char peer[80];
    http_req *prev, *next;
};

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "UNKNOWN";
}

/* ------------------------------------------------------ client departure */

static void mark_gone(http_req *r)
{
    if (r->gone) return;
    r->gone = true;
    if (r->peer_watch) event_del(r->peer_watch);
    if (r->on_close && !r->srv->closing) event_active(r->notify, 0, 0);
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
    http_req *r = arg;
    void (*cb)(http_req *, void *) = r->on_close;
    r->on_close = NULL;
    if (cb) cb(r, r->close_ud);
}

static void conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
    http_req *r = arg;
    /* A request libevent detached (evcon == NULL) is still ours to free when
     * finishing; one still on the connection is freed right after this. */
    if (r->ev && evhttp_request_get_connection(r->ev) != NULL) r->ev = NULL;
    r->evcon = NULL;
    mark_gone(r);
}

static void peer_watch_cb(evutil_socket_t fd, short what, void *arg)
{
    http_req *r = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        mark_gone(r);
        return;
    }
    /* n > 0: the client pipelined its next request; we cannot watch for EOF
     * without consuming it, so stop watching (writes will still notice). */
    if (n < 0) event_add(r->peer_watch, NULL);
}

/* Detaches the wrapper from libevent and frees it. */
static void req_free(http_req *r)
{
    http_server *s = r->srv;
    if (r->prev)
        r->prev->next = r->next;
    else
        s->live = r->next;
    if (r->next) r->next->prev = r->prev;
    if (r->evcon) evhttp_connection_set_closecb(r->evcon, NULL, NULL);
    if (r->peer_watch) event_free(r->peer_watch);
    event_free(r->notify);
    if (r->chunk) evbuffer_free(r->chunk);
    if (r->flush) event_free(r->flush);
    free(r->path);
    free(r);
}

/* -------------------------------------------------------------- requests */

static void dispatch(http_server *s, http_req *r)
{
    const char *method = http_req_method(r);
    bool path_known = false;
    char allow[128] = "";
    for (size_t i = 0; i < s->n_routes; i++) {
        http_route *rt = &s->routes[i];
        if (strcmp(rt->path, r->path) != 0) continue;
        path_known = true;
        if (!rt->method || strcmp(rt->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            rt->handler(r, rt->ud);
            return;
        }
        if (strlen(allow) + strlen(rt->method) + 3 < sizeof(allow)) {
            if (allow[0]) strcat(allow, ", ");
            strcat(allow, rt->method);
        }
    }
    if (path_known) {
        http_reply_header(r, "Allow", allow);
        http_reply_errorf(r, 405, "method_not_allowed", "Method %s is not allowed for %s", method,
                          r->path);
    } else {
        http_reply_errorf(r, 404, "not_found", "Unknown request URL: %s %s", method, r->path);
    }
}

static void request_cb(struct evhttp_request *ev, void *arg)
{
    http_server *s = arg;
    http_req *r = cc_calloc(1, sizeof(*r));
    r->srv = s;
    r->ev = ev;
    r->evcon = evhttp_request_get_connection(ev);
    r->notify = event_new(s->base, -1, 0, notify_cb, r);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    r->path = cc_strdup(path && path[0] ? path : "/");
    r->next = s->live;
    if (s->live) s->live->prev = r;
    s->live = r;
    if (r->evcon) {
        char *host = NULL;
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(r->evcon, &host, &port);
        snprintf(r->peer, sizeof(r->peer), "%s:%u", host ? host : "?", (unsigned)port);
        evhttp_connection_set_closecb(r->evcon, conn_closed_cb, r);
        struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
        evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
        if (fd >= 0) {
            r->peer_watch = event_new(s->base, fd, EV_READ, peer_watch_cb, r);
            event_add(r->peer_watch, NULL);
        }
    }
    size_t len = evbuffer_get_length(evhttp_request_get_input_buffer(ev));
    if (len > s->max_body) {
        http_reply_errorf(r, 413, "request_too_large",
                          "Request body of %zu bytes exceeds the limit of %zu bytes", len,
                          s->max_body);
        return;
    }
    dispatch(s, r);
}

http_server *http_server_new(struct event_base *base, const http_server_config *cfg, cc_err *err)
{
    /* A client that hangs up mid-reply must not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);
    http_server *s = cc_calloc(1, sizeof(*s));
    s->base = base;
    s->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
    s->evh = evhttp_new(base);
    if (!s->evh) {
        free(s);
        cc_err_set(err, "evhttp_new failed");
        return NULL;
    }
    /* evhttp answers bodies past its own limit with an HTML 413 before we see
     * them; keep that as a backstop well above ours so the common case gets
     * our OpenAI-style 413 while memory stays bounded. */
    size_t backstop = s->max_body * 2 + (64u << 10);
    evhttp_set_max_body_size(s->evh, (ev_ssize_t)backstop);
    evhttp_set_max_headers_size(
        s->evh, (ev_ssize_t)(cfg->max_headers ? cfg->max_headers : DEFAULT_MAX_HEADERS));
    evhttp_set_timeout(s->evh, cfg->idle_timeout > 0 ? (int)(cfg->idle_timeout + 0.999) : 60);
    evhttp_set_allowed_methods(s->evh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                           EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                           EVHTTP_REQ_PATCH);
    evhttp_set_gencb(s->evh, request_cb, s);
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(s->evh, host, (ev_uint16_t)cfg->port);
    if (!bs) {
        evhttp_free(s->evh);
        free(s);
        cc_err_set(err, "cannot listen on %s:%d: %s", host, cfg->port, strerror(errno));
        return NULL;
    }
    /* Accepted sockets inherit TCP_NODELAY from the listener (Linux). SSE
     * chunks must leave at once, and a reply larger than one libevent write
     * (16 KiB) must not wait for the client's delayed ACK (+40 ms). */
    int one = 1;
    setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return s;
}

int http_server_port(const http_server *s)
{
    return s->port;
}

void http_server_route(http_server *s, const char *method, const char *path, http_handler h,
                       void *ud)
{
    for (size_t i = 0; i < s->n_routes; i++) {
        http_route *rt = &s->routes[i];
        bool same_method =
            (!rt->method && !method) || (rt->method && method && strcmp(rt->method, method) == 0);
        if (same_method && strcmp(rt->path, path) == 0) {
            rt->handler = h;
            rt->ud = ud;
            return;
        }
    }
    s->routes = cc_realloc(s->routes, (s->n_routes + 1) * sizeof(*s->routes));
    s->routes[s->n_routes++] =
        (http_route){method ? cc_strdup(method) : NULL, cc_strdup(path), h, ud};
}

void http_server_free(http_server *s)
{
    if (!s) return;
    s->closing = true;
    evhttp_free(s->evh); /* closes connections; their close callbacks mark requests */
    while (s->live) {
        http_req *r = s->live;
        /* Only requests libevent detached are still alive here. */
        if (r->ev && evhttp_request_get_connection(r->ev) == NULL) evhttp_request_free(r->ev);
        r->evcon = NULL;
        req_free(r);
    }
    for (size_t i = 0; i < s->n_routes; i++) {
        free(s->routes[i].method);
        free(s->routes[i].path);
    }
    free(s->routes);
    http_stats_page_free(s->stats);
    free(s);
}

/* ------------------------------------------------------------ accessors */

const char *http_req_method(const http_req *r)
{
    return r->ev ? method_name(evhttp_request_get_command(r->ev)) : "UNKNOWN";
}
const char *http_req_path(const http_req *r)
{
    return r->path;
}
const char *http_req_query(const http_req *r)
{
    const struct evhttp_uri *uri = r->ev ? evhttp_request_get_evhttp_uri(r->ev) : NULL;
    return uri ? evhttp_uri_get_query(uri) : NULL;
}
const char *http_req_header(const http_req *r, const char *name)
{
    return r->ev ? evhttp_find_header(evhttp_request_get_input_headers(r->ev), name) : NULL;
}
size_t http_req_n_headers(const http_req *r)
{
    size_t n = 0;
    if (!r->ev) return 0;
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(r->ev), next) n++;
    return n;
}
bool http_req_header_at(const http_req *r, size_t i, http_header *out)
{
    if (!r->ev) return false;
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(r->ev), next)
    {
        if (i-- == 0) {
            out->name = kv->key;
            out->value = kv->value;
            return true;
        }
    }
    return false;
}
const uint8_t *http_req_body(const http_req *r, size_t *len)
{
    struct evbuffer *b = r->ev ? evhttp_request_get_input_buffer(r->ev) : NULL;
    size_t n = b ? evbuffer_get_length(b) : 0;
    *len = n;
    if (!n) return (const uint8_t *)"";
    return evbuffer_pullup(b, -1);
}
const char *http_req_peer(const http_req *r)
{
    return r->peer;
}
void http_req_set_ud(http_req *r, void *ud)
{
    r->ud = ud;
}
void *http_req_ud(const http_req *r)
{
    return r->ud;
}
bool http_req_client_gone(const http_req *r)
{
    return r->gone;
}
void http_req_on_close(http_req *r, void (*cb)(http_req *r, void *ud), void *ud)
{
    r->on_close = cb;
    r->close_ud = ud;
    if (r->gone && cb) event_active(r->notify, 0, 0);
}
struct event_base *http_req_base(const http_req *r)
{
    return r->srv->base;
}
http_server *http_req_server(const http_req *r)
{
    return r->srv;
}
http_stats_page **http_server_stats_slot(http_server *s)
{
    return &s->stats;
}

/* --------------------------------------------------------------- replies */

void http_reply_header(http_req *r, const char *name, const char *value)
{
    if (r->ev) evhttp_add_header(evhttp_request_get_output_headers(r->ev), name, value);
}

void http_reply(http_req *r, int status, const char *content_type, const void *body, size_t len)
{
    if (r->ev) {
        if (content_type) http_reply_header(r, "Content-Type", content_type);
        struct evbuffer *b = evbuffer_new();
        if (len) evbuffer_add(b, body, len);
        /* Stop watching before libevent may reuse or free the connection. */
        if (r->evcon) {
            evhttp_connection_set_closecb(r->evcon, NULL, NULL);
            r->evcon = NULL;
        }
        evhttp_send_reply(r->ev, status, NULL, b);
        evbuffer_free(b);
        r->ev = NULL;
    }
    req_free(r);
}

void http_reply_json(http_req *r, int status, const json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    if (!s) {
        http_reply_errorf(r, 500, NULL, "cannot serialize the reply");
        return;
    }
    http_reply(r, status, "application/json", s, strlen(s));
    free(s);
}

void http_reply_error(http_req *r, const http_error *e)
{
    char *s = http_error_json(e);
    http_reply(r, e->status, "application/json", s, strlen(s));
    free(s);
}

void http_reply_errorf(http_req *r, int status, const char *code, const char *fmt, ...)
{
    http_error e;
    http_error_set(&e, status, code, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    http_reply_error(r, &e);
}

/* Writes made during one pass of the loop (the client relays many small
 * parts that arrive together) go out as one HTTP chunk: less framing and
 * fewer calls into evhttp, and still no waiting beyond the current pass. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    http_req *r = arg;
    r->flush_pending = false;
    if (r->ev && !r->gone && evbuffer_get_length(r->chunk))
        evhttp_send_reply_chunk(r->ev, r->chunk); /* moves the bytes out */
}

void http_stream_start(http_req *r, int status, const char *content_type)
{
    r->streaming = true;
    if (!r->ev || r->gone) return;
    if (content_type) {
        http_reply_header(r, "Content-Type", content_type);
        if (strncmp(content_type, "text/event-stream", 17) == 0) {
            http_reply_header(r, "Cache-Control", "no-cache");
            http_reply_header(r, "X-Accel-Buffering", "no");
        }
    }
    r->chunk = evbuffer_new();
    r->flush = event_new(r->srv->base, -1, 0, flush_cb, r);
    evhttp_send_reply_start(r->ev, status, NULL);
}

int http_stream_write(http_req *r, const void *data, size_t len)
{
    if (!r->ev || r->gone || !r->chunk) return -1;
    if (!len) return 0;
    evbuffer_add(r->chunk, data, len);
    if (!r->flush_pending) {
        r->flush_pending = true;
        event_active(r->flush, 0, 0);
    }
    return 0;
}

size_t http_stream_pending(const http_req *r)
{
    if (!r->evcon || r->gone) return 0;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
    size_t queued = r->chunk ? evbuffer_get_length(r->chunk) : 0;
    return queued + (bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0);
}

void http_stream_end(http_req *r)
{
    if (r->ev) {
        if (r->evcon) {
            evhttp_connection_set_closecb(r->evcon, NULL, NULL);
            r->evcon = NULL;
        }
        if (r->chunk) {
            if (!r->gone && evbuffer_get_length(r->chunk)) evhttp_send_reply_chunk(r->ev, r->chunk);
            evhttp_send_reply_end(r->ev); /* frees a detached request too */
        } else /* never started: a stream ended before its head is an error */
            evhttp_send_reply(r->ev, 502, NULL, NULL);
        r->ev = NULL;
    }
    req_free(r);
}
