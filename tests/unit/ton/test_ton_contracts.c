/* Contract message bodies, initial data, addresses and vouchers built by the C
 * library equal those of contracts/lib/cocoon.js (contract_vectors.json, made by
 * gen_contract_vectors.js); voucher signing, verification and tampering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "ton/ton.h"

static json_t *g_v;
static uint8_t g_seed[32], g_pub[32], g_h[32];
static ton_addr g_a, g_b, g_c;
static ton_cell *g_proxy_code, *g_client_code, *g_worker_code;

static const char *vstr(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) fail_msg("vector %s missing", key);
    return json_string_value(v);
}

/* Takes c. */
static void expect_boc(ton_cell *c, const char *want_hex, const char *what)
{
    if (!c) fail_msg("%s: not built", what);
    cc_buf b = CC_BUF_INIT;
    assert_int_equal(ton_boc_serialize(c, (ton_boc_opts){.crc32c = true}, &b, NULL), 0);
    char *got = cc_hex_encode_alloc(b.data, b.len);
    if (strcmp(got, want_hex)) fail_msg("%s:\n got  %s\n want %s", what, got, want_hex);
    free(got);
    cc_buf_free(&b);
    ton_cell_unref(c);
}

static ton_cell *code(const char *name)
{
    ton_cell *c = ton_boc_parse_hex(vstr(json_object_get(g_v, "codes"), name), NULL);
    assert_non_null(c);
    return c;
}

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("COCOON_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/unit/ton/contract_vectors.json", src ? src : ".");
    cc_err err;
    g_v = cc_json_load_file(path, &err);
    if (!g_v) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    cc_hex_decode(vstr(g_v, "seed_hex"), g_seed, 32, NULL);
    cc_hex_decode(vstr(g_v, "h"), g_h, 32, NULL);
    crypto_ed25519_public(g_seed, g_pub, NULL);
    ton_addr_parse(vstr(g_v, "a"), &g_a, NULL, NULL, NULL);
    ton_addr_parse(vstr(g_v, "b"), &g_b, NULL, NULL, NULL);
    ton_addr_parse(vstr(g_v, "c"), &g_c, NULL, NULL, NULL);
    g_proxy_code = code("proxy");
    g_client_code = code("client");
    g_worker_code = code("worker");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ton_cell_unref(g_proxy_code);
    ton_cell_unref(g_client_code);
    ton_cell_unref(g_worker_code);
    json_decref(g_v);
    return 0;
}

static void default_params(ton_root_params *p, bool with_codes)
{
    *p = (ton_root_params){.struct_version = 3,
                           .unique_id = 1,
                           .is_test = true,
                           .price_per_token = 20,
                           .worker_fee_per_token = 16,
                           .prompt_mult = 10000,
                           .cached_mult = 1000,
                           .completion_mult = 10000,
                           .reasoning_mult = 10000,
                           .proxy_delay_before_close = 3600,
                           .client_delay_before_close = 3600,
                           .min_proxy_stake = 1000000000,
                           .min_client_stake = 100000000};
    if (with_codes) {
        p->proxy_code = ton_cell_ref(g_proxy_code);
        p->worker_code = ton_cell_ref(g_worker_code);
        p->client_code = ton_cell_ref(g_client_code);
    }
}

