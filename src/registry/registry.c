/* The registry snapshot and its JSON source (`--chain none`). */
#include "registry/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

typedef struct hash_set {
    bool any; /* the JSON said "any": no check */
    uint8_t (*items)[REGISTRY_HASH_LEN];
    size_t n;
} hash_set;

struct registry {
    int64_t version;
    registry_params params;
    hash_set proxy_images;
    hash_set worker_images;
    hash_set client_images; /* optional: absent = clients unchecked */
    bool lists_client_images;
    hash_set models;
    registry_proxy *proxies;
    size_t n_proxies;
};

static void hash_set_add(hash_set *s, const uint8_t h[REGISTRY_HASH_LEN])
{
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->items[i], h, REGISTRY_HASH_LEN) == 0) return;
    s->items = cc_realloc(s->items, (s->n + 1) * sizeof(*s->items));
    memcpy(s->items[s->n++], h, REGISTRY_HASH_LEN);
}

static bool hash_set_has(const hash_set *s, const uint8_t h[REGISTRY_HASH_LEN])
{
    if (s->any) return true;
    for (size_t i = 0; i < s->n; i++)
        if (crypto_memeq(s->items[i], h, REGISTRY_HASH_LEN)) return true;
    return false;
}

/* Reads a list of 64-hex-digit hashes, or the string "any". A missing key is
 * an error: an allowlist silently left open is how networks get compromised. */
static int load_hash_list(const json_t *root, const char *key, hash_set *out, cc_err *err)
{
    const json_t *v = json_object_get(root, key);
    if (!v) return cc_err_set(err, "field \"%s\" is required (a list of hashes, or \"any\")", key);
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "any") != 0)
            return cc_err_set(err, "field \"%s\": expected a list of hashes or \"any\"", key);
        out->any = true;
        return 0;
    }
    if (!json_is_array(v))
        return cc_err_set(err, "field \"%s\": expected a list of hashes or \"any\"", key);
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item)
    {
        uint8_t h[REGISTRY_HASH_LEN];
        const char *hex = json_string_value(item);
        if (!hex || strlen(hex) != 2 * REGISTRY_HASH_LEN ||
            cc_hex_decode(hex, h, sizeof(h), NULL) < 0)
            return cc_err_set(err, "%s[%zu]: expected 64 hex digits", key, i);
        hash_set_add(out, h);
    }
    return 0;
}

/* "models": identifiers (e.g. "name@sha256:<hex>") whose SHA-256 joins the
 * model hash set, so a hand-written registry need not contain raw hashes. */
static int load_model_names(const json_t *root, hash_set *out, cc_err *err)
{
    const json_t *v = json_object_get(root, "models");
    if (!v) return 0;
    if (!json_is_array(v))
        return cc_err_set(err, "field \"models\": expected a list of model identifiers");
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item)
    {
        const char *name = json_string_value(item);
        if (!name || !*name) return cc_err_set(err, "models[%zu]: expected a non-empty string", i);
        uint8_t h[REGISTRY_HASH_LEN];
        crypto_sha256(name, strlen(name), h);
        hash_set_add(out, h);
    }
    return 0;
}

