/* Cells: construction, validation of exotic cells, per-level hashes and depths
 * (TON's standard cell representation, including level masks so that cells
 * below pruned branches and Merkle proofs hash the way the chain hashes them). */
#include "ton/ton_internal.h"

#include <string.h>

#include "crypto/crypto.h"

ton_cell *ton_cell_ref(ton_cell *c)
{
    if (c) c->refcount++;
    return c;
}

void ton_cell_unref(ton_cell *c)
{
    /* Iterative over the first child chain keeps long ref chains (up to the
     * depth limit) from recursing deeply in the common "linked list" shape. */
    while (c) {
        if (--c->refcount > 0) return;
        ton_cell *next = NULL;
        for (unsigned i = 0; i < c->n_refs; i++) {
            if (i == 0)
                next = c->refs[0];
            else
                ton_cell_unref(c->refs[i]);
        }
        free(c);
        c = next;
    }
}

const uint8_t *ton_cell_hash(const ton_cell *c)
{
    return c->hashes[3];
}
unsigned ton_cell_depth(const ton_cell *c)
{
    return c->depths[3];
}

bool ton_cell_equal(const ton_cell *a, const ton_cell *b)
{
    return memcmp(a->hashes[3], b->hashes[3], 32) == 0;
}

static unsigned popcount8(unsigned v)
{
    return (unsigned)__builtin_popcount(v & 7u);
}

static unsigned mask_level(unsigned mask)
{
    mask &= 7u;
    return mask & 4u ? 3 : mask & 2u ? 2 : mask & 1u ? 1 : 0;
}

static unsigned mask_apply(unsigned mask, unsigned level)
{
    return mask & ((1u << level) - 1u);
}

static bool mask_significant(unsigned mask, unsigned level)
{
    return level == 0 || ((mask >> (level - 1)) & 1u);
}

static unsigned child_level(const ton_cell *c, unsigned level)
{
    bool merkle = c->type == TON_CELL_MERKLE_PROOF || c->type == TON_CELL_MERKLE_UPDATE;
    unsigned l = merkle ? level + 1 : level;
    return l > 3 ? 3 : l;
}

/* d1 d2 data depths hashes with `data` being either the cell's own bits or the
 * previous level's hash (TON hashes higher levels over the lower hash). */
static size_t build_repr(const ton_cell *c, unsigned level, const uint8_t *data, unsigned data_bits,
                         uint8_t *out)
{
    size_t n = 0;
    out[n++] = (uint8_t)(c->n_refs + (c->type != TON_CELL_ORDINARY ? 8 : 0) +
                         32 * mask_apply(c->level_mask, level));
    out[n++] = (uint8_t)((c->bit_len + 7) / 8 + c->bit_len / 8);
    size_t data_bytes = (data_bits + 7) / 8;
    memcpy(out + n, data, data_bytes);
    if (data_bits % 8) {
        /* completion tag: a 1 bit right after the data, then zeros */
        unsigned used = data_bits % 8;
        out[n + data_bytes - 1] &= (uint8_t)(0xff << (8 - used));
        out[n + data_bytes - 1] |= (uint8_t)(0x80 >> used);
    }
    n += data_bytes;
    unsigned cl = child_level(c, level);
    for (unsigned i = 0; i < c->n_refs; i++) {
        out[n++] = (uint8_t)(c->refs[i]->depths[cl] >> 8);
        out[n++] = (uint8_t)c->refs[i]->depths[cl];
    }
    for (unsigned i = 0; i < c->n_refs; i++) {
        memcpy(out + n, c->refs[i]->hashes[cl], 32);
        n += 32;
    }
    return n;
}

void ton_cell_repr(const ton_cell *c, cc_buf *out)
{
    uint8_t tmp[2 + 128 + 4 * 34];
    size_t n = build_repr(c, 0, c->data, c->bit_len, tmp);
    cc_buf_append(out, tmp, n);
}

/* A Merkle proof/update stores the level-0 hash and depth of each child it
 * covers; a cell whose stored values disagree with its children is forged. */
static int check_merkle_ref(const ton_cell *c, unsigned ref, size_t hash_off, size_t depth_off,
                            cc_err *err)
{
    const ton_cell *child = c->refs[ref];
    unsigned depth = (unsigned)(c->data[depth_off] << 8 | c->data[depth_off + 1]);
    if (memcmp(c->data + hash_off, child->hashes[0], 32) != 0 || depth != child->depths[0])
        return cc_err_set(err, "Merkle cell: stored hash/depth of ref %u do not match it", ref);
    return 0;
}

