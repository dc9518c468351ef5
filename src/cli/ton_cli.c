/* Shared helpers of the TON commands (see ton_cli.h). */
#include "cli/ton_cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"

int tcli_parse(int argc, char **argv, int first, const char *const *flags,
               const char *const *valued, const char *cmd, tcli_args *out)
{
    memset(out, 0, sizeof *out);
    /* The command group's option lists as cc_args options. */
    cc_opt opts[CC_ARGS_MAX_OPTS];
    size_t n = 0;
    for (const char *const *f = flags; f && *f && n < CC_ARRAY_LEN(opts); f++)
        opts[n++] = (cc_opt){*f, NULL, NULL, NULL};
    for (const char *const *v = valued; v && *v && n < CC_ARRAY_LEN(opts); v++)
        opts[n++] = (cc_opt){*v, "VALUE", NULL, NULL};
    cc_args a;
    cc_err err = {0};
    if (cc_args_parse(opts, n, argc - first, argv + first, &a, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return -1;
    }
    if (a.help) return 1;
    if (a.n_pos > TCLI_MAX_POS) {
        fprintf(stderr, "%s: too many arguments\n", cmd);
        return -1;
    }
    for (int i = 0; i < a.n_pos; i++)
        out->pos[i] = a.pos[i];
    out->n_pos = a.n_pos;
    for (size_t k = 0; k < n; k++) {
        if (!a.value[k]) continue;
        if (out->n_opts == TCLI_MAX_OPTS) {
            fprintf(stderr, "%s: too many options\n", cmd);
            return -1;
        }
        out->names[out->n_opts] = opts[k].name;
        out->values[out->n_opts++] = a.value[k];
    }
    return 0;
}

const char *tcli_opt(const tcli_args *a, const char *name)
{
    for (int i = a->n_opts - 1; i >= 0; i--)
        if (!strcmp(a->names[i], name)) return a->values[i];
    return NULL;
}

bool tcli_flag(const tcli_args *a, const char *name)
{
    return tcli_opt(a, name) != NULL;
}

int tcli_keys_load(const char *path, tcli_keys *k, cc_err *err)
{
    memset(k, 0, sizeof *k);
    json_t *j = cc_json_load_file(path, err);
    if (!j) return -1;
    const char *priv = NULL, *pub = NULL, *version = "v5r1";
    int64_t wc = 0, gid = TON_GLOBAL_ID_MAINNET;
    int rc = -1;
    if (cc_json_get_str(j, "private_key", true, &priv, err) < 0 ||
        cc_json_get_str(j, "public_key", false, &pub, err) < 0 ||
        cc_json_get_str(j, "version", false, &version, err) < 0 ||
        cc_json_get_int(j, "workchain", false, -128, 127, &wc, err) < 0 ||
        cc_json_get_int(j, "network_global_id", false, INT32_MIN, INT32_MAX, &gid, err) < 0)
        goto out;
    if (cc_hex_decode(priv, k->priv, 32, err) < 0) {
        cc_err_prefix(err, "private_key");
        goto out;
    }
    if (crypto_ed25519_public(k->priv, k->pub, err) < 0) goto out;
    if (pub) {
        uint8_t want[32];
        if (cc_hex_decode(pub, want, 32, err) < 0 || memcmp(want, k->pub, 32) != 0) {
            cc_err_set(err, "public_key does not match private_key");
            goto out;
        }
    }
    ton_wallet_version v;
    if (!strcmp(version, "v5r1"))
        v = TON_WALLET_V5R1;
    else if (!strcmp(version, "v4r2"))
        v = TON_WALLET_V4R2;
    else {
        cc_err_set(err, "unknown wallet version \"%s\" (v5r1 or v4r2)", version);
        goto out;
    }
    k->global_id = (int32_t)gid;
    ton_wallet_init(&k->wallet, v, (int8_t)wc, k->pub, k->global_id);
    rc = 0;
out:
    if (rc < 0) cc_err_prefix(err, "%s", path);
    json_decref(j);
    return rc;
}

int tcli_keys_save(const char *path, const tcli_keys *k, cc_err *err)
{
    char priv[65], pub[65], raw[80];
    cc_hex_encode(k->priv, 32, priv);
    cc_hex_encode(k->pub, 32, pub);
    ton_addr a;
    if (ton_wallet_address(&k->wallet, &a, err) < 0) return -1;
    ton_addr_to_raw(&a, raw, sizeof raw);
    json_t *j = json_pack("{s:s,s:i,s:i,s:s,s:s,s:s}", "version",
                          k->wallet.version == TON_WALLET_V4R2 ? "v4r2" : "v5r1", "workchain",
                          (int)k->wallet.wc, "network_global_id", (int)k->global_id, "address", raw,
                          "public_key", pub, "private_key", priv);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    int rc = cc_write_file_atomic(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

int tcli_parse_ton(const char *text, uint64_t *nano, cc_err *err)
{
    const char *p = text;
    uint64_t whole = 0, frac = 0;
    int digits = 0, frac_digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (whole > UINT64_MAX / 10 / 1000000000ull)
            return cc_err_set(err, "amount \"%s\" is too large", text);
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, frac_digits++) {
            if (frac_digits == 9)
                return cc_err_set(err, "amount \"%s\" has more than 9 decimals", text);
            frac = frac * 10 + (uint64_t)(*p - '0');
        }
    }
    if (*p || (digits == 0 && frac_digits == 0))
        return cc_err_set(err, "bad TON amount \"%s\" (e.g. 1.5)", text);
    for (int i = frac_digits; i < 9; i++)
        frac *= 10;
    *nano = whole * 1000000000ull + frac;
    return 0;
}

void tcli_format_ton(uint64_t nano, char out[32])
{
    snprintf(out, 32, "%llu.%09llu", (unsigned long long)(nano / 1000000000ull),
             (unsigned long long)(nano % 1000000000ull));
}

ton_cell *tcli_load_boc(const char *arg, cc_err *err)
{
    cc_buf b = CC_BUF_INIT;
    ton_cell *c = NULL;
    if (arg[0] == '@') {
        if (cc_read_file(arg + 1, &b, err) < 0) return NULL;
        if (b.len >= 4 && (b.data[0] == 0xb5 || b.data[0] == 0x68 || b.data[0] == 0xac)) {
            c = ton_boc_parse(b.data, b.len, err);
            cc_buf_free(&b);
            return c;
        }
        cc_buf_append_u8(&b, 0);
        arg = (const char *)b.data;
    }
    /* hex first (a hex BoC starts with b5ee9c72), else base64 */
    while (*arg == ' ' || *arg == '\n')
        arg++;
    if (cc_str_has_prefix(arg, "b5ee9c72") || cc_str_has_prefix(arg, "B5EE9C72"))
        c = ton_boc_parse_hex(arg, err);
    else if (!(c = ton_boc_parse_base64(arg, err)))
        cc_err_prefix(err, "reading the BoC as base64 (a hex BoC starts with b5ee9c72)");
    cc_buf_free(&b);
    return c;
}

char *tcli_boc_hex(const ton_cell *c)
{
    cc_buf b = CC_BUF_INIT;
    ton_boc_serialize(c, (ton_boc_opts){.crc32c = true}, &b, NULL);
    char *h = cc_hex_encode_alloc(b.data, b.len);
    cc_buf_free(&b);
    return h;
}

int tcli_parse_hash(const char *hex, uint8_t out[32], cc_err *err)
{
    if (cc_str_has_prefix(hex, "0x")) hex += 2;
    if (strlen(hex) != 64 || cc_hex_decode(hex, out, 32, NULL) < 0)
        return cc_err_set(err, "\"%s\" is not a 256-bit hash (64 hex digits)", hex);
    return 0;
}

ton_api *tcli_api(const tcli_args *a, const char *cmd)
{
    const char *url = tcli_opt(a, "--api");
    if (!url) url = getenv("COCOON_TON_API");
    if (!url) {
        fprintf(stderr, "%s: --api URL (TON HTTP API v2) is required\n", cmd);
        return NULL;
    }
    cc_err err = {0};
    ton_api *api = ton_api_new(url, getenv("COCOON_TON_API_KEY"), &err);
    if (!api) fprintf(stderr, "%s: %s\n", cmd, err.msg);
    return api;
}

int tcli_send(ton_api *api, const tcli_keys *k, const ton_int_msg *m, bool wait, json_t *report,
              cc_err *err)
{
    ton_addr self;
    if (ton_wallet_address(&k->wallet, &self, err) < 0) return -1;
    ton_wallet_info wi;
    if (ton_api_get_wallet_information(api, &self, &wi, err) < 0) return -1;
    bool deployed = !strcmp(wi.state, "active");
    uint32_t seqno = deployed ? wi.seqno : 0;
    ton_cell *msg = ton_msg_internal(m, err);
    if (!msg) return -1;
    ton_out_msg om = {.mode = 3, .msg = msg};
    /* valid_until follows the chain's clock when the API reports it (a test
     * chain may run ahead of the wall clock) */
    uint64_t now = (uint64_t)cc_now_wall();
    ton_account acc;
    if (ton_api_get_address_information(api, &self, &acc, NULL) == 0) {
        if (acc.sync_utime) now = acc.sync_utime;
        ton_account_clear(&acc);
    }
    uint32_t valid_until = (uint32_t)now + 120;
    ton_cell *ext =
        ton_wallet_transfer(&k->wallet, k->priv, seqno, valid_until, &om, 1, !deployed, err);
    ton_cell_unref(msg);
    if (!ext) return -1;
    uint8_t hash[32], norm[32];
    int rc = ton_api_send_boc(api, ext, hash, err);
    if (rc == 0) ton_msg_external_normalized_hash(ext, norm, NULL);
    ton_cell_unref(ext);
    if (rc < 0) return -1;
    char raw[80], hex[65];
    ton_addr_to_raw(&self, raw, sizeof raw);
    json_object_set_new(report, "wallet", json_string(raw));
    json_object_set_new(report, "seqno", json_integer(seqno));
    json_object_set_new(report, "deployed_now", json_boolean(!deployed));
    cc_hex_encode(norm, 32, hex);
    json_object_set_new(report, "normalized_hash", json_string(hex));
    if (!wait) return 0;
    double deadline = cc_now_mono() + 60;
    while (cc_now_mono() < deadline) {
        ton_wallet_info cur;
        if (ton_api_get_wallet_information(api, &self, &cur, err) == 0 &&
            !strcmp(cur.state, "active") && cur.seqno > seqno) {
            json_object_set_new(report, "confirmed", json_true());
            return 0;
        }
        usleep(300 * 1000);
    }
    return cc_err_set(err, "transfer from %s (seqno %u) not confirmed within 60 s", raw, seqno);
}

void tcli_print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", s);
    free(s);
    json_decref(j);
}

