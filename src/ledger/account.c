/* Account rules: COCOON's ProxyClientInfo, ProxyWorkerInfo and
 * ProxySignedPayments (runners/proxy/), as plain functions over structs. */
#include "ledger/ledger_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------- signed payments ---- */

int64_t ledger_payments_committed_db(const ledger_payments *p)
{
    return p->n_pending ? p->pending[p->n_pending - 1].tokens : p->committed_chain;
}

void ledger__payments_commit_db(ledger_payments *p, int32_t seqno)
{
    if (p->max <= ledger_payments_committed_db(p)) return;
    if (p->n_pending == p->cap_pending) {
        p->cap_pending = p->cap_pending ? p->cap_pending * 2 : 4;
        p->pending = cc_realloc(p->pending, p->cap_pending * sizeof(*p->pending));
    }
    p->pending[p->n_pending++] = (ledger_seqno_tokens){seqno, p->max};
}

void ledger__payments_commit_chain(ledger_payments *p, int32_t seqno)
{
    int64_t tokens = p->committed_chain;
    size_t k = 0;
    while (k < p->n_pending && p->pending[k].seqno <= seqno)
        tokens = p->pending[k++].tokens;
    /* An account with no pending commit has no array at all (memmove of NULL
     * is undefined even for 0 bytes). */
    if (k > 0) memmove(p->pending, p->pending + k, (p->n_pending - k) * sizeof(*p->pending));
    p->n_pending -= k;
    if (tokens > p->committed_chain) {
        p->committed_chain = tokens;
        /* The old voucher is for a smaller total; the next one is signed anew. */
        free(p->voucher);
        p->voucher = NULL;
        p->voucher_len = 0;
    }
}

void ledger__payments_free(ledger_payments *p)
{
    free(p->pending);
    free(p->voucher);
    memset(p, 0, sizeof(*p));
}

static int set_voucher(ledger_payments *p, int64_t tokens, const uint8_t *boc, size_t len,
                       cc_err *err)
{
    if (tokens != p->committed_chain)
        return cc_err_set(err, "voucher for %lld tokens, but %lld are committed to the chain",
                          (long long)tokens, (long long)p->committed_chain);
    free(p->voucher);
    p->voucher = cc_malloc(len ? len : 1);
    memcpy(p->voucher, boc, len);
    p->voucher_len = len;
    return 0;
}

static void refuse(bool *refused, char *why, size_t why_size, const char *fmt, long long a,
                   long long b)
{
    if (*refused) return;
    *refused = true;
    snprintf(why, why_size, fmt, a, b);
    CC_ERROR("event=ledger_account_refused reason=\"%s\"", why);
}

/* -------------------------------------------------------------- clients ---- */

int64_t ledger_client_available(const ledger_client *c)
{
    int64_t by_balance = c->sc_tokens_payed;
    int64_t by_stake = c->sc_tokens_stake + c->sc_tokens_used;
    int64_t max_allowed = by_balance < by_stake ? by_balance : by_stake;
    return max_allowed - c->reserved - c->pay.max;
}

bool ledger_client_allows_queries(const ledger_client *c)
{
    return c->sc_status == LEDGER_SC_OPEN && !c->refused;
}

bool ledger_client_reserve(ledger_client *c, int64_t tokens)
{
    if (tokens < 0 || tokens > ledger_client_available(c)) return false;
    c->reserved += tokens;
    return true;
}

void ledger_client_release(ledger_client *c, int64_t tokens)
{
    c->reserved -= tokens;
    if (c->reserved < 0) c->reserved = 0; /* a release never makes credit out of nothing */
}

void ledger_client_deduct(ledger_client *c, int64_t tokens)
{
    if (tokens <= 0) return;
    c->pay.max += tokens;
    c->dirty = true;
}

int64_t ledger_client_ready_to_charge(const ledger_client *c)
{
    int64_t d = c->pay.committed_chain - c->exp_sc_tokens_used;
    return d > 0 ? d : 0;
}

