/* Sealed requests through the proxy: candidates are its sealing workers of
 * the model; a sealed request goes only to a worker the client wrapped its key
 * for, with that worker's key and the body unchanged; the receipt is checked
 * against what was relayed and billed from, and a receipt with a wrong
 * signature, count or hash is refused and bills nothing. */
#include "proxy_fixture.h"

typedef struct sw {
    pworker *w;
    uint8_t receipt_sk[32];
} sw;

static void make_sealing(sw *s, pworker *w, uint8_t tag)
{
    s->w = w;
    w->sealing = true;
    memset(w->cert_hash, tag, 32);
    assert_int_equal(crypto_ed25519_keygen(s->receipt_sk, w->receipt_pub), 0);
    w->cert_der = cc_malloc(8);
    memcpy(w->cert_der, "CERT-", 5);
    w->cert_der[5] = tag;
    w->cert_der_len = 6;
}

#define BODY "SEALED-BODY-BYTES-0123456789"

/* client.runSealedQuery with a wrapped key for each given certificate tag. */
static void run_sealed(pclient *c, uint8_t rid, const char *model, const uint8_t *tags, size_t n)
{
    tl_sealing_wrappedKey keys[8];
    uint8_t wrapped[8][CRYPTO_SEAL_WRAPPED_LEN];
    for (size_t i = 0; i < n; i++) {
        keys[i] = (tl_sealing_wrappedKey){.hdr = {.id = TL_ID_sealing_wrappedKey}};
        memset(keys[i].cert_hash.b, tags[i], 32);
        memset(keys[i].enc.b, 0x40 + tags[i], 32);
        memset(wrapped[i], 0x80 + tags[i], CRYPTO_SEAL_WRAPPED_LEN);
        keys[i].wrapped_key = tl_mem(wrapped[i], CRYPTO_SEAL_WRAPPED_LEN);
    }
    tl_client_runSealedQuery q = TL_INIT(client_runSealedQuery);
    q.model_name = tl_str(model);
    q.max_coefficient = 1000000;
    q.max_tokens = 77;
    q.request_id = fx_rid(rid);
    q.keys.n = n;
    q.keys.items = keys;
    q.body = tl_str(BODY);
    fx_client_packet(c, &q.hdr);
}

static void test_candidates_are_sealing_workers_of_the_model(void **state)
{
    fx *f = *state;
    sw a, b, other;
    make_sealing(&a, fx_worker(f, "tiny@sha256:aa", 1000, 4), 1);
    make_sealing(&b, fx_worker(f, "tiny@sha256:aa", 1000, 4), 2);
    fx_worker(f, "tiny@sha256:aa", 1000, 4); /* COCOON's: no sealing claims */
    make_sealing(&other, fx_worker(f, "big@sha256:bb", 1000, 4), 3);
    b.w->rw.active = 3; /* the busier one comes second */
    pclient *c = fx_client(f, 2);
    tl_client_getSealingCandidates q = TL_INIT(client_getSealingCandidates);
    q.model = tl_str("tiny");
    q.max_candidates = 8;
    cc_buf enc = CC_BUF_INIT;
    fx_encode(&q.hdr, &enc);
    proxy_client_on_query(NULL, c, 42, enc.data, enc.len);
    cc_buf_free(&enc);
    assert_int_equal(f->n_answers, 1);
    assert_int_equal(f->answers[0].code, 0);
    cc_err err;
    tl_obj *o = tl_decode(f->answers[0].data.data, f->answers[0].data.len, &err);
    assert_non_null(o);
    assert_int_equal(o->id, TL_ID_sealing_candidates);
    const tl_sealing_candidates *cs = (const tl_sealing_candidates *)o;
    assert_int_equal(cs->candidates.n, 2);
    assert_true(tl_bytes_eq_str(cs->candidates.items[0].cert, "CERT-\x01"));
    assert_true(tl_bytes_eq_str(cs->candidates.items[1].cert, "CERT-\x02"));
    assert_int_equal(cs->candidates.items[1].active_requests, 3);
    tl_obj_free(o);
}

