/* Batch receipts (docs/confidentiality.md, "Receipts signed in batches"):
 * one Ed25519 signature covers up to CRYPTO_RECEIPT_BATCH_MAX receipts
 * through a Merkle tree, and each receipt carries the path from its leaf to
 * the root, so it verifies alone, without the others of its batch.
 *
 * The tree is RFC 9162's (a lone last node moves up a level unchanged), with
 * its domain separation: leaf = SHA-256(0x00 ‖ receipt bytes 0..231),
 * node = SHA-256(0x01 ‖ left ‖ right). The signature covers
 * "cocoon/seal/v2 receipt batch\0" ‖ u32le batch size ‖ root, which no
 * single receipt's signed bytes (they begin with the magic) can equal. */
#include "crypto.h"

#include <string.h>

#define BATCH_LABEL "cocoon/seal/v2 receipt batch"
#define BATCH_MAGIC "CCRCPT02"

_Static_assert(sizeof(BATCH_LABEL) + 4 + 32 == CRYPTO_RECEIPT_BATCH_MSG_LEN, "batch message");
_Static_assert(1u << CRYPTO_RECEIPT_PATH_MAX == CRYPTO_RECEIPT_BATCH_MAX, "path bound");

static void leaf_hash(const uint8_t body[CRYPTO_RECEIPT_SIGNED_LEN], uint8_t out[32])
{
    uint8_t in[1 + CRYPTO_RECEIPT_SIGNED_LEN];
    in[0] = 0;
    memcpy(in + 1, body, CRYPTO_RECEIPT_SIGNED_LEN);
    crypto_sha256(in, sizeof(in), out);
}

static void node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32])
{
    uint8_t in[65];
    in[0] = 1;
    memcpy(in + 1, left, 32);
    memcpy(in + 33, right, 32);
    crypto_sha256(in, sizeof(in), out);
}

void crypto_receipt_batch_msg(uint32_t size, const uint8_t root[32],
                              uint8_t msg[CRYPTO_RECEIPT_BATCH_MSG_LEN])
{
    memcpy(msg, BATCH_LABEL, sizeof(BATCH_LABEL));
    cc_store_u32le(msg + sizeof(BATCH_LABEL), size);
    memcpy(msg + sizeof(BATCH_LABEL) + 4, root, 32);
}

/* Levels a leaf's path has in a tree of size leaves: one per level where
 * its node has a sibling (a lone last node has none). */
static size_t path_len(uint32_t index, uint32_t size)
{
    size_t n = 0;
    for (uint32_t i = index, len = size; len > 1; i >>= 1, len = (len + 1) / 2)
        if ((i ^ 1u) < len) n++;
    return n;
}

size_t crypto_receipt_len(const uint8_t *data, size_t avail)
{
    if (avail >= CRYPTO_RECEIPT_LEN && memcmp(data, "CCRCPT01", 8) == 0) return CRYPTO_RECEIPT_LEN;
    if (avail < CRYPTO_RECEIPT_BATCH_HEAD || memcmp(data, BATCH_MAGIC, 8) != 0) return 0;
    uint32_t index = cc_load_u32le(data + CRYPTO_RECEIPT_SIGNED_LEN);
    uint32_t size = cc_load_u32le(data + CRYPTO_RECEIPT_SIGNED_LEN + 4);
    if (size == 0 || size > CRYPTO_RECEIPT_BATCH_MAX || index >= size) return 0;
    size_t len = CRYPTO_RECEIPT_BATCH_HEAD + 32 * path_len(index, size) + 64;
    return len <= avail ? len : 0;
}

