/*
 * Grammar matching at the level of a model's tokens: which tokens may come
 * next. The vocabulary is sorted by its tokens' bytes once per matcher, so
 * that checking every token is a walk of a trie without building one:
 * consecutive tokens share their common prefix's states (one state per
 * depth is kept), and once a prefix is rejected every following token with
 * that prefix is rejected without a step. The sampler asks for the whole
 * mask only when the token it drew first does not fit (see seq.c).
 *
 * Steps go through a lazily built automaton: each distinct matcher state met
 * is interned once, and each (state, byte) step is computed once and then
 * looked up. Inside a JSON string nearly every byte leads back to the same
 * state, so a mask over a 150k-token vocabulary costs table lookups instead
 * of one stack rewrite per trie node. The automaton is bounded (NODE_SOFT
 * states kept across calls, NODE_HARD within one); past the hard bound a
 * call falls back to stepping the states themselves, as without a cache.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

typedef struct gtok {
    const uint8_t *p;
    uint32_t len;
    uint32_t lcp; /* bytes in common with the token before it in the order */
    int32_t id;
} gtok;

struct engine_gvocab {
    const engine_model *m;
    gtok *order; /* tokens with text, sorted by bytes */
    size_t n_order;
};

#define NODE_SOFT 4096  /* states kept from one call to the next */
#define NODE_HARD 65536 /* states one call may intern before falling back */
#define NODE_DENSE 1024 /* the first states' steps are kept in rows of 256 (1 MiB) */
#define NODE_NONE UINT32_MAX
#define NODE_DEAD (UINT32_MAX - 1)

/* An interned matcher state. */
typedef struct gnode {
    eng_gstate st;
    uint64_t hash;
} gnode;

struct eng_gmatch {
    const engine_grammar *g;
    const engine_model *m;
    int n_vocab;
    eng_gstate cur;
    uint32_t cur_id;    /* cur's node, NODE_NONE when not interned */
    uint32_t node_hard; /* NODE_HARD, or less in tests */
    gnode *nodes;
    uint32_t n_nodes, cap_nodes;
    uint32_t *node_tab; /* open addressing: node id + 1, 0 empty */
    size_t node_tab_cap;
    uint32_t *dense;  /* dense[id * 256 + byte]: the step from node id < NODE_DENSE, or
                       * NODE_NONE when not computed yet */
    uint64_t *tr_key; /* open addressing: (node << 8 | byte) + 1, 0 empty */
    uint32_t *tr_val; /* next node or NODE_DEAD */
    size_t tr_cap, tr_n;
    eng_gstate tmp;
    uint32_t *ids; /* ids[d]: the node after the first d bytes of the token walked */
    size_t n_ids;
    eng_gstate *depth; /* depth[d]: the state after the first d bytes of the token walked */
    size_t n_depth;
    const gtok *order; /* borrowed from the vocabulary */
    size_t n_order;
    engine_gvocab *own; /* built here when none was given */
    uint32_t *scratch;
    size_t scratch_cap;
    uint64_t fallbacks; /* masks that filled the automaton and stepped the states instead */
};

