/* HPKE (RFC 9180), base mode only: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
 * AES-128-GCM or ChaCha20-Poly1305. Section numbers below are the RFC's. */
#include "crypto.h"

#include <string.h>

enum { NH = 32, NN = 12, KEM_ID = 0x0020, KDF_ID = 0x0001 };

/* HKDF-Extract (RFC 5869) is HMAC with the salt as key; no salt means a
 * salt of HashLen zeros. */
static void extract(const uint8_t *salt, size_t salt_len, const cc_buf *ikm, uint8_t prk[NH])
{
    static const uint8_t zero_salt[NH];
    if (!salt_len) salt = zero_salt, salt_len = NH;
    crypto_hmac_sha256(salt, salt_len, ikm->data, ikm->len, prk);
}

static int expand(const uint8_t prk[NH], const cc_buf *info, uint8_t *out, size_t L, cc_err *err)
{
    if (L > 255 * NH) return cc_err_set(err, "HPKE: cannot expand to %zu bytes", L);
    uint8_t t[NH];
    size_t t_len = 0;
    cc_buf in = CC_BUF_INIT;
    for (uint8_t i = 1; L; i++) {
        in.len = 0;
        cc_buf_append(&in, t, t_len);
        cc_buf_append(&in, info->data, info->len);
        cc_buf_append(&in, &i, 1);
        crypto_hmac_sha256(prk, NH, in.data, in.len, t);
        t_len = NH;
        size_t n = L < NH ? L : NH;
        memcpy(out, t, n);
        out += n;
        L -= n;
    }
    explicit_bzero(t, sizeof(t));
    cc_buf_free(&in);
    return 0;
}

/* The suite_id of the KEM ("KEM" || kem_id) or of the whole suite
 * ("HPKE" || kem_id || kdf_id || aead_id), §4.1 and §5.1. */
static size_t suite_id(uint8_t out[10], bool kem, crypto_hpke_aead aead)
{
    if (kem) {
        memcpy(out, "KEM", 3);
        out[3] = KEM_ID >> 8, out[4] = KEM_ID & 0xff;
        return 5;
    }
    memcpy(out, "HPKE", 4);
    out[4] = KEM_ID >> 8, out[5] = KEM_ID & 0xff;
    out[6] = KDF_ID >> 8, out[7] = KDF_ID & 0xff;
    out[8] = 0, out[9] = (uint8_t)aead;
    return 10;
}

/* LabeledExtract(salt, label, ikm), §4. */
static void labeled_extract(bool kem, crypto_hpke_aead aead, const uint8_t *salt, size_t salt_len,
                            const char *label, const void *ikm, size_t ikm_len, uint8_t prk[NH])
{
    uint8_t sid[10];
    cc_buf b = CC_BUF_INIT;
    cc_buf_append(&b, "HPKE-v1", 7);
    cc_buf_append(&b, sid, suite_id(sid, kem, aead));
    cc_buf_append(&b, label, strlen(label));
    cc_buf_append(&b, ikm, ikm_len);
    extract(salt, salt_len, &b, prk);
    explicit_bzero(b.data, b.len);
    cc_buf_free(&b);
}

/* LabeledExpand(prk, label, info, L), §4. */
static int labeled_expand(bool kem, crypto_hpke_aead aead, const uint8_t prk[NH], const char *label,
                          const void *info, size_t info_len, uint8_t *out, size_t L, cc_err *err)
{
    uint8_t sid[10], len2[2] = {(uint8_t)(L >> 8), (uint8_t)L};
    cc_buf b = CC_BUF_INIT;
    cc_buf_append(&b, len2, 2);
    cc_buf_append(&b, "HPKE-v1", 7);
    cc_buf_append(&b, sid, suite_id(sid, kem, aead));
    cc_buf_append(&b, label, strlen(label));
    cc_buf_append(&b, info, info_len);
    int rc = expand(prk, &b, out, L, err);
    cc_buf_free(&b);
    return rc;
}

int crypto_hpke_derive_keypair(const uint8_t *ikm, size_t ikm_len, uint8_t sk[32], uint8_t pk[32],
                               cc_err *err)
{
    /* §7.1.3: for X25519 the expanded bytes are the private key as is. */
    uint8_t prk[NH];
    labeled_extract(true, 0, NULL, 0, "dkp_prk", ikm, ikm_len, prk);
    int rc = labeled_expand(true, 0, prk, "sk", NULL, 0, sk, 32, err);
    explicit_bzero(prk, sizeof(prk));
    return rc < 0 ? rc : crypto_x25519_public(sk, pk, err);
}

/* ExtractAndExpand(dh, enc || pkRm), §4.1. */
static int kem_shared_secret(const uint8_t dh[32], const uint8_t enc[32], const uint8_t pkR[32],
                             uint8_t shared[NH], cc_err *err)
{
    static const uint8_t zero[32];
    if (crypto_memeq(dh, zero, 32))
        return cc_err_set(err, "HPKE: the peer's key gives an all-zero shared secret");
    uint8_t kem_context[64], prk[NH];
    memcpy(kem_context, enc, 32);
    memcpy(kem_context + 32, pkR, 32);
    labeled_extract(true, 0, NULL, 0, "eae_prk", dh, 32, prk);
    int rc = labeled_expand(true, 0, prk, "shared_secret", kem_context, 64, shared, NH, err);
    explicit_bzero(prk, sizeof(prk));
    return rc;
}

