/*
 * Tensor types and kernels: half-float conversions, hand-built blocks of
 * each quant type against floats worked out by hand, quantize/dequantize
 * round trips, quantized dot products against F32 (portable and AVX2), the
 * thread pool, and synthetic qwen2/qwen3/llama models of several types
 * loading and generating (also from a file, with Q8_0/Q4_0/Q4_K/Q6_K rows packed).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine_int.h"

static void test_half_floats(void **state)
{
    (void)state;
    assert_int_equal(engine_f32_to_f16(1.0f), 0x3C00);
    assert_int_equal(engine_f32_to_f16(-2.0f), 0xC000);
    assert_int_equal(engine_f32_to_f16(65504.0f), 0x7BFF);
    assert_int_equal(engine_f32_to_f16(1e6f), 0x7C00);
    assert_int_equal(engine_f32_to_f16(0.1f), 0x2E66);
    assert_int_equal(engine_f32_to_f16(1e-9f), 0x0000);
    assert_int_equal(engine_f32_to_f16(6e-8f), 0x0001);
    assert_true(engine_f16_to_f32(0x0001) == 5.9604645e-8f);
    assert_true(engine_f16_to_f32(0x3555) == 0.33325195f);
    assert_true(isinf(engine_f16_to_f32(0xFC00)));
    assert_true(isnan(engine_f16_to_f32(engine_f32_to_f16(NAN))));
    for (uint32_t h = 0; h < 0x7C00; h++) /* every finite half round-trips */
        assert_int_equal(engine_f32_to_f16(engine_f16_to_f32((uint16_t)h)), h);
    assert_int_equal(engine_f32_to_bf16(1.0f), 0x3F80);
    assert_true(engine_bf16_to_f32(0xC040) == -3.0f);
}

static void test_q8_0_block(void **state)
{
    (void)state;
    blk_q8_0 b;
    b.d = 0x3800; /* 0.5 */
    for (int j = 0; j < 32; j++)
        b.qs[j] = (int8_t)(j * 8 - 128);
    float y[32];
    assert_int_equal(engine_dequant_row(ENGINE_T_Q8_0, &b, y, 32), 0);
    assert_true(y[0] == -64.0f);
    assert_true(y[16] == 0.0f);
    assert_true(y[31] == 60.0f);
}

static void test_q4_0_block(void **state)
{
    (void)state;
    blk_q4_0 b;
    b.d = 0x4000; /* 2.0 */
    for (int j = 0; j < 16; j++)
        b.qs[j] = (uint8_t)(j | (15 - j) << 4);
    float y[32];
    assert_int_equal(engine_dequant_row(ENGINE_T_Q4_0, &b, y, 32), 0);
    assert_true(y[0] == -16.0f);  /* (0 - 8) * 2 */
    assert_true(y[15] == 14.0f);  /* (15 - 8) * 2 */
    assert_true(y[16] == 14.0f);  /* high nibble of byte 0: 15 */
    assert_true(y[31] == -16.0f); /* high nibble of byte 15: 0 */
}

static void test_q4_k_block(void **state)
{
    (void)state;
    blk_q4_k b;
    memset(&b, 0, sizeof(b));
    b.d = 0x3C00;    /* 1.0 */
    b.dmin = 0x3800; /* 0.5 */
    /* sub-block 0: scale 2, min 3 (6-bit fields of bytes 0 and 4) */
    b.scales[0] = 2;
    b.scales[4] = 3;
    /* sub-block 5: scale 33 = low nibble 1 in byte 9 + top bits 2 in byte 1;
     * min 17 = high nibble 1 in byte 9 + top bits 1 in byte 5 */
    b.scales[9] = 1 | 1 << 4;
    b.scales[1] |= 2 << 6;
    b.scales[5] |= 1 << 6;
    memset(b.qs, 0x21, sizeof(b.qs)); /* low nibbles 1, high nibbles 2 */
    float y[256];
    assert_int_equal(engine_dequant_row(ENGINE_T_Q4_K, &b, y, 256), 0);
    assert_true(y[0] == 0.5f); /* 1 * 2 * 1 - 0.5 * 3 */
    assert_true(y[31] == 0.5f);
    assert_true(y[32] == 0.0f);   /* sub-block 1: scale 0, min 0 */
    assert_true(y[160] == 57.5f); /* sub-block 5: 1 * 33 * 2 - 0.5 * 17 */
    assert_true(y[191] == 57.5f);
    assert_true(y[64] == 0.0f);
}

static void test_q6_k_block(void **state)
{
    (void)state;
    blk_q6_k b;
    memset(&b, 0, sizeof(b));
    b.d = 0x3C00; /* 1.0 */
    b.scales[0] = 2;
    b.scales[2] = -1;
    b.scales[4] = 3;
    b.ql[0] = 0x05;
    b.qh[0] = 0x02;
    float y[256];
    assert_int_equal(engine_dequant_row(ENGINE_T_Q6_K, &b, y, 256), 0);
    assert_true(y[0] == 10.0f);   /* (5 | 2 << 4) - 32 = 5, times scale 2 */
    assert_true(y[32] == 32.0f);  /* q = -32, scale -1 */
    assert_true(y[64] == -96.0f); /* q = -32, scale 3 */
    assert_true(y[128] == 0.0f);  /* scale 0 in the second half */
}