static int load_params(const json_t *root, registry_params *p, cc_err *err)
{
    /* Defaults: COCOON's test network figures; any may be overridden. */
    *p = (registry_params){.params_version = 1,
                           .is_test = true,
                           .price_per_token = 20,
                           .worker_fee_per_token = 16,
                           .prompt_multiplier = 10000,
                           .cached_multiplier = 1000,
                           .completion_multiplier = 80000,
                           .reasoning_multiplier = 80000,
                           .proxy_delay_before_close = 86400,
                           .client_delay_before_close = 86400,
                           .min_proxy_stake = 1000000000,
                           .min_client_stake = 1000000000};
    const json_t *v = json_object_get(root, "params");
    if (!v) return 0;
    if (!json_is_object(v)) return cc_err_set(err, "field \"params\" must be an object");
    static const char *const keys[] = {"params_version",
                                       "is_test",
                                       "price_per_token",
                                       "worker_fee_per_token",
                                       "prompt_multiplier",
                                       "cached_multiplier",
                                       "completion_multiplier",
                                       "reasoning_multiplier",
                                       "proxy_delay_before_close",
                                       "client_delay_before_close",
                                       "min_proxy_stake",
                                       "min_client_stake",
                                       NULL};
    if (cc_json_check_keys(v, keys, "params", err) < 0) return -1;
    const int64_t big = INT64_MAX / 4;
    if (cc_json_get_int(v, "params_version", false, 0, INT32_MAX, &p->params_version, err) < 0 ||
        cc_json_get_bool(v, "is_test", false, &p->is_test, err) < 0 ||
        cc_json_get_int(v, "price_per_token", false, 0, big, &p->price_per_token, err) < 0 ||
        cc_json_get_int(v, "worker_fee_per_token", false, 0, big, &p->worker_fee_per_token, err) <
            0 ||
        cc_json_get_int(v, "prompt_multiplier", false, 0, 10000000, &p->prompt_multiplier, err) <
            0 ||
        cc_json_get_int(v, "cached_multiplier", false, 0, 10000000, &p->cached_multiplier, err) <
            0 ||
        cc_json_get_int(v, "completion_multiplier", false, 0, 10000000, &p->completion_multiplier,
                        err) < 0 ||
        cc_json_get_int(v, "reasoning_multiplier", false, 0, 10000000, &p->reasoning_multiplier,
                        err) < 0 ||
        cc_json_get_int(v, "proxy_delay_before_close", false, 0, big, &p->proxy_delay_before_close,
                        err) < 0 ||
        cc_json_get_int(v, "client_delay_before_close", false, 0, big,
                        &p->client_delay_before_close, err) < 0 ||
        cc_json_get_int(v, "min_proxy_stake", false, 0, big, &p->min_proxy_stake, err) < 0 ||
        cc_json_get_int(v, "min_client_stake", false, 0, big, &p->min_client_stake, err) < 0)
        return cc_err_prefix(err, "params");
    if (p->worker_fee_per_token > p->price_per_token)
        return cc_err_set(err, "params: worker_fee_per_token (%lld) exceeds price_per_token (%lld)",
                          (long long)p->worker_fee_per_token, (long long)p->price_per_token);
    return 0;
}

static int load_proxies(const json_t *root, registry *r, cc_err *err)
{
    const json_t *v = json_object_get(root, "proxies");
    if (!v) return 0;
    if (!json_is_array(v)) return cc_err_set(err, "field \"proxies\" must be a list");
    r->proxies = cc_calloc(json_array_size(v) + 1, sizeof(*r->proxies));
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item)
    {
        static const char *const keys[] = {"seqno", "address", "worker_address", NULL};
        char where[32];
        snprintf(where, sizeof(where), "proxies[%zu]", i);
        if (!json_is_object(item)) return cc_err_set(err, "%s must be an object", where);
        registry_proxy *p = &r->proxies[r->n_proxies];
        const char *addr = NULL, *waddr = NULL;
        p->seqno = (int64_t)i;
        if (cc_json_check_keys(item, keys, where, err) < 0 ||
            cc_json_get_int(item, "seqno", false, 0, INT32_MAX, &p->seqno, err) < 0 ||
            cc_json_get_str(item, "address", true, &addr, err) < 0 ||
            cc_json_get_str(item, "worker_address", false, &waddr, err) < 0)
            return cc_err_prefix(err, "%s", where);
        p->address = cc_strdup(addr);
        p->worker_address = waddr ? cc_strdup(waddr) : NULL;
        r->n_proxies++;
    }
    return 0;
}

registry *registry_from_json(const json_t *root, cc_err *err)
{
    if (!json_is_object(root)) {
        cc_err_set(err, "registry: top level must be a JSON object");
        return NULL;
    }
    static const char *const keys[] = {"version",
                                       "params",
                                       "proxy_image_hashes",
                                       "worker_image_hashes",
                                       "client_image_hashes",
                                       "model_hashes",
                                       "models",
                                       "proxies",
                                       "comment",
                                       NULL};
    registry *r = cc_calloc(1, sizeof(*r));
    if (cc_json_check_keys(root, keys, "registry", err) < 0 ||
        cc_json_get_int(root, "version", false, 0, INT64_MAX, &r->version, err) < 0 ||
        load_params(root, &r->params, err) < 0 ||
        load_hash_list(root, "proxy_image_hashes", &r->proxy_images, err) < 0 ||
        load_hash_list(root, "worker_image_hashes", &r->worker_images, err) < 0 ||
        (json_object_get(root, "client_image_hashes") &&
         load_hash_list(root, "client_image_hashes", &r->client_images, err) < 0) ||
        load_hash_list(root, "model_hashes", &r->models, err) < 0 ||
        load_model_names(root, &r->models, err) < 0 || load_proxies(root, r, err) < 0) {
        registry_free(r);
        return NULL;
    }
    r->lists_client_images = json_object_get(root, "client_image_hashes") != NULL;
    return r;
}

