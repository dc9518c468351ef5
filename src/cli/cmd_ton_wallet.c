/* `cocoon wallet new|address|balance|send` (wallet v5r1 keys in a JSON file)
 * and `cocoon root show|<owner operation>` (the root registry, DESIGN §6.1),
 * over a TON HTTP API v2 endpoint given with --api URL. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/ton_cli.h"
#include "crypto/crypto.h"

static const char *const wallet_flags[] = {"--json",          "--force", "--testnet", "--bounce",
                                           "--no-bounce",     "--wait",  "--v4r2",    "--dry-run",
                                           "--registry-json", NULL};
static const char *const wallet_valued[] = {"--keys",    "--api",       "--to",        "--amount",
                                            "--nano",    "--comment",   "--body",      "--init",
                                            "--address", "--workchain", "--global-id", "--value",
                                            "--root",    "--qid",       "--limit",     NULL};

static void wallet_usage(FILE *f)
{
    fprintf(f,
            "usage: cocoon wallet new --keys FILE [--workchain N] [--global-id N] [--v4r2] "
            "[--force]\n"
            "       cocoon wallet address --keys FILE [--json]\n"
            "       cocoon wallet balance (--keys FILE | --address ADDR) --api URL [--json]\n"
            "       cocoon wallet send --keys FILE --api URL --to ADDR (--amount TON | --nano N)\n"
            "                          [--comment TEXT | --body BOC] [--init BOC] [--bounce | "
            "--no-bounce] [--wait]\n"
            "                          [--dry-run: estimate the fees instead of sending]\n"
            "       cocoon wallet history (--keys FILE | --address ADDR) --api URL [--limit N]\n"
            "BOC is hex, base64 or @FILE. --api defaults to $COCOON_TON_API.\n");
}

static int fail(const char *what, const cc_err *err)
{
    fprintf(stderr, "cocoon %s: %s\n", what, err->msg);
    return 1;
}

static json_t *addr_json(const ton_addr *a, bool testnet)
{
    char raw[80], b[49], nb[49];
    ton_addr_to_raw(a, raw, sizeof raw);
    ton_addr_to_friendly(a, true, testnet, true, b);
    ton_addr_to_friendly(a, false, testnet, true, nb);
    return json_pack("{s:s,s:s,s:s}", "raw", raw, "bounceable", b, "non_bounceable", nb);
}

static int wallet_new(const tcli_args *a)
{
    const char *path = tcli_opt(a, "--keys");
    if (!path) {
        wallet_usage(stderr);
        return 2;
    }
    cc_err err = {0};
    if (!tcli_flag(a, "--force") && access(path, F_OK) == 0) {
        fprintf(stderr, "cocoon wallet new: %s exists (use --force to overwrite)\n", path);
        return 1;
    }
    int64_t wc = 0, gid = TON_GLOBAL_ID_MAINNET;
    const char *w = tcli_opt(a, "--workchain"), *g = tcli_opt(a, "--global-id");
    if ((w && cc_parse_i64(w, -128, 127, &wc, &err) < 0) ||
        (g && cc_parse_i64(g, INT32_MIN, INT32_MAX, &gid, &err) < 0))
        return fail("wallet new", &err);
    tcli_keys k;
    memset(&k, 0, sizeof k);
    crypto_ed25519_keygen(k.priv, k.pub);
    k.global_id = (int32_t)gid;
    ton_wallet_init(&k.wallet, tcli_flag(a, "--v4r2") ? TON_WALLET_V4R2 : TON_WALLET_V5R1,
                    (int8_t)wc, k.pub, k.global_id);
    if (tcli_keys_save(path, &k, &err) < 0) return fail("wallet new", &err);
    ton_addr addr;
    ton_wallet_address(&k.wallet, &addr, &err);
    json_t *j = addr_json(&addr, false);
    char pub[65];
    cc_hex_encode(k.pub, 32, pub);
    json_object_set_new(j, "public_key", json_string(pub));
    json_object_set_new(j, "keys", json_string(path));
    tcli_print_json(j);
    return 0;
}

static int wallet_address(const tcli_args *a)
{
    const char *path = tcli_opt(a, "--keys");
    if (!path) {
        wallet_usage(stderr);
        return 2;
    }
    tcli_keys k;
    cc_err err = {0};
    ton_addr addr;
    if (tcli_keys_load(path, &k, &err) < 0 || ton_wallet_address(&k.wallet, &addr, &err) < 0)
        return fail("wallet address", &err);
    json_t *j = addr_json(&addr, tcli_flag(a, "--testnet"));
    if (tcli_flag(a, "--json")) {
        char wid[16];
        snprintf(wid, sizeof wid, "%08x", k.wallet.wallet_id);
        json_object_set_new(j, "wallet_id", json_string(wid));
        tcli_print_json(j);
    } else {
        printf("%s\n", json_string_value(json_object_get(j, "non_bounceable")));
        json_decref(j);
    }
    return 0;
}

static int resolve_address(const tcli_args *a, ton_addr *out, cc_err *err)
{
    const char *addr = tcli_opt(a, "--address"), *path = tcli_opt(a, "--keys");
    if (addr) return ton_addr_parse(addr, out, NULL, NULL, err);
    if (!path) return cc_err_set(err, "--keys FILE or --address ADDR is required");
    tcli_keys k;
    if (tcli_keys_load(path, &k, err) < 0) return -1;
    return ton_wallet_address(&k.wallet, out, err);
}

static int wallet_balance(const tcli_args *a)
{
    cc_err err = {0};
    ton_addr addr;
    if (resolve_address(a, &addr, &err) < 0) return fail("wallet balance", &err);
    ton_api *api = tcli_api(a, "cocoon wallet balance");
    if (!api) return 2;
    ton_wallet_info wi;
    int rc = ton_api_get_wallet_information(api, &addr, &wi, &err);
    ton_api_free(api);
    if (rc < 0) return fail("wallet balance", &err);
    char ton[32], raw[80];
    tcli_format_ton(wi.balance, ton);
    ton_addr_to_raw(&addr, raw, sizeof raw);
    if (tcli_flag(a, "--json"))
        tcli_print_json(json_pack("{s:s,s:I,s:s,s:s,s:i}", "address", raw, "balance_nano",
                                  (json_int_t)wi.balance, "balance", ton, "state", wi.state,
                                  "seqno", (int)wi.seqno));
    else
        printf("%s TON (%s, seqno %u)\n", ton, wi.state, wi.seqno);
    return 0;
}

/* estimateFee of the external message a transfer would send (the signature is
 * not checked by the API, so this costs nothing and moves nothing). */
