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
    daemon_tee_config tc = {.role = "client",
                            .tee = cfg->tee,
                            .policy = cfg->policy,
                            .fake_root = cfg->fake_root,
                            .proxy_registry = cfg->registry,
                            .measure = measure,
                            .measure_cfg = cfg};
    return daemon_tee_setup(&c->tee, &tc, err);
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
    c->owner_address = cc_strdup(cfg->owner_address ? cfg->owner_address : "");
    cc_map_init(&c->reqs);
    if (client_links_init(c, cfg->proxies, cfg->n_proxies, cfg->reconnect_min, cfg->reconnect_max,
                          err) < 0) {
        client_free(c);
        return NULL;
    }
    return c;
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
    CC_INFO("event=client_start http_port=%d proxies=%zu", http_server_port(c->http), c->n_links);
    client_links_start(c);
    return c;
fail:
    client_free(c);
    return NULL;
}

void client_free(client *c)
{
    if (!c) return;
    client_requests_abort_all(c);
    client_links_stop(c);
    if (c->http) http_server_free(c->http);
    cc_map_free(&c->reqs);
    free(c->links);
    daemon_tee_clear(&c->tee);
    free(c->owner_address);
    free(c);
}

uint16_t client_http_port(const client *c)
{
    return (uint16_t)http_server_port(c->http);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cocoon-client --config FILE.json [--http HOST:PORT] [--proxy HOST:PORT]...\n"
               "         [--log-level debug|info|warn|error]\n");
}

int client_main(int argc, char **argv)
{
    const char *config = NULL;
    char **rest;
    int nrest;
    if (daemon_args_split(argc, argv, &config, &rest, &nrest)) {
        usage(stdout);
        return 0;
    }
    client_config cfg;
    cc_err err = {0};
    client_config_init(&cfg);
    int rc = 2;
    if ((config && client_config_load(config, &cfg, &err) < 0) ||
        client_config_apply_flags(&cfg, nrest, rest, &err) < 0 ||
        client_config_validate(&cfg, &err) < 0) {
        fprintf(stderr, "cocoon-client: %s\n", err.msg);
        if (!config) usage(stderr);
        client_config_clear(&cfg);
        free(rest);
        return rc;
    }
    free(rest);
    daemon_log_start("client", cfg.log_level);
    struct event_base *base = event_base_new();
    client *c = client_new(base, &cfg, &err);
    client_config_clear(&cfg);
    rc = 1;
    if (!c) {
        CC_ERROR("event=start_failed error=\"%s\"", err.msg);
    } else {
        daemon_run(base);
        client_free(c);
        rc = 0;
    }
    event_base_free(base);
    CC_INFO("event=exit rc=%d", rc);
    return rc;
}
