/*
 * What the packed-row kernel files (kernels_x8.c, kernels_x8_q6k.c) share:
 * their target attribute and the broadcast of an input's four bytes. Include
 * it after <immintrin.h>, on x86-64 only.
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

#endif
