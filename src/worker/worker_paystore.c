/* The worker's kept payments across restarts (worker_internal.h,
 * "worker_paystore.c").
 *
 * The latest signed payment a proxy gave us is money: its owner sends it to
 * our contract (worker_payout.c, `cocoon worker payout`), and it is what a
 * proxy's later payments are compared with (a lower one proves the proxy's
 * ledger was rolled back, worker_money_on_signed). COCOON's worker keeps it
 * in memory and so forgets it when it stops; ours writes it to
 * state_dir/proxy-payments.json, under the same proxy name as the proxy's
 * key in proxy-keys.json, with the proxy's totals for us (so the debt limit
 * holds across a restart too). The file is written when a higher payment is
 * kept (after each save_state of the proxy, not per request) and when the
 * worker stops cleanly; a damaged file stops the start rather than forget
 * what we are owed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "worker/worker_internal.h"

#define PAYMENTS_FILE "proxy-payments.json"
#define VOUCHER_MAX 4096 /* a voucher is two small cells */

static int bad(cc_err *err, const char *path, const char *proxy, const char *what)
{
    return cc_err_set(err, "%s: proxy \"%s\": %s", path, proxy, what);
}

static bool count_ok(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* {"<proxy>": {"proxy_public_key": hex64, "paid_tokens": n, "db_tokens": n,
 *  "max_tokens": n, "voucher": hex?}, ...} */
static int check_file(json_t *o, const char *path, cc_err *err)
{
    if (!json_is_object(o)) return cc_err_set(err, "%s: top level must be a JSON object", path);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        uint8_t pub[32];
        cc_err e2;
        const char *hex = json_string_value(json_object_get(v, "proxy_public_key"));
        if (!json_is_object(v)) return bad(err, path, k, "must be an object");
        if (!hex || strlen(hex) != 64 || cc_hex_decode(hex, pub, 32, &e2) < 0)
            return bad(err, path, k, "proxy_public_key must be 64 hex digits");
        if (!count_ok(v, "paid_tokens") || !count_ok(v, "db_tokens") || !count_ok(v, "max_tokens"))
            return bad(err, path, k, "paid_tokens, db_tokens and max_tokens must be integers >= 0");
        const json_t *vo = json_object_get(v, "voucher");
        const char *vh = json_string_value(vo);
        if (vo && (!vh || strlen(vh) % 2 || strlen(vh) > 2 * VOUCHER_MAX))
            return bad(err, path, k, "voucher must be hex digits");
    }
    return 0;
}

int worker_paystore_open(worker *w, const char *state_dir, cc_err *err)
{
    if (!state_dir || !*state_dir) {
        w->paystore.kept = json_object();
        return 0;
    }
    size_t n = strlen(state_dir) + sizeof(PAYMENTS_FILE) + 2;
    w->paystore.path = cc_calloc(1, n);
    snprintf(w->paystore.path, n, "%s/%s", state_dir, PAYMENTS_FILE);
    struct stat st;
    if (stat(w->paystore.path, &st) < 0) {
        w->paystore.kept = json_object(); /* first start */
        return 0;
    }
    json_error_t je;
    json_t *o = json_load_file(w->paystore.path, 0, &je);
    if (!o) return cc_err_set(err, "%s: line %d: %s", w->paystore.path, je.line, je.text);
    if (check_file(o, w->paystore.path, err) < 0) {
        json_decref(o);
        return -1;
    }
    w->paystore.kept = o;
    return 0;
}

