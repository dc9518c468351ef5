/*
 * ledger — the money layer: COCOON's token pricing, the proxy's per-client and
 * per-worker accounts (credit, reservations, cumulative signed payments) and
 * their durable SQLite store with commit seqnos and rollback checks.
 *
 * It follows COCOON's proxy (runners/proxy/ProxyClientInfo.h,
 * ProxyWorkerInfo.h, ProxySignedPayments.hpp, ProxyRunner.cpp) rule for rule;
 * docs/payments.md cites each rule and says where we depart.
 *
 * Units: tokens are *adjusted* tokens (after the worker coefficient and the
 * root's category multipliers); money is nanoTON. Everything is int64.
 *
 * Threading: none; a ledger belongs to one loop. Ownership: a ledger owns its
 * accounts; the account pointers it returns stay valid until ledger_close().
 */
#ifndef COCOON_LEDGER_H
#define COCOON_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ============================================================ pricing ===== */

/* Category multipliers of the root contract, x10000 (10000 = 1.0). */
typedef struct ledger_multipliers {
    int32_t prompt, cached, completion, reasoning;
} ledger_multipliers;

/* Raw counts as a backend reports them (OpenAI usage). */
typedef struct ledger_usage {
    int64_t prompt, cached, completion, reasoning;
} ledger_usage;

/* Adjusted counts: COCOON's tokensUsed (prompt excludes cached, completion
 * excludes reasoning; total is the sum). */
typedef struct ledger_tokens {
    int64_t prompt, cached, completion, reasoning, total;
} ledger_tokens;

/* COCOON's adjust_tokens(n, coefficient, mult) = n * coefficient/1000 *
 * mult/10000, truncated. Computed in doubles with COCOON's exact operation
 * order (runners/helpers/Ton.h) so that both sides of a link bill the same
 * token for every input; exact for every count below 2^53 / 1000. */
int64_t ledger_adjust_tokens(int64_t n, int64_t coefficient, int32_t mult);
/* COCOON's ByteTokenCounter::usage(): counts that go negative (cached above
 * prompt) are clamped to 0 instead of billing a negative amount. */
void ledger_adjust_usage(const ledger_usage *u, int32_t coefficient, const ledger_multipliers *m,
                         ledger_tokens *out);
/* a / b, or 10^12 when b <= 0 (COCOON's safe_div: a free price grants a
 * practically unlimited token count). */
int64_t ledger_safe_div(int64_t a, int64_t b);

/* ================================================== signed payments ===== */

/* The cumulative total an account has used, and the part of it that a
 * save_state on chain already covers. Vouchers are only ever signed for the
 * covered part (COCOON's ProxySignedPayments), so a proxy that loses its
 * uncommitted tail can never have promised more than its chain shows. */
typedef struct ledger_seqno_tokens {
    int32_t seqno;
    int64_t tokens;
} ledger_seqno_tokens;

typedef struct ledger_payments {
    int64_t committed_chain;      /* covered by a save_state seen on chain */
    int64_t max;                  /* everything used, committed or not */
    ledger_seqno_tokens *pending; /* db commits not yet on chain, seqno ascending */
    size_t n_pending, cap_pending;
    uint8_t *voucher; /* signed voucher BoC for committed_chain tokens, or NULL */
    size_t voucher_len;
} ledger_payments;

/* The total of the newest db commit (committed_chain when there is none). */
int64_t ledger_payments_committed_db(const ledger_payments *p);
/* ============================================================ accounts ===== */

#define LEDGER_ADDR_MAX 80 /* raw "wc:64hex" or user-friendly form, with the terminator */

/* A client contract's status as COCOON numbers it. */
enum { LEDGER_SC_OPEN = 0, LEDGER_SC_CLOSING = 1, LEDGER_SC_CLOSED = 2, LEDGER_SC_UNKNOWN = 3 };

typedef struct ledger_client {
    char owner[LEDGER_ADDR_MAX];      /* the client's owner wallet (the account key) */
    char sc_address[LEDGER_ADDR_MAX]; /* its client contract */
    /* What the client contract showed last (COCOON's sc_* fields). */
    uint32_t sc_status;
    int64_t sc_balance, sc_stake, sc_tokens_used;
    int64_t sc_tokens_stake, sc_tokens_payed; /* derived with the price per token */
    uint8_t secret_hash[32];
    /* A charge in flight. */
    int64_t exp_sc_tokens_used;
    bool exp_sc_closed, charging_now;
    /* Its credit ran short (proxy_chain_credit_short): charged at the next
     * save_state whatever the amount; credit_probe_at paces the reads. */
    bool credit_short;
    double credit_probe_at;
    int64_t reserved;
    int64_t running;
    int32_t last_request_at;
    ledger_payments pay;
    bool dirty; /* to be written at the next ledger_commit */
    /* Set when the chain or a peer proves this account's row is older than
     * what was already promised (a ledger rolled back): the account is refused
     * until an operator resolves it; the others keep being served. */
    bool refused;
    char refused_why[160];
} ledger_client;

