/* cocoon's sealing formats (docs/confidentiality.md): the sealed request body,
 * the data key wrapped per candidate with HPKE, sealed answer parts and the
 * worker's signed receipt. Labels name the version so a later format can
 * never open as this one. */
#include "crypto.h"

#include <string.h>

#include <openssl/evp.h>

#define WRAP_INFO "cocoon/seal/v1 wrap"
#define ANSWER_LABEL "cocoon/seal/v1 answer key"
#define PART_AAD "cocoon/seal/v1 part"
#define REQUEST_AAD "cocoon/seal/v1 request"
#define RECEIPT_MAGIC "CCRCPT01"
#define BATCH_MAGIC "CCRCPT02"

static const uint8_t zero_nonce[12];

void crypto_seal_request_aad(const uint8_t request_id[32], const char *model, size_t model_len,
                             int32_t max_tokens, cc_buf *out)
{
    /* Length-prefixed so no two (model, max_tokens) pairs share an AAD. */
    uint8_t n[4];
    cc_buf_append(out, REQUEST_AAD, sizeof(REQUEST_AAD));
    cc_buf_append(out, request_id, 32);
    cc_store_u32le(n, (uint32_t)model_len);
    cc_buf_append(out, n, 4);
    cc_buf_append(out, model, model_len);
    cc_store_u32le(n, (uint32_t)max_tokens);
    cc_buf_append(out, n, 4);
}

int crypto_seal_body(const uint8_t key[32], const cc_buf *aad, const void *pt, size_t pt_len,
                     cc_buf *out, cc_err *err)
{
    cc_buf_reserve(out, pt_len + CRYPTO_SEAL_TAG_LEN);
    uint8_t *dst = out->data + out->len;
    if (crypto_aead_seal(CRYPTO_AEAD_CHACHA20POLY1305, key, zero_nonce, aad->data, aad->len, pt,
                         pt_len, dst, err) < 0)
        return -1;
    out->len += pt_len + CRYPTO_SEAL_TAG_LEN;
    return 0;
}

int crypto_seal_body_open(const uint8_t key[32], const cc_buf *aad, const void *ct, size_t ct_len,
                          cc_buf *out, cc_err *err)
{
    if (ct_len < CRYPTO_SEAL_TAG_LEN)
        return cc_err_set(err, "sealed body of %zu bytes is shorter than its tag", ct_len);
    cc_buf_reserve(out, ct_len - CRYPTO_SEAL_TAG_LEN + 1);
    uint8_t *dst = out->data + out->len;
    if (crypto_aead_open(CRYPTO_AEAD_CHACHA20POLY1305, key, zero_nonce, aad->data, aad->len, ct,
                         ct_len, dst, err) < 0)
        return cc_err_set(err, "sealed body does not open (wrong key or altered)");
    out->len += ct_len - CRYPTO_SEAL_TAG_LEN;
    return 0;
}

/* info = label ‖ certificate hash: a key wrapped for one worker opens for
 * that certificate only. */
static void wrap_info(const uint8_t cert_hash[32], uint8_t info[sizeof(WRAP_INFO) + 32])
{
    memcpy(info, WRAP_INFO, sizeof(WRAP_INFO));
    memcpy(info + sizeof(WRAP_INFO), cert_hash, 32);
}

int crypto_seal_wrap(const uint8_t worker_x25519[32], const uint8_t cert_hash[32],
                     const cc_buf *aad, const uint8_t key[32], uint8_t enc[32],
                     uint8_t wrapped[CRYPTO_SEAL_WRAPPED_LEN], crypto_hpke_ctx *ctx, cc_err *err)
{
    uint8_t info[sizeof(WRAP_INFO) + 32];
    wrap_info(cert_hash, info);
    if (crypto_hpke_setup_sender(CRYPTO_HPKE_CHACHA20POLY1305, worker_x25519, info, sizeof(info),
                                 NULL, 0, enc, ctx, err) < 0)
        return -1;
    return crypto_hpke_seal(ctx, aad->data, aad->len, key, CRYPTO_SEAL_KEY_LEN, wrapped, err);
}

