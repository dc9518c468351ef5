/* Intel PCS collateral (TCB info v3 for TDX, TD QE identity, CRLs) and the TCB
 * status of a quote, following Intel's QVL comparison rules:
 *  - platform level: the first TCB level (Intel lists them best first) whose
 *    16 SGX components and PCESVN are <= the PCK certificate's and whose 16
 *    TDX components are <= TEE_TCB_SVN, where TEE_TCB_SVN[0..1] are skipped
 *    when TEE_TCB_SVN[1] > 0 (they are judged by the TDX module identity);
 *  - TDX module identity "TDX_%02X" of TEE_TCB_SVN[1]: MRSIGNERSEAM and masked
 *    SEAMATTRIBUTES must match; its level is the first with isvsvn <=
 *    TEE_TCB_SVN[0];
 *  - QE identity: MRSIGNER, ISVPRODID, masked MISCSELECT and ATTRIBUTES must
 *    match; its level is the first with isvsvn <= the QE's ISVSVN;
 *  - an OutOfDate QE or module makes the result OutOfDate (or
 *    OutOfDateConfigurationNeeded), a Revoked one makes it Revoked. */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/crypto.h"
#include "tee/tee_internal.h"

struct tee_collateral {
    char *tcb_info_text; /* signed bytes, exactly as received */
    uint8_t tcb_info_sig[64];
    STACK_OF(X509) * tcb_chain;
    char *qe_id_text;
    uint8_t qe_id_sig[64];
    STACK_OF(X509) * qe_chain;
    X509_CRL *pck_crl;
    STACK_OF(X509) * pck_crl_chain;
    X509_CRL *root_crl;
    json_t *tcb_info;   /* parsed tcb_info_text */
    json_t *qe_id;      /* parsed qe_id_text */
    uint8_t digest[32]; /* SHA-256 of the whole JSON document (cache keys) */
};

void tee_collateral_free(tee_collateral *c)
{
    if (!c) return;
    free(c->tcb_info_text);
    free(c->qe_id_text);
    sk_X509_pop_free(c->tcb_chain, X509_free);
    sk_X509_pop_free(c->qe_chain, X509_free);
    sk_X509_pop_free(c->pck_crl_chain, X509_free);
    X509_CRL_free(c->pck_crl);
    X509_CRL_free(c->root_crl);
    json_decref(c->tcb_info);
    json_decref(c->qe_id);
    free(c);
}

/* A CRL given as hex-encoded DER (the fixtures) or PEM. */
static X509_CRL *parse_crl(const char *s, const char *field, cc_err *err)
{
    X509_CRL *crl = NULL;
    size_t n = strlen(s);
    if (strstr(s, "-----BEGIN X509 CRL-----")) {
        BIO *bio = BIO_new_mem_buf(s, (int)n);
        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        BIO_free(bio);
    } else {
        cc_buf der = CC_BUF_INIT;
        if (cc_hex_decode_loose(s, n, &der, NULL) == 0 && der.len) {
            const unsigned char *p = der.data;
            crl = d2i_X509_CRL(NULL, &p, (long)der.len);
            if (crl && p != der.data + der.len) {
                X509_CRL_free(crl);
                crl = NULL;
            }
        }
        cc_buf_free(&der);
    }
    ERR_clear_error();
    if (!crl) cc_err_set(err, "collateral %s: not a CRL (hex DER or PEM)", field);
    return crl;
}

static int get_sig(const json_t *o, const char *field, uint8_t sig[64], cc_err *err)
{
    const char *s;
    if (cc_json_get_str(o, field, true, &s, err)) return -1;
    if (cc_hex_decode(s, sig, 64, err)) return cc_err_prefix(err, "collateral %s", field);
    return 0;
}

static STACK_OF(X509) * get_chain(const json_t *o, const char *field, cc_err *err)
{
    const char *s;
    if (cc_json_get_str(o, field, true, &s, err)) return NULL;
    STACK_OF(X509) *chain = tee__pem_chain((const uint8_t *)s, strlen(s), err);
    if (!chain) cc_err_prefix(err, "collateral %s", field);
    return chain;
}

