/*
 * Q8_0, Q4_0 and Q4_K products over rows packed in groups of eight (pack.c),
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
 * Q4_K: see q4_kx8_tile.
 */
#include <string.h>

#include "engine/engine_int.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "engine/kernels_x8_inc.h"

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

/* Q4_K: per 256-value block of an input, its eight 32-value block sums
 * paired as 16-bit halves of four 32-bit words, (0, 2), (1, 3), (4, 6),
 * (5, 7), in the order of q4_kx8_tile's minimum vectors; |sum| <= 32 x 127
 * fits in 16 bits. */
static void q4k_x8_sums(const eng_q8x *x, int nb, int32_t *out)
{
    static const int pair[4][2] = {{0, 2}, {1, 3}, {4, 6}, {5, 7}};
    for (int i = 0; i < nb; i++, x += 8)
        for (int k = 0; k < 4; k++)
            *out++ = (int32_t)((uint32_t)(uint16_t)x[pair[k][0]].isum | (uint32_t)x[pair[k][1]].isum
                                                                            << 16);
}

/* Shuffles that take sub-block j's scale from the byte vector of scales
 * j & 3 (row r's in bytes 4r..4r+3) into both 16-bit halves of row r's
 * lane (index 0x80: zero). */
#define PICK4(b)                                                                                   \
    b, 0x80, b, 0x80, b + 4, 0x80, b + 4, 0x80, b + 8, 0x80, b + 8, 0x80, b + 12, 0x80, b + 12, 0x80
static const uint8_t q4k_x8_pick[4][32] = {
    {PICK4(0), PICK4(0)}, {PICK4(1), PICK4(1)}, {PICK4(2), PICK4(2)}, {PICK4(3), PICK4(3)}};
#undef PICK4

/* Eight Q4_K rows against T <= 4 inputs (one scale per 256 values, see
 * eng_avx2_quantize_x; xs their q4k_x8_sums). Per super-block, the scales
 * and minimums of the eight rows are unpacked from the three scale vectors
 * as q4k_scales does for one row (kernels_avx2.c), a byte per row in each
 * 32-bit lane. Sub-block by sub-block, the eight nibble vectors go against
 * the input's broadcast values: maddubs pair sums are at most 2 x 15 x 127,
 * so the eight of a sub-block add up in 16 bits (30480), then one madd
 * applies each row's 6-bit scale and widens, exactly. The minimums' term,
 * sum over sub-blocks of minimum x input block sum, is integer too (four
 * madds of the 16-bit minimums with the paired sums). Each super-block then
 * takes two FMAs per input: d x input scale x the scaled sums, less dmin x
 * input scale x the minimums' term. Integers do not depend on their order
 * and the float steps per (row, input) are the same for any T, so a batch
 * gives a token's bits. */
