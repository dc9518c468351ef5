/* The retirement of old proxy contracts after a params change
 * (proxy_internal.h, "proxy_redeploy.c").
 *
 * COCOON's OldProxyContract (runners/proxy/OldProxyContract.cpp): one wallet
 * message at a time with 1 TON, the signed close request first, then each
 * old client's final charge (ext_client_grant_refund_signed: the contract
 * takes what is not charged yet, refunds the rest to its owner and closes),
 * each old worker's last payout (ext_worker_last_payout_request_signed), and
 * once the contract's unlock time has passed the signed close completion,
 * which pays the contract's whole balance to the proxy's owner. The ledger
 * (retire.c) holds what is left to do, so a restart resumes.
 *
 * Departures: the unlock time is read back from the old contract and
 * compared with the chain's clock, not the proxy's own (COCOON waits
 * proxy_delay_before_close on its own clock); a step whose message the
 * wallet gave up on is sent again later instead of aborting; and the close
 * completion counts as done only once the contract shows itself closed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/proxy_internal.h"

#define STEP_VALUE 1000000000ull /* 1 TON with each step, as COCOON's */
#define RETRY_AFTER 5.0          /* s after a step or read that failed */
#define CLOSING_POLL_MAX 10.0    /* s between reads of a closing contract, at most */

enum { STEP_CLOSE, STEP_PARTY, STEP_COMPLETE };

typedef struct proxy_redeploy {
    proxy *p;
    struct event *timer;
    double refresh;
    bool busy;      /* a step or a read in flight: one at a time */
    ton_api_op *op; /* the read in flight */
    char reading[LEDGER_ADDR_MAX];
    uint64_t chain_now;  /* the chain's clock at the read */
    size_t next_closing; /* the closing contracts are read in turn */
    uint64_t sent, confirmed, failures, reads;
    char last_error[256];
    cc_list pending; /* step contexts the wallet has not answered yet */
} proxy_redeploy;

typedef struct step_ctx {
    cc_list_node node; /* first: freed by node */
    proxy_redeploy *r;
    char contract[LEDGER_ADDR_MAX];
    int kind;
    bool client;
    char owner[LEDGER_ADDR_MAX];
} step_ctx;

static void tick(evutil_socket_t fd, short what, void *arg);

static void arm(proxy_redeploy *r, double after)
{
    struct timeval tv = cc_timeval(after);
    event_del(r->timer);
    evtimer_add(r->timer, &tv);
}

static void failed(proxy_redeploy *r, const char *what, const char *error)
{
    r->failures++;
    snprintf(r->last_error, sizeof r->last_error, "%s: %.200s", what, error);
    CC_WARN("event=old_contract_step_failed step=%s error=\"%s\"", what, error);
    arm(r, RETRY_AFTER);
}

static ledger_old_contract *find_old(proxy *p, const char *address)
{
    for (size_t i = 0; i < ledger_n_old(p->ledger); i++) {
        ledger_old_contract *o = ledger_old_at(p->ledger, i);
        if (strcmp(o->address, address) == 0) return o;
    }
    return NULL;
}

static const char *state_name(int state)
{
    switch (state) {
    case LEDGER_OLD_CLOSE_REQUEST:
        return "close_request";
    case LEDGER_OLD_CLIENTS:
        return "clients";
    case LEDGER_OLD_WORKERS:
        return "workers";
    case LEDGER_OLD_CLOSING:
        return "closing";
    default:
        return "closed";
    }
}

int proxy_redeploy_params_boc(const ton_root_params *params, cc_buf *out, cc_err *err)
{
    ton_cell *c = ton_root_params_build(params, err);
    if (!c) return -1;
    int rc = ton_boc_serialize(c, (ton_boc_opts){0}, out, err);
    ton_cell_unref(c);
    return rc;
}

static int params_of(const uint8_t *boc, size_t len, ton_root_params *out, cc_err *err)
{
    ton_cell *c = ton_boc_parse(boc, len, err);
    if (!c) return -1;
    int rc = ton_root_params_parse(c, out, err);
    ton_cell_unref(c);
    return rc;
}

