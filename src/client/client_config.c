/* cocoon-client configuration: defaults, JSON, flag overrides, validation,
 * and the part of it the fake TEE measures. */
#include "client/client.h"
#include "daemon/daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void client_config_init(client_config *c)
{
    memset(c, 0, sizeof(*c));
    strcpy(c->http_host, "127.0.0.1");
    c->http_port = 10000;
    /* COCOON's client default (ClientRunningRequest). The proxy reserves
     * max_tokens x max_coefficient/1000 of the client's credit per request,
     * so a huge default would refuse large requests for want of credit. */
    c->max_coefficient = 4000;
    c->max_tokens = 4096;
    c->request_timeout = 600;
    c->max_body = 8 << 20;
    /* COCOON's proxies refuse a peer whose is_test differs from theirs
     * ("test mode mismatch"); the networks we know are test ones. */
    c->is_test = true;
    daemon_config_init(&c->common);
}

int client_config_from_json(const json_t *obj, const char *path, client_config *c, cc_err *err)
{
    static const char *const keys[] = {"listen_http",
                                       "proxies",
                                       "max_coefficient",
                                       "max_tokens",
                                       "request_timeout",
                                       "max_body",
                                       "owner_address",
                                       "tee",
                                       "policy",
                                       "fake_root",
                                       "registry",
                                       "reconnect_min",
                                       "reconnect_max",
                                       "log_level",
                                       "comment",
                                       "is_test",
                                       "max_cert_lifetime",
                                       "collateral",
                                       "allowed_tcb_statuses",
                                       "min_tcb_evaluation_data_number",
                                       "collateral_url",
                                       "collateral_refresh",
                                       "chain",
                                       "root_address",
                                       "chain_refresh",
                                       "sealing",
                                       NULL};
    if (!json_is_object(obj)) return cc_err_set(err, "top level must be a JSON object");
    if (cc_json_check_keys(obj, keys, "config", err) < 0) return -1;
    if (daemon_proxies_from_json(obj, &c->proxies, &c->n_proxies, err) < 0) return -1;
    int64_t maxc = c->max_coefficient;
    if (daemon_json_get_hostport(obj, "listen_http", c->http_host, sizeof(c->http_host),
                                 &c->http_port, err) < 0 ||
        cc_json_get_int(obj, "max_coefficient", false, 1, INT32_MAX, &maxc, err) < 0 ||
        cc_json_get_int(obj, "max_tokens", false, 1, INT32_MAX, &c->max_tokens, err) < 0 ||
        cc_json_get_double(obj, "request_timeout", false, 1, 86400, &c->request_timeout, err) < 0 ||
        cc_json_get_int(obj, "max_body", false, 1024, 1 << 30, &c->max_body, err) < 0 ||
        cc_json_get_bool(obj, "is_test", false, &c->is_test, err) < 0 ||
        daemon_config_from_json(obj, path, &c->common, err) < 0)
        return -1;
    c->max_coefficient = (int)maxc;
    const json_t *sv = json_object_get(obj, "sealing");
    if (sv) {
        const char *s = json_string_value(sv);
        if (s && !strcmp(s, "required"))
            c->sealing = CLIENT_SEALING_REQUIRED;
        else if (s && !strcmp(s, "preferred"))
            c->sealing = CLIENT_SEALING_PREFERRED;
        else if (s && !strcmp(s, "off"))
            c->sealing = CLIENT_SEALING_OFF;
        else
            return cc_err_set(err,
                              "field \"sealing\": must be \"required\", \"preferred\" or \"off\"");
    }
    return 0;
}

int client_config_load(const char *path, client_config *c, cc_err *err)
{
    return daemon_config_load_file(&client_config_ops, path, c, err);
}

int client_config_apply_flags(client_config *c, int argc, char **argv, cc_err *err)
{
    const daemon_flag_targets t = {c->http_host,  sizeof(c->http_host), &c->http_port, &c->proxies,
                                   &c->n_proxies, &c->common.log_level, &c->common};
    return daemon_flags_apply(&t, argc, argv, NULL, NULL, err);
}

int client_config_validate(const client_config *c, cc_err *err)
{
    if (c->n_proxies == 0)
        return cc_err_set(err, "field \"proxies\": at least one proxy is required");
    if (daemon_config_check_peer_policy(&c->common, c->proxies, c->n_proxies, err) < 0) return -1;
    return daemon_config_check(&c->common, err);
}

void client_config_clear(client_config *c)
{
    daemon_proxies_clear(&c->proxies, &c->n_proxies);
    daemon_config_clear(&c->common);
    memset(c, 0, sizeof(*c));
}

int client_config_measure(const client_config *c, cc_buf *out, cc_err *err)
{
    /* Whom it trusts: policy, fake root, whether proxies are checked
     * against a registry. */
    const daemon_config *d = &c->common;
    /* With a chain, the root's proxy images are the check. */
    char check[96];
    snprintf(check, sizeof check, "%s%s",
             strcmp(d->chain, "none") ? "root "
             : d->registry            ? "registry"
                                      : "off",
             strcmp(d->chain, "none") ? d->root_address : "");
    static const char *const sealing[] = {"preferred", "required", "off"};
    const daemon_measure_item items[] = {{"proxy_check", check}, {"sealing", sealing[c->sealing]}};
    return daemon_measure(out, "client", d->tee, d->policy, items, 2, d->fake_root, err);
}

DAEMON_DEFINE_CONFIG_OPS(client, client_config);