static json_t *get_signed_json(const json_t *o, const char *field, char **text, cc_err *err)
{
    const char *s;
    if (cc_json_get_str(o, field, true, &s, err)) return NULL;
    *text = cc_strdup(s);
    json_t *j = cc_json_loadb(s, strlen(s), err);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        cc_err_prefix(err, "collateral %s", field);
        return NULL;
    }
    return j;
}

tee_collateral *tee_collateral_parse(const char *json_text, size_t len, cc_err *err)
{
    json_t *j = cc_json_loadb(json_text, len, err);
    if (!j) return NULL;
    tee_collateral *c = cc_calloc(1, sizeof(*c));
    const char *s;
    if (!json_is_object(j)) {
        cc_err_set(err, "collateral is not a JSON object");
        goto fail;
    }
    if (!(c->tcb_info = get_signed_json(j, "tcb_info", &c->tcb_info_text, err)) ||
        get_sig(j, "tcb_info_signature", c->tcb_info_sig, err) ||
        !(c->tcb_chain = get_chain(j, "tcb_info_issuer_chain", err)) ||
        !(c->qe_id = get_signed_json(j, "qe_identity", &c->qe_id_text, err)) ||
        get_sig(j, "qe_identity_signature", c->qe_id_sig, err) ||
        !(c->qe_chain = get_chain(j, "qe_identity_issuer_chain", err)) ||
        !(c->pck_crl_chain = get_chain(j, "pck_crl_issuer_chain", err)))
        goto fail;
    if (cc_json_get_str(j, "pck_crl", true, &s, err) ||
        !(c->pck_crl = parse_crl(s, "pck_crl", err)) ||
        cc_json_get_str(j, "root_ca_crl", true, &s, err) ||
        !(c->root_crl = parse_crl(s, "root_ca_crl", err)))
        goto fail;
    json_decref(j);
    crypto_sha256(json_text, len, c->digest);
    return c;
fail:
    json_decref(j);
    tee_collateral_free(c);
    return NULL;
}

tee_collateral *tee_collateral_load(const char *path, cc_err *err)
{
    cc_buf b = CC_BUF_INIT;
    if (cc_read_file(path, &b, err)) return NULL;
    tee_collateral *c = tee_collateral_parse((const char *)b.data, b.len, err);
    cc_buf_free(&b);
    if (!c) cc_err_prefix(err, "%s", path);
    return c;
}

/* ------------------------------------------------------------ evaluation */

typedef struct eval {
    tee_quote_result *res;
    bool bad;
    cc_err *err;
    char line[512];
} eval;

/* Records a check. After the first failure nothing more is recorded: the
 * evaluation stops there (callers return once e->bad is set). */
static void check(eval *e, bool ok, const char *what, const char *why)
{
    if (e->bad) return;
    tee__log_check(e->res, ok, what, why);
    if (!ok) {
        cc_err_set(e->err, "%s: %s", what, why);
        e->bad = true;
    }
}

static int status_from_string(const char *s, tee_tcb_status *out)
{
    static const struct {
        const char *name;
        tee_tcb_status st;
    } map[] = {
        {"UpToDate", TEE_TCB_UP_TO_DATE},
        {"SWHardeningNeeded", TEE_TCB_SW_HARDENING_NEEDED},
        {"ConfigurationNeeded", TEE_TCB_CONFIGURATION_NEEDED},
        {"ConfigurationAndSWHardeningNeeded", TEE_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED},
        {"OutOfDate", TEE_TCB_OUT_OF_DATE},
        {"OutOfDateConfigurationNeeded", TEE_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED},
        {"Revoked", TEE_TCB_REVOKED},
    };
    for (size_t i = 0; s && i < CC_ARRAY_LEN(map); i++)
        if (!strcmp(s, map[i].name)) {
            *out = map[i].st;
            return 0;
        }
    return -1;
}

