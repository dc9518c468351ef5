/* Configuration fields every daemon has: JSON loading and validation, and
 * the list of proxies the client and the worker dial. The messages are the
 * ones the daemons printed before they shared this code (tests match them). */
#include "daemon/daemon.h"
#include "ton/ton.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

int daemon_json_get_strdup(const json_t *obj, const char *key, char **dst, cc_err *err)
{
    const char *s = NULL;
    if (cc_json_get_str(obj, key, false, &s, err) < 0) return -1;
    if (s) {
        free(*dst);
        *dst = cc_strdup(s);
    }
    return 0;
}

int daemon_json_get_path(const json_t *obj, const char *key, const char *config_path, char **dst,
                         cc_err *err)
{
    const char *s = NULL;
    if (cc_json_get_str(obj, key, false, &s, err) < 0) return -1;
    if (s) {
        /* resolve before freeing: s points into obj, not into *dst */
        char *resolved = cc_path_relative_to(config_path, s);
        free(*dst);
        *dst = resolved;
    }
    return 0;
}

int daemon_json_get_hostport(const json_t *obj, const char *key, char *host, size_t host_size,
                             uint16_t *port, cc_err *err)
{
    const char *s = NULL;
    if (cc_json_get_str(obj, key, false, &s, err) < 0) return -1;
    if (s && cc_parse_hostport(s, host, host_size, port, err) < 0)
        return cc_err_prefix(err, "field \"%s\"", key);
    return 0;
}

int daemon_check_choice(const char *key, const char *v, const char *const *allowed, cc_err *err)
{
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(v, allowed[i]) == 0) return 0;
    return cc_err_set(err, "field \"%s\": unknown value \"%s\"", key, v);
}

void daemon_proxies_clear(char ***list, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

int daemon_proxies_add(char ***list, size_t *n, const char *addr, const char *where, cc_err *err)
{
    char host[64];
    uint16_t port;
    if (cc_parse_hostport(addr, host, sizeof(host), &port, err) < 0)
        return cc_err_prefix(err, "%s", where);
    if (port == 0) return cc_err_set(err, "%s: port 0 cannot be dialled", where);
    *list = cc_realloc(*list, (*n + 1) * sizeof(char *));
    (*list)[(*n)++] = cc_strdup(addr);
    return 0;
}

int daemon_proxies_from_json(const json_t *obj, char ***list, size_t *n, cc_err *err)
{
    const json_t *px = json_object_get(obj, "proxies");
    if (!px) return 0;
    if (!json_is_array(px))
        return cc_err_set(err, "field \"proxies\" must be a list of \"host:port\" strings");
    daemon_proxies_clear(list, n);
    size_t i;
    const json_t *item;
    json_array_foreach(px, i, item)
    {
        char where[32];
        snprintf(where, sizeof(where), "proxies[%zu]", i);
        if (!json_is_string(item))
            return cc_err_set(err, "%s must be a \"host:port\" string", where);
        if (daemon_proxies_add(list, n, json_string_value(item), where, err) < 0) return -1;
    }
    return 0;
}

/* Whether f is a flag this daemon takes (so that a missing value is reported
 * as such, and an unknown flag as unknown, whatever follows it). */
static bool flag_known(const daemon_flag_targets *t, const char *f,
                       int (*extra)(void *, const char *, const char *, cc_err *), void *ud)
{
    if ((!strcmp(f, "--http") && t->http_host) || (!strcmp(f, "--proxy") && t->proxies) ||
        (!strcmp(f, "--log-level") && t->log_level) || !strcmp(f, "--config") ||
        (t->chain &&
         (!strcmp(f, "--chain") || !strcmp(f, "--root") || !strcmp(f, "--chain-refresh"))))
        return true;
    return extra && extra(ud, f, NULL, NULL) == 1;
}

int daemon_flags_apply(const daemon_flag_targets *t, int argc, char **argv,
                       int (*extra)(void *ud, const char *flag, const char *value, cc_err *err),
                       void *ud, cc_err *err)
{
    bool proxies_replaced = false;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i];
        if (strncmp(f, "--", 2) != 0) return cc_err_set(err, "unexpected argument \"%s\"", f);
        if (!flag_known(t, f, extra, ud)) return cc_err_set(err, "unknown flag %s", f);
        if (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2))
            return cc_err_set(err, "flag %s needs a value", f);
        const char *v = argv[++i];
        if (!strcmp(f, "--http") && t->http_host) {
            if (cc_parse_hostport(v, t->http_host, t->http_host_size, t->http_port, err) < 0)
                return cc_err_prefix(err, "--http");
        } else if (!strcmp(f, "--proxy") && t->proxies) {
            if (!proxies_replaced) daemon_proxies_clear(t->proxies, t->n_proxies);
            proxies_replaced = true;
            if (daemon_proxies_add(t->proxies, t->n_proxies, v, "--proxy", err) < 0) return -1;
        } else if (!strcmp(f, "--log-level") && t->log_level) {
            free(*t->log_level);
            *t->log_level = cc_strdup(v);
        } else if (!strcmp(f, "--chain") && t->chain) {
            free(t->chain->chain);
            t->chain->chain = cc_strdup(v);
        } else if (!strcmp(f, "--root") && t->chain) {
            free(t->chain->root_address);
            t->chain->root_address = cc_strdup(v);
        } else if (!strcmp(f, "--chain-refresh") && t->chain) {
            char *end;
            double d = strtod(v, &end);
            if (*end || !(d >= 0.1 && d <= 86400))
                return cc_err_set(err,
                                  "--chain-refresh: \"%s\" is not a number of seconds "
                                  "from 0.1 to 86400",
                                  v);
            t->chain->chain_refresh = d;
        } else if (extra && extra(ud, f, v, err) < 0) {
            return -1;
        }
    }
    return 0;
}

