/*
 * Sampling and generation on the real model: temperature 0 and top-k 1 are
 * the reference greedy text, a seed reproduces its text, stop strings cut,
 * max tokens is honoured, log-probabilities are consistent; penalties and
 * top-p/min-p checked on hand-made logits.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "../shared_data.h"

static const char *greedy_text =
    ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw";

static engine_model *model;
static engine_pool *pool;

static int setup(void **state)
{
    (void)state;
    char path[1024];
    shared_data_path(path, sizeof(path), "models/stories260K.gguf");
    cc_err err = {0};
    model = engine_model_load(path, &err);
    if (!model) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    pool = engine_pool_new(1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    engine_model_free(model);
    engine_pool_free(pool);
    return 0;
}

typedef struct result {
    char *text;
    size_t n_gen;
    engine_finish finish;
    size_t cached;
} result;

static result generate(engine_ctx *c, const char *prompt, const engine_seq_params *p,
                       engine_logprob *lps)
{
    engine_tokens t = {0};
    cc_err err = {0};
    assert_int_equal(engine_tokenize(model, prompt, strlen(prompt), true, false, &t, &err), 0);
    engine_seq *s = engine_seq_new(c, &t, p, &err);
    if (!s) fail_msg("%s", err.msg);
    cc_buf out = CC_BUF_INIT;
    engine_step st;
    result r = {0};
    size_t k = 0;
    do {
        assert_int_equal(engine_seq_step(s, &out, &st, &err), 0);
        if (st.has_token && lps) lps[k++] = st.lp;
    } while (!st.finished);
    r.finish = st.finish;
    r.n_gen = engine_seq_generated(s);
    r.cached = engine_seq_cached_tokens(s);
    cc_buf_append_u8(&out, 0);
    r.text = (char *)out.data;
    engine_seq_free(s);
    engine_tokens_free(&t);
    return r;
}

static engine_seq_params params(float temp, int top_k, uint64_t seed, int64_t max_tokens)
{
    engine_seq_params p;
    memset(&p, 0, sizeof(p));
    engine_sample_params_default(&p.sp);
    p.sp.temperature = temp;
    p.sp.top_k = top_k;
    p.sp.seed = seed;
    p.max_tokens = max_tokens;
    return p;
}

static void test_greedy_and_top_k1(void **state)
{
    (void)state;
    cc_err err = {0};
    engine_ctx *c = engine_ctx_new(model, pool, 512, &err);
    engine_seq_params p = params(0, 0, 1, 32);
    result r = generate(c, "Once upon a time", &p, NULL);
    assert_string_equal(r.text, greedy_text);
    assert_int_equal(r.n_gen, 32);
    assert_int_equal(r.finish, ENGINE_FINISH_LENGTH);
    free(r.text);
    /* top-k 1 at a high temperature is still greedy; the prompt is now cached. */
    p = params(1.5f, 1, 99, 32);
    r = generate(c, "Once upon a time", &p, NULL);
    assert_string_equal(r.text, greedy_text);
    assert_int_equal(r.cached, 4);
    free(r.text);
    engine_ctx_free(c);
}

static void test_seed_reproducible(void **state)
{
    (void)state;
    cc_err err = {0};
    engine_ctx *c = engine_ctx_new(model, pool, 512, &err);
    engine_seq_params p = params(1.0f, 0, 1234, 48);
    result a = generate(c, "Once upon a time", &p, NULL);
    result b = generate(c, "Once upon a time", &p, NULL);
    assert_string_equal(a.text, b.text);
    p.sp.seed = 4321;
    result d = generate(c, "Once upon a time", &p, NULL);
    assert_string_not_equal(a.text, d.text);
    p.sp.seed = 1234;
    p.sp.top_p = 0.9f;
    p.sp.min_p = 0.05f;
    p.sp.top_k = 40;
    result e = generate(c, "Once upon a time", &p, NULL);
    result f = generate(c, "Once upon a time", &p, NULL);
    assert_string_equal(e.text, f.text);
    free(a.text);
    free(b.text);
    free(d.text);
    free(e.text);
    free(f.text);
    engine_ctx_free(c);
}

