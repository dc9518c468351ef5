/*
 * AVX2/FMA/F16C kernels. Compiled for the baseline target with these
 * functions marked target("avx2,fma,f16c"): they are only called after
 * eng_cpu_avx2() said yes, so one binary runs on every x86-64.
 */
#include "engine/engine_int.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

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

#endif