static int wallet_estimate(ton_api *api, const tcli_keys *k, const ton_int_msg *m, cc_err *err)
{
    ton_addr self;
    ton_wallet_info wi;
    if (ton_wallet_address(&k->wallet, &self, err) < 0 ||
        ton_api_get_wallet_information(api, &self, &wi, err) < 0)
        return -1;
    bool deployed = !strcmp(wi.state, "active");
    ton_cell *msg = ton_msg_internal(m, err);
    if (!msg) return -1;
    ton_out_msg om = {.mode = 3, .msg = msg};
    ton_cell *body = ton_wallet_transfer_body(&k->wallet, k->priv, deployed ? wi.seqno : 0,
                                              (uint32_t)cc_now_wall() + 120, &om, 1, err);
    ton_cell_unref(msg);
    ton_cell *init = (body && !deployed) ? ton_wallet_state_init(&k->wallet, err) : NULL;
    int rc = -1;
    ton_fees fees;
    if (body && (deployed || init)) rc = ton_api_estimate_fee(api, &self, body, init, &fees, err);
    ton_cell_unref(body);
    ton_cell_unref(init);
    if (rc < 0) return -1;
    uint64_t total = fees.in_fwd_fee + fees.storage_fee + fees.gas_fee + fees.fwd_fee;
    tcli_print_json(json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:b}", "in_fwd_fee", (json_int_t)fees.in_fwd_fee, "storage_fee",
        (json_int_t)fees.storage_fee, "gas_fee", (json_int_t)fees.gas_fee, "fwd_fee",
        (json_int_t)fees.fwd_fee, "total_fee", (json_int_t)total, "deploys", !deployed));
    return 0;
}