static int check_exotic(ton_cell *c, cc_err *err)
{
    if (c->bit_len < 8) return cc_err_set(err, "exotic cell shorter than its type byte");
    unsigned type = c->data[0];
    switch (type) {
    case TON_CELL_PRUNED: {
        if (c->n_refs != 0 || c->bit_len < 16)
            return cc_err_set(err, "malformed pruned branch cell");
        unsigned mask = c->data[1];
        if (mask == 0 || mask > 7)
            return cc_err_set(err, "pruned branch cell has bad level mask %u", mask);
        unsigned n = popcount8(mask);
        if (c->bit_len != 16 + n * (256 + 16))
            return cc_err_set(err, "pruned branch cell has %u bits, expected %u", c->bit_len,
                              16 + n * (256 + 16));
        c->level_mask = (uint8_t)mask;
        break;
    }
    case TON_CELL_LIBRARY:
        if (c->n_refs != 0 || c->bit_len != 8 + 256)
            return cc_err_set(err, "malformed library cell");
        c->level_mask = 0;
        break;
    case TON_CELL_MERKLE_PROOF:
        if (c->n_refs != 1 || c->bit_len != 8 + 256 + 16)
            return cc_err_set(err, "malformed Merkle proof cell");
        if (check_merkle_ref(c, 0, 1, 33, err) < 0) return -1;
        c->level_mask = (uint8_t)(c->refs[0]->level_mask >> 1);
        break;
    case TON_CELL_MERKLE_UPDATE:
        if (c->n_refs != 2 || c->bit_len != 8 + 2 * (256 + 16))
            return cc_err_set(err, "malformed Merkle update cell");
        if (check_merkle_ref(c, 0, 1, 65, err) < 0 || check_merkle_ref(c, 1, 33, 67, err) < 0)
            return -1;
        c->level_mask = (uint8_t)((c->refs[0]->level_mask | c->refs[1]->level_mask) >> 1);
        break;
    default:
        return cc_err_set(err, "unknown exotic cell type %u", type);
    }
    c->type = (uint8_t)type;
    return 0;
}

static int compute_hashes(ton_cell *c, cc_err *err)
{
    unsigned mask = c->level_mask;
    unsigned total = popcount8(mask) + 1;
    unsigned count = c->type == TON_CELL_PRUNED ? 1 : total;
    unsigned offset = total - count;
    uint8_t hashes[4][32];
    uint16_t depths[4];
    uint8_t repr[2 + 128 + 4 * 34];
    unsigned hi = 0;
    for (unsigned level = 0; level <= mask_level(mask); level++) {
        if (!mask_significant(mask, level)) continue;
        if (hi < offset) {
            hi++;
            continue;
        }
        unsigned dst = hi - offset;
        size_t n = dst == 0 ? build_repr(c, level, c->data, c->bit_len, repr)
                            : build_repr(c, level, hashes[dst - 1], 256, repr);
        unsigned depth = 0;
        unsigned cl = child_level(c, level);
        for (unsigned i = 0; i < c->n_refs; i++)
            if (c->refs[i]->depths[cl] + 1u > depth) depth = c->refs[i]->depths[cl] + 1u;
        if (depth > TON_CELL_MAX_DEPTH)
            return cc_err_set(err, "cell depth exceeds %d", TON_CELL_MAX_DEPTH);
        depths[dst] = (uint16_t)depth;
        crypto_sha256(repr, n, hashes[dst]);
        hi++;
    }
    for (unsigned i = 0; i < 4; i++) {
        unsigned idx = popcount8(mask_apply(mask, i));
        if (c->type == TON_CELL_PRUNED && idx != popcount8(mask)) {
            /* lower levels of a pruned branch are stored in its data */
            const uint8_t *p = c->data + 2;
            memcpy(c->hashes[i], p + 32 * idx, 32);
            const uint8_t *d = p + 32 * popcount8(mask) + 2 * idx;
            c->depths[i] = (uint16_t)(d[0] << 8 | d[1]);
        } else {
            unsigned src = c->type == TON_CELL_PRUNED ? 0 : idx;
            memcpy(c->hashes[i], hashes[src], 32);
            c->depths[i] = depths[src];
        }
    }
    return 0;
}

ton_cell *ton_cell_create(bool exotic, const uint8_t *data, unsigned bit_len, ton_cell *const *refs,
                          unsigned n_refs, cc_err *err)
{
    if (bit_len > TON_CELL_MAX_BITS || n_refs > TON_CELL_MAX_REFS) {
        cc_err_set(err, "cell too big (%u bits, %u refs)", bit_len, n_refs);
        return NULL;
    }
    ton_cell *c = cc_calloc(1, sizeof *c);
    c->refcount = 1;
    c->bit_len = (uint16_t)bit_len;
    c->n_refs = (uint8_t)n_refs;
    memcpy(c->data, data, (bit_len + 7) / 8);
    if (bit_len % 8) c->data[bit_len / 8] &= (uint8_t)(0xff << (8 - bit_len % 8));
    for (unsigned i = 0; i < n_refs; i++)
        c->refs[i] = ton_cell_ref(refs[i]);
    if (exotic) {
        if (check_exotic(c, err) < 0) goto fail;
    } else {
        c->type = TON_CELL_ORDINARY;
        for (unsigned i = 0; i < n_refs; i++)
            c->level_mask |= refs[i]->level_mask;
    }
    if (compute_hashes(c, err) < 0) goto fail;
    return c;
fail:
    ton_cell_unref(c);
    return NULL;
}
