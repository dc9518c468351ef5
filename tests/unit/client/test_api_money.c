/* The client's money at each proxy: the contract figures (client.accountStatus)
 * and the proxy's totals (authorization, client.paymentStatus,
 * proxy.clientRequestPayment) give the "payments" figures of /jsonstats and
 * the credit that decides where a request may go; a request no proxy has the
 * credit for is refused at once with 402 insufficient_quota. */
#include "client_fixture.h"

#define PRICE 20
#define TON 1000000000LL

static void account_charged(cfx *f, size_t link, int32_t status, int64_t balance, int64_t stake,
                            int64_t max_tokens, int64_t sc_tokens_used)
{
    tl_proxy_signedPaymentEmpty empty = TL_INIT(proxy_signedPaymentEmpty);
    tl_client_accountStatus a = TL_INIT(client_accountStatus);
    a.status = status;
    a.balance = balance;
    a.stake = stake;
    a.price_per_token = PRICE;
    a.prompt_multiplier = 10000;
    a.cached_multiplier = 1000;
    a.completion_multiplier = 20000;
    a.reasoning_multiplier = 15000;
    a.signed_payment = &empty.hdr;
    a.max_tokens = max_tokens;
    a.sc_tokens_used = sc_tokens_used;
    client_money_on_account(&f->c->links.at[link], &a);
}

static void account(cfx *f, size_t link, int32_t status, int64_t balance, int64_t stake,
                    int64_t max_tokens)
{
    account_charged(f, link, status, balance, stake, max_tokens, 0);
}

/* The proxy's proxy.clientRequestPayment packet, as the link receives it. */
static void payment(cfx *f, size_t link, const tl_int256 *rid, int64_t db, int64_t max,
                    int64_t tokens)
{
    tl_proxy_signedPaymentEmpty empty = TL_INIT(proxy_signedPaymentEmpty);
    tl_proxy_clientRequestPayment m = TL_INIT(proxy_clientRequestPayment);
    m.request_id = *rid;
    m.signed_payment = &empty.hdr;
    m.db_tokens = db;
    m.max_tokens = max;
    m.request_tokens = tokens;
    cc_buf b = CC_BUF_INIT;
    cc_err err = {0};
    assert_int_equal(tl_encode(&m.hdr, &b, &err), 0);
    client_link_ops.on_packet(&f->c->links.at[link], b.data, b.len);
    cc_buf_free(&b);
}

static int64_t num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) fail_msg("%s is not an integer", key);
    return json_integer_value(v);
}

/* One request served on link 0 and billed `total` tokens in all. */
static void serve_one(cfx *f, int64_t total)
{
    fcall *call = cfx_chat(f, false);
    const tl_client_runQueryEx *q = cfx_take_run(f, 0);
    tl_int256 rid = q->request_id;
    /* In flight, our reservation counts against the credit there. */
    int64_t want = client_money_reservation(256, q->query.len, 4000);
    assert_int_equal(client_money_of(f->c, &f->c->links.at[0])->reserved, want);
    cfx_head(f, 0, &rid, 200, "application/json", "{}", true);
    assert_int_equal(call->status, 200);
    assert_int_equal(client_money_of(f->c, &f->c->links.at[0])->reserved, 0);
    payment(f, 0, &rid, 0, total, 0);
    cfx_clear_sent(f);
}

static void test_payments_follow_the_proxy_totals(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    account(f, 0, 0, 100 * TON, TON, 0);
    serve_one(f, 120);
    json_t *p = client_money_json(f->c);
    assert_int_equal(num(p, "tokens_charged"), 120);
    assert_int_equal(num(p, "nano_charged"), 120 * PRICE);
    assert_int_equal(num(p, "balance_nano"), 100 * TON - 120 * PRICE);
    assert_int_equal(num(p, "stake_nano"), TON);
    int64_t balance1 = num(p, "balance_nano"), charged1 = num(p, "nano_charged");
    json_t *p0 = json_array_get(json_object_get(p, "proxies"), 0);
    assert_true(json_is_true(json_object_get(p0, "known")));
    assert_int_equal(num(p0, "tokens_charged"), 120);
    assert_int_equal(num(p0, "price_per_token"), PRICE);
    /* The other proxy told nothing: it adds nothing to the totals. */
    json_t *p1 = json_array_get(json_object_get(p, "proxies"), 1);
    assert_true(json_is_false(json_object_get(p1, "known")));
    assert_null(json_object_get(p1, "balance_nano"));
    json_decref(p);

    serve_one(f, 300);
    /* A late, older total changes nothing (totals only grow). */
    tl_int256 old = {{0}};
    payment(f, 0, &old, 0, 200, 80);
    p = client_money_json(f->c);
    assert_int_equal(num(p, "tokens_charged"), 300);
    assert_int_equal(balance1 - num(p, "balance_nano"), num(p, "nano_charged") - charged1);
    assert_int_equal(num(p, "nano_charged") - charged1, 180 * PRICE);
    json_decref(p);

    /* A charge on chain moves tokens from "charged, not yet taken" to the
     * contract: the balance as shown stays where it was. */
    account_charged(f, 0, 0, 100 * TON - 300 * PRICE, TON, 300, 300);
    p = client_money_json(f->c);
    assert_int_equal(num(p, "balance_nano"), 100 * TON - 300 * PRICE);
    assert_int_equal(num(p, "nano_charged"), 300 * PRICE);
    json_decref(p);

    /* The authorization's totals count too. */
    const clink *l1 = &f->c->links.at[1];
    client_money_on_totals((clink *)l1, 10, 50);
    assert_int_equal(client_money_of(f->c, l1)->max_tokens, 50);
    assert_int_equal(client_money_of(f->c, l1)->db_tokens, 10);
}

