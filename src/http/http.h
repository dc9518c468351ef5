/*
 * http — our own inbound HTTP/1.1 server on a libevent loop (the client's
 * OpenAI API, every daemon's /stats, /jsonstats, /metrics, /healthz) and our
 * own outbound HTTP/1.1 client (http and https, keep-alive) on the caller's
 * libevent loop.
 *
 * Threading: everything here runs on one event_base's thread; callbacks are
 * invoked on that loop and calls must be made from it.
 *
 * Ownership rules are stated next to each function. In short:
 *  - an http_req (inbound request) lives until the caller finishes it with
 *    exactly one of http_reply*() or http_stream_end(), even when the client
 *    has gone away meanwhile (then the reply is dropped silently);
 *  - strings and bodies returned by accessors are borrowed from the request
 *    and valid until it is finished;
 *  - an http_client_req lives until its on_done callback returns, or until
 *    http_client_cancel() returns (then no callback fires any more).
 */
#ifndef COCOON_HTTP_H
#define COCOON_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "openai/openai.h"

struct event_base;

typedef struct http_header {
    const char *name;
    const char *value;
} http_header;

/* ===================================================== inbound server ===== */

typedef struct http_server http_server;
typedef struct http_req http_req;

/* Called once per complete request (body fully read). The handler must
 * eventually finish req (now or later from the loop). */
typedef void (*http_handler)(http_req *req, void *ud);

typedef struct http_server_config {
    const char *host; /* bind address (numeric or a name); NULL = "127.0.0.1" */
    int port;         /* 0 = pick a free port (see http_server_port) */
    /* Larger request bodies get 413 with an OpenAI error body and the
     * connection is closed without reading them. 0 = 16 MiB. */
    size_t max_body;
    size_t max_headers;  /* request line + header fields, bytes; larger: 431. 0 = 64 KiB */
    double idle_timeout; /* seconds a keep-alive connection may sit idle between
                          * requests, and the longest a client may leave queued
                          * reply bytes unread; 0 = 60 */
    /* --- hardening against hostile clients --- */
    int max_connections;   /* open connections; at the limit accepting pauses
                            * until one closes. 0 = 1024 */
    double header_timeout; /* seconds from a connection's opening (or the first
                            * byte of a later request) to the end of the head;
                            * then 408 and close. 0 = 10 */
    /* A body gets body_timeout seconds plus one second for each body_min_rate
     * bytes received; a sender that falls behind gets 408 and is closed. */
    double body_timeout;  /* 0 = 10 */
    double body_min_rate; /* bytes per second; 0 = 16384 */
    /* Bytes a streamed reply may leave unsent; past it http_stream_write
     * returns -1 and the connection is closed. 0 = 8 MiB */
    size_t max_output;
    /* Comma-separated Host names allowed ("name" any port, "name:port" that
     * port, "[::1]" for IPv6, "*" any Host). NULL = localhost, 127.0.0.1,
     * [::1] and the bound host, and any IP literal when bound to a wildcard
     * address (DNS rebinding needs a name). Other Hosts get 421. */
    const char *allowed_hosts;
    /* With allowed_hosts NULL: more Host names allowed besides those defaults
     * (same syntax), e.g. the name a monitoring system scrapes a stats port
     * by. */
    const char *extra_hosts;
    /* Comma-separated origins ("scheme://host[:port]", without a port any
     * port; "*" any) a request with an Origin header must come from, else
     * 403. NULL = http and https on localhost, 127.0.0.1 and [::1]. */
    const char *allowed_origins;
    /* Answer browsers' CORS: a request from an allowed Origin gets
     * Access-Control-Allow-Origin (and X-Request-Id exposed), and a preflight
     * (OPTIONS with Access-Control-Request-Method) gets 204 with the methods
     * and headers allowed, before any route. */
    bool cors;
} http_server_config;

