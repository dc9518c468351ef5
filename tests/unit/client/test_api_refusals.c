/* COCOON's proxy refuses a request it cannot route with the old
 * client.queryAnswerError even to protocol-2 clients (ProxyRunner.cpp,
 * forward_query). The client must fail such a request at once with the
 * status the cause deserves, not wait for its timeout. */
#include "client_fixture.h"

static void deliver_old_error(cfx *f, size_t link, const tl_int256 *rid, int32_t code,
                              const char *text)
{
    tl_client_queryAnswerError e = TL_INIT(client_queryAnswerError);
    e.error_code = code;
    e.error = tl_str(text);
    e.request_id = *rid;
    e.request_tokens_used.hdr.id = TL_ID_tokensUsed;
    cfx_deliver(f, link, &e.hdr);
}

static void deliver_old_part_error(cfx *f, size_t link, const tl_int256 *rid, int32_t code,
                                   const char *text)
{
    tl_client_queryAnswerPartError e = TL_INIT(client_queryAnswerPartError);
    e.error_code = code;
    e.error = tl_str(text);
    e.request_id = *rid;
    e.request_tokens_used.hdr.id = TL_ID_tokensUsed;
    cfx_deliver(f, link, &e.hdr);
}

static void assert_refused(fcall *call, int status, const char *code, const char *text)
{
    assert_true(call->done);
    assert_true(call->is_error);
    assert_int_equal(call->status, status);
    assert_string_equal(call->err.code, code);
    assert_string_equal(call->err.message, text);
    assert_string_equal(call->err.type, openai_error_type_for_status(status));
}

typedef struct refusal {
    int32_t code;
    const char *text;
    int status;
    const char *err_code;
} refusal;

static void check_refusals(cfx *f, const refusal *cases, size_t n)
{
    cfx_tiny(f);
    for (size_t i = 0; i < n; i++) {
        fcall *call = cfx_chat(f, i % 2 == 1);
        tl_int256 rid = cfx_take_run(f, 0)->request_id;
        assert_false(call->done);
        deliver_old_error(f, 0, &rid, cases[i].code, cases[i].text);
        assert_refused(call, cases[i].status, cases[i].err_code, cases[i].text);
        /* A refusal is final: nothing is retried or cancelled. */
        cfx_expect_none(f);
        cfx_clear_sent(f);
    }
    assert_int_equal(f->c->stats.failed, n);
    assert_int_equal(cc_map_count(&f->c->reqs), 0);
}

/* The texts and codes (ton::ErrorCode: 602 error, 621 protoviolation, 651
 * notready) are COCOON's, from ProxyRunner.cpp choose_connection and
 * forward_query. */
static void test_cocoon_refusals_quota_and_model(void **state)
{
    static const refusal cases[] = {
        {621, "unknown model tiny", 404, "model_not_found"},
        {651, "balance is too low", 402, "insufficient_quota"},
        {602,
         "client balance is too low: max_tokens=256 tokens_payed=0 tokens_used=0 "
         "tokens_reserved=0 tokens_stake=0",
         402, "insufficient_quota"},
        {602,
         "client balance is too low: to_reserve=300 tokens_payed=0 tokens_used=0 "
         "tokens_reserved=0 tokens_stake=0",
         402, "insufficient_quota"},
        {602, "active config version is too low", 502, "network_error"},
    };
    check_refusals(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_cocoon_refusals_no_worker(void **state)
{
    static const refusal cases[] = {
        {651, "no workers for model tiny", 503, "no_worker_available"},
        {651, "no ready workers for modeltiny", 503, "no_worker_available"},
        {651, "can run this query with coefficient=2000", 503, "no_worker_available"},
        {651, "proxy is disabled", 503, "no_worker_available"},
        {651, "client is closing", 503, "no_worker_available"},
    };
    check_refusals(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_refusal_for_another_request_is_ignored(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, false);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    tl_int256 other = rid;
    other.b[31] ^= 1;
    deliver_old_error(f, 0, &other, 651, "no workers for model tiny");
    /* ...and on the wrong link. */
    deliver_old_error(f, 1, &rid, 651, "no workers for model tiny");
    assert_false(call->done);
    deliver_old_error(f, 0, &rid, 651, "no workers for model tiny");
    assert_refused(call, 503, "no_worker_available", "no workers for model tiny");
}

static void test_part_error_inside_a_stream_ends_it(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, true);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_head(f, 0, &rid, 200, "text/event-stream", "data: {\"a\":1}\n\n", false);
    deliver_old_part_error(f, 0, &rid, 652, "worker is gone");
    assert_true(call->done);
    assert_true(call->streaming);
    assert_int_equal(call->status, 200);
    const char *out = cfx_out(call);
    assert_non_null(strstr(out, "data: {\"a\":1}\n\n"));
    assert_non_null(strstr(out, "data: {\"error\":"));
    assert_non_null(strstr(out, "worker is gone"));
    assert_null(strstr(out, "[DONE]"));
    assert_int_equal(cc_map_count(&f->c->reqs), 0);
}

static void test_part_error_before_the_head_is_an_http_error(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, false);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    deliver_old_part_error(f, 0, &rid, 652, "timeout");
    assert_refused(call, 504, "network_error", "timeout");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CFX_TEST(test_cocoon_refusals_quota_and_model),
        CFX_TEST(test_cocoon_refusals_no_worker),
        CFX_TEST(test_refusal_for_another_request_is_ignored),
        CFX_TEST(test_part_error_inside_a_stream_ends_it),
        CFX_TEST(test_part_error_before_the_head_is_an_http_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
