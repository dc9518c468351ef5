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
/* A copy of h's state (to read a running digest without ending it). */
crypto_hash *crypto_hash_dup(const crypto_hash *h);
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
/* A private key imported once: importing a raw Ed25519 seed derives its
 * public key (a scalar multiplication as dear as the signature itself), so a
 * daemon that signs often keeps one of these instead of the seed. */
typedef struct crypto_ed25519_key crypto_ed25519_key;
crypto_ed25519_key *crypto_ed25519_key_new(const uint8_t priv[32], cc_err *err);
int crypto_ed25519_key_sign(crypto_ed25519_key *k, const void *msg, size_t n, uint8_t sig[64],
                            cc_err *err);
void crypto_ed25519_key_free(crypto_ed25519_key *k);
/* Returns true only for a valid signature. */
bool crypto_ed25519_verify(const uint8_t pub[32], const void *msg, size_t n, const uint8_t sig[64]);

/* X25519 key agreement. */
int crypto_x25519_keygen(uint8_t priv[32], uint8_t pub[32]);
int crypto_x25519(const uint8_t priv[32], const uint8_t peer_pub[32], uint8_t shared[32],
                  cc_err *err);
int crypto_x25519_public(const uint8_t priv[32], uint8_t pub[32], cc_err *err);

/* AEAD: out = ciphertext || 16-byte tag; 12-byte nonce. The key holds
 * crypto_aead_key_len(alg) bytes: 16 for AES-128-GCM, 32 for the others. */
typedef enum {
    CRYPTO_AEAD_AES256GCM,
    CRYPTO_AEAD_CHACHA20POLY1305,
    CRYPTO_AEAD_AES128GCM
} crypto_aead_alg;
size_t crypto_aead_key_len(crypto_aead_alg alg);
/* OpenSSL's cipher for alg, fetched once (an EVP_CIPHER, for a context a
 * caller keeps, as the sealed answer streams do). */
const struct evp_cipher_st *crypto_aead_cipher(crypto_aead_alg alg);
int crypto_aead_seal(crypto_aead_alg alg, const uint8_t *key, const uint8_t nonce[12],
                     const void *aad, size_t aad_len, const void *pt, size_t pt_len, uint8_t *out,
                     cc_err *err);
/* in = ciphertext || tag; out receives in_len - 16 bytes. Fails on bad tag. */
int crypto_aead_open(crypto_aead_alg alg, const uint8_t *key, const uint8_t nonce[12],
                     const void *aad, size_t aad_len, const void *in, size_t in_len, uint8_t *out,
                     cc_err *err);

/* ECDSA P-256 / SHA-256 verification with a raw public key x||y (64 bytes)
 * and a raw signature r||s (64 bytes), as found in TDX quotes. */
bool crypto_ecdsa_p256_verify_raw(const uint8_t pub_xy[64], const void *msg, size_t n,
                                  const uint8_t sig_rs[64]);
/* The same with an OpenSSL key already imported (a certificate's, or one kept
 * between verifications); false unless it is a P-256 key. */
struct evp_pkey_st;
bool crypto_ecdsa_p256_verify_key(struct evp_pkey_st *pk, const void *msg, size_t n,
                                  const uint8_t sig_rs[64]);

/* --- hpke.c: HPKE (RFC 9180) in base mode with DHKEM(X25519, HKDF-SHA256) and
 * HKDF-SHA256, sealing with AES-128-GCM or ChaCha20-Poly1305. Debian 12's
 * OpenSSL 3.0 has no HPKE API, so this builds it on OpenSSL's X25519, HMAC
 * and AEADs. A context seals (or opens) messages in order: message i uses
 * base_nonce XOR i, so a reordered, dropped or replayed message fails to
 * open. */
typedef enum { CRYPTO_HPKE_AES128GCM = 1, CRYPTO_HPKE_CHACHA20POLY1305 = 3 } crypto_hpke_aead;

typedef struct crypto_hpke_ctx {
    crypto_hpke_aead aead;
    uint8_t key[32];
    uint8_t base_nonce[12];
    uint8_t exporter_secret[32];
    uint64_t seq;
} crypto_hpke_ctx;

