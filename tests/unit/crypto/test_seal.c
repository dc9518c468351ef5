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

/* ------------------------------------------------------------ sessions */

/* The client's random pool, as the client passes it (the other wrap below
 * draws from crypto_random). */
static crypto_rand_pool test_pool;

typedef struct {
    uint8_t secret[32], enc[32];
    int64_t created_at;
    uint64_t seq;
} client_session;

static void session_start(client_session *c, const worker_keys *w, int64_t created_at)
{
    cc_err err = {0};
    c->created_at = created_at;
    c->seq = 0;
    assert_int_equal(
        crypto_seal_session_new(w->pk, w->cert_hash, created_at, c->enc, c->secret, &err), 0);
}

/* One request's wrapped key (establishing or resuming) under c. */
static size_t session_key(client_session *c, bool establish, const cc_buf *aad, uint8_t dek[32],
                          uint8_t out[CRYPTO_SEAL_SESSION_WRAP_MAX], crypto_seal_keys *k)
{
    cc_err err = {0};
    size_t len = 0;
    memset(dek, 0x5a, 32);
    assert_int_equal(crypto_seal_session_wrap(c->secret, establish, false, c->created_at, c->seq++,
                                              aad, dek, &test_pool, out, &len, k, &err),
                     0);
    return len;
}

static int session_open(crypto_seal_sessions *t, const worker_keys *w, double now,
                        const client_session *c, const uint8_t *wk, size_t len, const cc_buf *aad,
                        crypto_seal_opened *o)
{
    cc_err err = {0};
    return crypto_seal_sessions_open(t, w->sk, w->cert_hash, now, c->enc, wk, len, aad, o, &err);
}

static void test_session_keys_agree_and_differ_per_request(void **state)
{
    (void)state;
    worker_keys w;
    make_worker(&w, 1);
    cc_buf aad = CC_BUF_INIT;
    make_aad(&aad, "m", 64);
    crypto_seal_sessions *t = crypto_seal_sessions_new(8, 600, 300);
    client_session c;
    session_start(&c, &w, 1000);
    uint8_t dek[32], wk1[CRYPTO_SEAL_SESSION_WRAP_MAX], wk2[CRYPTO_SEAL_SESSION_WRAP_MAX];
    crypto_seal_keys k1, k2;
    size_t l1 = session_key(&c, true, &aad, dek, wk1, &k1);
    size_t l2 = session_key(&c, false, &aad, dek, wk2, &k2);
    assert_int_equal(l1, CRYPTO_SEAL_SESSION_WRAP_MAX);
    assert_int_equal(l2, CRYPTO_SEAL_SESSION_WRAP_MAX - 8);
    crypto_seal_opened o;
    /* A resumed session the worker does not hold yet. */
    assert_int_equal(session_open(t, &w, 1000, &c, wk2, l2, &aad, &o), CRYPTO_SEAL_SESSION_UNKNOWN);
    assert_int_equal(session_open(t, &w, 1000, &c, wk1, l1, &aad, &o), 0);
    assert_memory_equal(o.dek, dek, 32);
    assert_memory_equal(o.keys.answer, k1.answer, 32);
    assert_memory_equal(o.keys.mac, k1.mac, 32);
    assert_int_equal(session_open(t, &w, 1001, &c, wk2, l2, &aad, &o), 0);
    assert_memory_equal(o.keys.answer, k2.answer, 32);
    assert_memory_not_equal(k1.answer, k2.answer, 32);
    assert_int_equal(crypto_seal_sessions_count(t), 1);
    /* The AAD still binds: another max_tokens does not open. */
    cc_buf other = CC_BUF_INIT;
    make_aad(&other, "m", 65);
    size_t l3 = session_key(&c, false, &aad, dek, wk2, &k2);
    assert_int_equal(session_open(t, &w, 1001, &c, wk2, l3, &other, &o), -1);
    /* A key for another certificate (same X25519 key) does not open. */
    worker_keys w2 = w;
    memset(w2.cert_hash, 2, 32);
    crypto_seal_sessions *t2 = crypto_seal_sessions_new(8, 600, 300);
    assert_int_equal(session_open(t2, &w2, 1000, &c, wk1, l1, &aad, &o), -1);
    assert_int_equal(crypto_seal_sessions_count(t2), 0);
    /* A proxy that changes the establishment time breaks the secret. */
    uint8_t moved[CRYPTO_SEAL_SESSION_WRAP_MAX];
    memcpy(moved, wk1, l1);
    moved[1 + CRYPTO_SEAL_NONCE_LEN] ^= 1;
    assert_int_equal(session_open(t2, &w, 1000, &c, moved, l1, &aad, &o), -1);
    crypto_seal_sessions_free(t2);
    /* The sign flag is bound: flipped by the proxy, the key does not open. */
    size_t l4 = session_key(&c, false, &aad, dek, wk2, &k2);
    assert_int_equal(session_open(t, &w, 1001, &c, wk2, l4, &aad, &o), 0);
    assert_false(o.sign);
    l4 = session_key(&c, false, &aad, dek, wk2, &k2);
    wk2[0] |= CRYPTO_SEAL_FLAG_SIGN;
    assert_int_equal(session_open(t, &w, 1001, &c, wk2, l4, &aad, &o), -1);
    cc_err err = {0};
    assert_int_equal(crypto_seal_session_wrap(c.secret, false, true, c.created_at, c.seq++, &aad,
                                              dek, NULL, wk2, &l4, &k2, &err),
                     0);
    assert_int_equal(session_open(t, &w, 1001, &c, wk2, l4, &aad, &o), 0);
    assert_true(o.sign);
    crypto_seal_sessions_free(t);
    cc_buf_free(&aad);
    cc_buf_free(&other);
}

