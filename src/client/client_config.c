/* cocoon-client configuration: defaults, JSON, flag overrides, validation,
 * and the part of it the fake TEE measures. */
#include "client/client.h"
#include "crypto/crypto.h"
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
    c->sealing_candidates = 2;
    c->prefix_affinity = true;
    c->stream_window = NET_FLOW_WINDOW_DEFAULT;
    /* COCOON's proxies refuse a peer whose is_test differs from theirs
     * ("test mode mismatch"); the networks we know are test ones. */
    c->is_test = true;
    c->admin_port = -1;
    daemon_config_init(&c->common);
}

/* One entry of "api_keys" (field names the entry for error messages). */
static int api_key_from_json(const json_t *o, const char *field, client_api_key *k, cc_err *err)
{
    static const char *const keys[] = {"name",
                                       "key",
                                       "key_sha256",
                                       "budget_tokens_day",
                                       "budget_tokens_total",
                                       "budget_nano_day",
                                       "budget_nano_total",
                                       "comment",
                                       NULL};
    if (!json_is_object(o)) return cc_err_set(err, "field \"%s\": must be an object", field);
    if (cc_json_check_keys(o, keys, field, err) < 0) return -1;
    const json_t *name = json_object_get(o, "name");
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        json_string_length(name) >= sizeof(k->name))
        return cc_err_set(err, "field \"%s.name\": a string of 1 to %zu characters is required",
                          field, sizeof(k->name) - 1);
    snprintf(k->name, sizeof(k->name), "%s", json_string_value(name));
    const json_t *key = json_object_get(o, "key"), *hash = json_object_get(o, "key_sha256");
    if (!!key == !!hash)
        return cc_err_set(err, "field \"%s\": give exactly one of \"key\" and \"key_sha256\"",
                          field);
    if (key) {
        /* Accepted for convenience; only its hash is kept from here on. */
        if (!json_is_string(key) || json_string_length(key) < 8)
            return cc_err_set(err, "field \"%s.key\": a string of at least 8 characters", field);
        crypto_sha256(json_string_value(key), json_string_length(key), k->sha256);
    } else {
        cc_err e2 = {0};
        if (!json_is_string(hash) || json_string_length(hash) != 64 ||
            cc_hex_decode(json_string_value(hash), k->sha256, 32, &e2) < 0)
            return cc_err_set(err, "field \"%s.key_sha256\": 64 hex digits are required", field);
    }
    struct {
        const char *name;
        int64_t *out;
    } budgets[] = {{"budget_tokens_day", &k->budget_tokens_day},
                   {"budget_tokens_total", &k->budget_tokens_total},
                   {"budget_nano_day", &k->budget_nano_day},
                   {"budget_nano_total", &k->budget_nano_total}};
    for (size_t i = 0; i < CC_ARRAY_LEN(budgets); i++) {
        if (cc_json_get_int(o, budgets[i].name, false, 0, INT64_MAX, budgets[i].out, err) < 0) {
            cc_err_prefix(err, "field \"%s\"", field);
            return -1;
        }
    }
    return 0;
}

static int api_keys_from_json(const json_t *obj, client_config *c, cc_err *err)
{
    const json_t *a = json_object_get(obj, "api_keys");
    if (!a || json_is_null(a)) return 0;
    if (!json_is_array(a) || json_array_size(a) > CLIENT_MAX_API_KEYS)
        return cc_err_set(err, "field \"api_keys\": an array of at most %d keys",
                          CLIENT_MAX_API_KEYS);
    free(c->api_keys);
    c->n_api_keys = 0;
    c->api_keys = cc_calloc(json_array_size(a) + 1, sizeof(*c->api_keys));
    size_t i;
    const json_t *o;
    json_array_foreach(a, i, o)
    {
        char field[32];
        snprintf(field, sizeof(field), "api_keys[%zu]", i);
        client_api_key *k = &c->api_keys[i];
        if (api_key_from_json(o, field, k, err) < 0) return -1;
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(c->api_keys[j].name, k->name))
                return cc_err_set(err, "field \"%s.name\": \"%s\" is used twice", field, k->name);
            if (!memcmp(c->api_keys[j].sha256, k->sha256, 32))
                return cc_err_set(err, "field \"%s\": the same key as api_keys[%zu]", field, j);
        }
        c->n_api_keys++;
    }
    return 0;
}

/* "cors_origins": "*" or an array of "scheme://host[:port]" strings. */
static int cors_from_json(const json_t *obj, client_config *c, cc_err *err)
{
    const json_t *v = json_object_get(obj, "cors_origins");
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v) && strcmp(json_string_value(v), "*") == 0) {
        free(c->cors_origins);
        c->cors_origins = cc_strdup("*");
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return cc_err_set(err, "field \"cors_origins\": \"*\" or a non-empty array of origins");
    cc_buf b = CC_BUF_INIT;
    size_t i;
    const json_t *o;
    json_array_foreach(v, i, o)
    {
        const char *s = json_string_value(o);
        const char *rest = !s                           ? NULL
                           : !strncmp(s, "http://", 7)  ? s + 7
                           : !strncmp(s, "https://", 8) ? s + 8
                                                        : NULL;
        bool ok = rest && *rest && strlen(s) < 256;
        for (const char *p = rest; ok && *p; p++)
            ok = *p > ' ' && *p < 127 && *p != ',' && *p != '/';
        if (!ok) {
            cc_buf_free(&b);
            return cc_err_set(err,
                              "field \"cors_origins[%zu]\": an origin like https://app.example "
                              "(scheme, host and optional port; no path)",
                              i);
        }
        if (b.len) cc_buf_append_u8(&b, ',');
        cc_buf_append_str(&b, s);
    }
    free(c->cors_origins);
    c->cors_origins = cc_buf_steal_str(&b);
    return 0;
}

