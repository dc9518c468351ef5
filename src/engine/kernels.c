/*
 * Dot products and matrix products over the weight types, portable C, with
 * dispatch to the AVX2/FMA versions (kernels_avx2.c) when the CPU has them.
 * The choice is made per call from __builtin_cpu_supports, which reads a
 * value libgcc fills once at start-up: cheap, and no state of our own.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

bool eng_cpu_avx2(void)
{
    /* -DCOCOON_ENGINE_PORTABLE builds the portable kernels only (to test them
     * on machines that have AVX2). */
#if (defined(__x86_64__) || defined(__i386__)) && !defined(COCOON_ENGINE_PORTABLE)
    /* Every AVX2 CPU also has F16C (Intel Ivy Bridge, AMD Piledriver came
     * first); clang 14 cannot ask for it by name. */
#if defined(__clang__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
#endif
#else
    return false;
#endif
}

bool eng_cpu_vnni(void)
{
    /* __builtin_cpu_supports("avxvnni"): gcc 11 and later only. */
#if defined(__x86_64__) && !defined(COCOON_ENGINE_PORTABLE) && !defined(__clang__) &&              \
    defined(__GNUC__) && __GNUC__ >= 11
    return eng_cpu_avx2() && __builtin_cpu_supports("avxvnni");
#else
    return false;
#endif
}

bool eng_cpu_avx512(void)
{
#if defined(__x86_64__) && !defined(COCOON_ENGINE_PORTABLE)
    /* 0 unknown, 1 no, 2 yes; every thread computes the same answer, so a
     * race only repeats the work. */
    static _Atomic int have;
    int h = atomic_load_explicit(&have, memory_order_relaxed);
    if (h == 0) {
        h = eng_cpu_avx2() && __builtin_cpu_supports("avx512f") &&
                    !getenv("COCOON_ENGINE_NO_AVX512")
                ? 2
                : 1;
        atomic_store_explicit(&have, h, memory_order_relaxed);
    }
    return h == 2;
#else
    return false;
#endif
}

bool eng_cpu_avx512vnni(void)
{
#if defined(__x86_64__) && !defined(COCOON_ENGINE_PORTABLE)
    /* 0 unknown, 1 no, 2 yes; threads racing here store the same answer. */
    static _Atomic int known;
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (!k) {
        /* libgcc and compiler-rt set the avx512 bits only when XCR0 says the
         * OS saves the ZMM and mask registers. */
        k = eng_cpu_avx512() && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("avx512vnni")
                ? 2
                : 1;
        atomic_store_explicit(&known, k, memory_order_relaxed);
    }
    return k == 2;
#else
    return false;
#endif
}

bool engine_kernels_have_avx2(void)
{
    return eng_cpu_avx2();
}

