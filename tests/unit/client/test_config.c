/* cocoon-client config: JSON, flag overrides and validation messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/client.h"

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
