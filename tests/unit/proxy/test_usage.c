/* Usage accounting on the proxy: the tokens of the worker's final info go to
 * the client's final info and to both payment messages, with the timing and
 * debug fields each protocol version and flag asks for. */
#include "proxy_fixture.h"

static void test_final_tokens_reach_both_sides(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_answer(w, &rid, true, "head", false, 0, 0);
    fx_answer(w, &rid, false, "part-1", false, 0, 0);
    fx_answer(w, &rid, false, "part-22", true, 12, 30);
    const tl_client_queryAnswerEx *h =
        (const tl_client_queryAnswerEx *)fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    assert_true(tl_bytes_eq_str(h->answer, "head"));
    assert_int_equal(h->flags & 1u, 0);
    const tl_client_queryAnswerPartEx *p1 = (const tl_client_queryAnswerPartEx *)fx_take(
        f, false, c->id, TL_ID_client_queryAnswerPartEx);
    assert_true(tl_bytes_eq_str(p1->answer, "part-1"));
    assert_int_equal(p1->flags & 1u, 0);
    const tl_client_queryAnswerPartEx *p2 = (const tl_client_queryAnswerPartEx *)fx_take(
        f, false, c->id, TL_ID_client_queryAnswerPartEx);
    assert_true(tl_bytes_eq_str(p2->answer, "part-22"));
    assert_true(p2->flags & 1u);
    assert_int_equal(p2->final_info.tokens_used.prompt_tokens_used, 12);
    assert_int_equal(p2->final_info.tokens_used.completion_tokens_used, 30);
    assert_int_equal(p2->final_info.tokens_used.total_tokens_used, 42);
    /* Then the payments: the worker's under its leg's id, the client's under its own. */
    const tl_proxy_workerRequestPayment *wp = (const tl_proxy_workerRequestPayment *)fx_take(
        f, true, w->rw.id, TL_ID_proxy_workerRequestPayment);
    assert_memory_equal(wp->request_id.b, rid.b, 32);
    assert_int_equal(wp->request_tokens, 42);
    assert_int_equal(wp->signed_payment->id, TL_ID_proxy_signedPaymentEmpty);
    const tl_proxy_clientRequestPayment *cp = (const tl_proxy_clientRequestPayment *)fx_take(
        f, false, c->id, TL_ID_proxy_clientRequestPayment);
    assert_memory_equal(cp->request_id.b, fx_rid(1).b, 32);
    assert_int_equal(cp->request_tokens, 42);
    fx_expect_none(f);
    assert_int_equal(f->p->stats.ok, 1);
    assert_int_equal(f->p->stats.parts_relayed, 3);
    assert_int_equal(f->p->stats.bytes_relayed,
                     strlen("head") + strlen("part-1") + strlen("part-22"));
    assert_int_equal(f->p->stats.active, 0);
    assert_int_equal(w->rw.active, 0);
    assert_true(w->rw.avg_time >= 0);
    assert_true(cc_list_empty(&c->reqs));
}

static void test_single_final_head(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_answer(w, &rid, true, "all at once", true, 5, 0);
    const tl_client_queryAnswerEx *h =
        (const tl_client_queryAnswerEx *)fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    assert_true(h->flags & 1u);
    assert_int_equal(h->final_info.tokens_used.total_tokens_used, 5);
    fx_take(f, true, w->rw.id, TL_ID_proxy_workerRequestPayment);
    fx_take(f, false, c->id, TL_ID_proxy_clientRequestPayment);
    fx_expect_none(f);
}

static void test_timing_fields_for_protocol_2_only(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *v2 = fx_client(f, 2);
    pclient *v1 = fx_client(f, 1);
    fx_run(v2, 1, "tiny");
    fx_run(v1, 1, "tiny");
    tl_int256 r2 = fx_take_run(f, w)->request_id;
    tl_int256 r1 = fx_take_run(f, w)->request_id;
    /* The worker's final info with its own times (flag 2). */
    tl_proxy_queryAnswerEx a = TL_INIT(proxy_queryAnswerEx);
    a.request_id = r2;
    a.answer = tl_str("x");
    a.flags = 1;
    a.final_info.hdr.id = TL_ID_proxy_queryFinalInfo;
    a.final_info.flags = 2;
    a.final_info.tokens_used.hdr.id = TL_ID_tokensUsed;
    a.final_info.worker_start_time = 1000.5;
    a.final_info.worker_end_time = 1001.5;
    fx_worker_packet(w, &a.hdr);
    const tl_client_queryAnswerEx *h =
        (const tl_client_queryAnswerEx *)fx_take(f, false, v2->id, TL_ID_client_queryAnswerEx);
    assert_int_equal(h->final_info.flags, 2u);
    assert_true(h->final_info.worker_start_time == 1000.5);
    assert_true(h->final_info.worker_end_time == 1001.5);
    assert_true(h->final_info.proxy_start_time > 0);
    assert_true(h->final_info.proxy_end_time >= h->final_info.proxy_start_time);
    f->next = f->n_sent;
    a.request_id = r1;
    fx_worker_packet(w, &a.hdr);
    h = (const tl_client_queryAnswerEx *)fx_take(f, false, v1->id, TL_ID_client_queryAnswerEx);
    assert_int_equal(h->final_info.flags, 0);
}

