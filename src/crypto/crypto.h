/*
 * crypto — thin wrappers over OpenSSL 3 so the rest of the code never touches
 * EVP boilerplate.  All buffers are caller-owned; nothing is retained.
 * Functions returning int give 0 on success, -1 on failure (with cc_err).
 */
#ifndef COCOON_CRYPTO_H
#define COCOON_CRYPTO_H

#include "base/base.h"

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_SHA384_LEN 48
#define CRYPTO_SHA512_LEN 64
#define CRYPTO_ED25519_PUB_LEN 32
#define CRYPTO_ED25519_PRIV_LEN 32 /* the RFC 8032 seed */
#define CRYPTO_ED25519_SIG_LEN 64
#define CRYPTO_X25519_LEN 32

void crypto_sha256(const void *data, size_t n, uint8_t out[32]);
void crypto_sha384(const void *data, size_t n, uint8_t out[48]);
void crypto_sha512(const void *data, size_t n, uint8_t out[64]);

/* Incremental SHA-256 / SHA-384 (e.g. hashing a file or several parts). */
typedef struct crypto_hash crypto_hash;
typedef enum { CRYPTO_HASH_SHA256, CRYPTO_HASH_SHA384, CRYPTO_HASH_SHA512 } crypto_hash_alg;
crypto_hash *crypto_hash_new(crypto_hash_alg alg);
void crypto_hash_update(crypto_hash *h, const void *data, size_t n);
/* Writes the digest, frees h. Returns the digest length. */
size_t crypto_hash_final(crypto_hash *h, uint8_t *out);
/* SHA-256 of a whole file. */
int crypto_sha256_file(const char *path, uint8_t out[32], cc_err *err);

void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
                        uint8_t out[32]);
/* HKDF-SHA256 (RFC 5869), extract + expand. */
int crypto_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                       const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len,
                       cc_err *err);

/* Cryptographically secure random bytes (aborts if the RNG is broken). */
void crypto_random(void *out, size_t n);
uint64_t crypto_random_u64(void);

/* Ed25519 with raw 32-byte keys (private = seed). */
int crypto_ed25519_keygen(uint8_t priv[32], uint8_t pub[32]);
int crypto_ed25519_public(const uint8_t priv[32], uint8_t pub[32], cc_err *err);
int crypto_ed25519_sign(const uint8_t priv[32], const void *msg, size_t n, uint8_t sig[64],
                        cc_err *err);
/* Returns true only for a valid signature. */
bool crypto_ed25519_verify(const uint8_t pub[32], const void *msg, size_t n, const uint8_t sig[64]);

/* X25519 key agreement. */
int crypto_x25519_keygen(uint8_t priv[32], uint8_t pub[32]);
int crypto_x25519(const uint8_t priv[32], const uint8_t peer_pub[32], uint8_t shared[32],
                  cc_err *err);

/* AEAD: out = ciphertext || 16-byte tag. AES-256-GCM or ChaCha20-Poly1305,
 * 32-byte key, 12-byte nonce. */
typedef enum { CRYPTO_AEAD_AES256GCM, CRYPTO_AEAD_CHACHA20POLY1305 } crypto_aead_alg;
int crypto_aead_seal(crypto_aead_alg alg, const uint8_t key[32], const uint8_t nonce[12],
                     const void *aad, size_t aad_len, const void *pt, size_t pt_len,
                     uint8_t *out, cc_err *err);
/* in = ciphertext || tag; out receives in_len - 16 bytes. Fails on bad tag. */
int crypto_aead_open(crypto_aead_alg alg, const uint8_t key[32], const uint8_t nonce[12],
                     const void *aad, size_t aad_len, const void *in, size_t in_len,
                     uint8_t *out, cc_err *err);

/* ECDSA P-256 / SHA-256 verification with a raw public key x||y (64 bytes)
 * and a raw signature r||s (64 bytes), as found in TDX quotes. */
bool crypto_ecdsa_p256_verify_raw(const uint8_t pub_xy[64], const void *msg, size_t n,
                                  const uint8_t sig_rs[64]);

/* Constant-time comparison. */
bool crypto_memeq(const void *a, const void *b, size_t n);

/* --- random_pool.c: random bytes for hot paths that need many small ids.
 * The pool refills from crypto_random 1 KiB at a time, since one RAND_bytes
 * call per 32-byte request id costs more than the rest of routing it.  A
 * zero-initialised pool is empty and ready; keep one per daemon context (not
 * thread-safe; after fork(), the child must not use its parent's pool). */
typedef struct {
    uint8_t bytes[1024];
    size_t avail; /* unused bytes at the end of `bytes` */
} crypto_rand_pool;
void crypto_rand_pool_get(crypto_rand_pool *p, void *out, size_t n);

#endif
