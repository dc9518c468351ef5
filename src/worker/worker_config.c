/* cocoon-worker configuration: defaults, JSON, flag overrides, validation,
 * and the part of it the fake TEE measures. */
#include "daemon/daemon.h"
#include "worker/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = cc_strdup(v);
}

void worker_config_init(worker_config *c)
{
    memset(c, 0, sizeof(*c));
    strcpy(c->http_host, "127.0.0.1");
    c->http_port = 12000;
    c->backend = cc_strdup("embedded");
    c->coefficient = 1000;
    c->max_active = 0; /* chosen by backend in worker_new() */
    c->health_interval = 2;
    c->audio_tokens_per_second = 10;
    c->is_test = true; /* as the client's: see client_config_init */
    daemon_config_init(&c->common);
}

static int set_kv_type(worker_config *c, const char *v, const char *what, cc_err *err)
{
    if (!engine_kv_type_parse(v, &c->kv_type))
        return cc_err_set(err, "%s: expected f16 or q8_0, not \"%.40s\"", what, v);
    return 0;
}

static int set_overflow(worker_config *c, const char *v, const char *what, cc_err *err)
{
    if (!engine_overflow_parse(v, &c->context_overflow))
        return cc_err_set(err, "%s: expected error or shift, not \"%.40s\"", what, v);
    return 0;
}

static int set_keep(worker_config *c, const char *v, const char *what, cc_err *err)
{
    if (!engine_keep_parse(v, &c->context_keep))
        return cc_err_set(err, "%s: expected system or bos, not \"%.40s\"", what, v);
    return 0;
}

/* "kv_type", "context_overflow" and "context_keep": names of the engine's choices. */
static int get_engine_choices(const json_t *obj, worker_config *c, cc_err *err)
{
    char *kv = NULL, *ov = NULL, *keep = NULL;
    int rc = 0;
    if (daemon_json_get_strdup(obj, "kv_type", &kv, err) < 0 ||
        daemon_json_get_strdup(obj, "context_overflow", &ov, err) < 0 ||
        daemon_json_get_strdup(obj, "context_keep", &keep, err) < 0 ||
        (kv && set_kv_type(c, kv, "field \"kv_type\"", err) < 0) ||
        (ov && set_overflow(c, ov, "field \"context_overflow\"", err) < 0) ||
        (keep && set_keep(c, keep, "field \"context_keep\"", err) < 0))
        rc = -1;
    free(kv);
    free(ov);
    free(keep);
    return rc;
}

