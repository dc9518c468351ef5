/*
 * Random bytes handed out from a buffer refilled 1 KiB at a time (see
 * crypto.h): same source as crypto_random, a fraction of its cost per id.
 */
#include <string.h>

#include "crypto/crypto.h"

void crypto_rand_pool_get(crypto_rand_pool *p, void *out, size_t n)
{
    uint8_t *o = out;
    while (n > 0) {
        if (p->avail == 0) {
            crypto_random(p->bytes, sizeof p->bytes);
            p->avail = sizeof p->bytes;
        }
        size_t take = n < p->avail ? n : p->avail;
        uint8_t *src = p->bytes + sizeof p->bytes - p->avail;
        memcpy(o, src, take);
        memset(src, 0, take); /* handed-out bytes do not stay behind */
        p->avail -= take;
        o += take;
        n -= take;
    }
}