void daemon_config_init(daemon_config *c)
{
    memset(c, 0, sizeof(*c));
    c->owner_address = cc_strdup("");
    c->tee = cc_strdup("none");
    c->policy = cc_strdup("any");
    c->reconnect_min = 0.2;
    c->reconnect_max = 10;
    c->log_level = cc_strdup("info");
    c->max_cert_lifetime = TEE_MAX_CERT_LIFETIME_DEFAULT;
    c->allowed_tcb = TEE_TCB_ALLOWED_DEFAULT;
    c->collateral_refresh = 3600;
    c->collateral_api = cc_strdup("document");
    c->chain = cc_strdup("none");
    c->chain_refresh = 60;
}

/* "allowed_tcb_statuses": ["UpToDate", ...] as a mask. */
static int get_tcb_statuses(const json_t *obj, uint32_t *mask, cc_err *err)
{
    json_t *a = json_object_get(obj, "allowed_tcb_statuses");
    if (!a) return 0;
    if (!json_is_array(a) || json_array_size(a) == 0)
        return cc_err_set(err, "field \"allowed_tcb_statuses\": want a non-empty list of names");
    uint32_t m = 0;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        tee_tcb_status st;
        if (!json_is_string(v) || tee_tcb_status_parse(json_string_value(v), &st, err) < 0)
            return cc_err_prefix(err, "field \"allowed_tcb_statuses\"[%zu]", i);
        m |= 1u << st;
    }
    *mask = m;
    return 0;
}

int daemon_config_check_keys(const json_t *obj, const char *const *role_keys, cc_err *err)
{
    static const char *const shared[] = {"owner_address",
                                         "tee",
                                         "policy",
                                         "fake_root",
                                         "registry",
                                         "log_level",
                                         "comment",
                                         "max_cert_lifetime",
                                         "collateral",
                                         "allowed_tcb_statuses",
                                         "min_tcb_evaluation_data_number",
                                         "collateral_url",
                                         "collateral_refresh",
                                         "collateral_api",
                                         "collateral_fmspcs",
                                         "chain",
                                         "root_address",
                                         "chain_refresh",
                                         "http",
                                         NULL};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool known = false;
        for (size_t i = 0; shared[i] && !known; i++)
            known = strcmp(shared[i], key) == 0;
        for (size_t i = 0; role_keys[i] && !known; i++)
            known = strcmp(role_keys[i], key) == 0;
        if (!known) return cc_err_set(err, "config: unknown field \"%s\"", key);
    }
    return 0;
}

/* "collateral_fmspcs": ["b0c06f000000", ...], the platform families a PCS
 * collateral source is asked for from the start. */
