/*
 * AVX2/FMA/F16C kernels. Compiled for the baseline target with these
 * functions marked target("avx2,fma,f16c"): they are only called after
 * eng_cpu_avx2() said yes, so one binary runs on every x86-64.
 */
#include <math.h>
#include <string.h>

#include "engine/engine_int.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* AVX-VNNI kernels: gcc 11 and later can compile them and test the CPU for
 * them (see eng_cpu_vnni). */
#if !defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11
#define ENG_HAVE_VNNI 1
#else
#define ENG_HAVE_VNNI 0
#endif

AVX2 static inline float hsum(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

AVX2 float eng_avx2_dot_f32(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

AVX2 void eng_avx2_axpy(float *y, float a, const float *x, int n)
{
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* Four rows at a time share the loads of x. */
AVX2 void eng_avx2_matvec_f32(const float *W, int cols, const float *x, float *y, int r0, int r1)
{
    int r = r0;
    if ((cols & 7) == 0) {
        for (; r + 4 <= r1; r += 4) {
            const float *w0 = W + (size_t)r * cols, *w1 = w0 + cols, *w2 = w1 + cols,
                        *w3 = w2 + cols;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int i = 0; i < cols; i += 8) {
                __m256 xv = _mm256_loadu_ps(x + i);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i), xv, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + i), xv, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + i), xv, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + i), xv, a3);
            }
            /* Transpose-add the four accumulators into one vector of 4 sums. */
            __m256 t0 = _mm256_hadd_ps(a0, a1), t1 = _mm256_hadd_ps(a2, a3);
            __m256 t = _mm256_hadd_ps(t0, t1);
            __m128 s = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
            _mm_storeu_ps(y + r, s);
        }
    }
    for (; r < r1; r++)
        y[r] = eng_avx2_dot_f32(W + (size_t)r * cols, x, cols);
}

/* F16 rows against inputs as register tiles of R rows x T inputs (R <= 4,
 * T <= 3: 12 accumulators, 3 inputs and a weight vector fill the 16 ymm
 * registers). Each weight vector is used for T inputs, each input vector
 * for R rows. The weights are either half floats widened with F16C in the
 * loop (wh, generation) or rows already widened to floats once for a whole
 * prompt batch (wf): the conversion is exact, and every (row, input) pair has
 * one accumulator fed in column order and one horizontal sum whatever the
 * tile shape, so a batch gives generation's results bit for bit; the tiles
 * only share loads. cols is a multiple of 8. */
AVX2 static inline __attribute__((always_inline)) void
f16_tile(const uint16_t *wh, const float *wf, int cols, int c0, int c1, const float *x, size_t ldx,
         float *y, size_t ldy, __m256 *state, int R, int T)
{
    /* Columns [c0, c1) of the products; state (R x T accumulators, NULL for
     * the whole row at once) carries the sums from the columns before c0 to
     * those after c1, so a product cut into column ranges adds the same
     * terms in the same order as one pass. */
    __m256 acc[4][3];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            acc[r][t] = state && c0 > 0 ? state[r * 3 + t] : _mm256_setzero_ps();
    for (int c = c0; c < c1; c += 8) {
        __m256 xv[3];
        for (int t = 0; t < T; t++)
            xv[t] = _mm256_loadu_ps(x + (size_t)t * ldx + c);
        for (int r = 0; r < R; r++) {
            __m256 f =
                wf ? _mm256_loadu_ps(wf + (size_t)r * cols + c)
                   : _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wh + (size_t)r * cols + c)));
            for (int t = 0; t < T; t++)
                acc[r][t] = _mm256_fmadd_ps(f, xv[t], acc[r][t]);
        }
    }
    if (state && c1 < cols) {
        for (int r = 0; r < R; r++)
            for (int t = 0; t < T; t++)
                state[r * 3 + t] = acc[r][t];
        return;
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            y[(size_t)t * ldy + r] = hsum(acc[r][t]);
}

/* The tile shapes, each compiled with constant loop bounds, for half-float
 * (h) and widened (f) weights. */
#define F16_TILE(R, T)                                                                             \
    AVX2 __attribute__((unused)) static void f16_tile_h##R##x##T(                                  \
        const uint16_t *w, int cols, const float *x, size_t ldx, float *y, size_t ldy)             \
    {                                                                                              \
        f16_tile(w, NULL, cols, 0, cols, x, ldx, y, ldy, NULL, R, T);                              \
    }                                                                                              \
    AVX2 __attribute__((unused)) static void f16_tile_f##R##x##T(                                  \
        const float *w, int cols, int c0, int c1, const float *x, size_t ldx, float *y,            \
        size_t ldy, __m256 *state)                                                                 \
    {                                                                                              \
        f16_tile(NULL, w, cols, c0, c1, x, ldx, y, ldy, state, R, T);                              \
    }
F16_TILE(4, 3)
F16_TILE(4, 2)
F16_TILE(4, 1)
F16_TILE(1, 3)
F16_TILE(1, 2)
F16_TILE(1, 1)
#undef F16_TILE

/* Eight rows against one input (generation): eight independent FMA chains,
 * and the next eight rows fetched a share per step (rows are short streams
 * that the hardware prefetcher alone picks up late). One accumulator per
 * row fed in column order and one horizontal sum, as f16_tile. */
AVX2 static void f16_gen8(const uint16_t *w, int cols, const float *x, float *y, bool prefetch)
{
    __m256 acc[8];
    for (int r = 0; r < 8; r++)
        acc[r] = _mm256_setzero_ps();
    const char *next = (const char *)(w + 8 * (size_t)cols);
    for (int c = 0; c < cols; c += 8) {
        if (prefetch) { /* 16 bytes of each of 8 rows per step: 2 lines of the next group */
            _mm_prefetch(next + 16 * (size_t)c, _MM_HINT_T0);
            _mm_prefetch(next + 16 * (size_t)c + 64, _MM_HINT_T0);
        }
        __m256 xv = _mm256_loadu_ps(x + c);
        for (int r = 0; r < 8; r++)
            acc[r] = _mm256_fmadd_ps(
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + (size_t)r * cols + c))), xv,
                acc[r]);
    }
    for (int r = 0; r < 8; r++)
        y[r] = hsum(acc[r]);
}

/* R (4 or 1) rows at w against n inputs, three at a time. */
#define F16_ROWS(K, R, w)                                                                          \
    do {                                                                                           \
        int t = 0;                                                                                 \
        for (; t + 3 <= n; t += 3)                                                                 \
            f16_tile_##K##R##x3(w, cols, X + (size_t)t * ldx, ldx, y + (size_t)t * ldy, ldy);      \
        if (n - t == 2)                                                                            \
            f16_tile_##K##R##x2(w, cols, X + (size_t)t * ldx, ldx, y + (size_t)t * ldy, ldy);      \
        if (n - t == 1)                                                                            \
            f16_tile_##K##R##x1(w, cols, X + (size_t)t * ldx, ldx, y + (size_t)t * ldy, ldy);      \
    } while (0)

/* Column range of a prompt batch's F16 tiles, and the most tiles of three
 * inputs whose accumulators are kept between ranges (a prompt step of 64). */
#define F16_KC 1024
#define F16_MAX_TILES 22

