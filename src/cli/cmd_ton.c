/* `cocoon ton boc|address|body|voucher|contract`: TON data from the command
 * line — inspect bags of cells and addresses, and build the message bodies,
 * vouchers and contract addresses of contracts/SPEC.md (printed as BoC hex so
 * scripts can pass them to `cocoon wallet send --body`). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/ton_cli.h"
#include "crypto/crypto.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cocoon ton boc HEX|BASE64|@FILE [--json]\n"
            "       cocoon ton address ADDRESS [--json]\n"
            "       cocoon ton body OP ARGS...          (prints the body BoC as hex)\n"
            "         client-top-up AMOUNT EXCESS_TO     client-top-up-reopen AMOUNT EXCESS_TO\n"
            "         client-increase-stake NEW_STAKE EXCESS_TO\n"
            "         client-withdraw EXCESS_TO          client-register NONCE EXCESS_TO\n"
            "         client-change-secret-hash HASH EXCESS_TO\n"
            "         client-change-secret-hash-and-top-up AMOUNT HASH EXCESS_TO\n"
            "         client-request-refund EXCESS_TO    worker-register EXCESS_TO\n"
            "         proxy-increase-stake AMOUNT EXCESS_TO  proxy-payout EXCESS_TO\n"
            "         proxy-close EXCESS_TO              proxy-save-state SEQNO HASH\n"
            "         (AMOUNT in TON, e.g. 1.5; --qid N sets the query id)\n"
            "       cocoon ton voucher sign --keys FILE --op charge|refund|payout|last-payout\n"
            "                               --tokens N --target ADDR --excess-to ADDR [--qid N]\n"
            "       cocoon ton voucher sign --keys FILE --op close|close-complete\n"
            "                               --target ADDR --excess-to ADDR [--qid N]\n"
            "       cocoon ton voucher verify BOC --pub HEX [--json]\n"
            "       cocoon ton contract client|worker|proxy --api URL --root ADDR --owner ADDR\n"
            "                               --proxy-pub HEX [--proxy-contract ADDR] [--json]\n"
            "       cocoon ton state client|worker|proxy ADDR --api URL\n");
}

static int fail(const char *what, const cc_err *err)
{
    fprintf(stderr, "cocoon ton %s: %s\n", what, err->msg);
    return 1;
}

static int cmd_boc(const tcli_args *a)
{
    if (a->n_pos != 2) {
        usage(stderr);
        return 2;
    }
    cc_err err = {0};
    ton_cell *c = tcli_load_boc(a->pos[1], &err);
    if (!c) return fail("boc", &err);
    char hash[65];
    cc_hex_encode(ton_cell_hash(c), 32, hash);
    char *hex = tcli_boc_hex(c);
    if (tcli_flag(a, "--json")) {
        tcli_print_json(json_pack("{s:s,s:i,s:I,s:s}", "root_hash", hash, "depth",
                                  (int)ton_cell_depth(c), "cells", (json_int_t)ton_cell_count(c),
                                  "boc", hex));
    } else {
        printf("root_hash %s\ndepth     %u\ncells     %zu\nboc       %s\n", hash, ton_cell_depth(c),
               ton_cell_count(c), hex);
    }
    free(hex);
    ton_cell_unref(c);
    return 0;
}

static int cmd_address(const tcli_args *a)
{
    if (a->n_pos != 2) {
        usage(stderr);
        return 2;
    }
    ton_addr addr;
    bool bounce, test;
    cc_err err = {0};
    if (ton_addr_parse(a->pos[1], &addr, &bounce, &test, &err) < 0) return fail("address", &err);
    char raw[80], b[49], nb[49], tb[49], tnb[49];
    ton_addr_to_raw(&addr, raw, sizeof raw);
    ton_addr_to_friendly(&addr, true, false, true, b);
    ton_addr_to_friendly(&addr, false, false, true, nb);
    ton_addr_to_friendly(&addr, true, true, true, tb);
    ton_addr_to_friendly(&addr, false, true, true, tnb);
    if (tcli_flag(a, "--json")) {
        tcli_print_json(json_pack("{s:s,s:i,s:s,s:s,s:s,s:s}", "raw", raw, "workchain",
                                  (int)addr.wc, "bounceable", b, "non_bounceable", nb,
                                  "testnet_bounceable", tb, "testnet_non_bounceable", tnb));
    } else {
        printf("raw                    %s\nbounceable             %s\nnon_bounceable         "
               "%s\ntestnet_bounceable     %s\ntestnet_non_bounceable %s\n",
               raw, b, nb, tb, tnb);
    }
    return 0;
}

static int parse_addr_arg(const char *text, ton_addr *out, cc_err *err)
{
    if (!text) return cc_err_set(err, "missing address argument");
    return ton_addr_parse(text, out, NULL, NULL, err);
}

static int cmd_body(const tcli_args *a)
{
    if (a->n_pos < 2) {
        usage(stderr);
        return 2;
    }
    static const struct {
        const char *name;
        uint32_t op;
        int kind; /* 0: AMOUNT EXCESS_TO, 1: EXCESS_TO */
    } simple[] = {
        {"client-top-up", TON_OP_CLIENT_TOP_UP, 0},
        {"client-top-up-reopen", TON_OP_CLIENT_TOP_UP_REOPEN, 0},
        {"client-increase-stake", TON_OP_CLIENT_INCREASE_STAKE, 0},
        {"proxy-increase-stake", TON_OP_PROXY_INCREASE_STAKE, 0},
        {"client-withdraw", TON_OP_CLIENT_WITHDRAW, 1},
        {"client-request-refund", TON_OP_CLIENT_REQUEST_REFUND, 1},
        {"worker-register", TON_OP_WORKER_REGISTER, 1},
        {"proxy-payout", TON_OP_PROXY_PAYOUT_REQUEST, 1},
        {"proxy-close", TON_OP_PROXY_CLOSE, 1},
    };
    const char *op = a->pos[1];
    cc_err err = {0};
    int64_t qid = 0;
    const char *q = tcli_opt(a, "--qid");
    if (q && cc_parse_i64(q, 0, INT64_MAX, &qid, &err) < 0) return fail("body", &err);
    ton_cell *body = NULL;
    ton_addr excess;
    for (size_t i = 0; i < CC_ARRAY_LEN(simple) && !body; i++) {
        if (strcmp(op, simple[i].name)) continue;
        if (simple[i].kind == 1) {
            if (a->n_pos != 3 || parse_addr_arg(a->pos[2], &excess, &err) < 0)
                return a->n_pos != 3 ? (usage(stderr), 2) : fail("body", &err);
            body = ton_body_addr(simple[i].op, (uint64_t)qid, &excess, &err);
        } else {
            uint64_t amount;
            if (a->n_pos != 4) {
                usage(stderr);
                return 2;
            }
            if (tcli_parse_ton(a->pos[2], &amount, &err) < 0 ||
                parse_addr_arg(a->pos[3], &excess, &err) < 0)
                return fail("body", &err);
            body = ton_body_coins_addr(simple[i].op, (uint64_t)qid, amount, &excess, &err);
        }
        if (!body) return fail("body", &err);
    }
    if (!body && !strcmp(op, "client-register")) {
        int64_t nonce;
        if (a->n_pos != 4) {
            usage(stderr);
            return 2;
        }
        if (cc_parse_i64(a->pos[2], 0, INT64_MAX, &nonce, &err) < 0 ||
            parse_addr_arg(a->pos[3], &excess, &err) < 0)
            return fail("body", &err);
        body = ton_body_client_register((uint64_t)qid, (uint64_t)nonce, &excess, &err);
    } else if (!body && !strcmp(op, "client-change-secret-hash")) {
        uint8_t h[32];
        if (a->n_pos != 4) {
            usage(stderr);
            return 2;
        }
        if (tcli_parse_hash(a->pos[2], h, &err) < 0 || parse_addr_arg(a->pos[3], &excess, &err) < 0)
            return fail("body", &err);
        body = ton_body_client_change_secret_hash((uint64_t)qid, h, &excess, &err);
    } else if (!body && !strcmp(op, "client-change-secret-hash-and-top-up")) {
        uint8_t h[32];
        uint64_t amount;
        if (a->n_pos != 5) {
            usage(stderr);
            return 2;
        }
        if (tcli_parse_ton(a->pos[2], &amount, &err) < 0 ||
            tcli_parse_hash(a->pos[3], h, &err) < 0 || parse_addr_arg(a->pos[4], &excess, &err) < 0)
            return fail("body", &err);
        body =
            ton_body_client_change_secret_hash_and_top_up((uint64_t)qid, amount, h, &excess, &err);
    } else if (!body && !strcmp(op, "proxy-save-state")) {
        uint8_t h[32];
        int64_t seqno;
        if (a->n_pos != 4) {
            usage(stderr);
            return 2;
        }
        if (cc_parse_i64(a->pos[2], 0, UINT32_MAX, &seqno, &err) < 0 ||
            tcli_parse_hash(a->pos[3], h, &err) < 0)
            return fail("body", &err);
        body = ton_body_proxy_save_state((uint64_t)qid, (uint32_t)seqno, h, &err);
    } else if (!body) {
        fprintf(stderr, "cocoon ton body: unknown operation \"%s\"\n", op);
        return 2;
    }
    if (!body) return fail("body", &err);
    char *hex = tcli_boc_hex(body);
    printf("%s\n", hex);
    free(hex);
    ton_cell_unref(body);
    return 0;
}

