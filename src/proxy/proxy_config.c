/* cocoon-proxy configuration: defaults, JSON loading, overrides, validation,
 * and the part of it the fake TEE measures. */
#include "daemon/daemon.h"
#include "proxy/proxy.h"

#include <stdlib.h>
#include <string.h>

void proxy_config_init(proxy_config *c)
{
    memset(c, 0, sizeof(*c));
    strcpy(c->workers.host, "0.0.0.0");
    c->workers.port = 11001;
    strcpy(c->clients.host, "0.0.0.0");
    c->clients.port = 11002;
    strcpy(c->http.host, "127.0.0.1");
    c->http.port = 11000;
    c->pow_difficulty = 20;
    c->client_policy = cc_strdup("any");
    c->request_timeout = 600;
    c->idle_timeout = 60;
    c->limits = (proxy_limits){.first_byte_timeout = 120,
                               .worker_liveness_timeout = 8,
                               .max_queued = 4096,
                               .max_queued_bytes = 256u << 20,
                               .client_max_active = 256,
                               .client_max_queued = 1024,
                               .client_max_queued_bytes = 64u << 20};
    c->free_client_balance_nano = 100 * 1000000000LL;
    c->free_client_stake_nano = 1000000000LL;
    c->save_interval = 45;
    c->min_charge_nano = 1000000000LL; /* COCOON's min_client_charge_sum */
    c->charge_short_credit = true;
    c->min_payout_nano = 10000000000LL;   /* COCOON's min_worker_payout_sum */
    c->min_withdraw_nano = 10000000000LL; /* COCOON's min_withdraw_amount */
    c->auth_timeout = 120;
    daemon_config_init(&c->common);
}

static int get_size(const json_t *obj, const char *key, int64_t min, int64_t max, size_t *v,
                    cc_err *err)
{
    int64_t x = (int64_t)*v;
    if (cc_json_get_int(obj, key, false, min, max, &x, err) < 0) return -1;
    *v = (size_t)x;
    return 0;
}

static int limits_from_json(const json_t *obj, proxy_limits *l, cc_err *err)
{
    const int64_t gib = 1 << 30;
    if (cc_json_get_double(obj, "first_byte_timeout", false, 0, 86400, &l->first_byte_timeout,
                           err) < 0 ||
        cc_json_get_double(obj, "worker_liveness_timeout", false, 1, 3600,
                           &l->worker_liveness_timeout, err) < 0 ||
        get_size(obj, "max_queued", 0, 1 << 20, &l->max_queued, err) < 0 ||
        get_size(obj, "max_queued_bytes", 0, 64 * gib, &l->max_queued_bytes, err) < 0 ||
        get_size(obj, "client_max_active", 1, 1 << 20, &l->client_max_active, err) < 0 ||
        get_size(obj, "client_max_queued", 0, 1 << 20, &l->client_max_queued, err) < 0 ||
        get_size(obj, "client_max_queued_bytes", 0, 64 * gib, &l->client_max_queued_bytes, err) < 0)
        return -1;
    return 0;
}

int proxy_config_from_json(const json_t *obj, const char *path, proxy_config *c, cc_err *err)
{
    /* No reconnect_min/max: the proxy dials nobody. */
    static const char *const keys[] = {"listen_workers",
                                       "listen_clients",
                                       "listen_http",
                                       "pow_difficulty",
                                       "request_timeout",
                                       "idle_timeout",
                                       "client_policy",
                                       "state_dir",
                                       "ledger",
                                       "first_byte_timeout",
                                       "worker_liveness_timeout",
                                       "max_queued",
                                       "max_queued_bytes",
                                       "client_max_active",
                                       "client_max_queued",
                                       "client_max_queued_bytes",
                                       "free_client_balance_nano",
                                       "free_client_stake_nano",
                                       "wallet_key_file",
                                       "save_interval",
                                       "min_charge_nano",
                                       "charge_short_credit",
                                       "min_payout_nano",
                                       "min_withdraw_nano",
                                       "auth_timeout",
                                       NULL};
    int64_t pow = c->pow_difficulty;
    if (!json_is_object(obj)) return cc_err_set(err, "top level must be a JSON object");
    if (daemon_config_check_keys(obj, keys, err) < 0 ||
        daemon_json_get_hostport(obj, "listen_workers", c->workers.host, sizeof(c->workers.host),
                                 &c->workers.port, err) < 0 ||
        daemon_json_get_hostport(obj, "listen_clients", c->clients.host, sizeof(c->clients.host),
                                 &c->clients.port, err) < 0 ||
        daemon_json_get_hostport(obj, "listen_http", c->http.host, sizeof(c->http.host),
                                 &c->http.port, err) < 0 ||
        daemon_json_get_strdup(obj, "client_policy", &c->client_policy, err) < 0 ||
        cc_json_get_int(obj, "pow_difficulty", false, 0, 28, &pow, err) < 0 ||
        cc_json_get_double(obj, "request_timeout", false, 1, 86400, &c->request_timeout, err) < 0 ||
        cc_json_get_double(obj, "idle_timeout", false, 1, 86400, &c->idle_timeout, err) < 0 ||
        limits_from_json(obj, &c->limits, err) < 0 ||
        daemon_http_limits_from_json(obj, "http", &c->http_limits, err) < 0 ||
        daemon_json_get_path(obj, "state_dir", path, &c->state_dir, err) < 0 ||
        daemon_json_get_path(obj, "ledger", path, &c->ledger, err) < 0 ||
        daemon_json_get_path(obj, "wallet_key_file", path, &c->wallet_key_file, err) < 0 ||
        cc_json_get_double(obj, "save_interval", false, 0.1, 86400, &c->save_interval, err) < 0 ||
        cc_json_get_double(obj, "auth_timeout", false, 0.1, 86400, &c->auth_timeout, err) < 0 ||
        cc_json_get_int(obj, "min_charge_nano", false, 0, INT64_MAX / 4, &c->min_charge_nano, err) <
            0 ||
        cc_json_get_bool(obj, "charge_short_credit", false, &c->charge_short_credit, err) < 0 ||
        cc_json_get_int(obj, "min_payout_nano", false, 0, INT64_MAX / 4, &c->min_payout_nano, err) <
            0 ||
        cc_json_get_int(obj, "min_withdraw_nano", false, 0, INT64_MAX / 4, &c->min_withdraw_nano,
                        err) < 0 ||
        cc_json_get_int(obj, "free_client_balance_nano", false, 0, INT64_MAX / 4,
                        &c->free_client_balance_nano, err) < 0 ||
        cc_json_get_int(obj, "free_client_stake_nano", false, 0, INT64_MAX / 4,
                        &c->free_client_stake_nano, err) < 0 ||
        daemon_config_from_json(obj, path, &c->common, err) < 0)
        return -1;
    c->pow_difficulty = (int)pow;
    return 0;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = cc_strdup(v);
}

