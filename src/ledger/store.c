/* The proxy's durable ledger: SQLite rows signed by the proxy key, commits
 * under increasing seqnos, and the chain's save_state notes that promote them
 * (COCOON: ProxyRunner.cpp all_to_db, process_db_key, on_receive_saved_state_seqno). */
#include "ledger/ledger_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "crypto/crypto.h"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS clients(owner TEXT PRIMARY KEY, sc_address TEXT NOT NULL,"
    " status INTEGER NOT NULL, balance INTEGER NOT NULL, stake INTEGER NOT NULL,"
    " sc_tokens_used INTEGER NOT NULL, tokens_used INTEGER NOT NULL, secret_hash BLOB NOT NULL,"
    " last_request_at INTEGER NOT NULL, sig BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS workers(owner TEXT PRIMARY KEY, sc_address TEXT NOT NULL,"
    " sc_tokens INTEGER NOT NULL, tokens INTEGER NOT NULL, last_request_at INTEGER NOT NULL,"
    " sig BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS config(id INTEGER PRIMARY KEY CHECK (id = 1),"
    " last_seqno INTEGER NOT NULL, pending TEXT NOT NULL, sig BLOB NOT NULL);";

/* ------------------------------------------------------------ helpers ---- */

static uint64_t owner_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

/* Open addressing over the 64-bit hash: a (practically impossible) collision
 * between two owners moves the second to the next key. */
static void *index_find(const cc_map *m, const char *owner, size_t owner_off, uint64_t *free_key)
{
    for (uint64_t k = owner_key(owner);; k++) {
        void *v = cc_map_get(m, k);
        if (!v) {
            if (free_key) *free_key = k;
            return NULL;
        }
        if (strcmp((const char *)v + owner_off, owner) == 0) return v;
    }
}

int ledger__db_err(ledger *l, cc_err *err, const char *what)
{
    return cc_err_set(err, "ledger: %s: %s", what, sqlite3_errmsg(l->db));
}

/* Rows carry an HMAC-SHA256 under a key derived from the proxy's signing
 * seed. COCOON signs each value with Ed25519; only the proxy itself ever
 * checks these rows, so a MAC gives the same protection (nobody without the
 * key can forge or edit a row) at a microsecond per row instead of the
 * hundreds that a signature with key set-up costs. */
void ledger__sign_text(const ledger *l, const cc_buf *text, uint8_t mac[32])
{
    crypto_hmac_sha256(l->mac_key, sizeof(l->mac_key), text->data, text->len, mac);
}

static void client_row_text(const ledger_client *c, cc_buf *b)
{
    char hex[65];
    cc_hex_encode(c->secret_hash, 32, hex);
    b->len = 0;
    cc_buf_append_fmt(b, "client\n%s\n%s\n%u\n%lld\n%lld\n%lld\n%lld\n%s\n%d", c->owner,
                      c->sc_address, c->sc_status, (long long)c->sc_balance, (long long)c->sc_stake,
                      (long long)c->sc_tokens_used, (long long)c->pay.max, hex, c->last_request_at);
}

static void worker_row_text(const ledger_worker *w, cc_buf *b)
{
    b->len = 0;
    cc_buf_append_fmt(b, "worker\n%s\n%s\n%lld\n%lld\n%d", w->owner, w->sc_address,
                      (long long)w->sc_tokens, (long long)w->pay.max, w->last_request_at);
}

static void pending_text(const ledger *l, cc_buf *b)
{
    b->len = 0;
    for (size_t i = 0; i < l->n_pending; i++) {
        char hex[65];
        cc_hex_encode(l->pending[i].hash, 32, hex);
        cc_buf_append_fmt(b, "%s%d:%s", i ? "," : "", l->pending[i].seqno, hex);
    }
}

static void config_row_text(const ledger *l, int32_t seqno, const char *pending, cc_buf *b)
{
    b->len = 0;
    cc_buf_append_fmt(b, "config\n%d\n%s", seqno, pending);
}

static void pending_add(ledger *l, int32_t seqno, const uint8_t hash[32])
{
    if (l->n_pending == l->cap_pending) {
        l->cap_pending = l->cap_pending ? l->cap_pending * 2 : 4;
        l->pending = cc_realloc(l->pending, l->cap_pending * sizeof(*l->pending));
    }
    l->pending[l->n_pending].seqno = seqno;
    memcpy(l->pending[l->n_pending].hash, hash, 32);
    l->n_pending++;
}

