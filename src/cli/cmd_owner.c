/* `cocoon client`, `cocoon worker` and `cocoon proxy`: what an owner does
 * with the client or worker contract that pairs their wallet with one proxy
 * (COCOON's client "top up / withdraw / close" and worker "payout" actions,
 * runners/client/ClientProxyInfo.h and runners/worker/WorkerRunner.cpp), or
 * with the proxy contract it owns (its stake and earned share, COCOON's
 * proxy /request/withdraw, runners/proxy/ProxyRunner.cpp), sent from the
 * owner's wallet through the HTTP API with the blocking ton_api calls.
 *
 * The contract's address is derived as the contracts derive it (root params,
 * owner, proxy contract, proxy key); the messages are the same bodies
 * `cocoon ton body` builds, and the transfer is `cocoon wallet send`'s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/ton_cli.h"

/* Attached to each request for the contract's gas; the rest comes back to
 * the owner as the excess (COCOON's client sends 0.7 TON, more than the
 * contracts need). */
#define GAS_NANO 100000000ull

static void client_usage(FILE *f)
{
    fprintf(f,
            "usage: cocoon client status|topup AMOUNT|withdraw|close --keys OWNER.json --api URL\n"
            "         --root ADDR --proxy-contract ADDR --proxy-pub HEX [--wait] [--json]\n"
            "  status    the client contract: state, balance, stake, tokens charged\n"
            "  topup     adds AMOUNT TON to the balance (the first top-up deploys it)\n"
            "  withdraw  takes back what is above the stake\n"
            "  close     asks for the refund (the proxy settles, or after the delay the\n"
            "            contract pays out by itself)\n");
}

static void worker_usage(FILE *f)
{
    fprintf(f, "usage: cocoon worker status|payout VOUCHER --keys OWNER.json --api URL\n"
               "         --root ADDR --proxy-contract ADDR --proxy-pub HEX [--wait] [--json]\n"
               "  status  the worker contract: state and tokens paid out\n"
               "  payout  sends the proxy's signed payout VOUCHER (hex, base64 or @FILE; the\n"
               "          worker's /jsonstats shows the latest) to the worker contract\n");
}

static void proxy_usage(FILE *f)
{
    fprintf(f,
            "usage: cocoon proxy status|topup AMOUNT|withdraw --keys OWNER.json --api URL\n"
            "         --root ADDR --proxy-pub HEX [--wait] [--json]\n"
            "  status    the proxy contract OWNER owns with that key: state, earned share, stake\n"
            "  topup     adds AMOUNT TON to its stake (the first top-up deploys it)\n"
            "  withdraw  pays the earned share to the owner (nothing is sent when it is 0)\n");
}

typedef struct owner_ctx {
    tcli_keys keys;
    ton_addr owner, contract;
    ton_cell *init; /* the contract's StateInit (deploys it with the first message) */
    ton_api *api;
} owner_ctx;

static int fail(const char *cmd, const cc_err *err)
{
    fprintf(stderr, "%s: %s\n", cmd, err->msg);
    return 1;
}

static int parse_addr(const tcli_args *a, const char *name, ton_addr *out, cc_err *err)
{
    const char *v = tcli_opt(a, name);
    if (!v) return cc_err_set(err, "%s ADDR is required", name);
    if (ton_addr_parse(v, out, NULL, NULL, err) < 0) return cc_err_prefix(err, "%s", name);
    return 0;
}

