/* Retired proxy contracts: the contract the live accounts belong to, and the
 * old ones being closed after a params change with what each still owes
 * (COCOON: ProxyRunner.cpp close_all, the oldproxycontract_, oldclient_ and
 * oldworker_ keys; OldProxyContract.cpp). Rows are MACed like the others. */
#include "ledger/ledger_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS contract(id INTEGER PRIMARY KEY CHECK (id = 1),"
    " address TEXT NOT NULL, params BLOB NOT NULL, sig BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS old_contracts(address TEXT PRIMARY KEY, state INTEGER NOT NULL,"
    " unlock_ts INTEGER NOT NULL, params BLOB NOT NULL, sig BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS retired(contract TEXT NOT NULL, client INTEGER NOT NULL,"
    " owner TEXT NOT NULL, sc_address TEXT NOT NULL, tokens INTEGER NOT NULL, sig BLOB NOT NULL,"
    " PRIMARY KEY (contract, client, owner));";

/* ------------------------------------------------------------ row texts -- */

static void contract_text(const char *address, const uint8_t *params, size_t n, cc_buf *b)
{
    b->len = 0;
    cc_buf_append_fmt(b, "contract\n%s\n", address);
    cc_buf_append(b, params, n);
}

static void old_text(const ledger_old_contract *o, int state, int64_t unlock_ts, cc_buf *b)
{
    b->len = 0;
    cc_buf_append_fmt(b, "old\n%s\n%d\n%lld\n", o->address, state, (long long)unlock_ts);
    cc_buf_append(b, o->params, o->params_len);
}

static void party_text(const char *contract, const ledger_old_party *p, cc_buf *b)
{
    b->len = 0;
    cc_buf_append_fmt(b, "retired\n%s\n%d\n%s\n%s\n%lld", contract, p->client ? 1 : 0, p->owner,
                      p->sc_address, (long long)p->tokens);
}

/* ---------------------------------------------------------------- memory -- */

static void old_free(ledger_old_contract *o)
{
    if (!o) return;
    free(o->params);
    free(o->parties);
    free(o);
}

void ledger__retire_free(ledger *l)
{
    for (size_t i = 0; i < l->n_olds; i++)
        old_free(l->olds[i]);
    free(l->olds);
    free(l->contract_params);
    l->olds = NULL;
    l->n_olds = l->cap_olds = 0;
    l->contract_params = NULL;
}

static void olds_push(ledger *l, ledger_old_contract *o)
{
    if (l->n_olds == l->cap_olds) {
        l->cap_olds = l->cap_olds ? l->cap_olds * 2 : 4;
        l->olds = cc_realloc(l->olds, l->cap_olds * sizeof(*l->olds));
    }
    l->olds[l->n_olds++] = o;
}

static void party_push(ledger_old_contract *o, const ledger_old_party *p)
{
    o->parties = cc_realloc(o->parties, (o->n_parties + 1) * sizeof(*o->parties));
    o->parties[o->n_parties++] = *p;
}

static uint8_t *dup_bytes(const uint8_t *b, size_t n)
{
    uint8_t *d = cc_malloc(n ? n : 1);
    if (n) memcpy(d, b, n);
    return d;
}

static bool has_kind(const ledger_old_contract *o, bool client)
{
    for (size_t i = 0; i < o->n_parties; i++)
        if (o->parties[i].client == client) return true;
    return false;
}

/* COCOON's advance_state: a step with nobody left to settle moves on. */
static int advance(const ledger_old_contract *o, int state)
{
    if (state == LEDGER_OLD_CLIENTS && !has_kind(o, true)) state = LEDGER_OLD_WORKERS;
    if (state == LEDGER_OLD_WORKERS && !has_kind(o, false)) state = LEDGER_OLD_CLOSING;
    return state;
}

/* ------------------------------------------------------------------ load -- */

static int load_contract(ledger *l, cc_buf *text, cc_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "SELECT address, params, sig FROM contract WHERE id = 1", -1, &st,
                           NULL) != SQLITE_OK)
        return ledger__db_err(l, err, "reading contract");
    int rc = 0, step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *address = ledger__col_text(st, 0);
        const uint8_t *params = sqlite3_column_blob(st, 1);
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        contract_text(address, params, n, text);
        if (strlen(address) >= LEDGER_ADDR_MAX || !ledger__col_sig_ok(l, st, 2, text)) {
            rc = cc_err_set(err, "ledger: the contract row is not signed by this proxy's key");
        } else {
            cc_str_copy(l->contract, sizeof(l->contract), address);
            l->contract_params = dup_bytes(params, n);
            l->contract_params_len = n;
        }
    } else if (step != SQLITE_DONE) {
        rc = ledger__db_err(l, err, "reading contract");
    }
    sqlite3_finalize(st);
    return rc;
}

