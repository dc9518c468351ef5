/* Collateral from Intel PCS / PCCS v4 answers (collateral_pcs.c) and a
 * policy's collateral by platform family: the real fixtures split into the
 * four answers a PCS gives, the signed objects cut out of the bodies byte for
 * byte, percent-encoded issuer chains, DER, hex and PEM CRLs; a quote judged
 * by the collateral of its own FMSPC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/tee.h"
#include "tee/tee_internal.h"
#include "../shared_data.h"

static char fixtures[512];

static int setup(void **state)
{
    (void)state;
    shared_data_path(fixtures, sizeof(fixtures), "fixtures/tdx");
    return 0;
}

static time_t at(const char *iso)
{
    time_t t;
    cc_err err = {0};
    assert_int_equal(tee_parse_iso_time(iso, &t, &err), 0);
    return t;
}

/* Percent-encodes everything but unreserved characters, as Intel does. */
static char *pct(const char *s)
{
    cc_buf b = CC_BUF_INIT;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("-_.~", c))
            cc_buf_append(&b, s, 1);
        else
            cc_buf_append_fmt(&b, "%%%02X", c);
    }
    cc_buf_append(&b, "", 1);
    return (char *)b.data;
}

/* The four answers of a PCS for one fixture collateral document. */
typedef struct answers {
    cc_buf tcb, qe, pck_crl, root_crl;
    char *tcb_chain, *qe_chain, *crl_chain;
} answers;

static void answers_free(answers *a)
{
    cc_buf_free(&a->tcb);
    cc_buf_free(&a->qe);
    cc_buf_free(&a->pck_crl);
    cc_buf_free(&a->root_crl);
    free(a->tcb_chain);
    free(a->qe_chain);
    free(a->crl_chain);
}

static const char *field(json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    assert_non_null(s);
    return s;
}

/* pretty: spaces around the members and the signature first, so the cut
 * must find the object's text wherever it is. */
static void split(const char *coll, bool pretty, answers *a)
{
    memset(a, 0, sizeof(*a));
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", fixtures, coll);
    cc_err err = {0};
    json_t *j = cc_json_load_file(path, &err);
    if (!j) fail_msg("%s", err.msg);
    if (pretty)
        cc_buf_append_fmt(&a->tcb, "{\n  \"signature\" : \"%s\",\n  \"tcbInfo\" : %s\n}\n",
                          field(j, "tcb_info_signature"), field(j, "tcb_info"));
    else
        cc_buf_append_fmt(&a->tcb, "{\"tcbInfo\":%s,\"signature\":\"%s\"}", field(j, "tcb_info"),
                          field(j, "tcb_info_signature"));
    cc_buf_append_fmt(&a->qe, "{\"enclaveIdentity\":%s,\"signature\":\"%s\"}",
                      field(j, "qe_identity"), field(j, "qe_identity_signature"));
    /* the PCK CRL as binary DER (encoding=der), the root CRL as hex text */
    assert_int_equal(
        cc_hex_decode_loose(field(j, "pck_crl"), strlen(field(j, "pck_crl")), &a->pck_crl, &err),
        0);
    cc_buf_append(&a->root_crl, field(j, "root_ca_crl"), strlen(field(j, "root_ca_crl")));
    a->tcb_chain = pct(field(j, "tcb_info_issuer_chain"));
    a->qe_chain = pct(field(j, "qe_identity_issuer_chain"));
    a->crl_chain = pct(field(j, "pck_crl_issuer_chain"));
    json_decref(j);
}

static tee_collateral *from(const answers *a, cc_err *err)
{
    tee_pcs_response tcb = {a->tcb.data, a->tcb.len, a->tcb_chain};
    tee_pcs_response qe = {a->qe.data, a->qe.len, a->qe_chain};
    tee_pcs_response crl = {a->pck_crl.data, a->pck_crl.len, a->crl_chain};
    tee_pcs_response root = {a->root_crl.data, a->root_crl.len, NULL};
    return tee_collateral_from_pcs(&tcb, &qe, &crl, &root, err);
}

static void load_quote(const char *name, cc_buf *b, tee_quote *q)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", fixtures, name);
    cc_err err = {0};
    assert_int_equal(cc_read_file(path, b, &err), 0);
    assert_int_equal(tee_quote_parse(b->data, b->len, q, &err), 0);
}

static void test_pcs_answers_make_collateral(void **state)
{
    (void)state;
    cc_buf qb = CC_BUF_INIT;
    tee_quote q;
    load_quote("dcap-qvl_sample_tdx_quote.bin", &qb, &q);
    for (int pretty = 0; pretty < 2; pretty++) {
        answers a;
        split("dcap-qvl_sample_tdx_quote_collateral.json", pretty, &a);
        cc_err err = {0};
        tee_collateral *c = from(&a, &err);
        if (!c) fail_msg("%s", err.msg);
        uint8_t f[6], want[6] = {0xb0, 0xc0, 0x6f, 0, 0, 0};
        assert_int_equal(tee_collateral_fmspc(c, f), 0);
        assert_memory_equal(f, want, 6);
        tee_quote_verify_opts o = {.at = at("2025-06-20T00:00:00Z"), .collateral = c};
        tee_quote_result res;
        if (tee_quote_verify(&q, &o, &res, &err))
            fail_msg("%s\n%.*s", err.msg, (int)res.log.len, (char *)res.log.data);
        assert_int_equal(res.tcb_status, TEE_TCB_UP_TO_DATE);
        tee_quote_result_free(&res);
        tee_collateral_free(c);
        answers_free(&a);
    }
    tee_quote_free(&q);
    cc_buf_free(&qb);
}

