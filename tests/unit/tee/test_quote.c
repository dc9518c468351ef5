/* TDX quote parsing and verification against the real quotes in
 * $COCOON_SHARED/fixtures/tdx and their expected.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "tee/tee.h"
#include "../shared_data.h"

static char fixtures[512];

static int setup(void **state)
{
    shared_data_path(fixtures, sizeof(fixtures), "fixtures/tdx");
    return 0;
}

static void load(const char *name, cc_buf *out)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", fixtures, name);
    cc_err err = {0};
    if (cc_read_file(path, out, &err)) fail_msg("%s", err.msg);
}

static json_t *expected_for(const char *file)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/expected.json", fixtures);
    cc_err err = {0};
    json_t *all = cc_json_load_file(path, &err);
    assert_non_null(all);
    json_t *quotes = json_object_get(all, "quotes");
    size_t i;
    json_t *q;
    json_array_foreach(quotes, i, q)
    {
        if (!strcmp(json_string_value(json_object_get(q, "file")), file)) {
            json_incref(q);
            json_decref(all);
            return q;
        }
    }
    json_decref(all);
    fail_msg("no expected values for %s", file);
    return NULL;
}

static time_t at(const char *iso)
{
    time_t t;
    cc_err err = {0};
    assert_int_equal(tee_parse_iso_time(iso, &t, &err), 0);
    return t;
}

static void check_parse_matches_expected(const char *file)
{
    cc_buf b = CC_BUF_INIT;
    load(file, &b);
    json_t *exp = expected_for(file);
    tee_quote q;
    cc_err err = {0};
    assert_int_equal(tee_quote_parse(b.data, b.len, &q, &err), 0);
    json_t *got = tee_quote_to_json(&q);
    json_t *hdr = json_object_get(exp, "header");
    assert_int_equal(json_integer_value(json_object_get(got, "version")),
                     json_integer_value(json_object_get(hdr, "version")));
    assert_string_equal(json_string_value(json_object_get(got, "tee_type")),
                        json_string_value(json_object_get(hdr, "tee_type")));
    assert_string_equal(json_string_value(json_object_get(got, "qe_vendor_id")),
                        json_string_value(json_object_get(hdr, "qe_vendor_id")));
    assert_string_equal(json_string_value(json_object_get(got, "user_data")),
                        json_string_value(json_object_get(hdr, "user_data")));
    const char *key;
    json_t *val;
    int fields = 0;
    json_object_foreach(json_object_get(exp, "body"), key, val)
    {
        json_t *g = json_object_get(got, key);
        if (!g) fail_msg("field %s missing from the parsed quote", key);
        assert_string_equal(json_string_value(g), json_string_value(val));
        fields++;
    }
    assert_true(fields >= 15);
    assert_string_equal(json_string_value(json_object_get(got, "fmspc")),
                        json_string_value(json_object_get(json_object_get(exp, "pck"), "fmspc")));
    assert_string_equal(json_string_value(json_object_get(got, "attestation_key")),
                        json_string_value(json_object_get(exp, "attestation_key")));
    assert_string_equal(json_string_value(json_object_get(got, "quote_signature")),
                        json_string_value(json_object_get(exp, "quote_signature")));
    assert_string_equal(json_string_value(json_object_get(got, "qe_auth_data")),
                        json_string_value(json_object_get(exp, "qe_auth_data")));
    json_object_foreach(json_object_get(exp, "qe_report"), key, val)
    {
        json_t *g = json_object_get(json_object_get(got, "qe_report"), key);
        assert_non_null(g);
        if (json_is_integer(val))
            assert_int_equal(json_integer_value(g), json_integer_value(val));
        else
            assert_string_equal(json_string_value(g), json_string_value(val));
    }
    assert_int_equal(json_integer_value(json_object_get(got, "quote_length")),
                     json_integer_value(json_object_get(exp, "quote_length")));
    assert_int_equal(json_integer_value(json_object_get(got, "signed_length")),
                     json_integer_value(json_object_get(exp, "signed_region_length")));
    assert_int_equal(json_integer_value(json_object_get(got, "trailing_bytes")),
                     json_integer_value(json_object_get(exp, "trailing_bytes_after_quote")));
    json_decref(got);
    json_decref(exp);

    /* The same quote as hex text parses the same. */
    char *hex = cc_hex_encode_alloc(b.data, b.len);
    size_t hl = strlen(hex);
    char *text = cc_malloc(hl + 8);
    snprintf(text, hl + 8, "0x%s\n", hex);
    tee_quote qh;
    assert_int_equal(tee_quote_parse_any((const uint8_t *)text, strlen(text), &qh, &err), 0);
    assert_int_equal(qh.len, q.len);
    assert_memory_equal(qh.raw, q.raw, q.len);
    tee_quote_free(&qh);
    free(text);
    free(hex);
    tee_quote_free(&q);
    cc_buf_free(&b);
}

