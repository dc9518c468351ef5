/* The sealing formats (docs/confidentiality.md): a request opens only for the
 * candidate it was wrapped for and only with its AAD; answer parts refuse
 * tampering, reordering, replay and truncation; receipts refuse a wrong
 * signature, count or hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>

#include "crypto/crypto.h"

typedef struct {
    uint8_t sk[32], pk[32], cert_hash[32];
} worker_keys;

static void make_worker(worker_keys *w, uint8_t tag)
{
    assert_int_equal(crypto_x25519_keygen(w->sk, w->pk), 0);
    memset(w->cert_hash, tag, 32);
}

static void make_aad(cc_buf *aad, const char *model, int32_t max_tokens)
{
    uint8_t rid[32];
    memset(rid, 7, 32);
    crypto_seal_request_aad(rid, model, strlen(model), max_tokens, aad);
}

static void test_request_opens_only_for_its_candidate(void **state)
{
    (void)state;
    worker_keys a, b;
    make_worker(&a, 1);
    make_worker(&b, 2);
    cc_buf aad = CC_BUF_INIT, ct = CC_BUF_INIT, pt = CC_BUF_INIT;
    make_aad(&aad, "tiny", 64);
    uint8_t key[32], enc_a[32], enc_b[32], wa[48], wb[48], got[32];
    crypto_random(key, 32);
    crypto_hpke_ctx ca, cb, cw;
    cc_err err;
    const char *body = "{\"prompt\":\"secret\"}";
    assert_int_equal(crypto_seal_body(key, &aad, body, strlen(body), &ct, &err), 0);
    assert_null(memmem(ct.data, ct.len, "secret", 6));
    assert_int_equal(crypto_seal_wrap(a.pk, a.cert_hash, &aad, key, enc_a, wa, &ca, &err), 0);
    assert_int_equal(crypto_seal_wrap(b.pk, b.cert_hash, &aad, key, enc_b, wb, &cb, &err), 0);

    /* b opens its own wrap and the body. */
    assert_int_equal(crypto_seal_unwrap(b.sk, b.cert_hash, &aad, enc_b, wb, got, &cw, &err), 0);
    assert_memory_equal(got, key, 32);
    assert_int_equal(crypto_seal_body_open(got, &aad, ct.data, ct.len, &pt, &err), 0);
    assert_int_equal(pt.len, strlen(body));
    assert_memory_equal(pt.data, body, pt.len);

    /* a's wrap under b's key, a's wrap claimed for b's certificate, and a
     * changed AAD (the proxy altering max_tokens) all fail. */
    assert_int_equal(crypto_seal_unwrap(b.sk, b.cert_hash, &aad, enc_a, wa, got, &cw, &err), -1);
    assert_int_equal(crypto_seal_unwrap(a.sk, b.cert_hash, &aad, enc_a, wa, got, &cw, &err), -1);
    cc_buf aad2 = CC_BUF_INIT;
    make_aad(&aad2, "tiny", 65);
    assert_int_equal(crypto_seal_unwrap(a.sk, a.cert_hash, &aad2, enc_a, wa, got, &cw, &err), -1);
    pt.len = 0;
    assert_int_equal(crypto_seal_body_open(key, &aad2, ct.data, ct.len, &pt, &err), -1);
    ct.data[3] ^= 1;
    assert_int_equal(crypto_seal_body_open(key, &aad, ct.data, ct.len, &pt, &err), -1);
    assert_int_equal(crypto_seal_body_open(key, &aad, ct.data, 5, &pt, &err), -1);
    assert_non_null(strstr(err.msg, "shorter than its tag"));
    cc_buf_free(&aad);
    cc_buf_free(&aad2);
    cc_buf_free(&ct);
    cc_buf_free(&pt);
}

/* A client and a worker stream pair over one wrapped key. */
typedef struct {
    crypto_seal_stream tx, rx;
} pair;

