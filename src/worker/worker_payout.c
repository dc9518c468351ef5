/* The worker's payouts on chain (COCOON's WorkerRunner::proxy_request_payout
 * and /request/payout): with a chain and a wallet, the latest signed payout
 * voucher each proxy gave (worker_money.c keeps it) is sent to our worker
 * contract for that proxy, repacked with our wallet as excess_to (COCOON's
 * repack_signed_pay_message), with 0.5 TON for gas; the first one carries the
 * contract's StateInit, so it also deploys the contract. The contract then
 * asks the proxy contract to pay the difference since the last payout.
 *
 * When: on /request/payout (COCOON's only trigger), and, ours, by itself
 * once what the kept voucher covers beyond what the contract has paid is
 * worth payout_threshold_nano (0: never by itself). After each sent payout,
 * and every few seconds, the contract is read (get_worker_data) so /jsonstats
 * shows what was actually paid on chain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/worker_internal.h"

#define PAYOUT_GAS_NANO 500000000ull /* COCOON's to_nano(0.5) */
#define READ_EVERY_S 2.0

static bool zero_addr(const ton_addr *a)
{
    static const uint8_t z[32];
    return a->wc == 0 && memcmp(a->hash, z, 32) == 0;
}

static void on_tick(evutil_socket_t fd, short what, void *ud);

static void arm(worker *w)
{
    struct timeval tv = cc_timeval(READ_EVERY_S);
    evtimer_add(w->payout.timer, &tv);
}

int worker_payout_open(worker *w, const worker_config *cfg, cc_err *err)
{
    w->payout.threshold = cfg->payout_threshold_nano;
    if (!w->tee.chain) return 0;
    w->payout.api =
        ton_api_new_on(w->base, daemon_chain_url(w->tee.chain), getenv("COCOON_TON_API_KEY"), err);
    if (!w->payout.api) return -1;
    ton_api_set_timeout(w->payout.api, 10);
    if (cfg->wallet_key_file) {
        daemon_wallet_key k;
        if (daemon_wallet_key_load(cfg->wallet_key_file, &k, err) < 0) return -1;
        w->payout.wallet =
            daemon_wallet_new(w->base, daemon_chain_url(w->tee.chain), &k, w->is_test, err);
        memset(&k, 0, sizeof(k));
        if (!w->payout.wallet) return -1;
        if (!*w->owner_address) {
            /* Our contracts are owned by our wallet (COCOON's worker owns
             * them through its wallet too): announce it as the owner. */
            char raw[80];
            ton_addr_to_raw(daemon_wallet_address(w->payout.wallet), raw, sizeof(raw));
            free(w->owner_address);
            w->owner_address = cc_strdup(raw);
        }
    }
    w->payout.timer = evtimer_new(w->base, on_tick, w);
    arm(w);
    return 0;
}

void worker_payout_free(worker *w)
{
    for (size_t i = 0; w->pay && i < w->n_pay; i++) {
        if (w->pay[i].op) ton_api_cancel(w->pay[i].op);
        ton_cell_unref(w->pay[i].init);
        w->pay[i].init = NULL;
    }
    if (w->payout.timer) event_free(w->payout.timer);
    if (w->payout.wallet) daemon_wallet_free(w->payout.wallet);
    ton_api_free(w->payout.api);
    memset(&w->payout, 0, sizeof(w->payout));
}