/* The dequantize-only types, each with one hand-built block. */
static void test_q4_1_q5_blocks(void **state)
{
    (void)state;
    float y[256], x[256];
    for (int i = 0; i < 256; i++)
        x[i] = (float)(i % 5) - 2.0f;
    /* Q4_1: d = 0.5, m = -1, byte j = j | (15 - j) << 4 */
    uint8_t q41[20] = {0x00, 0x38, 0x00, 0xBC};
    for (int j = 0; j < 16; j++)
        q41[4 + j] = (uint8_t)(j | (15 - j) << 4);
    assert_int_equal(engine_dequant_row(ENGINE_T_Q4_1, q41, y, 32), 0);
    assert_true(y[0] == -1.0f && y[15] == 6.5f && y[16] == 6.5f && y[31] == -1.0f);
    /* Q5_0: d = 2, high bits set for elements 0 and 16+1 -> q 16 and 17 */
    uint8_t q50[22] = {0x00, 0x40, 0x01, 0x00, 0x02, 0x00};
    memset(q50 + 6, 0, 16);
    q50[6 + 1] = 0x10; /* element 1: low nibble 0; element 17: high nibble 1 */
    assert_int_equal(engine_dequant_row(ENGINE_T_Q5_0, q50, y, 32), 0);
    assert_true(y[0] == 0.0f);   /* (0 | 16) - 16 */
    assert_true(y[1] == -32.0f); /* (0) - 16, times 2 */
    assert_true(y[17] == 2.0f);  /* (1 | 16) - 16 */
    assert_true(y[16] == -32.0f);
    /* Q5_1: d = 1, m = 0.5, all high bits set, nibbles 3 -> 19.5 */
    uint8_t q51[24] = {0x00, 0x3C, 0x00, 0x38, 0xFF, 0xFF, 0xFF, 0xFF};
    memset(q51 + 8, 0x33, 16);
    assert_int_equal(engine_dequant_row(ENGINE_T_Q5_1, q51, y, 32), 0);
    for (int j = 0; j < 32; j++)
        assert_true(y[j] == 19.5f);
    /* Q5_K: d = 1, dmin = 0.5; sub-block 2 (chunk 1, low nibbles) scale 3,
     * min 4; fifth bits of chunk 1 (bit 2) set for element 64 only. */
    uint8_t q5k[176];
    memset(q5k, 0, sizeof(q5k));
    q5k[1] = 0x3C;
    q5k[3] = 0x38;
    q5k[4 + 2] = 3; /* scale of sub-block 2 */
    q5k[4 + 6] = 4; /* min of sub-block 2 */
    q5k[16 + 0] = 1 << 2;
    memset(q5k + 48 + 32, 0x11, 32); /* chunk 1: nibbles 1 */
    assert_int_equal(engine_dequant_row(ENGINE_T_Q5_K, q5k, y, 256), 0);
    assert_true(y[64] == 49.0f); /* 3 * (1 + 16) - 0.5 * 4 */
    assert_true(y[65] == 1.0f);  /* 3 * 1 - 2 */
    assert_true(y[0] == 0.0f);   /* scale 0, min 0 */
    /* Their dot products are those of the dequantized rows. */
    const struct {
        uint32_t t;
        const uint8_t *blk;
        int n;
    } cases[] = {{ENGINE_T_Q4_1, q41, 32},
                 {ENGINE_T_Q5_0, q50, 32},
                 {ENGINE_T_Q5_1, q51, 32},
                 {ENGINE_T_Q5_K, q5k, 256}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        engine_dequant_row(cases[k].t, cases[k].blk, y, (size_t)cases[k].n);
        double want = 0;
        for (int i = 0; i < cases[k].n; i++)
            want += (double)y[i] * x[i];
        assert_true(engine_ttype_supported(cases[k].t));
        assert_true(fabs(engine_dot_row(cases[k].t, cases[k].blk, x, (size_t)cases[k].n) - want) <
                    1e-3);
        assert_true(fabs(eng_dot_row_portable(cases[k].t, cases[k].blk, x, cases[k].n) - want) <
                    1e-3);
    }
}

static void fill_random(float *v, int n, uint64_t seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = (float)((int64_t)(seed >> 33) % 2001 - 1000) / 1000.0f;
    }
}

static void test_quant_dot(void **state)
{
    (void)state;
    enum { N = 1024 };
    static const struct {
        uint32_t type;
        float roundtrip; /* max |w - dequant(quant(w))| for |w| <= 1 */
    } types[] = {{ENGINE_T_F32, 0},      {ENGINE_T_F16, 1e-3f},  {ENGINE_T_BF16, 5e-3f},
                 {ENGINE_T_Q8_0, 5e-3f}, {ENGINE_T_Q4_0, 0.13f}, {ENGINE_T_Q4_K, 0.08f},
                 {ENGINE_T_Q6_K, 0.03f}};
    float w[N], x[N], wq[N];
    uint8_t q[N * 4];
    fill_random(w, N, 1);
    fill_random(x, N, 2);
    double ref = 0, absref = 0;
    for (int i = 0; i < N; i++) {
        ref += (double)w[i] * x[i];
        absref += fabs((double)w[i] * x[i]);
    }
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        uint32_t type = types[t].type;
        size_t bytes = engine_quant_row(type, w, q, N);
        size_t be, bb;
        assert_true(engine_ttype_info(type, &be, &bb));
        assert_int_equal(bytes, N / be * bb);
        assert_int_equal(engine_dequant_row(type, q, wq, N), 0);
        double deq = 0;
        for (int i = 0; i < N; i++) {
            if (fabsf(wq[i] - w[i]) > types[t].roundtrip)
                fail_msg("%s: element %d: %f vs %f", engine_ttype_name(type), i, wq[i], w[i]);
            deq += (double)wq[i] * x[i];
        }
        /* The kernels compute exactly the dot of the dequantized row. */
        float d1 = engine_dot_row(type, q, x, N);
        float d2 = eng_dot_row_portable(type, q, x, N);
        if (fabs(d1 - deq) > 1e-3 * absref || fabs(d2 - deq) > 1e-3 * absref)
            fail_msg("%s: dot %f / portable %f vs dequantized %f", engine_ttype_name(type), d1, d2,
                     deq);
        /* And within the quantization error of the F32 dot. */
        if (fabs(d1 - ref) > 0.05 * absref)
            fail_msg("%s: dot %f vs f32 %f", engine_ttype_name(type), d1, ref);
        if (engine_kernels_have_avx2()) {
            float a = eng_avx2_dot_row(type, q, x, N);
            assert_true(fabs(a - d2) <= 1e-4 * absref);
            if (eng_int8_type(type)) {
                /* Integer kernels: the input is quantized to 8 bits too. */
                eng_q8x xq[N / 32];
                eng_avx2_quantize_x(type, x, N, xq);
                for (int b = 0; b < N / 32; b++) {
                    int32_t sum = 0, half = 0;
                    for (int k = 0; k < 32; k++) {
                        float want = x[b * 32 + k];
                        assert_true(fabsf(xq[b].qs[k] * xq[b].d - want) <= xq[b].d * 0.5f + 1e-6f);
                        sum += xq[b].qs[k];
                        half += k < 16 ? xq[b].qs[k] : 0;
                    }
                    if (type == ENGINE_T_Q6_K) { /* the sums of the halves instead */
                        assert_int_equal(half, xq[b].half_sum[0]);
                        assert_int_equal(sum - half, xq[b].half_sum[1]);
                    } else {
                        assert_int_equal(sum, xq[b].isum);
                    }
                    /* Q4_K inputs: one scale per 256 values, that of their largest. */
                    if (type == ENGINE_T_Q4_K) {
                        float amax = 0;
                        for (int k = 0; k < 256; k++)
                            amax = fmaxf(amax, fabsf(x[b / 8 * 256 + k]));
                        assert_true(xq[b].d == amax / 127.0f);
                    }
                }
                float qd = eng_avx2_dot_q(type, q, xq, N);
                if (fabs(qd - deq) > 1e-2 * absref)
                    fail_msg("%s: int8 dot %f vs dequantized %f", engine_ttype_name(type), qd, deq);
                /* Q8_0, Q4_K: the AVX-VNNI kernel (where there is one) gives
                 * the AVX2 kernel's result bit for bit. */
                float both[2];
                if (eng_avx2_dot_q_both(type, q, xq, N, both)) {
                    assert_memory_equal(&both[0], &both[1], sizeof(float));
                    assert_memory_equal(&both[1], &qd, sizeof(float));
                }
            }
        }
    }
    /* Batched products (prompt path) equal row-by-row dots, for every type
     * with a multi-token kernel. */
    /* Ten inputs: groups of four and two more, tiles of three and one more. */
    enum { R = 8, C = 512, NB = 10 };
    float W[R * C], X[NB * C], Y[NB * R], scratch[ENG_SCRATCH_FLOATS(NB, C)];
    fill_random(W, R * C, 3);
    fill_random(X, NB * C, 4);
    static const uint32_t btypes[] = {ENGINE_T_Q4_K, ENGINE_T_Q6_K, ENGINE_T_Q4_0, ENGINE_T_Q8_0,
                                      ENGINE_T_F16};
    for (size_t bt = 0; bt < sizeof(btypes) / sizeof(btypes[0]); bt++) {
        uint32_t type = btypes[bt];
        uint8_t Wq[R * C * 4];
        size_t rb = engine_quant_row(type, W, Wq, C);
        for (int r = 1; r < R; r++)
            engine_quant_row(type, W + r * C, Wq + r * rb, C);
        eng_tensor T = {type, R, C, rb, Wq, 0};
        eng_matmul(&T, X, NB, C, Y, R, 0, R, scratch);
        for (int t = 0; t < NB; t++)
            for (int r = 0; r < R; r++) {
                float d = eng_dot_row_portable(type, Wq + r * rb, X + t * C, C);
                float mag = 0;
                for (int k = 0; k < C; k++)
                    mag += fabsf(W[r * C + k] * X[t * C + k]);
                if (fabsf(Y[t * R + r] - d) > 3e-3f * mag) /* 8-bit inputs on AVX2 */
                    fail_msg("%s row %d token %d: batch %f vs portable dot %f",
                             engine_ttype_name(type), r, t, Y[t * R + r], d);
            }
        /* Smaller batches from row 1 (other tile shapes and row groups, with
         * and without F16's widened rows) give the same bits. */
        for (int nb = 2; nb < NB; nb++) {
            float Y2[NB * R];
            eng_matmul(&T, X, nb, C, Y2, R, 1, R, scratch);
            for (int t = 0; t < nb; t++)
                for (int r = 1; r < R; r++)
                    if (memcmp(&Y2[t * R + r], &Y[t * R + r], sizeof(float)) != 0)
                        fail_msg("%s row %d token %d: batch of %d %.9g vs of %d %.9g",
                                 engine_ttype_name(type), r, t, nb, Y2[t * R + r], NB,
                                 Y[t * R + r]);
        }
        /* One vector at a time gives exactly the batch's values (bit for
         * bit: the forward pass relies on it). */
        for (int t = 0; t < NB; t++) {
            float y1[R];
            eng_matmul(&T, X + t * C, 1, C, y1, R, 2, 5, scratch);
            for (int r = 2; r < 5; r++)
                if (memcmp(&y1[r], &Y[t * R + r], sizeof(float)) != 0)
                    fail_msg("%s row %d token %d: alone %.9g vs batch %.9g",
                             engine_ttype_name(type), r, t, y1[r], Y[t * R + r]);
        }
    }
}

