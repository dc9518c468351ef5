/* The client's retry on another proxy when a link is lost before the answer
 * head arrived, and the 502 once the answer has started or the retry is used. */
#include "client_fixture.h"

static void test_link_lost_before_head_retries_on_the_next_proxy(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, false);
    const tl_client_runQueryEx *q0 = cfx_take_run(f, 0);
    tl_int256 first = q0->request_id;
    tl_bytes query0 = q0->query;
    cfx_link_lost(f, 0);
    /* The same query, with a fresh id, on the other proxy. */
    const tl_client_runQueryEx *q1 = cfx_take_run(f, 1);
    cfx_expect_none(f);
    assert_memory_not_equal(q1->request_id.b, first.b, 32);
    assert_int_equal(q1->query.len, query0.len);
    assert_memory_equal(q1->query.data, query0.data, query0.len);
    assert_false(call->done);
    assert_int_equal(f->c->stats.retried, 1);
    assert_int_equal(f->c->links.at[1].requests, 1);
    assert_int_equal(cc_map_count(&f->c->reqs), 1);
    /* Answers under the old id lead nowhere; the new one is answered. */
    tl_int256 second = q1->request_id;
    cfx_part(f, 0, &first, "old", true);
    cfx_part(f, 1, &first, "old", true);
    assert_false(call->done);
    cfx_part(f, 1, &second, "new", true);
    assert_string_equal(cfx_out(call), "new");
}

static void test_link_lost_after_head_is_502(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, false);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_head(f, 0, &rid, 200, "application/json", "{", false);
    cfx_link_lost(f, 0);
    cfx_expect_none(f);
    assert_true(call->done);
    assert_true(call->is_error);
    assert_int_equal(call->status, 502);
    assert_string_equal(call->err.code, "proxy_error");
    assert_non_null(strstr(call->err.message, "connection to the proxy was lost"));
    assert_int_equal(f->c->stats.retried, 0);
}

static void test_link_lost_mid_stream_ends_the_stream(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, true);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_head(f, 0, &rid, 200, "text/event-stream", "data: 1\n\n", false);
    cfx_link_lost(f, 0);
    assert_true(call->done);
    assert_true(call->streaming);
    assert_int_equal(call->status, 200);
    const char *out = cfx_out(call);
    assert_non_null(strstr(out, "data: 1\n\n"));
    assert_non_null(strstr(out, "connection to the proxy was lost"));
}

static void test_no_other_proxy_is_502(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    f->c->links.at[1].state = DAEMON_LINK_CONNECTING;
    fcall *call = cfx_chat(f, false);
    cfx_take_run(f, 0);
    cfx_link_lost(f, 0);
    cfx_expect_none(f);
    assert_int_equal(call->status, 502);
    assert_string_equal(call->err.code, "proxy_error");
}

static void test_only_one_retry(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, false);
    cfx_take_run(f, 0);
    cfx_link_lost(f, 0);
    cfx_take_run(f, 1);
    /* The first proxy is back, the second fails too: two attempts are enough. */
    f->c->links.at[0].state = DAEMON_LINK_READY;
    cfx_link_lost(f, 1);
    cfx_expect_none(f);
    assert_int_equal(call->status, 502);
    assert_int_equal(f->c->stats.retried, 1);
    assert_int_equal(f->c->stats.failed, 1);
}

static void test_only_requests_on_the_lost_link_move(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *a = cfx_chat(f, false);
    cfx_take_run(f, 0);
    /* The second request goes to proxy 1 while proxy 0 is not ready. */
    f->c->links.at[0].state = DAEMON_LINK_HANDSHAKE;
    fcall *b = cfx_chat(f, false);
    tl_int256 rb = cfx_take_run(f, 1)->request_id;
    f->c->links.at[0].state = DAEMON_LINK_READY;
    cfx_link_lost(f, 0);
    tl_int256 ra = cfx_take_run(f, 1)->request_id;
    cfx_expect_none(f);
    cfx_part(f, 1, &rb, "b", true);
    cfx_part(f, 1, &ra, "a", true);
    assert_string_equal(cfx_out(a), "a");
    assert_string_equal(cfx_out(b), "b");
}

static void test_retry_send_failure_is_502(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, false);
    cfx_take_run(f, 0);
    f->refuse_sends = true;
    cfx_link_lost(f, 0);
    assert_int_equal(call->status, 502);
    assert_non_null(strstr(call->err.message, "could not send the request"));
    assert_int_equal(cc_map_count(&f->c->reqs), 0);
}

static void test_stop_answers_every_request(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *a = cfx_chat(f, false);
    fcall *b = cfx_chat(f, true);
    tl_int256 rb = cfx_take_run(f, 0)->request_id;
    rb = cfx_take_run(f, 0)->request_id;
    cfx_head(f, 0, &rb, 200, "text/event-stream", "data: 1\n\n", false);
    client_requests_abort_all(f->c);
    assert_int_equal(a->status, 503);
    assert_string_equal(a->err.code, "shutting_down");
    assert_true(b->done);
    assert_non_null(strstr(cfx_out(b), "the client is stopping"));
    assert_int_equal(cc_map_count(&f->c->reqs), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CFX_TEST(test_link_lost_before_head_retries_on_the_next_proxy),
        CFX_TEST(test_link_lost_after_head_is_502),
        CFX_TEST(test_link_lost_mid_stream_ends_the_stream),
        CFX_TEST(test_no_other_proxy_is_502),
        CFX_TEST(test_only_one_retry),
        CFX_TEST(test_only_requests_on_the_lost_link_move),
        CFX_TEST(test_retry_send_failure_is_502),
        CFX_TEST(test_stop_answers_every_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