static void test_session_replayed_key_refused(void **state)
{
    (void)state;
    worker_keys w;
    make_worker(&w, 1);
    cc_buf aad = CC_BUF_INIT;
    make_aad(&aad, "m", 64);
    crypto_seal_sessions *t = crypto_seal_sessions_new(8, 600, 300);
    client_session c;
    session_start(&c, &w, 1000);
    uint8_t dek[32], first[CRYPTO_SEAL_SESSION_WRAP_MAX], wk[CRYPTO_SEAL_SESSION_WRAP_MAX];
    crypto_seal_keys k;
    crypto_seal_opened o;
    size_t lf = session_key(&c, true, &aad, dek, first, &k);
    assert_int_equal(session_open(t, &w, 1000, &c, first, lf, &aad, &o), 0);
    /* The establishing request again: the session is known, its nonce used. */
    assert_int_equal(session_open(t, &w, 1000, &c, first, lf, &aad, &o), -1);
    size_t l = session_key(&c, false, &aad, dek, wk, &k);
    assert_int_equal(session_open(t, &w, 1000, &c, wk, l, &aad, &o), 0);
    crypto_seal_opened used = o;
    assert_int_equal(session_open(t, &w, 1000, &c, wk, l, &aad, &o), -1);
    /* Given back (refused before any answer): it may come once more. */
    crypto_seal_sessions_release(t, used.sid, used.seq);
    assert_int_equal(session_open(t, &w, 1000, &c, wk, l, &aad, &o), 0);
    assert_int_equal(session_open(t, &w, 1000, &c, wk, l, &aad, &o), -1);
    /* Out of order within the window is fine; below it is refused. */
    uint8_t late[CRYPTO_SEAL_SESSION_WRAP_MAX];
    size_t ll = session_key(&c, false, &aad, dek, late, &k);
    c.seq += 300;
    size_t l2 = session_key(&c, false, &aad, dek, wk, &k);
    assert_int_equal(session_open(t, &w, 1000, &c, wk, l2, &aad, &o), 0);
    assert_int_equal(session_open(t, &w, 1000, &c, late, ll, &aad, &o), -1);
    c.seq -= 100;
    l2 = session_key(&c, false, &aad, dek, wk, &k);
    assert_int_equal(session_open(t, &w, 1000, &c, wk, l2, &aad, &o), 0);
    assert_int_equal(session_open(t, &w, 1000, &c, wk, l2, &aad, &o), -1);
    crypto_seal_sessions_free(t);
    cc_buf_free(&aad);
}

