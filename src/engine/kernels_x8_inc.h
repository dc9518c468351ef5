/*
 * What the packed-row kernel files (kernels_x8.c, kernels_x8_q6k.c,
 * kernels_x8_vnni.c) share: their target attribute, the broadcast of an
 * input's four bytes and the unpacking of a packed Q4_K group's scales.
 * Include it after <immintrin.h>, on x86-64 only.
 */
#ifndef COCOON_ENGINE_KERNELS_X8_INC_H
#define COCOON_ENGINE_KERNELS_X8_INC_H

#include <stdint.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE inline __attribute__((always_inline))

/* Input bytes 4k..4k+3 in every 32-bit lane. */
AVX2 static INLINE __m256i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* A packed Q4_K group's 6-bit scales and minimums (blk_q4_kx8.scales, 96
 * bytes: pack.c's layout) as one byte per (row, sub-block): sub-blocks 0-3
 * in *sc_lo and *mn_lo, 4-7 in *sc_hi and *mn_hi. */
AVX2 static INLINE void q4k_x8_scales(const uint8_t *scales, __m256i *sc_lo, __m256i *sc_hi,
                                      __m256i *mn_lo, __m256i *mn_hi)
{
    const __m256i m4 = _mm256_set1_epi8(0xF), m6 = _mm256_set1_epi8(0x3F),
                  m2 = _mm256_set1_epi8(0x30);
    __m256i a = _mm256_loadu_si256((const __m256i *)scales),
            b = _mm256_loadu_si256((const __m256i *)(scales + 32)),
            c = _mm256_loadu_si256((const __m256i *)(scales + 64));
    *sc_lo = _mm256_and_si256(a, m6);
    *sc_hi =
        _mm256_or_si256(_mm256_and_si256(c, m4), _mm256_and_si256(_mm256_srli_epi32(a, 2), m2));
    *mn_lo = _mm256_and_si256(b, m6);
    *mn_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(c, 4), m4),
                             _mm256_and_si256(_mm256_srli_epi32(b, 2), m2));
}

#endif