static void client_update_balance(ledger_client *c, int64_t balance, int64_t tokens_used,
                                  int64_t price_per_token)
{
    c->sc_balance = balance;
    c->sc_tokens_payed = ledger_safe_div(balance, price_per_token) + tokens_used;
    c->sc_tokens_used = tokens_used;
    if (c->exp_sc_tokens_used < tokens_used) c->exp_sc_tokens_used = tokens_used;
}

void ledger_client_update_state(ledger_client *c, uint32_t status, int64_t balance, int64_t stake,
                                int64_t tokens_used, int64_t price_per_token,
                                const uint8_t secret_hash[32])
{
    if (tokens_used < c->sc_tokens_used) return; /* an older state than one we have seen */
    if (tokens_used > c->pay.max)
        refuse(&c->refused, c->refused_why, sizeof(c->refused_why),
               "the client contract has been charged %lld tokens, the ledger knows only %lld: "
               "the ledger was rolled back",
               (long long)tokens_used, (long long)c->pay.max);
    c->sc_status = status;
    client_update_balance(c, balance, tokens_used, price_per_token);
    c->sc_stake = stake;
    c->sc_tokens_stake = ledger_safe_div(stake, price_per_token);
    if (secret_hash) memcpy(c->secret_hash, secret_hash, 32);
    c->dirty = true;
}

void ledger_client_charge_sent(ledger_client *c, int64_t tokens, bool close)
{
    c->charging_now = true;
    c->exp_sc_tokens_used = tokens;
    if (close) c->exp_sc_closed = true;
}

void ledger_client_charge_done(ledger_client *c)
{
    c->charging_now = false;
}

/* One rule for both kinds of account: a peer holding a payment for more than
 * the ledger ever recorded proves the ledger lost state. */
static bool peer_total_ok(const char *who, int64_t known, int64_t tokens, bool *refused, char *why,
                          size_t why_size)
{
    if (tokens <= known) return true;
    char fmt[160];
    snprintf(fmt, sizeof(fmt),
             "the %s holds a payment for %%lld tokens, the ledger knows only %%lld: the ledger "
             "was rolled back",
             who);
    refuse(refused, why, why_size, fmt, (long long)tokens, (long long)known);
    return false;
}

bool ledger_client_check_peer_total(ledger_client *c, int64_t tokens)
{
    return peer_total_ok("client", c->pay.max, tokens, &c->refused, c->refused_why,
                         sizeof(c->refused_why));
}

int ledger_client_set_voucher(ledger_client *c, int64_t tokens, const uint8_t *boc, size_t len,
                              cc_err *err)
{
    return set_voucher(&c->pay, tokens, boc, len, err);
}

/* -------------------------------------------------------------- workers ---- */

void ledger_worker_add(ledger_worker *w, int64_t tokens)
{
    if (tokens <= 0) return;
    w->pay.max += tokens;
    w->dirty = true;
}

int64_t ledger_worker_ready_to_pay(const ledger_worker *w)
{
    int64_t d = w->pay.committed_chain - w->exp_sc_tokens;
    return d > 0 ? d : 0;
}

void ledger_worker_update_paid(ledger_worker *w, int64_t tokens)
{
    if (tokens <= w->sc_tokens) return;
    if (tokens > w->pay.max)
        refuse(&w->refused, w->refused_why, sizeof(w->refused_why),
               "the worker contract has been paid for %lld tokens, the ledger knows only %lld: "
               "the ledger was rolled back",
               (long long)tokens, (long long)w->pay.max);
    w->sc_tokens = tokens;
    if (w->exp_sc_tokens < tokens) w->exp_sc_tokens = tokens;
    w->dirty = true;
}

void ledger_worker_payout_sent(ledger_worker *w, int64_t tokens)
{
    w->paying_now = true;
    w->exp_sc_tokens = tokens;
}

void ledger_worker_payout_done(ledger_worker *w)
{
    w->paying_now = false;
}

bool ledger_worker_check_peer_total(ledger_worker *w, int64_t tokens)
{
    return peer_total_ok("worker", w->pay.max, tokens, &w->refused, w->refused_why,
                         sizeof(w->refused_why));
}

int ledger_worker_set_voucher(ledger_worker *w, int64_t tokens, const uint8_t *boc, size_t len,
                              cc_err *err)
{
    return set_voucher(&w->pay, tokens, boc, len, err);
}
