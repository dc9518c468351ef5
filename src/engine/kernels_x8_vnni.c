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

#include "engine/kernels_x8_inc.h"

/* ---------------------------------------------------- AVX-VNNI, 8 rows */

/* gcc 11 and later know AVX-VNNI (as kernels_avx2.c; eng_cpu_vnni). */
#if !defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11
#define X8_HAVE_AVXVNNI 1
#define VNNI256 __attribute__((target("avx2,fma,f16c,avxvnni")))

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
/* Q8_0 with one input (generation) keeps the AVX2 tile here (a NULL entry;
 * AVX-512 VNNI CPUs take q8_0x8z_1 below): a
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
 * faster already from L3. One input takes the eight-row 512-bit tiles
 * below, one stream. */
static const eng_x8_tile_fn q8_512[5] = {NULL, NULL, q8_0x16_2, q8_0x16_3, q8_0x16_4};
static const eng_x8_tile_fn q4_512[5] = {NULL, NULL, q4_0x16_2, q4_0x16_3, q4_0x16_4};

/* Q4_K's sub-block scales j & 3 of the 6-bit scale vectors (row r's bytes
 * in its 32-bit lane) as a whole 32-bit lane per row, the multiplier of
 * q4_kx16_tile's 32-bit sums (0x80: zero). */
#define PICK1(b)                                                                                   \
    b, 0x80, 0x80, 0x80, b + 4, 0x80, 0x80, 0x80, b + 8, 0x80, 0x80, 0x80, b + 12, 0x80, 0x80, 0x80
#define PICK4(b) PICK1(b), PICK1(b), PICK1(b), PICK1(b)
static const uint8_t q4k_pick32[4][64] = {{PICK4(0)}, {PICK4(1)}, {PICK4(2)}, {PICK4(3)}};
#undef PICK4
#undef PICK1

/* Two neighbouring groups of packed Q4_K rows (sixteen rows) against T = 2-4
 * inputs; xs as for kernels_x8.c's q4_kx8_tile, whose steps this follows.
 * Same integers: the AVX2 tile adds a sub-block's 32 products nibble x input
 * per row as two 16-bit halves (each at most 16 x 15 x 128 = 30720 in
 * magnitude, no saturation), and one madd with the 6-bit scale in both
 * halves gives scale x (the halves' sum), exactly. Here vpdpbusd adds the
 * same 32 products straight into 32 bits (exact, no intermediate
 * saturation) and vpmulld applies the scale: the same int32 per sub-block;
 * the super-block's sum of eight (at most 8 x 63 x 32 x 15 x 128 < 2^31)
 * and the minimums' term (the same madds) then too. The float steps are the
 * AVX2 tile's, lane by lane and in the same order (d x input scale, FMA;
 * dmin x input scale, FNMA), so the bits are the AVX2 tile's. */
VNNI512 static INLINE void q4_kx16_tile(const blk_q4_kx8 *g, int nb, const eng_q8x *const *x,
                                        const int32_t *const *xs, int T, __m512 *acc)
{
    const __m512i m4 = _mm512_set1_epi8(0xF), m6 = _mm512_set1_epi8(0x3F),
                  m2 = _mm512_set1_epi8(0x30), lo16 = _mm512_set1_epi16(0xFF);
    const blk_q4_kx8 *h = g + nb;
    for (int t = 0; t < T; t++)
        acc[t] = _mm512_setzero_ps();
    for (int i = 0; i < nb; i++, g++, h++) {
        for (int l = 0; l < 18; l++) { /* as the AVX2 tile, for both groups */
            _mm_prefetch((const char *)(g + 2) + 64 * l, _MM_HINT_T0);
            _mm_prefetch((const char *)(h + 2) + 64 * l, _MM_HINT_T0);
        }
        __m512i a = load2(g->scales, h->scales), b = load2(g->scales + 32, h->scales + 32),
                c = load2(g->scales + 64, h->scales + 64);
        __m512i sc_lo = _mm512_and_si512(a, m6),
                sc_hi = _mm512_or_si512(_mm512_and_si512(c, m4),
                                        _mm512_and_si512(_mm512_srli_epi32(a, 2), m2));
        __m512i mn_lo = _mm512_and_si512(b, m6),
                mn_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(c, 4), m4),
                                        _mm512_and_si512(_mm512_srli_epi32(b, 2), m2));
        __m512i isum[4];
        for (int t = 0; t < T; t++)
            isum[t] = _mm512_setzero_si512();
            /* Both nibbles of each loaded vector at once (sub-blocks 2k and
             * 2k + 1): 2T accumulators fit the 32 registers. */
