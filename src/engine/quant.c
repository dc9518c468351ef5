/*
 * Tensor types: block geometry, half-float conversions, dequantization and
 * reference quantizers for F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K (the
 * byte layouts are ggml's, so files made by llama.cpp load unchanged).
 */
#include <math.h>
#include <string.h>

#include "engine/engine_int.h"

static const struct {
    const char *name;
    uint8_t block_elems;
    uint16_t block_bytes;
} ttypes[ENGINE_T_COUNT] = {
    [ENGINE_T_F32] = {"F32", 1, 4},     [ENGINE_T_F16] = {"F16", 1, 2},
    [ENGINE_T_Q4_0] = {"Q4_0", 32, 18}, [ENGINE_T_Q4_1] = {"Q4_1", 32, 20},
    [ENGINE_T_Q5_0] = {"Q5_0", 32, 22}, [ENGINE_T_Q5_1] = {"Q5_1", 32, 24},
    [ENGINE_T_Q8_0] = {"Q8_0", 32, 34}, [ENGINE_T_Q8_1] = {"Q8_1", 32, 36},
    [ENGINE_T_Q2_K] = {"Q2_K", 0, 84},  [ENGINE_T_Q3_K] = {"Q3_K", 0, 110},
    [ENGINE_T_Q4_K] = {"Q4_K", 0, 144}, [ENGINE_T_Q5_K] = {"Q5_K", 0, 176},
    [ENGINE_T_Q6_K] = {"Q6_K", 0, 210}, [ENGINE_T_Q8_K] = {"Q8_K", 0, 292},
    [ENGINE_T_I8] = {"I8", 1, 1},       [ENGINE_T_I16] = {"I16", 1, 2},
    [ENGINE_T_I32] = {"I32", 1, 4},     [ENGINE_T_I64] = {"I64", 1, 8},
    [ENGINE_T_F64] = {"F64", 1, 8},     [ENGINE_T_BF16] = {"BF16", 1, 2},
};

bool engine_ttype_info(uint32_t type, size_t *block_elems, size_t *block_bytes)
{
    if (type >= ENGINE_T_COUNT || !ttypes[type].name) return false;
    /* uint8_t cannot hold 256: a 0 marks the K-quants' super-blocks. */
    *block_elems = ttypes[type].block_elems ? ttypes[type].block_elems : QK_K;
    *block_bytes = ttypes[type].block_bytes;
    return true;
}

const char *engine_ttype_name(uint32_t type)
{
    return type < ENGINE_T_COUNT && ttypes[type].name ? ttypes[type].name : "?";
}

bool engine_ttype_supported(uint32_t type)
{
    switch (type) {
    case ENGINE_T_F32:
    case ENGINE_T_F16:
    case ENGINE_T_BF16:
    case ENGINE_T_Q8_0:
    case ENGINE_T_Q4_0:
    case ENGINE_T_Q4_K:
    case ENGINE_T_Q6_K:
    /* dequantized to F32 for their products (no integer kernels): found in
     * common files next to Q4_K/Q6_K (e.g. Q4_K_M of models whose widths
     * are not multiples of 256, Q5_K_M) */
    case ENGINE_T_Q4_1:
    case ENGINE_T_Q5_0:
    case ENGINE_T_Q5_1:
    case ENGINE_T_Q5_K:
        return true;
    default:
        return false;
    }
}

/* ------------------------------------------------------- half floats */

float engine_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | man << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t engine_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* inf or nan */
        return sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0);
    if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow */
        return sign | 0x7c00;
    if (absx < 0x38800000u) { /* below the smallest normal half: subnormal */
        float a;
        memcpy(&a, &absx, 4);
        /* units of 2^-24, rounded to nearest even by the FPU */
        return sign | (uint16_t)lrintf(a * 16777216.0f);
    }
    /* normal: round mantissa to nearest even */
    uint32_t r = absx - 0x38000000u; /* rebias exponent 127 -> 15 */
    uint32_t half = r >> 13, rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return sign | (uint16_t)half;
}

float engine_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t engine_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* ------------------------------------------------------- dequantization */

static void q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static void deq_q8_0(const blk_q8_0 *b, float *y)
{
    float d = engine_f16_to_f32(b->d);
    for (int j = 0; j < QK8_0; j++)
        y[j] = d * b->qs[j];
}

