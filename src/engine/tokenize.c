/*
 * Text → tokens. Special tokens (control/user-defined pieces such as
 * "<|im_start|>") are split out first when asked; each plain fragment is
 * then encoded by the model's algorithm: SentencePiece-style (start from
 * characters, repeatedly merge the adjacent pair whose merged piece scores
 * highest, unknown characters fall back to <0xXX> byte tokens) or GPT-2 BPE
 * (bpe.c).
 */
#include <stdlib.h>
#include <string.h>

#include "engine/vocab.h"

typedef struct sym {
    size_t start, len;
    int32_t id; /* -1: not a piece; becomes byte tokens at the end */
} sym;

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
    size_t ns = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = eng_utf8_decode(s + i, n - i, &cp);
        syms[ns].start = i;
        syms[ns].len = l;
        syms[ns].id = eng_vocab_lookup(v, s + i, l);
        ns++;
        i += l;
    }
    /* Greedy merging by score. Adjacent symbols are adjacent in the text, so
     * a merged piece is just a longer span. */
    for (;;) {
        float best = -1e30f;
        size_t best_i = SIZE_MAX;
        int32_t best_id = -1;
        for (size_t i = 0; i + 1 < ns; i++) {
            int32_t id = eng_vocab_lookup(v, s + syms[i].start, syms[i].len + syms[i + 1].len);
            if (id >= 0 && v->scores[id] > best) {
                best = v->scores[id];
                best_i = i;
                best_id = id;
            }
        }
        if (best_i == SIZE_MAX) break;
        syms[best_i].len += syms[best_i + 1].len;
        syms[best_i].id = best_id;
        memmove(&syms[best_i + 1], &syms[best_i + 2], (ns - best_i - 2) * sizeof(sym));
        ns--;
    }
    for (size_t i = 0; i < ns; i++) {
        if (syms[i].id >= 0) {
            engine_tokens_push(out, syms[i].id);
            continue;
        }
        for (size_t b = 0; b < syms[i].len; b++) {
            int32_t id = v->byte_tok[(uint8_t)s[syms[i].start + b]];
            if (id < 0) id = v->unk;
            if (id >= 0) engine_tokens_push(out, id);
        }
    }
    free(syms);
    cc_buf_free(&t);
}

static void encode_plain(const eng_vocab *v, const char *text, size_t len, bool at_start,
                         engine_tokens *out)
{
    if (!len) return;
    if (v->kind == ENGINE_TOK_SPM)
        spm_encode(v, text, len, at_start && v->add_space_prefix, out);
    else
        eng_bpe_encode(v, text, len, out);
}

int engine_tokenize(const engine_model *m, const char *text, size_t len, bool add_bos,
                    bool parse_special, engine_tokens *out, cc_err *err)
{
    const eng_vocab *v = m->vocab;
    if (add_bos && v->add_bos && v->bos >= 0) engine_tokens_push(out, v->bos);
    if (!parse_special || !v->n_special) {
        encode_plain(v, text, len, true, out);
        return 0;
    }
    size_t seg = 0;
    for (size_t i = 0; i < len;) {
        /* The longest special piece starting here. */
        int32_t found = -1;
        size_t flen = 0;
        if (text[i] == '<' || text[i] == '[') {
            for (size_t k = 0; k < v->n_special; k++) {
                int32_t id = v->special[k];
                size_t pl = v->lens[id];
                if (pl > flen && pl <= len - i && !memcmp(text + i, v->pieces[id], pl)) {
                    found = id;
                    flen = pl;
                }
            }
        }
        if (found < 0) {
            i++;
            continue;
        }
        encode_plain(v, text + seg, i - seg, seg == 0, out);
        engine_tokens_push(out, found);
        i += flen;
        seg = i;
    }
    encode_plain(v, text + seg, len - seg, seg == 0, out);
    (void)err;
    return 0;
}
