/* The worker's adjusted token counts (COCOON's CountTokens) with and without
 * the registry's multipliers, what /jsonstats shows of them, and the last
 * proxy.workerRequestPayment it keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "worker/worker_internal.h"

static registry *registry_with(const char *params)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"version\": 1, \"proxy_image_hashes\": \"any\", \"worker_image_hashes\": \"any\", "
             "\"model_hashes\": \"any\", "
             "\"params\": %s}",
             params);
    cc_err err = {0};
    json_t *j = cc_json_loadb(text, strlen(text), &err);
    assert_non_null(j);
    registry *r = registry_from_json(j, &err);
    if (!r) fail_msg("registry: %s", err.msg);
    json_decref(j);
    return r;
}

static void test_counts_without_registry_are_category_splits(void **state)
{
    (void)state;
    worker w = {0};
    ledger_multipliers m;
    worker_multipliers(&w, &m);
    assert_int_equal(m.prompt, 10000);
    assert_int_equal(m.reasoning, 10000);
    backend_usage u = {.prompt_tokens = 100,
                       .cached_tokens = 30,
                       .completion_tokens = 50,
                       .reasoning_tokens = 20,
                       .total_tokens = 150};
    ledger_tokens t;
    worker_count_tokens(&u, 1000, &m, &t);
    assert_int_equal(t.prompt, 70); /* prompt - cached */
    assert_int_equal(t.cached, 30);
    assert_int_equal(t.completion, 30); /* completion - reasoning */
    assert_int_equal(t.reasoning, 20);
    assert_int_equal(t.total, 150);
    /* The proxy's coefficient scales every category: 1.5x. */
    worker_count_tokens(&u, 1500, &m, &t);
    assert_int_equal(t.prompt, 105);
    assert_int_equal(t.cached, 45);
    assert_int_equal(t.completion, 45);
    assert_int_equal(t.reasoning, 30);
    assert_int_equal(t.total, 225);
}

static void test_counts_with_registry_multipliers(void **state)
{
    (void)state;
    worker w = {0};
    w.tee.proxy_registry = registry_with(
        "{\"price_per_token\": 20, \"worker_fee_per_token\": 16, \"prompt_multiplier\": 10000, "
        "\"cached_multiplier\": 1000, \"completion_multiplier\": 80000, "
        "\"reasoning_multiplier\": 40000}");
    ledger_multipliers m;
    worker_multipliers(&w, &m);
    assert_int_equal(m.cached, 1000);
    assert_int_equal(m.completion, 80000);
    backend_usage u = {
        .prompt_tokens = 100, .cached_tokens = 30, .completion_tokens = 50, .reasoning_tokens = 20};
    ledger_tokens t;
    worker_count_tokens(&u, 1000, &m, &t);
    assert_int_equal(t.prompt, 70);      /* x1 */
    assert_int_equal(t.cached, 3);       /* x0.1 */
    assert_int_equal(t.completion, 240); /* 30 x8 */
    assert_int_equal(t.reasoning, 80);   /* 20 x4 */
    assert_int_equal(t.total, 70 + 3 + 240 + 80);
    /* A backend that reports more cached than prompt is not billed negative. */
    u.cached_tokens = 200;
    worker_count_tokens(&u, 1000, &m, &t);
    assert_int_equal(t.prompt, 0);
    assert_int_equal(t.cached, 20);
    /* /jsonstats: earned = served x the fee per token. */
    w.money.tokens_served = 393;
    json_t *o = json_object();
    worker_money_json(&w, o);
    json_t *p = json_object_get(o, "payments");
    assert_int_equal(json_integer_value(json_object_get(p, "tokens_served")), 393);
    assert_int_equal(json_integer_value(json_object_get(p, "nano_earned")), 393 * 16);
    assert_int_equal(json_integer_value(json_object_get(p, "nano_paid")), 0);
    json_decref(o);
    registry_free(w.tee.proxy_registry);
}

static void test_last_payment_is_kept(void **state)
{
    (void)state;
    worker w = {0};
    wlink l = {0};
    snprintf(l.addr, sizeof(l.addr), "127.0.0.1:1");
    tl_proxy_workerRequestPayment m = TL_INIT(proxy_workerRequestPayment);
    m.db_tokens = 10;
    m.max_tokens = 42;
    m.request_tokens = 32;
    m.request_client_owner = tl_str("0:alice");
    worker_money_on_payment(&w, &l, &m);
    json_t *o = json_object();
    worker_money_json(&w, o);
    json_t *last = json_object_get(json_object_get(o, "payments"), "last_payment");
    assert_int_equal(json_integer_value(json_object_get(last, "count")), 1);
    assert_int_equal(json_integer_value(json_object_get(last, "db_tokens")), 10);
    assert_int_equal(json_integer_value(json_object_get(last, "max_tokens")), 42);
    assert_int_equal(json_integer_value(json_object_get(last, "request_tokens")), 32);
    assert_string_equal(json_string_value(json_object_get(last, "client")), "0:alice");
    json_decref(o);
}

/* A worker with one proxy link whose handshake gave the proxy's key. */
typedef struct wfx {
    worker w;
    wlink link;
    uint8_t priv[32];
} wfx;

static void wfx_init(wfx *f, int64_t fee)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->link.addr, sizeof(f->link.addr), "127.0.0.1:1");
    f->w.links.at = &f->link;
    f->w.links.n = 1;
    f->w.pay = cc_calloc(2, sizeof(*f->w.pay));
    f->w.n_pay = 1;
    assert_int_equal(crypto_ed25519_keygen(f->priv, f->w.pay[0].proxy_pub), 0);
    f->w.pay[0].has_pub = true;
    char params[256];
    snprintf(params, sizeof(params), "{\"price_per_token\": 20, \"worker_fee_per_token\": %lld}",
             (long long)fee);
    f->w.tee.proxy_registry = registry_with(params);
}

