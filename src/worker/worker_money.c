/* Money on the worker: the token counts it reports are COCOON's adjusted
 * counts (runners/helpers/CountTokens.cpp: prompt − cached, completion −
 * reasoning, each × coefficient/1000 × the root's category multiplier/10000),
 * and /jsonstats shows what it served, earned and was last told by the proxy
 * (proxy.workerRequestPayment). */
#include <stdlib.h>
#include <string.h>

#include "worker/worker_internal.h"

void worker_count_tokens(const backend_usage *u, int32_t coefficient, const ledger_multipliers *m,
                         ledger_tokens *out)
{
    ledger_usage raw = {.prompt = u->prompt_tokens,
                        .cached = u->cached_tokens,
                        .completion = u->completion_tokens,
                        .reasoning = u->reasoning_tokens};
    ledger_adjust_usage(&raw, coefficient, m, out);
}

/* The registry's multipliers when the worker has one; 1.0 (10000) each
 * otherwise, as a root contract without them would. */
void worker_multipliers(const worker *w, ledger_multipliers *m)
{
    const registry *reg = w->tee.proxy_registry;
    if (!reg) {
        *m = (ledger_multipliers){10000, 10000, 10000, 10000};
        return;
    }
    const registry_params *p = registry_get_params(reg);
    *m = (ledger_multipliers){(int32_t)p->prompt_multiplier, (int32_t)p->cached_multiplier,
                              (int32_t)p->completion_multiplier, (int32_t)p->reasoning_multiplier};
}

int64_t worker_fee_per_token(const worker *w)
{
    const registry *reg = w->tee.proxy_registry;
    return reg ? registry_get_params(reg)->worker_fee_per_token : 0;
}

static wpay *pay_of(worker *w, const wlink *l);

void worker_money_on_payment(worker *w, const wlink *l, const tl_proxy_workerRequestPayment *m)
{
    w->money.payments++;
    w->money.last_db_tokens = m->db_tokens;
    w->money.last_max_tokens = m->max_tokens;
    w->money.last_request_tokens = m->request_tokens;
    size_t n = CC_MIN(m->request_client_owner.len, sizeof(w->money.last_client) - 1);
    memcpy(w->money.last_client, m->request_client_owner.data, n);
    w->money.last_client[n] = 0;
    if (w->pay) {
        /* Per proxy, totals only grow (COCOON's update_tokens_max_known). */
        wpay *pay = pay_of(w, l);
        worker_money_on_db_tokens(w, l, m->db_tokens);
        if (m->max_tokens > pay->max_tokens) pay->max_tokens = m->max_tokens;
        worker_money_on_signed(w, l, m->signed_payment);
    }
    CC_DEBUG("event=payment proxy=%s request_tokens=%lld db_tokens=%lld max_tokens=%lld", l->addr,
             (long long)m->request_tokens, (long long)m->db_tokens, (long long)m->max_tokens);
}