static void test_root_bodies(void **state)
{
    (void)state;
    const json_t *b = json_object_get(g_v, "bodies");
    expect_boc(ton_body_root_hash(TON_OP_ROOT_ADD_PROXY_TYPE, 1, g_h, NULL),
               vstr(b, "root_add_proxy_type"), "add proxy type");
    expect_boc(ton_body_root_hash(TON_OP_ROOT_DEL_PROXY_TYPE, 2, g_h, NULL),
               vstr(b, "root_del_proxy_type"), "del proxy type");
    expect_boc(ton_body_root_hash(TON_OP_ROOT_ADD_WORKER_TYPE, 3, g_h, NULL),
               vstr(b, "root_add_worker_type"), "add worker type");
    expect_boc(ton_body_root_hash(TON_OP_ROOT_DEL_WORKER_TYPE, 4, g_h, NULL),
               vstr(b, "root_del_worker_type"), "del worker type");
    expect_boc(ton_body_root_hash(TON_OP_ROOT_ADD_MODEL_TYPE, 5, g_h, NULL),
               vstr(b, "root_add_model_type"), "add model type");
    expect_boc(ton_body_root_hash(TON_OP_ROOT_DEL_MODEL_TYPE, 6, g_h, NULL),
               vstr(b, "root_del_model_type"), "del model type");
    expect_boc(ton_body_root_register_proxy(7, "127.0.0.1:11001 127.0.0.1:11002", NULL),
               vstr(b, "root_register_proxy"), "register proxy");
    expect_boc(ton_body_root_unregister_proxy(8, 3, NULL), vstr(b, "root_unregister_proxy"),
               "unregister proxy");
    expect_boc(ton_body_root_update_proxy(9, 3, "proxy.example:443", NULL),
               vstr(b, "root_update_proxy"), "update proxy");
    expect_boc(ton_body_root_change_price(10, 25, 17, NULL), vstr(b, "root_change_price"),
               "change price");
    ton_root_params p;
    default_params(&p, false);
    ton_cell *pc = ton_root_params_build(&p, NULL);
    expect_boc(ton_body_root_change_params_full(11, pc, NULL), vstr(b, "root_change_params_full"),
               "change params full");
    ton_root_change_params cp = {25, 17, 3600, 1800, 2000000000, 100000000};
    expect_boc(ton_body_root_change_params(27, &cp, NULL), vstr(b, "root_change_params"),
               "change params");
    ton_cell_unref(pc);
    expect_boc(
        ton_body_root_upgrade_contracts(12, g_proxy_code, g_worker_code, g_client_code, NULL),
        vstr(b, "root_upgrade_contracts"), "upgrade contracts");
    expect_boc(ton_body_root_change_owner(13, &g_c, NULL), vstr(b, "root_change_owner"),
               "change owner");
}

static void test_party_bodies(void **state)
{
    (void)state;
    const json_t *b = json_object_get(g_v, "bodies");
    expect_boc(ton_body_coins_addr(TON_OP_CLIENT_TOP_UP, 14, 1500000000, &g_a, NULL),
               vstr(b, "client_top_up"), "top up");
    expect_boc(ton_body_coins_addr(TON_OP_CLIENT_INCREASE_STAKE, 15, 200000000, &g_a, NULL),
               vstr(b, "client_increase_stake"), "increase stake");
    expect_boc(ton_body_addr(TON_OP_CLIENT_WITHDRAW, 16, &g_b, NULL), vstr(b, "client_withdraw"),
               "withdraw");
    expect_boc(ton_body_client_change_secret_hash(17, g_h, &g_a, NULL),
               vstr(b, "client_change_secret_hash"), "change secret hash");
    expect_boc(ton_body_client_register(18, 0x1122334455667788ull, &g_a, NULL),
               vstr(b, "client_register"), "register");
    expect_boc(ton_body_addr(TON_OP_CLIENT_REQUEST_REFUND, 19, &g_a, NULL),
               vstr(b, "client_request_refund"), "request refund");
    expect_boc(ton_body_coins_addr(TON_OP_CLIENT_TOP_UP_REOPEN, 20, 700000000, &g_b, NULL),
               vstr(b, "client_top_up_reopen"), "top up reopen");
    expect_boc(ton_body_client_change_secret_hash_and_top_up(28, 300000000, g_h, &g_a, NULL),
               vstr(b, "client_change_secret_hash_and_top_up"), "change secret hash and top up");
    expect_boc(ton_body_addr(TON_OP_WORKER_REGISTER, 29, &g_b, NULL), vstr(b, "worker_register"),
               "worker register");
    expect_boc(ton_body_coins_addr(TON_OP_PROXY_INCREASE_STAKE, 21, 1000000000, &g_a, NULL),
               vstr(b, "proxy_increase_stake"), "proxy increase stake");
    expect_boc(ton_body_addr(TON_OP_PROXY_PAYOUT_REQUEST, 22, &g_a, NULL),
               vstr(b, "proxy_payout_request"), "proxy payout");
    expect_boc(ton_body_addr(TON_OP_PROXY_CLOSE, 23, &g_a, NULL), vstr(b, "proxy_close"),
               "proxy close");
    expect_boc(ton_body_proxy_save_state(24, 5, g_h, NULL), vstr(b, "proxy_save_state"),
               "proxy save state");
    /* addr_none is refused before it reaches the chain */
    ton_addr none = {.none = true};
    cc_err err;
    assert_null(ton_body_addr(TON_OP_PROXY_CLOSE, 1, &none, &err));
}