AVX2 static INLINE void q4_kx8_tile(const blk_q4_kx8 *g, int nb, const eng_q8x *const *x,
                                    const int32_t *const *xs, int T, __m256 *acc)
{
    const __m256i m4 = _mm256_set1_epi8(0xF), lo16 = _mm256_set1_epi16(0xFF);
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, g++) {
        /* one group's super-block (1152 bytes) two ahead: the group's rows
         * are one stream, as for Q8_0 */
        for (int l = 0; l < 18; l++)
            _mm_prefetch((const char *)(g + 2) + 64 * l, _MM_HINT_T0);
        __m256i sc_lo, sc_hi, mn_lo, mn_hi;
        q4k_x8_scales(g->scales, &sc_lo, &sc_hi, &mn_lo, &mn_hi);
        __m256i isum[4];
        for (int t = 0; t < T; t++)
            isum[t] = _mm256_setzero_si256();
        if (T <= 2) {
            /* One or two inputs: both nibbles of each loaded vector at once
             * (sub-blocks 2h and 2h + 1), in registers with room to spare. */
#pragma GCC unroll 1
            for (int h = 0; h < 4; h++) {
                const uint8_t *q = g->qs + 256 * h;
                const int8_t *xl[2], *xh[2];
                for (int t = 0; t < T; t++) {
                    xl[t] = x[t][8 * i + 2 * h].qs;
                    xh[t] = x[t][8 * i + 2 * h + 1].qs;
                }
                __m256i sl[2], sh[2];
                for (int k = 0; k < 8; k++) {
                    __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * k));
                    __m256i wl = _mm256_and_si256(v, m4),
                            wh = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                    for (int t = 0; t < T; t++) {
                        __m256i pl = _mm256_maddubs_epi16(wl, bcast4(xl[t] + 4 * k)),
                                ph = _mm256_maddubs_epi16(wh, bcast4(xh[t] + 4 * k));
                        sl[t] = k ? _mm256_add_epi16(sl[t], pl) : pl;
                        sh[t] = k ? _mm256_add_epi16(sh[t], ph) : ph;
                        __asm__("" : "+x"(sl[t]), "+x"(sh[t])); /* as below */
                    }
                }
                __m256i s4 = h < 2 ? sc_lo : sc_hi;
                __m256i scl = _mm256_shuffle_epi8(
                            s4, _mm256_loadu_si256((const __m256i *)q4k_x8_pick[(2 * h) & 3])),
                        sch = _mm256_shuffle_epi8(
                            s4, _mm256_loadu_si256((const __m256i *)q4k_x8_pick[(2 * h + 1) & 3]));
                for (int t = 0; t < T; t++)
                    isum[t] =
                        _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(sl[t], scl),
                                                                   _mm256_madd_epi16(sh[t], sch)));
            }
        } else {
            /* Not unrolled: unrolled, gcc interleaves the sub-blocks and spills
             * most of the vectors to the stack. */
#pragma GCC unroll 1
            for (int j = 0; j < 8; j++) {
                const uint8_t *q = g->qs + 256 * (j / 2);
                const __m128i shift = _mm_cvtsi32_si128(4 * (j & 1));
                const int8_t *xp[4];
                for (int t = 0; t < T; t++)
                    xp[t] = x[t][8 * i + j].qs;
                __m256i s16[4];
                for (int k = 0; k < 8; k++) {
                    __m256i w = _mm256_and_si256(
                        _mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)(q + 32 * k)), shift),
                        m4);
                    for (int t = 0; t < T; t++) {
                        __m256i p = _mm256_maddubs_epi16(w, bcast4(xp[t] + 4 * k));
                        s16[t] = k ? _mm256_add_epi16(s16[t], p) : p;
                        /* keeps gcc from regrouping the sums into a tree of all
                         * 32 products at once (spilled to the stack) */
                        __asm__("" : "+x"(s16[t]));
                    }
                }
                __m256i sc = _mm256_shuffle_epi8(
                    j < 4 ? sc_lo : sc_hi, _mm256_loadu_si256((const __m256i *)q4k_x8_pick[j & 3]));
                for (int t = 0; t < T; t++)
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s16[t], sc));
            }
        }
        /* minimums as 16-bit pairs (0, 2), (1, 3), (4, 6), (5, 7) per row */
        __m256i mv[4] = {_mm256_and_si256(mn_lo, lo16), _mm256_srli_epi16(mn_lo, 8),
                         _mm256_and_si256(mn_hi, lo16), _mm256_srli_epi16(mn_hi, 8)};
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g->d)),
               dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g->dmin));
        for (int t = 0; t < T; t++) {
            const int32_t *s = xs[t] + 4 * i;
            __m256i mt = _mm256_add_epi32(
                _mm256_add_epi32(_mm256_madd_epi16(mv[0], _mm256_set1_epi32(s[0])),
                                 _mm256_madd_epi16(mv[1], _mm256_set1_epi32(s[1]))),
                _mm256_add_epi32(_mm256_madd_epi16(mv[2], _mm256_set1_epi32(s[2])),
                                 _mm256_madd_epi16(mv[3], _mm256_set1_epi32(s[3]))));
            __m256 xd = _mm256_set1_ps(x[t][8 * i].d);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, xd), acc[t]);
            acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mt), _mm256_mul_ps(dm, xd), acc[t]);
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