/* Reads a hex field of exactly n bytes. */
static int hex_field(const json_t *o, const char *key, uint8_t *out, size_t n)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? cc_hex_decode(s, out, n, NULL) : -1;
}

int tee_collateral_fmspc(const tee_collateral *c, uint8_t fmspc[6])
{
    return hex_field(c->tcb_info, "fmspc", fmspc, 6);
}

static int int_field(const json_t *o, const char *key, long long *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) return -1;
    *out = json_integer_value(v);
    return 0;
}

/* issueDate <= at <= nextUpdate */
static void check_window(eval *e, const json_t *o, const char *what, time_t at)
{
    time_t issue, next;
    const char *is = json_string_value(json_object_get(o, "issueDate"));
    const char *nx = json_string_value(json_object_get(o, "nextUpdate"));
    if (!is || !nx || tee_parse_iso_time(is, &issue, NULL) || tee_parse_iso_time(nx, &next, NULL)) {
        check(e, false, what, "issueDate/nextUpdate missing or malformed");
        return;
    }
    snprintf(e->line, sizeof(e->line), "%s current (%s .. %s)", what, is, nx);
    check(e, at >= issue && at <= next, e->line,
          at < issue ? "not yet issued at the verification time"
                     : "expired (past nextUpdate) at the verification time");
}

/* Verifies an issuer chain to the root (with the root CA CRL) and the ECDSA
 * signature of its leaf over `text`. */
static void check_signed(eval *e, const char *what, const char *text, const uint8_t sig[64],
                         STACK_OF(X509) * chain, X509 *root, X509_CRL *root_crl, time_t at)
{
    STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
    X509_CRL_up_ref(root_crl);
    sk_X509_CRL_push(crls, root_crl);
    cc_err cerr = {0};
    char w[160];
    snprintf(w, sizeof(w), "%s issuer chain to the pinned root (root CA CRL checked)", what);
    int rc = tee__verify_chain(sk_X509_value(chain, 0), chain, root, at, crls, NULL, &cerr);
    check(e, rc == 0, w, cerr.msg);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    snprintf(w, sizeof(w), "%s signature by its issuer", what);
    EVP_PKEY *pk = X509_get0_pubkey(sk_X509_value(chain, 0));
    check(e, pk && crypto_ecdsa_p256_verify_key(pk, text, strlen(text), sig), w, "does not verify");
}

/* The worse of a platform status and a QE / module status (Intel's
 * convergence: OutOfDate and Revoked propagate). */
static tee_tcb_status converge(tee_tcb_status platform, tee_tcb_status other)
{
    if (platform == TEE_TCB_REVOKED || other == TEE_TCB_REVOKED) return TEE_TCB_REVOKED;
    if (other == TEE_TCB_OUT_OF_DATE) {
        if (platform == TEE_TCB_CONFIGURATION_NEEDED ||
            platform == TEE_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED ||
            platform == TEE_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED)
            return TEE_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
        return TEE_TCB_OUT_OF_DATE;
    }
    return platform;
}

/* First level of an isvsvn-indexed list (QE identity, TDX module) with
 * isvsvn <= svn. Returns 0 and the status, -1 when none matches. */
static int isvsvn_level(const json_t *levels, unsigned svn, tee_tcb_status *st, long long *lvl)
{
    size_t i;
    json_t *l;
    json_array_foreach(levels, i, l)
    {
        long long isv;
        if (int_field(json_object_get(l, "tcb"), "isvsvn", &isv)) return -1;
        if (isv <= (long long)svn) {
            *lvl = isv;
            return status_from_string(json_string_value(json_object_get(l, "tcbStatus")), st);
        }
    }
    return -1;
}

