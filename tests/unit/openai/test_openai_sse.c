/* The SSE filter that removes the usage-only event a caller did not ask for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "openai/openai.h"

static const char *const chunk0 =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"the usage of words\"}}]}\n\n";
static const char *const chunk1 = ": comment\n"
                                  "data: {\"choices\":[{\"index\":0,\"delta\":{},"
                                  "\"finish_reason\":\"stop\"}],\"usage\":null}\n\n";
static const char *const usage_only =
    "data: {\"id\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
    "\"completion_tokens\":4,\"total_tokens\":7}}\n\n";
static const char *const done = "data: [DONE]\n\n";

static void run_split(const char *in, size_t cut, cc_buf *out, size_t *dropped)
{
    openai_sse_filter *f = openai_sse_filter_new();
    size_t n = strlen(in);
    openai_sse_filter_feed(f, (const uint8_t *)in, cut, out);
    openai_sse_filter_feed(f, (const uint8_t *)in + cut, n - cut, out);
    openai_sse_filter_finish(f, out);
    *dropped = openai_sse_filter_dropped(f);
    openai_sse_filter_free(f);
}

static void check_stream(const char *sep_variant_in, const char *expected)
{
    size_t n = strlen(sep_variant_in);
    for (size_t cut = 0; cut <= n; cut++) {
        cc_buf out = CC_BUF_INIT;
        size_t dropped;
        run_split(sep_variant_in, cut, &out, &dropped);
        cc_buf_append_u8(&out, 0);
        if (strcmp((char *)out.data, expected) != 0 || dropped != 1)
            fail_msg("cut %zu: dropped %zu, got [%s]", cut, dropped, (char *)out.data);
        cc_buf_free(&out);
    }
}

static char *replace_all(const char *s, const char *from, const char *to)
{
    cc_buf b = CC_BUF_INIT;
    size_t fl = strlen(from);
    for (const char *p = s; *p;) {
        if (strncmp(p, from, fl) == 0) {
            cc_buf_append_str(&b, to);
            p += fl;
        } else {
            cc_buf_append_u8(&b, (uint8_t)*p++);
        }
    }
    return cc_buf_steal_str(&b);
}

static void test_drops_only_the_usage_event(void **state)
{
    cc_buf in = CC_BUF_INIT, want = CC_BUF_INIT;
    const char *parts[] = {chunk0, chunk1, usage_only, done};
    for (size_t i = 0; i < 4; i++) {
        cc_buf_append_str(&in, parts[i]);
        if (parts[i] != usage_only) cc_buf_append_str(&want, parts[i]);
    }
    cc_buf_append_u8(&in, 0);
    cc_buf_append_u8(&want, 0);
    check_stream((char *)in.data, (char *)want.data);
    /* CRLF line ends and CR-only line ends behave the same */
    char *in_crlf = replace_all((char *)in.data, "\n", "\r\n");
    char *want_crlf = replace_all((char *)want.data, "\n", "\r\n");
    check_stream(in_crlf, want_crlf);
    char *in_cr = replace_all((char *)in.data, "\n", "\r");
    char *want_cr = replace_all((char *)want.data, "\n", "\r");
    check_stream(in_cr, want_cr);
    free(in_crlf);
    free(want_crlf);
    free(in_cr);
    free(want_cr);
    cc_buf_free(&in);
    cc_buf_free(&want);
}

static void test_keeps_everything_else(void **state)
{
    /* usage next to real choices (continuous usage stats), a usage-like
     * string in content, an unterminated last event, and byte-by-byte feeding */
    const char *in =
        "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":{\"prompt_tokens\":1}}\n\n"
        "data: {\"choices\":[],\"note\":\"usage\"}\n\n"
        "data: [DONE]\n\n"
        "data: {\"tail\":1}";
    openai_sse_filter *f = openai_sse_filter_new();
    cc_buf out = CC_BUF_INIT;
    for (size_t i = 0; in[i]; i++)
        openai_sse_filter_feed(f, (const uint8_t *)in + i, 1, &out);
    openai_sse_filter_finish(f, &out);
    assert_int_equal(openai_sse_filter_dropped(f), 0);
    assert_int_equal(out.len, strlen(in));
    assert_memory_equal(out.data, in, out.len);
    openai_sse_filter_free(f);
    cc_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drops_only_the_usage_event),
        cmocka_unit_test(test_keeps_everything_else),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
