/*
 * The inbound HTTP server's front: set-up, the checks every request passes
 * before its handler (Host, Origin, route, Content-Type, body size), and the
 * request and reply API of http.h. Sockets and deadlines are http_conn.c's.
 */
#include "http_conn.h"

#include "crypto/crypto.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#define DEFAULT_MAX_BODY ((size_t)16 << 20)
#define DEFAULT_MAX_HEAD ((size_t)64 << 10)
#define DEFAULT_MAX_OUTPUT ((size_t)8 << 20)
#define DEFAULT_MAX_CONNS 1024
#define DEFAULT_IDLE 60.0
#define DEFAULT_HEADER_TIMEOUT 10.0
#define DEFAULT_BODY_TIMEOUT 10.0
#define DEFAULT_BODY_MIN_RATE 16384.0

static const char *const LOOPBACK_HOSTS = "localhost,127.0.0.1,[::1]";
static const char *const LOOPBACK_ORIGINS = "http://localhost,http://127.0.0.1,http://[::1],"
                                            "https://localhost,https://127.0.0.1,https://[::1]";

/* ------------------------------------------------------------ responses */

static const char *reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* The Date field, formatted once per second. */
static const char *date_line(http_server *s)
{
    time_t now = time(NULL);
    if ((long)now != s->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof(s->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        s->date_sec = (long)now;
    }
    return s->date;
}

/* Status line and fields. content_length < 0: none (chunked or delimited
 * by closing). */
static void format_head(cc_buf *b, http_server *s, int minor, int status, const char *ctype,
                        long long content_length, bool chunked, bool keep, const cc_buf *extra)
{
    /* Appended piece by piece: printf here was a visible part of a relayed request's CPU. */
    char num[24];
    cc_buf_append_str(b, minor ? "HTTP/1.1 " : "HTTP/1.0 ");
    cc_buf_append(b, num, cc_fmt_u64(num, (uint64_t)(status < 0 ? 0 : status)));
    cc_buf_append_u8(b, ' ');
    cc_buf_append_str(b, reason(status));
    cc_buf_append_str(b, "\r\n");
    cc_buf_append_str(b, date_line(s));
    if (ctype) {
        cc_buf_append_str(b, "Content-Type: ");
        cc_buf_append_str(b, ctype);
        cc_buf_append_str(b, "\r\n");
    }
    if (content_length >= 0) {
        cc_buf_append_str(b, "Content-Length: ");
        cc_buf_append(b, num, cc_fmt_u64(num, (uint64_t)content_length));
        cc_buf_append_str(b, "\r\n");
    }
    if (chunked) cc_buf_append_str(b, "Transfer-Encoding: chunked\r\n");
    if (!keep)
        cc_buf_append_str(b, "Connection: close\r\n");
    else if (minor == 0)
        cc_buf_append_str(b, "Connection: keep-alive\r\n");
    if (extra && extra->len) cc_buf_append(b, extra->data, extra->len);
    cc_buf_append_str(b, "\r\n");
}

void http_conn_reply_perr(http_conn *c, const http_perr *pe)
{
    if (c->req && !c->req->dispatched) {
        http_req *r = c->req;
        c->req = NULL;
        http_req_discard(r);
    }
    openai_error e;
    openai_error_set(&e, pe->status, pe->code, "%s", pe->message);
    char *json = openai_error_json(&e);
    cc_buf h = CC_BUF_INIT;
    size_t len = strlen(json);
    format_head(&h, c->srv, 1, pe->status, "application/json", (long long)len, false, false, NULL);
    struct iovec iov[2] = {{h.data, h.len}, {json, len}};
    http_conn_send(c, iov, 2);
    cc_buf_free(&h);
    free(json);
    http_conn_request_done(c, false);
}

/* ------------------------------------------------------------- requests */

static void req_unlink(http_req *r)
{
    if (!r->dispatched) return;
    http_server *s = r->srv;
    cc_list_remove(&s->live, &r->node);
    r->dispatched = false;
}

static void req_free(http_req *r)
{
    req_unlink(r);
    http_head_clear(&r->head);
    cc_buf_free(&r->body);
    cc_buf_free(&r->reply_headers);
    cc_buf_free(&r->corked);
    if (r->notify) event_free(r->notify);
    free(r);
}

void http_req_discard(http_req *r)
{
    req_free(r);
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    http_req *r = arg;
    void (*cb)(http_req *, void *) = r->on_close;
    r->on_close = NULL;
    if (cb) cb(r, r->close_ud);
}

static void notify_later(http_req *r)
{
    if (!r->notify) r->notify = event_new(r->srv->base, -1, 0, notify_cb, r);
    event_active(r->notify, 0, 0);
}

void http_req_mark_gone(http_req *r)
{
    if (r->gone) return;
    r->gone = true;
    if (r->on_close && !r->srv->closing) notify_later(r);
}

/* The request is finished: the connection goes on (or closes), r is freed. */
static void finish(http_req *r, bool keep)
{
    http_conn *c = r->conn;
    if (c) {
        r->conn = NULL;
        http_conn_request_done(c, keep);
    }
    req_free(r);
}

static bool req_keep(const http_req *r)
{
    return r->head.keep_alive && r->body_done && !r->srv->closing;
}

/* A route path ending in '*' matches every path that starts with the rest. */
static bool path_matches(const char *route, const char *path)
{
    size_t n = strlen(route);
    if (n && route[n - 1] == '*') return strncmp(route, path, n - 1) == 0;
    return strcmp(route, path) == 0;
}

/* Every answer carries X-Request-Id: the caller's own when it is a sane
 * token (so its logs and ours name the request alike), else a fresh one. */
static void set_request_id(http_req *r)
{
    const char *v = http_head_get(&r->head, "X-Request-Id");
    bool ok = v && v[0] && strlen(v) < sizeof(r->request_id);
    for (const char *p = v; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || strchr("-_.:", *p);
    if (ok) {
        snprintf(r->request_id, sizeof(r->request_id), "%s", v);
    } else {
        uint8_t rnd[16];
        crypto_rand_pool_get(&r->srv->ids, rnd, sizeof(rnd));
        memcpy(r->request_id, "req_", 4);
        cc_hex_encode(rnd, sizeof(rnd), r->request_id + 4);
    }
    http_reply_header(r, "X-Request-Id", r->request_id);
}

const char *http_req_id(const http_req *r)
{
    return r->request_id;
}

/* CORS for an allowed Origin: the answer names it; a preflight is answered
 * here (true) since it has no route of its own. */
static bool cors_answered(http_req *r)
{
    http_reply_header(r, "Access-Control-Allow-Origin", r->head.origin);
    http_reply_header(r, "Vary", "Origin");
    http_reply_header(r, "Access-Control-Expose-Headers", "X-Request-Id");
    if (strcmp(r->head.method, "OPTIONS") != 0 ||
        !http_head_get(&r->head, "Access-Control-Request-Method"))
        return false;
    http_reply_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    /* The headers the SDKs send (their x-stainless-* family included). */
    const char *want = http_head_get(&r->head, "Access-Control-Request-Headers");
    bool sane = want && strlen(want) < 1024;
    for (const char *p = want; sane && *p; p++)
        sane = isalnum((unsigned char)*p) || strchr("-_, ", *p);
    http_reply_header(r, "Access-Control-Allow-Headers",
                      sane ? want : "Authorization, Content-Type, X-Request-Id");
    http_reply_header(r, "Access-Control-Max-Age", "600");
    http_reply(r, 204, NULL, "", 0);
    return true;
}

/* Finds the route; on failure answers 404 or 405 and returns NULL. */
static const http_route *route_for(http_server *s, http_req *r)
{
    const char *method = r->head.method, *path = r->head.path;
    bool path_known = false;
    char allow[128] = "";
    for (size_t i = 0; i < s->n_routes; i++) {
        const http_route *rt = &s->routes[i];
        if (!path_matches(rt->path, path)) continue;
        path_known = true;
        if (!rt->method || strcmp(rt->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0))
            return rt;
        if (strlen(allow) + strlen(rt->method) + 3 < sizeof(allow)) {
            if (allow[0]) strcat(allow, ", ");
            strcat(allow, rt->method);
        }
    }
    if (path_known) {
        http_reply_header(r, "Allow", allow);
        http_reply_errorf(r, 405, "method_not_allowed", "Method %s is not allowed for %s", method,
                          path);
    } else {
        http_reply_errorf(r, 404, "not_found", "Unknown request URL: %s %s", method, path);
    }
    return NULL;
}

void http_server_start_request(http_conn *c, http_head *head)
{
    http_server *s = c->srv;
    http_req *r = cc_calloc(1, sizeof(*r));
    r->srv = s;
    r->conn = c;
    r->head = *head;
    memset(head, 0, sizeof(*head));
    memcpy(r->peer, c->peer, sizeof(r->peer));
    r->head_only = strcmp(r->head.method, "HEAD") == 0;
    r->body_done = !r->head.chunked && r->head.content_length <= 0;
    c->req = r;
    set_request_id(r);
    const http_head *h = &r->head;
    if (h->host && s->allowed_hosts &&
        !http_host_allowed(h->host, s->allowed_hosts, s->any_ip_host)) {
        CC_INFO("event=http_rejected peer=%s reason=host host=\"%.80s\"", c->peer, h->host);
        http_reply_errorf(r, 421, "host_not_allowed", "Host \"%.100s\" is not served here",
                          h->host);
        return;
    }
    if (h->origin && s->allowed_origins && !http_origin_allowed(h->origin, s->allowed_origins)) {
        CC_INFO("event=http_rejected peer=%s reason=origin origin=\"%.80s\"", c->peer, h->origin);
        http_reply_errorf(r, 403, "origin_not_allowed", "Origin \"%.100s\" is not allowed",
                          h->origin);
        return;
    }
    if (h->origin && s->cors && cors_answered(r)) return;
    const http_route *rt = route_for(s, r);
    if (!rt) return;
    r->handler = rt->handler;
    r->handler_ud = rt->ud;
    if (rt->flags & HTTP_ROUTE_NOT_CROSS_SITE) {
        const char *site = http_head_get(h, "Sec-Fetch-Site");
        if (site && (!strcasecmp(site, "cross-site") || !strcasecmp(site, "same-site"))) {
            CC_INFO("event=http_rejected peer=%s reason=cross_site path=\"%.80s\"", c->peer,
                    h->path);
            http_reply_errorf(r, 403, "cross_site_refused",
                              "This control path cannot be used from another site");
            return;
        }
    }
    if (strcmp(h->method, "POST") == 0 && !(rt->flags & HTTP_ROUTE_ANY_CONTENT_TYPE) &&
        !http_content_type_is_json(http_head_get(h, "Content-Type"))) {
        http_reply_errorf(r, 415, "unsupported_media_type",
                          "Content-Type must be application/json");
        return;
    }
    if (h->content_length > 0 && (uint64_t)h->content_length > s->max_body) {
        http_reply_errorf(r, 413, "request_too_large",
                          "Request body of %lld bytes exceeds the limit of %zu bytes",
                          (long long)h->content_length, s->max_body);
        return;
    }
    if (!r->body_done && h->expect_continue && h->minor == 1) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        struct iovec iov = {(void *)cont, sizeof(cont) - 1};
        http_conn_send(c, &iov, 1);
        if (!r->conn) { /* the send failed and closed the connection */
            req_free(r);
            return;
        }
    }
    if (r->body_done) http_server_dispatch(c);
}

void http_server_dispatch(http_conn *c)
{
    http_req *r = c->req;
    http_server *s = c->srv;
    c->state = CONN_HANDLER;
    r->dispatched = true;
    cc_list_push_front(&s->live, &r->node);
    r->handler(r, r->handler_ud);
}

/* ---------------------------------------------------------------- server */

http_server *http_server_new(struct event_base *base, const http_server_config *cfg, cc_err *err)
{
    /* A client that hangs up mid-reply must not kill the daemon (we send with
     * MSG_NOSIGNAL; other code in the process may not). */
    signal(SIGPIPE, SIG_IGN);
    http_server *s = cc_calloc(1, sizeof(*s));
    s->base = base;
    s->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
    s->max_head = cfg->max_headers ? cfg->max_headers : DEFAULT_MAX_HEAD;
    s->max_output = cfg->max_output ? cfg->max_output : DEFAULT_MAX_OUTPUT;
    s->max_conns = cfg->max_connections > 0 ? (unsigned)cfg->max_connections : DEFAULT_MAX_CONNS;
    s->idle_timeout = cfg->idle_timeout > 0 ? cfg->idle_timeout : DEFAULT_IDLE;
    s->header_timeout = cfg->header_timeout > 0 ? cfg->header_timeout : DEFAULT_HEADER_TIMEOUT;
    s->body_timeout = cfg->body_timeout > 0 ? cfg->body_timeout : DEFAULT_BODY_TIMEOUT;
    s->body_min_rate = cfg->body_min_rate > 0 ? cfg->body_min_rate : DEFAULT_BODY_MIN_RATE;
    const char *host = cfg->host && cfg->host[0] ? cfg->host : "127.0.0.1";
    bool wildcard = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
    if (cfg->allowed_hosts) {
        s->allowed_hosts =
            strcmp(cfg->allowed_hosts, "*") == 0 ? NULL : cc_strdup(cfg->allowed_hosts);
    } else {
        cc_buf b = CC_BUF_INIT;
        cc_buf_append_str(&b, LOOPBACK_HOSTS);
        if (!wildcard)
            cc_buf_append_fmt(&b, strchr(host, ':') && host[0] != '[' ? ",[%s]" : ",%s", host);
        if (cfg->extra_hosts && cfg->extra_hosts[0]) cc_buf_append_fmt(&b, ",%s", cfg->extra_hosts);
        s->allowed_hosts = cc_buf_steal_str(&b);
        s->any_ip_host = wildcard;
    }
    s->cors = cfg->cors;
    if (cfg->allowed_origins)
        s->allowed_origins =
            strcmp(cfg->allowed_origins, "*") == 0 ? NULL : cc_strdup(cfg->allowed_origins);
    else
        s->allowed_origins = cc_strdup(LOOPBACK_ORIGINS);
    if (http_conn_listen(s, host, cfg->port, err) < 0) {
        http_server_free(s);
        return NULL;
    }
    return s;
}

int http_server_port(const http_server *s)
{
    return s->port;
}

void http_server_route_ex(http_server *s, const char *method, const char *path, http_handler h,
                          void *ud, unsigned flags)
{
    for (size_t i = 0; i < s->n_routes; i++) {
        http_route *rt = &s->routes[i];
        bool same_method =
            (!rt->method && !method) || (rt->method && method && strcmp(rt->method, method) == 0);
        if (same_method && strcmp(rt->path, path) == 0) {
            rt->handler = h;
            rt->ud = ud;
            rt->flags = flags;
            return;
        }
    }
    s->routes = cc_realloc(s->routes, (s->n_routes + 1) * sizeof(*s->routes));
    s->routes[s->n_routes++] =
        (http_route){method ? cc_strdup(method) : NULL, cc_strdup(path), h, ud, flags};
}

void http_server_route(http_server *s, const char *method, const char *path, http_handler h,
                       void *ud)
{
    http_server_route_ex(s, method, path, h, ud, 0);
}

void http_server_free(http_server *s)
{
    if (!s) return;
    s->closing = true;
    http_conn_stop_listening(s);
    http_conn_free_all(s); /* requests with handlers are marked gone, others freed */
    while (!cc_list_empty(&s->live))
        req_free(cc_list_first(http_req, &s->live, node));
    for (size_t i = 0; i < s->n_routes; i++) {
        free(s->routes[i].method);
        free(s->routes[i].path);
    }
    free(s->routes);
    free(s->allowed_hosts);
    free(s->allowed_origins);
    http_stats_page_free(s->stats);
    free(s);
}

/* ------------------------------------------------------------ accessors */

const char *http_req_method(const http_req *r)
{
    return r->head.method;
}
const char *http_req_path(const http_req *r)
{
    return r->head.path;
}
const char *http_req_query(const http_req *r)
{
    return r->head.query;
}
const char *http_req_header(const http_req *r, const char *name)
{
    return http_head_get(&r->head, name);
}
size_t http_req_n_headers(const http_req *r)
{
    return r->head.n_headers;
}
bool http_req_header_at(const http_req *r, size_t i, http_header *out)
{
    if (i >= r->head.n_headers) return false;
    *out = r->head.headers[i];
    return true;
}
const uint8_t *http_req_body(const http_req *r, size_t *len)
{
    *len = r->body.len;
    return r->body.len ? r->body.data : (const uint8_t *)"";
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
    if (r->gone && cb) notify_later(r);
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

static bool is_token(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", *s)) return false;
    return true;
}

void http_reply_header(http_req *r, const char *name, const char *value)
{
    /* Framing is ours to decide, and a CR or LF would split the reply. */
    if (!is_token(name) || strpbrk(value, "\r\n") || !strcasecmp(name, "Content-Length") ||
        !strcasecmp(name, "Transfer-Encoding") || !strcasecmp(name, "Connection")) {
        CC_WARN("event=http_reply_header_dropped name=\"%.40s\"", name);
        return;
    }
    cc_buf_append_str(&r->reply_headers, name);
    cc_buf_append_str(&r->reply_headers, ": ");
    cc_buf_append_str(&r->reply_headers, value);
    cc_buf_append_str(&r->reply_headers, "\r\n");
}

void http_reply(http_req *r, int status, const char *content_type, const void *body, size_t len)
{
    http_conn *c = r->conn;
    if (!c || r->gone || r->streaming) {
        finish(r, false);
        return;
    }
    bool keep = req_keep(r);
    bool no_body = status == 204 || status == 304 || status < 200;
    cc_buf h = CC_BUF_INIT;
    format_head(&h, r->srv, r->head.minor, status, content_type, no_body ? -1 : (long long)len,
                false, keep, &r->reply_headers);
    struct iovec iov[2] = {{h.data, h.len}, {(void *)body, len}};
    http_conn_send(c, iov, r->head_only || no_body || !len ? 1 : 2);
    cc_buf_free(&h);
    finish(r, keep);
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

void http_reply_error(http_req *r, const openai_error *e)
{
    char *s = openai_error_json(e);
    http_reply(r, e->status, "application/json", s, strlen(s));
    free(s);
}

void http_reply_errorf(http_req *r, int status, const char *code, const char *fmt, ...)
{
    openai_error e;
    openai_error_set(&e, status, code, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    http_reply_error(r, &e);
}

void http_stream_start(http_req *r, int status, const char *content_type)
{
    if (r->streaming) return;
    r->streaming = true;
    http_conn *c = r->conn;
    if (!c || r->gone) return;
    if (content_type && strncmp(content_type, "text/event-stream", 17) == 0) {
        http_reply_header(r, "Cache-Control", "no-cache");
        http_reply_header(r, "X-Accel-Buffering", "no");
    }
    /* HTTP/1.0 has no chunked coding: the body ends when the connection does. */
    r->chunked_out = r->head.minor == 1;
    r->stream_keep = r->chunked_out && req_keep(r);
    format_head(&r->corked, r->srv, r->head.minor, status, content_type, -1, r->chunked_out,
                r->stream_keep, &r->reply_headers);
    http_conn_uncork_later(c);
}

void http_req_uncork(http_req *r)
{
    if (!r->corked.len) return;
    if (r->conn && !r->gone) {
        struct iovec iov = {r->corked.data, r->corked.len};
        http_conn_send(r->conn, &iov, 1);
    }
    cc_buf_free(&r->corked);
}

/* Sends iov[1..n) after the held bytes, if any, in one call. */
static void send_after_corked(http_req *r, struct iovec *iov, int n)
{
    if (r->corked.len) {
        iov[0] = (struct iovec){r->corked.data, r->corked.len};
        http_conn_send(r->conn, iov, n);
        cc_buf_free(&r->corked);
    } else {
        http_conn_send(r->conn, iov + 1, n - 1);
    }
}

/* Stream bytes up to this much are held to the end of the loop pass
 * (http_stream_write). */
#define STREAM_CORK_MAX ((size_t)64 << 10)

/* "%zx\r\n" without printf; size holds 24 bytes. */
static int chunk_size_line(char *size, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int n = 0;
    for (int shift = (int)(sizeof(len) * 8) - 4; shift >= 0; shift -= 4)
        if (n || (len >> shift) & 15 || shift == 0) size[n++] = hex[(len >> shift) & 15];
    size[n++] = '\r';
    size[n++] = '\n';
    return n;
}

int http_stream_write(http_req *r, const void *data, size_t len)
{
    http_conn *c = r->conn;
    if (!c || r->gone || !r->streaming) return -1;
    if (!len || r->head_only) return 0;
    if (http_conn_pending(c) + r->corked.len + len > r->srv->max_output) {
        CC_WARN("event=http_output_cap peer=%s pending=%zu cap=%zu", r->peer, http_conn_pending(c),
                r->srv->max_output);
        http_conn_close(c, "the client does not read its stream");
        return -1;
    }
    char size[24];
    int n = r->chunked_out ? chunk_size_line(size, len) : 0;
    if (c->pass_sent || r->corked.len + len <= STREAM_CORK_MAX) {
        /* Held to the end of the loop pass: more is likely to follow at once
         * (a burst relayed from one read, or the stream's end), and one
         * sendmsg for the whole pass costs less than copying these bytes.
         * Only a large first chunk goes out at once, without a copy. */
        cc_buf_append(&r->corked, size, (size_t)n);
        cc_buf_append(&r->corked, data, len);
        if (r->chunked_out) cc_buf_append(&r->corked, "\r\n", 2);
        if (!c->pass_sent) {
            c->pass_sent = true;
            http_conn_uncork_later(c);
        }
        return 0;
    }
    struct iovec iov[4] = {{0}, {size, (size_t)n}, {(void *)data, len}, {"\r\n", 2}};
    if (r->chunked_out)
        send_after_corked(r, iov, 4);
    else
        send_after_corked(r, (struct iovec[3]){{0}, {(void *)data, len}}, 2);
    if (!r->conn) return -1; /* the send failed and closed the connection */
    c->pass_sent = true;
    http_conn_uncork_later(c);
    return 0;
}

void http_req_on_drain(http_req *r, size_t low_water, void (*cb)(http_req *r, void *ud), void *ud)
{
    r->on_drain = cb;
    r->drain_ud = ud;
    r->drain_low = low_water;
}

size_t http_stream_pending(const http_req *r)
{
    return r->conn && !r->gone ? http_conn_pending(r->conn) + r->corked.len : 0;
}

void http_stream_end(http_req *r)
{
    if (!r->streaming) {
        /* Ending a stream that never started: the upstream failed before
         * sending anything. */
        http_reply_errorf(r, 502, NULL, "The upstream ended before answering");
        return;
    }
    http_conn *c = r->conn;
    if (c && !r->gone) {
        struct iovec iov[2] = {{0}, {"0\r\n\r\n", 5}};
        send_after_corked(r, iov, r->chunked_out && !r->head_only ? 2 : 1);
    }
    finish(r, r->stream_keep && r->conn != NULL);
}
