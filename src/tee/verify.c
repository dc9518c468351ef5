/* TDX quote verification (DCAP, ECDSA P-256): quote signature, QE report
 * signature and binding, PCK chain to a pinned root, optional collateral. */
#include <string.h>

#include <openssl/x509.h>

#include "crypto/crypto.h"
#include "tee/tee_internal.h"

void tee__log_check(tee_quote_result *res, bool ok, const char *what, const char *why)
{
    if (!res) return;
    if (ok)
        cc_buf_append_fmt(&res->log, "ok   %s\n", what);
    else
        cc_buf_append_fmt(&res->log, "FAIL %s: %s\n", what, why ? why : "failed");
}

void tee_quote_result_free(tee_quote_result *res)
{
    if (res) cc_buf_free(&res->log);
}

const char *tee_tcb_status_name(tee_tcb_status s)
{
    switch (s) {
    case TEE_TCB_NOT_EVALUATED:
        return "NotEvaluated";
    case TEE_TCB_UP_TO_DATE:
        return "UpToDate";
    case TEE_TCB_SW_HARDENING_NEEDED:
        return "SWHardeningNeeded";
    case TEE_TCB_CONFIGURATION_NEEDED:
        return "ConfigurationNeeded";
    case TEE_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED:
        return "ConfigurationAndSWHardeningNeeded";
    case TEE_TCB_OUT_OF_DATE:
        return "OutOfDate";
    case TEE_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED:
        return "OutOfDateConfigurationNeeded";
    case TEE_TCB_REVOKED:
        return "Revoked";
    case TEE_TCB_NO_MATCH:
        return "NoMatchingTcbLevel";
    }
    return "?";
}

int tee_tcb_status_parse(const char *s, tee_tcb_status *out, cc_err *err)
{
    for (int k = TEE_TCB_NOT_EVALUATED; k <= TEE_TCB_NO_MATCH; k++)
        if (!strcmp(s, tee_tcb_status_name((tee_tcb_status)k))) {
            *out = (tee_tcb_status)k;
            return 0;
        }
    return cc_err_set(err, "unknown TCB status \"%s\" (want e.g. UpToDate, SWHardeningNeeded)", s);
}

/* Records a failed check as the error (verification stops there). */
static int fail(tee_quote_result *res, cc_err *err, const char *what, const char *why)
{
    tee__log_check(res, false, what, why);
    return cc_err_set(err, "%s: %s", what, why);
}

/* Cache key: every byte the platform checks read (see tee.h). */
static void platform_key(const tee_quote *q, X509 *root, const tee_quote_verify_opts *o,
                         uint8_t key[32])
{
    uint8_t root_fp[32] = {0}, col_fp[32] = {0};
    unsigned int n = 0;
    X509_digest(root, EVP_sha256(), root_fp, &n);
    crypto_hash *h = crypto_hash_new(CRYPTO_HASH_SHA256);
    crypto_hash_update(h, root_fp, 32);
    /* the collateral, or every member of the set (a new member may be the
     * first for this platform, which changes its verdict) */
    long long min_eval = 0;
    if (o->collateral) {
        tee__collateral_digest(o->collateral, col_fp);
        crypto_hash_update(h, col_fp, 32);
    } else {
        for (size_t i = 0; i < o->n_collaterals; i++) {
            tee__collateral_digest(o->collaterals[i], col_fp);
            crypto_hash_update(h, col_fp, 32);
        }
        if (!o->n_collaterals) crypto_hash_update(h, col_fp, 32);
    }
    if (o->collateral || o->n_collaterals) min_eval = o->min_tcb_eval_number;
    uint64_t lens[3] = {q->pck_chain_pem_len, q->qe_auth_data_len, (uint64_t)min_eval};
    crypto_hash_update(h, lens, sizeof(lens));
    crypto_hash_update(h, q->pck_chain_pem, q->pck_chain_pem_len);
    crypto_hash_update(h, q->qe_auth_data, q->qe_auth_data_len);
    crypto_hash_update(h, q->qe_report_raw, TEE_SGX_REPORT_LEN);
    crypto_hash_update(h, q->qe_report_signature, 64);
    crypto_hash_update(h, q->attestation_key, 64);
    /* The TD fields the TCB evaluation compares with the collateral. */
    crypto_hash_update(h, q->td.tee_tcb_svn, 16);
    crypto_hash_update(h, q->td.mr_signer_seam, 48);
    crypto_hash_update(h, q->td.seam_attributes, 8);
    crypto_hash_final(h, key);
}

