/* cocoon-proxy configuration: defaults, JSON loading, validation. */
#include "daemon/daemon.h"
#include "proxy/proxy.h"

#include <stdlib.h>
#include <string.h>

static int get_addr(const json_t *obj, const char *key, proxy_listen_addr *a, cc_err *err)
{
    const char *s = NULL;
    if (cc_json_get_str(obj, key, false, &s, err) < 0) return -1;
    if (s && cc_parse_hostport(s, a->host, sizeof(a->host), &a->port, err) < 0)
        return cc_err_prefix(err, "field \"%s\"", key);
    return 0;
}

/* The shared fields, as the daemon layer loads and checks them (the proxy
 * dials nobody: no reconnect settings). */
static daemon_config_fields common_fields(proxy_config *c)
{
    return (daemon_config_fields){
        .owner_address = &c->owner_address,
        .tee = &c->tee,
        .policy = &c->policy,
        .fake_root = &c->fake_root,
        .registry = &c->registry,
        .log_level = &c->log_level,
    };
}

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
    c->request_timeout = 600;
    c->idle_timeout = 60;
    c->log_level = cc_strdup("info");
}

int proxy_config_from_json(const json_t *obj, const char *path, proxy_config *c, cc_err *err)
{
    static const char *const keys[] = {
        "listen_workers",  "listen_clients", "listen_http", "chain",   "registry",
        "pow_difficulty",  "owner_address",  "tee",         "policy",  "fake_root",
        "request_timeout", "idle_timeout",   "log_level",   "comment", NULL};
    int64_t pow = c->pow_difficulty;
    daemon_config_fields f = common_fields(c);
    if (!json_is_object(obj)) return cc_err_set(err, "top level must be a JSON object");
    if (cc_json_check_keys(obj, keys, "config", err) < 0 ||
        get_addr(obj, "listen_workers", &c->workers, err) < 0 ||
        get_addr(obj, "listen_clients", &c->clients, err) < 0 ||
        get_addr(obj, "listen_http", &c->http, err) < 0 ||
        daemon_json_get_strdup(obj, "chain", &c->chain, err) < 0 ||
        cc_json_get_int(obj, "pow_difficulty", false, 0, 28, &pow, err) < 0 ||
        cc_json_get_double(obj, "request_timeout", false, 1, 86400, &c->request_timeout, err) < 0 ||
        cc_json_get_double(obj, "idle_timeout", false, 1, 86400, &c->idle_timeout, err) < 0 ||
        daemon_config_load_common(obj, path, &f, err) < 0)
        return -1;
    c->pow_difficulty = (int)pow;
    if (daemon_config_check_common(&f, err) < 0) return -1;
    if (strcmp(c->chain, "none") == 0 && !c->registry)
        return cc_err_set(err, "field \"registry\" is required with \"chain\": \"none\"");
    return 0;
}

int proxy_config_load(const char *path, proxy_config *c, cc_err *err)
{
    json_t *j = cc_json_load_file(path, err);
    if (!j) return -1;
    int rc = proxy_config_from_json(j, path, c, err);
    json_decref(j);
    if (rc < 0) cc_err_prefix(err, "%s", path);
    return rc;
}

void proxy_config_clear(proxy_config *c)
{
    free(c->chain);
    free(c->registry);
    free(c->owner_address);
    free(c->tee);
    free(c->policy);
    free(c->fake_root);
    free(c->log_level);
    memset(c, 0, sizeof(*c));
}