static void test_parse_v4(void **state)
{
    check_parse_matches_expected("dcap-qvl_sample_tdx_quote.bin");
}

static void test_parse_v5(void **state)
{
    check_parse_matches_expected("dcap-qvl_sample_tdx_quote_outdated.bin");
}

static void verify_ok(const char *file)
{
    cc_buf b = CC_BUF_INIT;
    load(file, &b);
    tee_quote q;
    cc_err err = {0};
    assert_int_equal(tee_quote_parse(b.data, b.len, &q, &err), 0);
    tee_quote_verify_opts o = {.at = at("2026-11-21T00:00:00Z")};
    tee_quote_result res;
    if (tee_quote_verify(&q, &o, &res, &err))
        fail_msg("%s: %s\n%.*s", file, err.msg, (int)res.log.len, (char *)res.log.data);
    assert_true(res.ok);
    assert_int_equal(res.tcb_status, TEE_TCB_NOT_EVALUATED);
    assert_true(res.has_fmspc);
    tee_quote_result_free(&res);
    /* After the PCK certificates expired the chain fails. */
    o.at = at("2033-06-01T00:00:00Z");
    assert_int_equal(tee_quote_verify(&q, &o, &res, &err), -1);
    assert_non_null(strstr(err.msg, "PCK chain"));
    tee_quote_result_free(&res);
    tee_quote_free(&q);
    cc_buf_free(&b);
}

static void test_verify_v4(void **state)
{
    verify_ok("dcap-qvl_sample_tdx_quote.bin");
}
static void test_verify_v5(void **state)
{
    verify_ok("dcap-qvl_sample_tdx_quote_outdated.bin");
}

/* Flips every byte of [from, to) of the quote; each must fail verification
 * (or parsing, for bytes that carry lengths). Returns how many were tried. */
static int flip_range(const cc_buf *b, size_t from, size_t to)
{
    tee_quote_verify_opts o = {.at = at("2026-11-21T00:00:00Z")};
    uint8_t *copy = cc_malloc(b->len);
    int tried = 0;
    for (size_t i = from; i < to; i++) {
        memcpy(copy, b->data, b->len);
        copy[i] ^= 0x01;
        tee_quote q;
        cc_err err = {0};
        if (tee_quote_parse(copy, b->len, &q, &err) == 0) {
            if (tee_quote_verify(&q, &o, NULL, &err) == 0)
                fail_msg("flipping byte %zu still verifies", i);
            tee_quote_free(&q);
        }
        tried++;
    }
    free(copy);
    return tried;
}

static void flips(const char *file)
{
    cc_buf b = CC_BUF_INIT;
    load(file, &b);
    tee_quote q;
    cc_err err = {0};
    assert_int_equal(tee_quote_parse(b.data, b.len, &q, &err), 0);
    size_t sig = q.signed_len + 4; /* signature data start */
    size_t qe = sig + 64 + 64 + 6; /* QE report */
    assert_int_equal(flip_range(&b, 0, q.signed_len), (int)q.signed_len);
    assert_int_equal(flip_range(&b, sig, sig + 128), 128); /* signature and key */
    assert_int_equal(flip_range(&b, qe, qe + 384 + 64), 448);
    /* QE auth data is bound through the QE report data. */
    size_t auth = qe + 384 + 64 + 2;
    assert_int_equal(flip_range(&b, auth, auth + q.qe_auth_data_len), (int)q.qe_auth_data_len);
    tee_quote_free(&q);
    cc_buf_free(&b);
}

static void test_flips_v4(void **state)
{
    flips("dcap-qvl_sample_tdx_quote.bin");
}
static void test_flips_v5(void **state)
{
    flips("dcap-qvl_sample_tdx_quote_outdated.bin");
}

static void truncations(const char *file)
{
    cc_buf b = CC_BUF_INIT;
    load(file, &b);
    tee_quote q;
    cc_err err = {0};
    assert_int_equal(tee_quote_parse(b.data, b.len, &q, &err), 0);
    size_t qlen = q.len;
    tee_quote_free(&q);
    for (size_t n = 0; n < qlen; n++) {
        /* A fresh exact-size copy so a sanitizer sees any over-read. */
        uint8_t *copy = cc_malloc(n ? n : 1);
        memcpy(copy, b.data, n);
        err.msg[0] = 0;
        if (tee_quote_parse(copy, n, &q, &err) == 0) fail_msg("truncation to %zu bytes parsed", n);
        assert_true(err.msg[0] != 0);
        assert_null(q.raw);
        free(copy);
    }
    cc_buf_free(&b);
}