int worker_payout_on_connected(worker *w, wlink *l, const tl_worker_connectedToProxy *a, char *why,
                               size_t why_size)
{
    wpay *pay = &w->pay[daemon_links_index(&w->links, l)];
    const ton_root_params *p = w->payout.api ? daemon_chain_root_params(w->tee.chain) : NULL;
    if (!p || !*w->owner_address) return 0; /* free mode: the announced contract is kept */
    char *sc = tl_bytes_strdup(a->params.proxy_sc_address);
    char *owner = tl_bytes_strdup(a->params.proxy_owner_address);
    ton_addr proxy_sc, me;
    cc_err err = {0};
    char mismatch[200];
    /* COCOON's WorkerRunner::register_proxy: the announced contracts must be
     * the ones derived. */
    int rc = daemon_chain_proxy_contract(w->tee.chain, sc, owner, a->params.proxy_public_key.b,
                                         &proxy_sc, mismatch, sizeof(mismatch), &err);
    free(sc);
    free(owner);
    if (rc == 1) {
        snprintf(why, why_size, "PROXY SC ADDRESS IS UNEXPECTED: %s", mismatch);
        return -1;
    }
    ton_cell *winit = NULL;
    if (rc == 0 && ton_addr_parse(w->owner_address, &me, NULL, NULL, &err) == 0)
        winit = ton_worker_contract_init(&me, &proxy_sc, a->params.proxy_public_key.b, p, &err);
    if (!winit) {
        CC_WARN("event=worker_contract_unknown proxy=%s error=\"%s\"", l->addr, err.msg);
        return 0; /* serve anyway: the payouts wait for a proxy we can place */
    }
    ton_addr contract;
    ton_state_init_address(winit, 0, &contract);
    if (pay->has_sc && !zero_addr(&pay->sc_address) &&
        !ton_addr_equal(&pay->sc_address, &contract)) {
        char want[80], got[80];
        ton_addr_to_raw(&contract, want, sizeof(want));
        ton_addr_to_raw(&pay->sc_address, got, sizeof(got));
        snprintf(why, why_size, "WORKER SC ADDRESS IS UNEXPECTED: expected %s got %s", want, got);
        ton_cell_unref(winit);
        return -1;
    }
    pay->sc_address = contract;
    pay->has_sc = true;
    pay->proxy_sc = proxy_sc;
    ton_cell_unref(pay->init);
    pay->init = winit;
    return 0;
}

/* ------------------------------------------------------------ reading */

static void on_worker_data(void *ud, json_t *result, const cc_err *rerr)
{
    wlink *l = ud;
    worker *w = wlink_worker(l);
    wpay *pay = &w->pay[daemon_links_index(&w->links, l)];
    pay->op = NULL;
    pay->reads++;
    cc_err err = {0};
    if (!result) {
        snprintf(pay->chain_error, sizeof(pay->chain_error), "%s", rerr->msg);
        return;
    }
    ton_stack st;
    if (ton_stack_parse_json(result, &st, &err) < 0) {
        snprintf(pay->chain_error, sizeof(pay->chain_error), "%s", err.msg);
        return;
    }
    if (st.exit_code != 0 && st.exit_code != 1) {
        /* Not deployed yet (no code to run): nothing paid. */
        ton_stack_free(&st);
        pay->deployed = false;
        pay->chain_error[0] = 0;
        return;
    }
    ton_worker_state ws;
    int rc = ton_worker_state_from_stack(&st, &ws, &err);
    ton_stack_free(&st);
    if (rc < 0) {
        snprintf(pay->chain_error, sizeof(pay->chain_error), "%s", err.msg);
        return;
    }
    pay->deployed = true;
    pay->chain_error[0] = 0;
    if ((int64_t)ws.tokens > pay->chain_tokens) {
        CC_INFO("event=payout_on_chain proxy=%s tokens=%llu was=%lld", l->addr,
                (unsigned long long)ws.tokens, (long long)pay->chain_tokens);
        pay->chain_tokens = (int64_t)ws.tokens;
    }
}

static void read_contract(worker *w, wlink *l)
{
    wpay *pay = &w->pay[daemon_links_index(&w->links, l)];
    if (!w->payout.api || !pay->init || pay->op) return;
    char raw[80];
    ton_addr_to_raw(&pay->sc_address, raw, sizeof(raw));
    json_t *req = json_pack("{s:s,s:s,s:[]}", "address", raw, "method", "get_worker_data", "stack");
    cc_err err = {0};
    pay->op = ton_api_call_async(w->payout.api, "runGetMethod", NULL, req, on_worker_data, l, &err);
    json_decref(req);
    if (!pay->op) snprintf(pay->chain_error, sizeof(pay->chain_error), "%s", err.msg);
}

/* ------------------------------------------------------------- claiming */

