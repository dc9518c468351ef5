/*
 * The F16 row kernels (AVX2 and, where the CPU has it, AVX-512) over MB
 * megabytes of half-float weights cut into matrices of ROWS x COLS (so the
 * weights come from memory, as in a model, unless MB is small), against
 * INPUTS inputs, by the calling thread's CPU time (other jobs on a shared
 * machine count less than in wall time): the kinds alternate, ROUNDS rounds,
 * best of them per kind. JSON lines:
 *   {"bench":"f16","rows":R,"cols":C,"inputs":N,"mb":M,
 *    "gflops":{"avx2":..,"avx512":..},"gb_s":{..},"loadavg":..}
 * (a kind this CPU lacks is null).
 * usage: bench_f16 ROWS COLS INPUTS MB [ROUNDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "engine/engine_int.h"

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef void (*f16_rows_fn)(const uint16_t *W, int cols, const float *X, int n, size_t ldx,
                            float *Y, size_t ldy, int r0, int r1, float *wide);

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_f16 ROWS COLS INPUTS MB [ROUNDS]\n");
        return 2;
    }
    int R = atoi(argv[1]), C = atoi(argv[2]), n = atoi(argv[3]);
    double mb = atof(argv[4]);
    int rounds = argc > 5 ? atoi(argv[5]) : 5;
    size_t per = (size_t)R * C;
    int mats = (int)(mb * 1e6 / (2.0 * (double)per));
    if (R < 8 || C < 32 || C % 32 || n < 1 || n > 64 || mats < 1 || rounds < 1) {
        fprintf(stderr, "bench_f16: ROWS >= 8, COLS a multiple of 32, 1 <= INPUTS <= 64, MB at "
                        "least one matrix\n");
        return 2;
    }
    if (!eng_cpu_avx2()) {
        fprintf(stderr, "bench_f16: no AVX2 on this CPU\n");
        return 1;
    }
    /* On 2 MB pages where the system has them, as a model's weights are
     * (hugemem.c). */
    size_t wbytes = (2 * per * (size_t)mats + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    uint16_t *W = aligned_alloc(2u << 20, wbytes);
    if (!W) return 1;
    (void)madvise(W, wbytes, MADV_HUGEPAGE);
    float *X = malloc(sizeof(float) * (size_t)C * n), *Y = malloc(sizeof(float) * (size_t)R * n);
    float *wide = malloc(sizeof(float) * ENG_SCRATCH_FLOATS(n, C));
    uint32_t s = 1;
    for (size_t i = 0; i < per * (size_t)mats; i++) {
        s = s * 1664525u + 1013904223u;
        W[i] = engine_f32_to_f16((float)(s >> 8) / 16777216.0f - 0.5f);
    }
    for (size_t i = 0; i < (size_t)C * n; i++)
        X[i] = (float)(i % 13) / 13.0f - 0.5f;
    static const char *const kinds[] = {"avx2", "avx512"};
    f16_rows_fn fns[] = {eng_avx2_f16_rows, eng_cpu_avx512() ? eng_avx512_f16_rows : NULL};
    double best[2] = {0, 0};
    for (int round = 0; round < rounds; round++)
        for (int k = 0; k < 2; k++) {
            if (!fns[k]) continue;
            double t0 = cpu_s();
            for (int m = 0; m < mats; m++)
                fns[k](W + per * (size_t)m, C, X, n, (size_t)C, Y, (size_t)R, 0, R,
                       n >= 8 ? wide : NULL);
            double t = cpu_s() - t0;
            if (round == 0 || t < best[k]) best[k] = t;
        }
    double flop = 2.0 * (double)per * mats * n, bytes = 2.0 * (double)per * mats, load = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &load) != 1) load = 0;
        fclose(f);
    }
    printf("{\"bench\":\"f16\",\"rows\":%d,\"cols\":%d,\"inputs\":%d,\"mb\":%.0f,\"gflops\":{", R,
           C, n, bytes * 1e-6);
    for (int k = 0; k < 2; k++)
        fns[k] ? printf("%s\"%s\":%.1f", k ? "," : "", kinds[k], flop / best[k] * 1e-9)
               : printf("%s\"%s\":null", k ? "," : "", kinds[k]);
    printf("},\"gb_s\":{");
    for (int k = 0; k < 2; k++)
        fns[k] ? printf("%s\"%s\":%.1f", k ? "," : "", kinds[k], bytes / best[k] * 1e-9)
               : printf("%s\"%s\":null", k ? "," : "", kinds[k]);
    printf("},\"loadavg\":%.2f}\n", load);
    free(W);
    free(X);
    free(Y);
    free(wide);
    return 0;
}