/* Long rows and odd shapes through the batched kernels: F16 rows longer than
 * one column range (1280 = 1024 + 256: the accumulators carried from one
 * range to the next) and Q4_K's four-input tiles, on 7 rows (a group of four
 * and three more) and 11 inputs (tiles of three and of two; of four and three
 * single inputs): within rounding of the portable dots, and bit for bit the
 * values of each input alone and of smaller batches. */
static void test_long_rows(void **state)
{
    (void)state;
    enum { R = 7, C = 1280, NB = 11 };
    static float W[R * C], X[NB * C], Y[NB * R], Y2[NB * R], scratch[ENG_SCRATCH_FLOATS(NB, C)];
    static uint8_t Wq[R * C * 2];
    fill_random(W, R * C, 21);
    fill_random(X, NB * C, 22);
    static const uint32_t types[] = {ENGINE_T_F16, ENGINE_T_Q4_K};
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
        uint32_t type = types[ti];
        size_t rb = engine_quant_row(type, W, Wq, C);
        for (int r = 1; r < R; r++)
            engine_quant_row(type, W + r * C, Wq + r * rb, C);
        eng_tensor T = {type, R, C, rb, Wq, 0};
        eng_matmul(&T, X, NB, C, Y, R, 0, R, scratch);
        for (int t = 0; t < NB; t++)
            for (int r = 0; r < R; r++) {
                float d = eng_dot_row_portable(type, Wq + r * rb, X + t * C, C), mag = 0;
                for (int k = 0; k < C; k++)
                    mag += fabsf(W[r * C + k] * X[t * C + k]);
                if (fabsf(Y[t * R + r] - d) > 3e-3f * mag)
                    fail_msg("%s row %d input %d: batch %f vs portable %f", engine_ttype_name(type),
                             r, t, Y[t * R + r], d);
            }
        for (int nb = 1; nb < NB; nb++) {
            eng_matmul(&T, X, nb, C, Y2, R, 0, R, scratch);
            for (int t = 0; t < nb; t++)
                for (int r = 0; r < R; r++)
                    if (memcmp(&Y2[t * R + r], &Y[t * R + r], sizeof(float)) != 0)
                        fail_msg("%s row %d input %d: batch of %d %.9g vs of %d %.9g",
                                 engine_ttype_name(type), r, t, nb, Y2[t * R + r], NB,
                                 Y[t * R + r]);
        }
        for (int t = 0; t < NB; t++) {
            eng_matmul(&T, X + t * C, 1, C, Y2, R, 0, R, scratch);
            for (int r = 0; r < R; r++)
                if (memcmp(&Y2[r], &Y[t * R + r], sizeof(float)) != 0)
                    fail_msg("%s row %d input %d: alone %.9g vs batch %.9g",
                             engine_ttype_name(type), r, t, Y2[r], Y[t * R + r]);
        }
    }
}

/* Two Q6_K blocks at the extremes the 16-bit sums of the packed tiles must hold: every value 31
 * (stored 63) with scales -128 in hi, every value -32 (stored 0) with scales 127 in lo. */
static void q6k_extremes(blk_q6_k *hi, blk_q6_k *lo)
{
    memset(hi->ql, 0xff, sizeof(hi->ql));
    memset(hi->qh, 0xff, sizeof(hi->qh));
    memset(hi->scales, 0x80, sizeof(hi->scales));
    memset(lo->ql, 0x00, sizeof(lo->ql));
    memset(lo->qh, 0x00, sizeof(lo->qh));
    memset(lo->scales, 0x7f, sizeof(lo->scales));
}

/* Q8_0, Q4_0, Q4_K and Q6_K rows packed in groups of eight for the AVX2 kernels:
 * within 8-bit rounding of the portable dots, the unpacked integer kernels'
 * values and the exact product of the dequantized weights and quantized
 * inputs (in double) to float rounding, and the same bits for every batch
 * size and row range (a token alone gives the batch's values). 21 rows: two
 * packed groups and five plain rows after them; rows 0 and 1 and the last
 * two inputs take the extreme values (Q4_0's, Q4_K's and Q6_K's 16-bit
 * sums at their bound, Q4_K's 6-bit scales and minimums at 63, Q6_K's
 * scales at -128 and 127). */
