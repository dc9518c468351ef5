/* Fuzz target: collateral assembled from PCS / PCCS answers (the JSON bodies
 * whose signed objects are cut out as raw text, percent-encoded issuer chain
 * headers, CRLs as PEM, DER or hex). The input is four answers and three
 * headers separated by the byte pair "\n\x01". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tee/tee.h"
#include "tee/tee_internal.h"

#define PARTS 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    copy[size] = 0;
    const uint8_t *part[PARTS] = {0};
    size_t len[PARTS] = {0};
    size_t n = 0, start = 0;
    for (size_t i = 0; i + 1 < size && n < PARTS - 1; i++)
        if (copy[i] == '\n' && copy[i + 1] == 1) {
            part[n] = (const uint8_t *)copy + start;
            len[n++] = i - start;
            copy[i] = 0;
            start = i + 2;
            i++;
        }
    part[n] = (const uint8_t *)copy + (start < size ? start : size);
    len[n] = start < size ? size - start : 0;
    /* headers are C strings: cut at the first NUL */
    tee_pcs_response tcb = {part[0], len[0], part[4] ? (const char *)part[4] : NULL};
    tee_pcs_response qe = {part[1], len[1], part[5] ? (const char *)part[5] : NULL};
    tee_pcs_response crl = {part[2], len[2], part[6] ? (const char *)part[6] : NULL};
    tee_pcs_response root = {part[3], len[3], NULL};
    cc_err err;
    tee_collateral *c = tee_collateral_from_pcs(&tcb, &qe, &crl, &root, &err);
    tee_collateral_free(c);
    size_t off, l;
    if (tee__json_raw_member((const char *)data, size, "tcbInfo", &off, &l) == 0 &&
        (off > size || l > size - off))
        abort();
    free(copy);
    return 0;
}