static void on_claim_sent(void *ud, bool sent, const char *error)
{
    wlink *l = ud;
    worker *w = wlink_worker(l);
    wpay *pay = &w->pay[daemon_links_index(&w->links, l)];
    pay->claim_pending = false;
    if (!sent) {
        pay->claim_failures++;
        pay->claimed_tokens = pay->chain_tokens; /* may be sent again */
        snprintf(pay->chain_error, sizeof(pay->chain_error), "payout not sent: %s",
                 error ? error : "?");
        return;
    }
    read_contract(w, l);
}

int worker_payout_claim(worker *w, wlink *l, char *why, size_t why_size)
{
    wpay *pay = &w->pay[daemon_links_index(&w->links, l)];
    if (!w->payout.wallet)
        return snprintf(why, why_size, "no wallet (wallet_key_file) to send payouts"), -1;
    if (!pay->init) return snprintf(why, why_size, "no worker contract for this proxy"), -1;
    if (pay->claim_pending) return snprintf(why, why_size, "request is already running"), -1;
    if (!pay->voucher || pay->paid_tokens <= pay->claimed_tokens ||
        pay->paid_tokens <= pay->chain_tokens)
        return snprintf(why, why_size, "nothing to claim"), -1;
    cc_err err = {0};
    ton_voucher v;
    ton_cell *given = ton_boc_parse(pay->voucher, pay->voucher_len, &err);
    ton_cell *body = NULL;
    if (given && ton_voucher_parse(given, &v, &err) == 0) {
        /* Checked when kept (key, op, target); the relay picks excess_to. */
        v.excess_to = *daemon_wallet_address(w->payout.wallet);
        body = ton_voucher_outer(&v, &err);
    }
    ton_cell_unref(given);
    if (!body) return snprintf(why, why_size, "%s", err.msg), -1;
    ton_int_msg m = {.dest = pay->sc_address,
                     .value = PAYOUT_GAS_NANO,
                     .bounce = pay->deployed,
                     .init = pay->deployed ? NULL : pay->init,
                     .body = body};
    int rc = daemon_wallet_send(w->payout.wallet, &m, on_claim_sent, l, &err);
    ton_cell_unref(body);
    if (rc < 0) return snprintf(why, why_size, "%s", err.msg), -1;
    pay->claim_pending = true;
    pay->claimed_tokens = pay->paid_tokens;
    pay->claims++;
    CC_INFO("event=payout_sent proxy=%s tokens=%lld on_chain=%lld deploy=%d", l->addr,
            (long long)pay->paid_tokens, (long long)pay->chain_tokens, !pay->deployed);
    return 0;
}

static void on_tick(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    worker *w = ud;
    for (size_t i = 0; i < w->links.n && i < w->n_pay; i++) {
        wlink *l = &w->links.at[i];
        wpay *pay = &w->pay[i];
        read_contract(w, l);
        int64_t fee = worker_fee_per_token(w);
        int64_t unclaimed = pay->paid_tokens - CC_MAX(pay->claimed_tokens, pay->chain_tokens);
        /* Not before a read of the contract came back (an undeployed one
         * answers with an error): a voucher kept from before a restart may
         * be paid already, and a replay costs gas. */
        if (w->payout.threshold > 0 && pay->reads > 0 && unclaimed > 0 &&
            unclaimed * fee >= w->payout.threshold) {
            char why[256];
            if (worker_payout_claim(w, l, why, sizeof(why)) < 0 && strcmp(why, "nothing to claim"))
                CC_DEBUG("event=payout_waits proxy=%s why=\"%s\"", l->addr, why);
        }
    }
    arm(w);
}

int worker_payout_request(worker *w, const char *proxy_sc, char *out, size_t out_size)
{
    int sent = 0;
    char why[256] = "proxy not found";
    for (size_t i = 0; i < w->links.n && i < w->n_pay; i++) {
        wpay *pay = &w->pay[i];
        if (proxy_sc && *proxy_sc) {
            /* COCOON's ?proxy=: the proxy's contract address. */
            ton_addr a;
            cc_err err;
            if (!pay->init || ton_addr_parse(proxy_sc, &a, NULL, NULL, &err) < 0 ||
                !ton_addr_equal(&a, &pay->proxy_sc))
                continue;
        }
        if (worker_payout_claim(w, &w->links.at[i], why, sizeof(why)) == 0) sent++;
    }
    snprintf(out, out_size, "%s", sent ? "request sent" : why);
    return sent;
}
