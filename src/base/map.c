/* cc_map: an open-addressing hash map from 64-bit keys to pointers (linear
 * probing, backward-shift deletion so there are no tombstones). Used for the
 * request tables on the relay hot path, where a lookup per streamed chunk
 * must not allocate. */
#include "base.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(uint64_t key, size_t cap)
{
    /* Keys may be random ids or small counters: mix them first. */
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

void cc_map_init(cc_map *m)
{
    memset(m, 0, sizeof(*m));
}

void cc_map_free(cc_map *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static void grow(cc_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    cc_map_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = cc_calloc(ncap, sizeof(*m->slots));
    m->cap = ncap;
    m->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].val) cc_map_put(m, old[i].key, old[i].val);
    free(old);
}

void *cc_map_get(const cc_map *m, uint64_t key)
{
    if (!m->cap) return NULL;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->slots[i].val) return NULL;
        if (m->slots[i].key == key) return m->slots[i].val;
    }
}

void *cc_map_put(cc_map *m, uint64_t key, void *val)
{
    if (!val) return cc_map_del(m, key);
    if ((m->n + 1) * 4 > m->cap * 3) grow(m);
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->slots[i].val) {
            m->slots[i].key = key;
            m->slots[i].val = val;
            m->n++;
            return NULL;
        }
        if (m->slots[i].key == key) {
            void *old = m->slots[i].val;
            m->slots[i].val = val;
            return old;
        }
    }
}

void *cc_map_del(cc_map *m, uint64_t key)
{
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1;
    size_t i = slot_of(key, m->cap);
    for (;; i = (i + 1) & mask) {
        if (!m->slots[i].val) return NULL;
        if (m->slots[i].key == key) break;
    }
    void *old = m->slots[i].val;
    m->slots[i].val = NULL;
    m->n--;
    /* Shift later members of the probe run back so lookups never stop early. */
    for (size_t j = (i + 1) & mask; m->slots[j].val; j = (j + 1) & mask) {
        size_t home = slot_of(m->slots[j].key, m->cap);
        /* Move j into the hole i unless its home lies cyclically in (i, j]. */
        bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            m->slots[i] = m->slots[j];
            m->slots[j].val = NULL;
            i = j;
        }
    }
    return old;
}

size_t cc_map_count(const cc_map *m)
{
    return m->n;
}