/* Initial data and addresses: the C builders make the cells COCOON's C++
 * makes (SPEC §2.1, §3.1, §4.1), and the address derived from code + data in C
 * is the one @ton/core derives in the vectors generator. */
static void expect_address(ton_cell *si, const char *key)
{
    assert_non_null(si);
    ton_addr addr;
    char raw[80];
    ton_state_init_address(si, 0, &addr);
    ton_addr_to_raw(&addr, raw, sizeof raw);
    assert_string_equal(raw, vstr(g_v, key));
    ton_cell_unref(si);
}

static void test_storage_and_addresses(void **state)
{
    (void)state;
    ton_root_params p;
    default_params(&p, true);
    ton_cell *pc = ton_root_params_build(&p, NULL);
    /* parse back */
    ton_root_params q;
    assert_int_equal(ton_root_params_parse(pc, &q, NULL), 0);
    assert_int_equal(q.price_per_token, 20);
    assert_int_equal(q.cached_mult, 1000);
    assert_int_equal(q.min_client_stake, 100000000);
    assert_true(ton_cell_equal(q.client_code, g_client_code));
    ton_root_params_clear(&q);
    expect_boc(ton_cell_ref(pc), vstr(g_v, "root_params_default"), "root params");
    ton_root_data rd;
    ton_root_data_init(&rd);
    ton_cell *data = ton_root_data_build(&rd, NULL);
    ton_root_data_free(&rd);
    expect_boc(ton_root_storage_build(&g_a, data, pc, 0, NULL), vstr(g_v, "root_init_data"),
               "root storage");
    /* read back whole, as the daemons read the root's storage */
    ton_cell *storage = ton_root_storage_build(&g_a, data, pc, 7, NULL);
    ton_root_state rs;
    assert_int_equal(ton_root_state_from_storage(storage, &rs, NULL), 0);
    assert_int_equal(rs.version, 7);
    assert_int_equal(rs.params.price_per_token, 20);
    assert_true(ton_addr_equal(&rs.owner, &g_a));
    assert_int_equal(rs.data.model_hashes.n, 0);
    ton_root_state_free(&rs);
    /* anything after the version, or a storage cut short, is refused */
    cc_err serr = {0};
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_addr(&b, &g_a);
    ton_builder_store_ref(&b, data);
    ton_builder_store_ref(&b, pc);
    ton_builder_store_uint(&b, 7, 32);
    ton_builder_store_uint(&b, 1, 1);
    ton_cell *longer = ton_builder_end(&b, NULL);
    assert_int_equal(ton_root_state_from_storage(longer, &rs, &serr), -1);
    assert_non_null(strstr(serr.msg, "root storage"));
    assert_int_equal(ton_root_state_from_storage(data, &rs, &serr), -1);
    ton_cell_unref(longer);
    ton_cell_unref(storage);
    ton_cell_unref(data);
    ton_cell_unref(pc);

    expect_boc(ton_proxy_contract_data(&g_a, &g_b, g_pub, &p, NULL), vstr(g_v, "proxy_init_data"),
               "proxy data");
    expect_boc(ton_worker_contract_data(&g_a, &g_b, g_pub, &p, NULL), vstr(g_v, "worker_init_data"),
               "worker data");
    expect_boc(ton_client_contract_data(&g_a, &g_b, g_pub, &p, NULL), vstr(g_v, "client_init_data"),
               "client data");
    expect_address(ton_client_contract_init(&g_a, &g_b, g_pub, &p, NULL), "client_address");
    expect_address(ton_worker_contract_init(&g_a, &g_b, g_pub, &p, NULL), "worker_address");
    expect_address(ton_proxy_contract_init(&g_a, &g_b, g_pub, &p, NULL), "proxy_address");
    /* the params enter the data: another price is another client contract */
    p.price_per_token++;
    ton_cell *si = ton_client_contract_init(&g_a, &g_b, g_pub, &p, NULL);
    ton_addr addr;
    char raw[80];
    ton_state_init_address(si, 0, &addr);
    ton_addr_to_raw(&addr, raw, sizeof raw);
    assert_string_not_equal(raw, vstr(g_v, "client_address"));
    ton_cell_unref(si);
    /* no code, no StateInit */
    ton_cell_unref(p.worker_code);
    p.worker_code = NULL;
    cc_err err = {0};
    assert_null(ton_worker_contract_init(&g_a, &g_b, g_pub, &p, &err));
    assert_non_null(strstr(err.msg, "worker contract code"));
    ton_root_params_clear(&p);
}

