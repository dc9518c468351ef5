/* The SSE splitter, and the filter that removes the usage-only event a
 * caller did not ask for. */
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

/* What the splitter reports, rendered as text: each event's data (lines
 * joined with '\n') in brackets, then '|' per end, '~' per tail. */
static void split_feed(openai_sse *s, const uint8_t *d, size_t n, cc_buf *data, cc_buf *out,
                       size_t *whole)
{
    size_t pos = 0;
    openai_sse_piece p;
    while (openai_sse_next(s, d, n, &pos, &p)) {
        assert_true(p.end <= n && p.end == pos);
        switch (p.kind) {
        case OPENAI_SSE_PAYLOAD:
            assert_ptr_equal(p.data + p.len, d + p.end);
            assert_null(memchr(p.data, '\n', p.len));
            assert_null(memchr(p.data, '\r', p.len));
            if (p.join) cc_buf_append_u8(data, '\n');
            cc_buf_append(data, p.data, p.len);
            *whole += p.whole_event;
            break;
        case OPENAI_SSE_EVENT_END:
            cc_buf_append_u8(out, '[');
            cc_buf_append(out, data->data, data->len);
            cc_buf_append_str(out, "]|");
            cc_buf_reset(data);
            break;
        case OPENAI_SSE_EVENT_TAIL:
            cc_buf_append_u8(out, '~');
            break;
        }
    }
    assert_int_equal(pos, n);
}

/* Splits in at every pair of cuts (three reads) and checks each gives the
 * events of the whole read; returns how often a payload was a whole event
 * in the whole read. */
static size_t check_split(const char *in, const char *want)
{
    size_t n = strlen(in), whole_once = 0;
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b++) {
            openai_sse s;
            openai_sse_init(&s);
            cc_buf data = CC_BUF_INIT, out = CC_BUF_INIT;
            size_t whole = 0;
            const uint8_t *d = (const uint8_t *)in;
            split_feed(&s, d, a, &data, &out, &whole);
            split_feed(&s, d + a, b - a, &data, &out, &whole);
            split_feed(&s, d + b, n - b, &data, &out, &whole);
            cc_buf_append_u8(&out, 0);
            /* a LF of an event-ending CRLF read apart from its CR is a tail */
            char *got = (char *)out.data;
            size_t k = 0;
            for (size_t i = 0; got[i]; i++)
                if (got[i] != '~') got[k++] = got[i];
            got[k] = 0;
            if (strcmp(got, want) != 0) fail_msg("cuts %zu,%zu: got %s want %s", a, b, got, want);
            if (a == n) whole_once = whole;
            cc_buf_free(&data);
            cc_buf_free(&out);
        }
    }
    return whole_once;
}

static void test_splitter_across_reads(void **state)
{
    /* comments, an unknown field, a field with no colon, one optional space
     * only, multi-line data, an empty data line, a long field name */
    const char *lf = ": hi\n"
                     "event: x\n"
                     "data: {\"a\":1}\n"
                     "\n"
                     "id\n"
                     "data:  two\n"
                     "data:lines\n"
                     "\n"
                     "data:\n"
                     "data\n"
                     "verylongfieldname: data: no\n"
                     "\n"
                     "data: [DONE]\n"
                     "\n";
    const char *want = "[{\"a\":1}]|[ two\nlines]|[]|[[DONE]]|";
    /* read whole: the first and the last events are single lines */
    assert_int_equal(check_split(lf, want), 2);
    char *crlf = replace_all(lf, "\n", "\r\n");
    assert_int_equal(check_split(crlf, want), 2);
    char *cr = replace_all(lf, "\n", "\r");
    assert_int_equal(check_split(cr, want), 2);
    free(crlf);
    free(cr);
    /* no final blank line: the last event never ends */
    assert_int_equal(check_split("data: a\n\ndata: b\n", "[a]|"), 1);
}