static void deq_q4_0(const blk_q4_0 *b, float *y)
{
    float d = engine_f16_to_f32(b->d);
    for (int j = 0; j < QK4_0 / 2; j++) {
        y[j] = d * ((b->qs[j] & 0xF) - 8);
        y[j + QK4_0 / 2] = d * ((b->qs[j] >> 4) - 8);
    }
}

static void deq_q4_k(const blk_q4_k *b, float *y)
{
    float d = engine_f16_to_f32(b->d), dmin = engine_f16_to_f32(b->dmin);
    const uint8_t *q = b->qs;
    for (int j = 0, is = 0; j < QK_K; j += 64, is += 2) {
        uint8_t sc, m;
        q4k_scale_min(is, b->scales, &sc, &m);
        float d1 = d * sc, m1 = dmin * m;
        q4k_scale_min(is + 1, b->scales, &sc, &m);
        float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++)
            *y++ = d1 * (q[l] & 0xF) - m1;
        for (int l = 0; l < 32; l++)
            *y++ = d2 * (q[l] >> 4) - m2;
        q += 32;
    }
}

/* Q4_1: d, m (f16), 16 bytes of nibbles: x = d q + m. */
static void deq_q4_1(const uint8_t *b, float *y)
{
    float d = engine_f16_to_f32((uint16_t)(b[0] | b[1] << 8));
    float m = engine_f16_to_f32((uint16_t)(b[2] | b[3] << 8));
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (qs[j] & 0xF) + m;
        y[j + 16] = d * (qs[j] >> 4) + m;
    }
}

/* Q5_0 / Q5_1: d (, m), 32 high bits, 16 bytes of nibbles; the fifth bit
 * of element j is bit j of the high bits. Q5_0: x = d (q - 16); Q5_1:
 * x = d q + m. */
static void deq_q5(const uint8_t *b, float *y, bool with_min)
{
    float d = engine_f16_to_f32((uint16_t)(b[0] | b[1] << 8));
    float m = with_min ? engine_f16_to_f32((uint16_t)(b[2] | b[3] << 8)) : 0.0f;
    const uint8_t *p = b + (with_min ? 4 : 2);
    uint32_t qh = cc_load_u32le(p);
    const uint8_t *qs = p + 4;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0xF) | (int)((qh >> j) & 1) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = with_min ? d * lo + m : d * (lo - 16);
        y[j + 16] = with_min ? d * hi + m : d * (hi - 16);
    }
}

/* Q5_K: like Q4_K (d, dmin, 12 bytes of 6-bit scales/mins, 128 bytes of
 * nibbles) plus 32 bytes holding each element's fifth bit: for the c-th
 * 64-element chunk, bit 2c of qh[l] for element l and bit 2c+1 for l+32. */
static void deq_q5_k(const uint8_t *b, float *y)
{
    float d = engine_f16_to_f32((uint16_t)(b[0] | b[1] << 8));
    float dmin = engine_f16_to_f32((uint16_t)(b[2] | b[3] << 8));
    const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
    for (int c = 0; c < 4; c++, ql += 32) {
        uint8_t sc, m;
        q4k_scale_min(2 * c, scales, &sc, &m);
        float d1 = d * sc, m1 = dmin * m;
        q4k_scale_min(2 * c + 1, scales, &sc, &m);
        float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++)
            *y++ = d1 * ((ql[l] & 0xF) + ((qh[l] >> (2 * c)) & 1 ? 16 : 0)) - m1;
        for (int l = 0; l < 32; l++)
            *y++ = d2 * ((ql[l] >> 4) + ((qh[l] >> (2 * c + 1)) & 1 ? 16 : 0)) - m2;
    }
}

static void deq_q6_k(const blk_q6_k *b, float *y)
{
    float d = engine_f16_to_f32(b->d);
    const uint8_t *ql = b->ql, *qh = b->qh;
    const int8_t *sc = b->scales;
    for (int n = 0; n < QK_K; n += 128) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is] * q1;
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