static int cmp_gtok(const void *a, const void *b)
{
    const gtok *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

engine_gvocab *engine_gvocab_new(const engine_model *m)
{
    engine_gvocab *v = cc_calloc(1, sizeof(*v));
    v->m = m;
    int n_vocab = engine_model_hparams(m)->n_vocab;
    v->order = cc_malloc((size_t)n_vocab * sizeof(gtok));
    for (int32_t id = 0; id < n_vocab; id++) {
        size_t len;
        const char *t = engine_token_text(m, id, &len);
        /* Tokens without text (control tokens) never advance a grammar: left out. */
        if (!len || engine_model_is_end(m, id)) continue;
        v->order[v->n_order++] = (gtok){(const uint8_t *)t, (uint32_t)len, 0, id};
    }
    qsort(v->order, v->n_order, sizeof(gtok), cmp_gtok);
    for (size_t k = 1; k < v->n_order; k++) {
        const gtok *a = &v->order[k - 1];
        gtok *b = &v->order[k];
        uint32_t n = a->len < b->len ? a->len : b->len, lcp = 0;
        while (lcp < n && a->p[lcp] == b->p[lcp])
            lcp++;
        b->lcp = lcp;
    }
    return v;
}

void engine_gvocab_free(engine_gvocab *v)
{
    if (!v) return;
    free(v->order);
    free(v);
}

eng_gmatch *eng_gmatch_new(const engine_grammar *g, const engine_model *m, const engine_gvocab *v)
{
    eng_gmatch *gm = cc_calloc(1, sizeof(*gm));
    gm->g = g;
    gm->m = m;
    gm->n_vocab = engine_model_hparams(m)->n_vocab;
    eng_gstate_init(g, &gm->cur);
    gm->cur_id = NODE_NONE;
    gm->node_hard = NODE_HARD;
    if (!v || v->m != m) v = gm->own = engine_gvocab_new(m);
    gm->order = v->order;
    gm->n_order = v->n_order;
    return gm;
}

void eng_gmatch_free(eng_gmatch *gm)
{
    if (!gm) return;
    eng_gstate_free(&gm->cur);
    for (size_t i = 0; i < gm->n_depth; i++)
        eng_gstate_free(&gm->depth[i]);
    free(gm->depth);
    engine_gvocab_free(gm->own);
    free(gm->scratch);
    for (uint32_t i = 0; i < gm->n_nodes; i++)
        eng_gstate_free(&gm->nodes[i].st);
    free(gm->nodes);
    free(gm->node_tab);
    free(gm->dense);
    free(gm->tr_key);
    free(gm->tr_val);
    eng_gstate_free(&gm->tmp);
    free(gm->ids);
    free(gm);
}

static void need_depth(eng_gmatch *gm, size_t n)
{
    if (n <= gm->n_depth) return;
    gm->depth = cc_realloc(gm->depth, n * sizeof(eng_gstate));
    memset(gm->depth + gm->n_depth, 0, (n - gm->n_depth) * sizeof(eng_gstate));
    gm->n_depth = n;
}

/* ------------------------------------------------------------ automaton */

#define TR_SOFT (1u << 16) /* steps kept from one call to the next */
#define TR_HARD (1u << 20) /* steps one call may record before falling back */

static uint64_t state_hash(const eng_gstate *s)
{
    uint64_t h = 1469598103934665603ull ^ s->n_stacks;
    for (size_t i = 0; i < s->n; i++)
        h = (h ^ s->v[i]) * 1099511628211ull;
    return h;
}

static bool state_eq(const eng_gstate *a, const eng_gstate *b)
{
    return a->n == b->n && a->n_stacks == b->n_stacks &&
           !memcmp(a->v, b->v, a->n * sizeof(uint32_t));
}

static void cache_clear(eng_gmatch *gm)
{
    for (uint32_t i = 0; i < gm->n_nodes; i++)
        eng_gstate_free(&gm->nodes[i].st);
    gm->n_nodes = 0;
    if (gm->node_tab) memset(gm->node_tab, 0, gm->node_tab_cap * sizeof(uint32_t));
    if (gm->tr_key) memset(gm->tr_key, 0, gm->tr_cap * sizeof(uint64_t));
    gm->tr_n = 0;
    gm->cur_id = NODE_NONE;
}

static void node_tab_grow(eng_gmatch *gm)
{
    size_t cap = gm->node_tab_cap ? gm->node_tab_cap * 2 : 256;
    uint32_t *t = cc_calloc(cap, sizeof(uint32_t));
    for (uint32_t i = 0; i < gm->n_nodes; i++) {
        size_t j = gm->nodes[i].hash & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = i + 1;
    }
    free(gm->node_tab);
    gm->node_tab = t;
    gm->node_tab_cap = cap;
}

/* The node of state s (copied in when new); NODE_NONE when the automaton is full. */
static uint32_t intern(eng_gmatch *gm, const eng_gstate *s)
{
    uint64_t h = state_hash(s);
    if (((size_t)gm->n_nodes + 1) * 2 > gm->node_tab_cap) node_tab_grow(gm);
    size_t mask = gm->node_tab_cap - 1, j = h & mask;
    for (; gm->node_tab[j]; j = (j + 1) & mask) {
        const gnode *n = &gm->nodes[gm->node_tab[j] - 1];
        if (n->hash == h && state_eq(&n->st, s)) return gm->node_tab[j] - 1;
    }
    if (gm->n_nodes >= gm->node_hard) return NODE_NONE;
    if (gm->n_nodes == gm->cap_nodes) {
        gm->cap_nodes = gm->cap_nodes ? gm->cap_nodes * 2 : 64;
        gm->nodes = cc_realloc(gm->nodes, gm->cap_nodes * sizeof(gnode));
    }
    gnode *n = &gm->nodes[gm->n_nodes];
    memset(n, 0, sizeof(*n));
    eng_gstate_copy(&n->st, s);
    n->hash = h;
    if (gm->n_nodes < NODE_DENSE) {
        if (!gm->dense) gm->dense = cc_malloc((size_t)NODE_DENSE * 256 * sizeof(uint32_t));
        memset(gm->dense + (size_t)gm->n_nodes * 256, 0xff, 256 * sizeof(uint32_t));
    }
    gm->node_tab[j] = ++gm->n_nodes;
    return gm->n_nodes - 1;
}

static size_t tr_slot(uint64_t key, size_t mask)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static void tr_grow(eng_gmatch *gm)
{
    size_t cap = gm->tr_cap ? gm->tr_cap * 2 : 1024;
    uint64_t *k = cc_calloc(cap, sizeof(uint64_t));
    uint32_t *v = cc_malloc(cap * sizeof(uint32_t));
    for (size_t i = 0; i < gm->tr_cap; i++) {
        if (!gm->tr_key[i]) continue;
        size_t j = tr_slot(gm->tr_key[i], cap - 1);
        while (k[j])
            j = (j + 1) & (cap - 1);
        k[j] = gm->tr_key[i];
        v[j] = gm->tr_val[i];
    }
    free(gm->tr_key);
    free(gm->tr_val);
    gm->tr_key = k;
    gm->tr_val = v;
    gm->tr_cap = cap;
}

/* The node after byte c from node id: NODE_DEAD when c cannot follow, NODE_NONE when the
 * automaton is full (the caller steps the states themselves). */
static uint32_t step(eng_gmatch *gm, uint32_t id, uint8_t c)
{
    if (id < NODE_DENSE) {
        uint32_t *slot = &gm->dense[(size_t)id * 256 + c];
        if (*slot != NODE_NONE) return *slot;
        uint32_t next = NODE_DEAD;
        if (eng_gstate_advance(gm->g, &gm->nodes[id].st, c, &gm->tmp, &gm->scratch,
                               &gm->scratch_cap)) {
            next = intern(gm, &gm->tmp);
            if (next == NODE_NONE) return NODE_NONE;
        }
        gm->dense[(size_t)id * 256 + c] = next; /* intern may have set other rows, not this */
        return next;
    }
    uint64_t key = ((uint64_t)id << 8 | c) + 1;
    if (gm->tr_cap) {
        size_t mask = gm->tr_cap - 1;
        for (size_t j = tr_slot(key, mask); gm->tr_key[j]; j = (j + 1) & mask)
            if (gm->tr_key[j] == key) return gm->tr_val[j];
    }
    if (gm->tr_n >= TR_HARD) return NODE_NONE;
    uint32_t next = NODE_DEAD;
    if (eng_gstate_advance(gm->g, &gm->nodes[id].st, c, &gm->tmp, &gm->scratch, &gm->scratch_cap)) {
        next = intern(gm, &gm->tmp);
        if (next == NODE_NONE) return NODE_NONE;
    }
    if ((gm->tr_n + 1) * 2 > gm->tr_cap) tr_grow(gm);
    size_t mask = gm->tr_cap - 1, j = tr_slot(key, mask);
    while (gm->tr_key[j])
        j = (j + 1) & mask;
    gm->tr_key[j] = key;
    gm->tr_val[j] = next;
    gm->tr_n++;
    return next;
}

/* At the start of each call: a grown automaton is dropped, and the current state interned. */
static void prepare(eng_gmatch *gm)
{
    if (gm->n_nodes > NODE_SOFT || gm->tr_n > TR_SOFT) cache_clear(gm);
    if (gm->cur_id == NODE_NONE) gm->cur_id = intern(gm, &gm->cur);
}

/* The node after a token's bytes from the current state, NODE_DEAD, or NODE_NONE (full). */
static uint32_t walk_nodes(eng_gmatch *gm, const uint8_t *p, size_t len)
{
    uint32_t id = gm->cur_id;
    for (size_t i = 0; i < len && id != NODE_DEAD && id != NODE_NONE; i++)
        id = step(gm, id, p[i]);
    return id;
}

static void need_ids(eng_gmatch *gm, size_t n)
{
    if (n <= gm->n_ids) return;
    gm->ids = cc_realloc(gm->ids, n * sizeof(uint32_t));
    gm->n_ids = n;
}

void eng_gmatch_limit_states(eng_gmatch *gm, uint32_t max_states)
{
    cache_clear(gm);
    gm->node_hard = max_states < NODE_HARD ? max_states : NODE_HARD;
}

/* Walks bytes from the current state; true when they all fit. */
static bool walk(eng_gmatch *gm, const uint8_t *p, size_t len)
{
    need_depth(gm, 2);
    const eng_gstate *in = &gm->cur;
    for (size_t i = 0; i < len; i++) {
        eng_gstate *out = &gm->depth[i & 1];
        if (!eng_gstate_advance(gm->g, in, p[i], out, &gm->scratch, &gm->scratch_cap)) return false;
        in = out;
    }
    return true;
}

bool eng_gmatch_token_ok(eng_gmatch *gm, int32_t id)
{
    if (id < 0 || id >= gm->n_vocab) return false;
    if (engine_model_is_end(gm->m, id)) return eng_gstate_can_end(&gm->cur);
    size_t len;
    const char *t = engine_token_text(gm->m, id, &len);
    if (!len || eng_gstate_only_end(&gm->cur)) return false;
    prepare(gm);
    uint32_t node = walk_nodes(gm, (const uint8_t *)t, len);
    if (node == NODE_NONE) return walk(gm, (const uint8_t *)t, len);
    return node != NODE_DEAD;
}

bool eng_gmatch_accept(eng_gmatch *gm, int32_t id)
{
    if (engine_model_is_end(gm->m, id)) return eng_gstate_can_end(&gm->cur);
    size_t len;
    const char *t = engine_token_text(gm->m, id, &len);
    if (!len) return false;
    prepare(gm);
    uint32_t node = walk_nodes(gm, (const uint8_t *)t, len);
    if (node == NODE_DEAD) return false;
    if (node != NODE_NONE) {
        eng_gstate_copy(&gm->cur, &gm->nodes[node].st);
        gm->cur_id = node;
        return true;
    }
    if (!walk(gm, (const uint8_t *)t, len)) return false;
    eng_gstate_copy(&gm->cur, &gm->depth[(len - 1) & 1]);
    gm->cur_id = NODE_NONE;
    return true;
}

/* The mask's walk over the sorted vocabulary. valid: the previous token's first valid bytes
 * have their nodes (or states) at depth 0..valid; dead: the length of its shortest rejected
 * prefix (SIZE_MAX: none), so the tokens after it that share that prefix are rejected unseen.
 * With nodes the walk goes through the automaton and returns false when it filled up (allow is
 * then partial); without, it steps the states themselves and always completes. */
static bool mask_walk(eng_gmatch *gm, bool nodes, uint8_t *allow, size_t *n_allowed)
{
    if (nodes) {
        need_ids(gm, 1);
        gm->ids[0] = gm->cur_id;
    } else {
        need_depth(gm, 1);
        eng_gstate_copy(&gm->depth[0], &gm->cur);
    }
    size_t valid = 0, dead = SIZE_MAX;
    for (size_t k = 0; k < gm->n_order; k++) {
        const gtok *t = &gm->order[k];
        size_t lcp = t->lcp;
        if (dead <= lcp) { /* shares a rejected prefix */
            if (valid > lcp) valid = lcp;
            continue;
        }
        dead = SIZE_MAX;
        size_t d = valid < lcp ? valid : lcp;
        if (nodes)
            need_ids(gm, (size_t)t->len + 1);
        else
            need_depth(gm, (size_t)t->len + 1);
        for (; d < t->len; d++) {
            bool ok;
            if (nodes) {
                uint32_t next = step(gm, gm->ids[d], t->p[d]);
                if (next == NODE_NONE) return false;
                ok = next != NODE_DEAD;
                if (ok) gm->ids[d + 1] = next;
            } else {
                ok = eng_gstate_advance(gm->g, &gm->depth[d], t->p[d], &gm->depth[d + 1],
                                        &gm->scratch, &gm->scratch_cap);
            }
            if (!ok) {
                dead = d + 1;
                break;
            }
        }
        valid = d < t->len ? d + 1 : t->len;
        if (dead == SIZE_MAX) {
            allow[t->id] = 1;
            (*n_allowed)++;
        }
    }
    return true;
}

size_t eng_gmatch_mask(eng_gmatch *gm, uint8_t *allow)
{
    memset(allow, 0, (size_t)gm->n_vocab);
    size_t n_allowed = 0;
    if (eng_gstate_can_end(&gm->cur))
        for (int32_t id = 0; id < gm->n_vocab; id++)
            if (engine_model_is_end(gm->m, id)) {
                allow[id] = 1;
                n_allowed++;
            }
    if (eng_gstate_only_end(&gm->cur)) return n_allowed;
    size_t n_ends = n_allowed;
    prepare(gm);
    if (gm->cur_id != NODE_NONE) {
        if (mask_walk(gm, true, allow, &n_allowed)) return n_allowed;
        gm->fallbacks++; /* it filled up midway */
    }
    /* Full: drop the automaton and walk the states, from a clean mask. */
    cache_clear(gm);
    for (size_t k = 0; k < gm->n_order; k++)
        allow[gm->order[k].id] = 0;
    n_allowed = n_ends;
    mask_walk(gm, false, allow, &n_allowed);
    return n_allowed;
}

uint64_t eng_gmatch_fallbacks(const eng_gmatch *gm)
{
    return gm->fallbacks;
}