static void check_qe_identity(eval *e, const json_t *qe, const tee_quote *q,
                              tee_tcb_status *qe_status)
{
    uint8_t mrsigner[32], attr[16], attr_mask[16], misc[4], misc_mask[4];
    long long prodid;
    if (hex_field(qe, "mrsigner", mrsigner, 32) || hex_field(qe, "attributes", attr, 16) ||
        hex_field(qe, "attributesMask", attr_mask, 16) || hex_field(qe, "miscselect", misc, 4) ||
        hex_field(qe, "miscselectMask", misc_mask, 4) || int_field(qe, "isvprodid", &prodid)) {
        check(e, false, "QE identity", "fields missing or malformed");
        return;
    }
    const char *id = json_string_value(json_object_get(qe, "id"));
    check(e, id && !strcmp(id, "TD_QE"), "QE identity id is TD_QE", id ? id : "missing");
    const tee_sgx_report *r = &q->qe_report;
    bool ok = memcmp(mrsigner, r->mr_signer, 32) == 0;
    check(e, ok, "QE MRSIGNER matches the QE identity", "differs");
    check(e, prodid == r->isv_prod_id, "QE ISVPRODID matches the QE identity", "differs");
    /* MISCSELECT is a little-endian u32 in the report, big-endian hex here. */
    uint32_t m = (uint32_t)misc[0] << 24 | misc[1] << 16 | misc[2] << 8 | misc[3];
    uint32_t mm =
        (uint32_t)misc_mask[0] << 24 | misc_mask[1] << 16 | misc_mask[2] << 8 | misc_mask[3];
    check(e, (r->misc_select & mm) == m, "QE MISCSELECT (masked) matches", "differs");
    bool attr_ok = true;
    for (int i = 0; i < 16; i++)
        if ((r->attributes[i] & attr_mask[i]) != attr[i]) attr_ok = false;
    check(e, attr_ok, "QE ATTRIBUTES (masked) match", "differ");
    long long lvl = 0;
    if (isvsvn_level(json_object_get(qe, "tcbLevels"), r->isv_svn, qe_status, &lvl)) {
        snprintf(e->line, sizeof(e->line), "no QE TCB level for ISVSVN %u", r->isv_svn);
        check(e, false, "QE TCB level", e->line);
        return;
    }
    snprintf(e->line, sizeof(e->line), "QE TCB status %s (ISVSVN %u, level isvsvn %lld)",
             tee_tcb_status_name(*qe_status), r->isv_svn, lvl);
    check(e, true, e->line, NULL);
}

