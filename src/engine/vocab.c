/*
 * The vocabulary from the GGUF metadata (tokenizer.ggml.*): pieces, scores,
 * token types, special ids, a hash from piece to id, and each token's
 * output text (SentencePiece "▁" → space and <0xXX> byte tokens; GPT-2's
 * byte-to-unicode mapping undone).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/vocab.h"

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

int32_t eng_vocab_lookup(const eng_vocab *v, const char *p, size_t n)
{
    size_t mask = v->ht_cap - 1;
    for (size_t i = hash_bytes(p, n) & mask;; i = (i + 1) & mask) {
        int32_t id = v->ht[i] - 1;
        if (id < 0) return -1;
        if (v->lens[id] == n && !memcmp(v->pieces[id], p, n)) return id;
    }
}

int32_t eng_merge_rank(const eng_vocab *v, const char *a, size_t na, const char *b, size_t nb)
{
    if (!v->merge_cap) return -1;
    size_t mask = v->merge_cap - 1;
    uint64_t h = hash_bytes(a, na) * 31 + hash_bytes(b, nb);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        int32_t r = v->merge_ht[i] - 1;
        if (r < 0) return -1;
        const eng_merge *m = &v->merges[r];
        if (m->la == na && m->lb == nb && !memcmp(m->a, a, na) && !memcmp(m->b, b, nb)) return r;
    }
}

/* GPT-2 maps each byte to a printable code point: bytes that are printable
 * Latin-1 map to themselves, the others to 256, 257, ... in order. */
static int byte_of_codepoint(uint32_t cp)
{
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255))
        return (int)cp;
    if (cp < 256 || cp >= 256 + 68) return -1;
    int k = (int)cp - 256;
    for (int b = 0; b < 256; b++) {
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) continue;
        if (k-- == 0) return b;
    }
    return -1;
}

