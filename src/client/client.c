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
    return daemon_tee_setup(&c->tee, &tc, err) < 0
               ? -1
               : daemon_tee_follow_chain(&c->tee, c->base, &cfg->common, err);
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
    c->is_test = cfg->is_test;
    c->owner_address = cc_strdup(cfg->common.owner_address ? cfg->common.owner_address : "");
    cc_map_init(&c->reqs);
    const daemon_link_env env = {.base = base, .tee = &c->tee, .ops = &client_link_ops, .ud = c};
    if (daemon_links_init(&c->links, &env, &cfg->common, cfg->proxies, cfg->n_proxies, err) == 0) {
        client_money_init(c);
        return c;
    }
    client_free(c);
    return NULL;
}

client *client_new(struct event_base *base, const client_config *cfg, cc_err *err)
{
    client *c = client_new_detached(base, cfg, &client_io_net, err);
    if (!c) return NULL;
    if (setup_tee(c, cfg, err) < 0) goto fail;
    http_server_config hc = {
        .host = cfg->http_host, .port = cfg->http_port, .max_body = (size_t)cfg->max_body};
    c->http = http_server_new(base, &hc, err);
    if (!c->http) {
        cc_err_prefix(err, "HTTP on %s:%u", cfg->http_host, cfg->http_port);
        goto fail;
    }
    client_api_register(c);
    CC_INFO("event=client_start http_port=%d proxies=%zu", http_server_port(c->http), c->links.n);
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
    if (c->http) http_server_free(c->http);
    cc_map_free(&c->reqs);
    client_debug_log_clear(c);
    daemon_tee_clear(&c->tee);
    free(c->owner_address);
    free(c);
}

uint16_t client_http_port(const client *c)
{
    return (uint16_t)http_server_port(c->http);
}

DAEMON_DEFINE_ROLE(
    client,
    "usage: cocoon-client --config FILE.json [--http HOST:PORT] [--proxy HOST:PORT]...\n"
    "         [--log-level debug|info|warn|error]\n"
    "         [--chain URL --root ADDR [--chain-refresh SECONDS]]\n",
    false, &client_config_ops, client_new, client_free);

int client_main(int argc, char **argv)
{
    return daemon_main(&client_role, argc, argv);
}