static void test_splitter_tail_and_whole(void **state)
{
    openai_sse s;
    openai_sse_init(&s);
    openai_sse_piece p;
    size_t pos = 0;
    const uint8_t *a = (const uint8_t *)"data: x\r\r";
    assert_true(openai_sse_next(&s, a, 9, &pos, &p));
    assert_int_equal(p.kind, OPENAI_SSE_PAYLOAD);
    /* CR ends the line, the next CR the event: all of it is in this read
     * (a LF after it can only be the tail) */
    assert_true(p.whole_event);
    assert_true(openai_sse_next(&s, a, 9, &pos, &p));
    assert_int_equal(p.kind, OPENAI_SSE_EVENT_END);
    assert_int_equal(p.end, 9);
    assert_false(openai_sse_next(&s, a, 9, &pos, &p));
    /* the LF that completes the event's CRLF, read next, is its tail */
    pos = 0;
    const uint8_t *b = (const uint8_t *)"\ndata: y\n\n"; /* 10 bytes */
    assert_true(openai_sse_next(&s, b, 10, &pos, &p));
    assert_int_equal(p.kind, OPENAI_SSE_EVENT_TAIL);
    assert_int_equal(p.end, 1);
    assert_true(openai_sse_next(&s, b, 10, &pos, &p));
    assert_int_equal(p.kind, OPENAI_SSE_PAYLOAD);
    assert_true(p.whole_event);
    assert_int_equal(p.len, 1);
    assert_int_equal(p.data[0], 'y');
    assert_true(openai_sse_next(&s, b, 10, &pos, &p));
    assert_int_equal(p.kind, OPENAI_SSE_EVENT_END);
    assert_int_equal(p.end, 10);
    assert_false(openai_sse_next(&s, b, 10, &pos, &p));
}

/* The usage-only test is a field scan; it must judge every text as a jansson parse would. */
static void test_usage_only_scan_agrees_with_parse(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        bool want;
    } cases[] = {
        {"{\"choices\":[],\"usage\":{\"total_tokens\":7}}", true},
        {" {\"id\":\"x\" , \"choices\" : [ ] ,\"usage\":{}}\r\n", true},
        {"{\"choices\":[],\"usage\":null}", false},
        {"{\"choices\":[{}],\"usage\":{}}", false},
        {"{\"usage\":{}}", false},
        {"{\"choices\":[],\"usage\":{},\"choices\":[1]}", false}, /* the last one counts */
        {"{\"choices\":[1],\"usage\":{},\"choices\":[]}", true},
        {"{\"choices\":[],\"usage\":{}} x", false},          /* trailing bytes */
        {"{\"choices\":[],\"usage\":{\"a\":01}}", false},    /* leading zero */
        {"{\"choices\":[],\"usage\":{\"a\":1e999}}", false}, /* overflow: jansson */
        {"{\"choices\":[],\"usage\":{\"a\":99999999999999999999}}", false},
        {"{\"choices\":[],\"usage\":{\"a\":\"\\u0000\"}}", false},
        {"{\"choices\":[],\"usage\":{\"a\":\"\\ud800\"}}", false},
        {"{\"choices\":[],\"usage\":{\"a\":\"\\u00e9\\n\"}}", true},
        {"{\"choices\":[],\"\\u0075sage\":{}}", true}, /* an escaped key */
        {"{\"choices\":[],\"usage\":{\"a\":\"\xc3\xa9\"}}", true},
        {"{\"choices\":[],\"usage\":{\"a\":\"\xc3\"}}", false}, /* bad UTF-8 */
        {"{\"choices\":[],\"usage\":{\"a\":\"\\q\"}}", false},
        {"{\"choices\":[],\"usage\":{\"a\":tru}}", false},
        {"{\"choices\":[],\"usage\":{\"a\":[1,]}}", false},
        {"[{\"choices\":[],\"usage\":{}}]", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const uint8_t *d = (const uint8_t *)cases[i].json;
        size_t n = strlen(cases[i].json);
        json_t *j = json_loadb(cases[i].json, n, 0, NULL);
        bool parsed = json_is_object(j) && json_is_array(json_object_get(j, "choices")) &&
                      json_array_size(json_object_get(j, "choices")) == 0 &&
                      json_is_object(json_object_get(j, "usage"));
        json_decref(j);
        if (parsed != cases[i].want) fail_msg("case %zu: jansson says %d", i, parsed);
        if (openai_is_usage_only_json(d, n) != cases[i].want) fail_msg("case %zu: scan differs", i);
    }
    /* Nesting far past any real event is left to jansson (no deep recursion). */
    cc_buf deep = CC_BUF_INIT;
    cc_buf_append_str(&deep, "{\"choices\":[],\"usage\":{\"a\":");
    for (int i = 0; i < 5000; i++)
        cc_buf_append_u8(&deep, '[');
    assert_false(openai_is_usage_only_json(deep.data, deep.len));
    cc_buf_free(&deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_only_scan_agrees_with_parse),
        cmocka_unit_test(test_drops_only_the_usage_event),
        cmocka_unit_test(test_keeps_everything_else),
        cmocka_unit_test(test_splitter_across_reads),
        cmocka_unit_test(test_splitter_tail_and_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