static void test_packed_rows(void **state)
{
    (void)state;
    enum { R = 21, NB = 7, MAXC = 512 };
    static const int widths[] = {96, 256, 512};
    static const uint32_t types[] = {ENGINE_T_Q8_0, ENGINE_T_Q4_0, ENGINE_T_Q4_K, ENGINE_T_Q6_K};
    static float W[R * MAXC], Wd[R * MAXC], X[NB * MAXC], Y[NB * R], Y2[NB * R],
        scratch[ENG_SCRATCH_FLOATS(NB, MAXC)];
    static uint8_t Wq[R * MAXC * 2], Wp[R * MAXC * 2];
    for (size_t ci = 0; ci < sizeof(widths) / sizeof(widths[0]); ci++) {
        int C = widths[ci];
        fill_random(W, R * C, 5 + ci);
        fill_random(X, NB * C, 7 + ci);
        for (int k = 0; k < C; k++) {
            X[(NB - 2) * C + k] = 1.0f;
            X[(NB - 1) * C + k] = -1.0f;
        }
        for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
            uint32_t type = types[ti];
            if ((type == ENGINE_T_Q4_K || type == ENGINE_T_Q6_K) && C % QK_K) continue;
            size_t rb = 0;
            for (int r = 0; r < R; r++)
                rb = engine_quant_row(type, W + r * C, Wq + r * rb, C);
            /* Extremes: Q8_0 weights -128 and 127; Q4_0 nibbles 15 and 0;
             * Q4_K nibbles 15 and 0 with every scale and minimum 63. */
            for (int b = 0; b < C / 32; b++) {
                if (type == ENGINE_T_Q4_K) {
                    if (b >= C / QK_K) break;
                    blk_q4_k *b0 = (blk_q4_k *)Wq + b, *b1 = (blk_q4_k *)(Wq + rb) + b;
                    memset(b0->qs, 0xff, sizeof(b0->qs));
                    memset(b0->scales, 0xff, sizeof(b0->scales));
                    memset(b1->qs, 0x00, sizeof(b1->qs));
                    memset(b1->scales, 0xff, sizeof(b1->scales));
                } else if (type == ENGINE_T_Q8_0) {
                    blk_q8_0 *b0 = (blk_q8_0 *)Wq + b, *b1 = (blk_q8_0 *)(Wq + rb) + b;
                    memset(b0->qs, 0x80, sizeof(b0->qs));
                    memset(b1->qs, 0x7f, sizeof(b1->qs));
                } else if (type == ENGINE_T_Q4_0) {
                    blk_q4_0 *b0 = (blk_q4_0 *)Wq + b, *b1 = (blk_q4_0 *)(Wq + rb) + b;
                    memset(b0->qs, 0xff, sizeof(b0->qs));
                    memset(b1->qs, 0x00, sizeof(b1->qs));
                } else if (b % 8 == 0) {
                    q6k_extremes((blk_q6_k *)Wq + b / 8, (blk_q6_k *)(Wq + rb) + b / 8);
                }
            }
            memcpy(Wp, Wq, R * rb);
            int packed = eng_pack_rows8(type, Wp, R, C, rb);
            if (!engine_kernels_have_avx2()) {
                assert_int_equal(packed, 0); /* only the AVX2 kernels read the layout */
                continue;
            }
            assert_int_equal(packed, 16);
            assert_memory_not_equal(Wp, Wq, 16 * rb);
            assert_memory_equal(Wp + 16 * rb, Wq + 16 * rb, (R - 16) * rb);
            /* Other shapes are left alone. */
            assert_int_equal(eng_pack_rows8(type, Wp, 7, C, rb), 0);
            assert_int_equal(eng_pack_rows8(type, Wp, R, C, rb + 1), 0);
            if (type == ENGINE_T_Q4_K) /* too wide for the kernel's table */
                assert_int_equal(
                    eng_pack_rows8(type, Wp, 8, ENG_X8_Q4K_MAX_COLS + QK_K,
                                   (ENG_X8_Q4K_MAX_COLS / QK_K + 1) * sizeof(blk_q4_k)),
                    0);
            if (type == ENGINE_T_Q6_K) /* not whole super-blocks */
                assert_int_equal(eng_pack_rows8(type, Wp, R, C - 32, rb), 0);

            eng_tensor P = {type, R, C, rb, Wp, packed};
            eng_matmul(&P, X, NB, C, Y, R, 0, R, scratch);
            eng_q8x xq[MAXC / 32];
            for (int r = 0; r < R; r++)
                engine_dequant_row(type, Wq + r * rb, Wd + r * C, C);
            for (int t = 0; t < NB; t++) {
                eng_avx2_quantize_x(type, X + t * C, C, xq);
                for (int r = 0; r < R; r++) {
                    float d = eng_dot_row_portable(type, Wq + r * rb, X + t * C, C);
                    float u = eng_avx2_dot_q(type, Wq + r * rb, xq, C);
                    float mag = 0;
                    double e = 0; /* what the integer kernels compute, exactly */
                    for (int k = 0; k < C; k++) {
                        mag += fabsf(Wd[r * C + k] * X[t * C + k]);
                        e += (double)Wd[r * C + k] * xq[k / 32].d * xq[k / 32].qs[k % 32];
                    }
                    if (fabsf(Y[t * R + r] - d) > 3e-3f * mag ||
                        fabsf(Y[t * R + r] - u) > 1e-5f * mag ||
                        fabs(Y[t * R + r] - e) > 1e-5 * mag)
                        fail_msg("%s cols %d row %d token %d: packed %.9g, portable %.9g, "
                                 "unpacked int8 %.9g, exact %.9g",
                                 engine_ttype_name(type), C, r, t, Y[t * R + r], d, u, e);
                }
            }
            static const int ranges[][2] = {{0, R}, {3, 19}, {8, 16}, {17, R}, {5, 6}, {15, 17}};
            for (int nb = 1; nb <= NB; nb++)
                for (size_t g = 0; g < sizeof(ranges) / sizeof(ranges[0]); g++) {
                    int r0 = ranges[g][0], r1 = ranges[g][1];
                    /* inputs from the last ones down, so the extremes come in every size */
                    const float *Xs = X + (NB - nb) * C;
                    memset(Y2, 0, sizeof(Y2));
                    eng_matmul(&P, Xs, nb, C, Y2, R, r0, r1, scratch);
                    for (int t = 0; t < nb; t++)
                        for (int r = 0; r < R; r++) {
                            const float *want = &Y[(NB - nb + t) * R + r], zero = 0;
                            if (r < r0 || r >= r1) want = &zero; /* untouched */
                            if (memcmp(&Y2[t * R + r], want, sizeof(float)) != 0)
                                fail_msg("%s cols %d row %d token %d: %d inputs, rows [%d, %d): "
                                         "%.9g vs %.9g",
                                         engine_ttype_name(type), C, r, NB - nb + t, nb, r0, r1,
                                         Y2[t * R + r], *want);
                        }
                }
        }
    }
}