AVX2 void eng_avx2_f16_rows(const uint16_t *W, int cols, const float *X, int n, size_t ldx,
                            float *Y, size_t ldy, int r0, int r1, float *wide)
{
    __m256 state[12 * F16_MAX_TILES];
    /* Four rows (a few KB) stay in L1 while the inputs go through them three
     * at a time. With a batch of inputs the four rows are first widened to
     * floats in `wide` (4 * cols floats), once instead of once per three
     * inputs: F16C then leaves the FMA units to the products. */
    for (int r = r0; r < r1;) {
        const uint16_t *w = W + (size_t)r * cols;
        float *y = Y + r;
        if (r + 4 <= r1) {
            if (wide) {
                for (int i = 0; i < 4 * cols; i += 8)
                    _mm256_storeu_ps(wide + i,
                                     _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))));
                /* The next four rows come from memory while these are
                 * multiplied, a share of their cache lines before each tile
                 * (all at once, or the hardware prefetcher alone, stalls). */
                const char *next = (const char *)(w + 4 * (size_t)cols);
                int lines = r + 8 <= r1 ? cols / 8 : 0, tiles = (n + 2) / 3;
                /* Long rows go through in column ranges of F16_KC, every
                 * input's tile per range, with the tiles' accumulators kept
                 * in `state` between ranges: four widened rows of 2048
                 * columns (32 KB) and the inputs' columns no longer fit in
                 * L1 together, a range of four rows and three inputs does
                 * (14 KB). */
                int kc = cols > F16_KC && tiles <= F16_MAX_TILES ? F16_KC : cols;
                int steps = tiles * ((cols + kc - 1) / kc), s = 0;
                for (int c0 = 0; c0 < cols; c0 += kc) {
                    int c1 = CC_MIN(cols, c0 + kc);
                    for (int t = 0, k = 0; t < n; t += 3, k++, s++) {
                        for (int l = lines * s / steps; l < lines * (s + 1) / steps; l++)
                            _mm_prefetch(next + 64 * (size_t)l, _MM_HINT_T0);
                        const float *x = X + (size_t)t * ldx;
                        float *yt = y + (size_t)t * ldy;
                        __m256 *st = kc < cols ? state + 12 * k : NULL;
                        if (n - t >= 3)
                            f16_tile_f4x3(wide, cols, c0, c1, x, ldx, yt, ldy, st);
                        else if (n - t == 2)
                            f16_tile_f4x2(wide, cols, c0, c1, x, ldx, yt, ldy, st);
                        else
                            f16_tile_f4x1(wide, cols, c0, c1, x, ldx, yt, ldy, st);
                    }
                }
            } else if (n == 1 && r + 8 <= r1) {
                /* One input (generation): eight rows, eight independent
                 * FMA chains to cover the FMA latency (four left the core
                 * waiting on them); the same operations per row. */
                f16_gen8(w, cols, X, y, r + 16 <= r1);
                r += 4;
            } else {
                F16_ROWS(h, 4, w);
            }
            r += 4;
        } else {
            F16_ROWS(h, 1, w);
            r++;
        }
    }
}
#undef F16_ROWS

AVX2 static inline __m256 load_i8x8(const int8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

AVX2 static float dot_q8_0(const blk_q8_0 *b, const float *x, int nb)
{
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, b++, x += QK8_0) {
        __m256 s = _mm256_mul_ps(load_i8x8(b->qs), _mm256_loadu_ps(x));
        s = _mm256_fmadd_ps(load_i8x8(b->qs + 8), _mm256_loadu_ps(x + 8), s);
        s = _mm256_fmadd_ps(load_i8x8(b->qs + 16), _mm256_loadu_ps(x + 16), s);
        s = _mm256_fmadd_ps(load_i8x8(b->qs + 24), _mm256_loadu_ps(x + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b->d)), s, acc);
    }
    return hsum(acc);
}

AVX2 static float dot_q4_0(const blk_q4_0 *b, const float *x, int nb)
{
    __m256 acc = _mm256_setzero_ps();
    const __m128i mask = _mm_set1_epi8(0xF), off = _mm_set1_epi8(8);
    for (int i = 0; i < nb; i++, b++, x += QK4_0) {
        __m128i q = _mm_loadu_si128((const __m128i *)b->qs);
        __m128i lo = _mm_sub_epi8(_mm_and_si128(q, mask), off);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), mask), off);
        __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), _mm256_loadu_ps(x));
        s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))),
                            _mm256_loadu_ps(x + 8), s);
        s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), _mm256_loadu_ps(x + 16),
                            s);
        s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))),
                            _mm256_loadu_ps(x + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b->d)), s, acc);
    }
    return hsum(acc);
}

AVX2 static float dot_f16(const uint16_t *w, const float *x, int n)
{
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))),
                              _mm256_loadu_ps(x + i), acc);
    float s = hsum(acc);
    for (; i < n; i++)
        s += engine_f16_to_f32(w[i]) * x[i];
    return s;
}

AVX2 static float dot_bf16(const uint16_t *w, const float *x, int n)
{
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + i)));
        __m256 f = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        acc = _mm256_fmadd_ps(f, _mm256_loadu_ps(x + i), acc);
    }
    float s = hsum(acc);
    for (; i < n; i++)
        s += engine_bf16_to_f32(w[i]) * x[i];
    return s;
}

AVX2 float eng_avx2_dot_row(uint32_t type, const void *row, const float *x, int n)
{
    switch (type) {
    case ENGINE_T_F32:
        return eng_avx2_dot_f32(row, x, n);
    case ENGINE_T_F16:
        return dot_f16(row, x, n);
    case ENGINE_T_BF16:
        return dot_bf16(row, x, n);
    case ENGINE_T_Q8_0:
        return dot_q8_0(row, x, n / QK8_0);
    case ENGINE_T_Q4_0:
        return dot_q4_0(row, x, n / QK4_0);
    default: {
        /* K-quants: dequantize one super-block into registers' worth of
         * floats, then a vector dot. */
        size_t be, bb;
        if (!engine_ttype_info(type, &be, &bb)) return 0;
        float tmp[QK_K];
        float s = 0;
        const uint8_t *p = row;
        for (int i = 0; i < n; i += (int)be) {
            engine_dequant_row(type, p + (size_t)i / be * bb, tmp, be);
            s += eng_avx2_dot_f32(tmp, x + i, (int)be);
        }
        return s;
    }
    }
}

/* ------------------------------------------------ 8-bit integer dots */

/* max |x[i]| over 32 values */
AVX2 static inline float amax32(const float *x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x)),
                                           _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8))),
                             _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)),
                                           _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24))));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* 32 values to 8 bits with the scale amax / 127. */
AVX2 static inline void quantize32(const float *x, float amax, eng_q8x *out)
{
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16),
           v3 = _mm256_loadu_ps(x + 24);
    float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
    out->d = d;
    __m256 mul = _mm256_set1_ps(id);
    __m256i i0 =
        _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), _MM_FROUND_TO_NEAREST_INT));
    __m256i i1 =
        _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), _MM_FROUND_TO_NEAREST_INT));
    __m256i i2 =
        _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), _MM_FROUND_TO_NEAREST_INT));
    __m256i i3 =
        _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), _MM_FROUND_TO_NEAREST_INT));
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_hadd_epi32(s4, s4);
    s4 = _mm_hadd_epi32(s4, s4);
    out->isum = _mm_cvtsi128_si32(s4);
    /* pack 32 int32 -> 32 int8 in order (packs interleave lanes: fix with a permute) */
    __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)out->qs, p);
}