static int get_fmspcs(const json_t *obj, daemon_config *c, cc_err *err)
{
    json_t *a = json_object_get(obj, "collateral_fmspcs");
    if (!a) return 0;
    if (!json_is_array(a) || json_array_size(a) > TEE_POLICY_MAX_COLLATERALS)
        return cc_err_set(err,
                          "field \"collateral_fmspcs\": expected an array of at most %d "
                          "FMSPCs (12 hex digits each)",
                          TEE_POLICY_MAX_COLLATERALS);
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s || strlen(s) != 12 || cc_hex_decode(s, c->collateral_fmspcs[i], 6, NULL) < 0)
            return cc_err_set(err, "field \"collateral_fmspcs\"[%zu]: expected 12 hex digits", i);
    }
    c->n_collateral_fmspcs = json_array_size(a);
    return 0;
}

int daemon_config_from_json(const json_t *obj, const char *path, daemon_config *c, cc_err *err)
{
    if (daemon_json_get_strdup(obj, "owner_address", &c->owner_address, err) < 0 ||
        daemon_json_get_strdup(obj, "tee", &c->tee, err) < 0 ||
        daemon_json_get_strdup(obj, "policy", &c->policy, err) < 0 ||
        daemon_json_get_path(obj, "fake_root", path, &c->fake_root, err) < 0 ||
        daemon_json_get_path(obj, "registry", path, &c->registry, err) < 0 ||
        cc_json_get_double(obj, "reconnect_min", false, 0.01, 3600, &c->reconnect_min, err) < 0 ||
        cc_json_get_double(obj, "reconnect_max", false, 0.01, 3600, &c->reconnect_max, err) < 0 ||
        daemon_json_get_strdup(obj, "chain", &c->chain, err) < 0 ||
        daemon_json_get_strdup(obj, "root_address", &c->root_address, err) < 0 ||
        cc_json_get_double(obj, "chain_refresh", false, 0.1, 86400, &c->chain_refresh, err) < 0)
        return -1;
    /* The lower bound leaves the rotation (checked every 10 minutes in the
     * proxy, at each dial elsewhere) room to renew in the last quarter. */
    int64_t life = c->max_cert_lifetime, min_eval = c->min_tcb_eval_number;
    if (cc_json_get_int(obj, "max_cert_lifetime", false, 3600, 365L * 86400, &life, err) < 0 ||
        daemon_json_get_path(obj, "collateral", path, &c->collateral, err) < 0 ||
        daemon_json_get_strdup(obj, "collateral_url", &c->collateral_url, err) < 0 ||
        cc_json_get_double(obj, "collateral_refresh", false, 10, 86400, &c->collateral_refresh,
                           err) < 0 ||
        daemon_json_get_strdup(obj, "collateral_api", &c->collateral_api, err) < 0 ||
        get_fmspcs(obj, c, err) < 0 || get_tcb_statuses(obj, &c->allowed_tcb, err) < 0 ||
        cc_json_get_int(obj, "min_tcb_evaluation_data_number", false, 0, INT32_MAX, &min_eval,
                        err) < 0)
        return -1;
    c->max_cert_lifetime = (long)life;
    c->min_tcb_eval_number = min_eval;
    if (json_object_get(obj, "policy")) c->policy_explicit = true;
    return daemon_json_get_strdup(obj, "log_level", &c->log_level, err);
}