static void make_pair(pair *p)
{
    worker_keys w;
    make_worker(&w, 3);
    cc_buf aad = CC_BUF_INIT;
    make_aad(&aad, "m", 1);
    uint8_t key[32], enc[32], wrapped[48], got[32];
    crypto_random(key, 32);
    crypto_hpke_ctx cs, cr;
    cc_err err;
    assert_int_equal(crypto_seal_wrap(w.pk, w.cert_hash, &aad, key, enc, wrapped, &cs, &err), 0);
    assert_int_equal(crypto_seal_unwrap(w.sk, w.cert_hash, &aad, enc, wrapped, got, &cr, &err), 0);
    assert_int_equal(crypto_seal_stream_init(&p->tx, &cr, &err), 0);
    assert_int_equal(crypto_seal_stream_init(&p->rx, &cs, &err), 0);
    cc_buf_free(&aad);
}

static void free_pair(pair *p)
{
    crypto_seal_stream_clear(&p->tx);
    crypto_seal_stream_clear(&p->rx);
}

/* Seals parts "p0".."p{n-1}", the last final, into parts[i]. */
static void seal_parts(pair *p, int n, cc_buf *parts)
{
    cc_err err;
    for (int i = 0; i < n; i++) {
        char pt[16];
        snprintf(pt, sizeof(pt), "p%d", i);
        assert_int_equal(crypto_seal_part(&p->tx, i == n - 1, pt, strlen(pt), &parts[i], &err), 0);
    }
}

static void test_parts_in_order_open_and_hash_agrees(void **state)
{
    (void)state;
    pair p;
    make_pair(&p);
    cc_buf parts[3] = {CC_BUF_INIT, CC_BUF_INIT, CC_BUF_INIT}, out = CC_BUF_INIT;
    seal_parts(&p, 3, parts);
    cc_err err;
    crypto_hash *observer = crypto_hash_new(CRYPTO_HASH_SHA256);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            crypto_seal_part_open(&p.rx, i == 2, parts[i].data, parts[i].len, &out, &err), 0);
        crypto_seal_hash_part(observer, parts[i].data, parts[i].len);
    }
    assert_int_equal(out.len, 6);
    assert_memory_equal(out.data, "p0p1p2", 6);
    uint8_t h_tx[32], h_rx[32], h_obs[32];
    crypto_seal_stream_hash(&p.tx, h_tx);
    crypto_seal_stream_hash(&p.rx, h_rx);
    crypto_hash_final(observer, h_obs);
    assert_memory_equal(h_tx, h_rx, 32);
    assert_memory_equal(h_tx, h_obs, 32);
    /* Nothing after the final part, on either side. */
    assert_int_equal(crypto_seal_part(&p.tx, false, "x", 1, &out, &err), -1);
    assert_int_equal(crypto_seal_part_open(&p.rx, false, parts[0].data, parts[0].len, &out, &err),
                     -1);
    for (int i = 0; i < 3; i++)
        cc_buf_free(&parts[i]);
    cc_buf_free(&out);
    free_pair(&p);
}

static void test_tampered_reordered_replayed_truncated_refused(void **state)
{
    (void)state;
    cc_err err;
    cc_buf out = CC_BUF_INIT;
    for (int attack = 0; attack < 5; attack++) {
        pair p;
        make_pair(&p);
        cc_buf parts[3] = {CC_BUF_INIT, CC_BUF_INIT, CC_BUF_INIT};
        seal_parts(&p, 3, parts);
        out.len = 0;
        switch (attack) {
        case 0: /* a flipped bit in the first part */
            parts[0].data[0] ^= 0x80;
            assert_int_equal(
                crypto_seal_part_open(&p.rx, false, parts[0].data, parts[0].len, &out, &err), -1);
            break;
        case 1: /* parts 1 and 0 swapped */
            assert_int_equal(
                crypto_seal_part_open(&p.rx, false, parts[1].data, parts[1].len, &out, &err), -1);
            break;
        case 2: /* part 0 replayed */
            assert_int_equal(
                crypto_seal_part_open(&p.rx, false, parts[0].data, parts[0].len, &out, &err), 0);
            assert_int_equal(
                crypto_seal_part_open(&p.rx, false, parts[0].data, parts[0].len, &out, &err), -1);
            break;
        case 3: /* cut after part 1, which the carrier marks final */
            assert_int_equal(
                crypto_seal_part_open(&p.rx, false, parts[0].data, parts[0].len, &out, &err), 0);
            assert_int_equal(
                crypto_seal_part_open(&p.rx, true, parts[1].data, parts[1].len, &out, &err), -1);
            assert_non_null(strstr(err.msg, "cut short"));
            break;
        case 4: /* the final part presented as an ordinary one */
            assert_int_equal(
                crypto_seal_part_open(&p.rx, false, parts[0].data, parts[0].len, &out, &err), 0);
            assert_int_equal(
                crypto_seal_part_open(&p.rx, false, parts[1].data, parts[1].len, &out, &err), 0);
            assert_int_equal(
                crypto_seal_part_open(&p.rx, false, parts[2].data, parts[2].len, &out, &err), -1);
            break;
        }
        /* A refused part leaves the stream where it was: the right one still opens. */
        if (attack == 1) {
            assert_int_equal(
                crypto_seal_part_open(&p.rx, false, parts[0].data, parts[0].len, &out, &err), 0);
            assert_false(p.rx.finished);
        }
        for (int i = 0; i < 3; i++)
            cc_buf_free(&parts[i]);
        free_pair(&p);
    }
    cc_buf_free(&out);
}

