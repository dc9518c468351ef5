/* The API keys' usage kept across restarts, so that budgets hold: with
 * "state_dir" in the client's config, each key's spending (tokens and
 * nanoTON, of its current UTC day and in total) is kept in
 * <state_dir>/api_key_usage.json, read at start and rewritten atomically
 * (temp file, fsync, rename) a few seconds after a charge and at exit.
 * Keys are matched by their SHA-256 (the file holds no key); a key no longer
 * configured is dropped at the next write. A crash loses at most the last
 * FLUSH_DELAY seconds of charges. An unreadable file stops the client rather
 * than silently restarting every budget from zero. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"

#define USAGE_FILE "api_key_usage.json"
#define FLUSH_DELAY 2.0

static int get_count(const json_t *o, const char *key, int64_t *out, const char *path, size_t index,
                     cc_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return cc_err_set(err, "%s: keys[%zu].%s must be a non-negative integer", path, index, key);
    *out = json_integer_value(v);
    return 0;
}

static int load(client *c, const char *path, cc_err *err)
{
    cc_buf b = CC_BUF_INIT;
    cc_err rerr;
    if (cc_read_file(path, &b, &rerr) < 0) {
        cc_buf_free(&b);
        FILE *f = fopen(path, "rb");
        if (!f) return 0; /* none yet: nothing spent */
        fclose(f);
        return cc_err_set(err, "%s: %s", path, rerr.msg);
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &je);
    cc_buf_free(&b);
    if (!j)
        return cc_err_set(err, "%s: line %d, column %d: %s (fix or remove it)", path, je.line,
                          je.column, je.text);
    const json_t *keys = json_object_get(j, "keys");
    if (!json_is_object(j) || json_integer_value(json_object_get(j, "version")) != 1 ||
        !json_is_array(keys)) {
        json_decref(j);
        return cc_err_set(err, "%s: expected {\"version\":1,\"keys\":[...]}", path);
    }
    size_t i;
    const json_t *e;
    json_array_foreach(keys, i, e)
    {
        uint8_t h[32];
        cc_err herr;
        const char *hex = json_string_value(json_object_get(e, "key_sha256"));
        ckey u = {0};
        if (!json_is_object(e) || !hex || strlen(hex) != 64 ||
            cc_hex_decode(hex, h, sizeof(h), &herr) < 0) {
            json_decref(j);
            return cc_err_set(err, "%s: keys[%zu].key_sha256 must be 64 hex digits", path, i);
        }
        if (get_count(e, "day", &u.day, path, i, err) < 0 ||
            get_count(e, "tokens_day", &u.tokens_day, path, i, err) < 0 ||
            get_count(e, "tokens_total", &u.tokens_total, path, i, err) < 0 ||
            get_count(e, "nano_day", &u.nano_day, path, i, err) < 0 ||
            get_count(e, "nano_total", &u.nano_total, path, i, err) < 0) {
            json_decref(j);
            return -1;
        }
        for (size_t k = 0; k < c->n_keys; k++) {
            ckey *key = &c->keys[k];
            if (memcmp(key->cfg.sha256, h, 32) != 0) continue;
            key->day = u.day;
            key->tokens_day = u.tokens_day;
            key->tokens_total = u.tokens_total;
            key->nano_day = u.nano_day;
            key->nano_total = u.nano_total;
        }
    }
    json_decref(j);
    return 0;
}

int client_keys_store_flush(client *c, cc_err *err)
{
    if (!c->keys_path || !c->keys_dirty) return 0;
    json_t *a = json_array();
    for (size_t i = 0; i < c->n_keys; i++) {
        const ckey *k = &c->keys[i];
        char hex[65];
        cc_hex_encode(k->cfg.sha256, 32, hex);
        json_array_append_new(
            a, json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "key_sha256", hex, "day", (json_int_t)k->day,
                         "tokens_day", (json_int_t)k->tokens_day, "tokens_total",
                         (json_int_t)k->tokens_total, "nano_day", (json_int_t)k->nano_day,
                         "nano_total", (json_int_t)k->nano_total));
    }
    json_t *o = json_pack("{s:i,s:o}", "version", 1, "keys", a);
    char *s = json_dumps(o, JSON_INDENT(1));
    json_decref(o);
    int rc = cc_write_file_atomic(c->keys_path, s, strlen(s), 0600, err);
    free(s);
    if (rc == 0) c->keys_dirty = false;
    return rc;
}

static void on_flush(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    client *c = ud;
    cc_err err;
    if (client_keys_store_flush(c, &err) < 0)
        CC_WARN("event=api_key_usage_not_saved error=\"%s\"", err.msg);
}

int client_keys_store_open(client *c, const char *state_dir, cc_err *err)
{
    if (!state_dir || !c->n_keys) return 0;
    if (cc_mkdirs(state_dir, 0700, err) < 0) return -1;
    cc_buf p = CC_BUF_INIT;
    cc_buf_append_fmt(&p, "%s/%s", state_dir, USAGE_FILE);
    c->keys_path = cc_buf_steal_str(&p);
    if (load(c, c->keys_path, err) < 0) return -1;
    c->keys_timer = evtimer_new(c->base, on_flush, c);
    return 0;
}

void client_keys_store_mark(client *c)
{
    if (!c->keys_path || c->keys_dirty) return;
    c->keys_dirty = true;
    struct timeval tv = cc_timeval(FLUSH_DELAY);
    evtimer_add(c->keys_timer, &tv);
}

void client_keys_store_close(client *c)
{
    if (!c->keys_path) return;
    cc_err err;
    if (client_keys_store_flush(c, &err) < 0)
        CC_WARN("event=api_key_usage_not_saved error=\"%s\"", err.msg);
    if (c->keys_timer) event_free(c->keys_timer);
    c->keys_timer = NULL;
    free(c->keys_path);
    c->keys_path = NULL;
}