static void test_session_expiry_and_establishment_window(void **state)
{
    (void)state;
    worker_keys w;
    make_worker(&w, 1);
    cc_buf aad = CC_BUF_INIT;
    make_aad(&aad, "m", 64);
    crypto_seal_sessions *t = crypto_seal_sessions_new(2, 10, 30);
    client_session c;
    uint8_t dek[32], est[CRYPTO_SEAL_SESSION_WRAP_MAX], wk[CRYPTO_SEAL_SESSION_WRAP_MAX];
    crypto_seal_keys k;
    crypto_seal_opened o;
    /* An establishment far from our clock is refused. */
    session_start(&c, &w, 1000);
    size_t le = session_key(&c, true, &aad, dek, est, &k);
    assert_int_equal(session_open(t, &w, 1031, &c, est, le, &aad, &o), -1);
    assert_int_equal(session_open(t, &w, 969, &c, est, le, &aad, &o), -1);
    assert_int_equal(session_open(t, &w, 1010, &c, est, le, &aad, &o), 0);
    size_t l = session_key(&c, false, &aad, dek, wk, &k);
    /* Past its lifetime the session is unknown, and kept so while its
     * establishment could be replayed; then forgotten, and the replayed
     * establishment is outside the window. */
    assert_int_equal(session_open(t, &w, 1021, &c, wk, l, &aad, &o), CRYPTO_SEAL_SESSION_UNKNOWN);
    assert_int_equal(session_open(t, &w, 1021, &c, est, le, &aad, &o), CRYPTO_SEAL_SESSION_UNKNOWN);
    assert_int_equal(crypto_seal_sessions_count(t), 1);
    assert_int_equal(session_open(t, &w, 1031, &c, est, le, &aad, &o), -1);
    assert_int_equal(crypto_seal_sessions_count(t), 0);
    crypto_seal_sessions_free(t);
    /* A full table refuses while its sessions could still be replayed, then
     * makes room from the least recently used. */
    t = crypto_seal_sessions_new(2, 600, 30);
    client_session s[3];
    for (int i = 0; i < 3; i++) {
        session_start(&s[i], &w, 2000);
        le = session_key(&s[i], true, &aad, dek, est, &k);
        assert_int_equal(session_open(t, &w, 2000, &s[i], est, le, &aad, &o), i < 2 ? 0 : -1);
    }
    session_start(&s[2], &w, 2031);
    le = session_key(&s[2], true, &aad, dek, est, &k);
    assert_int_equal(session_open(t, &w, 2031, &s[2], est, le, &aad, &o), 0);
    assert_int_equal(crypto_seal_sessions_count(t), 2);
    l = session_key(&s[0], false, &aad, dek, wk, &k);
    assert_int_equal(session_open(t, &w, 2031, &s[0], wk, l, &aad, &o),
                     CRYPTO_SEAL_SESSION_UNKNOWN);
    l = session_key(&s[1], false, &aad, dek, wk, &k);
    assert_int_equal(session_open(t, &w, 2031, &s[1], wk, l, &aad, &o), 0);
    crypto_seal_sessions_free(t);
    cc_buf_free(&aad);
}

/* The stream keeps one cipher context and only changes the nonce: each part
 * must still be exactly the one-shot AEAD of its counter's nonce and AAD
 * (a nonce that failed to change would reuse the key stream). */
static void test_stream_parts_match_one_shot_aead(void **state)
{
    (void)state;
    uint8_t key[32];
    memset(key, 0x42, 32);
    crypto_seal_stream tx, rx;
    crypto_seal_stream_init_key(&tx, key);
    crypto_seal_stream_init_key(&rx, key);
    cc_err err = {0};
    const char *msgs[] = {"first part", "second", "the last one"};
    cc_buf prev = CC_BUF_INIT;
    for (uint64_t i = 0; i < 3; i++) {
        bool final = i == 2;
        cc_buf ct = CC_BUF_INIT, pt = CC_BUF_INIT;
        assert_int_equal(crypto_seal_part(&tx, final, msgs[i], strlen(msgs[i]), &ct, &err), 0);
        uint8_t nonce[12] = {0}, aad[sizeof("cocoon/seal/v1 part") + 9];
        cc_store_u64le(nonce + 4, i);
        memcpy(aad, "cocoon/seal/v1 part", sizeof("cocoon/seal/v1 part"));
        cc_store_u64le(aad + sizeof("cocoon/seal/v1 part"), i);
        aad[sizeof(aad) - 1] = final;
        uint8_t out[64], ref[64];
        assert_int_equal(crypto_aead_open(CRYPTO_AEAD_CHACHA20POLY1305, key, nonce, aad,
                                          sizeof(aad), ct.data, ct.len, out, &err),
                         0);
        assert_memory_equal(out, msgs[i], strlen(msgs[i]));
        assert_int_equal(crypto_aead_seal(CRYPTO_AEAD_CHACHA20POLY1305, key, nonce, aad,
                                          sizeof(aad), msgs[i], strlen(msgs[i]), ref, &err),
                         0);
        assert_memory_equal(ref, ct.data, ct.len);
        if (prev.len) assert_memory_not_equal(prev.data, ct.data, 8);
        assert_int_equal(crypto_seal_part_open(&rx, final, ct.data, ct.len, &pt, &err), 0);
        assert_int_equal(pt.len, strlen(msgs[i]));
        cc_buf_reset(&prev);
        cc_buf_append(&prev, ct.data, ct.len);
        cc_buf_free(&ct);
        cc_buf_free(&pt);
    }
    cc_buf_free(&prev);
    crypto_seal_stream_clear(&tx);
    crypto_seal_stream_clear(&rx);
}

