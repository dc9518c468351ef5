/* Proof of work: vectors (built with an independent SHA-256), the
 * little-endian leading-zero rule, challenge/answer parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "net/net.h"

static const uint8_t salt0to15[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void hash_of(int64_t nonce, uint8_t out[32])
{
    uint8_t msg[24];
    memcpy(msg, salt0to15, 16);
    cc_store_u64le(msg + 16, (uint64_t)nonce);
    crypto_sha256(msg, 24, out);
}

/* First 8 digest bytes of SHA-256(00..0f ‖ nonce_le64), computed with Python's
 * hashlib, and the leading zeros of that as a little-endian u64. */
static const struct {
    int64_t nonce;
    const char *first8;
    int zeros;
} vectors[] = {
    {480, "c567414839b0db00", 8},    {488, "12c23cde2a127c00", 9},
    {1663, "442055f889902900", 10},  {668, "1cc02d963d471800", 11},
    {14840, "f617f6d4427a0800", 12}, {7012, "7e7aa796bce60400", 13},
    {46363, "bb5ba8f1750f0300", 14}, {96323, "ee8ac2ac86250100", 15},
    {84956, "422212365dcb0000", 16}, {212170, "fe2ea853b1740000", 17},
    {-1, "ad8e2c696b063574", 1},
};

static void test_vectors(void **state)
{
    for (size_t i = 0; i < CC_ARRAY_LEN(vectors); i++) {
        uint8_t h[32], want[8];
        hash_of(vectors[i].nonce, h);
        assert_int_equal(cc_hex_decode(vectors[i].first8, want, 8, NULL), 0);
        assert_memory_equal(h, want, 8);
        assert_int_equal(net_pow_leading_zeros(h), vectors[i].zeros);
        assert_true(net_pow_check(salt0to15, vectors[i].zeros, vectors[i].nonce));
        assert_false(net_pow_check(salt0to15, vectors[i].zeros + 1, vectors[i].nonce));
    }
}

/* Nonce 19262 hashes to 000ddbd3 84da87fd...: 12 leading zero bits if read
 * big-endian, but the rule reads the first 8 bytes little-endian (top byte
 * 0xfd), so it has none. */
static void test_little_endian_rule(void **state)
{
    uint8_t h[32];
    hash_of(19262, h);
    assert_int_equal(h[0], 0x00);
    assert_int_equal(h[7], 0xfd);
    assert_int_equal(net_pow_leading_zeros(h), 0);
    assert_false(net_pow_check(salt0to15, 1, 19262));
    assert_true(net_pow_check(salt0to15, 0, 19262));

    uint8_t z[32] = {0};
    assert_int_equal(net_pow_leading_zeros(z), 64);
    z[0] = 1; /* least significant byte */
    assert_int_equal(net_pow_leading_zeros(z), 63);
    z[0] = 0;
    z[7] = 0x80; /* most significant bit */
    assert_int_equal(net_pow_leading_zeros(z), 0);
    z[7] = 0x01;
    assert_int_equal(net_pow_leading_zeros(z), 7);
}

static void test_search_finds_first(void **state)
{
    /* From 0 the first nonce with >= 12 zeros is 7012 (13 zeros), with >= 16 it is 84956. */
    int64_t n = 0;
    assert_int_equal(net_pow_search(salt0to15, 12, &n, 1u << 20), 1);
    assert_int_equal(n, 7012);
    n = 0;
    assert_int_equal(net_pow_search(salt0to15, 16, &n, 1u << 20), 1);
    assert_int_equal(n, 84956);
    /* in slices: stops short, then resumes */
    n = 0;
    assert_int_equal(net_pow_search(salt0to15, 16, &n, 50000), 0);
    assert_int_equal(n, 50000);
    assert_int_equal(net_pow_search(salt0to15, 16, &n, 50000), 1);
    assert_int_equal(n, 84956);
    /* difficulty 0: the first candidate */
    n = 5;
    assert_int_equal(net_pow_search(salt0to15, 0, &n, 1), 1);
    assert_int_equal(n, 5);
}

static void test_search_random_salts(void **state)
{
    for (int i = 0; i < 20; i++) {
        uint8_t salt[16];
        crypto_random(salt, 16);
        int64_t n = (int64_t)(crypto_random_u64() >> 1);
        assert_int_equal(net_pow_search(salt, 10, &n, 1u << 24), 1);
        assert_true(net_pow_check(salt, 10, n));
    }
}

static void test_challenge_roundtrip(void **state)
{
    uint8_t ch[24], salt[16], salt2[16];
    net_pow_make_challenge(ch, 20, salt);
    assert_int_equal(cc_load_u32le(ch), 0x418e1291u);
    assert_int_equal(cc_load_u32le(ch + 4), 20);
    assert_memory_equal(ch + 8, salt, 16);
    int d = -1;
    assert_int_equal(net_pow_parse_challenge(ch, 28, &d, salt2, NULL), 0);
    assert_int_equal(d, 20);
    assert_memory_equal(salt, salt2, 16);
    cc_err err;
    /* a client's own cap */
    assert_int_equal(net_pow_parse_challenge(ch, 19, &d, salt2, &err), -1);
    assert_int_equal(err.code, NET_ERR_PROTOCOL);
    /* difficulty > 28 is refused whatever the caller asks for */
    cc_store_u32le(ch + 4, 29);
    assert_int_equal(net_pow_parse_challenge(ch, 64, &d, salt2, &err), -1);
    assert_non_null(strstr(err.msg, "29"));
    cc_store_u32le(ch + 4, 28);
    assert_int_equal(net_pow_parse_challenge(ch, 0, &d, salt2, NULL), 0);
    assert_int_equal(d, 28);
    cc_store_u32le(ch + 4, 0xffffffffu); /* -1 */
    assert_int_equal(net_pow_parse_challenge(ch, 28, &d, salt2, NULL), -1);
    cc_store_u32le(ch + 4, 20);
    ch[0] ^= 1;
    assert_int_equal(net_pow_parse_challenge(ch, 28, &d, salt2, &err), -1);
    assert_non_null(strstr(err.msg, "magic"));
}

static void test_answer_roundtrip(void **state)
{
    uint8_t a[12];
    net_pow_make_answer(a, -2);
    const uint8_t want[12] = {0x19, 0x73, 0x82, 0x01, 0xfe, 0xff,
                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_memory_equal(a, want, 12);
    int64_t n = 0;
    assert_int_equal(net_pow_parse_answer(a, &n, NULL), 0);
    assert_int_equal(n, -2);
    a[3] = 0x02;
    cc_err err;
    assert_int_equal(net_pow_parse_answer(a, &n, &err), -1);
    assert_int_equal(err.code, NET_ERR_PROTOCOL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_little_endian_rule),
        cmocka_unit_test(test_search_finds_first),
        cmocka_unit_test(test_search_random_salts),
        cmocka_unit_test(test_challenge_roundtrip),
        cmocka_unit_test(test_answer_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
