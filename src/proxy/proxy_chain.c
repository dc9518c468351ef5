/* The proxy on chain: its contract and its wallet (proxy_internal.h,
 * "proxy_chain.c").
 *
 * COCOON's proxy (runners/proxy/ProxyRunner.cpp, initialize_sc and
 * deploy_proxy_sc) derives its contract's address from its owner, the root,
 * its public key and the root's params, waits for its wallet, and deploys the
 * contract through the wallet when it is not there yet (0.3 TON with the
 * StateInit, TonScWrapper::deploy). We do the same on the loop: the address
 * at start from the root's params the chain reader holds, the contract's
 * state read every refresh period (sooner while it is being deployed), and
 * the deployment sent through the daemon's wallet. The key is the proxy's
 * persistent signing key, so restarts keep the address. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_internal.h"

#define DEPLOY_VALUE 300000000ull /* 0.3 TON, COCOON's deploy_balance */
#define POLL_FAST 1.0             /* s between reads while deploying */
#define SAVE_VALUE 1              /* nanoTON with a save_state note, as COCOON */
#define HISTORY_LIMIT 100         /* transactions read back for save_state notes */

typedef struct proxy_onchain {
    proxy *p;
    ton_api *api;
    ton_api_op *op;
    struct event *timer;
    daemon_wallet *wallet; /* NULL without wallet_key_file */
    ton_addr owner, root;  /* what the address derives from, with our key and params */
    ton_addr contract;
    char contract_raw[80];
    ton_cell *contract_init; /* its StateInit, for the deployment */
    char query[160];         /* getAddressInformation of the contract */
    double refresh;
    /* The contract's last read. */
    bool known;
    char state[16];
    uint64_t balance;
    bool deploying; /* a deployment is queued in the wallet */
    uint64_t deploys, reads, read_errors;
    char last_error[256];
    /* The params the addresses were derived with (fixed for this run, as
     * the contracts keep theirs; code references owned). */
    ton_root_params params;
    uint64_t redeploys; /* new contracts after a params change (proxy_chain_params_changed) */
    /* save_state (COCOON's all_to_db for the chain): every save_interval a
     * ledger commit for the chain, its note sent through the wallet, and on
     * confirmation the totals at that seqno are covered and vouchers signed.
     * history_read: the contract's notes were read back once at start. */
    double save_interval;
    struct event *save_timer;
    ton_api_op *history_op;
    bool history_read, saving;
    int32_t saving_seqno, last_saved_seqno, chain_note_seqno;
    uint64_t saves_sent, saves_confirmed, saves_failed, vouchers_signed;
    /* Charges of client contracts and payouts to worker contracts: COCOON's
     * thresholds (config min_charge_nano, min_payout_nano). */
    int64_t min_charge, min_payout;
    uint64_t charges, charges_done, payouts, payouts_done, pay_failures;
    uint64_t credit_probes; /* clients marked short of credit (proxy_chain_credit_short) */
    double credit_kick_at;  /* the last save_state sent for them (monotonic) */
    double save_due;        /* when the save timer fires (monotonic) */
    bool charge_short_credit;
    /* Closing clients settled (COCOON's client_charge with force_close):
     * final charges sent and confirmed. */
    uint64_t closes, closes_done;
    /* Contexts of contract reads and wallet messages whose callbacks have not
     * come yet: freed here at shutdown, where the API and the wallet drop
     * them without calling back. */
    cc_list pending;
    ton_api_op *auth_scan_op; /* the registrations scan in flight (proxy_auth.c) */
    proxy_stake *stake;       /* stake and earned share (proxy_stake.c); NULL without wallet */
} proxy_onchain;

static void save_arm(proxy_onchain *o, double after);
static void credit_kick(proxy_onchain *o);
static bool credit_pending(proxy_onchain *o);
static bool stake_short(const ledger_client *a);
static void close_client(proxy_onchain *o, ledger_client *a);

static void arm(proxy_onchain *o, double after)
{
    struct timeval tv = cc_timeval(after);
    evtimer_add(o->timer, &tv);
}

static void on_deployed(void *ud, bool sent, const char *error)
{
    proxy_onchain *o = ud;
    o->deploying = false;
    if (sent) {
        CC_INFO("event=proxy_contract_deploy_sent contract=%s", o->contract_raw);
    } else {
        snprintf(o->last_error, sizeof o->last_error, "deploy: %.200s", error);
        CC_WARN("event=proxy_contract_deploy_failed contract=%s error=\"%s\"", o->contract_raw,
                error);
    }
    /* Look at once: the next read shows it active or deploys again. */
    event_del(o->timer);
    arm(o, 0);
}

static void deploy(proxy_onchain *o)
{
    if (!o->wallet || o->deploying) return;
    ton_int_msg m = {.dest = o->contract, .value = DEPLOY_VALUE, .init = o->contract_init};
    cc_err err = {0};
    if (daemon_wallet_send(o->wallet, &m, on_deployed, o, &err) < 0) {
        snprintf(o->last_error, sizeof o->last_error, "deploy: %.200s", err.msg);
        return;
    }
    o->deploying = true;
    o->deploys++;
    CC_INFO("event=proxy_contract_deploy contract=%s value=%llu", o->contract_raw,
            (unsigned long long)DEPLOY_VALUE);
}

/* ---- save_state notes read back (COCOON ProxyContract.cpp, the notes in
 * the contract's transaction list, only those from its own wallet) -------- */

/* A note's seqno and hash from an in_msg body (base64 BoC):
 * do_not_process qid proxy_save_state seqno:int32 unique_hash:bits256. */
static bool parse_note(const char *b64, int32_t *seqno, uint8_t hash[32])
{
    ton_cell *c = ton_boc_parse_base64(b64, NULL);
    if (!c) return false;
    ton_slice s;
    ton_slice_init(&s, c);
    uint64_t op, qid, op2;
    int64_t sq;
    bool ok = ton_slice_load_uint(&s, 32, &op, NULL) == 0 && op == TON_OP_DO_NOT_PROCESS &&
              ton_slice_load_uint(&s, 64, &qid, NULL) == 0 &&
              ton_slice_load_uint(&s, 32, &op2, NULL) == 0 && op2 == TON_OP_PROXY_SAVE_STATE &&
              ton_slice_load_int(&s, 32, &sq, NULL) == 0 &&
              ton_slice_load_bits(&s, 256, hash, NULL) == 0;
    ton_cell_unref(c);
    if (ok) *seqno = (int32_t)sq;
    return ok;
}