int daemon_config_check(const daemon_config *c, cc_err *err)
{
    static const char *const tees[] = {"none", "fake", "tdx", "fake_tdx", NULL};
    static const char *const policies[] = {"any", "fake", "tdx", "fake_tdx", NULL};
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    if (daemon_check_choice("tee", c->tee, tees, err) < 0 ||
        daemon_check_choice("policy", c->policy, policies, err) < 0 ||
        daemon_check_choice("log_level", c->log_level, levels, err) < 0)
        return -1;
    if ((!strcmp(c->tee, "fake") || !strcmp(c->policy, "fake")) && !c->fake_root)
        return cc_err_set(err, "field \"fake_root\" is required with tee or policy \"fake\"");
    if (c->collateral && c->collateral_url)
        return cc_err_set(err, "fields \"collateral\" and \"collateral_url\": give one source");
    static const char *const apis[] = {"document", "pcs", NULL};
    if (daemon_check_choice("collateral_api", c->collateral_api, apis, err) < 0) return -1;
    if (!strcmp(c->collateral_api, "pcs") && !c->collateral_url)
        return cc_err_set(err, "field \"collateral_api\" \"pcs\" needs \"collateral_url\" (the "
                               "PCS or PCCS base URL)");
    if (c->n_collateral_fmspcs && strcmp(c->collateral_api, "pcs") != 0)
        return cc_err_set(err, "field \"collateral_fmspcs\" needs \"collateral_api\": \"pcs\"");
    if (c->collateral_url && !cc_str_has_prefix(c->collateral_url, "http://") &&
        !cc_str_has_prefix(c->collateral_url, "https://"))
        return cc_err_set(err, "field \"collateral_url\": expected an http:// or https:// URL");
    if (c->reconnect_min > c->reconnect_max)
        return cc_err_set(err, "field \"reconnect_min\" (%g) exceeds \"reconnect_max\" (%g)",
                          c->reconnect_min, c->reconnect_max);
    if (strcmp(c->chain, "none") != 0) {
        if (!cc_str_has_prefix(c->chain, "http://") && !cc_str_has_prefix(c->chain, "https://"))
            return cc_err_set(err,
                              "field \"chain\": \"%s\" is neither \"none\" nor an http:// or "
                              "https:// URL of a TON HTTP API v2",
                              c->chain);
        if (!c->root_address || !*c->root_address)
            return cc_err_set(err, "field \"root_address\" (or --root ADDR) is required with a "
                                   "chain URL");
        ton_addr a;
        cc_err e = {0};
        if (ton_addr_parse(c->root_address, &a, NULL, NULL, &e) < 0)
            return cc_err_set(err, "field \"root_address\": %s", e.msg);
    }
    return 0;
}

static bool is_loopback_host(const char *addr)
{
    char host[96];
    snprintf(host, sizeof(host), "%s", addr);
    char *colon = strrchr(host, ':');
    if (colon) *colon = 0;
    char *h = host;
    if (*h == '[') {
        h++;
        char *end = strchr(h, ']');
        if (end) *end = 0;
    }
    if (!strcmp(h, "localhost")) return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, h, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

int daemon_config_check_peer_policy(const daemon_config *c, char *const *proxies, size_t n,
                                    cc_err *err)
{
    if (c->policy_explicit) return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_loopback_host(proxies[i]))
            return cc_err_set(err,
                              "proxy %s is not on this machine and the config names no "
                              "\"policy\": write the attestation policy (tdx, fake, "
                              "fake_tdx, or \"any\" to accept an unattested proxy)",
                              proxies[i]);
    return 0;
}

void daemon_config_clear(daemon_config *c)
{
    free(c->owner_address);
    free(c->tee);
    free(c->policy);
    free(c->fake_root);
    free(c->registry);
    free(c->log_level);
    free(c->collateral);
    free(c->collateral_url);
    free(c->collateral_api);
    free(c->chain);
    free(c->root_address);
    memset(c, 0, sizeof(*c));
}

int daemon_config_load_file(const daemon_config_ops *ops, const char *path, void *cfg, cc_err *err)
{
    json_t *j = cc_json_load_file(path, err);
    if (!j) return -1;
    int rc = ops->from_json(j, path, cfg, err);
    json_decref(j);
    if (rc < 0) daemon_config_error_at(path, true, err);
    return rc;
}

void daemon_config_error_at(const char *path, bool always_file, cc_err *err)
{
    /* The file is read again for positions: jansson keeps none in what it builds. */
    char field[128];
    cc_buf text = CC_BUF_INIT;
    cc_err rerr;
    int line, col;
    if (cc_json_error_field(err->msg, field, sizeof(field)) == 0 &&
        cc_read_file(path, &text, &rerr) == 0 &&
        cc_json_locate((const char *)text.data, text.len, field, &line, &col) == 0)
        cc_err_prefix(err, "%s:%d:%d", path, line, col);
    else if (always_file)
        cc_err_prefix(err, "%s", path);
    cc_buf_free(&text);
}
