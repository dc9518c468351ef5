/*
 * A binary heap of candidate merges, shared by the two tokenizers (bpe.c
 * ranks pairs, tokenize.c scores them). ENG_HEAP(name, type, before) defines
 * `typedef struct name { type *v; size_t n, cap; } name;` with static
 * name_push and name_pop, the element that `before` puts first coming out
 * first; a macro rather than void pointers keeps each comparison inlined.
 * Free `v` with free().
 */
#ifndef COCOON_ENGINE_HEAP_INC_H
#define COCOON_ENGINE_HEAP_INC_H

#include <stddef.h>

#include "base/base.h"

#define ENG_HEAP(name, type, before)                                                               \
    typedef struct name {                                                                          \
        type *v;                                                                                   \
        size_t n, cap;                                                                             \
    } name;                                                                                        \
                                                                                                   \
    static void name##_push(name *h, type c)                                                       \
    {                                                                                              \
        if (h->n == h->cap) {                                                                      \
            h->cap = h->cap ? h->cap * 2 : 64;                                                     \
            h->v = cc_realloc(h->v, h->cap * sizeof(type));                                        \
        }                                                                                          \
        size_t i = h->n++;                                                                         \
        while (i > 0 && before(&c, &h->v[(i - 1) / 2])) {                                          \
            h->v[i] = h->v[(i - 1) / 2];                                                           \
            i = (i - 1) / 2;                                                                       \
        }                                                                                          \
        h->v[i] = c;                                                                               \
    }                                                                                              \
                                                                                                   \
    static type name##_pop(name *h)                                                                \
    {                                                                                              \
        type top = h->v[0], last = h->v[--h->n];                                                   \
        size_t i = 0;                                                                              \
        for (;;) {                                                                                 \
            size_t c = 2 * i + 1;                                                                  \
            if (c >= h->n) break;                                                                  \
            if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) c++;                               \
            if (!before(&h->v[c], &last)) break;                                                   \
            h->v[i] = h->v[c];                                                                     \
            i = c;                                                                                 \
        }                                                                                          \
        if (h->n) h->v[i] = last;                                                                  \
        return top;                                                                                \
    }

#endif
