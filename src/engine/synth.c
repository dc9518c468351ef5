/*
 * Synthetic models: a GGUF with random weights of any llama/qwen2/qwen3
 * shape and weight type, and a made-up vocabulary (SentencePiece-style or
 * GPT-2 BPE with merges). For benchmarks of big shapes and for plumbing
 * tests of the architectures we have no small real model of.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

void engine_synth_config_default(engine_synth_config *c)
{
    memset(c, 0, sizeof(*c));
    c->arch = ENGINE_ARCH_LLAMA;
    c->n_layer = 12;
    c->dim = 768;
    c->hidden_dim = 2048;
    c->n_head = 12;
    c->n_head_kv = 12;
    c->n_vocab = 32000;
    c->n_ctx = 2048;
    c->wtype = ENGINE_T_Q8_0;
    c->seed = 1;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Uniform in [-a, a]. */
static float rand_sym(uint64_t *s, float a)
{
    return a * ((float)(next_rand(s) >> 40) / (float)(1 << 24) * 2.0f - 1.0f);
}

static const char *arch_name(engine_arch a)
{
    return a == ENGINE_ARCH_QWEN2 ? "qwen2" : a == ENGINE_ARCH_QWEN3 ? "qwen3" : "llama";
}

static void add_matrix(engine_gguf_writer *w, const char *name, uint32_t type, int cols, int rows,
                       uint64_t *rng, float scale)
{
    size_t be, bb;
    engine_ttype_info(type, &be, &bb);
    size_t row_bytes = (size_t)cols / be * bb;
    uint8_t *data = cc_malloc(row_bytes * (size_t)rows);
    float *row = cc_malloc((size_t)cols * sizeof(float));
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < cols; i++)
            row[i] = rand_sym(rng, scale);
        engine_quant_row(type, row, data + (size_t)r * row_bytes, (size_t)cols);
    }
    uint64_t ne[2] = {(uint64_t)cols, (uint64_t)rows};
    engine_gguf_w_tensor(w, name, type, 2, ne, data, row_bytes * (size_t)rows);
    free(row);
    free(data);
}

static void add_vector(engine_gguf_writer *w, const char *name, int n, float base, float jitter,
                       uint64_t *rng)
{
    float *v = cc_malloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++)
        v[i] = base + rand_sym(rng, jitter);
    uint64_t ne[1] = {(uint64_t)n};
    engine_gguf_w_tensor(w, name, ENGINE_T_F32, 1, ne, v, (size_t)n * 4);
    free(v);
}

/* SentencePiece-style: <unk> <s> </s>, 256 byte tokens, then printable
 * characters, "▁" + letter pairs and numbered filler pieces. */
static void spm_vocab(engine_gguf_writer *w, int n)
{
    char **tok = cc_calloc((size_t)n, sizeof(char *));
    float *scores = cc_calloc((size_t)n, sizeof(float));
    int32_t *types = cc_calloc((size_t)n, sizeof(int32_t));
    int k = 0;
    tok[k] = cc_strdup("<unk>"), types[k++] = 2;
    tok[k] = cc_strdup("<s>"), types[k++] = 3;
    tok[k] = cc_strdup("</s>"), types[k++] = 3;
    for (int b = 0; b < 256 && k < n; b++) {
        char s[8];
        snprintf(s, sizeof(s), "<0x%02X>", b);
        tok[k] = cc_strdup(s), types[k++] = 6;
    }
    if (k < n) tok[k] = cc_strdup("\xE2\x96\x81"), types[k] = 1, scores[k] = -1, k++;
    for (int c = 33; c < 127 && k < n; c++) {
        char s[2] = {(char)c, 0};
        tok[k] = cc_strdup(s), types[k] = 1, scores[k] = -2, k++;
    }
    for (int a = 'a'; a <= 'z' && k < n; a++) {
        char s[8] = "\xE2\x96\x81";
        s[3] = (char)a;
        tok[k] = cc_strdup(s), types[k] = 1, scores[k] = -3, k++;
    }
    for (int i = 0; k < n; i++) {
        char s[32];
        snprintf(s, sizeof(s), "\xE2\x96\x81w%d", i);
        tok[k] = cc_strdup(s), types[k] = 1, scores[k] = -4.0f - (float)i, k++;
    }
    engine_gguf_w_str(w, "tokenizer.ggml.model", "llama");
    engine_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (size_t)n);
    engine_gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores, (size_t)n);
    engine_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, (size_t)n);
    engine_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
    engine_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2);
    for (int i = 0; i < n; i++)
        free(tok[i]);
    free(tok);
    free(scores);
    free(types);
}

/* GPT-2 byte-level BPE: the 256 byte characters, merges of "Ġ" + letter and
 * letter + letter, filler pieces, then ChatML control tokens at the end. */