static void on_history(void *ud, json_t *result, const cc_err *rerr)
{
    proxy_onchain *o = ud;
    o->history_op = NULL;
    if (!result || !json_is_array(result)) {
        snprintf(o->last_error, sizeof o->last_error, "getTransactions: %.200s",
                 result ? "not a list" : rerr->msg);
        return; /* the next state read asks again */
    }
    ton_addr wallet = *daemon_wallet_address(o->wallet);
    int32_t best = -1;
    uint8_t best_hash[32] = {0};
    size_t i;
    json_t *tx;
    json_array_foreach(result, i, tx)
    {
        const json_t *in = json_object_get(tx, "in_msg");
        const char *src = json_string_value(json_object_get(in, "source"));
        const char *body =
            json_string_value(json_object_get(json_object_get(in, "msg_data"), "body"));
        ton_addr a;
        int32_t sq;
        uint8_t h[32];
        if (!src || !body || ton_addr_parse(src, &a, NULL, NULL, NULL) < 0 ||
            !ton_addr_equal(&a, &wallet) || !parse_note(body, &sq, h))
            continue;
        if (sq > best) {
            best = sq;
            memcpy(best_hash, h, 32);
        }
    }
    o->history_read = true;
    o->chain_note_seqno = best;
    if (best >= 0) {
        /* A note above our last commit: this ledger file is older than what
         * the chain already holds (ledger_behind_chain says so). */
        ledger_chain_saved(o->p->ledger, best, best_hash);
        CC_INFO("event=proxy_save_state_history seqno=%d ledger_seqno=%d behind=%s", best,
                ledger_last_seqno(o->p->ledger), ledger_behind_chain(o->p->ledger) ? "yes" : "no");
    }
    save_arm(o, o->save_interval);
}

static void read_history(proxy_onchain *o)
{
    if (!o->wallet) return;
    char q[200];
    snprintf(q, sizeof q, "%s&limit=%d", o->query, HISTORY_LIMIT);
    cc_err err = {0};
    o->history_op = ton_api_call_async(o->api, "getTransactions", q, NULL, on_history, o, &err);
}

/* ---- vouchers ------------------------------------------------------------ */

static int party_address(proxy_onchain *o, bool client, const char *owner_text, char *out, size_t n)
{
    ton_addr owner, a;
    cc_err err = {0};
    if (ton_addr_parse(owner_text, &owner, NULL, NULL, &err) < 0) return -1;
    ton_cell *si =
        client ? ton_client_contract_init(&owner, &o->contract, o->p->sign_pub, &o->params, &err)
               : ton_worker_contract_init(&owner, &o->contract, o->p->sign_pub, &o->params, &err);
    if (!si) return -1;
    ton_state_init_address(si, 0, &a);
    ton_cell_unref(si);
    ton_addr_to_raw(&a, out, n);
    return 0;
}

const char *proxy_chain_worker_sc(proxy *p, ledger_worker *a)
{
    if (!p->onchain || !a) return TON_ADDR_ZERO_RAW;
    if (!a->sc_address[0] &&
        party_address(p->onchain, false, a->owner, a->sc_address, sizeof a->sc_address) < 0)
        return TON_ADDR_ZERO_RAW;
    return a->sc_address;
}

const char *proxy_chain_client_sc(proxy *p, ledger_client *a)
{
    if (!p->onchain || !a) return TON_ADDR_ZERO_RAW;
    if (!a->sc_address[0] &&
        party_address(p->onchain, true, a->owner, a->sc_address, sizeof a->sc_address) < 0)
        return TON_ADDR_ZERO_RAW;
    return a->sc_address;
}

/* The voucher for pay->committed_chain to contract sc (COCOON's
 * sign_and_wrap_message: the excess goes back to the proxy's wallet). */
static int sign_voucher(proxy_onchain *o, uint32_t op, const char *sc, int64_t tokens, cc_buf *out)
{
    ton_voucher v = {.op = op, .query_id = (uint64_t)tokens, .tokens = (uint64_t)tokens};
    cc_err err = {0};
    if (ton_addr_parse(sc, &v.target, NULL, NULL, &err) < 0) return -1;
    v.excess_to = *daemon_wallet_address(o->wallet);
    ton_cell *c = ton_voucher_sign(&v, o->p->sign_seed, &err);
    if (!c) return -1;
    int rc = ton_boc_serialize(c, (ton_boc_opts){0}, out, &err);
    ton_cell_unref(c);
    return rc;
}

/* After a save_state landed: a voucher for every account whose covered
 * total moved (ledger_*_set_voucher only takes committed_chain). */
static void sign_vouchers(proxy_onchain *o)
{
    ledger *l = o->p->ledger;
    for (size_t i = 0; i < ledger_n_clients(l); i++) {
        ledger_client *a = ledger_client_at(l, i);
        int64_t t = a->pay.committed_chain;
        if (t <= 0 || a->pay.voucher) continue;
        cc_buf b = CC_BUF_INIT;
        const char *sc = proxy_chain_client_sc(o->p, a);
        if (strcmp(sc, TON_ADDR_ZERO_RAW) != 0 &&
            sign_voucher(o, TON_OP_CLIENT_CHARGE_SIGNED, sc, t, &b) == 0 &&
            ledger_client_set_voucher(a, t, b.data, b.len, NULL) == 0)
            o->vouchers_signed++;
        cc_buf_free(&b);
    }
    for (size_t i = 0; i < ledger_n_workers(l); i++) {
        ledger_worker *a = ledger_worker_at(l, i);
        int64_t t = a->pay.committed_chain;
        if (t <= 0 || a->pay.voucher) continue;
        cc_buf b = CC_BUF_INIT;
        const char *sc = proxy_chain_worker_sc(o->p, a);
        if (strcmp(sc, TON_ADDR_ZERO_RAW) != 0 &&
            sign_voucher(o, TON_OP_WORKER_PAYOUT_SIGNED, sc, t, &b) == 0 &&
            ledger_worker_set_voucher(a, t, b.data, b.len, NULL) == 0)
            o->vouchers_signed++;
        cc_buf_free(&b);
    }
}

tl_obj *proxy_signed_payment(const ledger_payments *pay, tl_proxy_signedPayment *buf, tl_obj *empty)
{
    if (!pay || !pay->voucher) return empty;
    *buf = (tl_proxy_signedPayment)TL_INIT(proxy_signedPayment);
    buf->data = tl_mem(pay->voucher, pay->voucher_len);
    return &buf->hdr;
}

/* ---- charges and payouts (COCOON's client_charge, worker_payout) -------- */

/* A contract's state after a charge or payout landed (COCOON follows them
 * through the proxy contract's notifications; we read the contract). */
typedef struct party_read {
    cc_list_node node; /* first: o->pending frees by node (proxy_chain_free) */
    proxy_onchain *o;
    bool client;
    char owner[LEDGER_ADDR_MAX];
    char sc[80];
} party_read;

