/* The worker's adjusted token counts (COCOON's CountTokens) with and without
 * the registry's multipliers, what /jsonstats shows of them, and the last
 * proxy.workerRequestPayment it keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

    /* A lower total signed by the proxy itself: its ledger was rolled back.
     * Kept is still the higher one; the proxy's requests are refused with
     * the reason until it signs at least that again. */
    uint8_t other_priv[32], other_pub[32];
    assert_int_equal(crypto_ed25519_keygen(other_priv, other_pub), 0);
    voucher(f.priv, TON_OP_WORKER_PAYOUT_SIGNED, 900, 0, &b);
    pay(&f, 1500, &b);
    cc_buf_free(&b);
    assert_int_equal(f.w.pay[0].paid_tokens, 1000);
    assert_false(worker_money_admits(&f.w, &f.link, why, sizeof(why)));
    assert_string_equal(why, "tokens_committed_to_blockchain is too low: the proxy signed a "
                             "payment for 900 tokens, we hold one for 1000 (its ledger was "
                             "rolled back)");
    assert_int_equal(f.w.pay[0].rollbacks, 1);
    assert_int_equal(f.w.pay[0].refused_rollback, 1);
    /* Ignored, and the proxy still refused: another key, another op,
     * another contract, and bytes that are no BoC. */
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
    assert_false(worker_money_admits(&f.w, &f.link, why, sizeof(why)));
    /* The right one for our contract counts, and the proxy is served again. */
    voucher(f.priv, TON_OP_WORKER_LAST_PAYOUT_SIGNED, 1400, 0, &b);
    pay(&f, 1500, &b);
    cc_buf_free(&b);
    assert_int_equal(f.w.pay[0].paid_tokens, 1400);
    assert_true(worker_money_admits(&f.w, &f.link, why, sizeof(why)));
    assert_int_equal(f.w.pay[0].rollbacks, 1);
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

static char dir[256];

