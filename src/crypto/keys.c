/* Randomness, Ed25519, X25519, ECDSA P-256 verification, AEAD. */
#include "crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void crypto_random(void *out, size_t n)
{
    if (RAND_bytes(out, (int)n) != 1) {
        fputs("cocoon: RAND_bytes failed\n", stderr);
        abort();
    }
}

uint64_t crypto_random_u64(void)
{
    uint64_t v;
    crypto_random(&v, sizeof(v));
    return v;
}

static int raw_public(EVP_PKEY *pk, uint8_t pub[32])
{
    size_t len = 32;
    return EVP_PKEY_get_raw_public_key(pk, pub, &len) == 1 && len == 32 ? 0 : -1;
}

static int keygen_raw(int type, uint8_t priv[32], uint8_t pub[32])
{
    crypto_random(priv, 32);
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(type, NULL, priv, 32);
    if (!pk) return -1;
    int rc = raw_public(pk, pub);
    EVP_PKEY_free(pk);
    return rc;
}

int crypto_ed25519_keygen(uint8_t priv[32], uint8_t pub[32])
{
    return keygen_raw(EVP_PKEY_ED25519, priv, pub);
}

int crypto_x25519_keygen(uint8_t priv[32], uint8_t pub[32])
{
    return keygen_raw(EVP_PKEY_X25519, priv, pub);
}

int crypto_x25519_public(const uint8_t priv[32], uint8_t pub[32], cc_err *err)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
    if (!pk) return cc_err_set(err, "invalid X25519 private key");
    int rc = raw_public(pk, pub);
    EVP_PKEY_free(pk);
    return rc ? cc_err_set(err, "cannot derive X25519 public key") : 0;
}

int crypto_ed25519_public(const uint8_t priv[32], uint8_t pub[32], cc_err *err)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
    if (!pk) return cc_err_set(err, "invalid Ed25519 private key");
    int rc = raw_public(pk, pub);
    EVP_PKEY_free(pk);
    return rc ? cc_err_set(err, "cannot derive Ed25519 public key") : 0;
}

int crypto_ed25519_sign(const uint8_t priv[32], const void *msg, size_t n, uint8_t sig[64],
                        cc_err *err)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = 64;
    int ok = pk && ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, msg, n) == 1 && siglen == 64;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok ? 0 : cc_err_set(err, "Ed25519 signing failed");
}

struct crypto_ed25519_key {
    EVP_PKEY *pk;
    /* Initialised for signing once: each signature copies it. A fresh
     * EVP_DigestSignInit per signature (OpenSSL 3 looks the algorithm up
     * and sets the key up each time) was a third of a receipt signature's
     * cost on the worker. */
    EVP_MD_CTX *sign_tmpl;
};

crypto_ed25519_key *crypto_ed25519_key_new(const uint8_t priv[32], cc_err *err)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
    if (!pk) {
        cc_err_set(err, "invalid Ed25519 private key");
        return NULL;
    }
    crypto_ed25519_key *k = cc_calloc(1, sizeof(*k));
    k->pk = pk;
    return k;
}

int crypto_ed25519_key_sign(crypto_ed25519_key *k, const void *msg, size_t n, uint8_t sig[64],
                            cc_err *err)
{
    if (!k->sign_tmpl) {
        EVP_MD_CTX *t = EVP_MD_CTX_new();
        if (!t || EVP_DigestSignInit(t, NULL, NULL, NULL, k->pk) != 1) {
            EVP_MD_CTX_free(t);
            return cc_err_set(err, "Ed25519 signing failed");
        }
        k->sign_tmpl = t;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = 64;
    int ok = ctx && EVP_MD_CTX_copy_ex(ctx, k->sign_tmpl) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, msg, n) == 1 && siglen == 64;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : cc_err_set(err, "Ed25519 signing failed");
}

void crypto_ed25519_key_free(crypto_ed25519_key *k)
{
    if (!k) return;
    EVP_MD_CTX_free(k->sign_tmpl);
    EVP_PKEY_free(k->pk); /* OpenSSL clears the key material */
    free(k);
}

bool crypto_ed25519_verify(const uint8_t pub[32], const void *msg, size_t n, const uint8_t sig[64])
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = pk && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
              EVP_DigestVerify(ctx, sig, 64, msg, n) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok;
}

int crypto_x25519(const uint8_t priv[32], const uint8_t peer_pub[32], uint8_t shared[32],
                  cc_err *err)
{
    EVP_PKEY *me = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
    EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_pub, 32);
    EVP_PKEY_CTX *ctx = me ? EVP_PKEY_CTX_new(me, NULL) : NULL;
    size_t len = 32;
    int ok = me && peer && ctx && EVP_PKEY_derive_init(ctx) == 1 &&
             EVP_PKEY_derive_set_peer(ctx, peer) == 1 && EVP_PKEY_derive(ctx, shared, &len) == 1 &&
             len == 32;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(me);
    return ok ? 0 : cc_err_set(err, "X25519 key agreement failed");
}

