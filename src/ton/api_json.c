/* JSON side of the TON HTTP API v2 client: the {"ok":..,"result":..} envelope
 * and the result objects of getAddressInformation, getWalletInformation and
 * getTransactions. Kept apart from the transport so it is tested and fuzzed. */
#include "ton/ton_internal.h"

#include <stdio.h>
#include <string.h>

json_t *ton_api_parse_reply(const char *text, size_t len, long http_status, cc_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        /* text is a body as received: not NUL-terminated */
        if (http_status && (http_status < 200 || http_status >= 300))
            cc_err_setc(err, (int)http_status, "TON API: HTTP %ld: %.*s", http_status,
                        len ? (int)(len < 200 ? len : 200) : 12, len ? text : "(empty body)");
        else
            cc_err_setc(err, (int)http_status, "TON API: reply is not a JSON object (%s)",
                        root ? "wrong type" : jerr.text);
        return NULL;
    }
    const json_t *ok = json_object_get(root, "ok");
    if (!json_is_true(ok)) {
        const char *msg = json_string_value(json_object_get(root, "error"));
        const json_t *code = json_object_get(root, "code");
        int c = json_is_integer(code) ? (int)json_integer_value(code) : (int)http_status;
        if (http_status >= 300)
            cc_err_setc(err, c, "TON API error (HTTP %ld): %.400s", http_status,
                        msg ? msg : "(no message)");
        else
            cc_err_setc(err, c, "TON API error: %.400s", msg ? msg : "(no message)");
        json_decref(root);
        return NULL;
    }
    json_t *result = json_object_get(root, "result");
    if (!result) {
        json_decref(root);
        cc_err_set(err, "TON API: reply without result");
        return NULL;
    }
    json_incref(result);
    json_decref(root);
    return result;
}

/* Numbers arrive as JSON integers or as decimal strings (toncenter uses
 * strings for balances and logical times). */
static int get_u64(const json_t *obj, const char *key, bool required, uint64_t *out, cc_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required) return cc_err_set(err, "TON API: missing \"%s\"", key);
        return 0;
    }
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0) return cc_err_set(err, "TON API: negative \"%s\"", key);
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > 20) return cc_err_set(err, "TON API: bad \"%s\"", key);
    uint64_t x = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || x > (UINT64_MAX - 9) / 10)
            return cc_err_set(err, "TON API: bad \"%s\"", key);
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *out = x;
    return 0;
}

/* A 32-byte hash in base64 (toncenter) or hex. */
static int get_hash(const json_t *obj, const char *key, uint8_t out[32], cc_err *err)
{
    const char *s = json_string_value(json_object_get(obj, key));
    memset(out, 0, 32);
    if (!s || !*s) return 0;
    if (strlen(s) == 64) return cc_hex_decode(s, out, 32, err);
    cc_buf b = CC_BUF_INIT;
    int rc = ton_base64_decode(s, strlen(s), &b, err);
    if (rc == 0 && b.len != 32) rc = cc_err_set(err, "TON API: \"%s\" is not a 32-byte hash", key);
    if (rc == 0) memcpy(out, b.data, 32);
    cc_buf_free(&b);
    return rc;
}

static void get_state(const json_t *obj, const char *key, char out[16])
{
    const char *s = json_string_value(json_object_get(obj, key));
    snprintf(out, 16, "%s", s ? s : "unknown");
}

static int get_boc(const json_t *obj, const char *key, ton_cell **out, cc_err *err)
{
    const char *s = json_string_value(json_object_get(obj, key));
    *out = NULL;
    if (!s || !*s) return 0;
    *out = ton_boc_parse_base64(s, err);
    return *out ? 0 : cc_err_prefix(err, "TON API: \"%s\"", key);
}

void ton_account_clear(ton_account *a)
{
    ton_cell_unref(a->code);
    ton_cell_unref(a->data);
    memset(a, 0, sizeof *a);
}

int ton_account_from_json(const json_t *r, ton_account *out, cc_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(r)) return cc_err_set(err, "TON API: account state is not an object");
    if (get_u64(r, "balance", true, &out->balance, err) < 0) return -1;
    get_state(r, "state", out->state);
    if (get_u64(r, "sync_utime", false, &out->sync_utime, err) < 0) return -1;
    const json_t *last = json_object_get(r, "last_transaction_id");
    if (json_is_object(last) && (get_u64(last, "lt", false, &out->last_lt, err) < 0 ||
                                 get_hash(last, "hash", out->last_hash, err) < 0))
        return -1;
    if (get_boc(r, "code", &out->code, err) < 0 || get_boc(r, "data", &out->data, err) < 0) {
        ton_account_clear(out);
        return -1;
    }
    return 0;
}

