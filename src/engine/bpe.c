/*
 * GPT-2-style byte-level BPE: a pre-tokenizer splits text the way the
 * model's regular expression does (gpt2, llama-3 and qwen2 variants,
 * hand-written below instead of a regex engine), each piece's bytes are
 * mapped to GPT-2's printable code points, then merges are applied by rank.
 *
 * Unicode classes are approximated: ASCII exactly; other code points count
 * as letters unless they are known whitespace or punctuation.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/vocab.h"

static bool is_ws(uint32_t c)
{
    return c == ' ' || (c >= 9 && c <= 13) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static bool is_digit(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 0x660 && c <= 0x669);
}

static bool is_letter(uint32_t c)
{
    if (c < 0x80) return (c | 32) >= 'a' && (c | 32) <= 'z';
    if (is_ws(c) || is_digit(c)) return false;
    if (c < 0xC0) /* Latin-1 symbols, except the three letters there */
        return c == 0xAA || c == 0xB5 || c == 0xBA;
    if (c == 0xD7 || c == 0xF7) return false;
    if ((c >= 0x2000 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x303F) ||
        (c >= 0xFF00 && c <= 0xFF20) || (c >= 0xFE30 && c <= 0xFE4F) ||
        (c >= 0x1F000 && c <= 0x1FAFF))
        return false;
    return true;
}

static bool is_nl(uint32_t c)
{
    return c == '\r' || c == '\n';
}

/* Length (in code points) of the pre-token starting at i. */
static size_t match_at(const uint32_t *cp, size_t n, size_t i, eng_pretok pre)
{
    uint32_t c = cp[i];
    /* contractions: 's 't 're 've 'm 'll 'd */
    if (c == '\'' && i + 1 < n) {
        uint32_t a = cp[i + 1], b = i + 2 < n ? cp[i + 2] : 0;
        if (pre != ENG_PRE_GPT2) {
            a = a < 0x80 ? (a | 32) : a;
            b = b < 0x80 ? (b | 32) : b;
        }
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    size_t j;
    if (pre == ENG_PRE_GPT2) {
        size_t s = c == ' ' && i + 1 < n ? 1 : 0;
        if (is_letter(cp[i + s])) {
            for (j = i + s; j < n && is_letter(cp[j]); j++)
                ;
            return j - i;
        }
        if (is_digit(cp[i + s])) {
            for (j = i + s; j < n && is_digit(cp[j]); j++)
                ;
            return j - i;
        }
        uint32_t d = cp[i + s];
        if (!is_ws(d) && !is_letter(d) && !is_digit(d)) {
            for (j = i + s; j < n && !is_ws(cp[j]) && !is_letter(cp[j]) && !is_digit(cp[j]); j++)
                ;
            return j - i;
        }
    } else {
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        size_t s = (!is_nl(c) && !is_letter(c) && !is_digit(c) && i + 1 < n && is_letter(cp[i + 1]))
                       ? 1
                       : 0;
        if (is_letter(cp[i + s])) {
            for (j = i + s; j < n && is_letter(cp[j]); j++)
                ;
            return j - i;
        }
        if (is_digit(c)) {
            size_t max = pre == ENG_PRE_LLAMA3 ? 3 : 1;
            for (j = i; j < n && j - i < max && is_digit(cp[j]); j++)
                ;
            return j - i;
        }
        /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
        s = c == ' ' && i + 1 < n ? 1 : 0;
        uint32_t d = cp[i + s];
        if (!is_ws(d) && !is_letter(d) && !is_digit(d)) {
            for (j = i + s; j < n && !is_ws(cp[j]) && !is_letter(cp[j]) && !is_digit(cp[j]); j++)
                ;
            while (j < n && is_nl(cp[j]))
                j++;
            return j - i;
        }
        /* \s*[\r\n]+ : up to the last newline of the whitespace run */
        size_t last_nl = SIZE_MAX;
        for (j = i; j < n && is_ws(cp[j]); j++)
            if (is_nl(cp[j])) last_nl = j;
        if (last_nl != SIZE_MAX) return last_nl - i + 1;
    }
    /* \s+(?!\S) then \s+ */
    for (j = i; j < n && is_ws(cp[j]); j++)
        ;
    if (j > i) {
        if (j == n || j - i == 1) return j - i;
        return j - i - 1;
    }
    return 1;
}

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

/* BPE over one pre-token already mapped to GPT-2 code points. */
static void bpe_piece(const eng_vocab *v, const char *s, size_t n, engine_tokens *out)
{
    int32_t whole = eng_vocab_lookup(v, s, n);
    if (whole >= 0) {
        engine_tokens_push(out, whole);
        return;
    }
    span *sy = cc_malloc(n * sizeof(span));
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
        /* Not in the vocabulary: one token per code point if possible. */
        for (size_t k = 0; k < sy[i].len;) {
            uint32_t c;
            size_t l = eng_utf8_decode(s + sy[i].start + k, sy[i].len - k, &c);
            id = eng_vocab_lookup(v, s + sy[i].start + k, l);
            if (id < 0) id = v->unk;
            if (id >= 0) engine_tokens_push(out, id);
            k += l;
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
    cc_buf mapped = CC_BUF_INIT;
    for (size_t i = 0; i < n;) {
        size_t k = match_at(cps, n, i, v->pre);
        cc_buf_reset(&mapped);
        for (size_t b = offs[i]; b < offs[i + k]; b++)
            put_utf8(&mapped, codepoint_of_byte((uint8_t)text[b]));
        bpe_piece(v, (const char *)mapped.data, mapped.len, out);
        i += k;
    }
    cc_buf_free(&mapped);
    free(cps);
    free(offs);
}