static void test_routed_only_to_a_wrapped_candidate(void **state)
{
    fx *f = *state;
    sw a, b;
    make_sealing(&a, fx_worker(f, "tiny@sha256:aa", 1000, 4), 1);
    make_sealing(&b, fx_worker(f, "tiny@sha256:aa", 1000, 4), 2);
    b.w->rw.active = 3; /* a is idle, but the client wrapped for b only */
    pclient *c = fx_client(f, 2);
    const uint8_t tags[] = {2};
    run_sealed(c, 1, "tiny", tags, 1);
    const tl_proxy_runSealedQuery *q =
        (const tl_proxy_runSealedQuery *)fx_take(f, true, b.w->rw.id, TL_ID_proxy_runSealedQuery);
    assert_true(tl_bytes_eq_str(q->body, BODY));
    assert_memory_equal(q->client_request_id.b, fx_rid(1).b, 32);
    assert_true(tl_bytes_eq_str(q->model_name, "tiny"));
    assert_int_equal(q->max_tokens, 77);
    assert_int_equal(q->key.cert_hash.b[0], 2);
    assert_int_equal(q->key.enc.b[0], 0x42);
    assert_int_equal(q->key.wrapped_key.len, CRYPTO_SEAL_WRAPPED_LEN);
    assert_int_equal(q->key.wrapped_key.data[0], 0x82);
    assert_int_equal(f->p->stats.sealed, 1);

    /* Wrapped for a worker the proxy does not have: refused, not sent anywhere. */
    const uint8_t none[] = {9};
    run_sealed(c, 2, "tiny", none, 1);
    const tl_client_queryAnswerErrorEx *e = fx_take_error(f, c, NET_ERR_NOT_READY);
    assert_true(fx_error_says(e, "no worker serves this model"));
    fx_expect_none(f);
}

/* The worker's side: sealed parts (opaque to the proxy) and a receipt. */
typedef enum { GOOD, BAD_SIGNATURE, BAD_COUNT, BAD_HASH, NO_RECEIPT } receipt_case;

static void serve(fx *f, sw *s, const tl_int256 *wrid, receipt_case how)
{
    static const char *const parts[] = {"sealed-head", "sealed-part-1", "sealed-final"};
    crypto_hash *h = crypto_hash_new(CRYPTO_HASH_SHA256);
    for (int i = 0; i < 3; i++)
        crypto_seal_hash_part(h, parts[i], strlen(parts[i]));
    crypto_receipt r = {0};
    memcpy(r.request_id, wrid->b, 32);
    memcpy(r.cert_hash, s->w->cert_hash, 32);
    crypto_sha256(s->w->model, strlen(s->w->model), r.model_hash);
    crypto_sha256(BODY, strlen(BODY), r.request_hash);
    crypto_hash_final(h, r.answer_hash);
    r.prompt_tokens = 10;
    r.completion_tokens = how == BAD_COUNT ? 999 : 20;
    r.total_tokens = how == BAD_COUNT ? 1009 : 30;
    r.coefficient = s->w->rw.coefficient;
    r.parts = 3;
    if (how == BAD_HASH) r.answer_hash[5] ^= 1;
    uint8_t bytes[CRYPTO_RECEIPT_LEN];
    cc_err err;
    assert_int_equal(crypto_receipt_sign(&r, s->receipt_sk, bytes, &err), 0);
    if (how == BAD_SIGNATURE) bytes[CRYPTO_RECEIPT_LEN - 1] ^= 1;
    fx_answer(s->w, wrid, true, parts[0], false, 0, 0);
    fx_answer(s->w, wrid, false, parts[1], false, 0, 0);
    if (how != NO_RECEIPT) {
        tl_proxy_queryReceipt m = TL_INIT(proxy_queryReceipt);
        m.request_id = *wrid;
        m.receipt = tl_mem(bytes, sizeof(bytes));
        fx_worker_packet(s->w, &m.hdr);
    }
    /* The final info claims 10 + 20 whatever the receipt says. */
    fx_answer(s->w, wrid, false, parts[2], true, 10, 20);
}

static void test_receipt_checked_and_billed(void **state)
{
    fx *f = *state;
    sw a;
    make_sealing(&a, fx_worker(f, "tiny@sha256:aa", 1000, 4), 1);
    pclient *c = fx_client(f, 2);
    const uint8_t tags[] = {1};
    run_sealed(c, 1, "tiny", tags, 1);
    tl_int256 wrid =
        ((const tl_proxy_runSealedQuery *)fx_take(f, true, a.w->rw.id, TL_ID_proxy_runSealedQuery))
            ->request_id;
    serve(f, &a, &wrid, GOOD);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerPartEx);
    const tl_client_queryReceipt *rc =
        (const tl_client_queryReceipt *)fx_take(f, false, c->id, TL_ID_client_queryReceipt);
    assert_memory_equal(rc->request_id.b, fx_rid(1).b, 32);
    assert_int_equal(rc->receipt.len, CRYPTO_RECEIPT_LEN);
    const tl_client_queryAnswerPartEx *fin = (const tl_client_queryAnswerPartEx *)fx_take(
        f, false, c->id, TL_ID_client_queryAnswerPartEx);
    assert_true(fin->flags & 1u);
    assert_true(tl_bytes_eq_str(fin->answer, "sealed-final"));
    const tl_proxy_workerRequestPayment *wp = (const tl_proxy_workerRequestPayment *)fx_take(
        f, true, a.w->rw.id, TL_ID_proxy_workerRequestPayment);
    assert_int_equal(wp->request_tokens, 30);
    fx_take(f, false, c->id, TL_ID_proxy_clientRequestPayment);
    fx_expect_none(f);
    assert_int_equal(f->p->stats.receipts_refused, 0);
    assert_int_equal(f->p->stats.ok, 1);
}