typedef struct ledger_worker {
    char owner[LEDGER_ADDR_MAX];
    char sc_address[LEDGER_ADDR_MAX];
    int64_t sc_tokens;     /* tokens the worker contract has been paid for */
    int64_t exp_sc_tokens; /* a payout in flight (or done) up to this total */
    bool paying_now;
    int64_t running;
    int32_t last_request_at;
    ledger_payments pay;
    bool dirty;
    bool refused;
    char refused_why[160];
} ledger_worker;

/* --- client rules (ProxyClientInfo) --- */
/* min(tokens payed, stake tokens + tokens used on chain) - reserved - used. */
int64_t ledger_client_available(const ledger_client *c);
bool ledger_client_allows_queries(const ledger_client *c); /* contract open, not refused */
/* Reserves tokens when available covers them; false otherwise (nothing changes). */
bool ledger_client_reserve(ledger_client *c, int64_t tokens);
void ledger_client_release(ledger_client *c, int64_t tokens);
/* Adds used tokens (the request's adjusted total). */
void ledger_client_deduct(ledger_client *c, int64_t tokens);
/* Committed-to-chain tokens not yet charged from the contract (COCOON's
 * tokens_ready_to_charge). */
int64_t ledger_client_ready_to_charge(const ledger_client *c);
/* The client contract's state as read from the chain (or a notification). An
 * older state (tokens used below what we know) is ignored, as COCOON does. A
 * contract that has charged more tokens than this ledger ever recorded proves
 * the ledger was rolled back: the account is refused (COCOON aborts). */
void ledger_client_update_state(ledger_client *c, uint32_t status, int64_t balance, int64_t stake,
                                int64_t tokens_used, int64_t price_per_token,
                                const uint8_t secret_hash[32]);
/* A charge of the contract up to `tokens` has been sent (close: and close it). */
void ledger_client_charge_sent(ledger_client *c, int64_t tokens, bool close);
void ledger_client_charge_done(ledger_client *c);

/* --- worker rules (ProxyWorkerInfo) --- */
void ledger_worker_add(ledger_worker *w, int64_t tokens);
/* Committed-to-chain tokens not yet paid out (COCOON's tokens_ready_to_pay). */
int64_t ledger_worker_ready_to_pay(const ledger_worker *w);
/* The worker contract's paid total as read from the chain; a total above
 * what this ledger recorded refuses the account (rolled back ledger). */
void ledger_worker_update_paid(ledger_worker *w, int64_t tokens);
void ledger_worker_payout_sent(ledger_worker *w, int64_t tokens);
void ledger_worker_payout_done(ledger_worker *w);

/* A signed payment a peer shows us (the latest voucher it holds from this
 * proxy): one above our own total proves the ledger lost state. Returns
 * false and refuses the account in that case. */
bool ledger_client_check_peer_total(ledger_client *c, int64_t tokens);
bool ledger_worker_check_peer_total(ledger_worker *w, int64_t tokens);

/* Stores the voucher signed for the account's committed_chain total (the
 * bytes are copied). -1 when tokens is not that total. */
int ledger_client_set_voucher(ledger_client *c, int64_t tokens, const uint8_t *boc, size_t len,
                              cc_err *err);
int ledger_worker_set_voucher(ledger_worker *w, int64_t tokens, const uint8_t *boc, size_t len,
                              cc_err *err);

/* ========================================================== the store ===== */

typedef struct ledger ledger;

/* Opens (creating when missing) the SQLite ledger at path: WAL journal,
 * synchronous=FULL. Every row carries a MAC under a key derived from the
 * proxy's signing seed (priv, 32 bytes), checked on load: a row edited by
 * hand or written under another key refuses the open with the row named.
 * As COCOON does on restart, every loaded total counts as committed to the
 * chain at the last saved seqno. Returns NULL with err filled. */
ledger *ledger_open(const char *path, const uint8_t priv[32], cc_err *err);
void ledger_close(ledger *l);

/* The account of an owner, created (zeroed, status unknown) when missing and
 * create is true; NULL otherwise. */
ledger_client *ledger_client_get(ledger *l, const char *owner, bool create);
ledger_worker *ledger_worker_get(ledger *l, const char *owner, bool create);
/* The root's price per token (nanoTON): clients' token credit is derived
 * from their balance and stake with it; a new price applies at once. */
void ledger_set_price(ledger *l, int64_t price_per_token);
size_t ledger_n_clients(const ledger *l);
size_t ledger_n_workers(const ledger *l);
/* The i-th account in creation order (for stats pages and charge/payout loops). */
ledger_client *ledger_client_at(ledger *l, size_t i);
ledger_worker *ledger_worker_at(ledger *l, size_t i);