AVX2 void eng_avx2_quantize_x(uint32_t type, const float *x, int n, eng_q8x *out)
{
    if (type == ENGINE_T_Q4_K && n % QK_K == 0) {
        /* One scale per 256 values (as llama.cpp's Q8_K): the Q4_K kernels
         * then apply the weights' sub-block scales in integers. */
        for (int b = 0; b < n / QK_K; b++, x += QK_K, out += 8) {
            float amax = 0;
            for (int j = 0; j < 8; j++) {
                float a = amax32(x + 32 * j);
                amax = a > amax ? a : amax;
            }
            for (int j = 0; j < 8; j++)
                quantize32(x + 32 * j, amax, out + j);
        }
        return;
    }
    for (int b = 0; b < n / 32; b++, x += 32, out++) {
        quantize32(x, amax32(x), out);
        if (type == ENGINE_T_Q6_K) {
            /* The packed Q6_K kernel's offset wants the sums of the two
             * 16-value halves (one per weight scale) rather than the whole. */
            int s = 0;
            for (int j = 0; j < 16; j++)
                s += out->qs[j];
            out->half_sum[1] = (int16_t)(out->isum - s);
            out->half_sum[0] = (int16_t)s;
        }
    }
}

/* sum over 32 lanes of w*x for signed bytes w, x, as 8 int32 partial sums */
AVX2 static inline __m256i dot_i8(__m256i w, __m256i x)
{
    __m256i aw = _mm256_sign_epi8(w, w), sx = _mm256_sign_epi8(x, w);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), _mm256_set1_epi16(1));
}

/* same with unsigned w (0..127) */
AVX2 static inline __m256i dot_u8(__m256i w, __m256i x)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1));
}

AVX2 static float dotq_q4_0(const blk_q4_0 *b, const eng_q8x *x, int nb)
{
    __m256 acc = _mm256_setzero_ps();
    const __m256i mask = _mm256_set1_epi8(0xF), off = _mm256_set1_epi8(8);
    for (int i = 0; i < nb; i++) {
        __m128i q = _mm_loadu_si128((const __m128i *)b[i].qs);
        __m256i w = _mm256_set_m128i(_mm_srli_epi16(q, 4), q); /* low nibbles first */
        w = _mm256_sub_epi8(_mm256_and_si256(w, mask), off);
        __m256i v = _mm256_loadu_si256((const __m256i *)x[i].qs);
        __m256 p = _mm256_cvtepi32_ps(dot_i8(w, v));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d) * x[i].d), p, acc);
    }
    return hsum(acc);
}

/* Unpacks a Q4_K block's 12 scale bytes into 8 6-bit scales and 8 6-bit
 * minimums (one byte each), four bytes at a time: bytes 0-3 hold scales 0-3
 * (low 6 bits), bytes 4-7 minimums 0-3; bytes 8-11 hold the low 4 bits of
 * scales 4-7 (low nibbles) and minimums 4-7 (high nibbles), whose top 2 bits
 * are the top bits of bytes 0-3 and 4-7. Shifting a whole word by 2 moves
 * each byte's bits 6-7 to bits 4-5 of the same byte; the masks drop what
 * crosses from the neighbouring byte. */
static inline void q4k_scales(const uint8_t *q, uint32_t sc[2], uint32_t mn[2])
{
    uint32_t a, b, c;
    memcpy(&a, q, 4);
    memcpy(&b, q + 4, 4);
    memcpy(&c, q + 8, 4);
    sc[0] = a & 0x3F3F3F3Fu;
    mn[0] = b & 0x3F3F3F3Fu;
    sc[1] = (c & 0x0F0F0F0Fu) | ((a >> 2) & 0x30303030u);
    mn[1] = ((c >> 4) & 0x0F0F0F0Fu) | ((b >> 2) & 0x30303030u);
}

/* A Q4_K block's scales: sc[j] holds sub-block j's 6-bit scale in every
 * 16-bit lane (for madd on maddubs' pair sums), d the block's d in every
 * lane, mnd lane j dmin x minimum j. */
AVX2 static inline void q4k_block_scales(const blk_q4_k *b, __m256i sc[8], __m256 *d, __m256 *mnd)
{
    uint32_t s8[2], mn[2];
    q4k_scales(b->scales, s8, mn);
    __m256i s16 = _mm256_broadcastsi128_si256(
        _mm_cvtepu8_epi16(_mm_setr_epi32((int)s8[0], (int)s8[1], 0, 0)));
    for (int j = 0; j < 8; j++)
        sc[j] = _mm256_shuffle_epi8(s16, _mm256_set1_epi16((short)(2 * j | (2 * j + 1) << 8)));
    __m256 m =
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_setr_epi32((int)mn[0], (int)mn[1], 0, 0)));
    *d = _mm256_set1_ps(_cvtsh_ss(b->d));
    *mnd = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(b->dmin)), m);
}

/* A Q4_K block's 256 weights as 8 vectors of 32 unsigned nibbles, one per
 * sub-block (sub-block 2c is the low nibbles of bytes 32c..32c+31, 2c+1 the
 * high ones). */
AVX2 static inline void q4k_block_unpack(const blk_q4_k *b, __m256i w[8])
{
    const __m256i mask = _mm256_set1_epi8(0xF);
    for (int c = 0; c < 4; c++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * c));
        w[2 * c] = _mm256_and_si256(q, mask);
        w[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), mask);
    }
}

/* The 8 input blocks' scales and scaled sums as vectors (lane j = block j):
 * they depend only on the input, so a matrix-vector product computes them
 * once for all rows. */
AVX2 static inline void q4k_x_scales(const eng_q8x *x, __m256 *xd, __m256 *xs)
{
    *xd = _mm256_setr_ps(x[0].d, x[1].d, x[2].d, x[3].d, x[4].d, x[5].d, x[6].d, x[7].d);
    *xs = _mm256_cvtepi32_ps(_mm256_setr_epi32(x[0].isum, x[1].isum, x[2].isum, x[3].isum,
                                               x[4].isum, x[5].isum, x[6].isum, x[7].isum));
}

/* The Q8_0 and Q4_K kernels for AVX2, and for AVX-VNNI where the compiler knows it
 * (gcc; clang 14 cannot test for it at run time). */
#define KQ(name) name##_avx2
#define KQ_ATTR AVX2
#define KQ_DOT_U8(w, x) dot_u8(w, x)
#include "engine/kernels_int8_inc.h"
#undef KQ
#undef KQ_ATTR
#undef KQ_DOT_U8

#if ENG_HAVE_VNNI
#define KQ(name) name##_vnni
#define KQ_ATTR __attribute__((target("avx2,fma,f16c,avxvnni")))
#define KQ_DOT_U8(w, x) _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), w, x)
#include "engine/kernels_int8_inc.h"
#undef KQ
#undef KQ_ATTR
#undef KQ_DOT_U8
#endif

