/* cocoon-client configuration: defaults, JSON, flag overrides, validation. */
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
    c->max_coefficient = 1000000;
    c->max_tokens = 4096;
    c->request_timeout = 600;
    c->max_body = 8 << 20;
    c->owner_address = cc_strdup("");
    c->tee = cc_strdup("none");
    c->policy = cc_strdup("any");
    c->reconnect_min = 0.2;
    c->reconnect_max = 10;
    c->log_level = cc_strdup("info");
}

int client_config_from_json(const json_t *obj, const char *path, client_config *c, cc_err *err)
{
    static const char *const keys[] = {
        "listen_http",     "proxies",   "max_coefficient", "max_tokens",
        "request_timeout", "max_body",  "owner_address",   "tee",
        "policy",          "fake_root", "registry",        "reconnect_min",
        "reconnect_max",   "log_level", "comment",         NULL};
    if (!json_is_object(obj)) return cc_err_set(err, "top level must be a JSON object");
    if (cc_json_check_keys(obj, keys, "config", err) < 0) return -1;
    if (daemon_proxies_from_json(obj, &c->proxies, &c->n_proxies, err) < 0) return -1;
    int64_t maxc = c->max_coefficient;
    daemon_config_fields f = DAEMON_CONFIG_FIELDS_DIALING(c);
    if (daemon_json_get_hostport(obj, "listen_http", c->http_host, sizeof(c->http_host),
                                 &c->http_port, err) < 0 ||
        cc_json_get_int(obj, "max_coefficient", false, 1, INT32_MAX, &maxc, err) < 0 ||
        cc_json_get_int(obj, "max_tokens", false, 1, INT32_MAX, &c->max_tokens, err) < 0 ||
        cc_json_get_double(obj, "request_timeout", false, 1, 86400, &c->request_timeout, err) < 0 ||
        cc_json_get_int(obj, "max_body", false, 1024, 1 << 30, &c->max_body, err) < 0 ||
        daemon_config_load_common(obj, path, &f, err) < 0)
        return -1;
    c->max_coefficient = (int)maxc;
    return 0;
}

int client_config_load(const char *path, client_config *c, cc_err *err)
{
    json_t *j = cc_json_load_file(path, err);
    if (!j) return -1;
    int rc = client_config_from_json(j, path, c, err);
    json_decref(j);
    if (rc < 0) cc_err_prefix(err, "%s", path);
    return rc;
}

int client_config_apply_flags(client_config *c, int argc, char **argv, cc_err *err)
{
    const daemon_flag_targets t = {c->http_host, sizeof(c->http_host), &c->http_port,
                                   &c->proxies,  &c->n_proxies,        &c->log_level};
    return daemon_flags_apply(&t, argc, argv, NULL, NULL, err);
}

int client_config_validate(const client_config *c, cc_err *err)
{
    if (c->n_proxies == 0)
        return cc_err_set(err, "field \"proxies\": at least one proxy is required");
    client_config *m = (client_config *)c; /* only read */
    daemon_config_fields f = DAEMON_CONFIG_FIELDS_DIALING(m);
    return daemon_config_check_common(&f, err);
}

void client_config_clear(client_config *c)
{
    daemon_proxies_clear(&c->proxies, &c->n_proxies);
    daemon_config_fields f = DAEMON_CONFIG_FIELDS(c);
    daemon_config_clear_common(&f);
    memset(c, 0, sizeof(*c));
}
