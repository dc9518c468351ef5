/*
 * The Q8_0 and Q4_K integer kernels, included twice by kernels_avx2.c: once
 * for AVX2 (unsigned x signed byte products through maddubs + madd) and once
 * for AVX-VNNI, whose vpdpbusd does both in one instruction. The products
 * here never saturate maddubs' 16-bit pair sums (Q4_K: 2 x 15 x 127; Q8_0,
 * |weight| x input with the sign moved to the input: 2 x 128 x 127), so both
 * give the same integers and the same results bit for bit; only the speed
 * differs. The includer defines KQ(name) (a name suffix), KQ_ATTR (the
 * target attribute) and KQ_DOT_U8(w, x) (8 int32 partial sums of w * x for
 * unsigned bytes w, signed bytes x).
 */

/* Q8_0 rows of nb blocks: one row and one input, and one row and four
 * inputs (a prompt batch: each weight block is loaded once for the four),
 * with the same operations per row and input. */
KQ_ATTR static float KQ(dotq_q8_0)(const blk_q8_0 *b, const eng_q8x *x, int nb)
{
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        __m256i w = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i v = _mm256_loadu_si256((const __m256i *)x[i].qs);
        __m256i p = KQ_DOT_U8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(v, w));
        acc =
            _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d) * x[i].d), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum(acc);
}

KQ_ATTR static void KQ(q8_0_dot4)(const blk_q8_0 *b, const eng_q8x *const xq[4], int nb,
                                  float out[4])
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (int i = 0; i < nb; i++) {
        __m256i w = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i aw = _mm256_sign_epi8(w, w);
        float d = _cvtsh_ss(b[i].d);
        for (int t = 0; t < 4; t++) {
            __m256i v = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)xq[t][i].qs), w);
            __m256i p = KQ_DOT_U8(aw, v);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xq[t][i].d), _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    for (int t = 0; t < 4; t++)
        out[t] = hsum(acc[t]);
}

/* One unpacked Q4_K block against 8 input blocks that share one scale
 * (eng_avx2_quantize_x gives Q4_K inputs one per 256 values): each
 * sub-block's pair sums take its 6-bit scale in the same madd that widens
 * them (2 x 15 x 127 x 63 x 2 per lane, exact in 32 bits), the eight are
 * added as integers and converted once, then one FMA with d x the input's
 * scale; the minimums' term (lane j: dmin x minimum j x the input's scale x
 * the sum of input block j) comes off the same accumulator. Every Q4_K
 * kernel (one vector, four vectors, whole matrix-vector products) goes
 * through here with the same operations per row and input: a prompt
 * evaluated in a batch gives bit-identical results to the same tokens one by
 * one. */
KQ_ATTR static inline void KQ(q4k_block_dot)(const __m256i w[8], const __m256i sc[8], __m256 d,
                                             __m256 mnd, const eng_q8x *x, __m256 xd, __m256 xs,
                                             __m256 *acc)
{
    __m256i p[8];
    for (int j = 0; j < 8; j++)
        p[j] = _mm256_madd_epi16(
            _mm256_maddubs_epi16(w[j], _mm256_loadu_si256((const __m256i *)x[j].qs)), sc[j]);
    __m256i tot = _mm256_add_epi32(
        _mm256_add_epi32(_mm256_add_epi32(p[0], p[1]), _mm256_add_epi32(p[2], p[3])),
        _mm256_add_epi32(_mm256_add_epi32(p[4], p[5]), _mm256_add_epi32(p[6], p[7])));
    *acc = _mm256_fmadd_ps(_mm256_mul_ps(d, xd), _mm256_cvtepi32_ps(tot), *acc);
    *acc = _mm256_fnmadd_ps(_mm256_mul_ps(mnd, xd), xs, *acc);
}

/* One row; xd/xs hold q4k_x_scales() of each group of 8 input blocks, or
 * are NULL to compute them here. */