int crypto_receipt_batch_sign(crypto_receipt *rs, size_t n, crypto_ed25519_key *key,
                              uint8_t (*out)[CRYPTO_RECEIPT_MAX_LEN], size_t *out_len, cc_err *err)
{
    if (n == 0 || n > CRYPTO_RECEIPT_BATCH_MAX)
        return cc_err_set(err, "a receipt batch holds 1 to %d receipts", CRYPTO_RECEIPT_BATCH_MAX);
    /* Every level of the tree, bottom up: level 0 the leaves. */
    uint8_t level[CRYPTO_RECEIPT_PATH_MAX + 1][CRYPTO_RECEIPT_BATCH_MAX][32];
    size_t len[CRYPTO_RECEIPT_PATH_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        rs[i].batched = true;
        rs[i].batch_index = (uint32_t)i;
        rs[i].batch_size = (uint32_t)n;
        crypto_receipt_encode_unsigned(&rs[i], out[i]);
        memcpy(out[i], BATCH_MAGIC, 8);
        leaf_hash(out[i], level[0][i]);
    }
    len[0] = n;
    size_t top = 0;
    while (len[top] > 1) {
        size_t m = len[top];
        for (size_t j = 0; j < m / 2; j++)
            node_hash(level[top][2 * j], level[top][2 * j + 1], level[top + 1][j]);
        if (m % 2) memcpy(level[top + 1][m / 2], level[top][m - 1], 32);
        len[top + 1] = (m + 1) / 2;
        top++;
    }
    uint8_t msg[CRYPTO_RECEIPT_BATCH_MSG_LEN], sig[64];
    crypto_receipt_batch_msg((uint32_t)n, level[top][0], msg);
    if (crypto_ed25519_key_sign(key, msg, sizeof(msg), sig, err) < 0) return -1;
    for (size_t i = 0; i < n; i++) {
        crypto_receipt *r = &rs[i];
        uint8_t *p = out[i] + CRYPTO_RECEIPT_SIGNED_LEN;
        cc_store_u32le(p, r->batch_index);
        cc_store_u32le(p + 4, r->batch_size);
        p += 8;
        r->path_len = 0;
        size_t idx = i;
        for (size_t l = 0; l < top; l++, idx >>= 1) {
            if ((idx ^ 1u) >= len[l]) continue; /* a lone last node moves up */
            memcpy(r->path[r->path_len++], level[l][idx ^ 1u], 32);
            memcpy(p, level[l][idx ^ 1u], 32);
            p += 32;
        }
        memcpy(p, sig, 64);
        memcpy(r->signature, sig, 64);
        out_len[i] = (size_t)(p + 64 - out[i]);
    }
    return 0;
}

/* Fills the batch fields of r from data (its first 232 bytes are parsed
 * already); the path must have exactly the length its place implies. */
int crypto_receipt_batch_parse(const uint8_t *data, size_t len, crypto_receipt *r, cc_err *err)
{
    if (len < CRYPTO_RECEIPT_BATCH_HEAD + 64)
        return cc_err_set(err, "batch receipt of %zu bytes is too short", len);
    const uint8_t *p = data + CRYPTO_RECEIPT_SIGNED_LEN;
    r->batched = true;
    r->batch_index = cc_load_u32le(p);
    r->batch_size = cc_load_u32le(p + 4);
    if (r->batch_size == 0 || r->batch_size > CRYPTO_RECEIPT_BATCH_MAX ||
        r->batch_index >= r->batch_size)
        return cc_err_set(err, "batch receipt claims place %u of %u", r->batch_index,
                          r->batch_size);
    r->path_len = path_len(r->batch_index, r->batch_size);
    if (len != CRYPTO_RECEIPT_BATCH_HEAD + 32 * r->path_len + 64)
        return cc_err_set(err, "batch receipt of %zu bytes, its place needs %zu", len,
                          (size_t)CRYPTO_RECEIPT_BATCH_HEAD + 32 * r->path_len + 64);
    p += 8;
    for (size_t i = 0; i < r->path_len; i++, p += 32)
        memcpy(r->path[i], p, 32);
    memcpy(r->signature, p, 64);
    return 0;
}

int crypto_receipt_batch_root(const uint8_t *data, size_t len, const crypto_receipt *r,
                              uint8_t root[32], cc_err *err)
{
    if (!r->batched || len < CRYPTO_RECEIPT_SIGNED_LEN)
        return cc_err_set(err, "not a batch receipt");
    uint8_t h[32];
    leaf_hash(data, h);
    size_t used = 0;
    for (uint32_t i = r->batch_index, n = r->batch_size; n > 1; i >>= 1, n = (n + 1) / 2) {
        if ((i ^ 1u) >= n) continue;
        if (used == r->path_len) return cc_err_set(err, "batch receipt path is too short");
        if (i & 1u)
            node_hash(r->path[used], h, h);
        else
            node_hash(h, r->path[used], h);
        used++;
    }
    if (used != r->path_len) return cc_err_set(err, "batch receipt path is too long");
    memcpy(root, h, 32);
    return 0;
}
