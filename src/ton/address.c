/* Addresses: raw "wc:hex" and the 36-byte user-friendly form (tag, workchain,
 * hash, CRC16-XMODEM) in base64; MsgAddress (de)serialization in cells. */
#include "ton/ton_internal.h"

#include <stdio.h>
#include <string.h>

#define TAG_BOUNCEABLE 0x11
#define TAG_NON_BOUNCEABLE 0x51
#define TAG_TESTNET 0x80

bool ton_addr_equal(const ton_addr *a, const ton_addr *b)
{
    if (a->none || b->none) return a->none == b->none;
    return a->wc == b->wc && memcmp(a->hash, b->hash, 32) == 0;
}

void ton_addr_to_raw(const ton_addr *a, char *out, size_t out_len)
{
    char hex[65];
    cc_hex_encode(a->hash, 32, hex);
    snprintf(out, out_len, "%d:%s", a->wc, hex);
}

void ton_addr_to_friendly(const ton_addr *a, bool bounceable, bool testnet, bool url_safe,
                          char out[49])
{
    uint8_t raw[36];
    raw[0] =
        (uint8_t)((bounceable ? TAG_BOUNCEABLE : TAG_NON_BOUNCEABLE) | (testnet ? TAG_TESTNET : 0));
    raw[1] = (uint8_t)a->wc;
    memcpy(raw + 2, a->hash, 32);
    uint16_t crc = cc_crc16(raw, 34);
    raw[34] = (uint8_t)(crc >> 8);
    raw[35] = (uint8_t)crc;
    char *s = ton_base64_encode(raw, sizeof raw, url_safe);
    memcpy(out, s, 49);
    free(s);
}

static int parse_raw(const char *text, ton_addr *out, cc_err *err)
{
    const char *colon = strchr(text, ':');
    char wc_text[8];
    size_t wl = (size_t)(colon - text);
    if (wl == 0 || wl >= sizeof wc_text)
        return cc_err_set(err, "bad workchain in address \"%s\"", text);
    memcpy(wc_text, text, wl);
    wc_text[wl] = 0;
    int64_t wc;
    if (cc_parse_i64(wc_text, -128, 127, &wc, NULL) < 0)
        return cc_err_set(err, "bad workchain in address \"%s\"", text);
    if (strlen(colon + 1) != 64 || cc_hex_decode(colon + 1, out->hash, 32, NULL) < 0)
        return cc_err_set(err, "address hash must be 64 hex digits");
    out->none = false;
    out->wc = (int8_t)wc;
    return 0;
}

int ton_addr_parse(const char *text, ton_addr *out, bool *bounceable, bool *testnet, cc_err *err)
{
    memset(out, 0, sizeof *out);
    if (!text) return cc_err_set(err, "missing address");
    if (strchr(text, ':')) {
        if (bounceable) *bounceable = true;
        if (testnet) *testnet = false;
        return parse_raw(text, out, err);
    }
    if (strlen(text) != TON_ADDR_FRIENDLY_LEN)
        return cc_err_set(err, "address \"%s\" is neither wc:hex nor a 48-character form", text);
    cc_buf b = CC_BUF_INIT;
    if (ton_base64_decode(text, TON_ADDR_FRIENDLY_LEN, &b, NULL) < 0 || b.len != 36) {
        cc_buf_free(&b);
        return cc_err_set(err, "address \"%s\" is not valid base64", text);
    }
    uint8_t raw[36];
    memcpy(raw, b.data, 36);
    cc_buf_free(&b);
    uint16_t crc = cc_crc16(raw, 34);
    if (raw[34] != (uint8_t)(crc >> 8) || raw[35] != (uint8_t)crc)
        return cc_err_set(err, "address \"%s\" has a bad checksum", text);
    uint8_t tag = raw[0] & (uint8_t)~TAG_TESTNET;
    if (tag != TAG_BOUNCEABLE && tag != TAG_NON_BOUNCEABLE)
        return cc_err_set(err, "address \"%s\" has an unknown tag 0x%02x", text, raw[0]);
    if (bounceable) *bounceable = tag == TAG_BOUNCEABLE;
    if (testnet) *testnet = (raw[0] & TAG_TESTNET) != 0;
    out->none = false;
    out->wc = (int8_t)raw[1];
    memcpy(out->hash, raw + 2, 32);
    return 0;
}

int ton_builder_store_addr(ton_builder *b, const ton_addr *a)
{
    if (!a || a->none) return ton_builder_store_uint(b, 0, 2);
    ton_builder_store_uint(b, 2, 2); /* addr_std$10 */
    ton_builder_store_bit(b, false); /* no anycast */
    ton_builder_store_int(b, a->wc, 8);
    return ton_builder_store_bits(b, a->hash, 256);
}

int ton_slice_load_addr(ton_slice *s, ton_addr *out, cc_err *err)
{
    uint64_t tag;
    memset(out, 0, sizeof *out);
    if (ton_slice_load_uint(s, 2, &tag, err) < 0) return -1;
    if (tag == 0) {
        out->none = true;
        return 0;
    }
    if (tag != 2) return cc_err_set(err, "unsupported address kind (tag %u)", (unsigned)tag);
    bool anycast;
    int64_t wc;
    if (ton_slice_load_bit(s, &anycast, err) < 0) return -1;
    if (anycast) return cc_err_set(err, "anycast addresses are not supported");
    if (ton_slice_load_int(s, 8, &wc, err) < 0 || ton_slice_load_bits(s, 256, out->hash, err) < 0)
        return -1;
    out->wc = (int8_t)wc;
    return 0;
}