/* ---- steps through the wallet ------------------------------------------- */

static void on_step(void *ud, bool sent, const char *error)
{
    step_ctx *c = ud;
    proxy_redeploy *r = c->r;
    proxy *p = r->p;
    r->busy = false;
    cc_list_remove(&r->pending, &c->node);
    ledger_old_contract *o = find_old(p, c->contract);
    if (!sent || !o) {
        failed(r, c->kind == STEP_PARTY ? (c->client ? "final charge" : "last payout") : "close",
               sent ? "old contract gone" : error);
        free(c);
        return;
    }
    r->confirmed++;
    cc_err err = {0};
    int rc = 0;
    if (c->kind == STEP_CLOSE) {
        rc = ledger_old_set_state(p->ledger, o, LEDGER_OLD_CLIENTS, 0, &err);
    } else if (c->kind == STEP_PARTY) {
        for (size_t i = 0; i < o->n_parties; i++)
            if (o->parties[i].client == c->client && strcmp(o->parties[i].owner, c->owner) == 0) {
                rc = ledger_old_party_done(p->ledger, o, i, &err);
                break;
            }
    } /* STEP_COMPLETE: done once a read shows the contract closed */
    CC_INFO("event=old_contract_step_done contract=%s step=%s owner=%s state=%s", c->contract,
            c->kind == STEP_CLOSE      ? "close_request"
            : c->kind == STEP_COMPLETE ? "close_complete"
            : c->client                ? "final_charge"
                                       : "last_payout",
            c->owner[0] ? c->owner : "-", state_name(o->state));
    free(c);
    if (rc < 0) {
        failed(r, "ledger", err.msg);
        return;
    }
    arm(r, 0);
}

static void send_step(proxy_redeploy *r, ledger_old_contract *o, int kind,
                      const ledger_old_party *party)
{
    proxy *p = r->p;
    daemon_wallet *wallet = proxy_chain_wallet(p);
    cc_err err = {0};
    ton_addr old, dest;
    ton_cell *body = NULL, *init = NULL;
    uint32_t op = kind == STEP_CLOSE      ? TON_OP_PROXY_CLOSE_SIGNED
                  : kind == STEP_COMPLETE ? TON_OP_PROXY_CLOSE_COMPLETE_SIGNED
                  : party->client         ? TON_OP_CLIENT_GRANT_REFUND_SIGNED
                                          : TON_OP_WORKER_LAST_PAYOUT_SIGNED;
    int rc = ton_addr_parse(o->address, &old, NULL, NULL, &err);
    if (rc == 0 && kind != STEP_PARTY) {
        dest = old;
        body = proxy_chain_voucher(p, op, &old, -1, &err);
    } else if (rc == 0) {
        rc = ton_addr_parse(party->sc_address, &dest, NULL, NULL, &err);
        if (rc == 0) body = proxy_chain_voucher(p, op, &dest, party->tokens, &err);
        /* A worker contract never deployed is deployed by its last payout,
         * as by any of our payouts (it carries its StateInit). */
        ton_root_params params = {0};
        if (body && !party->client && params_of(o->params, o->params_len, &params, &err) == 0)
            init = proxy_chain_party_init(p, false, party->owner, &old, &params, &err);
        ton_root_params_clear(&params);
        if (body && !party->client && !init) rc = -1;
    }
    if (rc < 0 || !body || !wallet) {
        ton_cell_unref(body);
        ton_cell_unref(init);
        failed(r, "build", wallet ? err.msg : "no chain wallet");
        return;
    }
    step_ctx *c = cc_calloc(1, sizeof *c);
    c->r = r;
    c->kind = kind;
    snprintf(c->contract, sizeof c->contract, "%s", o->address);
    if (party) {
        c->client = party->client;
        snprintf(c->owner, sizeof c->owner, "%s", party->owner);
    }
    ton_int_msg m = {.dest = dest, .value = STEP_VALUE, .bounce = true, .init = init, .body = body};
    rc = daemon_wallet_send(wallet, &m, on_step, c, &err);
    ton_cell_unref(body);
    ton_cell_unref(init);
    if (rc < 0) {
        free(c);
        failed(r, "send", err.msg);
        return;
    }
    cc_list_push_back(&r->pending, &c->node);
    r->busy = true;
    r->sent++;
    CC_INFO("event=old_contract_step contract=%s step=%s owner=%s tokens=%lld", o->address,
            kind == STEP_CLOSE      ? "close_request"
            : kind == STEP_COMPLETE ? "close_complete"
            : party->client         ? "final_charge"
                                    : "last_payout",
            party ? party->owner : "-", party ? (long long)party->tokens : 0LL);
}