static float dot_f32_portable(const float *a, const float *b, int n)
{
    /* Four partial sums let the compiler vectorise without -ffast-math. */
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

float eng_dot_f32(const float *a, const float *b, int n)
{
    if (eng_cpu_avx2()) return eng_avx2_dot_f32(a, b, n);
    return dot_f32_portable(a, b, n);
}

void eng_axpy(float *y, float a, const float *x, int n)
{
    if (eng_cpu_avx2()) {
        eng_avx2_axpy(y, a, x, n);
        return;
    }
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

float eng_dot_row_portable(uint32_t type, const void *row, const float *x, int n)
{
    const uint8_t *p = row;
    switch (type) {
    case ENGINE_T_F32:
        return dot_f32_portable(row, x, n);
    case ENGINE_T_Q8_0: {
        float s = 0;
        for (int i = 0; i < n / QK8_0; i++) {
            const blk_q8_0 *b = (const blk_q8_0 *)p + i;
            const float *xx = x + i * QK8_0;
            float bs = 0;
            for (int j = 0; j < QK8_0; j++)
                bs += b->qs[j] * xx[j];
            s += bs * engine_f16_to_f32(b->d);
        }
        return s;
    }
    case ENGINE_T_Q4_0: {
        float s = 0;
        for (int i = 0; i < n / QK4_0; i++) {
            const blk_q4_0 *b = (const blk_q4_0 *)p + i;
            const float *xx = x + i * QK4_0;
            float bs = 0;
            for (int j = 0; j < QK4_0 / 2; j++)
                bs += ((b->qs[j] & 0xF) - 8) * xx[j] + ((b->qs[j] >> 4) - 8) * xx[j + QK4_0 / 2];
            s += bs * engine_f16_to_f32(b->d);
        }
        return s;
    }
    default: {
        /* Other types: dequantize a super-block at a time. */
        size_t be, bb;
        if (!engine_ttype_info(type, &be, &bb)) return 0;
        float tmp[QK_K];
        float s = 0;
        size_t chunk = be > QK_K ? be : (QK_K / be) * be;
        for (size_t i = 0; i < (size_t)n; i += chunk) {
            size_t m = CC_MIN(chunk, (size_t)n - i);
            engine_dequant_row(type, p + i / be * bb, tmp, m);
            s += dot_f32_portable(tmp, x + i, (int)m);
        }
        return s;
    }
    }
}

bool eng_int8_type(uint32_t type)
{
    return type == ENGINE_T_Q8_0 || type == ENGINE_T_Q4_0 || type == ENGINE_T_Q4_K ||
           type == ENGINE_T_Q6_K;
}

float engine_dot_row(uint32_t type, const void *row, const float *x, size_t n)
{
    if (eng_cpu_avx2()) return eng_avx2_dot_row(type, row, x, (int)n);
    return eng_dot_row_portable(type, row, x, (int)n);
}

void eng_matmul(const eng_tensor *W, const float *X, int n, int ldx, float *Y, int ldy, int r0,
                int r1, float *scratch)
{
    bool avx2 = eng_cpu_avx2();
    if (avx2 && W->type == ENGINE_T_F16 && W->cols % 32 == 0 &&
        W->row_bytes == (size_t)W->cols * 2) {
        /* Register tiles of rows x inputs. With AVX2 a batch of 8 or more
         * widens each group of four rows once (the scratch holds
         * ENG_SCRATCH_FLOATS(n, cols) >= 4 * cols floats for n >= 8); the
         * AVX-512 tiles widen half floats themselves. */
        if (eng_cpu_avx512())
            eng_avx512_f16_rows((const uint16_t *)W->data, W->cols, X, n, (size_t)ldx, Y,
                                (size_t)ldy, r0, r1, NULL);
        else
            eng_avx2_f16_rows((const uint16_t *)W->data, W->cols, X, n, (size_t)ldx, Y, (size_t)ldy,
                              r0, r1, n >= 8 ? scratch : NULL);
        return;
    }
    if (n == 1) {
        if (W->type == ENGINE_T_F32 && avx2) {
            eng_avx2_matvec_f32((const float *)W->data, W->cols, X, Y, r0, r1);
            return;
        }
        if (avx2 && eng_int8_type(W->type) && W->cols % 32 == 0) {
            /* Quantize the input once, then integer dots row by row. */
            eng_q8x *xq = (eng_q8x *)scratch;
            eng_avx2_quantize_x(W->type, X, W->cols, xq);
            if (W->packed_rows > r0) {
                eng_avx2_x8_rows(W, xq, 1, Y, 0, r0, r1);
                r0 = W->packed_rows;
            }
            if (r0 < r1) eng_avx2_matvec_q(W->type, W->data, W->row_bytes, xq, W->cols, Y, r0, r1);
            return;
        }
        for (int r = r0; r < r1; r++) {
            const uint8_t *row = W->data + (size_t)r * W->row_bytes;
            Y[r] = avx2 ? eng_avx2_dot_row(W->type, row, X, W->cols)
                        : eng_dot_row_portable(W->type, row, X, W->cols);
        }
        return;
    }
    if (avx2 && eng_int8_type(W->type) && W->cols % 32 == 0) {
        /* The same integer kernels as generation (so a prompt evaluated in
         * a batch gives the logits it gives token by token). */
        int nbk = W->cols / 32;
        eng_q8x *xq = (eng_q8x *)scratch;
        for (int t = 0; t < n; t++)
            eng_avx2_quantize_x(W->type, X + (size_t)t * ldx, W->cols, xq + (size_t)t * nbk);
        if (W->packed_rows > r0) {
            /* Rows packed in groups of eight (Q8_0, Q4_0): their own tiles;
             * the rows after them (fewer than eight) as below. */
            eng_avx2_x8_rows(W, xq, n, Y, (size_t)ldy, r0, r1);
            r0 = W->packed_rows;
            if (r0 >= r1) return;
        }
        if (W->type == ENGINE_T_Q4_K && n >= 4) {
            /* The inputs' scale vectors once per product, then blocks of
             * rows that stay in cache while every group of four inputs goes
             * through them. */
            float *xsc = (float *)(xq + (size_t)n * nbk);
            size_t xstride = (size_t)W->cols / 16;
            for (int t = 0; t < n; t++)
                eng_avx2_q4k_x_scales(xq + (size_t)t * nbk, W->cols, xsc + (size_t)t * xstride);
            int blk = (int)CC_MAX(4, 32768 / W->row_bytes);
            for (int b0 = r0; b0 < r1; b0 += blk) {
                int b1 = CC_MIN(r1, b0 + blk), t = 0;
                for (; t + 4 <= n; t += 4) {
                    const eng_q8x *x4[4];
                    const float *s4[4];
                    for (int k = 0; k < 4; k++) {
                        x4[k] = xq + (size_t)(t + k) * nbk;
                        s4[k] = xsc + (size_t)(t + k) * xstride;
                    }
                    eng_avx2_q4k_rows4(W->data, W->row_bytes, W->cols, x4, s4, Y + (size_t)t * ldy,
                                       (size_t)ldy, b0, b1);
                }
                for (; t < n; t++)
                    for (int r = b0; r < b1; r++)
                        Y[(size_t)t * ldy + r] =
                            eng_avx2_dot_q(W->type, W->data + (size_t)r * W->row_bytes,
                                           xq + (size_t)t * nbk, W->cols);
            }
            return;
        }
        /* Blocks of rows (32 KB) that stay in cache while each group of four
         * inputs (a few KB, in L1) goes through them: row by row over the
         * whole batch, the inputs came from L2 again for every row. */
        int blk = (int)CC_MAX(4, 32768 / W->row_bytes);
        for (int b0 = r0; b0 < r1; b0 += blk) {
            int b1 = CC_MIN(r1, b0 + blk), t = 0;
            for (; t + 4 <= n; t += 4) {
                const eng_q8x *x4[4] = {xq + (size_t)t * nbk, xq + (size_t)(t + 1) * nbk,
                                        xq + (size_t)(t + 2) * nbk, xq + (size_t)(t + 3) * nbk};
                bool done = true;
                for (int r = b0; r < b1 && done; r++) {
                    float o[4];
                    done = eng_avx2_dot_q4x(W->type, W->data + (size_t)r * W->row_bytes, x4,
                                            W->cols, o);
                    if (done)
                        for (int k = 0; k < 4; k++)
                            Y[(size_t)(t + k) * ldy + r] = o[k];
                }
                if (!done) break; /* no four-input kernel: one at a time */
            }
            for (; t < n; t++)
                for (int r = b0; r < b1; r++)
                    Y[(size_t)t * ldy + r] = eng_avx2_dot_q(
                        W->type, W->data + (size_t)r * W->row_bytes, xq + (size_t)t * nbk, W->cols);
        }
        return;
    }
    if (avx2 && W->type == ENGINE_T_F32) {
        /* Blocks of rows small enough to stay in L1 while every vector of
         * the batch goes through them (4-row kernel, like generation). */
        int blk = (int)CC_MAX(4, 16384 / W->row_bytes) & ~3;
        for (int b0 = r0; b0 < r1; b0 += blk) {
            int b1 = CC_MIN(r1, b0 + blk);
            for (int t = 0; t < n; t++)
                eng_avx2_matvec_f32((const float *)W->data, W->cols, X + (size_t)t * ldx,
                                    Y + (size_t)t * ldy, b0, b1);
        }
        return;
    }
    /* A batch: bring each row to floats once, then dot it with every vector. */
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = W->data + (size_t)r * W->row_bytes;
        const float *wr = (const float *)row;
        if (W->type != ENGINE_T_F32) {
            engine_dequant_row(W->type, row, scratch, (size_t)W->cols);
            wr = scratch;
        }
        if (avx2)
            for (int t = 0; t < n; t++)
                Y[(size_t)t * ldy + r] = eng_avx2_dot_f32(wr, X + (size_t)t * ldx, W->cols);
        else
            for (int t = 0; t < n; t++)
                Y[(size_t)t * ldy + r] = dot_f32_portable(wr, X + (size_t)t * ldx, W->cols);
    }
}

float eng_softmax_exp(float *sc, int len, float mx)
{
    float sum = 0;
    for (int p = 0; p < len; p++) {
        sc[p] = expf(sc[p] - mx);
        sum += sc[p];
    }
    return sum;
}

void eng_attend(const float *q, const uint16_t *k, const uint16_t *v, int stride, int hd, int len,
                float scale, float *sc, float *out)
{
    if (eng_cpu_avx2() && hd % 8 == 0)
        eng_avx2_attend(q, k, v, stride, hd, len, scale, sc, out);
    else
        eng_attend_portable(q, k, v, stride, hd, len, scale, sc, out);
}

void eng_attend_portable(const float *q, const uint16_t *k, const uint16_t *v, int stride, int hd,
                         int len, float scale, float *sc, float *out)
{
    float mx = -INFINITY;
    for (int p = 0; p < len; p++) {
        const uint16_t *kp = k + (size_t)p * stride;
        float s = 0;
        for (int i = 0; i < hd; i++)
            s += q[i] * engine_f16_to_f32(kp[i]);
        s *= scale;
        sc[p] = s;
        mx = s > mx ? s : mx;
    }
    float inv = 1.0f / eng_softmax_exp(sc, len, mx);
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int p = 0; p < len; p++) {
        const uint16_t *vp = v + (size_t)p * stride;
        float w = sc[p] * inv;
        for (int i = 0; i < hd; i++)
            out[i] += w * engine_f16_to_f32(vp[i]);
    }
}

