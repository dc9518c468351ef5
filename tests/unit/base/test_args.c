/* cc_args: the one option parser every program uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

static const cc_opt opts[] = {
    {"--port", "N", "the port", "10000"},
    {"--name", "NAME", "a name", NULL},
    {"--json", NULL, "print JSON", NULL},
    {"--ratio", "R", "a number", "0.5"},
};

/* Parses a NULL-terminated word list; returns the rc and leaves err. */
static int parse(cc_args *a, cc_err *err, const char *const *words)
{
    int n = 0;
    while (words[n])
        n++;
    memset(err, 0, sizeof(*err));
    return cc_args_parse(opts, CC_ARRAY_LEN(opts), n, (char *const *)words, a, err);
}

#define PARSE(a, err, ...) parse(a, err, (const char *const[]){__VA_ARGS__, NULL})

static void test_values_flags_and_positionals(void **state)
{
    (void)state;
    cc_args a;
    cc_err err;
    assert_int_equal(PARSE(&a, &err, "show", "--port", "80", "file", "--json", "--name=x=y"), 0);
    assert_string_equal(cc_args_get(&a, "--port"), "80");
    assert_string_equal(cc_args_get(&a, "--name"), "x=y"); /* split at the first '=' */
    assert_true(cc_args_flag(&a, "--json"));
    assert_null(cc_args_get(&a, "--ratio"));
    assert_int_equal(a.n_pos, 2);
    assert_string_equal(a.pos[0], "show");
    assert_string_equal(a.pos[1], "file");
    assert_false(a.help);

    /* The last of a repeated option wins; "-", "-5" and words after "--" are
     * positional. */
    assert_int_equal(PARSE(&a, &err, "--port", "1", "-", "--port", "2", "-5", "--", "--json"), 0);
    assert_string_equal(cc_args_get(&a, "--port"), "2");
    assert_false(cc_args_flag(&a, "--json"));
    assert_int_equal(a.n_pos, 3);
    assert_string_equal(a.pos[0], "-");
    assert_string_equal(a.pos[1], "-5");
    assert_string_equal(a.pos[2], "--json");

    /* A value may look like a negative number or an unknown word with dashes. */
    assert_int_equal(PARSE(&a, &err, "--name", "-1", "--ratio", "--x"), 0);
    assert_string_equal(cc_args_get(&a, "--name"), "-1");
    assert_string_equal(cc_args_get(&a, "--ratio"), "--x");
}

static void test_help(void **state)
{
    (void)state;
    cc_args a;
    cc_err err;
    assert_int_equal(PARSE(&a, &err, "--port", "1", "--help"), 0);
    assert_true(a.help);
    assert_int_equal(PARSE(&a, &err, "-h"), 0);
    assert_true(a.help);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *words[4];
        const char *msg;
    } cases[] = {
        {{"--bogus"}, "unknown option --bogus"},
        {{"--bogus", "value"}, "unknown option --bogus"},
        {{"--bogus=1"}, "unknown option --bogus"},
        {{"-x"}, "unknown option -x"},
        {{"--port"}, "option --port needs a value (N)"},
        {{"--port", "--json"}, "option --port needs a value (N)"},
        {{"--port", "--help"}, "option --port needs a value (N)"},
        {{"--json=yes"}, "option --json takes no value"},
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(cases); i++) {
        cc_args a;
        cc_err err;
        if (parse(&a, &err, cases[i].words) == 0) fail_msg("case %zu accepted", i);
        if (strcmp(err.msg, cases[i].msg) != 0)
            fail_msg("case %zu: \"%s\", want \"%s\"", i, err.msg, cases[i].msg);
    }
    const char *many[CC_ARGS_MAX_POS + 2] = {0};
    for (int i = 0; i < CC_ARGS_MAX_POS + 1; i++)
        many[i] = "w";
    cc_args a;
    cc_err err;
    assert_int_equal(parse(&a, &err, many), -1);
    assert_non_null(strstr(err.msg, "too many arguments"));
}

static void test_typed_values(void **state)
{
    (void)state;
    cc_args a;
    cc_err err;
    assert_int_equal(PARSE(&a, &err, "--port", "8080", "--ratio", "0.25"), 0);
    int port = 1;
    double ratio = 0;
    assert_int_equal(cc_args_int(&a, "--port", 0, 65535, &port, &err), 0);
    assert_int_equal(port, 8080);
    assert_int_equal(cc_args_double(&a, "--ratio", &ratio, &err), 0);
    assert_true(ratio == 0.25);

    /* Absent: the default stays. */
    assert_int_equal(PARSE(&a, &err, "x"), 0);
    port = 7;
    assert_int_equal(cc_args_int(&a, "--port", 0, 65535, &port, &err), 0);
    assert_int_equal(port, 7);

    /* Out of range and not a number: the message names the option. */
    assert_int_equal(PARSE(&a, &err, "--port", "70000", "--ratio", "half"), 0);
    assert_int_equal(cc_args_int(&a, "--port", 0, 65535, &port, &err), -1);
    assert_non_null(strstr(err.msg, "--port"));
    assert_int_equal(port, 7);
    assert_int_equal(cc_args_double(&a, "--ratio", &ratio, &err), -1);
    assert_non_null(strstr(err.msg, "--ratio: expected a number"));
}

static void test_usage_lists_defaults(void **state)
{
    (void)state;
    char text[2048] = "";
    FILE *f = fmemopen(text, sizeof(text) - 1, "w");
    assert_non_null(f);
    cc_args_usage(f, opts, CC_ARRAY_LEN(opts));
    fclose(f);
    assert_non_null(strstr(text, "--port N"));
    assert_non_null(strstr(text, "the port (default 10000)"));
    assert_non_null(strstr(text, "--json "));
    assert_null(strstr(text, "a name (default"));
    assert_non_null(strstr(text, "--help"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_flags_and_positionals),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_typed_values),
        cmocka_unit_test(test_usage_lists_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
