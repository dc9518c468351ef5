/*
 * Q8_0 and Q4_0 products over rows packed in groups of eight (pack.c),
 * AVX2. An input's four values 4k..4k+3 are broadcast to the eight 32-bit
 * lanes and multiplied with the vector holding columns 4k..4k+3 of the
 * eight rows (maddubs pairs, then madd), so each lane gathers one row's
 * integer sum over a block; one conversion and one FMA then scale the eight
 * rows' block sums at once. Row-by-row kernels spend those float steps, and
 * the horizontal sum, on every row; here they are shared by eight.
 *
 * A tile is one group of eight rows against T <= 4 inputs: the weights of a
 * block are loaded (and for Q4_0 unpacked) once for the T inputs. Every
 * (row, input) pair gets the same operations in the same order whatever T
 * is and whichever rows a call covers, so a prompt batch and a token alone
 * give the same bits.
 *
 * Q4_0 keeps its weights unsigned (the stored nibbles q, 0..15) and takes
 * the offset off in integers: sum (q - 8) x = sum q x - 8 sum x, with sum x
 * the input block's isum. maddubs' pair sums are then at most 2 x 15 x 128,
 * so the eight of a block add up in 16 bits (30720 < 32768) before one
 * madd. Q8_0 weights are signed: maddubs takes |w| and the input with w's
 * sign (pair sums up to 2 x 128 x 127, no room to add two in 16 bits).
 */
#include <string.h>

#include "engine/engine_int.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE inline __attribute__((always_inline))

/* Input bytes 4k..4k+3 in every 32-bit lane. */
AVX2 static INLINE __m256i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

AVX2 static INLINE void q8_0x8_tile(const blk_q8_0x8 *g, int nb, const eng_q8x *const *x, int T,
                                    __m256 *acc)
{
    const __m256i ones = _mm256_set1_epi16(1);
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, g++) {
        /* One block's bytes (272) eight blocks ahead: a group's rows are one
         * stream, but the hardware prefetcher alone leaves generation
         * waiting on memory (1.5x faster with this, 1 thread). */
        for (int l = 0; l < 5; l++)
            _mm_prefetch((const char *)(g + 8) + 64 * l, _MM_HINT_T0);
        __m256i s[4];
        for (int t = 0; t < T; t++)
            s[t] = _mm256_setzero_si256();
        for (int k = 0; k < 8; k++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(g->qs + 32 * k));
            __m256i aw = _mm256_sign_epi8(w, w);
            for (int t = 0; t < T; t++) {
                __m256i sx = _mm256_sign_epi8(bcast4(x[t][i].qs + 4 * k), w);
                s[t] =
                    _mm256_add_epi32(s[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), ones));
            }
        }
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g->d));
        for (int t = 0; t < T; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]),
                                     _mm256_mul_ps(d, _mm256_set1_ps(x[t][i].d)), acc[t]);
    }
}

AVX2 static INLINE void q4_0x8_tile(const blk_q4_0x8 *g, int nb, const eng_q8x *const *x, int T,
                                    __m256 *acc)
{
    const __m256i ones = _mm256_set1_epi16(1), m4 = _mm256_set1_epi8(0xF);
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, g++) {
        for (int l = 0; l < 3; l++) /* as Q8_0: one block (144 bytes) eight on */
            _mm_prefetch((const char *)(g + 8) + 64 * l, _MM_HINT_T0);
        __m256i w[8];
        for (int m = 0; m < 4; m++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(g->qs + 32 * m));
            w[m] = _mm256_and_si256(q, m4);
            w[m + 4] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        }
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g->d));
        for (int t = 0; t < T; t++) {
            const eng_q8x *xb = &x[t][i];
            __m256i s = _mm256_maddubs_epi16(w[0], bcast4(xb->qs));
            for (int k = 1; k < 8; k++)
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(w[k], bcast4(xb->qs + 4 * k)));
            __m256i p =
                _mm256_sub_epi32(_mm256_madd_epi16(s, ones), _mm256_set1_epi32(8 * xb->isum));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(d, _mm256_set1_ps(xb->d)),
                                     acc[t]);
        }
    }
}

