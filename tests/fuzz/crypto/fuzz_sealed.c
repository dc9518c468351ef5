/* Fuzz target: what a client or a proxy reads from the network about a
 * sealed request — a receipt (parsed, then verified under a fixed key) and a
 * sealed answer part or body (opened under a fixed key; the first byte picks
 * the final flag). All of it must be refused cleanly, never read out of
 * bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[32] = {1, 2, 3};
    cc_err err;
    crypto_receipt r;
    crypto_receipt_parse(data, size, &r, &err);
    crypto_receipt_verify(data, size, key, &r, &err);

    crypto_seal_stream s;
    memset(&s, 0, sizeof(s));
    memcpy(s.key, key, 32);
    s.hash = crypto_hash_new(CRYPTO_HASH_SHA256);
    cc_buf out = CC_BUF_INIT, aad = CC_BUF_INIT;
    bool final = size && (data[0] & 1);
    crypto_seal_part_open(&s, final, data, size, &out, &err);
    crypto_seal_stream_clear(&s);
    cc_buf_append(&aad, "aad", 3);
    crypto_seal_body_open(key, &aad, data, size, &out, &err);
    cc_buf_free(&out);
    cc_buf_free(&aad);
    return 0;
}