int ton_wallet_info_from_json(const json_t *r, ton_wallet_info *out, cc_err *err)
{
    memset(out, 0, sizeof *out);
    out->wallet_id = -1;
    if (!json_is_object(r)) return cc_err_set(err, "TON API: wallet information is not an object");
    out->is_wallet = json_is_true(json_object_get(r, "wallet"));
    if (get_u64(r, "balance", true, &out->balance, err) < 0) return -1;
    get_state(r, "account_state", out->state);
    uint64_t seqno = 0, wid;
    if (get_u64(r, "seqno", false, &seqno, err) < 0 || seqno > UINT32_MAX)
        return cc_err_set(err, "TON API: bad seqno");
    out->seqno = (uint32_t)seqno;
    const json_t *w = json_object_get(r, "wallet_id");
    if (json_is_integer(w))
        out->wallet_id = json_integer_value(w);
    else if (json_is_string(w) && get_u64(r, "wallet_id", false, &wid, NULL) == 0)
        out->wallet_id = (int64_t)wid;
    return 0;
}

/* In-message source: "" / null for external messages, else any address form. */
static int get_addr_field(const json_t *obj, const char *key, ton_addr *out, cc_err *err)
{
    const char *s = json_string_value(json_object_get(obj, key));
    memset(out, 0, sizeof *out);
    if (!s || !*s) {
        out->none = true;
        return 0;
    }
    return ton_addr_parse(s, out, NULL, NULL, err);
}

static void body_op(const json_t *msg, ton_tx *tx)
{
    const json_t *md = json_object_get(msg, "msg_data");
    const char *b64 = json_string_value(json_object_get(md, "body"));
    if (!b64 || !*b64) return;
    ton_cell *c = ton_boc_parse_base64(b64, NULL);
    if (!c) return;
    ton_slice s;
    ton_slice_init(&s, c);
    uint64_t op;
    if (ton_slice_load_uint(&s, 32, &op, NULL) == 0) {
        tx->in_op = (uint32_t)op;
        tx->in_has_op = true;
    }
    ton_cell_unref(c);
}

int ton_txs_from_json(const json_t *r, ton_tx **out, size_t *n, cc_err *err)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(r)) return cc_err_set(err, "TON API: transactions are not a list");
    size_t count = json_array_size(r);
    ton_tx *txs = cc_calloc(count ? count : 1, sizeof *txs);
    for (size_t i = 0; i < count; i++) {
        const json_t *t = json_array_get(r, i);
        ton_tx *tx = &txs[i];
        const json_t *id = json_object_get(t, "transaction_id");
        if (!json_is_object(t) || !json_is_object(id) ||
            get_u64(id, "lt", true, &tx->lt, err) < 0 || get_hash(id, "hash", tx->hash, err) < 0 ||
            get_u64(t, "utime", false, &tx->utime, err) < 0 ||
            get_u64(t, "fee", false, &tx->fee, err) < 0) {
            free(txs);
            return cc_err_prefix(err, "transaction %zu", i);
        }
        const json_t *in = json_object_get(t, "in_msg");
        tx->in_source.none = true;
        if (json_is_object(in)) {
            if (get_addr_field(in, "source", &tx->in_source, err) < 0 ||
                get_u64(in, "value", false, &tx->in_value, err) < 0) {
                free(txs);
                return cc_err_prefix(err, "transaction %zu in_msg", i);
            }
            body_op(in, tx);
        }
        const json_t *outs = json_object_get(t, "out_msgs");
        if (json_is_array(outs)) {
            tx->n_out = json_array_size(outs);
            for (size_t k = 0; k < tx->n_out; k++) {
                uint64_t v = 0;
                if (get_u64(json_array_get(outs, k), "value", false, &v, err) < 0) {
                    free(txs);
                    return cc_err_prefix(err, "transaction %zu out_msg %zu", i, k);
                }
                tx->out_value += v;
            }
        }
        tx->aborted = json_is_true(json_object_get(t, "aborted"));
        const json_t *ec = json_object_get(t, "compute_exit_code");
        if (!json_is_integer(ec)) ec = json_object_get(t, "exit_code");
        if (json_is_integer(ec)) tx->exit_code = (int)json_integer_value(ec);
    }
    *out = txs;
    *n = count;
    return 0;
}
