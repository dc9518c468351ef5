/* What the client sends for a completion and how the answer stream reaches
 * the HTTP caller: collected for plain requests, relayed as it comes for
 * streams, with the billing-only usage event dropped unless asked for. */
#include "client_fixture.h"

#define USAGE_EVENT "data: {\"choices\":[],\"usage\":{\"total_tokens\":7}}\n\n"

static void test_run_query_carries_the_http_request(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    static const char body[] = "{\"model\":\"tiny\",\"max_tokens\":33,\"messages\":[{\"role\":"
                               "\"user\",\"content\":\"hi\"}]}";
    fcall *call = cfx_post(f, "/v1/chat/completions", body);
    const tl_client_runQueryEx *q = cfx_take_run(f, 0);
    cfx_expect_none(f);
    assert_false(call->done);
    assert_true(tl_bytes_eq_str(q->model_name, "tiny"));
    assert_int_equal(q->max_coefficient, 4000);
    assert_int_equal(q->max_tokens, 33);
    assert_true(q->timeout == 60);
    /* The request id is the key the answers are matched by. */
    creq *r = cc_list_first(creq, &f->c->all, node);
    assert_non_null(r);
    assert_memory_equal(r->rid.b, q->request_id.b, 32);
    assert_ptr_equal(cc_map_get(&f->c->reqs, cc_load_u64le(q->request_id.b)), r);
    /* The query is COCOON's http.request with the caller's body. */
    cc_err err = {0};
    tl_obj *o = tl_decode(q->query.data, q->query.len, &err);
    assert_non_null(o);
    assert_int_equal(o->id, TL_ID_http_request);
    const tl_http_request *hr = (const tl_http_request *)o;
    assert_true(tl_bytes_eq_str(hr->method, "POST"));
    assert_true(tl_bytes_eq_str(hr->url, "/v1/chat/completions"));
    assert_true(tl_bytes_eq_str(hr->payload, body));
    bool cap = false, ctype = false;
    for (size_t i = 0; i < hr->headers.n; i++) {
        const tl_http_header *h = &hr->headers.items[i];
        if (tl_bytes_eq_str(h->name, CLIENT_MAX_TOKENS_HEADER))
            cap = tl_bytes_eq_str(h->value, "33");
        if (tl_bytes_eq_str(h->name, "Content-Type"))
            ctype = tl_bytes_eq_str(h->value, "application/json");
    }
    assert_true(cap);
    assert_true(ctype);
    tl_obj_free(o);
    assert_int_equal(f->c->links.at[0].requests, 1);
    assert_int_equal(f->c->stats.requests, 1);
}

static void test_default_token_cap_applies(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    cfx_post(f, "/v1/completions", "{\"model\":\"tiny\",\"prompt\":\"x\"}");
    const tl_client_runQueryEx *q = cfx_take_run(f, 0);
    assert_int_equal(q->max_tokens, 256);
    /* ... and travels in the X-Cocoon-Max-Tokens header of the http.request. */
    assert_non_null(memmem(q->query.data, q->query.len, CLIENT_MAX_TOKENS_HEADER,
                           strlen(CLIENT_MAX_TOKENS_HEADER)));
    assert_non_null(memmem(q->query.data, q->query.len, "256", 3));
}

/* n choices each up to max_tokens: the query (what the proxy reserves) covers n x
 * max_tokens, the cap each choice gets stays max_tokens. */
static void test_choices_reserve_n_times(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    cfx_post(f, "/v1/chat/completions",
             "{\"model\":\"tiny\",\"max_tokens\":21,\"n\":3,\"messages\":[{\"role\":\"user\","
             "\"content\":\"hi\"}]}");
    const tl_client_runQueryEx *q = cfx_take_run(f, 0);
    assert_int_equal(q->max_tokens, 63);
    creq *r = cc_list_first(creq, &f->c->all, node);
    assert_int_equal(r->reserved, client_money_reservation(63, q->query.len, 4000));
    cc_err err = {0};
    tl_obj *o = tl_decode(q->query.data, q->query.len, &err);
    assert_non_null(o);
    const tl_http_request *hr = (const tl_http_request *)o;
    bool cap = false;
    for (size_t i = 0; i < hr->headers.n; i++)
        if (tl_bytes_eq_str(hr->headers.items[i].name, CLIENT_MAX_TOKENS_HEADER))
            cap = tl_bytes_eq_str(hr->headers.items[i].value, "21");
    assert_true(cap);
    tl_obj_free(o);
}

static void test_plain_answer_is_collected(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, false);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_head(f, 0, &rid, 200, "application/json; charset=utf-8", "{\"id\":", false);
    cfx_part(f, 0, &rid, "\"x\",", false);
    assert_false(call->done);
    cfx_part(f, 0, &rid, "\"n\":1}", true);
    assert_true(call->done);
    assert_false(call->streaming);
    assert_int_equal(call->status, 200);
    assert_string_equal(call->content_type, "application/json; charset=utf-8");
    assert_string_equal(cfx_out(call), "{\"id\":\"x\",\"n\":1}");
    assert_int_equal(f->c->stats.ok, 1);
    assert_int_equal(f->c->stats.bytes_out, strlen("{\"id\":\"x\",\"n\":1}"));
    assert_int_equal(cc_map_count(&f->c->reqs), 0);
    assert_true(cc_list_empty(&f->c->all));
    /* A late message for the finished request is ignored. */
    cfx_part(f, 0, &rid, "junk", true);
    cfx_expect_none(f);
}