/* ---- a closing contract: its unlock time against the chain's clock ------ */

static void read_done(proxy_redeploy *r, const char *error)
{
    r->busy = false;
    r->op = NULL;
    if (error) failed(r, "read", error);
}

static void on_data(void *ud, json_t *result, const cc_err *rerr)
{
    proxy_redeploy *r = ud;
    proxy *p = r->p;
    cc_err err = {0};
    ton_stack st;
    ton_proxy_state ps;
    if (!result) {
        read_done(r, rerr->msg);
        return;
    }
    int rc = ton_stack_parse_json(result, &st, &err);
    if (rc == 0) {
        rc = st.exit_code == 0 || st.exit_code == 1
                 ? ton_proxy_state_from_stack(&st, &ps, &err)
                 : cc_err_set(&err, "get_proxy_data: exit code %d", st.exit_code);
        ton_stack_free(&st);
    }
    ledger_old_contract *o = find_old(p, r->reading);
    if (rc < 0 || !o) {
        read_done(r, rc < 0 ? err.msg : NULL);
        return;
    }
    read_done(r, NULL);
    if (ps.state == 2) {
        if (ledger_old_set_state(p->ledger, o, LEDGER_OLD_CLOSED, 0, &err) < 0) {
            failed(r, "ledger", err.msg);
            return;
        }
        CC_INFO("event=old_contract_closed contract=%s", o->address);
        arm(r, 0);
        return;
    }
    if (ps.state == 0) {
        /* The close request did not take (it bounced): send it again. */
        CC_WARN("event=old_contract_not_closing contract=%s", o->address);
        if (ledger_old_set_state(p->ledger, o, LEDGER_OLD_CLOSE_REQUEST, 0, &err) < 0)
            failed(r, "ledger", err.msg);
        else
            arm(r, 0);
        return;
    }
    if ((int64_t)ps.unlock_ts != o->unlock_ts &&
        ledger_old_set_state(p->ledger, o, LEDGER_OLD_CLOSING, ps.unlock_ts, &err) < 0) {
        failed(r, "ledger", err.msg);
        return;
    }
    if (r->chain_now >= ps.unlock_ts) {
        send_step(r, o, STEP_COMPLETE, NULL);
        return;
    }
    double wait = (double)(ps.unlock_ts - r->chain_now);
    double poll = CC_MIN(r->refresh, CLOSING_POLL_MAX);
    arm(r, CC_MIN(wait, poll));
}

static void on_account(void *ud, json_t *result, const cc_err *rerr)
{
    proxy_redeploy *r = ud;
    proxy *p = r->p;
    cc_err err = {0};
    ton_account acc;
    r->op = NULL;
    if (!result || ton_account_from_json(result, &acc, &err) < 0) {
        read_done(r, result ? err.msg : rerr->msg);
        return;
    }
    bool active = strcmp(acc.state, "active") == 0,
         never = strcmp(acc.state, "uninit") == 0 || strcmp(acc.state, "uninitialized") == 0;
    r->chain_now = acc.sync_utime ? acc.sync_utime : (uint64_t)time(NULL);
    ton_account_clear(&acc);
    ledger_old_contract *o = find_old(p, r->reading);
    if (!o || !active) {
        read_done(r, NULL);
        /* Never deployed: nothing in it to close. */
        if (o && never && ledger_old_set_state(p->ledger, o, LEDGER_OLD_CLOSED, 0, &err) == 0)
            CC_INFO("event=old_contract_closed contract=%s reason=\"never deployed\"", o->address);
        arm(r, o && never ? 0 : CC_MIN(r->refresh, CLOSING_POLL_MAX));
        return;
    }
    json_t *body =
        json_pack("{s:s,s:s,s:[]}", "address", o->address, "method", "get_proxy_data", "stack");
    r->op = ton_api_call_async(proxy_chain_api(p), "runGetMethod", NULL, body, on_data, r, &err);
    json_decref(body);
    if (!r->op) read_done(r, err.msg);
}

