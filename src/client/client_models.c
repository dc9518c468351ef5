/* The client's catalogue of models: what the proxies announce as worker
 * types (client.getWorkerTypesV2), refreshed every few seconds, for
 * /v1/models and the unknown-model check of each request. */
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"

#define MODELS_REFRESH 2.0

static void free_models(client *c)
{
    for (size_t i = 0; i < c->n_models; i++)
        free(c->models[i].name);
    free(c->models);
    c->models = NULL;
    c->n_models = 0;
}

static void store_models(client *c, const tl_client_workerTypesV2 *t)
{
    free_models(c);
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
    client *c = clink_client(l);
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
    if (!l || l->state != DAEMON_LINK_READY) return NULL;
    models_call *mc = cc_calloc(1, sizeof(*mc));
    mc->l = l;
    mc->done = done;
    mc->ud = ud;
    tl_client_getWorkerTypesV2 q = TL_INIT(client_getWorkerTypesV2);
    cc_err err;
    if (daemon_link_query(l, &q.hdr, on_models, mc, &err) < 0) {
        free(mc);
        return NULL;
    }
    return mc;
}

/* "tiny" names "tiny@sha256:<hex>" too: callers may leave the hash out. */
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

static void arm(client *c)
{
    struct timeval tv = cc_timeval(MODELS_REFRESH);
    evtimer_add(c->models_timer, &tv);
}

static void on_models_timer(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    client *c = ud;
    client_query_models(client_pick_link(c, NULL), NULL, NULL);
    /* The account figures too: another client of the same owner, or a new
     * price, changes them without a request of ours. */
    for (size_t i = 0; i < c->links.n; i++)
        client_money_refresh(&c->links.at[i]);
    client_chain_tick(c); /* and, with a chain, our contracts */
    arm(c);
}

void client_models_start(client *c)
{
    c->models_timer = evtimer_new(c->base, on_models_timer, c);
    arm(c);
}

void client_models_stop(client *c)
{
    if (c->models_timer) event_free(c->models_timer);
    c->models_timer = NULL;
    free_models(c);
}