static void test_no_credit_anywhere_is_402_at_once(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    /* 1000 tokens of balance at proxy 0 (the stake allows more), none at 1. */
    account(f, 0, 0, 1000 * PRICE, TON, 0);
    account(f, 1, 0, 0, TON, 0);
    /* 256 tokens at coefficient 4000 reserve more than 1000. */
    fcall *call = cfx_chat(f, false);
    assert_true(call->done);
    assert_true(call->is_error);
    assert_int_equal(call->status, 402);
    assert_string_equal(call->err.type, "insufficient_quota");
    assert_string_equal(call->err.code, "insufficient_quota");
    assert_non_null(strstr(call->err.message, "client balance is too low"));
    cfx_expect_none(f);
    assert_int_equal(f->c->stats.refused_quota, 1);
    assert_true(cc_list_empty(&f->c->all));

    /* A lower max_coefficient reserves less: those fit until the credit is
     * reserved, and the next is refused without being sent. */
    static const char body[] = "{\"model\":\"tiny\",\"max_coefficient\":1000,"
                               "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    int64_t reserved = 0, want = 0;
    size_t sent = 0;
    for (;;) {
        fcall *c2 = cfx_post(f, "/v1/chat/completions", body);
        if (c2->done) {
            assert_int_equal(c2->status, 402);
            assert_string_equal(c2->err.code, "insufficient_quota");
            break;
        }
        const tl_client_runQueryEx *q = cfx_take_run(f, 0);
        assert_int_equal(q->max_coefficient, 1000);
        want = client_money_reservation(256, q->query.len, 1000);
        reserved += want;
        assert_true(reserved <= 1000);
        /* The field is the client's: the backend does not see it. */
        cc_err err = {0};
        tl_obj *h = tl_decode(q->query.data, q->query.len, &err);
        assert_non_null(h);
        const tl_http_request *hr = (const tl_http_request *)h;
        char *payload = cc_calloc(1, hr->payload.len + 1);
        memcpy(payload, hr->payload.data, hr->payload.len);
        assert_null(strstr(payload, "max_coefficient"));
        assert_non_null(strstr(payload, "\"messages\""));
        free(payload);
        tl_obj_free(h);
        sent++;
    }
    assert_true(sent >= 1);
    assert_int_equal(client_money_of(f->c, &f->c->links.at[0])->reserved, reserved);
    assert_true(1000 - reserved < want); /* the refused one did not fit */
    assert_int_equal(f->c->stats.refused_quota, 2);
    client_requests_abort_all(f->c);
    assert_int_equal(client_money_of(f->c, &f->c->links.at[0])->reserved, 0);
}

static void test_credit_decides_the_proxy(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    /* Proxy 0 is out of credit; proxy 1 said nothing (a COCOON proxy): the
     * request goes there and that proxy decides. */
    account(f, 0, 0, 100 * TON, TON, TON / PRICE);
    assert_int_equal(client_money_available(&f->c->money[0]), 0);
    fcall *call = cfx_chat(f, false);
    tl_int256 rid = cfx_take_run(f, 1)->request_id;
    cfx_head(f, 1, &rid, 200, "application/json", "{}", true);
    assert_int_equal(call->status, 200);
    cfx_clear_sent(f);
    /* A closing contract takes no request either. */
    account(f, 0, 1, 100 * TON, TON, 0);
    assert_int_equal(client_money_available(&f->c->money[0]), 0);
    account(f, 1, 1, 100 * TON, TON, 0);
    call = cfx_chat(f, true);
    assert_int_equal(call->status, 402);
    cfx_expect_none(f);
}

