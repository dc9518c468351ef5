/* Retry on another worker while no answer byte reached the client, and only
 * then: worker errors and worker disconnects before and after the first byte. */
#include "proxy_fixture.h"

static void test_error_before_first_byte_retries_elsewhere(void **state)
{
    fx *f = *state;
    pworker *a = fx_worker(f, "tiny", 1000, 0);
    pworker *b = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    a->rw.active = 0;
    b->rw.active = 1; /* a is the less loaded: the first try goes there */
    fx_run(c, 1, "tiny");
    tl_int256 rid_a = fx_take_run(f, a)->request_id;
    fx_worker_error(a, &rid_a, 602, "out of memory");
    /* The client sees nothing; the same query goes to b with a fresh id. */
    const tl_proxy_runQueryEx *q = fx_take_run(f, b);
    assert_true(tl_bytes_eq_str(q->query, "QUERY-BYTES"));
    assert_memory_not_equal(q->request_id.b, rid_a.b, 32);
    tl_int256 rid_b = q->request_id;
    fx_expect_none(f);
    assert_int_equal(a->rw.active, 0);
    assert_int_equal(a->failures, 1);
    assert_int_equal(f->p->stats.retried, 1);
    /* a's late answers for the old id are dropped. */
    fx_answer(a, &rid_a, true, "late", true, 1, 1);
    fx_expect_none(f);
    fx_answer(b, &rid_b, true, "ok", true, 1, 1);
    const tl_client_queryAnswerEx *ans =
        (const tl_client_queryAnswerEx *)fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    assert_true(tl_bytes_eq_str(ans->answer, "ok"));
    b->rw.active = 0;
}

static void test_second_failure_reaches_the_client(void **state)
{
    fx *f = *state;
    pworker *a = fx_worker(f, "tiny", 1000, 0);
    pworker *b = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    const fx_sent *s = &f->sent[f->next];
    pworker *first = s->peer == a->rw.id ? a : b, *second = first == a ? b : a;
    tl_int256 rid = fx_take_run(f, first)->request_id;
    fx_worker_error(first, &rid, 602, "first");
    rid = fx_take_run(f, second)->request_id;
    fx_worker_error(second, &rid, 603, "second");
    /* Two attempts are the limit: the worker's own code and text go back. */
    assert_true(fx_error_says(fx_take_error(f, c, 603), "second"));
    fx_expect_none(f);
    assert_int_equal(f->p->stats.retried, 1);
    assert_int_equal(f->p->stats.failed, 1);
    assert_int_equal(f->p->stats.active, 0);
    assert_true(cc_list_empty(&c->reqs));
}

static void test_error_with_no_other_worker_fails_at_once(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    /* Code 0 from a worker is not an error code: the proxy says 602. */
    fx_worker_error(w, &rid, 0, "backend refused");
    assert_true(fx_error_says(fx_take_error(f, c, 602), "backend refused"));
    fx_expect_none(f);
    assert_int_equal(w->rw.active, 0);
}

static void test_error_after_first_byte_is_not_retried(void **state)
{
    fx *f = *state;
    pworker *a = fx_worker(f, "tiny", 1000, 0);
    pworker *b = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    pworker *w = f->sent[f->next].peer == a->rw.id ? a : b;
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_answer(w, &rid, true, "head", false, 0, 0);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    fx_answer(w, &rid, false, "part", false, 0, 0);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerPartEx);
    /* The answer is half out: the error must end it, with the worker's usage. */
    tl_proxy_queryAnswerErrorEx e = TL_INIT(proxy_queryAnswerErrorEx);
    e.request_id = rid;
    e.error_code = 602;
    e.error = tl_str("engine crashed");
    e.flags = 1;
    e.final_info.hdr.id = TL_ID_proxy_queryFinalInfo;
    e.final_info.tokens_used.hdr.id = TL_ID_tokensUsed;
    e.final_info.tokens_used.completion_tokens_used = 4;
    e.final_info.tokens_used.total_tokens_used = 9;
    fx_worker_packet(w, &e.hdr);
    const tl_client_queryAnswerErrorEx *ce = fx_take_error(f, c, 602);
    assert_true(fx_error_says(ce, "engine crashed"));
    assert_int_equal(ce->final_info.tokens_used.total_tokens_used, 9);
    assert_int_equal(ce->final_info.tokens_used.completion_tokens_used, 4);
    /* The tokens spent are billed as for a completed request. */
    const tl_proxy_workerRequestPayment *wp = (const tl_proxy_workerRequestPayment *)fx_take(
        f, true, w->rw.id, TL_ID_proxy_workerRequestPayment);
    assert_int_equal(wp->request_tokens, 9);
    const tl_proxy_clientRequestPayment *cp = (const tl_proxy_clientRequestPayment *)fx_take(
        f, false, c->id, TL_ID_proxy_clientRequestPayment);
    assert_int_equal(cp->request_tokens, 9);
    assert_int_equal(cp->max_tokens, 9);
    fx_expect_none(f);
    assert_int_equal(f->p->stats.retried, 0);
    assert_int_equal(f->p->stats.failed, 1);
    assert_int_equal(a->rw.active + b->rw.active, 0);
}