static void party_read_done(party_read *r, const char *error)
{
    if (error) CC_WARN("event=party_contract_read_failed owner=%s error=\"%s\"", r->owner, error);
    cc_list_remove(&r->o->pending, &r->node);
    free(r);
}

static void on_party_state(void *ud, json_t *result, const cc_err *rerr)
{
    party_read *r = ud;
    proxy_onchain *o = r->o;
    cc_err err = {0};
    if (!result) {
        err = *rerr;
    } else if (r->client) {
        ton_client_state cs;
        ledger_client *a = ledger_client_get(o->p->ledger, r->owner, false);
        if (ton_client_state_from_result(result, &cs, &err) == 0 && a) {
            ledger_client_update_state(a, cs.state, (int64_t)cs.balance, (int64_t)cs.stake,
                                       (int64_t)cs.tokens_used, o->p->price_per_token,
                                       cs.secret_hash);
            close_client(o, a);
            /* Used on while its last charge was on its way: charge again. */
            if (!a->charging_now && o->charge_short_credit) {
                bool short_now = stake_short(a);
                if (short_now && !a->credit_short) o->credit_probes++;
                a->credit_short = short_now;
                if (short_now) credit_kick(o);
            }
        }
    } else {
        ton_worker_state ws;
        ledger_worker *a = ledger_worker_get(o->p->ledger, r->owner, false);
        if (ton_worker_state_from_result(result, &ws, &err) == 0 && a)
            ledger_worker_update_paid(a, (int64_t)ws.tokens);
    }
    party_read_done(r, err.msg[0] ? err.msg : NULL);
}

/* The account first, as authorization and the client read contracts: one
 * not deployed yet (a client that has not topped up, a worker not paid yet)
 * has no get-method to run, which is a normal state, not a failure. */
static void on_party_account(void *ud, json_t *result, const cc_err *rerr)
{
    party_read *r = ud;
    cc_err err = {0};
    ton_account acc;
    if (!result) {
        party_read_done(r, rerr->msg);
        return;
    }
    if (ton_account_from_json(result, &acc, &err) < 0) {
        party_read_done(r, err.msg);
        return;
    }
    bool active = strcmp(acc.state, "active") == 0;
    ton_account_clear(&acc);
    if (!active) { /* the account keeps what it has */
        CC_DEBUG("event=party_contract_absent owner=%s contract=%s", r->owner, r->sc);
        party_read_done(r, NULL);
        return;
    }
    json_t *body = json_pack("{s:s,s:s,s:[]}", "address", r->sc, "method",
                             r->client ? "get_client_data" : "get_worker_data", "stack");
    /* Not cancelled by handle: ton_api_free cancels it at shutdown. */
    ton_api_op *op =
        ton_api_call_async(r->o->api, "runGetMethod", NULL, body, on_party_state, r, &err);
    json_decref(body);
    if (!op) party_read_done(r, err.msg);
}

/* "address=WC%3AHEX" of a raw address, for a GET query. */
static void address_query(const char *raw, char *q, size_t n)
{
    const char *colon = strchr(raw, ':');
    if (!colon) {
        snprintf(q, n, "address=%s", raw);
        return;
    }
    snprintf(q, n, "address=%.*s%%3A%s", (int)(colon - raw), raw, colon + 1);
}

static void read_party(proxy_onchain *o, bool client, const char *owner, const char *sc)
{
    party_read *r = cc_calloc(1, sizeof *r);
    r->o = o;
    r->client = client;
    snprintf(r->owner, sizeof r->owner, "%s", owner);
    snprintf(r->sc, sizeof r->sc, "%s", sc);
    char q[200];
    address_query(sc, q, sizeof q);
    cc_err err = {0};
    if (ton_api_call_async(o->api, "getAddressInformation", q, NULL, on_party_account, r, &err))
        cc_list_push_back(&o->pending, &r->node);
    else
        free(r);
}

typedef struct pay_ctx {
    cc_list_node node; /* first, as in party_read */
    proxy_onchain *o;
    bool client;
    char owner[LEDGER_ADDR_MAX];
    int64_t tokens;
    bool close; /* a final charge (grant refund), not a plain charge */
} pay_ctx;
_Static_assert(offsetof(party_read, node) == 0 && offsetof(pay_ctx, node) == 0,
               "pending contexts are freed through their node");

static void on_paid(void *ud, bool sent, const char *error)
{
    pay_ctx *c = ud;
    proxy_onchain *o = c->o;
    ledger *l = o->p->ledger;
    if (c->client) {
        ledger_client *a = ledger_client_get(l, c->owner, false);
        if (a) ledger_client_charge_done(a);
        if (sent) c->close ? o->closes_done++ : o->charges_done++;
        /* An account reset by a redeploy meanwhile has no contract to read. */
        if (a && sent && a->sc_address[0]) read_party(o, true, a->owner, a->sc_address);
    } else {
        ledger_worker *a = ledger_worker_get(l, c->owner, false);
        if (a) ledger_worker_payout_done(a);
        if (sent) o->payouts_done++;
        if (a && sent && a->sc_address[0]) read_party(o, false, a->owner, a->sc_address);
    }
    if (!sent) {
        o->pay_failures++;
        snprintf(o->last_error, sizeof o->last_error, "%s: %.200s", c->client ? "charge" : "payout",
                 error);
    }
    CC_INFO("event=proxy_%s_%s owner=%s tokens=%lld",
            c->close    ? "close"
            : c->client ? "charge"
                        : "payout",
            sent ? "done" : "failed", c->owner, (long long)c->tokens);
    cc_list_remove(&o->pending, &c->node);
    free(c);
}

void proxy_chain_client_seen(proxy *p, ledger_client *a)
{
    proxy_onchain *o = p->onchain;
    if (!o) return;
    const char *sc = proxy_chain_client_sc(p, a);
    if (strcmp(sc, TON_ADDR_ZERO_RAW) != 0) read_party(o, true, a->owner, sc);
}

/* COCOON lets a client run up its stake's worth of tokens beyond what is
 * charged on chain, and charges only at a save_state (every 45 s) once a
 * charge is worth min_charge (1 TON), or when the client forces one after
 * its next read. A client busier than its stake then spends its credit in
 * seconds and is refused for up to a minute, although it has paid. So the
 * proxy charges it as soon as half its stake is used uncharged, and looks
 * again at its contract, which its own forced charge or top-up changed. */
static bool stake_short(const ledger_client *a)
{
    return a->sc_tokens_stake > 0 &&
           (a->pay.max + a->reserved - a->sc_tokens_used) * 2 >= a->sc_tokens_stake;
}

