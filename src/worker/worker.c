/* The cocoon-worker daemon: set-up, health, stats and main(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "crypto/crypto.h"
#include "worker/worker_internal.h"

static void on_health(void *ud, bool healthy)
{
    worker *w = ud;
    if (w->healthy == healthy) return;
    w->healthy = healthy;
    CC_INFO("event=backend_health healthy=%d", healthy);
    worker_link_send_enabled(w);
}

static void on_flush(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    worker_flush_pending(ud);
}

static void stats_fill(void *ud, json_t *o)
{
    worker *w = ud;
    json_object_set_new(o, "model", json_string(w->model));
    json_object_set_new(o, "backend", json_string(w->backend->ops->kind));
    json_object_set_new(o, "enabled", json_boolean(!worker_is_disabled(w)));
    json_object_set_new(o, "force_disabled", json_boolean(w->force_disabled));
    json_object_set_new(o, "coefficient", json_integer(w->coefficient));
    json_object_set_new(o, "max_active_requests", json_integer(w->max_active));
    const daemon_count req[] = {
        {"active", w->active},
        {"total", (int64_t)w->stats.total},
        {"ok", (int64_t)w->stats.ok},
        {"failed", (int64_t)w->stats.failed},
        {"cancelled", (int64_t)w->stats.cancelled},
        {"rejected", (int64_t)w->stats.rejected},
        {"sealed", (int64_t)w->stats.sealed},
        {"prompt_tokens", (int64_t)w->stats.prompt_tokens},
        {"completion_tokens", (int64_t)w->stats.completion_tokens},
        {"body_bytes", (int64_t)w->stats.body_bytes},
    };
    json_object_set_new(o, "requests", daemon_json_counts(req, CC_ARRAY_LEN(req)));
    worker_money_json(w, o);
    worker_identity_json(w, o);
    size_t ready = 0;
    json_object_set_new(o, "proxies", daemon_links_stats_json(&w->links, &ready));
    json_object_set_new(o, "proxies_ready", json_integer((json_int_t)ready));
    json_t *b = json_object();
    if (w->backend->ops->stats) w->backend->ops->stats(w->backend, b);
    json_object_set_new(o, "backend_stats", b);
    if (w->tee.chain) json_object_set_new(o, "chain", daemon_chain_json(w->tee.chain));
}

static bool health(void *ud, const char **detail)
{
    worker *w = ud;
    if (!w->healthy) {
        *detail = "backend is down";
        return false;
    }
    *detail = "ok";
    return true;
}

static int measure(const void *cfg, cc_buf *out, cc_err *err)
{
    return worker_config_measure(cfg, out, err);
}

/* Attestation set-up shared by the links: our identity (naming the served
 * model) and the policy the proxies' certificates are checked against. */
static int setup_tee(worker *w, const worker_config *cfg, cc_err *err)
{
    uint8_t model_hash[32];
    crypto_sha256(w->model, strlen(w->model), model_hash);
    daemon_tee_config tc = daemon_tee_config_of("worker", &cfg->common, true);
    tc.base = w->base;
    tc.model_hash = model_hash;
    tc.sealing_keys = true;
    tc.measure = measure;
    tc.measure_cfg = cfg;
    return daemon_tee_setup(&w->tee, &tc, err) < 0
               ? -1
               : daemon_tee_follow_chain(&w->tee, w->base, &cfg->common, err);
}

worker *worker_new(struct event_base *base, const worker_config *cfg, worker_backend *backend,
                   cc_err *err)
{
    worker *w = cc_calloc(1, sizeof(*w));
    w->base = base;
    w->backend = backend;
    w->model = cc_strdup(backend->ops->model(backend));
    w->owner_address = cc_strdup(cfg->common.owner_address ? cfg->common.owner_address : "");
    w->coefficient = cfg->coefficient;
    w->is_test = cfg->is_test;
    w->max_proxy_debt = cfg->max_proxy_debt_nano;
    /* An OpenAI-compatible server batches many sequences (vLLM, SGLang); the
     * embedded engine serves a few slots. */
    w->max_active = cfg->max_active > 0                              ? cfg->max_active
                    : strcmp(backend->ops->kind, "openai-http") == 0 ? 128
                                                                     : 16;
    w->flush_ev = event_new(base, -1, 0, on_flush, w);
    w->healthy = backend->ops->healthy(backend);
    backend->on_health = on_health;
    backend->health_ud = w;
    if (worker_identity_open(w, cfg->state_dir, err) < 0 ||
        worker_paystore_open(w, cfg->state_dir, err) < 0 || setup_tee(w, cfg, err) < 0 ||
        worker_payout_open(w, cfg, err) < 0) {
        worker_free(w);
        return NULL;
    }
    w->announced_disabled = cc_calloc(cfg->n_proxies + 1, sizeof(*w->announced_disabled));
    w->announced_coefficient = cc_calloc(cfg->n_proxies + 1, sizeof(*w->announced_coefficient));
    w->pay = cc_calloc(cfg->n_proxies + 1, sizeof(*w->pay));
    w->n_pay = cfg->n_proxies;
    const daemon_link_env env = {.base = base, .tee = &w->tee, .ops = &worker_link_ops, .ud = w};
    if (daemon_links_init(&w->links, &env, &cfg->common, cfg->proxies, cfg->n_proxies, err) < 0) {
        worker_free(w);
        return NULL;
    }
    w->http = daemon_stats_http_new(base, cfg->http_host, cfg->http_port, &cfg->http_limits,
                                    "cocoon-worker", stats_fill, health, w, err);
    if (!w->http) {
        worker_free(w);
        return NULL;
    }
    worker_control_register(w);
    worker_renew_start(w);
    CC_INFO("event=worker_start model=%s backend=%s proxies=%zu http_port=%d healthy=%d", w->model,
            backend->ops->kind, w->links.n, http_server_port(w->http), w->healthy);
    daemon_links_start(&w->links);
    return w;
}

void worker_free(worker *w)
{
    if (!w) return;
    daemon_links_stop(&w->links, "worker stopping");
    worker_renew_free(w);
    if (w->http) http_server_free(w->http);
    if (w->backend) w->backend->ops->destroy(w->backend);
    /* Requests whose cancellation the backend never confirmed. */
    while (!cc_list_empty(&w->reqs)) {
        wreq *r = cc_list_first(wreq, &w->reqs, node);
        worker_req_unlink(r);
        worker_req_free(r);
    }
    cc_map_free(&w->by_rid);
    if (w->flush_ev) event_free(w->flush_ev);
    worker_seal_state_free(w);
    daemon_tee_clear(&w->tee);
    free(w->announced_disabled);
    free(w->announced_coefficient);
    worker_payout_free(w);
    worker_paystore_save(w); /* the proxies' latest totals, for the next start */
    worker_money_free(w);
    worker_paystore_free(w);
    worker_identity_free(w);
    free(w->model);
    free(w->owner_address);
    free(w);
}

uint16_t worker_http_port(const worker *w)
{
    return (uint16_t)http_server_port(w->http);
}
