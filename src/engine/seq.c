/*
 * One generation as a step machine, so a scheduler can interleave several
 * (a prompt chunk or one token per step) and a command-line tool can just
 * loop. Counts are exact: prompt tokens as tokenized, every sampled token
 * (including the end token that stopped it) as a completion token.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

struct engine_seq {
    engine_ctx *c;
    const engine_model *m;
    engine_seq_params p;
    engine_sampler *sampler;
    engine_detok *detok;
    engine_tokens hist; /* prompt + generated */
    size_t n_prompt, n_cached, n_gen;
    const float *logits;
    bool finished;
    eng_gmatch *gm; /* grammar-constrained sampling, NULL: none */
    uint8_t *allow; /* the grammar's token mask (n_vocab) */
};

engine_seq *engine_seq_new(engine_ctx *c, const engine_tokens *prompt, const engine_seq_params *p,
                           cc_err *err)
{
    int n_ctx = engine_ctx_size(c);
    if (prompt->n == 0) {
        cc_err_set(err, "the prompt is empty");
        return NULL;
    }
    if (prompt->n >= (size_t)n_ctx) {
        cc_err_set(err, "the prompt has %zu tokens; the context holds %d", prompt->n, n_ctx);
        return NULL;
    }
    engine_seq *s = cc_calloc(1, sizeof(*s));
    s->c = c;
    s->m = eng_ctx_model(c);
    s->p = *p;
    s->p.stops = NULL;
    /* What a shift keeps is the prompt's own start (the cache holds it until the first shift
     * and keeps it after). */
    if (s->p.n_keep < 0) s->p.n_keep = 0;
    if ((size_t)s->p.n_keep > prompt->n) s->p.n_keep = (int)prompt->n;
    s->n_prompt = prompt->n;
    for (size_t i = 0; i < prompt->n; i++)
        engine_tokens_push(&s->hist, prompt->ids[i]);
    /* Reuse the cached prefix, but always evaluate at least the last prompt
     * token so there are logits to sample from. */
    const int32_t *cached = engine_ctx_tokens(c);
    size_t same = 0, have = (size_t)engine_ctx_reusable(c);
    while (same < have && same + 1 < prompt->n && cached[same] == prompt->ids[same])
        same++;
    engine_ctx_truncate(c, (int)same);
    s->n_cached = same;
    s->sampler = engine_sampler_new(&p->sp, engine_model_hparams(s->m)->n_vocab);
    s->detok = engine_detok_new(s->m, p->stops, p->n_stops);
    if (p->grammar) {
        s->gm = eng_gmatch_new(p->grammar, s->m, p->gvocab);
        s->allow = cc_malloc((size_t)engine_model_hparams(s->m)->n_vocab);
    }
    s->p.grammar = NULL; /* borrowed only through gm */
    s->p.gvocab = NULL;
    return s;
}

void engine_seq_free(engine_seq *s)
{
    if (!s) return;
    engine_sampler_free(s->sampler);
    engine_detok_free(s->detok);
    engine_tokens_free(&s->hist);
    eng_gmatch_free(s->gm);
    free(s->allow);
    free(s);
}

size_t engine_seq_prompt_tokens(const engine_seq *s)
{
    return s->n_prompt;
}
size_t engine_seq_cached_tokens(const engine_seq *s)
{
    return s->n_cached;
}
size_t engine_seq_generated(const engine_seq *s)
{
    return s->n_gen;
}

static void finish(engine_seq *s, engine_step *st, engine_finish why, cc_buf *out)
{
    engine_detok_flush(s->detok, out);
    s->finished = true;
    st->finished = true;
    st->finish = why;
}

bool engine_seq_in_prompt(const engine_seq *s)
{
    /* Not once a token was generated: a context shift can leave fewer cached tokens than
     * the prompt had, and the prompt is in all the same. */
    return !s->finished && s->n_gen == 0 && (size_t)engine_ctx_pos(s->c) < s->n_prompt;
}

/* The context is full: as llama.cpp's server, keep the start (the prompt's first n_keep
 * tokens, its system part, else the BOS when the prompt has one), drop half of what follows
 * it and go on with the rest. Returns 1 when there is too little to drop (a context of a
 * token or two). */
static int shift(engine_seq *s, cc_err *err)
{
    int pos = engine_ctx_pos(s->c), n_ctx = engine_ctx_size(s->c);
    int n_keep = s->p.n_keep;
    /* Keeping more than three quarters would make each shift free only a few tokens (a shift
     * per few tokens generated, each moving the whole cache), or none at all: then only BOS,
     * so every shift frees at least an eighth of the context. */
    if (n_keep <= 0 || n_ctx - n_keep < n_ctx / 4)
        n_keep = s->hist.n && s->hist.ids[0] == engine_model_bos(s->m) ? 1 : 0;
    int n_discard = (pos - n_keep) / 2;
    if (n_discard < 1) return 1;
    return engine_ctx_shift(s->c, n_keep, n_discard, err);
}