static bool credit_pending(proxy_onchain *o)
{
    for (size_t i = 0; i < ledger_n_clients(o->p->ledger); i++) {
        const ledger_client *a = ledger_client_at(o->p->ledger, i);
        if (a->credit_short && a->sc_status == LEDGER_SC_OPEN && !a->refused) return true;
    }
    return false;
}

/* A save_state now (on_saved then charges the clients marked short), at
 * most once per PROXY_CREDIT_PROBE_GAP: within it the save timer is brought
 * forward to the gap's end, so a mark is never left waiting for the 45 s. */
static void credit_kick(proxy_onchain *o)
{
    if (o->saving || !o->save_timer) return; /* on_saved charges them */
    double now = cc_now_mono();
    double wait = o->credit_kick_at > 0 ? o->credit_kick_at + PROXY_CREDIT_PROBE_GAP - now : 0;
    if (wait > 0) {
        if (o->save_due > now + wait) save_arm(o, wait);
        return;
    }
    o->credit_kick_at = now;
    proxy_chain_save_now(o->p);
}

void proxy_chain_credit_short(proxy *p, ledger_client *a)
{
    proxy_onchain *o = p->onchain;
    if (!o || !o->wallet) return;
    double now = cc_now_mono();
    if (a->credit_probe_at <= 0 || now - a->credit_probe_at >= PROXY_CREDIT_PROBE_GAP) {
        a->credit_probe_at = now;
        proxy_chain_client_seen(p, a);
    }
    /* Short of balance rather than of stake, a charge frees nothing: the
     * client's top-up will (it tops up at half its stake), seen by the read. */
    if (a->credit_short || !o->charge_short_credit || !stake_short(a)) return;
    a->credit_short = true;
    o->credit_probes++;
    credit_kick(o);
}

void proxy_chain_worker_seen(proxy *p, ledger_worker *a)
{
    proxy_onchain *o = p->onchain;
    if (!o) return;
    const char *sc = proxy_chain_worker_sc(p, a);
    if (strcmp(sc, TON_ADDR_ZERO_RAW) != 0) read_party(o, false, a->owner, sc);
}

/* Sends the account's voucher (cumulative: the contract takes only what is
 * above what it has) through the wallet with 0.7 TON, as COCOON. */
static int send_voucher(proxy_onchain *o, bool client, bool close, const char *owner,
                        const char *sc, const uint8_t *boc, size_t len, int64_t tokens,
                        ton_cell *init, char *why, size_t n)
{
    cc_err err = {0};
    ton_cell *v = ton_boc_parse(boc, len, &err);
    ton_addr dest;
    if (!v || ton_addr_parse(sc, &dest, NULL, NULL, &err) < 0) {
        ton_cell_unref(v);
        snprintf(why, n, "%s", err.msg);
        return -1;
    }
    pay_ctx *c = cc_calloc(1, sizeof *c);
    c->o = o;
    c->client = client;
    c->close = close;
    snprintf(c->owner, sizeof c->owner, "%s", owner);
    c->tokens = tokens;
    ton_int_msg m = {
        .dest = dest, .value = TON_CONTRACT_MSG_NANO, .bounce = true, .init = init, .body = v};
    int rc = daemon_wallet_send(o->wallet, &m, on_paid, c, &err);
    ton_cell_unref(v);
    if (rc < 0) {
        free(c);
        snprintf(why, n, "%s", err.msg);
    } else {
        cc_list_push_back(&o->pending, &c->node);
    }
    return rc;
}

int proxy_chain_charge(proxy *p, ledger_client *a, char *why, size_t n)
{
    proxy_onchain *o = p->onchain;
    if (!o || !o->wallet) return snprintf(why, n, "no chain wallet"), -1;
    if (a->charging_now) return snprintf(why, n, "request already running"), -1;
    if (!ledger_client_ready_to_charge(a) || !a->pay.voucher)
        return snprintf(why, n, "nothing to charge"), -1;
    const char *sc = proxy_chain_client_sc(p, a);
    if (send_voucher(o, true, false, a->owner, sc, a->pay.voucher, a->pay.voucher_len,
                     a->pay.committed_chain, NULL, why, n) < 0)
        return -1;
    ledger_client_charge_sent(a, a->pay.committed_chain, false);
    a->credit_short = false;
    o->charges++;
    CC_INFO("event=proxy_charge owner=%s contract=%s tokens=%lld", a->owner, sc,
            (long long)a->pay.committed_chain);
    return 0;
}

int proxy_chain_payout(proxy *p, ledger_worker *a, char *why, size_t n)
{
    proxy_onchain *o = p->onchain;
    if (!o || !o->wallet) return snprintf(why, n, "no chain wallet"), -1;
    if (a->paying_now) return snprintf(why, n, "request already running"), -1;
    if (!ledger_worker_ready_to_pay(a) || !a->pay.voucher)
        return snprintf(why, n, "nothing to pay"), -1;
    const char *sc = proxy_chain_worker_sc(p, a);
    /* With the StateInit: a worker contract not deployed yet is deployed by
     * the payout itself (ignored when it exists). COCOON's payout carries
     * none and relies on the worker having deployed it. */
    ton_addr owner;
    cc_err err = {0};
    ton_cell *init =
        ton_addr_parse(a->owner, &owner, NULL, NULL, &err) == 0
            ? ton_worker_contract_init(&owner, &o->contract, p->sign_pub, &o->params, &err)
            : NULL;
    int rc = init ? send_voucher(o, false, false, a->owner, sc, a->pay.voucher, a->pay.voucher_len,
                                 a->pay.committed_chain, init, why, n)
                  : (snprintf(why, n, "%s", err.msg), -1);
    ton_cell_unref(init);
    if (rc < 0) return -1;
    ledger_worker_payout_sent(a, a->pay.committed_chain);
    o->payouts++;
    CC_INFO("event=proxy_payout owner=%s contract=%s tokens=%lld", a->owner, sc,
            (long long)a->pay.committed_chain);
    return 0;
}

/* A client whose owner asked for its refund (contract closing, COCOON's
 * ProxyClientInfo::check with force_close): once nothing of it runs and its
 * whole total is covered by a save_state on chain, the proxy sends the final
 * charge, ext_client_grant_refund_signed for that total; the contract takes
 * what is not charged yet, pays the rest of its balance back to the owner
 * and closes. A total not covered yet asks for a save_state now rather than
 * at the next interval, so the owner does not wait for it. One final charge
 * per account and run (exp_sc_closed), as COCOON: a refused one (say the
 * proxy contract short of money) leaves the contract closing, and after its
 * delay the owner closes it alone. */
