#include "crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct crypto_hash {
    EVP_MD_CTX *ctx;
};

/* The digests, fetched from the default provider once per process. The
 * legacy handles (EVP_sha256()) make OpenSSL 3 look the implementation up
 * again on every init, which was half the cost of hashing a few hundred
 * bytes (and most of an HMAC) on the sealed-request path. The fetched
 * handles are never changed after the once-only fetch and live as long as
 * the process, like OpenSSL's own algorithm cache. */
static EVP_MD *fetched[3];
static CRYPTO_ONCE fetch_once = CRYPTO_ONCE_STATIC_INIT;

static void fetch_all(void)
{
    static const char *const names[3] = {"SHA256", "SHA384", "SHA512"};
    for (int i = 0; i < 3; i++)
        fetched[i] = EVP_MD_fetch(NULL, names[i], NULL);
}

static const EVP_MD *alg_md(crypto_hash_alg alg)
{
    int i = alg == CRYPTO_HASH_SHA384 ? 1 : alg == CRYPTO_HASH_SHA512 ? 2 : 0;
    if (CRYPTO_THREAD_run_once(&fetch_once, fetch_all) && fetched[i]) return fetched[i];
    return i == 1 ? EVP_sha384() : i == 2 ? EVP_sha512() : EVP_sha256();
}

static void digest(const EVP_MD *md, const void *data, size_t n, uint8_t *out)
{
    unsigned int len = 0;
    if (!EVP_Digest(data, n, out, &len, md, NULL)) {
        fputs("cocoon: EVP_Digest failed\n", stderr);
        abort();
    }
}

void crypto_sha256(const void *data, size_t n, uint8_t out[32])
{
    digest(alg_md(CRYPTO_HASH_SHA256), data, n, out);
}
void crypto_sha384(const void *data, size_t n, uint8_t out[48])
{
    digest(alg_md(CRYPTO_HASH_SHA384), data, n, out);
}
void crypto_sha512(const void *data, size_t n, uint8_t out[64])
{
    digest(alg_md(CRYPTO_HASH_SHA512), data, n, out);
}

crypto_hash *crypto_hash_new(crypto_hash_alg alg)
{
    crypto_hash *h = cc_malloc(sizeof(*h));
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || !EVP_DigestInit_ex(h->ctx, alg_md(alg), NULL)) {
        fputs("cocoon: EVP_DigestInit failed\n", stderr);
        abort();
    }
    return h;
}

void crypto_hash_update(crypto_hash *h, const void *data, size_t n)
{
    EVP_DigestUpdate(h->ctx, data, n);
}

crypto_hash *crypto_hash_dup(const crypto_hash *h)
{
    crypto_hash *c = cc_malloc(sizeof(*c));
    c->ctx = EVP_MD_CTX_new();
    if (!c->ctx || !EVP_MD_CTX_copy_ex(c->ctx, h->ctx)) {
        fputs("cocoon: EVP_MD_CTX_copy_ex failed\n", stderr);
        abort();
    }
    return c;
}

size_t crypto_hash_final(crypto_hash *h, uint8_t *out)
{
    unsigned int len = 0;
    EVP_DigestFinal_ex(h->ctx, out, &len);
    EVP_MD_CTX_free(h->ctx);
    free(h);
    return len;
}

int crypto_sha256_file(const char *path, uint8_t out[32], cc_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cc_err_set(err, "cannot open %s", path);
    crypto_hash *h = crypto_hash_new(CRYPTO_HASH_SHA256);
    uint8_t buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        crypto_hash_update(h, buf, n);
    int bad = ferror(f);
    fclose(f);
    crypto_hash_final(h, out);
    return bad ? cc_err_set(err, "cannot read %s", path) : 0;
}

/* HMAC (RFC 2104) over the fetched SHA-256: OpenSSL's HMAC() goes through
 * EVP_Q_mac, which fetches the MAC and the digest on every call (four times
 * the work for the short inputs sealing MACs and HKDF-expands). */
void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n, uint8_t out[32])
{
    uint8_t k[64] = {0}, pad[64], inner[32];
    if (keylen > sizeof(k))
        crypto_sha256(key, keylen, k);
    else if (keylen)
        memcpy(k, key, keylen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const EVP_MD *md = alg_md(CRYPTO_HASH_SHA256);
    for (size_t i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, pad, 64) &&
             EVP_DigestUpdate(ctx, data, n) && EVP_DigestFinal_ex(ctx, inner, NULL);
    for (size_t i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, pad, 64) &&
         EVP_DigestUpdate(ctx, inner, 32) && EVP_DigestFinal_ex(ctx, out, NULL);
    EVP_MD_CTX_free(ctx);
    explicit_bzero(k, sizeof(k));
    explicit_bzero(pad, sizeof(pad));
    explicit_bzero(inner, sizeof(inner));
    if (!ok) {
        fputs("cocoon: HMAC-SHA256 failed\n", stderr);
        abort();
    }
}

int crypto_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                       const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len,
                       cc_err *err)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (!kctx) return cc_err_set(err, "HKDF unavailable");
    OSSL_PARAM params[5], *p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
    if (salt_len)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    *p = OSSL_PARAM_construct_end();
    int ok = EVP_KDF_derive(kctx, out, out_len, params) == 1;
    EVP_KDF_CTX_free(kctx);
    return ok ? 0 : cc_err_set(err, "HKDF derive failed");
}

bool crypto_memeq(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}
