/* Retired proxy contracts in the ledger: what moves to the old contract, what
 * the live accounts keep, the steps' durability across a reopen, tampering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ledger/ledger.h"
#include "ledger_fixture.h"

static const uint8_t key[32] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
static const uint8_t zero_hash[32];
static const uint8_t params_a[] = {0xb5, 0xee, 0x9c, 0x72, 1, 2, 3};
static const uint8_t params_b[] = {0xb5, 0xee, 0x9c, 0x72, 4, 5, 6, 7};

static int setup(void **state)
{
    return fixture_setup(state, "cc-retire");
}

static ledger *open_ok(const char *path)
{
    cc_err err = {0};
    ledger *l = ledger_open(path, key, &err);
    if (!l) fail_msg("ledger_open: %s", err.msg);
    return l;
}

/* Contract A with: client 0:c1 open with 300 tokens (and a voucher), client
 * 0:c2 whose contract closed, client 0:c3 never seen and unused, worker 0:w1
 * with 300 tokens, worker 0:w2 with none. */
static ledger *populate(const char *path)
{
    ledger *l = open_ok(path);
    cc_err err = {0};
    ledger_set_price(l, 20);
    assert_int_equal(ledger_set_contract(l, "0:aa", params_a, sizeof params_a, &err), 0);
    ledger_client *c1 = ledger_client_get(l, "0:c1", true);
    cc_str_copy(c1->sc_address, sizeof c1->sc_address, "0:5c1");
    ledger_client_update_state(c1, LEDGER_SC_OPEN, 1000000, 500000, 0, 20, zero_hash);
    assert_true(ledger_client_reserve(c1, 300));
    ledger_client_deduct(c1, 300);
    ledger_client_release(c1, 300);
    ledger_client *c2 = ledger_client_get(l, "0:c2", true);
    cc_str_copy(c2->sc_address, sizeof c2->sc_address, "0:5c2");
    ledger_client_update_state(c2, LEDGER_SC_CLOSED, 0, 0, 0, 20, zero_hash);
    ledger_client *c3 = ledger_client_get(l, "0:c3", true);
    cc_str_copy(c3->sc_address, sizeof c3->sc_address, "0:5c3");
    ledger_worker *w1 = ledger_worker_get(l, "0:w1", true);
    cc_str_copy(w1->sc_address, sizeof w1->sc_address, "0:5a1");
    ledger_worker_add(w1, 300);
    ledger_worker *w2 = ledger_worker_get(l, "0:w2", true);
    cc_str_copy(w2->sc_address, sizeof w2->sc_address, "0:5a2");
    int32_t s = ledger_commit(l, true, &err);
    assert_true(s > 0);
    assert_int_equal(ledger_chain_saved(l, s, ledger_session_hash(l)), 1);
    assert_int_equal(ledger_client_set_voucher(c1, 300, (const uint8_t *)"v", 1, &err), 0);
    /* A commit for the chain whose note is still on its way. */
    ledger_client_deduct(c1, 5);
    assert_true(ledger_commit(l, true, &err) > 0);
    return l;
}

static void test_contract_recorded(void **state)
{
    fixture *f = *state;
    ledger *l = open_ok(f->path);
    cc_err err = {0};
    assert_null(ledger_contract(l, NULL, NULL));
    assert_int_equal(ledger_set_contract(l, "0:aa", params_a, sizeof params_a, &err), 0);
    /* The same again changes nothing and retires nothing. */
    assert_int_equal(ledger_set_contract(l, "0:aa", params_a, sizeof params_a, &err), 0);
    assert_int_equal(ledger_n_old(l), 0);
    ledger_close(l);
    l = open_ok(f->path);
    const uint8_t *p = NULL;
    size_t n = 0;
    assert_string_equal(ledger_contract(l, &p, &n), "0:aa");
    assert_int_equal(n, sizeof params_a);
    assert_memory_equal(p, params_a, n);
    ledger_close(l);
}