int engine_dequant_row(uint32_t type, const void *row, float *out, size_t n)
{
    const uint8_t *p = row;
    switch (type) {
    case ENGINE_T_F32:
        memcpy(out, row, n * 4);
        return 0;
    case ENGINE_T_F16:
        for (size_t i = 0; i < n; i++)
            out[i] = engine_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return 0;
    case ENGINE_T_BF16:
        for (size_t i = 0; i < n; i++)
            out[i] = engine_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return 0;
    case ENGINE_T_Q8_0:
        for (size_t i = 0; i < n / QK8_0; i++)
            deq_q8_0((const blk_q8_0 *)p + i, out + i * QK8_0);
        return 0;
    case ENGINE_T_Q4_0:
        for (size_t i = 0; i < n / QK4_0; i++)
            deq_q4_0((const blk_q4_0 *)p + i, out + i * QK4_0);
        return 0;
    case ENGINE_T_Q4_K:
        for (size_t i = 0; i < n / QK_K; i++)
            deq_q4_k((const blk_q4_k *)p + i, out + i * QK_K);
        return 0;
    case ENGINE_T_Q6_K:
        for (size_t i = 0; i < n / QK_K; i++)
            deq_q6_k((const blk_q6_k *)p + i, out + i * QK_K);
        return 0;
    case ENGINE_T_Q4_1:
        for (size_t i = 0; i < n / 32; i++)
            deq_q4_1(p + i * 20, out + i * 32);
        return 0;
    case ENGINE_T_Q5_0:
        for (size_t i = 0; i < n / 32; i++)
            deq_q5(p + i * 22, out + i * 32, false);
        return 0;
    case ENGINE_T_Q5_1:
        for (size_t i = 0; i < n / 32; i++)
            deq_q5(p + i * 24, out + i * 32, true);
        return 0;
    case ENGINE_T_Q5_K:
        for (size_t i = 0; i < n / QK_K; i++)
            deq_q5_k(p + i * 176, out + i * QK_K);
        return 0;
    default:
        return -1;
    }
}

/* ------------------------------------------------------- quantizers */

static int nearest(float x)
{
    return (int)lrintf(x);
}