/* Positions in turn, each key and value widened once for every query of the tile that sees
 * it; each query's sums run over i and then p exactly as in eng_attend's portable loops. */
void eng_attend_tile_portable(const eng_att_tile *t, const uint16_t *k, const uint16_t *v,
                              int stride, int hd)
{
    enum { ROW = 256 }; /* widened values per pass: a stack row, any head size */
    float row[ROW], mx[ENG_ATT_TILE], inv[ENG_ATT_TILE];
    int lmax = 0;
    for (int j = 0; j < t->n; j++) {
        mx[j] = -INFINITY;
        lmax = CC_MAX(lmax, t->len[j]);
    }
    float s[ENG_ATT_TILE];
    for (int p = 0; p < lmax; p++) {
        const uint16_t *kp = k + (size_t)p * stride;
        for (int j = 0; j < t->n; j++)
            s[j] = 0;
        for (int i0 = 0; i0 < hd; i0 += ROW) {
            int m = CC_MIN(ROW, hd - i0);
            for (int i = 0; i < m; i++)
                row[i] = engine_f16_to_f32(kp[i0 + i]);
            for (int j = 0; j < t->n; j++)
                if (p < t->len[j])
                    for (int i = 0; i < m; i++)
                        s[j] += t->q[j][i0 + i] * row[i];
        }
        for (int j = 0; j < t->n; j++)
            if (p < t->len[j]) {
                float sj = s[j] * t->scale;
                t->sc[j][p] = sj;
                mx[j] = sj > mx[j] ? sj : mx[j];
            }
    }
    for (int j = 0; j < t->n; j++) {
        inv[j] = 1.0f / eng_softmax_exp(t->sc[j], t->len[j], mx[j]);
        memset(t->out[j], 0, (size_t)hd * sizeof(float));
    }
    for (int p = 0; p < lmax; p++) {
        const uint16_t *vp = v + (size_t)p * stride;
        for (int i0 = 0; i0 < hd; i0 += ROW) {
            int m = CC_MIN(ROW, hd - i0);
            for (int i = 0; i < m; i++)
                row[i] = engine_f16_to_f32(vp[i0 + i]);
            for (int j = 0; j < t->n; j++)
                if (p < t->len[j]) {
                    float w = t->sc[j][p] * inv[j];
                    for (int i = 0; i < m; i++)
                        t->out[j][i0 + i] += w * row[i];
                }
        }
    }
}

void eng_attend_tile(const eng_att_tile *t, const uint16_t *k, const uint16_t *v, int stride,
                     int hd)
{
    if (eng_cpu_avx2() && hd % 8 == 0)
        eng_avx2_attend_tile(t, k, v, stride, hd);
    else
        eng_attend_tile_portable(t, k, v, stride, hd);
}

void eng_f16_store(uint16_t *dst, const float *src, int n)
{
    if (eng_cpu_avx2()) {
        eng_avx2_f16_store(dst, src, n);
        return;
    }
    for (int i = 0; i < n; i++)
        dst[i] = engine_f32_to_f16(src[i]);
}

void eng_silu_mul(float *a, const float *b, int n)
{
    if (eng_cpu_avx2()) {
        eng_avx2_silu_mul(a, b, n);
        return;
    }
    for (int i = 0; i < n; i++)
        a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}
