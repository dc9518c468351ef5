/* The client's links to its proxies: dial, connect and authorize (DESIGN
 * §4.3), reconnect with backoff, and the worker-type list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "registry/registry.h"

#define QUERY_TIMEOUT 10.0
#define MODELS_REFRESH 2.0

static void link_connect(clink *l);

int client_send(clink *l, const tl_obj *msg)
{
    cc_err err;
    cc_err_clear(&err);
    if (!l->conn) return -1;
    /* Encoded straight into the frame: one copy less. */
    if (net_conn_send_packet_tl(l->conn, msg, &err) < 0) {
        /* a closed or congested link is handled by its close callback */
        if (err.code != NET_ERR_NOT_READY && err.code != NET_ERR_FAILURE)
            CC_ERROR("event=encode_failed msg=%s error=\"%s\"", tl_ctor_name(msg->id), err.msg);
        return -1;
    }
    return 0;
}

clink *client_pick_link(client *c, const clink *avoid)
{
    /* The first ready proxy in configuration order: the list is the user's
     * preference, later entries are fallbacks. */
    for (size_t i = 0; i < c->n_links; i++)
        if (c->links[i].state == CL_READY && &c->links[i] != avoid) return &c->links[i];
    return NULL;
}

static void on_timer(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    link_connect(ud);
}

static void schedule_reconnect(clink *l, const char *why)
{
    l->state = CL_WAITING;
    l->conn = NULL;
    daemon_link_schedule(l->addr, &l->backoff, l->timer, l->last_error, sizeof(l->last_error), why);
}

static void fail_link(clink *l, const char *why)
{
    char reason[200];
    cc_str_copy(reason, sizeof(reason), why); /* why may die with the connection */
    CC_WARN("event=proxy_link_failed proxy=%s reason=\"%s\"", l->addr, reason);
    net_conn *conn = l->conn;
    l->conn = NULL; /* pending query callbacks see a stale connection */
    l->state = CL_WAITING;
    client_link_gone(l);
    if (conn) net_conn_close(conn, reason);
    schedule_reconnect(l, reason);
}

static void on_close(net_conn *conn, void *ud, const char *reason)
{
    (void)conn;
    clink *l = ud;
    CC_INFO("event=proxy_closed proxy=%s reason=\"%s\"", l->addr, reason ? reason : "");
    l->conn = NULL;
    l->state = CL_WAITING;
    client_link_gone(l);
    schedule_reconnect(l, reason);
}

static void on_packet(net_conn *conn, void *ud, const uint8_t *data, size_t len)
{
    (void)conn;
    clink *l = ud;
    cc_err err;
    tl_decode_opts o = {.flags = TL_DECODE_BORROW};
    tl_obj *m = tl_decode_ex(data, len, &o, &err);
    if (!m) {
        fail_link(l, "undecodable packet from proxy");
        return;
    }
    switch (m->id) {
    case TL_ID_client_queryAnswerEx:
    case TL_ID_client_queryAnswerPartEx:
    case TL_ID_client_queryAnswerErrorEx:
        client_handle_answer(l, m);
        break;
    default:
        CC_DEBUG("event=packet_ignored proxy=%s id=%s", l->addr, tl_ctor_name(m->id));
        break;
    }
    tl_obj_free(m);
}

static tl_obj *decode_answer(clink *l, const char *what, int32_t code, const char *msg,
                             const uint8_t *data, size_t len, int expect_type)
{
    char why[640];
    tl_obj *obj =
        daemon_link_decode_answer(what, code, msg, data, len, expect_type, why, sizeof(why));
    if (!obj) fail_link(l, why);
    return obj;
}

static void query(clink *l, const tl_obj *msg, net_answer_fn cb, void *ud, uint64_t *qid)
{
    cc_err err;
    if (daemon_link_query(l->conn, msg, QUERY_TIMEOUT, cb, ud, qid, &err) < 0)
        fail_link(l, err.msg);
}

/* ------------------------------------------------------------ worker types */