static int parse_pending(ledger *l, const char *s, cc_err *err)
{
    while (*s) {
        char *end;
        long seqno = strtol(s, &end, 10);
        uint8_t hash[32];
        char hex[65] = {0};
        if (end == s || *end != ':' || strlen(end + 1) < 64)
            return cc_err_set(err, "ledger: config row: bad pending commit list");
        memcpy(hex, end + 1, 64);
        if (seqno <= 0 || seqno > INT32_MAX || cc_hex_decode(hex, hash, 32, NULL) < 0)
            return cc_err_set(err, "ledger: config row: bad pending commit list");
        pending_add(l, (int32_t)seqno, hash);
        s = end + 65;
        if (*s == ',')
            s++;
        else if (*s)
            return cc_err_set(err, "ledger: config row: bad pending commit list");
    }
    return 0;
}

/* ----------------------------------------------------------- accounts ---- */

static ledger_client *client_add(ledger *l, const char *owner, uint64_t key)
{
    ledger_client *c = cc_calloc(1, sizeof(*c));
    cc_str_copy(c->owner, sizeof(c->owner), owner);
    c->sc_status = LEDGER_SC_UNKNOWN;
    if (l->n_clients == l->cap_clients) {
        l->cap_clients = l->cap_clients ? l->cap_clients * 2 : 16;
        l->clients = cc_realloc(l->clients, l->cap_clients * sizeof(*l->clients));
    }
    l->clients[l->n_clients++] = c;
    cc_map_put(&l->client_index, key, c);
    return c;
}

static ledger_worker *worker_add(ledger *l, const char *owner, uint64_t key)
{
    ledger_worker *w = cc_calloc(1, sizeof(*w));
    cc_str_copy(w->owner, sizeof(w->owner), owner);
    if (l->n_workers == l->cap_workers) {
        l->cap_workers = l->cap_workers ? l->cap_workers * 2 : 16;
        l->workers = cc_realloc(l->workers, l->cap_workers * sizeof(*l->workers));
    }
    l->workers[l->n_workers++] = w;
    cc_map_put(&l->worker_index, key, w);
    return w;
}

ledger_client *ledger_client_get(ledger *l, const char *owner, bool create)
{
    uint64_t key = 0;
    ledger_client *c = index_find(&l->client_index, owner, offsetof(ledger_client, owner), &key);
    if (!c && create && strlen(owner) < LEDGER_ADDR_MAX) c = client_add(l, owner, key);
    return c;
}

ledger_worker *ledger_worker_get(ledger *l, const char *owner, bool create)
{
    uint64_t key = 0;
    ledger_worker *w = index_find(&l->worker_index, owner, offsetof(ledger_worker, owner), &key);
    if (!w && create && strlen(owner) < LEDGER_ADDR_MAX) w = worker_add(l, owner, key);
    return w;
}

size_t ledger_n_clients(const ledger *l)
{
    return l->n_clients;
}
size_t ledger_n_workers(const ledger *l)
{
    return l->n_workers;
}
ledger_client *ledger_client_at(ledger *l, size_t i)
{
    return i < l->n_clients ? l->clients[i] : NULL;
}
ledger_worker *ledger_worker_at(ledger *l, size_t i)
{
    return i < l->n_workers ? l->workers[i] : NULL;
}

void ledger_set_price(ledger *l, int64_t price_per_token)
{
    l->price_per_token = price_per_token;
    for (size_t i = 0; i < l->n_clients; i++) {
        ledger_client *c = l->clients[i];
        c->sc_tokens_payed = ledger_safe_div(c->sc_balance, price_per_token) + c->sc_tokens_used;
        c->sc_tokens_stake = ledger_safe_div(c->sc_stake, price_per_token);
    }
}

/* --------------------------------------------------------------- load ---- */

const char *ledger__col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

bool ledger__col_sig_ok(const ledger *l, sqlite3_stmt *st, int i, const cc_buf *text)
{
    uint8_t mac[32];
    ledger__sign_text(l, text, mac);
    return sqlite3_column_bytes(st, i) == 32 && crypto_memeq(mac, sqlite3_column_blob(st, i), 32);
}

