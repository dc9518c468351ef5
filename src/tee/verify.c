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

/* Records a failed check; the first failure becomes the error message. */
static void fail(tee_quote_result *res, bool *any_fail, cc_err *err, const char *what,
                 const char *why)
{
    tee__log_check(res, false, what, why);
    if (!*any_fail) cc_err_set(err, "%s: %s", what, why);
    *any_fail = true;
}

int tee_quote_verify(const tee_quote *q, const tee_quote_verify_opts *opts, tee_quote_result *res,
                     cc_err *err)
{
    tee_quote_result local = {0};
    if (!res) res = &local;
    memset(res, 0, sizeof(*res));
    bool bad = false;
    time_t at = opts && opts->at ? opts->at : time(NULL);
    X509 *root = opts && opts->root ? opts->root : NULL;
    X509 *owned_root = NULL;
    if (!root) root = owned_root = tee_intel_root_ca();
    STACK_OF(X509) *chain = NULL;
    char why[512];

    /* 1. The attestation key signed header + body. */
    if (crypto_ecdsa_p256_verify_raw(q->attestation_key, q->raw, q->signed_len, q->signature)) {
        snprintf(why, sizeof(why), "quote signature by the attestation key over %zu signed bytes",
                 q->signed_len);
        tee__log_check(res, true, why, NULL);
    } else {
        fail(res, &bad, err, "quote signature", "does not verify with the attestation key");
    }

    /* 2. The QE binds the attestation key into its report. */
    uint8_t h[32];
    crypto_hash *hh = crypto_hash_new(CRYPTO_HASH_SHA256);
    crypto_hash_update(hh, q->attestation_key, 64);
    crypto_hash_update(hh, q->qe_auth_data, q->qe_auth_data_len);
    crypto_hash_final(hh, h);
    static const uint8_t zeros[32];
    if (memcmp(h, q->qe_report.report_data, 32) == 0 &&
        memcmp(zeros, q->qe_report.report_data + 32, 32) == 0)
        tee__log_check(res, true,
                       "QE report data = SHA-256(attestation key || QE auth data), upper half zero",
                       NULL);
    else
        fail(res, &bad, err, "QE report data", "does not bind the attestation key");

    /* 3. The PCK leaf signed the QE report. */
    cc_err cerr = {0};
    chain = tee__pem_chain(q->pck_chain_pem, q->pck_chain_pem_len, &cerr);
    if (!chain) {
        fail(res, &bad, err, "PCK certificate chain", cerr.msg);
        goto out;
    }
    X509 *leaf = sk_X509_value(chain, 0);
    EVP_PKEY *leaf_key = X509_get0_pubkey(leaf);
    if (leaf_key && tee__ecdsa_verify_pkey(leaf_key, q->qe_report_raw, TEE_SGX_REPORT_LEN,
                                           q->qe_report_signature))
        tee__log_check(res, true, "QE report signature by the PCK leaf key", NULL);
    else
        fail(res, &bad, err, "QE report signature", "does not verify with the PCK leaf key");

    /* 4. PCK leaf -> intermediates -> pinned root, at the verification time. */
    char subj[256] = "";
    X509_NAME_oneline(X509_get_subject_name(root), subj, sizeof(subj));
    if (tee__verify_chain(leaf, chain, root, at, NULL, NULL, &cerr) == 0) {
        char when[32];
        struct tm tm;
        gmtime_r(&at, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(why, sizeof(why), "PCK chain (%d certificates) to the pinned root %s at %s",
                 sk_X509_num(chain), subj, when);
        tee__log_check(res, true, why, NULL);
    } else {
        fail(res, &bad, err, "PCK chain", cerr.msg);
    }

    tee_pck_info pck;
    cc_err perr = {0};
    if (tee__pck_ext_parse(leaf, &pck, &perr) == 0 && pck.has_sgx_ext) {
        memcpy(res->fmspc, pck.fmspc, 6);
        res->has_fmspc = true;
    }

    /* 5. Optional collateral: TCB info, QE identity, CRLs and the TCB status. */
    if (opts && opts->collateral) {
        cc_err colerr = {0};
        if (tee__collateral_check(opts->collateral, q, leaf, chain, root, at, res, &colerr)) {
            if (!bad) cc_err_set(err, "collateral: %s", colerr.msg);
            bad = true;
        }
    }
out:
    sk_X509_pop_free(chain, X509_free);
    X509_free(owned_root);
    res->ok = !bad;
    tee_quote_result_free(&local);
    return bad ? -1 : 0;
}
