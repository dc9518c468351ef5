/* COCOON's pricing and account rules, without a database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>

#include "ledger/ledger.h"
#include "ledger/ledger_internal.h"

static void test_adjust_tokens_matches_cocoon(void **state)
{
    (void)state;
    assert_int_equal(ledger_adjust_tokens(1000, 1000, 10000), 1000);
    assert_int_equal(ledger_adjust_tokens(1000, 1500, 10000), 1500);
    assert_int_equal(ledger_adjust_tokens(7, 1000, 3333), 2);  /* 2.33 truncated */
    assert_int_equal(ledger_adjust_tokens(3, 1500, 10000), 4); /* 4.5 truncated */
    assert_int_equal(ledger_adjust_tokens(0, 5000, 10000), 0);
    /* Identity coefficient and multiplier never lose a token. */
    for (int64_t n = 0; n < 100000; n += 7)
        assert_int_equal(ledger_adjust_tokens(n, 1000, 10000), n);
    /* And agree with exact integer arithmetic on a non-trivial coefficient. */
    for (int64_t n = 0; n < 20000; n++)
        assert_int_equal(ledger_adjust_tokens(n, 1500, 10000), n * 1500 * 10000 / 10000000);
}

static void test_adjust_usage_splits_categories(void **state)
{
    (void)state;
    ledger_multipliers m = {
        .prompt = 10000, .cached = 1000, .completion = 20000, .reasoning = 5000};
    ledger_usage u = {.prompt = 100, .cached = 40, .completion = 50, .reasoning = 20};
    ledger_tokens t;
    ledger_adjust_usage(&u, 1000, &m, &t);
    assert_int_equal(t.prompt, 60);     /* prompt minus cached */
    assert_int_equal(t.cached, 4);      /* 40 x 0.1 */
    assert_int_equal(t.completion, 60); /* (50 - 20) x 2 */
    assert_int_equal(t.reasoning, 10);  /* 20 x 0.5 */
    assert_int_equal(t.total, 134);
    /* A backend reporting more cached than prompt tokens is not billed a negative amount. */
    ledger_usage bad = {.prompt = 10, .cached = 50, .completion = 5, .reasoning = 9};
    ledger_adjust_usage(&bad, 1000, &m, &t);
    assert_int_equal(t.prompt, 0);
    assert_int_equal(t.completion, 0);
    assert_true(t.total >= 0);
    assert_int_equal(ledger_safe_div(1000, 10), 100);
    assert_int_equal(ledger_safe_div(1000, 0), 1000000000000LL);
}

static const uint8_t zero_hash[32];

static void test_client_credit_rule_and_reservation(void **state)
{
    (void)state;
    ledger_client c = {0};
    c.sc_status = LEDGER_SC_UNKNOWN;
    assert_false(ledger_client_allows_queries(&c));
    /* balance 1000 nano at 10 nano/token = 100 tokens; stake 500 nano = 50 tokens. */
    ledger_client_update_state(&c, LEDGER_SC_OPEN, 1000, 500, 0, 10, zero_hash);
    assert_true(ledger_client_allows_queries(&c));
    assert_int_equal(ledger_client_available(&c), 50); /* min(100, 50 + 0) */
    assert_true(ledger_client_reserve(&c, 30));
    assert_false(ledger_client_reserve(&c, 21)); /* 20 left */
    assert_int_equal(c.reserved, 30);
    assert_true(ledger_client_reserve(&c, 20));
    assert_int_equal(ledger_client_available(&c), 0);
    /* A request ends: 12 tokens used of its 30 reserved. */
    ledger_client_deduct(&c, 12);
    ledger_client_release(&c, 30);
    assert_int_equal(ledger_client_available(&c), 50 - 20 - 12);
    assert_true(c.dirty);
    /* The contract is charged for those 12 (balance 880 of which 12 tokens used on chain):
     * tokens payed = 88 + 12 = 100; stake tokens + used = 50 + 12 = 62. */
    ledger_client_update_state(&c, LEDGER_SC_OPEN, 880, 500, 12, 10, zero_hash);
    assert_int_equal(ledger_client_available(&c), 62 - 20 - 12);
    assert_false(c.refused);
    /* An older contract state (fewer tokens used) is ignored. */
    ledger_client_update_state(&c, LEDGER_SC_OPEN, 1000, 500, 0, 10, zero_hash);
    assert_int_equal(c.sc_tokens_used, 12);
    assert_int_equal(c.sc_balance, 880);
    /* Negative and oversized reservations are refused; a release never makes credit. */
    assert_false(ledger_client_reserve(&c, -5));
    ledger_client_release(&c, 1000);
    assert_int_equal(c.reserved, 0);
    /* A closing contract takes no new requests. */
    ledger_client_update_state(&c, LEDGER_SC_CLOSING, 880, 500, 12, 10, zero_hash);
    assert_false(ledger_client_allows_queries(&c));
    ledger__payments_free(&c.pay);
}

