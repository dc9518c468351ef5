/* cc_map against a brute-force reference under random inserts and deletes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/base.h"

#define NKEYS 300

static void test_random_ops(void **state)
{
    (void)state;
    cc_map m;
    cc_map_init(&m);
    assert_null(cc_map_get(&m, 5));
    assert_null(cc_map_del(&m, 5));
    static int vals[NKEYS];
    void *ref[NKEYS] = {0};
    uint64_t x = 12345;
    for (int step = 0; step < 200000; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int k = (int)((x >> 33) % NKEYS);
        /* keys collide in the low bits on purpose */
        uint64_t key = (uint64_t)k << 40;
        if ((x >> 20) & 1) {
            void *old = cc_map_put(&m, key, &vals[k]);
            assert_ptr_equal(old, ref[k]);
            ref[k] = &vals[k];
        } else {
            void *old = cc_map_del(&m, key);
            assert_ptr_equal(old, ref[k]);
            ref[k] = NULL;
        }
        if (step % 1000 == 0) {
            size_t n = 0;
            for (int i = 0; i < NKEYS; i++) {
                assert_ptr_equal(cc_map_get(&m, (uint64_t)i << 40), ref[i]);
                n += ref[i] != NULL;
            }
            assert_int_equal(cc_map_count(&m), n);
        }
    }
    cc_map_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_random_ops)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