#pragma GCC unroll 1
        for (int k2 = 0; k2 < 4; k2++) {
            const uint8_t *qg = g->qs + 256 * k2, *qh = h->qs + 256 * k2;
            const int8_t *xl[4], *xh[4];
            __m512i sl[4], sh[4];
            for (int t = 0; t < T; t++) {
                xl[t] = x[t][8 * i + 2 * k2].qs;
                xh[t] = x[t][8 * i + 2 * k2 + 1].qs;
                sl[t] = sh[t] = _mm512_setzero_si512();
            }
            for (int k = 0; k < 8; k++) {
                __m512i v = load2(qg + 32 * k, qh + 32 * k);
                __m512i wl = _mm512_and_si512(v, m4),
                        wh = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                for (int t = 0; t < T; t++) {
                    sl[t] = _mm512_dpbusd_epi32(sl[t], wl, bcast4z(xl[t] + 4 * k));
                    sh[t] = _mm512_dpbusd_epi32(sh[t], wh, bcast4z(xh[t] + 4 * k));
                }
            }
            __m512i s4 = k2 < 2 ? sc_lo : sc_hi;
            __m512i scl = _mm512_shuffle_epi8(
                        s4, _mm512_loadu_si512((const void *)q4k_pick32[(2 * k2) & 3])),
                    sch = _mm512_shuffle_epi8(
                        s4, _mm512_loadu_si512((const void *)q4k_pick32[(2 * k2 + 1) & 3]));
            for (int t = 0; t < T; t++)
                isum[t] =
                    _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(sl[t], scl),
                                                               _mm512_mullo_epi32(sh[t], sch)));
        }
        /* minimums as 16-bit pairs (0, 2), (1, 3), (4, 6), (5, 7) per row */
        __m512i mv[4] = {_mm512_and_si512(mn_lo, lo16), _mm512_srli_epi16(mn_lo, 8),
                         _mm512_and_si512(mn_hi, lo16), _mm512_srli_epi16(mn_hi, 8)};
        __m512 d = scales2(g->d, h->d), dm = scales2(g->dmin, h->dmin);
        for (int t = 0; t < T; t++) {
            const int32_t *s = xs[t] + 4 * i;
            __m512i mt = _mm512_add_epi32(
                _mm512_add_epi32(_mm512_madd_epi16(mv[0], _mm512_set1_epi32(s[0])),
                                 _mm512_madd_epi16(mv[1], _mm512_set1_epi32(s[1]))),
                _mm512_add_epi32(_mm512_madd_epi16(mv[2], _mm512_set1_epi32(s[2])),
                                 _mm512_madd_epi16(mv[3], _mm512_set1_epi32(s[3]))));
            __m512 xd = _mm512_set1_ps(x[t][8 * i].d);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, xd), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mt), _mm512_mul_ps(dm, xd), acc[t]);
        }
    }
}

#define X16_Q4K_TILE(T)                                                                            \
    VNNI512 static void q4_kx16_##T(const void *g, int nb, const eng_q8x *const *x,                \
                                    const int32_t *const *xs, float *y, size_t ldy)                \
    {                                                                                              \
        __m512 acc[T];                                                                             \
        q4_kx16_tile(g, nb, x, xs, T, acc);                                                        \
        for (int t = 0; t < T; t++)                                                                \
            _mm512_storeu_ps(y + (size_t)t * ldy, acc[t]);                                         \
    }
X16_Q4K_TILE(2)
X16_Q4K_TILE(3)
X16_Q4K_TILE(4)
#undef X16_Q4K_TILE
/* One input (generation): the eight-row q4_kx8z_1 below, for the reason
 * Q8_0 and Q4_0 have no sixteen-row one-input tiles above. */
