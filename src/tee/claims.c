/* RA-TLS claims: the Ed25519 key first (COCOON's whole claims), then TLV items
 * that newer versions may add; REPORTDATA = SHA-512(claims) binds them all. */
#include <string.h>

#include "tee/tee.h"

static void put_item(cc_buf *out, uint16_t tag, const void *v, uint16_t n)
{
    uint8_t hdr[4] = {(uint8_t)tag, (uint8_t)(tag >> 8), (uint8_t)n, (uint8_t)(n >> 8)};
    cc_buf_append(out, hdr, 4);
    cc_buf_append(out, v, n);
}

void tee_claims_encode(const tee_claims *c, cc_buf *out)
{
    cc_buf_append(out, c->ed25519_pub, 32);
    if (c->has_x25519) put_item(out, TEE_CLAIM_X25519, c->x25519_pub, 32);
    if (c->has_model_hash) put_item(out, TEE_CLAIM_MODEL_HASH, c->model_hash, 32);
    size_t rl = strnlen(c->role, sizeof(c->role));
    if (rl) put_item(out, TEE_CLAIM_ROLE, c->role, (uint16_t)rl);
    if (c->has_receipt_key) put_item(out, TEE_CLAIM_RECEIPT_KEY, c->receipt_pub, 32);
}

int tee_claims_decode(const uint8_t *d, size_t n, tee_claims *c, cc_err *err)
{
    memset(c, 0, sizeof(*c));
    if (n < 32)
        return cc_err_set(err, "claims too short: %zu bytes, need the 32-byte Ed25519 key", n);
    memcpy(c->ed25519_pub, d, 32);
    size_t off = 32;
    while (off < n) {
        if (n - off < 4) return cc_err_set(err, "claims: truncated item header at offset %zu", off);
        uint16_t tag = (uint16_t)(d[off] | d[off + 1] << 8);
        uint16_t len = (uint16_t)(d[off + 2] | d[off + 3] << 8);
        off += 4;
        if (len > n - off)
            return cc_err_set(err, "claims: item %u of %u bytes overruns the claims", tag, len);
        const uint8_t *v = d + off;
        switch (tag) {
        case TEE_CLAIM_X25519:
            if (len != 32 || c->has_x25519)
                return cc_err_set(err, "claims: bad or repeated X25519 key item");
            memcpy(c->x25519_pub, v, 32);
            c->has_x25519 = true;
            break;
        case TEE_CLAIM_MODEL_HASH:
            if (len != 32 || c->has_model_hash)
                return cc_err_set(err, "claims: bad or repeated model hash item");
            memcpy(c->model_hash, v, 32);
            c->has_model_hash = true;
            break;
        case TEE_CLAIM_ROLE:
            if (len == 0 || len >= sizeof(c->role) || c->role[0] || memchr(v, 0, len))
                return cc_err_set(err, "claims: bad or repeated role item");
            memcpy(c->role, v, len);
            break;
        case TEE_CLAIM_RECEIPT_KEY:
            if (len != 32 || c->has_receipt_key)
                return cc_err_set(err, "claims: bad or repeated receipt key item");
            memcpy(c->receipt_pub, v, 32);
            c->has_receipt_key = true;
            break;
        default:
            break; /* unknown items are skipped: the format may grow */
        }
        off += len;
    }
    return 0;
}