static bool is_p256(EVP_PKEY *pk)
{
    char group[32];
    size_t glen = 0;
    if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC) return false;
    if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen) != 1)
        return false;
    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

bool crypto_ecdsa_p256_verify_key(EVP_PKEY *pk, const void *msg, size_t n, const uint8_t sig_rs[64])
{
    if (!pk || !is_p256(pk)) return false;
    bool ok = false;
    unsigned char *der = NULL;
    EVP_MD_CTX *md = NULL;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig_rs, 32, NULL), *s = BN_bin2bn(sig_rs + 32, 32, NULL);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    int derlen = i2d_ECDSA_SIG(sig, &der);
    if (derlen <= 0) goto out;
    md = EVP_MD_CTX_new();
    ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
         EVP_DigestVerify(md, der, (size_t)derlen, msg, n) == 1;
out:
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    ERR_clear_error();
    return ok;
}

bool crypto_ecdsa_p256_verify_raw(const uint8_t pub_xy[64], const void *msg, size_t n,
                                  const uint8_t sig_rs[64])
{
    uint8_t point[65];
    point[0] = 0x04;
    memcpy(point + 1, pub_xy, 64);
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    bool ok = false;
    if (pctx && bld) {
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point));
        params = OSSL_PARAM_BLD_to_param(bld);
        if (params && EVP_PKEY_fromdata_init(pctx) == 1 &&
            EVP_PKEY_fromdata(pctx, &pk, EVP_PKEY_PUBLIC_KEY, params) == 1)
            ok = crypto_ecdsa_p256_verify_key(pk, msg, n, sig_rs);
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(pk);
    ERR_clear_error();
    return ok;
}

/* Fetched once: with OpenSSL's legacy handles (EVP_chacha20_poly1305())
 * every context set-up looks the algorithm up in the provider's tables
 * again, which cost as much as sealing a small part (a sealed request sets
 * up several contexts). Never changed after the once-only fetch; they live
 * as long as the process, like the digests of hash.c. */
static EVP_CIPHER *fetched_ciphers[3];
static CRYPTO_ONCE cipher_once = CRYPTO_ONCE_STATIC_INIT;

static void fetch_ciphers(void)
{
    static const char *const names[3] = {"ChaCha20-Poly1305", "AES-128-GCM", "AES-256-GCM"};
    for (int i = 0; i < 3; i++)
        fetched_ciphers[i] = EVP_CIPHER_fetch(NULL, names[i], NULL);
}

const EVP_CIPHER *crypto_aead_cipher(crypto_aead_alg alg)
{
    int i = alg == CRYPTO_AEAD_CHACHA20POLY1305 ? 0 : alg == CRYPTO_AEAD_AES128GCM ? 1 : 2;
    if (CRYPTO_THREAD_run_once(&cipher_once, fetch_ciphers) && fetched_ciphers[i])
        return fetched_ciphers[i];
    return i == 0 ? EVP_chacha20_poly1305() : i == 1 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
}

size_t crypto_aead_key_len(crypto_aead_alg alg)
{
    return alg == CRYPTO_AEAD_AES128GCM ? 16 : 32;
}

int crypto_aead_seal(crypto_aead_alg alg, const uint8_t *key, const uint8_t nonce[12],
                     const void *aad, size_t aad_len, const void *pt, size_t pt_len, uint8_t *out,
                     cc_err *err)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0,
        ok = ctx && EVP_EncryptInit_ex(ctx, crypto_aead_cipher(alg), NULL, key, nonce) == 1;
    if (ok && aad_len) ok = EVP_EncryptUpdate(ctx, NULL, &len, aad, (int)aad_len) == 1;
    if (ok) ok = EVP_EncryptUpdate(ctx, out, &len, pt, (int)pt_len) == 1;
    if (ok) ok = EVP_EncryptFinal_ex(ctx, out + len, &len) == 1;
    if (ok) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + pt_len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : cc_err_set(err, "AEAD seal failed");
}

int crypto_aead_open(crypto_aead_alg alg, const uint8_t *key, const uint8_t nonce[12],
                     const void *aad, size_t aad_len, const void *in, size_t in_len, uint8_t *out,
                     cc_err *err)
{
    if (in_len < 16) return cc_err_set(err, "AEAD ciphertext shorter than its tag");
    size_t ct_len = in_len - 16;
    const uint8_t *ct = in;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0,
        ok = ctx && EVP_DecryptInit_ex(ctx, crypto_aead_cipher(alg), NULL, key, nonce) == 1;
    if (ok && aad_len) ok = EVP_DecryptUpdate(ctx, NULL, &len, aad, (int)aad_len) == 1;
    if (ok) ok = EVP_DecryptUpdate(ctx, out, &len, ct, (int)ct_len) == 1;
    if (ok) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(ct + ct_len)) == 1;
    if (ok) ok = EVP_DecryptFinal_ex(ctx, out + len, &len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : cc_err_set(err, "AEAD authentication failed");
}