static int cmd_voucher(const tcli_args *a)
{
    cc_err err = {0};
    if (a->n_pos >= 2 && !strcmp(a->pos[1], "sign")) {
        const char *keys = tcli_opt(a, "--keys"), *opname = tcli_opt(a, "--op");
        const char *tokens = tcli_opt(a, "--tokens"), *target = tcli_opt(a, "--target");
        const char *excess = tcli_opt(a, "--excess-to"), *q = tcli_opt(a, "--qid");
        if (!keys || !opname || !target || !excess) {
            usage(stderr);
            return 2;
        }
        tcli_keys k;
        ton_voucher v = {0};
        int64_t t = 0, qid = 0;
        if (!strcmp(opname, "charge"))
            v.op = TON_OP_CLIENT_CHARGE_SIGNED;
        else if (!strcmp(opname, "refund"))
            v.op = TON_OP_CLIENT_GRANT_REFUND_SIGNED;
        else if (!strcmp(opname, "payout"))
            v.op = TON_OP_WORKER_PAYOUT_SIGNED;
        else if (!strcmp(opname, "last-payout"))
            v.op = TON_OP_WORKER_LAST_PAYOUT_SIGNED;
        else if (!strcmp(opname, "close"))
            v.op = TON_OP_PROXY_CLOSE_SIGNED;
        else if (!strcmp(opname, "close-complete"))
            v.op = TON_OP_PROXY_CLOSE_COMPLETE_SIGNED;
        else {
            fprintf(stderr, "cocoon ton voucher: unknown --op \"%s\"\n", opname);
            return 2;
        }
        bool close =
            v.op == TON_OP_PROXY_CLOSE_SIGNED || v.op == TON_OP_PROXY_CLOSE_COMPLETE_SIGNED;
        if (!close && !tokens) {
            fprintf(stderr, "cocoon ton voucher sign: --tokens N is required\n");
            return 2;
        }
        if (tcli_keys_load(keys, &k, &err) < 0 ||
            (tokens && cc_parse_i64(tokens, 0, INT64_MAX, &t, &err) < 0) ||
            (q && cc_parse_i64(q, 0, INT64_MAX, &qid, &err) < 0) ||
            parse_addr_arg(target, &v.target, &err) < 0 ||
            parse_addr_arg(excess, &v.excess_to, &err) < 0)
            return fail("voucher", &err);
        v.tokens = (uint64_t)t;
        v.query_id = (uint64_t)qid;
        ton_cell *outer = ton_voucher_sign(&v, k.priv, &err);
        if (!outer) return fail("voucher", &err);
        char *hex = tcli_boc_hex(outer);
        printf("%s\n", hex);
        free(hex);
        ton_cell_unref(outer);
        return 0;
    }
    if (a->n_pos == 3 && !strcmp(a->pos[1], "verify")) {
        const char *pub_hex = tcli_opt(a, "--pub");
        uint8_t pub[32];
        if (!pub_hex || tcli_parse_hash(pub_hex, pub, &err) < 0) {
            fprintf(stderr, "cocoon ton voucher verify: --pub HEX (32-byte key) is required\n");
            return 2;
        }
        ton_cell *c = tcli_load_boc(a->pos[2], &err);
        if (!c) return fail("voucher", &err);
        ton_voucher v;
        int rc = ton_voucher_verify(c, pub, &v, &err);
        ton_cell_unref(c);
        if (rc < 0) return fail("voucher verify", &err);
        char target[80], excess[80];
        ton_addr_to_raw(&v.target, target, sizeof target);
        ton_addr_to_raw(&v.excess_to, excess, sizeof excess);
        json_t *j =
            json_pack("{s:b,s:I,s:I,s:s,s:s}", "valid", 1, "op", (json_int_t)v.op, "query_id",
                      (json_int_t)v.query_id, "target", target, "excess_to", excess);
        if (!v.is_close) json_object_set_new(j, "tokens", json_integer((json_int_t)v.tokens));
        tcli_print_json(j);
        return 0;
    }
    usage(stderr);
    return 2;
}