static const eng_x8_q4k_fn q4k_512[5] = {NULL, NULL, q4_kx16_2, q4_kx16_3, q4_kx16_4};

/* ------------------------------- AVX-512 VNNI, 8 rows, one input */

/* Generation: one group of eight rows against one input, 512 bits at a
 * time. A register holds two neighbouring 32-byte vectors of a block (the
 * same eight rows, columns 4k..4k+3 and 4k+4..4k+7), so the group stays one
 * contiguous stream (the sixteen-row tiles read two, which stream worse),
 * and the two halves' int32 sums add up to the eight-row tiles' per block.
 * The input block's 32 bytes are loaded once and each half gets its word
 * with one permute (pair_idx). Integer sums do not depend on their order
 * and the float steps are the AVX2 tiles', so the bits are theirs.
 *
 * No software prefetch for Q8_0 and Q4_0: these tiles read a group's bytes
 * in order with 64-byte loads, and on an AMD EPYC (Zen 5, 2 cores shared
 * with other jobs, best thread CPU time of 7-9 alternating rounds) the
 * hardware prefetcher alone streamed a 71 MB Q8_0 matrix at 19.7-26 GB/s,
 * faster in four runs of five than with the AVX2 tiles' prefetch eight
 * blocks ahead (17.5-23; 16 blocks, or into L2 only, no better), and a
 * 38 MB Q4_0 one at 22.9 against 19.4 (one run). Q4_K's tile, with more
 * work per byte, gained from it instead (24.8-26.9 GB/s four super-blocks
 * ahead against 21.7-22.3 without). */

/* Permute indices: input words 2p in lanes 0-7 and 2p + 1 in lanes 8-15. */
VNNI512 static INLINE __m512i pair_idx(int p)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(2 * p)),
                              _mm256_set1_epi32(2 * p + 1), 1);
}

/* An input block's 32 bytes in the low half of a register (the permutes
 * pick from words 0-7 only). */
VNNI512 static INLINE __m512i xload(const int8_t *qs)
{
    return _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)qs));
}

VNNI512 static INLINE __m256i halves(__m512i s)
{
    return _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
}

/* Q8_0. Here the weights are made unsigned rather than the input: sum w x
 * = sum (w + 128) x - 128 sum x, with w + 128 = w xor 0x80 (one cheap
 * operation per weight vector, no second vpdpbusd for the weights' sums)
 * and sum x the input block's isum; |sum (w + 128) x| <= 32 x 255 x 127. */
VNNI512 static void q8_0x8z_1(const void *gv, int nb, const eng_q8x *const *x, float *y, size_t ldy)
{
    (void)ldy;
    const blk_q8_0x8 *g = gv;
    const eng_q8x *xb = x[0];
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, g++, xb++) {
        __m512i xz = xload(xb->qs), s = _mm512_setzero_si512();
        for (int p = 0; p < 4; p++) {
            __m512i w = _mm512_xor_si512(_mm512_loadu_si512((const void *)(g->qs + 64 * p)), bias);
            s = _mm512_dpbusd_epi32(s, w, _mm512_permutexvar_epi32(pair_idx(p), xz));
        }
        __m256i s8 = _mm256_sub_epi32(halves(s), _mm256_set1_epi32(128 * xb->isum));
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g->d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s8), _mm256_mul_ps(d, _mm256_set1_ps(xb->d)), acc);
    }
    _mm256_storeu_ps(y, acc);
}

/* Q4_0: vectors 2p and 2p + 1 hold values of words 2p, 2p + 1 (low
 * nibbles) and 2p + 4, 2p + 5 (high nibbles); unsigned nibbles against the
 * signed input, less 8 x isum, as the other Q4_0 tiles. */
