/*
 * A small backtracking regular-expression engine over code points, enough
 * for the pre-tokenizer patterns that tokenizer.json files and llama.cpp
 * use: alternation, groups ((?:...), (?i:...), captures treated as plain
 * groups), lookahead (?=...) (?!...), classes with ranges, \s \S \d \p{X},
 * the quantifiers ? * + {m} {m,} {m,n} (greedy), and the anchors ^ $.
 *
 * Quantifiers other than ? apply only to things that consume exactly one
 * code point (a class, or a group that reduces to one such as
 * ((?=[\p{L}])([^a-z]))), so repetition is a loop, not recursion: the
 * recursion depth is bounded by the pattern's size, never by the text's.
 * Matching follows Perl/ECMAScript semantics (first alternative that
 * matches, greedy quantifiers), as the reference tokenizers do.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/pretok.h"
#include "engine/unicode.h"

typedef struct rx_term {
    bool neg;
    uint32_t flags;    /* eng_ucd_flag bits: the code point has any of them */
    uint32_t (*rg)[2]; /* inclusive ranges */
    size_t nrg;
} rx_term;

typedef struct rx_set { /* all terms must match */
    rx_term *t;
    size_t nt;
} rx_set;

enum { N_SET, N_GROUP, N_NLOOK, N_PLOOK, N_BOL, N_EOL };

typedef struct rx_alt rx_alt;

typedef struct rx_node {
    int kind;
    uint32_t min, max;
    int idx;     /* N_SET: its slot in eng_rx_runs */
    rx_set set;  /* N_SET */
    rx_alt *alt; /* groups and lookaheads */
} rx_node;

typedef struct rx_seq {
    rx_node *v;
    size_t n;
} rx_seq;

struct rx_alt {
    rx_seq *v;
    size_t n;
};

struct eng_rx {
    rx_alt *top;
    int n_sets;
};

/* ------------------------------------------------------------- parsing */

typedef struct parser {
    const char *s;
    size_t n, i;
    cc_err *err;
    int depth;
} parser;

static bool at_end(const parser *p)
{
    return p->i >= p->n;
}

static uint32_t peek(const parser *p)
{
    uint32_t c;
    eng_utf8_decode(p->s + p->i, p->n - p->i, &c);
    return c;
}

static uint32_t next(parser *p)
{
    uint32_t c;
    p->i += eng_utf8_decode(p->s + p->i, p->n - p->i, &c);
    return c;
}

static int perr(parser *p, const char *what)
{
    return cc_err_set(p->err, "pre-tokenizer pattern: %s at offset %zu", what, p->i);
}

static void term_range(rx_term *t, uint32_t lo, uint32_t hi)
{
    t->rg = cc_realloc(t->rg, (t->nrg + 1) * sizeof(*t->rg));
    t->rg[t->nrg][0] = lo;
    t->rg[t->nrg][1] = hi;
    t->nrg++;
}

/* Adds lo..hi, and under (?i:) the other ASCII case of its letters. */
static void term_range_ci(rx_term *t, uint32_t lo, uint32_t hi, bool ci)
{
    term_range(t, lo, hi);
    if (!ci) return;
    for (uint32_t c = lo; c <= hi && c < 128; c++) {
        if (c >= 'a' && c <= 'z') term_range(t, c - 32, c - 32);
        if (c >= 'A' && c <= 'Z') term_range(t, c + 32, c + 32);
    }
}

static int prop_flags(parser *p, uint32_t *out)
{
    static const struct {
        const char *name;
        uint32_t flags;
    } props[] = {
        {"L", ENG_U_L},   {"N", ENG_U_N},   {"P", ENG_U_P},   {"S", ENG_U_S},   {"M", ENG_U_M},
        {"Z", ENG_U_Z},   {"C", ENG_U_C},   {"Lu", ENG_U_LU}, {"Ll", ENG_U_LL}, {"Lt", ENG_U_LT},
        {"Lm", ENG_U_LM}, {"Lo", ENG_U_LO}, {"Nd", ENG_U_ND},
    };
    if (at_end(p) || next(p) != '{') return perr(p, "\\p without {");
    size_t start = p->i;
    while (!at_end(p) && p->s[p->i] != '}')
        p->i++;
    if (at_end(p)) return perr(p, "unterminated \\p{");
    size_t len = p->i - start;
    p->i++;
    for (size_t k = 0; k < CC_ARRAY_LEN(props); k++)
        if (strlen(props[k].name) == len && !memcmp(props[k].name, p->s + start, len)) {
            *out = props[k].flags;
            return 0;
        }
    return perr(p, "unsupported Unicode property");
}

