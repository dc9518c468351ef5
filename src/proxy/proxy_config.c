/* cocoon-proxy configuration: defaults, JSON loading, validation. */
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

static int get_str(const json_t *obj, const char *key, char **dst, cc_err *err)
{
    const char *s = NULL;
    if (cc_json_get_str(obj, key, false, &s, err) < 0) return -1;
    if (s) {
        free(*dst);
        *dst = cc_strdup(s);
    }
    return 0;
}

static int check_choice(const char *key, const char *v, const char *const *allowed, cc_err *err)
{
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(v, allowed[i]) == 0) return 0;
    return cc_err_set(err, "field \"%s\": unknown value \"%s\"", key, v);
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
    static const char *const tees[] = {"none", "fake", "tdx", NULL};
    static const char *const policies[] = {"any", "fake", "tdx", NULL};
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    int64_t pow = c->pow_difficulty;
    char *registry = NULL, *fake_root = NULL;
    if (!json_is_object(obj)) return cc_err_set(err, "top level must be a JSON object");
    if (cc_json_check_keys(obj, keys, "config", err) < 0 ||
        get_addr(obj, "listen_workers", &c->workers, err) < 0 ||
        get_addr(obj, "listen_clients", &c->clients, err) < 0 ||
        get_addr(obj, "listen_http", &c->http, err) < 0 ||
        get_str(obj, "chain", &c->chain, err) < 0 || get_str(obj, "registry", &registry, err) < 0 ||
        cc_json_get_int(obj, "pow_difficulty", false, 0, 28, &pow, err) < 0 ||
        get_str(obj, "owner_address", &c->owner_address, err) < 0 ||
        get_str(obj, "tee", &c->tee, err) < 0 || get_str(obj, "policy", &c->policy, err) < 0 ||
        get_str(obj, "fake_root", &fake_root, err) < 0 ||
        cc_json_get_double(obj, "request_timeout", false, 1, 86400, &c->request_timeout, err) < 0 ||
        cc_json_get_double(obj, "idle_timeout", false, 1, 86400, &c->idle_timeout, err) < 0 ||
        get_str(obj, "log_level", &c->log_level, err) < 0 ||
        check_choice("tee", c->tee, tees, err) < 0 ||
        check_choice("policy", c->policy, policies, err) < 0 ||
        check_choice("log_level", c->log_level, levels, err) < 0) {
        free(registry);
        free(fake_root);
        return -1;
    }
    c->pow_difficulty = (int)pow;
    if (registry) {
        free(c->registry);
        c->registry = cc_path_relative_to(path, registry);
        free(registry);
    }
    if (fake_root) {
        free(c->fake_root);
        c->fake_root = cc_path_relative_to(path, fake_root);
        free(fake_root);
    }
    if (strcmp(c->chain, "none") == 0 && !c->registry)
        return cc_err_set(err, "field \"registry\" is required with \"chain\": \"none\"");
    if ((!strcmp(c->tee, "fake") || !strcmp(c->policy, "fake")) && !c->fake_root)
        return cc_err_set(err, "field \"fake_root\" is required with tee or policy \"fake\"");
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
