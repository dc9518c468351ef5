/* Internal: the provider object shared by provider.c and the fake TEE files,
 * and the fake PKI helpers (also used by white-box tests to forge collateral). */
#ifndef COCOON_TEE_PROVIDER_H
#define COCOON_TEE_PROVIDER_H

#include "tee/tee_internal.h"

/* The platform the fake TEE claims to be (what its PCK leaf certifies). */
extern const tee_pck_info tee__fake_platform;

struct tee_provider {
    tee_provider_kind kind;
    /* fake only */
    EVP_PKEY *ca_key; /* fake "PCK Platform CA", signs the PCK leaf */
    X509 *ca_cert;
    EVP_PKEY *pck_key; /* signs the QE report */
    X509 *pck_cert;
    EVP_PKEY *att_key;          /* signs quotes */
    uint8_t att_pub[64];        /* x || y */
    cc_buf chain_pem;           /* PCK leaf, Platform CA, fake root (PEM) */
    tee_td_report measurements; /* MRTD, RTMRs etc.; report_data filled per quote */
    /* The QE report never changes for one attestation key, so (as a real QE
     * does when it certifies its key) it is signed once: quotes of one
     * platform then share it and verifiers can cache the platform. */
    bool has_qe_sig;
    uint8_t qe_sig[64];
};

int tee__fake_quote(tee_provider *p, const uint8_t report_data[64], cc_buf *out, cc_err *err);
void tee__fake_free(tee_provider *p);

/* fake_pki.c */
/* A P-256 certificate for key issued by issuer/issuer_key (self-signed when
 * issuer is NULL); sgx (optional) adds the Intel SGX extension. */
X509 *tee__fake_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
                     time_t not_before, long days, const tee_pck_info *sgx);
void tee__fake_sgx_ext_der(const tee_pck_info *info, cc_buf *out);
EVP_PKEY *tee__fake_root_load_key(const char *dir, cc_err *err);
/* ECDSA P-256/SHA-256 signature as raw r || s. */
int tee__ecdsa_sign_rs(EVP_PKEY *key, const void *msg, size_t n, uint8_t rs[64]);
void tee__append_pem(cc_buf *out, X509 *x);

#endif