static void test_vouchers(void **state)
{
    (void)state;
    ton_voucher v = {.op = TON_OP_CLIENT_CHARGE_SIGNED,
                     .query_id = 99,
                     .tokens = 123456,
                     .target = g_b,
                     .excess_to = g_a};
    ton_cell *outer = ton_voucher_sign(&v, g_seed, NULL);
    assert_non_null(outer);
    ton_voucher back;
    cc_err err;
    assert_int_equal(ton_voucher_verify(outer, g_pub, &back, &err), 0);
    assert_int_equal(back.tokens, 123456);
    assert_true(ton_addr_equal(&back.target, &g_b));
    expect_boc(outer, vstr(g_v, "voucher_charge"), "charge voucher");

    v = (ton_voucher){.op = TON_OP_WORKER_PAYOUT_SIGNED,
                      .query_id = 100,
                      .tokens = 7,
                      .target = g_c,
                      .excess_to = g_a};
    expect_boc(ton_voucher_sign(&v, g_seed, NULL), vstr(g_v, "voucher_payout"), "payout voucher");
    v = (ton_voucher){
        .op = TON_OP_PROXY_CLOSE_SIGNED, .query_id = 101, .target = g_b, .excess_to = g_a};
    outer = ton_voucher_sign(&v, g_seed, NULL);
    assert_int_equal(ton_voucher_verify(outer, g_pub, &back, &err), 0);
    assert_true(back.is_close);
    assert_int_equal(back.tokens, 0);
    expect_boc(outer, vstr(g_v, "voucher_close"), "close request");
    v = (ton_voucher){
        .op = TON_OP_PROXY_CLOSE_COMPLETE_SIGNED, .query_id = 102, .target = g_b, .excess_to = g_a};
    expect_boc(ton_voucher_sign(&v, g_seed, NULL), vstr(g_v, "voucher_close_complete"),
               "close complete request");
}

