/* cocoon-client config: JSON, flag overrides and validation messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/client.h"
#include "crypto/crypto.h"

static int parse(const char *text, client_config *c, cc_err *err)
{
    json_t *j = cc_json_loadb(text, strlen(text), err);
    assert_non_null(j);
    client_config_init(c);
    int rc = client_config_from_json(j, "client.json", c, err);
    json_decref(j);
    if (rc == 0) rc = client_config_validate(c, err);
    return rc;
}

static void test_ok(void **state)
{
    (void)state;
    client_config c;
    cc_err err = {0};
    assert_int_equal(parse("{\"proxies\": [\"127.0.0.1:11002\", \"127.0.0.1:11003\"], "
                           "\"listen_http\": \"127.0.0.1:0\", \"max_tokens\": 77}",
                           &c, &err),
                     0);
    assert_int_equal(c.n_proxies, 2);
    assert_int_equal(c.http_port, 0);
    assert_int_equal(c.max_tokens, 77);
    assert_int_equal(c.max_body, 8 << 20);
    assert_true(c.is_test); /* the default: the networks we know are test ones */
    char *argv[] = {"--http", "0.0.0.0:9", "--proxy", "1.1.1.1:2", "--proxy", "1.1.1.1:3"};
    assert_int_equal(client_config_apply_flags(&c, 6, argv, &err), 0);
    assert_string_equal(c.http_host, "0.0.0.0");
    assert_int_equal(c.http_port, 9);
    assert_int_equal(c.n_proxies, 2);
    assert_string_equal(c.proxies[0], "1.1.1.1:2");
    assert_string_equal(c.proxies[1], "1.1.1.1:3");
    client_config_clear(&c);

    /* The API listener's limits ("http"): unset fields keep the server's
     * defaults; allowed_hosts names add to the loopback ones. */
    assert_int_equal(parse("{\"proxies\": [\"127.0.0.1:1\"], \"http\": {\"max_connections\": 50, "
                           "\"header_timeout\": 2.5, \"max_output\": 1048576, "
                           "\"allowed_hosts\": \"api.internal\"}}",
                           &c, &err),
                     0);
    http_server_config hc = {.max_body = 7};
    daemon_http_limits_apply(&c.http_limits, &hc);
    assert_int_equal(hc.max_connections, 50);
    assert_true(hc.header_timeout == 2.5);
    assert_int_equal(hc.max_output, 1 << 20);
    assert_int_equal(hc.max_body, 7);
    assert_true(hc.body_timeout == 0); /* the server's default */
    assert_null(hc.allowed_hosts);
    assert_string_equal(hc.extra_hosts, "api.internal");
    client_config_clear(&c);
    assert_int_equal(
        parse("{\"proxies\": [\"127.0.0.1:1\"], \"http\": {\"allowed_hosts\": \"*\"}}", &c, &err),
        0);
    hc = (http_server_config){0};
    daemon_http_limits_apply(&c.http_limits, &hc);
    assert_string_equal(hc.allowed_hosts, "*");
    client_config_clear(&c);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{}", "\"proxies\""},
        {"{\"proxies\": []}", "\"proxies\""},
        {"{\"proxies\": [\"a:b\"]}", "proxies[0]"},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"max_body\": 10}", "\"max_body\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"max_coefficient\": \"high\"}", "\"max_coefficient\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"request_timeout\": -1}", "\"request_timeout\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"tee\": \"sgx\"}", "\"tee\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"policy\": \"fake\"}", "\"fake_root\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"port\": 1}", "\"port\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"is_test\": 1}", "\"is_test\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"api_keys\": {}}", "\"api_keys\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"api_keys\": [{\"key\": \"sk-12345678\"}]}",
         "\"api_keys[0].name\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"api_keys\": [{\"name\": \"a\"}]}",
         "exactly one of \"key\" and \"key_sha256\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"api_keys\": [{\"name\": \"a\", \"key\": \"short\"}]}",
         "\"api_keys[0].key\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"api_keys\": [{\"name\": \"a\", \"key_sha256\": "
         "\"00\"}]}",
         "\"api_keys[0].key_sha256\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"api_keys\": [{\"name\": \"a\", \"key\": "
         "\"sk-12345678\", \"budget_tokens_day\": -1}]}",
         "budget_tokens_day"},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"api_keys\": [{\"name\": \"a\", \"key\": "
         "\"sk-12345678\", \"budget\": 1}]}",
         "budget"},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"api_keys\": [{\"name\": \"a\", \"key\": "
         "\"sk-12345678\"}, {\"name\": \"b\", \"key\": "
         "\"sk-12345678\"}]}",
         "the same key as api_keys[0]"},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"api_keys\": [{\"name\": \"a\", \"key\": "
         "\"sk-12345678\"}, {\"name\": \"a\", \"key\": "
         "\"sk-87654321\"}]}",
         "\"a\" is used twice"},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"api_keys\": [{\"name\": \"a\", \"key\": "
         "\"sk-12345678\", \"budget_nano_total\": 5}]}",
         "needs \"price_per_token\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"cors_origins\": \"x\"}", "\"cors_origins\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"cors_origins\": [\"ftp://a\"]}",
         "\"cors_origins[0]\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"cors_origins\": [\"https://a\", \"https://a/b\"]}",
         "\"cors_origins[1]\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"cors_origins\": [\"https://\"]}",
         "\"cors_origins[0]\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"admin_listen\": \"nope\"}", "\"admin_listen\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"http\": 5}", "\"http\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"http\": {\"max_conns\": 5}}", "\"max_conns\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"http\": {\"max_connections\": 0}}",
         "\"max_connections\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"http\": {\"header_timeout\": \"x\"}}",
         "\"http\": field \"header_timeout\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        client_config c;
        cc_err err = {0};
        if (parse(cases[i].json, &c, &err) == 0) fail_msg("case %zu accepted", i);
        if (!strstr(err.msg, cases[i].needle))
            fail_msg("case %zu: \"%s\" lacks %s", i, err.msg, cases[i].needle);
        client_config_clear(&c);
    }
}