#define X8_Q4K_TILE(T)                                                                             \
    AVX2 static void q4_kx8_##T(const void *g, int nb, const eng_q8x *const *x,                    \
                                const int32_t *const *xs, float *y, size_t ldy)                    \
    {                                                                                              \
        __m256 acc[T];                                                                             \
        q4_kx8_tile(g, nb, x, xs, T, acc);                                                         \
        for (int t = 0; t < T; t++)                                                                \
            _mm256_storeu_ps(y + (size_t)t * ldy, acc[t]);                                         \
    }
X8_Q4K_TILE(1)
X8_Q4K_TILE(2)
X8_Q4K_TILE(3)
X8_Q4K_TILE(4)
#undef X8_Q4K_TILE

/* Rows [r0, r1) of W with the tiles fn (eight rows; Q8_0 and Q4_0) and,
 * where two whole groups of the range are next to each other, fn16 (sixteen
 * rows; NULL, or a NULL entry for a T: none); Q4_K with q4k (eight rows)
 * and k16 (its sixteen-row ones, as fn16). */
AVX2 static void x8_rows(const eng_x8_tile_fn *fn, const eng_x8_tile_fn *fn16,
                         const eng_x8_q4k_fn *q4k, const eng_x8_q4k_fn *k16, const eng_tensor *W,
                         const eng_q8x *xq, int n, float *Y, size_t ldy, int r0, int r1)
{
    bool kq = W->type == ENGINE_T_Q4_K;
    r1 = CC_MIN(r1, W->packed_rows);
    if (r0 >= r1) return;
    int nbk = W->cols / 32, nb = kq ? W->cols / QK_K : nbk;
    size_t group = 8 * W->row_bytes;
    /* Q4_K inputs' paired block sums, four inputs at a time (pack.c packs
     * no row wider than ENG_X8_Q4K_MAX_COLS). */
    int32_t sums[4][ENG_X8_Q4K_MAX_COLS / 64];
    const int32_t *xs[4] = {sums[0], sums[1], sums[2], sums[3]};
    /* Groups in blocks of about 32 KB that stay in cache while every group
     * of four inputs (in L1) goes through them (an even number, for fn16). */
    int g0 = r0 / 8, g1 = (r1 + 7) / 8;
    int blk = (int)CC_MAX(2, 32768 / group) & ~1;
    for (int b0 = g0; b0 < g1; b0 += blk) {
        int b1 = CC_MIN(g1, b0 + blk);
        for (int t = 0; t < n; t += 4) {
            int T = CC_MIN(4, n - t);
            const eng_q8x *x[4];
            for (int k = 0; k < T; k++) {
                x[k] = xq + (size_t)(t + k) * nbk;
                if (kq) q4k_x8_sums(x[k], nb, sums[k]);
            }
            for (int g = b0; g < b1; g++) {
                const uint8_t *gp = W->data + (size_t)g * group;
                int lo = g * 8, hi = lo + 8;
                if (g + 1 < b1 && lo >= r0 && hi + 8 <= r1) { /* two whole groups */
                    float *y = Y + (size_t)t * ldy + lo;
                    if (kq && k16 && k16[T]) {
                        k16[T](gp, nb, x, xs, y, ldy);
                        g++;
                        continue;
                    }
                    if (!kq && fn16 && fn16[T]) {
                        fn16[T](gp, nb, x, y, ldy);
                        g++;
                        continue;
                    }
                }
                bool whole = lo >= r0 && hi <= r1;
                /* a group cut by the range: all eight, then the wanted ones */
                float tmp[4 * 8], *y = whole ? Y + (size_t)t * ldy + lo : tmp;
                size_t ly = whole ? ldy : 8;
                if (kq)
                    q4k[T](gp, nb, x, xs, y, ly);
                else
                    fn[T](gp, nb, x, y, ly);
                if (!whole)
                    for (int k = 0; k < T; k++)
                        for (int r = CC_MAX(lo, r0); r < CC_MIN(hi, r1); r++)
                            Y[(size_t)(t + k) * ldy + r] = tmp[8 * k + r - lo];
            }
        }
    }
}