static void test_client_charged_beyond_ledger_is_refused(void **state)
{
    (void)state;
    ledger_client c = {0};
    ledger_client_update_state(&c, LEDGER_SC_OPEN, 1000, 1000, 0, 1, zero_hash);
    ledger_client_deduct(&c, 100);
    /* The contract shows 150 tokens charged: more than this ledger ever recorded. */
    ledger_client_update_state(&c, LEDGER_SC_OPEN, 850, 1000, 150, 1, zero_hash);
    assert_true(c.refused);
    assert_non_null(strstr(c.refused_why, "rolled back"));
    assert_false(ledger_client_allows_queries(&c));
    ledger_client d = {0};
    ledger_client_update_state(&d, LEDGER_SC_OPEN, 1000, 1000, 0, 1, zero_hash);
    ledger_client_deduct(&d, 10);
    assert_true(ledger_client_check_peer_total(&d, 10));
    assert_false(d.refused);
    assert_false(ledger_client_check_peer_total(&d, 11));
    assert_true(d.refused);
    ledger__payments_free(&c.pay);
    ledger__payments_free(&d.pay);
}

static void test_payments_only_cover_chain_commits(void **state)
{
    (void)state;
    ledger_worker w = {0};
    cc_err err;
    ledger_worker_add(&w, 40);
    ledger__payments_commit_db(&w.pay, 1);
    ledger_worker_add(&w, 60);
    ledger__payments_commit_db(&w.pay, 2);
    ledger_worker_add(&w, 5); /* the uncommitted tail */
    assert_int_equal(ledger_payments_committed_db(&w.pay), 100);
    assert_int_equal(w.pay.committed_chain, 0);
    assert_int_equal(ledger_worker_ready_to_pay(&w), 0);
    /* No voucher beyond what the chain covers. */
    assert_int_equal(ledger_worker_set_voucher(&w, 100, (const uint8_t *)"x", 1, &err), -1);
    ledger__payments_commit_chain(&w.pay, 1);
    assert_int_equal(w.pay.committed_chain, 40);
    assert_int_equal(w.pay.n_pending, 1);
    assert_int_equal(ledger_worker_set_voucher(&w, 40, (const uint8_t *)"v40", 3, &err), 0);
    assert_int_equal(ledger_worker_ready_to_pay(&w), 40);
    ledger_worker_payout_sent(&w, 40);
    assert_int_equal(ledger_worker_ready_to_pay(&w), 0);
    /* A newer chain commit replaces the voucher (it is for a smaller total). */
    ledger__payments_commit_chain(&w.pay, 2);
    assert_int_equal(w.pay.committed_chain, 100);
    assert_null(w.pay.voucher);
    assert_int_equal(ledger_worker_ready_to_pay(&w), 60);
    /* The contract shows 40 paid; then 200 paid, beyond the ledger's 105. */
    ledger_worker_update_paid(&w, 40);
    assert_false(w.refused);
    ledger_worker_update_paid(&w, 200);
    assert_true(w.refused);
    ledger__payments_free(&w.pay);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adjust_tokens_matches_cocoon),
        cmocka_unit_test(test_adjust_usage_splits_categories),
        cmocka_unit_test(test_client_credit_rule_and_reservation),
        cmocka_unit_test(test_client_charged_beyond_ledger_is_refused),
        cmocka_unit_test(test_payments_only_cover_chain_commits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
