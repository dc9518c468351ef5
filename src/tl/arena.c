/* Bump arena for decoded TL trees: one malloc per message in the common case,
 * one free for the whole tree (DESIGN §4.2: decoding is on the hot path). */
#include <stdlib.h>

#include "tl/tl_internal.h"

static tl_chunk *chunk_new(size_t cap, tl_chunk *prev)
{
    tl_chunk *c = cc_malloc(sizeof(tl_chunk) + cap);
    c->prev = prev;
    c->cap = cap;
    c->used = 0;
    return c;
}

struct tl_arena *tl_arena_new(size_t hint)
{
    size_t cap = sizeof(struct tl_arena) + 16 + (hint < 256 ? 256 : hint);
    tl_chunk *c = chunk_new(cap, NULL);
    struct tl_arena *a = (struct tl_arena *)c->data;
    c->used = (sizeof(struct tl_arena) + 15) & ~(size_t)15;
    a->cur = c;
    return a;
}

void *tl_arena_alloc(struct tl_arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    tl_chunk *c = a->cur;
    if (c->cap - c->used < n) {
        size_t cap = c->cap * 2;
        if (cap < n) cap = n;
        c = chunk_new(cap, c);
        a->cur = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

void *tl_arena_zalloc(struct tl_arena *a, size_t n)
{
    void *p = tl_arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

void tl_arena_free(struct tl_arena *a)
{
    if (!a) return;
    /* The arena struct lives in the oldest chunk, which is freed last. */
    tl_chunk *c = a->cur;
    while (c) {
        tl_chunk *prev = c->prev;
        free(c);
        c = prev;
    }
}
