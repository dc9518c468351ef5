/* A client's queries to the proxy (answered through proxy_io): the order of
 * authorization, the worker-type list, payment status and cancel-as-query,
 * and what happens to queries the proxy does not take. */
#include "proxy_fixture.h"

static void query(pclient *c, uint64_t qid, const tl_obj *msg)
{
    cc_buf b = CC_BUF_INIT;
    fx_encode(msg, &b);
    proxy_client_on_query(NULL, c, qid, b.data, b.len);
    cc_buf_free(&b);
}

/* The last answer, which must be for (c, qid); decoded when it is a result. */
static tl_obj *last_answer(fx *f, const pclient *c, uint64_t qid, int32_t code)
{
    assert_true(f->n_answers > 0);
    const fx_reply *a = &f->answers[f->n_answers - 1];
    assert_int_equal(a->client, c->id);
    assert_int_equal(a->qid, qid);
    assert_int_equal(a->code, code);
    if (code) return NULL;
    cc_err err = {0};
    tl_obj *o = tl_decode(a->data.data, a->data.len, &err);
    if (!o) fail_msg("answer does not decode: %s", err.msg);
    return o;
}

static void test_authorize_needs_connect_first(void **state)
{
    fx *f = *state;
    pclient *c = fx_client(f, 2);
    c->connected = c->authorized = false;
    tl_client_authorizeWithProxyShort q = TL_INIT(client_authorizeWithProxyShort);
    q.data = tl_str("");
    query(c, 10, &q.hdr);
    last_answer(f, c, 10, 621);
    assert_string_equal(f->answers[0].error, "client.connectToProxy first");
    assert_false(c->authorized);
    /* Connected: any secret is accepted with --chain none. */
    c->connected = true;
    query(c, 11, &q.hdr);
    tl_obj *o = last_answer(f, c, 11, 0);
    assert_int_equal(o->id, TL_ID_client_authorizationWithProxySuccess);
    const tl_client_authorizationWithProxySuccess *s =
        (const tl_client_authorizationWithProxySuccess *)o;
    assert_int_equal(s->signed_payment->id, TL_ID_proxy_signedPaymentEmpty);
    /* The account's totals: a fresh client has used nothing. */
    assert_int_equal(s->max_tokens, 0);
    assert_int_equal(s->tokens_committed_to_db, 0);
    tl_obj_free(o);
    assert_true(c->authorized);
    fx_expect_none(f);
}

static void test_worker_types_need_authorization(void **state)
{
    fx *f = *state;
    fx_worker(f, "tiny", 1000, 2);
    pclient *c = fx_client(f, 2);
    c->authorized = false;
    tl_client_getWorkerTypesV2 q = TL_INIT(client_getWorkerTypesV2);
    query(c, 1, &q.hdr);
    last_answer(f, c, 1, 621);
    assert_string_equal(f->answers[0].error, "not authorized");
}

static void test_worker_types_group_by_model(void **state)
{
    fx *f = *state;
    pworker *t1 = fx_worker(f, "tiny", 1000, 4);
    fx_worker(f, "big", 3000, 0);
    pworker *t2 = fx_worker(f, "tiny", 1500, 2);
    pworker *t3 = fx_worker(f, "tiny", 900, 8);
    t3->rw.enabled = false;
    pclient *c = fx_client(f, 2);
    fx_run(c, 1, "tiny");
    pworker *busy = f->sent[0].peer == t1->rw.id ? t1 : t2;
    fx_take_run(f, busy);
    tl_client_getWorkerTypesV2 q = TL_INIT(client_getWorkerTypesV2);
    query(c, 5, &q.hdr);
    tl_obj *o = last_answer(f, c, 5, 0);
    assert_int_equal(o->id, TL_ID_client_workerTypesV2);
    const tl_client_workerTypesV2 *t = (const tl_client_workerTypesV2 *)o;
    /* One entry per model, in table order, each listing its instances. */
    assert_int_equal(t->types.n, 2);
    assert_true(tl_bytes_eq_str(t->types.items[0].name, "tiny"));
    assert_true(tl_bytes_eq_str(t->types.items[1].name, "big"));
    const tl_vec_client_workerInstanceV2 *tiny = &t->types.items[0].workers;
    assert_int_equal(tiny->n, 3);
    assert_int_equal(tiny->items[0].coefficient, 1000);
    assert_int_equal(tiny->items[0].max_active_requests, 4);
    assert_int_equal(tiny->items[1].coefficient, 1500);
    assert_int_equal(tiny->items[1].max_active_requests, 2);
    /* The request running on one of them shows as its load. */
    assert_int_equal(tiny->items[0].active_requests + tiny->items[1].active_requests, 1);
    assert_int_equal(busy == t1 ? tiny->items[0].active_requests : tiny->items[1].active_requests,
                     1);
    /* A disabled worker takes nothing: listed as full (cap 0). */
    assert_int_equal(tiny->items[2].coefficient, 900);
    assert_int_equal(tiny->items[2].max_active_requests, 0);
    assert_int_equal(t->types.items[1].workers.n, 1);
    assert_int_equal(t->types.items[1].workers.items[0].coefficient, 3000);
    tl_obj_free(o);
}