/* Decodes one UTF-8 code point; returns its length (1 for invalid bytes). */
size_t eng_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const uint8_t *u = (const uint8_t *)s;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    size_t len = (u[0] & 0xE0) == 0xC0   ? 2
                 : (u[0] & 0xF0) == 0xE0 ? 3
                 : (u[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (!len || len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    uint32_t c = u[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        c = c << 6 | (u[i] & 0x3F);
    }
    *cp = c;
    return len;
}

static void build_text(eng_vocab *v, int32_t id, cc_buf *arena)
{
    const char *p = v->pieces[id];
    size_t n = v->lens[id];
    v->text_off[id] = (uint32_t)arena->len;
    int type = v->types[id];
    if (type == ENGINE_TOKTYPE_CONTROL || type == ENGINE_TOKTYPE_UNUSED) {
        v->text_len[id] = 0;
        return;
    }
    if (v->kind == ENGINE_TOK_SPM) {
        unsigned b;
        if (type == ENGINE_TOKTYPE_BYTE && n == 6 && sscanf(p, "<0x%02X>", &b) == 1) {
            cc_buf_append_u8(arena, (uint8_t)b);
        } else {
            for (size_t i = 0; i < n;) {
                if (i + 3 <= n && !memcmp(p + i, "\xE2\x96\x81", 3)) {
                    cc_buf_append_u8(arena, ' ');
                    i += 3;
                } else {
                    cc_buf_append_u8(arena, (uint8_t)p[i++]);
                }
            }
        }
    } else if (type == ENGINE_TOKTYPE_USER) {
        cc_buf_append(arena, p, n);
    } else {
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t l = eng_utf8_decode(p + i, n - i, &cp);
            int b = byte_of_codepoint(cp);
            if (b >= 0)
                cc_buf_append_u8(arena, (uint8_t)b);
            else
                cc_buf_append(arena, p + i, l);
            i += l;
        }
    }
    v->text_len[id] = (uint32_t)(arena->len - v->text_off[id]);
}

static int get_id(const engine_gguf *g, const char *key, int n, int32_t *out, cc_err *err)
{
    uint64_t u;
    cc_err e = {0};
    if (engine_gguf_get_u64(g, key, &u, &e) != 0) {
        if (e.msg[0]) return cc_err_set(err, "%s", e.msg);
        return 0; /* absent: keep the default */
    }
    if (u >= (uint64_t)n)
        return cc_err_set(err, "%s = %llu is outside the vocabulary", key, (unsigned long long)u);
    *out = (int32_t)u;
    return 0;
}

static bool is_end_piece(const char *p, size_t n)
{
    static const char *const names[] = {"<|im_end|>",    "<|eot_id|>", "<|end_of_text|>",
                                        "<|endoftext|>", "<|eom_id|>", "<end_of_turn>"};
    for (size_t i = 0; i < CC_ARRAY_LEN(names); i++)
        if (strlen(names[i]) == n && !memcmp(names[i], p, n)) return true;
    return false;
}

/* Tokens that are matched in raw text before the tokenizer runs (user-defined
 * ones always, control and unknown ones when special text is parsed). */
static bool is_special_type(int32_t type)
{
    return type == ENGINE_TOKTYPE_CONTROL || type == ENGINE_TOKTYPE_USER ||
           type == ENGINE_TOKTYPE_UNKNOWN;
}

typedef struct len_id {
    uint32_t len;
    int32_t id;
} len_id;

static int by_length_desc(const void *a, const void *b)
{
    const len_id *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Longest first (then by id), since the text is searched for each in turn
 * and a longer token must win over a shorter one inside it. */
static void sort_specials(eng_vocab *v)
{
    len_id *t = cc_malloc((v->n_special ? v->n_special : 1) * sizeof(len_id));
    for (size_t i = 0; i < v->n_special; i++)
        t[i] = (len_id){v->lens[v->special[i]], v->special[i]};
    qsort(t, v->n_special, sizeof(len_id), by_length_desc);
    for (size_t i = 0; i < v->n_special; i++)
        v->special[i] = t[i].id;
    free(t);
}

static int load_merges(eng_vocab *v, const engine_gguf *g, cc_err *err)
{
    const engine_gguf_kv *kv = engine_gguf_find(g, "tokenizer.ggml.merges");
    if (!kv) return cc_err_set(err, "gpt2 tokenizer without tokenizer.ggml.merges");
    if (kv->type != ENGINE_GGUF_ARRAY || kv->arr_type != ENGINE_GGUF_STRING)
        return cc_err_set(err, "tokenizer.ggml.merges must be an array of strings");
    v->n_merges = (size_t)kv->arr_n;
    v->merges = cc_calloc(v->n_merges ? v->n_merges : 1, sizeof(eng_merge));
    v->merge_cap = 16;
    while (v->merge_cap < v->n_merges * 2)
        v->merge_cap <<= 1;
    v->merge_ht = cc_calloc(v->merge_cap, sizeof(int32_t));
    for (size_t r = 0; r < v->n_merges; r++) {
        engine_gguf_str s = kv->arr_strs[r];
        const char *sp = memchr(s.ptr, ' ', s.len);
        if (!sp || sp == s.ptr || sp == s.ptr + s.len - 1)
            return cc_err_set(err, "tokenizer.ggml.merges[%zu] is not \"a b\"", r);
        eng_merge *m = &v->merges[r];
        m->a = s.ptr;
        m->la = (size_t)(sp - s.ptr);
        m->b = sp + 1;
        m->lb = s.len - m->la - 1;
        if (eng_merge_rank(v, m->a, m->la, m->b, m->lb) >= 0)
            continue; /* duplicate: keep the better rank */
        size_t mask = v->merge_cap - 1;
        uint64_t h = hash_bytes(m->a, m->la) * 31 + hash_bytes(m->b, m->lb);
        size_t i = h & mask;
        while (v->merge_ht[i])
            i = (i + 1) & mask;
        v->merge_ht[i] = (int32_t)r + 1;
    }
    return 0;
}

eng_vocab *eng_vocab_load(const engine_gguf *g, int n_vocab_model, cc_err *err)
{
    char *model = engine_gguf_get_str(g, "tokenizer.ggml.model");
    if (!model) {
        cc_err_set(err, "metadata tokenizer.ggml.model missing (no tokenizer in the file)");
        return NULL;
    }
    eng_vocab *v = cc_calloc(1, sizeof(*v));
    if (!strcmp(model, "llama")) {
        v->kind = ENGINE_TOK_SPM;
    } else if (!strcmp(model, "gpt2")) {
        v->kind = ENGINE_TOK_BPE;
    } else {
        cc_err_set(err, "tokenizer \"%.64s\" not supported (llama, gpt2 are)", model);
        free(model);
        free(v);
        return NULL;
    }
    free(model);
    const engine_gguf_kv *tk = engine_gguf_find(g, "tokenizer.ggml.tokens");
    if (!tk || tk->type != ENGINE_GGUF_ARRAY || tk->arr_type != ENGINE_GGUF_STRING) {
        cc_err_set(err, "tokenizer.ggml.tokens missing or not an array of strings");
        goto fail;
    }
    if (tk->arr_n < 1 || tk->arr_n > (uint64_t)n_vocab_model) {
        cc_err_set(err, "vocabulary of %llu tokens does not fit the model's %d",
                   (unsigned long long)tk->arr_n, n_vocab_model);
        goto fail;
    }
    int n = v->n = (int)tk->arr_n;
    v->pieces = cc_calloc((size_t)n, sizeof(char *));
    v->lens = cc_calloc((size_t)n, sizeof(uint32_t));
    v->scores = cc_calloc((size_t)n, sizeof(float));
    v->types = cc_calloc((size_t)n, sizeof(int32_t));
    v->text_off = cc_calloc((size_t)n, sizeof(uint32_t));
    v->text_len = cc_calloc((size_t)n, sizeof(uint32_t));
    for (int i = 0; i < n; i++) {
        if (tk->arr_strs[i].len > 1024) {
            cc_err_set(err, "token %d is %zu bytes long", i, tk->arr_strs[i].len);
            goto fail;
        }
        v->pieces[i] = tk->arr_strs[i].ptr;
        v->lens[i] = (uint32_t)tk->arr_strs[i].len;
        v->types[i] = ENGINE_TOKTYPE_NORMAL;
    }
    const engine_gguf_kv *sc = engine_gguf_find(g, "tokenizer.ggml.scores");
    if (sc) {
        if (sc->type != ENGINE_GGUF_ARRAY || sc->arr_type != ENGINE_GGUF_F32 ||
            sc->arr_n != (uint64_t)n) {
            cc_err_set(err, "tokenizer.ggml.scores must be %d f32 values", n);
            goto fail;
        }
        memcpy(v->scores, sc->arr_data, (size_t)n * 4);
    }
    const engine_gguf_kv *ty = engine_gguf_find(g, "tokenizer.ggml.token_type");
    if (ty) {
        if (ty->type != ENGINE_GGUF_ARRAY || ty->arr_type != ENGINE_GGUF_I32 ||
            ty->arr_n != (uint64_t)n) {
            cc_err_set(err, "tokenizer.ggml.token_type must be %d i32 values", n);
            goto fail;
        }
        for (int i = 0; i < n; i++)
            v->types[i] = (int32_t)cc_load_u32le(ty->arr_data + 4 * (size_t)i);
    }
    v->ht_cap = 16;
    while (v->ht_cap < (size_t)n * 2)
        v->ht_cap <<= 1;
    v->ht = cc_calloc(v->ht_cap, sizeof(int32_t));
    for (int i = 0; i < n; i++) {
        if (eng_vocab_lookup(v, v->pieces[i], v->lens[i]) >= 0)
            continue; /* duplicate piece: the first id wins */
        size_t mask = v->ht_cap - 1, j = hash_bytes(v->pieces[i], v->lens[i]) & mask;
        while (v->ht[j])
            j = (j + 1) & mask;
        v->ht[j] = i + 1;
    }
    v->bos = v->kind == ENGINE_TOK_SPM ? 1 : -1;
    v->eos = v->kind == ENGINE_TOK_SPM ? 2 : -1;
    v->eot = -1;
    v->unk = v->kind == ENGINE_TOK_SPM ? 0 : -1;
    if (v->bos >= n || v->eos >= n) v->bos = v->eos = v->unk = -1;
    if (get_id(g, "tokenizer.ggml.bos_token_id", n, &v->bos, err) ||
        get_id(g, "tokenizer.ggml.eos_token_id", n, &v->eos, err) ||
        get_id(g, "tokenizer.ggml.eot_token_id", n, &v->eot, err) ||
        get_id(g, "tokenizer.ggml.unknown_token_id", n, &v->unk, err))
        goto fail;
    v->add_bos = v->kind == ENGINE_TOK_SPM;
    v->add_space_prefix = v->kind == ENGINE_TOK_SPM;
    engine_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos, NULL);
    engine_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, NULL);
    if (v->bos < 0) v->add_bos = false;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof(name), "<0x%02X>", b);
        v->byte_tok[b] = v->kind == ENGINE_TOK_SPM ? eng_vocab_lookup(v, name, 6) : -1;
    }
    if (v->kind == ENGINE_TOK_BPE) {
        if (load_merges(v, g, err)) goto fail;
        char *pre = engine_gguf_get_str(g, "tokenizer.ggml.pre");
        int rc = eng_pretok_init(&v->pre, pre, err);
        free(pre);
        if (rc) goto fail;
    }
    cc_buf arena = CC_BUF_INIT;
    v->is_end = cc_calloc((size_t)n, sizeof(bool));
    for (int i = 0; i < n; i++) {
        build_text(v, i, &arena);
        bool special = is_special_type(v->types[i]);
        if (special && v->lens[i] > 0) v->n_special++;
        v->is_end[i] = i == v->eos || i == v->eot || i == v->bos ||
                       (special && is_end_piece(v->pieces[i], v->lens[i]));
    }
    v->text = (char *)arena.data;
    v->special = cc_calloc(v->n_special ? v->n_special : 1, sizeof(int32_t));
    v->n_special = 0;
    for (int i = 0; i < n; i++)
        if (is_special_type(v->types[i]) && v->lens[i] > 0) v->special[v->n_special++] = i;
    sort_specials(v);
    return v;
