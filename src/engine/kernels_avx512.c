/*
 * AVX-512 F16 matrix products. Like kernels_avx2.c, compiled for the
 * baseline target with the functions marked target(...): only called after
 * eng_cpu_avx512() said yes.
 *
 * Why a second F16 kernel: a prompt's F16 products are bound by the FMA
 * units (half floats widened in the tiles, inputs from L1/L2). 512-bit FMAs do
 * twice the work of 256-bit ones per instruction, and on cores with a full
 * 512-bit data path (AMD Zen 5, Intel server cores) twice the work per
 * cycle; 32 vector registers also allow a 4-row x 6-input tile (24
 * accumulators) where AVX2's 16 allow 4 x 3.
 *
 * Bits: every (row, input) pair gets one 16-lane accumulator fed in column
 * order and one horizontal sum (hsum16) whatever the tile, the column
 * ranges or the row range, and the widening of half floats is exact; so a
 * prompt batch, small batches and one token at a time give the same bits on
 * a CPU with AVX-512. They differ from the AVX2 kernel's (8 lanes) by float
 * rounding, as those differ from the portable C; one process uses one of
 * them throughout.
 */
#include <string.h>

#include "engine/engine_int.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))

/* The sixteen lanes summed in a fixed order: lane i + lane i + 8 (hsum16),
 * then as AVX2's hsum (hsum8). */
AVX512 static inline float hsum8(__m256 h)
{
    __m128 lo = _mm256_castps256_ps128(h), hi = _mm256_extractf128_ps(h, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

AVX512 static inline float hsum16(__m512 v)
{
    return hsum8(_mm256_add_ps(_mm512_castps512_ps256(v),
                               _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}

/* Four hsum16s at once: the same additions in the same order for each
 * vector (lane i + lane i + 8, then i + i + 4, i + i + 2, i + i + 1), so the
 * same bits, in about 40 % of the instructions (in perf, what follows a
 * tile's loop, mostly these sums, was a fifth of a prompt tile's time). */
AVX512 static inline __m128 hsum16x4(__m512 v0, __m512 v1, __m512 v2, __m512 v3)
{
    /* Halves of 256: a = lanes 0-7 + lanes 8-15, two vectors per register. */
    __m512 a01 = _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, _MM_SHUFFLE(1, 0, 1, 0)),
                               _mm512_shuffle_f32x4(v0, v1, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 a23 = _mm512_add_ps(_mm512_shuffle_f32x4(v2, v3, _MM_SHUFFLE(1, 0, 1, 0)),
                               _mm512_shuffle_f32x4(v2, v3, _MM_SHUFFLE(3, 2, 3, 2)));
    /* Halves of 128: b = a's lanes 0-3 + lanes 4-7, one vector per 128 bits. */
    __m512 b = _mm512_add_ps(_mm512_shuffle_f32x4(a01, a23, _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(a01, a23, _MM_SHUFFLE(3, 1, 3, 1)));
    /* Then lanes 0-1 + 2-3 and lane 0 + lane 1 within each 128 bits. */
    __m512 c = _mm512_add_ps(b, _mm512_permute_ps(b, _MM_SHUFFLE(1, 0, 3, 2)));
    __m512 d = _mm512_add_ps(c, _mm512_movehdup_ps(c));
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), d));
}

/* Most inputs per tile: 4 x 6 accumulators, 4 weight vectors and an input
 * vector use 29 of the 32 registers. */
#define Z_T 6

/* F16 rows against inputs as register tiles of R rows x T inputs (R <= 4,
 * T <= Z_T), columns [c0, c1) (multiples of 16). The half floats are widened
 * in the loop, one vcvtph2ps per row vector against T FMAs: cheaper than
 * widening rows into a buffer first, whose loop of loads and stores took the
 * weights' cache misses without FMAs to hide them behind (a third of a
 * one-thread prompt's time in perf). state (R x T accumulators, NULL for the
 * whole row at once) carries the sums between column ranges, so a product
 * cut into ranges adds the same terms in the same order as one pass. */
AVX512 static inline __attribute__((always_inline)) void z_tile(const uint16_t *w, int cols, int c0,
                                                                int c1, const float *x, size_t ldx,
                                                                float *y, size_t ldy, __m512 *state,
                                                                int R, int T)
{
    __m512 acc[4][Z_T];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            acc[r][t] = state && c0 > 0 ? state[r * T + t] : _mm512_setzero_ps();
    for (int c = c0; c < c1; c += 16) {
        __m512 wv[4];
        for (int r = 0; r < R; r++)
            wv[r] =
                _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + (size_t)r * cols + c)));
        for (int t = 0; t < T; t++) {
            __m512 xv = _mm512_loadu_ps(x + (size_t)t * ldx + c);
            for (int r = 0; r < R; r++)
                acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    if (state && c1 < cols) {
        for (int r = 0; r < R; r++)
            for (int t = 0; t < T; t++)
                state[r * T + t] = acc[r][t];
        return;
    }
    if (R == 4)
        for (int t = 0; t < T; t++)
            _mm_storeu_ps(y + (size_t)t * ldy,
                          hsum16x4(acc[0][t], acc[1][t], acc[2][t], acc[3][t]));
    else
        for (int r = 0; r < R; r++)
            for (int t = 0; t < T; t++)
                y[(size_t)t * ldy + r] = hsum16(acc[r][t]);
}

/* The tile shapes with constant bounds; z_h4 / z_h1 pick the shape for the
 * inputs left. */
#define Z_TILE(R, T)                                                                               \
    AVX512 static void z_h##R##x##T(const uint16_t *w, int cols, int c0, int c1, const float *x,   \
                                    size_t ldx, float *y, size_t ldy, __m512 *state)               \
    {                                                                                              \
        z_tile(w, cols, c0, c1, x, ldx, y, ldy, state, R, T);                                      \
    }