/* Writes every changed account and the commit bookkeeping in one
 * transaction under a new seqno (COCOON's all_to_db). With for_chain, the
 * seqno is also recorded as a pending chain commit tagged with this
 * session's random hash: the caller then sends proxy_save_state(seqno, hash)
 * to the proxy contract and reports it back with ledger_chain_saved(). Returns
 * the new seqno, or -1 with err filled (the in-memory state is unchanged
 * then, and the next commit retries). */
int32_t ledger_commit(ledger *l, bool for_chain, cc_err *err);
/* This session's random hash (32 bytes) that tags its save_state notes. */
const uint8_t *ledger_session_hash(const ledger *l);
int32_t ledger_last_seqno(const ledger *l);
/* The proxy contract shows a save_state (seqno, hash). Ours: every total
 * committed at or below that seqno is now covered (vouchers can be signed
 * for it). A seqno above the last one this ledger committed, or one we never
 * tagged, means the ledger file is older than the chain: the ledger is marked
 * behind (ledger_behind_chain) and keeps serving; the accounts the chain
 * proves stale are refused one by one as their contract states arrive.
 * Returns 1 when it was ours, 0 when not. */
int ledger_chain_saved(ledger *l, int32_t seqno, const uint8_t hash[32]);
/* Why the ledger is behind the chain, or NULL. */
const char *ledger_behind_chain(const ledger *l);

/* ============================================ retired proxy contracts ===== */

/* A proxy contract's address holds the root's params; when they change the
 * proxy moves to a new contract and retires the old one as COCOON's
 * OldProxyContract does (docs/payments.md, "When the root's params change"):
 * a signed close request, a final charge of each of its clients, a last
 * payout of each of its workers, then the signed close completion once the
 * contract's delay has passed. The steps are durable: each is recorded when
 * the wallet confirms it, so a restart resumes the retirement. */
enum {
    LEDGER_OLD_CLOSE_REQUEST = 1, /* the signed close request is to be sent */
    LEDGER_OLD_CLIENTS = 2,       /* final charges of the clients left */
    LEDGER_OLD_WORKERS = 3,       /* last payouts of the workers left */
    LEDGER_OLD_CLOSING = 4,       /* waiting for unlock_ts, then the close completion */
    LEDGER_OLD_CLOSED = 5,        /* done */
};

typedef struct ledger_old_party {
    bool client;                      /* else a worker */
    char owner[LEDGER_ADDR_MAX];      /* the account's owner */
    char sc_address[LEDGER_ADDR_MAX]; /* its contract under the old proxy contract */
    int64_t tokens;                   /* the account's whole total at the retirement */
} ledger_old_party;

typedef struct ledger_old_contract {
    char address[LEDGER_ADDR_MAX];
    int state;         /* LEDGER_OLD_* */
    int64_t unlock_ts; /* the contract's unlock time once closing (chain time), else 0 */
    uint8_t *params;   /* the params cell (BoC) it was derived with */
    size_t params_len;
    ledger_old_party *parties; /* left to settle: clients first, then workers */
    size_t n_parties;
} ledger_old_contract;

/* The proxy contract the live accounts belong to, as last recorded (params:
 * the BoC of its params cell), or NULL when none was ever recorded. */
const char *ledger_contract(const ledger *l, const uint8_t **params, size_t *params_len);
/* Records the live accounts' contract when none is recorded or it is the
 * same; with another one recorded, retires that one first (ledger_retire).
 * Durable when it returns 0. */
int ledger_set_contract(ledger *l, const char *address, const uint8_t *params, size_t params_len,
                        cc_err *err);
/* Retires the recorded contract (nothing when none is, or when it is
 * address) and makes address the live accounts' contract, in one
 * transaction: every client account whose contract was seen open or closing
 * or that used tokens, and every worker account that earned tokens, becomes a
 * party of the old contract with its whole total and its sc_address (the
 * caller fills sc_address first); every live account is reset to its owner
 * alone (figures, vouchers and pending commits zero), and the pending chain
 * commits are dropped (their notes went to the old contract). Reservations
 * and running counts stay, so requests in flight end cleanly on the new
 * contract. Returns 1 when a contract was retired, 0 when not, -1 (nothing
 * changed) on a database error. */
int ledger_retire(ledger *l, const char *address, const uint8_t *params, size_t params_len,
                  cc_err *err);
size_t ledger_n_old(const ledger *l);
ledger_old_contract *ledger_old_at(ledger *l, size_t i);
/* Party i of o is settled (its message confirmed): its row is deleted and,
 * when it was the last of its kind, o moves to the next state. */
int ledger_old_party_done(ledger *l, ledger_old_contract *o, size_t i, cc_err *err);
/* o moves to state (with unlock_ts); a state whose parties are all settled
 * moves on by itself (CLIENTS -> WORKERS -> CLOSING). */
int ledger_old_set_state(ledger *l, ledger_old_contract *o, int state, int64_t unlock_ts,
                         cc_err *err);

#endif