/* After a backslash: a class escape (sets *flags / *neg) or a literal. */
typedef struct esc {
    bool is_class, neg;
    uint32_t flags;
    uint32_t cp;
    bool digit_range; /* \d */
} esc;

static int parse_escape(parser *p, esc *e)
{
    memset(e, 0, sizeof(*e));
    if (at_end(p)) return perr(p, "trailing backslash");
    uint32_t c = next(p);
    switch (c) {
    case 's':
    case 'S':
        e->is_class = true;
        e->neg = c == 'S';
        e->flags = ENG_U_WS;
        return 0;
    case 'd':
    case 'D':
        e->is_class = true;
        e->neg = c == 'D';
        e->flags = ENG_U_ND;
        return 0;
    case 'p':
    case 'P':
        e->is_class = true;
        e->neg = c == 'P';
        return prop_flags(p, &e->flags);
    case 'r':
        e->cp = '\r';
        return 0;
    case 'n':
        e->cp = '\n';
        return 0;
    case 't':
        e->cp = '\t';
        return 0;
    case 'f':
        e->cp = '\f';
        return 0;
    case 'v':
        e->cp = '\v';
        return 0;
    case 'b':
    case 'B':
    case 'w':
    case 'W':
    case 'u':
    case 'x':
        return perr(p, "unsupported escape");
    default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            return perr(p, "unsupported escape");
        e->cp = c; /* an escaped punctuation character stands for itself */
        return 0;
    }
}

static int parse_class(parser *p, bool ci, rx_set *out)
{
    rx_term t = {0};
    if (!at_end(p) && peek(p) == '^') {
        next(p);
        t.neg = true;
    }
    for (;;) {
        if (at_end(p)) {
            free(t.rg);
            return perr(p, "unterminated [");
        }
        uint32_t c = next(p), lo;
        if (c == ']') break;
        if (c == '[') {
            free(t.rg);
            return perr(p, "nested class");
        }
        if (c == '\\') {
            esc e;
            if (parse_escape(p, &e)) {
                free(t.rg);
                return -1;
            }
            if (e.is_class) {
                if (e.neg) {
                    free(t.rg);
                    return perr(p, "negated class escape inside []");
                }
                t.flags |= e.flags;
                continue;
            }
            lo = e.cp;
        } else {
            lo = c;
        }
        uint32_t hi = lo;
        if (p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
            p->i++;
            hi = next(p);
            if (hi == '\\') {
                esc e;
                if (parse_escape(p, &e) || e.is_class) {
                    free(t.rg);
                    return perr(p, "bad range end");
                }
                hi = e.cp;
            }
            if (hi < lo) {
                free(t.rg);
                return perr(p, "reversed range");
            }
        }
        term_range_ci(&t, lo, hi, ci);
    }
    out->t = cc_malloc(sizeof(rx_term));
    out->t[0] = t;
    out->nt = 1;
    return 0;
}

static void set_free(rx_set *s)
{
    for (size_t i = 0; i < s->nt; i++)
        free(s->t[i].rg);
    free(s->t);
    s->t = NULL;
    s->nt = 0;
}

static void alt_free(rx_alt *a);

static void node_free(rx_node *n)
{
    set_free(&n->set);
    alt_free(n->alt);
}

static void alt_free(rx_alt *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->n; i++) {
        for (size_t k = 0; k < a->v[i].n; k++)
            node_free(&a->v[i].v[k]);
        free(a->v[i].v);
    }
    free(a->v);
    free(a);
}

/* Appends copies of src's terms to dst (flipping the one term of a negative
 * lookahead). */
