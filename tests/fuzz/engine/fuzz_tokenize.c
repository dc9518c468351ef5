/*
 * Fuzz target over the tokenizers on arbitrary bytes (the text a client
 * sends). The first byte picks a vocabulary and whether special-token text
 * is parsed: llama.cpp's real vocabularies from $COCOON_SHARED/models/vocab
 * when present (SentencePiece and byte-level BPE with each pre-tokenizer
 * family), else synthetic ones. Besides not crashing, tokenization must be
 * lossless where the algorithm guarantees it: byte-level BPE (GPT-2) gives
 * back the input bytes exactly, SentencePiece with byte fallback gives back
 * " " + input (with "▁" read as the space it stands for).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

enum { N_REAL = 6 };

typedef struct vocabs {
    engine_model *m[N_REAL + 2];
    int lossless[N_REAL + 2]; /* 0: no check, 1: exact bytes, 2: " " + bytes */
    size_t n;
} vocabs;

static engine_model *synthetic(bool bpe, cc_buf *file)
{
    engine_synth_config c;
    engine_synth_config_default(&c);
    c.arch = bpe ? ENGINE_ARCH_QWEN2 : ENGINE_ARCH_LLAMA;
    c.bpe_vocab = bpe;
    c.n_layer = 1;
    c.dim = 32;
    c.hidden_dim = 32;
    c.n_head = 2;
    c.n_head_kv = 1;
    c.n_vocab = 800;
    c.wtype = ENGINE_T_F32;
    cc_err err = {0};
    if (engine_synth_buf(&c, file, &err)) abort();
    engine_model *m = engine_model_from_gguf(engine_gguf_parse(file->data, file->len, &err), &err);
    if (!m) abort();
    return m;
}

static const vocabs *all(void)
{
    /* Loaded once per process: the harness has no other place to keep them. */
    static vocabs v;
    static bool done;
    if (done) return &v;
    done = true;
    static const struct {
        const char *name;
        int lossless;
    } real[N_REAL] = {{"gpt-2", 1},          {"llama-spm", 2}, {"deepseek-llm", 0},
                      {"deepseek-coder", 0}, {"falcon", 0},    {"phi-3", 0}};
    const char *shared = getenv("COCOON_SHARED");
    for (size_t i = 0; shared && i < N_REAL; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/models/vocab/ggml-vocab-%s.gguf", shared, real[i].name);
        cc_err err = {0};
        engine_model *m = engine_model_load_vocab(path, &err);
        if (!m) continue;
        v.lossless[v.n] = real[i].lossless;
        v.m[v.n++] = m;
    }
    static cc_buf files[2]; /* the models borrow these bytes for the whole run */
    v.m[v.n++] = synthetic(true, &files[0]);
    v.m[v.n++] = synthetic(false, &files[1]);
    return &v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const vocabs *v = all();
    size_t pick = (data[0] >> 1) % v->n;
    bool special = data[0] & 1;
    const engine_model *m = v->m[pick];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    engine_tokens t = {0};
    cc_err err = {0};
    if (engine_tokenize(m, text, len, true, special, &t, &err)) abort();
    int n_vocab = engine_model_hparams(m)->n_vocab;
    cc_buf out = CC_BUF_INIT;
    for (size_t i = 0; i < t.n; i++) {
        if (t.ids[i] < 0 || t.ids[i] >= n_vocab) abort();
        size_t n;
        const char *p = engine_token_text(m, t.ids[i], &n);
        cc_buf_append(&out, p, n);
    }
    if (!special && len && v->lossless[pick]) {
        cc_buf want = CC_BUF_INIT;
        if (v->lossless[pick] == 2) {
            cc_buf_append(&want, " ", 1);
            for (size_t i = 0; i < len; i++) {
                if (i + 3 <= len && !memcmp(text + i, "\xE2\x96\x81", 3)) {
                    cc_buf_append(&want, " ", 1);
                    i += 2;
                } else {
                    cc_buf_append(&want, text + i, 1);
                }
            }
        } else {
            cc_buf_append(&want, text, len);
        }
        if (out.len != want.len || memcmp(out.data, want.data, want.len)) abort();
        cc_buf_free(&want);
    }
    cc_buf_free(&out);
    engine_tokens_free(&t);
    return 0;
}