registry *registry_load_json_file(const char *path, cc_err *err)
{
    json_t *j = cc_json_load_file(path, err);
    if (!j) return NULL;
    registry *r = registry_from_json(j, err);
    json_decref(j);
    if (!r) cc_err_prefix(err, "%s", path);
    return r;
}

registry *registry_open(const char *chain, const char *file, cc_err *err)
{
    if (!chain || strcmp(chain, "none") == 0) {
        if (!file || !*file) {
            cc_err_set(err, "--chain none needs a registry JSON file (field \"registry\")");
            return NULL;
        }
        return registry_load_json_file(file, err);
    }
    cc_err_set(err, "chain \"%s\": only \"none\" (a local registry file) is supported so far",
               chain);
    return NULL;
}

void registry_free(registry *r)
{
    if (!r) return;
    free(r->proxy_images.items);
    free(r->worker_images.items);
    free(r->client_images.items);
    free(r->models.items);
    for (size_t i = 0; i < r->n_proxies; i++) {
        free(r->proxies[i].address);
        free(r->proxies[i].worker_address);
    }
    free(r->proxies);
    free(r);
}

int64_t registry_version(const registry *r)
{
    return r->version;
}
const registry_params *registry_get_params(const registry *r)
{
    return &r->params;
}

bool registry_proxy_image_allowed(const registry *r, const uint8_t hash[REGISTRY_HASH_LEN])
{
    return hash_set_has(&r->proxy_images, hash);
}

bool registry_worker_image_allowed(const registry *r, const uint8_t hash[REGISTRY_HASH_LEN])
{
    return hash_set_has(&r->worker_images, hash);
}

bool registry_lists_client_images(const registry *r)
{
    return r->lists_client_images;
}

bool registry_client_image_allowed(const registry *r, const uint8_t hash[REGISTRY_HASH_LEN])
{
    return !r->lists_client_images || hash_set_has(&r->client_images, hash);
}

bool registry_model_hash_allowed(const registry *r, const uint8_t hash[REGISTRY_HASH_LEN])
{
    return hash_set_has(&r->models, hash);
}

bool registry_model_allowed(const registry *r, const char *model_id)
{
    if (r->models.any) return true;
    uint8_t h[REGISTRY_HASH_LEN];
    crypto_sha256(model_id, strlen(model_id), h);
    return hash_set_has(&r->models, h);
}

size_t registry_model_base_len(const char *model_id)
{
    return strcspn(model_id, "@");
}

bool registry_model_base_eq(const char *model_id, const char *name)
{
    size_t n = registry_model_base_len(model_id);
    return strlen(name) == n && memcmp(model_id, name, n) == 0;
}

size_t registry_proxy_count(const registry *r)
{
    return r->n_proxies;
}

const registry_proxy *registry_proxy_at(const registry *r, size_t i)
{
    return i < r->n_proxies ? &r->proxies[i] : NULL;
}

int registry_proto_negotiate(int own_min, int own_max, bool peer_has_range, int peer_min,
                             int peer_max, int *out, cc_err *err)
{
    if (!peer_has_range) peer_min = peer_max = 0;
    if (peer_min > peer_max)
        return cc_err_set(err, "peer protocol range %d..%d is empty", peer_min, peer_max);
    if (peer_max < own_min || peer_min > own_max)
        return cc_err_set(err, "no common protocol version: ours %d..%d, peer's %d..%d", own_min,
                          own_max, peer_min, peer_max);
    *out = CC_MIN(own_max, peer_max);
    return 0;
}