AVX2 static float dotq_q8_0(const blk_q8_0 *b, const eng_q8x *x, int nb)
{
#if ENG_HAVE_VNNI
    if (eng_cpu_vnni()) return dotq_q8_0_vnni(b, x, nb);
#endif
    return dotq_q8_0_avx2(b, x, nb);
}

AVX2 static float dotq_q4_k(const blk_q4_k *b, const eng_q8x *x, int nb)
{
#if ENG_HAVE_VNNI
    if (eng_cpu_vnni()) return dotq_q4_k_x_vnni(b, x, nb, NULL, NULL);
#endif
    return dotq_q4_k_x_avx2(b, x, nb, NULL, NULL);
}

AVX2 void eng_avx2_q4k_rows4(const uint8_t *data, size_t row_bytes, int n,
                             const eng_q8x *const xq[4], const float *const xsc[4], float *y,
                             size_t ldy, int r0, int r1)
{
#if ENG_HAVE_VNNI
    if (eng_cpu_vnni()) {
        q4k_rows4_vnni(data, row_bytes, n, xq, xsc, y, ldy, r0, r1);
        return;
    }
#endif
    q4k_rows4_avx2(data, row_bytes, n, xq, xsc, y, ldy, r0, r1);
}

AVX2 bool eng_avx2_dot_q_both(uint32_t type, const void *row, const eng_q8x *xq, int n,
                              float out[2])
{
    bool q8 = type == ENGINE_T_Q8_0;
    if (!q8 && type != ENGINE_T_Q4_K) return false;
    out[0] = q8 ? dotq_q8_0_avx2(row, xq, n / 32) : dotq_q4_k_x_avx2(row, xq, n / QK_K, NULL, NULL);
#if ENG_HAVE_VNNI
    if (eng_cpu_vnni()) {
        out[1] =
            q8 ? dotq_q8_0_vnni(row, xq, n / 32) : dotq_q4_k_x_vnni(row, xq, n / QK_K, NULL, NULL);
        return true;
    }
#endif
    return false;
}

/* Q6_K. A block's 256 weights as 8 vectors of 32 signed values (-32..31),
 * one per input block of 32, in the order of the values: half h (128
 * values) takes the low nibbles of ql[64h..64h+63] then their high nibbles,
 * each with 2 bits of qh[32h..32h+31]. aw holds |w| for maddubs. */
AVX2 static inline void q6k_block_unpack(const blk_q6_k *b, __m256i w[8], __m256i aw[8])
{
    const __m256i m4 = _mm256_set1_epi8(0xF), m2 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        __m256i hh = _mm256_loadu_si256((const __m256i *)qh);
        __m256i *q = w + 4 * h;
        q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                               _mm256_slli_epi16(_mm256_and_si256(hh, m2), 4));
        q[1] =
            _mm256_or_si256(_mm256_and_si256(l1, m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 2), m2), 4));
        q[2] =
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 4), m2), 4));
        q[3] =
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 6), m2), 4));
        for (int k = 0; k < 4; k++) {
            q[k] = _mm256_sub_epi8(q[k], off);
            aw[4 * h + k] = _mm256_sign_epi8(q[k], q[k]);
        }
    }
}

/* The block's 16 int8 scales as 8 vectors of 16 int16 (one per input block
 * k): the low 128 bits hold scale 2k (values 0-15 of the input block), the
 * high 128 bits scale 2k+1. maddubs' pair sums (16-bit lane j covers values
 * 2j, 2j+1) then take their scale with one madd, in integers: the scales are
 * unpacked once per block, not rebuilt as floats per 32 values. */
AVX2 static inline void q6k_block_scales(const blk_q6_k *b, __m256i sc[8])
{
    for (int h = 0; h < 2; h++) {
        __m128i s16 = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(b->scales + 8 * h)));
        __m256i s = _mm256_broadcastsi128_si256(s16);
        for (int k = 0; k < 4; k++) {
            /* bytes 4k, 4k+1 (int16 scale 2k) in the low half, 4k+2, 4k+3 in the high */
            char lo0 = (char)(4 * k), lo1 = (char)(4 * k + 1), hi0 = (char)(4 * k + 2),
                 hi1 = (char)(4 * k + 3);
            __m256i m = _mm256_setr_epi8(lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1,
                                         lo0, lo1, lo0, lo1, hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1,
                                         hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1);
            sc[4 * h + k] = _mm256_shuffle_epi8(s, m);
        }
    }
}

/* One unpacked Q6_K block against 8 input blocks, added to acc. The 8
 * scaled products are summed as a tree before the accumulator, so one row
 * has no long chain of dependent FMAs. |w| <= 32 and |x| <= 127 keep
 * maddubs' pair sums (<= 8128) and the scaled madd sums exact. Every Q6_K
 * kernel goes through here with the same operations per row and input, so a
 * batch gives the results of the same tokens one by one bit for bit. */
AVX2 static inline __m256 q6k_block_dot(const __m256i w[8], const __m256i aw[8],
                                        const __m256i sc[8], float d, const eng_q8x *x, __m256 acc)
{
    __m256 f[8];
    for (int k = 0; k < 8; k++) {
        __m256i sx = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)x[k].qs), w[k]);
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw[k], sx), sc[k]);
        f[k] = _mm256_cvtepi32_ps(p);
    }
    __m256 t[4];
    for (int j = 0; j < 4; j++)
        t[j] = _mm256_fmadd_ps(f[2 * j + 1], _mm256_set1_ps(d * x[2 * j + 1].d),
                               _mm256_mul_ps(f[2 * j], _mm256_set1_ps(d * x[2 * j].d)));
    return _mm256_add_ps(acc, _mm256_add_ps(_mm256_add_ps(t[0], t[1]), _mm256_add_ps(t[2], t[3])));
}

AVX2 static float dotq_q6_k(const blk_q6_k *b, const eng_q8x *x, int nb)
{
    __m256 acc = _mm256_setzero_ps(); /* one horizontal sum per row, not per block */
    for (int i = 0; i < nb; i++, b++, x += 8) {
        __m256i w[8], aw[8], sc[8];
        for (int l = 0; l < 4; l++) /* one block (210 bytes) eight ahead, as Q4_K */
            _mm_prefetch((const char *)(b + 8) + 64 * l, _MM_HINT_T0);
        q6k_block_unpack(b, w, aw);
        q6k_block_scales(b, sc);
        acc = q6k_block_dot(w, aw, sc, _cvtsh_ss(b->d), x, acc);
    }
    return hsum(acc);
}

/* One Q6_K row and four inputs: each block unpacked once for the four. */
AVX2 static void q6k_dot4(const blk_q6_k *b, const eng_q8x *const xq[4], int nb, float out[4])
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int i = 0; i < nb; i++, b++) {
        __m256i w[8], aw[8], sc[8];
        _mm_prefetch((const char *)(b + 2), _MM_HINT_T0);
        q6k_block_unpack(b, w, aw);
        q6k_block_scales(b, sc);
        float d = _cvtsh_ss(b->d);
        for (int t = 0; t < 4; t++)
            acc[t] = q6k_block_dot(w, aw, sc, d, xq[t] + 8 * i, acc[t]);
    }
    for (int t = 0; t < 4; t++)
        out[t] = hsum(acc[t]);
}