static int cmd_state(const tcli_args *a)
{
    if (a->n_pos != 3) {
        usage(stderr);
        return 2;
    }
    const char *kind = a->pos[1];
    cc_err err = {0};
    ton_addr addr;
    if (ton_addr_parse(a->pos[2], &addr, NULL, NULL, &err) < 0) return fail("state", &err);
    ton_api *api = tcli_api(a, "cocoon ton state");
    if (!api) return 2;
    int rc = -1;
    json_t *j = NULL;
    char hash[65];
    if (!strcmp(kind, "client")) {
        ton_client_state s;
        if ((rc = ton_client_state_fetch(api, &addr, &s, &err)) == 0) {
            cc_hex_encode(s.secret_hash, 32, hash);
            j = json_pack("{s:i,s:I,s:I,s:I,s:I,s:s}", "state", (int)s.state, "balance",
                          (json_int_t)s.balance, "stake", (json_int_t)s.stake, "tokens_used",
                          (json_int_t)s.tokens_used, "unlock_ts", (json_int_t)s.unlock_ts,
                          "secret_hash", hash);
        }
    } else if (!strcmp(kind, "proxy")) {
        ton_proxy_state s;
        if ((rc = ton_proxy_state_fetch(api, &addr, &s, &err)) == 0) {
            j = json_pack("{s:i,s:I,s:I,s:I}", "state", (int)s.state, "balance",
                          (json_int_t)s.balance, "stake", (json_int_t)s.stake, "unlock_ts",
                          (json_int_t)s.unlock_ts);
        }
    } else if (!strcmp(kind, "worker")) {
        ton_worker_state s;
        if ((rc = ton_worker_state_fetch(api, &addr, &s, &err)) == 0) {
            char owner[80], proxy[80];
            ton_addr_to_raw(&s.owner, owner, sizeof owner);
            ton_addr_to_raw(&s.proxy_contract, proxy, sizeof proxy);
            cc_hex_encode(s.proxy_pub, 32, hash);
            j = json_pack("{s:i,s:I,s:s,s:s,s:s}", "state", (int)s.state, "tokens",
                          (json_int_t)s.tokens, "owner", owner, "proxy_contract", proxy,
                          "proxy_pub", hash);
        }
    } else {
        cc_err_set(&err, "unknown contract kind \"%s\" (client, worker or proxy)", kind);
    }
    ton_api_free(api);
    if (rc < 0 || !j) return fail("state", &err);
    tcli_print_json(j);
    return 0;
}