static void test_debug_passes_only_when_asked(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 1);
    fx_run_ex(c, 1, "tiny", 1000, 0, true);
    fx_run_ex(c, 2, "tiny", 1000, 0, false);
    tl_int256 with = fx_take_run(f, w)->request_id;
    tl_int256 without = fx_take_run(f, w)->request_id;
    tl_proxy_queryAnswerEx a = TL_INIT(proxy_queryAnswerEx);
    a.answer = tl_str("x");
    a.flags = 1;
    a.final_info.hdr.id = TL_ID_proxy_queryFinalInfo;
    a.final_info.flags = 1;
    a.final_info.tokens_used.hdr.id = TL_ID_tokensUsed;
    a.final_info.worker_debug = tl_str("{\"kv\":1}");
    a.request_id = with;
    fx_worker_packet(w, &a.hdr);
    const tl_client_queryAnswerEx *h =
        (const tl_client_queryAnswerEx *)fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    assert_int_equal(h->final_info.flags, 1u);
    assert_true(tl_bytes_eq_str(h->final_info.worker_debug, "{\"kv\":1}"));
    /* and the proxy's own timings, as COCOON's generate_proxy_debug_inner */
    json_t *pd = json_loadb((const char *)h->final_info.proxy_debug.data,
                            h->final_info.proxy_debug.len, 0, NULL);
    assert_non_null(pd);
    assert_string_equal(json_string_value(json_object_get(pd, "type")), "proxy_stats");
    assert_true(json_real_value(json_object_get(pd, "start_time")) <=
                json_real_value(json_object_get(pd, "answer_receive_end_at")));
    json_decref(pd);
    f->next = f->n_sent;
    a.request_id = without;
    fx_worker_packet(w, &a.hdr);
    h = (const tl_client_queryAnswerEx *)fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    assert_int_equal(h->final_info.flags, 0);
}

/* ProxyRunningRequest.cpp:71-75: the proxy's timing headers are added to
 * the worker's http.response, which otherwise passes unchanged. */
static void test_proxy_timing_headers(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    tl_http_header hh = {.hdr = {.id = TL_ID_http_header},
                         .name = tl_str("X-Cocoon-Worker-Start"),
                         .value = tl_str("1.000000")};
    tl_http_response resp = TL_INIT(http_response);
    resp.http_version = tl_str("HTTP/1.1");
    resp.status_code = 200;
    resp.reason = tl_str("OK");
    resp.headers.n = 1;
    resp.headers.items = &hh;
    resp.payload = tl_str("{}");
    cc_buf enc = CC_BUF_INIT;
    fx_encode(&resp.hdr, &enc);
    double before = cc_now_wall();
    tl_proxy_queryAnswerEx a = TL_INIT(proxy_queryAnswerEx);
    a.request_id = rid;
    a.answer = tl_mem(enc.data, enc.len);
    fx_worker_packet(w, &a.hdr);
    cc_buf_free(&enc);
    const tl_client_queryAnswerEx *h =
        (const tl_client_queryAnswerEx *)fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    cc_err err = {0};
    tl_obj *o = tl_decode(h->answer.data, h->answer.len, &err);
    assert_non_null(o);
    const tl_http_response *got = (const tl_http_response *)o;
    assert_int_equal(got->status_code, 200);
    assert_true(tl_bytes_eq_str(got->payload, "{}"));
    assert_int_equal(got->headers.n, 3);
    assert_true(tl_bytes_eq_str(got->headers.items[0].name, "X-Cocoon-Worker-Start"));
    assert_true(tl_bytes_eq_str(got->headers.items[1].name, "X-Cocoon-Proxy-Start"));
    assert_true(tl_bytes_eq_str(got->headers.items[2].name, "X-Cocoon-Proxy-End"));
    char *end = tl_bytes_strdup(got->headers.items[2].value);
    assert_true(strtod(end, NULL) >= before - 0.001);
    free(end);
    tl_obj_free(o);
}