/* One Q4_0 row and four inputs, with dotq_q4_0's operations per input. */
AVX2 static void q4_0_dot4(const blk_q4_0 *b, const eng_q8x *const xq[4], int nb, float out[4])
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    const __m256i mask = _mm256_set1_epi8(0xF), off = _mm256_set1_epi8(8);
    for (int i = 0; i < nb; i++) {
        __m128i q = _mm_loadu_si128((const __m128i *)b[i].qs);
        __m256i w = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
        w = _mm256_sub_epi8(_mm256_and_si256(w, mask), off);
        __m256i aw = _mm256_sign_epi8(w, w);
        float d = _cvtsh_ss(b[i].d);
        for (int t = 0; t < 4; t++) {
            __m256i sx = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)xq[t][i].qs), w);
            __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), _mm256_set1_epi16(1));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xq[t][i].d), _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    for (int t = 0; t < 4; t++)
        out[t] = hsum(acc[t]);
}

/* Four input vectors at once (a prompt batch): each weight block is loaded
 * and unpacked once for the four. Returns false for types without one. */
AVX2 bool eng_avx2_dot_q4x(uint32_t type, const void *row, const eng_q8x *const xq[4], int n,
                           float out[4])
{
    if (type == ENGINE_T_Q8_0) {
#if ENG_HAVE_VNNI
        if (eng_cpu_vnni()) {
            q8_0_dot4_vnni(row, xq, n / 32, out);
            return true;
        }
#endif
        q8_0_dot4_avx2(row, xq, n / 32, out);
        return true;
    }
    if (type == ENGINE_T_Q6_K) {
        q6k_dot4(row, xq, n / QK_K, out);
        return true;
    }
    if (type == ENGINE_T_Q4_0) {
        q4_0_dot4(row, xq, n / 32, out);
        return true;
    }
    return false;
}

AVX2 void eng_avx2_q4k_x_scales(const eng_q8x *xq, int n, float *out)
{
    for (int i = 0; i < n / QK_K; i++, out += 16) {
        __m256 d8, s8;
        q4k_x_scales(xq + 8 * i, &d8, &s8);
        _mm256_storeu_ps(out, d8);
        _mm256_storeu_ps(out + 8, s8);
    }
}

AVX2 float eng_avx2_dot_q(uint32_t type, const void *row, const eng_q8x *xq, int n)
{
    switch (type) {
    case ENGINE_T_Q8_0:
        return dotq_q8_0(row, xq, n / 32);
    case ENGINE_T_Q4_0:
        return dotq_q4_0(row, xq, n / 32);
    case ENGINE_T_Q4_K:
        return dotq_q4_k(row, xq, n / QK_K);
    case ENGINE_T_Q6_K:
        return dotq_q6_k(row, xq, n / QK_K);
    default:
        return 0;
    }
}

/* y[r] = dot(row r, input) for r in [r0, r1): Q4_K rows share the input's
 * scale vectors, computed once here instead of once per row. */
AVX2 void eng_avx2_matvec_q(uint32_t type, const uint8_t *data, size_t row_bytes, const eng_q8x *xq,
                            int n, float *y, int r0, int r1)
{
    if (type == ENGINE_T_Q4_K) {
#if ENG_HAVE_VNNI
        if (eng_cpu_vnni() && q4k_matvec_vnni(data, row_bytes, xq, n, y, r0, r1)) return;
#endif
        if (!eng_cpu_vnni() && q4k_matvec_avx2(data, row_bytes, xq, n, y, r0, r1)) return;
    }
    for (int r = r0; r < r1; r++)
        y[r] = eng_avx2_dot_q(type, data + (size_t)r * row_bytes, xq, n);
}

/* ------------------------------------------------ exp, attention, SiLU */

/* e^x for 8 lanes: x = n ln2 + r with |r| <= ln2/2, e^r by its Taylor
 * series to r^6 (relative error < 2e-7), 2^n through the exponent bits.
 * Inputs below -87 give 0 (softmax and SiLU only need that end right). */
AVX2 static inline __m256 exp8(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.0f), hi = _mm256_set1_ps(88.0f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), x); /* ln2 split in two */
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860677e-6f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 res = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(under, res);
}

/* Attention's softmax numerators in place, eight at a time: sc[p] = exp(sc[p] - mx);
 * returns their sum (both AVX2 attentions, F16 and Q8_0 caches). */
AVX2 static inline float softmax_exp8(float *sc, int len, float mx)
{
    __m256 vmx = _mm256_set1_ps(mx), vsum = _mm256_setzero_ps();
    int p = 0;
    for (; p + 8 <= len; p += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(sc + p), vmx));
        _mm256_storeu_ps(sc + p, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float sum = hsum(vsum);
    for (; p < len; p++) {
        sc[p] = expf(sc[p] - mx);
        sum += sc[p];
    }
    return sum;
}

AVX2 void eng_avx2_silu_mul(float *a, const float *b, int n)
{
    int i = 0;
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(a + i);
        __m256 den = _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, g)));
        _mm256_storeu_ps(a + i, _mm256_mul_ps(_mm256_div_ps(g, den), _mm256_loadu_ps(b + i)));
    }
    for (; i < n; i++)
        a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

/* 8 half floats widened to floats. */
AVX2 static inline __m256 load_h8(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* Asks for every cache line of [p, p + bytes) (the cache's rows are not line-aligned). */
AVX2 static inline void prefetch_span(const void *p, int bytes)
{
    const char *c = p;
    for (int l = 0; l < bytes; l += 64)
        _mm_prefetch(c + l, _MM_HINT_T0);
    _mm_prefetch(c + bytes - 1, _MM_HINT_T0);
}

/* a . b with b in half floats; n is a multiple of 8. */
AVX2 static float dot_f32_f16(const float *a, const uint16_t *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_h8(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load_h8(b + i + 8), s1);
    }
    for (; i < n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_h8(b + i), s0);
    return hsum(_mm256_add_ps(s0, s1));
}

AVX2 void eng_avx2_attend(const float *q, const uint16_t *k, const uint16_t *v, int stride, int hd,
                          int len, float scale, float *sc, float *out)
{
    float mx = -INFINITY;
    if (hd == 8) { /* small heads (tiny models): one register per row */
        __m256 qv = _mm256_mul_ps(_mm256_loadu_ps(q), _mm256_set1_ps(scale));
        for (int p = 0; p < len; p++) {
            float s = hsum(_mm256_mul_ps(qv, load_h8(k + (size_t)p * stride)));
            sc[p] = s;
            mx = s > mx ? s : mx;
        }
    } else {
        for (int p = 0; p < len; p++) {
            /* The positions are a cache row apart (all heads' keys in between): the head's
             * part of one eight positions on is asked for now, or each dot waits on memory. */
            if (p + 8 < len) prefetch_span(k + (size_t)(p + 8) * stride, hd * 2);
            float s = dot_f32_f16(q, k + (size_t)p * stride, hd) * scale;
            sc[p] = s;
            mx = s > mx ? s : mx;
        }
    }
    float sum = softmax_exp8(sc, len, mx);
    float inv = 1.0f / sum;
    int i = 0;
    /* 64 values at a time: eight independent FMA chains per position. One vector at a time
     * over all positions waited on each FMA's latency (a quarter of the attention time at 256
     * positions); each value gets the same FMAs in the same order either way. */
    for (; i + 64 <= hd; i += 64) {
        __m256 acc[8];
        for (int c = 0; c < 8; c++)
            acc[c] = _mm256_setzero_ps();
        for (int p = 0; p < len; p++) {
            __m256 w = _mm256_set1_ps(sc[p]);
            const uint16_t *vp = v + (size_t)p * stride + i;
            if (p + 8 < len) prefetch_span(vp + (size_t)8 * stride, 128);
            for (int c = 0; c < 8; c++)
                acc[c] = _mm256_fmadd_ps(w, load_h8(vp + 8 * c), acc[c]);
        }
        for (int c = 0; c < 8; c++)
            _mm256_storeu_ps(out + i + 8 * c, _mm256_mul_ps(acc[c], _mm256_set1_ps(inv)));
    }
    for (; i < hd; i += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int p = 0; p < len; p++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(sc[p]), load_h8(v + (size_t)p * stride + i), acc);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(acc, _mm256_set1_ps(inv)));
    }
}

