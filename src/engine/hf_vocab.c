/*
 * Hugging Face tokenizer.json (+ tokenizer_config.json) → vocab-only GGUF,
 * the way llama.cpp's convert_hf_to_gguf.py writes the tokenizer keys:
 *
 *  - byte-level BPE (a ByteLevel pre-tokenizer or decoder): model "gpt2",
 *    the vocabulary, merges, and tokenizer.ggml.pre named after the split
 *    regex (llama-bpe, qwen2, gpt-2; or given by the caller);
 *  - SentencePiece-style BPE with byte fallback (<0xXX> tokens, "▁" for
 *    spaces): model "llama", scores from the merge ranks (a token made by an
 *    earlier merge scores higher), byte tokens typed BYTE, the dummy space
 *    prefix when the normalizer or pre-tokenizer prepends "▁".
 *
 * Added tokens become CONTROL when special (or shaped like "<|...|>"),
 * USER_DEFINED otherwise; ids nobody uses become "[PADn]" UNUSED. BOS, EOS,
 * padding and unknown ids, add_bos/add_eos (from the config, else from the
 * post-processor's template) and the chat template come along.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

enum { T_NORMAL = 1, T_UNKNOWN = 2, T_CONTROL = 3, T_USER = 4, T_UNUSED = 5, T_BYTE = 6 };

typedef struct conv {
    json_t *tok, *cfg; /* cfg may be NULL */
    const json_t *vocab, *added;
    int n;
    char **text; /* per id, owned */
    int32_t *type;
    cc_err *err;
} conv;

static const char *str_or_content(const json_t *v)
{
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v)) return json_string_value(json_object_get(v, "content"));
    return NULL;
}

/* The id of a token's text: added tokens first, then the vocabulary (a
 * hashed JSON object, so this stays cheap inside loops over merges). */
static int32_t id_of(const conv *c, const char *s)
{
    if (!s) return -1;
    size_t i;
    const json_t *a;
    json_array_foreach(c->added, i, a)
    {
        const char *t = json_string_value(json_object_get(a, "content"));
        if (t && !strcmp(t, s)) return (int32_t)json_integer_value(json_object_get(a, "id"));
    }
    const json_t *v = json_object_get(c->vocab, s);
    return json_is_integer(v) ? (int32_t)json_integer_value(v) : -1;
}

static bool looks_special(const char *t)
{
    size_t n = strlen(t);
    if (!strcmp(t, "<pad>") || !strcmp(t, "<mask>")) return true;
    if (n >= 4 && !strncmp(t, "<|", 2) && !strcmp(t + n - 2, "|>")) return true;
    /* DeepSeek's fullwidth bars: <｜...｜> */
    return n >= 8 && !strncmp(t, "<\xEF\xBD\x9C", 4) && !strcmp(t + n - 4, "\xEF\xBD\x9C>");
}

/* True when some (nested) pre-tokenizer or the decoder is ByteLevel. */
static bool has_type(const json_t *node, const char *type)
{
    if (!json_is_object(node)) return false;
    const char *t = json_string_value(json_object_get(node, "type"));
    if (t && !strcmp(t, type)) return true;
    const json_t *list = json_object_get(node, "pretokenizers");
    if (!list) list = json_object_get(node, "normalizers");
    if (!list) list = json_object_get(node, "decoders");
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e) if (has_type(e, type)) return true;
    return false;
}

/* The first Split regex of the pre-tokenizer, and whether a ByteLevel step
 * splits with GPT-2's own regex (use_regex). */
static void find_split(const json_t *node, const char **regex, bool *bytelevel_regex)
{
    if (!json_is_object(node)) return;
    const char *t = json_string_value(json_object_get(node, "type"));
    if (t && !strcmp(t, "Split") && !*regex)
        *regex = json_string_value(json_object_get(json_object_get(node, "pattern"), "Regex"));
    if (t && !strcmp(t, "ByteLevel") && json_is_true(json_object_get(node, "use_regex")))
        *bytelevel_regex = true;
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(node, "pretokenizers"), i, e)
        find_split(e, regex, bytelevel_regex);
}

