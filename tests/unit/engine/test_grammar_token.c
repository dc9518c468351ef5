/*
 * The token-level matcher's automaton (grammar_token.c): on a real 100k-token
 * vocabulary (deepseek-llm), along random paths through JSON grammars, the
 * mask computed through the automaton equals the one computed by stepping
 * the states themselves (automaton off), and so does one whose automaton
 * fills up in the middle of a walk (a tiny bound: the fall-back path). Each
 * token the path takes is checked one by one too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine_int.h"
#include "../shared_data.h"

static engine_model *vocab;
static engine_gvocab *sorted;

static int setup(void **state)
{
    (void)state;
    char path[1024];
    shared_data_path(path, sizeof(path), "models/vocab/ggml-vocab-deepseek-llm.gguf");
    cc_err err = {0};
    vocab = engine_model_load_vocab(path, &err);
    if (!vocab) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    sorted = engine_gvocab_new(vocab);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    engine_gvocab_free(sorted);
    engine_model_free(vocab);
    return 0;
}

static engine_grammar *schema_grammar(const char *schema_json)
{
    json_error_t je;
    json_t *s = schema_json ? json_loads(schema_json, 0, &je) : NULL;
    if (schema_json && !s) fail_msg("bad test schema: %s", je.text);
    cc_err err = {0};
    const char *bad = NULL;
    engine_grammar *g = engine_grammar_from_json_schema(s, &bad, &err);
    if (!g) fail_msg("schema refused (%s): %s", bad ? bad : "-", err.msg);
    json_decref(s);
    return g;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Walks `steps` tokens through g with three matchers (automaton, none, a tiny one), comparing
 * their masks at every step; the path picks allowed tokens at random, preferring short ones
 * now and then so that strings and objects also close. Returns the number of masks compared. */
static int compare_paths(const engine_grammar *g, uint64_t seed, int steps)
{
    int n_vocab = engine_model_hparams(vocab)->n_vocab;
    eng_gmatch *fast = eng_gmatch_new(g, vocab, sorted);
    eng_gmatch *slow = eng_gmatch_new(g, vocab, sorted);
    eng_gmatch *tiny = eng_gmatch_new(g, vocab, sorted);
    eng_gmatch_limit_states(slow, 0);
    eng_gmatch_limit_states(tiny, 3);
    uint8_t *a = malloc((size_t)n_vocab), *b = malloc((size_t)n_vocab),
            *c = malloc((size_t)n_vocab);
    int32_t *allowed = malloc((size_t)n_vocab * sizeof(int32_t));
    int compared = 0;
    for (int step = 0; step < steps; step++) {
        size_t na = eng_gmatch_mask(fast, a), nb = eng_gmatch_mask(slow, b),
               nc = eng_gmatch_mask(tiny, c);
        assert_int_equal(na, nb);
        assert_int_equal(nc, nb);
        assert_memory_equal(a, b, (size_t)n_vocab);
        assert_memory_equal(c, b, (size_t)n_vocab);
        compared++;
        size_t n = 0;
        for (int32_t id = 0; id < n_vocab; id++)
            if (a[id] && !engine_model_is_end(vocab, id)) allowed[n++] = id;
        if (!n) break;
        int32_t pick = allowed[next_rand(&seed) % n];
        if (next_rand(&seed) % 3 == 0) { /* a short one: closes strings and objects sooner */
            size_t len, best = SIZE_MAX;
            for (int k = 0; k < 64; k++) {
                int32_t id = allowed[next_rand(&seed) % n];
                engine_token_text(vocab, id, &len);
                if (len < best) best = len, pick = id;
            }
        }
        /* One by one, the matchers agree with their masks. */
        for (int k = 0; k < 16; k++) {
            int32_t id = (int32_t)(next_rand(&seed) % (uint64_t)n_vocab);
            assert_int_equal(eng_gmatch_token_ok(fast, id), b[id] != 0);
            assert_int_equal(eng_gmatch_token_ok(tiny, id), b[id] != 0);
        }
        assert_true(eng_gmatch_accept(fast, pick));
        assert_true(eng_gmatch_accept(slow, pick));
        assert_true(eng_gmatch_accept(tiny, pick));
    }
    /* The tiny automaton did fill up midway (so the fall-back path was compared); the
     * states-only matcher never built one to fill. */
    if (compared > 1) assert_true(eng_gmatch_fallbacks(tiny) > 0);
    assert_int_equal(eng_gmatch_fallbacks(slow), 0);
    free(a);
    free(b);
    free(c);
    free(allowed);
    eng_gmatch_free(fast);
    eng_gmatch_free(slow);
    eng_gmatch_free(tiny);
    return compared;
}

static void test_any_object(void **state)
{
    (void)state;
    engine_grammar *g = schema_grammar(NULL);
    for (uint64_t seed = 1; seed <= 2; seed++)
        assert_true(compare_paths(g, seed * 0x9E3779B97F4A7C15ull, 8) >= 2);
    engine_grammar_free(g);
}

static void test_schema(void **state)
{
    (void)state;
    engine_grammar *g = schema_grammar(
        "{\"type\":\"object\",\"properties\":{"
        "\"name\":{\"type\":\"string\",\"maxLength\":12},"
        "\"age\":{\"type\":\"integer\"},"
        "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\",7]},\"maxItems\":3}},"
        "\"required\":[\"name\",\"age\"],\"additionalProperties\":false}");
    for (uint64_t seed = 1; seed <= 2; seed++)
        assert_true(compare_paths(g, seed * 0xD1B54A32D192ED03ull, 8) >= 2);
    engine_grammar_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_any_object),
        cmocka_unit_test(test_schema),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