/* COCOON's proxy lists "name@commit:verity" workers under "name", one entry
 * for every commit of the model. */
static void test_worker_types_list_base_names(void **state)
{
    fx *f = *state;
    fx_worker(f, "Qwen/Qwen3-8B@c1:v1", 1000, 4);
    fx_worker(f, "tiny@sha256:abcd", 2000, 1);
    fx_worker(f, "Qwen/Qwen3-8B@c2:v2", 1200, 3);
    pclient *c = fx_client(f, 2);
    tl_client_getWorkerTypesV2 q = TL_INIT(client_getWorkerTypesV2);
    query(c, 3, &q.hdr);
    tl_obj *o = last_answer(f, c, 3, 0);
    const tl_client_workerTypesV2 *t = (const tl_client_workerTypesV2 *)o;
    assert_int_equal(t->types.n, 2);
    assert_true(tl_bytes_eq_str(t->types.items[0].name, "Qwen/Qwen3-8B"));
    assert_int_equal(t->types.items[0].workers.n, 2);
    assert_int_equal(t->types.items[0].workers.items[1].coefficient, 1200);
    assert_true(tl_bytes_eq_str(t->types.items[1].name, "tiny"));
    tl_obj_free(o);
}

static void test_worker_types_of_an_empty_proxy(void **state)
{
    fx *f = *state;
    pclient *c = fx_client(f, 2);
    tl_client_getWorkerTypesV2 q = TL_INIT(client_getWorkerTypesV2);
    query(c, 2, &q.hdr);
    tl_obj *o = last_answer(f, c, 2, 0);
    assert_int_equal(((const tl_client_workerTypesV2 *)o)->types.n, 0);
    tl_obj_free(o);
}

static void test_payment_status(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    tl_client_updatePaymentStatus q = TL_INIT(client_updatePaymentStatus);
    /* Before authorization there is no account to speak of (COCOON's error). */
    c->authorized = false;
    query(c, 2, &q.hdr);
    last_answer(f, c, 2, NET_ERR_PROTOCOL);
    c->authorized = true;
    /* After one request of 42 tokens: everything used, nothing committed yet. */
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_answer(w, &rid, true, "all", true, 12, 30);
    query(c, 3, &q.hdr);
    tl_obj *o = last_answer(f, c, 3, 0);
    assert_int_equal(o->id, TL_ID_client_paymentStatus);
    assert_int_equal(((const tl_client_paymentStatus *)o)->max_tokens, 42);
    assert_int_equal(((const tl_client_paymentStatus *)o)->db_tokens, 0);
    tl_obj_free(o);
    /* A ledger commit moves the total to db_tokens. */
    assert_int_equal(proxy_money_commit(f->p), 0);
    query(c, 4, &q.hdr);
    o = last_answer(f, c, 4, 0);
    assert_int_equal(((const tl_client_paymentStatus *)o)->max_tokens, 42);
    assert_int_equal(((const tl_client_paymentStatus *)o)->db_tokens, 42);
    tl_obj_free(o);
}

