/*
 * Model loading: hyperparameters from the GGUF metadata, weights by tensor
 * name (never by file order), every shape checked against the metadata so
 * the forward pass can trust them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

typedef struct loader {
    engine_model *m;
    const char *arch; /* metadata prefix */
    cc_err *err;
} loader;

static int get_int(loader *L, const char *suffix, bool required, int64_t dflt, int64_t min,
                   int64_t max, int *out)
{
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", L->arch, suffix);
    uint64_t v;
    cc_err e = {0};
    if (engine_gguf_get_u64(L->m->g, key, &v, &e) != 0) {
        if (e.msg[0]) return cc_err_set(L->err, "%s", e.msg);
        if (required) return cc_err_set(L->err, "metadata %s missing", key);
        v = (uint64_t)dflt;
    }
    if ((int64_t)v < min || (int64_t)v > max)
        return cc_err_set(L->err, "metadata %s = %llu out of range [%lld, %lld]", key,
                          (unsigned long long)v, (long long)min, (long long)max);
    *out = (int)v;
    return 0;
}

static int get_float(loader *L, const char *suffix, double dflt, double min, double max, float *out)
{
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", L->arch, suffix);
    double v = dflt;
    cc_err e = {0};
    if (engine_gguf_get_f64(L->m->g, key, &v, &e) != 0) {
        if (e.msg[0]) return cc_err_set(L->err, "%s", e.msg);
        v = dflt;
    }
    if (!(v >= min && v <= max)) return cc_err_set(L->err, "metadata %s = %g out of range", key, v);
    *out = (float)v;
    return 0;
}

static const engine_gguf_tensor *find_tensor(loader *L, const char *name, bool required)
{
    const engine_gguf_tensor *t = engine_gguf_tensor_find(L->m->g, name);
    if (!t && required) cc_err_set(L->err, "tensor %s missing", name);
    return t;
}

