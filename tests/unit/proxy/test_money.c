/* Money on the proxy: the client's reservation before routing, the bill at
 * the end (client to worker, reservation released, an over-claiming worker
 * capped), the payment messages' totals, and a ledger file that outlives the
 * proxy context. */
#include <sys/stat.h>
#include <unistd.h>

#include "proxy_fixture.h"

/* fx_run_ex sends max_tokens 100 and an 11-byte query: COCOON reserves
 * adjust(100 + 11, max_coefficient, 10000). */
#define QUERY_LEN 11
#define RESERVE(maxcoef) ((int64_t)(100 + QUERY_LEN) * (maxcoef) / 1000)

static ledger_client *account(pclient *c)
{
    ledger_client *a = proxy_money_client(c);
    assert_non_null(a);
    return a;
}

static void test_free_mode_account_is_open(void **state)
{
    fx *f = *state;
    pclient *c = fx_client(f, 2);
    ledger_client *a = account(c);
    /* COCOON's ton_disabled client: open, 100 TON balance, 1 TON stake. */
    assert_int_equal(a->sc_status, LEDGER_SC_OPEN);
    assert_int_equal(a->sc_balance, 100000000000LL);
    assert_int_equal(a->sc_stake, 1000000000LL);
    assert_true(ledger_client_allows_queries(a));
}

static void test_reservation_held_while_running_then_billed(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    ledger_client *a = account(c);
    int64_t before = ledger_client_available(a);
    fx_run_ex(c, 1, "tiny", 2000, 0, false);
    tl_int256 rid = fx_take_run(f, w)->request_id;
    assert_int_equal(a->reserved, RESERVE(2000));
    assert_int_equal(a->running, 1);
    assert_int_equal(ledger_client_available(a), before - RESERVE(2000));
    assert_int_equal(proxy_money_worker(w)->running, 1);
    fx_answer(w, &rid, true, "all", true, 12, 30);
    /* Deducted 42, reservation gone, worker credited 42. */
    assert_int_equal(a->reserved, 0);
    assert_int_equal(a->running, 0);
    assert_int_equal(a->pay.max, 42);
    assert_int_equal(ledger_client_available(a), before - 42);
    assert_int_equal(proxy_money_worker(w)->pay.max, 42);
    assert_int_equal(proxy_money_worker(w)->running, 0);
}

static void test_reservation_refused_when_balance_short(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    ledger_client *a = account(c);
    /* A client whose credit covers max_tokens (100) but not the reservation
     * of 111 at coefficient 1000: 150 tokens at 1 nano a token. */
    uint8_t h[32] = {0};
    a->sc_status = LEDGER_SC_UNKNOWN;
    a->sc_tokens_used = 0;
    ledger_client_update_state(a, LEDGER_SC_OPEN, 150, 150, 0, 1, h);
    ledger_client_deduct(a, 45); /* available 105 */
    fx_run_ex(c, 1, "tiny", 1000, 0, false);
    const tl_client_queryAnswerErrorEx *e = fx_take_error(f, c, NET_ERR_ERROR);
    char *text = tl_bytes_strdup(e->error);
    assert_string_equal(text, "client balance is too low: to_reserve=111 tokens_payed=150 "
                              "tokens_used=45 tokens_reserved=0 tokens_stake=150");
    free(text);
    fx_expect_none(f); /* nothing reached the worker */
    assert_int_equal(a->reserved, 0);
    assert_int_equal(a->running, 0);
    assert_int_equal(f->p->stats.refused_balance, 1);
    assert_int_equal(w->rw.active, 0);
    /* Below max_tokens already: COCOON's first check and text. */
    ledger_client_deduct(a, 10); /* available 95 */
    fx_run_ex(c, 2, "tiny", 1000, 0, false);
    e = fx_take_error(f, c, NET_ERR_ERROR);
    text = tl_bytes_strdup(e->error);
    assert_string_equal(text, "client balance is too low: max_tokens=100 tokens_payed=150 "
                              "tokens_used=55 tokens_reserved=0 tokens_stake=150");
    free(text);
    /* A closing contract takes no request. */
    a->sc_status = LEDGER_SC_CLOSING;
    a->pay.max = 0;
    fx_run_ex(c, 3, "tiny", 1000, 0, false);
    e = fx_take_error(f, c, NET_ERR_NOT_READY);
    assert_true(fx_error_says(e, "client is closing"));
    fx_expect_none(f);
}