/* The F16 row kernels called directly, each one the CPU has (the AVX2 one
 * too on an AVX-512 CPU, where eng_matmul picks the other): 29 rows (groups
 * of eight for one input, the first two prefetching, then four and one),
 * columns of 32 (two 16-column steps), 768 and 1056 (a 1024-column range and
 * a short one), 70 inputs (more tiles than the column ranges keep) and 64
 * (tiles of six and four, the ranges' accumulators kept). Within rounding of
 * the portable dots, and bit for bit the batch's values for every smaller
 * batch (AVX2: widened rows for 8 or more, half floats in the tile below;
 * AVX-512: half floats in the tile, column ranges for 1056), every row
 * range, and each input alone. */
typedef void (*f16_rows_fn)(const uint16_t *W, int cols, const float *X, int n, size_t ldx,
                            float *Y, size_t ldy, int r0, int r1, float *wide);
static void check_f16_rows(const char *name, f16_rows_fn fn, int cols, int nb)
{
    enum { R = 29, NMAX = 70 };
    float *W = malloc((size_t)R * cols * sizeof(float)), *X = malloc(sizeof(float) * NMAX * cols);
    float *wide = malloc(sizeof(float) * 4 * cols);
    uint16_t *Wh = malloc((size_t)R * cols * 2);
    float Y[NMAX * R], Y2[NMAX * R];
    fill_random(W, R * cols, 31);
    fill_random(X, nb * cols, 32);
    for (int i = 0; i < R * cols; i++)
        Wh[i] = engine_f32_to_f16(W[i]);
    fn(Wh, cols, X, nb, cols, Y, R, 0, R, wide);
    for (int t = 0; t < nb; t++)
        for (int r = 0; r < R; r++) {
            float d = eng_dot_row_portable(ENGINE_T_F16, Wh + (size_t)r * cols,
                                           X + (size_t)t * cols, cols),
                  mag = 0;
            for (int k = 0; k < cols; k++)
                mag += fabsf(W[r * cols + k] * X[t * cols + k]);
            if (fabsf(Y[t * R + r] - d) > 1e-5f * mag)
                fail_msg("%s cols %d row %d input %d: %.9g vs portable %.9g", name, cols, r, t,
                         Y[t * R + r], d);
        }
    static const int ranges[][2] = {{0, 29}, {1, 29}, {3, 20}, {5, 6}, {0, 17}};
    for (int n = 1; n <= nb; n += n < 14 ? 1 : 25)
        for (size_t g = 0; g < sizeof(ranges) / sizeof(ranges[0]); g++) {
            int r0 = ranges[g][0], r1 = ranges[g][1];
            for (int wd = 0; wd < 2; wd++) {
                memset(Y2, 0xff, sizeof(Y2));
                fn(Wh, cols, X, n, cols, Y2, R, r0, r1, wd && n >= 8 ? wide : NULL);
                for (int t = 0; t < n; t++)
                    for (int r = r0; r < r1; r++)
                        if (memcmp(&Y2[t * R + r], &Y[t * R + r], sizeof(float)) != 0)
                            fail_msg("%s cols %d rows [%d,%d) batch of %d%s: row %d input %d "
                                     "%.9g vs batch of %d %.9g",
                                     name, cols, r0, r1, n, wd ? " (wide)" : "", r, t,
                                     Y2[t * R + r], nb, Y[t * R + r]);
            }
        }
    for (int t = 0; t < nb; t++) {
        fn(Wh, cols, X + (size_t)t * cols, 1, cols, Y2, R, 0, R, NULL);
        for (int r = 0; r < R; r++)
            if (memcmp(&Y2[r], &Y[t * R + r], sizeof(float)) != 0)
                fail_msg("%s cols %d row %d input %d: alone %.9g vs batch %.9g", name, cols, r, t,
                         Y2[r], Y[t * R + r]);
    }
    free(W);
    free(X);
    free(wide);
    free(Wh);
}

static void test_f16_rows(void **state)
{
    (void)state;
    static const int shapes[][2] = {{32, 13}, {768, 64}, {1056, 64}, {1056, 70}, {768, 70}};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        if (eng_cpu_avx2()) check_f16_rows("avx2", eng_avx2_f16_rows, shapes[i][0], shapes[i][1]);
        if (eng_cpu_avx512())
            check_f16_rows("avx512", eng_avx512_f16_rows, shapes[i][0], shapes[i][1]);
    }
    if (!eng_cpu_avx2()) skip();
}

/* The packed tiles' exact computation in portable C, for one row and input:
 * per block the integer sum of weight x input, then acc = fma(sum, d_w *
 * d_x, acc) in block order (what every tile does per lane). */
static float x8_reference(uint32_t type, const uint8_t *row, const eng_q8x *xq, int nb)
{
    float acc = 0;
    for (int i = 0; i < nb; i++) {
        int32_t s = 0;
        uint16_t d;
        if (type == ENGINE_T_Q8_0) {
            const blk_q8_0 *b = (const blk_q8_0 *)row + i;
            for (int j = 0; j < 32; j++)
                s += b->qs[j] * xq[i].qs[j];
            d = b->d;
        } else if (type == ENGINE_T_Q6_K) { /* ggml's layout, value k's scale k / 16 */
            const blk_q6_k *b = (const blk_q6_k *)row + i / 8;
            for (int j = 0; j < 32; j++) {
                int k = 32 * (i % 8) + j, h = k / 128, l = k % 32, m = k % 128 / 32;
                int lo = b->ql[64 * h + l + 32 * (m & 1)] >> (4 * (m >> 1)) & 0xF;
                int q = lo | (b->qh[32 * h + l] >> (2 * m) & 3) << 4;
                s += b->scales[k / 16] * ((q - 32) * xq[i].qs[j]);
            }
            d = b->d;
        } else {
            const blk_q4_0 *b = (const blk_q4_0 *)row + i;
            for (int j = 0; j < 16; j++)
                s +=
                    ((b->qs[j] & 0xF) - 8) * xq[i].qs[j] + ((b->qs[j] >> 4) - 8) * xq[i].qs[j + 16];
            d = b->d;
        }
        acc = fmaf((float)s, engine_f16_to_f32(d) * xq[i].d, acc);
    }
    return acc;
}

/* Every kind of packed tile (AVX2, AVX-VNNI, AVX-512 VNNI: eight and
 * sixteen rows) gives the portable reference's bits (Q4_K: the AVX2 tiles'),
 * for 1-6 inputs (tiles of 1-4) and row ranges that cut groups and leave odd
 * numbers of whole groups. 45 rows: five packed groups and five plain rows.
 * Rows 0, 1, 10 and 11 (in both groups of a sixteen-row tile) and the last
 * two inputs take the extreme values (Q8_0 weights -128 and 127 against
 * inputs +-127; Q4_0 and Q4_K nibbles 15 and 0, the 16-bit AVX2 sums at
 * their bound; Q4_K's scales and minimums 63; Q6_K values 31 and -32 with
 * scales -128 and 127). Kinds this CPU lacks are
 * skipped with a message. */