/* The per-party contract address from the root's current params (codes,
 * prices and delays all enter the StateInit, so they come from the chain). */
static int cmd_contract(const tcli_args *a)
{
    if (a->n_pos != 2) {
        usage(stderr);
        return 2;
    }
    const char *kind = a->pos[1];
    cc_err err = {0};
    ton_addr root, owner, proxy_contract;
    uint8_t pub[32];
    const char *pub_hex = tcli_opt(a, "--proxy-pub");
    if (parse_addr_arg(tcli_opt(a, "--root"), &root, &err) < 0 ||
        parse_addr_arg(tcli_opt(a, "--owner"), &owner, &err) < 0 || !pub_hex ||
        tcli_parse_hash(pub_hex, pub, &err) < 0) {
        fprintf(stderr, "cocoon ton contract: --root, --owner and --proxy-pub are required%s%s\n",
                err.msg[0] ? ": " : "", err.msg);
        return 2;
    }
    bool need_proxy = strcmp(kind, "proxy") != 0;
    if (need_proxy && parse_addr_arg(tcli_opt(a, "--proxy-contract"), &proxy_contract, &err) < 0)
        return fail("contract (--proxy-contract)", &err);
    ton_api *api = tcli_api(a, "cocoon ton contract");
    if (!api) return 2;
    int rc = 1;
    ton_cell *si = tcli_party_init(api, kind, &root, &owner, &proxy_contract, pub, &err);
    if (si) {
        ton_addr addr;
        ton_state_init_address(si, 0, &addr);
        char raw[80], b[49];
        ton_addr_to_raw(&addr, raw, sizeof raw);
        ton_addr_to_friendly(&addr, true, false, true, b);
        char *hex = tcli_boc_hex(si);
        if (tcli_flag(a, "--json"))
            tcli_print_json(
                json_pack("{s:s,s:s,s:s}", "address", raw, "bounceable", b, "state_init", hex));
        else
            printf("address    %s\nbounceable %s\nstate_init %s\n", raw, b, hex);
        free(hex);
        ton_cell_unref(si);
        rc = 0;
    } else {
        fail("contract", &err);
    }
    ton_api_free(api);
    return rc;
}

int cli_cmd_ton(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    static const char *const flags[] = {"--json", NULL};
    static const char *const valued[] = {
        "--qid", "--keys", "--op",    "--tokens",    "--target",         "--excess-to", "--pub",
        "--api", "--root", "--owner", "--proxy-pub", "--proxy-contract", NULL};
    tcli_args a;
    int parsed = tcli_parse(argc, argv, 1, flags, valued, "cocoon ton", &a);
    if (parsed < 0) return 2;
    if (parsed > 0) {
        usage(stdout);
        return 0;
    }
    const char *sub = a.pos[0];
    if (!sub) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(sub, "boc")) return cmd_boc(&a);
    if (!strcmp(sub, "address")) return cmd_address(&a);
    if (!strcmp(sub, "body")) return cmd_body(&a);
    if (!strcmp(sub, "voucher")) return cmd_voucher(&a);
    if (!strcmp(sub, "contract")) return cmd_contract(&a);
    if (!strcmp(sub, "state")) return cmd_state(&a);
    fprintf(stderr, "cocoon ton: unknown subcommand \"%s\"\n", sub);
    usage(stderr);
    return 2;
}
