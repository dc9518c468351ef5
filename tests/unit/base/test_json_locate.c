/* Where a field is in a JSON text, and which field a config error names:
 * together they let config errors name file, line and column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "base/base.h"

static const char text[] = "{\n"
                           "  \"a\": 1,\n"
                           "  \"nested\": {\"x\": [1, {\"y\": 2}], \"z\": \"q\\\"}\"},\n"
                           "  \"list\": [\n"
                           "    {\"name\": \"one\"},\n"
                           "    {\"name\": \"two\", \"é\": 3,  \"k\": true}\n"
                           "  ],\n"
                           "\t\"last\": null\n"
                           "}\n";

static void expect_at(const char *path, int line, int col)
{
    int l = 0, c = 0;
    if (cc_json_locate(text, strlen(text), path, &l, &c) != 0) fail_msg("%s not found", path);
    assert_int_equal(l, line);
    assert_int_equal(c, col);
}

static void test_locate(void **state)
{
    (void)state;
    expect_at("a", 2, 3);
    expect_at("nested", 3, 3);
    expect_at("nested.x", 3, 14);
    expect_at("nested.x[1]", 3, 23);
    expect_at("nested.x[1].y", 3, 24);
    expect_at("nested.z", 3, 34); /* after a string holding an escaped quote and a brace */
    expect_at("list[0]", 5, 5);
    expect_at("list[1].name", 6, 6);
    expect_at("list[1].k", 6, 30); /* columns count characters, not bytes */
    expect_at("last", 8, 2);
    int l, c;
    static const char *const missing[] = {"b",         "nested.y", "nested.x[2]", "list[0].k",
                                          "a.b",       "a[0]",     "list.name",   "",
                                          "nested..x", "list[-1]", "list[x]"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
        assert_int_equal(cc_json_locate(text, strlen(text), missing[i], &l, &c), -1);
    /* a truncated or malformed text is "not found", never a crash */
    for (size_t n = 0; n < strlen(text); n++)
        (void)cc_json_locate(text, n, "last", &l, &c);
    assert_int_equal(cc_json_locate("[1,2]", 5, "a", &l, &c), -1);
}

static void expect_field(const char *msg, const char *want)
{
    char out[128];
    if (!want) {
        assert_int_equal(cc_json_error_field(msg, out, sizeof(out)), -1);
        return;
    }
    assert_int_equal(cc_json_error_field(msg, out, sizeof(out)), 0);
    assert_string_equal(out, want);
}

static void test_error_field(void **state)
{
    (void)state;
    expect_field("field \"threads\" must be between 0 and 1024, got 5000", "threads");
    expect_field("config: unknown field \"thredas\"", "thredas");
    expect_field("field \"http\": unknown field \"max_conn\"", "http.max_conn");
    expect_field("field \"http\": field \"max_connections\" must be an integer",
                 "http.max_connections");
    expect_field("api_keys[1]: unknown field \"budget\"", "api_keys[1].budget");
    expect_field("field \"api_keys[0].name\": \"x\" is used twice", "api_keys[0].name");
    expect_field("field \"allowed_tcb_statuses\"[2]: unknown status", "allowed_tcb_statuses[2]");
    expect_field("field \"reconnect_min\" (5) exceeds \"reconnect_max\" (1)", "reconnect_min");
    expect_field("proxies[1]: bad address \"x\" (expected host:port)", "proxies[1]");
    expect_field("top level must be a JSON object", NULL);
    expect_field("bad thing: something", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locate),
        cmocka_unit_test(test_error_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
