/*
 * The Jinja lexer. jinja2 first turns every \r\n and \r of the source into \n
 * and drops one trailing newline (keep_trailing_newline is off); then text
 * runs up to the next `{{`, `{%` or `{#`. Whitespace rules as Hugging Face
 * sets them: trim_blocks drops the newline right after a block or comment
 * tag, lstrip_blocks drops spaces and tabs between a line's start and a block
 * or comment tag (unless the tag opens with `+`), `-` strips all whitespace
 * on its side of any tag.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/jinja_lex.h"

typedef struct lexer {
    jinja_arena *ar;
    const char *s;
    size_t n, pos;
    size_t lc_pos; /* line/column cursor: position ... */
    uint32_t lc_line, lc_col;
    jtoks *out;
    cc_err *err;
} lexer;

static void where(lexer *L, size_t pos, uint32_t *line, uint32_t *col)
{
    if (pos < L->lc_pos) {
        L->lc_pos = 0;
        L->lc_line = 1;
        L->lc_col = 1;
    }
    for (; L->lc_pos < pos; L->lc_pos++) {
        if (L->s[L->lc_pos] == '\n') {
            L->lc_line++;
            L->lc_col = 1;
        } else if (((unsigned char)L->s[L->lc_pos] & 0xC0) != 0x80)
            L->lc_col++;
    }
    *line = L->lc_line;
    *col = L->lc_col;
}

static int fail(lexer *L, size_t pos, const char *msg)
{
    uint32_t line, col;
    where(L, pos, &line, &col);
    return cc_err_set(L->err, "template line %u, column %u: %s", line, col, msg);
}

static jtok *push(lexer *L, jtok_type t, size_t pos)
{
    jtoks *o = L->out;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        jtok *v = jinja_alloc(L->ar, cap * sizeof(jtok));
        if (o->n) memcpy(v, o->v, o->n * sizeof(jtok));
        o->v = v;
        o->cap = cap;
    }
    jtok *k = &o->v[o->n++];
    memset(k, 0, sizeof(*k));
    k->t = t;
    where(L, pos, &k->line, &k->col);
    return k;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void emit_text(lexer *L, size_t start, size_t end)
{
    if (end <= start) return;
    jtok *k = push(L, T_TEXT, start);
    k->s = L->s + start;
    k->n = end - start;
}

/* Decodes a quoted string's escapes as Python's unicode-escape does. */
static int lex_string(lexer *L, jtok *k)
{
    char q = L->s[L->pos];
    size_t start = L->pos++;
    cc_buf b = CC_BUF_INIT;
    while (L->pos < L->n && L->s[L->pos] != q) {
        char ch = L->s[L->pos++];
        if (ch != '\\') {
            cc_buf_append_u8(&b, (uint8_t)ch);
            continue;
        }
        if (L->pos >= L->n) break;
        char e = L->s[L->pos++];
        unsigned cp = 0;
        int hex = 0;
        switch (e) {
        case 'n':
            cc_buf_append_u8(&b, '\n');
            break;
        case 't':
            cc_buf_append_u8(&b, '\t');
            break;
        case 'r':
            cc_buf_append_u8(&b, '\r');
            break;
        case 'b':
            cc_buf_append_u8(&b, '\b');
            break;
        case 'f':
            cc_buf_append_u8(&b, '\f');
            break;
        case 'v':
            cc_buf_append_u8(&b, '\v');
            break;
        case 'a':
            cc_buf_append_u8(&b, '\a');
            break;
        case '0':
            cc_buf_append_u8(&b, 0);
            break;
        case '\n':
            break;
        case 'x':
            hex = 2;
            break;
        case 'u':
            hex = 4;
            break;
        case 'U':
            hex = 8;
            break;
        case '\\':
        case '\'':
        case '"':
            cc_buf_append_u8(&b, (uint8_t)e);
            break;
        default: /* unknown escapes stay as written */
            cc_buf_append_u8(&b, '\\');
            cc_buf_append_u8(&b, (uint8_t)e);
        }
        if (hex) {
            for (int i = 0; i < hex; i++, L->pos++) {
                char h = L->pos < L->n ? L->s[L->pos] : 0;
                int d = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
                if (d < 0) {
                    cc_buf_free(&b);
                    return fail(L, L->pos, "bad \\x, \\u or \\U escape in a string");
                }
                cp = cp * 16 + (unsigned)d;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                cc_buf_free(&b);
                return fail(L, L->pos, "escape is not a Unicode scalar value");
            }
            uint8_t u[4];
            int m = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            if (m == 1)
                u[0] = (uint8_t)cp;
            else {
                for (int i = m - 1; i > 0; i--, cp >>= 6)
                    u[i] = (uint8_t)(0x80 | (cp & 0x3F));
                u[0] = (uint8_t)((m == 2 ? 0xC0 : m == 3 ? 0xE0 : 0xF0) | cp);
            }
            cc_buf_append(&b, u, (size_t)m);
        }
    }
    if (L->pos >= L->n) {
        cc_buf_free(&b);
        return fail(L, start, "unterminated string");
    }
    L->pos++;
    k->s = jinja_strndup(L->ar, b.data ? (const char *)b.data : "", b.len);
    k->n = b.len;
    cc_buf_free(&b);
    return 0;
}

