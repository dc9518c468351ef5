/*
 * Fuzz target over the signed payments a proxy sends a worker (the data of
 * proxy.signedPayment in runQueryEx and workerRequestPayment): the bytes go
 * through the BoC parser, the voucher parser and the signature check with
 * the proxy's key. Whatever they hold, the paid total only grows and the
 * debt stays consistent with it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "worker/worker_internal.h"

/* The seed's voucher is signed with this key (see seeds/). */
static const uint8_t SEED[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        cc_log_init("fuzz", CC_LOG_ERROR);
        quiet = true;
    }
    worker w = {0};
    wlink l = {0};
    wpay pay[2] = {0};
    w.links.at = &l;
    w.links.n = 1;
    w.pay = pay;
    w.n_pay = 1;
    if (crypto_ed25519_public(SEED, pay[0].proxy_pub, NULL) < 0) abort();
    pay[0].has_pub = true;
    pay[0].max_tokens = 1000;
    tl_proxy_signedPayment sp = TL_INIT(proxy_signedPayment);
    sp.data = tl_mem(data, size);
    /* Twice: the second time the same total must change nothing. */
    for (int i = 0; i < 2; i++) {
        int64_t before = pay[0].paid_tokens;
        worker_money_on_signed(&w, &l, &sp.hdr);
        if (pay[0].paid_tokens < before) abort();
        if (i == 1 && pay[0].paid_tokens != before) abort();
        if ((pay[0].voucher != NULL) != (pay[0].paid_tokens > 0)) abort();
        if (worker_money_debt(&w, &l) < 0) abort();
    }
    free(pay[0].voucher);
    return 0;
}