int worker_config_from_json(const json_t *obj, const char *path, worker_config *c, cc_err *err)
{
    // clang-format off
    static const char *const keys[] = {"proxies",
                                       "listen_http",
                                       "backend",
                                       "backend_url",
                                       "api_key",
                                       "model",
                                       "model_name",
                                       "chat_template",
                                       "threads",
                                       "slots",
                                       "context",
                                       "kv_type",
                                       "context_overflow",
                                       "context_keep",
                                       "coefficient",
                                       "max_active_requests",
                                       "reconnect_min",
                                       "reconnect_max",
                                       "health_interval",
                                       "backend_max_connecting",
                                       "backend_connect_timeout",
                                       "max_proxy_debt_nano",
                                       "is_test",
                                       "audio_tokens_per_second",
                                       "state_dir",
                                       "wallet_key_file",
                                       "payout_threshold_nano",
                                       NULL};
    // clang-format on
    if (!json_is_object(obj)) return cc_err_set(err, "top level must be a JSON object");
    if (daemon_config_check_keys(obj, keys, err) < 0) return -1;
    if (daemon_proxies_from_json(obj, &c->proxies, &c->n_proxies, err) < 0) return -1;
    int64_t threads = c->threads, slots = c->slots, coef = c->coefficient, maxa = c->max_active;
    int64_t context = c->context;
    int64_t connecting = c->backend_max_connecting;
    char *model = NULL, *tmpl = NULL;
    if (daemon_json_get_hostport(obj, "listen_http", c->http_host, sizeof(c->http_host),
                                 &c->http_port, err) < 0 ||
        daemon_http_limits_from_json(obj, "http", &c->http_limits, err) < 0 ||
        daemon_json_get_strdup(obj, "backend", &c->backend, err) < 0 ||
        daemon_json_get_strdup(obj, "backend_url", &c->backend_url, err) < 0 ||
        daemon_json_get_strdup(obj, "api_key", &c->api_key, err) < 0 ||
        daemon_json_get_strdup(obj, "model", &model, err) < 0 ||
        daemon_json_get_strdup(obj, "model_name", &c->model_name, err) < 0 ||
        daemon_json_get_strdup(obj, "chat_template", &tmpl, err) < 0 ||
        cc_json_get_int(obj, "threads", false, 0, 1024, &threads, err) < 0 ||
        cc_json_get_int(obj, "slots", false, 0, 1024, &slots, err) < 0 ||
        cc_json_get_int(obj, "context", false, 0, 1 << 20, &context, err) < 0 ||
        get_engine_choices(obj, c, err) < 0 ||
        cc_json_get_int(obj, "coefficient", false, 1, 1000000, &coef, err) < 0 ||
        cc_json_get_int(obj, "max_active_requests", false, 1, 100000, &maxa, err) < 0 ||
        cc_json_get_int(obj, "backend_max_connecting", false, 1, 100000, &connecting, err) < 0 ||
        cc_json_get_double(obj, "backend_connect_timeout", false, 0.1, 3600,
                           &c->backend_connect_timeout, err) < 0 ||
        cc_json_get_double(obj, "health_interval", false, 0.05, 3600, &c->health_interval, err) <
            0 ||
        cc_json_get_bool(obj, "is_test", false, &c->is_test, err) < 0 ||
        cc_json_get_int(obj, "audio_tokens_per_second", false, 0, 1000000,
                        &c->audio_tokens_per_second, err) < 0 ||
        cc_json_get_int(obj, "max_proxy_debt_nano", false, 0, INT64_MAX / 4,
                        &c->max_proxy_debt_nano, err) < 0 ||
        daemon_json_get_path(obj, "state_dir", path, &c->state_dir, err) < 0 ||
        daemon_json_get_path(obj, "wallet_key_file", path, &c->wallet_key_file, err) < 0 ||
        cc_json_get_int(obj, "payout_threshold_nano", false, 0, INT64_MAX / 4,
                        &c->payout_threshold_nano, err) < 0 ||
        daemon_config_from_json(obj, path, &c->common, err) < 0) {
        free(model);
        free(tmpl);
        return -1;
    }
    if (tmpl) { /* a file name, relative to the config like the model */
        free(c->chat_template);
        c->chat_template = cc_path_relative_to(path, tmpl);
        free(tmpl);
    }
    c->threads = (int)threads;
    c->slots = (int)slots;
    c->context = (int)context;
    c->coefficient = (int)coef;
    c->max_active = (int)maxa;
    c->backend_max_connecting = (int)connecting;
    if (model) {
        /* A GGUF path is a file name: resolve it like the other paths; a
         * served model name for openai-http, or the default model's name
         * (worker_model_resolve), stays as written. */
        free(c->model);
        c->model = strcmp(c->backend, "embedded") == 0 && !worker_model_is_name(model)
                       ? cc_path_relative_to(path, model)
                       : cc_strdup(model);
        free(model);
    }
    return 0;
}

int worker_config_load(const char *path, worker_config *c, cc_err *err)
{
    return daemon_config_load_file(&worker_config_ops, path, c, err);
}

int worker_config_validate(const worker_config *c, cc_err *err)
{
    if (c->n_proxies == 0)
        return cc_err_set(err, "field \"proxies\": at least one proxy is required");
    if (daemon_config_check_peer_policy(&c->common, c->proxies, c->n_proxies, err) < 0) return -1;
    if (strcmp(c->backend, "openai-http") == 0) {
        if (!c->backend_url || !*c->backend_url)
            return cc_err_set(err, "field \"backend_url\" is required with backend openai-http");
        if (!cc_str_has_prefix(c->backend_url, "http://") &&
            !cc_str_has_prefix(c->backend_url, "https://"))
            return cc_err_set(err, "field \"backend_url\": expected an http:// or https:// URL");
        if (!c->model || !*c->model)
            return cc_err_set(err,
                              "field \"model\" (the served model name) is required with backend "
                              "openai-http");
    } else if (strcmp(c->backend, "embedded") == 0) {
        if (!c->model || !*c->model)
            return cc_err_set(err, "field \"model\" (a GGUF file) is required with backend "
                                   "embedded");
    } else
        return cc_err_set(err,
                          "field \"backend\": unknown value \"%s\" (expected embedded or "
                          "openai-http)",
                          c->backend);
    return daemon_config_check(&c->common, err);
}