static const char *const ops2[] = {"//", "**", "==", "!=", "<=", ">="};
static const char ops1[] = "+-*/%~<>=()[]{},.:|";

/* Tokens inside a tag up to its end; returns the position after the end
 * marker (with the whitespace it strips) and whether it ended with '\n'. */
static int lex_tag(lexer *L, bool block, bool *ended_nl)
{
    int depth = 0; /* brackets: an end marker inside them is an operator */
    for (;;) {
        while (L->pos < L->n && is_ws(L->s[L->pos]))
            L->pos++;
        if (L->pos >= L->n) return fail(L, L->n, block ? "missing %}" : "missing }}");
        const char *p = L->s + L->pos;
        size_t left = L->n - L->pos;
        char close = block ? '%' : '}';
        if (depth == 0) {
            size_t m = 0;
            bool strip = false, keep = false;
            if (left >= 3 && (p[0] == '-' || p[0] == '+') && p[1] == close && p[2] == '}') {
                m = 3;
                strip = p[0] == '-';
                keep = p[0] == '+';
            } else if (left >= 2 && p[0] == close && p[1] == '}')
                m = 2;
            if (m) {
                push(L, block ? T_BLOCK_END : T_VAR_END, L->pos);
                L->pos += m;
                *ended_nl = false;
                if (strip) {
                    while (L->pos < L->n && is_ws(L->s[L->pos])) {
                        *ended_nl = L->s[L->pos] == '\n';
                        L->pos++;
                    }
                } else if (block && !keep && L->pos < L->n && L->s[L->pos] == '\n') {
                    L->pos++; /* trim_blocks */
                    *ended_nl = true;
                }
                return 0;
            }
        }
        unsigned char ch = (unsigned char)*p;
        if (ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
            size_t s = L->pos;
            while (L->pos < L->n &&
                   (L->s[L->pos] == '_' || (L->s[L->pos] >= 'a' && L->s[L->pos] <= 'z') ||
                    (L->s[L->pos] >= 'A' && L->s[L->pos] <= 'Z') ||
                    (L->s[L->pos] >= '0' && L->s[L->pos] <= '9')))
                L->pos++;
            jtok *k = push(L, T_NAME, s);
            k->s = L->s + s;
            k->n = L->pos - s;
            continue;
        }
        if (ch >= '0' && ch <= '9') {
            size_t s = L->pos;
            bool is_float = false;
            while (L->pos < L->n &&
                   ((L->s[L->pos] >= '0' && L->s[L->pos] <= '9') || L->s[L->pos] == '_'))
                L->pos++;
            if (L->pos + 1 < L->n && L->s[L->pos] == '.' && L->s[L->pos + 1] >= '0' &&
                L->s[L->pos + 1] <= '9') {
                is_float = true;
                L->pos++;
                while (L->pos < L->n && L->s[L->pos] >= '0' && L->s[L->pos] <= '9')
                    L->pos++;
            }
            if (L->pos < L->n && (L->s[L->pos] == 'e' || L->s[L->pos] == 'E')) {
                size_t q = L->pos + 1;
                if (q < L->n && (L->s[q] == '+' || L->s[q] == '-')) q++;
                if (q < L->n && L->s[q] >= '0' && L->s[q] <= '9') {
                    is_float = true;
                    L->pos = q;
                    while (L->pos < L->n && L->s[L->pos] >= '0' && L->s[L->pos] <= '9')
                        L->pos++;
                }
            }
            char num[64];
            size_t k = 0;
            for (size_t i = s; i < L->pos && k < sizeof(num) - 1; i++)
                if (L->s[i] != '_') num[k++] = L->s[i];
            num[k] = 0;
            if (L->pos - s >= sizeof(num) - 1) return fail(L, s, "number too long");
            jtok *t = push(L, is_float ? T_FLOAT : T_INT, s);
            if (is_float)
                t->f = strtod(num, NULL);
            else {
                char *end;
                unsigned long long v = strtoull(num, &end, 10);
                if (v > INT64_MAX) return fail(L, s, "integer too large");
                t->i = (int64_t)v;
            }
            continue;
        }
        if (ch == '\'' || ch == '"') {
            jtok *k = push(L, T_STRING, L->pos);
            if (lex_string(L, k)) return -1;
            continue;
        }
        size_t m = 0;
        for (size_t i = 0; i < CC_ARRAY_LEN(ops2); i++)
            if (left >= 2 && p[0] == ops2[i][0] && p[1] == ops2[i][1]) m = 2;
        if (!m && strchr(ops1, ch) && ch) m = 1;
        if (!m) return fail(L, L->pos, "unexpected character in a tag");
        if (ch == '(' || ch == '[' || ch == '{') depth++;
        if ((ch == ')' || ch == ']' || ch == '}') && depth > 0) depth--;
        jtok *k = push(L, T_OP, L->pos);
        k->s = p;
        k->n = m;
        L->pos += m;
    }
}

