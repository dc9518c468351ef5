/*
 * Internal to the inbound HTTP server: the server, its connections and its
 * requests, shared by http_conn.c (sockets, reading, writing, deadlines) and
 * http_server.c (set-up, routing, the request and reply API).
 */
#ifndef COCOON_HTTP_CONN_H
#define COCOON_HTTP_CONN_H

#include <sys/uio.h>

#include "crypto/crypto.h"
#include "http_internal.h"
#include "http_parse.h"

struct evconnlistener;

typedef struct http_conn http_conn;

typedef struct http_route {
    char *method; /* NULL = any */
    char *path;
    http_handler handler;
    void *ud;
    unsigned flags; /* HTTP_ROUTE_* */
} http_route;

struct http_server {
    struct event_base *base;
    struct evconnlistener *evl;
    struct event *resume_ev; /* re-enables accepting after accept() failed */
    struct event *reap_ev;   /* frees closed connections outside any callback */
    int port;
    /* limits, defaults applied */
    size_t max_body, max_head, max_output;
    unsigned max_conns;
    double idle_timeout, header_timeout, body_timeout, body_min_rate;
    char *allowed_hosts;   /* owned; NULL = any */
    char *allowed_origins; /* owned; NULL = any */
    bool any_ip_host;      /* bound to a wildcard address: IP-literal Hosts pass */
    bool cors;             /* answer CORS (http_server_config.cors) */
    http_route *routes;
    size_t n_routes;
    cc_list conns; /* open http_conn */
    unsigned n_conns;
    cc_list dead;                   /* closed http_conn, waiting for reap_ev */
    cc_list live;                   /* http_req handed to handlers, not finished yet */
    bool paused_full, paused_error; /* accept-pause episodes (logged once each) */
    bool closing;
    long date_sec;
    char date[40];        /* "Date: ...\r\n" for date_sec */
    crypto_rand_pool ids; /* X-Request-Id values (one RAND_bytes call per 64 requests) */
    http_stats_page *stats;
};

typedef enum {
    CONN_HEAD,    /* waiting for or reading a request head */
    CONN_BODY,    /* reading a request body */
    CONN_HANDLER, /* the request is with its handler */
    CONN_LINGER,  /* reply sent, our side shut: discarding input until EOF */
} http_conn_state;

struct http_conn {
    http_server *srv;
    int fd;
    http_conn_state state;
    struct event *rev;    /* persistent EV_READ, added while `reading` */
    struct event *wev;    /* persistent EV_WRITE, added only after a short write */
    struct event *timer;  /* the deadline of the current state */
    struct event *uncork; /* sends held stream bytes at the end of a loop pass */
    bool pass_sent;       /* a stream chunk was sent during this loop pass */
    bool reading, writing, dead;
    bool head_started; /* the first byte of the current head arrived */
    bool close_after;  /* close once the output is sent */
    cc_buf in;         /* bytes read and not yet parsed */
    size_t scanned;    /* how far the head parser got in `in` */
    cc_buf out;        /* bytes the socket did not take yet: out.data[out_off..len) */
    size_t out_off;
    http_req *req; /* the request being read or handled */
    http_chunked chunked;
    uint64_t body_left; /* Content-Length bytes still to come */
    double body_start;
    size_t lingered;
    char peer[64];
    cc_list_node node; /* in srv->conns while open, then in srv->dead */
};

struct http_req {
    http_server *srv;
    http_conn *conn; /* NULL once the connection closed */
    http_head head;
    cc_buf body;
    cc_buf reply_headers; /* "Name: value\r\n" lines from http_reply_header */
    /* Streamed bytes held until the end of the loop pass: the head (it
     * leaves with the first chunk), and the chunks written after one was
     * already sent in this pass (a burst leaves in one system call; a
     * steady stream, one chunk a pass, is sent at once without a copy). */
    cc_buf corked;
    http_handler handler; /* the route's, copied: routes may be added later */
    void *handler_ud;
    bool dispatched; /* handed to the handler (on srv->live) */
    bool body_done;  /* the whole body was read */
    bool head_only;  /* HEAD: replies carry no body */
    bool streaming, chunked_out, gone;
    bool stream_keep;     /* the streamed reply announced keep-alive */
    struct event *notify; /* deferred on_close, created on demand */
    void (*on_close)(http_req *r, void *ud);
    void *close_ud;
    /* http_req_on_drain: one-shot, from write_cb */
    void (*on_drain)(http_req *r, void *ud);
    void *drain_ud;
    size_t drain_low;
    void *ud;
    char peer[64];
    char request_id[129]; /* X-Request-Id of the answer */
    cc_list_node node;    /* in srv->live */
};

/* http_conn.c */
int http_conn_listen(http_server *s, const char *host, int port, cc_err *err);
void http_conn_stop_listening(http_server *s);
void http_conn_free_all(http_server *s);
/* Queues bytes for the client: written at once when nothing is waiting,
 * the rest copied and sent when the socket allows. */
void http_conn_send(http_conn *c, const struct iovec *iov, int n);
size_t http_conn_pending(const http_conn *c);
/* Runs http_req_uncork(c->req) at the end of this loop pass (and ends the
 * pass: pass_sent is cleared). */
void http_conn_uncork_later(http_conn *c);
/* Closes the connection (a request on it is marked gone); freed later. */
void http_conn_close(http_conn *c, const char *why);
/* The request on c is finished: go on with the next one or close. */
void http_conn_request_done(http_conn *c, bool keep_alive);

/* http_server.c */
/* A head arrived: set up the request, check it and route it. */
void http_server_start_request(http_conn *c, http_head *head);
/* The body of c->req is complete: hand the request to its handler. */
void http_server_dispatch(http_conn *c);
/* Answers an error that no request object exists for (bad head, timeout)
 * and closes the connection once it is sent. */
void http_conn_reply_perr(http_conn *c, const http_perr *e);
void http_req_mark_gone(http_req *r);
/* Sends held stream bytes (see http_req.corked). */
void http_req_uncork(http_req *r);
/* Frees a request the handler never saw. */
void http_req_discard(http_req *r);

#endif
