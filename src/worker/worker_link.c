/* The worker's links to its proxies: dial, COCOON handshake, reconnect with
 * exponential backoff. */
#include <stdio.h>
#include <string.h>

#include "registry/registry.h"
#include "worker/worker_internal.h"

#define HANDSHAKE_QUERY_TIMEOUT 10.0

static void link_connect(wlink *l);

int worker_send(wlink *l, const tl_obj *msg)
{
    cc_err err;
    cc_err_clear(&err);
    if (!l->conn) return -1;
    /* Encoded straight into the frame: the answer bytes are copied once less. */
    if (net_conn_send_packet_tl(l->conn, msg, &err) < 0) {
        /* a closed or congested link is handled by its close callback */
        if (err.code != NET_ERR_NOT_READY && err.code != NET_ERR_FAILURE)
            CC_ERROR("event=encode_failed proxy=%s msg=%s error=\"%s\"", l->addr,
                     tl_ctor_name(msg->id), err.msg);
        return -1;
    }
    return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    link_connect(ud);
}

static void schedule_reconnect(wlink *l, const char *why)
{
    l->state = WLINK_WAITING;
    l->conn = NULL;
    daemon_link_schedule(l->addr, &l->backoff, l->timer, l->last_error, sizeof(l->last_error), why);
}

static void fail_link(wlink *l, const char *why)
{
    net_conn *c = l->conn;
    char reason[200];
    cc_str_copy(reason, sizeof(reason), why); /* why may die with the connection */
    CC_WARN("event=proxy_link_failed proxy=%s reason=\"%s\"", l->addr, reason);
    worker_link_gone(l);
    /* Forget the connection first: closing it fails its pending queries, and
     * their callbacks must see a stale connection and do nothing. */
    l->conn = NULL;
    if (c) net_conn_close(c, reason);
    schedule_reconnect(l, reason);
}

static void on_close(net_conn *c, void *ud, const char *reason)
{
    (void)c;
    wlink *l = ud;
    CC_INFO("event=proxy_closed proxy=%s reason=\"%s\"", l->addr, reason ? reason : "");
    worker_link_gone(l);
    l->conn = NULL;
    schedule_reconnect(l, reason);
}

static void on_packet(net_conn *c, void *ud, const uint8_t *data, size_t len)
{
    (void)c;
    wlink *l = ud;
    if (l->state != WLINK_READY) {
        CC_WARN("event=packet_before_ready proxy=%s", l->addr);
        return;
    }
    worker_handle_packet(l, data, len);
}

static tl_obj *decode_answer(wlink *l, const char *what, int32_t code, const char *msg,
                             const uint8_t *data, size_t len, int expect_type)
{
    char why[640];
    tl_obj *obj =
        daemon_link_decode_answer(what, code, msg, data, len, expect_type, why, sizeof(why));
    if (!obj) fail_link(l, why);
    return obj;
}

static void on_handshake_done(net_conn *c, void *ud, int32_t code, const char *msg,
                              const uint8_t *data, size_t len)
{
    wlink *l = ud;
    if (l->conn != c) return;
    tl_obj *o = decode_answer(l, "worker.proxyHandshakeComplete", code, msg, data, len,
                              TL_TYPE_worker_HandshakeCompleted);
    if (!o) return;
    tl_obj_free(o);
    l->state = WLINK_READY;
    l->ready_since = cc_now_wall();
    net_backoff_reset(&l->backoff);
    l->last_error[0] = 0;
    CC_INFO("event=proxy_ready proxy=%s proto=%d enabled=%d", l->addr, l->proto_version,
            l->w->healthy);
    /* The backend's health may have changed while the handshake was in flight. */
    if (l->announced_disabled == l->w->healthy) {
        tl_worker_enabledDisabled m = TL_INIT(worker_enabledDisabled);
        m.disabled = l->w->healthy ? 0 : 1;
        worker_send(l, &m.hdr);
    }
}

static void query(wlink *l, const tl_obj *msg, net_answer_fn cb)
{
    cc_err err;
    if (daemon_link_query(l->conn, msg, HANDSHAKE_QUERY_TIMEOUT, cb, l, NULL, &err) < 0)
        fail_link(l, err.msg);
}

