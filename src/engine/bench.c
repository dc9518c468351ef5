/*
 * Benchmark helpers for `cocoon engine bench`: prompt and generation speed
 * of a model, and the machine's streaming-read memory bandwidth (what a
 * large model's generation speed is bound by).
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2"))) static double sum_avx2(const float *p, size_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    return (double)t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#endif

static double sum_portable(const float *p, size_t n)
{
    float s[8] = {0};
    for (size_t i = 0; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += p[i + k];
    return (double)s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

typedef struct bw_job {
    const float *p;
    size_t per;          /* floats per chunk */
    _Atomic int arrived; /* chunks that have started */
    double start[256], end[256], sums[256];
} bw_job;

/* One chunk per thread. Each chunk first waits until every chunk has
 * started: a thread busy waiting inside its chunk cannot claim another, so
 * the chunks run on distinct threads and read memory at the same time
 * (otherwise the calling thread often did both before a worker woke up, and
 * the figure was one thread's bandwidth). */
static void bw_worker(void *arg, int chunk, int n_chunks, int thread)
{
    (void)thread;
    bw_job *j = arg;
    atomic_fetch_add(&j->arrived, 1);
    for (int spins = 0; atomic_load(&j->arrived) < n_chunks; spins++)
        if (spins > 1000) sched_yield();
    const float *p = j->p + j->per * (size_t)chunk;
    j->start[chunk] = cc_now_mono();
#if defined(__x86_64__)
    j->sums[chunk] = eng_cpu_avx2() ? sum_avx2(p, j->per) : sum_portable(p, j->per);
#else
    j->sums[chunk] = sum_portable(p, j->per);
#endif
    j->end[chunk] = cc_now_mono();
}

double engine_bench_bandwidth(engine_pool *pool, size_t bytes, int reps)
{
    size_t n = bytes / sizeof(float) / 32 * 32;
    float *p = aligned_alloc(64, n * sizeof(float));
    if (!p) return 0;
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(i & 7);
    int threads = pool ? CC_MIN(engine_pool_threads(pool), 256) : 1;
    double best = 0, sink = 0;
    bw_job *j = cc_calloc(1, sizeof(*j));
    for (int r = 0; r < reps; r++) {
        j->p = p;
        j->per = n / (size_t)threads / 32 * 32;
        atomic_store(&j->arrived, 0);
        if (threads > 1)
            engine_pool_run(pool, threads, bw_worker, j);
        else
            bw_worker(j, 0, 1, 0);
        /* From the first start to the last end: every thread's read counts
         * over the time all of them took. */
        double t0 = j->start[0], t1 = j->end[0];
        for (int k = 0; k < threads; k++) {
            t0 = CC_MIN(t0, j->start[k]);
            t1 = CC_MAX(t1, j->end[k]);
            sink += j->sums[k];
        }
        double gbs = (double)(j->per * (size_t)threads * sizeof(float)) / (t1 - t0) / 1e9;
        if (gbs > best) best = gbs;
    }
    free(j);
    free(p);
    return sink == -1 ? 0 : best; /* sink keeps the sums from being optimised away */
}

int engine_bench_run(const engine_model *m, engine_pool *pool, int n_prompt, int n_gen, int reps,
                     int n_seq, engine_kv_type kv, engine_bench_result *out, cc_err *err)
{
    memset(out, 0, sizeof(*out));
    const engine_hparams *hp = engine_model_hparams(m);
    engine_ctx *c = engine_ctx_new_kv(m, pool, n_prompt + n_gen + 1, kv, err);
    if (!c) return -1;
    int32_t *toks = cc_malloc((size_t)(n_prompt > 0 ? n_prompt : 1) * sizeof(int32_t));
    uint64_t rng = 42;
    for (int i = 0; i < n_prompt; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((rng >> 33) % (uint64_t)hp->n_vocab);
    }
    int rc = -1;
    for (int r = 0; r < reps; r++) {
        if (n_prompt > 0) {
            engine_ctx_truncate(c, 0);
            double t0 = cc_now_mono();
            if (!engine_ctx_eval(c, toks, (size_t)n_prompt, err)) goto done;
            double tps = n_prompt / (cc_now_mono() - t0);
            if (tps > out->prompt_tok_s) out->prompt_tok_s = tps;
        }
        if (n_gen > 0) {
            engine_ctx_truncate(c, 0);
            int32_t tok = engine_model_bos(m) >= 0 ? engine_model_bos(m) : 0;
            double t0 = cc_now_mono();
            for (int i = 0; i < n_gen; i++) {
                const float *lg = engine_ctx_eval(c, &tok, 1, err);
                if (!lg) goto done;
                int32_t best = 0; /* greedy, as a real generation would */
                for (int k = 1; k < hp->n_vocab; k++)
                    if (lg[k] > lg[best]) best = k;
                tok = best;
            }
            double tps = n_gen / (cc_now_mono() - t0);
            if (tps > out->gen_tok_s) out->gen_tok_s = tps;
        }
    }
    if (n_seq > 1 && n_gen > 0) {
        /* n_seq sequences generating together (the server's slots). */
        engine_ctx **cs = cc_calloc((size_t)n_seq, sizeof(engine_ctx *));
        int32_t *next = cc_calloc((size_t)n_seq, sizeof(int32_t));
        int ok = 1;
        for (int i = 0; i < n_seq && ok; i++) {
            cs[i] = engine_ctx_new_kv(m, pool, n_gen + 2, kv, err);
            next[i] = (int32_t)((uint64_t)(i * 7 + 1) % (uint64_t)hp->n_vocab);
            ok = cs[i] && engine_ctx_eval(cs[i], &next[i], 1, err);
        }
        double t0 = cc_now_mono();
        for (int g = 0; g < n_gen && ok; g++)
            ok = engine_ctx_decode_batch(cs, next, n_seq, err) == 0;
        if (ok) out->batch_tok_s = (double)n_seq * n_gen / (cc_now_mono() - t0);
        for (int i = 0; i < n_seq; i++)
            engine_ctx_free(cs[i]);
        free(cs);
        free(next);
        if (!ok) goto done;
    }
    out->weight_bytes = engine_model_weight_bytes(m);
    out->weights_gb_s = out->gen_tok_s * (double)out->weight_bytes / 1e9;
    rc = 0;
done:
    free(toks);
    engine_ctx_free(c);
    return rc;
}