/* DeriveKeyPair(ikm) of DHKEM(X25519, HKDF-SHA256). */
int crypto_hpke_derive_keypair(const uint8_t *ikm, size_t ikm_len, uint8_t sk[32], uint8_t pk[32],
                               cc_err *err);
/* SetupBaseS: encapsulates to pkR. ikmE NULL = a fresh random ephemeral key
 * (tests pass the RFC's ikmE). enc (32 bytes) goes to the receiver. */
int crypto_hpke_setup_sender(crypto_hpke_aead aead, const uint8_t pkR[32], const uint8_t *info,
                             size_t info_len, const uint8_t *ikmE, size_t ikmE_len, uint8_t enc[32],
                             crypto_hpke_ctx *ctx, cc_err *err);
/* SetupBaseR. */
int crypto_hpke_setup_receiver(crypto_hpke_aead aead, const uint8_t enc[32], const uint8_t skR[32],
                               const uint8_t *info, size_t info_len, crypto_hpke_ctx *ctx,
                               cc_err *err);
/* out receives pt_len + 16 bytes. */
int crypto_hpke_seal(crypto_hpke_ctx *ctx, const void *aad, size_t aad_len, const void *pt,
                     size_t pt_len, uint8_t *out, cc_err *err);
/* out receives ct_len - 16 bytes; fails (and keeps its sequence number) on a bad tag. */
int crypto_hpke_open(crypto_hpke_ctx *ctx, const void *aad, size_t aad_len, const void *ct,
                     size_t ct_len, uint8_t *out, cc_err *err);
/* Secret export: L bytes (at most 255 * 32) bound to exporter_context. */
int crypto_hpke_export(const crypto_hpke_ctx *ctx, const void *exporter_context, size_t ctx_len,
                       uint8_t *out, size_t L, cc_err *err);
void crypto_hpke_clear(crypto_hpke_ctx *ctx);

/* --- seal.c: cocoon's sealing formats (docs/confidentiality.md). Pure byte
 * formats over HPKE, ChaCha20-Poly1305 and Ed25519; no I/O and no TL.
 *
 * A request body is sealed once under a fresh 32-byte data key (nonce 0: the
 * key is never reused) with the request AAD; the data key is wrapped for each
 * candidate worker by HPKE to its X25519 key, with info naming the
 * candidate's certificate hash and the same AAD. Answer parts are sealed with
 * a key exported from the HPKE context of the worker that served, nonce = the
 * part's counter, and an AAD holding the counter and a final-part flag. */
#define CRYPTO_SEAL_KEY_LEN 32
#define CRYPTO_SEAL_WRAPPED_LEN (CRYPTO_SEAL_KEY_LEN + 16)
#define CRYPTO_SEAL_TAG_LEN 16

/* The request AAD: what the proxy may see and the worker must trust as the
 * client sent it: the client's request id, the model name and max_tokens. */
void crypto_seal_request_aad(const uint8_t request_id[32], const char *model, size_t model_len,
                             int32_t max_tokens, cc_buf *out);
/* body: out receives pt_len + 16 bytes (appended). */
int crypto_seal_body(const uint8_t key[32], const cc_buf *aad, const void *pt, size_t pt_len,
                     cc_buf *out, cc_err *err);
int crypto_seal_body_open(const uint8_t key[32], const cc_buf *aad, const void *ct, size_t ct_len,
                          cc_buf *out, cc_err *err);
/* Wraps key for one candidate: enc (32) and wrapped (48) for the worker, and
 * the HPKE context the answer key is exported from (kept by the client). */
int crypto_seal_wrap(const uint8_t worker_x25519[32], const uint8_t cert_hash[32],
                     const cc_buf *aad, const uint8_t key[32], uint8_t enc[32],
                     uint8_t wrapped[CRYPTO_SEAL_WRAPPED_LEN], crypto_hpke_ctx *ctx, cc_err *err);
int crypto_seal_unwrap(const uint8_t worker_x25519_sk[32], const uint8_t cert_hash[32],
                       const cc_buf *aad, const uint8_t enc[32],
                       const uint8_t wrapped[CRYPTO_SEAL_WRAPPED_LEN], uint8_t key[32],
                       crypto_hpke_ctx *ctx, cc_err *err);

