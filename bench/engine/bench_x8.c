/*
 * The packed Q8_0 / Q4_0 / Q4_K / Q6_K tiles of each kind this CPU has (AVX2, AVX-VNNI,
 * AVX-512 VNNI) on the same matrix and inputs, by the calling thread's CPU
 * time (so other jobs on a shared machine count less than in wall time):
 * the kinds alternate, ROUNDS rounds, best of them per kind. JSON lines:
 *   {"bench":"x8","type":"Q8_0","rows":R,"cols":C,"inputs":N,
 *    "us":{"avx2":..,"avxvnni":..,"avx512vnni":..},"loadavg":..}
 * (a kind this CPU or build lacks is null).
 * usage: bench_x8 ROWS COLS INPUTS [REPS] [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/engine_int.h"

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_x8 ROWS COLS INPUTS [REPS] [ROUNDS]\n");
        return 2;
    }
    int R = atoi(argv[1]), C = atoi(argv[2]), n = atoi(argv[3]);
    int reps = argc > 4 ? atoi(argv[4]) : 100, rounds = argc > 5 ? atoi(argv[5]) : 7;
    if (R < 8 || C < 32 || C % 32 || n < 1 || reps < 1 || rounds < 1) {
        fprintf(stderr, "bench_x8: ROWS >= 8, COLS a multiple of 32, INPUTS >= 1\n");
        return 2;
    }
    static const char *const kinds[] = {"avx2", "avxvnni", "avx512vnni"};
    static const uint32_t types[] = {ENGINE_T_Q8_0, ENGINE_T_Q4_0, ENGINE_T_Q4_K,
                                     ENGINE_T_Q6_K}; /* cols % 256 for Q4_K and Q6_K */
    int nb = C / 32;
    float *w = malloc(sizeof(float) * (size_t)C), *x = malloc(sizeof(float) * (size_t)C * n);
    float *y = malloc(sizeof(float) * (size_t)R * n);
    uint8_t *q = malloc((size_t)R * (size_t)C * 2);
    eng_q8x *xq = malloc(sizeof(eng_q8x) * (size_t)nb * n);
    if (!w || !x || !y || !q || !xq) return 1;
    srand(1);
    for (size_t k = 0; k < (size_t)C * n; k++)
        x[k] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        size_t rb = 0;
        for (int r = 0; r < R; r++) {
            for (int k = 0; k < C; k++)
                w[k] = (float)rand() / RAND_MAX - 0.5f;
            rb = engine_quant_row(types[t], w, q + (size_t)r * rb, C);
        }
        int packed = eng_pack_rows8(types[t], q, R, C, rb);
        if (!packed) {
            fprintf(stderr, "bench_x8: nothing packed (no AVX2?)\n");
            return 1;
        }
        eng_tensor W = {types[t], R, C, rb, q, packed};
        for (int i = 0; i < n; i++)
            eng_avx2_quantize_x(types[t], x + (size_t)i * C, C, xq + (size_t)i * nb);
        double best[3] = {-1, -1, -1};
        for (int round = 0; round < rounds; round++)
            for (int k = 0; k < 3; k++) {
                double t0 = cpu_s();
                bool have = true;
                for (int i = 0; i < reps && have; i++)
                    have = eng_x8_rows_kind(k, &W, xq, n, y, (size_t)R, 0, packed);
                double dt = cpu_s() - t0;
                if (have && (best[k] < 0 || dt < best[k])) best[k] = dt;
            }
        double load[1] = {0};
        getloadavg(load, 1);
        printf("{\"bench\":\"x8\",\"type\":\"%s\",\"rows\":%d,\"cols\":%d,\"inputs\":%d,\"us\":{",
               engine_ttype_name(types[t]), R, C, n);
        for (int k = 0; k < 3; k++) {
            if (best[k] < 0)
                printf("%s\"%s\":null", k ? "," : "", kinds[k]);
            else
                printf("%s\"%s\":%.2f", k ? "," : "", kinds[k], best[k] * 1e6 / reps);
        }
        printf("},\"loadavg\":%.2f}\n", load[0]);
    }
    free(w);
    free(x);
    free(y);
    free(q);
    free(xq);
    return 0;
}