static bool set_append(rx_set *dst, const rx_set *src, bool negate)
{
    if (negate && src->nt != 1) return false;
    dst->t = cc_realloc(dst->t, (dst->nt + src->nt) * sizeof(rx_term));
    for (size_t i = 0; i < src->nt; i++) {
        rx_term t = src->t[i];
        t.rg = cc_malloc((t.nrg ? t.nrg : 1) * sizeof(*t.rg));
        if (t.nrg) memcpy(t.rg, src->t[i].rg, t.nrg * sizeof(*t.rg));
        if (negate) t.neg = !t.neg;
        dst->t[dst->nt++] = t;
    }
    return true;
}

/* A group that always consumes exactly one code point, as a set: lookaheads
 * of single code points followed by one code point. */
static bool reduce_group(const rx_alt *a, rx_set *out)
{
    if (!a || a->n != 1 || !a->v[0].n) return false;
    const rx_seq *s = &a->v[0];
    rx_set acc = {0};
    for (size_t i = 0; i < s->n; i++) {
        const rx_node *nd = &s->v[i];
        bool last = i + 1 == s->n, ok;
        rx_set one = {0};
        if (nd->kind == N_SET && nd->min == 1 && nd->max == 1)
            ok = last && set_append(&acc, &nd->set, false);
        else if (nd->kind == N_GROUP && nd->min == 1 && nd->max == 1)
            ok = last && reduce_group(nd->alt, &one) && set_append(&acc, &one, false);
        else if ((nd->kind == N_PLOOK || nd->kind == N_NLOOK) && !last)
            ok = reduce_group(nd->alt, &one) && set_append(&acc, &one, nd->kind == N_NLOOK);
        else
            ok = false;
        set_free(&one);
        if (!ok) {
            set_free(&acc);
            return false;
        }
    }
    *out = acc;
    return true;
}

static rx_alt *parse_alt(parser *p, bool ci);

static int parse_quant(parser *p, rx_node *nd)
{
    nd->min = nd->max = 1;
    if (at_end(p)) return 0;
    uint32_t c = peek(p);
    if (c == '?') {
        nd->min = 0;
    } else if (c == '*') {
        nd->min = 0;
        nd->max = UINT32_MAX;
    } else if (c == '+') {
        nd->max = UINT32_MAX;
    } else if (c == '{') {
        next(p);
        char *end;
        unsigned long lo = strtoul(p->s + p->i, &end, 10), hi = lo;
        if (end == p->s + p->i || lo > 100000) return perr(p, "bad {m,n}");
        p->i = (size_t)(end - p->s);
        if (!at_end(p) && p->s[p->i] == ',') {
            p->i++;
            hi = UINT32_MAX;
            if (!at_end(p) && p->s[p->i] != '}') {
                hi = strtoul(p->s + p->i, &end, 10);
                if (end == p->s + p->i || hi > 100000 || hi < lo) return perr(p, "bad {m,n}");
                p->i = (size_t)(end - p->s);
            }
        }
        if (at_end(p) || p->s[p->i] != '}') return perr(p, "unterminated {m,n}");
        nd->min = (uint32_t)lo;
        nd->max = (uint32_t)hi;
    } else {
        return 0;
    }
    next(p);
    if (!at_end(p) && (peek(p) == '?' || peek(p) == '+'))
        return perr(p, "lazy and possessive quantifiers are not supported");
    if (nd->kind == N_BOL || nd->kind == N_EOL || nd->kind == N_PLOOK || nd->kind == N_NLOOK)
        return perr(p, "quantified assertion");
    if (nd->kind == N_GROUP && !(nd->min <= 1 && nd->max == 1)) {
        rx_set s = {0};
        if (!reduce_group(nd->alt, &s))
            return perr(p, "repeated group must match exactly one character");
        alt_free(nd->alt);
        nd->alt = NULL;
        nd->kind = N_SET;
        nd->set = s;
    }
    return 0;
}