/* Binds and listens (TCP_NODELAY on accepted sockets, SIGPIPE ignored
 * process-wide). Returns NULL with err filled (e.g. address in use).
 *
 * The server speaks HTTP/1.0 and 1.1: keep-alive, pipelined requests (one at
 * a time), HEAD, Expect: 100-continue, chunked request bodies. Before a
 * handler runs it answers, with OpenAI-style JSON errors: 400 malformed
 * requests (duplicate or malformed Content-Length, Content-Length with
 * Transfer-Encoding, bad chunk framing, missing Host in HTTP/1.1), 431
 * oversized heads, 413 oversized bodies, 408 slow heads or bodies, 421 Hosts
 * not allowed, 403 Origins not allowed, 404/405 unknown routes, 415 a POST
 * without Content-Type: application/json (unless the route opts out). */
http_server *http_server_new(struct event_base *base, const http_server_config *cfg, cc_err *err);
/* The port actually bound (useful with port 0). */
int http_server_port(const http_server *s);
/* Registers a handler for an exact path, or for every path that starts with
 * a prefix when path is the prefix followed by '*' (earlier routes win).
 * method NULL = any method; several methods on one path are separate routes. A path with no route
 * gets 404, a path whose routes do not accept the method gets 405 (both OpenAI errors). Later
 * registrations of the same (method, path) replace earlier ones. */
void http_server_route(http_server *s, const char *method, const char *path, http_handler h,
                       void *ud);
/* A POST to this route may carry any Content-Type (http_server_route_ex). */
#define HTTP_ROUTE_ANY_CONTENT_TYPE 1u
/* A route that changes state through a GET (COCOON's control links): a browser request another
 * site caused (Sec-Fetch-Site cross-site or same-site, which an <img> on any page sends) gets 403,
 * so a page a person visits cannot switch a worker off; curl and scripts send no such header. */
#define HTTP_ROUTE_NOT_CROSS_SITE 2u
/* http_server_route with HTTP_ROUTE_* flags. */
void http_server_route_ex(http_server *s, const char *method, const char *path, http_handler h,
                          void *ud, unsigned flags);
/* Stops listening and frees the server. Requests not yet finished are freed
 * too: the caller must not touch any http_req of this server afterwards. */
void http_server_free(http_server *s);

/* --- request accessors (borrowed, valid until the request is finished) --- */
const char *http_req_method(const http_req *r); /* "GET", "POST", ... */
const char *http_req_path(const http_req *r);   /* path without the query (not %-decoded) */
const char *http_req_query(const http_req *r);  /* raw query string or NULL */
const char *http_req_header(const http_req *r, const char *name); /* case-insensitive, or NULL */
size_t http_req_n_headers(const http_req *r);
/* The i-th header (0 <= i < n); returns false past the end. */
bool http_req_header_at(const http_req *r, size_t i, http_header *out);
const uint8_t *http_req_body(const http_req *r, size_t *len); /* never NULL ("" when empty) */
const char *http_req_peer(const http_req *r);                 /* "ip:port" */
/* The request's id, sent back as X-Request-Id on every answer: the caller's
 * X-Request-Id when it is 1..128 characters of [A-Za-z0-9-_.:], else
 * "req_" and 32 random hex digits. */
const char *http_req_id(const http_req *r);
/* Arbitrary caller data attached to the request. */
void http_req_set_ud(http_req *r, void *ud);
void *http_req_ud(const http_req *r);

