/* What the client's links to its proxies do that the shared link object
 * (daemon_link.c) does not: the client's COCOON handshake (connect, then
 * authorize; DESIGN §4.3), the answers it routes to requests, and the
 * choice of a proxy for each request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "registry/registry.h"

static clink *clink_of(daemon_link *l)
{
    return cc_container_of(l, clink, link);
}

int client_send(clink *l, const tl_obj *msg)
{
    return daemon_link_send(&l->link, msg);
}

clink *client_pick_link(client *c, const clink *avoid)
{
    /* The first ready proxy in configuration order: the list is the user's
     * preference, later entries are fallbacks. */
    for (size_t i = 0; i < c->n_links; i++)
        if (c->links[i].link.state == DAEMON_LINK_READY && &c->links[i] != avoid)
            return &c->links[i];
    return NULL;
}

static void on_packet(daemon_link *l, const uint8_t *data, size_t len)
{
    cc_err err;
    tl_decode_opts o = {.flags = TL_DECODE_BORROW};
    tl_obj *m = tl_decode_ex(data, len, &o, &err);
    if (!m) {
        daemon_link_fail(l, "undecodable packet from proxy");
        return;
    }
    switch (m->id) {
    case TL_ID_client_queryAnswerEx:
    case TL_ID_client_queryAnswerPartEx:
    case TL_ID_client_queryAnswerErrorEx:
        client_handle_answer(clink_of(l), m);
        break;
    default:
        CC_DEBUG("event=packet_ignored proxy=%s id=%s", l->addr, tl_ctor_name(m->id));
        break;
    }
    tl_obj_free(m);
}

static void on_authorized(net_conn *conn, void *ud, int32_t code, const char *msg,
                          const uint8_t *data, size_t len)
{
    daemon_link *l = ud;
    tl_obj *o = daemon_link_answer(l, conn, "client.authorizeWithProxy", code, msg, data, len,
                                   TL_TYPE_client_AuthorizationWithProxy);
    if (!o) return;
    if (o->id == TL_ID_client_authorizationWithProxyFailed) {
        const tl_client_authorizationWithProxyFailed *f =
            (const tl_client_authorizationWithProxyFailed *)o;
        char why[200];
        snprintf(why, sizeof(why), "authorization refused: %d %.*s", f->error_code,
                 (int)CC_MIN(f->error.len, 120), (const char *)f->error.data);
        tl_obj_free(o);
        daemon_link_fail(l, why);
        return;
    }
    tl_obj_free(o);
    daemon_link_set_ready(l);
}

static void on_connected(net_conn *conn, void *ud, int32_t code, const char *msg,
                         const uint8_t *data, size_t len)
{
    daemon_link *l = ud;
    tl_obj *o = daemon_link_answer(l, conn, "client.connectToProxy", code, msg, data, len,
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
        daemon_link_fail(l, err.msg);
        return;
    }
    l->proto_version = v;
    if (long_auth) {
        tl_client_authorizeWithProxyLong q = TL_INIT(client_authorizeWithProxyLong);
        daemon_link_handshake_query(l, &q.hdr, on_authorized);
    } else {
        /* Local networks have no client contract: the secret is empty. */
        tl_client_authorizeWithProxyShort q = TL_INIT(client_authorizeWithProxyShort);
        q.data = tl_str("");
        daemon_link_handshake_query(l, &q.hdr, on_authorized);
    }
}

static void hello(daemon_link *l)
{
    tl_client_connectToProxy q = TL_INIT(client_connectToProxy);
    q.params.hdr.id = TL_ID_client_params;
    q.params.flags = 1u | 2u;
    q.params.client_owner_address = tl_str(clink_of(l)->c->owner_address);
    q.params.is_test = true;
    q.params.min_proto_version = REGISTRY_PROTO_CLIENT_MIN;
    q.params.max_proto_version = REGISTRY_PROTO_CLIENT_MAX;
    daemon_link_handshake_query(l, &q.hdr, on_connected);
}

/* A new proxy: learn its models right away. */
static void on_ready(daemon_link *l)
{
    client_query_models(clink_of(l), NULL, NULL);
}

static void on_gone(daemon_link *l)
{
    client_link_gone(clink_of(l));
}

static const daemon_link_ops client_link_ops = {
    .hello = hello, .on_ready = on_ready, .on_packet = on_packet, .on_gone = on_gone};

int client_links_init(client *c, char *const *proxies, size_t n, double reconnect_min,
                      double reconnect_max, cc_err *err)
{
    c->link_env = (daemon_link_env){.base = c->base,
                                    .tee = &c->tee,
                                    .ops = &client_link_ops,
                                    .reconnect_min = reconnect_min,
                                    .reconnect_max = reconnect_max,
                                    .query_timeout = 10.0};
    c->links = cc_calloc(n + 1, sizeof(*c->links));
    for (size_t i = 0; i < n; i++) {
        clink *l = &c->links[i];
        l->c = c;
        if (daemon_link_init(&l->link, &c->link_env, proxies[i], err) < 0) return -1;
        c->n_links++;
    }
    return 0;
}

void client_links_start(client *c)
{
    for (size_t i = 0; i < c->n_links; i++)
        daemon_link_start(&c->links[i].link);
    client_models_start(c);
}

void client_links_stop(client *c)
{
    for (size_t i = 0; i < c->n_links; i++)
        daemon_link_stop(&c->links[i].link, "client stopping");
    client_models_stop(c);
}