static void bpe_vocab(engine_gguf_writer *w, int n)
{
    char **tok = cc_calloc((size_t)n, sizeof(char *));
    int32_t *types = cc_calloc((size_t)n, sizeof(int32_t));
    char **merges = cc_calloc((size_t)n, sizeof(char *));
    int k = 0, nm = 0;
    for (int b = 0; b < 256 && k < n - 3; b++) {
        uint32_t cp = (uint32_t)b;
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
            uint32_t j = 0;
            for (int x = 0; x < b; x++)
                if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174)) j++;
            cp = 256 + j;
        }
        char s[4] = {0};
        if (cp < 0x80) {
            s[0] = (char)cp;
        } else {
            s[0] = (char)(0xC0 | cp >> 6);
            s[1] = (char)(0x80 | (cp & 0x3F));
        }
        tok[k] = cc_strdup(s), types[k++] = 1;
    }
    /* "Ġ" is U+0120, GPT-2's stand-in for a space. */
    for (int a = 'a'; a <= 'z' && k < n - 3; a++) {
        char s[8] = "\xC4\xA0", m[16];
        s[2] = (char)a;
        snprintf(m, sizeof(m), "\xC4\xA0 %c", a);
        tok[k] = cc_strdup(s), types[k++] = 1;
        merges[nm++] = cc_strdup(m);
    }
    for (int a = 'a'; a <= 'z' && k < n - 3; a++)
        for (int b = 'a'; b <= 'z' && k < n - 3; b++) {
            char s[4] = {(char)a, (char)b, 0}, m[8] = {(char)a, ' ', (char)b, 0};
            tok[k] = cc_strdup(s), types[k++] = 1;
            merges[nm++] = cc_strdup(m);
        }
    for (int i = 0; k < n - 3; i++) {
        char s[32];
        snprintf(s, sizeof(s), "<filler%d>", i);
        tok[k] = cc_strdup(s), types[k++] = 5;
    }
    int eot = k;
    tok[k] = cc_strdup("<|endoftext|>"), types[k++] = 3;
    tok[k] = cc_strdup("<|im_start|>"), types[k++] = 3;
    tok[k] = cc_strdup("<|im_end|>"), types[k++] = 3;
    engine_gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
    engine_gguf_w_str(w, "tokenizer.ggml.pre", "qwen2");
    engine_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (size_t)k);
    engine_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, (size_t)k);
    engine_gguf_w_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, (size_t)nm);
    engine_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eot + 2);
    engine_gguf_w_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)eot);
    engine_gguf_w_bool(w, "tokenizer.ggml.add_bos_token", false);
    engine_gguf_w_str(w, "tokenizer.chat_template",
                      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                      "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}");
    for (int i = 0; i < k; i++)
        free(tok[i]);
    for (int i = 0; i < nm; i++)
        free(merges[i]);
    free(tok);
    free(types);
    free(merges);
}

static engine_gguf_writer *build(const engine_synth_config *c, cc_err *err)
{
    size_t be, bb;
    /* the types we can quantize to */
    static const uint32_t writable[] = {ENGINE_T_F32,  ENGINE_T_F16,  ENGINE_T_BF16, ENGINE_T_Q8_0,
                                        ENGINE_T_Q4_0, ENGINE_T_Q4_K, ENGINE_T_Q6_K};
    bool ok = false;
    for (size_t i = 0; i < CC_ARRAY_LEN(writable); i++)
        ok |= writable[i] == c->wtype;
    if (!ok || !engine_ttype_info(c->wtype, &be, &bb)) {
        cc_err_set(err, "synth cannot write weights of type %s", engine_ttype_name(c->wtype));
        return NULL;
    }
    if (c->n_layer < 1 || c->dim < 2 || c->n_head < 1 || c->n_head_kv < 1 || c->hidden_dim < 1 ||
        c->n_vocab < 300 || c->n_ctx < 1) {
        cc_err_set(err, "layers, dim, heads, hidden and context must be positive and the "
                        "vocabulary at least 300");
        return NULL;
    }
    if (c->dim % c->n_head || (c->dim / c->n_head) % 2) {
        cc_err_set(err, "dim %d must be a multiple of the %d heads with an even head size", c->dim,
                   c->n_head);
        return NULL;
    }
    if (c->n_head % c->n_head_kv) {
        cc_err_set(err, "heads (%d) must be a multiple of KV heads (%d)", c->n_head, c->n_head_kv);
        return NULL;
    }
    if (c->dim % (int)be || c->hidden_dim % (int)be) {
        cc_err_set(err, "dim and hidden_dim must be multiples of %zu for %s", be,
                   engine_ttype_name(c->wtype));
        return NULL;
    }
    engine_gguf_writer *w = engine_gguf_writer_new();
    const char *a = arch_name(c->arch);
    char k[128];
#define KEY(s) (snprintf(k, sizeof(k), "%s." s, a), k)
    engine_gguf_w_str(w, "general.architecture", a);
    engine_gguf_w_str(w, "general.name", "synthetic");
    engine_gguf_w_u32(w, KEY("block_count"), (uint32_t)c->n_layer);
    engine_gguf_w_u32(w, KEY("embedding_length"), (uint32_t)c->dim);
    engine_gguf_w_u32(w, KEY("feed_forward_length"), (uint32_t)c->hidden_dim);
    engine_gguf_w_u32(w, KEY("attention.head_count"), (uint32_t)c->n_head);
    engine_gguf_w_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_head_kv);
    engine_gguf_w_u32(w, KEY("context_length"), (uint32_t)c->n_ctx);
    engine_gguf_w_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-6f);
    engine_gguf_w_f32(w, KEY("rope.freq_base"), c->arch == ENGINE_ARCH_LLAMA ? 10000.f : 1e6f);
    if (c->rope_linear_scale > 0) {
        engine_gguf_w_str(w, KEY("rope.scaling.type"), "linear");
        engine_gguf_w_f32(w, KEY("rope.scaling.factor"), c->rope_linear_scale);
    } else if (c->rope_yarn_factor > 0) {
        engine_gguf_w_str(w, KEY("rope.scaling.type"), "yarn");
        engine_gguf_w_f32(w, KEY("rope.scaling.factor"), c->rope_yarn_factor);
        if (c->rope_yarn_orig_ctx > 0)
            engine_gguf_w_u32(w, KEY("rope.scaling.original_context_length"),
                              (uint32_t)c->rope_yarn_orig_ctx);
    }
