/*
 * The packed Q8_0 and Q4_0 tiles of kernels_x8.c with vpdpbusd: AVX-VNNI
 * (256 bits, eight rows) and AVX-512 VNNI (512 bits, sixteen rows: two
 * groups of eight side by side, so each broadcast input word and each
 * instruction serve twice the rows). Chosen at run time by kernels_x8.c.
 *
 * Same integers, same bits. vpdpbusd adds the four u8 x s8 products of a
 * 32-bit lane to it exactly (32-bit sums, no intermediate saturation). The
 * AVX2 tiles get exact sums too: Q4_0's maddubs pairs are at most 2 x 15 x
 * 128 and eight of them 30720 < 32767; Q8_0's (|w| with the sign moved to
 * the input, which quantize32 keeps in -127..127) at most 2 x 128 x 127 =
 * 32512. So every (row, input, block) gets the same int32 as there, and the
 * float steps (conversion, d_w x d_x, one FMA per block, in block order)
 * are the same instructions lane by lane: the results are bit-identical to
 * the AVX2 tiles for any tile width, batch size and row range.
 *
 * Q8_0 weights are signed and so are the inputs, while vpdpbusd wants one
 * operand unsigned. Rather than moving signs per (weight vector, input) as
 * the AVX2 tile does (sign of the weights, then of the input), each
 * broadcast input word is made unsigned, u = x + 128 (x xor 0x80), and the
 * bias taken off per block: sum w x = sum w u - 128 sum w, where sum w (per
 * row and block) is one more vpdpbusd of the weights with bytes of 1, shared
 * by all the inputs of a tile. |sum w u| <= 32 x 128 x 255: no overflow.
 * Biasing each input block once into a stack buffer and
 * broadcasting from there was 1.4-1.5x slower for four inputs on an AMD
 * EPYC (4-byte loads from a 32-byte store wait on store forwarding); two
 * accumulation chains per input instead of one gained nothing there.
 */
#include <string.h>

#include "engine/engine_int.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define INLINE inline __attribute__((always_inline))

/* ---------------------------------------------------- AVX-VNNI, 8 rows */

/* gcc 11 and later know AVX-VNNI (as kernels_avx2.c; eng_cpu_vnni). */
#if !defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11
#define X8_HAVE_AVXVNNI 1
#define VNNI256 __attribute__((target("avx2,fma,f16c,avxvnni")))

/* Input bytes 4k..4k+3 in every 32-bit lane. */
VNNI256 static INLINE __m256i bcast4(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

VNNI256 static INLINE void q8_0x8_tile(const blk_q8_0x8 *g, int nb, const eng_q8x *const *x, int T,
                                       __m256 *acc)
{
    const __m256i ones = _mm256_set1_epi8(1), bias = _mm256_set1_epi8((char)0x80);
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, g++) {
        for (int l = 0; l < 5; l++) /* as the AVX2 tile: one block, eight ahead */
            _mm_prefetch((const char *)(g + 8) + 64 * l, _MM_HINT_T0);
        __m256i s[4], ws = _mm256_setzero_si256();
        for (int t = 0; t < T; t++)
            s[t] = _mm256_setzero_si256();
        for (int k = 0; k < 8; k++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(g->qs + 32 * k));
            ws = _mm256_dpbusd_avx_epi32(ws, ones, w);
            for (int t = 0; t < T; t++)
                s[t] = _mm256_dpbusd_avx_epi32(
                    s[t], _mm256_xor_si256(bcast4(x[t][i].qs + 4 * k), bias), w);
        }
        ws = _mm256_slli_epi32(ws, 7);
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g->d));
        for (int t = 0; t < T; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s[t], ws)),
                                     _mm256_mul_ps(d, _mm256_set1_ps(x[t][i].d)), acc[t]);
    }
}

VNNI256 static INLINE void q4_0x8_tile(const blk_q4_0x8 *g, int nb, const eng_q8x *const *x, int T,
                                       __m256 *acc)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, g++) {
        for (int l = 0; l < 3; l++)
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
            __m256i s = _mm256_setzero_si256();
            for (int k = 0; k < 8; k++)
                s = _mm256_dpbusd_avx_epi32(s, w[k], bcast4(xb->qs + 4 * k));
            __m256i p = _mm256_sub_epi32(s, _mm256_set1_epi32(8 * xb->isum));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(d, _mm256_set1_ps(xb->d)),
                                     acc[t]);
        }
    }
}

