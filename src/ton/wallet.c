/* Standard wallets: v5r1 (what node wallets use) and v4r2, laid out as @ton/ton
 * lays them out so addresses and signed messages match byte for byte. */
#include "ton/ton_internal.h"

#include <string.h>

#include "crypto/crypto.h"

#define V5_OP_SIGNED_EXTERNAL 0x7369676eu
#define OP_ACTION_SEND_MSG 0x0ec3c86du

uint32_t ton_wallet_v5r1_id(int32_t network_global_id, int8_t wc, uint32_t subwallet)
{
    uint32_t context = 1u << 31 | (uint32_t)(uint8_t)wc << 23 | 0u << 15 | (subwallet & 0x7fffu);
    return (uint32_t)network_global_id ^ context;
}

void ton_wallet_init(ton_wallet *w, ton_wallet_version v, int8_t wc, const uint8_t pub[32],
                     int32_t network_global_id)
{
    memset(w, 0, sizeof *w);
    w->version = v;
    w->wc = wc;
    memcpy(w->pub, pub, 32);
    w->wallet_id = v == TON_WALLET_V4R2 ? TON_WALLET_V4_SUBWALLET + (uint32_t)(int32_t)wc
                                        : ton_wallet_v5r1_id(network_global_id, wc, 0);
}

ton_cell *ton_wallet_data(const ton_wallet *w, cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    if (w->version == TON_WALLET_V5R1) {
        ton_builder_store_bit(&b, true);   /* is_signature_allowed */
        ton_builder_store_uint(&b, 0, 32); /* seqno */
        ton_builder_store_uint(&b, w->wallet_id, 32);
        ton_builder_store_bits(&b, w->pub, 256);
        ton_builder_store_bit(&b, false); /* no extensions */
    } else {
        ton_builder_store_uint(&b, 0, 32);
        ton_builder_store_uint(&b, w->wallet_id, 32);
        ton_builder_store_bits(&b, w->pub, 256);
        ton_builder_store_bit(&b, false); /* no plugins */
    }
    return ton_builder_end(&b, err);
}

ton_cell *ton_wallet_state_init(const ton_wallet *w, cc_err *err)
{
    ton_cell *code = ton_wallet_code(w->version, err);
    if (!code) return NULL;
    ton_cell *data = ton_wallet_data(w, err);
    ton_cell *si = data ? ton_state_init(code, data, err) : NULL;
    ton_cell_unref(code);
    ton_cell_unref(data);
    return si;
}

int ton_wallet_address(const ton_wallet *w, ton_addr *out, cc_err *err)
{
    ton_cell *si = ton_wallet_state_init(w, err);
    if (!si) return -1;
    ton_state_init_address(si, w->wc, out);
    ton_cell_unref(si);
    return 0;
}

/* out_list$_ prev:^OutList action — the last action is outermost. */
static ton_cell *out_list(const ton_out_msg *msgs, size_t n, cc_err *err)
{
    ton_builder b;
    ton_builder_init(&b);
    ton_cell *list = ton_builder_end(&b, err); /* out_list_empty */
    for (size_t i = 0; i < n && list; i++) {
        ton_builder_init(&b);
        ton_builder_store_ref(&b, list);
        ton_builder_store_uint(&b, OP_ACTION_SEND_MSG, 32);
        ton_builder_store_uint(&b, msgs[i].mode, 8);
        ton_builder_store_ref(&b, msgs[i].msg);
        ton_cell_unref(list);
        list = ton_builder_end(&b, err);
    }
    return list;
}

static int sign_cell(const uint8_t priv[32], const ton_cell *c, uint8_t sig[64], cc_err *err)
{
    return crypto_ed25519_sign(priv, ton_cell_hash(c), 32, sig, err);
}

ton_cell *ton_wallet_transfer_body(const ton_wallet *w, const uint8_t priv[32], uint32_t seqno,
                                   uint32_t valid_until, const ton_out_msg *msgs, size_t n_msgs,
                                   cc_err *err)
{
    size_t max = w->version == TON_WALLET_V4R2 ? TON_WALLET_V4_MAX_MSGS : TON_WALLET_V5_MAX_MSGS;
    if (n_msgs > max) {
        cc_err_set(err, "at most %zu messages per transfer", max);
        return NULL;
    }
    for (size_t i = 0; i < n_msgs; i++)
        if (!msgs[i].msg) {
            cc_err_set(err, "transfer message %zu is missing", i);
            return NULL;
        }
    ton_builder b;
    ton_builder_init(&b);
    ton_cell *list = NULL;
    if (w->version == TON_WALLET_V5R1) {
        ton_builder_store_uint(&b, V5_OP_SIGNED_EXTERNAL, 32);
        ton_builder_store_uint(&b, w->wallet_id, 32);
        ton_builder_store_uint(&b, valid_until, 32);
        ton_builder_store_uint(&b, seqno, 32);
        if (n_msgs) {
            list = out_list(msgs, n_msgs, err);
            if (!list) {
                ton_builder_clear(&b);
                return NULL;
            }
        }
        ton_builder_store_maybe_ref(&b, list);
        ton_builder_store_bit(&b, false); /* no extended actions */
    } else {
        ton_builder_store_uint(&b, w->wallet_id, 32);
        ton_builder_store_uint(&b, valid_until, 32);
        ton_builder_store_uint(&b, seqno, 32);
        ton_builder_store_uint(&b, 0, 8); /* op: simple send */
        for (size_t i = 0; i < n_msgs; i++) {
            ton_builder_store_uint(&b, msgs[i].mode, 8);
            ton_builder_store_ref(&b, msgs[i].msg);
        }
    }
    ton_cell_unref(list);
    ton_cell *unsigned_part = ton_builder_end(&b, err);
    if (!unsigned_part) return NULL;
    uint8_t sig[64];
    if (sign_cell(priv, unsigned_part, sig, err) < 0) {
        ton_cell_unref(unsigned_part);
        return NULL;
    }
    ton_builder_init(&b);
    if (w->version == TON_WALLET_V5R1) {
        ton_builder_store_cell_inline(&b, unsigned_part);
        ton_builder_store_bits(&b, sig, 512);
    } else {
        ton_builder_store_bits(&b, sig, 512);
        ton_builder_store_cell_inline(&b, unsigned_part);
    }
    ton_cell_unref(unsigned_part);
    return ton_builder_end(&b, err);
}

ton_cell *ton_wallet_transfer(const ton_wallet *w, const uint8_t priv[32], uint32_t seqno,
                              uint32_t valid_until, const ton_out_msg *msgs, size_t n_msgs,
                              bool with_init, cc_err *err)
{
    ton_addr self;
    if (ton_wallet_address(w, &self, err) < 0) return NULL;
    ton_cell *body = ton_wallet_transfer_body(w, priv, seqno, valid_until, msgs, n_msgs, err);
    if (!body) return NULL;
    ton_cell *init = with_init ? ton_wallet_state_init(w, err) : NULL;
    ton_cell *ext = NULL;
    if (!with_init || init) ext = ton_msg_external(&self, init, body, err);
    ton_cell_unref(init);
    ton_cell_unref(body);
    return ext;
}
