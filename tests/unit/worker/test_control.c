/* The worker's /request/change_coefficient value, read as COCOON's worker
 * reads it (WorkerRunner.h http_worker_change_coefficient: a decimal, ×1000,
 * truncated), with our bounds (those of our proxy's handshake). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "worker/worker_internal.h"

static void test_parse_coefficient(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int32_t want;
    } ok[] = {{"1", 1000},   {"1.5", 1500}, {"0.001", 1}, {"2.0009", 2000}, {"999999.5", 999999500},
              {"2.3", 2300}, {"1e1", 10000}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int32_t v = -7;
        char why[128] = "";
        if (worker_parse_coefficient(ok[i].in, &v, why, sizeof(why)) != 0 || v != ok[i].want)
            fail_msg("%s: got %d (%s), want %d", ok[i].in, v, why, ok[i].want);
    }
    static const struct {
        const char *in, *why;
    } bad[] = {{"", "failed to parse"},      {"abc", "failed to parse 'abc'"},
               {"1.5x", "failed to parse"},  {"nan", "failed to parse"},
               {"inf", "failed to parse"},   {"0", "at least 0.001"},
               {"0.0009", "at least 0.001"}, {"-1", "at least 0.001"},
               {"1000000", "below 1000000"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int32_t v = -7;
        char why[128] = "";
        if (worker_parse_coefficient(bad[i].in, &v, why, sizeof(why)) != -1 || v != -7 ||
            !strstr(why, bad[i].why))
            fail_msg("'%s': accepted or wrong message '%s'", bad[i].in, why);
    }
}

/* The argument as the HTTP handler finds it in the URL's query. */
static void test_query(void **state)
{
    (void)state;
    int32_t v = 0;
    char why[128] = "";
    assert_int_equal(worker_query_coefficient("a=1&coefficient=2.5&b", &v, why, sizeof(why)), 0);
    assert_int_equal(v, 2500);
    assert_int_equal(worker_query_coefficient("coefficients=2", &v, why, sizeof(why)), 1);
    assert_int_equal(worker_query_coefficient(NULL, &v, why, sizeof(why)), 1);
    assert_int_equal(worker_query_coefficient("coefficient=", &v, why, sizeof(why)), -1);
    assert_int_equal(worker_query_coefficient("coefficient=%31", &v, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "'%31'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_coefficient),
        cmocka_unit_test(test_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
