/* The cocoon-client daemon: set-up and main(). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"

/* The registry's proxy image allowlist, run in the TLS handshake so that
 * nothing is sent to a proxy running an image the network does not list. */
static int check_proxy_image(void *ud, const tee_peer_info *info, cc_err *err)
{
    static const uint8_t none[32];
    const uint8_t *h = info->quote_verified ? info->image_hash : none;
    if (registry_proxy_image_allowed(ud, h)) return 0;
    char hex[65];
    cc_hex_encode(h, 32, hex);
    return cc_err_set(err, "proxy image hash %s is not in the registry", hex);
}

static int setup_tee(client *c, const client_config *cfg, cc_err *err)
{
    tee_provider_kind pk;
    tee_policy_kind polk;
    if (tee_provider_kind_parse(cfg->tee, &pk, err) < 0 ||
        tee_policy_kind_parse(cfg->policy, &polk, err) < 0)
        return -1;
    if (pk == TEE_PROVIDER_NONE)
        c->provider = tee_provider_new_none();
    else if (pk == TEE_PROVIDER_FAKE) {
        /* RTMR2 measures the trust-relevant settings, so changing them
         * changes the image hash the registry must list. */
        cc_buf measured = CC_BUF_INIT;
        if (client_config_measure(cfg, &measured, err) == 0)
            c->provider =
                tee_provider_new_fake(cfg->fake_root, measured.data, measured.len, NULL, err);
        cc_buf_free(&measured);
    }
    else
        c->provider = tee_provider_new_tdx(err);
    if (!c->provider) return -1;
    tee_claims claims = {0};
    snprintf(claims.role, sizeof(claims.role), "client");
    tee_identity_opts io = {.claims = &claims};
    c->identity = tee_identity_new(c->provider, &io, err);
    if (!c->identity) return -1;
    c->policy = tee_policy_new(polk);
    if (polk == TEE_POLICY_FAKE) {
        X509 *root = tee_fake_root_load_cert(cfg->fake_root, err);
        if (!root) return -1;
        tee_policy_set_root(c->policy, root);
        X509_free(root);
    }
    if (cfg->registry) {
        c->proxy_registry = registry_open("none", cfg->registry, err);
        if (!c->proxy_registry) return -1;
        tee_policy_set_check(c->policy, check_proxy_image, c->proxy_registry);
    }
    return 0;
}

client *client_new(struct event_base *base, const client_config *cfg, cc_err *err)
{
    client *c = cc_calloc(1, sizeof(*c));
    c->base = base;
    c->max_coefficient = cfg->max_coefficient;
    c->max_tokens = cfg->max_tokens;
    c->request_timeout = cfg->request_timeout;
    c->owner_address = cc_strdup(cfg->owner_address ? cfg->owner_address : "");
    cc_map_init(&c->reqs);
    if (setup_tee(c, cfg, err) < 0) goto fail;
    c->links = cc_calloc(cfg->n_proxies + 1, sizeof(*c->links));
    c->n_links = cfg->n_proxies;
    for (size_t i = 0; i < cfg->n_proxies; i++) {
        clink *l = &c->links[i];
        l->c = c;
        snprintf(l->addr, sizeof(l->addr), "%s", cfg->proxies[i]);
        if (cc_parse_hostport(cfg->proxies[i], l->host, sizeof(l->host), &l->port, err) < 0)
            goto fail;
    }
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
    if (c->identity) tee_identity_free(c->identity);
    if (c->policy) tee_policy_free(c->policy);
    if (c->proxy_registry) registry_free(c->proxy_registry);
    if (c->provider) tee_provider_free(c->provider);
    free(c->owner_address);
    cc_buf_free(&c->scratch);
    free(c);
}

uint16_t client_http_port(const client *c)
{
    return (uint16_t)http_server_port(c->http);
}

static void on_signal(evutil_socket_t sig, short what, void *ud)
{
    (void)what;
    CC_INFO("event=signal sig=%d action=stop", (int)sig);
    event_base_loopbreak(ud);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cocoon-client --config FILE.json [--http HOST:PORT] [--proxy HOST:PORT]...\n"
               "         [--log-level debug|info|warn|error]\n");
}

int client_main(int argc, char **argv)
{
    const char *config = NULL;
    char **rest = cc_calloc((size_t)argc + 1, sizeof(char *));
    int nrest = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            free(rest);
            return 0;
        }
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config = argv[++i];
        else
            rest[nrest++] = argv[i];
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
    cc_log_init("client", cc_log_level_from_string(cfg.log_level));
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    client *c = client_new(base, &cfg, &err);
    client_config_clear(&cfg);
    rc = 1;
    if (!c) {
        CC_ERROR("event=start_failed error=\"%s\"", err.msg);
    } else {
        struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
        struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
        event_add(sigint, NULL);
        event_add(sigterm, NULL);
        event_base_dispatch(base);
        event_free(sigint);
        event_free(sigterm);
        client_free(c);
        rc = 0;
    }
    event_base_free(base);
    CC_INFO("event=exit rc=%d", rc);
    return rc;
}