#undef KEY
    if (c->bpe_vocab)
        bpe_vocab(w, c->n_vocab);
    else
        spm_vocab(w, c->n_vocab);
    uint64_t rng = c->seed * 0x9e3779b97f4a7c15ull + 1;
    int hd = c->dim / c->n_head, qd = c->n_head * hd, kvd = c->n_head_kv * hd;
    float s_in = 1.0f / sqrtf((float)c->dim), s_hid = 1.0f / sqrtf((float)c->hidden_dim);
    add_matrix(w, "token_embd.weight", c->wtype, c->dim, c->n_vocab, &rng, 1.0f);
    add_vector(w, "output_norm.weight", c->dim, 1.0f, 0.1f, &rng);
    if (c->rope_freqs) add_vector(w, "rope_freqs.weight", hd / 2, 2.0f, 1.0f, &rng);
    bool tied = c->arch != ENGINE_ARCH_LLAMA;
    if (!tied) add_matrix(w, "output.weight", c->wtype, c->dim, c->n_vocab, &rng, s_in * 4);
    for (int l = 0; l < c->n_layer; l++) {
        char n[96];
#define NAME(s) (snprintf(n, sizeof(n), "blk.%d." s, l), n)
        add_vector(w, NAME("attn_norm.weight"), c->dim, 1.0f, 0.1f, &rng);
        add_vector(w, NAME("ffn_norm.weight"), c->dim, 1.0f, 0.1f, &rng);
        add_matrix(w, NAME("attn_q.weight"), c->wtype, c->dim, qd, &rng, s_in * 2);
        add_matrix(w, NAME("attn_k.weight"), c->wtype, c->dim, kvd, &rng, s_in * 2);
        add_matrix(w, NAME("attn_v.weight"), c->wtype, c->dim, kvd, &rng, s_in * 2);
        add_matrix(w, NAME("attn_output.weight"), c->wtype, qd, c->dim, &rng, s_in);
        add_matrix(w, NAME("ffn_gate.weight"), c->wtype, c->dim, c->hidden_dim, &rng, s_in * 2);
        add_matrix(w, NAME("ffn_up.weight"), c->wtype, c->dim, c->hidden_dim, &rng, s_in * 2);
        add_matrix(w, NAME("ffn_down.weight"), c->wtype, c->hidden_dim, c->dim, &rng, s_hid);
        if (c->arch == ENGINE_ARCH_QWEN2) {
            add_vector(w, NAME("attn_q.bias"), qd, 0.0f, 0.1f, &rng);
            add_vector(w, NAME("attn_k.bias"), kvd, 0.0f, 0.1f, &rng);
            add_vector(w, NAME("attn_v.bias"), kvd, 0.0f, 0.1f, &rng);
        }
        if (c->arch == ENGINE_ARCH_QWEN3) {
            add_vector(w, NAME("attn_q_norm.weight"), hd, 1.0f, 0.1f, &rng);
            add_vector(w, NAME("attn_k_norm.weight"), hd, 1.0f, 0.1f, &rng);
        }
#undef NAME
    }
    return w;
}

int engine_synth_write(const engine_synth_config *c, const char *path, cc_err *err)
{
    engine_gguf_writer *w = build(c, err);
    if (!w) return -1;
    int rc = engine_gguf_w_write_file(w, path, err);
    engine_gguf_writer_free(w);
    return rc;
}

int engine_synth_buf(const engine_synth_config *c, cc_buf *out, cc_err *err)
{
    engine_gguf_writer *w = build(c, err);
    if (!w) return -1;
    engine_gguf_w_finish(w, out);
    engine_gguf_writer_free(w);
    return 0;
}
