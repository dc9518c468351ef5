/* Hash set of cells by their representation hash (used for BoC dedup and
 * counting distinct cells in linear time). */
#include "ton/ton_internal.h"

#include <string.h>

void ton_cellset_init(ton_cellset *s)
{
    memset(s, 0, sizeof *s);
}

void ton_cellset_free(ton_cellset *s)
{
    free(s->slots);
    free(s->slot_index);
    memset(s, 0, sizeof *s);
}

static size_t slot_of(const ton_cellset *s, const uint8_t *hash)
{
    uint64_t h = cc_load_u64le(hash); /* the hash is already uniform */
    size_t i = (size_t)h & (s->cap - 1);
    while (s->slots[i] && memcmp(ton_cell_hash(s->slots[i]), hash, 32) != 0)
        i = (i + 1) & (s->cap - 1);
    return i;
}

static void grow(ton_cellset *s)
{
    size_t old_cap = s->cap;
    const ton_cell **old_slots = s->slots;
    uint32_t *old_index = s->slot_index;
    s->cap = old_cap ? old_cap * 2 : 64;
    s->slots = cc_calloc(s->cap, sizeof *s->slots);
    s->slot_index = cc_calloc(s->cap, sizeof *s->slot_index);
    for (size_t i = 0; i < old_cap; i++) {
        if (!old_slots[i]) continue;
        size_t j = slot_of(s, ton_cell_hash(old_slots[i]));
        s->slots[j] = old_slots[i];
        s->slot_index[j] = old_index[i];
    }
    free(old_slots);
    free(old_index);
}

size_t ton_cellset_put(ton_cellset *s, const ton_cell *c, bool *added)
{
    if ((s->count + 1) * 2 > s->cap) grow(s);
    size_t i = slot_of(s, ton_cell_hash(c));
    if (s->slots[i]) {
        *added = false;
        return s->slot_index[i];
    }
    s->slots[i] = c;
    s->slot_index[i] = (uint32_t)s->count;
    *added = true;
    return s->count++;
}

size_t ton_cellset_find(const ton_cellset *s, const ton_cell *c)
{
    if (!s->cap) return SIZE_MAX;
    size_t i = slot_of(s, ton_cell_hash(c));
    return s->slots[i] ? s->slot_index[i] : SIZE_MAX;
}

size_t ton_cell_count(const ton_cell *c)
{
    ton_cellset set;
    ton_cellset_init(&set);
    /* explicit stack: each cell pushes at most 4 children, visited once */
    size_t cap = 64, n = 0;
    const ton_cell **stack = cc_malloc(cap * sizeof *stack);
    bool added;
    ton_cellset_put(&set, c, &added);
    stack[n++] = c;
    while (n) {
        const ton_cell *x = stack[--n];
        for (unsigned i = 0; i < x->n_refs; i++) {
            ton_cellset_put(&set, x->refs[i], &added);
            if (!added) continue;
            if (n == cap) stack = cc_realloc(stack, (cap *= 2) * sizeof *stack);
            stack[n++] = x->refs[i];
        }
    }
    size_t count = set.count;
    free(stack);
    ton_cellset_free(&set);
    return count;
}
