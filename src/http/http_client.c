/*
 * Outbound HTTP: libcurl's multi-socket API driven by a libevent loop.
 * curl tells us which sockets to watch (socket callback) and when to call it
 * back (timer callback); we turn both into libevent events. Connections stay
 * in the multi handle's cache and are reused (keep-alive).
 *
 * curl forbids adding or removing handles from inside its own callbacks
 * (header/write), which is where on_head/on_body run. Starts and cancels made
 * there are queued and applied from a deferred event right after.
 */
#include "http.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

typedef struct sock_watch {
    struct event *ev;
    curl_socket_t fd;
    cc_list_node node; /* in the client's socks */
} sock_watch;

struct http_client {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct event *deferred; /* applies queued starts and cancels */
    int in_curl;            /* depth of calls into curl (callbacks may run) */
    cc_list active;         /* of http_client_req */
    cc_list queued;         /* started from inside a curl callback */
    cc_list cancelled;      /* cancelled from inside a curl callback */
    cc_list socks;          /* of sock_watch */
    size_t n_active;
    double connect_timeout;
    CURL *idle[64]; /* reset easy handles ready for reuse */
    size_t n_idle;
};

struct http_client_req {
    http_client *c;
    CURL *easy;
    struct curl_slist *hdrs;
    uint8_t *body;
    http_client_callbacks cb;
    void *ud;
    bool in_multi;
    bool head_done;
    bool aborted;
    bool cancelled;
    bool finishing; /* inside on_done */
    enum { REQ_ACTIVE, REQ_QUEUED } where;
    cc_buf head; /* "name\0value\0" pairs of the current header block */
    size_t head_count;
    char errbuf[CURL_ERROR_SIZE];
    cc_list_node node; /* in one of the client's lists */
};

/* Easy handles are kept for reuse: creating one allocates its buffers
 * (a 16 KiB receive buffer among them) on every request otherwise. */
static void easy_release(http_client *c, CURL *e)
{
    if (c->n_idle < CC_ARRAY_LEN(c->idle)) {
        curl_easy_reset(e);
        c->idle[c->n_idle++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

static CURL *easy_acquire(http_client *c)
{
    return c->n_idle ? c->idle[--c->n_idle] : curl_easy_init();
}

static void req_destroy(http_client_req *r)
{
    if (r->in_multi) curl_multi_remove_handle(r->c->multi, r->easy);
    easy_release(r->c, r->easy);
    curl_slist_free_all(r->hdrs);
    free(r->body);
    cc_buf_free(&r->head);
    free(r);
}

/* ------------------------------------------------------- completion */

static void check_done(http_client *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        http_client_req *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode rc = msg->data.result;
        curl_multi_remove_handle(c->multi, r->easy);
        r->in_multi = false;
        if (r->cancelled) /* freed by the deferred pass */
            continue;
        cc_list_remove(&c->active, &r->node);
        c->n_active--;
        http_client_result res;
        const char *why = NULL;
        if (rc == CURLE_OK) {
            res = HTTP_CLIENT_OK;
        } else if (r->aborted) {
            res = HTTP_CLIENT_ERR_ABORTED;
            why = "aborted by the caller";
        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
            res = HTTP_CLIENT_ERR_TIMEOUT;
        } else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                   rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_SSL_CONNECT_ERROR ||
                   rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
            res = HTTP_CLIENT_ERR_CONNECT;
        } else {
            res = HTTP_CLIENT_ERR_IO;
        }
        if (res != HTTP_CLIENT_OK && !why) why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
        r->finishing = true;
        if (r->cb.on_done) r->cb.on_done(r->ud, res, why);
        req_destroy(r);
    }
}

static void apply_deferred(http_client *c);

static void socket_action(http_client *c, curl_socket_t fd, int action)
{
    int running;
    c->in_curl++;
    curl_multi_socket_action(c->multi, fd, action, &running);
    c->in_curl--;
    apply_deferred(c);
    check_done(c);
}

/* ------------------------------------------------- curl → libevent */

static void sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
    http_client *c = arg;
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    socket_action(c, fd, action);
}

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
    http_client *c = userp;
    sock_watch *w = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            event_free(w->ev);
            cc_list_remove(&c->socks, &w->node);
            free(w);
            curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    short flags = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                  ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!w) {
        w = cc_calloc(1, sizeof(*w));
        w->fd = fd;
        cc_list_push_front(&c->socks, &w->node);
        curl_multi_assign(c->multi, fd, w);
    } else {
        event_free(w->ev);
    }
    w->ev = event_new(c->base, fd, flags, sock_event_cb, c);
    event_add(w->ev, NULL);
    return 0;
}