int engine_seq_sample(engine_seq *s, cc_buf *out, engine_step *st, int32_t *next, cc_err *err)
{
    memset(st, 0, sizeof(*st));
    *next = -1;
    if (s->finished) {
        st->finished = true;
        return 0;
    }
    if (!s->logits || engine_seq_in_prompt(s))
        return cc_err_set(err, "sequence has no logits to sample from");
    engine_logprob *lp = s->p.logprobs ? &st->lp : NULL;
    int32_t tok =
        engine_sampler_sample(s->sampler, s->logits, s->hist.ids, s->hist.n, s->n_gen, lp);
    if (s->gm && !eng_gmatch_token_ok(s->gm, tok)) {
        /* The draw does not fit the grammar: draw again among the tokens that do. Drawing
         * first and masking only on a miss gives the same distribution as masking first (a
         * fitting first draw has probability p(t), a miss then q(t) = p(t) / P(fit)), and
         * most steps need no mask at all. */
        if (!eng_gmatch_mask(s->gm, s->allow)) {
            /* No token can continue (a grammar the vocabulary cannot spell): stop here. */
            memset(st, 0, sizeof(*st));
            finish(s, st, ENGINE_FINISH_STOP, out);
            return 0;
        }
        engine_sampler_set_allowed(s->sampler, s->allow);
        tok = engine_sampler_sample(s->sampler, s->logits, s->hist.ids, s->hist.n, s->n_gen, lp);
        engine_sampler_set_allowed(s->sampler, NULL);
    }
    if (s->gm) eng_gmatch_accept(s->gm, tok);
    int32_t prev = s->hist.ids[s->hist.n - 1];
    engine_tokens_push(&s->hist, tok);
    s->n_gen++;
    s->logits = NULL; /* until the token has been evaluated */
    st->has_token = true;
    st->token = tok;
    if (engine_model_is_end(s->m, tok) || engine_detok_push(s->detok, tok, prev, out)) {
        finish(s, st, ENGINE_FINISH_STOP, out);
        return 0;
    }
    if (s->p.max_tokens > 0 && s->n_gen >= (size_t)s->p.max_tokens) {
        finish(s, st, ENGINE_FINISH_LENGTH, out);
        return 0;
    }
    if (engine_ctx_pos(s->c) >= engine_ctx_size(s->c)) {
        /* Shifting only for a bounded generation: without max_tokens the context is the
         * bound. */
        int rc = s->p.context_shift && s->p.max_tokens > 0 ? shift(s, err) : 1;
        if (rc < 0) return -1;
        if (rc > 0) {
            finish(s, st, ENGINE_FINISH_LENGTH, out);
            return 0;
        }
    }
    *next = tok;
    return 0;
}

void engine_seq_set_logits(engine_seq *s, const float *logits)
{
    s->logits = logits;
}

size_t engine_seq_prompt_next(const engine_seq *s, size_t max, const int32_t **tokens)
{
    if (!engine_seq_in_prompt(s)) return 0;
    size_t pos = (size_t)engine_ctx_pos(s->c), n = s->n_prompt - pos;
    if (s->p.prompt_chunk > 0 && n > (size_t)s->p.prompt_chunk) n = (size_t)s->p.prompt_chunk;
    if (max > 0 && n > max) n = max;
    *tokens = s->hist.ids + pos;
    return n;
}

engine_ctx *engine_seq_ctx(const engine_seq *s)
{
    return s->c;
}

int engine_seq_step(engine_seq *s, cc_buf *out, engine_step *st, cc_err *err)
{
    memset(st, 0, sizeof(*st));
    if (s->finished) {
        st->finished = true;
        return 0;
    }
    if (engine_seq_in_prompt(s)) {
        size_t pos = (size_t)engine_ctx_pos(s->c), n = s->n_prompt - pos;
        if (s->p.prompt_chunk > 0 && n > (size_t)s->p.prompt_chunk) n = (size_t)s->p.prompt_chunk;
        s->logits = engine_ctx_eval(s->c, s->hist.ids + pos, n, err);
        return s->logits ? 0 : -1;
    }
    int32_t next;
    if (engine_seq_sample(s, out, st, &next, err)) return -1;
    if (next < 0) return 0;
    s->logits = engine_ctx_eval(s->c, &next, 1, err);
    return s->logits ? 0 : -1;
}
