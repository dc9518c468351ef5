/* The "http" object of a daemon config: the HTTP listener's hardening limits
 * (docs/security.md) as config keys rather than compiled-in defaults. */
#include "daemon/daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_size(const json_t *o, const char *key, int64_t min, int64_t max, size_t *v,
                    cc_err *err)
{
    int64_t x = (int64_t)*v;
    if (cc_json_get_int(o, key, false, min, max, &x, err) < 0) return -1;
    *v = (size_t)x;
    return 0;
}

int daemon_http_limits_from_json(const json_t *obj, const char *key, daemon_http_limits *l,
                                 cc_err *err)
{
    static const char *const keys[] = {
        "max_connections", "max_headers",  "max_output",    "header_timeout",  "body_timeout",
        "body_min_rate",   "idle_timeout", "allowed_hosts", "allowed_origins", NULL};
    const json_t *o = json_object_get(obj, key);
    if (!o) return 0;
    if (!json_is_object(o)) return cc_err_set(err, "field \"%s\" must be an object", key);
    char where[64];
    snprintf(where, sizeof(where), "field \"%s\"", key);
    if (cc_json_check_keys(o, keys, where, err) < 0) return -1;
    int64_t conns = l->max_connections;
    if (cc_json_get_int(o, "max_connections", false, 1, 1 << 20, &conns, err) < 0 ||
        get_size(o, "max_headers", 1024, 1 << 24, &l->max_headers, err) < 0 ||
        get_size(o, "max_output", 4096, (int64_t)1 << 32, &l->max_output, err) < 0 ||
        cc_json_get_double(o, "header_timeout", false, 0.1, 3600, &l->header_timeout, err) < 0 ||
        cc_json_get_double(o, "body_timeout", false, 0.1, 3600, &l->body_timeout, err) < 0 ||
        cc_json_get_double(o, "body_min_rate", false, 1, 1e12, &l->body_min_rate, err) < 0 ||
        cc_json_get_double(o, "idle_timeout", false, 0.1, 86400, &l->idle_timeout, err) < 0 ||
        daemon_json_get_strdup(o, "allowed_hosts", &l->allowed_hosts, err) < 0 ||
        daemon_json_get_strdup(o, "allowed_origins", &l->allowed_origins, err) < 0)
        return cc_err_prefix(err, "%s", where);
    l->max_connections = (int)conns;
    return 0;
}

void daemon_http_limits_apply(const daemon_http_limits *l, http_server_config *hc)
{
    if (l->max_connections) hc->max_connections = l->max_connections;
    if (l->max_headers) hc->max_headers = l->max_headers;
    if (l->max_output) hc->max_output = l->max_output;
    if (l->header_timeout > 0) hc->header_timeout = l->header_timeout;
    if (l->body_timeout > 0) hc->body_timeout = l->body_timeout;
    if (l->body_min_rate > 0) hc->body_min_rate = l->body_min_rate;
    if (l->idle_timeout > 0) hc->idle_timeout = l->idle_timeout;
    /* Names add to the loopback defaults; "*" lets any Host in. */
    if (l->allowed_hosts && !strcmp(l->allowed_hosts, "*"))
        hc->allowed_hosts = l->allowed_hosts;
    else if (l->allowed_hosts)
        hc->extra_hosts = l->allowed_hosts;
    if (l->allowed_origins) hc->allowed_origins = l->allowed_origins;
}

void daemon_http_limits_clear(daemon_http_limits *l)
{
    free(l->allowed_hosts);
    free(l->allowed_origins);
    memset(l, 0, sizeof(*l));
}
