/* cocoon-proxy configuration: defaults, JSON loading, validation. */
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
    c->chain = cc_strdup("none");
    c->pow_difficulty = 20;
    c->owner_address = cc_strdup("");
    c->tee = cc_strdup("none");
    c->policy = cc_strdup("any");
    c->client_policy = cc_strdup("any");
    c->request_timeout = 600;
    c->idle_timeout = 60;
    c->log_level = cc_strdup("info");
}

int proxy_config_from_json(const json_t *obj, const char *path, proxy_config *c, cc_err *err)
{
    static const char *const keys[] = {
        "listen_workers", "listen_clients", "listen_http",     "chain",
        "registry",       "pow_difficulty", "owner_address",   "tee",
        "policy",         "fake_root",      "request_timeout", "idle_timeout",
        "log_level",      "comment",        "client_policy",   NULL};
    int64_t pow = c->pow_difficulty;
    daemon_config_fields f = DAEMON_CONFIG_FIELDS(c); /* the proxy dials nobody */
    if (!json_is_object(obj)) return cc_err_set(err, "top level must be a JSON object");
    if (cc_json_check_keys(obj, keys, "config", err) < 0 ||
        daemon_json_get_hostport(obj, "listen_workers", c->workers.host, sizeof(c->workers.host),
                                 &c->workers.port, err) < 0 ||
        daemon_json_get_hostport(obj, "listen_clients", c->clients.host, sizeof(c->clients.host),
                                 &c->clients.port, err) < 0 ||
        daemon_json_get_hostport(obj, "listen_http", c->http.host, sizeof(c->http.host),
                                 &c->http.port, err) < 0 ||
        daemon_json_get_strdup(obj, "chain", &c->chain, err) < 0 ||
        daemon_json_get_strdup(obj, "client_policy", &c->client_policy, err) < 0 ||
        cc_json_get_int(obj, "pow_difficulty", false, 0, 28, &pow, err) < 0 ||
        cc_json_get_double(obj, "request_timeout", false, 1, 86400, &c->request_timeout, err) < 0 ||
        cc_json_get_double(obj, "idle_timeout", false, 1, 86400, &c->idle_timeout, err) < 0 ||
        daemon_config_load_common(obj, path, &f, err) < 0)
        return -1;
    c->pow_difficulty = (int)pow;
    return daemon_config_check_common(&f, err);
}

int proxy_config_validate(const proxy_config *c, cc_err *err)
{
    static const char *const policies[] = {"any", "fake", "tdx", "fake_tdx", NULL};
    if (daemon_check_choice("client_policy", c->client_policy, policies, err) < 0) return -1;
    if (!strcmp(c->client_policy, "fake") && !c->fake_root)
        return cc_err_set(err, "field \"fake_root\" is required with client_policy \"fake\"");
    if (strcmp(c->chain, "none") == 0 && !c->registry)
        return cc_err_set(err, "field \"registry\" (or --registry FILE) is required with "
                               "\"chain\": \"none\"");
    return 0;
}

int proxy_config_load_with(const char *path, const char *chain, const char *registry_file,
                           proxy_config *c, cc_err *err)
{
    json_t *j = cc_json_load_file(path, err);
    if (!j) return -1;
    int rc = proxy_config_from_json(j, path, c, err);
    json_decref(j);
    if (rc == 0 && chain) {
        free(c->chain);
        c->chain = cc_strdup(chain);
    }
    if (rc == 0 && registry_file) {
        free(c->registry);
        c->registry = cc_strdup(registry_file);
    }
    if (rc == 0) rc = proxy_config_validate(c, err);
    if (rc < 0) cc_err_prefix(err, "%s", path);
    return rc;
}

int proxy_config_load(const char *path, proxy_config *c, cc_err *err)
{
    return proxy_config_load_with(path, NULL, NULL, c, err);
}

void proxy_config_clear(proxy_config *c)
{
    free(c->chain);
    free(c->client_policy);
    daemon_config_fields f = DAEMON_CONFIG_FIELDS(c);
    daemon_config_clear_common(&f);
    memset(c, 0, sizeof(*c));
}