static int parse_atom(parser *p, bool ci, rx_node *nd)
{
    memset(nd, 0, sizeof(*nd));
    uint32_t c = next(p);
    if (c == '(') {
        if (++p->depth > 32) return perr(p, "groups nested too deeply");
        nd->kind = N_GROUP;
        bool gci = ci;
        if (!at_end(p) && peek(p) == '?') {
            next(p);
            uint32_t k = at_end(p) ? 0 : next(p);
            if (k == 'i') {
                if (at_end(p) || next(p) != ':') return perr(p, "unsupported group flag");
                gci = true;
            } else if (k == '!') {
                nd->kind = N_NLOOK;
            } else if (k == '=') {
                nd->kind = N_PLOOK;
            } else if (k != ':') {
                return perr(p, "unsupported group kind");
            }
        }
        nd->alt = parse_alt(p, gci);
        if (!nd->alt) return -1;
        if (at_end(p) || next(p) != ')') return perr(p, "missing )");
        p->depth--;
    } else if (c == '[') {
        nd->kind = N_SET;
        if (parse_class(p, ci, &nd->set)) return -1;
    } else if (c == '\\') {
        esc e;
        if (parse_escape(p, &e)) return -1;
        nd->kind = N_SET;
        nd->set.t = cc_calloc(1, sizeof(rx_term));
        nd->set.nt = 1;
        if (e.is_class) {
            nd->set.t[0].neg = e.neg;
            nd->set.t[0].flags = e.flags;
        } else {
            term_range_ci(&nd->set.t[0], e.cp, e.cp, ci);
        }
    } else if (c == '.') {
        nd->kind = N_SET;
        nd->set.t = cc_calloc(1, sizeof(rx_term));
        nd->set.nt = 1;
        nd->set.t[0].neg = true;
        term_range(&nd->set.t[0], '\n', '\n');
    } else if (c == '^' || c == '$') {
        nd->kind = c == '^' ? N_BOL : N_EOL;
    } else if (c == ')' || c == '|' || c == '*' || c == '+' || c == '?' || c == '{') {
        return perr(p, "misplaced operator");
    } else {
        nd->kind = N_SET;
        nd->set.t = cc_calloc(1, sizeof(rx_term));
        nd->set.nt = 1;
        term_range_ci(&nd->set.t[0], c, c, ci);
    }
    return parse_quant(p, nd);
}

static rx_alt *parse_alt(parser *p, bool ci)
{
    rx_alt *a = cc_calloc(1, sizeof(*a));
    for (;;) {
        a->v = cc_realloc(a->v, (a->n + 1) * sizeof(rx_seq));
        rx_seq *s = &a->v[a->n++];
        memset(s, 0, sizeof(*s));
        while (!at_end(p) && peek(p) != '|' && peek(p) != ')') {
            s->v = cc_realloc(s->v, (s->n + 1) * sizeof(rx_node));
            if (parse_atom(p, ci, &s->v[s->n])) {
                node_free(&s->v[s->n]);
                alt_free(a);
                return NULL;
            }
            s->n++;
        }
        if (at_end(p) || peek(p) != '|') return a;
        next(p);
    }
}

static void number_sets(rx_alt *a, int *n)
{
    for (size_t i = 0; a && i < a->n; i++)
        for (size_t k = 0; k < a->v[i].n; k++) {
            rx_node *nd = &a->v[i].v[k];
            if (nd->kind == N_SET) nd->idx = (*n)++;
            number_sets(nd->alt, n);
        }
}

eng_rx *eng_rx_compile(const char *pattern, cc_err *err)
{
    parser p = {pattern, strlen(pattern), 0, err, 0};
    rx_alt *a = parse_alt(&p, false);
    if (!a) return NULL;
    if (!at_end(&p)) {
        alt_free(a);
        perr(&p, "unbalanced )");
        return NULL;
    }
    eng_rx *r = cc_calloc(1, sizeof(*r));
    r->top = a;
    number_sets(a, &r->n_sets);
    return r;
}

void eng_rx_free(eng_rx *r)
{
    if (!r) return;
    alt_free(r->top);
    free(r);
}

/* ------------------------------------------------------------ matching */

static bool term_match(const rx_term *t, uint32_t c, uint32_t flags)
{
    bool hit = (t->flags & flags) != 0;
    for (size_t i = 0; !hit && i < t->nrg; i++)
        hit = c >= t->rg[i][0] && c <= t->rg[i][1];
    return hit != t->neg;
}

