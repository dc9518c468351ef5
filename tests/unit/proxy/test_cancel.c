/* Cancellation on the proxy: client.cancelQuery, the client's link going
 * away, and clients that break the protocol. */
#include "proxy_fixture.h"

static void test_client_cancel_reaches_the_worker(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    fx_run(c, 2, "tiny");
    tl_int256 r1 = fx_take_run(f, w)->request_id;
    tl_int256 r2 = fx_take_run(f, w)->request_id;
    fx_cancel(c, 1);
    const tl_proxy_cancelQuery *cq =
        (const tl_proxy_cancelQuery *)fx_take(f, true, w->rw.id, TL_ID_proxy_cancelQuery);
    assert_memory_equal(cq->request_id.b, r1.b, 32);
    /* The client asked for it: no error goes back. */
    fx_expect_none(f);
    assert_int_equal(f->p->stats.cancelled, 1);
    assert_int_equal(w->rw.active, 1);
    assert_null(fx_find(c, 1));
    /* Answers already on their way for the cancelled request are dropped ... */
    fx_answer(w, &r1, true, "late", true, 1, 1);
    fx_expect_none(f);
    /* ... the other request is untouched. */
    fx_answer(w, &r2, true, "two", false, 0, 0);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    fx_expect_none(f);
}

static void test_cancel_of_unknown_id_does_nothing(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    pclient *other = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    fx_take_run(f, w);
    fx_cancel(c, 2);
    /* Another client cannot cancel c's request with the same id. */
    fx_cancel(other, 1);
    fx_expect_none(f);
    assert_int_equal(f->p->stats.cancelled, 0);
    assert_non_null(fx_find(c, 1));
}

/* A client's ids are its own choice: ids sharing their first 8 bytes (the
 * key of the client's request index) are still told apart, whichever of
 * them goes first, and a repeated id is still refused. */
static void test_ids_sharing_a_prefix(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    tl_int256 ids[3], legs[3];
    for (int i = 0; i < 3; i++) {
        memset(ids[i].b, 0xAA, 32);
        ids[i].b[31] = (uint8_t)i;
        tl_client_runQueryEx q = TL_INIT(client_runQueryEx);
        q.model_name = tl_str("tiny");
        q.query = tl_str("QUERY-BYTES");
        q.max_coefficient = 1000000;
        q.max_tokens = 100;
        q.request_id = ids[i];
        fx_client_packet(c, &q.hdr);
        legs[i] = fx_take_run(f, w)->request_id;
    }
    /* The same id again: refused as a duplicate, nothing reaches the worker. */
    tl_client_runQueryEx dup = TL_INIT(client_runQueryEx);
    dup.model_name = tl_str("tiny");
    dup.query = tl_str("QUERY-BYTES");
    dup.max_coefficient = 1000000;
    dup.max_tokens = 100;
    dup.request_id = ids[1];
    fx_client_packet(c, &dup.hdr);
    fx_expect_none(f);
    for (int i = 0; i < 3; i++)
        assert_int_equal(proxy_client_request(c, &ids[i])->client_rid.b[31], i);
    /* The middle of the chain, then its head (the newest), then the last. */
    int order[3] = {1, 2, 0};
    for (int k = 0; k < 3; k++) {
        int i = order[k];
        tl_client_cancelQuery m = TL_INIT(client_cancelQuery);
        m.request_id = ids[i];
        fx_client_packet(c, &m.hdr);
        const tl_proxy_cancelQuery *cq =
            (const tl_proxy_cancelQuery *)fx_take(f, true, w->rw.id, TL_ID_proxy_cancelQuery);
        assert_memory_equal(cq->request_id.b, legs[i].b, 32);
        assert_null(proxy_client_request(c, &ids[i]));
        for (int j = k + 1; j < 3; j++)
            assert_non_null(proxy_client_request(c, &ids[order[j]]));
    }
    assert_int_equal(cc_map_count(&c->by_rid), 0);
    assert_true(cc_list_empty(&c->reqs));
    fx_expect_none(f);
}

