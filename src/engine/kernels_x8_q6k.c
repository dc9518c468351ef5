/*
 * Q6_K products over rows packed in groups of eight (blk_q6_kx8, pack.c),
 * AVX2, the tiles that eng_avx2_x8_rows (kernels_x8.c) runs for Q6_K. As for
 * Q8_0 and Q4_0 there, an input's four values 4c..4c+3 are broadcast to the
 * eight 32-bit lanes against the vector of those columns of the eight rows,
 * so each lane gathers one row's sums and the float steps serve eight rows.
 *
 * The 6-bit values stay unsigned (q = ggml's value + 32, 0..63): maddubs'
 * pair sums are then at most 2 x 63 x 127 = 16002, so two of them add up in
 * 16 bits (32004) before a madd applies the row's sub-block scale (int8,
 * both 16-bit halves of the lane) and widens. The offset is taken off in
 * integers per input block: sum (q - 32) x = sum q x - 32 sum x, where the
 * input's two 16-value sums (eng_q8x.half_sum) meet the row's two scales of
 * the block in one madd. Per input block and row this is one exact integer,
 * then one conversion and one FMA with d x the input's scale.
 *
 * A tile is one group of eight rows against T <= 4 inputs, the weights
 * unpacked once for the T. Every (row, input) pair gets the same operations
 * in the same order whatever T is and whichever rows a call covers, so a
 * prompt batch and a token alone give the same bits.
 */
#include <string.h>

#include "engine/engine_int.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "engine/kernels_x8_inc.h"

/* Sub-block s's four weight vectors (columns 4c..4c+3 of the eight rows,
 * c < 4), unsigned 6-bit values, from its three byte vectors (layout in
 * engine_int.h): c = 0, 1, 2 are their low six bits, c = 3 their top two
 * bits put together. The 16-bit shifts of the masked top bits move no bit
 * across a byte. */
AVX2 static INLINE void q6_kx8_unpack(const uint8_t *q, __m256i w[4])
{
    const __m256i m6 = _mm256_set1_epi8(0x3F);
    __m256i a = _mm256_loadu_si256((const __m256i *)q),
            b = _mm256_loadu_si256((const __m256i *)(q + 32)),
            c = _mm256_loadu_si256((const __m256i *)(q + 64));
    w[0] = _mm256_and_si256(a, m6);
    w[1] = _mm256_and_si256(b, m6);
    w[2] = _mm256_and_si256(c, m6);
    w[3] = _mm256_or_si256(_mm256_or_si256(_mm256_srli_epi16(_mm256_andnot_si256(m6, a), 6),
                                           _mm256_srli_epi16(_mm256_andnot_si256(m6, b), 4)),
                           _mm256_srli_epi16(_mm256_andnot_si256(m6, c), 2));
}

/* One sub-block (16 values of the eight rows) against an input's 16 bytes:
 * four maddubs, their 16-bit pair sums added two by two, then a madd
 * applies each row's scale and widens. */
AVX2 static INLINE __m256i q6_kx8_sub(const __m256i w[4], const int8_t *x, __m256i sc)
{
    __m256i a = _mm256_add_epi16(_mm256_maddubs_epi16(w[0], bcast4(x)),
                                 _mm256_maddubs_epi16(w[1], bcast4(x + 4)));
    __m256i b = _mm256_add_epi16(_mm256_maddubs_epi16(w[2], bcast4(x + 8)),
                                 _mm256_maddubs_epi16(w[3], bcast4(x + 12)));
    return _mm256_add_epi32(_mm256_madd_epi16(a, sc), _mm256_madd_epi16(b, sc));
}

AVX2 static INLINE void q6_kx8_tile(const blk_q6_kx8 *g, int nb, const eng_q8x *const *x, int T,
                                    __m256 *acc)
{
    /* A lane's two 16-bit scales (sub-blocks 2p, 2p + 1) each in both halves. */
    const __m256i dup0 = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1,
                                          0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13),
                  dup1 = _mm256_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15, 2,
                                          3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15);
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int i = 0; i < nb / 8; i++, g++) {
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g->d));
        for (int p = 0; p < 8; p++) {
            /* The group two ahead, 210 bytes of it per input block: a
             * group's rows are one stream, and the hardware prefetcher alone
             * leaves generation waiting on memory (as for Q8_0). */
            for (int l = 0; l < 4; l++)
                _mm_prefetch((const char *)(g + 2) + 210 * p + 64 * l, _MM_HINT_T0);
            __m256i sp =
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(g->scales + 16 * p)));
            __m256i s0 = _mm256_shuffle_epi8(sp, dup0), s1 = _mm256_shuffle_epi8(sp, dup1);
            __m256i w0[4], w1[4];
            q6_kx8_unpack(g->qs + 96 * (2 * p), w0);
            q6_kx8_unpack(g->qs + 96 * (2 * p + 1), w1);
            for (int t = 0; t < T; t++) {
                const eng_q8x *xb = &x[t][8 * i + p];
                __m256i s =
                    _mm256_add_epi32(q6_kx8_sub(w0, xb->qs, s0), q6_kx8_sub(w1, xb->qs + 16, s1));
                /* 32 x (scale 2p x half_sum[0] + scale 2p+1 x half_sum[1]) */
                int32_t hs;
                memcpy(&hs, xb->half_sum, 4);
                __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sp, _mm256_set1_epi32(hs)), 5);
                s = _mm256_sub_epi32(s, off);
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
                                         _mm256_mul_ps(d, _mm256_set1_ps(xb->d)), acc[t]);
            }
        }
    }
}

/* The tiles with a constant T, storing the eight rows' results of each
 * input at y + t * ldy. */
#define Q6_KX8_TILE(T)                                                                             \
    AVX2 void eng_avx2_q6_kx8_##T(const void *g, int nb, const eng_q8x *const *x, float *y,        \
                                  size_t ldy)                                                      \
    {                                                                                              \
        __m256 acc[T];                                                                             \
        q6_kx8_tile(g, nb, x, T, acc);                                                             \
        for (int t = 0; t < T; t++)                                                                \
            _mm256_storeu_ps(y + (size_t)t * ldy, acc[t]);                                         \
    }
Q6_KX8_TILE(1)
Q6_KX8_TILE(2)
Q6_KX8_TILE(3)
Q6_KX8_TILE(4)
#undef Q6_KX8_TILE

#else /* not x86-64: nothing is packed (eng_pack_rows8 needs AVX2) */

void eng_avx2_q6_kx8_1(const void *g, int nb, const eng_q8x *const *x, float *y, size_t ldy) {}
void eng_avx2_q6_kx8_2(const void *g, int nb, const eng_q8x *const *x, float *y, size_t ldy) {}
void eng_avx2_q6_kx8_3(const void *g, int nb, const eng_q8x *const *x, float *y, size_t ldy) {}
void eng_avx2_q6_kx8_4(const void *g, int nb, const eng_q8x *const *x, float *y, size_t ldy) {}

#endif
