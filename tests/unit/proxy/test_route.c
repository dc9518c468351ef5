/* Worker choice: table-driven cases over coefficients, caps, load and ties. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/proxy_route.h"

#define MAXW 6

typedef struct route_case {
    const char *name;
    proxy_route_worker w[MAXW];
    size_t n;
    const char *model;
    int32_t max_coef;
    uint64_t exclude;
    long want; /* index, or -1 */
    int why;   /* expected proxy_route_why_none when want == -1 */
} route_case;

#define W(id_, model_, coef_, max_, act_, en_, avg_)                                               \
    {                                                                                              \
        .id = id_, .model = model_, .coefficient = coef_, .max_active = max_, .active = act_,      \
        .enabled = en_, .avg_time = avg_                                                           \
    }

static const route_case cases[] = {
    {"only worker", {W(1, "m", 1000, 10, 0, true, 1.0)}, 1, "m", 1000, 0, 0, 0},
    {"other model", {W(1, "x", 1000, 10, 0, true, 1.0)}, 1, "m", 1000, 0, -1, 0},
    {"disabled skipped",
     {W(1, "m", 1000, 10, 0, false, 1.0), W(2, "m", 1000, 10, 5, true, 1.0)},
     2,
     "m",
     1000,
     0,
     1,
     0},
    {"all disabled", {W(1, "m", 1000, 10, 0, false, 1.0)}, 1, "m", 1000, 0, -1, 1},
    {"coefficient above cap",
     {W(1, "m", 1500, 10, 0, true, 0.1), W(2, "m", 1000, 10, 3, true, 1.0)},
     2,
     "m",
     1000,
     0,
     1,
     0},
    {"coefficient equal to cap allowed",
     {W(1, "m", 1000, 10, 0, true, 1.0)},
     1,
     "m",
     1000,
     0,
     0,
     0},
    {"all too expensive", {W(1, "m", 2000, 10, 0, true, 1.0)}, 1, "m", 1000, 0, -1, 2},
    {"at its cap",
     {W(1, "m", 1000, 2, 2, true, 0.1), W(2, "m", 1000, 10, 4, true, 1.0)},
     2,
     "m",
     1000,
     0,
     1,
     0},
    {"all busy", {W(1, "m", 1000, 2, 2, true, 0.1)}, 1, "m", 1000, 0, -1, 3},
    {"no cap means unlimited", {W(1, "m", 1000, 0, 500, true, 0.1)}, 1, "m", 1000, 0, 0, 0},
    {"least active x avg wins over fewest active",
     /* 2 x 0.5 = 1.0 beats 1 x 3.0 = 3.0 */
     {W(1, "m", 1000, 10, 1, true, 3.0), W(2, "m", 1000, 10, 2, true, 0.5)},
     2,
     "m",
     1000,
     0,
     1,
     0},
    {"idle worker wins",
     {W(1, "m", 1000, 10, 1, true, 0.01), W(2, "m", 1000, 10, 0, true, 9.0)},
     2,
     "m",
     1000,
     0,
     1,
     0},
    {"equal score: fewest active",
     /* 2 x 1.0 = 2.0 and 1 x 2.0 = 2.0: the one with one active request */
     {W(1, "m", 1000, 10, 2, true, 1.0), W(2, "m", 1000, 10, 1, true, 2.0)},
     2,
     "m",
     1000,
     0,
     1,
     0},
    {"excluded worker skipped",
     {W(1, "m", 1000, 10, 0, true, 1.0), W(2, "m", 1000, 10, 9, true, 1.0)},
     2,
     "m",
     1000,
     1,
     1,
     0},
    {"only the excluded one", {W(1, "m", 1000, 10, 0, true, 1.0)}, 1, "m", 1000, 1, -1, 0},
    {"cheaper is not preferred by itself",
     {W(1, "m", 100, 10, 3, true, 1.0), W(2, "m", 900, 10, 0, true, 1.0)},
     2,
     "m",
     1000,
     0,
     1,
     0},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const route_case *rc = &cases[c];
        const proxy_route_worker *ptrs[MAXW];
        for (size_t i = 0; i < rc->n; i++)
            ptrs[i] = &rc->w[i];
        /* The answer must not depend on the random value (no ties here). */
        for (uint64_t rnd = 0; rnd < 5; rnd++) {
            long got = proxy_route_pick(ptrs, rc->n, rc->model, rc->max_coef, rc->exclude, rnd);
            if (got != rc->want)
                fail_msg("case \"%s\" rnd %llu: got %ld, want %ld", rc->name,
                         (unsigned long long)rnd, got, rc->want);
        }
        if (rc->want < 0) {
            int why = proxy_route_why_none(ptrs, rc->n, rc->model, rc->max_coef, rc->exclude);
            if (why != rc->why) fail_msg("case \"%s\": why %d, want %d", rc->name, why, rc->why);
        }
    }
}

