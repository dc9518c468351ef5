/* Messages: StateInit, internal (relaxed) and external inbound messages with
 * @ton/core's rule for putting init and body inline or in a reference, text
 * comments and the normalized external message hash. */
#include "ton/ton_internal.h"

#include <string.h>

ton_cell *ton_state_init(ton_cell *code, ton_cell *data, cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_bit(&b, false); /* split_depth */
    ton_builder_store_bit(&b, false); /* special */
    ton_builder_store_maybe_ref(&b, code);
    ton_builder_store_maybe_ref(&b, data);
    ton_builder_store_bit(&b, false); /* libraries */
    return ton_builder_end(&b, err);
}

void ton_state_init_address(const ton_cell *state_init, int8_t wc, ton_addr *out)
{
    memset(out, 0, sizeof *out);
    out->wc = wc;
    memcpy(out->hash, ton_cell_hash(state_init), 32);
}

/* init:(Maybe (Either StateInit ^StateInit)) body:(Either X ^X), inline when
 * it fits exactly as @ton/core decides (so our BoCs and hashes match its). */
static void store_init_and_body(ton_builder *b, ton_cell *init, ton_cell *body)
{
    if (init) {
        ton_builder_store_bit(b, true);
        int room = (int)ton_builder_bits_left(b) - 2;
        int need = init->bit_len + (body ? body->bit_len : 0);
        if (room < need) {
            ton_builder_store_bit(b, true);
            ton_builder_store_ref(b, init);
        } else {
            ton_builder_store_bit(b, false);
            ton_builder_store_cell_inline(b, init);
        }
    } else {
        ton_builder_store_bit(b, false);
    }
    unsigned body_bits = body ? body->bit_len : 0, body_refs = body ? body->n_refs : 0;
    if ((int)ton_builder_bits_left(b) - 1 < (int)body_bits || b->n_refs + body_refs > 4) {
        ton_builder_store_bit(b, true);
        ton_builder_store_ref(b, body);
    } else {
        ton_builder_store_bit(b, false);
        if (body) ton_builder_store_cell_inline(b, body);
    }
}

ton_cell *ton_msg_internal(const ton_int_msg *m, cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_bit(&b, false); /* int_msg_info$0 */
    ton_builder_store_bit(&b, true);  /* ihr_disabled */
    ton_builder_store_bit(&b, m->bounce);
    ton_builder_store_bit(&b, false); /* bounced */
    ton_builder_store_uint(&b, 0, 2); /* src: addr_none (filled in by the chain) */
    ton_builder_store_addr(&b, &m->dest);
    ton_builder_store_coins(&b, m->value);
    ton_builder_store_bit(&b, false);  /* no extra currencies */
    ton_builder_store_coins(&b, 0);    /* ihr_fee */
    ton_builder_store_coins(&b, 0);    /* fwd_fee */
    ton_builder_store_uint(&b, 0, 64); /* created_lt */
    ton_builder_store_uint(&b, 0, 32); /* created_at */
    store_init_and_body(&b, m->init, m->body);
    return ton_builder_end(&b, err);
}

ton_cell *ton_msg_external(const ton_addr *dest, ton_cell *init, ton_cell *body, cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 2, 2); /* ext_in_msg_info$10 */
    ton_builder_store_uint(&b, 0, 2); /* src: addr_none */
    ton_builder_store_addr(&b, dest);
    ton_builder_store_coins(&b, 0); /* import_fee */
    store_init_and_body(&b, init, body);
    return ton_builder_end(&b, err);
}

static int skip_state_init(ton_slice *s, cc_err *err)
{
    bool has;
    const ton_cell *r;
    if (ton_slice_load_bit(s, &has, err) < 0 || (has && ton_slice_skip(s, 5, err) < 0)) return -1;
    if (ton_slice_load_bit(s, &has, err) < 0 || (has && ton_slice_skip(s, 2, err) < 0)) return -1;
    for (int i = 0; i < 3; i++) /* code, data, libraries */
        if (ton_slice_load_maybe_ref(s, &r, err) < 0) return -1;
    return 0;
}

int ton_msg_external_normalized_hash(const ton_cell *ext, uint8_t out[32], cc_err *err)
{
    ton_slice s;
    ton_slice_init(&s, ext);
    uint64_t tag, src_tag, fee;
    ton_addr dest;
    if (ton_slice_load_uint(&s, 2, &tag, err) < 0) return -1;
    if (tag != 2) return cc_err_set(err, "not an external inbound message");
    if (ton_slice_load_uint(&s, 2, &src_tag, err) < 0) return -1;
    if (src_tag == 1) { /* addr_extern: len:(## 9) bits */
        uint64_t len;
        if (ton_slice_load_uint(&s, 9, &len, err) < 0 || ton_slice_skip(&s, (unsigned)len, err) < 0)
            return -1;
    } else if (src_tag != 0) {
        return cc_err_set(err, "bad external message source");
    }
    if (ton_slice_load_addr(&s, &dest, err) < 0 || ton_slice_load_coins(&s, &fee, err) < 0)
        return -1;
    bool has_init, either;
    if (ton_slice_load_bit(&s, &has_init, err) < 0) return -1;
    if (has_init) {
        const ton_cell *r;
        if (ton_slice_load_bit(&s, &either, err) < 0) return -1;
        if (either ? ton_slice_load_ref(&s, &r, err) < 0 : skip_state_init(&s, err) < 0) return -1;
    }
    if (ton_slice_load_bit(&s, &either, err) < 0) return -1;
    ton_cell *body;
    if (either) {
        const ton_cell *r;
        if (ton_slice_load_ref(&s, &r, err) < 0) return -1;
        body = ton_cell_ref((ton_cell *)r);
    } else {
        body = ton_slice_to_cell(&s, err);
        if (!body) return -1;
    }
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 2, 2);
    ton_builder_store_uint(&b, 0, 2);
    ton_builder_store_addr(&b, &dest);
    ton_builder_store_coins(&b, 0);
    ton_builder_store_bit(&b, false); /* no init */
    ton_builder_store_bit(&b, true);  /* body by reference */
    ton_builder_store_ref(&b, body);
    ton_cell_unref(body);
    ton_cell *norm = ton_builder_end(&b, err);
    if (!norm) return -1;
    memcpy(out, ton_cell_hash(norm), 32);
    ton_cell_unref(norm);
    return 0;
}

/* Bytes as a snake: as many as fit here, the rest in a chain of refs. */
static ton_cell *snake_tail(ton_builder *b, const uint8_t *p, size_t n, cc_err *err)
{
    size_t fit = ton_builder_bits_left(b) / 8;
    size_t here = n < fit ? n : fit;
    ton_builder_store_bytes(b, p, here);
    if (here < n) {
        ton_builder nb;
        ton_builder_init(&nb);
        ton_cell *rest = snake_tail(&nb, p + here, n - here, err);
        if (!rest) {
            ton_builder_clear(b);
            return NULL;
        }
        ton_builder_store_ref(b, rest);
        ton_cell_unref(rest);
    }
    return ton_builder_end(b, err);
}

ton_cell *ton_msg_comment(const char *text, cc_err *err)
{
    size_t n = strlen(text);
    if (n > 100000) {
        cc_err_set(err, "comment too long");
        return NULL;
    }
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 0, 32);
    return snake_tail(&b, (const uint8_t *)text, n, err);
}