fail:
    eng_vocab_free(v);
    return NULL;
}

void eng_vocab_free(eng_vocab *v)
{
    if (!v) return;
    free(v->pieces);
    free(v->lens);
    free(v->scores);
    free(v->types);
    free(v->text_off);
    free(v->text_len);
    free(v->text);
    free(v->ht);
    free(v->merges);
    free(v->merge_ht);
    free(v->is_end);
    free(v->special);
    eng_pretok_free(&v->pre);
    free(v);
}

int eng_vocab_size(const eng_vocab *v)
{
    return v->n;
}

/* ------------------------------------------------------- public accessors */

engine_tok_kind engine_model_tok_kind(const engine_model *m)
{
    return m->vocab->kind;
}
int32_t engine_model_bos(const engine_model *m)
{
    return m->vocab->bos;
}
int32_t engine_model_eos(const engine_model *m)
{
    return m->vocab->eos;
}

bool engine_model_is_end(const engine_model *m, int32_t id)
{
    return id >= 0 && id < m->vocab->n && m->vocab->is_end[id];
}

const char *engine_token_text(const engine_model *m, int32_t id, size_t *len)
{
    const eng_vocab *v = m->vocab;
    if (id < 0 || id >= v->n) {
        *len = 0;
        return "";
    }
    *len = v->text_len[id];
    return v->text ? v->text + v->text_off[id] : "";
}

const char *engine_token_piece(const engine_model *m, int32_t id, size_t *len)
{
    const eng_vocab *v = m->vocab;
    if (id < 0 || id >= v->n) {
        *len = 0;
        return "";
    }
    *len = v->lens[id];
    return v->pieces[id];
}

void engine_tokens_push(engine_tokens *t, int32_t id)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->ids = cc_realloc(t->ids, t->cap * sizeof(int32_t));
    }
    t->ids[t->n++] = id;
}

void engine_tokens_free(engine_tokens *t)
{
    free(t->ids);
    t->ids = NULL;
    t->n = t->cap = 0;
}