static const char *pre_name(const json_t *pre_tok, cc_err *err)
{
    static const struct {
        const char *regex, *name;
    } known[] = {
        {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
         "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
         "llama-bpe"},
        {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
         "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
         "qwen2"},
    };
    const char *regex = NULL;
    bool bl_regex = false;
    find_split(pre_tok, &regex, &bl_regex);
    if (!regex && bl_regex) return "gpt-2";
    for (size_t i = 0; regex && i < CC_ARRAY_LEN(known); i++)
        if (!strcmp(regex, known[i].regex)) return known[i].name;
    cc_err_set(err, "pre-tokenizer %s%.80s%s not recognised: name it with --pre", regex ? "\"" : "",
               regex ? regex : "without a Split regex", regex ? "\"" : "");
    return NULL;
}

static int set_text(conv *c, int id, const char *s, size_t len)
{
    if (id < 0 || id >= c->n) return cc_err_set(c->err, "token id %d out of range", id);
    if (strlen(s) != len) return cc_err_set(c->err, "token %d contains a NUL byte", id);
    free(c->text[id]);
    c->text[id] = cc_strdup(s);
    return 0;
}

static int load_tokens(conv *c, const json_t *vocab, const json_t *added)
{
    int64_t max = -1;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)vocab, k, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (1 << 22))
            return cc_err_set(c->err, "model.vocab[\"%.40s\"] is not a token id", k);
        if (json_integer_value(v) > max) max = json_integer_value(v);
    }
    size_t i;
    json_array_foreach(added, i, v)
    {
        json_t *id = json_object_get(v, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= (1 << 22) || !json_is_string(json_object_get(v, "content")))
            return cc_err_set(c->err, "added_tokens[%zu] needs an id and a content", i);
        if (json_integer_value(id) > max) max = json_integer_value(id);
    }
    if (max < 0) return cc_err_set(c->err, "empty vocabulary");
    c->n = (int)max + 1;
    c->text = cc_calloc((size_t)c->n, sizeof(char *));
    c->type = cc_calloc((size_t)c->n, sizeof(int32_t));
    json_object_foreach((json_t *)vocab, k, v)
    {
        int id = (int)json_integer_value(v);
        if (set_text(c, id, k, strlen(k))) return -1;
        c->type[id] = T_NORMAL;
    }
    json_array_foreach(added, i, v)
    {
        int id = (int)json_integer_value(json_object_get(v, "id"));
        const json_t *content = json_object_get(v, "content");
        const char *s = json_string_value(content);
        if (set_text(c, id, s, json_string_length(content))) return -1;
        c->type[id] =
            json_is_true(json_object_get(v, "special")) || looks_special(s) ? T_CONTROL : T_USER;
    }
    for (int id = 0; id < c->n; id++)
        if (!c->text[id]) {
            char pad[32];
            snprintf(pad, sizeof(pad), "[PAD%d]", id);
            c->text[id] = cc_strdup(pad);
            c->type[id] = T_UNUSED;
        }
    return 0;
}