#define X8_TILE(name, tile, T)                                                                     \
    VNNI256 static void name##_##T(const void *g, int nb, const eng_q8x *const *x, float *y,       \
                                   size_t ldy)                                                     \
    {                                                                                              \
        __m256 acc[T];                                                                             \
        tile(g, nb, x, T, acc);                                                                    \
        for (int t = 0; t < T; t++)                                                                \
            _mm256_storeu_ps(y + (size_t)t * ldy, acc[t]);                                         \
    }
X8_TILE(q8_0x8, q8_0x8_tile, 2)
X8_TILE(q8_0x8, q8_0x8_tile, 3)
X8_TILE(q8_0x8, q8_0x8_tile, 4)
X8_TILE(q4_0x8, q4_0x8_tile, 1)
X8_TILE(q4_0x8, q4_0x8_tile, 2)
X8_TILE(q4_0x8, q4_0x8_tile, 3)
X8_TILE(q4_0x8, q4_0x8_tile, 4)
#undef X8_TILE
/* Q8_0 with one input (generation) keeps the AVX2 tile (a NULL entry): a
 * VNNI one with the AVX2 tile's sign moves was faster on a matrix in L3
 * (24-25 against 27.5 us per 2048 x 768 product, AMD EPYC, thread CPU time)
 * but a 1-thread generation of the 143 MB model took 1.73-1.82 s of CPU time
 * for 64 tokens against 1.33-1.65 with AVX2 (3 alternating runs, load 9-10):
 * streaming from memory, the fewer instructions do not pay. */
static const eng_x8_tile_fn q8_256[5] = {NULL, NULL, q8_0x8_2, q8_0x8_3, q8_0x8_4};
static const eng_x8_tile_fn q4_256[5] = {NULL, q4_0x8_1, q4_0x8_2, q4_0x8_3, q4_0x8_4};
#else
#define X8_HAVE_AVXVNNI 0
#endif

/* ------------------------------------------------ AVX-512 VNNI, 16 rows */

/* gcc and clang both know AVX-512 VNNI by name, also at run time. */
#define VNNI512                                                                                    \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

VNNI512 static INLINE __m512i bcast4z(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* 32 bytes of each group: the first group's rows in lanes 0-7, the second's in 8-15. */
VNNI512 static INLINE __m512i load2(const void *a, const void *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

VNNI512 static INLINE __m512 scales2(const uint16_t *a, const uint16_t *b)
{
    return _mm512_cvtph_ps(
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
                                _mm_loadu_si128((const __m128i *)b), 1));
}

/* g: block 0 of the first group; the second group's blocks follow its nb. */
VNNI512 static INLINE void q8_0x16_tile(const blk_q8_0x8 *g, int nb, const eng_q8x *const *x, int T,
                                        __m512 *acc)
{
    const __m512i ones = _mm512_set1_epi8(1);
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    const blk_q8_0x8 *h = g + nb;
    for (int t = 0; t < T; t++)
        acc[t] = _mm512_setzero_ps();
    for (int i = 0; i < nb; i++, g++, h++) {
        for (int l = 0; l < 5; l++) {
            _mm_prefetch((const char *)(g + 8) + 64 * l, _MM_HINT_T0);
            _mm_prefetch((const char *)(h + 8) + 64 * l, _MM_HINT_T0);
        }
        __m512i s[4], ws = _mm512_setzero_si512();
        for (int t = 0; t < T; t++)
            s[t] = _mm512_setzero_si512();
        for (int k = 0; k < 8; k++) {
            __m512i w = load2(g->qs + 32 * k, h->qs + 32 * k);
            ws = _mm512_dpbusd_epi32(ws, ones, w);
            for (int t = 0; t < T; t++)
                s[t] = _mm512_dpbusd_epi32(s[t],
                                           _mm512_xor_si512(bcast4z(x[t][i].qs + 4 * k), bias), w);
        }
        ws = _mm512_slli_epi32(ws, 7);
        __m512 d = scales2(g->d, h->d);
        for (int t = 0; t < T; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s[t], ws)),
                                     _mm512_mul_ps(d, _mm512_set1_ps(x[t][i].d)), acc[t]);
    }
}