/* cocoon extension: the free-mode account's contract figures (COCOON's
 * ton_disabled account: 100 TON, 1 TON stake) with the payment totals. */
static void test_account_status(void **state)
{
    fx *f = *state;
    f->p->price_per_token = 20;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    tl_client_getAccountStatus q = TL_INIT(client_getAccountStatus);
    c->authorized = false;
    query(c, 2, &q.hdr);
    last_answer(f, c, 2, NET_ERR_PROTOCOL);
    c->authorized = true;
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_answer(w, &rid, true, "all", true, 12, 30);
    query(c, 3, &q.hdr);
    tl_obj *o = last_answer(f, c, 3, 0);
    assert_int_equal(o->id, TL_ID_client_accountStatus);
    const tl_client_accountStatus *a = (const tl_client_accountStatus *)o;
    assert_int_equal(a->status, 0);
    assert_int_equal(a->balance, 100000000000LL);
    assert_int_equal(a->stake, 1000000000LL);
    assert_int_equal(a->sc_tokens_used, 0);
    assert_int_equal(a->price_per_token, 20);
    assert_int_equal(a->prompt_multiplier, 10000); /* no registry: 1.0 each */
    assert_int_equal(a->max_tokens, 42);
    assert_int_equal(a->db_tokens, 0);
    tl_obj_free(o);
}

static void test_cancel_as_a_query_answers_true(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    fx_run(c, 4, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    tl_client_cancelQuery q = TL_INIT(client_cancelQuery);
    q.request_id = fx_rid(4);
    query(c, 9, &q.hdr);
    const tl_proxy_cancelQuery *cq =
        (const tl_proxy_cancelQuery *)fx_take(f, true, w->rw.id, TL_ID_proxy_cancelQuery);
    assert_memory_equal(cq->request_id.b, rid.b, 32);
    fx_expect_none(f);
    assert_int_equal(f->n_answers, 1);
    assert_int_equal(f->answers[0].code, 0);
    assert_int_equal(f->answers[0].data.len, 4);
    assert_int_equal(cc_load_u32le(f->answers[0].data.data), TL_ID_boolTrue);
    assert_int_equal(f->p->stats.cancelled, 1);
}

static void test_unexpected_query_is_refused(void **state)
{
    fx *f = *state;
    pclient *c = fx_client(f, 2);
    /* A worker's query on a client link. */
    tl_worker_updatePaymentStatus q = TL_INIT(worker_updatePaymentStatus);
    query(c, 6, &q.hdr);
    last_answer(f, c, 6, 621);
    assert_string_equal(f->answers[0].error, "unexpected query");
    assert_ptr_equal(cc_list_first(pclient, &f->p->clients, node), c); /* refused, not dropped */
}

static void test_undecodable_query_drops_the_client(void **state)
{
    fx *f = *state;
    pclient *keep = fx_client(f, 2);
    pclient *c = fx_client(f, 2);
    uint64_t id = c->id;
    static const uint8_t garbage[] = {0x01, 0x02, 0x03, 0x04, 0x05};
    proxy_client_on_query(NULL, c, 7, garbage, sizeof(garbage));
    assert_int_equal(f->n_answers, 1);
    assert_int_equal(f->answers[0].client, id);
    assert_int_equal(f->answers[0].code, 621);
    assert_true(f->answers[0].error[0] != 0);
    assert_ptr_equal(cc_list_first(pclient, &f->p->clients, node), keep);
    assert_int_equal(cc_list_count(&f->p->clients), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_authorize_needs_connect_first),
        FX_TEST(test_worker_types_need_authorization),
        FX_TEST(test_worker_types_group_by_model),
        FX_TEST(test_worker_types_list_base_names),
        FX_TEST(test_worker_types_of_an_empty_proxy),
        FX_TEST(test_payment_status),
        FX_TEST(test_account_status),
        FX_TEST(test_cancel_as_a_query_answers_true),
        FX_TEST(test_unexpected_query_is_refused),
        FX_TEST(test_undecodable_query_drops_the_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
