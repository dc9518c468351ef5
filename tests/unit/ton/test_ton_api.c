/* TON HTTP API v2 JSON: reply envelopes, runGetMethod stacks (toncenter's
 * forms), account/wallet/transaction objects, and get-method arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ton/ton.h"

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_envelope(void **state)
{
    (void)state;
    cc_err err;
    const char ok[] = "{\"ok\":true,\"result\":{\"x\":1}}";
    json_t *r = ton_api_parse_reply(ok, strlen(ok), 200, &err);
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "x")), 1);
    json_decref(r);
    const char bad[] = "{\"ok\":false,\"error\":\"LITE_SERVER_UNKNOWN: cannot apply external "
                       "message\",\"code\":500}";
    assert_null(ton_api_parse_reply(bad, strlen(bad), 500, &err));
    assert_int_equal(err.code, 500);
    assert_non_null(strstr(err.msg, "cannot apply external message"));
    assert_null(ton_api_parse_reply("<html>", 6, 502, &err));
    assert_int_equal(err.code, 502);
    assert_non_null(strstr(err.msg, "HTTP 502"));
    assert_null(ton_api_parse_reply("[1]", 3, 200, &err));
    assert_null(ton_api_parse_reply("{\"ok\":true}", 11, 200, &err));
}

static void test_stack_toncenter_forms(void **state)
{
    (void)state;
    /* an address slice: addr_std 0:11..11, BoC in base64 */
    ton_addr a = {.wc = 0};
    memset(a.hash, 0x11, 32);
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_addr(&b, &a);
    ton_cell *ac = ton_builder_end(&b, NULL);
    char *b64 = ton_boc_to_base64(ac, NULL);
    char text[4096];
    snprintf(
        text, sizeof text,
        "{\"@type\":\"smc.runResult\",\"gas_used\":1234,\"exit_code\":0,\"stack\":["
        "[\"num\",\"0x3\"],[\"num\",\"-0x10\"],[\"num\",\"123456789012\"],"
        "[\"num\",\"0xabababababababababababababababababababababababababababababababab\"],"
        "[\"cell\",{\"bytes\":\"%s\",\"object\":{}}],[\"slice\",{\"bytes\":\"%s\"}],"
        "[\"null\"],[\"list\",{\"@type\":\"tvm.list\",\"elements\":[]}],"
        "[\"tuple\",{\"@type\":\"tvm.tuple\",\"elements\":["
        "{\"@type\":\"tvm.stackEntryNumber\",\"number\":{\"@type\":\"tvm.numberDecimal\","
        "\"number\":\"-5\"}},"
        "{\"@type\":\"tvm.stackEntryCell\",\"cell\":{\"@type\":\"tvm.cell\",\"bytes\":\"%s\"}},"
        "{\"@type\":\"tvm.stackEntryTuple\",\"tuple\":{\"@type\":\"tvm.tuple\",\"elements\":[]}}"
        "]}]]}",
        b64, b64, b64);
    json_t *j = parse(text);
    ton_stack st;
    cc_err err;
    if (ton_stack_parse_json(j, &st, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(st.n, 9);
    assert_int_equal(st.gas_used, 1234);
    int64_t i64;
    uint64_t u64;
    assert_int_equal(ton_stack_int64(&st, 0, &i64, NULL), 0);
    assert_int_equal(i64, 3);
    assert_int_equal(ton_stack_int64(&st, 1, &i64, NULL), 0);
    assert_int_equal(i64, -16);
    assert_int_equal(ton_stack_uint64(&st, 1, &u64, &err), -1);
    assert_int_equal(ton_stack_uint64(&st, 2, &u64, NULL), 0);
    assert_int_equal(u64, 123456789012ull);
    uint8_t h[32], want[32];
    memset(want, 0xab, 32);
    assert_int_equal(ton_stack_uint256(&st, 3, h, NULL), 0);
    assert_memory_equal(h, want, 32);
    assert_int_equal(ton_stack_int64(&st, 3, &i64, &err), -1);
    ton_addr back;
    assert_int_equal(ton_stack_addr(&st, 5, &back, NULL), 0);
    assert_true(ton_addr_equal(&back, &a));
    const ton_cell *c;
    assert_int_equal(ton_stack_cell(&st, 4, &c, NULL), 0);
    assert_true(ton_cell_equal(c, ac));
    assert_int_equal(ton_stack_cell(&st, 6, &c, NULL), 0);
    assert_null(c);
    assert_int_equal(st.items[7].type, TON_STACK_NULL);
    assert_int_equal(st.items[8].type, TON_STACK_TUPLE);
    assert_int_equal(st.items[8].n_items, 3);
    assert_true(st.items[8].items[0].negative);
    assert_int_equal(st.items[8].items[0].mag[32], 5);
    assert_int_equal(st.items[8].items[1].type, TON_STACK_CELL);
    assert_int_equal(ton_stack_int64(&st, 9, &i64, &err), -1); /* out of range */
    ton_stack_free(&st);
    json_decref(j);
    free(b64);
    ton_cell_unref(ac);
}

static void test_stack_bad(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"stack\":[]}",                                   /* no exit code */
        "{\"exit_code\":0}",                                /* no stack */
        "{\"exit_code\":0,\"stack\":[[\"num\",\"0xzz\"]]}", /* bad hex */
        "{\"exit_code\":0,\"stack\":[[\"num\",\"0x1"        /* 257 bits + */
        "0000000000000000000000000000000000000000000000000000000000000000\"]]}",
        "{\"exit_code\":0,\"stack\":[[\"cell\",{\"bytes\":\"AAAA\"}]]}", /* not a BoC */
        "{\"exit_code\":0,\"stack\":[[\"weird\",1]]}",
        "{\"exit_code\":0,\"stack\":[\"num\"]}",
        "{\"exit_code\":0,\"stack\":[[\"tuple\",{\"elements\":[{\"@type\":\"tvm.what\"}]}]]}",
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(bad); i++) {
        json_t *j = parse(bad[i]);
        ton_stack st;
        cc_err err;
        if (ton_stack_parse_json(j, &st, &err) == 0) fail_msg("accepted %s", bad[i]);
        json_decref(j);
    }
    /* the bounds on outside stacks: nesting depth and the total number of entries */
    cc_buf text = CC_BUF_INIT;
    for (int depth = 8; depth <= 40; depth += 32) {
        text.len = 0;
        cc_buf_append_str(&text, "{\"exit_code\":0,\"stack\":[[\"tuple\",{\"elements\":[");
        for (int k = 0; k < depth; k++)
            cc_buf_append_str(&text, "{\"@type\":\"tvm.tuple\",\"elements\":[");
        for (int k = 0; k < depth; k++)
            cc_buf_append_str(&text, "]}");
        cc_buf_append_str(&text, "]}]]}");
        cc_buf_append_u8(&text, 0);
        json_t *nested = parse((const char *)text.data);
        ton_stack st;
        cc_err err;
        int rc = ton_stack_parse_json(nested, &st, &err);
        if (depth == 8) {
            assert_int_equal(rc, 0);
            ton_stack_free(&st);
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err.msg, "nested too deeply"));
        }
        json_decref(nested);
    }
    for (int where = 0; where < 2; where++) { /* 5000 entries at the top, or in a tuple */
        text.len = 0;
        cc_buf_append_str(&text, where ? "{\"exit_code\":0,\"stack\":[[\"tuple\",{\"elements\":["
                                       : "{\"exit_code\":0,\"stack\":[");
        for (int k = 0; k < 5000; k++)
            cc_buf_append_str(&text, where ? "{\"@type\":\"tvm.stackEntryNull\"}," : "[\"null\"],");
        text.len--; /* the last comma */
        cc_buf_append_str(&text, where ? "]}]]}" : "]}");
        cc_buf_append_u8(&text, 0);
        json_t *many = parse((const char *)text.data);
        ton_stack st;
        cc_err err;
        assert_int_equal(ton_stack_parse_json(many, &st, &err), -1);
        assert_non_null(strstr(err.msg, "too many entries"));
        json_decref(many);
    }
    cc_buf_free(&text);

    /* -2^256 is a valid 257-bit integer, 2^256 is not */
    json_t *j = parse("{\"exit_code\":0,\"stack\":[[\"num\",\"-0x1"
                      "0000000000000000000000000000000000000000000000000000000000000000\"]]}");
    ton_stack st;
    assert_int_equal(ton_stack_parse_json(j, &st, NULL), 0);
    ton_stack_free(&st);
    json_decref(j);
}