static int load_clients(ledger *l, cc_buf *text, cc_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT owner, sc_address, status, balance, stake, sc_tokens_used,"
                           " tokens_used, secret_hash, last_request_at, sig FROM clients",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger__db_err(l, err, "reading clients");
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *owner = ledger__col_text(st, 0);
        ledger_client tmp = {0};
        cc_str_copy(tmp.owner, sizeof(tmp.owner), owner);
        cc_str_copy(tmp.sc_address, sizeof(tmp.sc_address), ledger__col_text(st, 1));
        tmp.sc_status = (uint32_t)sqlite3_column_int64(st, 2);
        tmp.sc_balance = sqlite3_column_int64(st, 3);
        tmp.sc_stake = sqlite3_column_int64(st, 4);
        tmp.sc_tokens_used = sqlite3_column_int64(st, 5);
        tmp.pay.max = sqlite3_column_int64(st, 6);
        if (sqlite3_column_bytes(st, 7) == 32)
            memcpy(tmp.secret_hash, sqlite3_column_blob(st, 7), 32);
        tmp.last_request_at = (int32_t)sqlite3_column_int64(st, 8);
        client_row_text(&tmp, text);
        if (strlen(owner) >= LEDGER_ADDR_MAX || !ledger__col_sig_ok(l, st, 9, text) ||
            tmp.sc_tokens_used > tmp.pay.max || tmp.sc_tokens_used < 0) {
            rc = cc_err_set(err,
                            "ledger: the row of client %.80s is not signed by this proxy's key "
                            "or is inconsistent",
                            owner);
            break;
        }
        ledger_client *c = ledger_client_get(l, tmp.owner, true);
        *c = tmp;
        /* As COCOON on restart: what the database holds counts as committed
         * to the chain; the first save_state of this session makes it so. */
        c->pay.committed_chain = c->pay.max;
        c->exp_sc_tokens_used = c->sc_tokens_used;
    }
    if (rc == 0 && step != SQLITE_DONE) rc = ledger__db_err(l, err, "reading clients");
    sqlite3_finalize(st);
    return rc;
}

static int load_workers(ledger *l, cc_buf *text, cc_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT owner, sc_address, sc_tokens, tokens, last_request_at, sig"
                           " FROM workers",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger__db_err(l, err, "reading workers");
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *owner = ledger__col_text(st, 0);
        ledger_worker tmp = {0};
        cc_str_copy(tmp.owner, sizeof(tmp.owner), owner);
        cc_str_copy(tmp.sc_address, sizeof(tmp.sc_address), ledger__col_text(st, 1));
        tmp.sc_tokens = sqlite3_column_int64(st, 2);
        tmp.pay.max = sqlite3_column_int64(st, 3);
        tmp.last_request_at = (int32_t)sqlite3_column_int64(st, 4);
        worker_row_text(&tmp, text);
        if (strlen(owner) >= LEDGER_ADDR_MAX || !ledger__col_sig_ok(l, st, 5, text) ||
            tmp.sc_tokens > tmp.pay.max || tmp.sc_tokens < 0) {
            rc = cc_err_set(err,
                            "ledger: the row of worker %.80s is not signed by this proxy's key "
                            "or is inconsistent",
                            owner);
            break;
        }
        ledger_worker *w = ledger_worker_get(l, tmp.owner, true);
        *w = tmp;
        w->pay.committed_chain = w->pay.max;
        w->exp_sc_tokens = w->sc_tokens;
    }
    if (rc == 0 && step != SQLITE_DONE) rc = ledger__db_err(l, err, "reading workers");
    sqlite3_finalize(st);
    return rc;
}

static int load_config(ledger *l, cc_buf *text, cc_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "SELECT last_seqno, pending, sig FROM config WHERE id = 1", -1,
                           &st, NULL) != SQLITE_OK)
        return ledger__db_err(l, err, "reading config");
    int rc = 0, step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        int64_t seqno = sqlite3_column_int64(st, 0);
        const char *pending = ledger__col_text(st, 1);
        config_row_text(l, (int32_t)seqno, pending, text);
        if (seqno < 0 || seqno > INT32_MAX || !ledger__col_sig_ok(l, st, 2, text))
            rc = cc_err_set(err, "ledger: the config row is not signed by this proxy's key");
        else if ((rc = parse_pending(l, pending, err)) == 0)
            l->last_seqno = (int32_t)seqno;
    } else if (step != SQLITE_DONE) {
        rc = ledger__db_err(l, err, "reading config");
    }
    sqlite3_finalize(st);
    return rc;
}