static int wallet_history(const tcli_args *a)
{
    cc_err err = {0};
    ton_addr addr;
    int64_t limit = 10;
    const char *l = tcli_opt(a, "--limit");
    if (resolve_address(a, &addr, &err) < 0 || (l && cc_parse_i64(l, 1, 1000, &limit, &err) < 0))
        return fail("wallet history", &err);
    ton_api *api = tcli_api(a, "cocoon wallet history");
    if (!api) return 2;
    ton_tx *txs;
    size_t n;
    int rc = ton_api_get_transactions(api, &addr, (unsigned)limit, &txs, &n, &err);
    ton_api_free(api);
    if (rc < 0) return fail("wallet history", &err);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char hash[65], src[80] = "";
        cc_hex_encode(txs[i].hash, 32, hash);
        if (!txs[i].in_source.none) ton_addr_to_raw(&txs[i].in_source, src, sizeof src);
        json_t *t = json_pack(
            "{s:s,s:s,s:I,s:I,s:s,s:I,s:I,s:I,s:b,s:i}", "lt", "", "hash", hash, "utime",
            (json_int_t)txs[i].utime, "fee", (json_int_t)txs[i].fee, "in_source", src, "in_value",
            (json_int_t)txs[i].in_value, "out_count", (json_int_t)txs[i].n_out, "out_value",
            (json_int_t)txs[i].out_value, "aborted", txs[i].aborted, "exit_code", txs[i].exit_code);
        char lt[24];
        snprintf(lt, sizeof lt, "%llu", (unsigned long long)txs[i].lt);
        json_object_set_new(t, "lt", json_string(lt));
        if (txs[i].in_has_op) {
            char op[12];
            snprintf(op, sizeof op, "0x%08x", txs[i].in_op);
            json_object_set_new(t, "in_op", json_string(op));
        }
        json_array_append_new(arr, t);
    }
    free(txs);
    tcli_print_json(arr);
    return 0;
}

static int wallet_send(const tcli_args *a)
{
    const char *path = tcli_opt(a, "--keys"), *to = tcli_opt(a, "--to");
    const char *amount = tcli_opt(a, "--amount"), *nano = tcli_opt(a, "--nano");
    if (!path || !to || (!amount && !nano)) {
        wallet_usage(stderr);
        return 2;
    }
    cc_err err = {0};
    tcli_keys k;
    ton_int_msg m = {0};
    bool bounce_given;
    if (tcli_keys_load(path, &k, &err) < 0 ||
        ton_addr_parse(to, &m.dest, &m.bounce, NULL, &err) < 0)
        return fail("wallet send", &err);
    /* bounce follows the address form unless told */
    bounce_given = tcli_flag(a, "--bounce") || tcli_flag(a, "--no-bounce");
    if (bounce_given) m.bounce = tcli_flag(a, "--bounce");
    if (amount && tcli_parse_ton(amount, &m.value, &err) < 0) return fail("wallet send", &err);
    int64_t n;
    if (nano) {
        if (cc_parse_i64(nano, 0, INT64_MAX, &n, &err) < 0) return fail("wallet send", &err);
        m.value = (uint64_t)n;
    }
    const char *comment = tcli_opt(a, "--comment"), *body = tcli_opt(a, "--body");
    const char *init = tcli_opt(a, "--init");
    if (comment && body) {
        fprintf(stderr, "cocoon wallet send: --comment and --body exclude each other\n");
        return 2;
    }
    if (comment && !(m.body = ton_msg_comment(comment, &err))) return fail("wallet send", &err);
    if (body && !(m.body = tcli_load_boc(body, &err))) return fail("wallet send (--body)", &err);
    if (init && !(m.init = tcli_load_boc(init, &err))) {
        ton_cell_unref(m.body);
        return fail("wallet send (--init)", &err);
    }
    ton_api *api = tcli_api(a, "cocoon wallet send");
    if (!api) {
        ton_cell_unref(m.body);
        ton_cell_unref(m.init);
        return 2;
    }
    if (tcli_flag(a, "--dry-run")) {
        int drc = wallet_estimate(api, &k, &m, &err);
        ton_api_free(api);
        ton_cell_unref(m.body);
        ton_cell_unref(m.init);
        return drc < 0 ? fail("wallet send --dry-run", &err) : 0;
    }
    json_t *report = json_object();
    int rc = tcli_send(api, &k, &m, tcli_flag(a, "--wait"), report, &err);
    ton_api_free(api);
    ton_cell_unref(m.body);
    ton_cell_unref(m.init);
    if (rc < 0) {
        json_decref(report);
        return fail("wallet send", &err);
    }
    char dest[80];
    ton_addr_to_raw(&m.dest, dest, sizeof dest);
    json_object_set_new(report, "to", json_string(dest));
    json_object_set_new(report, "amount_nano", json_integer((json_int_t)m.value));
    tcli_print_json(report);
    return 0;
}