static void test_args(void **state)
{
    (void)state;
    uint8_t h[32];
    memset(h, 0xff, 32);
    ton_stack_arg args[3] = {ton_stack_arg_u64(42), ton_stack_arg_u256(h)};
    ton_addr a = {.wc = -1};
    ton_cell *holder;
    assert_int_equal(ton_stack_arg_addr(&a, &args[2], &holder, NULL), 0);
    json_t *j = ton_stack_args_to_json(args, 3, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_array_get(json_array_get(j, 0), 1)), "42");
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(j, 1), 1)),
        "115792089237316195423570985008687907853269984665640564039457584007913129639935");
    assert_string_equal(json_string_value(json_array_get(json_array_get(j, 2), 0)), "tvm.Slice");
    json_decref(j);
    ton_cell_unref(holder);
    char *z = ton_bigint_to_dec((const uint8_t[4]){0}, 4, true);
    assert_string_equal(z, "0");
    free(z);
}

static void test_account_wallet_txs(void **state)
{
    (void)state;
    json_t *j =
        parse("{\"@type\":\"raw.fullAccountState\",\"balance\":\"1500000000\",\"code\":\"\","
              "\"data\":\"\",\"last_transaction_id\":{\"@type\":\"internal.transactionId\","
              "\"lt\":\"123\",\"hash\":\"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\"},"
              "\"state\":\"uninitialized\"}");
    ton_account acc;
    cc_err err;
    assert_int_equal(ton_account_from_json(j, &acc, &err), 0);
    assert_int_equal(acc.balance, 1500000000ull);
    assert_int_equal(acc.last_lt, 123);
    assert_int_equal(acc.last_hash[5], 0xab);
    assert_string_equal(acc.state, "uninitialized");
    assert_null(acc.code);
    ton_account_clear(&acc);
    json_decref(j);

    j = parse("{\"wallet\":true,\"balance\":\"99\",\"account_state\":\"active\",\"seqno\":7,"
              "\"wallet_id\":2147483409}");
    ton_wallet_info wi;
    assert_int_equal(ton_wallet_info_from_json(j, &wi, NULL), 0);
    assert_true(wi.is_wallet);
    assert_int_equal(wi.seqno, 7);
    assert_int_equal(wi.balance, 99);
    assert_int_equal(wi.wallet_id, 2147483409);
    json_decref(j);

    j = parse(
        "[{\"utime\":1700000000,\"transaction_id\":{\"lt\":\"5\",\"hash\":"
        "\"abababababababababababababababababababababababababababababababab\"},\"fee\":\"10\","
        "\"in_msg\":{\"source\":\"EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N\","
        "\"value\":\"1000\",\"msg_data\":{\"body\":\"te6cckEBAQEABgAACLtj/5PKMnWr\"}},"
        "\"out_msgs\":[{\"value\":\"300\"},{\"value\":\"200\"}],\"aborted\":true,"
        "\"exit_code\":101},"
        "{\"utime\":1,\"transaction_id\":{\"lt\":4,\"hash\":\"\"},\"in_msg\":{\"source\":\"\"},"
        "\"out_msgs\":[]}]");
    ton_tx *txs;
    size_t n;
    if (ton_txs_from_json(j, &txs, &n, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(n, 2);
    assert_int_equal(txs[0].lt, 5);
    assert_int_equal(txs[0].in_value, 1000);
    assert_int_equal(txs[0].out_value, 500);
    assert_int_equal(txs[0].n_out, 2);
    assert_true(txs[0].aborted);
    assert_int_equal(txs[0].exit_code, 101);
    assert_false(txs[0].in_source.none);
    assert_true(txs[1].in_source.none);
    free(txs);
    json_decref(j);

    j = parse("{\"balance\":-1}");
    assert_int_equal(ton_account_from_json(j, &acc, &err), -1);
    json_decref(j);
}

static void test_api_new_errors(void **state)
{
    (void)state;
    cc_err err;
    assert_null(ton_api_new("", NULL, &err));
    assert_null(ton_api_new("ftp://x", NULL, &err));
    ton_api *api = ton_api_new("http://127.0.0.1:1/api/v2/", NULL, &err);
    assert_non_null(api);
    ton_api_set_timeout(api, 2);
    /* nothing listens on port 1: a clear transport error, not a crash */
    ton_account acc;
    ton_addr a = {.wc = 0};
    assert_int_equal(ton_api_get_address_information(api, &a, &acc, &err), -1);
    assert_non_null(strstr(err.msg, "getAddressInformation"));
    ton_api_free(api);
}

static void test_contract_state_stacks(void **state)
{
    (void)state;
    json_t *j =
        parse("{\"exit_code\":0,\"stack\":[[\"num\",\"0x3\"],[\"num\",\"0x1\"],[\"num\",\"0x1\"],"
              "[\"num\",\"-0x1\"],[\"num\",\"0x19\"],[\"num\",\"0x12\"],[\"num\",\"0x2710\"],"
              "[\"num\",\"0x3e8\"],[\"num\",\"0x2710\"],[\"num\",\"0x2710\"],[\"num\",\"0xe10\"],"
              "[\"num\",\"0x3c\"],[\"num\",\"0x3b9aca00\"],[\"num\",\"0x5f5e100\"],"
              "[\"null\",null],[\"null\",null],[\"null\",null]]}");
    ton_stack st;
    assert_int_equal(ton_stack_parse_json(j, &st, NULL), 0);
    ton_root_params p;
    cc_err err;
    if (ton_root_params_from_stack(&st, &p, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(p.struct_version, 3);
    assert_true(p.is_test);
    assert_int_equal(p.price_per_token, 25);
    assert_int_equal(p.worker_fee_per_token, 18);
    assert_int_equal(p.cached_mult, 1000);
    assert_int_equal(p.proxy_delay_before_close, 3600);
    assert_int_equal(p.client_delay_before_close, 60);
    assert_int_equal(p.min_proxy_stake, 1000000000);
    assert_int_equal(p.min_client_stake, 100000000);
    assert_null(p.client_code);
    ton_root_params_clear(&p);
    /* the client reader refuses a stack of the wrong shape */
    ton_client_state cs;
    assert_int_equal(ton_client_state_from_stack(&st, &cs, &err), -1); /* entry 5 is not a hash */
    ton_stack_free(&st);
    json_decref(j);
    j = parse("{\"exit_code\":0,\"stack\":[[\"num\",\"0x0\"],[\"num\",\"0x3b9aca00\"]]}");
    assert_int_equal(ton_stack_parse_json(j, &st, NULL), 0);
    assert_int_equal(ton_client_state_from_stack(&st, &cs, &err), -1);
    assert_non_null(strstr(err.msg, "expected 6"));
    ton_stack_free(&st);
    json_decref(j);
    j = parse("{\"exit_code\":0,\"stack\":[[\"num\",\"0x1\"],[\"num\",\"0x3b9aca00\"],[\"num\","
              "\"0x5f5e100\"],"
              "[\"num\",\"0x3e8\"],[\"num\",\"0x0\"],[\"num\",\"0xff\"]]}");
    assert_int_equal(ton_stack_parse_json(j, &st, NULL), 0);
    assert_int_equal(ton_client_state_from_stack(&st, &cs, NULL), 0);
    assert_int_equal(cs.state, 1);
    assert_int_equal(cs.balance, 1000000000);
    assert_int_equal(cs.stake, 100000000);
    assert_int_equal(cs.tokens_used, 1000);
    assert_int_equal(cs.secret_hash[31], 0xff);
    /* the same six numbers are not a proxy's four */
    ton_proxy_state ps;
    assert_int_equal(ton_proxy_state_from_stack(&st, &ps, &err), -1);
    assert_non_null(strstr(err.msg, "expected 4"));
    ton_stack_free(&st);
    json_decref(j);
    j = parse("{\"exit_code\":0,\"stack\":[[\"num\",\"0x1\"],[\"num\",\"0x7\"],[\"num\","
              "\"0x3b9aca00\"],[\"num\",\"0x65\"]]}");
    assert_int_equal(ton_stack_parse_json(j, &st, NULL), 0);
    assert_int_equal(ton_proxy_state_from_stack(&st, &ps, NULL), 0);
    assert_int_equal(ps.state, 1);
    assert_int_equal(ps.balance, 7);
    assert_int_equal(ps.stake, 1000000000);
    assert_int_equal(ps.unlock_ts, 101);
    ton_stack_free(&st);
    json_decref(j);
}

/* One reading of a contract's get-method result for every daemon (the
 * client, the proxy's refresh, its authorization, its stake), on results as
 * tools/tonsim's runGetMethod returns them. */
static void test_contract_state_from_result(void **state)
{
    (void)state;
    /* get_client_data of an open contract: 1.5 TON, 0.1 TON stake, 1000
     * tokens charged, a secret hash (a 256-bit number, hex as tonsim prints) */
    json_t *j = parse(
        "{\"@type\":\"smc.runResult\",\"gas_used\":1842,\"stack\":[[\"num\",\"0x0\"],"
        "[\"num\",\"0x59682f00\"],[\"num\",\"0x5f5e100\"],[\"num\",\"0x3e8\"],[\"num\",\"0x0\"],"
        "[\"num\",\"0x9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"]],"
        "\"exit_code\":0}");
    ton_client_state cs;
    cc_err err = {0};
    if (ton_client_state_from_result(j, &cs, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(cs.state, 0);
    assert_int_equal(cs.balance, 1500000000);
    assert_int_equal(cs.stake, 100000000);
    assert_int_equal(cs.tokens_used, 1000);
    assert_int_equal(cs.secret_hash[0], 0x9f);
    assert_int_equal(cs.secret_hash[31], 0x08);
    /* the same result is not a proxy's */
    ton_proxy_state ps;
    assert_int_equal(ton_proxy_state_from_result(j, &ps, &err), -1);
    assert_non_null(strstr(err.msg, "get_proxy_data"));
    json_decref(j);

    /* get_proxy_data: open, earned share 7000, stake 1 TON */
    j = parse("{\"@type\":\"smc.runResult\",\"gas_used\":905,\"stack\":[[\"num\",\"0x0\"],"
              "[\"num\",\"0x1b58\"],[\"num\",\"0x3b9aca00\"],[\"num\",\"0x0\"]],\"exit_code\":0}");
    if (ton_proxy_state_from_result(j, &ps, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(ps.balance, 7000);
    assert_int_equal(ps.stake, 1000000000);
    json_decref(j);

    /* a get-method that threw: tonsim (as toncenter) reports its exit code
     * with an empty stack; the code is named, nothing is read */
    j = parse("{\"@type\":\"smc.runResult\",\"gas_used\":0,\"stack\":[],\"exit_code\":11}");
    memset(&cs, 0x55, sizeof cs);
    assert_int_equal(ton_client_state_from_result(j, &cs, &err), -1);
    assert_non_null(strstr(err.msg, "get_client_data: exit code 11"));
    ton_worker_state ws;
    assert_int_equal(ton_worker_state_from_result(j, &ws, &err), -1);
    assert_non_null(strstr(err.msg, "get_worker_data: exit code 11"));
    json_decref(j);
    /* garbage: a clear message, never a crash */
    assert_int_equal(ton_client_state_from_result(NULL, &cs, &err), -1);
    j = parse("{\"stack\":\"x\",\"exit_code\":0}");
    assert_int_equal(ton_client_state_from_result(j, &cs, &err), -1);
    assert_non_null(strstr(err.msg, "get_client_data"));
    json_decref(j);
    j = parse("{\"stack\":[[\"num\",\"-0x1\"],[\"num\",\"0x1\"],[\"num\",\"0x1\"],"
              "[\"num\",\"0x1\"],[\"num\",\"0x0\"],[\"num\",\"0x0\"]],\"exit_code\":0}");
    assert_int_equal(ton_client_state_from_result(j, &cs, &err), -1); /* a negative state */
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_stack_toncenter_forms),
        cmocka_unit_test(test_stack_bad),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_account_wallet_txs),
        cmocka_unit_test(test_api_new_errors),
        cmocka_unit_test(test_contract_state_stacks),
        cmocka_unit_test(test_contract_state_from_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
