/*
 * The forward pass of each architecture against a second, deliberately
 * naive implementation written here in double precision straight from the
 * definitions (llama: RMSNorm, RoPE on pairs (2i, 2i+1), GQA, SwiGLU;
 * qwen2: + Q/K/V biases, RoPE on pairs (i, i + d/2); qwen3: + per-head
 * RMSNorm of Q and K before RoPE), on small synthetic F32 models.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"

enum { DIM = 64, HID = 96, NH = 4, NKV = 2, HD = DIM / NH, NL = 2, NV = 300, NT = 6 };

static const engine_gguf *G;

static const float *W(const char *fmt, int l)
{
    char name[96];
    snprintf(name, sizeof(name), fmt, l);
    const engine_gguf_tensor *t = engine_gguf_tensor_find(G, name);
    return t ? (const float *)t->data : NULL;
}

static void matvec(const float *w, const double *x, int rows, int cols, double *y)
{
    for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int c = 0; c < cols; c++)
            s += (double)w[(size_t)r * cols + c] * x[c];
        y[r] = s;
    }
}

static void rmsnorm(double *out, const double *x, const float *w, int n, double eps)
{
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    double k = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        out[i] = x[i] * k * w[i];
}

static double pos_scale = 1.0; /* linear RoPE scaling of the model under test */
static double yarn_factor = 0; /* > 0: YaRN scaling of the model under test */
static int yarn_orig_ctx;

/* YaRN as llama.cpp applies it (ggml_rope_yarn_corr_dims, rope_yarn and the
 * magnitude set in llama-context.cpp), in double precision: the pairs whose
 * wavelength fits more than beta_fast (32) times in the original context keep
 * their frequency, those that fit less than beta_slow (1) times are divided by
 * the factor, a linear ramp between; cos and sin are multiplied by
 * 1 + 0.1 ln(factor). */
static double yarn_freq(double freq, int i, double base, double *mscale)
{
    double lo = floor(HD * log(yarn_orig_ctx / (32.0 * 2 * M_PI)) / (2 * log(base)));
    double hi = ceil(HD * log(yarn_orig_ctx / (1.0 * 2 * M_PI)) / (2 * log(base)));
    lo = fmax(0, lo);
    hi = fmin(HD - 1, hi);
    double keep = 1 - fmin(1, fmax(0, (i - lo) / fmax(0.001, hi - lo)));
    *mscale = 1 + 0.1 * log(yarn_factor);
    return freq / yarn_factor * (1 - keep) + freq * keep;
}

static void rope(double *v, int pos, double base, bool neox)
{
    const float *ff = W("rope_freqs.weight", 0);
    for (int i = 0; i < HD / 2; i++) {
        double freq = pow(base, -2.0 * i / HD) / (ff ? ff[i] : 1.0), ms = 1.0;
        freq = yarn_factor > 0 ? yarn_freq(freq, i, base, &ms) : freq * pos_scale;
        double th = pos * freq;
        int a = neox ? i : 2 * i, b = neox ? i + HD / 2 : 2 * i + 1;
        double x0 = v[a], x1 = v[b];
        v[a] = ms * (x0 * cos(th) - x1 * sin(th));
        v[b] = ms * (x0 * sin(th) + x1 * cos(th));
    }
}

/* Logits after the last of `toks`, computed naively. */
static void naive_logits(engine_arch arch, const int32_t *toks, int n, double *logits)
{
    static double x[NT][DIM], K[NL][NT][NKV * HD], V[NL][NT][NKV * HD];
    double eps = 1e-6, base = arch == ENGINE_ARCH_LLAMA ? 10000.0 : 1e6;
    bool neox = arch != ENGINE_ARCH_LLAMA;
    for (int t = 0; t < n; t++) {
        const float *e = W("token_embd.weight", 0) + (size_t)toks[t] * DIM;
        for (int i = 0; i < DIM; i++)
            x[t][i] = e[i];
        for (int l = 0; l < NL; l++) {
            double xb[DIM], q[NH * HD], k[NKV * HD], v[NKV * HD], att[NH * HD], tmp[DIM];
            rmsnorm(xb, x[t], W("blk.%d.attn_norm.weight", l), DIM, eps);
            matvec(W("blk.%d.attn_q.weight", l), xb, NH * HD, DIM, q);
            matvec(W("blk.%d.attn_k.weight", l), xb, NKV * HD, DIM, k);
            matvec(W("blk.%d.attn_v.weight", l), xb, NKV * HD, DIM, v);
            if (arch == ENGINE_ARCH_QWEN2) {
                for (int i = 0; i < NH * HD; i++)
                    q[i] += W("blk.%d.attn_q.bias", l)[i];
                for (int i = 0; i < NKV * HD; i++) {
                    k[i] += W("blk.%d.attn_k.bias", l)[i];
                    v[i] += W("blk.%d.attn_v.bias", l)[i];
                }
            }
            for (int h = 0; h < NH; h++) {
                if (arch == ENGINE_ARCH_QWEN3)
                    rmsnorm(q + h * HD, q + h * HD, W("blk.%d.attn_q_norm.weight", l), HD, eps);
                rope(q + h * HD, t, base, neox);
            }
            for (int h = 0; h < NKV; h++) {
                if (arch == ENGINE_ARCH_QWEN3)
                    rmsnorm(k + h * HD, k + h * HD, W("blk.%d.attn_k_norm.weight", l), HD, eps);
                rope(k + h * HD, t, base, neox);
            }
            /* The engine's cache holds half floats (as llama.cpp's): so does this one. */
            for (int i = 0; i < NKV * HD; i++) {
                K[l][t][i] = engine_f16_to_f32(engine_f32_to_f16((float)k[i]));
                V[l][t][i] = engine_f16_to_f32(engine_f32_to_f16((float)v[i]));
            }
            for (int h = 0; h < NH; h++) {
                int kh = h / (NH / NKV);
                double s[NT], mx = -1e300, sum = 0;
                for (int p = 0; p <= t; p++) {
                    s[p] = 0;
                    for (int i = 0; i < HD; i++)
                        s[p] += q[h * HD + i] * K[l][p][kh * HD + i];
                    s[p] /= sqrt((double)HD);
                    mx = fmax(mx, s[p]);
                }
                for (int p = 0; p <= t; p++)
                    sum += s[p] = exp(s[p] - mx);
                for (int i = 0; i < HD; i++) {
                    double o = 0;
                    for (int p = 0; p <= t; p++)
                        o += s[p] / sum * V[l][p][kh * HD + i];
                    att[h * HD + i] = o;
                }
            }
            matvec(W("blk.%d.attn_output.weight", l), att, DIM, NH * HD, tmp);
            for (int i = 0; i < DIM; i++)
                x[t][i] += tmp[i];
            double g[HID], u[HID];
            rmsnorm(xb, x[t], W("blk.%d.ffn_norm.weight", l), DIM, eps);
            matvec(W("blk.%d.ffn_gate.weight", l), xb, HID, DIM, g);
            matvec(W("blk.%d.ffn_up.weight", l), xb, HID, DIM, u);
            for (int i = 0; i < HID; i++)
                g[i] = g[i] / (1 + exp(-g[i])) * u[i];
            matvec(W("blk.%d.ffn_down.weight", l), g, DIM, HID, tmp);
            for (int i = 0; i < DIM; i++)
                x[t][i] += tmp[i];
        }
    }
    double xb[DIM];
    rmsnorm(xb, x[n - 1], W("output_norm.weight", 0), DIM, eps);
    const float *out = W("output.weight", 0) ? W("output.weight", 0) : W("token_embd.weight", 0);
    matvec(out, xb, NV, DIM, logits);
}