static void read_closing(proxy_redeploy *r, ledger_old_contract *o)
{
    snprintf(r->reading, sizeof r->reading, "%s", o->address);
    char *colon = strchr(o->address, ':');
    if (!colon) {
        failed(r, "read", "bad address");
        return;
    }
    char q[200];
    snprintf(q, sizeof q, "address=%.*s%%3A%s", (int)(colon - o->address), o->address, colon + 1);
    cc_err err = {0};
    r->busy = true;
    r->reads++;
    r->op = ton_api_call_async(proxy_chain_api(r->p), "getAddressInformation", q, NULL, on_account,
                               r, &err);
    if (!r->op) read_done(r, err.msg);
}

/* ---- the driver ---------------------------------------------------------- */

static const ledger_old_party *next_party(const ledger_old_contract *o, bool client)
{
    for (size_t i = 0; i < o->n_parties; i++)
        if (o->parties[i].client == client) return &o->parties[i];
    return NULL;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    proxy_redeploy *r = arg;
    proxy *p = r->p;
    if (r->busy || !proxy_chain_wallet(p)) return;
    size_t n = ledger_n_old(p->ledger);
    /* Steps to send first: a contract waiting out its delay (an hour by
     * default) must not hold back one retired after it. */
    for (size_t i = 0; i < n; i++) {
        ledger_old_contract *o = ledger_old_at(p->ledger, i);
        if (o->state == LEDGER_OLD_CLOSE_REQUEST) {
            send_step(r, o, STEP_CLOSE, NULL);
            return;
        }
        if (o->state != LEDGER_OLD_CLIENTS && o->state != LEDGER_OLD_WORKERS) continue;
        const ledger_old_party *party = next_party(o, o->state == LEDGER_OLD_CLIENTS);
        if (party) {
            send_step(r, o, STEP_PARTY, party);
        } else { /* recorded before its state moved on */
            cc_err err = {0};
            if (ledger_old_set_state(p->ledger, o, o->state + 1, o->unlock_ts, &err) < 0)
                failed(r, "ledger", err.msg);
            else
                arm(r, 0);
        }
        return;
    }
    /* Then the closing ones, in turn. */
    for (size_t k = 0; k < n; k++) {
        r->next_closing = (r->next_closing + 1) % n;
        ledger_old_contract *o = ledger_old_at(p->ledger, r->next_closing);
        if (o->state == LEDGER_OLD_CLOSING) {
            read_closing(r, o);
            return;
        }
    }
}

void proxy_redeploy_kick(proxy *p)
{
    proxy_redeploy *r = p->redeploy;
    if (r && !r->busy) arm(r, 0);
}

/* The contracts of the accounts still under the recorded contract, derived
 * with its params, for the ones that never had theirs filled in. */
