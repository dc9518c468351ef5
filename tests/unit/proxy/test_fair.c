/* Fair limits at the proxy: per-client caps on running and waiting requests
 * and waiting bytes, turns between clients as slots free up, the global
 * queue bounded in bytes, and the first-byte deadline that moves a request
 * off a worker that sends nothing. */
#include "proxy_fixture.h"

/* Finishes the running request rid on w (answer and both payments). */
static void fx_complete(fx *f, pworker *w, pclient *c, const tl_int256 *rid)
{
    fx_answer(w, rid, true, "done", true, 1, 1);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    fx_take(f, true, w->rw.id, TL_ID_proxy_workerRequestPayment);
    fx_take(f, false, c->id, TL_ID_proxy_clientRequestPayment);
}

/* The running request of w has this client id on the client leg. */
static pclient *owner_of_run(pclient *a, pclient *b, pworker *w)
{
    cc_list_foreach (preq, r, &w->reqs, w_node)
        return r->client == a ? a : r->client == b ? b : NULL;
    return NULL;
}

static void test_flooding_client_does_not_starve_another(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 1);
    pclient *flood = fx_client(f, 2);
    pclient *honest = fx_client(f, 2);
    fx_run(flood, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    for (uint8_t i = 2; i <= 60; i++)
        fx_run(flood, i, "tiny");
    fx_run(honest, 200, "tiny");
    fx_run(honest, 201, "tiny");
    fx_expect_none(f);
    assert_int_equal(proxy_client_owner(flood)->queued, 59);
    assert_int_equal(proxy_client_owner(honest)->queued, 2);
    /* Slots go to the clients in turn, not to the oldest request: the honest
     * client's two requests run within the next four slots. */
    int honest_served = 0, flood_served = 0;
    pclient *prev = flood;
    for (int slot = 0; slot < 4; slot++) {
        fx_complete(f, w, prev, &rid);
        fx_loop(f);
        rid = fx_take_run(f, w)->request_id;
        fx_expect_none(f);
        prev = owner_of_run(flood, honest, w);
        assert_non_null(prev);
        if (prev == honest)
            honest_served++;
        else
            flood_served++;
    }
    assert_int_equal(honest_served, 2);
    assert_int_equal(flood_served, 2);
    assert_int_equal(proxy_client_owner(honest)->queued, 0);
    assert_false(proxy_client_owner(honest)->waiting);
}

#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"

/* The limits and turns are per owner: an owner with two connections gets
 * no more of the freed slots, and no more running or waiting room, than an
 * owner with one. */