KQ_ATTR static float KQ(dotq_q4_k_x)(const blk_q4_k *b, const eng_q8x *x, int nb, const __m256 *xd,
                                     const __m256 *xs)
{
    /* one horizontal sum per row, not per block */
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, b++, x += 8) {
        __m256 d, mnd, d8, s8;
        __m256i w[8], sc[8];
        /* one block (144 bytes) eight ahead: matrix-vector products walk
         * the rows as one stream that the hardware prefetcher alone leaves
         * waiting on memory */
        for (int l = 0; l < 3; l++)
            _mm_prefetch((const char *)(b + 8) + 64 * l, _MM_HINT_T0);
        if (xd) {
            d8 = xd[i];
            s8 = xs[i];
        } else {
            q4k_x_scales(x, &d8, &s8);
        }
        q4k_block_scales(b, sc, &d, &mnd);
        q4k_block_unpack(b, w);
        KQ(q4k_block_dot)(w, sc, d, mnd, x, d8, s8, &acc);
    }
    return hsum(acc);
}

/* Rows [r0, r1) against four inputs whose scale vectors were computed once
 * per product (eng_avx2_q4k_x_scales): each weight block is unpacked once
 * for the four. The block goes through sub-block by sub-block, each nibble
 * vector against the four inputs into four integer sums, so the loop needs
 * about 13 vector registers of the 16: holding a whole unpacked block and
 * its scales (16 vectors) for the four inputs spilled the accumulators to
 * the stack, and this kernel is most of the time of a batched decode step
 * (several requests at once) and of a Q4_K prompt. Integer sums do not
 * depend on their order, and the float steps per block and input are
 * dotq_q4_k_x's, so the results are its bits. */
KQ_ATTR static void KQ(q4k_rows4)(const uint8_t *data, size_t row_bytes, int n,
                                  const eng_q8x *const xq[4], const float *const xsc[4], float *y,
                                  size_t ldy, int r0, int r1)
{
    int nb = n / QK_K;
    const __m256i mask = _mm256_set1_epi8(0xF);
    for (int r = r0; r < r1; r++) {
        const blk_q4_k *b = (const blk_q4_k *)(data + (size_t)r * row_bytes);
        __m256 acc[4];
        for (int t = 0; t < 4; t++)
            acc[t] = _mm256_setzero_ps();
        for (int i = 0; i < nb; i++, b++) {
            __m256 d, mnd;
            __m256i sc[8], tot[4];
            _mm_prefetch((const char *)(b + 2), _MM_HINT_T0);
            q4k_block_scales(b, sc, &d, &mnd);
            for (int t = 0; t < 4; t++)
                tot[t] = _mm256_setzero_si256();
            for (int c = 0; c < 4; c++) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * c));
                for (int h = 0; h < 2; h++) {
                    int j = 2 * c + h;
                    __m256i w = h ? _mm256_and_si256(_mm256_srli_epi16(q, 4), mask)
                                  : _mm256_and_si256(q, mask);
                    for (int t = 0; t < 4; t++)
                        tot[t] = _mm256_add_epi32(
                            tot[t],
                            _mm256_madd_epi16(
                                _mm256_maddubs_epi16(
                                    w, _mm256_loadu_si256((const __m256i *)xq[t][8 * i + j].qs)),
                                sc[j]));
                }
            }
            for (int t = 0; t < 4; t++) {
                __m256 xd = _mm256_loadu_ps(xsc[t] + 16 * i),
                       xs = _mm256_loadu_ps(xsc[t] + 16 * i + 8);
                acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, xd), _mm256_cvtepi32_ps(tot[t]), acc[t]);
                acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(mnd, xd), xs, acc[t]);
            }
        }
        for (int t = 0; t < 4; t++)
            y[(size_t)t * ldy + r] = hsum(acc[t]);
    }
}

/* y[r] = row r . input for r in [r0, r1); the input's scale vectors once
 * for all rows. False when the rows are too wide for the stack arrays. */
KQ_ATTR static bool KQ(q4k_matvec)(const uint8_t *data, size_t row_bytes, const eng_q8x *xq, int n,
                                   float *y, int r0, int r1)
{
    enum { MAX_GROUPS = 64 }; /* 16K columns; wider rows take the per-row path */
    int ng = n / QK_K;
    if (ng > MAX_GROUPS) return false;
    __m256 xd[MAX_GROUPS], xs[MAX_GROUPS];
    for (int i = 0; i < ng; i++)
        q4k_x_scales(xq + 8 * i, &xd[i], &xs[i]);
    for (int r = r0; r < r1; r++)
        y[r] = KQ(dotq_q4_k_x)((const blk_q4_k *)(data + (size_t)r * row_bytes), xq, ng, xd, xs);
    return true;
}