static void test_packed_kinds(void **state)
{
    (void)state;
    if (!engine_kernels_have_avx2()) skip();
    enum { R = 45, NB = 6, MAXC = 512 };
    static const int widths[] = {32, 96, 256, 512};
    static const uint32_t types[] = {ENGINE_T_Q8_0, ENGINE_T_Q4_0, ENGINE_T_Q4_K, ENGINE_T_Q6_K};
    static const char *const names[] = {"AVX2", "AVX-VNNI", "AVX-512 VNNI"};
    static float W[R * MAXC], X[NB * MAXC], want[NB * R], Y[NB * R];
    static uint8_t Wq[R * MAXC * 2], Wp[R * MAXC * 2];
    static eng_q8x xq[NB * MAXC / 32];
    int tested[3] = {0};
    for (size_t ci = 0; ci < sizeof(widths) / sizeof(widths[0]); ci++) {
        int C = widths[ci], nb = C / 32;
        fill_random(W, R * C, 11 + ci);
        fill_random(X, NB * C, 13 + ci);
        for (int k = 0; k < C; k++) {
            X[(NB - 2) * C + k] = 1.0f;
            X[(NB - 1) * C + k] = -1.0f;
        }
        for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
            uint32_t type = types[ti];
            bool q4k = type == ENGINE_T_Q4_K;
            if ((q4k || type == ENGINE_T_Q6_K) && C % QK_K) continue;
            size_t rb = 0;
            for (int r = 0; r < R; r++)
                rb = engine_quant_row(type, W + r * C, Wq + r * rb, C);
            /* rows 0 and 10 the largest weights, 1 and 11 the smallest */
            for (int r = 0; r < 12; r += 10)
                for (int b = 0; b < nb; b++) {
                    uint8_t *hi = Wq + r * rb, *lo = Wq + (r + 1) * rb;
                    if (type == ENGINE_T_Q8_0) {
                        memset(((blk_q8_0 *)hi + b)->qs, 0x80, QK8_0);
                        memset(((blk_q8_0 *)lo + b)->qs, 0x7f, QK8_0);
                    } else if (type == ENGINE_T_Q4_0) {
                        memset(((blk_q4_0 *)hi + b)->qs, 0xff, QK4_0 / 2);
                        memset(((blk_q4_0 *)lo + b)->qs, 0x00, QK4_0 / 2);
                    } else if (type == ENGINE_T_Q6_K) {
                        if (b >= C / QK_K) continue;
                        q6k_extremes((blk_q6_k *)hi + b, (blk_q6_k *)lo + b);
                    } else if (b < C / QK_K) { /* and every scale and minimum 63 */
                        blk_q4_k *b0 = (blk_q4_k *)hi + b, *b1 = (blk_q4_k *)lo + b;
                        memset(b0->qs, 0xff, sizeof(b0->qs));
                        memset(b0->scales, 0xff, sizeof(b0->scales));
                        memset(b1->qs, 0x00, sizeof(b1->qs));
                        memset(b1->scales, 0xff, sizeof(b1->scales));
                    }
                }
            memcpy(Wp, Wq, R * rb);
            assert_int_equal(eng_pack_rows8(type, Wp, R, C, rb), 40);
            eng_tensor P = {type, R, C, rb, Wp, 40};
            for (int t = 0; t < NB; t++) {
                eng_avx2_quantize_x(type, X + t * C, C, xq + t * nb);
                for (int r = 0; r < R && !q4k; r++)
                    want[t * R + r] = x8_reference(type, Wq + r * rb, xq + t * nb, nb);
            }
            if (q4k) { /* the AVX2 tiles' bits (test_packed_rows checks their values) */
                memset(want, 0, sizeof(want));
                assert_true(eng_x8_rows_kind(ENG_X8_AVX2, &P, xq, NB, want, R, 0, 40));
            }
            static const int ranges[][2] = {{0, 40}, {0, 24}, {8, 40}, {3, 37}, {16, 32},
                                            {9, 15}, {0, 8},  {8, 33}, {5, 6}};
            for (int kind = ENG_X8_AVX2; kind <= ENG_X8_AVX512VNNI; kind++)
                for (int n = 1; n <= NB; n++)
                    for (size_t g = 0; g < sizeof(ranges) / sizeof(ranges[0]); g++) {
                        int r0 = ranges[g][0], r1 = ranges[g][1];
                        const eng_q8x *xs = xq + (NB - n) * nb; /* the extremes in every n */
                        memset(Y, 0, sizeof(Y));
                        if (!eng_x8_rows_kind(kind, &P, xs, n, Y, R, r0, r1)) {
                            assert_int_not_equal(kind, ENG_X8_AVX2);
                            continue;
                        }
                        tested[kind] = 1;
                        for (int t = 0; t < n; t++)
                            for (int r = 0; r < R; r++) {
                                const float *w = &want[(NB - n + t) * R + r], zero = 0;
                                if (r < r0 || r >= r1) w = &zero; /* untouched */
                                if (memcmp(&Y[t * R + r], w, sizeof(float)) != 0)
                                    fail_msg("%s %s cols %d row %d input %d of %d, rows [%d, %d): "
                                             "%.9g vs reference %.9g",
                                             names[kind], engine_ttype_name(type), C, r, NB - n + t,
                                             n, r0, r1, Y[t * R + r], *w);
                            }
                    }
        }
    }
    for (int kind = ENG_X8_AVX2; kind <= ENG_X8_AVX512VNNI; kind++)
        if (!tested[kind])
            print_message("packed kinds: %s skipped (not on this CPU or build)\n", names[kind]);
    assert_true(tested[ENG_X8_AVX2]);
}

/* The cache's half-float writes: F16C and the portable conversion agree bit for bit on every
 * finite value class (normal, subnormal, ties, overflow, signed zero). */
static void test_f16_store(void **state)
{
    (void)state;
    if (!engine_kernels_have_avx2()) skip();
    enum { N = 4099 };
    static float x[N];
    static uint16_t a[N], b[N];
    fill_random(x, N, 11);
    const float special[] = {
        0.0f,           -0.0f,          65504.0f,       65520.0f,           -70000.0f,
        6.1035156e-05f, 5.9604645e-08f, 2.9802322e-08f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048,
        -1.0e-6f,       1.0e-7f,        3.14159f,       INFINITY,           -INFINITY};
    for (size_t i = 0; i < CC_ARRAY_LEN(special); i++)
        x[i] = special[i];
    for (int i = (int)CC_ARRAY_LEN(special); i < N; i++)
        x[i] *= (float)(1 << (i % 24)) / 4096.0f; /* many exponents */
    eng_avx2_f16_store(a, x, N);
    for (int i = 0; i < N; i++)
        b[i] = engine_f32_to_f16(x[i]);
    for (int i = 0; i < N; i++)
        if (a[i] != b[i]) fail_msg("x[%d] = %.9g: F16C %04x, portable %04x", i, x[i], a[i], b[i]);
}

