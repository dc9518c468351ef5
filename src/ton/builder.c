/* ton_builder: appends bits and refs to a cell under construction. The first
 * error is kept in the builder and reported by ton_builder_end(). */
#include "ton/ton_internal.h"

#include <stdio.h>
#include <string.h>

void ton_builder_init(ton_builder *b)
{
    memset(b, 0, sizeof *b);
}

void ton_builder_clear(ton_builder *b)
{
    for (unsigned i = 0; i < b->n_refs; i++)
        ton_cell_unref(b->refs[i]);
    ton_builder_init(b);
}

static int fail(ton_builder *b, const char *msg)
{
    if (!b->error[0]) snprintf(b->error, sizeof b->error, "%s", msg);
    return -1;
}

ton_cell *ton_builder_end(ton_builder *b, cc_err *err)
{
    if (b->error[0]) {
        cc_err_set(err, "cell builder: %s", b->error);
        ton_builder_clear(b);
        return NULL;
    }
    ton_cell *c = ton_cell_create(false, b->data, b->bits, b->refs, b->n_refs, err);
    ton_builder_clear(b); /* the cell took its own references */
    return c;
}

unsigned ton_builder_bits_left(const ton_builder *b)
{
    return TON_CELL_MAX_BITS - b->bits;
}
unsigned ton_builder_refs_left(const ton_builder *b)
{
    return TON_CELL_MAX_REFS - b->n_refs;
}

static void put_bit(ton_builder *b, bool bit)
{
    if (bit) b->data[b->bits / 8] |= (uint8_t)(0x80 >> (b->bits % 8));
    b->bits++;
}

int ton_builder_store_bit(ton_builder *b, bool bit)
{
    if (b->bits + 1 > TON_CELL_MAX_BITS) return fail(b, "cell overflow (more than 1023 bits)");
    put_bit(b, bit);
    return 0;
}

int ton_builder_store_bits(ton_builder *b, const uint8_t *src, unsigned bits)
{
    if (b->bits + bits > TON_CELL_MAX_BITS) return fail(b, "cell overflow (more than 1023 bits)");
    if (b->bits % 8 == 0) {
        memcpy(b->data + b->bits / 8, src, bits / 8);
        b->bits += bits / 8 * 8;
        for (unsigned i = bits / 8 * 8; i < bits; i++)
            put_bit(b, (src[i / 8] >> (7 - i % 8)) & 1);
        return 0;
    }
    for (unsigned i = 0; i < bits; i++)
        put_bit(b, (src[i / 8] >> (7 - i % 8)) & 1);
    return 0;
}

int ton_builder_store_bytes(ton_builder *b, const void *src, size_t n)
{
    if (n > 128) return fail(b, "cell overflow (more than 1023 bits)");
    return ton_builder_store_bits(b, src, (unsigned)n * 8);
}

int ton_builder_store_uint(ton_builder *b, uint64_t v, unsigned bits)
{
    if (bits > 64) return fail(b, "uint wider than 64 bits");
    if (bits < 64 && (v >> bits) != 0) return fail(b, "unsigned value does not fit its width");
    if (b->bits + bits > TON_CELL_MAX_BITS) return fail(b, "cell overflow (more than 1023 bits)");
    for (unsigned i = bits; i-- > 0;)
        put_bit(b, (v >> i) & 1);
    return 0;
}

int ton_builder_store_int(ton_builder *b, int64_t v, unsigned bits)
{
    if (bits == 0 || bits > 64) return fail(b, "int width must be 1..64 bits");
    if (bits < 64) {
        int64_t lo = -((int64_t)1 << (bits - 1)), hi = ((int64_t)1 << (bits - 1)) - 1;
        if (v < lo || v > hi) return fail(b, "signed value does not fit its width");
    }
    uint64_t u = (uint64_t)v;
    if (bits < 64) u &= ((uint64_t)1 << bits) - 1;
    return ton_builder_store_uint(b, u, bits);
}

int ton_builder_store_uint_be(ton_builder *b, const uint8_t *be, size_t n, unsigned bits)
{
    /* the value must fit: every bit above `bits` must be zero */
    for (size_t i = 0; i < n * 8; i++) {
        size_t from_low = n * 8 - 1 - i;
        if (from_low >= bits && ((be[i / 8] >> (7 - i % 8)) & 1))
            return fail(b, "unsigned value does not fit its width");
    }
    if (b->bits + bits > TON_CELL_MAX_BITS) return fail(b, "cell overflow (more than 1023 bits)");
    for (unsigned k = bits; k-- > 0;) {
        /* bit k counted from the least significant end */
        bool bit = false;
        if (k < n * 8) {
            size_t i = n * 8 - 1 - k;
            bit = (be[i / 8] >> (7 - i % 8)) & 1;
        }
        put_bit(b, bit);
    }
    return 0;
}

int ton_builder_store_coins(ton_builder *b, uint64_t nano)
{
    unsigned len = 0;
    for (uint64_t v = nano; v; v >>= 8)
        len++;
    if (ton_builder_store_uint(b, len, 4) < 0) return -1;
    return ton_builder_store_uint(b, nano, len * 8);
}

int ton_builder_store_ref(ton_builder *b, ton_cell *ref)
{
    if (!ref) return fail(b, "NULL reference");
    if (b->n_refs >= TON_CELL_MAX_REFS) return fail(b, "cell overflow (more than 4 references)");
    b->refs[b->n_refs++] = ton_cell_ref(ref);
    return 0;
}

int ton_builder_store_maybe_ref(ton_builder *b, ton_cell *ref_or_null)
{
    if (!ref_or_null) return ton_builder_store_bit(b, false);
    if (b->n_refs >= TON_CELL_MAX_REFS) return fail(b, "cell overflow (more than 4 references)");
    if (ton_builder_store_bit(b, true) < 0) return -1;
    return ton_builder_store_ref(b, ref_or_null);
}

int ton_builder_store_cell_inline(ton_builder *b, const ton_cell *c)
{
    if (b->n_refs + c->n_refs > TON_CELL_MAX_REFS)
        return fail(b, "cell overflow (more than 4 references)");
    if (ton_builder_store_bits(b, c->data, c->bit_len) < 0) return -1;
    for (unsigned i = 0; i < c->n_refs; i++)
        ton_builder_store_ref(b, c->refs[i]);
    return 0;
}
