/* The intrusive list (cc_list) against a reference array under random pushes
 * and removals, its edge cases, and cc_timeval. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/base.h"

typedef struct item {
    int value;
    cc_list_node node;
    cc_list_node other; /* a second list through the same objects */
} item;

/* The values of l in order, checked against the back links as well. */
static size_t collect(const cc_list *l, int *out, size_t cap)
{
    size_t n = 0;
    const cc_list_node *prev = NULL;
    for (const cc_list_node *x = l->first; x; x = x->next) {
        assert_ptr_equal(x->prev, prev);
        assert_true(n < cap);
        out[n++] = cc_container_of(x, item, node)->value;
        prev = x;
    }
    assert_ptr_equal(l->last, prev);
    return n;
}

static void test_basics(void **state)
{
    (void)state;
    cc_list l = {0};
    assert_true(cc_list_empty(&l));
    assert_null(cc_list_first(item, &l, node));
    item a = {.value = 1}, b = {.value = 2}, c = {.value = 3};
    assert_false(cc_list_contains(&l, &a.node));
    /* removing a node that is in no list does nothing */
    cc_list_remove(&l, &a.node);
    assert_true(cc_list_empty(&l));

    cc_list_push_front(&l, &b.node); /* 2 */
    cc_list_push_front(&l, &a.node); /* 1 2 */
    cc_list_push_back(&l, &c.node);  /* 1 2 3 */
    int v[8];
    assert_int_equal(collect(&l, v, 8), 3);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 2);
    assert_int_equal(v[2], 3);
    assert_int_equal(cc_list_count(&l), 3);
    assert_ptr_equal(cc_list_first(item, &l, node), &a);
    assert_ptr_equal(cc_list_next(item, &a, node), &b);
    assert_null(cc_list_next(item, &c, node));
    assert_true(cc_list_contains(&l, &a.node));
    assert_true(cc_list_contains(&l, &c.node));

    /* middle, then twice the same, then both ends */
    cc_list_remove(&l, &b.node);
    cc_list_remove(&l, &b.node);
    assert_false(cc_list_contains(&l, &b.node));
    assert_null(b.node.prev);
    assert_null(b.node.next);
    assert_int_equal(collect(&l, v, 8), 2);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 3);
    cc_list_remove(&l, &c.node);
    assert_ptr_equal(l.last, &a.node);
    cc_list_remove(&l, &a.node);
    assert_true(cc_list_empty(&l));
    assert_null(l.last);
}

static void test_foreach_removing(void **state)
{
    (void)state;
    cc_list l = {0}, odd = {0};
    item it[10];
    for (int i = 0; i < 10; i++) {
        it[i] = (item){.value = i};
        cc_list_push_back(&l, &it[i].node);
        if (i % 2) cc_list_push_back(&odd, &it[i].other);
    }
    /* the body may unlink the object it is on */
    int seen = 0;
    cc_list_foreach (item, x, &l, node) {
        assert_int_equal(x->value, seen);
        seen++;
        if (x->value % 3 == 0) cc_list_remove(&l, &x->node);
    }
    assert_int_equal(seen, 10);
    int v[10];
    assert_int_equal(collect(&l, v, 10), 6);
    static const int left[] = {1, 2, 4, 5, 7, 8};
    for (int i = 0; i < 6; i++)
        assert_int_equal(v[i], left[i]);
    /* the second list through the same objects was not touched */
    assert_int_equal(cc_list_count(&odd), 5);
    int sum = 0;
    cc_list_foreach (item, x, &odd, other)
        sum += x->value;
    assert_int_equal(sum, 1 + 3 + 5 + 7 + 9);
    /* a break leaves the walk */
    int steps = 0;
    cc_list_foreach (item, x, &l, node) {
        steps++;
        if (x->value == 4) break;
    }
    assert_int_equal(steps, 3);
}

#define N 64

static void test_random_against_reference(void **state)
{
    (void)state;
    cc_list l = {0};
    item it[N];
    int ref[N]; /* values in list order */
    size_t n = 0;
    bool in[N] = {false};
    for (int i = 0; i < N; i++)
        it[i] = (item){.value = i};
    uint64_t x = 99;
    for (int step = 0; step < 50000; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int k = (int)((x >> 33) % N);
        int op = (int)((x >> 20) % 3);
        if (in[k] || op == 2) {
            cc_list_remove(&l, &it[k].node);
            if (in[k]) {
                size_t j = 0;
                while (ref[j] != k)
                    j++;
                for (; j + 1 < n; j++)
                    ref[j] = ref[j + 1];
                n--;
                in[k] = false;
            }
        } else if (op == 0) {
            cc_list_push_front(&l, &it[k].node);
            for (size_t j = n; j > 0; j--)
                ref[j] = ref[j - 1];
            ref[0] = k;
            n++;
            in[k] = true;
        } else {
            cc_list_push_back(&l, &it[k].node);
            ref[n++] = k;
            in[k] = true;
        }
        assert_int_equal(cc_list_contains(&l, &it[k].node), in[k]);
        if (step % 97 == 0) {
            int v[N];
            assert_int_equal(collect(&l, v, N), n);
            for (size_t j = 0; j < n; j++)
                assert_int_equal(v[j], ref[j]);
        }
    }
}

static void test_timeval(void **state)
{
    (void)state;
    struct timeval tv = cc_timeval(2.5);
    assert_int_equal(tv.tv_sec, 2);
    assert_int_equal(tv.tv_usec, 500000);
    tv = cc_timeval(0.2);
    assert_int_equal(tv.tv_sec, 0);
    assert_true(tv.tv_usec >= 199999 && tv.tv_usec <= 200000);
    tv = cc_timeval(600);
    assert_int_equal(tv.tv_sec, 600);
    assert_int_equal(tv.tv_usec, 0);
    tv = cc_timeval(0.0000001);
    assert_int_equal(tv.tv_sec, 0);
    assert_int_equal(tv.tv_usec, 0);
    /* nothing negative reaches libevent */
    tv = cc_timeval(-3);
    assert_int_equal(tv.tv_sec, 0);
    assert_int_equal(tv.tv_usec, 0);
    tv = cc_timeval(NAN);
    assert_int_equal(tv.tv_sec, 0);
    assert_int_equal(tv.tv_usec, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_foreach_removing),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_timeval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