static void test_voucher_tampering(void **state)
{
    (void)state;
    ton_voucher v = {.op = TON_OP_CLIENT_CHARGE_SIGNED,
                     .query_id = 1,
                     .tokens = 1000,
                     .target = g_b,
                     .excess_to = g_a};
    ton_cell *good = ton_voucher_sign(&v, g_seed, NULL);
    ton_voucher out;
    cc_err err;
    assert_int_equal(ton_voucher_verify(good, g_pub, &out, &err), 0);

    /* repacked with another excess_to: still valid (the outer cell is unsigned) */
    ton_voucher r = v;
    r.excess_to = g_c;
    ton_cell *repacked = ton_voucher_outer(&r, NULL);
    assert_int_equal(ton_voucher_verify(repacked, g_pub, &out, &err), 0);
    ton_cell_unref(repacked);

    /* more tokens under the old signature */
    ton_voucher t = v;
    t.tokens = 1001;
    ton_cell *forged = ton_voucher_outer(&t, NULL);
    assert_int_equal(ton_voucher_verify(forged, g_pub, &out, &err), -1);
    assert_non_null(strstr(err.msg, "signature"));
    ton_cell_unref(forged);

    /* another contract */
    t = v;
    t.target = g_c;
    forged = ton_voucher_outer(&t, NULL);
    assert_int_equal(ton_voucher_verify(forged, g_pub, &out, &err), -1);
    ton_cell_unref(forged);

    /* a flipped signature bit */
    t = v;
    t.signature[10] ^= 1;
    forged = ton_voucher_outer(&t, NULL);
    assert_int_equal(ton_voucher_verify(forged, g_pub, &out, &err), -1);
    ton_cell_unref(forged);

    /* another key */
    uint8_t other[32];
    memcpy(other, g_pub, 32);
    other[0] ^= 0x80;
    assert_int_equal(ton_voucher_verify(good, other, &out, &err), -1);

    /* outer op differs from the inner one */
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, TON_OP_WORKER_PAYOUT_SIGNED, 32);
    ton_builder_store_uint(&b, 1, 64);
    ton_builder_store_addr(&b, &g_a);
    ton_builder_store_bits(&b, v.signature, 512);
    ton_builder_store_ref(&b, good->refs[0]);
    ton_cell *mismatch = ton_builder_end(&b, NULL);
    assert_int_equal(ton_voucher_parse(mismatch, &out, &err), -1);
    assert_non_null(strstr(err.msg, "differ"));
    ton_cell_unref(mismatch);

    /* a voucher for addr_none (no contract can be its target) */
    ton_builder_init(&b);
    ton_builder_store_uint(&b, TON_OP_CLIENT_CHARGE_SIGNED, 32);
    ton_builder_store_uint(&b, 1, 64);
    ton_builder_store_uint(&b, 1000, 64);
    ton_builder_store_uint(&b, 0, 2); /* addr_none$00 */
    ton_cell *none_inner = ton_builder_end(&b, NULL);
    ton_builder_init(&b);
    ton_builder_store_uint(&b, TON_OP_CLIENT_CHARGE_SIGNED, 32);
    ton_builder_store_uint(&b, 1, 64);
    ton_builder_store_addr(&b, &g_a);
    ton_builder_store_bits(&b, v.signature, 512);
    ton_builder_store_ref(&b, none_inner);
    ton_cell_unref(none_inner);
    ton_cell *to_none = ton_builder_end(&b, NULL);
    assert_int_equal(ton_voucher_parse(to_none, &out, &err), -1);
    assert_non_null(strstr(err.msg, "addr_none"));
    ton_cell_unref(to_none);

    /* truncated outer */
    ton_builder_init(&b);
    ton_builder_store_uint(&b, TON_OP_CLIENT_CHARGE_SIGNED, 32);
    ton_cell *shortc = ton_builder_end(&b, NULL);
    assert_int_equal(ton_voucher_parse(shortc, &out, &err), -1);
    ton_cell_unref(shortc);
    ton_cell_unref(good);
}

/* Every opcode constant of ton.h is the one contracts/lib/cocoon.js (and so
 * the contracts' tests) uses, and every opcode there has a constant here. */
