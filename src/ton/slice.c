/* ton_slice: reads bits and refs of a cell with bounds checks on every load
 * (cells come from the chain and from peers). */
#include "ton/ton_internal.h"

#include <string.h>

void ton_slice_init(ton_slice *s, const ton_cell *c)
{
    s->cell = c;
    s->pos = 0;
    s->end = c->bit_len;
    s->ref_pos = 0;
}

unsigned ton_slice_bits_left(const ton_slice *s)
{
    return s->end - s->pos;
}
unsigned ton_slice_refs_left(const ton_slice *s)
{
    return s->cell->n_refs - s->ref_pos;
}

static int need(const ton_slice *s, unsigned bits, cc_err *err)
{
    if (bits > s->end - s->pos)
        return cc_err_set(err, "cell underflow: need %u bits, %u left", bits, s->end - s->pos);
    return 0;
}

static bool get_bit(const ton_slice *s, unsigned at)
{
    return (s->cell->data[at / 8] >> (7 - at % 8)) & 1;
}

int ton_slice_skip(ton_slice *s, unsigned bits, cc_err *err)
{
    if (need(s, bits, err) < 0) return -1;
    s->pos += bits;
    return 0;
}

int ton_slice_load_bit(ton_slice *s, bool *out, cc_err *err)
{
    if (need(s, 1, err) < 0) return -1;
    *out = get_bit(s, s->pos++);
    return 0;
}

int ton_slice_load_uint(ton_slice *s, unsigned bits, uint64_t *out, cc_err *err)
{
    if (bits > 64) return cc_err_set(err, "cannot load a %u-bit integer into 64 bits", bits);
    if (need(s, bits, err) < 0) return -1;
    uint64_t v = 0;
    for (unsigned i = 0; i < bits; i++)
        v = v << 1 | get_bit(s, s->pos++);
    *out = v;
    return 0;
}

int ton_slice_load_int(ton_slice *s, unsigned bits, int64_t *out, cc_err *err)
{
    if (bits == 0 || bits > 64) return cc_err_set(err, "cannot load a %u-bit signed integer", bits);
    uint64_t u;
    if (ton_slice_load_uint(s, bits, &u, err) < 0) return -1;
    if (bits < 64 && (u >> (bits - 1)) & 1) u |= ~(uint64_t)0 << bits; /* sign-extend */
    *out = (int64_t)u;
    return 0;
}

int ton_slice_load_uint_be(ton_slice *s, unsigned bits, uint8_t *out, size_t n, cc_err *err)
{
    if (need(s, bits, err) < 0) return -1;
    unsigned start = s->pos;
    /* leading bits beyond the output width must be zero */
    for (unsigned k = bits; k-- > 0;) {
        if (k >= n * 8 && get_bit(s, start + (bits - 1 - k)))
            return cc_err_set(err, "integer of %u bits does not fit %zu bytes", bits, n);
    }
    memset(out, 0, n);
    for (unsigned k = 0; k < bits && k < n * 8; k++) {
        /* bit k from the least significant end */
        if (get_bit(s, start + bits - 1 - k)) out[n - 1 - k / 8] |= (uint8_t)(1u << (k % 8));
    }
    s->pos += bits;
    return 0;
}

int ton_slice_load_bits(ton_slice *s, unsigned bits, uint8_t *out, cc_err *err)
{
    if (need(s, bits, err) < 0) return -1;
    memset(out, 0, (bits + 7) / 8);
    for (unsigned i = 0; i < bits; i++)
        if (get_bit(s, s->pos + i)) out[i / 8] |= (uint8_t)(0x80 >> (i % 8));
    s->pos += bits;
    return 0;
}

int ton_slice_load_coins(ton_slice *s, uint64_t *out, cc_err *err)
{
    uint64_t len;
    if (ton_slice_load_uint(s, 4, &len, err) < 0) return -1;
    if (len > 8) {
        /* values up to 2^120 are legal TL-B but do not fit our uint64 */
        uint8_t big[16];
        if (ton_slice_load_uint_be(s, (unsigned)len * 8, big, sizeof big, err) < 0) return -1;
        for (size_t i = 0; i < 8; i++)
            if (big[i]) return cc_err_set(err, "coin amount exceeds 2^64-1 nanoton");
        uint64_t v = 0;
        for (size_t i = 8; i < 16; i++)
            v = v << 8 | big[i];
        *out = v;
        return 0;
    }
    return ton_slice_load_uint(s, (unsigned)len * 8, out, err);
}

int ton_slice_load_ref(ton_slice *s, const ton_cell **out, cc_err *err)
{
    if (s->ref_pos >= s->cell->n_refs) return cc_err_set(err, "cell underflow: no more references");
    *out = s->cell->refs[s->ref_pos++];
    return 0;
}

int ton_slice_load_maybe_ref(ton_slice *s, const ton_cell **out_or_null, cc_err *err)
{
    bool has;
    if (ton_slice_load_bit(s, &has, err) < 0) return -1;
    if (!has) {
        *out_or_null = NULL;
        return 0;
    }
    return ton_slice_load_ref(s, out_or_null, err);
}

int ton_slice_expect_end(const ton_slice *s, cc_err *err)
{
    if (s->pos != s->end || s->ref_pos != s->cell->n_refs)
        return cc_err_set(err, "unexpected trailing data in cell (%u bits, %u refs left)",
                          s->end - s->pos, s->cell->n_refs - s->ref_pos);
    return 0;
}

int ton_builder_store_slice(ton_builder *b, const ton_slice *s)
{
    unsigned n = s->end - s->pos;
    uint8_t tmp[128];
    ton_slice copy = *s;
    if (ton_slice_load_bits(&copy, n, tmp, NULL) < 0) return -1;
    if (ton_builder_store_bits(b, tmp, n) < 0) return -1;
    for (unsigned i = s->ref_pos; i < s->cell->n_refs; i++)
        if (ton_builder_store_ref(b, s->cell->refs[i]) < 0) return -1;
    return 0;
}

ton_cell *ton_slice_to_cell(const ton_slice *s, cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_slice(&b, s);
    return ton_builder_end(&b, err);
}