/* True when the last certificate of the chain is self-issued but not the
 * pinned root: refused by a byte comparison before any signature work. */
static bool ends_in_other_root(STACK_OF(X509) * chain, X509 *root)
{
    X509 *last = sk_X509_value(chain, sk_X509_num(chain) - 1);
    if (X509_NAME_cmp(X509_get_subject_name(last), X509_get_issuer_name(last)) != 0) return false;
    return X509_cmp(last, root) != 0;
}

int tee_quote_verify(const tee_quote *q, const tee_quote_verify_opts *opts, tee_quote_result *res,
                     cc_err *err)
{
    tee_quote_result local = {0};
    if (!res) res = &local;
    memset(res, 0, sizeof(*res));
    int rc = -1;
    time_t at = opts && opts->at ? opts->at : time(NULL);
    X509 *root = opts && opts->root ? opts->root : NULL;
    X509 *owned_root = NULL;
    EVP_PKEY *owned_att = NULL;
    const tee_collateral *col = opts ? opts->collateral : NULL;
    tee_verify_cache *cache = opts ? opts->cache : NULL;
    STACK_OF(X509) *chain = NULL;
    char why[512];

    /* 1. The QE binds the attestation key into its report (one hash). */
    uint8_t h[32];
    crypto_hash *hh = crypto_hash_new(CRYPTO_HASH_SHA256);
    crypto_hash_update(hh, q->attestation_key, 64);
    crypto_hash_update(hh, q->qe_auth_data, q->qe_auth_data_len);
    crypto_hash_final(hh, h);
    static const uint8_t zeros[32];
    if (memcmp(h, q->qe_report.report_data, 32) != 0 ||
        memcmp(zeros, q->qe_report.report_data + 32, 32) != 0) {
        fail(res, err, "QE report data", "does not bind the attestation key");
        goto out;
    }
    tee__log_check(res, true,
                   "QE report data = SHA-256(attestation key || QE auth data), upper half zero",
                   NULL);

    /* 2. The cache: has this platform (QE report, PCK chain, collateral)
     * been verified? A hash of the bytes those checks read, no signature. */
    if (!root) root = owned_root = tee_intel_root_ca();
    uint8_t key[32];
    tee__platform_verdict v = {.valid_from = 0, .valid_until = (time_t)INT64_MAX};
    bool hit = false;
    if (cache) {
        platform_key(q, root, opts, key);
        hit = tee__verify_cache_get(cache, key, at, &v);
    }

    /* 3. The attestation key signed header + body: one ECDSA verification,
     * what every quote pays (with a known platform its key is already
     * imported). */
    EVP_PKEY *att = hit ? v.att_key : NULL;
    if (!att) att = owned_att = tee__ec_key_from_xy(q->attestation_key);
    if (!att || !crypto_ecdsa_p256_verify_key(att, q->raw, q->signed_len, q->signature)) {
        fail(res, err, "quote signature",
             att ? "does not verify with the attestation key"
                 : "the attestation key is not a P-256 point");
        goto out;
    }
    snprintf(why, sizeof(why), "quote signature by the attestation key over %zu signed bytes",
             q->signed_len);
    tee__log_check(res, true, why, NULL);
    if (hit) {
        res->platform_cached = true;
        res->tcb_status = v.tcb_status;
        res->collateral_missing = v.collateral_missing;
        memcpy(res->fmspc, v.fmspc, 6);
        res->has_fmspc = v.has_fmspc;
        res->valid_from = v.valid_from;
        res->valid_until = v.valid_until;
        tee__log_check(res, true,
                       "platform (QE report signature, PCK chain, collateral) verified earlier: "
                       "cached",
                       NULL);
        rc = 0;
        goto out;
    }

    /* 4. The chain must end at the pinned root (bytes), then the PCK leaf
     * signed the QE report. */
    cc_err cerr = {0};
    chain = tee__pem_chain(q->pck_chain_pem, q->pck_chain_pem_len, &cerr);
    if (!chain) {
        fail(res, err, "PCK certificate chain", cerr.msg);
        goto out;
    }
    if (ends_in_other_root(chain, root)) {
        fail(res, err, "PCK chain", "ends in a root certificate that is not the pinned root");
        goto out;
    }
    X509 *leaf = sk_X509_value(chain, 0);
    EVP_PKEY *leaf_key = X509_get0_pubkey(leaf);
    if (!leaf_key || !crypto_ecdsa_p256_verify_key(leaf_key, q->qe_report_raw, TEE_SGX_REPORT_LEN,
                                                   q->qe_report_signature)) {
        fail(res, err, "QE report signature", "does not verify with the PCK leaf key");
        goto out;
    }
    tee__log_check(res, true, "QE report signature by the PCK leaf key", NULL);

    /* 5. PCK leaf -> intermediates -> pinned root, at the verification time. */
    if (tee__verify_chain(leaf, chain, root, at, NULL, NULL, &cerr)) {
        fail(res, err, "PCK chain", cerr.msg);
        goto out;
    }
    char subj[256] = "", when[32];
    X509_NAME_oneline(X509_get_subject_name(root), subj, sizeof(subj));
    struct tm tm;
    gmtime_r(&at, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(why, sizeof(why), "PCK chain (%d certificates) to the pinned root %s at %s",
             sk_X509_num(chain), subj, when);
    tee__log_check(res, true, why, NULL);
    for (int i = 0; i < sk_X509_num(chain); i++)
        tee__window_cert(sk_X509_value(chain, i), &v.valid_from, &v.valid_until);
    tee__window_cert(root, &v.valid_from, &v.valid_until);

    tee_pck_info pck;
    cc_err perr = {0};
    if (tee__pck_ext_parse(leaf, &pck, &perr) == 0 && pck.has_sgx_ext) {
        memcpy(res->fmspc, pck.fmspc, 6);
        res->has_fmspc = true;
    }

    /* 6. Optional collateral: TCB info, QE identity, CRLs and the TCB status;
     * from a set, the member for this platform's FMSPC. */
    if (!col && opts && opts->n_collaterals) {
        for (size_t i = 0; i < opts->n_collaterals && !col; i++) {
            uint8_t f[6];
            if (res->has_fmspc && tee_collateral_fmspc(opts->collaterals[i], f) == 0 &&
                memcmp(f, res->fmspc, 6) == 0)
                col = opts->collaterals[i];
        }
        if (!col) {
            res->collateral_missing = true;
            tee__log_check(res, true, "no collateral for this platform's FMSPC: TCB not evaluated",
                           NULL);
        }
    }
    if (col) {
        cc_err colerr = {0};
        if (tee__collateral_check(col, q, leaf, chain, root, at, opts->min_tcb_eval_number, res,
                                  &colerr)) {
            cc_err_set(err, "collateral: %s", colerr.msg);
            goto out;
        }
        tee__collateral_window(col, &v.valid_from, &v.valid_until);
    }
    rc = 0;
    res->valid_from = v.valid_from;
    res->valid_until = v.valid_until;
    if (cache) {
        v.tcb_status = res->tcb_status;
        v.collateral_missing = res->collateral_missing;
        memcpy(v.fmspc, res->fmspc, 6);
        v.has_fmspc = res->has_fmspc;
        v.att_key = owned_att;
        tee__verify_cache_put(cache, key, &v);
    }
out:
    sk_X509_pop_free(chain, X509_free);
    X509_free(owned_root);
    EVP_PKEY_free(owned_att);
    res->ok = rc == 0;
    tee_quote_result_free(&local);
    return rc;
}