/* Exact ties are broken at random: over many draws every tied worker is
 * chosen, roughly equally, and the untied loser never. */
static void test_ties_are_random(void **state)
{
    (void)state;
    proxy_route_worker w[4] = {
        W(1, "m", 1000, 10, 0, true, 1.0),
        W(2, "m", 1000, 10, 0, true, 5.0),
        W(3, "m", 1000, 10, 1, true, 1.0), /* loses: busier */
        W(4, "m", 1000, 10, 0, true, 0.0),
    };
    const proxy_route_worker *ptrs[4] = {&w[0], &w[1], &w[2], &w[3]};
    int counts[4] = {0};
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 3000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        long got = proxy_route_pick(ptrs, 4, "m", 1000, 0, x);
        assert_true(got >= 0 && got < 4);
        counts[got]++;
    }
    assert_int_equal(counts[2], 0);
    for (int i = 0; i < 4; i++)
        if (i != 2) assert_in_range(counts[i], 800, 1200);
}

static void test_average(void **state)
{
    (void)state;
    double a = proxy_route_update_avg(0, 2.0);
    assert_true(a == 2.0); /* first sample taken as is */
    a = proxy_route_update_avg(a, 1.0);
    assert_true(a > 1.0 && a < 2.0);
    for (int i = 0; i < 100; i++)
        a = proxy_route_update_avg(a, 0.5);
    assert_true(a > 0.49 && a < 0.51);
    assert_true(proxy_route_update_avg(1.0, -5) < 1.0);
}

static void test_model_names(void **state)
{
    (void)state;
    assert_true(proxy_route_model_matches("qwen", "qwen"));
    assert_false(proxy_route_model_matches("qwen", "qwen3"));
    assert_false(proxy_route_model_matches("qwen", ""));
    /* Keyed by the part before '@', as COCOON's proxy: ours ... */
    assert_true(proxy_route_model_matches("tiny@sha256:ab12", "tiny"));
    assert_false(proxy_route_model_matches("tiny@sha256:ab12", "tin"));
    assert_false(proxy_route_model_matches("tiny@sha256:ab12", "tiny@"));
    /* ... and COCOON's "name@commit:verity", whatever follows the '@'. */
    assert_true(proxy_route_model_matches("Qwen/Qwen3-8B@5a1c:9f0e", "Qwen/Qwen3-8B"));
    assert_false(proxy_route_model_matches("Qwen/Qwen3-8B@5a1c:9f0e", "Qwen/Qwen3-8"));
    assert_false(proxy_route_model_matches("Qwen/Qwen3-8B@5a1c:9f0e", "Qwen/Qwen3-8B@5a1c"));
    /* The full identifier is not a request name (COCOON: "unknown model"). */
    assert_false(proxy_route_model_matches("tiny@sha256:ab12", "tiny@sha256:ab12"));
    assert_false(proxy_route_model_matches("Qwen/Qwen3-8B@5a1c:9f0e", "Qwen/Qwen3-8B@5a1c:9f0e"));
    assert_false(proxy_route_model_matches("tiny", "tiny@sha256:ab12"));

    /* Workers announcing different commits of one model serve its name. */
    proxy_route_worker a = {.id = 1, .model = "m@c1:v1", .coefficient = 1000, .enabled = true};
    proxy_route_worker b = {
        .id = 2, .model = "m@c2:v2", .coefficient = 1000, .enabled = true, .active = 1};
    proxy_route_worker o = {.id = 3, .model = "other", .coefficient = 1000, .enabled = true};
    const proxy_route_worker *ptrs[3] = {&o, &b, &a};
    assert_int_equal(proxy_route_pick(ptrs, 3, "m", 1000, 0, 0), 2);
    assert_int_equal(proxy_route_pick(ptrs, 3, "m", 1000, 1, 0), 1); /* a excluded */
    assert_int_equal(proxy_route_pick(ptrs, 3, "m@c1:v1", 1000, 0, 0), -1);
    assert_int_equal(proxy_route_why_none(ptrs, 3, "m@c1:v1", 1000, 0), 0);
    b.enabled = false;
    assert_int_equal(proxy_route_why_none(ptrs, 3, "m", 1000, 1), 1);

    /* A worker the registry bars is as if absent: never picked, and no
     * reason but "no such model" when it is the only one. */
    b.enabled = true;
    a.barred = true;
    assert_int_equal(proxy_route_pick(ptrs, 3, "m", 1000, 0, 0), 1);
    b.barred = true;
    assert_int_equal(proxy_route_pick(ptrs, 3, "m", 1000, 0, 0), -1);
    assert_int_equal(proxy_route_why_none(ptrs, 3, "m", 1000, 0), 0);
    a.barred = false;
    assert_int_equal(proxy_route_pick(ptrs, 3, "m", 1000, 0, 0), 2);
}

