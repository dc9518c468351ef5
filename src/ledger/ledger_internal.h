/* Shared between the ledger's files; not part of its API. */
#ifndef COCOON_LEDGER_INTERNAL_H
#define COCOON_LEDGER_INTERNAL_H

#include "ledger/ledger.h"

#include <sqlite3.h>

typedef struct chain_commit {
    int32_t seqno;
    uint8_t hash[32];
} chain_commit;

struct ledger {
    sqlite3 *db;
    uint8_t mac_key[32]; /* from the proxy's signing seed; never stored */
    ledger_client **clients;
    size_t n_clients, cap_clients;
    ledger_worker **workers;
    size_t n_workers, cap_workers;
    cc_map client_index, worker_index; /* owner hash -> account */
    int32_t last_seqno;
    uint8_t session_hash[32];
    chain_commit *pending; /* save_state notes sent, not yet seen on chain */
    size_t n_pending, cap_pending;
    int64_t price_per_token;
    char behind[200];
    /* The proxy contract the live accounts belong to, with the params cell
     * (BoC) it was derived with, and the contracts retired after a params
     * change (retire.c). */
    char contract[LEDGER_ADDR_MAX];
    uint8_t *contract_params;
    size_t contract_params_len;
    ledger_old_contract **olds;
    size_t n_olds, cap_olds;
};

void ledger__sign_text(const ledger *l, const cc_buf *text, uint8_t mac[32]);
int ledger__db_err(ledger *l, cc_err *err, const char *what);
const char *ledger__col_text(sqlite3_stmt *st, int i);
bool ledger__col_sig_ok(const ledger *l, sqlite3_stmt *st, int i, const cc_buf *text);
/* Binds the row's MAC (of text) to sig_col, steps and resets st. */
int ledger__put_row(ledger *l, sqlite3_stmt *st, const cc_buf *text, int sig_col, cc_err *err);
/* Inside a transaction: writes the changed accounts (reset: every account,
 * as the zeroed account a retirement leaves), and the config row. */
int ledger__write_accounts(ledger *l, bool reset, cc_buf *text, cc_err *err);
int ledger__write_config(ledger *l, int32_t seqno, cc_buf *text, cc_err *err);
/* retire.c: its tables' rows, read at open; freed at close. */
int ledger__retire_load(ledger *l, cc_buf *text, cc_err *err);
void ledger__retire_free(ledger *l);

void ledger__payments_commit_db(ledger_payments *p, int32_t seqno);
void ledger__payments_commit_chain(ledger_payments *p, int32_t seqno);
void ledger__payments_free(ledger_payments *p);

#endif
