/* Fuzz target: RA-TLS certificate checks (DER certificate → tee_verify_peer
 * under policy any, which parses extensions, claims and any embedded quote,
 * and under fake_tdx, COCOON's 64-byte quote form) and the claims decoder on
 * raw bytes. */
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "tee/tee.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_err err;
    tee_claims c;
    tee_claims_decode(data, size, &c, &err);

    const unsigned char *p = data;
    X509 *x = d2i_X509(NULL, &p, (long)size);
    if (!x) return 0;
    tee_policy *pol = tee_policy_new(TEE_POLICY_ANY);
    tee_policy *ft = tee_policy_new(TEE_POLICY_FAKE_TDX);
    void *info = NULL;
    if (tee_verify_peer(pol, x, &info, &err) == 0) tee_peer_info_free(info);
    if (tee_verify_peer(ft, x, &info, &err) == 0) tee_peer_info_free(info);
    tee_policy_free(ft);
    cc_buf claims = CC_BUF_INIT, quote = CC_BUF_INIT;
    bool hq;
    tee_cert_extract(x, &claims, &quote, &hq, &err);
    cc_buf_free(&claims);
    cc_buf_free(&quote);
    tee_policy_free(pol);
    X509_free(x);
    return 0;
}