/* `{% raw %}`: the text up to `{% endraw %}` as it is. */
static int lex_raw(lexer *L, size_t tag_pos)
{
    for (size_t i = L->pos; i + 1 < L->n; i++) {
        if (L->s[i] != '{' || L->s[i + 1] != '%') continue;
        size_t j = i + 2;
        bool strip_before = j < L->n && L->s[j] == '-';
        if (j < L->n && (L->s[j] == '-' || L->s[j] == '+')) j++;
        while (j < L->n && is_ws(L->s[j]))
            j++;
        if (L->n - j < 6 || memcmp(L->s + j, "endraw", 6)) continue;
        j += 6;
        while (j < L->n && is_ws(L->s[j]))
            j++;
        bool strip_after = j < L->n && L->s[j] == '-';
        if (j < L->n && (L->s[j] == '-' || L->s[j] == '+')) j++;
        if (L->n - j < 2 || L->s[j] != '%' || L->s[j + 1] != '}') continue;
        size_t end = i;
        if (strip_before)
            while (end > L->pos && is_ws(L->s[end - 1]))
                end--;
        emit_text(L, L->pos, end);
        L->pos = j + 2;
        if (strip_after)
            while (L->pos < L->n && is_ws(L->s[L->pos]))
                L->pos++;
        else if (L->pos < L->n && L->s[L->pos] == '\n')
            L->pos++;
        return 0;
    }
    return fail(L, tag_pos, "{% raw %} without {% endraw %}");
}

int jinja_lex(jinja_arena *ar, const char *src, size_t len, jtoks *out, cc_err *err)
{
    /* newlines normalised, one trailing newline dropped */
    char *s = jinja_alloc(ar, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else
            s[n++] = src[i];
    }
    if (n && s[n - 1] == '\n') n--;
    lexer L = {ar, s, n, 0, 0, 1, 1, out, err};
    bool line_start = true;
    while (L.pos < L.n) {
        size_t t = L.pos;
        while (t + 1 < L.n &&
               !(s[t] == '{' && (s[t + 1] == '{' || s[t + 1] == '%' || s[t + 1] == '#')))
            t++;
        if (t + 1 >= L.n) {
            emit_text(&L, L.pos, L.n);
            break;
        }
        char kind = s[t + 1];
        char mark = t + 2 < L.n ? s[t + 2] : 0;
        size_t end = t;
        if (mark == '-') {
            while (end > L.pos && is_ws(s[end - 1]))
                end--;
        } else if (kind != '{' && mark != '+') {
            /* lstrip_blocks: only blanks between the line's start and the tag */
            size_t ls = end;
            while (ls > L.pos && (s[ls - 1] == ' ' || s[ls - 1] == '\t' || s[ls - 1] == '\r' ||
                                  s[ls - 1] == '\f' || s[ls - 1] == '\v'))
                ls--;
            if ((ls > L.pos && s[ls - 1] == '\n') || (ls == L.pos && line_start)) end = ls;
        }
        emit_text(&L, L.pos, end);
        L.pos = t + 2 + (mark == '-' || mark == '+');
        bool nl = false;
        if (kind == '#') {
            size_t e = L.pos;
            while (e + 1 < L.n && !(s[e] == '#' && s[e + 1] == '}'))
                e++;
            if (e + 1 >= L.n) return fail(&L, t, "unterminated comment");
            bool strip = e > L.pos && s[e - 1] == '-';
            L.pos = e + 2;
            if (strip) {
                while (L.pos < L.n && is_ws(s[L.pos])) {
                    nl = s[L.pos] == '\n';
                    L.pos++;
                }
            } else if (L.pos < L.n && s[L.pos] == '\n') {
                L.pos++;
                nl = true;
            }
            line_start = nl;
            continue;
        }
        /* {% raw %} */
        if (kind == '%') {
            size_t q = L.pos;
            while (q < L.n && is_ws(s[q]))
                q++;
            if (L.n - q >= 3 && !memcmp(s + q, "raw", 3)) {
                size_t r = q + 3;
                while (r < L.n && is_ws(s[r]))
                    r++;
                bool strip = r < L.n && s[r] == '-';
                if (r < L.n && (s[r] == '-' || s[r] == '+')) r++;
                if (L.n - r >= 2 && s[r] == '%' && s[r + 1] == '}') {
                    L.pos = r + 2;
                    if (strip)
                        while (L.pos < L.n && is_ws(s[L.pos]))
                            L.pos++;
                    else if (L.pos < L.n && s[L.pos] == '\n')
                        L.pos++;
                    if (lex_raw(&L, t)) return -1;
                    line_start = L.pos > 0 && s[L.pos - 1] == '\n';
                    continue;
                }
            }
        }
        push(&L, kind == '{' ? T_VAR_BEGIN : T_BLOCK_BEGIN, t);
        if (lex_tag(&L, kind == '%', &nl)) return -1;
        line_start = nl;
    }
    push(&L, T_EOF, L.n);
    return 0;
}
