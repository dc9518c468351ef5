/*
 * Sampling: OpenAI's logit bias, penalties (llama.cpp's repetition penalty over recent tokens,
 * OpenAI's frequency/presence penalties over generated tokens), then
 * temperature (0 = greedy), top-k, top-p, min-p, and a draw from a seeded
 * generator so the same seed gives the same text. Log-probabilities are
 * reported under the model's own distribution (before any of that).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

typedef struct cand {
    int32_t id;
    float logit;
} cand;

struct engine_sampler {
    engine_sample_params p;
    int n_vocab;
    uint64_t rng;
    cand *cands;
    float *work;
    uint16_t *counts; /* occurrences of each token in the generated text */
    uint8_t *mark;
    int32_t *bias_ids; /* owned copies of p.bias_ids / p.bias_values */
    float *bias_values;
    const uint8_t *allow; /* borrowed: a grammar's mask, NULL = every token */
};

void engine_sample_params_default(engine_sample_params *p)
{
    memset(p, 0, sizeof(*p));
    p->temperature = 1.0f;
    p->top_p = 1.0f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

engine_sampler *engine_sampler_new(const engine_sample_params *p, int n_vocab)
{
    engine_sampler *s = cc_calloc(1, sizeof(*s));
    s->p = *p;
    if (s->p.top_logprobs > ENGINE_MAX_TOP_LOGPROBS) s->p.top_logprobs = ENGINE_MAX_TOP_LOGPROBS;
    s->n_vocab = n_vocab;
    s->rng = p->seed;
    s->cands = cc_malloc((size_t)n_vocab * sizeof(cand));
    s->work = cc_malloc((size_t)n_vocab * sizeof(float));
    s->counts = cc_calloc((size_t)n_vocab, sizeof(uint16_t));
    s->mark = cc_calloc((size_t)n_vocab, 1);
    if (p->n_bias > 0) {
        s->bias_ids = cc_malloc((size_t)p->n_bias * sizeof(int32_t));
        s->bias_values = cc_malloc((size_t)p->n_bias * sizeof(float));
        memcpy(s->bias_ids, p->bias_ids, (size_t)p->n_bias * sizeof(int32_t));
        memcpy(s->bias_values, p->bias_values, (size_t)p->n_bias * sizeof(float));
    } else {
        s->p.n_bias = 0;
    }
    s->p.bias_ids = s->bias_ids;
    s->p.bias_values = s->bias_values;
    return s;
}

void engine_sampler_free(engine_sampler *s)
{
    if (!s) return;
    free(s->cands);
    free(s->work);
    free(s->counts);
    free(s->mark);
    free(s->bias_ids);
    free(s->bias_values);
    free(s);
}

void engine_sampler_set_allowed(engine_sampler *s, const uint8_t *allow)
{
    s->allow = allow;
}

static int cmp_cand_desc(const void *a, const void *b)
{
    float x = ((const cand *)a)->logit, y = ((const cand *)b)->logit;
    if (x != y) return x < y ? 1 : -1;
    return ((const cand *)a)->id - ((const cand *)b)->id;
}

static void fill_logprobs(const engine_sampler *s, const float *logits, int32_t chosen,
                          engine_logprob *lp)
{
    int n = s->n_vocab;
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)(logits[i] - mx));
    float lse = mx + (float)log(sum);
    lp->id = chosen;
    lp->logprob = logits[chosen] - lse;
    int k = s->p.top_logprobs;
    lp->n_top = 0;
    /* Insertion into a small sorted list: k <= 20. */
    for (int i = 0; i < n && k > 0; i++) {
        float v = logits[i] - lse;
        int pos = lp->n_top;
        if (pos == k && v <= lp->top_logprobs[k - 1]) continue;
        if (pos == k) pos--;
        while (pos > 0 && lp->top_logprobs[pos - 1] < v) {
            lp->top_logprobs[pos] = lp->top_logprobs[pos - 1];
            lp->top_ids[pos] = lp->top_ids[pos - 1];
            pos--;
        }
        lp->top_logprobs[pos] = v;
        lp->top_ids[pos] = i;
        if (lp->n_top < k) lp->n_top++;
    }
}