int crypto_seal_unwrap(const uint8_t worker_x25519_sk[32], const uint8_t cert_hash[32],
                       const cc_buf *aad, const uint8_t enc[32],
                       const uint8_t wrapped[CRYPTO_SEAL_WRAPPED_LEN], uint8_t key[32],
                       crypto_hpke_ctx *ctx, cc_err *err)
{
    uint8_t info[sizeof(WRAP_INFO) + 32];
    wrap_info(cert_hash, info);
    if (crypto_hpke_setup_receiver(CRYPTO_HPKE_CHACHA20POLY1305, enc, worker_x25519_sk, info,
                                   sizeof(info), ctx, err) < 0)
        return -1;
    if (crypto_hpke_open(ctx, aad->data, aad->len, wrapped, CRYPTO_SEAL_WRAPPED_LEN, key, err) < 0)
        return cc_err_set(err, "wrapped key does not open (not for this worker, or altered)");
    return 0;
}

/* ------------------------------------------------------------ answer parts */

int crypto_seal_stream_init(crypto_seal_stream *s, const crypto_hpke_ctx *ctx, cc_err *err)
{
    memset(s, 0, sizeof(*s));
    if (crypto_hpke_export(ctx, ANSWER_LABEL, sizeof(ANSWER_LABEL) - 1, s->key, 32, err) < 0)
        return -1;
    s->hash = crypto_hash_new(CRYPTO_HASH_SHA256);
    return 0;
}

void crypto_seal_stream_init_key(crypto_seal_stream *s, const uint8_t key[32])
{
    memset(s, 0, sizeof(*s));
    memcpy(s->key, key, 32);
    s->hash = crypto_hash_new(CRYPTO_HASH_SHA256);
}

static void part_nonce_aad(uint64_t counter, bool final, uint8_t nonce[12],
                           uint8_t aad[sizeof(PART_AAD) + 9])
{
    memset(nonce, 0, 12);
    cc_store_u64le(nonce + 4, counter);
    memcpy(aad, PART_AAD, sizeof(PART_AAD));
    cc_store_u64le(aad + sizeof(PART_AAD), counter);
    aad[sizeof(PART_AAD) + 8] = final ? 1 : 0;
}

/* One part through the stream's context: keyed on first use, then only the
 * nonce changes (re-initialising with a nonce alone resets the AEAD state).
 * in_len counts the tag when opening. */
static int stream_aead(crypto_seal_stream *s, bool seal, const uint8_t nonce[12],
                       const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                       uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = s->aead;
    if (ctx && s->aead_seals != seal) return -1; /* one direction per stream */
    int len = 0, ok;
    if (!ctx) {
        ctx = EVP_CIPHER_CTX_new();
        if (!ctx) return -1;
        s->aead = ctx;
        s->aead_seals = seal;
        ok = EVP_CipherInit_ex(ctx, crypto_aead_cipher(CRYPTO_AEAD_CHACHA20POLY1305), NULL, s->key,
                               nonce, seal ? 1 : 0);
    } else {
        ok = EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, seal ? 1 : 0);
    }
    size_t n = seal ? in_len : in_len - CRYPTO_SEAL_TAG_LEN;
    if (ok == 1) ok = EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aad_len);
    if (ok == 1) ok = EVP_CipherUpdate(ctx, out, &len, in, (int)n);
    if (ok == 1 && !seal)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, CRYPTO_SEAL_TAG_LEN, (void *)(in + n));
    if (ok == 1) ok = EVP_CipherFinal_ex(ctx, out + len, &len);
    if (ok == 1 && seal)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CRYPTO_SEAL_TAG_LEN, out + n);
    return ok == 1 ? 0 : -1;
}

void crypto_seal_hash_part(crypto_hash *h, const void *ct, size_t ct_len)
{
    uint8_t n[4];
    cc_store_u32le(n, (uint32_t)ct_len);
    crypto_hash_update(h, n, 4);
    crypto_hash_update(h, ct, ct_len);
}