static int check_shape(loader *L, const engine_gguf_tensor *t, uint64_t ne0, uint64_t ne1)
{
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
        return cc_err_set(
            L->err, "tensor %.*s has shape [%llu, %llu, %llu, %llu], expected [%llu, %llu]",
            (int)t->name.len, t->name.ptr, (unsigned long long)t->ne[0],
            (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
            (unsigned long long)t->ne[3], (unsigned long long)ne0, (unsigned long long)ne1);
    return 0;
}

static int load_matrix(loader *L, const char *name, int cols, int rows, eng_tensor *out,
                       bool required, bool *found)
{
    const engine_gguf_tensor *t = find_tensor(L, name, required);
    if (found) *found = t != NULL;
    if (!t) return required ? -1 : 0;
    if (check_shape(L, t, (uint64_t)cols, (uint64_t)rows)) return -1;
    if (!engine_ttype_supported(t->type))
        return cc_err_set(L->err,
                          "tensor %s: type %s is not supported (F32, F16, BF16, Q8_0, "
                          "Q4_0, Q4_K, Q6_K are)",
                          name, engine_ttype_name(t->type));
    out->type = t->type;
    out->rows = rows;
    out->cols = cols;
    out->row_bytes = (size_t)(t->n_bytes / (uint64_t)rows);
    out->data = t->data;
    L->m->weight_bytes += t->n_bytes;
    return 0;
}

/* A 1-D weight vector as F32: borrowed from the file when it is F32 (and
 * aligned), converted into an owned copy otherwise. */
static int load_vector(loader *L, const char *name, int n, bool required, const float **out)
{
    const engine_gguf_tensor *t = find_tensor(L, name, required);
    if (!t) {
        *out = NULL;
        return required ? -1 : 0;
    }
    if (t->n_elems != (uint64_t)n || t->ne[0] != (uint64_t)n)
        return cc_err_set(L->err, "tensor %s has %llu elements, expected %d", name,
                          (unsigned long long)t->n_elems, n);
    if (t->type == ENGINE_T_F32 && ((uintptr_t)t->data & 3) == 0) {
        *out = (const float *)t->data;
    } else {
        float *v = cc_malloc((size_t)n * sizeof(float));
        if (engine_dequant_row(t->type, t->data, v, (size_t)n)) {
            free(v);
            return cc_err_set(L->err, "tensor %s: type %s not supported for vectors", name,
                              engine_ttype_name(t->type));
        }
        engine_model *m = L->m;
        m->owned = cc_realloc(m->owned, (m->n_owned + 1) * sizeof(void *));
        m->owned[m->n_owned++] = v;
        *out = v;
    }
    L->m->weight_bytes += t->n_bytes;
    return 0;
}

/* RoPE scaling as llama.cpp reads it (llama-model.cpp, llama-context.cpp):
 * the type defaults to linear, whose factor stretches positions; YaRN
 * (bloc97's "NTK-by-parts") interpolates only the slow pairs, keeps the fast
 * ones, ramps between the pairs whose wavelengths fit beta_fast and beta_slow
 * times in the original context, and scales cos and sin by its magnitude
 * factor, which multiplies attention scores by its square. */
static int load_rope_scaling(loader *L)
{
    engine_hparams *hp = &L->m->hp;
    hp->rope_pos_scale = 1.0f;
    hp->rope_yarn_ext = 0.0f;
    hp->rope_yarn_lo = hp->rope_yarn_hi = 0.0f;
    hp->rope_mscale = 1.0f;
    char key[128];
    snprintf(key, sizeof(key), "%s.rope.scaling.type", L->arch);
    char *type = engine_gguf_get_str(L->m->g, key);
    bool none = type && !strcmp(type, "none"), yarn = type && !strcmp(type, "yarn");
    if (type && !none && !yarn && strcmp(type, "linear")) {
        cc_err_set(L->err, "metadata %s = \"%.32s\" not supported (none, linear, yarn are)", key,
                   type);
        free(type);
        return -1;
    }
    free(type);
    float factor = 1.0f, attn_factor = 1.0f;
    if (get_float(L, "rope.scaling.factor", 0.0, 0.0, 1e6, &factor) ||
        get_float(L, "rope.scaling.attn_factor", 1.0, 0.0, 1e3, &attn_factor))
        return -1;
    if (factor == 0.0f) factor = 1.0f; /* absent: no scaling */
    if (factor < 1e-3f)
        return cc_err_set(L->err, "metadata rope.scaling.factor %g too small", factor);
    if (!none) hp->rope_pos_scale = 1.0f / factor;
    hp->rope_mscale = attn_factor;
    if (!yarn) return 0;
    /* llama.cpp reads YaRN's other settings (ext factor, betas, log multiplier) only for other
     * architectures; these get its defaults. */
    const float beta_fast = 32.0f, beta_slow = 1.0f;
    int orig_ctx;
    if (get_int(L, "rope.scaling.original_context_length", false, hp->n_ctx_train, 1, 1 << 24,
                &orig_ctx))
        return -1;
    hp->rope_yarn_ext = 1.0f;
    /* The pair whose wavelength fits beta times in the original context. */
    float rd = (float)hp->rope_dim, two_ln_base = 2.0f * logf(hp->rope_base);
    if (!(two_ln_base > 0.0f)) return cc_err_set(L->err, "YaRN needs rope.freq_base above 1");
    float lo = floorf(rd * logf((float)orig_ctx / (beta_fast * 2.0f * (float)M_PI)) / two_ln_base);
    float hi = ceilf(rd * logf((float)orig_ctx / (beta_slow * 2.0f * (float)M_PI)) / two_ln_base);
    hp->rope_yarn_lo = lo > 0.0f ? lo : 0.0f;
    hp->rope_yarn_hi = hi < rd - 1.0f ? hi : rd - 1.0f;
    /* Its magnitude 1 + 0.1 ln(factor) (Hugging Face's get_mscale; llama-context.cpp divides it
     * out of attn_factor and the rope operation multiplies it back in). */
    hp->rope_mscale = attn_factor * (factor <= 1.0f ? 1.0f : 1.0f + 0.1f * logf(factor));
    return 0;
}

static int load_hparams(loader *L)
{
    engine_model *m = L->m;
    engine_hparams *hp = &m->hp;
    char *arch = engine_gguf_get_str(m->g, "general.architecture");
    if (!arch) return cc_err_set(L->err, "metadata general.architecture missing");
    if (!strcmp(arch, "llama"))
        hp->arch = ENGINE_ARCH_LLAMA;
    else if (!strcmp(arch, "qwen2"))
        hp->arch = ENGINE_ARCH_QWEN2;
    else if (!strcmp(arch, "qwen3"))
        hp->arch = ENGINE_ARCH_QWEN3;
    else {
        cc_err_set(L->err, "architecture \"%.64s\" not supported (llama, qwen2, qwen3 are)", arch);
        free(arch);
        return -1;
    }
    free(arch);
    L->arch = hp->arch == ENGINE_ARCH_LLAMA   ? "llama"
              : hp->arch == ENGINE_ARCH_QWEN2 ? "qwen2"
                                              : "qwen3";
    hp->neox_rope = hp->arch != ENGINE_ARCH_LLAMA;
    if (get_int(L, "block_count", true, 0, 1, 512, &hp->n_layer) ||
        get_int(L, "embedding_length", true, 0, 1, 65536, &hp->dim) ||
        get_int(L, "attention.head_count", true, 0, 1, 1024, &hp->n_head) ||
        get_int(L, "attention.head_count_kv", false, hp->n_head, 1, hp->n_head, &hp->n_head_kv) ||
        get_int(L, "context_length", false, 2048, 1, 1 << 24, &hp->n_ctx_train))
        return -1;
    if (hp->n_head % hp->n_head_kv)
        return cc_err_set(L->err, "head_count %d is not a multiple of head_count_kv %d", hp->n_head,
                          hp->n_head_kv);
    int dflt_hd = hp->dim / hp->n_head;
    if (get_int(L, "attention.key_length", false, dflt_hd, 1, 4096, &hp->head_dim) ||
        get_int(L, "rope.dimension_count", false, hp->head_dim, 2, hp->head_dim, &hp->rope_dim))
        return -1;
    if (hp->head_dim % 2 || hp->rope_dim % 2)
        return cc_err_set(L->err, "head and rope dimensions must be even");
    if (get_float(L, "rope.freq_base", 10000.0, 1.0, 1e12, &hp->rope_base) ||
        get_float(L, "attention.layer_norm_rms_epsilon", 1e-5, 0.0, 1.0, &hp->norm_eps))
        return -1;
    return load_rope_scaling(L);
}

static int load_weights(loader *L)
{
    engine_model *m = L->m;
    engine_hparams *hp = &m->hp;
    const engine_gguf_tensor *emb = find_tensor(L, "token_embd.weight", true);
    if (!emb) return -1;
    if (emb->ne[1] < 1 || emb->ne[1] > (1 << 22))
        return cc_err_set(L->err, "token_embd.weight: bad vocabulary size %llu",
                          (unsigned long long)emb->ne[1]);
    hp->n_vocab = (int)emb->ne[1];
    if (load_matrix(L, "token_embd.weight", hp->dim, hp->n_vocab, &m->tok_embd, true, NULL))
        return -1;
    bool has_out = false;
    if (load_matrix(L, "output.weight", hp->dim, hp->n_vocab, &m->output, false, &has_out))
        return -1;
    hp->tied_output = !has_out;
    if (!has_out)
        m->output = m->tok_embd;
    else /* only one embedding row is read per token */
        m->weight_bytes -= emb->n_bytes;
    if (load_vector(L, "output_norm.weight", hp->dim, true, &m->output_norm) ||
        load_vector(L, "rope_freqs.weight", hp->rope_dim / 2, false, &m->rope_freqs))
        return -1;
    const engine_gguf_tensor *gate = find_tensor(L, "blk.0.ffn_gate.weight", true);
    if (!gate) return -1;
    if (gate->ne[1] < 1 || gate->ne[1] > (1 << 20))
        return cc_err_set(L->err, "blk.0.ffn_gate.weight: bad hidden size");
    hp->hidden_dim = (int)gate->ne[1];
    int qd = hp->n_head * hp->head_dim, kvd = hp->n_head_kv * hp->head_dim;
    m->layers = cc_calloc((size_t)hp->n_layer, sizeof(eng_layer));
    for (int l = 0; l < hp->n_layer; l++) {
        eng_layer *ly = &m->layers[l];
        char n[96];
#define NAME(s) (snprintf(n, sizeof(n), "blk.%d." s, l), n)
        if (load_vector(L, NAME("attn_norm.weight"), hp->dim, true, &ly->attn_norm) ||
            load_vector(L, NAME("ffn_norm.weight"), hp->dim, true, &ly->ffn_norm) ||
            load_matrix(L, NAME("attn_q.weight"), hp->dim, qd, &ly->wq, true, NULL) ||
            load_matrix(L, NAME("attn_k.weight"), hp->dim, kvd, &ly->wk, true, NULL) ||
            load_matrix(L, NAME("attn_v.weight"), hp->dim, kvd, &ly->wv, true, NULL) ||
            load_matrix(L, NAME("attn_output.weight"), qd, hp->dim, &ly->wo, true, NULL) ||
            load_matrix(L, NAME("ffn_gate.weight"), hp->dim, hp->hidden_dim, &ly->w_gate, true,
                        NULL) ||
            load_matrix(L, NAME("ffn_up.weight"), hp->dim, hp->hidden_dim, &ly->w_up, true, NULL) ||
            load_matrix(L, NAME("ffn_down.weight"), hp->hidden_dim, hp->dim, &ly->w_down, true,
                        NULL))
            return cc_err_prefix(L->err, "layer %d", l);
        bool need_bias = hp->arch == ENGINE_ARCH_QWEN2, need_norm = hp->arch == ENGINE_ARCH_QWEN3;
        if (load_vector(L, NAME("attn_q.bias"), qd, need_bias, &ly->bq) ||
            load_vector(L, NAME("attn_k.bias"), kvd, need_bias, &ly->bk) ||
            load_vector(L, NAME("attn_v.bias"), kvd, need_bias, &ly->bv) ||
            load_vector(L, NAME("attn_q_norm.weight"), hp->head_dim, need_norm, &ly->q_norm) ||
            load_vector(L, NAME("attn_k_norm.weight"), hp->head_dim, need_norm, &ly->k_norm))
            return cc_err_prefix(L->err, "layer %d", l);
#undef NAME
    }
    return 0;
}

static void pack_matrix(eng_tensor *t)
{
    t->packed_rows = eng_pack_rows8(t->type, (uint8_t *)t->data, t->rows, t->cols, t->row_bytes);
}

/* The matrices of every layer, into out (LAYER_MATRICES per layer); returns
 * how many. */
#define LAYER_MATRICES 7
static int layer_matrices(engine_model *m, eng_tensor **out)
{
    int n = 0;
    for (int l = 0; l < m->hp.n_layer; l++) {
        eng_layer *ly = &m->layers[l];
        eng_tensor *mats[LAYER_MATRICES] = {&ly->wq,     &ly->wk,   &ly->wv,    &ly->wo,
                                            &ly->w_gate, &ly->w_up, &ly->w_down};
        for (int i = 0; i < LAYER_MATRICES; i++)
            out[n++] = mats[i];
    }
    return n;
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)(*(const eng_tensor *const *)a)->data;
    uintptr_t y = (uintptr_t)(*(const eng_tensor *const *)b)->data;
    return x < y ? -1 : x > y;
}

