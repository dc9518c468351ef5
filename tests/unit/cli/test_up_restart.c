/* `cocoon up`: when a dead child is started again, and when a child that
 * keeps dying stops everything (the crash-loop limit). Pure bookkeeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "cli/up.h"

static const up_restart_policy pol = {
    .crash_limit = 5, .crash_window = 60, .backoff_min = 0.5, .backoff_max = 30};

static void test_backoff_doubles_then_loop_stops(void **state)
{
    (void)state;
    up_child c = {.name = "worker-1"};
    /* Deaths one second apart: 0.5, 1, 2, 4, then the fifth is a loop. */
    assert_true(up_restart_after_death(&c, &pol, 100) == 0.5);
    assert_true(up_restart_after_death(&c, &pol, 101) == 1.0);
    assert_true(up_restart_after_death(&c, &pol, 102) == 2.0);
    assert_true(up_restart_after_death(&c, &pol, 103) == 4.0);
    assert_true(up_restart_after_death(&c, &pol, 104) < 0);
}

static void test_old_deaths_are_forgotten(void **state)
{
    (void)state;
    up_child c = {.name = "proxy"};
    /* Four quick deaths, then a long quiet run: the next death starts the
     * count (and the delay) afresh instead of ending everything. */
    for (int i = 0; i < 4; i++)
        assert_true(up_restart_after_death(&c, &pol, 10 + i) > 0);
    assert_true(up_restart_after_death(&c, &pol, 200) == 0.5);
    assert_true(up_restart_after_death(&c, &pol, 201) == 1.0);
}

static void test_delay_is_capped(void **state)
{
    (void)state;
    const up_restart_policy p = {
        .crash_limit = 32, .crash_window = 1000, .backoff_min = 0.5, .backoff_max = 30};
    up_child c = {.name = "client"};
    double d = 0;
    for (int i = 0; i < 31; i++)
        d = up_restart_after_death(&c, &p, i);
    assert_true(d == 30);
    assert_true(up_restart_after_death(&c, &p, 31) < 0);
    /* The history keeps only the newest deaths and still counts right. */
    assert_int_equal(c.n_crash_at, UP_MAX_CRASH_LIMIT);
}

static void test_limit_of_one(void **state)
{
    (void)state;
    const up_restart_policy p = {
        .crash_limit = 1, .crash_window = 60, .backoff_min = 0.5, .backoff_max = 30};
    up_child c = {.name = "worker-2"};
    assert_true(up_restart_after_death(&c, &p, 5) < 0);
}

static void test_options(void **state)
{
    (void)state;
    up_opts o;
    cc_err err = {0};
    char *a[] = {"up", "--crash-limit", "2", "--crash-window", "30", NULL};
    assert_int_equal(up_parse_opts(5, a, &o, &err), 0);
    up_restart_policy p = up_restart_policy_of(&o);
    assert_int_equal(p.crash_limit, 2);
    assert_true(p.crash_window == 30);
    char *d[] = {"up", NULL};
    assert_int_equal(up_parse_opts(1, d, &o, &err), 0);
    assert_int_equal(o.crash_limit, 5);
    assert_int_equal(o.crash_window, 60);
    char *bad[] = {"up", "--crash-limit", "0", NULL};
    assert_int_equal(up_parse_opts(3, bad, &o, &err), -1);
    assert_non_null(strstr(err.msg, "--crash-limit"));
}

static void test_argv_copy(void **state)
{
    (void)state;
    up_children ch = {.n = 1};
    char *args[] = {"--config", "x.json", NULL};
    up_child_set_argv(&ch.c[0], "/bin/cocoon-worker", args);
    assert_string_equal(ch.c[0].argv[0], "/bin/cocoon-worker");
    assert_string_equal(ch.c[0].argv[2], "x.json");
    assert_null(ch.c[0].argv[3]);
    up_children_free(&ch);
    assert_null(ch.c[0].argv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles_then_loop_stops),
        cmocka_unit_test(test_old_deaths_are_forgotten),
        cmocka_unit_test(test_delay_is_capped),
        cmocka_unit_test(test_limit_of_one),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_argv_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