static const eng_x8_q4k_fn q4k_avx2[5] = {NULL, q4_kx8_1, q4_kx8_2, q4_kx8_3, q4_kx8_4};
static const eng_x8_tile_fn q8_avx2[5] = {NULL, q8_0x8_1, q8_0x8_2, q8_0x8_3, q8_0x8_4};
static const eng_x8_tile_fn q4_avx2[5] = {NULL, q4_0x8_1, q4_0x8_2, q4_0x8_3, q4_0x8_4};
static const eng_x8_tile_fn q6_avx2[5] = {NULL, eng_avx2_q6_kx8_1, eng_avx2_q6_kx8_2,
                                          eng_avx2_q6_kx8_3, eng_avx2_q6_kx8_4};

bool eng_x8_rows_kind(int kind, const eng_tensor *W, const eng_q8x *xq, int n, float *Y, size_t ldy,
                      int r0, int r1)
{
    if (!eng_cpu_avx2()) return false;
    const eng_x8_tile_fn *avx2 = W->type == ENGINE_T_Q8_0   ? q8_avx2
                                 : W->type == ENGINE_T_Q6_K ? q6_avx2
                                                            : q4_avx2,
                         *fn16 = NULL;
    const eng_x8_q4k_fn *k16 = NULL, *k8 = NULL;
    eng_x8_tile_fn fn[5];
    eng_x8_q4k_fn q4k[5];
    memcpy(fn, avx2, sizeof(fn));
    memcpy(q4k, q4k_avx2, sizeof(q4k));
    if (kind != ENG_X8_AVX2 && W->type == ENGINE_T_Q4_K) {
        /* AVX-512 VNNI tiles only (AVX-VNNI: false) */
        if (!eng_x8_vnni_q4k_tiles(kind, &k8, &k16)) return false;
        for (int t = 1; t <= 4 && k8; t++) /* NULL entries: the AVX2 tile */
            if (k8[t]) q4k[t] = k8[t];
    } else if (kind != ENG_X8_AVX2) { /* (Q6_K: AVX-512 VNNI only, else false) */
        const eng_x8_tile_fn *v8 = NULL;
        if (!eng_x8_vnni_tiles(kind, W->type, &v8, &fn16)) return false;
        for (int t = 1; t <= 4 && v8; t++) /* NULL entries: the AVX2 tile */
            if (v8[t]) fn[t] = v8[t];
    }
    x8_rows(fn, fn16, q4k, k16, W, xq, n, Y, ldy, r0, r1);
    return true;
}

void eng_avx2_x8_rows(const eng_tensor *W, const eng_q8x *xq, int n, float *Y, size_t ldy, int r0,
                      int r1)
{
    if (!eng_x8_rows_kind(ENG_X8_AVX512VNNI, W, xq, n, Y, ldy, r0, r1) &&
        !eng_x8_rows_kind(ENG_X8_AVXVNNI, W, xq, n, Y, ldy, r0, r1))
        eng_x8_rows_kind(ENG_X8_AVX2, W, xq, n, Y, ldy, r0, r1);
}

#else /* not x86-64: nothing is packed (eng_pack_rows8 needs AVX2) */

void eng_avx2_x8_rows(const eng_tensor *W, const eng_q8x *xq, int n, float *Y, size_t ldy, int r0,
                      int r1)
{
}

bool eng_x8_rows_kind(int kind, const eng_tensor *W, const eng_q8x *xq, int n, float *Y, size_t ldy,
                      int r0, int r1)
{
    return false;
}

#endif