int cli_cmd_wallet(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        wallet_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    tcli_args a;
    int parsed = tcli_parse(argc, argv, 1, wallet_flags, wallet_valued, "cocoon wallet", &a);
    if (parsed < 0) return 2;
    if (parsed > 0) {
        wallet_usage(stdout);
        return 0;
    }
    const char *sub = a.pos[0];
    if (sub && a.n_pos == 1) {
        if (!strcmp(sub, "new")) return wallet_new(&a);
        if (!strcmp(sub, "address")) return wallet_address(&a);
        if (!strcmp(sub, "balance")) return wallet_balance(&a);
        if (!strcmp(sub, "send")) return wallet_send(&a);
        if (!strcmp(sub, "history")) return wallet_history(&a);
    }
    wallet_usage(stderr);
    return 2;
}

/* ------------------------------------------------------------------ root */

static void root_usage(FILE *f)
{
    fprintf(f, "usage: cocoon root show --api URL --root ADDR [--registry-json: in the form of "
               "configs/registry.json]\n"
               "       cocoon root OPERATION ARGS... --api URL --root ADDR --keys OWNER_KEYS "
               "[--value TON] [--qid N] [--wait]\n"
               "operations (owner only):\n"
               "  add-proxy-type HASH   del-proxy-type HASH   add-worker-type HASH\n"
               "  del-worker-type HASH  add-model-type HASH   del-model-type HASH\n"
               "  register-proxy TEXT   unregister-proxy SEQNO   update-proxy SEQNO TEXT\n"
               "  change-price PRICE_PER_TOKEN WORKER_FEE_PER_TOKEN   (nanoton)\n"
               "  change-owner ADDR     upgrade-contracts PROXY WORKER CLIENT (BOCs)\n"
               "  change-params BOC | KEY=VALUE...  (keys as in `root show`, e.g. "
               "client_delay_before_close=60)\n");
}

static json_t *hash_set_json(const ton_dict *d)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < d->n; i++) {
        char hex[65];
        cc_hex_encode(d->items[i].key, 32, hex);
        json_array_append_new(arr, json_string(hex));
    }
    /* stable order for scripts: sort by text */
    size_t n = json_array_size(arr);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            const char *x = json_string_value(json_array_get(arr, j - 1));
            const char *y = json_string_value(json_array_get(arr, j));
            if (strcmp(x, y) <= 0) break;
            json_t *t = json_incref(json_array_get(arr, j - 1));
            json_array_set(arr, j - 1, json_array_get(arr, j));
            json_array_set_new(arr, j, t);
        }
    return arr;
}

static char *code_hash(const ton_cell *c)
{
    return c ? cc_hex_encode_alloc(ton_cell_hash(c), 32) : NULL;
}