static bool set_match(const rx_set *s, uint32_t c)
{
    uint32_t flags = eng_ucd_flags(c);
    for (size_t i = 0; i < s->nt; i++)
        if (!term_match(&s->t[i], c, flags)) return false;
    return true;
}

/* What is left to match: the rest of a sequence, then the enclosing ones. */
typedef struct cont {
    const rx_seq *seq;
    size_t i;
    const struct cont *up;
} cont;

typedef struct subject {
    const uint32_t *cp;
    size_t n;
    eng_rx_runs *runs; /* may be NULL */
} subject;

/* Whether what is left to match starts with $. */
static bool next_is_eol(const cont *k)
{
    while (k && k->i == k->seq->n)
        k = k->up;
    return k && k->seq->v[k->i].kind == N_EOL;
}

/* End of the run of code points in nd's class starting at pos. With run
 * memory, a run is scanned once however many positions inside it are
 * tried (the pre-tokenizer tries every position of a piece). */
static size_t run_end(const subject *s, const rx_node *nd, size_t pos)
{
    size_t *m = s->runs ? &s->runs->v[2 * (size_t)nd->idx] : NULL;
    if (m && m[0] != SIZE_MAX && pos >= m[0] && pos <= m[1]) return m[1];
    size_t e = pos;
    if (m)
        while (e < s->n && set_match(&nd->set, s->cp[e]))
            e++;
    else
        while (e - pos < nd->max && e < s->n && set_match(&nd->set, s->cp[e]))
            e++;
    if (m) {
        m[0] = pos;
        m[1] = e;
    }
    return e;
}

static bool match(const subject *s, size_t pos, const cont *k, size_t *end);

static bool match_alt(const subject *s, const rx_alt *a, size_t pos, const cont *up, size_t *end)
{
    for (size_t i = 0; i < a->n; i++) {
        cont g = {&a->v[i], 0, up};
        if (match(s, pos, &g, end)) return true;
    }
    return false;
}

static bool match(const subject *s, size_t pos, const cont *k, size_t *end)
{
    while (k && k->i == k->seq->n)
        k = k->up;
    if (!k) {
        *end = pos;
        return true;
    }
    const rx_node *nd = &k->seq->v[k->i];
    cont rest = {k->seq, k->i + 1, k->up};
    size_t e;
    switch (nd->kind) {
    case N_SET: {
        size_t c = CC_MIN(run_end(s, nd, pos) - pos, (size_t)nd->max);
        if (c < nd->min) return false;
        if (next_is_eol(&rest)) /* only a run to the very end can match */
            return pos + c == s->n && match(s, pos + c, &rest, end);
        for (size_t j = c + 1; j-- > nd->min;)
            if (match(s, pos + j, &rest, end)) return true;
        return false;
    }
    case N_GROUP:
        if (match_alt(s, nd->alt, pos, &rest, end)) return true;
        return nd->min == 0 && match(s, pos, &rest, end);
    case N_PLOOK:
        return match_alt(s, nd->alt, pos, NULL, &e) && match(s, pos, &rest, end);
    case N_NLOOK:
        return !match_alt(s, nd->alt, pos, NULL, &e) && match(s, pos, &rest, end);
    case N_BOL:
        return pos == 0 && match(s, pos, &rest, end);
    default: /* N_EOL */
        return pos == s->n && match(s, pos, &rest, end);
    }
}

void eng_rx_runs_reset(eng_rx_runs *m, const eng_rx *r)
{
    size_t need = 2 * (size_t)(r->n_sets ? r->n_sets : 1);
    if (m->n < need) {
        m->v = cc_realloc(m->v, need * sizeof(size_t));
        m->n = need;
    }
    for (size_t i = 0; i < need; i += 2)
        m->v[i] = SIZE_MAX;
}

void eng_rx_runs_free(eng_rx_runs *m)
{
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

size_t eng_rx_match_at(const eng_rx *r, const uint32_t *cp, size_t n, size_t pos, eng_rx_runs *runs)
{
    subject s = {cp, n, runs};
    size_t end;
    if (!match_alt(&s, r->top, pos, NULL, &end)) return 0;
    return end - pos;
}