static void test_owner_with_many_connections_gets_one_share(void **state)
{
    fx *f = *state;
    f->p->lim.client_max_queued = 40;
    pworker *w = fx_worker(f, "tiny", 1000, 1);
    pclient *a1 = fx_client(f, 2), *a2 = fx_client(f, 2), *b = fx_client(f, 2);
    proxy_client_set_owner(a1,
                           "0:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    proxy_client_set_owner(a2,
                           "0:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    proxy_client_set_owner(b, "0:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    assert_ptr_equal(proxy_client_owner(a1), proxy_client_owner(a2));
    assert_ptr_not_equal(proxy_client_owner(a1), proxy_client_owner(b));
    /* Anonymous clients (the zero address) are each an owner of their own. */
    pclient *z1 = fx_client(f, 2), *z2 = fx_client(f, 2);
    proxy_client_set_owner(z1, "0:" ZERO64);
    proxy_client_set_owner(z2, "0:" ZERO64);
    assert_ptr_not_equal(proxy_client_owner(z1), proxy_client_owner(z2));
    fx_run(a1, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    for (uint8_t i = 2; i <= 20; i++) {
        fx_run(a1, i, "tiny");
        fx_run(a2, (uint8_t)(100 + i), "tiny");
    }
    for (uint8_t i = 200; i < 203; i++)
        fx_run(b, i, "tiny");
    fx_expect_none(f);
    /* Both connections' requests wait in the one owner's line. */
    assert_int_equal(proxy_client_owner(a2)->queued, 38);
    assert_int_equal(proxy_client_owner(b)->queued, 3);
    /* Six slots: per connection, b would get two of them; per owner, three. */
    int b_served = 0;
    pclient *prev = a1;
    for (int slot = 0; slot < 6; slot++) {
        fx_complete(f, w, prev, &rid);
        fx_loop(f);
        rid = fx_take_run(f, w)->request_id;
        fx_expect_none(f);
        prev = NULL;
        cc_list_foreach (preq, r, &w->reqs, w_node)
            prev = r->client;
        assert_non_null(prev);
        b_served += prev == b;
    }
    assert_int_equal(b_served, 3);
    /* The cap on waiting requests is the owner's: a third connection of
     * the same owner finds it full. */
    pclient *a3 = fx_client(f, 2);
    proxy_client_set_owner(a3,
                           "0:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    uint64_t refused = proxy_client_owner(a3)->refused_limits;
    for (uint8_t i = 1; i <= 8; i++)
        fx_run(a3, i, "tiny");
    assert_true(proxy_client_owner(a3)->queued <= 40);
    assert_true(proxy_client_owner(a3)->refused_limits > refused);
}

static void test_client_queue_caps(void **state)
{
    fx *f = *state;
    f->p->lim.client_max_queued = 3;
    pworker *w = fx_worker(f, "tiny", 1000, 1);
    pclient *a = fx_client(f, 2);
    pclient *b = fx_client(f, 2);
    fx_run(a, 1, "tiny");
    fx_take_run(f, w);
    for (uint8_t i = 2; i <= 4; i++)
        fx_run(a, i, "tiny");
    fx_expect_none(f);
    fx_run(a, 5, "tiny");
    assert_true(fx_error_says(fx_take_error(f, a, 651),
                              "too many waiting requests from this client (client_max_queued)"));
    fx_expect_none(f);
    /* The other client still finds room. */
    fx_run(b, 1, "tiny");
    fx_expect_none(f);
    assert_true(fx_find(b, 1)->queued);
    assert_int_equal(f->p->stats.refused_limits, 1);
    assert_int_equal(proxy_client_owner(a)->refused_limits, 1);
    assert_int_equal(f->p->queue_len, 4);
}

static void test_queued_bytes_caps(void **state)
{
    fx *f = *state;
    /* fx_run's query is 11 bytes ("QUERY-BYTES"). */
    f->p->lim.client_max_queued_bytes = 25;
    f->p->lim.max_queued_bytes = 40;
    pworker *w = fx_worker(f, "tiny", 1000, 1);
    pclient *a = fx_client(f, 2);
    pclient *b = fx_client(f, 2);
    fx_run(a, 1, "tiny");
    fx_take_run(f, w);
    fx_run(a, 2, "tiny");
    fx_run(a, 3, "tiny");
    fx_expect_none(f);
    assert_int_equal(proxy_client_owner(a)->queued_bytes, 22);
    fx_run(a, 4, "tiny");
    assert_true(
        fx_error_says(fx_take_error(f, a, 651),
                      "this client's waiting requests are too large (client_max_queued_bytes)"));
    fx_run(b, 1, "tiny");
    fx_expect_none(f);
    assert_int_equal(f->p->queued_bytes, 33);
    fx_run(b, 2, "tiny");
    assert_true(fx_error_says(fx_take_error(f, b, 651),
                              "every worker of this model is busy and the proxy's queue is full "
                              "(max_queued_bytes)"));
    fx_expect_none(f);
    /* A cancelled waiter gives its bytes back. */
    fx_cancel(a, 2);
    assert_int_equal(proxy_client_owner(a)->queued_bytes, 11);
    assert_int_equal(f->p->queued_bytes, 22);
}

static void test_client_active_cap(void **state)
{
    fx *f = *state;
    f->p->lim.client_max_active = 2;
    pworker *w = fx_worker(f, "tiny", 1000, 10);
    pclient *a = fx_client(f, 2);
    pclient *b = fx_client(f, 2);
    fx_run(a, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_run(a, 2, "tiny");
    fx_take_run(f, w);
    /* The worker has room, the client has not: it waits. */
    fx_run(a, 3, "tiny");
    fx_expect_none(f);
    assert_true(fx_find(a, 3)->queued);
    assert_int_equal(proxy_client_owner(a)->active, 2);
    /* Another client is not held back by it. */
    fx_run(b, 1, "tiny");
    fx_take_run(f, w);
    fx_expect_none(f);
    /* One of a's requests ends: its waiter takes the slot. */
    fx_complete(f, w, a, &rid);
    fx_loop(f);
    fx_take_run(f, w);
    fx_expect_none(f);
    assert_false(fx_find(a, 3)->queued);
    assert_int_equal(proxy_client_owner(a)->active, 2);
    /* At its cap, a request no worker could ever take fails at once. */
    fx_run(a, 4, "absent");
    assert_true(fx_error_says(fx_take_error(f, a, 651), "no worker serves this model"));
    fx_expect_none(f);
}

static void test_first_byte_deadline_moves_the_request(void **state)
{
    fx *f = *state;
    f->p->lim.first_byte_timeout = 0.05;
    pworker *hung = fx_worker(f, "tiny", 1000, 4);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    tl_int256 first = fx_take_run(f, hung)->request_id;
    pworker *good = fx_worker(f, "tiny", 1000, 4);
    /* Nothing comes back from the first worker: the deadline fires. */
    event_base_loop(f->base, EVLOOP_ONCE);
    const tl_proxy_cancelQuery *cq =
        (const tl_proxy_cancelQuery *)fx_take(f, true, hung->rw.id, TL_ID_proxy_cancelQuery);
    assert_memory_equal(cq->request_id.b, first.b, 32);
    tl_int256 second = fx_take_run(f, good)->request_id;
    fx_expect_none(f);
    assert_int_equal(f->p->stats.first_byte_timeouts, 1);
    assert_int_equal(f->p->stats.retried, 1);
    assert_int_equal(hung->rw.active, 0);
    /* The second worker answers in time: the deadline is off once a byte
     * came, and the request completes normally. */
    fx_answer(good, &second, true, "part", false, 0, 0);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    fx_answer(good, &second, false, "end", true, 1, 1);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerPartEx);
    fx_take(f, true, good->rw.id, TL_ID_proxy_workerRequestPayment);
    fx_take(f, false, c->id, TL_ID_proxy_clientRequestPayment);
    fx_expect_none(f);
    assert_int_equal(f->p->stats.ok, 1);
    assert_int_equal(f->p->stats.first_byte_timeouts, 1);
}

static void test_first_byte_deadline_fails_without_another_worker(void **state)
{
    fx *f = *state;
    f->p->lim.first_byte_timeout = 0.05;
    pworker *hung = fx_worker(f, "tiny", 1000, 4);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    fx_take_run(f, hung);
    event_base_loop(f->base, EVLOOP_ONCE);
    fx_take(f, true, hung->rw.id, TL_ID_proxy_cancelQuery);
    assert_true(fx_error_says(fx_take_error(f, c, 652),
                              "the worker sent no answer within first_byte_timeout"));
    fx_expect_none(f);
    assert_int_equal(f->p->stats.active, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_flooding_client_does_not_starve_another),
        FX_TEST(test_owner_with_many_connections_gets_one_share),
        FX_TEST(test_client_queue_caps),
        FX_TEST(test_queued_bytes_caps),
        FX_TEST(test_client_active_cap),
        FX_TEST(test_first_byte_deadline_moves_the_request),
        FX_TEST(test_first_byte_deadline_fails_without_another_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
