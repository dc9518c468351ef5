/* HashmapE (TL-B `Hashmap n X`): edges with labels in the shortest of the
 * three encodings (short/long/same, ties resolved as @ton/core resolves them),
 * forks with two refs, values inline in the leaves. */
#include "ton/ton_internal.h"

#include <string.h>

void ton_dict_init(ton_dict *d, unsigned key_bits)
{
    memset(d, 0, sizeof *d);
    d->key_bits = key_bits;
}

void ton_dict_free(ton_dict *d)
{
    for (size_t i = 0; i < d->n; i++)
        ton_cell_unref(d->items[i].value);
    free(d->items);
    ton_dict_init(d, d->key_bits);
}

static size_t key_bytes(const ton_dict *d)
{
    return (d->key_bits + 7) / 8;
}

static void normalize_key(unsigned bits, const uint8_t *key, uint8_t out[32])
{
    memset(out, 0, 32);
    memcpy(out, key, (bits + 7) / 8);
    if (bits % 8) out[bits / 8] &= (uint8_t)(0xff << (8 - bits % 8));
}

void ton_dict_key_uint(unsigned key_bits, uint64_t v, uint8_t key[32])
{
    memset(key, 0, 32);
    for (unsigned i = 0; i < key_bits && i < 64; i++)
        if ((v >> i) & 1) {
            unsigned pos = key_bits - 1 - i; /* bit position from the MSB */
            key[pos / 8] |= (uint8_t)(0x80 >> (pos % 8));
        }
}

static ton_dict_entry *find(const ton_dict *d, const uint8_t *key)
{
    uint8_t k[32];
    normalize_key(d->key_bits, key, k);
    for (size_t i = 0; i < d->n; i++)
        if (!memcmp(d->items[i].key, k, key_bytes(d))) return &d->items[i];
    return NULL;
}

int ton_dict_set(ton_dict *d, const uint8_t *key, ton_cell *value, cc_err *err)
{
    if (d->key_bits == 0 || d->key_bits > 256)
        return cc_err_set(err, "dictionary key width %u is not 1..256", d->key_bits);
    ton_dict_entry *e = find(d, key);
    if (e) {
        ton_cell_unref(e->value);
        e->value = ton_cell_ref(value);
        return 0;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->items = cc_realloc(d->items, d->cap * sizeof *d->items);
    }
    e = &d->items[d->n++];
    normalize_key(d->key_bits, key, e->key);
    e->value = ton_cell_ref(value);
    return 0;
}

bool ton_dict_del(ton_dict *d, const uint8_t *key)
{
    ton_dict_entry *e = find(d, key);
    if (!e) return false;
    ton_cell_unref(e->value);
    *e = d->items[--d->n];
    return true;
}

ton_cell *ton_dict_get(const ton_dict *d, const uint8_t *key)
{
    ton_dict_entry *e = find(d, key);
    return e ? e->value : NULL;
}

/* ------------------------------------------------------------- writing */

static bool bit_at(const uint8_t *key, unsigned i)
{
    return (key[i / 8] >> (7 - i % 8)) & 1;
}

static unsigned len_bits(unsigned max_len)
{
    unsigned n = 0; /* ceil(log2(max_len + 1)) */
    while ((1u << n) < max_len + 1)
        n++;
    return n;
}

static void store_label(ton_builder *b, const uint8_t *key, unsigned from, unsigned len,
                        unsigned max_len)
{
    unsigned lb = len_bits(max_len);
    unsigned short_len = 2 + 2 * len, long_len = 2 + lb + len, same_len = 3 + lb;
    bool same = true;
    for (unsigned i = 1; i < len; i++)
        if (bit_at(key, from + i) != bit_at(key, from)) same = false;
    int kind = 0; /* 0 short, 1 long, 2 same */
    unsigned best = short_len;
    if (long_len < best) {
        best = long_len;
        kind = 1;
    }
    if (same && len > 0 && same_len < best) kind = 2;
    if (kind == 0) {
        ton_builder_store_bit(b, false);
        for (unsigned i = 0; i < len; i++)
            ton_builder_store_bit(b, true);
        ton_builder_store_bit(b, false);
        for (unsigned i = 0; i < len; i++)
            ton_builder_store_bit(b, bit_at(key, from + i));
    } else if (kind == 1) {
        ton_builder_store_uint(b, 2, 2);
        ton_builder_store_uint(b, len, lb);
        for (unsigned i = 0; i < len; i++)
            ton_builder_store_bit(b, bit_at(key, from + i));
    } else {
        ton_builder_store_uint(b, 3, 2);
        ton_builder_store_bit(b, bit_at(key, from));
        ton_builder_store_uint(b, len, lb);
    }
}

static int cmp_entries(const void *a, const void *b)
{
    return memcmp(((const ton_dict_entry *)a)->key, ((const ton_dict_entry *)b)->key, 32);
}