static void check_retired(ledger *l)
{
    assert_int_equal(ledger_n_old(l), 1);
    ledger_old_contract *o = ledger_old_at(l, 0);
    assert_string_equal(o->address, "0:aa");
    assert_int_equal(o->state, LEDGER_OLD_CLOSE_REQUEST);
    assert_int_equal(o->params_len, sizeof params_a);
    assert_memory_equal(o->params, params_a, sizeof params_a);
    /* c1 (open, 305 tokens: the uncommitted-to-chain tail too) then w1; not
     * the closed c2, the unused c3 nor the idle w2. */
    assert_int_equal(o->n_parties, 2);
    assert_true(o->parties[0].client);
    assert_string_equal(o->parties[0].owner, "0:c1");
    assert_string_equal(o->parties[0].sc_address, "0:5c1");
    assert_int_equal(o->parties[0].tokens, 305);
    assert_false(o->parties[1].client);
    assert_string_equal(o->parties[1].owner, "0:w1");
    assert_string_equal(o->parties[1].sc_address, "0:5a1");
    assert_int_equal(o->parties[1].tokens, 300);
    /* The live accounts start over on the new contract. */
    const uint8_t *p = NULL;
    size_t n = 0;
    assert_string_equal(ledger_contract(l, &p, &n), "0:bb");
    assert_memory_equal(p, params_b, sizeof params_b);
    ledger_client *c1 = ledger_client_get(l, "0:c1", false);
    assert_non_null(c1);
    assert_int_equal(c1->pay.max, 0);
    assert_int_equal(c1->pay.committed_chain, 0);
    assert_null(c1->pay.voucher);
    assert_string_equal(c1->sc_address, "");
    assert_int_equal(c1->sc_status, LEDGER_SC_UNKNOWN);
    assert_int_equal(c1->sc_balance, 0);
    ledger_worker *w1 = ledger_worker_get(l, "0:w1", false);
    assert_int_equal(w1->pay.max, 0);
    assert_string_equal(w1->sc_address, "");
}

static void test_retire_moves_accounts(void **state)
{
    fixture *f = *state;
    ledger *l = populate(f->path);
    cc_err err = {0};
    ledger_client *c1 = ledger_client_get(l, "0:c1", false);
    assert_true(ledger_client_reserve(c1, 7)); /* a request in flight */
    assert_int_equal(ledger_retire(l, "0:bb", params_b, sizeof params_b, &err), 1);
    check_retired(l);
    assert_int_equal(c1->reserved, 7); /* ends cleanly on the new contract */
    ledger_client_release(c1, 7);
    /* The pending note of the old contract no longer promotes anything. */
    assert_int_equal(ledger_retire(l, "0:bb", params_b, sizeof params_b, &err), 0);
    ledger_close(l);
    /* Durable at once, without a commit. */
    l = open_ok(f->path);
    check_retired(l);
    ledger_close(l);
}

static void test_set_contract_retires_another(void **state)
{
    fixture *f = *state;
    ledger *l = populate(f->path);
    ledger_close(l);
    /* A restart after the params changed while the proxy was down. */
    l = open_ok(f->path);
    cc_err err = {0};
    assert_int_equal(ledger_set_contract(l, "0:bb", params_b, sizeof params_b, &err), 0);
    check_retired(l);
    ledger_close(l);
}