/* The four horizontal sums of a, b, c, d as one vector, each added in hsum's order
 * ((x0 + x4) + (x2 + x6)) + ((x1 + x5) + (x3 + x7)), so each lane has hsum's bits. */
AVX2 static inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m128 a4 = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 b4 = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));
    __m128 c4 = _mm_add_ps(_mm256_castps256_ps128(c), _mm256_extractf128_ps(c, 1));
    __m128 d4 = _mm_add_ps(_mm256_castps256_ps128(d), _mm256_extractf128_ps(d, 1));
    /* [a0 + a2, b0 + b2, a1 + a3, b1 + b3] and the same for c, d */
    __m128 ab = _mm_add_ps(_mm_unpacklo_ps(a4, b4), _mm_unpackhi_ps(a4, b4));
    __m128 cd = _mm_add_ps(_mm_unpacklo_ps(c4, d4), _mm_unpackhi_ps(c4, d4));
    return _mm_add_ps(_mm_movelh_ps(ab, cd), _mm_movehl_ps(cd, ab));
}

/* A tile's queries padded to four (the spare slots repeat the first query, their results
 * unused), the positions all of them see, and the longest. */
typedef struct tile4 {
    const float *q[4];
    int lmin, lmax;
} tile4;

static tile4 tile4_of(const eng_att_tile *t)
{
    tile4 r = {.lmin = t->len[0], .lmax = t->len[0]};
    for (int j = 0; j < 4; j++) {
        int s = j < t->n ? j : 0;
        r.q[j] = t->q[s];
        r.lmin = CC_MIN(r.lmin, t->len[s]);
        r.lmax = CC_MAX(r.lmax, t->len[s]);
    }
    return r;
}

/* eng_attend's scores for a tile: each key is widened once for all four queries, and each
 * query's sums are eng_avx2_attend's (the same two accumulators over the same products). */
AVX2 static void tile_scores_f16(const eng_att_tile *t, const tile4 *t4, const uint16_t *k,
                                 int stride, int hd, float scale, float mx[4])
{
    const float *const *q = t4->q;
    __m128 vmx = _mm_set1_ps(-INFINITY);
    __m256 qs[4];
    if (hd == 8)
        for (int j = 0; j < 4; j++)
            qs[j] = _mm256_mul_ps(_mm256_loadu_ps(q[j]), _mm256_set1_ps(scale));
    for (int p = 0; p < t4->lmin; p++) {
        const uint16_t *kp = k + (size_t)p * stride;
        __m128 s;
        if (hd == 8) {
            __m256 kv = load_h8(kp);
            s = hsum4(_mm256_mul_ps(qs[0], kv), _mm256_mul_ps(qs[1], kv), _mm256_mul_ps(qs[2], kv),
                      _mm256_mul_ps(qs[3], kv));
        } else {
            if (p + 8 < t4->lmax) prefetch_span(kp + (size_t)8 * stride, hd * 2);
            __m256 s0[4], s1[4];
            for (int j = 0; j < 4; j++)
                s0[j] = s1[j] = _mm256_setzero_ps();
            int i = 0;
            for (; i + 16 <= hd; i += 16) {
                __m256 k0 = load_h8(kp + i), k1 = load_h8(kp + i + 8);
                for (int j = 0; j < 4; j++) {
                    s0[j] = _mm256_fmadd_ps(_mm256_loadu_ps(q[j] + i), k0, s0[j]);
                    s1[j] = _mm256_fmadd_ps(_mm256_loadu_ps(q[j] + i + 8), k1, s1[j]);
                }
            }
            for (; i < hd; i += 8) {
                __m256 k0 = load_h8(kp + i);
                for (int j = 0; j < 4; j++)
                    s0[j] = _mm256_fmadd_ps(_mm256_loadu_ps(q[j] + i), k0, s0[j]);
            }
            s = _mm_mul_ps(hsum4(_mm256_add_ps(s0[0], s1[0]), _mm256_add_ps(s0[1], s1[1]),
                                 _mm256_add_ps(s0[2], s1[2]), _mm256_add_ps(s0[3], s1[3])),
                           _mm_set1_ps(scale));
        }
        /* max(s, mx) is s > mx ? s : mx lane by lane, as the one-query loop */
        vmx = _mm_max_ps(s, vmx);
        float sv[4];
        _mm_storeu_ps(sv, s);
        for (int j = 0; j < t->n; j++)
            t->sc[j][p] = sv[j];
    }
    _mm_storeu_ps(mx, vmx);
    /* The positions only the later queries see, one query at a time. */
    for (int j = 0; j < t->n; j++)
        for (int p = t4->lmin; p < t->len[j]; p++) {
            const uint16_t *kp = k + (size_t)p * stride;
            float s = hd == 8 ? hsum(_mm256_mul_ps(qs[j], load_h8(kp)))
                              : dot_f32_f16(t->q[j], kp, hd) * scale;
            t->sc[j][p] = s;
            mx[j] = s > mx[j] ? s : mx[j];
        }
}

