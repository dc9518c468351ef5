/* cocoon-proxy config: defaults, relative paths, and messages naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/proxy.h"

static int parse(const char *text, proxy_config *c, cc_err *err)
{
    json_t *j = cc_json_loadb(text, strlen(text), err);
    assert_non_null(j);
    proxy_config_init(c);
    int rc = proxy_config_from_json(j, "/etc/cocoon/proxy.json", c, err);
    if (rc == 0) rc = proxy_config_validate(c, err);
    json_decref(j);
    return rc;
}

static void test_defaults_and_paths(void **state)
{
    (void)state;
    proxy_config c;
    cc_err err = {0};
    assert_int_equal(parse("{\"registry\": \"registry.json\"}", &c, &err), 0);
    assert_string_equal(c.common.registry, "/etc/cocoon/registry.json");
    assert_string_equal(c.workers.host, "0.0.0.0");
    assert_int_equal(c.workers.port, 11001);
    assert_int_equal(c.clients.port, 11002);
    assert_string_equal(c.http.host, "127.0.0.1");
    assert_int_equal(c.http.port, 11000);
    assert_int_equal(c.pow_difficulty, 20);
    assert_string_equal(c.common.chain, "none");
    assert_string_equal(c.common.policy, "any");
    /* The client port has its own policy, any by default as COCOON deploys it. */
    assert_string_equal(c.client_policy, "any");
    /* COCOON's ton_disabled account: 100 TON, 1 TON stake. */
    assert_int_equal(c.free_client_balance_nano, 100000000000LL);
    assert_int_equal(c.free_client_stake_nano, 1000000000LL);
    proxy_config_clear(&c);

    assert_int_equal(parse("{\"registry\": \"r\", \"free_client_balance_nano\": 30000, "
                           "\"free_client_stake_nano\": 0}",
                           &c, &err),
                     0);
    assert_int_equal(c.free_client_balance_nano, 30000);
    assert_int_equal(c.free_client_stake_nano, 0);
    proxy_config_clear(&c);

    assert_int_equal(parse("{\"registry\": \"r\", \"tee\": \"fake_tdx\", \"policy\": "
                           "\"fake_tdx\", \"client_policy\": \"tdx\"}",
                           &c, &err),
                     0);
    assert_string_equal(c.common.policy, "fake_tdx");
    assert_string_equal(c.client_policy, "tdx");
    proxy_config_clear(&c);

    assert_int_equal(parse("{\"registry\": \"/abs/r.json\", \"listen_workers\": "
                           "\"127.0.0.1:0\", \"listen_clients\": \"[::1]:5\", "
                           "\"pow_difficulty\": 3, \"request_timeout\": 2.5}",
                           &c, &err),
                     0);
    assert_string_equal(c.common.registry, "/abs/r.json");
    assert_string_equal(c.workers.host, "127.0.0.1");
    assert_int_equal(c.workers.port, 0);
    assert_string_equal(c.clients.host, "::1");
    assert_int_equal(c.clients.port, 5);
    assert_int_equal(c.pow_difficulty, 3);
    assert_true(c.request_timeout == 2.5);
    proxy_config_clear(&c);

    /* Fair limits and hung-worker deadlines: defaults, then each key. */
    assert_int_equal(parse("{\"registry\": \"r\"}", &c, &err), 0);
    assert_true(c.limits.first_byte_timeout == 120);
    assert_true(c.limits.worker_liveness_timeout == 8);
    assert_int_equal(c.limits.max_queued, 4096);
    assert_int_equal(c.limits.max_queued_bytes, 256u << 20);
    assert_int_equal(c.limits.client_max_active, 256);
    assert_int_equal(c.limits.client_max_queued, 1024);
    assert_int_equal(c.limits.client_max_queued_bytes, 64u << 20);
    proxy_config_clear(&c);
    assert_int_equal(parse("{\"registry\": \"r\", \"first_byte_timeout\": 0, "
                           "\"worker_liveness_timeout\": 3.5, \"max_queued\": 10, "
                           "\"max_queued_bytes\": 1000, \"client_max_active\": 2, "
                           "\"client_max_queued\": 3, \"client_max_queued_bytes\": 500}",
                           &c, &err),
                     0);
    assert_true(c.limits.first_byte_timeout == 0);
    assert_true(c.limits.worker_liveness_timeout == 3.5);
    assert_int_equal(c.limits.max_queued, 10);
    assert_int_equal(c.limits.max_queued_bytes, 1000);
    assert_int_equal(c.limits.client_max_active, 2);
    assert_int_equal(c.limits.client_max_queued, 3);
    assert_int_equal(c.limits.client_max_queued_bytes, 500);
    proxy_config_clear(&c);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{}", "\"registry\""},
        {"{\"registry\": 5}", "\"registry\""},
        {"{\"registry\": \"r\", \"pow_difficulty\": 29}", "\"pow_difficulty\""},
        {"{\"registry\": \"r\", \"listen_workers\": \"nohost\"}", "\"listen_workers\""},
        {"{\"registry\": \"r\", \"listen_clients\": \"h:70000\"}", "\"listen_clients\""},
        {"{\"registry\": \"r\", \"policy\": \"trust-me\"}", "\"policy\""},
        {"{\"registry\": \"r\", \"tee\": \"fake\"}", "\"fake_root\""},
        {"{\"registry\": \"r\", \"client_policy\": \"trust-me\"}", "\"client_policy\""},
        {"{\"registry\": \"r\", \"client_policy\": \"fake\"}", "\"fake_root\""},
        {"{\"registry\": \"r\", \"log_level\": \"loud\"}", "\"log_level\""},
        {"{\"registry\": \"r\", \"request_timeout\": 0}", "\"request_timeout\""},
        {"{\"registry\": \"r\", \"registy\": \"r\"}", "\"registy\""},
        {"{\"registry\": \"r\", \"client_max_active\": 0}", "\"client_max_active\""},
        {"{\"registry\": \"r\", \"max_queued_bytes\": -1}", "\"max_queued_bytes\""},
        {"{\"registry\": \"r\", \"worker_liveness_timeout\": 0.5}", "\"worker_liveness_timeout\""},
        {"{\"registry\": \"r\", \"first_byte_timeout\": \"soon\"}", "\"first_byte_timeout\""},
        {"{\"registry\": \"r\", \"free_client_balance_nano\": -1}", "\"free_client_balance_nano\""},
        {"{\"registry\": \"r\", \"free_client_stake_nano\": 1.5}", "\"free_client_stake_nano\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        proxy_config c;
        cc_err err = {0};
        if (parse(cases[i].json, &c, &err) == 0) fail_msg("case %zu accepted", i);
        if (!strstr(err.msg, cases[i].needle))
            fail_msg("case %zu: \"%s\" lacks %s", i, err.msg, cases[i].needle);
        proxy_config_clear(&c);
    }
}

/* The example configuration in configs/ must stay valid. */
static void test_example_config(void **state)
{
    (void)state;
    const char *src = getenv("COCOON_SOURCE_DIR");
    if (!src) skip();
    char path[1024];
    snprintf(path, sizeof(path), "%s/configs/proxy.json", src);
    proxy_config c;
    cc_err err = {0};
    proxy_config_init(&c);
    if (proxy_config_load(path, &c, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(c.clients.port, 11002);
    assert_non_null(strstr(c.common.registry, "configs/registry.json"));
    /* Shipped configs attest (a TEE and policy tdx with collateral). */
    assert_string_equal(c.common.tee, "tdx");
    assert_string_equal(c.common.policy, "tdx");
    assert_non_null(strstr(c.common.collateral, "configs/tdx-collateral.json"));
    proxy_config_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_config),
        cmocka_unit_test(test_defaults_and_paths),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