ledger *ledger_open(const char *path, const uint8_t priv[32], cc_err *err)
{
    ledger *l = cc_calloc(1, sizeof(*l));
    cc_map_init(&l->client_index);
    cc_map_init(&l->worker_index);
    static const char info[] = "cocoon proxy ledger rows v1";
    if (crypto_hkdf_sha256(NULL, 0, priv, 32, (const uint8_t *)info, sizeof(info) - 1, l->mac_key,
                           sizeof(l->mac_key), err) < 0) {
        ledger_close(l);
        return NULL;
    }
    crypto_random(l->session_hash, sizeof(l->session_hash));
    if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        cc_err_set(err, "ledger: cannot open %s: %s", path,
                   l->db ? sqlite3_errmsg(l->db) : "out of memory");
        ledger_close(l);
        return NULL;
    }
    sqlite3_busy_timeout(l->db, 5000);
    cc_buf text = CC_BUF_INIT;
    char *msg = NULL;
    int rc = 0;
    /* WAL keeps readers off the writer's back; FULL syncs the WAL on every
     * commit, so a commit that returned survives a crash or power loss. */
    if (sqlite3_exec(l->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                     NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(l->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        rc = cc_err_set(err, "ledger: %s: %s", path, msg ? msg : sqlite3_errmsg(l->db));
    }
    sqlite3_free(msg);
    if (rc == 0) rc = load_config(l, &text, err);
    if (rc == 0) rc = load_clients(l, &text, err);
    if (rc == 0) rc = load_workers(l, &text, err);
    if (rc == 0) rc = ledger__retire_load(l, &text, err);
    cc_buf_free(&text);
    if (rc < 0) {
        cc_err_prefix(err, "%s", path);
        ledger_close(l);
        return NULL;
    }
    return l;
}

void ledger_close(ledger *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n_clients; i++) {
        ledger__payments_free(&l->clients[i]->pay);
        free(l->clients[i]);
    }
    for (size_t i = 0; i < l->n_workers; i++) {
        ledger__payments_free(&l->workers[i]->pay);
        free(l->workers[i]);
    }
    ledger__retire_free(l);
    free(l->clients);
    free(l->workers);
    free(l->pending);
    cc_map_free(&l->client_index);
    cc_map_free(&l->worker_index);
    if (l->db) sqlite3_close(l->db);
    explicit_bzero(l->mac_key, sizeof(l->mac_key));
    free(l);
}

/* ------------------------------------------------------------- commit ---- */

int ledger__put_row(ledger *l, sqlite3_stmt *st, const cc_buf *text, int sig_col, cc_err *err)
{
    uint8_t mac[32];
    ledger__sign_text(l, text, mac);
    sqlite3_bind_blob(st, sig_col, mac, 32, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : ledger__db_err(l, err, "writing a row");
    sqlite3_reset(st);
    return rc;
}

/* A retirement (retire.c) leaves each account as this: its owner and last
 * request time, nothing of the retired contract's figures. */
static void client_reset_copy(const ledger_client *c, ledger_client *out)
{
    memset(out, 0, sizeof(*out));
    cc_str_copy(out->owner, sizeof(out->owner), c->owner);
    out->sc_status = LEDGER_SC_UNKNOWN;
    out->last_request_at = c->last_request_at;
}

static void worker_reset_copy(const ledger_worker *w, ledger_worker *out)
{
    memset(out, 0, sizeof(*out));
    cc_str_copy(out->owner, sizeof(out->owner), w->owner);
    out->last_request_at = w->last_request_at;
}

static int write_clients(ledger *l, bool reset, cc_buf *text, cc_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "INSERT OR REPLACE INTO clients VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                           " ?9, ?10)",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger__db_err(l, err, "writing clients");
    int rc = 0;
    for (size_t i = 0; i < l->n_clients && rc == 0; i++) {
        ledger_client zero;
        const ledger_client *c = l->clients[i];
        if (reset) {
            client_reset_copy(c, &zero);
            c = &zero;
        } else if (!c->dirty) {
            continue;
        }
        sqlite3_bind_text(st, 1, c->owner, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, c->sc_address, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, c->sc_status);
        sqlite3_bind_int64(st, 4, c->sc_balance);
        sqlite3_bind_int64(st, 5, c->sc_stake);
        sqlite3_bind_int64(st, 6, c->sc_tokens_used);
        sqlite3_bind_int64(st, 7, c->pay.max);
        sqlite3_bind_blob(st, 8, c->secret_hash, 32, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 9, c->last_request_at);
        client_row_text(c, text);
        rc = ledger__put_row(l, st, text, 10, err);
    }
    sqlite3_finalize(st);
    return rc;
}