static int ctx_open(const tcli_args *a, const char *kind, const char *cmd, owner_ctx *c)
{
    memset(c, 0, sizeof(*c));
    cc_err err = {0};
    ton_addr root, proxy_contract;
    uint8_t pub[32];
    const char *keys = tcli_opt(a, "--keys"), *pub_hex = tcli_opt(a, "--proxy-pub");
    bool proxy = !strcmp(kind, "proxy"); /* its own contract: no proxy contract to name */
    if (!keys)
        cc_err_set(&err, "--keys OWNER.json is required");
    else if (!pub_hex)
        cc_err_set(&err, "--proxy-pub HEX is required");
    if (err.msg[0] || parse_addr(a, "--root", &root, &err) < 0 ||
        (!proxy && parse_addr(a, "--proxy-contract", &proxy_contract, &err) < 0) ||
        tcli_parse_hash(pub_hex, pub, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return 2;
    }
    if (tcli_keys_load(keys, &c->keys, &err) < 0 ||
        ton_wallet_address(&c->keys.wallet, &c->owner, &err) < 0)
        return fail(cmd, &err);
    c->api = tcli_api(a, cmd);
    if (!c->api) return 2;
    c->init =
        tcli_party_init(c->api, kind, &root, &c->owner, proxy ? NULL : &proxy_contract, pub, &err);
    if (!c->init) return fail(cmd, &err);
    ton_state_init_address(c->init, 0, &c->contract);
    return 0;
}

static void ctx_close(owner_ctx *c)
{
    ton_cell_unref(c->init);
    ton_api_free(c->api);
}

static json_t *base_report(const owner_ctx *c)
{
    char contract[80], owner[80];
    ton_addr_to_raw(&c->contract, contract, sizeof contract);
    ton_addr_to_raw(&c->owner, owner, sizeof owner);
    return json_pack("{s:s,s:s}", "contract", contract, "owner", owner);
}

enum { K_CLIENT, K_WORKER, K_PROXY };

/* The contract's figures into report; an undeployed one is "deployed": false. */
static int add_state(owner_ctx *c, int kind, json_t *report, cc_err *err)
{
    ton_account acc;
    if (ton_api_get_address_information(c->api, &c->contract, &acc, err) < 0) return -1;
    bool active = !strcmp(acc.state, "active");
    uint64_t ton_balance = acc.balance;
    ton_account_clear(&acc);
    json_object_set_new(report, "deployed", json_boolean(active));
    json_object_set_new(report, "ton_balance", json_integer((json_int_t)ton_balance));
    if (!active) return 0;
    static const char *const names[] = {"open", "closing", "closed"};
    if (kind == K_PROXY) {
        ton_proxy_state s;
        if (ton_proxy_state_fetch(c->api, &c->contract, &s, err) < 0) return -1;
        json_object_set_new(report, "state", json_string(s.state < 3 ? names[s.state] : "?"));
        json_object_set_new(report, "earned_nano", json_integer((json_int_t)s.balance));
        json_object_set_new(report, "stake_nano", json_integer((json_int_t)s.stake));
        json_object_set_new(report, "unlock_ts", json_integer((json_int_t)s.unlock_ts));
    } else if (kind == K_CLIENT) {
        ton_client_state s;
        if (ton_client_state_fetch(c->api, &c->contract, &s, err) < 0) return -1;
        json_object_set_new(report, "state", json_string(s.state < 3 ? names[s.state] : "?"));
        json_object_set_new(report, "balance_nano", json_integer((json_int_t)s.balance));
        json_object_set_new(report, "stake_nano", json_integer((json_int_t)s.stake));
        json_object_set_new(report, "tokens_charged", json_integer((json_int_t)s.tokens_used));
        json_object_set_new(report, "unlock_ts", json_integer((json_int_t)s.unlock_ts));
    } else {
        ton_worker_state s;
        if (ton_worker_state_fetch(c->api, &c->contract, &s, err) < 0) return -1;
        json_object_set_new(report, "state", json_string(s.state == 0 ? "open" : "closed"));
        json_object_set_new(report, "tokens_paid", json_integer((json_int_t)s.tokens));
    }
    return 0;
}

static void print_report(const tcli_args *a, json_t *report)
{
    if (tcli_flag(a, "--json")) {
        tcli_print_json(report);
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(report, key, v)
    {
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        printf("%-16s %s\n", key, s ? s : "?");
        free(s);
    }
    json_decref(report);
}

/* Waits until the contract has a transaction after the one at lt (the
 * message sent has been processed), polling as tcli_send does its seqno. */
static int wait_contract_tx(owner_ctx *c, uint64_t lt, cc_err *err)
{
    double deadline = cc_now_mono() + 60;
    while (cc_now_mono() < deadline) {
        ton_account now = {0};
        int rc = ton_api_get_address_information(c->api, &c->contract, &now, err);
        uint64_t last = now.last_lt;
        ton_account_clear(&now);
        if (rc == 0 && last > lt) return 0;
        usleep(300 * 1000);
    }
    return cc_err_set(err, "the contract showed no transaction within 60 s of the wallet's");
}

/* Sends body with value to the contract (with its StateInit, which the chain
 * ignores once it is deployed); with --wait, also shows the state after. */
static int send_to_contract(const tcli_args *a, owner_ctx *c, int kind, const char *cmd,
                            ton_cell *body, uint64_t value, json_t *extra)
{
    cc_err err = {0};
    json_t *report = base_report(c);
    if (extra) json_object_update(report, extra);
    json_decref(extra);
    json_t *tx = json_object();
    ton_int_msg m = {
        .dest = c->contract, .value = value, .bounce = true, .init = c->init, .body = body};
    bool wait = tcli_flag(a, "--wait");
    /* The contract's last transaction before: the wallet's seqno moves when
     * the wallet has sent, a block or more before the contract runs. */
    ton_account before = {0};
    int rc = wait ? ton_api_get_address_information(c->api, &c->contract, &before, &err) : 0;
    if (rc == 0) rc = tcli_send(c->api, &c->keys, &m, wait, tx, &err);
    ton_cell_unref(body);
    json_object_set_new(report, "sent_nano", json_integer((json_int_t)value));
    json_object_set_new(report, "transfer", tx);
    if (rc == 0 && wait) rc = wait_contract_tx(c, before.last_lt, &err);
    ton_account_clear(&before);
    if (rc == 0 && wait) rc = add_state(c, kind, report, &err);
    if (rc < 0) {
        json_decref(report);
        return fail(cmd, &err);
    }
    print_report(a, report);
    return 0;
}

static int parse_args(int argc, char **argv, const char *cmd, tcli_args *a)
{
    static const char *const flags[] = {"--json", "--wait", NULL};
    static const char *const valued[] = {"--keys",      "--api", "--root", "--proxy-contract",
                                         "--proxy-pub", "--qid", NULL};
    return tcli_parse(argc, argv, 1, flags, valued, cmd, a);
}

static uint64_t qid_of(const tcli_args *a)
{
    int64_t q = 0;
    const char *v = tcli_opt(a, "--qid");
    if (v && cc_parse_i64(v, 0, INT64_MAX, &q, NULL) == 0) return (uint64_t)q;
    return (uint64_t)cc_now_wall();
}

int cli_cmd_client(int argc, char **argv)
{
    const char *cmd = "cocoon client";
    tcli_args a;
    int parsed = argc < 2 ? -2 : parse_args(argc, argv, cmd, &a);
    if (parsed == 1) {
        client_usage(stdout);
        return 0;
    }
    const char *sub = parsed == 0 ? a.pos[0] : NULL;
    int want = sub && !strcmp(sub, "topup") ? 2 : 1;
    if (parsed < 0 || !sub || a.n_pos != want ||
        (strcmp(sub, "status") && strcmp(sub, "topup") && strcmp(sub, "withdraw") &&
         strcmp(sub, "close"))) {
        client_usage(stderr);
        return 2;
    }
    cc_err err = {0};
    uint64_t amount = 0;
    if (want == 2 && tcli_parse_ton(a.pos[1], &amount, &err) < 0) return fail(cmd, &err);
    owner_ctx c;
    int rc = ctx_open(&a, "client", cmd, &c);
    if (rc != 0) {
        ctx_close(&c);
        return rc;
    }
    if (!strcmp(sub, "status")) {
        json_t *report = base_report(&c);
        if (add_state(&c, K_CLIENT, report, &err) < 0) {
            json_decref(report);
            rc = fail(cmd, &err);
        } else {
            print_report(&a, report);
        }
    } else {
        ton_cell *body = NULL;
        uint64_t value = GAS_NANO;
        if (!strcmp(sub, "topup")) {
            body = ton_body_coins_addr(TON_OP_CLIENT_TOP_UP, qid_of(&a), amount, &c.owner, &err);
            value += amount;
        } else if (!strcmp(sub, "withdraw")) {
            body = ton_body_addr(TON_OP_CLIENT_WITHDRAW, qid_of(&a), &c.owner, &err);
        } else {
            body = ton_body_addr(TON_OP_CLIENT_REQUEST_REFUND, qid_of(&a), &c.owner, &err);
        }
        rc = body ? send_to_contract(&a, &c, K_CLIENT, cmd, body, value, NULL) : fail(cmd, &err);
    }
    ctx_close(&c);
    return rc;
}

int cli_cmd_worker(int argc, char **argv)
{
    const char *cmd = "cocoon worker";
    tcli_args a;
    int parsed = argc < 2 ? -2 : parse_args(argc, argv, cmd, &a);
    if (parsed == 1) {
        worker_usage(stdout);
        return 0;
    }
    const char *sub = parsed == 0 ? a.pos[0] : NULL;
    int want = sub && !strcmp(sub, "payout") ? 2 : 1;
    if (parsed < 0 || !sub || a.n_pos != want || (strcmp(sub, "status") && strcmp(sub, "payout"))) {
        worker_usage(stderr);
        return 2;
    }
    cc_err err = {0};
    ton_cell *body = NULL;
    if (want == 2) {
        /* The proxy signed the voucher; who relays it chooses excess_to: the
         * owner takes the change back (COCOON's repack_signed_pay_message). */
        ton_cell *given = tcli_load_boc(a.pos[1], &err);
        ton_voucher v;
        if (!given || ton_voucher_parse(given, &v, &err) < 0) {
            ton_cell_unref(given);
            return fail(cmd, &err);
        }
        ton_cell_unref(given);
        if (v.is_close ||
            (v.op != TON_OP_WORKER_PAYOUT_SIGNED && v.op != TON_OP_WORKER_LAST_PAYOUT_SIGNED)) {
            cc_err_set(&err, "the voucher is not a worker payout (op 0x%08x)", v.op);
            return fail(cmd, &err);
        }
        owner_ctx c;
        int rc = ctx_open(&a, "worker", cmd, &c);
        if (rc == 0) {
            v.excess_to = c.owner;
            if (!ton_addr_equal(&v.target, &c.contract)) {
                cc_err_set(&err, "the voucher pays another contract than this owner's");
                rc = fail(cmd, &err);
            } else if (!(body = ton_voucher_outer(&v, &err))) {
                rc = fail(cmd, &err);
            } else {
                rc = send_to_contract(&a, &c, K_WORKER, cmd, body, 2 * GAS_NANO, NULL);
            }
        }
        ctx_close(&c);
        return rc;
    }
    owner_ctx c;
    int rc = ctx_open(&a, "worker", cmd, &c);
    if (rc == 0) {
        json_t *report = base_report(&c);
        if (add_state(&c, K_WORKER, report, &err) < 0) {
            json_decref(report);
            rc = fail(cmd, &err);
        } else {
            print_report(&a, report);
        }
    }
    ctx_close(&c);
    return rc;
}

/* The proxy contract OWNER owns with the proxy key --proxy-pub (derived from
 * the root's params as the proxy derives it at start). A top-up is
 * ext_proxy_increase_stake (anyone may send it; ours carries the StateInit,
 * so it also deploys); a withdrawal is ext_proxy_payout_request, the op
 * COCOON's proxy sends (ProxyContract::create_withdraw_message): the
 * contract pays its whole earned share to the owner. */
int cli_cmd_proxy(int argc, char **argv)
{
    const char *cmd = "cocoon proxy";
    tcli_args a;
    int parsed = argc < 2 ? -2 : parse_args(argc, argv, cmd, &a);
    if (parsed == 1) {
        proxy_usage(stdout);
        return 0;
    }
    const char *sub = parsed == 0 ? a.pos[0] : NULL;
    int want = sub && !strcmp(sub, "topup") ? 2 : 1;
    if (parsed < 0 || !sub || a.n_pos != want ||
        (strcmp(sub, "status") && strcmp(sub, "topup") && strcmp(sub, "withdraw"))) {
        proxy_usage(stderr);
        return 2;
    }
    cc_err err = {0};
    uint64_t amount = 0;
    if (want == 2 && tcli_parse_ton(a.pos[1], &amount, &err) < 0) return fail(cmd, &err);
    if (want == 2 && amount == 0) {
        fprintf(stderr, "%s: AMOUNT must be above 0\n", cmd);
        return 2;
    }
    owner_ctx c;
    int rc = ctx_open(&a, "proxy", cmd, &c);
    if (rc != 0) {
        ctx_close(&c);
        return rc;
    }
    json_t *report = base_report(&c);
    if (!strcmp(sub, "topup")) {
        json_decref(report);
        ton_cell *body =
            ton_body_coins_addr(TON_OP_PROXY_INCREASE_STAKE, qid_of(&a), amount, &c.owner, &err);
        rc = body ? send_to_contract(&a, &c, K_PROXY, cmd, body, amount + GAS_NANO, NULL)
                  : fail(cmd, &err);
    } else if (add_state(&c, K_PROXY, report, &err) < 0) {
        json_decref(report);
        rc = fail(cmd, &err);
    } else if (!strcmp(sub, "status")) {
        print_report(&a, report);
    } else {
        /* Nothing earned: nothing to send (the contract would pay 0 and keep
         * the fees), as COCOON's http_withdraw answers. */
        json_t *earned = json_object_get(report, "earned_nano");
        if (!earned || json_integer_value(earned) == 0) {
            json_object_set_new(report, "result", json_string("nothing to withdraw"));
            print_report(&a, report);
        } else {
            json_int_t share = json_integer_value(earned);
            json_decref(report);
            ton_cell *body = ton_body_addr(TON_OP_PROXY_PAYOUT_REQUEST, qid_of(&a), &c.owner, &err);
            if (!body) {
                rc = fail(cmd, &err);
            } else {
                rc = send_to_contract(&a, &c, K_PROXY, cmd, body, GAS_NANO,
                                      json_pack("{s:I}", "withdrawn_nano", share));
            }
        }
    }
    ctx_close(&c);
    return rc;
}