/* Components of a TCB level as 16 svns. */
static int components(const json_t *arr, uint8_t out[16])
{
    if (!json_is_array(arr) || json_array_size(arr) != 16) return -1;
    for (size_t i = 0; i < 16; i++) {
        long long v;
        if (int_field(json_array_get(arr, i), "svn", &v) || v < 0 || v > 255) return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static void check_platform_level(eval *e, const json_t *tcb_info, const tee_quote *q,
                                 const tee_pck_info *pck, tee_tcb_status *st)
{
    const json_t *levels = json_object_get(tcb_info, "tcbLevels");
    const uint8_t *tee = q->td.tee_tcb_svn;
    int skip = tee[1] > 0 ? 2 : 0;
    size_t i;
    json_t *l;
    if (!json_is_array(levels)) {
        check(e, false, "platform TCB level", "tcbLevels missing");
        return;
    }
    json_array_foreach(levels, i, l)
    {
        const json_t *tcb = json_object_get(l, "tcb");
        uint8_t sgx[16], tdx[16];
        long long pcesvn;
        if (components(json_object_get(tcb, "sgxtcbcomponents"), sgx) ||
            components(json_object_get(tcb, "tdxtcbcomponents"), tdx) ||
            int_field(tcb, "pcesvn", &pcesvn)) {
            check(e, false, "platform TCB level", "malformed tcbLevels entry");
            return;
        }
        bool match = pck->pcesvn >= pcesvn;
        for (int k = 0; k < 16 && match; k++)
            if (pck->comp_svn[k] < sgx[k]) match = false;
        for (int k = skip; k < 16 && match; k++)
            if (tee[k] < tdx[k]) match = false;
        if (!match) continue;
        const char *name = json_string_value(json_object_get(l, "tcbStatus"));
        if (status_from_string(name, st)) {
            check(e, false, "platform TCB level", "unknown tcbStatus");
            return;
        }
        const char *date = json_string_value(json_object_get(l, "tcbDate"));
        char adv[160] = "";
        size_t k, used = 0;
        json_t *a;
        json_array_foreach(json_object_get(l, "advisoryIDs"), k, a)
        {
            const char *id = json_string_value(a);
            if (id && used + strlen(id) + 2 < sizeof(adv))
                used +=
                    (size_t)snprintf(adv + used, sizeof(adv) - used, "%s%s", used ? "," : "", id);
        }
        snprintf(e->line, sizeof(e->line),
                 "platform TCB level #%zu: %s (tcbDate %s; TEE_TCB_SVN[0..1] %s%s%s)", i, name,
                 date ? date : "?", skip ? "judged by the TDX module identity" : "compared",
                 used ? "; advisories " : "", adv);
        check(e, true, e->line, NULL);
        return;
    }
    *st = TEE_TCB_NO_MATCH;
    check(e, false, "platform TCB level",
          "no matching TCB level (PCK SGX components, PCESVN or TEE_TCB_SVN below every level): "
          "TCB not supported");
}

static void check_tdx_module(eval *e, const json_t *tcb_info, const tee_quote *q,
                             tee_tcb_status *st)
{
    const uint8_t *tee = q->td.tee_tcb_svn;
    *st = TEE_TCB_UP_TO_DATE;
    const json_t *mod = NULL;
    char id[16];
    if (tee[1] == 0) {
        /* Module version 0: only the generic tdxModule entry applies. */
        mod = json_object_get(tcb_info, "tdxModule");
        snprintf(id, sizeof(id), "tdxModule");
    } else {
        snprintf(id, sizeof(id), "TDX_%02X", tee[1]);
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(tcb_info, "tdxModuleIdentities"), i, m)
        {
            const char *mid = json_string_value(json_object_get(m, "id"));
            if (mid && !strcmp(mid, id)) mod = m;
        }
    }
    if (!mod) {
        snprintf(e->line, sizeof(e->line), "no TDX module identity %s in the TCB info", id);
        check(e, false, "TDX module identity", e->line);
        return;
    }
    uint8_t signer[48], attr[8], mask[8];
    if (hex_field(mod, "mrsigner", signer, 48) || hex_field(mod, "attributes", attr, 8) ||
        hex_field(mod, "attributesMask", mask, 8)) {
        check(e, false, "TDX module identity", "fields missing or malformed");
        return;
    }
    bool ok = memcmp(signer, q->td.mr_signer_seam, 48) == 0;
    for (int i = 0; i < 8; i++)
        if ((q->td.seam_attributes[i] & mask[i]) != attr[i]) ok = false;
    snprintf(e->line, sizeof(e->line), "TDX module %s: MRSIGNERSEAM and SEAMATTRIBUTES match", id);
    check(e, ok, e->line, "differ");
    if (tee[1] == 0) return;
    long long lvl = 0;
    if (isvsvn_level(json_object_get(mod, "tcbLevels"), tee[0], st, &lvl)) {
        snprintf(e->line, sizeof(e->line), "no %s TCB level for TEE_TCB_SVN[0] = %u", id, tee[0]);
        check(e, false, "TDX module TCB level", e->line);
        return;
    }
    snprintf(e->line, sizeof(e->line), "TDX module %s TCB status %s (isvsvn level %lld)", id,
             tee_tcb_status_name(*st), lvl);
    check(e, true, e->line, NULL);
}

/* tcbEvaluationDataNumber of both signed items (TCB info v3 and QE identity
 * v2 carry it) must reach the minimum: older numbers are evaluations Intel
 * has since superseded (e.g. before a TCB recovery). */
static void check_eval_number(eval *e, const tee_collateral *c, long long min)
{
    long long t = -1, q = -1;
    if (int_field(c->tcb_info, "tcbEvaluationDataNumber", &t) ||
        int_field(c->qe_id, "tcbEvaluationDataNumber", &q)) {
        check(e, false, "tcbEvaluationDataNumber", "missing in the TCB info or QE identity");
        return;
    }
    snprintf(e->line, sizeof(e->line),
             "tcbEvaluationDataNumber %lld (TCB info) / %lld (QE identity) >= minimum %lld", t, q,
             min);
    char why[96];
    snprintf(why, sizeof(why), "below the minimum %lld", min);
    check(e, t >= min && q >= min, e->line, why);
}

long long tee_collateral_eval_number(const tee_collateral *c)
{
    long long t = -1, q = -1;
    if (int_field(c->tcb_info, "tcbEvaluationDataNumber", &t) ||
        int_field(c->qe_id, "tcbEvaluationDataNumber", &q))
        return -1;
    return t < q ? t : q;
}

int tee_collateral_next_update(const tee_collateral *c, time_t *out)
{
    time_t lo = 0, hi = (time_t)INT64_MAX;
    tee__collateral_window(c, &lo, &hi);
    *out = hi;
    return hi == (time_t)INT64_MAX ? -1 : 0;
}

static time_t asn1_time(const ASN1_TIME *t, time_t dflt)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return dflt;
    return timegm(&tm);
}