static void test_over_claiming_worker_billed_the_reservation(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    ledger_client *a = account(c);
    fx_run_ex(c, 1, "tiny", 1000, 0, false);
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_answer(w, &rid, true, "all", true, 5000, 5000);
    fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
    const tl_proxy_workerRequestPayment *wp = (const tl_proxy_workerRequestPayment *)fx_take(
        f, true, w->rw.id, TL_ID_proxy_workerRequestPayment);
    assert_int_equal(wp->request_tokens, RESERVE(1000));
    assert_int_equal(a->pay.max, RESERVE(1000));
    assert_int_equal(proxy_money_worker(w)->pay.max, RESERVE(1000));
    assert_int_equal(a->reserved, 0);
    assert_int_equal(f->p->stats.over_claims, 1);
}

static void test_payment_messages_carry_totals(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    free(w->owner_address);
    w->owner_address = cc_strdup("0:worker-owner");
    w->acct = NULL;
    pclient *c = fx_client(f, 2);
    c->owner_address = cc_strdup("0:client-owner");
    for (uint8_t i = 1; i <= 2; i++) {
        fx_run(c, i, "tiny");
        tl_int256 rid = fx_take_run(f, w)->request_id;
        fx_answer(w, &rid, true, "x", true, 10, 20 * i);
        fx_take(f, false, c->id, TL_ID_client_queryAnswerEx);
        const tl_proxy_workerRequestPayment *wp = (const tl_proxy_workerRequestPayment *)fx_take(
            f, true, w->rw.id, TL_ID_proxy_workerRequestPayment);
        const tl_proxy_clientRequestPayment *cp = (const tl_proxy_clientRequestPayment *)fx_take(
            f, false, c->id, TL_ID_proxy_clientRequestPayment);
        int64_t total = i == 1 ? 30 : 30 + 50;
        assert_int_equal(wp->request_tokens, 10 + 20 * i);
        assert_int_equal(wp->max_tokens, total);
        assert_true(tl_bytes_eq_str(wp->request_client_owner, "0:client-owner"));
        assert_int_equal(cp->request_tokens, 10 + 20 * i);
        assert_int_equal(cp->max_tokens, total);
        /* db_tokens: what the last commit covered (the first request's). */
        assert_int_equal(wp->db_tokens, i == 1 ? 0 : 30);
        assert_int_equal(cp->db_tokens, i == 1 ? 0 : 30);
        assert_int_equal(cp->signed_payment->id, TL_ID_proxy_signedPaymentEmpty);
        if (i == 1) assert_int_equal(proxy_money_commit(f->p), 0);
    }
    fx_expect_none(f);
    assert_non_null(ledger_client_get(f->p->ledger, "0:client-owner", false));
    assert_non_null(ledger_worker_get(f->p->ledger, "0:worker-owner", false));
}

static void test_cancel_releases_without_billing(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    ledger_client *a = account(c);
    fx_run(c, 1, "tiny");
    fx_take_run(f, w);
    assert_true(a->reserved > 0);
    fx_cancel(c, 1);
    assert_int_equal(a->reserved, 0);
    assert_int_equal(a->running, 0);
    assert_int_equal(a->pay.max, 0);
    assert_int_equal(proxy_money_worker(w)->running, 0);
}

