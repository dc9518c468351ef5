/* Internal state of the cocoon-worker daemon (shared by its .c files). */
#ifndef COCOON_WORKER_INTERNAL_H
#define COCOON_WORKER_INTERNAL_H

#include <event2/event.h>

#include "daemon/daemon.h"
#include "http/http.h"
#include "net/net.h"
#include "registry/registry.h"
#include "tee/tee.h"
#include "tl/tl.h"
#include "worker/worker.h"

typedef enum {
    WLINK_WAITING = 0, /* reconnect timer armed */
    WLINK_CONNECTING,  /* TCP/PoW/TLS in progress */
    WLINK_HANDSHAKE,   /* COCOON handshake queries in flight */
    WLINK_READY,       /* proxy may send requests */
} wlink_state;

typedef struct wreq wreq;

/* One proxy this worker serves. */
typedef struct wlink {
    worker *w;
    char addr[96]; /* as configured */
    char host[64];
    uint16_t port;
    wlink_state state;
    net_conn *conn;
    net_backoff backoff;
    struct event *timer;
    int proto_version;
    bool announced_disabled; /* what proxyHandshakeComplete said */
    uint64_t connects, requests;
    double ready_since; /* wall clock */
    char last_error[160];
} wlink;

/* One request in flight on the backend. */
struct wreq {
    worker *w;
    wlink *link; /* NULL once the link is gone (the answer is then dropped) */
    tl_int256 request_id;
    backend_call *call;
    bool head_sent;
    bool in_start, done_in_start;
    double start_wall;
    uint64_t body_bytes;
    /* Not yet sent (see "answers" in worker_request.c). */
    bool head_pending;
    int head_status;
    char **head_headers; /* name, value pairs */
    size_t n_head_headers;
    cc_buf pending;
    bool dirty;
    wreq *dprev, *dnext; /* w->dirty list */
    wreq *prev, *next;
};

struct worker {
    struct event_base *base;
    worker_backend *backend;
    char *model;
    char *owner_address;
    int coefficient;
    int max_active;
    double reconnect_min, reconnect_max;
    /* provider, identity, policy; proxy_registry checks the proxies' image
     * hashes (optional) */
    daemon_tee tee;
    wlink *links;
    size_t n_links;
    wreq *reqs;  /* list of requests in flight */
    wreq *dirty; /* requests with output waiting for the end of this loop turn */
    struct event *flush_ev;
    int active;
    bool healthy;
    http_server *http;
    struct {
        uint64_t total, ok, failed, cancelled, rejected;
        uint64_t prompt_tokens, completion_tokens, body_bytes;
    } stats;
};

/* worker_link.c */
void worker_links_start(worker *w);
void worker_links_stop(worker *w);
void worker_link_send_enabled(worker *w);
int worker_send(wlink *l, const tl_obj *msg);

/* worker_request.c */
void worker_handle_packet(wlink *l, const uint8_t *data, size_t len);
/* Drops every request of a link that went away (their backend calls are cancelled). */
void worker_link_gone(wlink *l);
void worker_requests_cancel_all(worker *w);
/* Sends the output the backend produced during this loop turn. */
void worker_flush_pending(worker *w);
void worker_req_free(wreq *r);

#endif
