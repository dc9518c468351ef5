/* Collateral evaluation with collateral forged under a fake root: every TCB
 * status, revocation through both CRLs, Intel's comparison rules, QE and TDX
 * module identities, and the policy's accepted-status mask. The real Intel
 * fixtures (UpToDate / no matching level) are in test_quote.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "crypto/crypto.h"
#include "tee/tee.h"
#include "tee/tee_provider.h"
#include "../tee_fixture.h"

static char dir[256];
static tee_provider *prov;
static EVP_PKEY *root_key;
static X509 *root;
static EVP_PKEY *sign_key; /* "TCB signing" key, certified by the root */
static X509 *sign_cert;

/* What to put into one forged collateral. */
typedef struct spec {
    int level_sgx[2]; /* SGX component svn of level 0 and 1 */
    int level_pcesvn[2];
    int level_tdx0[2]; /* TDX component 0 svn (skipped: TEE_TCB_SVN[1] > 0) */
    int level_tdx2[2]; /* TDX component 2 svn */
    const char *level_status[2];
    int n_levels;
    const char *module_id;
    int module_isvsvn;
    const char *module_status;
    const char *qe_mrsigner; /* NULL = the fake QE's */
    int qe_isvsvn;
    const char *qe_status;
    const char *fmspc;
    long next_update_offset; /* seconds from now */
    bool revoke_leaf, revoke_ca;
    bool break_tcb_sig;
} spec;

static spec base_spec(void)
{
    spec s = {
        .level_sgx = {2, 1},
        .level_pcesvn = {11, 5},
        .level_tdx0 = {0, 0},
        .level_tdx2 = {0, 0},
        .level_status = {"UpToDate", "OutOfDate"},
        .n_levels = 2,
        .module_id = "TDX_01",
        .module_isvsvn = 1,
        .module_status = "UpToDate",
        .qe_isvsvn = 1,
        .qe_status = "UpToDate",
        .fmspc = "FA4E00000000",
        .next_update_offset = 30 * 86400,
    };
    return s;
}

static void iso(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* TDX components: [0] and [2] as given, the rest 0. */
static json_t *tdx_components(int c0, int c2)
{
    json_t *a = json_array();
    for (int i = 0; i < 16; i++)
        json_array_append_new(a, json_pack("{s:i}", "svn", i == 0 ? c0 : i == 2 ? c2 : 0));
    return a;
}

static json_t *sgx_components(int svn)
{
    json_t *a = json_array();
    for (int i = 0; i < 16; i++)
        json_array_append_new(a, json_pack("{s:i}", "svn", svn));
    return a;
}

static char *signed_text(json_t *obj, uint8_t sig[64], bool breakit)
{
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_int_equal(tee__ecdsa_sign_rs(sign_key, text, strlen(text), sig), 0);
    if (breakit) sig[10] ^= 1;
    return text;
}

static char *crl_hex(X509 *issuer, EVP_PKEY *key, X509 *revoked)
{
    X509_CRL *crl = X509_CRL_new();
    X509_CRL_set_version(crl, X509_CRL_VERSION_2);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
    ASN1_TIME *t = ASN1_TIME_new();
    ASN1_TIME_set(t, time(NULL) - 3600);
    X509_CRL_set1_lastUpdate(crl, t);
    ASN1_TIME_set(t, time(NULL) + 30 * 86400);
    X509_CRL_set1_nextUpdate(crl, t);
    if (revoked) {
        X509_REVOKED *r = X509_REVOKED_new();
        X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(revoked));
        ASN1_TIME_set(t, time(NULL) - 60);
        X509_REVOKED_set_revocationDate(r, t);
        X509_CRL_add0_revoked(crl, r);
    }
    ASN1_TIME_free(t);
    X509_CRL_sort(crl);
    assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    int n = i2d_X509_CRL(crl, &der);
    assert_true(n > 0);
    char *hex = cc_hex_encode_alloc(der, (size_t)n);
    OPENSSL_free(der);
    X509_CRL_free(crl);
    return hex;
}

static char *pem_of(X509 *a, X509 *b)
{
    cc_buf out = CC_BUF_INIT;
    tee__append_pem(&out, a);
    tee__append_pem(&out, b);
    return cc_buf_steal_str(&out);
}