VNNI512 static void q4_0x8z_1(const void *gv, int nb, const eng_q8x *const *x, float *y, size_t ldy)
{
    (void)ldy;
    const blk_q4_0x8 *g = gv;
    const eng_q8x *xb = x[0];
    const __m512i m4 = _mm512_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, g++, xb++) {
        __m512i xz = xload(xb->qs), s = _mm512_setzero_si512();
        for (int p = 0; p < 2; p++) {
            __m512i q = _mm512_loadu_si512((const void *)(g->qs + 64 * p));
            s = _mm512_dpbusd_epi32(s, _mm512_and_si512(q, m4),
                                    _mm512_permutexvar_epi32(pair_idx(p), xz));
            s = _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4),
                                    _mm512_permutexvar_epi32(pair_idx(p + 2), xz));
        }
        __m256i s8 = _mm256_sub_epi32(halves(s), _mm256_set1_epi32(8 * xb->isum));
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g->d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s8), _mm256_mul_ps(d, _mm256_set1_ps(xb->d)), acc);
    }
    _mm256_storeu_ps(y, acc);
}

/* Q4_K, after q4_kx16_tile with one group: sub-blocks 2h and 2h + 1 from
 * the low and high nibbles of the same 256 bytes, each sub-block's 32
 * products summed into 32 bits by vpdpbusd and scaled by vpmulld (the
 * AVX2 tile's integer), the minimums' term and float steps as there. */
VNNI512 static void q4_kx8z_1(const void *gv, int nb, const eng_q8x *const *x,
                              const int32_t *const *xs, float *y, size_t ldy)
{
    (void)ldy;
    const blk_q4_kx8 *g = gv;
    const __m256i lo16 = _mm256_set1_epi16(0xFF);
    const __m512i m4z = _mm512_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, g++) {
        /* Q4_K does prefetch, four super-blocks (4.6 KB) ahead: 10-20%
         * faster than none from memory (see above), where Q8_0 and Q4_0
         * were slower with it. */
        for (int l = 0; l < 18; l++)
            _mm_prefetch((const char *)(g + 4) + 64 * l, _MM_HINT_T0);
        __m256i sc_lo, sc_hi, mn_lo, mn_hi;
        q4k_x8_scales(g->scales, &sc_lo, &sc_hi, &mn_lo, &mn_hi);
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 4; h++) {
            const uint8_t *q = g->qs + 256 * h;
            __m512i xl = xload(x[0][8 * i + 2 * h].qs), xh = xload(x[0][8 * i + 2 * h + 1].qs);
            __m512i sl = _mm512_setzero_si512(), sh = _mm512_setzero_si512();
            for (int p = 0; p < 4; p++) {
                __m512i v = _mm512_loadu_si512((const void *)(q + 64 * p)), id = pair_idx(p);
                sl = _mm512_dpbusd_epi32(sl, _mm512_and_si512(v, m4z),
                                         _mm512_permutexvar_epi32(id, xl));
                sh = _mm512_dpbusd_epi32(sh, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4z),
                                         _mm512_permutexvar_epi32(id, xh));
            }
            __m256i s4 = h < 2 ? sc_lo : sc_hi;
            __m256i scl = _mm256_shuffle_epi8(
                        s4, _mm256_loadu_si256((const __m256i *)q4k_pick32[(2 * h) & 3])),
                    sch = _mm256_shuffle_epi8(
                        s4, _mm256_loadu_si256((const __m256i *)q4k_pick32[(2 * h + 1) & 3]));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(_mm256_mullo_epi32(halves(sl), scl),
                                                           _mm256_mullo_epi32(halves(sh), sch)));
        }
        /* minimums as 16-bit pairs (0, 2), (1, 3), (4, 6), (5, 7) per row */
        __m256i mv[4] = {_mm256_and_si256(mn_lo, lo16), _mm256_srli_epi16(mn_lo, 8),
                         _mm256_and_si256(mn_hi, lo16), _mm256_srli_epi16(mn_hi, 8)};
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g->d)),
               dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g->dmin));
        const int32_t *s = xs[0] + 4 * i;
        __m256i mt =
            _mm256_add_epi32(_mm256_add_epi32(_mm256_madd_epi16(mv[0], _mm256_set1_epi32(s[0])),
                                              _mm256_madd_epi16(mv[1], _mm256_set1_epi32(s[1]))),
                             _mm256_add_epi32(_mm256_madd_epi16(mv[2], _mm256_set1_epi32(s[2])),
                                              _mm256_madd_epi16(mv[3], _mm256_set1_epi32(s[3]))));
        __m256 xd = _mm256_set1_ps(x[0][8 * i].d);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(d, xd), acc);
        acc = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mt), _mm256_mul_ps(dm, xd), acc);
    }
    _mm256_storeu_ps(y, acc);
}