static int root_show(ton_api *api, const ton_addr *root, bool registry_form)
{
    cc_err err = {0};
    ton_root_state rs;
    if (ton_root_fetch(api, root, &rs, &err) < 0) return fail("root show", &err);
    if (registry_form) {
        tcli_print_json(ton_root_state_to_registry_json(&rs));
        ton_root_state_free(&rs);
        return 0;
    }
    const ton_root_params *p = &rs.params;
    const ton_root_data *d = &rs.data;
    char raw[80], owner_raw[80];
    ton_addr_to_raw(root, raw, sizeof raw);
    ton_addr_to_raw(&rs.owner, owner_raw, sizeof owner_raw);
    char *pch = code_hash(p->proxy_code), *wch = code_hash(p->worker_code),
         *cch = code_hash(p->client_code);
    json_t *params = json_pack(
        "{s:i,s:I,s:I,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s?,s:s?,s:s?}",
        "struct_version", p->struct_version, "params_version", (json_int_t)p->params_version,
        "unique_id", (json_int_t)p->unique_id, "is_test", p->is_test, "price_per_token",
        (json_int_t)p->price_per_token, "worker_fee_per_token", (json_int_t)p->worker_fee_per_token,
        "prompt_tokens_price_multiplier", (json_int_t)p->prompt_mult,
        "cached_tokens_price_multiplier", (json_int_t)p->cached_mult,
        "completion_tokens_price_multiplier", (json_int_t)p->completion_mult,
        "reasoning_tokens_price_multiplier", (json_int_t)p->reasoning_mult,
        "proxy_delay_before_close", (json_int_t)p->proxy_delay_before_close,
        "client_delay_before_close", (json_int_t)p->client_delay_before_close, "min_proxy_stake",
        (json_int_t)p->min_proxy_stake, "min_client_stake", (json_int_t)p->min_client_stake,
        "proxy_code_hash", pch, "worker_code_hash", wch, "client_code_hash", cch);
    free(pch);
    free(wch);
    free(cch);
    json_t *proxies = json_object();
    for (size_t i = 0; i < d->proxies.n; i++) {
        ton_slice s;
        ton_slice_init(&s, d->proxies.items[i].value);
        char text[128], key[16];
        const uint8_t *kb = d->proxies.items[i].key;
        snprintf(key, sizeof key, "%u",
                 (unsigned)kb[0] << 24 | (unsigned)kb[1] << 16 | (unsigned)kb[2] << 8 | kb[3]);
        if (ton_proxy_info_parse(&s, text, sizeof text, &err) < 0)
            snprintf(text, sizeof text, "(unreadable: %.80s)", err.msg);
        json_object_set_new(proxies, key, json_string(text));
    }
    json_t *j =
        json_pack("{s:s,s:I,s:s,s:o,s:o,s:o,s:o,s:o,s:I}", "address", raw, "version",
                  (json_int_t)rs.version, "owner", owner_raw, "params", params, "proxy_hashes",
                  hash_set_json(&d->proxy_hashes), "worker_hashes",
                  hash_set_json(&d->worker_hashes), "model_hashes", hash_set_json(&d->model_hashes),
                  "proxies", proxies, "last_proxy_seqno", (json_int_t)d->last_proxy_seqno);
    tcli_print_json(j);
    ton_root_state_free(&rs);
    return 0;
}

/* The root's current params with KEY=VALUE changes applied (names as in
 * `cocoon root show`); the contract sets params_version itself. */