void worker_money_json(const worker *w, json_t *o)
{
    ledger_multipliers m;
    worker_multipliers(w, &m);
    int64_t fee = worker_fee_per_token(w);
    json_t *p = json_object();
    json_object_set_new(p, "tokens_served", json_integer(w->money.tokens_served));
    json_object_set_new(p, "nano_earned", json_integer(w->money.tokens_served * fee));
    /* Paid: what our contracts have paid on chain, plus what the proxies'
     * latest signed payments cover beyond that (ours to claim). Without a
     * chain the first is 0 and the second the vouchers' totals. */
    int64_t chain_paid = 0, voucher_extra = 0;
    json_t *ps = json_array();
    for (size_t i = 0; i < w->n_pay && w->pay; i++) {
        const wpay *pay = &w->pay[i];
        json_t *e = json_object();
        json_object_set_new(e, "address", json_string(i < w->links.n ? w->links.at[i].addr : ""));
        json_object_set_new(e, "db_tokens", json_integer(pay->db_tokens));
        json_object_set_new(e, "max_tokens", json_integer(pay->max_tokens));
        json_object_set_new(e, "paid_tokens", json_integer(pay->paid_tokens));
        json_object_set_new(e, "debt_nano",
                            json_integer(CC_MAX(pay->max_tokens - pay->paid_tokens, 0) * fee));
        json_object_set_new(e, "refused_for_debt", json_integer((json_int_t)pay->refused));
        json_object_set_new(e, "rolled_back",
                            pay->rollback_why[0] ? json_string(pay->rollback_why)
                            : pay->db_why[0]     ? json_string(pay->db_why)
                                                 : json_null());
        json_object_set_new(e, "rollbacks", json_integer((json_int_t)pay->rollbacks));
        json_object_set_new(e, "refused_for_rollback",
                            json_integer((json_int_t)pay->refused_rollback));
        if (pay->init) {
            /* On chain (worker_payout.c): our contract for this proxy, what
             * it has paid, and what the kept voucher covers beyond that. */
            char raw[80];
            ton_addr_to_raw(&pay->sc_address, raw, sizeof(raw));
            json_object_set_new(e, "contract", json_string(raw));
            ton_addr_to_raw(&pay->proxy_sc, raw, sizeof(raw));
            json_object_set_new(e, "proxy_contract", json_string(raw));
            json_object_set_new(e, "deployed", json_boolean(pay->deployed));
            json_object_set_new(e, "tokens_paid_on_chain", json_integer(pay->chain_tokens));
            json_object_set_new(e, "claims", json_integer((json_int_t)pay->claims));
            json_object_set_new(e, "claim_failures", json_integer((json_int_t)pay->claim_failures));
            json_object_set_new(e, "claim_pending", json_boolean(pay->claim_pending));
            json_object_set_new(e, "chain_reads", json_integer((json_int_t)pay->reads));
            json_object_set_new(e, "chain_error", json_string(pay->chain_error));
        }
        chain_paid += pay->chain_tokens;
        voucher_extra += CC_MAX(pay->paid_tokens - pay->chain_tokens, 0);
        if (pay->voucher) {
            /* The signed payout its owner sends with `cocoon worker payout`. */
            char *hex = cc_hex_encode_alloc(pay->voucher, pay->voucher_len);
            json_object_set_new(e, "voucher", json_string(hex));
            free(hex);
        }
        json_array_append_new(ps, e);
    }
    json_object_set_new(p, "nano_paid", json_integer((chain_paid + voucher_extra) * fee));
    json_object_set_new(p, "nano_paid_on_chain", json_integer(chain_paid * fee));
    json_object_set_new(p, "nano_claimable", json_integer(voucher_extra * fee));
    if (w->payout.wallet) json_object_set_new(p, "wallet", daemon_wallet_json(w->payout.wallet));
    json_object_set_new(p, "payout_threshold_nano", json_integer(w->payout.threshold));
    json_object_set_new(p, "max_proxy_debt_nano", json_integer(w->max_proxy_debt));
    json_object_set_new(p, "proxies", ps);
    json_object_set_new(p, "fee_per_token", json_integer(fee));
    json_object_set_new(p, "multipliers",
                        json_pack("{s:i,s:i,s:i,s:i}", "prompt", m.prompt, "cached", m.cached,
                                  "completion", m.completion, "reasoning", m.reasoning));
    json_t *last = json_object();
    json_object_set_new(last, "count", json_integer((json_int_t)w->money.payments));
    json_object_set_new(last, "db_tokens", json_integer(w->money.last_db_tokens));
    json_object_set_new(last, "max_tokens", json_integer(w->money.last_max_tokens));
    json_object_set_new(last, "request_tokens", json_integer(w->money.last_request_tokens));
    json_object_set_new(last, "client", json_string(w->money.last_client));
    json_object_set_new(p, "last_payment", last);
    json_object_set_new(o, "payments", p);
}

/* ------------------------------------------------------ signed payments */

static wpay *pay_of(worker *w, const wlink *l)
{
    return &w->pay[daemon_links_index(&w->links, l)];
}

bool worker_money_on_signed(worker *w, const wlink *l, const tl_obj *sp)
{
    if (!sp || sp->id != TL_ID_proxy_signedPayment) return true; /* signedPaymentEmpty */
    wpay *pay = pay_of(w, l);
    const tl_bytes *data = &((const tl_proxy_signedPayment *)sp)->data;
    /* The proxy sends its current voucher with every request and payment
     * until its next save_state: the bytes we already checked and keep need
     * no second signature check (an Ed25519 verification per request was
     * most of the worker's CPU per request once vouchers flowed). */
    if (pay->voucher && data->len == pay->voucher_len &&
        memcmp(data->data, pay->voucher, data->len) == 0) {
        pay->rollback_why[0] = 0; /* it signs what we hold again */
        return true;
    }
    cc_err err = {0};
    ton_voucher v;
    ton_cell *c = NULL;
    if (!pay->has_pub)
        cc_err_set(&err, "no proxy key yet");
    else if (!(c = ton_boc_parse(data->data, data->len, &err)))
        cc_err_prefix(&err, "not a BoC");
    else if (ton_voucher_verify(c, pay->proxy_pub, &v, &err) < 0)
        ;
    else if (v.is_close ||
             (v.op != TON_OP_WORKER_PAYOUT_SIGNED && v.op != TON_OP_WORKER_LAST_PAYOUT_SIGNED))
        cc_err_set(&err, "op 0x%08x is not a worker payout", v.op);
    else if (pay->has_sc && !ton_addr_equal(&v.target, &pay->sc_address))
        cc_err_set(&err, "it pays another contract");
    else if (v.tokens > (uint64_t)INT64_MAX)
        cc_err_set(&err, "token total out of range");
    ton_cell_unref(c);
    if (err.msg[0]) {
        CC_WARN("event=bad_signed_payment proxy=%s error=\"%s\"", l->addr, err.msg);
        return true;
    }
    /* Cumulative: only a higher total replaces the one we keep (COCOON's
     * WorkerProxyInfo::update_payment_info). A lower one, signed with the
     * proxy's own key, proves its ledger lost what it had already signed:
     * COCOON's worker drops the connection ("tokens_committed_to_blockchain
     * is too low"); ours says why and refuses its requests until it signs at
     * least what we hold again. */
    if ((int64_t)v.tokens < pay->paid_tokens) {
        if (!pay->rollback_why[0]) {
            pay->rollbacks++;
            CC_ERROR("event=proxy_rolled_back proxy=%s signed_tokens=%lld kept_tokens=%lld",
                     l->addr, (long long)v.tokens, (long long)pay->paid_tokens);
        }
        snprintf(pay->rollback_why, sizeof(pay->rollback_why),
                 "tokens_committed_to_blockchain is too low: the proxy signed a payment for %lld "
                 "tokens, we hold one for %lld (its ledger was rolled back)",
                 (long long)v.tokens, (long long)pay->paid_tokens);
        return false;
    }
    if (pay->rollback_why[0])
        CC_WARN("event=proxy_caught_up proxy=%s tokens=%lld", l->addr, (long long)v.tokens);
    pay->rollback_why[0] = 0;
    if ((int64_t)v.tokens == pay->paid_tokens) return true;
    pay->paid_tokens = (int64_t)v.tokens;
    free(pay->voucher);
    pay->voucher = cc_malloc(data->len + 1);
    memcpy(pay->voucher, data->data, data->len);
    pay->voucher_len = data->len;
    CC_INFO("event=signed_payment proxy=%s tokens=%lld", l->addr, (long long)pay->paid_tokens);
    worker_paystore_save(w);
    return true;
}