static void fill_parties(proxy *p, const char *recorded, const uint8_t *boc, size_t len)
{
    ton_root_params params = {0};
    ton_addr sc;
    cc_err err = {0};
    if (ton_addr_parse(recorded, &sc, NULL, NULL, &err) < 0 ||
        params_of(boc, len, &params, &err) < 0) {
        CC_WARN("event=old_contract_params_unreadable contract=%s error=\"%s\"", recorded, err.msg);
        ton_root_params_clear(&params);
        return;
    }
    ledger *l = p->ledger;
    size_t n = ledger_n_clients(l) + ledger_n_workers(l);
    for (size_t i = 0; i < n; i++) {
        bool client = i < ledger_n_clients(l);
        ledger_client *c = client ? ledger_client_at(l, i) : NULL;
        ledger_worker *w = client ? NULL : ledger_worker_at(l, i - ledger_n_clients(l));
        char *addr = client ? c->sc_address : w->sc_address;
        if (addr[0]) continue;
        ton_cell *si =
            proxy_chain_party_init(p, client, client ? c->owner : w->owner, &sc, &params, &err);
        if (!si) continue;
        ton_addr a;
        ton_state_init_address(si, 0, &a);
        ton_cell_unref(si);
        ton_addr_to_raw(&a, addr, LEDGER_ADDR_MAX);
    }
    ton_root_params_clear(&params);
}

int proxy_redeploy_start(proxy *p, const char *contract, const ton_root_params *params,
                         double refresh, cc_err *err)
{
    cc_buf boc = CC_BUF_INIT;
    if (proxy_redeploy_params_boc(params, &boc, err) < 0) return cc_err_prefix(err, "root params");
    const uint8_t *rec_params = NULL;
    size_t rec_len = 0;
    const char *recorded = ledger_contract(p->ledger, &rec_params, &rec_len);
    if (recorded && strcmp(recorded, contract) != 0) {
        CC_WARN("event=proxy_redeploy old_contract=%s new_contract=%s reason=\"the root's params "
                "changed while the proxy was stopped\"",
                recorded, contract);
        fill_parties(p, recorded, rec_params, rec_len);
    }
    int rc = ledger_set_contract(p->ledger, contract, boc.data, boc.len, err);
    cc_buf_free(&boc);
    if (rc < 0) return cc_err_prefix(err, "recording the proxy contract");
    proxy_redeploy *r = cc_calloc(1, sizeof *r);
    r->p = p;
    r->refresh = refresh;
    r->timer = evtimer_new(p->base, tick, r);
    p->redeploy = r;
    for (size_t i = 0; i < ledger_n_old(p->ledger); i++) {
        const ledger_old_contract *o = ledger_old_at(p->ledger, i);
        if (o->state != LEDGER_OLD_CLOSED)
            CC_INFO("event=old_contract_resume contract=%s state=%s clients_and_workers=%zu",
                    o->address, state_name(o->state), o->n_parties);
    }
    arm(r, 0);
    return 0;
}

void proxy_redeploy_free(proxy *p)
{
    proxy_redeploy *r = p->redeploy;
    if (!r) return;
    p->redeploy = NULL;
    if (r->op) ton_api_cancel(r->op);
    /* The wallet is freed next and drops these without calling back. */
    while (r->pending.first) {
        cc_list_node *n = r->pending.first;
        cc_list_remove(&r->pending, n);
        free(n);
    }
    if (r->timer) event_free(r->timer);
    free(r);
}

json_t *proxy_redeploy_json(const proxy *p)
{
    const proxy_redeploy *r = p->redeploy;
    json_t *list = json_array();
    for (size_t i = 0; i < ledger_n_old(p->ledger); i++) {
        const ledger_old_contract *o = ledger_old_at(p->ledger, i);
        size_t clients = 0;
        for (size_t k = 0; k < o->n_parties; k++)
            clients += o->parties[k].client;
        json_array_append_new(
            list, json_pack("{s:s,s:s,s:I,s:I,s:I}", "address", o->address, "state",
                            state_name(o->state), "unlock_ts", (json_int_t)o->unlock_ts, "clients",
                            (json_int_t)clients, "workers", (json_int_t)(o->n_parties - clients)));
    }
    return json_pack("{s:o,s:I,s:I,s:I,s:I,s:s}", "contracts", list, "sent",
                     (json_int_t)(r ? r->sent : 0), "confirmed", (json_int_t)(r ? r->confirmed : 0),
                     "failures", (json_int_t)(r ? r->failures : 0), "reads",
                     (json_int_t)(r ? r->reads : 0), "last_error", r ? r->last_error : "");
}
