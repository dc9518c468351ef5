/*
 * Proof of work before TLS (DESIGN §4.1): the server sends a salt and a
 * difficulty, the client finds a nonce such that SHA-256(salt ‖ nonce_le64)
 * starts — read as a little-endian u64 — with `difficulty` zero bits.
 */
/* The solver calls SHA256_Transform directly: one compression per candidate
 * instead of the EVP init/update/final round trip (the OpenSSL 3 low-level API
 * is deprecated but still the fastest path to its SHA-NI/AVX code). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <string.h>

#include "crypto/crypto.h"
#include "net/net.h"

int net_pow_leading_zeros(const uint8_t hash[32])
{
    uint64_t v = cc_load_u64le(hash);
    if (v == 0) return 64;
    return __builtin_clzll(v);
}

bool net_pow_check(const uint8_t salt[NET_POW_SALT_LEN], int difficulty, int64_t nonce)
{
    if (difficulty < 0 || difficulty > 64) return false;
    uint8_t msg[NET_POW_SALT_LEN + 8], hash[32];
    memcpy(msg, salt, NET_POW_SALT_LEN);
    cc_store_u64le(msg + NET_POW_SALT_LEN, (uint64_t)nonce);
    crypto_sha256(msg, sizeof msg, hash);
    return net_pow_leading_zeros(hash) >= difficulty;
}

static const SHA_LONG sha256_iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

int net_pow_search(const uint8_t salt[NET_POW_SALT_LEN], int difficulty, int64_t *nonce,
                   uint64_t max_tries)
{
    if (difficulty < 0 || difficulty > 64) return 0;
    /* salt ‖ nonce is 24 bytes, so the whole padded message is one block:
     * 0x80 after the data and the bit length (192) in the last 8 bytes. */
    uint8_t block[64] = {0};
    memcpy(block, salt, NET_POW_SALT_LEN);
    block[24] = 0x80;
    block[62] = (24 * 8) >> 8;
    block[63] = (uint8_t)(24 * 8);
    /* The first 8 digest bytes are h[0], h[1] big-endian; as a LE u64 the most
     * significant byte is the low byte of h[1]. */
    uint64_t need_mask = difficulty == 0 ? 0 : ~0ull << (64 - difficulty);
    SHA256_CTX ctx;
    memset(&ctx, 0, sizeof ctx);
    uint64_t n = (uint64_t)*nonce;
    for (uint64_t i = 0; i < max_tries; i++, n++) {
        cc_store_u64le(block + NET_POW_SALT_LEN, n);
        memcpy(ctx.h, sha256_iv, sizeof sha256_iv);
        SHA256_Transform(&ctx, block);
        uint8_t first[8];
        for (int w = 0; w < 2; w++) {
            first[4 * w] = (uint8_t)(ctx.h[w] >> 24);
            first[4 * w + 1] = (uint8_t)(ctx.h[w] >> 16);
            first[4 * w + 2] = (uint8_t)(ctx.h[w] >> 8);
            first[4 * w + 3] = (uint8_t)ctx.h[w];
        }
        if ((cc_load_u64le(first) & need_mask) == 0) {
            *nonce = (int64_t)n;
            return 1;
        }
    }
    *nonce = (int64_t)n;
    return 0;
}

void net_pow_make_challenge(uint8_t out[NET_POW_CHALLENGE_LEN], int difficulty,
                            uint8_t salt_out[NET_POW_SALT_LEN])
{
    cc_store_u32le(out, NET_POW_SERVER_MAGIC);
    cc_store_u32le(out + 4, (uint32_t)difficulty);
    crypto_random(out + 8, NET_POW_SALT_LEN);
    memcpy(salt_out, out + 8, NET_POW_SALT_LEN);
}

int net_pow_parse_challenge(const uint8_t in[NET_POW_CHALLENGE_LEN], int max_difficulty,
                            int *difficulty, uint8_t salt[NET_POW_SALT_LEN], cc_err *err)
{
    uint32_t magic = cc_load_u32le(in);
    if (magic != NET_POW_SERVER_MAGIC)
        return cc_err_setc(err, NET_ERR_PROTOCOL, "proof of work: bad challenge magic 0x%08x",
                           magic);
    int32_t d = (int32_t)cc_load_u32le(in + 4);
    if (max_difficulty <= 0 || max_difficulty > NET_POW_MAX_DIFFICULTY)
        max_difficulty = NET_POW_MAX_DIFFICULTY;
    if (d < 0 || d > max_difficulty)
        return cc_err_setc(err, NET_ERR_PROTOCOL,
                           "proof of work: difficulty %d out of range (max %d)", (int)d,
                           max_difficulty);
    *difficulty = d;
    memcpy(salt, in + 8, NET_POW_SALT_LEN);
    return 0;
}

void net_pow_make_answer(uint8_t out[NET_POW_ANSWER_LEN], int64_t nonce)
{
    cc_store_u32le(out, NET_POW_CLIENT_MAGIC);
    cc_store_u64le(out + 4, (uint64_t)nonce);
}

int net_pow_parse_answer(const uint8_t in[NET_POW_ANSWER_LEN], int64_t *nonce, cc_err *err)
{
    uint32_t magic = cc_load_u32le(in);
    if (magic != NET_POW_CLIENT_MAGIC)
        return cc_err_setc(err, NET_ERR_PROTOCOL, "proof of work: bad answer magic 0x%08x", magic);
    *nonce = (int64_t)cc_load_u64le(in + 4);
    return 0;
}