static void close_client(proxy_onchain *o, ledger_client *a)
{
    if (!o->wallet || a->sc_status != LEDGER_SC_CLOSING || a->exp_sc_closed || a->charging_now ||
        a->refused || a->running > 0 || a->reserved > 0)
        return;
    if (a->pay.max != a->pay.committed_chain) {
        /* Refused while a save is on its way: its confirmation calls us again. */
        proxy_chain_save_now(o->p);
        return;
    }
    const char *sc = proxy_chain_client_sc(o->p, a);
    if (strcmp(sc, TON_ADDR_ZERO_RAW) == 0) return;
    int64_t t = a->pay.committed_chain;
    cc_buf b = CC_BUF_INIT;
    char why[256] = "";
    int rc = sign_voucher(o, TON_OP_CLIENT_GRANT_REFUND_SIGNED, sc, t, &b);
    if (rc < 0) snprintf(why, sizeof why, "cannot sign the final charge");
    if (rc == 0)
        rc = send_voucher(o, true, true, a->owner, sc, b.data, b.len, t, NULL, why, sizeof why);
    cc_buf_free(&b);
    if (rc < 0) {
        snprintf(o->last_error, sizeof o->last_error, "close: %.200s", why);
        CC_WARN("event=proxy_close_failed owner=%s error=\"%s\"", a->owner, why);
        return;
    }
    ledger_client_charge_sent(a, t, true);
    o->closes++;
    CC_INFO("event=proxy_close owner=%s contract=%s tokens=%lld", a->owner, sc, (long long)t);
}

/* COCOON's ProxyClientInfo::check / ProxyWorkerInfo::check after a
 * save_state: a charge when what is ready is worth min_charge, a payout when
 * it is worth min_payout. */
static void charge_and_pay(proxy_onchain *o)
{
    proxy *p = o->p;
    char why[256];
    int64_t fee = p->reg ? registry_get_params(p->reg)->worker_fee_per_token : 0;
    for (size_t i = 0; i < ledger_n_clients(p->ledger); i++) {
        ledger_client *a = ledger_client_at(p->ledger, i);
        if (a->sc_status == LEDGER_SC_CLOSING) {
            close_client(o, a);
            continue;
        }
        if (!a->charging_now && a->pay.voucher && ledger_client_ready_to_charge(a) > 0 &&
            (a->credit_short ||
             ledger_client_ready_to_charge(a) * p->price_per_token >= o->min_charge))
            proxy_chain_charge(p, a, why, sizeof why);
    }
    for (size_t i = 0; i < ledger_n_workers(p->ledger); i++) {
        ledger_worker *a = ledger_worker_at(p->ledger, i);
        if (!a->paying_now && a->pay.voucher &&
            ledger_worker_ready_to_pay(a) * fee >= o->min_payout)
            proxy_chain_payout(p, a, why, sizeof why);
    }
}

/* ---- save_state ---------------------------------------------------------- */

static void on_saved(void *ud, bool sent, const char *error)
{
    proxy_onchain *o = ud;
    o->saving = false;
    if (!sent) {
        o->saves_failed++;
        snprintf(o->last_error, sizeof o->last_error, "save_state: %.200s", error);
        CC_WARN("event=proxy_save_state_failed seqno=%d error=\"%s\"", o->saving_seqno, error);
    } else {
        /* COCOON's save_state_to_blockchain_completed on the wallet's
         * confirmation: the totals at this seqno are on chain. */
        o->saves_confirmed++;
        int ours =
            ledger_chain_saved(o->p->ledger, o->saving_seqno, ledger_session_hash(o->p->ledger));
        if (ours == 1) o->last_saved_seqno = o->saving_seqno;
        CC_INFO("event=proxy_save_state_confirmed seqno=%d ours=%d", o->saving_seqno, ours);
        sign_vouchers(o);
        charge_and_pay(o);
    }
    /* A client still marked short (its charge was on its way, or a save was
     * already going when it was marked) is not left for the 45 s. */
    save_arm(o, credit_pending(o) ? PROXY_CREDIT_PROBE_GAP : o->save_interval);
}

static void on_save_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    proxy_onchain *o = arg;
    if (o->saving || !o->wallet || strcmp(o->state, "active") != 0) {
        save_arm(o, o->save_interval);
        return;
    }
    cc_err err = {0};
    int32_t seqno = ledger_commit(o->p->ledger, true, &err);
    ton_cell *body = seqno < 0 ? NULL
                               : ton_body_proxy_save_state((uint64_t)seqno, (uint32_t)seqno,
                                                           ledger_session_hash(o->p->ledger), &err);
    ton_int_msg m = {.dest = o->contract, .value = SAVE_VALUE, .bounce = true, .body = body};
    if (!body || daemon_wallet_send(o->wallet, &m, on_saved, o, &err) < 0) {
        ton_cell_unref(body);
        snprintf(o->last_error, sizeof o->last_error, "save_state: %.200s", err.msg);
        CC_WARN("event=proxy_save_state_failed error=\"%s\"", err.msg);
        save_arm(o, o->save_interval);
        return;
    }
    ton_cell_unref(body);
    o->p->stats.ledger_commits++;
    o->saving = true;
    o->saving_seqno = seqno;
    o->saves_sent++;
    CC_INFO("event=proxy_save_state seqno=%d", seqno);
}

static void save_arm(proxy_onchain *o, double after)
{
    if (!o->save_timer) return;
    o->save_due = cc_now_mono() + after;
    struct timeval tv = cc_timeval(after);
    evtimer_add(o->save_timer, &tv);
}

int proxy_chain_save_now(proxy *p)
{
    proxy_onchain *o = p->onchain;
    if (!o || !o->save_timer || o->saving || !o->history_read) return -1;
    event_del(o->save_timer);
    save_arm(o, 0);
    return 0;
}