static void check_arch(engine_arch arch, bool freqs, float linear, float yarn)
{
    engine_synth_config c;
    engine_synth_config_default(&c);
    c.arch = arch;
    c.wtype = ENGINE_T_F32;
    c.n_layer = NL;
    c.dim = DIM;
    c.hidden_dim = HID;
    c.n_head = NH;
    c.n_head_kv = NKV;
    c.n_vocab = NV;
    c.n_ctx = 64;
    c.seed = 7;
    c.rope_freqs = freqs;
    c.rope_linear_scale = linear;
    c.rope_yarn_factor = yarn;
    c.rope_yarn_orig_ctx = 4096;
    pos_scale = linear > 0 ? 1.0 / linear : 1.0;
    yarn_factor = yarn;
    yarn_orig_ctx = 4096;
    cc_buf file = CC_BUF_INIT;
    cc_err err = {0};
    assert_int_equal(engine_synth_buf(&c, &file, &err), 0);
    engine_gguf *g = engine_gguf_parse(file.data, file.len, &err);
    assert_non_null(g);
    G = g;
    engine_model *m = engine_model_from_gguf(g, &err);
    if (!m) fail_msg("%s", err.msg);
    engine_ctx *ctx = engine_ctx_new(m, NULL, 32, &err);
    static const int32_t toks[NT] = {1, 270, 5, 299, 42, 100};
    const float *lg = NULL;
    for (int n = 1; n <= NT; n++) {
        lg = engine_ctx_eval(ctx, &toks[n - 1], 1, &err);
        assert_non_null(lg);
        double ref[NV];
        naive_logits(arch, toks, n, ref);
        for (int i = 0; i < NV; i++)
            if (fabs(lg[i] - ref[i]) > 1e-3 * (1 + fabs(ref[i])))
                fail_msg("arch %d, %d tokens, logit %d: engine %f, naive %f", arch, n, i, lg[i],
                         ref[i]);
    }
    engine_ctx_free(ctx);
    engine_model_free(m);
    cc_buf_free(&file);
}

static void test_llama(void **state)
{
    (void)state;
    check_arch(ENGINE_ARCH_LLAMA, false, 0, 0);
}

/* Llama 3.1-style frequency factors and linear position scaling. */
static void test_llama_rope_variants(void **state)
{
    (void)state;
    check_arch(ENGINE_ARCH_LLAMA, true, 0, 0);
    check_arch(ENGINE_ARCH_LLAMA, false, 4.0f, 0);
    check_arch(ENGINE_ARCH_QWEN2, true, 2.0f, 0);
}

/* YaRN (with an original context of 4096 the 8 pairs of a 16-wide head split
 * into kept, ramped and scaled ones for both bases), with and without
 * frequency factors. */
static void test_rope_yarn(void **state)
{
    (void)state;
    check_arch(ENGINE_ARCH_LLAMA, false, 0, 4.0f);
    check_arch(ENGINE_ARCH_QWEN2, false, 0, 8.0f);
    check_arch(ENGINE_ARCH_QWEN3, true, 0, 4.0f);
}

static void test_qwen2(void **state)
{
    (void)state;
    check_arch(ENGINE_ARCH_QWEN2, false, 0, 0);
}

static void test_qwen3(void **state)
{
    (void)state;
    check_arch(ENGINE_ARCH_QWEN3, false, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama),     cmocka_unit_test(test_llama_rope_variants),
        cmocka_unit_test(test_rope_yarn), cmocka_unit_test(test_qwen2),
        cmocka_unit_test(test_qwen3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
