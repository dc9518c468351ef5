/*
 * Grammars for constrained sampling: a GBNF-like text (rules of sequences,
 * alternatives, groups, repetition and byte classes) compiled into one flat
 * array of elements, and a byte-level matcher over it.
 *
 * The matcher is a pushdown automaton run on every parse at once: its state
 * is a set of stacks of element positions (the top is the next byte class
 * to match; an empty stack means a complete sentence). Grammars work on
 * bytes, not code points: a JSON string's UTF-8 is spelled out as byte
 * sequences by whoever writes the grammar (json_schema.c), which keeps the
 * matcher a bit test per stack and lets a token's bytes be fed one by one
 * even when they split a character.
 *
 * Grammar texts are outside input (the JSON-schema compiler writes them from
 * a request): sizes are bounded, undefined rules and left recursion (which
 * would make the matcher loop) are refused with the rule's name.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

#define MAX_RULES 8192
#define MAX_ELEMS (1u << 20)
#define MAX_REPEAT 256   /* {m,n} bounds */
#define MAX_NESTING 64   /* parentheses */
#define MAX_STACKS 256   /* parses kept per matcher state */
#define MAX_DEPTH 100000 /* stack length (right-nested rules grow it per byte) */

enum { GE_END = 0, GE_ALT, GE_REF, GE_CLASS };

typedef struct gel {
    uint32_t kind, arg; /* REF: rule id; CLASS: class id */
} gel;

typedef struct grule {
    char *name; /* NULL for rules made for groups and repetitions */
    gel *els;   /* alternatives separated by GE_ALT, ended by GE_END */
    size_t n, cap;
    bool defined;
} grule;

struct engine_grammar {
    gel *els; /* every rule's elements, one after the other */
    size_t n_els;
    uint32_t *rule_start; /* first element of each rule */
    uint32_t **alts;      /* per rule: element positions where its alternatives start */
    uint32_t *n_alts;
    uint32_t n_rules, root;
    uint8_t (*classes)[32]; /* 256-bit byte sets */
    size_t n_classes;
};

/* ---------------------------------------------------------------- parser */

typedef struct gparse {
    const char *s, *end;
    grule *rules;
    size_t n_rules, cap_rules;
    uint8_t (*classes)[32];
    size_t n_classes, cap_classes;
    int32_t byte_class[256]; /* class of a single byte, -1 until made */
    size_t n_elems;
    int nesting;
    cc_err *err;
    bool failed;
} gparse;

static int perr(gparse *p, const char *fmt, const char *arg)
{
    if (!p->failed) {
        p->failed = true;
        cc_err_set(p->err, fmt, arg);
    }
    return -1;
}

static uint32_t rule_new(gparse *p, const char *name, size_t len)
{
    if (p->n_rules == p->cap_rules) {
        p->cap_rules = p->cap_rules ? p->cap_rules * 2 : 64;
        p->rules = cc_realloc(p->rules, p->cap_rules * sizeof(grule));
    }
    grule *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof(*r));
    if (name) r->name = cc_strndup(name, len);
    return (uint32_t)p->n_rules++;
}

static uint32_t rule_by_name(gparse *p, const char *name, size_t len)
{
    for (size_t i = 0; i < p->n_rules; i++)
        if (p->rules[i].name && strlen(p->rules[i].name) == len &&
            !memcmp(p->rules[i].name, name, len))
            return (uint32_t)i;
    return rule_new(p, name, len);
}

static void emit(gparse *p, uint32_t rule, uint32_t kind, uint32_t arg)
{
    grule *r = &p->rules[rule];
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->els = cc_realloc(r->els, r->cap * sizeof(gel));
    }
    r->els[r->n++] = (gel){kind, arg};
    p->n_elems++;
}

static uint32_t class_new(gparse *p)
{
    if (p->n_classes == p->cap_classes) {
        p->cap_classes = p->cap_classes ? p->cap_classes * 2 : 64;
        p->classes = cc_realloc(p->classes, p->cap_classes * 32);
    }
    memset(p->classes[p->n_classes], 0, 32);
    return (uint32_t)p->n_classes++;
}

