/* Internal helpers shared by the ton module's files (not part of the API). */
#ifndef COCOON_TON_INTERNAL_H
#define COCOON_TON_INTERNAL_H

#include <stdlib.h>

#include "ton/ton.h"

/* A set of distinct cells keyed by representation hash, with an index per
 * cell in insertion order (open addressing, grows at 50% load). */
typedef struct ton_cellset {
    const ton_cell **slots;
    uint32_t *slot_index;
    size_t cap, count;
} ton_cellset;

void ton_cellset_init(ton_cellset *s);
void ton_cellset_free(ton_cellset *s);
/* Returns the index of c's hash; *added tells whether it was new. */
size_t ton_cellset_put(ton_cellset *s, const ton_cell *c, bool *added);
/* Index of c's hash or SIZE_MAX. */
size_t ton_cellset_find(const ton_cellset *s, const ton_cell *c);

#endif