static void wfx_clear(wfx *f)
{
    worker_money_free(&f->w);
    registry_free(f->w.tee.proxy_registry);
}

/* A proxy.signedPayment holding a payout voucher signed with priv. */
static void voucher(const uint8_t priv[32], uint32_t op, uint64_t tokens, uint8_t target_byte,
                    cc_buf *boc)
{
    ton_voucher v = {.op = op, .query_id = 7, .tokens = tokens};
    v.target.hash[0] = target_byte;
    v.excess_to.hash[0] = 0x77; /* whoever relays it */
    cc_err err = {0};
    ton_cell *c = ton_voucher_sign(&v, priv, &err);
    if (!c) fail_msg("sign: %s", err.msg);
    assert_int_equal(ton_boc_serialize(c, (ton_boc_opts){.crc32c = true}, boc, &err), 0);
    ton_cell_unref(c);
}

static void pay(wfx *f, int64_t max_tokens, const cc_buf *boc)
{
    tl_proxy_signedPayment sp = TL_INIT(proxy_signedPayment);
    tl_proxy_signedPaymentEmpty empty = TL_INIT(proxy_signedPaymentEmpty);
    tl_proxy_workerRequestPayment m = TL_INIT(proxy_workerRequestPayment);
    m.max_tokens = max_tokens;
    m.request_client_owner = tl_str("0:alice");
    if (boc) {
        sp.data = tl_mem(boc->data, boc->len);
        m.signed_payment = &sp.hdr;
    } else {
        m.signed_payment = &empty.hdr;
    }
    worker_money_on_payment(&f->w, &f->link, &m);
}

static int64_t paid_nano(wfx *f)
{
    json_t *o = json_object();
    worker_money_json(&f->w, o);
    int64_t v = json_integer_value(json_object_get(json_object_get(o, "payments"), "nano_paid"));
    json_decref(o);
    return v;
}

static void test_signed_payments_and_debt_limit(void **state)
{
    (void)state;
    wfx f;
    wfx_init(&f, 16);
    f.w.max_proxy_debt = 1000 * 16; /* 1000 tokens */
    char why[200];
    /* 900 tokens counted, none paid: under the limit. */
    pay(&f, 900, NULL);
    assert_int_equal(worker_money_debt(&f.w, &f.link), 900 * 16);
    assert_true(worker_money_admits(&f.w, &f.link, why, sizeof(why)));
    /* 1500 counted: refused with the figures. */
    pay(&f, 1500, NULL);
    assert_false(worker_money_admits(&f.w, &f.link, why, sizeof(why)));
    assert_string_equal(why, "proxy owes too much: debt=24000 nanoTON, limit=16000 nanoTON");
    assert_int_equal(f.w.pay[0].refused, 1);
    /* A payout voucher signed by the proxy for 1000 tokens covers them. */
    cc_buf b = CC_BUF_INIT;
    voucher(f.priv, TON_OP_WORKER_PAYOUT_SIGNED, 1000, 0, &b);
    pay(&f, 1500, &b);
    assert_int_equal(f.w.pay[0].paid_tokens, 1000);
    assert_int_equal(f.w.pay[0].voucher_len, b.len);
    assert_int_equal(paid_nano(&f), 1000 * 16);
    assert_true(worker_money_admits(&f.w, &f.link, why, sizeof(why)));
    cc_buf_free(&b);

    /* Ignored: an older total, another key, another op, another contract,
     * and bytes that are no BoC. */
    uint8_t other_priv[32], other_pub[32];
    assert_int_equal(crypto_ed25519_keygen(other_priv, other_pub), 0);
    voucher(f.priv, TON_OP_WORKER_PAYOUT_SIGNED, 900, 0, &b);
    pay(&f, 1500, &b);
    cc_buf_free(&b);
    voucher(other_priv, TON_OP_WORKER_PAYOUT_SIGNED, 5000, 0, &b);
    pay(&f, 1500, &b);
    cc_buf_free(&b);
    voucher(f.priv, TON_OP_CLIENT_CHARGE_SIGNED, 5000, 0, &b);
    pay(&f, 1500, &b);
    cc_buf_free(&b);
    f.w.pay[0].has_sc = true; /* our contract: hash 00..00 */
    voucher(f.priv, TON_OP_WORKER_PAYOUT_SIGNED, 5000, 0x55, &b);
    pay(&f, 1500, &b);
    cc_buf_free(&b);
    cc_buf_append(&b, "garbage", 7);
    pay(&f, 1500, &b);
    cc_buf_free(&b);
    assert_int_equal(f.w.pay[0].paid_tokens, 1000);
    /* The right one for our contract counts. */
    voucher(f.priv, TON_OP_WORKER_LAST_PAYOUT_SIGNED, 1400, 0, &b);
    pay(&f, 1500, &b);
    cc_buf_free(&b);
    assert_int_equal(f.w.pay[0].paid_tokens, 1400);
    assert_int_equal(paid_nano(&f), 1400 * 16);
    /* Totals never go back. */
    pay(&f, 10, NULL);
    assert_int_equal(f.w.pay[0].max_tokens, 1500);
    /* No limit configured: never refused. */
    f.w.max_proxy_debt = 0;
    pay(&f, 1000000, NULL);
    assert_true(worker_money_admits(&f.w, &f.link, why, sizeof(why)));
    wfx_clear(&f);
}

int main(void)
{
    cc_log_init("test", CC_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_without_registry_are_category_splits),
        cmocka_unit_test(test_counts_with_registry_multipliers),
        cmocka_unit_test(test_last_payment_is_kept),
        cmocka_unit_test(test_signed_payments_and_debt_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