static void store_models(client *c, const tl_client_workerTypesV2 *t)
{
    for (size_t i = 0; i < c->n_models; i++)
        free(c->models[i].name);
    free(c->models);
    c->n_models = t->types.n;
    c->models = cc_calloc(t->types.n + 1, sizeof(*c->models));
    for (size_t i = 0; i < t->types.n; i++) {
        const tl_client_workerTypeV2 *ty = &t->types.items[i];
        cmodel *m = &c->models[i];
        m->name = tl_bytes_strdup(ty->name);
        m->workers = (int)ty->workers.n;
        m->coefficient_min = -1;
        for (size_t k = 0; k < ty->workers.n; k++) {
            const tl_client_workerInstanceV2 *wi = &ty->workers.items[k];
            m->active += wi->active_requests;
            m->max += wi->max_active_requests;
            if (wi->max_active_requests > 0) m->enabled++;
            if (m->coefficient_min < 0 || wi->coefficient < m->coefficient_min)
                m->coefficient_min = wi->coefficient;
        }
    }
    c->models_at = cc_now_mono();
}

static void on_models(net_conn *conn, void *ud, int32_t code, const char *msg, const uint8_t *data,
                      size_t len)
{
    models_call *mc = ud;
    clink *l = mc->l;
    client *c = l->c;
    bool ok = false;
    if (code == 0 && l->conn == conn) {
        cc_err err;
        tl_decode_opts o = {.expect_type = TL_TYPE_client_WorkerTypesV2};
        tl_obj *t = tl_decode_ex(data, len, &o, &err);
        if (t) {
            store_models(c, (tl_client_workerTypesV2 *)t);
            tl_obj_free(t);
            ok = true;
        } else {
            CC_WARN("event=bad_worker_types proxy=%s error=\"%s\"", l->addr, err.msg);
        }
    } else if (code != 0) {
        CC_DEBUG("event=worker_types_failed proxy=%s code=%d error=\"%s\"", l->addr, code,
                 msg ? msg : "");
    }
    if (mc->done) mc->done(c, mc->ud, ok);
    free(mc);
}

models_call *client_query_models(clink *l, void (*done)(client *c, void *ud, bool ok), void *ud)
{
    if (!l || l->state != CL_READY) return NULL;
    models_call *mc = cc_calloc(1, sizeof(*mc));
    mc->l = l;
    mc->done = done;
    mc->ud = ud;
    tl_client_getWorkerTypesV2 q = TL_INIT(client_getWorkerTypesV2);
    cc_err err;
    cc_buf b = CC_BUF_INIT;
    int rc = tl_encode(&q.hdr, &b, &err);
    if (rc == 0)
        rc = net_conn_query(l->conn, b.data, b.len, QUERY_TIMEOUT, on_models, mc, NULL, &err);
    cc_buf_free(&b);
    if (rc < 0) {
        free(mc);
        return NULL;
    }
    return mc;
}

static bool same_model(const char *announced, const char *requested)
{
    if (strcmp(announced, requested) == 0) return true;
    const char *at = strstr(announced, "@sha256:");
    return at && strlen(requested) == (size_t)(at - announced) &&
           strncmp(announced, requested, (size_t)(at - announced)) == 0;
}

const cmodel *client_find_model(const client *c, const char *name)
{
    for (size_t i = 0; i < c->n_models; i++)
        if (same_model(c->models[i].name, name)) return &c->models[i];
    return NULL;
}

static void on_models_timer(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    client *c = ud;
    client_query_models(client_pick_link(c, NULL), NULL, NULL);
    struct timeval tv = {(time_t)MODELS_REFRESH, 0};
    evtimer_add(c->models_timer, &tv);
}

/* --------------------------------------------------------------- handshake */

static void on_authorized(net_conn *conn, void *ud, int32_t code, const char *msg,
                          const uint8_t *data, size_t len)
{
    clink *l = ud;
    if (l->conn != conn) return;
    tl_obj *o = decode_answer(l, "client.authorizeWithProxy", code, msg, data, len,
                              TL_TYPE_client_AuthorizationWithProxy);
    if (!o) return;
    if (o->id == TL_ID_client_authorizationWithProxyFailed) {
        const tl_client_authorizationWithProxyFailed *f =
            (const tl_client_authorizationWithProxyFailed *)o;
        char why[200];
        snprintf(why, sizeof(why), "authorization refused: %d %.*s", f->error_code,
                 (int)CC_MIN(f->error.len, 120), (const char *)f->error.data);
        tl_obj_free(o);
        fail_link(l, why);
        return;
    }
    tl_obj_free(o);
    l->state = CL_READY;
    net_backoff_reset(&l->backoff);
    l->last_error[0] = 0;
    CC_INFO("event=proxy_ready proxy=%s proto=%d", l->addr, l->proto_version);
    client_query_models(l, NULL, NULL);
}