static void test_opcodes(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint32_t op;
    } ops[] = {
        {"excesses", TON_OP_EXCESSES},
        {"payout", TON_OP_PAYOUT},
        {"rootAddProxyType", TON_OP_ROOT_ADD_PROXY_TYPE},
        {"rootDelProxyType", TON_OP_ROOT_DEL_PROXY_TYPE},
        {"rootAddWorkerType", TON_OP_ROOT_ADD_WORKER_TYPE},
        {"rootDelWorkerType", TON_OP_ROOT_DEL_WORKER_TYPE},
        {"rootAddModelType", TON_OP_ROOT_ADD_MODEL_TYPE},
        {"rootDelModelType", TON_OP_ROOT_DEL_MODEL_TYPE},
        {"rootRegisterProxy", TON_OP_ROOT_REGISTER_PROXY},
        {"rootUnregisterProxy", TON_OP_ROOT_UNREGISTER_PROXY},
        {"rootUpdateProxy", TON_OP_ROOT_UPDATE_PROXY},
        {"rootChangePrice", TON_OP_ROOT_CHANGE_PRICE},
        {"rootChangeParams", TON_OP_ROOT_CHANGE_PARAMS},
        {"rootChangeParamsFull", TON_OP_ROOT_CHANGE_PARAMS_FULL},
        {"rootUpgradeContracts", TON_OP_ROOT_UPGRADE_CONTRACTS},
        {"rootChangeOwner", TON_OP_ROOT_CHANGE_OWNER},
        {"doNotProcess", TON_OP_DO_NOT_PROCESS},
        {"clientTopUp", TON_OP_CLIENT_TOP_UP},
        {"clientTopUpReopen", TON_OP_CLIENT_TOP_UP_REOPEN},
        {"clientChangeSecretHashAndTopUp", TON_OP_CLIENT_CHANGE_SECRET_HASH_AND_TOP_UP},
        {"clientIncreaseStake", TON_OP_CLIENT_INCREASE_STAKE},
        {"clientWithdraw", TON_OP_CLIENT_WITHDRAW},
        {"clientChangeSecretHash", TON_OP_CLIENT_CHANGE_SECRET_HASH},
        {"clientRegister", TON_OP_CLIENT_REGISTER},
        {"clientChargeSigned", TON_OP_CLIENT_CHARGE_SIGNED},
        {"clientGrantRefundSigned", TON_OP_CLIENT_GRANT_REFUND_SIGNED},
        {"clientRequestRefund", TON_OP_CLIENT_REQUEST_REFUND},
        {"clientProxyRequest", TON_OP_CLIENT_PROXY_REQUEST},
        {"clientProxyTopUp", TON_OP_CLIENT_PROXY_TOP_UP},
        {"clientProxyRegister", TON_OP_CLIENT_PROXY_REGISTER},
        {"clientProxyRefundGranted", TON_OP_CLIENT_PROXY_REFUND_GRANTED},
        {"clientProxyRefundForce", TON_OP_CLIENT_PROXY_REFUND_FORCE},
        {"workerPayoutSigned", TON_OP_WORKER_PAYOUT_SIGNED},
        {"workerLastPayoutSigned", TON_OP_WORKER_LAST_PAYOUT_SIGNED},
        {"workerRegister", TON_OP_WORKER_REGISTER},
        {"workerProxyRequest", TON_OP_WORKER_PROXY_REQUEST},
        {"workerProxyPayoutRequest", TON_OP_WORKER_PROXY_PAYOUT_REQUEST},
        {"proxyIncreaseStake", TON_OP_PROXY_INCREASE_STAKE},
        {"proxySaveState", TON_OP_PROXY_SAVE_STATE},
        {"proxyPayoutRequest", TON_OP_PROXY_PAYOUT_REQUEST},
        {"proxyClose", TON_OP_PROXY_CLOSE},
        {"proxyCloseSigned", TON_OP_PROXY_CLOSE_SIGNED},
        {"proxyCloseCompleteSigned", TON_OP_PROXY_CLOSE_COMPLETE_SIGNED},
    };
    const json_t *js = json_object_get(g_v, "ops");
    assert_int_equal(json_object_size(js), CC_ARRAY_LEN(ops));
    for (size_t i = 0; i < CC_ARRAY_LEN(ops); i++) {
        const json_t *v = json_object_get(js, ops[i].name);
        if (!json_is_integer(v)) fail_msg("opcode %s missing from the vectors", ops[i].name);
        if ((uint32_t)json_integer_value(v) != ops[i].op)
            fail_msg("%s: C 0x%08x, contracts 0x%08x", ops[i].name, ops[i].op,
                     (uint32_t)json_integer_value(v));
    }
}

/* What the proxy reads back from its contract's transactions (the bodies
 * @ton/core built): the register nonce, the state, the owner; garbage and
 * other ops refused with the field named. */
