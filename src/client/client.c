/* The cocoon-client daemon: set-up and main(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"

static int measure(const void *cfg, cc_buf *out, cc_err *err)
{
    return client_config_measure(cfg, out, err);
}

static int setup_tee(client *c, const client_config *cfg, cc_err *err)
{
    daemon_tee_config tc = daemon_tee_config_of("client", &cfg->common, true);
    tc.base = c->base;
    tc.measure = measure;
    tc.measure_cfg = cfg;
    if (daemon_tee_setup(&c->tee, &tc, err) < 0 ||
        daemon_tee_follow_chain(&c->tee, c->base, &cfg->common, err) < 0)
        return -1;
    /* Sealing candidates are workers: checked under the same policy settings
     * as the proxies, but against the registry's worker images and models. */
    c->worker_policy = daemon_tee_policy_new(cfg->common.policy, cfg->common.fake_root, err);
    if (!c->worker_policy || daemon_tee_policy_configure(c->worker_policy, &cfg->common, err) < 0)
        return -1;
    return 0;
}

client *client_new_detached(struct event_base *base, const client_config *cfg, const client_io *io,
                            cc_err *err)
{
    client *c = cc_calloc(1, sizeof(*c));
    c->base = base;
    c->io = io;
    c->max_coefficient = cfg->max_coefficient;
    c->max_tokens = cfg->max_tokens;
    c->request_timeout = cfg->request_timeout;
    c->stream_window = cfg->stream_window ? cfg->stream_window : NET_FLOW_WINDOW_DEFAULT;
    c->is_test = cfg->is_test;
    c->owner_address = cc_strdup(cfg->common.owner_address ? cfg->common.owner_address : "");
    client_keys_init(c, cfg);
    static const double bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
    http_histogram_init(&c->latency, bounds, CC_ARRAY_LEN(bounds));
    http_histogram_init(&c->ttft, bounds, CC_ARRAY_LEN(bounds));
    cc_map_init(&c->reqs);
    cc_map_init(&c->seal_cache);
    cc_map_init(&c->seal_sessions);
    c->sealing = cfg->sealing;
    c->seal_candidates = (int)cfg->sealing_candidates;
    c->seal_sign_on_request = cfg->sealing_receipts_on_request;
    c->affinity = cfg->prefix_affinity;
    crypto_random(c->affinity_secret, sizeof c->affinity_secret);
    const daemon_link_env env = {.base = base, .tee = &c->tee, .ops = &client_link_ops, .ud = c};
    if (daemon_identity_load(&c->ident, cfg->state_dir, "client-signing.seed", "client", err) ==
            0 &&
        client_secret_load(c, cfg->state_dir, err) == 0 &&
        daemon_links_init(&c->links, &env, &cfg->common, cfg->proxies, cfg->n_proxies, err) == 0) {
        client_money_init(c);
        if (client_keys_store_open(c, cfg->state_dir, err) == 0) return c;
        cc_err_prefix(err, "state_dir");
    }
    client_free(c);
    return NULL;
}

static bool is_loopback(const char *host)
{
    return !strncmp(host, "127.", 4) || !strcmp(host, "::1") || !strcmp(host, "[::1]") ||
           !strcmp(host, "localhost");
}

/* Where the stats pages listen (client_config.admin_port): the port, or -1
 * when they stay on the API listener. */
static int admin_listener(const client_config *cfg, char *host, size_t n)
{
    if (cfg->admin_port >= 0) {
        snprintf(host, n, "%s", cfg->admin_host);
        return cfg->admin_port;
    }
    if (is_loopback(cfg->http_host)) return -1;
    snprintf(host, n, "127.0.0.1");
    return cfg->http_port && cfg->http_port < 65535 ? cfg->http_port + 1 : 0;
}

client *client_new(struct event_base *base, const client_config *cfg, cc_err *err)
{
    client *c = client_new_detached(base, cfg, &client_io_net, err);
    if (!c) return NULL;
    if (setup_tee(c, cfg, err) < 0 || client_chain_open(c, cfg, err) < 0) goto fail;
    http_server_config hc = {.host = cfg->http_host,
                             .port = cfg->http_port,
                             .max_body = (size_t)cfg->max_body,
                             .allowed_origins = cfg->cors_origins,
                             .cors = cfg->cors_origins != NULL};
    daemon_http_limits_apply(&cfg->http_limits, &hc);
    c->http = http_server_new(base, &hc, err);
    if (!c->http) {
        cc_err_prefix(err, "HTTP on %s:%u", cfg->http_host, cfg->http_port);
        goto fail;
    }
    char admin_host[64];
    int admin_port = admin_listener(cfg, admin_host, sizeof(admin_host));
    if (admin_port >= 0) {
        http_server_config ac = {.host = admin_host, .port = admin_port};
        c->admin = http_server_new(base, &ac, err);
        if (!c->admin) {
            cc_err_prefix(err, "admin HTTP on %s:%d", admin_host, admin_port);
            goto fail;
        }
    }
    client_api_register(c);
    CC_INFO("event=client_start http_port=%d admin_port=%d proxies=%zu", http_server_port(c->http),
            c->admin ? http_server_port(c->admin) : http_server_port(c->http), c->links.n);
    daemon_links_start(&c->links);
    client_models_start(c);
    return c;
fail:
    client_free(c);
    return NULL;
}

void client_free(client *c)
{
    if (!c) return;
    client_requests_abort_all(c);
    daemon_links_stop(&c->links, "client stopping");
    client_models_stop(c);
    client_money_free(c);
    client_chain_free(c);
    if (c->http) http_server_free(c->http);
    if (c->admin) http_server_free(c->admin);
    cc_map_free(&c->reqs);
    client_debug_log_clear(c);
    client_seal_cache_clear(c);
    client_seal_lists_forget(c, NULL);
    cc_map_free(&c->seal_cache);
    client_seal_sessions_clear(c);
    cc_map_free(&c->seal_sessions);
    if (c->worker_policy) tee_policy_free(c->worker_policy);
    daemon_tee_clear(&c->tee);
    client_keys_store_close(c);
    daemon_identity_clear(&c->ident);
    free(c->owner_address);
    free(c->keys);
    free(c);
}

uint16_t client_http_port(const client *c)
{
    return (uint16_t)http_server_port(c->http);
}

DAEMON_DEFINE_ROLE(
    client,
    "usage: cocoon-client --config FILE.json [--http HOST:PORT] [--proxy HOST:PORT]...\n"
    "         [--log-level debug|info|warn|error] [--version]\n"
    "         [--chain URL --root ADDR [--chain-refresh SECONDS]]\n"
    "defaults: --http 127.0.0.1:10000 (the OpenAI API), --log-level info, --chain none,\n"
    "          --chain-refresh 60; the proxies come from the config (\"proxies\");\n"
    "          docs/operations.md lists every config key\n",
    false, &client_config_ops, client_new, client_free);

int client_main(int argc, char **argv)
{
    return daemon_main(&client_role, argc, argv);
}