/* COCOON's WorkerProxyInfo::update_tokens_committed_to_proxy_db: the
 * total only grows, and a lower report means the proxy's database lost
 * commits it had told us about (WorkerProxyConnection.cpp fails the
 * handshake, WorkerRunner.cpp closes the connection on a payment). The
 * proxy's ledger commits are durable, so this never happens to a proxy
 * that only crashed; we refuse its requests with the reason until it
 * reports at least what it did, as for a lower signed payment. */
bool worker_money_on_db_tokens(worker *w, const wlink *l, int64_t db_tokens)
{
    wpay *pay = pay_of(w, l);
    if (db_tokens < pay->db_tokens) {
        if (!pay->db_why[0]) {
            pay->rollbacks++;
            CC_ERROR("event=proxy_db_rolled_back proxy=%s db_tokens=%lld kept_db_tokens=%lld",
                     l->addr, (long long)db_tokens, (long long)pay->db_tokens);
        }
        snprintf(pay->db_why, sizeof(pay->db_why),
                 "tokens_committed_to_db is too low: the proxy reports %lld tokens committed "
                 "for us, it reported %lld before (its ledger was rolled back)",
                 (long long)db_tokens, (long long)pay->db_tokens);
        return false;
    }
    if (pay->db_why[0])
        CC_WARN("event=proxy_db_caught_up proxy=%s db_tokens=%lld", l->addr, (long long)db_tokens);
    pay->db_why[0] = 0;
    if (db_tokens > pay->db_tokens) {
        pay->db_tokens = db_tokens;
        if (db_tokens > pay->max_tokens) pay->max_tokens = db_tokens;
    }
    return true;
}

int64_t worker_money_debt(const worker *w, const wlink *l)
{
    const wpay *pay = &w->pay[daemon_links_index(&w->links, l)];
    int64_t owed = pay->max_tokens - pay->paid_tokens;
    return owed > 0 ? owed * worker_fee_per_token(w) : 0;
}

bool worker_money_admits(worker *w, const wlink *l, char *why, size_t why_size)
{
    wpay *pay = pay_of(w, l);
    if (pay->rollback_why[0] || pay->db_why[0]) {
        pay->refused_rollback++;
        snprintf(why, why_size, "%s", pay->rollback_why[0] ? pay->rollback_why : pay->db_why);
        return false;
    }
    if (w->max_proxy_debt <= 0) return true;
    int64_t debt = worker_money_debt(w, l);
    if (debt <= w->max_proxy_debt) return true;
    pay_of(w, l)->refused++;
    snprintf(why, why_size, "proxy owes too much: debt=%lld nanoTON, limit=%lld nanoTON",
             (long long)debt, (long long)w->max_proxy_debt);
    CC_WARN("event=proxy_debt_refused proxy=%s debt=%lld limit=%lld", l->addr, (long long)debt,
            (long long)w->max_proxy_debt);
    return false;
}

void worker_money_free(worker *w)
{
    if (!w->pay) return;
    for (size_t i = 0; i < w->n_pay; i++) {
        free(w->pay[i].voucher);
        free(w->pay[i].name);
    }
    free(w->pay);
    w->pay = NULL;
}