static int load_olds(ledger *l, cc_buf *text, cc_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT address, state, unlock_ts, params, sig FROM old_contracts"
                           " ORDER BY rowid",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger__db_err(l, err, "reading old contracts");
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *address = ledger__col_text(st, 0);
        ledger_old_contract *o = cc_calloc(1, sizeof(*o));
        cc_str_copy(o->address, sizeof(o->address), address);
        int64_t state = sqlite3_column_int64(st, 1);
        o->unlock_ts = sqlite3_column_int64(st, 2);
        o->params_len = (size_t)sqlite3_column_bytes(st, 3);
        o->params = dup_bytes(sqlite3_column_blob(st, 3), o->params_len);
        o->state = (int)state;
        old_text(o, o->state, o->unlock_ts, text);
        if (strlen(address) >= LEDGER_ADDR_MAX || state < LEDGER_OLD_CLOSE_REQUEST ||
            state > LEDGER_OLD_CLOSED || !ledger__col_sig_ok(l, st, 4, text)) {
            rc = cc_err_set(err,
                            "ledger: the row of old contract %.80s is not signed by this proxy's "
                            "key or is inconsistent",
                            address);
            old_free(o);
            break;
        }
        olds_push(l, o);
    }
    if (rc == 0 && step != SQLITE_DONE) rc = ledger__db_err(l, err, "reading old contracts");
    sqlite3_finalize(st);
    return rc;
}

static ledger_old_contract *old_find(ledger *l, const char *address)
{
    for (size_t i = 0; i < l->n_olds; i++)
        if (strcmp(l->olds[i]->address, address) == 0) return l->olds[i];
    return NULL;
}

static int load_parties(ledger *l, cc_buf *text, cc_err *err)
{
    sqlite3_stmt *st;
    /* Clients first: they are settled first, as COCOON does. */
    if (sqlite3_prepare_v2(l->db,
                           "SELECT contract, client, owner, sc_address, tokens, sig FROM retired"
                           " ORDER BY contract, client DESC, rowid",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger__db_err(l, err, "reading retired accounts");
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *contract = ledger__col_text(st, 0);
        const char *owner = ledger__col_text(st, 2);
        const char *sc = ledger__col_text(st, 3);
        ledger_old_party p = {.client = sqlite3_column_int64(st, 1) != 0,
                              .tokens = sqlite3_column_int64(st, 4)};
        cc_str_copy(p.owner, sizeof(p.owner), owner);
        cc_str_copy(p.sc_address, sizeof(p.sc_address), sc);
        party_text(contract, &p, text);
        ledger_old_contract *o = old_find(l, contract);
        if (strlen(owner) >= LEDGER_ADDR_MAX || strlen(sc) >= LEDGER_ADDR_MAX || p.tokens < 0 ||
            !o || !ledger__col_sig_ok(l, st, 5, text)) {
            rc = cc_err_set(err,
                            "ledger: the retired account of %.80s (old contract %.80s) is not "
                            "signed by this proxy's key or has no old contract",
                            owner, contract);
            break;
        }
        party_push(o, &p);
    }
    if (rc == 0 && step != SQLITE_DONE) rc = ledger__db_err(l, err, "reading retired accounts");
    sqlite3_finalize(st);
    return rc;
}

int ledger__retire_load(ledger *l, cc_buf *text, cc_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(l->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = cc_err_set(err, "ledger: %s", msg ? msg : sqlite3_errmsg(l->db));
        sqlite3_free(msg);
        return rc;
    }
    int rc = load_contract(l, text, err);
    if (rc == 0) rc = load_olds(l, text, err);
    if (rc == 0) rc = load_parties(l, text, err);
    return rc;
}

/* ----------------------------------------------------------------- write -- */

static int begin(ledger *l, cc_err *err)
{
    return sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : ledger__db_err(l, err, "begin");
}

static int finish(ledger *l, int rc, cc_err *err)
{
    if (rc == 0 && sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = ledger__db_err(l, err, "commit");
    if (rc < 0) sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int put_contract(ledger *l, const char *address, const uint8_t *params, size_t n,
                        cc_buf *text, cc_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "INSERT OR REPLACE INTO contract VALUES (1, ?1, ?2, ?3)", -1, &st,
                           NULL) != SQLITE_OK)
        return ledger__db_err(l, err, "writing contract");
    sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, n ? params : (const uint8_t *)"", (int)n, SQLITE_TRANSIENT);
    contract_text(address, params, n, text);
    int rc = ledger__put_row(l, st, text, 3, err);
    sqlite3_finalize(st);
    return rc;
}