static void test_worker_gone_before_first_byte_retries(void **state)
{
    fx *f = *state;
    pworker *a = fx_worker(f, "tiny", 1000, 0);
    pworker *b = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    b->rw.active = 5;
    fx_run(c, 1, "tiny");
    fx_run(c, 2, "tiny");
    /* Both went to a (b looked busier); a's link drops. */
    fx_take_run(f, a);
    fx_take_run(f, a);
    b->rw.active = 0;
    proxy_worker_destroy(a, "closed");
    tl_int256 r1 = fx_take_run(f, b)->request_id;
    tl_int256 r2 = fx_take_run(f, b)->request_id;
    fx_expect_none(f);
    assert_int_equal(f->p->stats.retried, 2);
    assert_int_equal(f->p->n_workers, 1);
    assert_int_equal(b->rw.active, 2);
    fx_answer(b, &r1, true, "one", true, 1, 1);
    fx_answer(b, &r2, true, "two", true, 1, 1);
    assert_int_equal(f->p->stats.ok, 2);
}

static void test_worker_gone_after_first_byte_fails(void **state)
{
    fx *f = *state;
    pworker *a = fx_worker(f, "tiny", 1000, 0);
    pworker *b = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    pworker *w = f->sent[f->next].peer == a->rw.id ? a : b;
    pworker *other = w == a ? b : a;
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_answer(w, &rid, true, "head", false, 0, 0);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    proxy_worker_destroy(w, "closed");
    assert_true(fx_error_says(fx_take_error(f, c, 601), "worker disconnected"));
    fx_expect_none(f);
    assert_int_equal(other->rw.active, 0);
    assert_int_equal(f->p->stats.retried, 0);
}

static void test_worker_gone_without_another_fails(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    fx_take_run(f, w);
    proxy_worker_destroy(w, "closed");
    assert_true(fx_error_says(fx_take_error(f, c, 601), "worker disconnected"));
    fx_expect_none(f);
    assert_int_equal(f->p->n_workers, 0);
    assert_int_equal(f->p->stats.active, 0);
}

static void test_undecodable_worker_packet_drops_the_worker(void **state)
{
    fx *f = *state;
    pworker *a = fx_worker(f, "tiny", 1000, 0);
    pworker *b = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    b->rw.active = 1;
    fx_run(c, 1, "tiny");
    fx_take_run(f, a);
    b->rw.active = 0;
    static const uint8_t garbage[] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3};
    proxy_worker_on_packet(NULL, a, garbage, sizeof(garbage));
    /* a is gone (freed), the request moved to b. */
    fx_take_run(f, b);
    fx_expect_none(f);
    assert_int_equal(f->p->n_workers, 1);
    assert_ptr_equal(f->p->workers[0], b);
}

/* A send fails only when the link is closing (it closes from the loop right
 * after): the request waits for that close, then goes to another worker. */
static void test_refused_send_waits_for_the_close(void **state)
{
    fx *f = *state;
    pworker *a = fx_worker(f, "tiny", 1000, 0);
    pworker *b = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    b->rw.active = 1; /* a is chosen */
    f->refuse_worker = a->rw.id;
    fx_run(c, 1, "tiny");
    fx_expect_none(f);
    assert_int_equal(a->rw.active, 0);
    assert_true(fx_find(c, 1)->queued);
    b->rw.active = 0;
    proxy_worker_destroy(a, "peer is not reading");
    fx_loop(f);
    fx_take_run(f, b);
    fx_expect_none(f);
    assert_false(fx_find(c, 1)->queued);
    assert_ptr_equal(fx_find(c, 1)->worker, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_error_before_first_byte_retries_elsewhere),
        FX_TEST(test_second_failure_reaches_the_client),
        FX_TEST(test_error_with_no_other_worker_fails_at_once),
        FX_TEST(test_error_after_first_byte_is_not_retried),
        FX_TEST(test_worker_gone_before_first_byte_retries),
        FX_TEST(test_worker_gone_after_first_byte_fails),
        FX_TEST(test_worker_gone_without_another_fails),
        FX_TEST(test_undecodable_worker_packet_drops_the_worker),
        FX_TEST(test_refused_send_waits_for_the_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
