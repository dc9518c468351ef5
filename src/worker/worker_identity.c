/* The worker's persistent identity: its signing key (daemon_identity) and
 * the key each proxy announced the first time we met it. COCOON's worker
 * refuses a proxy whose public key changed (WorkerRunner::register_proxy,
 * "PROXY PUBLIC KEY CHANGED"): the vouchers it holds were signed with the old
 * key, and a proxy that lost its key can no longer be held to them. COCOON
 * remembers the keys until it stops; ours are written to the state folder so
 * a restarted worker applies the same rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "worker/worker_internal.h"

#define KEY_FILE "worker-signing.seed"
#define PROXY_KEYS_FILE "proxy-keys.json"

/* proxy-keys.json: {"<proxy>": "<64 hex digits>", ...}; anything else is
 * refused with what is wrong, so a damaged file stops the worker instead of
 * silently forgetting the keys it was to hold proxies to. */
static json_t *load_proxy_keys(const char *path, cc_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0) return json_object(); /* first start */
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (!o) {
        cc_err_set(err, "%s: line %d: %s", path, je.line, je.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        cc_err_set(err, "%s: top level must be a JSON object", path);
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        uint8_t pub[32];
        cc_err e2;
        if (!json_is_string(v) || strlen(json_string_value(v)) != 64 ||
            cc_hex_decode(json_string_value(v), pub, 32, &e2) < 0) {
            cc_err_set(err, "%s: proxy \"%s\": the key must be 64 hex digits", path, k);
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static void save_proxy_keys(worker *w)
{
    if (!w->ident.keys_path) return;
    char *text = json_dumps(w->ident.proxy_keys, JSON_SORT_KEYS | JSON_INDENT(1));
    cc_err err;
    if (!text || cc_write_file_atomic(w->ident.keys_path, text, strlen(text), 0600, &err) < 0)
        CC_ERROR("event=proxy_keys_save_failed path=%s error=\"%s\"", w->ident.keys_path,
                 text ? err.msg : "out of memory");
    free(text);
}

int worker_identity_open(worker *w, const char *state_dir, cc_err *err)
{
    if (daemon_identity_load(&w->ident.id, state_dir, KEY_FILE, "worker", err) < 0) return -1;
    w->ident.refusals = json_object();
    if (!state_dir || !*state_dir) {
        w->ident.proxy_keys = json_object();
        return 0;
    }
    size_t n = strlen(state_dir) + sizeof(PROXY_KEYS_FILE) + 2;
    w->ident.keys_path = cc_calloc(1, n);
    snprintf(w->ident.keys_path, n, "%s/%s", state_dir, PROXY_KEYS_FILE);
    w->ident.proxy_keys = load_proxy_keys(w->ident.keys_path, err);
    return w->ident.proxy_keys ? 0 : -1;
}

void worker_identity_free(worker *w)
{
    daemon_identity_clear(&w->ident.id);
    json_decref(w->ident.proxy_keys);
    json_decref(w->ident.refusals);
    free(w->ident.keys_path);
    memset(&w->ident, 0, sizeof(w->ident));
}

void worker_proxy_name(const char *sc_address, const char *owner, const char *link_addr, char *out,
                       size_t out_size)
{
    /* The proxy contract names a proxy on chain (COCOON's key); without a
     * chain every proxy announces the zero address, so the owner and the
     * address we dial tell them apart. */
    if (sc_address && *sc_address && strcmp(sc_address, TON_ADDR_ZERO_RAW) != 0)
        snprintf(out, out_size, "sc=%s", sc_address);
    else
        snprintf(out, out_size, "owner=%s@%s", owner && *owner ? owner : TON_ADDR_ZERO_RAW,
                 link_addr);
}

bool worker_proxy_key_check(worker *w, const char *proxy, const uint8_t pub[32], char *why,
                            size_t why_size)
{
    char hex[65];
    cc_hex_encode(pub, 32, hex);
    json_t *known = json_object_get(w->ident.proxy_keys, proxy);
    if (!known) {
        json_object_set_new(w->ident.proxy_keys, proxy, json_string(hex));
        save_proxy_keys(w);
        CC_INFO("event=proxy_key_recorded proxy=%s public_key=%s", proxy, hex);
        return true;
    }
    if (strcmp(json_string_value(known), hex) == 0) return true;
    snprintf(why, why_size, "PROXY PUBLIC KEY CHANGED: was %s now %s", json_string_value(known),
             hex);
    CC_ERROR("event=proxy_key_changed proxy=%s was=%s now=%s", proxy, json_string_value(known),
             hex);
    w->ident.key_changes_refused++;
    json_t *r = json_object_get(w->ident.refusals, proxy);
    if (!r) {
        r = json_object();
        json_object_set_new(w->ident.refusals, proxy, r);
    }
    json_t *count = json_object_get(r, "count");
    json_object_set_new(r, "count", json_integer(count ? json_integer_value(count) + 1 : 1));
    json_object_set_new(r, "expected_key", json_string(json_string_value(known)));
    json_object_set_new(r, "announced_key", json_string(hex));
    return false;
}

void worker_identity_json(const worker *w, json_t *o)
{
    json_t *id = daemon_identity_json(&w->ident.id);
    json_object_set_new(id, "proxy_keys", json_deep_copy(w->ident.proxy_keys));
    json_object_set_new(id, "proxy_key_changes_refused",
                        json_integer((json_int_t)w->ident.key_changes_refused));
    json_object_set_new(id, "refused_proxies", json_deep_copy(w->ident.refusals));
    json_object_set_new(o, "identity", id);
}
