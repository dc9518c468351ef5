/*
 * Text → tokens. Special tokens are split out first (user-defined pieces
 * always, control ones such as "<|im_start|>" when asked); each plain
 * fragment is then encoded by the model's algorithm: SentencePiece-style
 * (start from characters, repeatedly merge the adjacent pair whose merged
 * piece scores highest, unknown characters fall back to <0xXX> byte tokens)
 * or GPT-2 BPE (bpe.c). The results match llama.cpp's tokenizer, checked
 * against its test vectors (tests/unit/engine/test_vocab_vectors.c).
 */
#include <stdlib.h>
#include <string.h>

#include "engine/vocab.h"
#include "engine/heap_inc.h"

typedef struct sym {
    size_t start, len;
    int32_t id;         /* -1: not a piece; becomes byte tokens at the end */
    int32_t prev, next; /* linked list of live symbols (-1 = none) */
} sym;

/* A candidate merge of symbol `left` with its right neighbour. */
typedef struct bigram {
    float score;
    int32_t left;
    size_t len; /* combined length when queued: stale if it changed */
    int32_t id;
} bigram;

/* Higher score first; on equal scores the leftmost pair, as the reference
 * algorithm (which rescans left to right each round) picks. */
static bool before(const bigram *a, const bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

ENG_HEAP(heap, bigram, before)

static void try_pair(const eng_vocab *v, const char *s, const sym *syms, int32_t left, heap *h)
{
    if (left < 0 || syms[left].next < 0) return;
    size_t len = syms[left].len + syms[syms[left].next].len;
    int32_t id = eng_vocab_lookup(v, s + syms[left].start, len);
    if (id >= 0) heap_push(h, (bigram){v->scores[id], left, len, id});
}

static void spm_encode(const eng_vocab *v, const char *text, size_t len, bool space_prefix,
                       engine_tokens *out)
{
    /* Spaces become "▁" (U+2581), with one in front when the model wants it. */
    cc_buf t = CC_BUF_INIT;
    if (space_prefix) cc_buf_append(&t, "\xE2\x96\x81", 3);
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ')
            cc_buf_append(&t, "\xE2\x96\x81", 3);
        else
            cc_buf_append_u8(&t, (uint8_t)text[i]);
    }
    const char *s = (const char *)t.data;
    size_t n = t.len;
    sym *syms = cc_malloc((n ? n : 1) * sizeof(sym));
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = eng_utf8_decode(s + i, n - i, &cp);
        syms[ns] = (sym){i, l, eng_vocab_lookup(v, s + i, l), ns - 1, -1};
        if (ns > 0) syms[ns - 1].next = ns;
        ns++;
        i += l;
    }
    /* Greedy merging by score with a priority queue of adjacent pairs.
     * Adjacent symbols are adjacent in the text, so a merged piece is just a
     * longer span. */
    heap h = {0};
    for (int32_t i = 0; i + 1 < ns; i++)
        try_pair(v, s, syms, i, &h);
    while (h.n) {
        bigram b = heap_pop(&h);
        sym *l = &syms[b.left];
        if (l->len == 0 || l->next < 0 || l->len + syms[l->next].len != b.len)
            continue; /* stale: one side changed since it was queued */
        sym *r = &syms[l->next];
        l->len += r->len;
        l->id = b.id;
        l->next = r->next;
        if (r->next >= 0) syms[r->next].prev = b.left;
        r->len = 0;
        try_pair(v, s, syms, l->prev, &h);
        try_pair(v, s, syms, b.left, &h);
    }
    free(h.v);
    for (int32_t i = ns ? 0 : -1; i >= 0; i = syms[i].next) {
        if (syms[i].id >= 0) {
            engine_tokens_push(out, syms[i].id);
            continue;
        }
        for (size_t k = 0; k < syms[i].len; k++) {
            int32_t id = v->byte_tok[(uint8_t)s[syms[i].start + k]];
            if (id < 0) id = v->unk;
            if (id >= 0) engine_tokens_push(out, id);
        }
    }
    free(syms);
    cc_buf_free(&t);
}

static void encode_plain(const eng_vocab *v, const char *text, size_t len, engine_tokens *out)
{
    if (!len) return;
    if (v->kind == ENGINE_TOK_SPM)
        spm_encode(v, text, len, v->add_space_prefix, out);
    else
        eng_bpe_encode(v, text, len, out);
}

/* A piece of the input: raw text, or a special token found in it. */
typedef struct frag {
    size_t start, len;
    int32_t id; /* -1: raw text */
} frag;

typedef struct frags {
    frag *v;
    size_t n, cap;
} frags;

static void frag_push(frags *f, size_t start, size_t len, int32_t id)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->v = cc_realloc(f->v, f->cap * sizeof(frag));
    }
    f->v[f->n++] = (frag){start, len, id};
}

/* Splits out special tokens the way llama.cpp does (and Hugging Face's added
 * tokens): each special token in turn, longest first, takes every occurrence
 * left in the raw fragments. User-defined tokens are always split out;
 * control and unknown ones only when special text is parsed. */
static void partition(const eng_vocab *v, const char *text, size_t len, bool parse_special,
                      frags *out)
{
    frag_push(out, 0, len, -1);
    bool present[256] = {false}; /* first bytes in the text: skips most tokens at once */
    for (size_t i = 0; i < len; i++)
        present[(uint8_t)text[i]] = true;
    frags tmp = {0};
    for (size_t k = 0; k < v->n_special; k++) {
        int32_t id = v->special[k];
        if (!parse_special && v->types[id] != ENGINE_TOKTYPE_USER) continue;
        const char *tok = v->pieces[id];
        size_t tl = v->lens[id];
        if (!present[(uint8_t)tok[0]]) continue;
        tmp.n = 0;
        bool found = false;
        for (size_t f = 0; f < out->n; f++) {
            frag fr = out->v[f];
            if (fr.id >= 0 || fr.len < tl) {
                frag_push(&tmp, fr.start, fr.len, fr.id);
                continue;
            }
            size_t pos = fr.start, end = fr.start + fr.len;
            while (pos < end) {
                const char *hit = memmem(text + pos, end - pos, tok, tl);
                if (!hit) break;
                size_t at = (size_t)(hit - text);
                if (at > pos) frag_push(&tmp, pos, at - pos, -1);
                frag_push(&tmp, at, tl, id);
                pos = at + tl;
                found = true;
            }
            if (pos < end) frag_push(&tmp, pos, end - pos, -1);
        }
        if (found) {
            frags swap = *out;
            *out = tmp;
            tmp = swap;
        }
    }
    free(tmp.v);
}

int engine_tokenize(const engine_model *m, const char *text, size_t len, bool add_bos,
                    bool parse_special, engine_tokens *out, cc_err *err)
{
    (void)err;
    const eng_vocab *v = m->vocab;
    if (add_bos && v->add_bos && v->bos >= 0) engine_tokens_push(out, v->bos);
    if (!len) return 0;
    frags f = {0};
    partition(v, text, len, parse_special, &f);
    /* Every raw fragment starts the text or follows a special token, and
     * SentencePiece models give each one its dummy space prefix. */
    for (size_t i = 0; i < f.n; i++) {
        if (f.v[i].id >= 0)
            engine_tokens_push(out, f.v[i].id);
        else
            encode_plain(v, text + f.v[i].start, f.v[i].len, out);
    }
    free(f.v);
    return 0;
}