static void timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
    socket_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    http_client *c = userp;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
    } else {
        /* curl asks not to be called back from inside this callback, so even
         * a zero timeout goes through the loop. */
        struct timeval tv = cc_timeval((double)timeout_ms / 1000);
        evtimer_add(c->timer, &tv);
    }
    return 0;
}

/* ---------------------------------------------------- curl callbacks */

static size_t header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    http_client_req *r = arg;
    size_t n = size * nmemb;
    if (r->cancelled) return 0;
    if (r->head_done) /* trailers */
        return n;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) { /* a new status line: new block */
        cc_buf_reset(&r->head);
        r->head_count = 0;
        return n;
    }
    size_t len = n;
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    if (len == 0) { /* end of a header block */
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 100 && status < 200) return n; /* interim response; the real one follows */
        r->head_done = true;
        http_header *hs = cc_calloc(r->head_count + 1, sizeof(*hs));
        const char *p = (const char *)r->head.data;
        for (size_t i = 0; i < r->head_count; i++) {
            hs[i].name = p;
            p += strlen(p) + 1;
            hs[i].value = p;
            p += strlen(p) + 1;
        }
        int rc = r->cb.on_head ? r->cb.on_head(r->ud, (int)status, hs, r->head_count) : 0;
        free(hs);
        if (rc < 0 && !r->cancelled) {
            r->aborted = true;
            return 0;
        }
        return r->cancelled ? 0 : n;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon) /* folded or malformed line: ignore it */
        return n;
    size_t nl = (size_t)(colon - data);
    const char *v = colon + 1;
    while (v < data + len && (*v == ' ' || *v == '\t'))
        v++;
    cc_buf_append(&r->head, data, nl);
    cc_buf_append_u8(&r->head, 0);
    cc_buf_append(&r->head, v, (size_t)(data + len - v));
    cc_buf_append_u8(&r->head, 0);
    r->head_count++;
    return n;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    http_client_req *r = arg;
    size_t n = size * nmemb;
    if (r->cancelled) return 0;
    if (r->cb.on_body && n) r->cb.on_body(r->ud, (const uint8_t *)data, n);
    return r->cancelled ? 0 : n;
}

/* ------------------------------------------------------- start/cancel */

static void add_to_multi(http_client_req *r)
{
    r->where = REQ_ACTIVE;
    r->in_multi = true;
    cc_list_push_front(&r->c->active, &r->node);
    r->c->n_active++;
    curl_multi_add_handle(r->c->multi, r->easy);
}

static void apply_deferred(http_client *c)
{
    while (!cc_list_empty(&c->cancelled)) {
        http_client_req *r = cc_list_first(http_client_req, &c->cancelled, node);
        cc_list_remove(&c->cancelled, &r->node);
        req_destroy(r);
    }
    while (!cc_list_empty(&c->queued)) {
        http_client_req *r = cc_list_first(http_client_req, &c->queued, node);
        cc_list_remove(&c->queued, &r->node);
        add_to_multi(r);
    }
}

static void deferred_cb(evutil_socket_t fd, short what, void *arg)
{
    http_client *c = arg;
    apply_deferred(c);
    check_done(c);
}

http_client *http_client_new(struct event_base *base, const http_client_config *cfg, cc_err *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cc_err_set(err, "curl_global_init failed");
        return NULL;
    }
    http_client *c = cc_calloc(1, sizeof(*c));
    c->base = base;
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        curl_global_cleanup();
        cc_err_set(err, "curl_multi_init failed");
        return NULL;
    }
    c->timer = evtimer_new(base, timer_event_cb, c);
    c->deferred = event_new(base, -1, 0, deferred_cb, c);
    c->connect_timeout = cfg && cfg->connect_timeout > 0 ? cfg->connect_timeout : 10;
    long max_total = cfg && cfg->max_connections > 0 ? cfg->max_connections : 256;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_total);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, max_total);
    if (cfg && cfg->max_host_connections > 0)
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)cfg->max_host_connections);
    return c;
}

