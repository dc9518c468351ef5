/* Requests wait when every worker of their model is at its cap, are served
 * in arrival order as slots free up, and the bounded queue refuses beyond. */
#include "proxy_fixture.h"

/* Requests the proxy lets wait before refusing (its max_queued, lowered
 * from the default so the test stays quick). */
#define QUEUE_BOUND 64

static void test_busy_worker_queues_then_drains_in_order(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 1);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_run(c, 2, "tiny");
    fx_run(c, 3, "tiny");
    fx_run(c, 4, "tiny");
    /* Busy is not an error: nothing goes out, three wait. */
    fx_expect_none(f);
    assert_int_equal(f->p->queue_len, 3);
    assert_int_equal(f->p->stats.queued, 3);
    assert_true(fx_find(c, 2)->queued);
    for (uint8_t next = 2; next <= 4; next++) {
        fx_answer(w, &rid, true, "done", true, 1, 1);
        fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
        fx_take(f, true, w->rw.id, TL_ID_proxy_workerRequestPayment);
        fx_take(f, false, c->id, TL_ID_proxy_clientRequestPayment);
        /* The freed slot is taken from the loop, by the oldest waiter. */
        fx_expect_none(f);
        fx_loop(f);
        rid = fx_take_run(f, w)->request_id;
        fx_expect_none(f);
        preq *r = fx_find(c, next);
        assert_non_null(r);
        assert_false(r->queued);
        assert_ptr_equal(r->worker, w);
        assert_int_equal(f->p->queue_len, (size_t)(4 - next));
    }
    assert_int_equal(w->rw.active, 1);
}

static void test_new_worker_takes_the_waiters(void **state)
{
    fx *f = *state;
    pworker *a = fx_worker(f, "tiny", 1000, 1);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    fx_take_run(f, a);
    fx_run(c, 2, "tiny");
    fx_run(c, 3, "tiny");
    fx_expect_none(f);
    /* A second worker completes its handshake: the proxy kicks the queue. */
    pworker *b = fx_worker(f, "tiny", 1000, 1);
    proxy_requests_kick(f->p);
    fx_loop(f);
    fx_take_run(f, b);
    fx_expect_none(f);
    assert_ptr_equal(fx_find(c, 2)->worker, b);
    assert_true(fx_find(c, 3)->queued);
    assert_int_equal(f->p->queue_len, 1);
}

static void test_waiters_fail_when_the_model_disappears(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 1);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    fx_take_run(f, w);
    fx_run(c, 2, "tiny");
    fx_expect_none(f);
    proxy_worker_destroy(w, "closed");
    /* The running request fails at once (no other worker) ... */
    assert_true(fx_error_says(fx_take_error(f, c, 601), "worker disconnected"));
    fx_expect_none(f);
    /* ... the waiting one when the queue is looked at. */
    fx_loop(f);
    assert_true(fx_error_says(fx_take_error(f, c, 651), "no worker serves this model"));
    fx_expect_none(f);
    assert_int_equal(f->p->queue_len, 0);
    assert_int_equal(f->p->stats.active, 0);
}

static void test_waiter_fails_when_its_workers_are_disabled(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 1);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    fx_take_run(f, w);
    fx_run(c, 2, "tiny");
    tl_worker_enabledDisabled d = TL_INIT(worker_enabledDisabled);
    d.disabled = 1;
    fx_worker_packet(w, &d.hdr);
    fx_loop(f);
    assert_true(fx_error_says(fx_take_error(f, c, 651), "every worker of this model is disabled"));
    fx_expect_none(f);
    assert_int_equal(f->p->queue_len, 0);
}

static void test_a_waiter_for_a_busy_model_does_not_block_others(void **state)
{
    fx *f = *state;
    pworker *busy = fx_worker(f, "big", 1000, 1);
    pworker *free_w = fx_worker(f, "tiny", 1000, 1);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "big");
    fx_take_run(f, busy);
    fx_run(c, 2, "big");
    fx_expect_none(f);
    fx_run(c, 3, "tiny");
    fx_take_run(f, free_w);
    /* Draining with the big worker still busy leaves its waiter in place. */
    proxy_requests_kick(f->p);
    fx_loop(f);
    fx_expect_none(f);
    assert_true(fx_find(c, 2)->queued);
}

static void test_bounded_queue_refuses(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 1);
    pclient *c = fx_client(f, 2);
    f->p->lim.max_queued = QUEUE_BOUND;
    fx_run(c, 0, "tiny");
    fx_take_run(f, w);
    tl_client_runQueryEx q = TL_INIT(client_runQueryEx);
    q.model_name = tl_str("tiny");
    q.query = tl_str("q");
    q.max_coefficient = 1000;
    for (uint32_t i = 1; i <= QUEUE_BOUND; i++) {
        q.request_id = fx_rid(0);
        cc_store_u32le(q.request_id.b + 4, i);
        fx_client_packet(c, &q.hdr);
    }
    fx_expect_none(f);
    assert_int_equal(f->p->queue_len, QUEUE_BOUND);
    q.request_id = fx_rid(0xAB);
    fx_client_packet(c, &q.hdr);
    const tl_client_queryAnswerErrorEx *e = fx_take_error(f, c, 651);
    assert_true(fx_error_says(e, "every worker of this model is busy"));
    assert_memory_equal(e->request_id.b, fx_rid(0xAB).b, 32);
    fx_expect_none(f);
    assert_int_equal(f->p->queue_len, QUEUE_BOUND);
    assert_int_equal(f->p->stats.no_worker, 1);
}

static void test_cancelled_waiter_leaves_the_queue(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 1);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_run(c, 2, "tiny");
    fx_run(c, 3, "tiny");
    fx_cancel(c, 2);
    /* Nothing ran on a worker: nothing to cancel there. */
    fx_expect_none(f);
    assert_int_equal(f->p->queue_len, 1);
    assert_null(fx_find(c, 2));
    fx_answer(w, &rid, true, "done", true, 1, 1);
    f->next = f->n_sent;
    fx_loop(f);
    fx_take_run(f, w);
    fx_expect_none(f);
    assert_ptr_equal(fx_find(c, 3)->worker, w);
    assert_int_equal(f->p->queue_len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_busy_worker_queues_then_drains_in_order),
        FX_TEST(test_new_worker_takes_the_waiters),
        FX_TEST(test_waiters_fail_when_the_model_disappears),
        FX_TEST(test_waiter_fails_when_its_workers_are_disabled),
        FX_TEST(test_a_waiter_for_a_busy_model_does_not_block_others),
        FX_TEST(test_bounded_queue_refuses),
        FX_TEST(test_cancelled_waiter_leaves_the_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
