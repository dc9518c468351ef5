/*
 * GPT-2-style byte-level BPE: the pre-tokenizer (pretok.c: the model's
 * regular expressions, with exact Unicode classes) splits the text into
 * pieces, each piece's bytes are mapped to GPT-2's printable code points,
 * then merges are applied by rank within the piece.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/vocab.h"

static void put_utf8(cc_buf *b, uint32_t c)
{
    if (c < 0x80) {
        cc_buf_append_u8(b, (uint8_t)c);
    } else if (c < 0x800) {
        cc_buf_append_u8(b, (uint8_t)(0xC0 | c >> 6));
        cc_buf_append_u8(b, (uint8_t)(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        cc_buf_append_u8(b, (uint8_t)(0xE0 | c >> 12));
        cc_buf_append_u8(b, (uint8_t)(0x80 | ((c >> 6) & 0x3F)));
        cc_buf_append_u8(b, (uint8_t)(0x80 | (c & 0x3F)));
    } else {
        cc_buf_append_u8(b, (uint8_t)(0xF0 | c >> 18));
        cc_buf_append_u8(b, (uint8_t)(0x80 | ((c >> 12) & 0x3F)));
        cc_buf_append_u8(b, (uint8_t)(0x80 | ((c >> 6) & 0x3F)));
        cc_buf_append_u8(b, (uint8_t)(0x80 | (c & 0x3F)));
    }
}

static uint32_t codepoint_of_byte(uint8_t b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    uint32_t k = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174)) k++;
    return 256 + k;
}

typedef struct span {
    size_t start, len;
} span;

/* BPE over one pre-token already mapped to GPT-2 code points: start from
 * code points and repeatedly merge the adjacent pair of lowest rank (the
 * leftmost on a tie). */
static void bpe_piece(const eng_vocab *v, const char *s, size_t n, engine_tokens *out)
{
    if (v->pre.ignore_merges) {
        int32_t whole = eng_vocab_lookup(v, s, n);
        if (whole >= 0) {
            engine_tokens_push(out, whole);
            return;
        }
    }
    span *sy = cc_malloc((n ? n : 1) * sizeof(span));
    size_t ns = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t l = eng_utf8_decode(s + i, n - i, &c);
        sy[ns++] = (span){i, l};
        i += l;
    }
    for (;;) {
        int32_t best = INT32_MAX;
        size_t bi = SIZE_MAX;
        for (size_t i = 0; i + 1 < ns; i++) {
            int32_t r =
                eng_merge_rank(v, s + sy[i].start, sy[i].len, s + sy[i + 1].start, sy[i + 1].len);
            if (r >= 0 && r < best) {
                best = r;
                bi = i;
            }
        }
        if (bi == SIZE_MAX) break;
        sy[bi].len += sy[bi + 1].len;
        memmove(&sy[bi + 1], &sy[bi + 2], (ns - bi - 2) * sizeof(span));
        ns--;
    }
    for (size_t i = 0; i < ns; i++) {
        int32_t id = eng_vocab_lookup(v, s + sy[i].start, sy[i].len);
        if (id >= 0) {
            engine_tokens_push(out, id);
            continue;
        }
        /* A merge result missing from the vocabulary (a broken file): its
         * bytes one by one where they are tokens, as llama.cpp does. */
        for (size_t k = 0; k < sy[i].len; k++) {
            id = eng_vocab_lookup(v, s + sy[i].start + k, 1);
            if (id >= 0) engine_tokens_push(out, id);
        }
    }
    free(sy);
}

void eng_bpe_encode(const eng_vocab *v, const char *text, size_t len, engine_tokens *out)
{
    uint32_t *cps = cc_malloc((len + 1) * sizeof(uint32_t));
    size_t *offs = cc_malloc((len + 1) * sizeof(size_t));
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        offs[n] = i;
        i += eng_utf8_decode(text + i, len - i, &cps[n]);
        n++;
    }
    offs[n] = len;
    eng_span *pieces;
    size_t n_pieces;
    eng_pretok_split(&v->pre, cps, n, &pieces, &n_pieces);
    cc_buf mapped = CC_BUF_INIT;
    for (size_t p = 0; p < n_pieces; p++) {
        cc_buf_reset(&mapped);
        /* The original bytes, so invalid UTF-8 keeps its bytes. */
        for (size_t b = offs[pieces[p].start]; b < offs[pieces[p].start + pieces[p].len]; b++)
            put_utf8(&mapped, codepoint_of_byte((uint8_t)text[b]));
        bpe_piece(v, (const char *)mapped.data, mapped.len, out);
    }
    free(pieces);
    cc_buf_free(&mapped);
    free(cps);
    free(offs);
}
