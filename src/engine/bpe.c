/*
 * GPT-2-style byte-level BPE: the pre-tokenizer (pretok.c: the model's
 * regular expressions, with exact Unicode classes) splits the text into
 * pieces, each piece's bytes are mapped to GPT-2's printable code points,
 * then merges are applied by rank within the piece.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/vocab.h"
#include "engine/heap_inc.h"

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

/* A symbol: a span of the mapped piece, in a linked list of live ones. */
typedef struct bsym {
    size_t start, len;
    int32_t prev, next; /* -1: none */
} bsym;

/* A candidate merge of symbol `left` with its right neighbour, valid while
 * both still have the lengths they had when it was queued. */
typedef struct bcand {
    int32_t rank, left, right;
    size_t llen, rlen;
} bcand;

/* Lowest rank first; on a tie the leftmost pair, as rescanning would pick. */
static bool before(const bcand *a, const bcand *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

ENG_HEAP(bheap, bcand, before)

static void consider(const eng_vocab *v, const char *s, const bsym *sy, int32_t left, bheap *h)
{
    if (left < 0 || sy[left].next < 0) return;
    const bsym *l = &sy[left], *r = &sy[l->next];
    int32_t rank = eng_merge_rank(v, s + l->start, l->len, s + r->start, r->len);
    if (rank >= 0) bheap_push(h, (bcand){rank, left, l->next, l->len, r->len});
}

/* BPE over one pre-token already mapped to GPT-2 code points: start from
 * code points and repeatedly merge the adjacent pair of lowest rank (the
 * leftmost on a tie), with a priority queue so a long piece costs
 * O(n log n), not O(n^2). */
static void bpe_piece(const eng_vocab *v, const char *s, size_t n, engine_tokens *out)
{
    if (v->pre.ignore_merges) {
        int32_t whole = eng_vocab_lookup(v, s, n);
        if (whole >= 0) {
            engine_tokens_push(out, whole);
            return;
        }
    }
    bsym *sy = cc_malloc((n ? n : 1) * sizeof(bsym));
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t l = eng_utf8_decode(s + i, n - i, &c);
        sy[ns] = (bsym){i, l, ns - 1, i + l < n ? ns + 1 : -1};
        ns++;
        i += l;
    }
    bheap h = {0};
    for (int32_t i = 0; i + 1 < ns; i++)
        consider(v, s, sy, i, &h);
    while (h.n) {
        bcand c = bheap_pop(&h);
        bsym *l = &sy[c.left], *r = &sy[c.right];
        if (l->next != c.right || l->len != c.llen || r->len != c.rlen)
            continue; /* stale: a side was merged since */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sy[r->next].prev = c.left;
        consider(v, s, sy, l->prev, &h);
        consider(v, s, sy, c.left, &h);
    }
    free(h.v);
    for (int32_t i = ns ? 0 : -1; i >= 0; i = sy[i].next) {
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