static void test_truncations_v4(void **state)
{
    truncations("dcap-qvl_sample_tdx_quote.bin");
}
static void test_truncations_v5(void **state)
{
    truncations("dcap-qvl_sample_tdx_quote_outdated.bin");
}

static void test_refusals(void **state)
{
    cc_buf b = CC_BUF_INIT;
    load("dcap-qvl_sample_tdx_quote.bin", &b);
    tee_quote q;
    cc_err err = {0};
    /* SGX tee_type */
    b.data[4] = 0;
    assert_int_equal(tee_quote_parse(b.data, b.len, &q, &err), -1);
    assert_non_null(strstr(err.msg, "not a TDX quote"));
    b.data[4] = 0x81;
    b.data[0] = 3;
    assert_int_equal(tee_quote_parse(b.data, b.len, &q, &err), -1);
    assert_non_null(strstr(err.msg, "version 3"));
    b.data[0] = 4;
    /* Signature-data length past the end. */
    cc_store_u32le(b.data + 632, 100000);
    assert_int_equal(tee_quote_parse(b.data, b.len, &q, &err), -1);
    assert_non_null(strstr(err.msg, "signature data length"));
    cc_buf_free(&b);
    /* Not hex, not a quote. */
    assert_int_equal(tee_quote_parse_any((const uint8_t *)"hello", 5, &q, &err), -1);
    assert_int_equal(tee_quote_parse_any((const uint8_t *)"0xabc", 5, &q, &err), -1);
}

/* A v5 quote with a TDX 1.0 body (type 2): the v4 fixture's body moved into
 * the v5 layout parses to the same TD report (its signature no longer holds). */
static void test_parse_v5_td10_layout(void **state)
{
    cc_buf b = CC_BUF_INIT, v5 = CC_BUF_INIT;
    load("dcap-qvl_sample_tdx_quote.bin", &b);
    tee_quote q4, q5;
    cc_err err = {0};
    assert_int_equal(tee_quote_parse(b.data, b.len, &q4, &err), 0);
    uint8_t type_size[6] = {2, 0, 0x48, 0x02, 0, 0}; /* type 2, size 584 */
    cc_buf_append(&v5, b.data, 48);
    v5.data[0] = 5;
    cc_buf_append(&v5, type_size, 6);
    cc_buf_append(&v5, b.data + 48, q4.len - 48);
    assert_int_equal(tee_quote_parse(v5.data, v5.len, &q5, &err), 0);
    assert_int_equal(q5.version, 5);
    assert_int_equal(q5.body_type, 2);
    assert_false(q5.td.is_td15);
    assert_memory_equal(&q5.td, &q4.td, sizeof(q4.td));
    assert_int_equal(q5.signed_len, q4.signed_len + 6);
    assert_int_equal(q5.trailing, 0);
    tee_quote_verify_opts o = {.at = at("2026-11-21T00:00:00Z")};
    assert_int_equal(tee_quote_verify(&q5, &o, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "quote signature"));
    tee_quote_free(&q5);
    /* A body size that does not fit its type is refused. */
    v5.data[50] = 0x49;
    assert_int_equal(tee_quote_parse(v5.data, v5.len, &q5, &err), -1);
    assert_non_null(strstr(err.msg, "unsupported v5 body"));
    tee_quote_free(&q4);
    cc_buf_free(&b);
    cc_buf_free(&v5);
}

static void test_image_hash_definition(void **state)
{
    /* Image hash of the v5 quote: all RTMRs and MR* zero except MRTD. */
    cc_buf b = CC_BUF_INIT;
    load("dcap-qvl_sample_tdx_quote_outdated.bin", &b);
    tee_quote q;
    cc_err err = {0};
    assert_int_equal(tee_quote_parse(b.data, b.len, &q, &err), 0);
    uint8_t in[448] = {0}, want[32], got[32];
    memcpy(in, q.td.mr_td, 48);
    /* Computed independently of tee_image_hash's incremental code. */
    crypto_sha256(in, sizeof(in), want);
    tee_image_hash(&q.td, got);
    assert_memory_equal(got, want, 32);
    tee_quote_free(&q);
    cc_buf_free(&b);
}

static tee_tcb_status with_collateral(const char *quote, const char *coll, const char *when,
                                      int want_rc, const char *want_msg)
{
    cc_buf b = CC_BUF_INIT;
    load(quote, &b);
    tee_quote q;
    cc_err err = {0};
    assert_int_equal(tee_quote_parse(b.data, b.len, &q, &err), 0);
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", fixtures, coll);
    tee_collateral *c = tee_collateral_load(path, &err);
    if (!c) fail_msg("%s", err.msg);
    tee_quote_verify_opts o = {.at = at(when), .collateral = c};
    tee_quote_result res;
    int rc = tee_quote_verify(&q, &o, &res, &err);
    if (rc != want_rc || (want_msg && !strstr(err.msg, want_msg)))
        fail_msg("%s at %s: rc %d (%s)\n%.*s", quote, when, rc, err.msg, (int)res.log.len,
                 (char *)res.log.data);
    tee_tcb_status st = res.tcb_status;
    tee_quote_result_free(&res);
    tee_collateral_free(c);
    tee_quote_free(&q);
    cc_buf_free(&b);
    return st;
}

