/* The SQLite ledger: durability, signatures, seqnos, rollback detection, kill -9. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "crypto/crypto.h"
#include "ledger/ledger.h"
#include "ledger_fixture.h"

static const uint8_t key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t zero_hash[32];

static int setup(void **state)
{
    return fixture_setup(state, "cc-ledger");
}

static ledger *open_ok(const char *path)
{
    cc_err err = {0};
    ledger *l = ledger_open(path, key, &err);
    if (!l) fail_msg("ledger_open: %s", err.msg);
    return l;
}

static void test_commit_survives_reopen(void **state)
{
    fixture *f = *state;
    ledger *l = open_ok(f->path);
    ledger_set_price(l, 10);
    ledger_client *c = ledger_client_get(l, "0:aa", true);
    assert_non_null(c);
    assert_ptr_equal(ledger_client_get(l, "0:aa", false), c);
    assert_null(ledger_client_get(l, "0:bb", false));
    cc_str_copy(c->sc_address, sizeof(c->sc_address), "0:cc");
    ledger_client_update_state(c, LEDGER_SC_OPEN, 10000, 5000, 0, 10, zero_hash);
    ledger_client_deduct(c, 25);
    ledger_worker *w = ledger_worker_get(l, "0:dd", true);
    ledger_worker_add(w, 25);
    cc_err err;
    assert_int_equal(ledger_commit(l, false, &err), 1);
    ledger_client_deduct(c, 1000); /* never committed: lost with the process */
    ledger_close(l);

    l = open_ok(f->path);
    ledger_set_price(l, 10);
    assert_int_equal(ledger_last_seqno(l), 1);
    assert_int_equal(ledger_n_clients(l), 1);
    c = ledger_client_get(l, "0:aa", false);
    assert_non_null(c);
    assert_string_equal(c->sc_address, "0:cc");
    assert_int_equal(c->pay.max, 25);
    assert_int_equal(c->sc_status, LEDGER_SC_OPEN);
    assert_int_equal(ledger_client_available(c), 500 - 25); /* stake-bound: 5000/10 */
    /* As COCOON on restart: loaded totals count as committed to the chain. */
    assert_int_equal(c->pay.committed_chain, 25);
    w = ledger_worker_get(l, "0:dd", false);
    assert_non_null(w);
    assert_int_equal(w->pay.max, 25);
    /* A new price applies to credit at once. */
    ledger_set_price(l, 20);
    assert_int_equal(ledger_client_available(c), 250 - 25);
    ledger_close(l);
}

static void test_tampered_or_foreign_rows_refused(void **state)
{
    fixture *f = *state;
    ledger *l = open_ok(f->path);
    ledger_client *c = ledger_client_get(l, "0:aa", true);
    ledger_client_deduct(c, 500);
    ledger_worker_add(ledger_worker_get(l, "0:dd", true), 500);
    cc_err err;
    assert_true(ledger_commit(l, false, &err) > 0);
    ledger_close(l);

    /* Another proxy key cannot read (or be fooled by) this ledger. */
    uint8_t other[32];
    memcpy(other, key, 32);
    other[0] ^= 1;
    assert_null(ledger_open(f->path, other, &err));
    assert_non_null(strstr(err.msg, "not signed"));

    /* A hand-edited row is named. */
    sql(f->path, "UPDATE clients SET tokens_used = 100 WHERE owner = '0:aa'");
    assert_null(ledger_open(f->path, key, &err));
    assert_non_null(strstr(err.msg, "client 0:aa"));
}

static void test_worker_edit_refused(void **state)
{
    fixture *f = *state;
    ledger *l = open_ok(f->path);
    ledger_worker_add(ledger_worker_get(l, "0:dd", true), 500);
    cc_err err;
    assert_true(ledger_commit(l, false, &err) > 0);
    ledger_close(l);
    sql(f->path, "UPDATE workers SET sc_tokens = 0");
    /* Unchanged value: still valid. */
    ledger_close(open_ok(f->path));
    sql(f->path, "UPDATE workers SET tokens = 5000");
    assert_null(ledger_open(f->path, key, &err));
    assert_non_null(strstr(err.msg, "worker 0:dd"));
    sql(f->path, "UPDATE workers SET tokens = 500; UPDATE config SET last_seqno = 99");
    assert_null(ledger_open(f->path, key, &err));
    assert_non_null(strstr(err.msg, "config"));
}

static void test_chain_commit_promotes_totals(void **state)
{
    fixture *f = *state;
    ledger *l = open_ok(f->path);
    ledger_client *c = ledger_client_get(l, "0:aa", true);
    ledger_worker *w = ledger_worker_get(l, "0:dd", true);
    cc_err err;
    ledger_client_deduct(c, 10);
    ledger_worker_add(w, 8);
    int32_t s1 = ledger_commit(l, true, &err);
    ledger_client_deduct(c, 5);
    ledger_worker_add(w, 4);
    int32_t s2 = ledger_commit(l, false, &err);
    assert_true(s1 > 0 && s2 == s1 + 1);
    assert_int_equal(c->pay.committed_chain, 0);
    /* A note we never sent changes nothing. */
    uint8_t stranger[32];
    memset(stranger, 7, 32);
    assert_int_equal(ledger_chain_saved(l, s1, stranger), 0);
    assert_int_equal(c->pay.committed_chain, 0);
    /* Ours: the totals of s1 (not the later s2) become signable. */
    assert_int_equal(ledger_chain_saved(l, s1, ledger_session_hash(l)), 1);
    assert_int_equal(c->pay.committed_chain, 10);
    assert_int_equal(w->pay.committed_chain, 8);
    assert_int_equal(ledger_client_ready_to_charge(c), 10);
    assert_int_equal(ledger_worker_ready_to_pay(w), 8);
    assert_int_equal(ledger_client_set_voucher(c, 10, (const uint8_t *)"boc", 3, &err), 0);
    assert_int_equal(ledger_client_set_voucher(c, 15, (const uint8_t *)"boc", 3, &err), -1);
    /* The same note again is not counted twice. */
    assert_int_equal(ledger_chain_saved(l, s1, ledger_session_hash(l)), 0);
    assert_null(ledger_behind_chain(l));
    ledger_close(l);
}

