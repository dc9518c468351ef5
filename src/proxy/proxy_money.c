/* Money on the proxy: every client and worker owner has a ledger account;
 * a request reserves the client's tokens before it is routed, and when it
 * ends its adjusted total moves from the client to the worker (COCOON's
 * ProxyRunner forward_query / finish_request). The ledger is flushed to its
 * SQLite file every 1-2 s (COCOON's alarm) and at clean shutdown.
 *
 * No chain yet: every client account is set up as COCOON's ton_disabled mode
 * does (contract open, 100 TON balance, 1 TON stake at the registry's
 * price; both configurable), so requests are served as before but every
 * token is accounted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "proxy/proxy_internal.h"

/* COCOON's alarm flushes at a random point 1-2 s after the last flush. */
#define COMMIT_MIN_S 1.0
#define COMMIT_MAX_S 2.0
#define SEED_FILE "proxy-signing.seed"
#define LEDGER_FILE "ledger.sqlite"

/* -------------------------------------------------------------- the store */

static void arm_commit(proxy *p)
{
    if (!p->commit_ev) return;
    double s = COMMIT_MIN_S + (COMMIT_MAX_S - COMMIT_MIN_S) * (double)(crypto_random_u64() >> 11) /
                                  (double)(1ull << 53);
    struct timeval tv = cc_timeval(s);
    event_add(p->commit_ev, &tv);
}

static void on_commit(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    proxy *p = ud;
    proxy_money_commit(p);
    arm_commit(p);
}

int proxy_money_commit(proxy *p)
{
    if (!p->ledger) return 0;
    cc_err err = {0};
    if (ledger_commit(p->ledger, false, &err) < 0) {
        /* The in-memory state is kept; the next tick retries. */
        p->stats.ledger_commit_failures++;
        CC_ERROR("event=ledger_commit_failed error=\"%s\"", err.msg);
        return -1;
    }
    p->stats.ledger_commits++;
    return 0;
}

int proxy_money_open(proxy *p, const char *path, const uint8_t seed[32], cc_err *err)
{
    ledger *l = ledger_open(path ? path : ":memory:", seed, err);
    if (!l) return -1;
    /* The key peers are told (proxy.params): it signs the vouchers, and it
     * stays across restarts with the seed, as COCOON's proxy key does. */
    if (crypto_ed25519_public(seed, p->signing_pub, err) < 0) {
        ledger_close(l);
        return -1;
    }
    if (p->ledger) ledger_close(p->ledger);
    p->ledger = l;
    memcpy(p->sign_seed, seed, 32);
    if (crypto_ed25519_public(p->sign_seed, p->sign_pub, err) < 0) return -1;
    ledger_set_price(l, p->price_per_token);
    return 0;
}

/* Key bytes do not outlive their use in freed memory. */
static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

void proxy_money_registry_changed(proxy *p)
{
    int64_t price = registry_get_params(p->reg)->price_per_token;
    if (price == p->price_per_token) return;
    CC_INFO("event=price_changed price_per_token=%lld was=%lld", (long long)price,
            (long long)p->price_per_token);
    p->price_per_token = price;
    ledger_set_price(p->ledger, price);
}

int proxy_money_open_config(proxy *p, const proxy_config *cfg, cc_err *err)
{
    if (p->reg) p->price_per_token = registry_get_params(p->reg)->price_per_token;
    if (!cfg->state_dir && !cfg->ledger) {
        CC_WARN("event=ledger_in_memory reason=\"no state_dir nor ledger in the config: the "
                "accounts are lost when the proxy stops\"");
        ledger_set_price(p->ledger, p->price_per_token);
        return 0;
    }
    char seed_path[4096], ledger_path[4096];
    if (cfg->state_dir) {
        if (cc_mkdirs(cfg->state_dir, 0700, err) < 0) return -1;
        snprintf(seed_path, sizeof(seed_path), "%s/%s", cfg->state_dir, SEED_FILE);
    } else {
        snprintf(seed_path, sizeof(seed_path), "%s.seed", cfg->ledger);
    }
    if (cfg->ledger)
        snprintf(ledger_path, sizeof(ledger_path), "%s", cfg->ledger);
    else
        snprintf(ledger_path, sizeof(ledger_path), "%s/%s", cfg->state_dir, LEDGER_FILE);
    uint8_t seed[32];
    int rc = daemon_seed_load(seed_path, seed, "proxy", err);
    if (rc == 0) rc = proxy_money_open(p, ledger_path, seed, err);
    wipe(seed, sizeof(seed));
    if (rc < 0) return -1;
    /* The flush timer runs in the daemon only: unit tests commit by hand. */
    if (!p->commit_ev) p->commit_ev = event_new(p->base, -1, 0, on_commit, p);
    arm_commit(p);
    CC_INFO("event=ledger_open path=%s seqno=%d clients=%zu workers=%zu", ledger_path,
            ledger_last_seqno(p->ledger), ledger_n_clients(p->ledger), ledger_n_workers(p->ledger));
    return 0;
}

