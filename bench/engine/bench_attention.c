/*
 * A prompt batch's attention on one thread: one layer of the synthetic 134M model's shape
 * (12 heads of 64 values, no grouping) for a batch of 64 tokens ending at position P, over
 * an F16 and a Q8_0 cache, three ways measured in the same run, interleaved:
 *   per_query: one (token, head) at a time, token by token (att_worker before the tiles);
 *   head_major: one query at a time, head by head (the tiles' order without the tiles);
 *   tiles: eng_attend_tile / eng_attend_q8_tile, four tokens of one head per tile.
 * Thread CPU time, the median of REPS rounds. JSON lines, one per cache and P:
 *   {"bench":"attention","kv":"f16","pos":512,"per_query_ms":..,"head_major_ms":..,
 *    "tiles_ms":..,"speedup":..}
 * And generation under grouped-query attention (one token, GROUP query heads per KV head,
 * 12 query heads): the group's queries one at a time against one tile of GROUP:
 *   {"bench":"attention_gen","kv":"f16","group":2,"pos":512,"per_query_us":..,"tile_us":..}
 * usage: bench_attention [REPS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine_int.h"

enum { HEADS = 12, HD = 64, KVD = HEADS * HD, BATCH = 64, MAXPOS = 2048, WAYS = 3 };

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct cache {
    bool q8;
    uint16_t *kh, *vh, *kd, *vd;
    int8_t *kq, *vq;
    int dstride;
} cache;

static void one(const cache *c, const float *q, int h, int len, float *sc, float *out)
{
    float scale = 1.0f / 8.0f;
    size_t off = (size_t)h * HD;
    if (c->q8)
        eng_attend_q8(q, c->kq + off, c->kd + (size_t)h * 2, c->vq + off, c->vd + (size_t)h * 2,
                      KVD, c->dstride, HD, len, scale, sc, out);
    else
        eng_attend(q, c->kh + off, c->vh + off, KVD, HD, len, scale, sc, out);
}

/* The batch's attention one way; p0 is the first token's position. */
static void run(const cache *c, int way, int p0, const float *q, float *sc, float *out)
{
    if (way == 0)
        for (int t = 0; t < BATCH; t++)
            for (int h = 0; h < HEADS; h++)
                one(c, q + (size_t)t * KVD + h * HD, h, p0 + t + 1, sc,
                    out + (size_t)t * KVD + h * HD);
    else if (way == 1)
        for (int h = 0; h < HEADS; h++)
            for (int t = 0; t < BATCH; t++)
                one(c, q + (size_t)t * KVD + h * HD, h, p0 + t + 1, sc,
                    out + (size_t)t * KVD + h * HD);
    else
        for (int h = 0; h < HEADS; h++)
            for (int t = 0; t < BATCH; t += ENG_ATT_TILE) {
                eng_att_tile tl = {.n = ENG_ATT_TILE, .scale = 1.0f / 8.0f};
                for (int j = 0; j < ENG_ATT_TILE; j++) {
                    tl.q[j] = q + (size_t)(t + j) * KVD + h * HD;
                    tl.out[j] = out + (size_t)(t + j) * KVD + h * HD;
                    tl.len[j] = p0 + t + j + 1;
                    tl.sc[j] = sc + (size_t)j * MAXPOS;
                }
                size_t off = (size_t)h * HD;
                if (c->q8)
                    eng_attend_q8_tile(&tl, c->kq + off, c->kd + (size_t)h * 2, c->vq + off,
                                       c->vd + (size_t)h * 2, KVD, c->dstride, HD);
                else
                    eng_attend_tile(&tl, c->kh + off, c->vh + off, KVD, HD);
            }
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 9;
    if (reps < 1) reps = 1;
    size_t n = (size_t)MAXPOS * KVD;
    float *x = malloc(n * sizeof(float));
    uint64_t seed = 7;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(seed >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
    }
    cache f = {.q8 = false}, q8 = {.q8 = true, .dstride = HEADS * 2};
    f.kh = malloc(n * 2);
    f.vh = malloc(n * 2);
    eng_f16_store(f.kh, x, (int)n);
    eng_f16_store(f.vh, x, (int)n); /* values as keys: the cost does not depend on them */
    q8.kq = malloc(n);
    q8.vq = malloc(n);
    q8.kd = malloc((size_t)MAXPOS * q8.dstride * 2);
    q8.vd = malloc((size_t)MAXPOS * q8.dstride * 2);
    for (int p = 0; p < MAXPOS; p++)
        for (int h = 0; h < HEADS; h++) {
            size_t at = (size_t)p * KVD + h * HD, d = (size_t)p * q8.dstride + h * 2;
            eng_kvq_store(q8.kq + at, q8.kd + d, x + at, HD);
            eng_kvq_store(q8.vq + at, q8.vd + d, x + at, HD);
        }
    float *q = malloc((size_t)BATCH * KVD * sizeof(float));
    float *out = malloc((size_t)BATCH * KVD * sizeof(float));
    float *sc = malloc((size_t)ENG_ATT_TILE * MAXPOS * sizeof(float));
    for (size_t i = 0; i < (size_t)BATCH * KVD; i++)
        q[i] = x[i * 7 % n] * 3;
    const int ends[] = {128, 512, 2048};
    for (int ci = 0; ci < 2; ci++)
        for (size_t e = 0; e < sizeof(ends) / sizeof(ends[0]); e++) {
            const cache *c = ci ? &q8 : &f;
            int p0 = ends[e] - BATCH;
            double *ms = malloc((size_t)reps * WAYS * sizeof(double));
            for (int r = 0; r < reps; r++)
                for (int w = 0; w < WAYS; w++) {
                    double t0 = cpu_ms();
                    run(c, w, p0, q, sc, out);
                    ms[w * reps + r] = cpu_ms() - t0;
                }
            double med[WAYS];
            for (int w = 0; w < WAYS; w++) {
                qsort(ms + w * reps, (size_t)reps, sizeof(double), cmp_double);
                med[w] = ms[w * reps + reps / 2];
            }
            printf("{\"bench\":\"attention\",\"kv\":\"%s\",\"pos\":%d,\"per_query_ms\":%.3f,"
                   "\"head_major_ms\":%.3f,\"tiles_ms\":%.3f,\"speedup\":%.2f}\n",
                   ci ? "q8_0" : "f16", ends[e], med[0], med[1], med[2], med[0] / med[2]);
            free(ms);
        }
    /* Generation with grouped heads: 100 steps per measurement (one is a few microseconds). */
    const int groups[] = {2, 3, 4}, gens[] = {512, 2048};
    for (int ci = 0; ci < 2; ci++)
        for (size_t gi = 0; gi < 3; gi++)
            for (size_t e = 0; e < 2; e++) {
                const cache *c = ci ? &q8 : &f;
                int group = groups[gi], len = gens[e];
                double *ms = malloc((size_t)reps * 2 * sizeof(double));
                for (int r = 0; r < reps; r++)
                    for (int w = 0; w < 2; w++) {
                        double t0 = cpu_ms();
                        for (int step = 0; step < 100; step++)
                            for (int g = 0; g < HEADS / group; g++) {
                                eng_att_tile tl = {.n = group, .scale = 1.0f / 8.0f};
                                for (int j = 0; j < group; j++) {
                                    tl.q[j] = q + (size_t)(g * group + j) * HD;
                                    tl.out[j] = out + (size_t)(g * group + j) * HD;
                                    tl.len[j] = len;
                                    tl.sc[j] = sc + (size_t)j * MAXPOS;
                                }
                                size_t off = (size_t)g * HD;
                                if (w == 0)
                                    for (int j = 0; j < group; j++)
                                        one(c, tl.q[j], g, len, sc, tl.out[j]);
                                else if (c->q8)
                                    eng_attend_q8_tile(&tl, c->kq + off, c->kd + (size_t)g * 2,
                                                       c->vq + off, c->vd + (size_t)g * 2, KVD,
                                                       c->dstride, HD);
                                else
                                    eng_attend_tile(&tl, c->kh + off, c->vh + off, KVD, HD);
                            }
                        ms[w * reps + r] = (cpu_ms() - t0) * 10; /* us per step */
                    }
                double med[2];
                for (int w = 0; w < 2; w++) {
                    qsort(ms + w * reps, (size_t)reps, sizeof(double), cmp_double);
                    med[w] = ms[w * reps + reps / 2];
                }
                printf("{\"bench\":\"attention_gen\",\"kv\":\"%s\",\"group\":%d,\"pos\":%d,"
                       "\"per_query_us\":%.1f,\"tile_us\":%.1f}\n",
                       ci ? "q8_0" : "f16", group, len, med[0], med[1]);
                free(ms);
            }
    free(x);
    free(q);
    free(out);
    free(sc);
    return 0;
}