static void test_stream_is_relayed_as_it_comes(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call =
        cfx_post(f, "/v1/chat/completions",
                 "{\"model\":\"tiny\",\"stream\":true,\"stream_options\":{\"include_usage\":"
                 "true},\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_head(f, 0, &rid, 200, "text/event-stream", "data: {\"n\":1}\n\n", false);
    assert_true(call->streaming);
    assert_int_equal(call->status, 200);
    assert_string_equal(call->content_type, "text/event-stream");
    assert_string_equal(cfx_out(call), "data: {\"n\":1}\n\n");
    cfx_part(f, 0, &rid, "data: {\"n\":2}\n\n", false);
    assert_string_equal(cfx_out(call), "data: {\"n\":1}\n\ndata: {\"n\":2}\n\n");
    /* The caller asked for usage: the usage event reaches it. */
    cfx_part(f, 0, &rid, USAGE_EVENT "data: [DONE]\n\n", true);
    assert_true(call->done);
    assert_string_equal(cfx_out(call),
                        "data: {\"n\":1}\n\ndata: {\"n\":2}\n\n" USAGE_EVENT "data: [DONE]\n\n");
    assert_int_equal(f->c->stats.ok, 1);
}

static void test_usage_event_dropped_unless_asked(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, true);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_head(f, 0, &rid, 200, "text/event-stream", "", false);
    /* The usage event split across parts is still recognised. */
    cfx_part(f, 0, &rid, "data: {\"n\":1}\n\ndata: {\"choices\":[],", false);
    cfx_part(f, 0, &rid, "\"usage\":{\"total_tokens\":7}}\n\ndata: [DONE]\n\n", true);
    assert_true(call->done);
    assert_string_equal(cfx_out(call), "data: {\"n\":1}\n\ndata: [DONE]\n\n");
}

static void test_part_without_head_is_a_plain_200(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *plain = cfx_chat(f, false);
    tl_int256 r1 = cfx_take_run(f, 0)->request_id;
    fcall *stream = cfx_chat(f, true);
    tl_int256 r2 = cfx_take_run(f, 0)->request_id;
    cfx_part(f, 0, &r1, "abc", true);
    assert_int_equal(plain->status, 200);
    assert_string_equal(plain->content_type, "application/json");
    assert_string_equal(cfx_out(plain), "abc");
    cfx_part(f, 0, &r2, "data: x\n\n", false);
    assert_true(stream->streaming);
    assert_string_equal(stream->content_type, "text/event-stream");
    cfx_part(f, 0, &r2, "", true);
    assert_true(stream->done);
    assert_string_equal(cfx_out(stream), "data: x\n\n");
}

static void test_undecodable_head_is_a_plain_200(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, false);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    tl_client_queryAnswerEx a = TL_INIT(client_queryAnswerEx);
    a.request_id = rid;
    a.answer = tl_str("not TL at all");
    a.flags = 1;
    a.final_info.hdr.id = TL_ID_client_queryFinalInfo;
    a.final_info.tokens_used.hdr.id = TL_ID_tokensUsed;
    cfx_deliver(f, 0, &a.hdr);
    assert_true(call->done);
    assert_int_equal(call->status, 200);
    assert_int_equal(call->out.len, 0);
}

static void test_answers_only_from_the_link_that_carries_the_request(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, false);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_part(f, 1, &rid, "forged", true);
    assert_false(call->done);
    /* Same key, different id: not ours either. */
    tl_int256 near = rid;
    near.b[31] ^= 1;
    cfx_part(f, 0, &near, "forged", true);
    assert_false(call->done);
    cfx_part(f, 0, &rid, "real", true);
    assert_string_equal(cfx_out(call), "real");
}

static void test_concurrent_requests_do_not_mix(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *a = cfx_chat(f, false);
    fcall *b = cfx_chat(f, false);
    tl_int256 ra = cfx_take_run(f, 0)->request_id;
    tl_int256 rb = cfx_take_run(f, 0)->request_id;
    assert_memory_not_equal(ra.b, rb.b, 32);
    cfx_part(f, 0, &rb, "for b", false);
    cfx_part(f, 0, &ra, "for a", true);
    cfx_part(f, 0, &rb, "!", true);
    assert_string_equal(cfx_out(a), "for a");
    assert_string_equal(cfx_out(b), "for b!");
    assert_int_equal(f->c->stats.ok, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CFX_TEST(test_run_query_carries_the_http_request),
        CFX_TEST(test_default_token_cap_applies),
        CFX_TEST(test_choices_reserve_n_times),
        CFX_TEST(test_plain_answer_is_collected),
        CFX_TEST(test_stream_is_relayed_as_it_comes),
        CFX_TEST(test_usage_event_dropped_unless_asked),
        CFX_TEST(test_part_without_head_is_a_plain_200),
        CFX_TEST(test_undecodable_head_is_a_plain_200),
        CFX_TEST(test_answers_only_from_the_link_that_carries_the_request),
        CFX_TEST(test_concurrent_requests_do_not_mix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
