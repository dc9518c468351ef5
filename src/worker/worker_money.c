/* Money on the worker: the token counts it reports are COCOON's adjusted
 * counts (runners/helpers/CountTokens.cpp: prompt − cached, completion −
 * reasoning, each × coefficient/1000 × the root's category multiplier/10000),
 * and /jsonstats shows what it served, earned and was last told by the proxy
 * (proxy.workerRequestPayment). */
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

static int64_t fee_per_token(const worker *w)
{
    const registry *reg = w->tee.proxy_registry;
    return reg ? registry_get_params(reg)->worker_fee_per_token : 0;
}

void worker_money_on_payment(worker *w, const wlink *l, const tl_proxy_workerRequestPayment *m)
{
    w->money.payments++;
    w->money.last_db_tokens = m->db_tokens;
    w->money.last_max_tokens = m->max_tokens;
    w->money.last_request_tokens = m->request_tokens;
    size_t n = CC_MIN(m->request_client_owner.len, sizeof(w->money.last_client) - 1);
    memcpy(w->money.last_client, m->request_client_owner.data, n);
    w->money.last_client[n] = 0;
    CC_DEBUG("event=payment proxy=%s request_tokens=%lld db_tokens=%lld max_tokens=%lld", l->addr,
             (long long)m->request_tokens, (long long)m->db_tokens, (long long)m->max_tokens);
}

void worker_money_json(const worker *w, json_t *o)
{
    ledger_multipliers m;
    worker_multipliers(w, &m);
    int64_t fee = fee_per_token(w);
    json_t *p = json_object();
    json_object_set_new(p, "tokens_served", json_integer(w->money.tokens_served));
    json_object_set_new(p, "nano_earned", json_integer(w->money.tokens_served * fee));
    json_object_set_new(p, "nano_paid", json_integer(0)); /* no payouts without a chain */
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