static void test_stop_and_max_tokens(void **state)
{
    (void)state;
    cc_err err = {0};
    engine_ctx *c = engine_ctx_new(model, pool, 512, &err);
    engine_seq_params p = params(0, 0, 1, 100);
    const char *stops[] = {"zzz", "girl named"};
    p.stops = stops;
    p.n_stops = 2;
    result r = generate(c, "Once upon a time", &p, NULL);
    assert_string_equal(r.text, ", there was a little ");
    assert_int_equal(r.finish, ENGINE_FINISH_STOP);
    free(r.text);
    p = params(0, 0, 1, 5);
    r = generate(c, "Once upon a time", &p, NULL);
    assert_int_equal(r.n_gen, 5);
    assert_int_equal(r.finish, ENGINE_FINISH_LENGTH);
    assert_string_equal(r.text, ", there was a little");
    free(r.text);
    /* Unlimited: the story ends with the model's end token (BOS). */
    p = params(0, 0, 1, 0);
    r = generate(c, "Once upon a time", &p, NULL);
    assert_int_equal(r.finish, ENGINE_FINISH_STOP);
    assert_int_equal(r.n_gen, 342); /* 341 tokens of text + the end token */
    free(r.text);
    engine_ctx_free(c);
}

static void test_logprobs(void **state)
{
    (void)state;
    cc_err err = {0};
    engine_ctx *c = engine_ctx_new(model, pool, 512, &err);
    engine_seq_params p = params(0, 0, 1, 8);
    p.logprobs = true;
    p.sp.top_logprobs = 3;
    engine_logprob lps[8];
    result r = generate(c, "Once upon a time", &p, lps);
    free(r.text);
    assert_int_equal(lps[0].id, 432);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(lps[i].n_top, 3);
        assert_int_equal(lps[i].top_ids[0], lps[i].id); /* greedy picks the top one */
        assert_true(lps[i].logprob <= 0);
        assert_true(fabsf(lps[i].top_logprobs[0] - lps[i].logprob) < 1e-6f);
        assert_true(lps[i].top_logprobs[0] >= lps[i].top_logprobs[1]);
        assert_true(lps[i].top_logprobs[1] >= lps[i].top_logprobs[2]);
    }
    /* Reference logits: 17.7994 vs 14.2813 for the two best first tokens. */
    assert_true(fabsf((lps[0].top_logprobs[0] - lps[0].top_logprobs[1]) - 3.5181f) < 2e-2f);
    assert_int_equal(lps[0].top_ids[1], 383);
    engine_ctx_free(c);
}

static void test_sampler_rules(void **state)
{
    (void)state;
    float logits[8] = {5, 4.9f, 0, 0, 0, 0, 0, 0};
    engine_sample_params sp;
    engine_sample_params_default(&sp);
    sp.temperature = 0;
    engine_sampler *s = engine_sampler_new(&sp, 8);
    int32_t hist[3] = {0, 0, 0};
    assert_int_equal(engine_sampler_sample(s, logits, hist, 0, 0, NULL), 0);
    engine_sampler_free(s);
    /* The repetition penalty moves the choice away from a repeated token. */
    sp.repeat_penalty = 1.5f;
    s = engine_sampler_new(&sp, 8);
    assert_int_equal(engine_sampler_sample(s, logits, hist, 3, 0, NULL), 1);
    engine_sampler_free(s);
    /* Presence penalty applies only to generated tokens. */
    engine_sample_params_default(&sp);
    sp.temperature = 0;
    sp.presence_penalty = 0.5f;
    s = engine_sampler_new(&sp, 8);
    assert_int_equal(engine_sampler_sample(s, logits, hist, 3, 0, NULL), 0);
    assert_int_equal(engine_sampler_sample(s, logits, hist, 3, 1, NULL), 1);
    engine_sampler_free(s);
    sp.presence_penalty = 0;
    sp.frequency_penalty = 0.04f; /* 3 x 0.04 = 0.12 > 0.1 */
    s = engine_sampler_new(&sp, 8);
    assert_int_equal(engine_sampler_sample(s, logits, hist, 3, 2, NULL), 0);
    assert_int_equal(engine_sampler_sample(s, logits, hist, 3, 3, NULL), 1);
    engine_sampler_free(s);
    /* top-p 0.4 keeps only the best token; min-p 0.95 too; without them
     * both of the two close tokens come up. */
    engine_sample_params_default(&sp);
    int seen[2] = {0, 0};
    for (uint64_t seed = 0; seed < 200; seed++) {
        sp.seed = seed;
        sp.top_p = 0.4f;
        s = engine_sampler_new(&sp, 8);
        assert_int_equal(engine_sampler_sample(s, logits, hist, 0, 0, NULL), 0);
        engine_sampler_free(s);
        sp.top_p = 1;
        sp.min_p = 0.95f;
        s = engine_sampler_new(&sp, 8);
        assert_int_equal(engine_sampler_sample(s, logits, hist, 0, 0, NULL), 0);
        engine_sampler_free(s);
        sp.min_p = 0;
        s = engine_sampler_new(&sp, 8);
        int32_t t = engine_sampler_sample(s, logits, hist, 0, 0, NULL);
        assert_true(t >= 0 && t < 8);
        if (t < 2) seen[t]++;
        engine_sampler_free(s);
    }
    assert_true(seen[0] > 50 && seen[1] > 50);
}