/* Entries [lo,hi) share their first `pos` key bits and are sorted. */
static ton_cell *build_edge(const ton_dict_entry *e, size_t lo, size_t hi, unsigned pos,
                            unsigned key_bits, cc_err *err)
{
    unsigned rest = key_bits - pos;
    unsigned common = rest;
    if (hi - lo > 1) { /* common prefix of a sorted range = that of its ends */
        common = 0;
        while (common < rest &&
               bit_at(e[lo].key, pos + common) == bit_at(e[hi - 1].key, pos + common))
            common++;
    }
    ton_builder b;
    ton_builder_init(&b);
    store_label(&b, e[lo].key, pos, common, rest);
    if (common == rest) {
        ton_builder_store_cell_inline(&b, e[lo].value);
        return ton_builder_end(&b, err);
    }
    unsigned split_bit = pos + common;
    size_t mid = lo;
    while (mid < hi && !bit_at(e[mid].key, split_bit))
        mid++;
    ton_cell *left = build_edge(e, lo, mid, split_bit + 1, key_bits, err);
    ton_cell *right = left ? build_edge(e, mid, hi, split_bit + 1, key_bits, err) : NULL;
    if (!right) {
        ton_cell_unref(left);
        ton_builder_clear(&b);
        return NULL;
    }
    ton_builder_store_ref(&b, left);
    ton_builder_store_ref(&b, right);
    ton_cell_unref(left);
    ton_cell_unref(right);
    return ton_builder_end(&b, err);
}

int ton_dict_serialize(const ton_dict *d, ton_cell **root, cc_err *err)
{
    *root = NULL;
    if (d->n == 0) return 0;
    ton_dict_entry *sorted = cc_malloc(d->n * sizeof *sorted);
    memcpy(sorted, d->items, d->n * sizeof *sorted);
    qsort(sorted, d->n, sizeof *sorted, cmp_entries);
    *root = build_edge(sorted, 0, d->n, 0, d->key_bits, err);
    free(sorted);
    return *root ? 0 : -1;
}

int ton_builder_store_dict(ton_builder *b, const ton_dict *d, cc_err *err)
{
    ton_cell *root;
    if (ton_dict_serialize(d, &root, err) < 0) return -1;
    ton_builder_store_maybe_ref(b, root);
    ton_cell_unref(root);
    return 0;
}

/* ------------------------------------------------------------- reading */

static int load_label(ton_slice *s, unsigned max_len, uint8_t *key, unsigned pos, unsigned *len,
                      cc_err *err)
{
    bool b0, b1;
    if (ton_slice_load_bit(s, &b0, err) < 0) return -1;
    uint64_t n = 0;
    if (!b0) { /* short: unary length, then the bits */
        for (;;) {
            bool one;
            if (ton_slice_load_bit(s, &one, err) < 0) return -1;
            if (!one) break;
            if (++n > max_len) return cc_err_set(err, "dictionary label longer than the key");
        }
    } else {
        if (ton_slice_load_bit(s, &b1, err) < 0) return -1;
        bool same_bit = false;
        if (b1 && ton_slice_load_bit(s, &same_bit, err) < 0) return -1;
        if (ton_slice_load_uint(s, len_bits(max_len), &n, err) < 0) return -1;
        if (n > max_len) return cc_err_set(err, "dictionary label longer than the key");
        if (b1) {
            for (unsigned i = 0; i < n; i++)
                if (same_bit) key[(pos + i) / 8] |= (uint8_t)(0x80 >> ((pos + i) % 8));
            *len = (unsigned)n;
            return 0;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        bool bit;
        if (ton_slice_load_bit(s, &bit, err) < 0) return -1;
        if (bit) key[(pos + i) / 8] |= (uint8_t)(0x80 >> ((pos + i) % 8));
    }
    *len = (unsigned)n;
    return 0;
}

static void clear_bits_from(uint8_t key[32], unsigned pos)
{
    for (unsigned i = pos; i < 256; i++)
        key[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
}

static int parse_edge(ton_dict *d, const ton_cell *c, uint8_t key[32], unsigned pos, cc_err *err)
{
    ton_slice s;
    ton_slice_init(&s, c);
    unsigned rest = d->key_bits - pos, len;
    clear_bits_from(key, pos);
    if (load_label(&s, rest, key, pos, &len, err) < 0) return -1;
    if (len == rest) {
        if (d->n >= TON_DICT_MAX_ENTRIES)
            return cc_err_set(err, "dictionary has more than %u entries", TON_DICT_MAX_ENTRIES);
        ton_cell *value = ton_slice_to_cell(&s, err);
        if (!value) return -1;
        if (d->n == d->cap) {
            d->cap = d->cap ? d->cap * 2 : 8;
            d->items = cc_realloc(d->items, d->cap * sizeof *d->items);
        }
        memcpy(d->items[d->n].key, key, 32);
        d->items[d->n++].value = value;
        return 0;
    }
    const ton_cell *left, *right;
    if (ton_slice_load_ref(&s, &left, err) < 0 || ton_slice_load_ref(&s, &right, err) < 0)
        return cc_err_prefix(err, "dictionary fork");
    unsigned split = pos + len;
    if (parse_edge(d, left, key, split + 1, err) < 0) return -1;
    clear_bits_from(key, split);
    key[split / 8] |= (uint8_t)(0x80 >> (split % 8));
    return parse_edge(d, right, key, split + 1, err);
}

int ton_dict_parse(ton_dict *d, const ton_cell *root, unsigned key_bits, cc_err *err)
{
    ton_dict_init(d, key_bits);
    if (key_bits == 0 || key_bits > 256)
        return cc_err_set(err, "dictionary key width %u is not 1..256", key_bits);
    if (!root) return 0;
    uint8_t key[32] = {0};
    if (parse_edge(d, root, key, 0, err) < 0) {
        ton_dict_free(d);
        return -1;
    }
    return 0;
}

int ton_slice_load_dict(ton_slice *s, unsigned key_bits, ton_dict *out, cc_err *err)
{
    const ton_cell *root;
    ton_dict_init(out, key_bits);
    if (ton_slice_load_maybe_ref(s, &root, err) < 0) return -1;
    return ton_dict_parse(out, root, key_bits, err);
}