/* Q6_K (blk_q6_kx8, after kernels_x8_q6k.c's tile). An input block p is
 * sub-blocks 2p and 2p + 1, 96 bytes each (three vectors a, b, c): a
 * register holds the same vector of both (a of 2p in lanes 0-7, a of 2p + 1
 * in 8-15; two 32-byte loads, 96 bytes apart), so the four weight vectors
 * unpack as in the AVX2 tile and vector c < 4 meets input words c and c + 4
 * (quad_idx). vpdpbusd adds each lane's products of unsigned 6-bit values
 * and the input into 32 bits exactly: lane r gets row r's sum q x over
 * sub-block 2p, lane 8 + r over 2p + 1, the same sums the AVX2 tile forms
 * as 16-bit pairs, there exact too (at most 2 x 63 x 128 = 16128 per pair,
 * two pairs 32256 < 32767: the header of kernels_x8_q6k.c; rows of 63 and
 * inputs of -+127, test_packed_rows' extremes, reach 32004), so vpmulld by
 * the sub-block's scale gives the AVX2 tile's madd of the same pairs and
 * scale. The offset of 32 is the AVX2 tile's madd as it is. Per input
 * block and row the same int32 (|sum| < 2 x 128 x 16 x 63 x 128 + its
 * offset, far from 2^31), then the AVX2 tile's conversion, d x input scale
 * and FMA in block order: the bits are the AVX2 tile's. */

/* Input words c in lanes 0-7 and c + 4 in lanes 8-15. */
VNNI512 static INLINE __m512i quad_idx(int c)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(c)),
                              _mm256_set1_epi32(c + 4), 1);
}

VNNI512 static void q6_kx8z_1(const void *gv, int nb, const eng_q8x *const *x, float *y, size_t ldy)
{
    (void)ldy;
    const blk_q6_kx8 *g = gv;
    const eng_q8x *xb = x[0];
    const __m512i m6 = _mm512_set1_epi8(0x3F);
    /* a row's two scales of the input block (bytes 2r, 2r + 1) to bytes r and 8 + r */
    const __m128i split = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb / 8; i++, g++) {
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g->d));
        for (int p = 0; p < 8; p++, xb++) {
            /* Eight groups (13 KB) ahead. From memory (32768 x 2048, 55 MB,
             * AMD EPYC, load 2.7-4.1, thread CPU time against the AVX2 tile
             * in the same run) this tile took a median 0.81 of its time
             * with this (0.77-0.99, 9 runs), 0.96 with the AVX2 tile's two
             * groups ahead (0.90-1.03, 6), 0.91 without (0.90-0.97, 6). */
            for (int l = 0; l < 4; l++)
                _mm_prefetch((const char *)(g + 8) + 210 * p + 64 * l, _MM_HINT_T0);
            const uint8_t *q = g->qs + 192 * p;
            __m512i a = load2(q, q + 96), b = load2(q + 32, q + 128), c = load2(q + 64, q + 160);
            __m512i top =
                _mm512_or_si512(_mm512_or_si512(_mm512_srli_epi16(_mm512_andnot_si512(m6, a), 6),
                                                _mm512_srli_epi16(_mm512_andnot_si512(m6, b), 4)),
                                _mm512_srli_epi16(_mm512_andnot_si512(m6, c), 2));
            __m512i xz = xload(xb->qs), s = _mm512_setzero_si512();
            s = _mm512_dpbusd_epi32(s, _mm512_and_si512(a, m6),
                                    _mm512_permutexvar_epi32(quad_idx(0), xz));
            s = _mm512_dpbusd_epi32(s, _mm512_and_si512(b, m6),
                                    _mm512_permutexvar_epi32(quad_idx(1), xz));
            s = _mm512_dpbusd_epi32(s, _mm512_and_si512(c, m6),
                                    _mm512_permutexvar_epi32(quad_idx(2), xz));
            s = _mm512_dpbusd_epi32(s, top, _mm512_permutexvar_epi32(quad_idx(3), xz));
            __m128i sb = _mm_loadu_si128((const __m128i *)(g->scales + 16 * p));
            s = _mm512_mullo_epi32(s, _mm512_cvtepi8_epi32(_mm_shuffle_epi8(sb, split)));
            /* 32 x (scale 2p x half_sum[0] + scale 2p+1 x half_sum[1]) */
            int32_t hs;
            memcpy(&hs, xb->half_sum, 4);
            __m256i off = _mm256_slli_epi32(
                _mm256_madd_epi16(_mm256_cvtepi8_epi16(sb), _mm256_set1_epi32(hs)), 5);
            __m256i s8 = _mm256_sub_epi32(halves(s), off);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s8), _mm256_mul_ps(d, _mm256_set1_ps(xb->d)),
                                  acc);
        }
    }
    _mm256_storeu_ps(y, acc);
}