static void on_connected(net_conn *conn, void *ud, int32_t code, const char *msg,
                         const uint8_t *data, size_t len)
{
    clink *l = ud;
    if (l->conn != conn) return;
    tl_obj *o = decode_answer(l, "client.connectToProxy", code, msg, data, len,
                              TL_TYPE_client_ConnectedToProxy);
    if (!o) return;
    tl_client_connectedToProxy *a = (tl_client_connectedToProxy *)o;
    bool has = (a->params.flags & 2u) != 0;
    int v = 0;
    cc_err err;
    int rc = registry_proto_negotiate(REGISTRY_PROTO_CLIENT_MIN, REGISTRY_PROTO_CLIENT_MAX, has,
                                      has ? a->params.proto_version : 0,
                                      has ? a->params.proto_version : 0, &v, &err);
    bool long_auth = a->auth && a->auth->id == TL_ID_client_proxyConnectionAuthLong;
    tl_obj_free(o);
    if (rc < 0) {
        fail_link(l, err.msg);
        return;
    }
    l->proto_version = v;
    if (long_auth) {
        tl_client_authorizeWithProxyLong q = TL_INIT(client_authorizeWithProxyLong);
        query(l, &q.hdr, on_authorized, l, NULL);
    } else {
        /* Local networks have no client contract: the secret is empty. */
        tl_client_authorizeWithProxyShort q = TL_INIT(client_authorizeWithProxyShort);
        q.data = tl_str("");
        query(l, &q.hdr, on_authorized, l, NULL);
    }
}

static void on_ready(net_conn *conn, void *ud)
{
    (void)conn;
    clink *l = ud;
    l->state = CL_HANDSHAKE;
    l->connects++;
    tl_client_connectToProxy q = TL_INIT(client_connectToProxy);
    q.params.hdr.id = TL_ID_client_params;
    q.params.flags = 1u | 2u;
    q.params.client_owner_address = tl_str(l->c->owner_address);
    q.params.is_test = true;
    q.params.min_proto_version = REGISTRY_PROTO_CLIENT_MIN;
    q.params.max_proto_version = REGISTRY_PROTO_CLIENT_MAX;
    query(l, &q.hdr, on_connected, l, NULL);
}

static void link_connect(clink *l)
{
    client *c = l->c;
    cc_err err;
    const net_conn_callbacks cbs = {
        .on_ready = on_ready, .on_packet = on_packet, .on_close = on_close};
    l->state = CL_CONNECTING;
    l->conn = daemon_link_dial(c->base, &c->tee, l->host, l->port, &cbs, l, &err);
    if (!l->conn) schedule_reconnect(l, err.msg);
}

void client_links_start(client *c)
{
    for (size_t i = 0; i < c->n_links; i++) {
        clink *l = &c->links[i];
        l->timer = evtimer_new(c->base, on_timer, l);
        net_backoff_init(&l->backoff, c->reconnect_min, c->reconnect_max);
        link_connect(l);
    }
    c->models_timer = evtimer_new(c->base, on_models_timer, c);
    struct timeval tv = {(time_t)MODELS_REFRESH, 0};
    evtimer_add(c->models_timer, &tv);
}

void client_links_stop(client *c)
{
    if (c->models_timer) event_free(c->models_timer);
    c->models_timer = NULL;
    for (size_t i = 0; i < c->n_links; i++) {
        clink *l = &c->links[i];
        net_conn *conn = l->conn;
        l->conn = NULL;
        l->state = CL_WAITING;
        if (conn) net_conn_close(conn, "client stopping");
        if (l->timer) event_free(l->timer);
        l->timer = NULL;
    }
    for (size_t i = 0; i < c->n_models; i++)
        free(c->models[i].name);
    free(c->models);
    c->models = NULL;
    c->n_models = 0;
}