static int write_workers(ledger *l, bool reset, cc_buf *text, cc_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "INSERT OR REPLACE INTO workers VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &st, NULL) != SQLITE_OK)
        return ledger__db_err(l, err, "writing workers");
    int rc = 0;
    for (size_t i = 0; i < l->n_workers && rc == 0; i++) {
        ledger_worker zero;
        const ledger_worker *w = l->workers[i];
        if (reset) {
            worker_reset_copy(w, &zero);
            w = &zero;
        } else if (!w->dirty) {
            continue;
        }
        sqlite3_bind_text(st, 1, w->owner, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, w->sc_address, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, w->sc_tokens);
        sqlite3_bind_int64(st, 4, w->pay.max);
        sqlite3_bind_int64(st, 5, w->last_request_at);
        worker_row_text(w, text);
        rc = ledger__put_row(l, st, text, 6, err);
    }
    sqlite3_finalize(st);
    return rc;
}

int ledger__write_accounts(ledger *l, bool reset, cc_buf *text, cc_err *err)
{
    int rc = write_clients(l, reset, text, err);
    return rc == 0 ? write_workers(l, reset, text, err) : rc;
}

int ledger__write_config(ledger *l, int32_t seqno, cc_buf *text, cc_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "INSERT OR REPLACE INTO config VALUES (1, ?1, ?2, ?3)", -1, &st,
                           NULL) != SQLITE_OK)
        return ledger__db_err(l, err, "writing config");
    cc_buf pending = CC_BUF_INIT;
    pending_text(l, &pending);
    cc_buf_append(&pending, "", 1);
    sqlite3_bind_int64(st, 1, seqno);
    sqlite3_bind_text(st, 2, (const char *)pending.data, -1, SQLITE_STATIC);
    config_row_text(l, seqno, (const char *)pending.data, text);
    int rc = ledger__put_row(l, st, text, 3, err);
    sqlite3_finalize(st);
    cc_buf_free(&pending);
    return rc;
}

int32_t ledger_commit(ledger *l, bool for_chain, cc_err *err)
{
    int32_t seqno = l->last_seqno + 1;
    if (for_chain) pending_add(l, seqno, l->session_hash);
    cc_buf text = CC_BUF_INIT;
    int rc = sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
                 ? 0
                 : ledger__db_err(l, err, "begin");
    if (rc == 0) rc = ledger__write_accounts(l, false, &text, err);
    if (rc == 0) rc = ledger__write_config(l, seqno, &text, err);
    if (rc == 0 && sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = ledger__db_err(l, err, "commit");
    cc_buf_free(&text);
    if (rc < 0) {
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
        if (for_chain) l->n_pending--;
        return -1;
    }
    /* Durable: now the totals written belong to this seqno. */
    l->last_seqno = seqno;
    for (size_t i = 0; i < l->n_clients; i++) {
        ledger__payments_commit_db(&l->clients[i]->pay, seqno);
        l->clients[i]->dirty = false;
    }
    for (size_t i = 0; i < l->n_workers; i++) {
        ledger__payments_commit_db(&l->workers[i]->pay, seqno);
        l->workers[i]->dirty = false;
    }
    return seqno;
}

const uint8_t *ledger_session_hash(const ledger *l)
{
    return l->session_hash;
}
int32_t ledger_last_seqno(const ledger *l)
{
    return l->last_seqno;
}
const char *ledger_behind_chain(const ledger *l)
{
    return l->behind[0] ? l->behind : NULL;
}

int ledger_chain_saved(ledger *l, int32_t seqno, const uint8_t hash[32])
{
    if (seqno > l->last_seqno) {
        snprintf(l->behind, sizeof(l->behind),
                 "the proxy contract holds save_state seqno %d, the ledger has committed only up "
                 "to %d: the ledger file is older than the chain",
                 seqno, l->last_seqno);
        CC_ERROR("event=ledger_behind_chain reason=\"%s\"", l->behind);
        return 0;
    }
    size_t k = 0;
    bool known = false;
    while (k < l->n_pending && l->pending[k].seqno <= seqno) {
        if (l->pending[k].seqno == seqno && memcmp(l->pending[k].hash, hash, 32) == 0) known = true;
        k++;
    }
    if (!known) return 0; /* an older note, or one of an earlier session already counted */
    memmove(l->pending, l->pending + k, (l->n_pending - k) * sizeof(*l->pending));
    l->n_pending -= k;
    if (memcmp(hash, l->session_hash, 32) != 0) return 0;
    for (size_t i = 0; i < l->n_clients; i++)
        ledger__payments_commit_chain(&l->clients[i]->pay, seqno);
    for (size_t i = 0; i < l->n_workers; i++)
        ledger__payments_commit_chain(&l->workers[i]->pay, seqno);
    return 1;
}