static void on_read(void *ud, json_t *result, const cc_err *rerr)
{
    proxy_onchain *o = ud;
    o->op = NULL;
    o->reads++;
    cc_err err = {0};
    ton_account acc;
    if (result && ton_account_from_json(result, &acc, &err) == 0) {
        o->known = true;
        snprintf(o->state, sizeof o->state, "%s", acc.state);
        o->balance = acc.balance;
        bool active = !strcmp(acc.state, "active");
        ton_account_clear(&acc);
        if (!active) deploy(o);
        if (active && !o->history_read && !o->history_op) read_history(o);
        if (active) proxy_stake_refresh(o->stake);
        /* The contracts of our clients, every refresh, connected or not (an
         * owner closes its contract with its client stopped; COCOON follows
         * them through the proxy contract's notifications). A closed one
         * changes no more. */
        for (size_t i = 0; i < ledger_n_clients(o->p->ledger); i++) {
            ledger_client *a = ledger_client_at(o->p->ledger, i);
            if (a->sc_status != LEDGER_SC_CLOSED) proxy_chain_client_seen(o->p, a);
        }
        /* And our workers' contracts, as COCOON's proxy follows them: one
         * paid for more than the ledger knows refuses that account (the
         * ledger was rolled back; ledger_worker_update_paid). */
        for (size_t i = 0; i < ledger_n_workers(o->p->ledger); i++)
            proxy_chain_worker_seen(o->p, ledger_worker_at(o->p->ledger, i));
        arm(o, active ? o->refresh : POLL_FAST);
        return;
    }
    if (!result) err = *rerr;
    o->read_errors++;
    snprintf(o->last_error, sizeof o->last_error, "read: %.200s", err.msg);
    CC_WARN("event=proxy_contract_read_failed contract=%s error=\"%s\"", o->contract_raw, err.msg);
    arm(o, o->refresh < 5 ? o->refresh : 5);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    proxy_onchain *o = arg;
    /* Also retries a redeploy that could not be written; one that happens
     * armed this timer again for the new contract. */
    uint64_t redeploys = o->redeploys;
    proxy_chain_params_changed(o->p);
    if (o->redeploys != redeploys) return;
    cc_err err = {0};
    o->op = ton_api_call_async(o->api, "getAddressInformation", o->query, NULL, on_read, o, &err);
    if (!o->op) on_read(o, NULL, &err);
}

/* ---- a new contract after a params change (proxy_redeploy.c) ----------- */

ton_api *proxy_chain_api(proxy *p)
{
    return p->onchain ? p->onchain->api : NULL;
}

daemon_wallet *proxy_chain_wallet(proxy *p)
{
    return p->onchain ? p->onchain->wallet : NULL;
}

ton_cell *proxy_chain_voucher(proxy *p, uint32_t op, const ton_addr *target, int64_t tokens,
                              cc_err *err)
{
    proxy_onchain *o = p->onchain;
    if (!o || !o->wallet) return cc_err_set(err, "no chain wallet"), NULL;
    ton_voucher v = {.op = op, .target = *target, .excess_to = *daemon_wallet_address(o->wallet)};
    if (tokens < 0) {
        v.is_close = true;
        crypto_random(&v.query_id, sizeof v.query_id); /* COCOON's: random */
    } else {
        v.tokens = (uint64_t)tokens;
        v.query_id = (uint64_t)tokens;
    }
    return ton_voucher_sign(&v, p->sign_seed, err);
}

ton_cell *proxy_chain_party_init(proxy *p, bool client, const char *owner, const ton_addr *sc,
                                 const ton_root_params *params, cc_err *err)
{
    ton_addr o;
    if (ton_addr_parse(owner, &o, NULL, NULL, err) < 0) return NULL;
    return client ? ton_client_contract_init(&o, sc, p->sign_pub, params, err)
                  : ton_worker_contract_init(&o, sc, p->sign_pub, params, err);
}

/* Swaps in the contract derived from params (references taken anew). */
static void use_contract(proxy_onchain *o, ton_cell *init, const ton_root_params *params)
{
    if (o->op) ton_api_cancel(o->op);
    if (o->history_op) ton_api_cancel(o->history_op);
    o->op = o->history_op = NULL;
    ton_root_params_clear(&o->params);
    o->params = *params;
    o->params.proxy_code = params->proxy_code ? ton_cell_ref(params->proxy_code) : NULL;
    o->params.worker_code = params->worker_code ? ton_cell_ref(params->worker_code) : NULL;
    o->params.client_code = params->client_code ? ton_cell_ref(params->client_code) : NULL;
    ton_cell_unref(o->contract_init);
    o->contract_init = init;
    ton_state_init_address(init, 0, &o->contract);
    ton_addr_to_raw(&o->contract, o->contract_raw, sizeof o->contract_raw);
    char *colon = strchr(o->contract_raw, ':');
    snprintf(o->query, sizeof o->query, "address=%.*s%%3A%s", (int)(colon - o->contract_raw),
             o->contract_raw, colon + 1);
    /* Nothing known of the new contract yet; it has no save_state notes. */
    o->known = false;
    o->state[0] = 0;
    o->balance = 0;
    o->deploying = false;
    o->history_read = false;
    o->chain_note_seqno = -1;
    o->last_saved_seqno = 0;
}

void proxy_chain_params_changed(proxy *p)
{
    proxy_onchain *o = p->onchain;
    const ton_root_params *np = o ? daemon_chain_root_params(p->chain) : NULL;
    if (!np || np->params_version <= o->params.params_version) return;
    cc_err err = {0};
    ton_cell *init = ton_proxy_contract_init(&o->owner, &o->root, p->sign_pub, np, &err);
    cc_buf boc = CC_BUF_INIT;
    if (!init || proxy_redeploy_params_boc(np, &boc, &err) < 0) {
        ton_cell_unref(init);
        cc_buf_free(&boc);
        CC_ERROR("event=proxy_redeploy_failed error=\"%s\"", err.msg);
        return;
    }
    ton_addr next;
    char next_raw[80];
    ton_state_init_address(init, 0, &next);
    ton_addr_to_raw(&next, next_raw, sizeof next_raw);
    CC_WARN("event=proxy_redeploy old_contract=%s new_contract=%s params_version=%u was=%u",
            o->contract_raw, next_raw, np->params_version, o->params.params_version);
    /* COCOON's close_all: every link goes (requests in flight end as on any
     * lost link, and their reservations with them); peers reconnect and are
     * told the new contracts. */
    const char *why = "the root's params changed: the proxy moves to a new contract";
    proxy_client_close_all(p, why);
    proxy_worker_close_all(p, why);
    ledger *l = p->ledger;
    for (size_t i = 0; i < ledger_n_clients(l); i++)
        proxy_chain_client_sc(p, ledger_client_at(l, i));
    for (size_t i = 0; i < ledger_n_workers(l); i++)
        proxy_chain_worker_sc(p, ledger_worker_at(l, i));
    int rc = ledger_retire(l, next_raw, boc.data, boc.len, &err);
    cc_buf_free(&boc);
    if (rc < 0) {
        ton_cell_unref(init);
        snprintf(o->last_error, sizeof o->last_error, "redeploy: %.200s", err.msg);
        CC_ERROR("event=proxy_redeploy_failed error=\"%s\"", err.msg);
        return;
    }
    use_contract(o, init, np);
    o->redeploys++;
    proxy_redeploy_kick(p);
    /* Read (and deploy) the new contract now. */
    event_del(o->timer);
    arm(o, 0);
}

/* ---- what authorization reads (proxy_auth.c) ---------------------------- */

