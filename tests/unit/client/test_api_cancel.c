/* Cancellation and timeouts in the client: the HTTP caller leaving (before
 * or during the answer, or while the model list is fetched), a stream the
 * caller stopped reading, and the client's own safety timeout. */
#include "client_fixture.h"

static void assert_cancel_for(cfx *f, size_t link, const tl_int256 *rid)
{
    const tl_client_cancelQuery *m =
        (const tl_client_cancelQuery *)cfx_take(f, link, TL_ID_client_cancelQuery);
    assert_memory_equal(m->request_id.b, rid->b, 32);
}

static void test_caller_gone_before_the_answer(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, false);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_caller_leaves(call);
    assert_cancel_for(f, 0, &rid);
    cfx_expect_none(f);
    /* 499: nobody reads it, but the server must finish the request. */
    assert_true(call->done);
    assert_int_equal(call->status, 499);
    assert_int_equal(f->c->stats.cancelled, 1);
    assert_int_equal(cc_map_count(&f->c->reqs), 0);
    assert_true(cc_list_empty(&f->c->all));
    /* The proxy's answer arriving later is dropped. */
    cfx_part(f, 0, &rid, "late", true);
    cfx_expect_none(f);
}

static void test_caller_gone_mid_stream(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, true);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_head(f, 0, &rid, 200, "text/event-stream", "data: 1\n\n", false);
    cfx_caller_leaves(call);
    assert_cancel_for(f, 0, &rid);
    cfx_expect_none(f);
    assert_true(call->done);
    assert_true(call->streaming);
    assert_int_equal(call->status, 200);
    assert_string_equal(cfx_out(call), "data: 1\n\n");
}

static void test_stream_write_failure_cancels(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, true);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_head(f, 0, &rid, 200, "text/event-stream", "", false);
    call->writes_fail = 1;
    cfx_part(f, 0, &rid, "data: 2\n\n", false);
    assert_cancel_for(f, 0, &rid);
    cfx_expect_none(f);
    assert_true(call->done);
    assert_int_equal(f->c->stats.cancelled, 1);
    assert_int_equal(f->c->stats.ok, 0);
    /* The rest of the stream goes nowhere. */
    cfx_part(f, 0, &rid, "data: 3\n\n", true);
    cfx_expect_none(f);
}

/* The head's own payload is the first write: the caller may already be gone. */
static void test_write_failure_on_the_head_payload(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, true);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    call->writes_fail = 1;
    cfx_head(f, 0, &rid, 200, "text/event-stream", "data: 1\n\n", false);
    assert_cancel_for(f, 0, &rid);
    cfx_expect_none(f);
    assert_true(call->done);
    assert_int_equal(f->c->stats.cancelled, 1);
    assert_true(cc_list_empty(&f->c->all));
    cfx_part(f, 0, &rid, "data: 2\n\n", true);
    cfx_expect_none(f);
}

static void test_safety_timeout_cancels_and_answers_504(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, false);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    creq *r = cc_list_first(creq, &f->c->all, node);
    assert_non_null(r);
    /* Armed for longer than the proxy's own timeout (60 s in the fixture). */
    struct timeval tv;
    assert_true(evtimer_pending(r->timer, &tv));
    struct timeval now;
    evutil_gettimeofday(&now, NULL);
    assert_true(tv.tv_sec - now.tv_sec > 60 && tv.tv_sec - now.tv_sec <= 60 + 15);
    /* Fire it from the loop without waiting. */
    event_active(r->timer, EV_TIMEOUT, 1);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_cancel_for(f, 0, &rid);
    cfx_expect_none(f);
    assert_int_equal(call->status, 504);
    assert_string_equal(call->err.code, "timeout");
    assert_non_null(strstr(call->err.message, "did not answer in time"));
    assert_int_equal(cc_map_count(&f->c->reqs), 0);
}

static void test_timeout_mid_stream_is_an_sse_error(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, true);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_head(f, 0, &rid, 200, "text/event-stream", "data: 1\n\n", false);
    event_active(cc_list_first(creq, &f->c->all, node)->timer, EV_TIMEOUT, 1);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_cancel_for(f, 0, &rid);
    assert_true(call->done);
    assert_int_equal(call->status, 200);
    assert_non_null(strstr(cfx_out(call), "\"code\":\"timeout\""));
}

static void test_finished_request_leaves_no_timer(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, false);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_part(f, 0, &rid, "done", true);
    assert_true(call->done);
    /* Nothing is left on the loop (it would return 0 after running it). */
    assert_int_equal(event_base_loop(f->base, EVLOOP_NONBLOCK), 1);
}

static void test_caller_gone_while_the_models_are_fetched(void **state)
{
    cfx *f = *state;
    fcall *call = cfx_chat(f, false); /* "tiny" is not cached: list first */
    assert_int_equal(f->n_mq, 1);
    cfx_caller_leaves(call);
    assert_int_equal(call->status, 499);
    /* Nothing was sent to the proxy, so nothing to cancel ... */
    cfx_expect_none(f);
    /* ... and the list arriving afterwards finds no request. */
    cfx_tiny(f);
    cfx_models_answer(f, true);
    cfx_expect_none(f);
    assert_true(cc_list_empty(&f->c->all));
}

static void test_models_caller_gone(void **state)
{
    cfx *f = *state;
    fcall *call = cfx_get_models(f);
    assert_false(call->done);
    cfx_caller_leaves(call);
    assert_int_equal(call->status, 499);
    cfx_models_answer(f, true);
    assert_true(cc_list_empty(&f->c->all));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CFX_TEST(test_caller_gone_before_the_answer),
        CFX_TEST(test_caller_gone_mid_stream),
        CFX_TEST(test_stream_write_failure_cancels),
        CFX_TEST(test_write_failure_on_the_head_payload),
        CFX_TEST(test_safety_timeout_cancels_and_answers_504),
        CFX_TEST(test_timeout_mid_stream_is_an_sse_error),
        CFX_TEST(test_finished_request_leaves_no_timer),
        CFX_TEST(test_caller_gone_while_the_models_are_fetched),
        CFX_TEST(test_models_caller_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