void proxy_money_close(proxy *p)
{
    if (p->commit_ev) event_free(p->commit_ev);
    p->commit_ev = NULL;
    if (!p->ledger) return;
    proxy_money_commit(p);
    ledger_close(p->ledger);
    p->ledger = NULL;
}

/* ------------------------------------------------------------- accounts */

ledger_client *proxy_money_client(pclient *c)
{
    if (c->acct) return c->acct;
    proxy *p = c->p;
    ledger_client *a = ledger_client_get(p->ledger, c->owner_address ? c->owner_address : "", true);
    if (!a) return NULL;
    /* ProxyClientInfo's ton_disabled branch: an open contract with 100 TON
     * and a 1 TON stake (both configurable). Accounts loaded from the file
     * keep their totals; this only sets the contract figures a chain would
     * have shown. */
    if (a->sc_status == LEDGER_SC_UNKNOWN) {
        uint8_t empty_hash[32];
        crypto_sha256("", 0, empty_hash);
        ledger_client_update_state(a, LEDGER_SC_OPEN, p->free_balance, p->free_stake, 0,
                                   p->price_per_token, empty_hash);
    }
    c->acct = a;
    proxy_chain_client_seen(p, a); /* with a chain: the contract's figures replace these */
    return a;
}

ledger_worker *proxy_money_worker(pworker *w)
{
    if (!w->acct) {
        w->acct = ledger_worker_get(w->p->ledger, w->owner_address ? w->owner_address : "", true);
        proxy_chain_worker_seen(w->p, w->acct); /* with a chain: what its contract was paid */
    }
    return w->acct;
}

void proxy_money_account_status(const proxy *p, const ledger_client *a,
                                tl_client_accountStatus *out)
{
    out->status = (int32_t)a->sc_status;
    out->balance = a->sc_balance;
    out->stake = a->sc_stake;
    out->sc_tokens_used = a->sc_tokens_used;
    out->price_per_token = p->price_per_token;
    /* 1.0 each without a registry, as the worker counts then. */
    const registry_params *rp = p->reg ? registry_get_params(p->reg) : NULL;
    out->prompt_multiplier = rp ? (int32_t)rp->prompt_multiplier : 10000;
    out->cached_multiplier = rp ? (int32_t)rp->cached_multiplier : 10000;
    out->completion_multiplier = rp ? (int32_t)rp->completion_multiplier : 10000;
    out->reasoning_multiplier = rp ? (int32_t)rp->reasoning_multiplier : 10000;
    out->db_tokens = ledger_payments_committed_db(&a->pay);
    out->max_tokens = a->pay.max;
}

/* ------------------------------------------------------------- requests */

int proxy_money_reserve(preq *r, const tl_client_runQueryEx *q, char *why, size_t why_size)
{
    ledger_client *a = proxy_money_client(r->client);
    if (!a) {
        snprintf(why, why_size, "client owner address is too long");
        return NET_ERR_ERROR;
    }
    /* The checks and texts of COCOON's forward_query, in its order. */
    if (ledger_client_available(a) < q->max_tokens) {
        proxy_chain_credit_short(r->p, a);
        snprintf(why, why_size,
                 "client balance is too low: max_tokens=%d tokens_payed=%lld tokens_used=%lld "
                 "tokens_reserved=%lld tokens_stake=%lld",
                 q->max_tokens, (long long)a->sc_tokens_payed, (long long)a->pay.max,
                 (long long)a->reserved, (long long)a->sc_tokens_stake);
        return NET_ERR_ERROR;
    }
    if (!ledger_client_allows_queries(a)) {
        snprintf(why, why_size, "%s",
                 a->refused                         ? a->refused_why
                 : a->sc_status == LEDGER_SC_CLOSED ? "client contract is closed"
                                                    : "client is closing");
        return NET_ERR_NOT_READY;
    }
    int64_t to_reserve = ledger_adjust_tokens((int64_t)q->max_tokens + (int64_t)q->query.len,
                                              q->max_coefficient, 10000);
    if (!ledger_client_reserve(a, to_reserve)) {
        proxy_chain_credit_short(r->p, a);
        snprintf(why, why_size,
                 "client balance is too low: to_reserve=%lld tokens_payed=%lld tokens_used=%lld "
                 "tokens_reserved=%lld tokens_stake=%lld",
                 (long long)to_reserve, (long long)a->sc_tokens_payed, (long long)a->pay.max,
                 (long long)a->reserved, (long long)a->sc_tokens_stake);
        return NET_ERR_ERROR;
    }
    /* Charged before it runs out, not after (proxy_chain_credit_short). */
    if (ledger_client_available(a) < a->sc_tokens_stake / 2) proxy_chain_credit_short(r->p, a);
    r->acct = a;
    r->reserved = to_reserve;
    a->running++;
    a->last_request_at = (int32_t)cc_now_wall();
    return 0;
}

