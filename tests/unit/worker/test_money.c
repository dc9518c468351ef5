/* The worker's adjusted token counts (COCOON's CountTokens) with and without
 * the registry's multipliers, what /jsonstats shows of them, and the last
 * proxy.workerRequestPayment it keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "worker/worker_internal.h"

static registry *registry_with(const char *params)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"version\": 1, \"proxy_image_hashes\": \"any\", \"worker_image_hashes\": \"any\", "
             "\"model_hashes\": \"any\", "
             "\"params\": %s}",
             params);
    cc_err err = {0};
    json_t *j = cc_json_loadb(text, strlen(text), &err);
    assert_non_null(j);
    registry *r = registry_from_json(j, &err);
    if (!r) fail_msg("registry: %s", err.msg);
    json_decref(j);
    return r;
}

static void test_counts_without_registry_are_category_splits(void **state)
{
    (void)state;
    worker w = {0};
    ledger_multipliers m;
    worker_multipliers(&w, &m);
    assert_int_equal(m.prompt, 10000);
    assert_int_equal(m.reasoning, 10000);
    backend_usage u = {.prompt_tokens = 100,
                       .cached_tokens = 30,
                       .completion_tokens = 50,
                       .reasoning_tokens = 20,
                       .total_tokens = 150};
    ledger_tokens t;
    worker_count_tokens(&u, 1000, &m, &t);
    assert_int_equal(t.prompt, 70); /* prompt - cached */
    assert_int_equal(t.cached, 30);
    assert_int_equal(t.completion, 30); /* completion - reasoning */
    assert_int_equal(t.reasoning, 20);
    assert_int_equal(t.total, 150);
    /* The proxy's coefficient scales every category: 1.5x. */
    worker_count_tokens(&u, 1500, &m, &t);
    assert_int_equal(t.prompt, 105);
    assert_int_equal(t.cached, 45);
    assert_int_equal(t.completion, 45);
    assert_int_equal(t.reasoning, 30);
    assert_int_equal(t.total, 225);
}

static void test_counts_with_registry_multipliers(void **state)
{
    (void)state;
    worker w = {0};
    w.tee.proxy_registry = registry_with(
        "{\"price_per_token\": 20, \"worker_fee_per_token\": 16, \"prompt_multiplier\": 10000, "
        "\"cached_multiplier\": 1000, \"completion_multiplier\": 80000, "
        "\"reasoning_multiplier\": 40000}");
    ledger_multipliers m;
    worker_multipliers(&w, &m);
    assert_int_equal(m.cached, 1000);
    assert_int_equal(m.completion, 80000);
    backend_usage u = {
        .prompt_tokens = 100, .cached_tokens = 30, .completion_tokens = 50, .reasoning_tokens = 20};
    ledger_tokens t;
    worker_count_tokens(&u, 1000, &m, &t);
    assert_int_equal(t.prompt, 70);      /* x1 */
    assert_int_equal(t.cached, 3);       /* x0.1 */
    assert_int_equal(t.completion, 240); /* 30 x8 */
    assert_int_equal(t.reasoning, 80);   /* 20 x4 */
    assert_int_equal(t.total, 70 + 3 + 240 + 80);
    /* A backend that reports more cached than prompt is not billed negative. */
    u.cached_tokens = 200;
    worker_count_tokens(&u, 1000, &m, &t);
    assert_int_equal(t.prompt, 0);
    assert_int_equal(t.cached, 20);
    /* /jsonstats: earned = served x the fee per token. */
    w.money.tokens_served = 393;
    json_t *o = json_object();
    worker_money_json(&w, o);
    json_t *p = json_object_get(o, "payments");
    assert_int_equal(json_integer_value(json_object_get(p, "tokens_served")), 393);
    assert_int_equal(json_integer_value(json_object_get(p, "nano_earned")), 393 * 16);
    assert_int_equal(json_integer_value(json_object_get(p, "nano_paid")), 0);
    json_decref(o);
    registry_free(w.tee.proxy_registry);
}

static void test_last_payment_is_kept(void **state)
{
    (void)state;
    worker w = {0};
    wlink l = {0};
    snprintf(l.addr, sizeof(l.addr), "127.0.0.1:1");
    tl_proxy_workerRequestPayment m = TL_INIT(proxy_workerRequestPayment);
    m.db_tokens = 10;
    m.max_tokens = 42;
    m.request_tokens = 32;
    m.request_client_owner = tl_str("0:alice");
    worker_money_on_payment(&w, &l, &m);
    json_t *o = json_object();
    worker_money_json(&w, o);
    json_t *last = json_object_get(json_object_get(o, "payments"), "last_payment");
    assert_int_equal(json_integer_value(json_object_get(last, "count")), 1);
    assert_int_equal(json_integer_value(json_object_get(last, "db_tokens")), 10);
    assert_int_equal(json_integer_value(json_object_get(last, "max_tokens")), 42);
    assert_int_equal(json_integer_value(json_object_get(last, "request_tokens")), 32);
    assert_string_equal(json_string_value(json_object_get(last, "client")), "0:alice");
    json_decref(o);
}

int main(void)
{
    cc_log_init("test", CC_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_without_registry_are_category_splits),
        cmocka_unit_test(test_counts_with_registry_multipliers),
        cmocka_unit_test(test_last_payment_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