Z_TILE(4, 6)
Z_TILE(4, 5)
Z_TILE(4, 4)
Z_TILE(4, 3)
Z_TILE(4, 2)
Z_TILE(4, 1)
Z_TILE(1, 6)
Z_TILE(1, 5)
Z_TILE(1, 4)
Z_TILE(1, 3)
Z_TILE(1, 2)
Z_TILE(1, 1)
#undef Z_TILE

typedef void (*z_h_fn)(const uint16_t *, int, int, int, const float *, size_t, float *, size_t,
                       __m512 *);
static const z_h_fn z_h4[Z_T + 1] = {NULL, z_h4x1, z_h4x2, z_h4x3, z_h4x4, z_h4x5, z_h4x6};
static const z_h_fn z_h1[Z_T + 1] = {NULL, z_h1x1, z_h1x2, z_h1x3, z_h1x4, z_h1x5, z_h1x6};

/* Eight rows against one input (generation): eight independent FMA chains,
 * and the next eight rows fetched a share per step (rows are short streams
 * that the hardware prefetcher alone picks up late). The same operations per
 * row as z_tile. */
AVX512 static void z_gen8(const uint16_t *w, int cols, const float *x, float *y, const char *next)
{
    __m512 acc[8];
    for (int r = 0; r < 8; r++)
        acc[r] = _mm512_setzero_ps();
    for (int c = 0; c < cols; c += 16) {
        if (next) { /* 32 bytes of each of 8 rows per step: 4 lines of the next group */
            const char *p = next + 16 * (size_t)c;
            _mm_prefetch(p, _MM_HINT_T0);
            _mm_prefetch(p + 64, _MM_HINT_T0);
            _mm_prefetch(p + 128, _MM_HINT_T0);
            _mm_prefetch(p + 192, _MM_HINT_T0);
        }
        __m512 xv = _mm512_loadu_ps(x + c);
        for (int r = 0; r < 8; r++)
            acc[r] = _mm512_fmadd_ps(
                _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + (size_t)r * cols + c))),
                xv, acc[r]);
    }
    _mm_storeu_ps(y, hsum16x4(acc[0], acc[1], acc[2], acc[3]));
    _mm_storeu_ps(y + 4, hsum16x4(acc[4], acc[5], acc[6], acc[7]));
}

/* Column range of a batch's tiles, and the most tiles of inputs whose
 * accumulators are kept between ranges (a prompt step of 64). */
#define Z_KC 1024
#define Z_MAX_TILES 11

/* Generation prefetches this many groups of eight rows ahead. */
#define Z_GEN_AHEAD 1

AVX512 void eng_avx512_f16_rows(const uint16_t *W, int cols, const float *X, int n, size_t ldx,
                                float *Y, size_t ldy, int r0, int r1, float *wide)
{
    /* wide: not needed, the tiles widen the half floats themselves. */
    (void)wide;
    __m512 state[4 * Z_T * Z_MAX_TILES];
    for (int r = r0; r < r1;) {
        const uint16_t *w = W + (size_t)r * cols;
        float *y = Y + r;
        if (n == 1 && r + 8 <= r1) {
            const uint16_t *ahead = w + 8 * Z_GEN_AHEAD * (size_t)cols;
            z_gen8(w, cols, X, y, r + 8 * (Z_GEN_AHEAD + 1) <= r1 ? (const char *)ahead : NULL);
            r += 8;
        } else if (r + 4 <= r1) {
            /* Four rows (a few KB, kept in L1) for all the inputs, which go
             * through them Z_T at a time; the next four rows fetched a share
             * before each tile. */
            const char *next = (const char *)(w + 4 * (size_t)cols);
            int lines = r + 8 <= r1 ? cols / 8 : 0, tiles = (n + Z_T - 1) / Z_T;
            /* Long rows (the feed-forward down matrix) in column ranges: the
             * four rows' range and a tile's inputs stay in L1. */
            int kc = cols > Z_KC && tiles <= Z_MAX_TILES ? Z_KC : cols;
            int steps = tiles * ((cols + kc - 1) / kc), s = 0;
            for (int c0 = 0; c0 < cols; c0 += kc) {
                int c1 = CC_MIN(cols, c0 + kc);
                for (int t = 0, k = 0; t < n; t += Z_T, k++, s++) {
                    for (int l = lines * s / steps; l < lines * (s + 1) / steps; l++)
                        _mm_prefetch(next + 64 * (size_t)l, _MM_HINT_T0);
                    int m = CC_MIN(Z_T, n - t);
                    z_h4[m](w, cols, c0, c1, X + (size_t)t * ldx, ldx, y + (size_t)t * ldy, ldy,
                            kc < cols ? state + 4 * Z_T * k : NULL);
                }
            }
            r += 4;
        } else {
            /* The rows left over, one at a time. */
            for (int t = 0; t < n; t += Z_T) {
                int m = CC_MIN(Z_T, n - t);
                z_h1[m](w, cols, 0, cols, X + (size_t)t * ldx, ldx, y + (size_t)t * ldy, ldy, NULL);
            }
            r += 1;
        }
    }
}

#else

void eng_avx512_f16_rows(const uint16_t *W, int cols, const float *X, int n, size_t ldx, float *Y,
                         size_t ldy, int r0, int r1, float *wide)
{
}

#endif