void worker_paystore_restore(worker *w, wlink *l, const char *proxy, const uint8_t pub[32])
{
    wpay *pay = &w->pay[daemon_links_index(&w->links, l)];
    if (pay->name && strcmp(pay->name, proxy) != 0) {
        /* The proxy comes back under another name: another proxy contract
         * (the root's params changed; docs/payments.md, "When the root's
         * params change"). What we hold is for our contract under the old
         * one, which the proxy settles with a last payout (and which stays
         * in the file under the old name); the totals start over, else the
         * new contract's first, smaller voucher would look like a ledger
         * rolled back. */
        CC_INFO("event=proxy_contract_changed proxy=%s was=%s kept_tokens=%lld", proxy, pay->name,
                (long long)pay->paid_tokens);
        worker_paystore_save(w);
        if (pay->op) ton_api_cancel(pay->op);
        pay->op = NULL;
        free(pay->voucher);
        pay->voucher = NULL;
        pay->voucher_len = 0;
        pay->db_tokens = pay->max_tokens = pay->paid_tokens = 0;
        pay->chain_tokens = pay->claimed_tokens = 0;
        pay->deployed = false;
        pay->reads = 0;
        pay->rollback_why[0] = 0;
        pay->restored = false;
    }
    free(pay->name);
    pay->name = cc_strdup(proxy);
    if (pay->restored) return; /* once per run: what we hold since is newer */
    pay->restored = true;
    const json_t *e = json_object_get(w->paystore.kept, proxy);
    char hex[65];
    cc_hex_encode(pub, 32, hex);
    if (!e || strcmp(json_string_value(json_object_get(e, "proxy_public_key")), hex) != 0)
        return; /* a key change is refused before this (worker_proxy_key_check) */
    int64_t paid = json_integer_value(json_object_get(e, "paid_tokens"));
    const char *vh = json_string_value(json_object_get(e, "voucher"));
    pay->db_tokens = CC_MAX(pay->db_tokens, json_integer_value(json_object_get(e, "db_tokens")));
    pay->max_tokens = CC_MAX(pay->max_tokens, json_integer_value(json_object_get(e, "max_tokens")));
    if (vh && paid > pay->paid_tokens) {
        size_t len = strlen(vh) / 2;
        uint8_t *v = cc_malloc(len + 1);
        cc_err err;
        if (cc_hex_decode(vh, v, len, &err) < 0) {
            free(v);
            return;
        }
        free(pay->voucher);
        pay->voucher = v;
        pay->voucher_len = len;
        pay->paid_tokens = paid;
    }
    CC_INFO("event=proxy_payments_restored proxy=%s paid_tokens=%lld db_tokens=%lld "
            "max_tokens=%lld",
            proxy, (long long)pay->paid_tokens, (long long)pay->db_tokens,
            (long long)pay->max_tokens);
}

void worker_paystore_save(worker *w)
{
    if (!w->paystore.path || !w->pay) return;
    for (size_t i = 0; i < w->n_pay; i++) {
        const wpay *pay = &w->pay[i];
        if (!pay->name || !pay->has_pub) continue;
        char hex[65];
        cc_hex_encode(pay->proxy_pub, 32, hex);
        json_t *e = json_pack("{s:s,s:I,s:I,s:I}", "proxy_public_key", hex, "paid_tokens",
                              (json_int_t)pay->paid_tokens, "db_tokens", (json_int_t)pay->db_tokens,
                              "max_tokens", (json_int_t)pay->max_tokens);
        if (pay->voucher) {
            char *vh = cc_hex_encode_alloc(pay->voucher, pay->voucher_len);
            json_object_set_new(e, "voucher", json_string(vh));
            free(vh);
        }
        json_object_set_new(w->paystore.kept, pay->name, e);
    }
    char *text = json_dumps(w->paystore.kept, JSON_SORT_KEYS | JSON_INDENT(1));
    cc_err err;
    if (!text || cc_write_file_atomic(w->paystore.path, text, strlen(text), 0600, &err) < 0)
        CC_ERROR("event=proxy_payments_save_failed path=%s error=\"%s\"", w->paystore.path,
                 text ? err.msg : "out of memory");
    free(text);
}

void worker_paystore_free(worker *w)
{
    json_decref(w->paystore.kept);
    free(w->paystore.path);
    w->paystore.kept = NULL;
    w->paystore.path = NULL;
}
