/* Internal: the provider object shared by provider.c and fake.c. */
#ifndef COCOON_TEE_PROVIDER_H
#define COCOON_TEE_PROVIDER_H

#include "tee/tee_internal.h"

struct tee_provider {
    tee_provider_kind kind;
    /* fake only */
    EVP_PKEY *pck_key;          /* signs the QE report */
    EVP_PKEY *att_key;          /* signs quotes */
    uint8_t att_pub[64];        /* x || y */
    cc_buf chain_pem;           /* fake PCK leaf + fake root, PEM */
    tee_td_report measurements; /* MRTD, RTMRs etc.; report_data filled per quote */
};

int tee__fake_quote(tee_provider *p, const uint8_t report_data[64], cc_buf *out, cc_err *err);
void tee__fake_free(tee_provider *p);

#endif