/* --registry; --log-level and the chain flags are the daemon layer's. */
static int apply_flag(void *ud, const char *f, const char *v, cc_err *err)
{
    static const char *const known[] = {"--registry", NULL};
    if (!v) { /* only asked whether we know f */
        for (int k = 0; known[k]; k++)
            if (!strcmp(f, known[k])) return 1;
        return 0;
    }
    (void)err;
    proxy_config *c = ud;
    if (!strcmp(f, "--registry"))
        set_str(&c->common.registry, v); /* as given: relative to the working folder */
    else
        return 0;
    return 1;
}

int proxy_config_apply_flags(proxy_config *c, int argc, char **argv, cc_err *err)
{
    const daemon_flag_targets t = {.log_level = &c->common.log_level, .chain = &c->common};
    return daemon_flags_apply(&t, argc, argv, apply_flag, c, err);
}

int proxy_config_validate(const proxy_config *c, cc_err *err)
{
    static const char *const policies[] = {"any", "fake", "tdx", "fake_tdx", NULL};
    if (daemon_config_check(&c->common, err) < 0 ||
        daemon_check_choice("client_policy", c->client_policy, policies, err) < 0)
        return -1;
    if (!strcmp(c->client_policy, "fake") && !c->common.fake_root)
        return cc_err_set(err, "field \"fake_root\" is required with client_policy \"fake\"");
    if (strcmp(c->common.chain, "none") == 0 && !c->common.registry)
        return cc_err_set(err, "field \"registry\" (or --registry FILE) is required with "
                               "\"chain\": \"none\"");
    return 0;
}

int proxy_config_load(const char *path, proxy_config *c, cc_err *err)
{
    if (daemon_config_load_file(&proxy_config_ops, path, c, err) < 0) return -1;
    if (proxy_config_validate(c, err) < 0) return cc_err_prefix(err, "%s", path);
    return 0;
}

void proxy_config_clear(proxy_config *c)
{
    free(c->client_policy);
    free(c->state_dir);
    free(c->ledger);
    free(c->wallet_key_file);
    daemon_http_limits_clear(&c->http_limits);
    daemon_config_clear(&c->common);
    memset(c, 0, sizeof(*c));
}

int proxy_config_measure(const proxy_config *c, cc_buf *out, cc_err *err)
{
    /* The settings that decide whom it trusts; ports and limits stay out. */
    const daemon_config *d = &c->common;
    /* With a chain, what decides whom it trusts is the root contract, not the
     * API endpoint that serves it. */
    const char *chain = strcmp(d->chain, "none") ? d->root_address : "none";
    const daemon_measure_item items[] = {{"chain", chain}, {"client_policy", c->client_policy}};
    if (daemon_measure(out, "proxy", d->tee, d->policy, items, 2, d->fake_root, err) < 0) return -1;
    /* The fake root is the client port's trust anchor too. */
    if (strcmp(d->policy, "fake") != 0 && !strcmp(c->client_policy, "fake"))
        return tee_measure_add_fake_root(out, d->fake_root, err);
    return 0;
}

DAEMON_DEFINE_CONFIG_OPS(proxy, proxy_config);