/* Merges as "a b" strings, from either form tokenizer.json uses. */
static char **load_merges(conv *c, const json_t *merges, size_t *n)
{
    *n = json_array_size(merges);
    char **out = cc_calloc(*n ? *n : 1, sizeof(char *));
    size_t i;
    const json_t *m;
    json_array_foreach(merges, i, m)
    {
        if (json_is_string(m) && strchr(json_string_value(m), ' ')) {
            out[i] = cc_strdup(json_string_value(m));
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            const char *a = json_string_value(json_array_get(m, 0));
            const char *b = json_string_value(json_array_get(m, 1));
            out[i] = cc_malloc(strlen(a) + strlen(b) + 2);
            sprintf(out[i], "%s %s", a, b);
        } else {
            cc_err_set(c->err, "model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", i);
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    }
    return out;
}

/* add_bos/add_eos: the config's flags, else whether the post-processor's
 * single-sequence template starts/ends with a special token. */
static void add_special_flags(const conv *c, bool *bos, bool *eos, bool *have_bos, bool *have_eos)
{
    const json_t *b = c->cfg ? json_object_get(c->cfg, "add_bos_token") : NULL;
    const json_t *e = c->cfg ? json_object_get(c->cfg, "add_eos_token") : NULL;
    *have_bos = json_is_boolean(b);
    *have_eos = json_is_boolean(e);
    *bos = json_is_true(b);
    *eos = json_is_true(e);
    const json_t *pp = json_object_get(c->tok, "post_processor");
    const json_t *list = json_object_get(pp, "processors");
    size_t i;
    const json_t *p;
    json_array_foreach(list, i, p) if (has_type(p, "TemplateProcessing")) pp = p;
    if (!has_type(pp, "TemplateProcessing")) return;
    const json_t *single = json_object_get(pp, "single");
    size_t n = json_array_size(single);
    if (!n) return;
    if (!*have_bos) {
        *have_bos = true;
        *bos = json_object_get(json_array_get(single, 0), "SpecialToken") != NULL;
    }
    if (!*have_eos) {
        *have_eos = true;
        *eos = json_object_get(json_array_get(single, n - 1), "SpecialToken") != NULL;
    }
}

static bool prepends_space(const json_t *tok)
{
    const json_t *norm = json_object_get(tok, "normalizer");
    if (has_type(norm, "Prepend")) return true;
    const json_t *pre = json_object_get(tok, "pre_tokenizer");
    if (!has_type(pre, "Metaspace")) return false;
    const char *scheme = json_string_value(json_object_get(pre, "prepend_scheme"));
    return json_is_true(json_object_get(pre, "add_prefix_space")) ||
           (scheme && strcmp(scheme, "never"));
}

static void put_id(engine_gguf_writer *w, const conv *c, const char *key, const char *cfg_key)
{
    int32_t id = c->cfg ? id_of(c, str_or_content(json_object_get(c->cfg, cfg_key))) : -1;
    if (id >= 0) engine_gguf_w_u32(w, key, (uint32_t)id);
}

static int convert(conv *c, const char *pre_override, engine_gguf_writer *w)
{
    const json_t *model = json_object_get(c->tok, "model");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if (!mtype || strcmp(mtype, "BPE"))
        return cc_err_set(c->err, "model type %s not supported (BPE is)", mtype ? mtype : "(none)");
    const json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) return cc_err_set(c->err, "model.vocab is not an object");
    const json_t *added = json_object_get(c->tok, "added_tokens");
    if (added && !json_is_array(added)) return cc_err_set(c->err, "added_tokens is not an array");
    bool byte_level = has_type(json_object_get(c->tok, "pre_tokenizer"), "ByteLevel") ||
                      has_type(json_object_get(c->tok, "decoder"), "ByteLevel");
    bool spm = !byte_level && json_is_true(json_object_get(model, "byte_fallback"));
    if (!byte_level && !spm)
        return cc_err_set(c->err, "BPE that is neither byte-level nor with byte fallback");
    c->vocab = vocab;
    c->added = added;
    if (load_tokens(c, vocab, added)) return -1;
    size_t n_merges;
    char **merges = load_merges(c, json_object_get(model, "merges"), &n_merges);
    if (!merges) return -1;
    int rc = 0;
    if (byte_level) {
        const char *pre = pre_override;
        if (!pre) pre = pre_name(json_object_get(c->tok, "pre_tokenizer"), c->err);
        if (!pre) {
            rc = -1;
            goto out;
        }
        engine_gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
        engine_gguf_w_str(w, "tokenizer.ggml.pre", pre);
    } else {
        /* Score: a token made by merge r scores -r, so earlier merges win
         * SentencePiece's highest-score-first merging; others score below. */
        float *scores = cc_malloc((size_t)c->n * sizeof(float));
        for (int i = 0; i < c->n; i++)
            scores[i] = -(float)n_merges - (float)i;
        cc_buf joined = CC_BUF_INIT;
        for (size_t r = 0; r < n_merges; r++) {
            const char *sp = strchr(merges[r], ' ');
            cc_buf_reset(&joined);
            cc_buf_append(&joined, merges[r], (size_t)(sp - merges[r]));
            cc_buf_append(&joined, sp + 1, strlen(sp + 1) + 1);
            int32_t id = id_of(c, (const char *)joined.data);
            if (id >= 0 && scores[id] < -(float)r) scores[id] = -(float)r;
        }
        cc_buf_free(&joined);
        const char *unk = json_string_value(json_object_get(model, "unk_token"));
        for (int i = 0; i < c->n; i++) {
            unsigned b;
            char tail;
            if (c->type[i] == T_NORMAL && strlen(c->text[i]) == 6 &&
                sscanf(c->text[i], "<0x%2X%c", &b, &tail) == 2 && tail == '>')
                c->type[i] = T_BYTE;
            if (unk && !strcmp(c->text[i], unk)) c->type[i] = T_UNKNOWN;
        }
        engine_gguf_w_str(w, "tokenizer.ggml.model", "llama");
        engine_gguf_w_str(w, "tokenizer.ggml.pre", "default");
        engine_gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores, (size_t)c->n);
        engine_gguf_w_bool(w, "tokenizer.ggml.add_space_prefix", prepends_space(c->tok));
        free(scores);
        int32_t unk_id = id_of(c, unk);
        if (unk_id >= 0) engine_gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)unk_id);
    }
    engine_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)c->text, (size_t)c->n);
    engine_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", c->type, (size_t)c->n);
    if (byte_level)
        engine_gguf_w_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, n_merges);
    put_id(w, c, "tokenizer.ggml.bos_token_id", "bos_token");
    put_id(w, c, "tokenizer.ggml.eos_token_id", "eos_token");
    put_id(w, c, "tokenizer.ggml.padding_token_id", "pad_token");
    if (byte_level) put_id(w, c, "tokenizer.ggml.unknown_token_id", "unk_token");
    bool bos, eos, have_bos, have_eos;
    add_special_flags(c, &bos, &eos, &have_bos, &have_eos);
    if (have_bos) engine_gguf_w_bool(w, "tokenizer.ggml.add_bos_token", bos);
    if (have_eos) engine_gguf_w_bool(w, "tokenizer.ggml.add_eos_token", eos);
    const json_t *tmpl = c->cfg ? json_object_get(c->cfg, "chat_template") : NULL;
    if (json_is_array(tmpl)) { /* named templates: the default one */
        size_t i;
        const json_t *t, *pick = NULL;
        json_array_foreach(tmpl, i, t)
        {
            const char *name = json_string_value(json_object_get(t, "name"));
            if (name && !strcmp(name, "default")) pick = json_object_get(t, "template");
        }
        tmpl = pick;
    }
    if (json_is_string(tmpl))
        engine_gguf_w_str(w, "tokenizer.chat_template", json_string_value(tmpl));