/* OpenAI's logit_bias: -100 bans the best token, +100 forces another even when sampling, ids
 * outside the vocabulary are ignored, and log-probabilities stay the model's own. The sampler keeps
 * its own copy of the bias arrays. */
static void test_logit_bias(void **state)
{
    (void)state;
    float logits[8] = {5, 4.9f, 0, 0, 0, 0, 0, 0};
    int32_t hist[1] = {0};
    int32_t ids[3] = {0, 42, -1};
    float vals[3] = {-100, 7, 7};
    engine_sample_params sp;
    engine_sample_params_default(&sp);
    sp.temperature = 0;
    sp.bias_ids = ids;
    sp.bias_values = vals;
    sp.n_bias = 3;
    engine_sampler *s = engine_sampler_new(&sp, 8);
    ids[0] = 5; /* changing the caller's array afterwards changes nothing */
    engine_logprob lp;
    assert_int_equal(engine_sampler_sample(s, logits, hist, 0, 0, &lp), 1);
    assert_true(fabsf(lp.logprob - (4.9f - 5.0f - logf(1 + expf(-0.1f) + 6 * expf(-5)))) < 1e-4f);
    engine_sampler_free(s);
    /* +100 on token 6 wins every draw at temperature 1. */
    ids[0] = 6;
    vals[0] = 100;
    engine_sample_params_default(&sp);
    sp.bias_ids = ids;
    sp.bias_values = vals;
    sp.n_bias = 1;
    for (uint64_t seed = 0; seed < 50; seed++) {
        sp.seed = seed;
        s = engine_sampler_new(&sp, 8);
        assert_int_equal(engine_sampler_sample(s, logits, hist, 0, 0, NULL), 6);
        engine_sampler_free(s);
    }
}

static void test_detok_utf8_and_stops(void **state)
{
    (void)state;
    /* "中" arrives as three byte tokens: nothing is released until the
     * character is complete. */
    const char *stops[] = {"ab"};
    engine_detok *d = engine_detok_new(model, stops, 1);
    cc_buf out = CC_BUF_INIT;
    assert_false(engine_detok_push(d, 3 + 0xE4, 0, &out));
    assert_int_equal(out.len, 0);
    assert_false(engine_detok_push(d, 3 + 0xB8, 0, &out));
    assert_int_equal(out.len, 0);
    assert_false(engine_detok_push(d, 3 + 0xAD, 0, &out));
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "\xE4\xB8\xAD", 3);
    /* "a" might start the stop string "ab": held back, then released at the end. */
    assert_false(engine_detok_push(d, 3 + 'a', 0, &out));
    assert_int_equal(out.len, 3);
    engine_detok_flush(d, &out);
    assert_int_equal(out.len, 4);
    /* After BOS the SentencePiece leading space is dropped. */
    cc_buf_reset(&out);
    assert_false(engine_detok_push(d, 403, 1, &out));
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.data, "Once", 4);
    cc_buf_free(&out);
    engine_detok_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_and_top_k1),    cmocka_unit_test(test_seed_reproducible),
        cmocka_unit_test(test_stop_and_max_tokens),  cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_sampler_rules),        cmocka_unit_test(test_logit_bias),
        cmocka_unit_test(test_detok_utf8_and_stops),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