typedef struct auth_read {
    cc_list_node node; /* first, as in party_read */
    proxy_onchain *o;
    uint64_t client_id;
    char sc[80];
} auth_read;

static void auth_read_done(auth_read *r, const char *error, const ton_client_state *st)
{
    proxy *p = r->o->p;
    uint64_t id = r->client_id;
    cc_list_remove(&r->o->pending, &r->node);
    free(r);
    proxy_auth_on_contract(p, id, error, st);
}

static void on_auth_contract(void *ud, json_t *result, const cc_err *rerr)
{
    auth_read *r = ud;
    cc_err err = {0};
    if (!result) {
        auth_read_done(r, rerr->msg, NULL);
        return;
    }
    ton_client_state cs;
    int rc = ton_client_state_from_result(result, &cs, &err);
    auth_read_done(r, rc < 0 ? err.msg : NULL, rc < 0 ? NULL : &cs);
}

/* The account first (as the client reads its own contract): an inactive
 * one has no get-methods to run, and the API reports that as an error. */
static void on_auth_account(void *ud, json_t *result, const cc_err *rerr)
{
    auth_read *r = ud;
    cc_err err = {0};
    ton_account acc;
    if (!result) {
        auth_read_done(r, rerr->msg, NULL);
        return;
    }
    if (ton_account_from_json(result, &acc, &err) < 0) {
        auth_read_done(r, err.msg, NULL);
        return;
    }
    bool active = strcmp(acc.state, "active") == 0;
    ton_account_clear(&acc);
    if (!active) { /* no contract (yet) */
        auth_read_done(r, NULL, NULL);
        return;
    }
    json_t *body =
        json_pack("{s:s,s:s,s:[]}", "address", r->sc, "method", "get_client_data", "stack");
    ton_api_op *op =
        ton_api_call_async(r->o->api, "runGetMethod", NULL, body, on_auth_contract, r, &err);
    json_decref(body);
    if (!op) auth_read_done(r, err.msg, NULL);
}

static int auth_read_client(proxy *p, uint64_t client_id, const char *owner)
{
    proxy_onchain *o = p->onchain;
    /* Not before our own contract is there (at start, and after a redeploy):
     * a client contract's top-up sent on to a proxy contract that does not
     * exist bounces back to its owner while the client contract still counts
     * it, and its registration would find no contract. Tried again shortly. */
    if (strcmp(o->state, "active") != 0) return -1;
    char sc[80];
    if (party_address(o, true, owner, sc, sizeof sc) < 0) return -1;
    auth_read *r = cc_calloc(1, sizeof *r);
    r->o = o;
    r->client_id = client_id;
    snprintf(r->sc, sizeof r->sc, "%s", sc);
    char *colon = strchr(sc, ':');
    char q[200];
    snprintf(q, sizeof q, "address=%.*s%%3A%s", (int)(colon - sc), sc, colon + 1);
    cc_err err = {0};
    ton_api_op *op =
        ton_api_call_async(o->api, "getAddressInformation", q, NULL, on_auth_account, r, &err);
    if (!op) {
        free(r);
        return -1;
    }
    cc_list_push_back(&o->pending, &r->node);
    return 0;
}

/* COCOON's ProxyContract::on_transaction for client_proxy_request: only a
 * message from the contract derived for the owner it names counts. */
static void on_auth_scan(void *ud, json_t *result, const cc_err *rerr)
{
    proxy_onchain *o = ud;
    o->auth_scan_op = NULL;
    if (!result || !json_is_array(result)) {
        proxy_auth_scan_done(o->p, result ? "getTransactions: not a list" : rerr->msg);
        return;
    }
    size_t i;
    json_t *tx;
    json_array_foreach(result, i, tx)
    {
        const json_t *in = json_object_get(tx, "in_msg");
        const char *src = json_string_value(json_object_get(in, "source"));
        const char *body =
            json_string_value(json_object_get(json_object_get(in, "msg_data"), "body"));
        ton_addr from, expected;
        if (!src || !body || ton_addr_parse(src, &from, NULL, NULL, NULL) < 0) continue;
        ton_cell *c = ton_boc_parse_base64(body, NULL);
        ton_client_proxy_msg m;
        cc_err err = {0};
        int rc = c ? ton_client_proxy_request_parse(c, &m, &err) : -1;
        ton_cell_unref(c);
        if (rc < 0 || !m.has_nonce) continue;
        ton_cell *si =
            ton_client_contract_init(&m.owner, &o->contract, o->p->sign_pub, &o->params, &err);
        if (!si) continue;
        ton_state_init_address(si, 0, &expected);
        ton_cell_unref(si);
        if (!ton_addr_equal(&from, &expected)) {
            CC_INFO("event=client_register_not_from_client source=%s", src);
            continue;
        }
        proxy_auth_registered(o->p, &m.owner, m.nonce, &m.st);
    }
    proxy_auth_scan_done(o->p, NULL);
}

static int auth_scan(proxy *p)
{
    proxy_onchain *o = p->onchain;
    if (o->auth_scan_op) return 0;
    char q[200];
    snprintf(q, sizeof q, "%s&limit=%d", o->query, HISTORY_LIMIT);
    cc_err err = {0};
    o->auth_scan_op = ton_api_call_async(o->api, "getTransactions", q, NULL, on_auth_scan, o, &err);
    return o->auth_scan_op ? 0 : -1;
}

static const proxy_auth_chain auth_chain_ton = {.read_client = auth_read_client, .scan = auth_scan};