static void test_receipt_mac(void **state)
{
    (void)state;
    crypto_receipt r;
    sample_receipt(&r);
    uint8_t sk[32], pk[32], bytes[CRYPTO_RECEIPT_LEN], k1[32], k2[32], m1[32], m2[32];
    assert_int_equal(crypto_ed25519_keygen(sk, pk), 0);
    cc_err err = {0};
    assert_int_equal(crypto_receipt_sign(&r, sk, bytes, &err), 0);
    memset(k1, 1, 32);
    memset(k2, 2, 32);
    crypto_receipt_mac(k1, bytes, sizeof(bytes), m1);
    crypto_receipt_mac(k2, bytes, sizeof(bytes), m2);
    assert_memory_not_equal(m1, m2, 32);
    bytes[200] ^= 1;
    crypto_receipt_mac(k1, bytes, sizeof(bytes), m2);
    assert_memory_not_equal(m1, m2, 32);
}

/* Receipts signed in batches: each verifies alone with its Merkle path, and
 * any change to its fields, its path, its place or the signed root fails. */
static void test_batch_receipts_verify_alone_and_refuse_forgeries(void **state)
{
    (void)state;
    uint8_t sk[32], pk[32], other_sk[32], other_pk[32];
    assert_int_equal(crypto_ed25519_keygen(sk, pk), 0);
    assert_int_equal(crypto_ed25519_keygen(other_sk, other_pk), 0);
    cc_err err = {0};
    crypto_ed25519_key *key = crypto_ed25519_key_new(sk, &err);
    crypto_ed25519_key *other = crypto_ed25519_key_new(other_sk, &err);
    assert_non_null(key);
    assert_non_null(other);
    static uint8_t out[CRYPTO_RECEIPT_BATCH_MAX][CRYPTO_RECEIPT_MAX_LEN];
    size_t len[CRYPTO_RECEIPT_BATCH_MAX];
    crypto_receipt rs[CRYPTO_RECEIPT_BATCH_MAX], got;
    static const size_t sizes[] = {1, 2, 3, 5, 7, 8, 33, 64};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        for (size_t i = 0; i < n; i++) {
            sample_receipt(&rs[i]);
            rs[i].completion_tokens = (int64_t)(100 + i);
            rs[i].request_id[0] = (uint8_t)i;
        }
        assert_int_equal(crypto_receipt_batch_sign(rs, n, key, out, len, &err), 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(crypto_receipt_len(out[i], len[i]), len[i]);
            assert_int_equal(crypto_receipt_verify(out[i], len[i], pk, &got, &err), 0);
            assert_true(got.batched);
            assert_int_equal(got.batch_index, i);
            assert_int_equal(got.batch_size, n);
            assert_int_equal(got.completion_tokens, 100 + i);
            assert_true(crypto_receipt_is_signed(out[i]));
            /* Another worker's key. */
            assert_int_equal(crypto_receipt_verify(out[i], len[i], other_pk, &got, &err), -1);
        }
    }
    /* From here on a batch of 7: paths of two and three levels. */
    size_t n = 7;
    for (size_t i = 0; i < n; i++) {
        sample_receipt(&rs[i]);
        rs[i].request_id[0] = (uint8_t)i; /* distinct leaves */
    }
    assert_int_equal(crypto_receipt_batch_sign(rs, n, key, out, len, &err), 0);
    uint8_t bad[CRYPTO_RECEIPT_MAX_LEN + 32];
    /* A raised token count (the leaf changes, the root with it). */
    memcpy(bad, out[2], len[2]);
    bad[8 + 160 + 32] += 1;
    assert_int_equal(crypto_receipt_verify(bad, len[2], pk, &got, &err), -1);
    assert_non_null(strstr(err.msg, "do not verify"));
    /* A forged path: every byte of every level matters. */
    for (size_t off = CRYPTO_RECEIPT_BATCH_HEAD; off < len[2] - 64; off += 13) {
        memcpy(bad, out[2], len[2]);
        bad[off] ^= 0x40;
        assert_int_equal(crypto_receipt_verify(bad, len[2], pk, &got, &err), -1);
    }
    /* The path of another receipt of the same batch. */
    memcpy(bad, out[2], len[2]);
    memcpy(bad + CRYPTO_RECEIPT_BATCH_HEAD, out[3] + CRYPTO_RECEIPT_BATCH_HEAD,
           len[2] - CRYPTO_RECEIPT_BATCH_HEAD);
    assert_int_equal(crypto_receipt_verify(bad, len[2], pk, &got, &err), -1);
    /* Another place in the batch (index 3 has a path of the same length). */
    memcpy(bad, out[2], len[2]);
    cc_store_u32le(bad + CRYPTO_RECEIPT_SIGNED_LEN, 3);
    assert_int_equal(crypto_receipt_verify(bad, len[2], pk, &got, &err), -1);
    /* A forged root: a signature over another tree (the same receipts under
     * the other key, or a smaller batch under ours). */
    crypto_receipt rs2[CRYPTO_RECEIPT_BATCH_MAX];
    uint8_t out2[CRYPTO_RECEIPT_BATCH_MAX][CRYPTO_RECEIPT_MAX_LEN];
    size_t len2[CRYPTO_RECEIPT_BATCH_MAX];
    memcpy(rs2, rs, sizeof(rs2));
    assert_int_equal(crypto_receipt_batch_sign(rs2, n, other, out2, len2, &err), 0);
    memcpy(bad, out[2], len[2]);
    memcpy(bad + len[2] - 64, out2[2] + len2[2] - 64, 64);
    assert_int_equal(crypto_receipt_verify(bad, len[2], pk, &got, &err), -1);
    assert_int_equal(crypto_receipt_batch_sign(rs2, 6, key, out2, len2, &err), 0);
    memcpy(bad, out[2], len[2]);
    memcpy(bad + len[2] - 64, out2[2] + len2[2] - 64, 64);
    assert_int_equal(crypto_receipt_verify(bad, len[2], pk, &got, &err), -1);
    /* A batch size that claims a smaller tree: the path no longer fits. */
    memcpy(bad, out[2], len[2]);
    cc_store_u32le(bad + CRYPTO_RECEIPT_SIGNED_LEN + 4, 4);
    assert_int_equal(crypto_receipt_verify(bad, len[2], pk, &got, &err), -1);
    /* Garbage: a path one level too long, a place outside the batch, a
     * batch too large, bytes cut off. */
    memcpy(bad, out[2], len[2]);
    memset(bad + len[2], 0, 32);
    assert_int_equal(crypto_receipt_parse(bad, len[2] + 32, &got, &err), -1);
    memcpy(bad, out[2], len[2]);
    cc_store_u32le(bad + CRYPTO_RECEIPT_SIGNED_LEN, 7);
    assert_int_equal(crypto_receipt_parse(bad, len[2], &got, &err), -1);
    assert_int_equal(crypto_receipt_len(bad, len[2]), 0);
    cc_store_u32le(bad + CRYPTO_RECEIPT_SIGNED_LEN + 4, CRYPTO_RECEIPT_BATCH_MAX + 1);
    assert_int_equal(crypto_receipt_parse(bad, len[2], &got, &err), -1);
    assert_int_equal(crypto_receipt_parse(out[2], len[2] - 1, &got, &err), -1);
    assert_int_equal(crypto_receipt_len(out[2], len[2] - 1), 0);
    assert_int_equal(
        crypto_receipt_batch_sign(rs, CRYPTO_RECEIPT_BATCH_MAX + 1, key, out, len, &err), -1);
    assert_int_equal(crypto_receipt_batch_sign(rs, 0, key, out, len, &err), -1);
    crypto_ed25519_key_free(key);
    crypto_ed25519_key_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_opens_only_for_its_candidate),
        cmocka_unit_test(test_parts_in_order_open_and_hash_agrees),
        cmocka_unit_test(test_tampered_reordered_replayed_truncated_refused),
        cmocka_unit_test(test_receipt_sign_verify_and_refusals),
        cmocka_unit_test(test_session_keys_agree_and_differ_per_request),
        cmocka_unit_test(test_session_replayed_key_refused),
        cmocka_unit_test(test_session_expiry_and_establishment_window),
        cmocka_unit_test(test_receipt_mac),
        cmocka_unit_test(test_batch_receipts_verify_alone_and_refuse_forgeries),
        cmocka_unit_test(test_stream_parts_match_one_shot_aead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