int32_t engine_sampler_sample(engine_sampler *s, const float *logits, const int32_t *history,
                              size_t n_history, size_t n_generated, engine_logprob *lp)
{
    const engine_sample_params *p = &s->p;
    int n = s->n_vocab;
    float *w = s->work;
    memcpy(w, logits, (size_t)n * sizeof(float));
    for (int i = 0; i < p->n_bias; i++) /* ids out of the vocabulary are ignored, as OpenAI's */
        if (p->bias_ids[i] >= 0 && p->bias_ids[i] < n) w[p->bias_ids[i]] += p->bias_values[i];
    if (s->allow)
        for (int i = 0; i < n; i++)
            if (!s->allow[i]) w[i] = -INFINITY;

    if (p->repeat_penalty != 1.0f && p->repeat_penalty > 0) {
        size_t from = p->repeat_last_n > 0 && n_history > (size_t)p->repeat_last_n
                          ? n_history - (size_t)p->repeat_last_n
                          : 0;
        /* Each distinct token is penalised once (marks cleared after). */
        for (size_t i = from; i < n_history; i++) {
            int32_t t = history[i];
            if (t < 0 || t >= n || s->mark[t]) continue;
            s->mark[t] = 1;
            w[t] = w[t] > 0 ? w[t] / p->repeat_penalty : w[t] * p->repeat_penalty;
        }
        for (size_t i = from; i < n_history; i++)
            if (history[i] >= 0 && history[i] < n) s->mark[history[i]] = 0;
    }
    if (p->frequency_penalty != 0 || p->presence_penalty != 0) {
        size_t from = n_generated <= n_history ? n_history - n_generated : 0;
        for (size_t i = from; i < n_history; i++)
            if (history[i] >= 0 && history[i] < n && s->counts[history[i]] < UINT16_MAX)
                s->counts[history[i]]++;
        for (size_t i = from; i < n_history; i++) {
            int32_t t = history[i];
            if (t < 0 || t >= n || !s->counts[t]) continue;
            w[t] -= (float)s->counts[t] * p->frequency_penalty + p->presence_penalty;
            s->counts[t] = 0; /* applied once per distinct token */
        }
    }

    int32_t chosen;
    if (p->temperature <= 0 || p->top_k == 1) {
        chosen = 0;
        for (int i = 1; i < n; i++)
            if (w[i] > w[chosen] || (s->allow && !s->allow[chosen] && s->allow[i])) chosen = i;
    } else {
        float mx = w[0];
        for (int i = 1; i < n; i++)
            mx = w[i] > mx ? w[i] : mx;
        /* Tokens more than 30 nats (after temperature) below the best have
         * probability < 1e-13: leaving them out keeps the sort short. */
        float floor_ = mx - 30.0f * p->temperature;
        int nc = 0;
        for (int i = 0; i < n; i++)
            if (w[i] >= floor_) s->cands[nc++] = (cand){i, w[i] / p->temperature};
        if (!nc) s->cands[nc++] = (cand){0, 0}; /* nothing allowed: the caller's mistake */
        qsort(s->cands, (size_t)nc, sizeof(cand), cmp_cand_desc);
        if (p->top_k > 0 && p->top_k < nc) nc = p->top_k;
        float top = s->cands[0].logit;
        double sum = 0;
        for (int i = 0; i < nc; i++) {
            float e = expf(s->cands[i].logit - top);
            s->cands[i].logit = e; /* now unnormalised probabilities */
            sum += e;
        }
        if (p->top_p > 0 && p->top_p < 1) {
            double cum = 0;
            for (int i = 0; i < nc; i++) {
                cum += s->cands[i].logit / sum;
                if (cum >= p->top_p) {
                    nc = i + 1;
                    break;
                }
            }
        }
        if (p->min_p > 0 && p->min_p <= 1) {
            float thr = p->min_p * s->cands[0].logit;
            int keep = 1;
            while (keep < nc && s->cands[keep].logit >= thr)
                keep++;
            nc = keep;
        }
        double total = 0;
        for (int i = 0; i < nc; i++)
            total += s->cands[i].logit;
        double r = (double)(splitmix64(&s->rng) >> 11) * (1.0 / 9007199254740992.0) * total;
        chosen = s->cands[nc - 1].id;
        for (int i = 0; i < nc; i++) {
            r -= s->cands[i].logit;
            if (r < 0) {
                chosen = s->cands[i].id;
                break;
            }
        }
    }
    if (lp) fill_logprobs(s, logits, chosen, lp);
    return chosen;
}