AVX2 void eng_avx2_attend_tile(const eng_att_tile *t, const uint16_t *k, const uint16_t *v,
                               int stride, int hd)
{
    float scale = t->scale, mx[4], inv[4];
    tile4 t4 = tile4_of(t);
    tile_scores_f16(t, &t4, k, stride, hd, scale, mx);
    for (int j = 0; j < t->n; j++)
        inv[j] = 1.0f / softmax_exp8(t->sc[j], t->len[j], mx[j]);
    const float *sc[4];
    for (int j = 0; j < 4; j++)
        sc[j] = t->sc[j < t->n ? j : 0];
    /* Values sixteen at a time for all four queries: eight FMA chains, each value vector
     * widened once for the four. Every output value gets eng_avx2_attend's FMAs in its order
     * (positions in turn from zero, then the multiplication by 1 / sum). */
    int i = 0;
    for (; i < hd; i += 16) {
        int nv = CC_MIN(2, (hd - i) / 8); /* hd is a multiple of 8 */
        __m256 acc[4][2];
        for (int j = 0; j < 4; j++)
            acc[j][0] = acc[j][1] = _mm256_setzero_ps();
        if (nv == 2)
            for (int p = 0; p < t4.lmin; p++) {
                const uint16_t *vp = v + (size_t)p * stride + i;
                if (i == 0 && p + 8 < t4.lmax) prefetch_span(vp + (size_t)8 * stride, hd * 2);
                __m256 v0 = load_h8(vp), v1 = load_h8(vp + 8);
                for (int j = 0; j < 4; j++) {
                    __m256 w = _mm256_set1_ps(sc[j][p]);
                    acc[j][0] = _mm256_fmadd_ps(w, v0, acc[j][0]);
                    acc[j][1] = _mm256_fmadd_ps(w, v1, acc[j][1]);
                }
            }
        else
            for (int p = 0; p < t4.lmin; p++) {
                __m256 v0 = load_h8(v + (size_t)p * stride + i);
                for (int j = 0; j < 4; j++)
                    acc[j][0] = _mm256_fmadd_ps(_mm256_set1_ps(sc[j][p]), v0, acc[j][0]);
            }
        for (int j = 0; j < t->n; j++) {
            for (int p = t4.lmin; p < t->len[j]; p++) {
                __m256 w = _mm256_set1_ps(sc[j][p]);
                const uint16_t *vp = v + (size_t)p * stride + i;
                for (int c = 0; c < nv; c++)
                    acc[j][c] = _mm256_fmadd_ps(w, load_h8(vp + 8 * c), acc[j][c]);
            }
            for (int c = 0; c < nv; c++)
                _mm256_storeu_ps(t->out[j] + i + 8 * c,
                                 _mm256_mul_ps(acc[j][c], _mm256_set1_ps(inv[j])));
        }
    }
}

AVX2 void eng_avx2_f16_store(uint16_t *dst, const float *src, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = engine_f32_to_f16(src[i]);
}

/* The eight 32-bit lane sums of 32 int8 products q x k (|q|, |k| <= 127): maddubs wants an
 * unsigned operand, so |k| goes against q with k's sign. */
AVX2 static inline __m256i dot_i8x32(__m256i q, __m256i k)
{
    __m256i ak = _mm256_sign_epi8(k, k), sq = _mm256_sign_epi8(q, k);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ak, sq), _mm256_set1_epi16(1));
}

AVX2 void eng_avx2_attend_q8(const float *q, const int8_t *kq, const uint16_t *kd, const int8_t *vq,
                             const uint16_t *vd, int stride, int dstride, int hd, int len,
                             float scale, float *sc, float *out)
{
    int8_t qq[ENG_KVQ_MAX_HD];
    float qd[ENG_KVQ_MAX_HD / 32];
    eng_kvq_quantize(q, hd, qq, qd);
    int nb = ENG_KVQ_BLOCKS(hd), nfull = hd / 32;
    float mx = -INFINITY;
    for (int p = 0; p < len; p++) {
        const int8_t *kp = kq + (size_t)p * stride;
        const uint16_t *dp = kd + (size_t)p * dstride;
        if (p + 8 < len) /* as eng_avx2_attend: the keys eight positions on */
            prefetch_span(kp + (size_t)8 * stride, hd);
        /* Full blocks: the integer sums scaled in their lanes, one horizontal sum per position. */
        __m256 acc = _mm256_setzero_ps();
        for (int b = 0; b < nfull; b++) {
            __m256i prod = dot_i8x32(_mm256_loadu_si256((const __m256i *)(qq + 32 * b)),
                                     _mm256_loadu_si256((const __m256i *)(kp + 32 * b)));
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(prod),
                                  _mm256_set1_ps(qd[b] * _cvtsh_ss(dp[b])), acc);
        }
        float s = nfull ? hsum(acc) : 0.0f;
        if (nfull < nb) { /* the short last block (small heads: the only one) */
            int32_t isum = 0;
            for (int i = nfull * 32; i < hd; i++)
                isum += (int32_t)qq[i] * kp[i];
            s += qd[nfull] * _cvtsh_ss(dp[nfull]) * (float)isum;
        }
        s *= scale;
        sc[p] = s;
        mx = s > mx ? s : mx;
    }
    float sum = softmax_exp8(sc, len, mx);
    __m256 inv = _mm256_set1_ps(1.0f / sum);
    /* Values block by block: one weight (softmax x the block's scale) per position for the
     * block's up to four vectors of eight. */
    for (int b = 0; b < nb; b++) {
        int nch = CC_MIN(32, hd - 32 * b) / 8;
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                         _mm256_setzero_ps()};
        for (int p = 0; p < len; p++) {
            const int8_t *vp = vq + (size_t)p * stride + 32 * b;
            if (p + 8 < len) prefetch_span(vp + (size_t)8 * stride, 8 * nch);
            __m256 w = _mm256_set1_ps(sc[p] * _cvtsh_ss(vd[(size_t)p * dstride + b]));
            for (int c = 0; c < nch; c++)
                acc[c] = _mm256_fmadd_ps(w, load_i8x8(vp + 8 * c), acc[c]);
        }
        for (int c = 0; c < nch; c++)
            _mm256_storeu_ps(out + 32 * b + 8 * c, _mm256_mul_ps(acc[c], inv));
    }
}

/* eng_avx2_attend_q8's scores for a tile: each key block's magnitudes taken once for the
 * four queries; each query's products, block sums and order are the one-query kernel's. */
AVX2 static void tile_scores_q8(const eng_att_tile *t, const tile4 *t4,
                                const int8_t (*qq)[ENG_KVQ_MAX_HD],
                                const float (*qd)[ENG_KVQ_MAX_HD / 32], const int8_t *kq,
                                const uint16_t *kd, int stride, int dstride, int hd, float mx[4])
{
    int nb = ENG_KVQ_BLOCKS(hd), nfull = hd / 32;
    for (int j = 0; j < 4; j++)
        mx[j] = -INFINITY;
    for (int p = 0; p < t4->lmax; p++) {
        const int8_t *kp = kq + (size_t)p * stride;
        const uint16_t *dp = kd + (size_t)p * dstride;
        if (p + 8 < t4->lmax) prefetch_span(kp + (size_t)8 * stride, hd);
        float s[4];
        if (p < t4->lmin) {
            __m256 acc[4];
            for (int j = 0; j < 4; j++)
                acc[j] = _mm256_setzero_ps();
            for (int b = 0; b < nfull; b++) {
                __m256i kb = _mm256_loadu_si256((const __m256i *)(kp + 32 * b));
                __m256i ak = _mm256_sign_epi8(kb, kb);
                float kdb = _cvtsh_ss(dp[b]);
                for (int j = 0; j < 4; j++) {
                    __m256i sq =
                        _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(qq[j] + 32 * b)), kb);
                    __m256i prod =
                        _mm256_madd_epi16(_mm256_maddubs_epi16(ak, sq), _mm256_set1_epi16(1));
                    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(prod),
                                             _mm256_set1_ps(qd[j][b] * kdb), acc[j]);
                }
            }
            if (nfull)
                _mm_storeu_ps(s, hsum4(acc[0], acc[1], acc[2], acc[3]));
            else
                s[0] = s[1] = s[2] = s[3] = 0.0f;
        }
        for (int j = 0; j < t->n; j++) {
            if (p >= t->len[j]) continue;
            if (p >= t4->lmin) { /* a position only some queries see: one at a time */
                __m256 acc = _mm256_setzero_ps();
                for (int b = 0; b < nfull; b++)
                    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_i8x32(
                                              _mm256_loadu_si256((const __m256i *)(qq[j] + 32 * b)),
                                              _mm256_loadu_si256((const __m256i *)(kp + 32 * b)))),
                                          _mm256_set1_ps(qd[j][b] * _cvtsh_ss(dp[b])), acc);
                s[j] = nfull ? hsum(acc) : 0.0f;
            }
            if (nfull < nb) {
                int32_t isum = 0;
                for (int i = nfull * 32; i < hd; i++)
                    isum += (int32_t)qq[j][i] * kp[i];
                s[j] += qd[j][nfull] * _cvtsh_ss(dp[nfull]) * (float)isum;
            }
            s[j] *= t->scale;
            t->sc[j][p] = s[j];
            mx[j] = s[j] > mx[j] ? s[j] : mx[j];
        }
    }
}