ton_cell *tcli_party_init(ton_api *api, const char *kind, const ton_addr *root,
                          const ton_addr *owner, const ton_addr *proxy_contract,
                          const uint8_t proxy_pub[32], cc_err *err)
{
    ton_stack st;
    ton_root_params p;
    if (ton_api_run_get_method(api, root, "get_params_cell", NULL, 0, &st, err) < 0) return NULL;
    const ton_cell *pc;
    if (ton_stack_cell(&st, 0, &pc, err) < 0 || !pc || ton_root_params_parse(pc, &p, err) < 0) {
        if (!err->msg[0]) cc_err_set(err, "get_params_cell returned null");
        ton_stack_free(&st);
        return NULL;
    }
    ton_stack_free(&st);
    ton_cell *si = NULL;
    if (!strcmp(kind, "client"))
        si = ton_client_contract_init(owner, proxy_contract, proxy_pub, &p, err);
    else if (!strcmp(kind, "worker"))
        si = ton_worker_contract_init(owner, proxy_contract, proxy_pub, &p, err);
    else if (!strcmp(kind, "proxy"))
        si = ton_proxy_contract_init(owner, root, proxy_pub, &p, err);
    else
        cc_err_set(err, "unknown contract kind \"%s\" (client, worker or proxy)", kind);
    ton_root_params_clear(&p);
    return si;
}