static void test_collateral_v4_up_to_date(void **state)
{
    assert_int_equal(with_collateral("dcap-qvl_sample_tdx_quote.bin",
                                     "dcap-qvl_sample_tdx_quote_collateral.json",
                                     "2025-06-20T00:00:00Z", 0, NULL),
                     TEE_TCB_UP_TO_DATE);
    /* Outside the collateral window the same collateral is stale. */
    with_collateral("dcap-qvl_sample_tdx_quote.bin", "dcap-qvl_sample_tdx_quote_collateral.json",
                    "2026-11-21T00:00:00Z", -1, NULL);
}

static void test_collateral_v5_no_matching_level(void **state)
{
    assert_int_equal(with_collateral("dcap-qvl_sample_tdx_quote_outdated.bin",
                                     "dcap-qvl_sample_tdx_quote_outdated_collateral.json",
                                     "2026-02-19T00:00:00Z", -1, "no matching TCB level"),
                     TEE_TCB_NO_MATCH);
    /* The v5 quote's FMSPC is not the one of the v4 collateral. */
    with_collateral("dcap-qvl_sample_tdx_quote_outdated.bin",
                    "dcap-qvl_sample_tdx_quote_collateral.json", "2025-06-20T00:00:00Z", -1, NULL);
}

static void test_collateral_tampered(void **state)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/dcap-qvl_sample_tdx_quote_collateral.json", fixtures);
    cc_err err = {0};
    json_t *j = cc_json_load_file(path, &err);
    assert_non_null(j);
    /* Change one character of the signed TCB info: the signature fails. */
    char *ti = cc_strdup(json_string_value(json_object_get(j, "tcb_info")));
    char *p = strstr(ti, "\"UpToDate\"");
    assert_non_null(p);
    memcpy(p + 1, "OutOfDat", 8);
    json_object_set_new(j, "tcb_info", json_string(ti));
    free(ti);
    char *text = json_dumps(j, 0);
    tee_collateral *c = tee_collateral_parse(text, strlen(text), &err);
    assert_non_null(c);
    cc_buf b = CC_BUF_INIT;
    load("dcap-qvl_sample_tdx_quote.bin", &b);
    tee_quote q;
    assert_int_equal(tee_quote_parse(b.data, b.len, &q, &err), 0);
    tee_quote_verify_opts o = {.at = at("2025-06-20T00:00:00Z"), .collateral = c};
    assert_int_equal(tee_quote_verify(&q, &o, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "TCB info signature"));
    tee_quote_free(&q);
    cc_buf_free(&b);
    tee_collateral_free(c);
    free(text);
    /* Missing fields are named. */
    json_object_del(j, "pck_crl");
    text = json_dumps(j, 0);
    assert_null(tee_collateral_parse(text, strlen(text), &err));
    assert_non_null(strstr(err.msg, "pck_crl"));
    free(text);
    json_decref(j);
}

static void test_iso_time(void **state)
{
    assert_int_equal(at("2026-11-21T00:00:00Z"), 1795219200);
    assert_int_equal(at("2026-11-21"), 1795219200);
    assert_int_equal(at("2025-06-19T10:32:27.123Z"), 1750329147);
    time_t t;
    cc_err err = {0};
    assert_int_equal(tee_parse_iso_time("2026-13-01", &t, &err), -1);
    assert_int_equal(tee_parse_iso_time("2026-11-21T00:00:00+02:00", &t, &err), -1);
    assert_int_equal(tee_parse_iso_time("yesterday", &t, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_v4),
        cmocka_unit_test(test_parse_v5),
        cmocka_unit_test(test_verify_v4),
        cmocka_unit_test(test_verify_v5),
        cmocka_unit_test(test_flips_v4),
        cmocka_unit_test(test_flips_v5),
        cmocka_unit_test(test_truncations_v4),
        cmocka_unit_test(test_truncations_v5),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_image_hash_definition),
        cmocka_unit_test(test_iso_time),
        cmocka_unit_test(test_parse_v5_td10_layout),
        cmocka_unit_test(test_collateral_v4_up_to_date),
        cmocka_unit_test(test_collateral_v5_no_matching_level),
        cmocka_unit_test(test_collateral_tampered),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
