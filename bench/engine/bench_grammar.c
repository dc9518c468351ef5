/*
 * Grammar-constrained sampling's cost per mask on a real vocabulary: the
 * matcher's automaton (cold: the first mask of a request; warm: the next
 * ones) against stepping the matcher states themselves (the automaton off),
 * measured in the same run. JSON lines, one per position:
 *   {"bench":"grammar_mask","vocab":N,"at":"...","allowed":K,
 *    "states_ms":..,"cold_ms":..,"warm_ms":..,"speedup_warm":..}
 * usage: bench_grammar VOCAB.gguf [REPS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

static eng_gmatch *matcher_at(const engine_grammar *g, const engine_model *m,
                              const engine_gvocab *v, const char *text, uint32_t limit)
{
    eng_gmatch *gm = eng_gmatch_new(g, m, v);
    eng_gmatch_limit_states(gm, limit);
    engine_tokens t = {0};
    cc_err err = {0};
    if (engine_tokenize(m, text, strlen(text), false, false, &t, &err) < 0) {
        fprintf(stderr, "tokenize: %s\n", err.msg);
        exit(1);
    }
    for (size_t i = 0; i < t.n; i++)
        if (!eng_gmatch_accept(gm, t.ids[i])) {
            fprintf(stderr, "the grammar refuses \"%s\" at token %zu\n", text, i);
            exit(1);
        }
    engine_tokens_free(&t);
    return gm;
}

static double mask_ms(eng_gmatch *gm, uint8_t *allow, size_t *n)
{
    uint64_t t0 = cc_now_mono_ns();
    *n = eng_gmatch_mask(gm, allow);
    return (double)(cc_now_mono_ns() - t0) / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_grammar VOCAB.gguf [REPS]\n");
        return 2;
    }
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    if (reps < 1) reps = 1;
    cc_err err = {0};
    engine_model *m = engine_model_load_vocab(argv[1], &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    engine_grammar *g = engine_grammar_from_json_schema(NULL, NULL, &err);
    if (!g) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    engine_gvocab *v = engine_gvocab_new(m);
    int n_vocab = engine_model_hparams(m)->n_vocab;
    uint8_t *allow = malloc((size_t)n_vocab);
    static const char *const at[] = {"{\"name\": \"", "{\"name\": \"Lily\", ", "{\"n\": [1, 2"};
    for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
        double states = 1e30, cold = 1e30, warm = 1e30;
        size_t n = 0, n2 = 0;
        for (int r = 0; r < reps; r++) {
            eng_gmatch *slow = matcher_at(g, m, v, at[k], 0);
            double ms = mask_ms(slow, allow, &n);
            if (ms < states) states = ms;
            eng_gmatch_free(slow);
            eng_gmatch *fast = matcher_at(g, m, v, at[k], UINT32_MAX);
            ms = mask_ms(fast, allow, &n2);
            if (ms < cold) cold = ms;
            ms = mask_ms(fast, allow, &n2);
            if (ms < warm) warm = ms;
            eng_gmatch_free(fast);
        }
        if (n != n2) {
            fprintf(stderr, "masks differ: %zu tokens allowed against %zu\n", n2, n);
            return 1;
        }
        printf("{\"bench\":\"grammar_mask\",\"vocab\":%d,\"at\":\"%s\",\"allowed\":%zu,"
               "\"states_ms\":%.3f,\"cold_ms\":%.3f,\"warm_ms\":%.3f,\"speedup_warm\":%.1f}\n",
               n_vocab,
               k == 0   ? "in a string"
               : k == 1 ? "after a member"
                        : "in an array",
               n, states, cold, warm, states / warm);
    }
    free(allow);
    engine_gvocab_free(v);
    engine_grammar_free(g);
    engine_model_free(m);
    return 0;
}
