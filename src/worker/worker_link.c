/* What the worker's links to its proxies do that the shared link object
 * (daemon_link.c) does not: the worker's COCOON handshake (connect, compare
 * balances, handshake complete) and telling the proxies when the backend's
 * health changes. */
#include <stdio.h>
#include <string.h>

#include "registry/registry.h"
#include "worker/worker_internal.h"

static wlink *wlink_of(daemon_link *l)
{
    return cc_container_of(l, wlink, link);
}

static void send_enabled(wlink *wl)
{
    tl_worker_enabledDisabled m = TL_INIT(worker_enabledDisabled);
    m.disabled = wl->w->healthy ? 0 : 1;
    daemon_link_send(&wl->link, &m.hdr);
}

static void on_handshake_done(net_conn *c, void *ud, int32_t code, const char *msg,
                              const uint8_t *data, size_t len)
{
    daemon_link *l = ud;
    tl_obj *o = daemon_link_answer(l, c, "worker.proxyHandshakeComplete", code, msg, data, len,
                                   TL_TYPE_worker_HandshakeCompleted);
    if (!o) return;
    tl_obj_free(o);
    daemon_link_set_ready(l);
}

static void on_balance(net_conn *c, void *ud, int32_t code, const char *msg, const uint8_t *data,
                       size_t len)
{
    daemon_link *l = ud;
    tl_obj *o = daemon_link_answer(l, c, "worker.compareBalanceWithProxy", code, msg, data, len,
                                   TL_TYPE_worker_CompareBalanceWithProxyResult);
    if (!o) return;
    int32_t ec = ((tl_worker_compareBalanceWithProxyResult *)o)->error_code;
    tl_obj_free(o);
    if (ec != 0) {
        char why[80];
        snprintf(why, sizeof(why), "proxy reported balance error %d", ec);
        daemon_link_fail(l, why);
        return;
    }
    wlink *wl = wlink_of(l);
    tl_worker_proxyHandshakeComplete hc = TL_INIT(worker_proxyHandshakeComplete);
    hc.is_disabled = !wl->w->healthy;
    wl->announced_disabled = hc.is_disabled;
    daemon_link_handshake_query(l, &hc.hdr, on_handshake_done);
}

static void on_connected(net_conn *c, void *ud, int32_t code, const char *msg, const uint8_t *data,
                         size_t len)
{
    daemon_link *l = ud;
    tl_obj *o = daemon_link_answer(l, c, "worker.connectToProxy", code, msg, data, len,
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
        daemon_link_fail(l, err.msg);
        return;
    }
    l->proto_version = v;
    /* Payments are not settled yet (--chain none): report zero balances. */
    tl_worker_compareBalanceWithProxy cb = TL_INIT(worker_compareBalanceWithProxy);
    daemon_link_handshake_query(l, &cb.hdr, on_balance);
}

static void hello(daemon_link *l)
{
    worker *w = wlink_of(l)->w;
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
    daemon_link_handshake_query(l, &q.hdr, on_connected);
}

static void on_ready(daemon_link *l)
{
    wlink *wl = wlink_of(l);
    CC_INFO("event=proxy_enabled proxy=%s enabled=%d", l->addr, wl->w->healthy);
    /* The backend's health may have changed while the handshake was in flight. */
    if (wl->announced_disabled == wl->w->healthy) send_enabled(wl);
}

static void on_packet(daemon_link *l, const uint8_t *data, size_t len)
{
    worker_handle_packet(wlink_of(l), data, len);
}

static void on_gone(daemon_link *l)
{
    worker_link_gone(wlink_of(l));
}

static const daemon_link_ops worker_link_ops = {
    .hello = hello, .on_ready = on_ready, .on_packet = on_packet, .on_gone = on_gone};

int worker_links_init(worker *w, char *const *proxies, size_t n, double reconnect_min,
                      double reconnect_max, cc_err *err)
{
    w->link_env = (daemon_link_env){.base = w->base,
                                    .tee = &w->tee,
                                    .ops = &worker_link_ops,
                                    .reconnect_min = reconnect_min,
                                    .reconnect_max = reconnect_max,
                                    .query_timeout = 10.0};
    w->links = cc_calloc(n + 1, sizeof(*w->links));
    for (size_t i = 0; i < n; i++) {
        wlink *wl = &w->links[i];
        wl->w = w;
        if (daemon_link_init(&wl->link, &w->link_env, proxies[i], err) < 0) return -1;
        w->n_links++;
    }
    return 0;
}

void worker_links_start(worker *w)
{
    for (size_t i = 0; i < w->n_links; i++)
        daemon_link_start(&w->links[i].link);
}

void worker_links_stop(worker *w)
{
    for (size_t i = 0; i < w->n_links; i++)
        daemon_link_stop(&w->links[i].link, "worker stopping");
}

void worker_link_send_enabled(worker *w)
{
    for (size_t i = 0; i < w->n_links; i++)
        if (w->links[i].link.state == DAEMON_LINK_READY) send_enabled(&w->links[i]);
}
