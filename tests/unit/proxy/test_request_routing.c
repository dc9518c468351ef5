/* Routing of client requests through the proxy (no sockets): which worker
 * gets proxy.runQueryEx, what it carries, and the refusals when none fits. */
#include "proxy_fixture.h"

static void test_forwards_to_the_only_worker(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1500, 0);
    pclient *c = fx_client(f, 2);
    fx_run_ex(c, 7, "tiny", 2000, 30, true);
    const tl_proxy_runQueryEx *q = fx_take_run(f, w);
    fx_expect_none(f);
    assert_true(tl_bytes_eq_str(q->query, "QUERY-BYTES"));
    assert_int_equal(q->coefficient, 1500);
    assert_non_null(q->signed_payment);
    assert_int_equal(q->signed_payment->id, TL_ID_proxy_signedPaymentEmpty);
    /* The worker gets what is left of the client's 30 s, never more. */
    assert_true(q->timeout > 29.0 && q->timeout <= 30.0);
    assert_true(q->flags & 1u);
    assert_true(q->enable_debug);
    /* The worker leg has its own id, not the client's. */
    tl_int256 client_rid = fx_rid(7);
    assert_memory_not_equal(q->request_id.b, client_rid.b, 32);
    assert_int_equal(w->rw.active, 1);
    assert_int_equal(w->requests, 1);
    assert_int_equal(f->p->stats.requests, 1);
    assert_int_equal(f->p->stats.active, 1);
}

static void test_debug_only_when_asked(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    const tl_proxy_runQueryEx *q = fx_take_run(f, w);
    assert_int_equal(q->flags & 1u, 0);
    assert_false(q->enable_debug);
}

static void test_least_loaded_worker_wins(void **state)
{
    fx *f = *state;
    pworker *a = fx_worker(f, "tiny", 1000, 0);
    pworker *b = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    /* a already runs two requests, b one: the next goes to b. */
    a->rw.active = 2;
    b->rw.active = 1;
    fx_run(c, 1, "tiny");
    fx_take_run(f, b);
    assert_int_equal(b->rw.active, 2);
    /* b now runs more requests, but a is known to be three times slower. */
    a->rw.avg_time = 3.0;
    b->rw.avg_time = 1.0;
    b->rw.active = 4;
    fx_run(c, 2, "tiny");
    fx_take_run(f, b);
    fx_expect_none(f);
    /* Restore the figures finish() decrements from. */
    a->rw.active = 0;
    b->rw.active = 2;
}

static void test_other_models_and_prices_are_skipped(void **state)
{
    fx *f = *state;
    pworker *other = fx_worker(f, "big", 1000, 0);
    pworker *dear = fx_worker(f, "tiny", 5000, 0);
    pworker *cheap = fx_worker(f, "tiny@sha256:abcd", 1000, 0);
    pclient *c = fx_client(f, 2);
    /* The base name answers for the pinned "name@sha256:<hex>"; the full
     * identifier is no request name (COCOON's proxy: "unknown model"). */
    fx_run_ex(c, 3, "tiny@sha256:abcd", 2000, 0, false);
    assert_true(fx_error_says(fx_take_error(f, c, 651), "no worker serves this model"));
    fx_run_ex(c, 1, "tiny", 2000, 0, false);
    fx_take_run(f, cheap);
    fx_run_ex(c, 2, "big", 2000, 0, false);
    fx_take_run(f, other);
    fx_expect_none(f);
    assert_int_equal(dear->rw.active, 0);
}

static void test_no_worker_reasons(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 5000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "absent");
    assert_true(fx_error_says(fx_take_error(f, c, 651), "no worker serves this model"));
    fx_run_ex(c, 2, "tiny", 1000, 0, false);
    assert_true(fx_error_says(fx_take_error(f, c, 651),
                              "every worker of this model is above max_coefficient"));
    w->rw.enabled = false;
    fx_run(c, 3, "tiny");
    const tl_client_queryAnswerErrorEx *e = fx_take_error(f, c, 651);
    assert_true(fx_error_says(e, "every worker of this model is disabled"));
    /* The error carries the final info (flag 1) with no tokens used. */
    assert_true(e->flags & 1u);
    assert_int_equal(e->final_info.tokens_used.total_tokens_used, 0);
    assert_memory_equal(e->request_id.b, fx_rid(3).b, 32);
    fx_expect_none(f);
    assert_int_equal(f->p->stats.no_worker, 3);
    assert_int_equal(f->p->stats.failed, 3);
    assert_int_equal(f->p->stats.active, 0);
    assert_true(cc_list_empty(&c->reqs));
}

static void test_duplicate_request_id_is_ignored(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 9, "tiny");
    fx_take_run(f, w);
    fx_run(c, 9, "tiny");
    fx_expect_none(f);
    assert_int_equal(w->rw.active, 1);
    assert_int_equal(f->p->stats.requests, 1);
}