AVX2 void eng_avx2_attend_q8_tile(const eng_att_tile *t, const int8_t *kq, const uint16_t *kd,
                                  const int8_t *vq, const uint16_t *vd, int stride, int dstride,
                                  int hd)
{
    int8_t qq[4][ENG_KVQ_MAX_HD];
    float qd[4][ENG_KVQ_MAX_HD / 32], mx[4], inv[4];
    tile4 t4 = tile4_of(t);
    for (int j = 0; j < 4; j++) {
        if (j < t->n)
            eng_kvq_quantize(t->q[j], hd, qq[j], qd[j]);
        else { /* the spare slots compute on the first query's quants */
            memcpy(qq[j], qq[0], (size_t)hd);
            memcpy(qd[j], qd[0], sizeof(qd[0]));
        }
    }
    tile_scores_q8(t, &t4, (const int8_t(*)[ENG_KVQ_MAX_HD])qq,
                   (const float(*)[ENG_KVQ_MAX_HD / 32]) qd, kq, kd, stride, dstride, hd, mx);
    for (int j = 0; j < t->n; j++)
        inv[j] = 1.0f / softmax_exp8(t->sc[j], t->len[j], mx[j]);
    const float *sc[4];
    for (int j = 0; j < 4; j++)
        sc[j] = t->sc[j < t->n ? j : 0];
    /* Values sixteen at a time for all four queries (a block's halves in turn): each value
     * widened once for the four, each output value with eng_avx2_attend_q8's FMAs in its
     * order (weight: softmax x the block's scale). */
    for (int i = 0; i < hd; i += 16) {
        int nv = CC_MIN(2, (hd - i) / 8), b = i / 32;
        __m256 acc[4][2];
        for (int j = 0; j < 4; j++)
            acc[j][0] = acc[j][1] = _mm256_setzero_ps();
        for (int p = 0; p < t4.lmin; p++) {
            const int8_t *vp = vq + (size_t)p * stride + i;
            if (i == 0 && p + 8 < t4.lmax) prefetch_span(vp + (size_t)8 * stride, hd);
            float d = _cvtsh_ss(vd[(size_t)p * dstride + b]);
            __m256 v0 = load_i8x8(vp);
            if (nv == 2) {
                __m256 v1 = load_i8x8(vp + 8);
                for (int j = 0; j < 4; j++) {
                    __m256 w = _mm256_set1_ps(sc[j][p] * d);
                    acc[j][0] = _mm256_fmadd_ps(w, v0, acc[j][0]);
                    acc[j][1] = _mm256_fmadd_ps(w, v1, acc[j][1]);
                }
            } else
                for (int j = 0; j < 4; j++)
                    acc[j][0] = _mm256_fmadd_ps(_mm256_set1_ps(sc[j][p] * d), v0, acc[j][0]);
        }
        for (int j = 0; j < t->n; j++) {
            for (int p = t4.lmin; p < t->len[j]; p++) {
                const int8_t *vp = vq + (size_t)p * stride + i;
                __m256 w = _mm256_set1_ps(sc[j][p] * _cvtsh_ss(vd[(size_t)p * dstride + b]));
                for (int c = 0; c < nv; c++)
                    acc[j][c] = _mm256_fmadd_ps(w, load_i8x8(vp + 8 * c), acc[j][c]);
            }
            for (int c = 0; c < nv; c++)
                _mm256_storeu_ps(t->out[j] + i + 8 * c,
                                 _mm256_mul_ps(acc[j][c], _mm256_set1_ps(inv[j])));
        }
    }
}

#else /* not x86-64: never called, eng_cpu_avx2() is false */

float eng_avx2_dot_f32(const float *a, const float *b, int n)
{
    return 0;
}
void eng_avx2_axpy(float *y, float a, const float *x, int n) {}
void eng_avx2_matvec_f32(const float *W, int cols, const float *x, float *y, int r0, int r1) {}
float eng_avx2_dot_row(uint32_t type, const void *row, const float *x, int n)
{
    return 0;
}
void eng_avx2_quantize_x(uint32_t type, const float *x, int n, eng_q8x *out) {}
void eng_avx2_silu_mul(float *a, const float *b, int n) {}
bool eng_avx2_dot_q4x(uint32_t type, const void *row, const eng_q8x *const xq[4], int n,
                      float out[4])
{
    return false;
}
void eng_avx2_attend(const float *q, const uint16_t *k, const uint16_t *v, int stride, int hd,
                     int len, float scale, float *sc, float *out)
{
}
void eng_avx2_f16_store(uint16_t *dst, const float *src, int n) {}
void eng_avx2_attend_q8(const float *q, const int8_t *kq, const uint16_t *kd, const int8_t *vq,
                        const uint16_t *vd, int stride, int dstride, int hd, int len, float scale,
                        float *sc, float *out)
{
}
void eng_avx2_attend_tile(const eng_att_tile *t, const uint16_t *k, const uint16_t *v, int stride,
                          int hd)
{
}
void eng_avx2_attend_q8_tile(const eng_att_tile *t, const int8_t *kq, const uint16_t *kd,
                             const int8_t *vq, const uint16_t *vd, int stride, int dstride, int hd)
{
}
void eng_avx2_q4k_x_scales(const eng_q8x *xq, int n, float *out) {}
void eng_avx2_f16_rows(const uint16_t *W, int cols, const float *X, int n, size_t ldx, float *Y,
                       size_t ldy, int r0, int r1, float *wide)
{
}
bool eng_avx2_dot_q_both(uint32_t type, const void *row, const eng_q8x *xq, int n, float out[2])
{
    return false;
}
void eng_avx2_q4k_rows4(const uint8_t *data, size_t row_bytes, int n, const eng_q8x *const xq[4],
                        const float *const xsc[4], float *y, size_t ldy, int r0, int r1)
{
}
float eng_avx2_dot_q(uint32_t type, const void *row, const eng_q8x *xq, int n)
{
    return 0;
}
void eng_avx2_matvec_q(uint32_t type, const uint8_t *data, size_t row_bytes, const eng_q8x *xq,
                       int n, float *y, int r0, int r1)
{
}

#endif