static tee_collateral *forge(const spec *s)
{
    char now_s[32], next_s[32];
    iso(time(NULL) - 3600, now_s);
    iso(time(NULL) + s->next_update_offset, next_s);
    char zeros48[97];
    memset(zeros48, '0', 96);
    zeros48[96] = 0;

    json_t *levels = json_array();
    for (int i = 0; i < s->n_levels; i++) {
        json_t *tcb = json_object();
        json_object_set_new(tcb, "sgxtcbcomponents", sgx_components(s->level_sgx[i]));
        json_object_set_new(tcb, "pcesvn", json_integer(s->level_pcesvn[i]));
        json_object_set_new(tcb, "tdxtcbcomponents",
                            tdx_components(s->level_tdx0[i], s->level_tdx2[i]));
        json_array_append_new(levels,
                              json_pack("{s:o,s:s,s:s}", "tcb", tcb, "tcbDate",
                                        "2024-03-13T00:00:00Z", "tcbStatus", s->level_status[i]));
    }
    json_t *module =
        json_pack("{s:s,s:s,s:s,s:s,s:[{s:{s:i},s:s,s:s}]}", "id", s->module_id, "mrsigner",
                  zeros48, "attributes", "0000000000000000", "attributesMask", "FFFFFFFFFFFFFFFF",
                  "tcbLevels", "tcb", "isvsvn", s->module_isvsvn, "tcbDate", "2024-03-13T00:00:00Z",
                  "tcbStatus", s->module_status);
    json_t *ti =
        json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:i,s:i,s:{s:s,s:s,s:s},s:[o],s:o}", "id", "TDX",
                  "version", 3, "issueDate", now_s, "nextUpdate", next_s, "fmspc", s->fmspc,
                  "pceId", "0000", "tcbType", 0, "tcbEvaluationDataNumber", 17, "tdxModule",
                  "mrsigner", zeros48, "attributes", "0000000000000000", "attributesMask",
                  "FFFFFFFFFFFFFFFF", "tdxModuleIdentities", module, "tcbLevels", levels);
    assert_non_null(ti);

    uint8_t qe_signer[32];
    char qe_signer_hex[65];
    crypto_sha256("cocoon fake TEE", 15, qe_signer);
    cc_hex_encode(qe_signer, 32, qe_signer_hex);
    json_t *qe = json_pack(
        "{s:s,s:i,s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:i,s:[{s:{s:i},s:s,s:s}]}", "id", "TD_QE",
        "version", 2, "issueDate", now_s, "nextUpdate", next_s, "tcbEvaluationDataNumber", 17,
        "miscselect", "00000000", "miscselectMask", "FFFFFFFF", "attributes",
        "00000000000000000000000000000000", "attributesMask", "FBFFFFFFFFFFFFFF0000000000000000",
        "mrsigner", s->qe_mrsigner ? s->qe_mrsigner : qe_signer_hex, "isvprodid", 2, "tcbLevels",
        "tcb", "isvsvn", s->qe_isvsvn, "tcbDate", "2024-03-13T00:00:00Z", "tcbStatus",
        s->qe_status);
    assert_non_null(qe);

    uint8_t tsig[64], qsig[64];
    char tsig_hex[129], qsig_hex[129];
    char *ti_text = signed_text(ti, tsig, s->break_tcb_sig);
    char *qe_text = signed_text(qe, qsig, false);
    cc_hex_encode(tsig, 64, tsig_hex);
    cc_hex_encode(qsig, 64, qsig_hex);
    char *sign_chain = pem_of(sign_cert, root);
    char *crl_chain = pem_of(prov->ca_cert, root);
    char *root_crl = crl_hex(root, root_key, s->revoke_ca ? prov->ca_cert : NULL);
    char *pck_crl = crl_hex(prov->ca_cert, prov->ca_key, s->revoke_leaf ? prov->pck_cert : NULL);
    json_t *c = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "tcb_info", ti_text,
                          "tcb_info_signature", tsig_hex, "tcb_info_issuer_chain", sign_chain,
                          "qe_identity", qe_text, "qe_identity_signature", qsig_hex,
                          "qe_identity_issuer_chain", sign_chain, "pck_crl", pck_crl,
                          "pck_crl_issuer_chain", crl_chain, "root_ca_crl", root_crl);
    char *text = json_dumps(c, 0);
    cc_err err = {0};
    tee_collateral *col = tee_collateral_parse(text, strlen(text), &err);
    if (!col) fail_msg("forged collateral does not parse: %s", err.msg);
    free(text);
    json_decref(c);
    free(ti_text);
    free(qe_text);
    free(sign_chain);
    free(crl_chain);
    free(root_crl);
    free(pck_crl);
    json_decref(ti);
    json_decref(qe);
    return col;
}