out:
    for (size_t i = 0; i < n_merges; i++)
        free(merges[i]);
    free(merges);
    return rc;
}

int engine_vocab_from_hf(const char *dir, const char *pre, const char *out_path, cc_err *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    conv c = {0};
    c.err = err;
    c.tok = cc_json_load_file(path, err);
    if (!c.tok) return -1;
    snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        /* Integers as reals: model_max_length is often 1e30, beyond int64. */
        json_error_t je;
        c.cfg = json_load_file(path, JSON_DECODE_INT_AS_REAL | JSON_REJECT_DUPLICATES, &je);
        if (!c.cfg) {
            cc_err_set(err, "%s:%d:%d: %s", path, je.line, je.column, je.text);
            json_decref(c.tok);
            return -1;
        }
    }
    engine_gguf_writer *w = engine_gguf_writer_new();
    const char *base = strrchr(dir, '/');
    engine_gguf_w_str(w, "general.architecture", "llama");
    engine_gguf_w_str(w, "general.name", base && base[1] ? base + 1 : dir);
    int rc = convert(&c, pre, w);
    if (!rc) rc = engine_gguf_w_write_file(w, out_path, err);
    engine_gguf_writer_free(w);
    for (int i = 0; i < c.n; i++)
        free(c.text[i]);
    free(c.text);
    free(c.type);
    json_decref(c.tok);
    json_decref(c.cfg);
    if (rc) cc_err_prefix(err, "%s", dir);
    return rc;
}