/* Keys are kept as SHA-256 only, whether given plain or hashed. */
static void test_api_keys(void **state)
{
    (void)state;
    client_config c;
    cc_err err = {0};
    assert_int_equal(
        parse("{\"proxies\": [\"127.0.0.1:1\"], \"price_per_token\": 2, \"api_keys\": ["
              "{\"name\": \"plain\", \"key\": \"sk-12345678\", \"budget_tokens_day\": 10},"
              "{\"name\": \"hashed\", \"key_sha256\": "
              "\"5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456\", "
              "\"budget_nano_total\": 7}]}",
              &c, &err),
        0);
    assert_int_equal(c.n_api_keys, 2);
    assert_int_equal(c.price_per_token, 2);
    uint8_t h[32];
    crypto_sha256("sk-12345678", 11, h);
    assert_memory_equal(c.api_keys[0].sha256, h, 32);
    assert_string_equal(c.api_keys[0].name, "plain");
    assert_int_equal(c.api_keys[0].budget_tokens_day, 10);
    assert_int_equal(c.api_keys[1].sha256[0], 0x5d);
    assert_int_equal(c.api_keys[1].sha256[31], 0x56);
    assert_int_equal(c.api_keys[1].budget_nano_total, 7);
    assert_int_equal(c.admin_port, -1); /* not given */
    assert_null(c.cors_origins);
    client_config_clear(&c);
    assert_int_equal(parse("{\"proxies\": [\"127.0.0.1:1\"], \"admin_listen\": \"127.0.0.1:9100\", "
                           "\"cors_origins\": [\"https://a.example\", \"http://localhost:3000\"]}",
                           &c, &err),
                     0);
    assert_string_equal(c.admin_host, "127.0.0.1");
    assert_int_equal(c.admin_port, 9100);
    assert_string_equal(c.cors_origins, "https://a.example,http://localhost:3000");
    client_config_clear(&c);
}

/* The example configuration in configs/ must stay valid. */
static void test_example_config(void **state)
{
    (void)state;
    const char *src = getenv("COCOON_SOURCE_DIR");
    if (!src) skip();
    char path[1024];
    snprintf(path, sizeof(path), "%s/configs/client.json", src);
    client_config c;
    cc_err err = {0};
    client_config_init(&c);
    if (client_config_load(path, &c, &err) < 0 || client_config_validate(&c, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(c.http_port, 10000);
    /* Shipped configs attest the proxy. */
    assert_string_equal(c.common.policy, "tdx");
    assert_non_null(c.common.collateral);
    client_config_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_config),
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_api_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