/* Verifies a fresh fake quote with the forged collateral. */
static tee_tcb_status eval(const spec *s, int want_rc, const char *want_msg)
{
    tee_collateral *c = forge(s);
    uint8_t rd[64] = {1};
    cc_buf qb = CC_BUF_INIT;
    cc_err err = {0};
    assert_int_equal(tee_provider_quote(prov, rd, &qb, &err), 0);
    tee_quote q;
    assert_int_equal(tee_quote_parse(qb.data, qb.len, &q, &err), 0);
    tee_quote_verify_opts o = {.root = root, .collateral = c};
    tee_quote_result res;
    int rc = tee_quote_verify(&q, &o, &res, &err);
    if (rc != want_rc || (want_msg && !strstr(err.msg, want_msg)))
        fail_msg("rc %d (%s)\n%.*s", rc, err.msg, (int)res.log.len, (char *)res.log.data);
    tee_tcb_status st = res.tcb_status;
    tee_quote_result_free(&res);
    tee_quote_free(&q);
    cc_buf_free(&qb);
    tee_collateral_free(c);
    return st;
}

static int setup(void **state)
{
    if (tee_fixture_root_create(dir, sizeof(dir), "cocoon-tee-coll") < 0) return -1;
    cc_err err = {0};
    prov = tee_provider_new_fake(dir, NULL, 0, NULL, &err);
    root_key = tee__fake_root_load_key(dir, &err);
    root = tee_fake_root_load_cert(dir, &err);
    sign_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    sign_cert = tee__fake_cert(sign_key, "cocoon fake TCB Signing", root, root_key, false,
                               time(NULL) - 3600, 30, NULL);
    return prov && root_key && root && sign_cert ? 0 : -1;
}

static int teardown(void **state)
{
    tee_provider_free(prov);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(sign_key);
    X509_free(root);
    X509_free(sign_cert);
    tee_fixture_root_remove(dir);
    return 0;
}

static void test_fake_quote_carries_platform_identity(void **state)
{
    uint8_t rd[64] = {0};
    cc_buf qb = CC_BUF_INIT;
    cc_err err = {0};
    assert_int_equal(tee_provider_quote(prov, rd, &qb, &err), 0);
    tee_quote q;
    assert_int_equal(tee_quote_parse(qb.data, qb.len, &q, &err), 0);
    json_t *j = tee_quote_to_json(&q);
    assert_string_equal(json_string_value(json_object_get(j, "fmspc")), "fa4e00000000");
    assert_int_equal(json_integer_value(json_object_get(j, "pcesvn")), 11);
    assert_int_equal(json_integer_value(json_object_get(j, "pck_chain_length")), 3);
    json_decref(j);
    tee_quote_free(&q);
    cc_buf_free(&qb);
}

static void test_statuses(void **state)
{
    spec s = base_spec();
    assert_int_equal(eval(&s, 0, NULL), TEE_TCB_UP_TO_DATE);
    s.level_status[0] = "SWHardeningNeeded";
    assert_int_equal(eval(&s, 0, NULL), TEE_TCB_SW_HARDENING_NEEDED);
    s.level_status[0] = "ConfigurationNeeded";
    assert_int_equal(eval(&s, 0, NULL), TEE_TCB_CONFIGURATION_NEEDED);
    s.level_status[0] = "ConfigurationAndSWHardeningNeeded";
    assert_int_equal(eval(&s, 0, NULL), TEE_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED);
    s.level_status[0] = "OutOfDateConfigurationNeeded";
    assert_int_equal(eval(&s, 0, NULL), TEE_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED);
    s.level_status[0] = "Revoked";
    assert_int_equal(eval(&s, -1, "TCB status Revoked"), TEE_TCB_REVOKED);
}