int crypto_seal_part(crypto_seal_stream *s, bool final, const void *pt, size_t pt_len, cc_buf *out,
                     cc_err *err)
{
    if (s->finished) return cc_err_set(err, "sealed answer: a part after the final one");
    uint8_t nonce[12], aad[sizeof(PART_AAD) + 9];
    part_nonce_aad(s->counter, final, nonce, aad);
    cc_buf_reserve(out, pt_len + CRYPTO_SEAL_TAG_LEN);
    uint8_t *dst = out->data + out->len;
    if (stream_aead(s, true, nonce, aad, sizeof(aad), pt, pt_len, dst) < 0)
        return cc_err_set(err, "sealing an answer part failed");
    crypto_seal_hash_part(s->hash, dst, pt_len + CRYPTO_SEAL_TAG_LEN);
    out->len += pt_len + CRYPTO_SEAL_TAG_LEN;
    s->counter++;
    s->finished = final;
    return 0;
}

int crypto_seal_part_open(crypto_seal_stream *s, bool final, const void *ct, size_t ct_len,
                          cc_buf *out, cc_err *err)
{
    if (s->finished) return cc_err_set(err, "sealed answer: a part after the final one");
    if (ct_len < CRYPTO_SEAL_TAG_LEN)
        return cc_err_set(err, "sealed answer part of %zu bytes is shorter than its tag", ct_len);
    uint8_t nonce[12], aad[sizeof(PART_AAD) + 9];
    part_nonce_aad(s->counter, final, nonce, aad);
    cc_buf_reserve(out, ct_len - CRYPTO_SEAL_TAG_LEN + 1);
    uint8_t *dst = out->data + out->len;
    if (stream_aead(s, false, nonce, aad, sizeof(aad), ct, ct_len, dst) < 0)
        return cc_err_set(err,
                          "sealed answer part %llu does not open: altered, reordered, replayed, "
                          "or %s",
                          (unsigned long long)s->counter,
                          final ? "the answer was cut short" : "not the part expected");
    crypto_seal_hash_part(s->hash, ct, ct_len);
    out->len += ct_len - CRYPTO_SEAL_TAG_LEN;
    s->counter++;
    s->finished = final;
    return 0;
}

void crypto_seal_stream_hash(const crypto_seal_stream *s, uint8_t out[32])
{
    /* Finalising consumes a crypto_hash, so hash a copy of the state. */
    crypto_hash *copy = crypto_hash_dup(s->hash);
    crypto_hash_final(copy, out);
}

void crypto_seal_stream_clear(crypto_seal_stream *s)
{
    EVP_CIPHER_CTX_free(s->aead); /* wipes the key schedule */
    if (s->hash) {
        uint8_t sink[32];
        crypto_hash_final(s->hash, sink);
    }
    explicit_bzero(s, sizeof(*s));
}

/* ---------------------------------------------------------------- receipts */

static void put_i64(uint8_t **p, int64_t v)
{
    cc_store_u64le(*p, (uint64_t)v);
    *p += 8;
}

static int64_t get_i64(const uint8_t **p)
{
    int64_t v = (int64_t)cc_load_u64le(*p);
    *p += 8;
    return v;
}

static void receipt_encode(const crypto_receipt *r, uint8_t out[CRYPTO_RECEIPT_LEN])
{
    uint8_t *p = out;
    memcpy(p, RECEIPT_MAGIC, 8), p += 8;
    memcpy(p, r->request_id, 32), p += 32;
    memcpy(p, r->cert_hash, 32), p += 32;
    memcpy(p, r->model_hash, 32), p += 32;
    memcpy(p, r->request_hash, 32), p += 32;
    memcpy(p, r->answer_hash, 32), p += 32;
    put_i64(&p, r->prompt_tokens);
    put_i64(&p, r->cached_tokens);
    put_i64(&p, r->completion_tokens);
    put_i64(&p, r->reasoning_tokens);
    put_i64(&p, r->total_tokens);
    put_i64(&p, r->coefficient);
    put_i64(&p, (int64_t)r->parts);
    put_i64(&p, r->issued_at);
    memcpy(p, r->signature, 64);
}

void crypto_receipt_encode_unsigned(crypto_receipt *r, uint8_t out[CRYPTO_RECEIPT_LEN])
{
    memset(r->signature, 0, sizeof(r->signature));
    receipt_encode(r, out);
}

int crypto_receipt_sign(crypto_receipt *r, const uint8_t receipt_sk[32],
                        uint8_t out[CRYPTO_RECEIPT_LEN], cc_err *err)
{
    receipt_encode(r, out);
    if (crypto_ed25519_sign(receipt_sk, out, CRYPTO_RECEIPT_SIGNED_LEN, r->signature, err) < 0)
        return -1;
    memcpy(out + CRYPTO_RECEIPT_SIGNED_LEN, r->signature, 64);
    return 0;
}