static int put_old(ledger *l, const ledger_old_contract *o, int state, int64_t unlock_ts,
                   cc_buf *text, cc_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "INSERT OR REPLACE INTO old_contracts VALUES (?1, ?2, ?3, ?4, ?5)", -1,
                           &st, NULL) != SQLITE_OK)
        return ledger__db_err(l, err, "writing an old contract");
    sqlite3_bind_text(st, 1, o->address, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, state);
    sqlite3_bind_int64(st, 3, unlock_ts);
    sqlite3_bind_blob(st, 4, o->params_len ? o->params : (const uint8_t *)"", (int)o->params_len,
                      SQLITE_TRANSIENT);
    old_text(o, state, unlock_ts, text);
    int rc = ledger__put_row(l, st, text, 5, err);
    sqlite3_finalize(st);
    return rc;
}

static int put_parties(ledger *l, const ledger_old_contract *o, cc_buf *text, cc_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "INSERT OR REPLACE INTO retired VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger__db_err(l, err, "writing retired accounts");
    int rc = 0;
    for (size_t i = 0; i < o->n_parties && rc == 0; i++) {
        const ledger_old_party *p = &o->parties[i];
        sqlite3_bind_text(st, 1, o->address, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, p->client ? 1 : 0);
        sqlite3_bind_text(st, 3, p->owner, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, p->sc_address, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, p->tokens);
        party_text(o->address, p, text);
        rc = ledger__put_row(l, st, text, 6, err);
    }
    sqlite3_finalize(st);
    return rc;
}