VNNI512 static INLINE void q4_0x16_tile(const blk_q4_0x8 *g, int nb, const eng_q8x *const *x, int T,
                                        __m512 *acc)
{
    const __m512i m4 = _mm512_set1_epi8(0xF);
    const blk_q4_0x8 *h = g + nb;
    for (int t = 0; t < T; t++)
        acc[t] = _mm512_setzero_ps();
    for (int i = 0; i < nb; i++, g++, h++) {
        for (int l = 0; l < 3; l++) {
            _mm_prefetch((const char *)(g + 8) + 64 * l, _MM_HINT_T0);
            _mm_prefetch((const char *)(h + 8) + 64 * l, _MM_HINT_T0);
        }
        __m512i w[8];
        for (int m = 0; m < 4; m++) {
            __m512i q = load2(g->qs + 32 * m, h->qs + 32 * m);
            w[m] = _mm512_and_si512(q, m4);
            w[m + 4] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        }
        __m512 d = scales2(g->d, h->d);
        for (int t = 0; t < T; t++) {
            const eng_q8x *xb = &x[t][i];
            __m512i s = _mm512_setzero_si512();
            for (int k = 0; k < 8; k++)
                s = _mm512_dpbusd_epi32(s, w[k], bcast4z(xb->qs + 4 * k));
            __m512i p = _mm512_sub_epi32(s, _mm512_set1_epi32(8 * xb->isum));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(d, _mm512_set1_ps(xb->d)),
                                     acc[t]);
        }
    }
}

#define X16_TILE(name, tile, T)                                                                    \
    VNNI512 static void name##_##T(const void *g, int nb, const eng_q8x *const *x, float *y,       \
                                   size_t ldy)                                                     \
    {                                                                                              \
        __m512 acc[T];                                                                             \
        tile(g, nb, x, T, acc);                                                                    \
        for (int t = 0; t < T; t++)                                                                \
            _mm512_storeu_ps(y + (size_t)t * ldy, acc[t]);                                         \
    }
X16_TILE(q8_0x16, q8_0x16_tile, 2)
X16_TILE(q8_0x16, q8_0x16_tile, 3)
X16_TILE(q8_0x16, q8_0x16_tile, 4)
X16_TILE(q4_0x16, q4_0x16_tile, 2)
X16_TILE(q4_0x16, q4_0x16_tile, 3)
X16_TILE(q4_0x16, q4_0x16_tile, 4)
#undef X16_TILE
/* No sixteen-row tiles for one input: generation streams the weights from
 * memory, and two weight streams at once prefetch worse than one. On an AMD
 * EPYC the sixteen-row Q4_0 tile took 78% of a 1-thread generation's
 * profile against 69% for the AVX2 eight-row one, 1.2-1.4 s of CPU time
 * for 64 tokens against 0.8-0.9 (load 11), although it was faster on a
 * matrix that fits in L3; for Q8_0 the eight-row tiles were also 5-25%
 * faster already from L3. */
static const eng_x8_tile_fn q8_512[5] = {NULL, NULL, q8_0x16_2, q8_0x16_3, q8_0x16_4};
static const eng_x8_tile_fn q4_512[5] = {NULL, NULL, q4_0x16_2, q4_0x16_3, q4_0x16_4};

bool eng_x8_vnni_tiles(int kind, uint32_t type, const eng_x8_tile_fn **tiles8,
                       const eng_x8_tile_fn **tiles16)
{
    bool q8 = type == ENGINE_T_Q8_0;
    if (!q8 && type != ENGINE_T_Q4_0) return false;
    if (kind == ENG_X8_AVX512VNNI) {
        if (!eng_cpu_avx512vnni()) return false;
        *tiles16 = q8 ? q8_512 : q4_512;
        /* A lone group (an odd one at the end of a range) takes the 256-bit
         * tile: every AVX-512 VNNI CPU that has AVX-VNNI too; the others
         * (Ice Lake, Zen 4) the AVX2 one, whose bits are the same. */
        *tiles8 = NULL;
#if X8_HAVE_AVXVNNI
        if (eng_cpu_vnni()) *tiles8 = q8 ? q8_256 : q4_256;
#endif
        return true;
    }
#if X8_HAVE_AVXVNNI
    if (kind == ENG_X8_AVXVNNI && eng_cpu_vnni()) {
        *tiles8 = q8 ? q8_256 : q4_256;
        *tiles16 = NULL;
        return true;
    }
#endif
    return false;
}

#else /* not x86-64 */

bool eng_x8_vnni_tiles(int kind, uint32_t type, const eng_x8_tile_fn **tiles8,
                       const eng_x8_tile_fn **tiles16)
{
    return false;
}

#endif