int crypto_receipt_sign_key(crypto_receipt *r, crypto_ed25519_key *key,
                            uint8_t out[CRYPTO_RECEIPT_LEN], cc_err *err)
{
    receipt_encode(r, out);
    if (crypto_ed25519_key_sign(key, out, CRYPTO_RECEIPT_SIGNED_LEN, r->signature, err) < 0)
        return -1;
    memcpy(out + CRYPTO_RECEIPT_SIGNED_LEN, r->signature, 64);
    return 0;
}

int crypto_receipt_parse(const uint8_t *data, size_t len, crypto_receipt *r, cc_err *err)
{
    memset(r, 0, sizeof(*r));
    if (len < CRYPTO_RECEIPT_SIGNED_LEN || len > CRYPTO_RECEIPT_MAX_LEN)
        return cc_err_set(err, "receipt of %zu bytes, expected %d to %d", len, CRYPTO_RECEIPT_LEN,
                          CRYPTO_RECEIPT_MAX_LEN);
    bool batch = memcmp(data, BATCH_MAGIC, 8) == 0;
    if (!batch && memcmp(data, RECEIPT_MAGIC, 8) != 0)
        return cc_err_set(err, "not a cocoon receipt (bad magic)");
    if (!batch && len != CRYPTO_RECEIPT_LEN)
        return cc_err_set(err, "receipt of %zu bytes, expected %d", len, CRYPTO_RECEIPT_LEN);
    const uint8_t *p = data + 8;
    memcpy(r->request_id, p, 32), p += 32;
    memcpy(r->cert_hash, p, 32), p += 32;
    memcpy(r->model_hash, p, 32), p += 32;
    memcpy(r->request_hash, p, 32), p += 32;
    memcpy(r->answer_hash, p, 32), p += 32;
    r->prompt_tokens = get_i64(&p);
    r->cached_tokens = get_i64(&p);
    r->completion_tokens = get_i64(&p);
    r->reasoning_tokens = get_i64(&p);
    r->total_tokens = get_i64(&p);
    r->coefficient = get_i64(&p);
    r->parts = (uint64_t)get_i64(&p);
    r->issued_at = get_i64(&p);
    if (batch) {
        if (crypto_receipt_batch_parse(data, len, r, err) < 0) return -1;
    } else {
        memcpy(r->signature, p, 64);
    }
    if (r->prompt_tokens < 0 || r->cached_tokens < 0 || r->completion_tokens < 0 ||
        r->reasoning_tokens < 0 || r->total_tokens < 0 || r->coefficient < 0)
        return cc_err_set(err, "receipt carries a negative count");
    return 0;
}

bool crypto_receipt_is_signed(const uint8_t receipt[CRYPTO_RECEIPT_LEN])
{
    static const uint8_t zero[64];
    /* A batch receipt exists only signed (and is longer than 296 bytes). */
    if (memcmp(receipt, BATCH_MAGIC, 8) == 0) return true;
    return !crypto_memeq(receipt + CRYPTO_RECEIPT_SIGNED_LEN, zero, 64);
}

int crypto_receipt_verify(const uint8_t *data, size_t len, const uint8_t receipt_pk[32],
                          crypto_receipt *r, cc_err *err)
{
    if (crypto_receipt_parse(data, len, r, err) < 0) return -1;
    if (r->batched) {
        uint8_t root[32], msg[CRYPTO_RECEIPT_BATCH_MSG_LEN];
        if (crypto_receipt_batch_root(data, len, r, root, err) < 0) return -1;
        crypto_receipt_batch_msg(r->batch_size, root, msg);
        if (!crypto_ed25519_verify(receipt_pk, msg, sizeof(msg), r->signature))
            return cc_err_set(err, "batch receipt: its path and the signature of the root do not "
                                   "verify under the worker's receipt key");
        return 0;
    }
    if (!crypto_ed25519_verify(receipt_pk, data, CRYPTO_RECEIPT_SIGNED_LEN, r->signature))
        return cc_err_set(err, "receipt signature does not verify under the worker's receipt key");
    return 0;
}
