/* COCOON's fake_tdx test attestation (its tdx.cpp FakeTdxInterface): the
 * "quote" is the 64-byte REPORTDATA itself, every measurement is zero and
 * nothing is signed. We make such quotes (provider fake_tdx) so a test network
 * can look like a COCOON one, and read them under policies fake_tdx and any.
 * It proves nothing: anybody can write 64 bytes. */
#include <string.h>

#include "crypto/crypto.h"
#include "tee/tee_provider.h"

tee_provider *tee_provider_new_fake_tdx(void)
{
    tee_provider *p = cc_calloc(1, sizeof(*p));
    p->kind = TEE_PROVIDER_FAKE_TDX;
    return p;
}

int tee__fake_tdx_quote(const uint8_t report_data[64], cc_buf *out)
{
    cc_buf_append(out, report_data, TEE_FAKE_TDX_QUOTE_LEN);
    return 0;
}

int tee__quote_td(const uint8_t *data, size_t len, tee_quote *q, bool *fake_tdx, cc_err *err)
{
    memset(q, 0, sizeof(*q));
    *fake_tdx = false;
    /* No DCAP quote is this short (its header alone is 48 bytes and the TD
     * body 584), so the length tells the two forms apart. */
    if (len == TEE_FAKE_TDX_QUOTE_LEN) {
        *fake_tdx = true;
        memcpy(q->td.report_data, data, TEE_FAKE_TDX_QUOTE_LEN);
        return 0;
    }
    return tee_quote_parse(data, len, q, err);
}

void tee__report_data_for_key(const uint8_t pub[32], uint8_t rd[64])
{
    crypto_sha512(pub, 32, rd);
}