/* Gaps between read-whole matrices up to this size move with them: the
 * norms and biases between a layer's matrices, so that a layer's matrices
 * (often less than 2 MB each) are one stretch for huge pages; a larger gap is
 * something not read whole (the token embedding table). */
#define HUGE_GAP_MAX ((size_t)1 << 20)

/* The matrices every token reads whole onto 2 MB pages (hugemem.c), as
 * stretches of matrices next to each other in the file; then Q8_0, Q4_0, Q4_K
 * and Q6_K ones into the AVX2 kernels' groups of eight rows (pack.c), in
 * place. Only in a file mapped by engine_gguf_open (private and writable; a
 * caller's buffer is left as it is). Not token_embd, whose rows are read one
 * at a time, unless the output is tied to it: then it is read whole but not
 * packed (the rows it gathers must keep the file's layout). The file's tensor
 * bytes seen through g are the packed ones afterwards. */
static void prepare_weights(engine_model *m)
{
    if (!m->g->mapped) return;
    eng_tensor **ts = cc_calloc((size_t)LAYER_MATRICES * m->hp.n_layer + 1, sizeof(*ts));
    int n = layer_matrices(m, ts);
    ts[n++] = &m->output;
    qsort(ts, (size_t)n, sizeof(*ts), by_address);
    for (int i = 0; i < n;) {
        uint8_t *lo = (uint8_t *)ts[i]->data;
        uint8_t *hi = lo + (size_t)ts[i]->rows * ts[i]->row_bytes;
        for (i++; i < n; i++) {
            uint8_t *p = (uint8_t *)ts[i]->data, *end = p + (size_t)ts[i]->rows * ts[i]->row_bytes;
            if (p > hi && (size_t)(p - hi) > HUGE_GAP_MAX) break;
            if (end > hi) hi = end;
        }
        (void)eng_mem_huge(lo, (size_t)(hi - lo));
    }
    for (int i = 0; i < n; i++)
        if (ts[i] != &m->output || !m->hp.tied_output) pack_matrix(ts[i]);
    free(ts);
}