static void sample_receipt(crypto_receipt *r)
{
    memset(r, 0, sizeof(*r));
    memset(r->request_id, 1, 32);
    memset(r->cert_hash, 2, 32);
    memset(r->model_hash, 3, 32);
    memset(r->request_hash, 4, 32);
    memset(r->answer_hash, 5, 32);
    r->prompt_tokens = 11;
    r->completion_tokens = 22;
    r->total_tokens = 33;
    r->coefficient = 1000;
    r->parts = 3;
    r->issued_at = 1700000000;
}

static void test_receipt_sign_verify_and_refusals(void **state)
{
    (void)state;
    uint8_t sk[32], pk[32], other_sk[32], other_pk[32];
    assert_int_equal(crypto_ed25519_keygen(sk, pk), 0);
    assert_int_equal(crypto_ed25519_keygen(other_sk, other_pk), 0);
    crypto_receipt r, got;
    sample_receipt(&r);
    uint8_t bytes[CRYPTO_RECEIPT_LEN];
    cc_err err;
    assert_int_equal(crypto_receipt_sign(&r, sk, bytes, &err), 0);
    assert_int_equal(crypto_receipt_verify(bytes, sizeof(bytes), pk, &got, &err), 0);
    assert_int_equal(got.completion_tokens, 22);
    assert_int_equal(got.total_tokens, 33);
    assert_int_equal(got.parts, 3);
    assert_int_equal(got.issued_at, 1700000000);
    assert_memory_equal(got.answer_hash, r.answer_hash, 32);

    /* Wrong key. */
    assert_int_equal(crypto_receipt_verify(bytes, sizeof(bytes), other_pk, &got, &err), -1);
    assert_non_null(strstr(err.msg, "signature"));
    /* A count raised after signing (total_tokens at offset 8 + 5*32 + 4*8). */
    uint8_t bad[CRYPTO_RECEIPT_LEN];
    memcpy(bad, bytes, sizeof(bad));
    bad[8 + 160 + 32] += 1;
    assert_int_equal(crypto_receipt_verify(bad, sizeof(bad), pk, &got, &err), -1);
    /* A changed answer hash. */
    memcpy(bad, bytes, sizeof(bad));
    bad[8 + 128] ^= 1;
    assert_int_equal(crypto_receipt_verify(bad, sizeof(bad), pk, &got, &err), -1);
    /* Garbage: wrong size, wrong magic. */
    assert_int_equal(crypto_receipt_verify(bytes, sizeof(bytes) - 1, pk, &got, &err), -1);
    assert_non_null(strstr(err.msg, "expected 296"));
    memcpy(bad, bytes, sizeof(bad));
    bad[0] = 'X';
    assert_int_equal(crypto_receipt_parse(bad, sizeof(bad), &got, &err), -1);
    assert_non_null(strstr(err.msg, "magic"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_opens_only_for_its_candidate),
        cmocka_unit_test(test_parts_in_order_open_and_hash_agrees),
        cmocka_unit_test(test_tampered_reordered_replayed_truncated_refused),
        cmocka_unit_test(test_receipt_sign_verify_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