void tee__window_cert(X509 *x, time_t *lo, time_t *hi)
{
    time_t a = asn1_time(X509_get0_notBefore(x), *lo), b = asn1_time(X509_get0_notAfter(x), *hi);
    if (a > *lo) *lo = a;
    if (b < *hi) *hi = b;
}

void tee__window_crl(X509_CRL *crl, time_t *lo, time_t *hi)
{
    time_t a = asn1_time(X509_CRL_get0_lastUpdate(crl), *lo);
    time_t b = asn1_time(X509_CRL_get0_nextUpdate(crl), *hi);
    if (a > *lo) *lo = a;
    if (b < *hi) *hi = b;
}

static void window_json(const json_t *o, time_t *lo, time_t *hi)
{
    time_t t;
    const char *s = json_string_value(json_object_get(o, "issueDate"));
    if (s && tee_parse_iso_time(s, &t, NULL) == 0 && t > *lo) *lo = t;
    s = json_string_value(json_object_get(o, "nextUpdate"));
    if (s && tee_parse_iso_time(s, &t, NULL) == 0 && t < *hi) *hi = t;
}

void tee__collateral_window(const tee_collateral *c, time_t *lo, time_t *hi)
{
    window_json(c->tcb_info, lo, hi);
    window_json(c->qe_id, lo, hi);
    tee__window_crl(c->pck_crl, lo, hi);
    tee__window_crl(c->root_crl, lo, hi);
    STACK_OF(X509) * chains[3] = {c->tcb_chain, c->qe_chain, c->pck_crl_chain};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < sk_X509_num(chains[k]); i++)
            tee__window_cert(sk_X509_value(chains[k], i), lo, hi);
}

void tee__collateral_digest(const tee_collateral *c, uint8_t out[32])
{
    memcpy(out, c->digest, 32);
}