/* --- whole replies (each finishes the request) --- */
/* Adds a response header; call before the reply or http_stream_start(). */
void http_reply_header(http_req *r, const char *name, const char *value);
void http_reply(http_req *r, int status, const char *content_type, const void *body, size_t len);
/* Serializes obj (borrowed) compactly; content type application/json. */
void http_reply_json(http_req *r, int status, const json_t *obj);
/* An OpenAI error body (openai/openai.h) with its status. */
void http_reply_error(http_req *r, const openai_error *e);
/* Shorthand: openai_error_set + http_reply_error. */
void http_reply_errorf(http_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --- streamed replies (chunked transfer encoding; SSE for text/event-stream) --- */
/* Sends the status line and headers (plus any from http_reply_header) and
 * switches to chunked encoding. For "text/event-stream" Cache-Control: no-cache
 * is added. */
void http_stream_start(http_req *r, int status, const char *content_type);
/* Sends one chunk: written to the socket at once when nothing is waiting,
 * and copied only when the socket does not take it all (data is borrowed for
 * the call). Returns -1 when the client has gone away, or has left more than
 * max_output bytes unread (the connection is then closed): the data is
 * dropped; the caller should stop upstream work and end the stream. */
int http_stream_write(http_req *r, const void *data, size_t len);
/* Ends the chunked reply and finishes the request. A stream never started
 * ends as a 502 error. */
void http_stream_end(http_req *r);
/* Bytes the socket has not taken yet (for back-pressure decisions). */
size_t http_stream_pending(const http_req *r);
/* Back-pressure: calls cb once, from the loop, when the socket has taken
 * the reply's bytes down to at most low_water unsent (check
 * http_stream_pending first: nothing is called if it already is). Replaces
 * an earlier one; cleared when it fires. Nothing fires once the caller is
 * gone (http_req_on_close tells that). */
void http_req_on_drain(http_req *r, size_t low_water, void (*cb)(http_req *r, void *ud), void *ud);
/* True once the client's connection is closed. While a request waits for its
 * reply the socket is watched for EOF, so a client that hangs up is noticed
 * before anything is written (a client that only half-closes its sending
 * side counts as gone too). */
bool http_req_client_gone(const http_req *r);
/* Called at most once, from the loop (never from inside another http_* call),
 * when the client's connection closes before the request is finished. The
 * request stays valid: finish it as usual (the reply is then dropped). */
void http_req_on_close(http_req *r, void (*cb)(http_req *r, void *ud), void *ud);

/* ================================================ stats and health pages ===== */

/* Fills obj (a fresh JSON object owned by the caller of fill) with figures. */
typedef void (*http_stats_fill)(void *ud, json_t *obj);
/* Returns whether the daemon is healthy; detail (may be NULL) is shown. */
typedef bool (*http_health_fn)(void *ud, const char **detail);

/* Registers GET /jsonstats (the object as JSON), GET /stats (an HTML page:
 * title + the object as nested tables), GET /metrics (Prometheus text
 * format 0.0.4: every numeric or boolean leaf as a gauge
 * `cocoon_<path_with_underscores> value` with its # HELP and # TYPE lines,
 * and every http_histogram_json object as a histogram) and GET /healthz
 * (200 {"status":"ok"}, or 503 {"status":"unhealthy","detail":...};
 * healthy NULL = always ok). */
void http_server_add_stats(http_server *s, const char *title, http_stats_fill fill,
                           http_health_fn healthy, void *ud);
/* A Prometheus histogram kept by a daemon for its stats object: bucket
 * upper bounds (ascending) and per-bucket counts (an observation is one
 * increment; the JSON makes them cumulative). */
#define HTTP_HISTOGRAM_MAX 16
typedef struct http_histogram {
    size_t n;
    double bounds[HTTP_HISTOGRAM_MAX];
    uint64_t counts[HTTP_HISTOGRAM_MAX]; /* observations in (bounds[i-1], bounds[i]] */
    uint64_t count;
    double sum;
} http_histogram;
void http_histogram_init(http_histogram *h, const double *bounds, size_t n);
void http_histogram_add(http_histogram *h, double x);
/* {"type":"histogram","buckets":{"0.1":n,...,"+Inf":count},"sum":s,"count":count}:
 * /metrics renders such an object as one histogram. */
json_t *http_histogram_json(const http_histogram *h);

/* The same renderers, usable on their own (heap strings, caller frees). */
char *http_stats_html(const char *title, const json_t *obj);
char *http_stats_prometheus(const char *prefix, const json_t *obj);

/* ===================================================== outbound client ===== */

/* HTTP/1.1 over http:// and https:// URLs. https verifies the server's
 * certificate against the system CA store (OpenSSL's defaults, so
 * SSL_CERT_FILE / SSL_CERT_DIR can point elsewhere) and the URL's host name or
 * IP, and sends the name as SNI. Host names are resolved asynchronously on
 * the loop (evdns: resolv.conf and /etc/hosts) and the address is reused for
 * a minute. */

typedef struct http_client http_client;
typedef struct http_client_req http_client_req;

typedef struct http_client_config {
    int max_connections;      /* total open connections; 0 = 256 */
    int max_host_connections; /* per host; 0 = unlimited (bounded by the total) */
    int max_connecting;       /* connections being opened at once (the rest of a burst waits,
                               * in order); 0 = 32 */
    double connect_timeout;   /* seconds; 0 = 10 */
    const char *hosts_file;   /* names to add to /etc/hosts' (same format); NULL = none */
} http_client_config;

http_client *http_client_new(struct event_base *base, const http_client_config *cfg, cc_err *err);
/* Aborts every outstanding request without calling its callbacks, then frees.
 * Not from inside one of this client's callbacks. */
void http_client_free(http_client *c);

typedef enum {
    HTTP_CLIENT_OK = 0,      /* a complete response was received (any status) */
    HTTP_CLIENT_ERR_CONNECT, /* could not resolve/connect/send */
    HTTP_CLIENT_ERR_TIMEOUT, /* the request's timeout expired */
    HTTP_CLIENT_ERR_IO,      /* connection broke or the response was malformed */
    HTTP_CLIENT_ERR_ABORTED, /* on_head returned -1 */
} http_client_result;

typedef struct http_client_callbacks {
    /* Once, when the status line and all headers have arrived (headers are
     * borrowed for the call). Return 0 to continue, -1 to abort the transfer
     * (on_done then reports HTTP_CLIENT_ERR_ABORTED). May be NULL. */
    int (*on_head)(void *ud, int status, const http_header *headers, size_t n_headers);
    /* Body bytes as they arrive (de-chunked), borrowed for the call. May be NULL. */
    void (*on_body)(void *ud, const uint8_t *data, size_t len);
    /* Exactly once at the end unless cancelled; error is NULL when result is
     * HTTP_CLIENT_OK. The request handle is freed after this returns. */
    void (*on_done)(void *ud, http_client_result result, const char *error);
} http_client_callbacks;

typedef struct http_client_request {
    const char *method; /* "GET", "POST", ... */
    const char *url;
    const http_header *headers;
    size_t n_headers;
    const void *body; /* copied; NULL/0 for none */
    size_t body_len;
    double timeout; /* whole request, seconds; 0 = none */
} http_client_request;

/* Starts a request; callbacks come later from the loop (never from inside this
 * call). Returns NULL with err filled on bad arguments. Connections are kept
 * alive and reused. */
http_client_req *http_client_start(http_client *c, const http_client_request *req,
                                   const http_client_callbacks *cb, void *ud, cc_err *err);
/* Stops the transfer; no callback of this request fires after this returns and
 * the handle is gone. Safe to call from inside on_head/on_body (of this or
 * another request); a no-op from inside this request's own on_done. */
void http_client_cancel(http_client_req *r);
/* Back-pressure: while paused, the request's connection is not read, so
 * the server's writes block once the socket buffers fill; resuming reads
 * on. A no-op before the request has a connection. Safe from inside
 * on_head/on_body (bytes already read are still delivered). */
void http_client_pause(http_client_req *r, bool paused);
/* Requests in flight. */
size_t http_client_active(const http_client *c);

/* ===================================================== blocking fetch ===== */

/* For command-line tools only (never on a daemon's loop): GETs url on a
 * private loop, following up to max_redirects redirects (absolute URLs or
 * absolute paths), and puts the body of the final 2xx answer in out
 * (replacing its contents). Other statuses, bodies over max_body bytes,
 * failures and the timeout (seconds, per hop) are errors; err->code is the
 * HTTP status when there was one. */
int http_get_blocking(const char *url, double timeout, size_t max_body, int max_redirects,
                      cc_buf *out, cc_err *err);

#endif