static int delete_party(ledger *l, const ledger_old_contract *o, const ledger_old_party *p,
                        cc_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "DELETE FROM retired WHERE contract = ?1 AND client = ?2 AND owner = ?3",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger__db_err(l, err, "deleting a retired account");
    sqlite3_bind_text(st, 1, o->address, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, p->client ? 1 : 0);
    sqlite3_bind_text(st, 3, p->owner, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : ledger__db_err(l, err, "deleting a row");
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------------- API -- */

const char *ledger_contract(const ledger *l, const uint8_t **params, size_t *params_len)
{
    if (!l->contract[0]) return NULL;
    if (params) *params = l->contract_params;
    if (params_len) *params_len = l->contract_params_len;
    return l->contract;
}

static void set_current(ledger *l, const char *address, const uint8_t *params, size_t n)
{
    cc_str_copy(l->contract, sizeof(l->contract), address);
    free(l->contract_params);
    l->contract_params = dup_bytes(params, n);
    l->contract_params_len = n;
}

int ledger_set_contract(ledger *l, const char *address, const uint8_t *params, size_t params_len,
                        cc_err *err)
{
    if (strlen(address) >= LEDGER_ADDR_MAX)
        return cc_err_set(err, "ledger: contract address too long");
    if (l->contract[0] && strcmp(l->contract, address) != 0)
        return ledger_retire(l, address, params, params_len, err) < 0 ? -1 : 0;
    if (l->contract[0] && l->contract_params_len == params_len &&
        (params_len == 0 || memcmp(l->contract_params, params, params_len) == 0))
        return 0;
    cc_buf text = CC_BUF_INIT;
    int rc = begin(l, err);
    if (rc == 0) rc = put_contract(l, address, params, params_len, &text, err);
    rc = finish(l, rc, err);
    cc_buf_free(&text);
    if (rc == 0) set_current(l, address, params, params_len);
    return rc;
}

static void client_reset(ledger_client *c)
{
    ledger_client keep = *c;
    ledger__payments_free(&c->pay);
    memset(c, 0, sizeof(*c));
    cc_str_copy(c->owner, sizeof(c->owner), keep.owner);
    c->sc_status = LEDGER_SC_UNKNOWN;
    c->reserved = keep.reserved;
    c->running = keep.running;
    c->last_request_at = keep.last_request_at;
}

static void worker_reset(ledger_worker *w)
{
    ledger_worker keep = *w;
    ledger__payments_free(&w->pay);
    memset(w, 0, sizeof(*w));
    cc_str_copy(w->owner, sizeof(w->owner), keep.owner);
    w->running = keep.running;
    w->last_request_at = keep.last_request_at;
}

int ledger_retire(ledger *l, const char *address, const uint8_t *params, size_t params_len,
                  cc_err *err)
{
    if (strlen(address) >= LEDGER_ADDR_MAX)
        return cc_err_set(err, "ledger: contract address too long");
    if (!l->contract[0]) return ledger_set_contract(l, address, params, params_len, err);
    if (strcmp(l->contract, address) == 0) return 0;
    if (old_find(l, l->contract))
        return cc_err_set(err, "ledger: contract %s is retired already", l->contract);
    ledger_old_contract *o = cc_calloc(1, sizeof(*o));
    cc_str_copy(o->address, sizeof(o->address), l->contract);
    o->state = LEDGER_OLD_CLOSE_REQUEST;
    o->params = dup_bytes(l->contract_params, l->contract_params_len);
    o->params_len = l->contract_params_len;
    for (size_t i = 0; i < l->n_clients; i++) {
        const ledger_client *c = l->clients[i];
        bool seen = c->sc_status == LEDGER_SC_OPEN || c->sc_status == LEDGER_SC_CLOSING;
        if (!c->sc_address[0] || c->sc_status == LEDGER_SC_CLOSED || (!seen && c->pay.max <= 0))
            continue;
        ledger_old_party p = {.client = true, .tokens = c->pay.max};
        cc_str_copy(p.owner, sizeof(p.owner), c->owner);
        cc_str_copy(p.sc_address, sizeof(p.sc_address), c->sc_address);
        party_push(o, &p);
    }
    for (size_t i = 0; i < l->n_workers; i++) {
        const ledger_worker *w = l->workers[i];
        if (!w->sc_address[0] || w->pay.max <= 0) continue;
        ledger_old_party p = {.client = false, .tokens = w->pay.max};
        cc_str_copy(p.owner, sizeof(p.owner), w->owner);
        cc_str_copy(p.sc_address, sizeof(p.sc_address), w->sc_address);
        party_push(o, &p);
    }
    /* The notes of the pending chain commits went to the old contract: the
     * new one will never show them. */
    size_t n_pending = l->n_pending;
    l->n_pending = 0;
    cc_buf text = CC_BUF_INIT;
    int rc = begin(l, err);
    if (rc == 0) rc = put_old(l, o, o->state, 0, &text, err);
    if (rc == 0) rc = put_parties(l, o, &text, err);
    if (rc == 0) rc = ledger__write_accounts(l, true, &text, err);
    if (rc == 0) rc = ledger__write_config(l, l->last_seqno, &text, err);
    if (rc == 0) rc = put_contract(l, address, params, params_len, &text, err);
    rc = finish(l, rc, err);
    cc_buf_free(&text);
    if (rc < 0) {
        l->n_pending = n_pending;
        old_free(o);
        return -1;
    }
    olds_push(l, o);
    for (size_t i = 0; i < l->n_clients; i++)
        client_reset(l->clients[i]);
    for (size_t i = 0; i < l->n_workers; i++)
        worker_reset(l->workers[i]);
    set_current(l, address, params, params_len);
    return 1;
}

size_t ledger_n_old(const ledger *l)
{
    return l->n_olds;
}

ledger_old_contract *ledger_old_at(ledger *l, size_t i)
{
    return i < l->n_olds ? l->olds[i] : NULL;
}

int ledger_old_party_done(ledger *l, ledger_old_contract *o, size_t i, cc_err *err)
{
    if (i >= o->n_parties) return cc_err_set(err, "ledger: no party %zu of %s", i, o->address);
    ledger_old_party gone = o->parties[i];
    memmove(o->parties + i, o->parties + i + 1, (o->n_parties - i - 1) * sizeof(*o->parties));
    o->n_parties--;
    int state = advance(o, o->state);
    cc_buf text = CC_BUF_INIT;
    int rc = begin(l, err);
    if (rc == 0) rc = delete_party(l, o, &gone, err);
    if (rc == 0) rc = put_old(l, o, state, o->unlock_ts, &text, err);
    rc = finish(l, rc, err);
    cc_buf_free(&text);
    if (rc < 0) { /* put it back: it is still owed */
        memmove(o->parties + i + 1, o->parties + i, (o->n_parties - i) * sizeof(*o->parties));
        o->parties[i] = gone;
        o->n_parties++;
        return -1;
    }
    o->state = state;
    return 0;
}

int ledger_old_set_state(ledger *l, ledger_old_contract *o, int state, int64_t unlock_ts,
                         cc_err *err)
{
    if (state < LEDGER_OLD_CLOSE_REQUEST || state > LEDGER_OLD_CLOSED)
        return cc_err_set(err, "ledger: bad old contract state %d", state);
    state = advance(o, state);
    cc_buf text = CC_BUF_INIT;
    int rc = begin(l, err);
    if (rc == 0) rc = put_old(l, o, state, unlock_ts, &text, err);
    rc = finish(l, rc, err);
    cc_buf_free(&text);
    if (rc < 0) return -1;
    o->state = state;
    o->unlock_ts = unlock_ts;
    return 0;
}