static void test_level_selection(void **state)
{
    spec s = base_spec();
    /* Level 0 wants SGX components 3 (we have 2): level 1 applies. */
    s.level_sgx[0] = 3;
    assert_int_equal(eval(&s, 0, NULL), TEE_TCB_OUT_OF_DATE);
    /* Level 0 wants PCESVN 12 (we have 11). */
    s = base_spec();
    s.level_pcesvn[0] = 12;
    assert_int_equal(eval(&s, 0, NULL), TEE_TCB_OUT_OF_DATE);
    /* Level 0 wants TDX component 2 = 1 (TEE_TCB_SVN[2] is 0). */
    s = base_spec();
    s.level_tdx2[0] = 1;
    assert_int_equal(eval(&s, 0, NULL), TEE_TCB_OUT_OF_DATE);
    /* TDX component 0 above TEE_TCB_SVN[0] does not matter when
     * TEE_TCB_SVN[1] > 0 (Intel's rule: the module identity judges it). */
    s = base_spec();
    s.level_tdx0[0] = 9;
    assert_int_equal(eval(&s, 0, NULL), TEE_TCB_UP_TO_DATE);
    /* Nothing matches. */
    s = base_spec();
    s.level_sgx[0] = s.level_sgx[1] = 5;
    assert_int_equal(eval(&s, -1, "no matching TCB level"), TEE_TCB_NO_MATCH);
}

static void test_revocation(void **state)
{
    spec s = base_spec();
    s.revoke_leaf = true;
    assert_int_equal(eval(&s, -1, "revoked"), TEE_TCB_REVOKED);
    s = base_spec();
    s.revoke_ca = true;
    assert_int_equal(eval(&s, -1, "revoked"), TEE_TCB_REVOKED);
}

static void test_qe_and_module(void **state)
{
    spec s = base_spec();
    s.qe_status = "OutOfDate";
    assert_int_equal(eval(&s, 0, NULL), TEE_TCB_OUT_OF_DATE);
    s = base_spec();
    s.level_status[0] = "ConfigurationNeeded";
    s.module_status = "OutOfDate";
    assert_int_equal(eval(&s, 0, NULL), TEE_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED);
    s = base_spec();
    s.module_status = "Revoked";
    assert_int_equal(eval(&s, -1, NULL), TEE_TCB_REVOKED);
    s = base_spec();
    s.qe_isvsvn = 2; /* the fake QE has ISVSVN 1 */
    eval(&s, -1, "no QE TCB level");
    s = base_spec();
    s.module_isvsvn = 2; /* TEE_TCB_SVN[0] is 1 */
    eval(&s, -1, "TDX module TCB level");
    s = base_spec();
    s.module_id = "TDX_03";
    eval(&s, -1, "no TDX module identity TDX_01");
    s = base_spec();
    s.qe_mrsigner = "0000000000000000000000000000000000000000000000000000000000000000";
    eval(&s, -1, "QE MRSIGNER");
}

static void test_identity_and_integrity(void **state)
{
    spec s = base_spec();
    s.fmspc = "B0C06F000000";
    eval(&s, -1, "FMSPC");
    s = base_spec();
    s.break_tcb_sig = true;
    eval(&s, -1, "TCB info signature");
    s = base_spec();
    s.next_update_offset = -60;
    eval(&s, -1, "TCB info current");
}

static void test_policy_status_mask(void **state)
{
    cc_err err = {0};
    tee_identity *id = tee_identity_new(prov, NULL, &err);
    assert_non_null(id);
    tee_policy *pol = tee_policy_new(TEE_POLICY_FAKE);
    tee_policy_set_root(pol, root);
    spec s = base_spec();
    tee_policy_set_collateral(pol, forge(&s), 0);
    void *info = NULL;
    assert_int_equal(tee_verify_peer(pol, id->cert, &info, &err), 0);
    assert_int_equal(((tee_peer_info *)info)->tcb_status, TEE_TCB_UP_TO_DATE);
    tee_peer_info_free(info);
    /* OutOfDate verifies but is not in the default accepted set. */
    s.level_sgx[0] = 3;
    tee_policy_set_collateral(pol, forge(&s), 0);
    assert_int_equal(tee_verify_peer(pol, id->cert, &info, &err), -1);
    assert_non_null(strstr(err.msg, "TCB status OutOfDate is not accepted"));
    tee_policy_set_collateral(pol, forge(&s), 1u << TEE_TCB_OUT_OF_DATE);
    assert_int_equal(tee_verify_peer(pol, id->cert, &info, &err), 0);
    tee_peer_info_free(info);
    tee_policy_free(pol);
    tee_identity_free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_quote_carries_platform_identity),
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_level_selection),
        cmocka_unit_test(test_revocation),
        cmocka_unit_test(test_qe_and_module),
        cmocka_unit_test(test_identity_and_integrity),
        cmocka_unit_test(test_policy_status_mask),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