static void test_cancel_frees_the_slot_for_a_waiter(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 1);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    fx_take_run(f, w);
    fx_run(c, 2, "tiny");
    fx_cancel(c, 1);
    fx_take(f, true, w->rw.id, TL_ID_proxy_cancelQuery);
    fx_loop(f);
    fx_take_run(f, w);
    fx_expect_none(f);
    assert_ptr_equal(fx_find(c, 2)->worker, w);
}

static void test_client_gone_cancels_its_requests_only(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *gone = fx_client(f, 2);
    pclient *stays = fx_client(f, 2);
    fx_run(gone, 1, "tiny");
    fx_run(gone, 2, "tiny");
    fx_run(stays, 1, "tiny");
    tl_int256 ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = fx_take_run(f, w)->request_id;
    proxy_client_destroy(gone, "closed");
    /* One cancel per request of the client, in either order. */
    bool seen[2] = {false, false};
    for (int i = 0; i < 2; i++) {
        const tl_proxy_cancelQuery *cq =
            (const tl_proxy_cancelQuery *)fx_take(f, true, w->rw.id, TL_ID_proxy_cancelQuery);
        for (int k = 0; k < 2; k++)
            if (!memcmp(cq->request_id.b, ids[k].b, 32)) seen[k] = true;
    }
    assert_true(seen[0] && seen[1]);
    fx_expect_none(f);
    assert_int_equal(f->p->stats.cancelled, 2);
    assert_int_equal(w->rw.active, 1);
    assert_int_equal(f->p->stats.active, 1);
    fx_answer(w, &ids[2], true, "yours", true, 1, 1);
    fx_take(f, false, stays->id, TL_ID_client_queryAnswerEx);
    fx_take(f, true, w->rw.id, TL_ID_proxy_workerRequestPayment);
    fx_take(f, false, stays->id, TL_ID_proxy_clientRequestPayment);
    fx_expect_none(f);
}

static void test_client_gone_with_queued_requests(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 1);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    fx_take_run(f, w);
    fx_run(c, 2, "tiny");
    fx_run(c, 3, "tiny");
    proxy_client_destroy(c, "closed");
    /* Only the running request had a worker to tell. */
    fx_take(f, true, w->rw.id, TL_ID_proxy_cancelQuery);
    fx_expect_none(f);
    assert_int_equal(f->p->queue_len, 0);
    assert_int_equal(f->p->stats.active, 0);
    assert_int_equal(w->rw.active, 0);
    fx_loop(f);
    fx_expect_none(f);
}

static void test_request_before_authorization_drops_the_client(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *good = fx_client(f, 2);
    pclient *c = fx_client(f, 2);
    c->authorized = false;
    fx_run(c, 1, "tiny");
    /* c is gone (freed): only the authorized client is left. */
    fx_expect_none(f);
    assert_ptr_equal(cc_list_first(pclient, &f->p->clients, node), good);
    assert_int_equal(cc_list_count(&f->p->clients), 1);
    assert_int_equal(w->rw.active, 0);
    assert_int_equal(f->p->stats.requests, 0);
}

static void test_undecodable_client_packet_drops_the_client(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    fx_take_run(f, w);
    static const uint8_t garbage[] = {1, 2, 3};
    proxy_client_on_packet(NULL, c, garbage, sizeof(garbage));
    /* Its running request is cancelled on the worker. */
    fx_take(f, true, w->rw.id, TL_ID_proxy_cancelQuery);
    fx_expect_none(f);
    assert_true(cc_list_empty(&f->p->clients));
    assert_int_equal(w->rw.active, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_client_cancel_reaches_the_worker),
        FX_TEST(test_cancel_of_unknown_id_does_nothing),
        FX_TEST(test_cancel_frees_the_slot_for_a_waiter),
        FX_TEST(test_ids_sharing_a_prefix),
        FX_TEST(test_client_gone_cancels_its_requests_only),
        FX_TEST(test_client_gone_with_queued_requests),
        FX_TEST(test_request_before_authorization_drops_the_client),
        FX_TEST(test_undecodable_client_packet_drops_the_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