/* Eight-row tables of the AVX-512 VNNI kind: the one-input tiles above,
 * and for a lone group (an odd one at the end of a range) with more inputs
 * the 256-bit VNNI tiles where the CPU has AVX-VNNI (every AVX-512 VNNI CPU
 * but Ice Lake and Zen 4), else NULL: the AVX2 ones, whose bits are the
 * same. */
static const eng_x8_tile_fn q8_512x8[5] = {NULL, q8_0x8z_1, NULL, NULL, NULL};
static const eng_x8_tile_fn q4_512x8[5] = {NULL, q4_0x8z_1, NULL, NULL, NULL};
static const eng_x8_q4k_fn q4k_512x8[5] = {NULL, q4_kx8z_1, NULL, NULL, NULL};
/* Q6_K: NULL entries the AVX2 tiles for every kind, also sixteen rows */
static const eng_x8_tile_fn q6_512x8[5] = {NULL, q6_kx8z_1, NULL, NULL, NULL};
#if X8_HAVE_AVXVNNI
static const eng_x8_tile_fn q8_512x8v[5] = {NULL, q8_0x8z_1, q8_0x8_2, q8_0x8_3, q8_0x8_4};
static const eng_x8_tile_fn q4_512x8v[5] = {NULL, q4_0x8z_1, q4_0x8_2, q4_0x8_3, q4_0x8_4};
#endif

bool eng_x8_vnni_q4k_tiles(int kind, const eng_x8_q4k_fn **tiles8, const eng_x8_q4k_fn **tiles16)
{
    if (kind != ENG_X8_AVX512VNNI || !eng_cpu_avx512vnni()) return false;
    *tiles8 = q4k_512x8;
    *tiles16 = q4k_512;
    return true;
}

bool eng_x8_vnni_tiles(int kind, uint32_t type, const eng_x8_tile_fn **tiles8,
                       const eng_x8_tile_fn **tiles16)
{
    if (type == ENGINE_T_Q6_K) { /* AVX-512 VNNI, one input only */
        if (kind != ENG_X8_AVX512VNNI || !eng_cpu_avx512vnni()) return false;
        *tiles8 = q6_512x8;
        *tiles16 = NULL;
        return true;
    }
    bool q8 = type == ENGINE_T_Q8_0;
    if (!q8 && type != ENGINE_T_Q4_0) return false;
    if (kind == ENG_X8_AVX512VNNI) {
        if (!eng_cpu_avx512vnni()) return false;
        *tiles16 = q8 ? q8_512 : q4_512;
        *tiles8 = q8 ? q8_512x8 : q4_512x8;
#if X8_HAVE_AVXVNNI
        if (eng_cpu_vnni()) *tiles8 = q8 ? q8_512x8v : q4_512x8v;
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

bool eng_x8_vnni_q4k_tiles(int kind, const eng_x8_q4k_fn **tiles8, const eng_x8_q4k_fn **tiles16)
{
    return false;
}

#endif
