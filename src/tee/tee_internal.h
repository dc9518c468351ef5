/* Internal declarations shared by the files of the tee module (not public). */
#ifndef COCOON_TEE_INTERNAL_H
#define COCOON_TEE_INTERNAL_H

#include <openssl/x509.h>

#include "tee/tee.h"

/* What the PCK leaf certificate's Intel SGX extension (OID
 * 1.2.840.113741.1.13.1) says about the platform. */
typedef struct tee_pck_info {
    bool has_sgx_ext;
    uint8_t fmspc[6];
    uint8_t pceid[2];
    uint16_t pcesvn;
    uint8_t cpusvn[16];
    uint8_t comp_svn[16]; /* SGX TCB components 1..16 */
    int chain_len;
} tee_pck_info;

void tee__parse_sgx_report(const uint8_t *b, tee_sgx_report *r);

/* Parses a PEM bundle (at most 8 certificates). NULL with a message when it
 * holds none or anything unparsable. */
STACK_OF(X509) * tee__pem_chain(const uint8_t *pem, size_t len, cc_err *err);
/* Reads the SGX extension of a PCK leaf; has_sgx_ext = false when absent. */
int tee__pck_ext_parse(X509 *leaf, tee_pck_info *out, cc_err *err);
int tee__pck_info_from_quote(const tee_quote *q, tee_pck_info *out, cc_err *err);

/* An EC P-256 public key from raw x||y (NULL when not a curve point). */
EVP_PKEY *tee__ec_key_from_xy(const uint8_t xy[64]);
/* Raw x||y of an EC P-256 public key. */
int tee__ec_pub_xy(EVP_PKEY *pk, uint8_t xy[64], cc_err *err);

/* Verifies leaf (with untrusted intermediates) to root at time `at`; crls
 * (optional) are checked for every certificate in the chain; *x509_err
 * (optional) receives the X509_V_ERR_* code. */
int tee__verify_chain(X509 *leaf, STACK_OF(X509) * untrusted, X509 *root, time_t at,
                      STACK_OF(X509_CRL) * crls, int *x509_err, cc_err *err);

/* Appends a check line to the result log. */
void tee__log_check(tee_quote_result *res, bool ok, const char *what, const char *why);

/* Collateral evaluation (collateral.c): appends its checks to res, sets
 * res->tcb_status; returns -1 (and err) when a check fails. */
int tee__collateral_check(const tee_collateral *c, const tee_quote *q, X509 *leaf,
                          STACK_OF(X509) * chain, X509 *root, time_t at, long long min_eval_number,
                          tee_quote_result *res, cc_err *err);

/* What the platform checks of a quote concluded (verify_cache.c keeps these),
 * and the verification-time window in which that conclusion holds: the
 * intersection of every involved certificate's, CRL's and collateral item's
 * validity. */
typedef struct tee__platform_verdict {
    time_t valid_from, valid_until;
    tee_tcb_status tcb_status;
    uint8_t fmspc[6];
    bool has_fmspc;
    bool collateral_missing;
    /* The imported attestation key: the cache holds a reference, a get
     * lends it (valid until the next cache call). */
    EVP_PKEY *att_key;
} tee__platform_verdict;

/* The raw text of a top-level member's value in a JSON object (text that a
 * JSON parser accepted): 0 with its offset and length, -1 when absent. */
int tee__json_raw_member(const char *s, size_t n, const char *key, size_t *off, size_t *len);

bool tee__verify_cache_get(tee_verify_cache *c, const uint8_t key[32], time_t at,
                           tee__platform_verdict *out);
void tee__verify_cache_put(tee_verify_cache *c, const uint8_t key[32],
                           const tee__platform_verdict *v);

/* Narrows [*lo, *hi] to a certificate's / CRL's validity. */
void tee__window_cert(X509 *x, time_t *lo, time_t *hi);
void tee__window_crl(X509_CRL *crl, time_t *lo, time_t *hi);
/* Narrows [*lo, *hi] to where every collateral item (signed JSON, CRLs and
 * issuer chains) is current. */
void tee__collateral_window(const tee_collateral *c, time_t *lo, time_t *hi);
/* SHA-256 over the collateral's signed texts and CRLs: names the collateral in
 * cache keys. */
void tee__collateral_digest(const tee_collateral *c, uint8_t out[32]);

/* fake_tdx.c */
/* The 64-byte COCOON fake_tdx quote for report_data, appended to out. */
int tee__fake_tdx_quote(const uint8_t report_data[64], cc_buf *out);
/* Reads quote bytes from a certificate: a DCAP quote (parsed into *q) or
 * COCOON's 64-byte fake_tdx quote (*fake_tdx set; q->td is zero but for
 * report_data). Either way the caller tee_quote_free()s q. */
int tee__quote_td(const uint8_t *data, size_t len, tee_quote *q, bool *fake_tdx, cc_err *err);
/* REPORTDATA of an RA-TLS certificate as COCOON computes it (tdx.cpp
 * UserClaims::to_hash): SHA-512 of the raw 32-byte Ed25519 public key. */
void tee__report_data_for_key(const uint8_t pub[32], uint8_t rd[64]);

#endif