/* The vectorised attention and SiLU (with their fast exp) against plain C. */
static void test_attention_and_silu(void **state)
{
    (void)state;
    if (!engine_kernels_have_avx2()) skip();
    enum { MAXLEN = 100, HD = 64, STRIDE = 128 };
    static float k[MAXLEN * STRIDE], v[MAXLEN * STRIDE], q[HD], sc[MAXLEN], out[HD], ref[HD];
    static uint16_t kh[MAXLEN * STRIDE], vh[MAXLEN * STRIDE];
    fill_random(k, MAXLEN * STRIDE, 5);
    fill_random(v, MAXLEN * STRIDE, 6);
    fill_random(q, HD, 7);
    /* The cache holds half floats: the reference uses the values the halves hold. */
    eng_f16_store(kh, k, MAXLEN * STRIDE);
    eng_f16_store(vh, v, MAXLEN * STRIDE);
    for (int i = 0; i < MAXLEN * STRIDE; i++) {
        k[i] = engine_f16_to_f32(kh[i]);
        v[i] = engine_f16_to_f32(vh[i]);
    }
    for (int i = 0; i < HD; i++)
        q[i] *= 8; /* sharp softmax: large exponents */
    int hds[2] = {8, HD};
    for (int h = 0; h < 2; h++)
        for (int len = 1; len <= MAXLEN; len += 7) {
            int hd = hds[h];
            float scale = 1.0f / sqrtf((float)hd);
            double s[MAXLEN], mx = -1e30, sum = 0;
            for (int p = 0; p < len; p++) {
                s[p] = 0;
                for (int i = 0; i < hd; i++)
                    s[p] += (double)q[i] * k[p * STRIDE + i];
                s[p] *= scale;
                mx = s[p] > mx ? s[p] : mx;
            }
            for (int p = 0; p < len; p++)
                sum += s[p] = exp(s[p] - mx);
            for (int i = 0; i < hd; i++) {
                double o = 0;
                for (int p = 0; p < len; p++)
                    o += s[p] / sum * v[p * STRIDE + i];
                ref[i] = (float)o;
            }
            eng_avx2_attend(q, kh, vh, STRIDE, hd, len, scale, sc, out);
            for (int i = 0; i < hd; i++)
                if (fabsf(out[i] - ref[i]) > 1e-5f)
                    fail_msg("hd %d len %d: out[%d] %f vs %f", hd, len, i, out[i], ref[i]);
        }
    float a[37], b[37];
    for (int i = 0; i < 37; i++) {
        a[i] = (float)(i - 18) * 6.0f; /* -108 .. 108: both tails */
        b[i] = 0.5f;
    }
    eng_avx2_silu_mul(a, b, 37);
    for (int i = 0; i < 37; i++) {
        double g = (i - 18) * 6.0, want = g / (1 + exp(-g)) * 0.5;
        assert_true(fabs(a[i] - want) <= 1e-6 * (1 + fabs(want)));
    }
}

typedef struct pool_check {
    _Atomic int hits[64];
    _Atomic int bad_thread;
    int threads;
} pool_check;

static void pool_fn(void *arg, int chunk, int n, int thread)
{
    pool_check *pc = arg;
    if (thread < 0 || thread >= pc->threads || n != 64) atomic_fetch_add(&pc->bad_thread, 1);
    atomic_fetch_add(&pc->hits[chunk], 1);
}

static void test_pool(void **state)
{
    (void)state;
    engine_pool *p = engine_pool_new(3);
    assert_int_equal(engine_pool_threads(p), 3);
    pool_check pc;
    memset(&pc, 0, sizeof(pc));
    pc.threads = 3;
    for (int round = 0; round < 2000; round++)
        engine_pool_run(p, 64, pool_fn, &pc);
    for (int i = 0; i < 64; i++)
        assert_int_equal(atomic_load(&pc.hits[i]), 2000);
    assert_int_equal(atomic_load(&pc.bad_thread), 0);
    engine_pool_free(p);
}

/* The bandwidth probe runs one chunk per pool thread at the same time (each
 * waits for the others to start): with three threads it must neither hang
 * nor report nothing, and a pool of one measures too. */
static void test_bandwidth_threads(void **state)
{
    (void)state;
    engine_pool *p = engine_pool_new(3);
    for (int r = 0; r < 20; r++)
        assert_true(engine_bench_bandwidth(p, (size_t)1 << 20, 2) > 0);
    engine_pool_free(p);
    engine_pool *one = engine_pool_new(1);
    assert_true(engine_bench_bandwidth(one, (size_t)1 << 20, 1) > 0);
    engine_pool_free(one);
}