int client_config_from_json(const json_t *obj, const char *path, client_config *c, cc_err *err)
{
    // clang-format off
    static const char *const keys[] = {
        "listen_http",
        "proxies",
        "max_coefficient",
        "max_tokens",
        "request_timeout",
        "max_body",
        "reconnect_min",
        "reconnect_max",
        "is_test",
        "api_keys",
        "price_per_token",
        "admin_listen",
        "cors_origins",
        "sealing",
        "state_dir",
        "sealing_candidates",
        "sealing_receipts",
        "wallet_key_file",
        "topup_nano",
        "min_balance_nano",
        "stream_window",
        "prefix_affinity",
        NULL};
    // clang-format on
    if (!json_is_object(obj)) return cc_err_set(err, "top level must be a JSON object");
    if (daemon_config_check_keys(obj, keys, err) < 0) return -1;
    if (daemon_proxies_from_json(obj, &c->proxies, &c->n_proxies, err) < 0) return -1;
    int64_t maxc = c->max_coefficient;
    if (daemon_json_get_hostport(obj, "listen_http", c->http_host, sizeof(c->http_host),
                                 &c->http_port, err) < 0 ||
        cc_json_get_int(obj, "max_coefficient", false, 1, INT32_MAX, &maxc, err) < 0 ||
        cc_json_get_int(obj, "max_tokens", false, 1, INT32_MAX, &c->max_tokens, err) < 0 ||
        cc_json_get_double(obj, "request_timeout", false, 1, 86400, &c->request_timeout, err) < 0 ||
        cc_json_get_int(obj, "max_body", false, 1024, 1 << 30, &c->max_body, err) < 0 ||
        cc_json_get_int(obj, "stream_window", false, NET_FLOW_WINDOW_MIN, NET_FLOW_WINDOW_MAX,
                        &c->stream_window, err) < 0 ||
        cc_json_get_bool(obj, "is_test", false, &c->is_test, err) < 0 ||
        cc_json_get_bool(obj, "prefix_affinity", false, &c->prefix_affinity, err) < 0 ||
        cc_json_get_int(obj, "sealing_candidates", false, 1, 8, &c->sealing_candidates, err) < 0 ||
        cc_json_get_int(obj, "price_per_token", false, 0, INT32_MAX, &c->price_per_token, err) <
            0 ||
        api_keys_from_json(obj, c, err) < 0 || cors_from_json(obj, c, err) < 0 ||
        daemon_json_get_path(obj, "state_dir", path, &c->state_dir, err) < 0 ||
        daemon_http_limits_from_json(obj, "http", &c->http_limits, err) < 0 ||
        daemon_json_get_path(obj, "wallet_key_file", path, &c->wallet_key_file, err) < 0 ||
        cc_json_get_int(obj, "topup_nano", false, 0, INT64_MAX / 4, &c->topup_nano, err) < 0 ||
        cc_json_get_int(obj, "min_balance_nano", false, 0, INT64_MAX / 4, &c->min_balance_nano,
                        err) < 0 ||
        daemon_config_from_json(obj, path, &c->common, err) < 0)
        return -1;
    c->max_coefficient = (int)maxc;
    if (json_object_get(obj, "admin_listen")) {
        uint16_t port = 0;
        if (daemon_json_get_hostport(obj, "admin_listen", c->admin_host, sizeof(c->admin_host),
                                     &port, err) < 0)
            return -1;
        c->admin_port = port;
    }
    const json_t *rv = json_object_get(obj, "sealing_receipts");
    if (rv) {
        const char *s = json_string_value(rv);
        if (s && !strcmp(s, "always"))
            c->sealing_receipts_on_request = false;
        else if (s && !strcmp(s, "on_request"))
            c->sealing_receipts_on_request = true;
        else
            return cc_err_set(err,
                              "field \"sealing_receipts\": must be \"always\" or \"on_request\"");
    }
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
    for (size_t i = 0; i < c->n_api_keys; i++)
        if ((c->api_keys[i].budget_nano_day || c->api_keys[i].budget_nano_total) &&
            c->price_per_token <= 0)
            return cc_err_set(err,
                              "field \"api_keys[%zu]\": a nanoTON budget needs "
                              "\"price_per_token\"",
                              i);
    return daemon_config_check(&c->common, err);
}

void client_config_clear(client_config *c)
{
    daemon_proxies_clear(&c->proxies, &c->n_proxies);
    free(c->api_keys);
    free(c->cors_origins);
    free(c->state_dir);
    free(c->wallet_key_file);
    daemon_http_limits_clear(&c->http_limits);
    daemon_config_clear(&c->common);
    memset(c, 0, sizeof(*c));
}

int client_config_measure(const client_config *c, cc_buf *out, cc_err *err)
{
    /* Whom it trusts: policy, fake root, whether proxies are checked
     * against a registry. */
    const daemon_config *d = &c->common;
    char check[96];
    daemon_proxy_check_text(d, check, sizeof check);
    static const char *const sealing[] = {"preferred", "required", "off"};
    const daemon_measure_item items[] = {{"proxy_check", check}, {"sealing", sealing[c->sealing]}};
    return daemon_measure(out, "client", d->tee, d->policy, items, 2, d->fake_root, err);
}

DAEMON_DEFINE_CONFIG_OPS(client, client_config);