/* The headers are spliced into the head as it came, not re-encoded: long length forms (a header
 * value and a payload past 253 bytes) survive, and a head that is not a whole http.response
 * (here one truncated by a byte) goes on unchanged. */
static void test_proxy_timing_headers_splice(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    fx_run(c, 2, "tiny");
    tl_int256 rid1 = fx_take_run(f, w)->request_id;
    tl_int256 rid2 = fx_take_run(f, w)->request_id;
    char big[600], body[1000];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    memset(body, 'b', sizeof(body) - 1);
    body[sizeof(body) - 1] = 0;
    tl_http_header hh[2] = {
        {.hdr = {.id = TL_ID_http_header}, .name = tl_str("X-Big"), .value = tl_str(big)},
        {.hdr = {.id = TL_ID_http_header}, .name = tl_str("A"), .value = tl_str("")}};
    tl_http_response resp = TL_INIT(http_response);
    resp.http_version = tl_str("HTTP/1.1");
    resp.status_code = 201;
    resp.reason = tl_str("Created");
    resp.headers.n = 2;
    resp.headers.items = hh;
    resp.payload = tl_str(body);
    cc_buf enc = CC_BUF_INIT;
    fx_encode(&resp.hdr, &enc);
    tl_proxy_queryAnswerEx a = TL_INIT(proxy_queryAnswerEx);
    a.request_id = rid1;
    a.answer = tl_mem(enc.data, enc.len);
    fx_worker_packet(w, &a.hdr);
    const tl_client_queryAnswerEx *h =
        (const tl_client_queryAnswerEx *)fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    cc_err err = {0};
    tl_obj *o = tl_decode(h->answer.data, h->answer.len, &err);
    assert_non_null(o);
    const tl_http_response *got = (const tl_http_response *)o;
    assert_int_equal(got->status_code, 201);
    assert_true(tl_bytes_eq_str(got->reason, "Created"));
    assert_true(tl_bytes_eq_str(got->payload, body));
    assert_int_equal(got->headers.n, 4);
    assert_true(tl_bytes_eq_str(got->headers.items[0].value, big));
    assert_true(tl_bytes_eq_str(got->headers.items[1].name, "A"));
    assert_true(tl_bytes_eq_str(got->headers.items[3].name, "X-Cocoon-Proxy-End"));
    char *start = tl_bytes_strdup(got->headers.items[2].value);
    assert_true(strchr(start, '.') && strlen(strchr(start, '.')) == 7); /* six decimals */
    free(start);
    tl_obj_free(o);

    a.request_id = rid2;
    a.answer = tl_mem(enc.data, enc.len - 1);
    fx_worker_packet(w, &a.hdr);
    h = (const tl_client_queryAnswerEx *)fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    assert_int_equal(h->answer.len, enc.len - 1);
    assert_memory_equal(h->answer.data, enc.data, enc.len - 1);
    cc_buf_free(&enc);
}

static void test_average_time_follows_completions(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    /* Pretend the worker took 2 s: a first sample is taken as it is. */
    fx_find(c, 1)->worker_start_mono -= 2.0;
    fx_answer(w, &rid, true, "x", true, 1, 1);
    assert_true(w->rw.avg_time >= 2.0 && w->rw.avg_time < 3.0);
    assert_int_equal(w->requests, 1);
    assert_int_equal(w->failures, 0);
}

static void test_payment_goes_to_the_worker_after_the_client_left(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_answer(w, &rid, true, "head", false, 0, 0);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    uint64_t before = f->p->stats.parts_relayed;
    proxy_client_destroy(c, "closed");
    fx_take(f, true, w->rw.id, TL_ID_proxy_cancelQuery);
    /* The request is gone with its client: a final part finds nothing. */
    fx_answer(w, &rid, false, "end", true, 3, 4);
    fx_expect_none(f);
    assert_int_equal(f->p->stats.parts_relayed, before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_final_tokens_reach_both_sides),
        FX_TEST(test_single_final_head),
        FX_TEST(test_timing_fields_for_protocol_2_only),
        FX_TEST(test_debug_passes_only_when_asked),
        FX_TEST(test_proxy_timing_headers),
        FX_TEST(test_proxy_timing_headers_splice),
        FX_TEST(test_average_time_follows_completions),
        FX_TEST(test_payment_goes_to_the_worker_after_the_client_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
