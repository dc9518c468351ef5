#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "crypto/crypto.h"

static void test_sha256_vector(void **state)
{
    uint8_t d[32];
    char hex[65];
    crypto_sha256("abc", 3, d);
    cc_hex_encode(d, 32, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_ed25519_rfc8032_vector(void **state)
{
    /* RFC 8032 §7.1 TEST 1 (empty message). */
    uint8_t priv[32], pub[32], want_pub[32], sig[64], want_sig[64];
    cc_hex_decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", priv, 32,
                  NULL);
    cc_hex_decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", want_pub, 32,
                  NULL);
    cc_hex_decode("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
                  "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
                  want_sig, 64, NULL);
    assert_int_equal(crypto_ed25519_public(priv, pub, NULL), 0);
    assert_memory_equal(pub, want_pub, 32);
    assert_int_equal(crypto_ed25519_sign(priv, "", 0, sig, NULL), 0);
    assert_memory_equal(sig, want_sig, 64);
    assert_true(crypto_ed25519_verify(pub, "", 0, sig));
    sig[5] ^= 1;
    assert_false(crypto_ed25519_verify(pub, "", 0, sig));
    /* The same key imported once signs the same (Ed25519 is deterministic). */
    crypto_ed25519_key *k = crypto_ed25519_key_new(priv, NULL);
    assert_non_null(k);
    memset(sig, 0, sizeof(sig));
    assert_int_equal(crypto_ed25519_key_sign(k, "", 0, sig, NULL), 0);
    assert_memory_equal(sig, want_sig, 64);
    assert_int_equal(crypto_ed25519_key_sign(k, "x", 1, sig, NULL), 0);
    assert_true(crypto_ed25519_verify(pub, "x", 1, sig));
    /* Each signature starts from the key's initialised context, unchanged
     * by the ones before. */
    assert_int_equal(crypto_ed25519_key_sign(k, "", 0, sig, NULL), 0);
    assert_memory_equal(sig, want_sig, 64);
    crypto_ed25519_key_free(k);
}

static void hmac_case(const uint8_t *key, size_t keylen, const char *msg, const char *want)
{
    uint8_t mac[32];
    char hex[65];
    crypto_hmac_sha256(key, keylen, msg, strlen(msg), mac);
    cc_hex_encode(mac, 32, hex);
    assert_string_equal(hex, want);
}

static void test_hmac_sha256_rfc4231(void **state)
{
    (void)state;
    uint8_t k1[20], k6[131];
    memset(k1, 0x0b, sizeof(k1));
    memset(k6, 0xaa, sizeof(k6));
    /* Test cases 1, 2 and 6 (a key longer than a block is hashed first). */
    hmac_case(k1, sizeof(k1), "Hi There",
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    hmac_case((const uint8_t *)"Jefe", 4, "what do ya want for nothing?",
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    hmac_case(k6, sizeof(k6), "Test Using Larger Than Block-Size Key - Hash Key First",
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_aead_round_trip_and_tamper(void **state)
{
    uint8_t key[32], nonce[12], ct[64 + 16], pt[64];
    crypto_random(key, 32);
    crypto_random(nonce, 12);
    const char *msg = "the prompt nobody else can read";
    size_t n = strlen(msg);
    for (int alg = 0; alg < 2; alg++) {
        assert_int_equal(crypto_aead_seal(alg, key, nonce, "ad", 2, msg, n, ct, NULL), 0);
        assert_int_equal(crypto_aead_open(alg, key, nonce, "ad", 2, ct, n + 16, pt, NULL), 0);
        assert_memory_equal(pt, msg, n);
        ct[3] ^= 0x80;
        assert_int_equal(crypto_aead_open(alg, key, nonce, "ad", 2, ct, n + 16, pt, NULL), -1);
    }
}

static void test_x25519_agreement(void **state)
{
    uint8_t a[32], A[32], b[32], B[32], s1[32], s2[32];
    assert_int_equal(crypto_x25519_keygen(a, A), 0);
    assert_int_equal(crypto_x25519_keygen(b, B), 0);
    assert_int_equal(crypto_x25519(a, B, s1, NULL), 0);
    assert_int_equal(crypto_x25519(b, A, s2, NULL), 0);
    assert_memory_equal(s1, s2, 32);
}

static void test_hkdf_rfc5869_case1(void **state)
{
    uint8_t ikm[22], salt[13], info[10], okm[42], want[42];
    memset(ikm, 0x0b, sizeof(ikm));
    for (int i = 0; i < 13; i++)
        salt[i] = (uint8_t)i;
    for (int i = 0; i < 10; i++)
        info[i] = (uint8_t)(0xf0 + i);
    cc_hex_decode("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b88718"
                  "5865",
                  want, 42, NULL);
    assert_int_equal(crypto_hkdf_sha256(salt, 13, ikm, 22, info, 10, okm, 42, NULL), 0);
    assert_memory_equal(okm, want, 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vector),
        cmocka_unit_test(test_ed25519_rfc8032_vector),
        cmocka_unit_test(test_hmac_sha256_rfc4231),
        cmocka_unit_test(test_aead_round_trip_and_tamper),
        cmocka_unit_test(test_x25519_agreement),
        cmocka_unit_test(test_hkdf_rfc5869_case1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