int tee__collateral_check(const tee_collateral *c, const tee_quote *q, X509 *leaf,
                          STACK_OF(X509) * chain, X509 *root, time_t at, long long min_eval_number,
                          tee_quote_result *res, cc_err *err)
{
    eval e = {.res = res, .err = err};
    res->tcb_status = TEE_TCB_NOT_EVALUATED;

    /* Dates first (no signature work), then signatures and chains of every
     * item. */
    check_window(&e, c->tcb_info, "TCB info", at);
    check_window(&e, c->qe_id, "QE identity", at);
    check_eval_number(&e, c, min_eval_number);
    if (e.bad) return -1;
    check_signed(&e, "TCB info", c->tcb_info_text, c->tcb_info_sig, c->tcb_chain, root, c->root_crl,
                 at);
    if (e.bad) return -1;
    check_signed(&e, "QE identity", c->qe_id_text, c->qe_id_sig, c->qe_chain, root, c->root_crl,
                 at);
    if (e.bad) return -1;
    cc_err cerr = {0};
    int rc = tee__verify_chain(sk_X509_value(c->pck_crl_chain, 0), c->pck_crl_chain, root, at, NULL,
                               NULL, &cerr);
    check(&e, rc == 0, "PCK CRL issuer chain to the pinned root", cerr.msg);
    if (e.bad) return -1;

    /* PCK chain with both CRLs: root CA CRL (Platform CA) and PCK CRL (leaf).
     * OpenSSL checks each CRL's signature, issuer and validity at `at`. */
    STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
    X509_CRL_up_ref(c->root_crl);
    sk_X509_CRL_push(crls, c->root_crl);
    X509_CRL_up_ref(c->pck_crl);
    sk_X509_CRL_push(crls, c->pck_crl);
    int xerr = 0;
    memset(&cerr, 0, sizeof(cerr));
    rc = tee__verify_chain(leaf, chain, root, at, crls, &xerr, &cerr);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    bool revoked = rc != 0 && xerr == X509_V_ERR_CERT_REVOKED;
    check(&e, rc == 0,
          "PCK chain with CRLs: PCK leaf and Platform CA not revoked, CRLs signed and current",
          cerr.msg);
    if (e.bad) {
        if (revoked) res->tcb_status = TEE_TCB_REVOKED;
        return -1;
    }

    /* Platform identity. */
    tee_pck_info pck;
    memset(&cerr, 0, sizeof(cerr));
    if (tee__pck_ext_parse(leaf, &pck, &cerr) || !pck.has_sgx_ext) {
        check(&e, false, "PCK SGX extension", cerr.msg[0] ? cerr.msg : "absent");
        return -1;
    }
    const json_t *ti = c->tcb_info;
    const char *tid = json_string_value(json_object_get(ti, "id"));
    long long ver = 0;
    int_field(ti, "version", &ver);
    check(&e, tid && !strcmp(tid, "TDX") && ver == 3, "TCB info is TDX, version 3",
          "wrong id or version");
    uint8_t fmspc[6], pceid[2];
    check(&e, hex_field(ti, "fmspc", fmspc, 6) == 0 && memcmp(fmspc, pck.fmspc, 6) == 0,
          "FMSPC of the PCK certificate matches the TCB info", "differs");
    check(&e, hex_field(ti, "pceId", pceid, 2) == 0 && memcmp(pceid, pck.pceid, 2) == 0,
          "PCE-ID of the PCK certificate matches the TCB info", "differs");
    if (e.bad) return -1;

    tee_tcb_status qe_st = TEE_TCB_UP_TO_DATE, mod_st = TEE_TCB_UP_TO_DATE,
                   plat = TEE_TCB_NOT_EVALUATED;
    check_qe_identity(&e, c->qe_id, q, &qe_st);
    if (e.bad) return -1;
    check_tdx_module(&e, ti, q, &mod_st);
    if (e.bad) return -1;
    check_platform_level(&e, ti, q, &pck, &plat);
    if (e.bad) {
        res->tcb_status = plat;
        return -1;
    }

    tee_tcb_status final = plat;
    if (plat != TEE_TCB_NO_MATCH && plat != TEE_TCB_NOT_EVALUATED)
        final = converge(converge(plat, qe_st), mod_st);
    if (revoked) final = TEE_TCB_REVOKED;
    res->tcb_status = final;
    snprintf(e.line, sizeof(e.line), "TCB status %s", tee_tcb_status_name(final));
    check(&e,
          final != TEE_TCB_REVOKED && final != TEE_TCB_NO_MATCH && final != TEE_TCB_NOT_EVALUATED,
          e.line, "not acceptable");
    return e.bad ? -1 : 0;
}