int64_t proxy_money_bill(preq *r, int64_t claimed)
{
    if (!r->acct || !r->worker) return 0;
    ledger_worker *wa = proxy_money_worker(r->worker);
    int64_t billed = claimed > 0 ? claimed : 0;
    /* COCOON bills whatever the worker claims; a worker cannot have earned
     * more than the client's reservation allowed, so we cap and log it. */
    if (billed > r->reserved) {
        r->p->stats.over_claims++;
        CC_WARN("event=worker_over_claim worker=%llu owner=%s claimed=%lld reserved=%lld",
                (unsigned long long)r->worker->rw.id, r->worker->owner_address, (long long)claimed,
                (long long)r->reserved);
        billed = r->reserved;
    }
    ledger_client_deduct(r->acct, billed);
    if (wa) {
        ledger_worker_add(wa, billed);
        wa->last_request_at = (int32_t)cc_now_wall();
    }
    proxy_money_release(r);
    return billed;
}

void proxy_money_release(preq *r)
{
    if (!r->acct) return;
    ledger_client_release(r->acct, r->reserved);
    if (r->acct->running > 0) r->acct->running--;
    r->reserved = 0;
    r->acct = NULL;
}

void proxy_money_attach_worker(preq *r, pworker *w)
{
    r->wacct = proxy_money_worker(w);
    if (r->wacct) r->wacct->running++;
}

void proxy_money_detach_worker(preq *r)
{
    if (r->wacct && r->wacct->running > 0) r->wacct->running--;
    r->wacct = NULL;
}

/* ---------------------------------------------------------------- stats */

void proxy_money_json(proxy *p, json_t *o)
{
    json_t *m = json_object();
    json_object_set_new(m, "seqno", json_integer(ledger_last_seqno(p->ledger)));
    json_object_set_new(m, "commits", json_integer((json_int_t)p->stats.ledger_commits));
    json_object_set_new(m, "commit_failures",
                        json_integer((json_int_t)p->stats.ledger_commit_failures));
    json_object_set_new(m, "price_per_token", json_integer(p->price_per_token));
    json_object_set_new(m, "refused_balance", json_integer((json_int_t)p->stats.refused_balance));
    json_object_set_new(m, "over_claims", json_integer((json_int_t)p->stats.over_claims));
    const char *behind = ledger_behind_chain(p->ledger);
    if (behind) json_object_set_new(m, "behind_chain", json_string(behind));
    /* Sums as scalars too: /metrics shows numbers, not the rows' arrays. */
    int64_t used = 0, reserved = 0, committed = 0, earned = 0;
    json_t *cs = json_array();
    for (size_t i = 0; i < ledger_n_clients(p->ledger); i++) {
        const ledger_client *c = ledger_client_at(p->ledger, i);
        used += c->pay.max;
        reserved += c->reserved;
        committed += ledger_payments_committed_db(&c->pay);
        json_t *e = json_object();
        json_object_set_new(e, "owner", json_string(c->owner));
        json_object_set_new(e, "tokens_used", json_integer(c->pay.max));
        json_object_set_new(e, "reserved", json_integer(c->reserved));
        json_object_set_new(e, "available", json_integer(ledger_client_available(c)));
        json_object_set_new(e, "committed_db", json_integer(ledger_payments_committed_db(&c->pay)));
        json_object_set_new(e, "committed_chain", json_integer(c->pay.committed_chain));
        json_object_set_new(e, "voucher", json_boolean(c->pay.voucher != NULL));
        json_object_set_new(e, "sc_address", json_string(c->sc_address));
        json_object_set_new(e, "running", json_integer(c->running));
        static const char *const states[] = {"open", "closing", "closed", "unknown"};
        json_object_set_new(e, "state", json_string(states[c->sc_status < 3 ? c->sc_status : 3]));
        if (c->refused) json_object_set_new(e, "refused", json_string(c->refused_why));
        json_array_append_new(cs, e);
    }
    json_object_set_new(m, "clients", cs);
    json_t *ws = json_array();
    for (size_t i = 0; i < ledger_n_workers(p->ledger); i++) {
        const ledger_worker *w = ledger_worker_at(p->ledger, i);
        earned += w->pay.max;
        json_t *e = json_object();
        json_object_set_new(e, "owner", json_string(w->owner));
        json_object_set_new(e, "tokens", json_integer(w->pay.max));
        json_object_set_new(e, "committed_db", json_integer(ledger_payments_committed_db(&w->pay)));
        json_object_set_new(e, "committed_chain", json_integer(w->pay.committed_chain));
        json_object_set_new(e, "voucher", json_boolean(w->pay.voucher != NULL));
        json_object_set_new(e, "sc_address", json_string(w->sc_address));
        json_object_set_new(e, "running", json_integer(w->running));
        if (w->refused) json_object_set_new(e, "refused", json_string(w->refused_why));
        json_array_append_new(ws, e);
    }
    json_object_set_new(m, "workers", ws);
    json_object_set_new(m, "clients_tokens_used", json_integer(used));
    json_object_set_new(m, "clients_reserved", json_integer(reserved));
    json_object_set_new(m, "clients_committed_db", json_integer(committed));
    json_object_set_new(m, "workers_tokens", json_integer(earned));
    json_object_set_new(o, "ledger", m);
}