static void test_ledger_survives_a_restart(void **state)
{
    fx *f = *state;
    char dir[256];
    cc_tmp_template(dir, sizeof(dir), "proxy-money");
    assert_non_null(mkdtemp(dir));
    char seed_path[300], ledger_path[300];
    snprintf(seed_path, sizeof(seed_path), "%s/seed", dir);
    snprintf(ledger_path, sizeof(ledger_path), "%s/ledger.sqlite", dir);
    cc_err err = {0};
    uint8_t seed[32], again[32];
    assert_int_equal(daemon_seed_load(seed_path, seed, "proxy", &err), 0);
    struct stat st;
    assert_int_equal(stat(seed_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(daemon_seed_load(seed_path, again, "proxy", &err), 0);
    assert_memory_equal(seed, again, 32); /* reused, not renewed */

    assert_int_equal(proxy_money_open(f->p, ledger_path, seed, &err), 0);
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    c->owner_address = cc_strdup("0:alice");
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_answer(w, &rid, true, "x", true, 7, 8);
    /* A second proxy context on the same file after a clean stop. */
    proxy_free(f->p);
    fx_clear_sent(f);
    f->p = fx_proxy_new(f->base, 600);
    assert_int_equal(proxy_money_open(f->p, ledger_path, seed, &err), 0);
    ledger_client *a = ledger_client_get(f->p->ledger, "0:alice", false);
    assert_non_null(a);
    assert_int_equal(a->pay.max, 15);
    assert_int_equal(ledger_payments_committed_db(&a->pay), 15);
    ledger_worker *wa = ledger_worker_get(f->p->ledger, "", false);
    assert_non_null(wa);
    assert_int_equal(wa->pay.max, 15);
    /* Its credit continues from there. */
    pclient *c2 = fx_client(f, 2);
    c2->owner_address = cc_strdup("0:alice");
    assert_ptr_equal(proxy_money_client(c2), a);
    /* The seed is the ledger's key: another one refuses the file. */
    uint8_t other[32] = {1};
    proxy_free(f->p);
    f->p = fx_proxy_new(f->base, 600);
    assert_int_equal(proxy_money_open(f->p, ledger_path, other, &err), -1);
    /* A seed file of the wrong size is refused with the reason. */
    assert_int_equal(cc_write_file_atomic(seed_path, "short", 5, 0600, &err), 0);
    assert_int_equal(daemon_seed_load(seed_path, again, "proxy", &err), -1);
    assert_non_null(strstr(err.msg, "32 bytes"));
    /* So is one that others can read: the proxy's key follows the daemons'
     * rule. */
    assert_int_equal(cc_write_file_atomic(seed_path, seed, 32, 0644, &err), 0);
    assert_int_equal(daemon_seed_load(seed_path, again, "proxy", &err), -1);
    assert_non_null(strstr(err.msg, "owner only"));
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_jsonstats_rows(void **state)
{
    fx *f = *state;
    pworker *w = fx_worker(f, "tiny", 1000, 0);
    pclient *c = fx_client(f, 2);
    c->owner_address = cc_strdup("0:bob");
    fx_run(c, 1, "tiny");
    tl_int256 rid = fx_take_run(f, w)->request_id;
    fx_answer(w, &rid, true, "x", true, 3, 4);
    fx_run(c, 2, "tiny"); /* still running */
    json_t *o = json_object();
    proxy_money_json(f->p, o);
    json_t *cl = json_array_get(json_object_get(json_object_get(o, "ledger"), "clients"), 0);
    assert_string_equal(json_string_value(json_object_get(cl, "owner")), "0:bob");
    assert_int_equal(json_integer_value(json_object_get(cl, "tokens_used")), 7);
    assert_int_equal(json_integer_value(json_object_get(cl, "reserved")), RESERVE(1000000));
    assert_int_equal(json_integer_value(json_object_get(cl, "running")), 1);
    assert_int_equal(json_integer_value(json_object_get(cl, "committed_db")), 0);
    assert_int_equal(json_integer_value(json_object_get(cl, "available")),
                     ledger_client_available(proxy_money_client(c)));
    json_t *wr = json_array_get(json_object_get(json_object_get(o, "ledger"), "workers"), 0);
    assert_int_equal(json_integer_value(json_object_get(wr, "tokens")), 7);
    assert_int_equal(json_integer_value(json_object_get(wr, "running")), 1);
    json_t *led = json_object_get(o, "ledger");
    assert_int_equal(json_integer_value(json_object_get(led, "clients_tokens_used")), 7);
    assert_int_equal(json_integer_value(json_object_get(led, "clients_reserved")),
                     RESERVE(1000000));
    assert_int_equal(json_integer_value(json_object_get(led, "workers_tokens")), 7);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_free_mode_account_is_open),
        FX_TEST(test_reservation_held_while_running_then_billed),
        FX_TEST(test_reservation_refused_when_balance_short),
        FX_TEST(test_over_claiming_worker_billed_the_reservation),
        FX_TEST(test_payment_messages_carry_totals),
        FX_TEST(test_cancel_releases_without_billing),
        FX_TEST(test_ledger_survives_a_restart),
        FX_TEST(test_jsonstats_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