static void test_pcs_answers_refused(void **state)
{
    (void)state;
    answers a;
    split("dcap-qvl_sample_tdx_quote_collateral.json", false, &a);
    cc_err err = {0};
    /* a changed byte inside the signed TCB info: parses, fails the signature */
    char *p = strstr((char *)a.tcb.data, "UpToDate");
    assert_non_null(p);
    p[0] = 'u';
    tee_collateral *c = from(&a, &err);
    assert_non_null(c);
    cc_buf qb = CC_BUF_INIT;
    tee_quote q;
    load_quote("dcap-qvl_sample_tdx_quote.bin", &qb, &q);
    tee_quote_verify_opts o = {.at = at("2025-06-20T00:00:00Z"), .collateral = c};
    assert_int_equal(tee_quote_verify(&q, &o, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "TCB info signature"));
    tee_collateral_free(c);
    tee_quote_free(&q);
    cc_buf_free(&qb);
    p[0] = 'U';
    /* no issuer chain header */
    char *chain = a.tcb_chain;
    a.tcb_chain = NULL;
    assert_null(from(&a, &err));
    assert_non_null(strstr(err.msg, "TCB info: no issuer chain"));
    /* a broken %-escape */
    a.tcb_chain = cc_strdup("%2");
    assert_null(from(&a, &err));
    assert_non_null(strstr(err.msg, "%-escape"));
    free(a.tcb_chain);
    a.tcb_chain = chain;
    /* the wrong object */
    cc_buf_reset(&a.qe);
    cc_buf_append_fmt(&a.qe, "{\"tcbInfo\":{},\"signature\":\"00\"}");
    assert_null(from(&a, &err));
    assert_non_null(strstr(err.msg, "enclaveIdentity"));
    /* an empty CRL answer */
    cc_buf_reset(&a.pck_crl);
    assert_null(from(&a, &err));
    answers_free(&a);
}

static void test_raw_member(void **state)
{
    (void)state;
    const char *s = " { \"a\" : \"x}\\\"{\" , \"b\":[1,{\"c\":\"]\"}], \"tcbInfo\" :{\"k\": 1}} ";
    size_t off, len;
    assert_int_equal(tee__json_raw_member(s, strlen(s), "tcbInfo", &off, &len), 0);
    assert_int_equal(len, 8);
    assert_memory_equal(s + off, "{\"k\": 1}", 8);
    assert_int_equal(tee__json_raw_member(s, strlen(s), "b", &off, &len), 0);
    assert_memory_equal(s + off, "[1,{\"c\":\"]\"}]", len);
    assert_int_equal(tee__json_raw_member(s, strlen(s), "c", &off, &len), -1);
    assert_int_equal(tee__json_raw_member("[1]", 3, "a", &off, &len), -1);
    assert_int_equal(tee__json_raw_member("{\"a\"", 4, "a", &off, &len), -1);
}

/* A set of collaterals: the quote is judged by its FMSPC's member; without
 * one the TCB is not evaluated and the result says so. */
static void test_set_picks_by_fmspc(void **state)
{
    (void)state;
    char p1[700], p2[700];
    snprintf(p1, sizeof(p1), "%s/dcap-qvl_sample_tdx_quote_collateral.json", fixtures);
    snprintf(p2, sizeof(p2), "%s/dcap-qvl_sample_tdx_quote_outdated_collateral.json", fixtures);
    cc_err err = {0};
    tee_collateral *v4 = tee_collateral_load(p1, &err), *v5 = tee_collateral_load(p2, &err);
    assert_non_null(v4);
    assert_non_null(v5);
    cc_buf qb = CC_BUF_INIT;
    tee_quote q;
    load_quote("dcap-qvl_sample_tdx_quote.bin", &qb, &q);
    const tee_collateral *both[2] = {v5, v4};
    tee_quote_verify_opts o = {
        .at = at("2025-06-20T00:00:00Z"), .collaterals = both, .n_collaterals = 2};
    tee_quote_result res;
    assert_int_equal(tee_quote_verify(&q, &o, &res, &err), 0);
    assert_int_equal(res.tcb_status, TEE_TCB_UP_TO_DATE);
    assert_false(res.collateral_missing);
    tee_quote_result_free(&res);
    o.n_collaterals = 1; /* only the v5 platform's */
    assert_int_equal(tee_quote_verify(&q, &o, &res, &err), 0);
    assert_int_equal(res.tcb_status, TEE_TCB_NOT_EVALUATED);
    assert_true(res.collateral_missing);
    assert_true(res.has_fmspc);
    tee_quote_result_free(&res);
    tee_quote_free(&q);
    cc_buf_free(&qb);

    /* The policy keeps one per FMSPC: a second put for the same FMSPC
     * replaces, another FMSPC adds. */
    tee_policy *pol = tee_policy_new(TEE_POLICY_TDX);
    assert_int_equal(tee_policy_put_collateral(pol, v4, &err), 0);
    assert_int_equal(tee_policy_put_collateral(pol, tee_collateral_load(p1, &err), &err), 0);
    assert_int_equal(tee_policy_collateral_count(pol), 1);
    assert_int_equal(tee_policy_put_collateral(pol, v5, &err), 0);
    assert_int_equal(tee_policy_collateral_count(pol), 2);
    tee_policy_set_collateral(pol, NULL, 0);
    assert_int_equal(tee_policy_collateral_count(pol), 0);
    tee_policy_free(pol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcs_answers_make_collateral),
        cmocka_unit_test(test_pcs_answers_refused),
        cmocka_unit_test(test_raw_member),
        cmocka_unit_test(test_set_picks_by_fmspc),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