static void quant_q8_0(const float *x, blk_q8_0 *b)
{
    float amax = 0;
    for (int j = 0; j < QK8_0; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.f, id = d ? 1.f / d : 0.f;
    b->d = engine_f32_to_f16(d);
    for (int j = 0; j < QK8_0; j++)
        b->qs[j] = (int8_t)nearest(x[j] * id);
}

static void quant_q4_0(const float *x, blk_q4_0 *b)
{
    float amax = 0, max = 0; /* the value of largest magnitude, with its sign */
    for (int j = 0; j < QK4_0; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    float d = max / -8.f, id = d ? 1.f / d : 0.f;
    b->d = engine_f32_to_f16(d);
    for (int j = 0; j < QK4_0 / 2; j++) {
        int q0 = CC_MIN(15, (int)(x[j] * id + 8.5f));
        int q1 = CC_MIN(15, (int)(x[j + QK4_0 / 2] * id + 8.5f));
        b->qs[j] = (uint8_t)(CC_MAX(q0, 0) | CC_MAX(q1, 0) << 4);
    }
}

/* A simple min/max quantizer: good enough for synthetic weights and tests;
 * the layout is exactly ggml's. */
static void quant_q4_k(const float *x, blk_q4_k *b)
{
    float scale[8], minv[8], max_scale = 0, max_min = 0;
    for (int s = 0; s < 8; s++) {
        float mn = 0, mx = 0;
        for (int l = 0; l < 32; l++) {
            mn = fminf(mn, x[s * 32 + l]);
            mx = fmaxf(mx, x[s * 32 + l]);
        }
        scale[s] = (mx - mn) / 15.f;
        minv[s] = -mn;
        max_scale = fmaxf(max_scale, scale[s]);
        max_min = fmaxf(max_min, minv[s]);
    }
    float d = max_scale / 63.f, dmin = max_min / 63.f;
    b->d = engine_f32_to_f16(d);
    b->dmin = engine_f32_to_f16(dmin);
    d = engine_f16_to_f32(b->d);
    dmin = engine_f16_to_f32(b->dmin);
    uint8_t ls[8], lm[8];
    for (int s = 0; s < 8; s++) {
        ls[s] = (uint8_t)CC_MIN(63, d ? nearest(scale[s] / d) : 0);
        lm[s] = (uint8_t)CC_MIN(63, dmin ? nearest(minv[s] / dmin) : 0);
    }
    memset(b->scales, 0, sizeof(b->scales));
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            b->scales[j] = ls[j];
            b->scales[j + 4] = lm[j];
        } else {
            b->scales[j + 4] = (uint8_t)((ls[j] & 0xF) | (lm[j] & 0xF) << 4);
            b->scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            b->scales[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
    uint8_t q[QK_K];
    for (int s = 0; s < 8; s++) {
        float sd = d * ls[s], sm = dmin * lm[s];
        for (int l = 0; l < 32; l++) {
            int v = sd ? nearest((x[s * 32 + l] + sm) / sd) : 0;
            q[s * 32 + l] = (uint8_t)CC_MAX(0, CC_MIN(15, v));
        }
    }
    for (int j = 0; j < QK_K; j += 64)
        for (int l = 0; l < 32; l++)
            b->qs[j / 2 + l] = (uint8_t)(q[j + l] | q[j + 32 + l] << 4);
}

static void quant_q6_k(const float *x, blk_q6_k *b)
{
    float sub[16], max_abs_scale = 0;
    for (int s = 0; s < 16; s++) {
        float amax = 0;
        for (int l = 0; l < 16; l++)
            amax = fmaxf(amax, fabsf(x[s * 16 + l]));
        sub[s] = amax / 31.f;
        max_abs_scale = fmaxf(max_abs_scale, sub[s]);
    }
    float d = max_abs_scale / 127.f;
    b->d = engine_f32_to_f16(d);
    d = engine_f16_to_f32(b->d);
    uint8_t q[QK_K];
    for (int s = 0; s < 16; s++) {
        int sc = d ? CC_MIN(127, nearest(sub[s] / d)) : 0;
        b->scales[s] = (int8_t)sc;
        float sd = d * sc;
        for (int l = 0; l < 16; l++) {
            int v = sd ? nearest(x[s * 16 + l] / sd) : 0;
            q[s * 16 + l] = (uint8_t)(CC_MAX(-32, CC_MIN(31, v)) + 32);
        }
    }
    memset(b->qh, 0, sizeof(b->qh));
    for (int n = 0; n < QK_K; n += 128) {
        uint8_t *ql = b->ql + n / 2, *qh = b->qh + n / 4;
        for (int l = 0; l < 32; l++) {
            uint8_t q1 = q[n + l], q2 = q[n + l + 32], q3 = q[n + l + 64], q4 = q[n + l + 96];
            ql[l] = (uint8_t)((q1 & 0xF) | (q3 & 0xF) << 4);
            ql[l + 32] = (uint8_t)((q2 & 0xF) | (q4 & 0xF) << 4);
            qh[l] = (uint8_t)((q1 >> 4) | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
        }
    }
}

size_t engine_quant_row(uint32_t type, const float *in, void *out, size_t n)
{
    uint8_t *p = out;
    switch (type) {
    case ENGINE_T_F32:
        memcpy(out, in, n * 4);
        return n * 4;
    case ENGINE_T_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = engine_f32_to_f16(in[i]);
            p[2 * i] = (uint8_t)h;
            p[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return n * 2;
    case ENGINE_T_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = engine_f32_to_bf16(in[i]);
            p[2 * i] = (uint8_t)h;
            p[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return n * 2;
    case ENGINE_T_Q8_0:
        for (size_t i = 0; i < n / QK8_0; i++)
            quant_q8_0(in + i * QK8_0, (blk_q8_0 *)p + i);
        return n / QK8_0 * sizeof(blk_q8_0);
    case ENGINE_T_Q4_0:
        for (size_t i = 0; i < n / QK4_0; i++)
            quant_q4_0(in + i * QK4_0, (blk_q4_0 *)p + i);
        return n / QK4_0 * sizeof(blk_q4_0);
    case ENGINE_T_Q4_K:
        for (size_t i = 0; i < n / QK_K; i++)
            quant_q4_k(in + i * QK_K, (blk_q4_k *)p + i);
        return n / QK_K * sizeof(blk_q4_k);
    case ENGINE_T_Q6_K:
        for (size_t i = 0; i < n / QK_K; i++)
            quant_q6_k(in + i * QK_K, (blk_q6_k *)p + i);
        return n / QK_K * sizeof(blk_q6_k);
    default:
        return 0;
    }
}