/* One direction of sealed answer parts. The opener refuses a part whose
 * counter or final flag differs from what it expects (reordered, replayed or
 * dropped parts, or a non-final part passed off as the last), and anything
 * after the final part. Both sides hash the sealed parts as they go
 * (SHA-256 of each u32le length ‖ sealed part) for the receipt. */
typedef struct crypto_seal_stream {
    uint8_t key[32];
    uint64_t counter;  /* the next part's */
    bool finished;     /* the final part went through */
    crypto_hash *hash; /* running answer hash */
    /* The cipher context, keyed once on first use (an answer has dozens of
     * parts: setting a new nonce is far cheaper than a new context). */
    void *aead;
    bool aead_seals;
} crypto_seal_stream;

int crypto_seal_stream_init(crypto_seal_stream *s, const crypto_hpke_ctx *ctx, cc_err *err);
/* Appends the sealed part (pt_len + 16 bytes) to out. */
int crypto_seal_part(crypto_seal_stream *s, bool final, const void *pt, size_t pt_len, cc_buf *out,
                     cc_err *err);
/* Appends the opened part to out; `final` is what the carrier claims. */
int crypto_seal_part_open(crypto_seal_stream *s, bool final, const void *ct, size_t ct_len,
                          cc_buf *out, cc_err *err);
/* The answer hash over every part so far (the stream stays usable). */
void crypto_seal_stream_hash(const crypto_seal_stream *s, uint8_t out[32]);
void crypto_seal_stream_clear(crypto_seal_stream *s);
/* The answer hash as an observer (the proxy) computes it: feed each sealed
 * part in order. h is a crypto_hash of CRYPTO_HASH_SHA256. */
void crypto_seal_hash_part(crypto_hash *h, const void *ct, size_t ct_len);

/* The receipt the worker signs with its receipt key (fixed layout,
 * little-endian integers; docs/confidentiality.md). */
#define CRYPTO_RECEIPT_LEN 296
#define CRYPTO_RECEIPT_SIGNED_LEN (CRYPTO_RECEIPT_LEN - 64)
/* Batch receipts: the same 232 bytes (magic CCRCPT02), u32le index, u32le
 * batch size, the Merkle path (32 bytes a level), the signature of the root. */
#define CRYPTO_RECEIPT_BATCH_MAX 64
#define CRYPTO_RECEIPT_PATH_MAX 6
#define CRYPTO_RECEIPT_BATCH_HEAD (CRYPTO_RECEIPT_SIGNED_LEN + 8)
#define CRYPTO_RECEIPT_MAX_LEN (CRYPTO_RECEIPT_BATCH_HEAD + 32 * CRYPTO_RECEIPT_PATH_MAX + 64)
typedef struct crypto_receipt {
    uint8_t request_id[32];   /* the proxy's id of the request (worker leg) */
    uint8_t cert_hash[32];    /* SHA-256 of the worker's certificate (DER) */
    uint8_t model_hash[32];   /* SHA-256 of the full model identifier */
    uint8_t request_hash[32]; /* SHA-256 of the sealed request body */
    uint8_t answer_hash[32];  /* crypto_seal_stream_hash of the sealed answer */
    int64_t prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens, total_tokens;
    int64_t coefficient;
    uint64_t parts;    /* sealed answer parts, the final one included */
    int64_t issued_at; /* unix seconds when the worker signed */
    uint8_t signature[64];
    /* A batch receipt (magic CCRCPT02): the signature is over the root of a
     * Merkle tree of up to CRYPTO_RECEIPT_BATCH_MAX receipts, and path
     * leads from this one (leaf batch_index of batch_size) to that root. */
    bool batched;
    uint32_t batch_index, batch_size;
    size_t path_len;
    uint8_t path[CRYPTO_RECEIPT_PATH_MAX][32];
} crypto_receipt;

/* Fills r->signature and writes the CRYPTO_RECEIPT_LEN bytes to out. */
int crypto_receipt_sign(crypto_receipt *r, const uint8_t receipt_sk[32],
                        uint8_t out[CRYPTO_RECEIPT_LEN], cc_err *err);
