/* Request timeouts on the proxy: the cap chosen, the timer driven through
 * the libevent loop, and what each side is told when it fires. */
#include "proxy_fixture.h"

/* Fires r's timer from the loop at once (no waiting on the wall clock). */
static void fire_timer(fx *f, preq *r)
{
    assert_true(evtimer_pending(r->timer, NULL));
    event_active(r->timer, EV_TIMEOUT, 1);
    fx_loop(f);
}

static void test_timeout_is_the_smaller_of_client_and_proxy(void **state)
{
    fx *f = *state;
    fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run_ex(c, 1, "tiny", 1000, 0, false); /* none given: the proxy's cap */
    fx_run_ex(c, 2, "tiny", 1000, 5.5, false);
    fx_run_ex(c, 3, "tiny", 1000, 9999, false); /* above the cap: capped */
    fx_run_ex(c, 4, "tiny", 1000, -1, false);
    assert_true(fx_find(c, 1)->timeout == 600);
    assert_true(fx_find(c, 2)->timeout == 5.5);
    assert_true(fx_find(c, 3)->timeout == 600);
    assert_true(fx_find(c, 4)->timeout == 600);
    for (uint8_t i = 1; i <= 4; i++)
        assert_true(evtimer_pending(fx_find(c, i)->timer, NULL));
}

static void test_timeout_cancels_on_worker_and_tells_client(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fire_timer(f, fx_find(c, 1));
    const tl_proxy_cancelQuery *cq =
        (const tl_proxy_cancelQuery *)fx_take(f, true, w->rw.id, TL_ID_proxy_cancelQuery);
    assert_memory_equal(cq->request_id.b, rid.b, 32);
    const tl_client_queryAnswerErrorEx *e = fx_take_error(f, c, 652);
    assert_true(fx_error_says(e, "request timed out"));
    assert_memory_equal(e->request_id.b, fx_rid(1).b, 32);
    fx_expect_none(f);
    assert_int_equal(f->p->stats.timeouts, 1);
    assert_int_equal(f->p->stats.failed, 1);
    assert_int_equal(w->rw.active, 0);
    assert_true(cc_list_empty(&c->reqs));
    /* The worker's answer arriving afterwards goes nowhere. */
    fx_answer(w, &rid, true, "late", true, 1, 1);
    fx_expect_none(f);
}

static void test_timeout_after_first_byte(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_answer(w, &rid, true, "head", false, 0, 0);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    fire_timer(f, fx_find(c, 1));
    fx_take(f, true, w->rw.id, TL_ID_proxy_cancelQuery);
    fx_take_error(f, c, 652);
    fx_expect_none(f);
}

static void test_queued_request_times_out_without_a_worker_cancel(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 1);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    fx_take_run(f, w);
    fx_run(c, 2, "tiny");
    assert_int_equal(f->p->queue_len, 1);
    fire_timer(f, fx_find(c, 2));
    /* It never reached a worker: only the client hears of it. */
    fx_take_error(f, c, 652);
    fx_expect_none(f);
    assert_int_equal(f->p->queue_len, 0);
    assert_int_equal(w->rw.active, 1);
    assert_non_null(fx_find(c, 1));
}

static void test_completed_request_leaves_no_timer(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run_ex(c, 1, "tiny", 1000, 0.001, false);
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_answer(w, &rid, true, "done", true, 1, 1);
    f->next = f->n_sent;
    /* Its timer went with it: the loop has nothing left to run. */
    assert_int_equal(event_base_loop(f->base, EVLOOP_ONCE), 1);
    assert_int_equal(f->p->stats.timeouts, 0);
    fx_expect_none(f);
}

/* The real timer, armed with the client's short timeout, fires through the
 * loop (which waits on it, not on a fixed sleep). */
static void test_short_timeout_fires_from_the_loop(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run_ex(c, 1, "tiny", 1000, 0.02, false);
    fx_take_run(f, w);
    while (!cc_list_empty(&c->reqs))
        assert_int_equal(event_base_loop(f->base, EVLOOP_ONCE), 0);
    fx_take(f, true, w->rw.id, TL_ID_proxy_cancelQuery);
    fx_take_error(f, c, 652);
    fx_expect_none(f);
    assert_int_equal(f->p->stats.timeouts, 1);
}

static void test_worker_gets_the_time_left(void **state)
{
    fx *f = *state;
    pworker *a = fx_worker(f, "tiny", 1000, 0);
    pworker *b = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    b->rw.active = 3;
    fx_run_ex(c, 1, "tiny", 1000, 50, false);
    tl_int256 rid = fx_take_run(f, a)->request_id;
    b->rw.active = 0;
    /* Pretend 20 s passed before a failed: the retry carries about 30 s. */
    fx_find(c, 1)->start_mono -= 20;
    fx_worker_error(a, &rid, 602, "fail");
    const tl_proxy_runQueryEx *q = fx_take_run(f, b);
    assert_true(q->timeout > 29.0 && q->timeout <= 30.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_timeout_is_the_smaller_of_client_and_proxy),
        FX_TEST(test_timeout_cancels_on_worker_and_tells_client),
        FX_TEST(test_timeout_after_first_byte),
        FX_TEST(test_queued_request_times_out_without_a_worker_cancel),
        FX_TEST(test_completed_request_leaves_no_timer),
        FX_TEST(test_short_timeout_fires_from_the_loop),
        FX_TEST(test_worker_gets_the_time_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