engine_model *engine_model_from_gguf(engine_gguf *g, cc_err *err)
{
    engine_model *m = cc_calloc(1, sizeof(*m));
    m->g = g;
    loader L = {m, NULL, err};
    if (load_hparams(&L) || load_weights(&L)) goto fail;
    prepare_weights(m);
    m->vocab = eng_vocab_load(g, m->hp.n_vocab, err);
    if (!m->vocab) goto fail;
    m->chat_template = engine_gguf_get_str(g, "tokenizer.chat_template");
    m->chat = engine_chat_detect(m->chat_template);
    return m;
fail:
    engine_model_free(m);
    return NULL;
}

engine_model *engine_model_load_vocab(const char *path, cc_err *err)
{
    engine_gguf *g = engine_gguf_open(path, err);
    if (!g) return NULL;
    engine_model *m = cc_calloc(1, sizeof(*m));
    m->g = g;
    m->vocab_only = true;
    m->vocab = eng_vocab_load(g, 1 << 24, err);
    if (!m->vocab) {
        engine_model_free(m);
        cc_err_prefix(err, "%s", path);
        return NULL;
    }
    m->hp.n_vocab = eng_vocab_size(m->vocab);
    m->chat_template = engine_gguf_get_str(g, "tokenizer.chat_template");
    m->chat = engine_chat_detect(m->chat_template);
    return m;
}

engine_model *engine_model_load(const char *path, cc_err *err)
{
    engine_gguf *g = engine_gguf_open(path, err);
    if (!g) return NULL;
    engine_model *m = engine_model_from_gguf(g, err);
    if (!m) cc_err_prefix(err, "%s", path);
    return m;
}

void engine_model_free(engine_model *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    eng_vocab_free(m->vocab);
    free(m->chat_template);
    engine_gguf_close(m->g);
    free(m);
}

const engine_hparams *engine_model_hparams(const engine_model *m)
{
    return &m->hp;
}
uint64_t engine_model_weight_bytes(const engine_model *m)
{
    return m->weight_bytes;
}
engine_chat_kind engine_model_chat_kind(const engine_model *m)
{
    return m->chat;
}
const char *engine_model_chat_template(const engine_model *m)
{
    return m->chat_template;
}
void engine_model_set_chat_template(engine_model *m, const char *text)
{
    free(m->chat_template);
    m->chat_template = text ? cc_strdup(text) : NULL;
    m->chat = engine_chat_detect(m->chat_template);
}