int proxy_chain_start(proxy *p, const proxy_config *cfg, cc_err *err)
{
    if (!p->chain) return 0;
    const ton_root_params *params = daemon_chain_root_params(p->chain);
    if (!params) return cc_err_set(err, "chain: no root params read");
    ton_addr owner, root;
    if (!cfg->common.owner_address || !*cfg->common.owner_address) {
        /* Still a registry from the chain, but no contract: it has no owner. */
        CC_WARN("event=proxy_no_contract reason=\"no owner_address: no proxy contract, nothing "
                "moves on chain\"");
        return 0;
    }
    if (ton_addr_parse(cfg->common.owner_address, &owner, NULL, NULL, err) < 0)
        return cc_err_prefix(err, "owner_address");
    if (ton_addr_parse(cfg->common.root_address, &root, NULL, NULL, err) < 0)
        return cc_err_prefix(err, "root_address");
    proxy_onchain *o = cc_calloc(1, sizeof *o);
    o->p = p;
    p->onchain = o;
    o->refresh = cfg->common.chain_refresh > 0 ? cfg->common.chain_refresh : 60;
    o->params = *params;
    o->params.proxy_code = params->proxy_code ? ton_cell_ref(params->proxy_code) : NULL;
    o->params.worker_code = params->worker_code ? ton_cell_ref(params->worker_code) : NULL;
    o->params.client_code = params->client_code ? ton_cell_ref(params->client_code) : NULL;
    o->save_interval = cfg->save_interval > 0 ? cfg->save_interval : 45;
    o->chain_note_seqno = -1;
    o->min_charge = cfg->min_charge_nano;
    o->charge_short_credit = cfg->charge_short_credit;
    o->min_payout = cfg->min_payout_nano;
    o->owner = owner;
    o->root = root;
    o->contract_init = ton_proxy_contract_init(&owner, &root, p->sign_pub, params, err);
    if (!o->contract_init) return cc_err_prefix(err, "proxy contract");
    ton_state_init_address(o->contract_init, 0, &o->contract);
    ton_addr_to_raw(&o->contract, o->contract_raw, sizeof o->contract_raw);
    char *colon = strchr(o->contract_raw, ':');
    snprintf(o->query, sizeof o->query, "address=%.*s%%3A%s", (int)(colon - o->contract_raw),
             o->contract_raw, colon + 1);
    o->api = ton_api_new_on(p->base, cfg->common.chain, getenv("COCOON_TON_API_KEY"), err);
    if (!o->api) return -1;
    ton_api_set_timeout(o->api, 20);
    if (cfg->wallet_key_file) {
        daemon_wallet_key k;
        if (daemon_wallet_key_load(cfg->wallet_key_file, &k, err) < 0) return -1;
        o->wallet = daemon_wallet_new(p->base, cfg->common.chain, &k, params->is_test, err);
        explicit_bzero(&k, sizeof k);
        if (!o->wallet) return -1;
    } else {
        CC_WARN("event=proxy_no_wallet reason=\"no wallet_key_file: the proxy sends nothing on "
                "chain (its contract is not deployed by it)\"");
    }
    if (o->wallet)
        o->stake = proxy_stake_new(o->api, o->wallet, &o->contract, cfg->min_withdraw_nano,
                                   params->min_proxy_stake);
    if (proxy_redeploy_start(p, o->contract_raw, params, o->refresh, err) < 0) return -1;
    proxy_auth_start(p, &auth_chain_ton, cfg->auth_timeout);
    o->timer = evtimer_new(p->base, on_timer, o);
    if (o->wallet) o->save_timer = evtimer_new(p->base, on_save_timer, o);
    arm(o, 0);
    char pub[65], wallet[80] = "none";
    cc_hex_encode(p->sign_pub, 32, pub);
    if (o->wallet) ton_addr_to_raw(daemon_wallet_address(o->wallet), wallet, sizeof wallet);
    CC_INFO("event=proxy_onchain contract=%s proxy_public_key=%s wallet=%s", o->contract_raw, pub,
            wallet);
    return 0;
}

void proxy_chain_free(proxy *p)
{
    proxy_onchain *o = p->onchain;
    if (!o) return;
    proxy_redeploy_free(p);
    p->onchain = NULL;
    if (o->op) ton_api_cancel(o->op);
    if (o->history_op) ton_api_cancel(o->history_op);
    if (o->auth_scan_op) ton_api_cancel(o->auth_scan_op);
    daemon_wallet_free(o->wallet);
    proxy_stake_free(o->stake); /* after the wallet (no callback), before the API */
    if (o->save_timer) event_free(o->save_timer);
    ton_root_params_clear(&o->params);
    ton_api_free(o->api);
    /* Neither the wallet nor the API calls back after being freed. */
    while (o->pending.first) {
        cc_list_node *n = o->pending.first;
        cc_list_remove(&o->pending, n);
        free(n);
    }
    if (o->timer) event_free(o->timer);
    ton_cell_unref(o->contract_init);
    free(o);
}

proxy_stake *proxy_chain_stake(proxy *p)
{
    return p->onchain ? p->onchain->stake : NULL;
}

const char *proxy_sc_or_zero(const proxy *p)
{
    return p->onchain ? p->onchain->contract_raw : TON_ADDR_ZERO_RAW;
}

void proxy_chain_json(const proxy *p, json_t *out)
{
    const proxy_onchain *o = p->onchain;
    if (!o) return;
    char pub[65];
    cc_hex_encode(p->sign_pub, 32, pub);
    json_t *c = json_pack("{s:s,s:b,s:s,s:I,s:I,s:I,s:I,s:s}", "address", o->contract_raw, "known",
                          o->known, "state", o->state, "balance", (json_int_t)o->balance, "deploys",
                          (json_int_t)o->deploys, "reads", (json_int_t)o->reads, "read_errors",
                          (json_int_t)o->read_errors, "last_error", o->last_error);
    json_t *j = json_pack("{s:s,s:o,s:I,s:I,s:o}", "proxy_public_key", pub, "contract", c,
                          "params_version", (json_int_t)o->params.params_version, "redeploys",
                          (json_int_t)o->redeploys, "old_contracts", proxy_redeploy_json(p));
    const char *behind = ledger_behind_chain(p->ledger);
    json_object_set_new(
        j, "save_state",
        json_pack("{s:f,s:b,s:i,s:i,s:i,s:I,s:I,s:I,s:I}", "interval", o->save_interval,
                  "history_read", o->history_read, "chain_note_seqno", o->chain_note_seqno,
                  "last_saved_seqno", o->last_saved_seqno, "ledger_seqno",
                  ledger_last_seqno(p->ledger), "sent", (json_int_t)o->saves_sent, "confirmed",
                  (json_int_t)o->saves_confirmed, "failed", (json_int_t)o->saves_failed,
                  "vouchers_signed", (json_int_t)o->vouchers_signed));
    json_object_set_new(j, "behind_chain", behind ? json_string(behind) : json_null());
    json_object_set_new(
        j, "payments",
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "min_charge_nano",
                  (json_int_t)o->min_charge, "min_payout_nano", (json_int_t)o->min_payout,
                  "charges", (json_int_t)o->charges, "charges_done", (json_int_t)o->charges_done,
                  "payouts", (json_int_t)o->payouts, "payouts_done", (json_int_t)o->payouts_done,
                  "closes", (json_int_t)o->closes, "closes_done", (json_int_t)o->closes_done,
                  "failures", (json_int_t)o->pay_failures, "credit_short",
                  (json_int_t)o->credit_probes, "charge_short_credit", o->charge_short_credit));
    json_object_set_new(j, "wallet", o->wallet ? daemon_wallet_json(o->wallet) : json_null());
    json_object_set_new(j, "stake", proxy_stake_json(o->stake));
    json_object_set_new(out, "onchain", j);
}