/* The tiles with a constant T, storing the eight rows' results of each
 * input at y + t * ldy. */
#define X8_TILE(T)                                                                                 \
    AVX2 static void q8_0x8_##T(const void *g, int nb, const eng_q8x *const *x, float *y,          \
                                size_t ldy)                                                        \
    {                                                                                              \
        __m256 acc[T];                                                                             \
        q8_0x8_tile(g, nb, x, T, acc);                                                             \
        for (int t = 0; t < T; t++)                                                                \
            _mm256_storeu_ps(y + (size_t)t * ldy, acc[t]);                                         \
    }                                                                                              \
    AVX2 static void q4_0x8_##T(const void *g, int nb, const eng_q8x *const *x, float *y,          \
                                size_t ldy)                                                        \
    {                                                                                              \
        __m256 acc[T];                                                                             \
        q4_0x8_tile(g, nb, x, T, acc);                                                             \
        for (int t = 0; t < T; t++)                                                                \
            _mm256_storeu_ps(y + (size_t)t * ldy, acc[t]);                                         \
    }
X8_TILE(1)
X8_TILE(2)
X8_TILE(3)
X8_TILE(4)
#undef X8_TILE

typedef void (*x8_tile_fn)(const void *g, int nb, const eng_q8x *const *x, float *y, size_t ldy);

AVX2 void eng_avx2_x8_rows(const eng_tensor *W, const eng_q8x *xq, int n, float *Y, size_t ldy,
                           int r0, int r1)
{
    static const x8_tile_fn q8[5] = {NULL, q8_0x8_1, q8_0x8_2, q8_0x8_3, q8_0x8_4};
    static const x8_tile_fn q4[5] = {NULL, q4_0x8_1, q4_0x8_2, q4_0x8_3, q4_0x8_4};
    const x8_tile_fn *fn = W->type == ENGINE_T_Q8_0 ? q8 : q4;
    r1 = CC_MIN(r1, W->packed_rows);
    if (r0 >= r1) return;
    int nb = W->cols / 32;
    size_t group = 8 * W->row_bytes;
    /* Groups in blocks of about 32 KB that stay in cache while every group
     * of four inputs (in L1) goes through them. */
    int g0 = r0 / 8, g1 = (r1 + 7) / 8;
    int blk = (int)CC_MAX(1, 32768 / group);
    for (int b0 = g0; b0 < g1; b0 += blk) {
        int b1 = CC_MIN(g1, b0 + blk);
        for (int t = 0; t < n; t += 4) {
            int T = CC_MIN(4, n - t);
            const eng_q8x *x[4];
            for (int k = 0; k < T; k++)
                x[k] = xq + (size_t)(t + k) * nb;
            for (int g = b0; g < b1; g++) {
                const uint8_t *gp = W->data + (size_t)g * group;
                int lo = g * 8, hi = lo + 8;
                if (lo >= r0 && hi <= r1) {
                    fn[T](gp, nb, x, Y + (size_t)t * ldy + lo, ldy);
                } else { /* a group cut by the range: all eight, then the wanted ones */
                    float tmp[4 * 8];
                    fn[T](gp, nb, x, tmp, 8);
                    for (int k = 0; k < T; k++)
                        for (int r = CC_MAX(lo, r0); r < CC_MIN(hi, r1); r++)
                            Y[(size_t)(t + k) * ldy + r] = tmp[8 * k + r - lo];
                }
            }
        }
    }
}

#else /* not x86-64: nothing is packed (eng_pack_rows8 needs AVX2) */

void eng_avx2_x8_rows(const eng_tensor *W, const eng_q8x *xq, int n, float *Y, size_t ldy, int r0,
                      int r1)
{
}

#endif
