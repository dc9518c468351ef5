/*
 * The Q8_0 KV cache: each head's key or value vector in blocks of 32 values
 * (the last block shorter when the head dimension is not a multiple of 32),
 * 8-bit integers with one half-float scale per block, as ggml's Q8_0 rounds
 * them. Attention quantizes the query the same way once per head and takes
 * the key products as integer sums (llama.cpp's Q8_0 cache multiplies its
 * keys against a Q8_0 query too); values are widened and weighted in floats.
 * Portable C here, the AVX2 version in kernels_avx2.c.
 */
#include <math.h>
#include <string.h>

#include "engine/engine_int.h"

void eng_kvq_quantize(const float *x, int n, int8_t *qs, float *d)
{
    for (int b = 0; b * 32 < n; b++) {
        int len = CC_MIN(32, n - b * 32);
        const float *xb = x + b * 32;
        float amax = 0;
        for (int i = 0; i < len; i++)
            amax = fmaxf(amax, fabsf(xb[i]));
        float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        d[b] = db;
        for (int i = 0; i < len; i++) {
            /* Clamped, NaN to 0: a broken model's infinities must not make the conversion
             * undefined (finite values are within +-127 already). */
            float v = roundf(xb[i] * id);
            qs[b * 32 + i] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : v == v ? (int)v : 0);
        }
    }
}

void eng_kvq_store(int8_t *qs, uint16_t *d, const float *x, int n)
{
    float df[ENG_KVQ_MAX_HD / 32];
    eng_kvq_quantize(x, n, qs, df);
    for (int b = 0; b < ENG_KVQ_BLOCKS(n); b++)
        d[b] = engine_f32_to_f16(df[b]);
}

void eng_kvq_load(float *x, const int8_t *qs, const uint16_t *d, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = engine_f16_to_f32(d[i / 32]) * (float)qs[i];
}

void eng_attend_q8_portable(const float *q, const int8_t *kq, const uint16_t *kd, const int8_t *vq,
                            const uint16_t *vd, int stride, int dstride, int hd, int len,
                            float scale, float *sc, float *out)
{
    int8_t qq[ENG_KVQ_MAX_HD];
    float qd[ENG_KVQ_MAX_HD / 32];
    eng_kvq_quantize(q, hd, qq, qd);
    int nb = ENG_KVQ_BLOCKS(hd);
    float mx = -INFINITY;
    for (int p = 0; p < len; p++) {
        const int8_t *kp = kq + (size_t)p * stride;
        const uint16_t *dp = kd + (size_t)p * dstride;
        float s = 0;
        for (int b = 0; b < nb; b++) {
            int32_t isum = 0;
            for (int i = b * 32; i < CC_MIN(hd, b * 32 + 32); i++)
                isum += (int32_t)qq[i] * kp[i];
            s += qd[b] * engine_f16_to_f32(dp[b]) * (float)isum;
        }
        s *= scale;
        sc[p] = s;
        mx = s > mx ? s : mx;
    }
    float inv = 1.0f / eng_softmax_exp(sc, len, mx);
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int p = 0; p < len; p++) {
        const int8_t *vp = vq + (size_t)p * stride;
        const uint16_t *dp = vd + (size_t)p * dstride;
        for (int i = 0; i < hd; i++)
            out[i] += sc[p] * engine_f16_to_f32(dp[i / 32]) * (float)vp[i];
    }
    for (int i = 0; i < hd; i++)
        out[i] *= inv;
}

void eng_attend_q8(const float *q, const int8_t *kq, const uint16_t *kd, const int8_t *vq,
                   const uint16_t *vd, int stride, int dstride, int hd, int len, float scale,
                   float *sc, float *out)
{
    if (eng_cpu_avx2() && hd % 8 == 0)
        eng_avx2_attend_q8(q, kq, kd, vq, vd, stride, dstride, hd, len, scale, sc, out);
    else
        eng_attend_q8_portable(q, kq, kd, vq, vd, stride, dstride, hd, len, scale, sc, out);
}

/* Positions in turn, each cached key and value read once for every query of the tile that
 * sees it; each query's sums as in eng_attend_q8_portable (blocks, then positions). */
void eng_attend_q8_tile_portable(const eng_att_tile *t, const int8_t *kq, const uint16_t *kd,
                                 const int8_t *vq, const uint16_t *vd, int stride, int dstride,
                                 int hd)
{
    int8_t qq[ENG_ATT_TILE][ENG_KVQ_MAX_HD];
    float qd[ENG_ATT_TILE][ENG_KVQ_MAX_HD / 32], mx[ENG_ATT_TILE], inv[ENG_ATT_TILE];
    int nb = ENG_KVQ_BLOCKS(hd), lmax = 0;
    for (int j = 0; j < t->n; j++) {
        eng_kvq_quantize(t->q[j], hd, qq[j], qd[j]);
        mx[j] = -INFINITY;
        lmax = CC_MAX(lmax, t->len[j]);
    }
    for (int p = 0; p < lmax; p++) {
        const int8_t *kp = kq + (size_t)p * stride;
        const uint16_t *dp = kd + (size_t)p * dstride;
        for (int j = 0; j < t->n; j++) {
            if (p >= t->len[j]) continue;
            float s = 0;
            for (int b = 0; b < nb; b++) {
                int32_t isum = 0;
                for (int i = b * 32; i < CC_MIN(hd, b * 32 + 32); i++)
                    isum += (int32_t)qq[j][i] * kp[i];
                s += qd[j][b] * engine_f16_to_f32(dp[b]) * (float)isum;
            }
            s *= t->scale;
            t->sc[j][p] = s;
            mx[j] = s > mx[j] ? s : mx[j];
        }
    }
    for (int j = 0; j < t->n; j++) {
        inv[j] = 1.0f / eng_softmax_exp(t->sc[j], t->len[j], mx[j]);
        memset(t->out[j], 0, (size_t)hd * sizeof(float));
    }
    for (int p = 0; p < lmax; p++) {
        const int8_t *vp = vq + (size_t)p * stride;
        const uint16_t *dp = vd + (size_t)p * dstride;
        for (int j = 0; j < t->n; j++) {
            if (p >= t->len[j]) continue;
            float *out = t->out[j];
            for (int i = 0; i < hd; i++)
                out[i] += t->sc[j][p] * engine_f16_to_f32(dp[i / 32]) * (float)vp[i];
        }
    }
    for (int j = 0; j < t->n; j++)
        for (int i = 0; i < hd; i++)
            t->out[j][i] *= inv[j];
}

void eng_attend_q8_tile(const eng_att_tile *t, const int8_t *kq, const uint16_t *kd,
                        const int8_t *vq, const uint16_t *vd, int stride, int dstride, int hd)
{
    if (eng_cpu_avx2() && hd % 8 == 0)
        eng_avx2_attend_q8_tile(t, kq, kd, vq, vd, stride, dstride, hd);
    else
        eng_attend_q8_tile_portable(t, kq, kd, vq, vd, stride, dstride, hd);
}
