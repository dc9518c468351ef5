#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "openai/openai.h"

static const char sse_stream[] =
    ": keep-alive comment\r\n"
    "data: {\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"say \\\"usage\\\": "
    "{\\\"prompt_tokens\\\": 999}\"}}],\"usage\":null}\r\n"
    "\r\n"
    "event: message\n"
    "data: "
    "{\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"}{[\"},\"usage\":{\"prompt_tokens\":"
    "777}}],\n"
    "data:  \"usage\":null}\n"
    "\n"
    "data:{\"id\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":22,"
    "\"total_tokens\":33,\"prompt_tokens_details\":{\"cached_tokens\":4},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":5}}}\n"
    "\n"
    "data: [DONE]\n"
    "\n";

static void expect_usage(const openai_usage *u, int64_t p, int64_t c, int64_t t, int64_t cached,
                         int64_t reasoning)
{
    assert_int_equal(u->prompt_tokens, p);
    assert_int_equal(u->completion_tokens, c);
    assert_int_equal(u->total_tokens, t);
    assert_int_equal(u->cached_tokens, cached);
    assert_int_equal(u->reasoning_tokens, reasoning);
}

static void test_plain_json_body(void **state)
{
    const char *body =
        "{\"id\":\"c\",\"object\":\"chat.completion\",\"choices\":[{\"message\":{\"content\":"
        "\"usage\"},\"usage\":{\"prompt_tokens\":1}}],\n \"usage\" : {\"prompt_tokens\":17,"
        "\"completion_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":2}}}";
    openai_usage_scanner p;
    openai_usage u;
    openai_usage_scanner_init(&p, OPENAI_USAGE_AUTO);
    openai_usage_scanner_feed(&p, (const uint8_t *)body, strlen(body));
    assert_true(openai_usage_scanner_result(&p, &u));
    /* total missing: prompt + completion */
    expect_usage(&u, 17, 3, 20, 2, 0);
}

static void test_sse_whole(void **state)
{
    openai_usage_scanner p;
    openai_usage u;
    openai_usage_scanner_init(&p, OPENAI_USAGE_AUTO);
    openai_usage_scanner_feed(&p, (const uint8_t *)sse_stream, strlen(sse_stream));
    assert_true(openai_usage_scanner_result(&p, &u));
    expect_usage(&u, 11, 22, 33, 4, 5);
    assert_int_equal(p.events, 4);
}

/* Every split point, and byte by byte: the answer must never change. */
static void test_sse_split_everywhere(void **state)
{
    size_t n = strlen(sse_stream);
    for (size_t cut = 0; cut <= n; cut++) {
        openai_usage_scanner p;
        openai_usage u;
        openai_usage_scanner_init(&p, OPENAI_USAGE_SSE);
        openai_usage_scanner_feed(&p, (const uint8_t *)sse_stream, cut);
        openai_usage_scanner_feed(&p, (const uint8_t *)sse_stream + cut, n - cut);
        assert_true(openai_usage_scanner_result(&p, &u));
        expect_usage(&u, 11, 22, 33, 4, 5);
    }
    openai_usage_scanner p;
    openai_usage u;
    openai_usage_scanner_init(&p, OPENAI_USAGE_AUTO);
    for (size_t i = 0; i < n; i++)
        openai_usage_scanner_feed(&p, (const uint8_t *)sse_stream + i, 1);
    assert_true(openai_usage_scanner_result(&p, &u));
    expect_usage(&u, 11, 22, 33, 4, 5);
}

static void test_json_split_everywhere(void **state)
{
    const char *body = "{\"choices\":[{\"text\":\"a\\\\\\\"b\"}],\"usage\":{\"prompt_tokens\":5,"
                       "\"completion_tokens\":6,\"total_tokens\":11}}";
    size_t n = strlen(body);
    for (size_t cut = 0; cut <= n; cut++) {
        openai_usage_scanner p;
        openai_usage u;
        openai_usage_scanner_init(&p, OPENAI_USAGE_AUTO);
        openai_usage_scanner_feed(&p, (const uint8_t *)body, cut);
        openai_usage_scanner_feed(&p, (const uint8_t *)body + cut, n - cut);
        assert_true(openai_usage_scanner_result(&p, &u));
        expect_usage(&u, 5, 6, 11, 0, 0);
    }
}

static void test_no_usage_and_null_usage(void **state)
{
    const char *streams[] = {
        "data: {\"choices\":[],\"usage\":null}\n\ndata: [DONE]\n\n",
        "{\"choices\":[{\"usage\":{\"prompt_tokens\":3}}]}",
        "{\"error\":{\"message\":\"usage\"}}",
        "data: [DONE]\n\n",
        "[{\"usage\":{\"prompt_tokens\":3}}]",
        "",
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(streams); i++) {
        openai_usage_scanner p;
        openai_usage u;
        openai_usage_scanner_init(&p, OPENAI_USAGE_AUTO);
        openai_usage_scanner_feed(&p, (const uint8_t *)streams[i], strlen(streams[i]));
        assert_false(openai_usage_scanner_result(&p, &u));
    }
}