static void test_same_client_ids_differ_on_the_worker(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c1 = fx_client(f, 2);
    pclient *c2 = fx_client(f, 2);
    fx_run(c1, 5, "tiny");
    fx_run(c2, 5, "tiny");
    tl_int256 r1 = fx_take_run(f, w)->request_id;
    tl_int256 r2 = fx_take_run(f, w)->request_id;
    assert_memory_not_equal(r1.b, r2.b, 32);
    /* Each answer goes back to the client that asked, under its own id. */
    fx_answer(w, &r2, true, "two", false, 0, 0);
    const tl_client_queryAnswerEx *a =
        (const tl_client_queryAnswerEx *)fx_take(f, false, c2->id, TL_ID_client_queryAnswerEx);
    assert_true(tl_bytes_eq_str(a->answer, "two"));
    assert_memory_equal(a->request_id.b, fx_rid(5).b, 32);
    fx_answer(w, &r1, true, "one", false, 0, 0);
    a = (const tl_client_queryAnswerEx *)fx_take(f, false, c1->id, TL_ID_client_queryAnswerEx);
    assert_true(tl_bytes_eq_str(a->answer, "one"));
    fx_expect_none(f);
}

/* Equal idle workers share the load: ties are broken at random. */
static void test_ties_spread_over_equal_workers(void **state)
{
    fx *f = *state;
    pworker *a = fx_worker(f, "tiny", 1000, 0);
    pworker *b = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    int to_a = 0, to_b = 0;
    for (int i = 0; i < 64; i++) {
        fx_run(c, (uint8_t)(i + 1), "tiny");
        const fx_sent *s = &f->sent[f->next];
        pworker *w = s->peer == a->rw.id ? a : b;
        tl_int256 rid = fx_take_run(f, w)->request_id;
        if (w == a)
            to_a++;
        else
            to_b++;
        /* Finish it at once so both are idle again; keep their averages equal. */
        fx_answer(w, &rid, true, "x", true, 1, 1);
        a->rw.avg_time = b->rw.avg_time = 0;
        fx_clear_sent(f);
    }
    assert_int_equal(to_a + to_b, 64);
    assert_true(to_a > 0);
    assert_true(to_b > 0);
}

static void test_answers_from_the_wrong_worker_are_dropped(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pworker *other = fx_worker(f, "big", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_answer(other, &rid, true, "forged", true, 1, 1);
    tl_int256 unknown = fx_rid(0xEE);
    fx_answer(w, &unknown, true, "stray", true, 1, 1);
    fx_expect_none(f);
    assert_int_equal(w->rw.active, 1);
    assert_int_equal(f->p->stats.active, 1);
}

static void test_new_coefficient_and_disable_packets(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    tl_worker_newCoefficient nc = TL_INIT(worker_newCoefficient);
    nc.new_coefficient = 3000;
    fx_worker_packet(w, &nc.hdr);
    assert_int_equal(w->rw.coefficient, 3000);
    nc.new_coefficient = 0; /* ignored: a free worker is refused at the handshake too */
    fx_worker_packet(w, &nc.hdr);
    assert_int_equal(w->rw.coefficient, 3000);
    fx_run_ex(c, 1, "tiny", 2000, 0, false);
    fx_take_error(f, c, 651);
    tl_worker_enabledDisabled d = TL_INIT(worker_enabledDisabled);
    d.disabled = 1;
    fx_worker_packet(w, &d.hdr);
    assert_false(w->rw.enabled);
    fx_run(c, 2, "tiny");
    assert_true(fx_error_says(fx_take_error(f, c, 651), "every worker of this model is disabled"));
    d.disabled = 0;
    fx_worker_packet(w, &d.hdr);
    fx_run(c, 3, "tiny");
    assert_int_equal(fx_take_run(f, w)->coefficient, 3000);
    fx_expect_none(f);
    /* A negative value ends the link, as COCOON's proxy does. */
    pworker *bad = fx_worker(f, "other", 1000, 0);
    size_t before = cc_list_count(&f->p->all_workers);
    nc.new_coefficient = -5;
    fx_worker_packet(bad, &nc.hdr);
    assert_int_equal(cc_list_count(&f->p->all_workers), before - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_forwards_to_the_only_worker),
        FX_TEST(test_debug_only_when_asked),
        FX_TEST(test_least_loaded_worker_wins),
        FX_TEST(test_other_models_and_prices_are_skipped),
        FX_TEST(test_no_worker_reasons),
        FX_TEST(test_duplicate_request_id_is_ignored),
        FX_TEST(test_same_client_ids_differ_on_the_worker),
        FX_TEST(test_ties_spread_over_equal_workers),
        FX_TEST(test_answers_from_the_wrong_worker_are_dropped),
        FX_TEST(test_new_coefficient_and_disable_packets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
