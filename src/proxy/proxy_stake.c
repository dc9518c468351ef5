/* The proxy contract's own money: its stake and its earned share
 * (proxy_internal.h, "proxy_stake.c").
 *
 * The proxy contract keeps `balance`, the proxy's earned share (the
 * proxy_part of every worker payout: tokens × (price − fee)), and `stake`,
 * the owner's deposit that pays a client's forced refund when the proxy did
 * not grant it in time (contracts/SPEC.md §4). COCOON's proxy
 * (runners/proxy/ProxyRunner.cpp: run_withdraw, http_withdraw, and the check
 * after every root read) sends ext_proxy_payout_request through its wallet
 * with 0.2 TON once the earned share reaches min_withdraw_amount (10 TON),
 * or at once from its stats page's /request/withdraw; the contract pays the
 * whole share to the owner. We do the same, reading get_proxy_data with
 * every read of the contract. COCOON's proxy has no stake top-up of its own
 * (the owner sends ext_proxy_increase_stake by hand); ours offers it as
 * /request/topup too, so an operator tops the stake up from the same page.
 *
 * One withdrawal and one top-up are in flight at most; each is over when a
 * read of the contract started after the wallet confirmed it comes back, so
 * a read that raced the payout cannot start a second one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_internal.h"

#define WITHDRAW_VALUE 200000000ull /* 0.2 TON, COCOON's run_withdraw */
#define TOPUP_GAS 200000000ull      /* with a top-up; the contract needs 0.02 */

struct proxy_stake {
    ton_api *api;          /* the chain's (proxy_chain.c owns it) */
    daemon_wallet *wallet; /* idem; never NULL here */
    ton_addr contract;
    char contract_raw[80];
    int64_t min_withdraw;
    uint64_t min_stake; /* the root's min_proxy_stake, from the params at start */
    ton_api_op *op;     /* get_proxy_data in flight */
    uint64_t reads_started, settle_after;
    /* The contract's figures at the last read. */
    bool known;
    ton_proxy_state st;
    /* withdrawing / topping_up: sent and not yet seen settled on chain;
     * *_sent: the wallet has not confirmed yet. */
    bool withdrawing, withdraw_sent, topping_up, topup_sent;
    uint64_t withdraws, withdraws_done, topups, topups_done, failures, read_errors;
    uint64_t withdrawn_nano, topped_up_nano; /* what was asked for, this run */
    char last_error[256];
};

static void read_now(proxy_stake *s);

static void settle(proxy_stake *s)
{
    /* Only a read started after the confirmation shows the contract after it. */
    if (s->reads_started <= s->settle_after) return;
    if (!s->withdraw_sent) s->withdrawing = false;
    if (!s->topup_sent) s->topping_up = false;
}

static void on_state(void *ud, json_t *result, const cc_err *rerr)
{
    proxy_stake *s = ud;
    s->op = NULL;
    cc_err err = {0};
    ton_proxy_state ps;
    if (!result)
        err = *rerr;
    else if (ton_proxy_state_from_result(result, &ps, &err) == 0) {
        s->known = true;
        s->st = ps;
    }
    if (err.msg[0]) {
        s->read_errors++;
        snprintf(s->last_error, sizeof s->last_error, "%.200s", err.msg);
        CC_WARN("event=proxy_stake_read_failed contract=%s error=\"%s\"", s->contract_raw, err.msg);
        return;
    }
    settle(s);
    /* COCOON's check after each root read: the share is withdrawn once it
     * is worth min_withdraw_amount. */
    if (!s->withdrawing && s->min_withdraw > 0 && s->st.state != 2 &&
        s->st.balance >= (uint64_t)s->min_withdraw) {
        char why[64];
        proxy_stake_withdraw(s, why, sizeof why);
    }
}

static void read_now(proxy_stake *s)
{
    if (s->op) ton_api_cancel(s->op);
    json_t *body = json_pack("{s:s,s:s,s:[]}", "address", s->contract_raw, "method",
                             "get_proxy_data", "stack");
    cc_err err = {0};
    s->op = ton_api_call_async(s->api, "runGetMethod", NULL, body, on_state, s, &err);
    json_decref(body);
    if (s->op) s->reads_started++;
}

void proxy_stake_refresh(proxy_stake *s)
{
    if (s && !s->op) read_now(s);
}

static void on_sent(proxy_stake *s, bool withdraw, bool sent, const char *error)
{
    if (withdraw) {
        s->withdraw_sent = false;
        if (sent) s->withdraws_done++;
    } else {
        s->topup_sent = false;
        if (sent) s->topups_done++;
    }
    if (!sent) {
        s->failures++;
        snprintf(s->last_error, sizeof s->last_error, "%s: %.200s", withdraw ? "withdraw" : "topup",
                 error);
    }
    CC_INFO("event=proxy_%s_%s contract=%s%s%s", withdraw ? "withdraw" : "topup",
            sent ? "done" : "failed", s->contract_raw, sent ? "" : " error=", sent ? "" : error);
    /* Confirmed (or given up): the next read decides what the contract holds. */
    s->settle_after = s->reads_started;
    read_now(s);
}

