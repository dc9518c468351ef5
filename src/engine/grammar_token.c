/*
 * Grammar matching at the level of a model's tokens: which tokens may come
 * next. The vocabulary is sorted by its tokens' bytes once per matcher, so
 * that checking every token is a walk of a trie without building one:
 * consecutive tokens share their common prefix's states (one state per
 * depth is kept), and once a prefix is rejected every following token with
 * that prefix is rejected without a step. The sampler asks for the whole
 * mask only when the token it drew first does not fit (see seq.c).
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

typedef struct gtok {
    const uint8_t *p;
    uint32_t len;
    int32_t id;
} gtok;

struct engine_gvocab {
    const engine_model *m;
    gtok *order; /* tokens with text, sorted by bytes */
    size_t n_order;
};

struct eng_gmatch {
    const engine_grammar *g;
    const engine_model *m;
    int n_vocab;
    eng_gstate cur;
    eng_gstate *depth; /* depth[d]: the state after the first d bytes of the token walked */
    size_t n_depth;
    const gtok *order; /* borrowed from the vocabulary */
    size_t n_order;
    engine_gvocab *own; /* built here when none was given */
    uint32_t *scratch;
    size_t scratch_cap;
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
        v->order[v->n_order++] = (gtok){(const uint8_t *)t, (uint32_t)len, id};
    }
    qsort(v->order, v->n_order, sizeof(gtok), cmp_gtok);
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
    free(gm);
}

static void need_depth(eng_gmatch *gm, size_t n)
{
    if (n <= gm->n_depth) return;
    gm->depth = cc_realloc(gm->depth, n * sizeof(eng_gstate));
    memset(gm->depth + gm->n_depth, 0, (n - gm->n_depth) * sizeof(eng_gstate));
    gm->n_depth = n;
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
    return walk(gm, (const uint8_t *)t, len);
}

bool eng_gmatch_accept(eng_gmatch *gm, int32_t id)
{
    if (engine_model_is_end(gm->m, id)) return eng_gstate_can_end(&gm->cur);
    size_t len;
    const char *t = engine_token_text(gm->m, id, &len);
    if (!len || !walk(gm, (const uint8_t *)t, len)) return false;
    eng_gstate_copy(&gm->cur, &gm->depth[(len - 1) & 1]);
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
    need_depth(gm, 1);
    eng_gstate_copy(&gm->depth[0], &gm->cur);
    /* valid: depth[0..valid] hold the states of the previous token's prefixes; dead: the length
     * of its shortest rejected prefix (SIZE_MAX: none). */
    size_t valid = 0, dead = SIZE_MAX;
    const gtok *prev = NULL;
    for (size_t k = 0; k < gm->n_order; k++) {
        const gtok *t = &gm->order[k];
        size_t lcp = 0;
        if (prev) {
            size_t n = t->len < prev->len ? t->len : prev->len;
            while (lcp < n && t->p[lcp] == prev->p[lcp])
                lcp++;
        }
        prev = t;
        if (dead <= lcp) { /* shares a rejected prefix */
            if (valid > lcp) valid = lcp;
            continue;
        }
        dead = SIZE_MAX;
        size_t d = valid < lcp ? valid : lcp;
        need_depth(gm, (size_t)t->len + 1);
        for (; d < t->len; d++) {
            if (!eng_gstate_advance(gm->g, &gm->depth[d], t->p[d], &gm->depth[d + 1], &gm->scratch,
                                    &gm->scratch_cap)) {
                dead = d + 1;
                break;
            }
        }
        valid = d < t->len ? d + 1 : t->len;
        if (dead == SIZE_MAX) {
            allow[t->id] = 1;
            n_allowed++;
        }
    }
    return n_allowed;
}