static void paths(char *file, char *tmp, size_t n)
{
    snprintf(file, n, "%s/proxy-payments.json", dir);
    snprintf(tmp, n, "%s/proxy-payments.json.tmp", dir);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The kept voucher and totals survive a restart (state_dir/proxy-payments.json):
 * written when a higher payment is kept and at a clean stop, restored once the
 * proxy is known with the same key; a damaged file stops the start. */
static void test_payments_survive_restart(void **state)
{
    (void)state;
    cc_tmp_template(dir, sizeof(dir), "worker_paystore");
    assert_non_null(mkdtemp(dir));
    char file[512], tmp[512];
    paths(file, tmp, sizeof(file));
    cc_err err = {0};
    wfx f;
    wfx_init(&f, 16);
    assert_int_equal(worker_paystore_open(&f.w, dir, &err), 0);
    worker_paystore_restore(&f.w, &f.link, "sc=0:proxy", f.w.pay[0].proxy_pub);
    assert_int_equal(f.w.pay[0].paid_tokens, 0); /* nothing kept yet */
    cc_buf b = CC_BUF_INIT;
    voucher(f.priv, TON_OP_WORKER_PAYOUT_SIGNED, 700, 0, &b);
    pay(&f, 900, &b);
    assert_int_equal(f.w.pay[0].paid_tokens, 700);
    worker_paystore_save(&f.w); /* the clean stop */
    uint8_t pub[32], priv[32];
    memcpy(pub, f.w.pay[0].proxy_pub, 32);
    memcpy(priv, f.priv, 32);
    worker_money_free(&f.w);
    worker_paystore_free(&f.w);
    registry_free(f.w.tee.proxy_registry);

    /* The restarted worker: same proxy, same key. */
    wfx g;
    wfx_init(&g, 16);
    memcpy(g.w.pay[0].proxy_pub, pub, 32);
    memcpy(g.priv, priv, 32);
    assert_int_equal(worker_paystore_open(&g.w, dir, &err), 0);
    worker_paystore_restore(&g.w, &g.link, "sc=0:proxy", pub);
    assert_int_equal(g.w.pay[0].paid_tokens, 700);
    assert_int_equal(g.w.pay[0].max_tokens, 900);
    assert_int_equal(g.w.pay[0].voucher_len, b.len);
    assert_memory_equal(g.w.pay[0].voucher, b.data, b.len);
    cc_buf_free(&b);
    /* ...so a proxy whose ledger went back behind it is seen at once. */
    voucher(priv, TON_OP_WORKER_PAYOUT_SIGNED, 300, 0, &b);
    pay(&g, 900, &b);
    cc_buf_free(&b);
    char why[256];
    assert_false(worker_money_admits(&g.w, &g.link, why, sizeof(why)));
    json_t *o = json_object();
    worker_money_json(&g.w, o);
    json_t *px = json_array_get(json_object_get(json_object_get(o, "payments"), "proxies"), 0);
    assert_non_null(strstr(json_string_value(json_object_get(px, "rolled_back")),
                           "signed a payment for 300 tokens, we hold one for 700"));
    json_decref(o);
    /* The very voucher we hold, sent again (as the proxy does with every
     * request until its next save_state): accepted without a second check,
     * and the proxy is served again. */
    cc_buf same = CC_BUF_INIT;
    cc_buf_append(&same, g.w.pay[0].voucher, g.w.pay[0].voucher_len);
    pay(&g, 900, &same);
    cc_buf_free(&same);
    assert_true(worker_money_admits(&g.w, &g.link, why, sizeof(why)));
    assert_int_equal(g.w.pay[0].paid_tokens, 700);
    wfx_clear(&g);
    worker_paystore_free(&g.w);

    /* Another key under that name is not restored (the key check refuses
     * such a proxy anyway). */
    wfx h;
    wfx_init(&h, 16);
    assert_int_equal(worker_paystore_open(&h.w, dir, &err), 0);
    worker_paystore_restore(&h.w, &h.link, "sc=0:proxy", h.w.pay[0].proxy_pub);
    assert_int_equal(h.w.pay[0].paid_tokens, 0);
    assert_null(h.w.pay[0].voucher);
    wfx_clear(&h);
    worker_paystore_free(&h.w);

    /* Damaged files are refused with what is wrong. */
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"[1]", "top level must be a JSON object"},
        {"{\"p\": {\"proxy_public_key\": \"00\", \"paid_tokens\": 1, \"db_tokens\": 1, "
         "\"max_tokens\": 1}}",
         "proxy_public_key must be 64 hex digits"},
        {"{\"p\": {\"proxy_public_key\": "
         "\"0000000000000000000000000000000000000000000000000000000000000000\", "
         "\"paid_tokens\": -1, \"db_tokens\": 1, \"max_tokens\": 1}}",
         "must be integers >= 0"},
        {"{\"p\": 3}", "must be an object"},
        {"{\"p\": {\"proxy_public_key\": "
         "\"0000000000000000000000000000000000000000000000000000000000000000\", "
         "\"paid_tokens\": 1, \"db_tokens\": 1, \"max_tokens\": 1, \"voucher\": \"abc\"}}",
         "voucher must be hex digits"},
        {"{", "line 1"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_text(file, bad[i].text);
        worker w = {0};
        err = (cc_err){0};
        assert_int_equal(worker_paystore_open(&w, dir, &err), -1);
        if (!strstr(err.msg, bad[i].msg)) fail_msg("case %zu: %s", i, err.msg);
        assert_non_null(strstr(err.msg, "proxy-payments.json"));
        worker_paystore_free(&w);
    }
    unlink(file);
    unlink(tmp);
    rmdir(dir);
}

int main(void)
{
    cc_log_init("test", CC_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_without_registry_are_category_splits),
        cmocka_unit_test(test_counts_with_registry_multipliers),
        cmocka_unit_test(test_last_payment_is_kept),
        cmocka_unit_test(test_signed_payments_and_debt_limit),
        cmocka_unit_test(test_payments_survive_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