/* The same with a key imported once (what a worker signs with). */
int crypto_receipt_sign_key(crypto_receipt *r, crypto_ed25519_key *key,
                            uint8_t out[CRYPTO_RECEIPT_LEN], cc_err *err);
/* Signs n (1..CRYPTO_RECEIPT_BATCH_MAX) receipts with one signature over
 * the root of a Merkle tree of them (seal_batch.c); out[i] gets receipt i
 * with its path, out_len[i] its length. Each verifies alone. */
int crypto_receipt_batch_sign(crypto_receipt *rs, size_t n, crypto_ed25519_key *key,
                              uint8_t (*out)[CRYPTO_RECEIPT_MAX_LEN], size_t *out_len, cc_err *err);
/* The batch fields of a CCRCPT02 receipt (crypto_receipt_parse calls it). */
int crypto_receipt_batch_parse(const uint8_t *data, size_t len, crypto_receipt *r, cc_err *err);
/* The root a batch receipt's path leads to (for parse/verify). */
int crypto_receipt_batch_root(const uint8_t *data, size_t len, const crypto_receipt *r,
                              uint8_t root[32], cc_err *err);
/* The bytes a batch signature covers: label, batch size, root. */
#define CRYPTO_RECEIPT_BATCH_MSG_LEN (29 + 4 + 32)
void crypto_receipt_batch_msg(uint32_t size, const uint8_t root[32],
                              uint8_t msg[CRYPTO_RECEIPT_BATCH_MSG_LEN]);
/* Parses (either form) and checks the signature against receipt_pk. */
int crypto_receipt_verify(const uint8_t *data, size_t len, const uint8_t receipt_pk[32],
                          crypto_receipt *out, cc_err *err);
/* The receipt with an all-zero signature (no Ed25519 work). */
void crypto_receipt_encode_unsigned(crypto_receipt *r, uint8_t out[CRYPTO_RECEIPT_LEN]);
/* An unsigned receipt (a session request that asked for none): its
 * signature bytes are all zero, and only its MAC vouches for it. */
bool crypto_receipt_is_signed(const uint8_t receipt[CRYPTO_RECEIPT_LEN]);
/* The length of the receipt data begins with (either form, read from its
 * magic and, for a batch receipt, its place in the batch), or 0 when the
 * avail bytes cannot begin one. What follows it (a MAC) is the caller's. */
size_t crypto_receipt_len(const uint8_t *data, size_t avail);
/* Parses without checking the signature (for tools that show a receipt);
 * a batch receipt's path must still have the length its place implies. */
int crypto_receipt_parse(const uint8_t *data, size_t len, crypto_receipt *out, cc_err *err);

/* --- seal_session.c: sealing sessions (docs/confidentiality.md, "Sessions").
 * One HPKE encapsulation per (client daemon, worker key) gives a 32-byte
 * session secret bound to the certificate hash and the client's creation
 * time; every request then derives its wrap, answer and receipt-MAC keys from
 * it and a fresh 24-byte request nonce (u64le sequence ‖ 16 random bytes).
 * The session form of sealing.wrappedKey: enc is the session's
 * encapsulation, wrapped_key = kind (1) ‖ nonce (24) ‖ [created_at i64le (8),
 * establish only] ‖ wrapped data key (48). */
#define CRYPTO_SEAL_NONCE_LEN 24
#define CRYPTO_SEAL_KIND_ESTABLISH 1
#define CRYPTO_SEAL_KIND_RESUME 2
/* In the kind byte: the client wants the receipt signed (Ed25519) besides
 * its MAC. Bound into the request's keys, so the proxy cannot flip it. */
#define CRYPTO_SEAL_FLAG_SIGN 0x80
#define CRYPTO_SEAL_SESSION_WRAP_MAX (1 + CRYPTO_SEAL_NONCE_LEN + 8 + CRYPTO_SEAL_WRAPPED_LEN)
/* The worker's answer to a resumed session it does not hold (restart,
 * expiry, eviction): the client drops it and re-encapsulates once. */