static ton_cell *params_with_overrides(ton_api *api, const ton_addr *root, const tcli_args *a,
                                       cc_err *err)
{
    ton_root_state rs;
    if (ton_root_fetch(api, root, &rs, err) < 0) return NULL;
    ton_root_params *p = &rs.params;
    ton_cell *out = NULL;
    for (int i = 1; i < a->n_pos; i++) {
        const char *eq = strchr(a->pos[i], '=');
        if (!eq) {
            cc_err_set(err, "\"%s\" is not KEY=VALUE", a->pos[i]);
            goto done;
        }
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(eq - a->pos[i]), a->pos[i]);
        int64_t v;
        if (cc_parse_i64(eq + 1, 0, INT64_MAX, &v, err) < 0) {
            cc_err_prefix(err, "%s", key);
            goto done;
        }
        struct {
            const char *name;
            uint32_t *u32;
            uint64_t *u64;
        } fields[] = {
            {"unique_id", &p->unique_id, NULL},
            {"price_per_token", NULL, &p->price_per_token},
            {"worker_fee_per_token", NULL, &p->worker_fee_per_token},
            {"prompt_tokens_price_multiplier", &p->prompt_mult, NULL},
            {"cached_tokens_price_multiplier", &p->cached_mult, NULL},
            {"completion_tokens_price_multiplier", &p->completion_mult, NULL},
            {"reasoning_tokens_price_multiplier", &p->reasoning_mult, NULL},
            {"proxy_delay_before_close", &p->proxy_delay_before_close, NULL},
            {"client_delay_before_close", &p->client_delay_before_close, NULL},
            {"min_proxy_stake", NULL, &p->min_proxy_stake},
            {"min_client_stake", NULL, &p->min_client_stake},
        };
        bool found = false;
        for (size_t f = 0; f < CC_ARRAY_LEN(fields) && !found; f++) {
            if (strcmp(fields[f].name, key)) continue;
            found = true;
            if (fields[f].u32) {
                if (v > UINT32_MAX) {
                    cc_err_set(err, "%s exceeds 32 bits", key);
                    goto done;
                }
                *fields[f].u32 = (uint32_t)v;
            } else {
                *fields[f].u64 = (uint64_t)v;
            }
        }
        if (!strcmp(key, "is_test")) {
            found = true;
            p->is_test = v != 0;
        }
        if (!found) {
            cc_err_set(err, "unknown parameter \"%s\"", key);
            goto done;
        }
    }
    out = ton_root_params_build(p, err);
done:
    ton_root_state_free(&rs);
    return out;
}

static ton_cell *root_body(ton_api *api, const ton_addr *root, const tcli_args *a, uint64_t qid,
                           cc_err *err)
{
    static const struct {
        const char *name;
        uint32_t op;
    } hash_ops[] = {
        {"add-proxy-type", TON_OP_ROOT_ADD_PROXY_TYPE},
        {"del-proxy-type", TON_OP_ROOT_DEL_PROXY_TYPE},
        {"add-worker-type", TON_OP_ROOT_ADD_WORKER_TYPE},
        {"del-worker-type", TON_OP_ROOT_DEL_WORKER_TYPE},
        {"add-model-type", TON_OP_ROOT_ADD_MODEL_TYPE},
        {"del-model-type", TON_OP_ROOT_DEL_MODEL_TYPE},
    };
    const char *op = a->pos[0];
    int nargs = a->n_pos - 1;
    for (size_t i = 0; i < CC_ARRAY_LEN(hash_ops); i++) {
        if (strcmp(op, hash_ops[i].name)) continue;
        uint8_t h[32];
        if (nargs != 1 || tcli_parse_hash(a->pos[1], h, err) < 0) {
            cc_err_set(err, "%s needs one 256-bit hash (64 hex digits)", op);
            return NULL;
        }
        return ton_body_root_hash(hash_ops[i].op, qid, h, err);
    }
    int64_t x, y;
    if (!strcmp(op, "register-proxy") && nargs == 1)
        return ton_body_root_register_proxy(qid, a->pos[1], err);
    if (!strcmp(op, "unregister-proxy") && nargs == 1) {
        if (cc_parse_i64(a->pos[1], 0, UINT32_MAX, &x, err) < 0) return NULL;
        return ton_body_root_unregister_proxy(qid, (uint32_t)x, err);
    }
    if (!strcmp(op, "update-proxy") && nargs == 2) {
        if (cc_parse_i64(a->pos[1], 0, UINT32_MAX, &x, err) < 0) return NULL;
        return ton_body_root_update_proxy(qid, (uint32_t)x, a->pos[2], err);
    }
    if (!strcmp(op, "change-price") && nargs == 2) {
        if (cc_parse_i64(a->pos[1], 0, INT64_MAX, &x, err) < 0 ||
            cc_parse_i64(a->pos[2], 0, INT64_MAX, &y, err) < 0)
            return NULL;
        return ton_body_root_change_price(qid, (uint64_t)x, (uint64_t)y, err);
    }
    if (!strcmp(op, "change-owner") && nargs == 1) {
        ton_addr o;
        if (ton_addr_parse(a->pos[1], &o, NULL, NULL, err) < 0) return NULL;
        return ton_body_root_change_owner(qid, &o, err);
    }
    if (!strcmp(op, "change-params") && nargs >= 1) {
        ton_cell *p = strchr(a->pos[1], '=') ? params_with_overrides(api, root, a, err)
                                             : (nargs == 1 ? tcli_load_boc(a->pos[1], err) : NULL);
        if (!p) {
            if (!err->msg[0]) cc_err_set(err, "change-params takes one BoC or KEY=VALUE pairs");
            return NULL;
        }
        ton_cell *b = ton_body_root_change_params_full(qid, p, err);
        ton_cell_unref(p);
        return b;
    }
    if (!strcmp(op, "upgrade-contracts") && nargs == 3) {
        ton_cell *c[3] = {NULL, NULL, NULL};
        ton_cell *b = NULL;
        for (int i = 0; i < 3; i++)
            if (!(c[i] = tcli_load_boc(a->pos[1 + i], err))) goto out;
        b = ton_body_root_upgrade_contracts(qid, c[0], c[1], c[2], err);
    out:
        for (int i = 0; i < 3; i++)
            ton_cell_unref(c[i]);
        return b;
    }
    cc_err_set(err, "unknown operation or wrong arguments: %s", op);
    return NULL;
}

