/*
 * Proof-of-work messages from the outside: the client parses the server's
 * 24-byte challenge, the server parses and checks the 12-byte answer.
 * Input: challenge (24 bytes) ‖ answer (12 bytes); shorter inputs are padded.
 */
#include <string.h>

#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t buf[NET_POW_CHALLENGE_LEN + NET_POW_ANSWER_LEN] = {0};
    memcpy(buf, data, size < sizeof buf ? size : sizeof buf);
    int difficulty = -1;
    uint8_t salt[NET_POW_SALT_LEN];
    cc_err err;
    if (net_pow_parse_challenge(buf, NET_POW_MAX_DIFFICULTY, &difficulty, salt, &err) == 0) {
        if (difficulty < 0 || difficulty > NET_POW_MAX_DIFFICULTY) __builtin_trap();
    }
    int64_t nonce;
    if (net_pow_parse_answer(buf + NET_POW_CHALLENGE_LEN, &nonce, &err) == 0) {
        /* the check is what a server runs on the answer; it must agree with
         * the leading-zero count of the same hash */
        int d = size > 0 ? data[0] % 40 : 0;
        bool ok = net_pow_check(buf + 8, d, nonce);
        int64_t n = nonce;
        if (net_pow_search(buf + 8, d, &n, 1) != (ok ? 1 : 0)) __builtin_trap();
    }
    return 0;
}