#define CRYPTO_SEAL_SESSION_UNKNOWN (-2)
#define CRYPTO_SEAL_SESSION_UNKNOWN_MSG "sealing session unknown to this worker"
#define CRYPTO_RECEIPT_MAC_LEN 32

typedef struct crypto_seal_keys {
    uint8_t wrap[32], answer[32], mac[32];
} crypto_seal_keys;

/* Client: a new session to a worker key (one X25519). */
int crypto_seal_session_new(const uint8_t worker_x25519[32], const uint8_t cert_hash[32],
                            int64_t created_at, uint8_t enc[32], uint8_t secret[32], cc_err *err);
/* Client: one request's wrapped_key bytes (out_len: 81 establishing, 73
 * resuming) under sequence number seq, and its keys; sign asks the worker
 * for a signed receipt. The nonce's random bytes come from pool (the
 * client's; NULL: crypto_random). */
struct crypto_rand_pool;
int crypto_seal_session_wrap(const uint8_t secret[32], bool establish, bool sign,
                             int64_t created_at, uint64_t seq, const cc_buf *aad,
                             const uint8_t dek[32], struct crypto_rand_pool *pool,
                             uint8_t out[CRYPTO_SEAL_SESSION_WRAP_MAX], size_t *out_len,
                             crypto_seal_keys *keys, cc_err *err);

/* Worker: the sessions it holds (a bounded LRU). lifetime: how long a
 * session is usable; skew: how far a client's creation time may be from
 * ours (an entry is forgotten only once its establishment falls outside it). */
typedef struct crypto_seal_sessions crypto_seal_sessions;
typedef struct crypto_seal_opened {
    uint8_t dek[32];
    crypto_seal_keys keys;
    uint8_t sid[32]; /* SHA-256 of enc */
    uint64_t seq;
    bool sign; /* the client wants a signed receipt */
} crypto_seal_opened;
crypto_seal_sessions *crypto_seal_sessions_new(size_t cap, double lifetime, double skew);
/* Opens one session-form key (establishing the session when needed) at
 * wall time now and marks its sequence number used. -1 with err, or
 * CRYPTO_SEAL_SESSION_UNKNOWN when a resumed session is not held. */
int crypto_seal_sessions_open(crypto_seal_sessions *t, const uint8_t sk[32],
                              const uint8_t cert_hash[32], double now, const uint8_t enc[32],
                              const uint8_t *wk, size_t wk_len, const cc_buf *aad,
                              crypto_seal_opened *out, cc_err *err);
/* Gives a sequence number back (the request was refused before any answer
 * was sealed under its keys, so it may come again). */
void crypto_seal_sessions_release(crypto_seal_sessions *t, const uint8_t sid[32], uint64_t seq);
void crypto_seal_sessions_clear(crypto_seal_sessions *t);
size_t crypto_seal_sessions_count(const crypto_seal_sessions *t);
void crypto_seal_sessions_free(crypto_seal_sessions *t);
/* The receipt's MAC for the client under the request's MAC key. */
void crypto_receipt_mac(const uint8_t mac_key[32], const uint8_t *receipt, size_t len,
                        uint8_t out[CRYPTO_RECEIPT_MAC_LEN]);
/* An answer stream keyed directly (sessions) rather than by HPKE export. */
void crypto_seal_stream_init_key(crypto_seal_stream *s, const uint8_t key[32]);

/* Constant-time comparison. */
bool crypto_memeq(const void *a, const void *b, size_t n);

/* --- random_pool.c: random bytes for hot paths that need many small ids.
 * The pool refills from crypto_random 1 KiB at a time, since one RAND_bytes
 * call per 32-byte request id costs more than the rest of routing it.  A
 * zero-initialised pool is empty and ready; keep one per daemon context (not
 * thread-safe; after fork(), the child must not use its parent's pool). */
typedef struct crypto_rand_pool {
    uint8_t bytes[1024];
    size_t avail; /* unused bytes at the end of `bytes` */
} crypto_rand_pool;
void crypto_rand_pool_get(crypto_rand_pool *p, void *out, size_t n);

#endif