int cli_cmd_root(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        root_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    tcli_args a;
    int parsed = tcli_parse(argc, argv, 1, wallet_flags, wallet_valued, "cocoon root", &a);
    if (parsed < 0) return 2;
    if (parsed > 0) {
        root_usage(stdout);
        return 0;
    }
    if (a.n_pos < 1) {
        root_usage(stderr);
        return 2;
    }
    cc_err err = {0};
    ton_addr root;
    const char *root_text = tcli_opt(&a, "--root");
    if (!root_text) root_text = getenv("COCOON_ROOT_ADDRESS");
    if (!root_text) {
        fprintf(stderr, "cocoon root: --root ADDR is required\n");
        return 2;
    }
    if (ton_addr_parse(root_text, &root, NULL, NULL, &err) < 0) return fail("root", &err);
    ton_api *api = tcli_api(&a, "cocoon root");
    if (!api) return 2;
    int rc;
    if (!strcmp(a.pos[0], "show")) {
        rc = root_show(api, &root, tcli_flag(&a, "--registry-json"));
        ton_api_free(api);
        return rc;
    }
    const char *keys = tcli_opt(&a, "--keys");
    int64_t qid = 0;
    uint64_t value = 50000000; /* 0.05 TON: gas; the rest comes back as excesses */
    tcli_keys k;
    const char *q = tcli_opt(&a, "--qid"), *v = tcli_opt(&a, "--value");
    if (!keys) {
        fprintf(stderr, "cocoon root %s: --keys OWNER_KEYS is required\n", a.pos[0]);
        ton_api_free(api);
        return 2;
    }
    if (tcli_keys_load(keys, &k, &err) < 0 ||
        (q && cc_parse_i64(q, 0, INT64_MAX, &qid, &err) < 0) ||
        (v && tcli_parse_ton(v, &value, &err) < 0)) {
        ton_api_free(api);
        return fail("root", &err);
    }
    ton_cell *body = root_body(api, &root, &a, (uint64_t)qid, &err);
    if (!body) {
        ton_api_free(api);
        return fail("root", &err);
    }
    ton_int_msg m = {.dest = root, .value = value, .bounce = true, .body = body};
    json_t *report = json_object();
    rc = tcli_send(api, &k, &m, tcli_flag(&a, "--wait"), report, &err);
    ton_cell_unref(body);
    ton_api_free(api);
    if (rc < 0) {
        json_decref(report);
        return fail("root", &err);
    }
    json_object_set_new(report, "operation", json_string(a.pos[0]));
    tcli_print_json(report);
    return 0;
}