static void test_models_carry_prices(void **state)
{
    cfx *f = *state;
    fcall *call = cfx_get_models(f);
    cfx_tiny(f);
    cfx_models_answer(f, true);
    json_error_t je;
    json_t *j = json_loadb((const char *)call->out.data, call->out.len, 0, &je);
    assert_non_null(j);
    /* No proxy told its prices yet: no pricing. */
    assert_null(json_object_get(json_array_get(json_object_get(j, "data"), 0), "pricing"));
    json_decref(j);

    account(f, 1, 0, TON, TON, 0);
    call = cfx_get_models(f);
    cfx_models_answer(f, true);
    j = json_loadb((const char *)call->out.data, call->out.len, 0, &je);
    assert_non_null(j);
    const json_t *pr = json_object_get(json_array_get(json_object_get(j, "data"), 0), "pricing");
    assert_non_null(pr);
    /* price x multiplier / 10000, nanoTON per token */
    assert_int_equal(num(pr, "prompt"), PRICE);
    assert_int_equal(num(pr, "cached"), PRICE / 10);
    assert_int_equal(num(pr, "completion"), 2 * PRICE);
    assert_int_equal(num(pr, "reasoning"), PRICE * 3 / 2);
    json_decref(j);
}

/* With a chain the client reads its contract itself (client_chain.c), as
 * COCOON's client does: those figures decide, and a proxy's account status
 * (a COCOON proxy sends none; ours might lag) changes only the totals. */
static void test_contract_read_decides(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    ledger_multipliers mult = {10000, 10000, 10000, 10000};
    /* 1000 tokens paid for at proxy 0, nothing at 1. */
    client_money_on_contract(&f->c->links.at[0], 0, 1000 * PRICE, TON, 0, PRICE, &mult);
    client_money_on_contract(&f->c->links.at[1], 0, 0, TON, 0, PRICE, &mult);
    /* The proxy's status claims a rich account: the contract still decides. */
    account(f, 0, 0, 100 * TON, TON, 0);
    assert_int_equal(client_money_available(client_money_of(f->c, &f->c->links.at[0])), 1000);
    fcall *call = cfx_chat(f, false); /* 256 tokens x 4000/1000 do not fit in 1000 */
    assert_true(call->done);
    assert_int_equal(call->status, 402);
    assert_string_equal(call->err.type, "insufficient_quota");
    assert_string_equal(call->err.code, "insufficient_quota");
    cfx_expect_none(f);
    /* The proxy's totals still count: 400 tokens charged leave 600. */
    account(f, 0, 0, 100 * TON, TON, 400);
    assert_int_equal(client_money_available(client_money_of(f->c, &f->c->links.at[0])), 600);
    /* A top-up seen on chain gives the credit back. */
    client_money_on_contract(&f->c->links.at[0], 0, 100 * TON, TON, 0, PRICE, &mult);
    call = cfx_chat(f, false);
    assert_false(call->done);
    cfx_take_run(f, 0);
    client_requests_abort_all(f->c);
    /* A closing contract: nothing there. */
    client_money_on_contract(&f->c->links.at[0], 1, 100 * TON, TON, 0, PRICE, &mult);
    assert_int_equal(client_money_available(client_money_of(f->c, &f->c->links.at[0])), 0);
}

/* Sealed, the proxy reserves on the sealed body (the query and its 16-byte
 * tag): a credit that covers the plain request exactly is refused at once,
 * nothing sent, rather than sent to be refused by the proxy. */
static void test_sealed_reservation_counts_the_tag(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    account(f, 1, 0, 0, TON, 0);
    account(f, 0, 0, TON, TON, 0);
    f->c->links.at[0].peer_flags |= DAEMON_PARAMS_FLAG_SEALING; /* the proxy relays sealed */
    f->c->sealing = CLIENT_SEALING_OFF;
    cfx_chat(f, false);
    size_t plain = cfx_take_run(f, 0)->query.len;
    client_requests_abort_all(f->c);
    cfx_clear_sent(f);
    int64_t exact = client_money_reservation(256, plain, 4000);
    account(f, 0, 0, exact * PRICE, TON, 0);

    f->c->sealing = CLIENT_SEALING_REQUIRED;
    fcall *call = cfx_chat(f, false);
    assert_int_equal(call->status, 402);
    assert_non_null(
        strstr(call->err.message, "reserves")); /* the sealed size: 64 tokens more at 4000 */
    cfx_expect_none(f);
    assert_int_equal(client_money_reservation(256, plain + 16, 4000) - exact, 64);

    /* Plain, the same credit covers it. */
    f->c->sealing = CLIENT_SEALING_OFF;
    cfx_chat(f, false);
    assert_int_equal(cfx_take_run(f, 0)->query.len, plain);
    client_requests_abort_all(f->c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CFX_TEST(test_payments_follow_the_proxy_totals),
        CFX_TEST(test_no_credit_anywhere_is_402_at_once),
        CFX_TEST(test_credit_decides_the_proxy),
        CFX_TEST(test_models_carry_prices),
        CFX_TEST(test_contract_read_decides),
        CFX_TEST(test_sealed_reservation_counts_the_tag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