static uint32_t class_of_byte(gparse *p, uint8_t c)
{
    if (p->byte_class[c] < 0) {
        uint32_t id = class_new(p);
        p->classes[id][c >> 3] |= (uint8_t)(1u << (c & 7));
        p->byte_class[c] = (int32_t)id;
    }
    return (uint32_t)p->byte_class[c];
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Spaces, newlines and # comments. */
static void skip_space(gparse *p)
{
    while (p->s < p->end) {
        if (*p->s == '#') {
            while (p->s < p->end && *p->s != '\n')
                p->s++;
        } else if (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r') {
            p->s++;
        } else {
            break;
        }
    }
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One character of a literal or class: a byte, or an escape. \xHH is the byte HH; \uHHHH its
 * code point's UTF-8 (written into out, returns the length); -1 on a bad escape. */
static int read_char(gparse *p, uint8_t out[4])
{
    if (p->s >= p->end) return perr(p, "grammar: %s", "unterminated literal or class");
    char c = *p->s++;
    if (c != '\\') {
        out[0] = (uint8_t)c;
        return 1;
    }
    if (p->s >= p->end) return perr(p, "grammar: %s", "escape at the end");
    c = *p->s++;
    switch (c) {
    case 'n':
        out[0] = '\n';
        return 1;
    case 't':
        out[0] = '\t';
        return 1;
    case 'r':
        out[0] = '\r';
        return 1;
    case '\\':
    case '"':
    case ']':
    case '[':
    case '-':
    case '^':
        out[0] = (uint8_t)c;
        return 1;
    case 'x':
    case 'u': {
        int nd = c == 'x' ? 2 : 4;
        uint32_t v = 0;
        for (int i = 0; i < nd; i++) {
            int h = p->s < p->end ? hex_val(*p->s) : -1;
            if (h < 0) return perr(p, "grammar: %s", "bad hex escape");
            v = v * 16 + (uint32_t)h;
            p->s++;
        }
        if (c == 'x' || v < 0x80) {
            out[0] = (uint8_t)v;
            return 1;
        }
        if (v < 0x800) {
            out[0] = (uint8_t)(0xc0 | (v >> 6));
            out[1] = (uint8_t)(0x80 | (v & 0x3f));
            return 2;
        }
        out[0] = (uint8_t)(0xe0 | (v >> 12));
        out[1] = (uint8_t)(0x80 | ((v >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (v & 0x3f));
        return 3;
    }
    default:
        return perr(p, "grammar: unknown escape '\\%.1s'", p->s - 1);
    }
}

static int parse_alts(gparse *p, uint32_t rule);

/* [abc] [^a-z\x80-\xff]: one byte class element. Classes hold bytes: a character of
 * two or more UTF-8 bytes is refused (write the byte sequence instead). */
static int parse_class(gparse *p, uint32_t rule)
{
    bool neg = p->s < p->end && *p->s == '^';
    if (neg) p->s++;
    uint32_t id = class_new(p);
    uint8_t set[32] = {0};
    while (p->s < p->end && *p->s != ']') {
        uint8_t a[4], b[4];
        int n = read_char(p, a);
        if (n < 0) return -1;
        if (n != 1) return perr(p, "grammar: %s", "a class holds single bytes (use \\xHH)");
        uint8_t lo = a[0], hi = a[0];
        if (p->s + 1 < p->end && *p->s == '-' && p->s[1] != ']') {
            p->s++;
            if ((n = read_char(p, b)) < 0) return -1;
            if (n != 1) return perr(p, "grammar: %s", "a class holds single bytes (use \\xHH)");
            hi = b[0];
            if (hi < lo) return perr(p, "grammar: %s", "class range out of order");
        }
        for (unsigned c = lo; c <= hi; c++)
            set[c >> 3] |= (uint8_t)(1u << (c & 7));
    }
    if (p->s >= p->end) return perr(p, "grammar: %s", "unterminated class");
    p->s++;
    for (int i = 0; i < 32; i++)
        p->classes[id][i] = neg ? (uint8_t)~set[i] : set[i];
    emit(p, rule, GE_CLASS, id);
    return 0;
}

static int parse_literal(gparse *p, uint32_t rule)
{
    while (p->s < p->end && *p->s != '"') {
        uint8_t b[4];
        int n = read_char(p, b);
        if (n < 0) return -1;
        for (int i = 0; i < n; i++)
            emit(p, rule, GE_CLASS, class_of_byte(p, b[i]));
    }
    if (p->s >= p->end) return perr(p, "grammar: %s", "unterminated literal");
    p->s++;
    return 0;
}

static int parse_uint(gparse *p, long *out)
{
    if (p->s >= p->end || *p->s < '0' || *p->s > '9') return perr(p, "grammar: %s", "bad {m,n}");
    long v = 0;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
        v = v * 10 + (*p->s++ - '0');
        if (v > MAX_REPEAT) return perr(p, "grammar: %s", "repetition bound too large");
    }
    *out = v;
    return 0;
}

/* The item just parsed (elements [from, n) of rule) repeated min..max times (max < 0:
 * unbounded): moved into a rule of its own, referenced min times, then a chain of optional
 * references (or a right-recursive loop for unbounded). */
static int repeat(gparse *p, uint32_t rule, size_t from, long min, long max)
{
    grule *r = &p->rules[rule];
    size_t n = r->n - from;
    uint32_t item = rule_new(p, NULL, 0);
    r = &p->rules[rule]; /* rule_new may move the array */
    gel *copy = cc_malloc(n * sizeof(gel));
    memcpy(copy, r->els + from, n * sizeof(gel));
    r->n = from;
    p->n_elems -= n;
    for (size_t i = 0; i < n; i++)
        emit(p, item, copy[i].kind, copy[i].arg);
    free(copy);
    emit(p, item, GE_END, 0);
    for (long i = 0; i < min; i++)
        emit(p, rule, GE_REF, item);
    if (max < 0) { /* loop ::= item loop | "" */
        uint32_t loop = rule_new(p, NULL, 0);
        emit(p, loop, GE_REF, item);
        emit(p, loop, GE_REF, loop);
        emit(p, loop, GE_ALT, 0);
        emit(p, loop, GE_END, 0);
        emit(p, rule, GE_REF, loop);
    } else if (max > min) { /* opt_k ::= item opt_{k+1} | "" , nested so parses stay unique */
        uint32_t next = UINT32_MAX;
        for (long i = max - min; i > 0; i--) {
            uint32_t opt = rule_new(p, NULL, 0);
            emit(p, opt, GE_REF, item);
            if (next != UINT32_MAX) emit(p, opt, GE_REF, next);
            emit(p, opt, GE_ALT, 0);
            emit(p, opt, GE_END, 0);
            next = opt;
        }
        emit(p, rule, GE_REF, next);
    }
    return 0;
}

/* True when the text ahead is `name ::=` (the next rule starts). */
static bool at_rule_start(gparse *p)
{
    const char *q = p->s;
    while (q < p->end && is_name_char(*q))
        q++;
    if (q == p->s) return false;
    while (q < p->end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
        q++;
    return p->end - q >= 3 && !memcmp(q, "::=", 3);
}

/* A sequence of items (ends at '|', ')', the end, or the next rule). */
static int parse_seq(gparse *p, uint32_t rule)
{
    for (;;) {
        skip_space(p);
        if (p->failed) return -1;
        if (p->s >= p->end || *p->s == '|' || *p->s == ')') return 0;
        if (p->n_rules > MAX_RULES || p->n_elems > MAX_ELEMS)
            return perr(p, "grammar: %s", "too large");
        size_t from = p->rules[rule].n;
        char c = *p->s;
        if (c == '"') {
            p->s++;
            if (parse_literal(p, rule) < 0) return -1;
        } else if (c == '[') {
            p->s++;
            if (parse_class(p, rule) < 0) return -1;
        } else if (c == '(') {
            p->s++;
            if (++p->nesting > MAX_NESTING) return perr(p, "grammar: %s", "nested too deep");
            uint32_t g = rule_new(p, NULL, 0);
            if (parse_alts(p, g) < 0) return -1;
            skip_space(p);
            if (p->s >= p->end || *p->s != ')') return perr(p, "grammar: %s", "missing ')'");
            p->s++;
            p->nesting--;
            emit(p, rule, GE_REF, g);
        } else if (is_name_char(c)) {
            if (at_rule_start(p)) return 0;
            const char *n0 = p->s;
            while (p->s < p->end && is_name_char(*p->s))
                p->s++;
            emit(p, rule, GE_REF, rule_by_name(p, n0, (size_t)(p->s - n0)));
        } else {
            return perr(p, "grammar: unexpected '%.1s'", p->s);
        }
        if (p->s < p->end && p->rules[rule].n == from && strchr("*+?{", *p->s)) {
            /* An empty item ("") repeated is still empty: its postfix is read and dropped. */
            if (*p->s == '{')
                while (p->s < p->end && *p->s != '}')
                    p->s++;
            if (p->s >= p->end) return perr(p, "grammar: %s", "bad {m,n}");
            p->s++;
        } else if (p->s < p->end && p->rules[rule].n > from) {
            c = *p->s;
            long min = -1, max = -1;
            if (c == '*') min = 0;
            if (c == '+') min = 1;
            if (c == '?') min = 0, max = 1;
            if (c == '{') {
                p->s++;
                if (parse_uint(p, &min) < 0) return -1;
                max = min;
                if (p->s < p->end && *p->s == ',') {
                    p->s++;
                    max = -1;
                    if (p->s < p->end && *p->s != '}' && parse_uint(p, &max) < 0) return -1;
                    if (max >= 0 && max < min) return perr(p, "grammar: %s", "bad {m,n}");
                }
                if (p->s >= p->end || *p->s != '}') return perr(p, "grammar: %s", "bad {m,n}");
            }
            if (min >= 0) {
                p->s++;
                if (repeat(p, rule, from, min, max) < 0) return -1;
            }
        }
    }
}

static int parse_alts(gparse *p, uint32_t rule)
{
    for (;;) {
        if (parse_seq(p, rule) < 0) return -1;
        if (p->s < p->end && *p->s == '|') {
            p->s++;
            emit(p, rule, GE_ALT, 0);
            continue;
        }
        emit(p, rule, GE_END, 0);
        return 0;
    }
}

/* nullable[r]: the rule can match the empty string (a fixpoint). */
static void compute_nullable(const engine_grammar *g, bool *nullable)
{
    bool changed = true;
    while (changed) {
        changed = false;
        for (uint32_t r = 0; r < g->n_rules; r++) {
            if (nullable[r]) continue;
            for (uint32_t a = 0; a < g->n_alts[r]; a++) {
                const gel *e = g->els + g->alts[r][a];
                while (e->kind == GE_REF && nullable[e->arg])
                    e++;
                if (e->kind == GE_END || e->kind == GE_ALT) {
                    nullable[r] = changed = true;
                    break;
                }
            }
        }
    }
}

/* Left recursion (a rule reaching itself before any byte) would make the matcher's
 * expansion loop forever: found by a depth-first walk of the "can start with" graph. */
static int check_left_recursion(const engine_grammar *g, const bool *nullable, uint32_t r,
                                uint8_t *color, cc_err *err, const char *const *names)
{
    color[r] = 1;
    for (uint32_t a = 0; a < g->n_alts[r]; a++) {
        for (const gel *e = g->els + g->alts[r][a]; e->kind == GE_REF; e++) {
            if (color[e->arg] == 1)
                return cc_err_set(err, "grammar: left recursion through rule '%s'",
                                  names[e->arg] ? names[e->arg] : "(group)");
            if (!color[e->arg] && check_left_recursion(g, nullable, e->arg, color, err, names) < 0)
                return -1;
            if (!nullable[e->arg]) break;
        }
    }
    color[r] = 2;
    return 0;
}

void engine_grammar_free(engine_grammar *g)
{
    if (!g) return;
    free(g->els);
    free(g->rule_start);
    for (uint32_t r = 0; r < g->n_rules; r++)
        free(g->alts[r]);
    free(g->alts);
    free(g->n_alts);
    free(g->classes);
    free(g);
}

engine_grammar *engine_grammar_parse(const char *text, size_t len, const char *root, cc_err *err)
{
    gparse p = {.s = text, .end = text + len, .err = err};
    memset(p.byte_class, 0xff, sizeof(p.byte_class));
    engine_grammar *g = NULL;
    skip_space(&p);
    while (!p.failed && p.s < p.end) {
        const char *n0 = p.s;
        while (p.s < p.end && is_name_char(*p.s))
            p.s++;
        if (p.s == n0) {
            /* the text is not NUL-terminated: quote a bounded copy */
            char at[24];
            size_t k = (size_t)(p.end - n0) < 20 ? (size_t)(p.end - n0) : 20;
            memcpy(at, n0, k);
            at[k] = 0;
            perr(&p, "grammar: expected a rule name at '%s'", at);
            break;
        }
        uint32_t r = rule_by_name(&p, n0, (size_t)(p.s - n0));
        skip_space(&p);
        if (p.end - p.s < 3 || memcmp(p.s, "::=", 3) != 0) {
            perr(&p, "grammar: expected '::=' after '%s'", p.rules[r].name);
            break;
        }
        p.s += 3;
        if (p.rules[r].defined) {
            perr(&p, "grammar: rule '%s' defined twice", p.rules[r].name);
            break;
        }
        p.rules[r].defined = true;
        if (parse_alts(&p, r) < 0) break;
        skip_space(&p);
        if (p.s < p.end && *p.s == ')') perr(&p, "grammar: %s", "unbalanced ')'");
    }
    uint32_t root_id = UINT32_MAX;
    if (!p.failed) {
        for (size_t i = 0; i < p.n_rules; i++) {
            if (p.rules[i].name && !p.rules[i].defined) {
                perr(&p, "grammar: rule '%s' is not defined", p.rules[i].name);
                break;
            }
            if (p.rules[i].name && !strcmp(p.rules[i].name, root)) root_id = (uint32_t)i;
        }
        if (!p.failed && root_id == UINT32_MAX) perr(&p, "grammar: no rule '%s'", root);
    }
    if (!p.failed) {
        g = cc_calloc(1, sizeof(*g));
        g->n_rules = (uint32_t)p.n_rules;
        g->root = root_id;
        g->rule_start = cc_calloc(p.n_rules, sizeof(uint32_t));
        g->alts = cc_calloc(p.n_rules, sizeof(uint32_t *));
        g->n_alts = cc_calloc(p.n_rules, sizeof(uint32_t));
        /* One extra GE_END so the element after any rule's last one can be read. */
        g->els = cc_malloc((p.n_elems + 1) * sizeof(gel));
        for (size_t i = 0; i < p.n_rules; i++) {
            const grule *r = &p.rules[i];
            g->rule_start[i] = (uint32_t)g->n_els;
            size_t na = 1;
            for (size_t k = 0; k < r->n; k++)
                na += r->els[k].kind == GE_ALT;
            g->alts[i] = cc_malloc(na * sizeof(uint32_t));
            g->alts[i][g->n_alts[i]++] = (uint32_t)g->n_els;
            for (size_t k = 0; k < r->n; k++) {
                g->els[g->n_els++] = r->els[k];
                if (r->els[k].kind == GE_ALT) g->alts[i][g->n_alts[i]++] = (uint32_t)g->n_els;
            }
        }
        g->els[g->n_els] = (gel){GE_END, 0};
        g->classes = p.classes;
        g->n_classes = p.n_classes;
        p.classes = NULL;
        bool *nullable = cc_calloc(g->n_rules, sizeof(bool));
        uint8_t *color = cc_calloc(g->n_rules, 1);
        const char **names = cc_calloc(g->n_rules, sizeof(char *));
        for (uint32_t i = 0; i < g->n_rules; i++)
            names[i] = p.rules[i].name;
        compute_nullable(g, nullable);
        int rc = 0;
        for (uint32_t r = 0; r < g->n_rules && rc == 0; r++)
            if (!color[r]) rc = check_left_recursion(g, nullable, r, color, err, names);
        free(nullable);
        free(color);
        free(names);
        if (rc < 0) {
            engine_grammar_free(g);
            g = NULL;
        }
    }
    for (size_t i = 0; i < p.n_rules; i++) {
        free(p.rules[i].name);
        free(p.rules[i].els);
    }
    free(p.rules);
    free(p.classes);
    return g;
}

/* --------------------------------------------------------------- matcher */

/* A state: stacks stored one after another as [len, pos_0 .. pos_len-1] (top last). */
static void st_reset(eng_gstate *s)
{
    s->n = 0;
    s->n_stacks = 0;
}

static void st_reserve(eng_gstate *s, size_t extra)
{
    if (s->n + extra <= s->cap) return;
    size_t cap = s->cap ? s->cap * 2 : 64;
    while (cap < s->n + extra)
        cap *= 2;
    s->v = cc_realloc(s->v, cap * sizeof(uint32_t));
    s->cap = cap;
}

void eng_gstate_free(eng_gstate *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

void eng_gstate_copy(eng_gstate *dst, const eng_gstate *src)
{
    st_reset(dst);
    st_reserve(dst, src->n);
    memcpy(dst->v, src->v, src->n * sizeof(uint32_t));
    dst->n = src->n;
    dst->n_stacks = src->n_stacks;
}

static void st_add(eng_gstate *s, const uint32_t *stk, uint32_t len)
{
    if (s->n_stacks >= MAX_STACKS || len > MAX_DEPTH) return;
    for (size_t i = 0; i < s->n; i += 1 + s->v[i])
        if (s->v[i] == len && !memcmp(s->v + i + 1, stk, len * sizeof(uint32_t))) return;
    st_reserve(s, 1 + (size_t)len);
    s->v[s->n++] = len;
    memcpy(s->v + s->n, stk, len * sizeof(uint32_t));
    s->n += len;
    s->n_stacks++;
}

/* Rewrites a stack until its top is a byte class (or it is empty: a complete parse) and adds
 * every result to out. stk has room for the pushes (see eng_gstate_advance). depth counts the
 * nested expansions: bounded since there is no left recursion, and cut at MAX_EXPAND so an
 * odd grammar cannot exhaust the thread's stack (those parses are dropped). */
#define MAX_EXPAND 512
static void expand(const engine_grammar *g, uint32_t *stk, uint32_t len, size_t room,
                   eng_gstate *out, int depth)
{
    for (;;) {
        if (len == 0) {
            st_add(out, stk, 0);
            return;
        }
        const gel *e = &g->els[stk[len - 1]];
        if (e->kind == GE_END || e->kind == GE_ALT) {
            len--;
            continue;
        }
        if (e->kind == GE_CLASS) {
            st_add(out, stk, len);
            return;
        }
        /* A reference: the caller continues after it (dropped when nothing follows in its
         * alternative, so right recursion does not grow the stack), the rule goes on top. */
        uint32_t cont = stk[len - 1] + 1, base = len - 1;
        uint32_t kind = g->els[cont].kind;
        if (kind != GE_END && kind != GE_ALT) stk[base++] = cont;
        if ((size_t)base + 1 > room || base >= MAX_DEPTH || depth >= MAX_EXPAND) return;
        uint32_t rule = e->arg, n_alts = g->n_alts[rule];
        /* Every alternative but the last works on a copy (expanding one pops and rewrites
         * the stack below); small stacks are copied on the C stack. */
        uint32_t local[64];
        uint32_t *copy = room <= 64 ? local : NULL;
        for (uint32_t a = 0; a + 1 < n_alts; a++) {
            if (!copy) copy = cc_malloc(room * sizeof(uint32_t));
            memcpy(copy, stk, base * sizeof(uint32_t));
            copy[base] = g->alts[rule][a];
            expand(g, copy, base + 1, room, out, depth + 1);
        }
        if (copy != local) free(copy);
        stk[base] = g->alts[rule][n_alts - 1];
        len = base + 1;
        depth++;
    }
}

void eng_gstate_init(const engine_grammar *g, eng_gstate *s)
{
    st_reset(s);
    size_t room = (size_t)g->n_rules + 2;
    uint32_t *buf = cc_malloc(room * sizeof(uint32_t));
    /* The root as if referenced from an alternative with nothing after it. */
    for (uint32_t a = 0; a < g->n_alts[g->root]; a++) {
        buf[0] = g->alts[g->root][a];
        expand(g, buf, 1, room, s, 0);
    }
    free(buf);
}

bool eng_gstate_advance(const engine_grammar *g, const eng_gstate *in, uint8_t c, eng_gstate *out,
                        uint32_t **scratch, size_t *scratch_cap)
{
    st_reset(out);
    for (size_t i = 0; i < in->n; i += 1 + in->v[i]) {
        uint32_t len = in->v[i];
        if (!len) continue;
        const uint32_t *stk = in->v + i + 1;
        const gel *e = &g->els[stk[len - 1]];
        if (!(g->classes[e->arg][c >> 3] & (1u << (c & 7)))) continue;
        /* Room for the pushes of one expansion: the grammar's nesting is bounded by its
         * number of rules (no left recursion). */
        size_t room = (size_t)len + g->n_rules + 2;
        if (*scratch_cap < room) {
            *scratch = cc_realloc(*scratch, room * sizeof(uint32_t));
            *scratch_cap = room;
        }
        memcpy(*scratch, stk, len * sizeof(uint32_t));
        (*scratch)[len - 1]++;
        expand(g, *scratch, len, room, out, 0);
    }
    return out->n_stacks > 0;
}

bool eng_gstate_can_end(const eng_gstate *s)
{
    for (size_t i = 0; i < s->n; i += 1 + s->v[i])
        if (s->v[i] == 0) return true;
    return false;
}

bool eng_gstate_only_end(const eng_gstate *s)
{
    return s->n_stacks == 1 && s->n == 1 && s->v[0] == 0;
}

bool engine_grammar_accepts(const engine_grammar *g, const void *bytes, size_t n)
{
    eng_gstate a = {0}, b = {0};
    uint32_t *scratch = NULL;
    size_t cap = 0;
    eng_gstate_init(g, &a);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        ok = eng_gstate_advance(g, &a, ((const uint8_t *)bytes)[i], &b, &scratch, &cap);
        eng_gstate t = a;
        a = b;
        b = t;
    }
    ok = ok && eng_gstate_can_end(&a);
    eng_gstate_free(&a);
    eng_gstate_free(&b);
    free(scratch);
    return ok;
}

bool engine_grammar_accepts_prefix(const engine_grammar *g, const void *bytes, size_t n)
{
    eng_gstate a = {0}, b = {0};
    uint32_t *scratch = NULL;
    size_t cap = 0;
    eng_gstate_init(g, &a);
    bool ok = a.n_stacks > 0;
    for (size_t i = 0; i < n && ok; i++) {
        ok = eng_gstate_advance(g, &a, ((const uint8_t *)bytes)[i], &b, &scratch, &cap);
        eng_gstate t = a;
        a = b;
        b = t;
    }
    eng_gstate_free(&a);
    eng_gstate_free(&b);
    free(scratch);
    return ok;
}
