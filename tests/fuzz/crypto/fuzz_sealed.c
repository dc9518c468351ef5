/* Fuzz target: what a client or a proxy reads from the network about a
 * sealed request — a receipt of either form (parsed, then verified under a
 * fixed key; the input is tried as a batch receipt too), a
 * sealed answer part or body (opened under a fixed key; the first byte picks
 * the final flag), and what a worker reads: a session-form wrapped key (the
 * first 32 bytes are the enc, the rest the key) against a session table
 * that holds one session. All of it must be refused cleanly, never read out of
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
    crypto_receipt_len(data, size);
    /* The same bytes as a batch receipt (its magic is unlikely to be found
     * by chance): place, batch size and path come from the input. */
    uint8_t batch[CRYPTO_RECEIPT_MAX_LEN + 8];
    size_t blen = size < CRYPTO_RECEIPT_MAX_LEN ? size : CRYPTO_RECEIPT_MAX_LEN;
    memcpy(batch, "CCRCPT02", 8);
    memcpy(batch + 8, data, blen);
    crypto_receipt_len(batch, blen + 8);
    if (crypto_receipt_parse(batch, blen + 8, &r, &err) == 0) {
        uint8_t root[32];
        crypto_receipt_batch_root(batch, blen + 8, &r, root, &err);
    }
    crypto_receipt_verify(batch, blen + 8, key, &r, &err);

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

    /* The worker's session table: a known session and whatever comes. */
    static crypto_seal_sessions *t;
    static uint8_t sk[32], pk[32], enc[32];
    static const uint8_t cert_hash[32] = {9};
    if (!t) {
        t = crypto_seal_sessions_new(4, 600, 300);
        crypto_x25519_keygen(sk, pk);
        uint8_t secret[32], wk[CRYPTO_SEAL_SESSION_WRAP_MAX], dek[32] = {0};
        size_t len;
        crypto_seal_keys k;
        crypto_seal_session_new(pk, cert_hash, 1000, enc, secret, &err);
        crypto_seal_session_wrap(secret, true, false, 1000, 0, &aad, dek, NULL, wk, &len, &k, &err);
        crypto_seal_opened o;
        crypto_seal_sessions_open(t, sk, cert_hash, 1000, enc, wk, len, &aad, &o, &err);
    }
    crypto_seal_opened o;
    if (size >= 32)
        crypto_seal_sessions_open(t, sk, cert_hash, 1000, data, data + 32, size - 32, &aad, &o,
                                  &err);
    crypto_seal_sessions_open(t, sk, cert_hash, 1000, enc, data, size, &aad, &o, &err);
    cc_buf_free(&out);
    cc_buf_free(&aad);
    return 0;
}