static void on_withdraw_sent(void *ud, bool sent, const char *error)
{
    on_sent(ud, true, sent, error);
}

static void on_topup_sent(void *ud, bool sent, const char *error)
{
    on_sent(ud, false, sent, error);
}

static int send_body(proxy_stake *s, ton_cell *body, uint64_t value, bool withdraw, cc_err *err)
{
    if (!body) return -1;
    ton_int_msg m = {.dest = s->contract, .value = value, .bounce = true, .body = body};
    int rc = daemon_wallet_send(s->wallet, &m, withdraw ? on_withdraw_sent : on_topup_sent, s, err);
    ton_cell_unref(body);
    return rc;
}

int proxy_stake_withdraw(proxy_stake *s, char *why, size_t n)
{
    if (!s) return snprintf(why, n, "proxy is disabled"), -1;
    if (!s->known) return snprintf(why, n, "contract not read yet"), -1;
    if (s->withdrawing) return snprintf(why, n, "withdraw already running"), -1;
    if (s->st.balance == 0) return snprintf(why, n, "nothing to withdraw"), -1;
    cc_err err = {0};
    /* Anyone may ask; the contract pays the share to its owner, and the rest
     * of the 0.2 TON comes back to our wallet (excess_to). */
    ton_cell *body = ton_body_addr(TON_OP_PROXY_PAYOUT_REQUEST, (uint64_t)cc_now_wall(),
                                   daemon_wallet_address(s->wallet), &err);
    if (send_body(s, body, WITHDRAW_VALUE, true, &err) < 0)
        return snprintf(why, n, "%s", err.msg), -1;
    s->withdrawing = s->withdraw_sent = true;
    s->withdraws++;
    s->withdrawn_nano += s->st.balance;
    CC_INFO("event=proxy_withdraw contract=%s earned=%llu", s->contract_raw,
            (unsigned long long)s->st.balance);
    snprintf(why, n, "request sent");
    return 0;
}

int proxy_stake_topup(proxy_stake *s, uint64_t amount, char *why, size_t n)
{
    if (!s) return snprintf(why, n, "proxy is disabled"), -1;
    if (!s->known) return snprintf(why, n, "contract not read yet"), -1;
    if (s->topping_up) return snprintf(why, n, "topup already running"), -1;
    if (s->st.state == 2) return snprintf(why, n, "contract is closed"), -1;
    if (amount == 0) /* what the stake lacks below the root's minimum */
        amount = s->min_stake > s->st.stake ? s->min_stake - s->st.stake : 0;
    if (amount == 0) return snprintf(why, n, "nothing to top up"), -1;
    if (amount > UINT64_MAX / 4) return snprintf(why, n, "amount too large"), -1;
    cc_err err = {0};
    ton_cell *body = ton_body_coins_addr(TON_OP_PROXY_INCREASE_STAKE, (uint64_t)cc_now_wall(),
                                         amount, daemon_wallet_address(s->wallet), &err);
    if (send_body(s, body, amount + TOPUP_GAS, false, &err) < 0)
        return snprintf(why, n, "%s", err.msg), -1;
    s->topping_up = s->topup_sent = true;
    s->topups++;
    s->topped_up_nano += amount;
    CC_INFO("event=proxy_topup contract=%s amount=%llu stake=%llu", s->contract_raw,
            (unsigned long long)amount, (unsigned long long)s->st.stake);
    snprintf(why, n, "request sent");
    return 0;
}

proxy_stake *proxy_stake_new(ton_api *api, daemon_wallet *wallet, const ton_addr *contract,
                             int64_t min_withdraw, uint64_t min_stake)
{
    proxy_stake *s = cc_calloc(1, sizeof *s);
    s->api = api;
    s->wallet = wallet;
    s->contract = *contract;
    ton_addr_to_raw(contract, s->contract_raw, sizeof s->contract_raw);
    s->min_withdraw = min_withdraw;
    s->min_stake = min_stake;
    return s;
}

void proxy_stake_free(proxy_stake *s)
{
    if (!s) return;
    if (s->op) ton_api_cancel(s->op);
    free(s);
}

json_t *proxy_stake_json(const proxy_stake *s)
{
    if (!s) return json_null();
    return json_pack(
        "{s:b,s:I,s:I,s:I,s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "known", s->known,
        "earned_nano", (json_int_t)s->st.balance, "stake_nano", (json_int_t)s->st.stake,
        "min_withdraw_nano", (json_int_t)s->min_withdraw, "withdrawing", s->withdrawing,
        "topping_up", s->topping_up, "withdraws", (json_int_t)s->withdraws, "withdraws_done",
        (json_int_t)s->withdraws_done, "withdrawn_nano", (json_int_t)s->withdrawn_nano, "topups",
        (json_int_t)s->topups, "topups_done", (json_int_t)s->topups_done, "topped_up_nano",
        (json_int_t)s->topped_up_nano, "failures", (json_int_t)s->failures, "read_errors",
        (json_int_t)s->read_errors, "last_error", s->last_error);
}