/* A usage object larger than the bound is ignored, and content of any size
 * passes without being kept. */
static void test_bounded(void **state)
{
    cc_buf b = CC_BUF_INIT;
    cc_buf_append_str(&b, "data: {\"choices\":[{\"delta\":{\"content\":\"");
    for (int i = 0; i < 200000; i++)
        cc_buf_append_str(&b, "x");
    cc_buf_append_str(&b, "\"}}],\"usage\":{\"prompt_tokens\":1,\"pad\":\"");
    for (int i = 0; i < OPENAI_USAGE_MAX_OBJECT; i++)
        cc_buf_append_str(&b, "y");
    cc_buf_append_str(&b, "\"}}\n\n");
    openai_usage_scanner p;
    openai_usage u;
    openai_usage_scanner_init(&p, OPENAI_USAGE_AUTO);
    openai_usage_scanner_feed(&p, b.data, b.len);
    assert_false(openai_usage_scanner_result(&p, &u));
    /* the next event still parses */
    const char *ok = "data: {\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":1}}\n\n";
    openai_usage_scanner_feed(&p, (const uint8_t *)ok, strlen(ok));
    assert_true(openai_usage_scanner_result(&p, &u));
    expect_usage(&u, 2, 1, 3, 0, 0);
    cc_buf_free(&b);
}

static void test_bad_values_clamped(void **state)
{
    json_t *j = json_loads("{\"prompt_tokens\":-5,\"completion_tokens\":\"7\","
                           "\"total_tokens\":12.0}",
                           0, NULL);
    openai_usage u;
    assert_true(openai_usage_from_json(j, &u));
    expect_usage(&u, 0, 0, 12, 0, 0);
    json_decref(j);
    assert_false(openai_usage_from_json(NULL, &u));
}

/* The usage object is read by a field scan, with jansson only for what the
 * scan cannot judge: every text must come out as openai_usage_from_json
 * over jansson's parse says. */
static void test_usage_scan_agrees_with_parse(void **state)
{
    (void)state;
    static const char *const objs[] = {
        "{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}",
        "{ \"prompt_tokens\" : 12.0 , \"completion_tokens\":-4, \"x\":[1,{\"a\":null}] }",
        "{\"prompt_tokens\":5,\"prompt_tokens\":6}",
        "{\"prompt_tokens\":999999999999999,\"completion_tokens\":1e3}",
        "{\"prompt_tokens\":9999999999999999999999}",
        "{\"prompt_tokens\":\"7\",\"completion_tokens\":true,\"total_tokens\":0}",
        "{\"prompt_tokens_details\":{\"cached_tokens\":2},\"completion_tokens_details\":"
        "{\"reasoning_tokens\":3.9,\"other\":1},\"prompt_tokens\":10}",
        "{\"prompt_tokens_details\":{\"cached_tokens\":2},\"prompt_tokens_details\":null}",
        "{\"prompt_tokens_details\":{\"cached_tokens\":2},\"prompt_tokens_details\":{}}",
        "{\"\\u0070rompt_tokens\":8}",
        "{\"prompt_tokens\":1,\"name\":\"caf\xc3\xa9\"}",
        "{\"prompt_tokens\":1,\"name\":\"\xc3\"}",
        "{\"prompt_tokens\":01}",
        "{\"prompt_tokens\":1,}",
        "{}",
    };
    for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
        openai_usage want = {0}, got = {0};
        json_t *j = json_loads(objs[i], 0, NULL);
        bool want_found = j && openai_usage_from_json(j, &want);
        json_decref(j);
        cc_buf body = CC_BUF_INIT;
        cc_buf_append_str(&body, "{\"usage\":");
        cc_buf_append_str(&body, objs[i]);
        cc_buf_append_str(&body, "}");
        openai_usage_scanner p;
        openai_usage_scanner_init(&p, OPENAI_USAGE_AUTO);
        openai_usage_scanner_feed(&p, body.data, body.len);
        bool found = openai_usage_scanner_result(&p, &got);
        cc_buf_free(&body);
        if (found != want_found) fail_msg("case %zu: found %d, jansson %d", i, found, want_found);
        if (found && memcmp(&got, &want, sizeof(got)) != 0) fail_msg("case %zu: counts differ", i);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_json_body),
        cmocka_unit_test(test_usage_scan_agrees_with_parse),
        cmocka_unit_test(test_sse_whole),
        cmocka_unit_test(test_sse_split_everywhere),
        cmocka_unit_test(test_json_split_everywhere),
        cmocka_unit_test(test_no_usage_and_null_usage),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_bad_values_clamped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