/* The worker's own overrides; --http, --proxy and --log-level are the
 * daemon layer's. */
static int apply_flag(void *ud, const char *f, const char *v, cc_err *err)
{
    static const char *const known[] = {
        "--backend",          "--backend-url",  "--model", "--model-name", "--coefficient",
        "--max-active",       "--threads",      "--slots", "--context",    "--kv-type",
        "--context-overflow", "--context-keep", NULL};
    if (!v) { /* only asked whether we know f */
        for (int k = 0; known[k]; k++)
            if (!strcmp(f, known[k])) return 1;
        return 0;
    }
    worker_config *c = ud;
    int64_t n;
    if (!strcmp(f, "--backend"))
        set_str(&c->backend, v);
    else if (!strcmp(f, "--backend-url"))
        set_str(&c->backend_url, v);
    else if (!strcmp(f, "--model"))
        set_str(&c->model, v);
    else if (!strcmp(f, "--model-name"))
        set_str(&c->model_name, v);
    else if (!strcmp(f, "--coefficient")) {
        if (cc_parse_i64(v, 1, 1000000, &n, err) < 0) return cc_err_prefix(err, "--coefficient");
        c->coefficient = (int)n;
    } else if (!strcmp(f, "--max-active")) {
        if (cc_parse_i64(v, 1, 100000, &n, err) < 0) return cc_err_prefix(err, "--max-active");
        c->max_active = (int)n;
    } else if (!strcmp(f, "--threads")) {
        if (cc_parse_i64(v, 0, 1024, &n, err) < 0) return cc_err_prefix(err, "--threads");
        c->threads = (int)n;
    } else if (!strcmp(f, "--slots")) {
        if (cc_parse_i64(v, 0, 1024, &n, err) < 0) return cc_err_prefix(err, "--slots");
        c->slots = (int)n;
    } else if (!strcmp(f, "--context")) {
        if (cc_parse_i64(v, 0, 1 << 20, &n, err) < 0) return cc_err_prefix(err, "--context");
        c->context = (int)n;
    } else if (!strcmp(f, "--kv-type")) {
        if (set_kv_type(c, v, "--kv-type", err) < 0) return -1;
    } else if (!strcmp(f, "--context-overflow")) {
        if (set_overflow(c, v, "--context-overflow", err) < 0) return -1;
    } else if (!strcmp(f, "--context-keep")) {
        if (set_keep(c, v, "--context-keep", err) < 0) return -1;
    } else
        return 0;
    return 1;
}

int worker_config_apply_flags(worker_config *c, int argc, char **argv, cc_err *err)
{
    const daemon_flag_targets t = {c->http_host,  sizeof(c->http_host), &c->http_port, &c->proxies,
                                   &c->n_proxies, &c->common.log_level, &c->common};
    return daemon_flags_apply(&t, argc, argv, apply_flag, c, err);
}

void worker_config_clear(worker_config *c)
{
    daemon_proxies_clear(&c->proxies, &c->n_proxies);
    free(c->backend);
    free(c->backend_url);
    free(c->api_key);
    free(c->model);
    free(c->model_name);
    free(c->chat_template);
    free(c->state_dir);
    free(c->wallet_key_file);
    daemon_http_limits_clear(&c->http_limits);
    daemon_config_clear(&c->common);
    memset(c, 0, sizeof(*c));
}

int worker_config_measure(const worker_config *c, cc_buf *out, cc_err *err)
{
    /* Whom it trusts (policy, fake root, whether proxies are checked against
     * a registry) and where prompts go (the backend and its URL). The model
     * is not measured: the proxy checks it against the registry's model
     * hashes. */
    const daemon_config *d = &c->common;
    char check[96];
    daemon_proxy_check_text(d, check, sizeof check);
    const daemon_measure_item items[] = {
        {"proxy_check", check}, {"backend", c->backend}, {"backend_url", c->backend_url}};
    return daemon_measure(out, "worker", d->tee, d->policy, items, 3, d->fake_root, err);
}

DAEMON_DEFINE_CONFIG_OPS(worker, worker_config);