static void test_client_proxy_request_parse(void **state)
{
    (void)state;
    const json_t *b = json_object_get(g_v, "bodies");
    ton_client_proxy_msg m;
    cc_err err = {0};
    ton_cell *c = ton_boc_parse_hex(vstr(b, "client_proxy_request_register"), NULL);
    assert_non_null(c);
    assert_int_equal(ton_client_proxy_request_parse(c, &m, &err), 0);
    assert_true(ton_addr_equal(&m.owner, &g_a));
    assert_true(m.has_payload && m.has_nonce);
    assert_int_equal(m.nonce, 99);
    assert_int_equal(m.st.state, 0);
    assert_int_equal(m.st.stake, 100000000);
    ton_cell_unref(c);
    c = ton_boc_parse_hex(vstr(b, "client_proxy_request_top_up"), NULL);
    assert_int_equal(ton_client_proxy_request_parse(c, &m, &err), 0);
    assert_true(m.has_payload && !m.has_nonce);
    assert_int_equal(m.payload_op, TON_OP_CLIENT_PROXY_TOP_UP);
    assert_int_equal(m.st.state, 1);
    assert_int_equal(m.st.balance, 1500000000);
    assert_int_equal(m.st.tokens_used, 4242);
    assert_memory_equal(m.st.secret_hash, g_h, 32);
    ton_cell_unref(c);
    c = ton_boc_parse_hex(vstr(b, "client_proxy_request_note"), NULL);
    assert_int_equal(ton_client_proxy_request_parse(c, &m, &err), 0);
    assert_false(m.has_payload);
    ton_cell_unref(c);
    /* another contract's message */
    c = ton_boc_parse_hex(vstr(b, "worker_proxy_request_note"), NULL);
    assert_int_equal(ton_client_proxy_request_parse(c, &m, &err), -1);
    assert_non_null(strstr(err.msg, "not client_proxy_request"));
    ton_cell_unref(c);
    /* a register payload with a nonce cut short */
    ton_builder pb;
    ton_builder_init(&pb);
    ton_builder_store_uint(&pb, TON_OP_CLIENT_PROXY_REGISTER, 32);
    ton_builder_store_uint(&pb, 7, 32);
    ton_cell *pl = ton_builder_end(&pb, NULL);
    ton_client_state_data st = {.stake = 1};
    c = ton_body_client_proxy_request(1, &g_a, &st, pl, NULL);
    assert_int_equal(ton_client_proxy_request_parse(c, &m, &err), -1);
    assert_non_null(strstr(err.msg, "register nonce"));
    ton_cell_unref(c);
    ton_cell_unref(pl);
    /* a body cut after the owner: no state cell */
    ton_builder bb;
    ton_builder_init(&bb);
    ton_builder_store_uint(&bb, TON_OP_CLIENT_PROXY_REQUEST, 32);
    ton_builder_store_uint(&bb, 1, 64);
    ton_builder_store_addr(&bb, &g_a);
    c = ton_builder_end(&bb, NULL);
    assert_int_equal(ton_client_proxy_request_parse(c, &m, &err), -1);
    assert_non_null(strstr(err.msg, "state"));
    ton_cell_unref(c);
}

static void test_contract_to_contract_bodies(void **state)
{
    (void)state;
    /* the layouts the proxy contract parses (SPEC §2.2, §3.2), built by @ton/core */
    const json_t *b = json_object_get(g_v, "bodies");
    ton_client_state_data st = {
        .state = 1, .balance = 1500000000, .stake = 100000000, .tokens_used = 4242};
    memcpy(st.secret_hash, g_h, 32);
    ton_cell *pl =
        ton_payload_client_proxy_coins(TON_OP_CLIENT_PROXY_TOP_UP, 1500000000, &g_c, NULL);
    expect_boc(ton_body_client_proxy_request(25, &g_a, &st, pl, NULL),
               vstr(b, "client_proxy_request_top_up"), "client_proxy_request top-up");
    ton_cell_unref(pl);
    st.state = 2;
    st.balance = 0;
    pl = ton_payload_client_proxy_coins(TON_OP_CLIENT_PROXY_REFUND_GRANTED, 77, &g_c, NULL);
    expect_boc(ton_body_client_proxy_request(25, &g_a, &st, pl, NULL),
               vstr(b, "client_proxy_request_refund_granted"), "client_proxy_request refund");
    ton_cell_unref(pl);
    pl = ton_payload_client_proxy_coins(TON_OP_CLIENT_PROXY_REFUND_FORCE, 78, &g_c, NULL);
    expect_boc(ton_body_client_proxy_request(25, &g_a, &st, pl, NULL),
               vstr(b, "client_proxy_request_refund_force"), "client_proxy_request refund force");
    ton_cell_unref(pl);
    st = (ton_client_state_data){.state = 0, .stake = 100000000};
    pl = ton_payload_client_proxy_register(99, NULL);
    expect_boc(ton_body_client_proxy_request(25, &g_a, &st, pl, NULL),
               vstr(b, "client_proxy_request_register"), "client_proxy_request register");
    ton_cell_unref(pl);
    st.balance = 5;
    st.tokens_used = 1;
    expect_boc(ton_body_client_proxy_request(25, &g_a, &st, NULL, NULL),
               vstr(b, "client_proxy_request_note"), "client_proxy_request note");
    pl = ton_payload_worker_proxy_payout(2500, 1250, &g_c, NULL);
    expect_boc(ton_body_worker_proxy_request(26, &g_b, 2, 250, pl, NULL),
               vstr(b, "worker_proxy_request_payout"), "worker_proxy_request payout");
    ton_cell_unref(pl);
    expect_boc(ton_body_worker_proxy_request(26, &g_b, 0, 100, NULL, NULL),
               vstr(b, "worker_proxy_request_note"), "worker_proxy_request note");
    ton_addr none = {.none = true};
    assert_null(ton_body_worker_proxy_request(26, &none, 0, 100, NULL, NULL));

    ton_cell *c;
    c = ton_body_op_qid(TON_OP_EXCESSES, 9, NULL);
    assert_int_equal(c->bit_len, 96);
    ton_cell_unref(c);
}