static void refused_case(fx *f, receipt_case how, const char *says)
{
    sw a;
    make_sealing(&a, fx_worker(f, "tiny@sha256:aa", 1000, 4), 1);
    pclient *c = fx_client(f, 2);
    const uint8_t tags[] = {1};
    run_sealed(c, 1, "tiny", tags, 1);
    tl_int256 wrid =
        ((const tl_proxy_runSealedQuery *)fx_take(f, true, a.w->rw.id, TL_ID_proxy_runSealedQuery))
            ->request_id;
    serve(f, &a, &wrid, how);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerPartEx);
    /* No receipt and no final part reach the client: an error ends it. */
    const tl_client_queryAnswerErrorEx *e = fx_take_error(f, c, NET_ERR_ERROR);
    char msg[200];
    snprintf(msg, sizeof(msg), "%.*s", (int)e->error.len, (const char *)e->error.data);
    if (!strstr(msg, says)) fail_msg("error \"%s\" does not say \"%s\"", msg, says);
    const tl_proxy_workerRequestPayment *wp = (const tl_proxy_workerRequestPayment *)fx_take(
        f, true, a.w->rw.id, TL_ID_proxy_workerRequestPayment);
    assert_int_equal(wp->request_tokens, 0);
    const tl_proxy_clientRequestPayment *cp = (const tl_proxy_clientRequestPayment *)fx_take(
        f, false, c->id, TL_ID_proxy_clientRequestPayment);
    assert_int_equal(cp->request_tokens, 0);
    fx_expect_none(f);
    assert_int_equal(f->p->stats.receipts_refused, 1);
    assert_true(cc_list_empty(&c->reqs));
}

static void test_receipt_bad_signature(void **state)
{
    refused_case(*state, BAD_SIGNATURE, "signature");
}

static void test_receipt_bad_count(void **state)
{
    refused_case(*state, BAD_COUNT, "token counts");
}

static void test_receipt_bad_hash(void **state)
{
    refused_case(*state, BAD_HASH, "sealed answer hash");
}

static void test_receipt_missing(void **state)
{
    refused_case(*state, NO_RECEIPT, "no receipt");
}

/* The answer hash is checked on the first answer of a worker connection and
 * one in 16 after it (the parts came over the attested worker's link; the
 * client checks every answer): answers 2 to 16 pass unhashed, even with a
 * wrong hash, and the 17th is hashed and refused. The part count is checked
 * on every answer. */
static void test_answer_hash_sampled(void **state)
{
    fx *f = *state;
    sw a;
    make_sealing(&a, fx_worker(f, "tiny@sha256:aa", 1000, 4), 1);
    pclient *c = fx_client(f, 2);
    const uint8_t tags[] = {1};
    for (int i = 1; i <= 17; i++) {
        run_sealed(c, (uint8_t)i, "tiny", tags, 1);
        tl_int256 wrid = ((const tl_proxy_runSealedQuery *)fx_take(f, true, a.w->rw.id,
                                                                   TL_ID_proxy_runSealedQuery))
                             ->request_id;
        serve(f, &a, &wrid, i == 1 ? GOOD : BAD_HASH);
        fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
        fx_take(f, false, c->id, TL_ID_client_queryAnswerPartEx);
        if (i == 17) {
            const tl_client_queryAnswerErrorEx *e = fx_take_error(f, c, NET_ERR_ERROR);
            char msg[200];
            snprintf(msg, sizeof(msg), "%.*s", (int)e->error.len, (const char *)e->error.data);
            assert_non_null(strstr(msg, "sealed answer hash"));
        } else {
            fx_take(f, false, c->id, TL_ID_client_queryReceipt);
            fx_take(f, false, c->id, TL_ID_client_queryAnswerPartEx);
        }
        fx_take(f, true, a.w->rw.id, TL_ID_proxy_workerRequestPayment);
        fx_take(f, false, c->id, TL_ID_proxy_clientRequestPayment);
        fx_expect_none(f);
        fx_clear_sent(f);
    }
    assert_int_equal(f->p->stats.receipts_refused, 1);
    assert_int_equal(f->p->stats.ok, 16);
}