/* KeySchedule for mode_base (no PSK), §5.1. */
static int key_schedule(crypto_hpke_aead aead, const uint8_t shared[NH], const uint8_t *info,
                        size_t info_len, crypto_hpke_ctx *ctx, cc_err *err)
{
    if (aead != CRYPTO_HPKE_AES128GCM && aead != CRYPTO_HPKE_CHACHA20POLY1305)
        return cc_err_set(err, "HPKE: unsupported AEAD %d", (int)aead);
    uint8_t ksc[1 + 2 * NH], secret[NH];
    ksc[0] = 0; /* mode_base */
    labeled_extract(false, aead, NULL, 0, "psk_id_hash", NULL, 0, ksc + 1);
    labeled_extract(false, aead, NULL, 0, "info_hash", info, info_len, ksc + 1 + NH);
    labeled_extract(false, aead, shared, NH, "secret", NULL, 0, secret);
    memset(ctx, 0, sizeof(*ctx));
    ctx->aead = aead;
    size_t nk = aead == CRYPTO_HPKE_AES128GCM ? 16 : 32;
    int rc = labeled_expand(false, aead, secret, "key", ksc, sizeof(ksc), ctx->key, nk, err);
    if (rc == 0)
        rc = labeled_expand(false, aead, secret, "base_nonce", ksc, sizeof(ksc), ctx->base_nonce,
                            NN, err);
    if (rc == 0)
        rc = labeled_expand(false, aead, secret, "exp", ksc, sizeof(ksc), ctx->exporter_secret, NH,
                            err);
    explicit_bzero(secret, sizeof(secret));
    return rc;
}

int crypto_hpke_setup_sender(crypto_hpke_aead aead, const uint8_t pkR[32], const uint8_t *info,
                             size_t info_len, const uint8_t *ikmE, size_t ikmE_len, uint8_t enc[32],
                             crypto_hpke_ctx *ctx, cc_err *err)
{
    uint8_t skE[32], dh[32], shared[NH], seed[32];
    if (!ikmE) {
        crypto_random(seed, sizeof(seed));
        ikmE = seed, ikmE_len = sizeof(seed);
    }
    int rc = crypto_hpke_derive_keypair(ikmE, ikmE_len, skE, enc, err);
    if (rc == 0) rc = crypto_x25519(skE, pkR, dh, err);
    if (rc == 0) rc = kem_shared_secret(dh, enc, pkR, shared, err);
    if (rc == 0) rc = key_schedule(aead, shared, info, info_len, ctx, err);
    explicit_bzero(skE, sizeof(skE));
    explicit_bzero(dh, sizeof(dh));
    explicit_bzero(shared, sizeof(shared));
    explicit_bzero(seed, sizeof(seed));
    return rc;
}

int crypto_hpke_setup_receiver(crypto_hpke_aead aead, const uint8_t enc[32], const uint8_t skR[32],
                               const uint8_t *info, size_t info_len, crypto_hpke_ctx *ctx,
                               cc_err *err)
{
    uint8_t pkR[32], dh[32], shared[NH];
    int rc = crypto_x25519_public(skR, pkR, err);
    if (rc == 0 && crypto_x25519(skR, enc, dh, NULL) < 0)
        rc = cc_err_set(err, "HPKE: the encapsulated key is not a valid X25519 key");
    if (rc == 0) rc = kem_shared_secret(dh, enc, pkR, shared, err);
    if (rc == 0) rc = key_schedule(aead, shared, info, info_len, ctx, err);
    explicit_bzero(dh, sizeof(dh));
    explicit_bzero(shared, sizeof(shared));
    return rc;
}

/* ComputeNonce(seq), §5.2. */
static int next_nonce(const crypto_hpke_ctx *ctx, uint8_t nonce[NN], cc_err *err)
{
    if (ctx->seq == UINT64_MAX) return cc_err_set(err, "HPKE: message limit reached");
    memcpy(nonce, ctx->base_nonce, NN);
    for (int i = 0; i < 8; i++)
        nonce[NN - 1 - i] ^= (uint8_t)(ctx->seq >> (8 * i));
    return 0;
}

static crypto_aead_alg aead_alg(const crypto_hpke_ctx *ctx)
{
    return ctx->aead == CRYPTO_HPKE_AES128GCM ? CRYPTO_AEAD_AES128GCM
                                              : CRYPTO_AEAD_CHACHA20POLY1305;
}

int crypto_hpke_seal(crypto_hpke_ctx *ctx, const void *aad, size_t aad_len, const void *pt,
                     size_t pt_len, uint8_t *out, cc_err *err)
{
    uint8_t nonce[NN];
    if (next_nonce(ctx, nonce, err) < 0 ||
        crypto_aead_seal(aead_alg(ctx), ctx->key, nonce, aad, aad_len, pt, pt_len, out, err) < 0)
        return -1;
    ctx->seq++;
    return 0;
}

int crypto_hpke_open(crypto_hpke_ctx *ctx, const void *aad, size_t aad_len, const void *ct,
                     size_t ct_len, uint8_t *out, cc_err *err)
{
    uint8_t nonce[NN];
    if (next_nonce(ctx, nonce, err) < 0 ||
        crypto_aead_open(aead_alg(ctx), ctx->key, nonce, aad, aad_len, ct, ct_len, out, err) < 0)
        return -1;
    ctx->seq++;
    return 0;
}

int crypto_hpke_export(const crypto_hpke_ctx *ctx, const void *exporter_context, size_t ctx_len,
                       uint8_t *out, size_t L, cc_err *err)
{
    return labeled_expand(false, ctx->aead, ctx->exporter_secret, "sec", exporter_context, ctx_len,
                          out, L, err);
}

void crypto_hpke_clear(crypto_hpke_ctx *ctx)
{
    explicit_bzero(ctx, sizeof(*ctx));
}