static void test_steps_durable(void **state)
{
    fixture *f = *state;
    ledger *l = populate(f->path);
    cc_err err = {0};
    assert_int_equal(ledger_retire(l, "0:bb", params_b, sizeof params_b, &err), 1);
    ledger_old_contract *o = ledger_old_at(l, 0);
    assert_int_equal(ledger_old_set_state(l, o, LEDGER_OLD_CLIENTS, 0, &err), 0);
    assert_int_equal(o->state, LEDGER_OLD_CLIENTS);
    ledger_close(l);

    l = open_ok(f->path);
    o = ledger_old_at(l, 0);
    assert_int_equal(o->state, LEDGER_OLD_CLIENTS);
    assert_int_equal(o->n_parties, 2);
    assert_int_equal(ledger_old_party_done(l, o, 0, &err), 0); /* the last client */
    assert_int_equal(o->state, LEDGER_OLD_WORKERS);
    assert_int_equal(o->n_parties, 1);
    assert_false(o->parties[0].client);
    assert_int_equal(ledger_old_party_done(l, o, 5, &err), -1);
    ledger_close(l);

    l = open_ok(f->path);
    o = ledger_old_at(l, 0);
    assert_int_equal(o->state, LEDGER_OLD_WORKERS);
    assert_int_equal(o->n_parties, 1);
    assert_int_equal(ledger_old_party_done(l, o, 0, &err), 0); /* the last worker */
    assert_int_equal(o->state, LEDGER_OLD_CLOSING);
    assert_int_equal(ledger_old_set_state(l, o, LEDGER_OLD_CLOSING, 1700000123, &err), 0);
    ledger_close(l);

    l = open_ok(f->path);
    o = ledger_old_at(l, 0);
    assert_int_equal(o->state, LEDGER_OLD_CLOSING);
    assert_int_equal(o->unlock_ts, 1700000123);
    assert_int_equal(o->n_parties, 0);
    assert_int_equal(ledger_old_set_state(l, o, LEDGER_OLD_CLOSED, 0, &err), 0);
    assert_int_equal(ledger_old_set_state(l, o, 9, 0, &err), -1);
    ledger_close(l);
    l = open_ok(f->path);
    assert_int_equal(ledger_old_at(l, 0)->state, LEDGER_OLD_CLOSED);
    ledger_close(l);
}

/* A state with nobody to settle moves on at once. */
static void test_empty_contract_skips_to_closing(void **state)
{
    fixture *f = *state;
    ledger *l = open_ok(f->path);
    cc_err err = {0};
    assert_int_equal(ledger_set_contract(l, "0:aa", params_a, sizeof params_a, &err), 0);
    assert_int_equal(ledger_retire(l, "0:bb", params_b, sizeof params_b, &err), 1);
    ledger_old_contract *o = ledger_old_at(l, 0);
    assert_int_equal(o->n_parties, 0);
    assert_int_equal(o->state, LEDGER_OLD_CLOSE_REQUEST);
    assert_int_equal(ledger_old_set_state(l, o, LEDGER_OLD_CLIENTS, 0, &err), 0);
    assert_int_equal(o->state, LEDGER_OLD_CLOSING);
    /* Retiring the same old contract twice is refused. */
    assert_int_equal(ledger_retire(l, "0:aa", params_a, sizeof params_a, &err), 1);
    assert_int_equal(ledger_retire(l, "0:bb", params_b, sizeof params_b, &err), -1);
    assert_non_null(strstr(err.msg, "retired already"));
    ledger_close(l);
}

static void test_tampered_rows_refused(void **state)
{
    fixture *f = *state;
    ledger *l = populate(f->path);
    cc_err err = {0};
    assert_int_equal(ledger_retire(l, "0:bb", params_b, sizeof params_b, &err), 1);
    ledger_close(l);
    sql(f->path, "UPDATE retired SET tokens = 1 WHERE owner = '0:c1'");
    assert_null(ledger_open(f->path, key, &err));
    assert_non_null(strstr(err.msg, "retired account of 0:c1"));
    sql(f->path, "DELETE FROM retired WHERE owner = '0:c1'");
    l = open_ok(f->path); /* a settled party is just gone */
    ledger_close(l);
    sql(f->path, "UPDATE old_contracts SET state = 5");
    assert_null(ledger_open(f->path, key, &err));
    assert_non_null(strstr(err.msg, "old contract 0:aa"));
    sql(f->path, "UPDATE old_contracts SET state = 1");
    l = open_ok(f->path);
    ledger_close(l);
    sql(f->path, "UPDATE contract SET address = '0:cc'");
    assert_null(ledger_open(f->path, key, &err));
    assert_non_null(strstr(err.msg, "contract row"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_contract_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retire_moves_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_contract_retires_another, setup, teardown),
        cmocka_unit_test_setup_teardown(test_steps_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_contract_skips_to_closing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_rows_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
