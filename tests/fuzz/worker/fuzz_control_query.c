/*
 * Fuzz target over the query string of the worker's
 * /request/change_coefficient (what anyone reaching the stats port
 * controls): the argument is found, read as a decimal and scaled, or
 * refused with a message; an accepted value is always one our proxy takes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/worker_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = malloc(size + 1);
    if (!q) return 0;
    memcpy(q, data, size);
    q[size] = 0;
    int32_t v = -7;
    char why[128] = "";
    int rc = worker_query_coefficient(q, &v, why, sizeof(why));
    if (rc == 0 && !(v >= 1 && v < 1000000000)) abort();
    if (rc != 0 && v != -7) abort();
    if (rc < 0 && !why[0]) abort();
    free(q);
    return 0;
}