static void test_wallet_three_messages(void **state)
{
    (void)state;
    const json_t *v = json_object_get(g_v, "wallet_v5r1_three_messages");
    uint8_t seed[32], pub[32];
    cc_hex_decode(vstr(v, "seed_hex"), seed, 32, NULL);
    crypto_ed25519_public(seed, pub, NULL);
    ton_wallet w;
    ton_wallet_init(&w, TON_WALLET_V5R1, 0, pub, TON_GLOBAL_ID_MAINNET);
    ton_cell *comment = ton_msg_comment("first", NULL);
    ton_cell *topup = ton_body_coins_addr(TON_OP_CLIENT_TOP_UP, 7, 0, &g_a, NULL);
    ton_int_msg m[3] = {
        {.dest = g_a, .value = 1500000000, .bounce = true, .body = comment},
        {.dest = g_b, .value = 1, .bounce = false, .body = topup},
        {.dest = g_c, .value = 0, .bounce = true},
    };
    ton_out_msg om[3];
    for (int i = 0; i < 3; i++) {
        om[i].mode = 3;
        om[i].msg = ton_msg_internal(&m[i], NULL);
        assert_non_null(om[i].msg);
    }
    cc_err err;
    ton_cell *body = ton_wallet_transfer_body(&w, seed, 5, 1700000060, om, 3, &err);
    if (!body) fail_msg("%s", err.msg);
    expect_boc(body, vstr(v, "body"), "v5r1 transfer of three messages");
    /* v4r2 takes at most 4 messages, v5r1 many more */
    ton_out_msg many[5] = {om[0], om[1], om[2], om[0], om[1]};
    ton_wallet w4;
    ton_wallet_init(&w4, TON_WALLET_V4R2, 0, pub, 0);
    assert_null(ton_wallet_transfer_body(&w4, seed, 0, 1, many, 5, &err));
    body = ton_wallet_transfer_body(&w, seed, 0, 1, many, 5, &err);
    assert_non_null(body);
    ton_cell_unref(body);
    for (int i = 0; i < 3; i++)
        ton_cell_unref(om[i].msg);
    ton_cell_unref(comment);
    ton_cell_unref(topup);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_bodies),
        cmocka_unit_test(test_party_bodies),
        cmocka_unit_test(test_storage_and_addresses),
        cmocka_unit_test(test_vouchers),
        cmocka_unit_test(test_voucher_tampering),
        cmocka_unit_test(test_contract_to_contract_bodies),
        cmocka_unit_test(test_client_proxy_request_parse),
        cmocka_unit_test(test_opcodes),
        cmocka_unit_test(test_wallet_three_messages),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
