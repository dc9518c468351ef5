/* OpenAI answers built from generated text, log-probabilities and usage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "openai/openai.h"

static void request(openai_kind kind, const char *body, openai_request *r)
{
    openai_error e;
    if (openai_parse(kind, body, strlen(body), r, &e) < 0) fail_msg("%s", e.message);
}

static openai_logprob token_lp(const char *text, float lp, const char *alt, float alt_lp)
{
    openai_logprob l = {{text, strlen(text), lp}, 1, {{alt, strlen(alt), alt_lp}}};
    return l;
}

static void test_chat_whole(void **state)
{
    openai_request r;
    request(OPENAI_CHAT,
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
            "\"logprobs\":true,\"top_logprobs\":1}",
            &r);
    openai_output *o = openai_output_new(&r, "tiny");
    cc_buf out = CC_BUF_INIT;
    openai_logprob a = token_lp("He", -0.5f, "Hi", -1.5f), b = token_lp("llo\xff", -0.25f, "!", -2);
    openai_output_step(o, "He", 2, &a, &out);
    openai_output_step(o, "llo\xff", 4, &b, &out);
    assert_int_equal(out.len, 0); /* nothing before the end */
    openai_usage u = {.prompt_tokens = 5, .cached_tokens = 2, .completion_tokens = 2};
    openai_output_finish(o, OPENAI_FINISH_LENGTH, &u, &out);
    json_t *j = json_loadb((const char *)out.data, out.len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "chat.completion");
    assert_string_equal(json_string_value(json_object_get(j, "model")), "tiny");
    assert_non_null(strstr(json_string_value(json_object_get(j, "id")), "chatcmpl-"));
    /* "fp_" and 10 hex digits of SHA-256("tiny"): the same for every answer of a model */
    assert_string_equal(json_string_value(json_object_get(j, "system_fingerprint")),
                        "fp_8950abfda7");
    json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(c, "message"), "content")),
        "Hello\xEF\xBF\xBD"); /* the bad byte became U+FFFD */
    assert_string_equal(json_string_value(json_object_get(c, "finish_reason")), "length");
    json_t *lc = json_object_get(json_object_get(c, "logprobs"), "content");
    assert_int_equal(json_array_size(lc), 2);
    json_t *t1 = json_array_get(lc, 1);
    assert_true(json_real_value(json_object_get(t1, "logprob")) == -0.25);
    assert_int_equal(json_array_size(json_object_get(t1, "bytes")), 4);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(t1, "bytes"), 3)), 0xff);
    json_t *top = json_array_get(json_object_get(json_array_get(lc, 0), "top_logprobs"), 0);
    assert_string_equal(json_string_value(json_object_get(top, "token")), "Hi");
    json_t *usage = json_object_get(j, "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "total_tokens")), 7);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(usage, "prompt_tokens_details"), "cached_tokens")),
                     2);
    json_decref(j);
    cc_buf_free(&out);
    openai_output_free(o);
    openai_request_clear(&r);
}

/* Splits an SSE answer into its data payloads (as the SDKs read it). */
static size_t events(const cc_buf *out, json_t **ev, size_t max, bool *done)
{
    openai_sse s;
    openai_sse_init(&s);
    openai_sse_piece p;
    size_t pos = 0, n = 0;
    cc_buf data = CC_BUF_INIT;
    *done = false;
    while (openai_sse_next(&s, out->data, out->len, &pos, &p)) {
        if (p.kind == OPENAI_SSE_PAYLOAD) cc_buf_append(&data, p.data, p.len);
        if (p.kind != OPENAI_SSE_EVENT_END) continue;
        if (data.len == 6 && memcmp(data.data, "[DONE]", 6) == 0)
            *done = true;
        else if (n < max)
            ev[n++] = json_loadb((const char *)data.data, data.len, 0, NULL);
        cc_buf_reset(&data);
    }
    cc_buf_free(&data);
    return n;
}

static void test_completion_stream(void **state)
{
    openai_request r;
    request(OPENAI_COMPLETION,
            "{\"model\":\"m\",\"prompt\":\"x\",\"stream\":true,"
            "\"stream_options\":{\"include_usage\":true},\"logprobs\":1}",
            &r);
    openai_output *o = openai_output_new(&r, "tiny");
    cc_buf out = CC_BUF_INIT;
    openai_logprob a = token_lp("Once", -0.5f, "One", -1);
    openai_output_step(o, "Once", 4, &a, &out);
    openai_output_step(o, " upon", 5, NULL, &out);
    openai_usage u = {.prompt_tokens = 1, .completion_tokens = 2};
    openai_output_finish(o, OPENAI_FINISH_STOP, &u, &out);
    json_t *ev[8];
    bool done;
    size_t n = events(&out, ev, 8, &done);
    assert_true(done);
    assert_int_equal(n, 4); /* two steps, the finish chunk, the usage-only event */
    cc_buf text = CC_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        assert_non_null(ev[i]);
        assert_string_equal(json_string_value(json_object_get(ev[i], "object")), "text_completion");
        json_t *c = json_array_get(json_object_get(ev[i], "choices"), 0);
        if (c) cc_buf_append_str(&text, json_string_value(json_object_get(c, "text")));
    }
    cc_buf_append_u8(&text, 0);
    assert_string_equal((char *)text.data, "Once upon");
    json_t *lp = json_object_get(json_array_get(json_object_get(ev[0], "choices"), 0), "logprobs");
    assert_string_equal(json_string_value(json_array_get(json_object_get(lp, "tokens"), 0)),
                        "Once");
    json_t *fin = json_array_get(json_object_get(ev[2], "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(fin, "finish_reason")), "stop");
    assert_int_equal(json_array_size(json_object_get(ev[3], "choices")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(ev[3], "usage"), "completion_tokens")),
        2);
    /* the client's filter drops exactly that usage-only event */
    openai_sse_filter *f = openai_sse_filter_new();
    cc_buf kept = CC_BUF_INIT;
    openai_sse_filter_feed(f, out.data, out.len, &kept);
    openai_sse_filter_finish(f, &kept);
    assert_int_equal(openai_sse_filter_dropped(f), 1);
    openai_sse_filter_free(f);
    /* and the worker's scanner bills it */
    openai_usage_scanner sc;
    openai_usage_scanner_init(&sc, OPENAI_USAGE_AUTO);
    openai_usage_scanner_feed(&sc, out.data, out.len);
    openai_usage got;
    assert_true(openai_usage_scanner_result(&sc, &got));
    assert_int_equal(got.completion_tokens, 2);
    assert_int_equal(got.total_tokens, 3);
    for (size_t i = 0; i < n; i++)
        json_decref(ev[i]);
    cc_buf_free(&kept);
    cc_buf_free(&text);
    cc_buf_free(&out);
    openai_output_free(o);
    openai_request_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_whole),
        cmocka_unit_test(test_completion_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