static void on_balance(net_conn *c, void *ud, int32_t code, const char *msg, const uint8_t *data,
                       size_t len)
{
    wlink *l = ud;
    if (l->conn != c) return;
    tl_obj *o = decode_answer(l, "worker.compareBalanceWithProxy", code, msg, data, len,
                              TL_TYPE_worker_CompareBalanceWithProxyResult);
    if (!o) return;
    int32_t ec = ((tl_worker_compareBalanceWithProxyResult *)o)->error_code;
    tl_obj_free(o);
    if (ec != 0) {
        char why[80];
        snprintf(why, sizeof(why), "proxy reported balance error %d", ec);
        fail_link(l, why);
        return;
    }
    tl_worker_proxyHandshakeComplete hc = TL_INIT(worker_proxyHandshakeComplete);
    hc.is_disabled = !l->w->healthy;
    l->announced_disabled = hc.is_disabled;
    query(l, &hc.hdr, on_handshake_done);
}

static void on_connected(net_conn *c, void *ud, int32_t code, const char *msg, const uint8_t *data,
                         size_t len)
{
    wlink *l = ud;
    if (l->conn != c) return;
    tl_obj *o = decode_answer(l, "worker.connectToProxy", code, msg, data, len,
                              TL_TYPE_worker_ConnectedToProxy);
    if (!o) return;
    tl_worker_connectedToProxy *ans = (tl_worker_connectedToProxy *)o;
    bool has = (ans->params.flags & 2u) != 0;
    int v = 0;
    cc_err err;
    /* The proxy states one agreed version; it must lie within ours. */
    int rc = registry_proto_negotiate(REGISTRY_PROTO_WORKER_MIN, REGISTRY_PROTO_WORKER_MAX, has,
                                      has ? ans->params.proto_version : 0,
                                      has ? ans->params.proto_version : 0, &v, &err);
    tl_obj_free(o);
    if (rc < 0) {
        fail_link(l, err.msg);
        return;
    }
    l->proto_version = v;
    /* Payments are not settled yet (--chain none): report zero balances. */
    tl_worker_compareBalanceWithProxy cb = TL_INIT(worker_compareBalanceWithProxy);
    query(l, &cb.hdr, on_balance);
}

static void on_ready(net_conn *c, void *ud)
{
    (void)c;
    wlink *l = ud;
    worker *w = l->w;
    l->state = WLINK_HANDSHAKE;
    l->connects++;
    tl_worker_connectToProxy q = TL_INIT(worker_connectToProxy);
    q.params.hdr.id = TL_ID_worker_params;
    q.params.flags = 1u | 2u;
    q.params.worker_owner_address = tl_str(w->owner_address);
    q.params.model = tl_str(w->model);
    q.params.coefficient = w->coefficient;
    q.params.is_test = true;
    q.params.proxy_cnt = (int32_t)w->n_links;
    q.params.max_active_requests = w->max_active;
    q.params.min_proto_version = REGISTRY_PROTO_WORKER_MIN;
    q.params.max_proto_version = REGISTRY_PROTO_WORKER_MAX;
    query(l, &q.hdr, on_connected);
}

static void link_connect(wlink *l)
{
    worker *w = l->w;
    cc_err err;
    const net_conn_callbacks cbs = {
        .on_ready = on_ready, .on_packet = on_packet, .on_close = on_close};
    l->state = WLINK_CONNECTING;
    l->conn = daemon_link_dial(w->base, &w->tee, l->host, l->port, &cbs, l, &err);
    if (!l->conn) schedule_reconnect(l, err.msg);
}

void worker_links_start(worker *w)
{
    for (size_t i = 0; i < w->n_links; i++) {
        wlink *l = &w->links[i];
        l->timer = evtimer_new(w->base, on_timer, l);
        net_backoff_init(&l->backoff, w->reconnect_min, w->reconnect_max);
        link_connect(l);
    }
}

void worker_links_stop(worker *w)
{
    for (size_t i = 0; i < w->n_links; i++) {
        wlink *l = &w->links[i];
        worker_link_gone(l);
        if (l->conn) net_conn_close(l->conn, "worker stopping");
        l->conn = NULL;
        if (l->timer) event_free(l->timer);
        l->timer = NULL;
    }
}

void worker_link_send_enabled(worker *w)
{
    tl_worker_enabledDisabled m = TL_INIT(worker_enabledDisabled);
    m.disabled = w->healthy ? 0 : 1;
    for (size_t i = 0; i < w->n_links; i++)
        if (w->links[i].state == WLINK_READY) worker_send(&w->links[i], &m.hdr);
}
