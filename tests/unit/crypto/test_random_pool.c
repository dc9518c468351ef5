/* crypto_rand_pool: ids drawn from a zero-initialised pool are distinct,
 * requests across refills and larger than the pool are filled completely,
 * and handed-out bytes are wiped from the pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"

static void test_ids_are_distinct(void **state)
{
    (void)state;
    crypto_rand_pool pool = {0};
    enum { N = 200 }; /* 6400 bytes: several refills */
    static uint8_t ids[N][32];
    for (int i = 0; i < N; i++)
        crypto_rand_pool_get(&pool, ids[i], 32);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_true(memcmp(ids[i], ids[j], 32) != 0);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

static void test_odd_sizes_and_wipe(void **state)
{
    (void)state;
    crypto_rand_pool pool = {0};
    uint8_t a[1000], b[100], big[3000];
    crypto_rand_pool_get(&pool, a, sizeof a);
    assert_int_equal(pool.avail, sizeof pool.bytes - sizeof a);
    /* what was handed out is gone from the pool, the rest is still there */
    assert_true(all_zero(pool.bytes, sizeof a));
    assert_false(all_zero(pool.bytes + sizeof a, pool.avail));
    crypto_rand_pool_get(&pool, b, sizeof b); /* crosses a refill */
    assert_int_equal(pool.avail, 2 * sizeof pool.bytes - sizeof a - sizeof b);
    memset(big, 0, sizeof big);
    crypto_rand_pool_get(&pool, big, sizeof big); /* larger than the pool */
    /* 3000 random bytes have no run of 64 zero bytes in practice */
    for (size_t i = 0; i + 64 <= sizeof big; i += 64)
        assert_false(all_zero(big + i, 64));
    assert_false(all_zero(a, sizeof a));
    assert_false(all_zero(b, sizeof b));
    uint8_t none = 0x5a;
    size_t before = pool.avail;
    crypto_rand_pool_get(&pool, &none, 0);
    assert_int_equal(none, 0x5a);
    assert_int_equal(pool.avail, before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_are_distinct),
        cmocka_unit_test(test_odd_sizes_and_wipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