/* One sealed request through worker a whose receipt is `how`; true when the
 * proxy passed it on (billed), false when it refused it. */
static bool one_sampled(fx *f, sw *a, pclient *c, int i, receipt_case how)
{
    const uint8_t tags[] = {1};
    run_sealed(c, (uint8_t)i, "tiny", tags, 1);
    tl_int256 wrid =
        ((const tl_proxy_runSealedQuery *)fx_take(f, true, a->w->rw.id, TL_ID_proxy_runSealedQuery))
            ->request_id;
    uint64_t refused = f->p->stats.receipts_refused;
    serve(f, a, &wrid, how);
    fx_clear_sent(f);
    return f->p->stats.receipts_refused == refused;
}

/* Signatures are checked on the first receipt of a worker connection, then
 * on one in 16 at most, and no sooner than a quarter second after the last
 * check: receipts 2 to 16 pass unchecked even with a bad signature, the 17th
 * too while the last check is recent, and the next one once it is not. */
static void test_signature_sampled(void **state)
{
    fx *f = *state;
    sw a;
    make_sealing(&a, fx_worker(f, "tiny@sha256:aa", 1000, 4), 1);
    pclient *c = fx_client(f, 2);
    assert_true(one_sampled(f, &a, c, 1, GOOD));
    for (int i = 2; i <= 17; i++)
        assert_true(one_sampled(f, &a, c, i, BAD_SIGNATURE));
    /* The last check is now long enough ago: the next bad one is caught. */
    a.w->receipt_checked_at -= 1.0;
    assert_false(one_sampled(f, &a, c, 18, BAD_SIGNATURE));
    /* A check just happened: the next 15 are not checked again. */
    for (int i = 19; i <= 33; i++)
        assert_true(one_sampled(f, &a, c, i, BAD_SIGNATURE));
    assert_int_equal(f->p->stats.receipts_refused, 1);
}

/* The generation a client.sealingWorkersChanged to c carries (it must be
 * the next message to c). */
static int64_t changed_to(fx *f, pclient *c)
{
    return ((const tl_client_sealingWorkersChanged *)fx_take(f, false, c->id,
                                                             TL_ID_client_sealingWorkersChanged))
        ->generation;
}

static void set_enabled(pworker *w, bool en)
{
    tl_worker_enabledDisabled d = TL_INIT(worker_enabledDisabled);
    d.disabled = en ? 0 : 1;
    fx_worker_packet(w, &d.hdr);
}

/* Clients that keep candidate lists hear when a sealing worker is disabled,
 * enabled or gone; nothing else is told, nor is any other client. */
static void test_workers_changed_told(void **state)
{
    fx *f = *state;
    sw a;
    make_sealing(&a, fx_worker(f, "tiny@sha256:aa", 1000, 4), 1);
    pworker *plain = fx_worker(f, "tiny@sha256:aa", 1000, 4); /* no sealing claims */
    pclient *c = fx_client(f, 2);
    c->hello_flags = DAEMON_PARAMS_FLAG_SEALING | DAEMON_PARAMS_FLAG_SEAL_LISTS;
    pclient *older = fx_client(f, 2); /* seals, but keeps no lists (an earlier version) */
    older->hello_flags = DAEMON_PARAMS_FLAG_SEALING;
    set_enabled(a.w, false);
    assert_int_equal(changed_to(f, c), 1);
    fx_expect_none(f);
    set_enabled(a.w, false); /* no change, nothing said */
    fx_expect_none(f);
    set_enabled(a.w, true);
    assert_int_equal(changed_to(f, c), 2);
    set_enabled(plain, false); /* never offered as a candidate */
    proxy_worker_destroy(plain, "closed");
    fx_expect_none(f);
    proxy_worker_destroy(a.w, "closed");
    assert_int_equal(changed_to(f, c), 3);
    fx_expect_none(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_candidates_are_sealing_workers_of_the_model),
        FX_TEST(test_routed_only_to_a_wrapped_candidate),
        FX_TEST(test_receipt_checked_and_billed),
        FX_TEST(test_receipt_bad_signature),
        FX_TEST(test_receipt_bad_count),
        FX_TEST(test_receipt_bad_hash),
        FX_TEST(test_receipt_missing),
        FX_TEST(test_answer_hash_sampled),
        FX_TEST(test_signature_sampled),
        FX_TEST(test_workers_changed_told),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