static void synth_generate(engine_arch arch, uint32_t type, bool bpe)
{
    engine_synth_config c;
    engine_synth_config_default(&c);
    c.arch = arch;
    c.wtype = type;
    c.bpe_vocab = bpe;
    c.n_layer = 2;
    c.dim = 256;
    c.hidden_dim = 512;
    c.n_head = 4;
    c.n_head_kv = 2;
    c.n_vocab = 1000;
    c.n_ctx = 128;
    cc_buf file = CC_BUF_INIT;
    cc_err err = {0};
    if (engine_synth_buf(&c, &file, &err)) fail_msg("synth: %s", err.msg);
    engine_gguf *g = engine_gguf_parse(file.data, file.len, &err);
    assert_non_null(g);
    engine_model *m = engine_model_from_gguf(g, &err);
    if (!m) fail_msg("load: %s", err.msg);
    const engine_hparams *hp = engine_model_hparams(m);
    assert_int_equal(hp->arch, arch);
    assert_int_equal(hp->n_layer, 2);
    assert_int_equal(hp->dim, 256);
    assert_int_equal(hp->n_head_kv, 2);
    assert_int_equal(hp->neox_rope, arch != ENGINE_ARCH_LLAMA);
    assert_int_equal(hp->tied_output, arch != ENGINE_ARCH_LLAMA);
    assert_int_equal(engine_model_tok_kind(m), bpe ? ENGINE_TOK_BPE : ENGINE_TOK_SPM);
    engine_pool *pool = engine_pool_new(2);
    /* Batched prompt and token-by-token evaluation agree. */
    engine_ctx *a = engine_ctx_new(m, pool, 64, &err), *b = engine_ctx_new(m, pool, 64, &err);
    engine_tokens t = {0};
    const char *text = "hello world, the quick brown fox";
    assert_int_equal(engine_tokenize(m, text, strlen(text), true, false, &t, &err), 0);
    assert_true(t.n > 3);
    const float *la = engine_ctx_eval(a, t.ids, t.n, &err);
    assert_non_null(la);
    const float *lb = NULL;
    for (size_t i = 0; i < t.n; i++)
        lb = engine_ctx_eval(b, &t.ids[i], 1, &err);
    assert_non_null(lb);
    /* With the AVX2 kernels every type but BF16 (no batch kernel) gives the
     * same bits both ways, on two threads too. */
    bool exact = engine_kernels_have_avx2() && type != ENGINE_T_BF16;
    for (int i = 0; i < hp->n_vocab; i++) {
        assert_false(isnan(la[i]));
        if (exact && memcmp(&la[i], &lb[i], sizeof(float)) != 0)
            fail_msg("%s/%s logit %d: batch %.9g vs single %.9g (not bit-identical)",
                     engine_ttype_name(type), bpe ? "bpe" : "spm", i, la[i], lb[i]);
        if (fabsf(la[i] - lb[i]) > 1e-2f * (1 + fabsf(la[i])))
            fail_msg("%s/%s logit %d: batch %f vs single %f", engine_ttype_name(type),
                     bpe ? "bpe" : "spm", i, la[i], lb[i]);
    }
    /* The same file loaded from disk: Q8_0, Q4_0, Q4_K and Q6_K matrices are packed in
     * groups of eight rows (only a mapped file is), and batch and token by
     * token still agree bit for bit. */
    if (type == ENGINE_T_Q8_0 || type == ENGINE_T_Q4_0 || type == ENGINE_T_Q4_K ||
        type == ENGINE_T_Q6_K) {
        char path[256];
        cc_tmp_template(path, sizeof(path), "synth_packed");
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, file.data, file.len), (ssize_t)file.len);
        close(fd);
        engine_model *mp = engine_model_load(path, &err);
        unlink(path);
        if (!mp) fail_msg("load %s: %s", path, err.msg);
        assert_int_equal(mp->layers[0].wq.packed_rows, engine_kernels_have_avx2() ? 256 : 0);
        assert_int_equal(mp->layers[1].w_down.packed_rows, engine_kernels_have_avx2() ? 256 : 0);
        engine_ctx *pa = engine_ctx_new(mp, pool, 64, &err),
                   *pb = engine_ctx_new(mp, pool, 64, &err);
        const float *lpa = engine_ctx_eval(pa, t.ids, t.n, &err), *lpb = NULL;
        assert_non_null(lpa);
        for (size_t i = 0; i < t.n; i++)
            lpb = engine_ctx_eval(pb, &t.ids[i], 1, &err);
        assert_non_null(lpb);
        /* Each packed matrix gives the unpacked one's products to float
         * rounding; the logits stay close overall (a different summation
         * order moves a few activations across an 8-bit rounding boundary,
         * and random weights amplify that: about 1% RMS here, not bit for
         * bit). */
        static float X[5 * 512], Ya[5 * 1000], Yb[5 * 1000], scr[ENG_SCRATCH_FLOATS(5, 512)];
        fill_random(X, 5 * 512, 9);
        for (int l = 0; l < 2; l++) {
            const eng_layer *A = &m->layers[l], *B = &mp->layers[l];
            const eng_tensor *ta[] = {&A->wq,     &A->wk,   &A->wv,     &A->wo,
                                      &A->w_gate, &A->w_up, &A->w_down, &m->output},
                             *tb[] = {&B->wq,     &B->wk,   &B->wv,     &B->wo,
                                      &B->w_gate, &B->w_up, &B->w_down, &mp->output};
            for (int q = 0; q < 8; q++) {
                int rows = ta[q]->rows, cols = ta[q]->cols;
                if (rows > 1000 || cols > 512) fail_msg("matrix %d: %d x %d", q, rows, cols);
                eng_matmul(ta[q], X, 5, cols, Ya, rows, 0, rows, scr);
                eng_matmul(tb[q], X, 5, cols, Yb, rows, 0, rows, scr);
                for (int i = 0; i < 5 * rows; i++)
                    if (fabsf(Ya[i] - Yb[i]) > 1e-5f * (1 + fabsf(Ya[i])))
                        fail_msg("%s layer %d matrix %d value %d: packed %.9g vs %.9g",
                                 engine_ttype_name(type), l, q, i, Yb[i], Ya[i]);
            }
        }
        double dd = 0, ll = 0;
        for (int i = 0; i < hp->n_vocab; i++) {
            if (memcmp(&lpa[i], &lpb[i], sizeof(float)) != 0)
                fail_msg("packed %s logit %d: batch %.9g vs single %.9g", engine_ttype_name(type),
                         i, lpa[i], lpb[i]);
            dd += ((double)lpa[i] - la[i]) * ((double)lpa[i] - la[i]);
            ll += (double)la[i] * la[i];
        }
        if (dd > 0.03 * 0.03 * ll)
            fail_msg("packed %s: logits %.4f RMS apart (of %.4f)", engine_ttype_name(type),
                     sqrt(dd / hp->n_vocab), sqrt(ll / hp->n_vocab));
        engine_ctx_free(pa);
        engine_ctx_free(pb);
        engine_model_free(mp);
    }
    /* It generates (random weights: any tokens, but the right number). */
    engine_seq_params p;
    memset(&p, 0, sizeof(p));
    engine_sample_params_default(&p.sp);
    p.sp.temperature = 0;
    p.max_tokens = 10;
    engine_ctx_truncate(a, 0);
    engine_seq *s = engine_seq_new(a, &t, &p, &err);
    cc_buf out = CC_BUF_INIT;
    engine_step st;
    do
        assert_int_equal(engine_seq_step(s, &out, &st, &err), 0);
    while (!st.finished);
    assert_true(engine_seq_generated(s) >= 1 && engine_seq_generated(s) <= 10);
    cc_buf_free(&out);
    engine_seq_free(s);
    engine_tokens_free(&t);
    engine_ctx_free(a);
    engine_ctx_free(b);
    engine_pool_free(pool);
    engine_model_free(m);
    cc_buf_free(&file);
}

static void test_synthetic_models(void **state)
{
    (void)state;
    synth_generate(ENGINE_ARCH_LLAMA, ENGINE_T_Q8_0, false);
    synth_generate(ENGINE_ARCH_LLAMA, ENGINE_T_Q4_K, false);
    synth_generate(ENGINE_ARCH_QWEN2, ENGINE_T_Q4_0, true);
    synth_generate(ENGINE_ARCH_QWEN2, ENGINE_T_F16, true);
    synth_generate(ENGINE_ARCH_QWEN3, ENGINE_T_Q6_K, true);
    synth_generate(ENGINE_ARCH_QWEN3, ENGINE_T_BF16, false);
}

int main(void)
{
    // clang-format off
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_floats),
        cmocka_unit_test(test_q8_0_block),
        cmocka_unit_test(test_q4_0_block),
        cmocka_unit_test(test_q4_k_block),
        cmocka_unit_test(test_q6_k_block),
        cmocka_unit_test(test_q4_1_q5_blocks),
        cmocka_unit_test(test_quant_dot),
        cmocka_unit_test(test_long_rows),
        cmocka_unit_test(test_packed_rows),
        cmocka_unit_test(test_packed_kinds),
        cmocka_unit_test(test_f16_rows),
        cmocka_unit_test(test_f16_store),
        cmocka_unit_test(test_attention_and_silu),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_bandwidth_threads),
        cmocka_unit_test(test_synthetic_models),
    };
    // clang-format on
    return cmocka_run_group_tests(tests, NULL, NULL);
}