static void copy_file(const char *from, const char *to)
{
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

static void test_older_copy_detected(void **state)
{
    fixture *f = *state;
    char old[320];
    snprintf(old, sizeof(old), "%s.old", f->path);
    cc_err err;
    ledger *l = open_ok(f->path);
    ledger_set_price(l, 1);
    ledger_client *c = ledger_client_get(l, "0:aa", true);
    ledger_client_update_state(c, LEDGER_SC_OPEN, 1000, 1000, 0, 1, zero_hash);
    ledger_client *c2 = ledger_client_get(l, "0:ab", true);
    ledger_client_update_state(c2, LEDGER_SC_OPEN, 1000, 1000, 0, 1, zero_hash);
    ledger_client_deduct(c, 10);
    assert_true(ledger_commit(l, false, &err) > 0);
    ledger_close(l); /* closing checkpoints the WAL into the file */
    copy_file(f->path, old);

    l = open_ok(f->path);
    ledger_set_price(l, 1);
    c = ledger_client_get(l, "0:aa", false);
    ledger_client_deduct(c, 90);
    int32_t s = ledger_commit(l, true, &err);
    uint8_t hash[32];
    memcpy(hash, ledger_session_hash(l), 32);
    assert_int_equal(ledger_chain_saved(l, s, hash), 1);
    ledger_close(l);

    /* The operator restores the older file: the chain's note is ahead of it... */
    copy_file(old, f->path);
    l = open_ok(f->path);
    ledger_set_price(l, 1);
    assert_true(ledger_last_seqno(l) < s);
    assert_int_equal(ledger_chain_saved(l, s, hash), 0);
    assert_non_null(ledger_behind_chain(l));
    /* ...and the contract charged 100 tokens the restored row never saw: that
     * account is refused, the other one is still served. */
    c = ledger_client_get(l, "0:aa", false);
    ledger_client_update_state(c, LEDGER_SC_OPEN, 900, 1000, 100, 1, zero_hash);
    assert_true(c->refused);
    assert_false(ledger_client_allows_queries(c));
    c2 = ledger_client_get(l, "0:ab", false);
    ledger_client_update_state(c2, LEDGER_SC_OPEN, 1000, 1000, 0, 1, zero_hash);
    assert_true(ledger_client_allows_queries(c2));
    ledger_close(l);
}

/* A child commits in a loop, telling the parent each acknowledged seqno; the
 * parent kills it at a random moment. Whatever instant the kill lands on, the
 * reopened ledger holds one whole commit at or after the last acknowledged one. */
static void test_kill_9_keeps_acknowledged_commits(void **state)
{
    fixture *f = *state;
    enum { N_CLIENTS = 20 };
    for (int round = 0; round < 5; round++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            cc_err err;
            ledger *l = ledger_open(f->path, key, &err);
            if (!l) _exit(3);
            for (;;) {
                for (int i = 0; i < N_CLIENTS; i++) {
                    char owner[32];
                    snprintf(owner, sizeof(owner), "0:%02x", i);
                    ledger_client_deduct(ledger_client_get(l, owner, true), 1);
                    ledger_worker_add(ledger_worker_get(l, owner, true), 1);
                }
                int32_t s = ledger_commit(l, (rand() & 1) != 0, &err);
                if (s < 0 || write(fds[1], &s, sizeof(s)) != (ssize_t)sizeof(s)) _exit(4);
            }
        }
        close(fds[1]);
        int32_t acked = 0, s;
        int want = 3 + rand() % 40;
        for (int n = 0; n < want && read(fds[0], &s, sizeof(s)) == (ssize_t)sizeof(s); n++)
            acked = s;
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        close(fds[0]);
        assert_true(WIFSIGNALED(status));
        assert_true(acked > 0);

        ledger *l = open_ok(f->path);
        int32_t seqno = ledger_last_seqno(l);
        assert_true(seqno >= acked);
        /* Every commit adds exactly 1 to every account: all rows are of the same commit. */
        int64_t total = ledger_client_get(l, "0:00", false)->pay.max;
        assert_true(total > 0);
        for (int i = 0; i < N_CLIENTS; i++) {
            char owner[32];
            snprintf(owner, sizeof(owner), "0:%02x", i);
            assert_int_equal(ledger_client_get(l, owner, false)->pay.max, total);
            assert_int_equal(ledger_worker_get(l, owner, false)->pay.max, total);
        }
        ledger_close(l);
    }
}

static void test_open_errors(void **state)
{
    fixture *f = *state;
    cc_err err;
    char bad[400];
    snprintf(bad, sizeof(bad), "%s/no/such/dir/ledger.db", f->dir);
    assert_null(ledger_open(bad, key, &err));
    assert_non_null(strstr(err.msg, "cannot open"));
    /* Not a database at all. */
    FILE *fp = fopen(f->path, "w");
    fputs("this is not sqlite, just text long enough to look like a header.....", fp);
    fclose(fp);
    assert_null(ledger_open(f->path, key, &err));
    assert_non_null(strstr(err.msg, f->path));
}

int main(void)
{
    srand((unsigned)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_or_foreign_rows_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_edit_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_commit_promotes_totals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_copy_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_9_keeps_acknowledged_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