void http_client_free(http_client *c)
{
    if (!c) return;
    cc_list *lists[] = {&c->active, &c->queued, &c->cancelled};
    for (size_t i = 0; i < CC_ARRAY_LEN(lists); i++) {
        cc_list_foreach (http_client_req, r, lists[i], node) {
            cc_list_remove(lists[i], &r->node);
            req_destroy(r);
        }
    }
    curl_multi_cleanup(c->multi);
    while (c->n_idle)
        curl_easy_cleanup(c->idle[--c->n_idle]);
    cc_list_foreach (sock_watch, w, &c->socks, node) { /* sockets curl did not report removed */
        cc_list_remove(&c->socks, &w->node);
        event_free(w->ev);
        free(w);
    }
    event_free(c->timer);
    event_free(c->deferred);
    free(c);
    curl_global_cleanup();
}

http_client_req *http_client_start(http_client *c, const http_client_request *req,
                                   const http_client_callbacks *cb, void *ud, cc_err *err)
{
    if (!req->url || !req->method || !req->method[0]) {
        cc_err_set(err, "http_client_start: url and method are required");
        return NULL;
    }
    http_client_req *r = cc_calloc(1, sizeof(*r));
    r->c = c;
    r->cb = *cb;
    r->ud = ud;
    r->easy = easy_acquire(c);
    if (!r->easy) {
        free(r);
        cc_err_set(err, "curl_easy_init failed");
        return NULL;
    }
    CURL *e = r->easy;
    if (curl_easy_setopt(e, CURLOPT_URL, req->url) != CURLE_OK) {
        easy_release(c, e);
        free(r);
        cc_err_set(err, "bad URL");
        return NULL;
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->connect_timeout * 1000));
    /* Model backends are usually on loopback; a proxy from the environment
     * must not capture those. */
    curl_easy_setopt(e, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    if (req->timeout > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(req->timeout * 1000 + 0.5));
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(req->method, "POST") == 0)
            curl_easy_setopt(e, CURLOPT_POST, 1L);
        else
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
        r->body = cc_malloc(req->body_len ? req->body_len : 1);
        if (req->body_len) memcpy(r->body, req->body, req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    /* No "Expect: 100-continue" round trip for larger bodies. */
    r->hdrs = curl_slist_append(r->hdrs, "Expect:");
    for (size_t i = 0; i < req->n_headers; i++) {
        const http_header *h = &req->headers[i];
        if (!h->name || !h->value || strpbrk(h->name, "\r\n:") || strpbrk(h->value, "\r\n"))
            continue; /* never let a header value inject another header */
        cc_buf line = CC_BUF_INIT;
        cc_buf_append_fmt(&line, "%s: %s", h->name, h->value);
        char *s = cc_buf_steal_str(&line);
        r->hdrs = curl_slist_append(r->hdrs, s);
        free(s);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    if (c->in_curl) {
        r->where = REQ_QUEUED;
        cc_list_push_front(&c->queued, &r->node);
        event_active(c->deferred, 0, 0);
    } else {
        add_to_multi(r);
    }
    return r;
}

void http_client_cancel(http_client_req *r)
{
    if (!r || r->finishing || r->cancelled) return;
    http_client *c = r->c;
    r->cancelled = true;
    if (r->where == REQ_QUEUED) {
        cc_list_remove(&c->queued, &r->node);
        req_destroy(r);
        return;
    }
    cc_list_remove(&c->active, &r->node);
    c->n_active--;
    if (c->in_curl) {
        cc_list_push_front(&c->cancelled, &r->node);
        event_active(c->deferred, 0, 0);
    } else {
        req_destroy(r);
    }
}

size_t http_client_active(const http_client *c)
{
    return c->n_active;
}