/* Prefix affinity: the remembered worker wins only when it qualifies and is
 * no busier than the pick; otherwise the pick stands. */
static void test_prefer(void **state)
{
    (void)state;
    proxy_route_worker w[3] = {
        W(1, "m", 1000, 2, 1, true, 1.0),
        W(2, "m", 1000, 2, 1, true, 1.0),
        W(3, "x", 1000, 2, 0, true, 1.0),
    };
    const proxy_route_worker *ptrs[3] = {&w[0], &w[1], &w[2]};
    assert_int_equal(proxy_route_prefer(ptrs, 3, 0, 2, "m", 1000, 0), 1); /* equally loaded */
    assert_int_equal(proxy_route_prefer(ptrs, 3, 0, 0, "m", 1000, 0), 0); /* no key */
    assert_int_equal(proxy_route_prefer(ptrs, 3, 0, 9, "m", 1000, 0), 0); /* gone */
    assert_int_equal(proxy_route_prefer(ptrs, 3, 0, 3, "m", 1000, 0), 0); /* other model */
    assert_int_equal(proxy_route_prefer(ptrs, 3, 0, 2, "m", 1000, 2), 0); /* excluded (retry) */
    assert_int_equal(proxy_route_prefer(ptrs, 3, -1, 2, "m", 1000, 0), -1);
    w[1].active = 2; /* busier than the pick, and at its cap */
    assert_int_equal(proxy_route_prefer(ptrs, 3, 0, 2, "m", 1000, 0), 0);
    w[1].max_active = 0;
    assert_int_equal(proxy_route_prefer(ptrs, 3, 0, 2, "m", 1000, 0), 0); /* still busier */
    w[0].active = 3;
    assert_int_equal(proxy_route_prefer(ptrs, 3, 0, 2, "m", 1000, 0), 1);
    w[1].coefficient = 2000; /* above the request's max_coefficient */
    assert_int_equal(proxy_route_prefer(ptrs, 3, 0, 2, "m", 1000, 0), 0);

    proxy_affinity *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    assert_int_equal(proxy_affinity_get(a, 77), 0);
    proxy_affinity_put(a, 77, 5);
    assert_int_equal(proxy_affinity_get(a, 77), 5);
    proxy_affinity_put(a, 77 + PROXY_AFFINITY_SLOTS, 6); /* same slot: the newer key wins */
    assert_int_equal(proxy_affinity_get(a, 77), 0);
    assert_int_equal(proxy_affinity_get(a, 77 + PROXY_AFFINITY_SLOTS), 6);
    proxy_affinity_put(a, 0, 7); /* no key: nothing kept */
    assert_int_equal(proxy_affinity_get(a, 0), 0);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),   cmocka_unit_test(test_ties_are_random),
        cmocka_unit_test(test_average), cmocka_unit_test(test_model_names),
        cmocka_unit_test(test_prefer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
