/*
 * The Jinja parser: tokens to an AST (jinja_int.h), with jinja2's operator
 * precedence (or < and < not < comparisons < + - < ~ < * / // % < ** < unary
 * < filters, tests and calls < attribute, item and slice access). Errors
 * longjmp back to jinja_parse with the line and column of the token.
 */
#include <stdarg.h>
#include <string.h>

#include "engine/jinja_lex.h"

#define MAX_NEST 200 /* nested expressions and blocks: recursion stays bounded */

typedef struct parser {
    jinja_arena *ar;
    jtok *t;
    size_t n, i;
    int nest;
    cc_err *err;
    jmp_buf jb;
} parser;

static _Noreturn void perr(parser *P, const jtok *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static _Noreturn void perr(parser *P, const jtok *k, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cc_err_set(P->err, "template line %u, column %u: %s", k->line, k->col, msg);
    longjmp(P->jb, 1);
}

static jtok *cur(parser *P)
{
    return &P->t[P->i];
}
static jtok *next(parser *P)
{
    jtok *k = &P->t[P->i];
    if (k->t != T_EOF) P->i++;
    return k;
}
static bool is_op(const jtok *k, const char *op)
{
    return k->t == T_OP && k->n == strlen(op) && !memcmp(k->s, op, k->n);
}
static bool is_name(const jtok *k, const char *name)
{
    return k->t == T_NAME && k->n == strlen(name) && !memcmp(k->s, name, k->n);
}
static bool accept_op(parser *P, const char *op)
{
    if (!is_op(cur(P), op)) return false;
    P->i++;
    return true;
}
static bool accept_name(parser *P, const char *name)
{
    if (!is_name(cur(P), name)) return false;
    P->i++;
    return true;
}
static const char *tok_desc(const jtok *k)
{
    switch (k->t) {
    case T_EOF:
        return "the end of the template";
    case T_TEXT:
        return "text";
    case T_VAR_BEGIN:
        return "'{{'";
    case T_VAR_END:
        return "'}}'";
    case T_BLOCK_BEGIN:
        return "'{%'";
    case T_BLOCK_END:
        return "'%}'";
    case T_NAME:
        return "a name";
    case T_STRING:
        return "a string";
    case T_INT:
    case T_FLOAT:
        return "a number";
    default:
        return "an operator";
    }
}
static void expect_op(parser *P, const char *op)
{
    if (!accept_op(P, op)) perr(P, cur(P), "expected '%s', found %s", op, tok_desc(cur(P)));
}
static const char *expect_name(parser *P)
{
    jtok *k = cur(P);
    if (k->t != T_NAME) perr(P, k, "expected a name, found %s", tok_desc(k));
    P->i++;
    return jinja_strndup(P->ar, k->s, k->n);
}
static void expect_block_end(parser *P)
{
    if (cur(P)->t != T_BLOCK_END) perr(P, cur(P), "expected '%%}', found %s", tok_desc(cur(P)));
    P->i++;
}

static jnode *node(parser *P, jnode_kind kind, const jtok *at)
{
    jnode *n = jinja_alloc(P->ar, sizeof(*n));
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    return n;
}

static void nl_push(parser *P, jnlist *l, jnode *n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jnode **v = jinja_alloc(P->ar, cap * sizeof(*v));
        if (l->n) memcpy(v, l->v, l->n * sizeof(*v));
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = n;
}
static void names_push(parser *P, jnames *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        const char **v = jinja_alloc(P->ar, cap * sizeof(*v));
        if (l->n) memcpy(v, l->v, l->n * sizeof(*v));
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
}

static void enter(parser *P)
{
    if (++P->nest > MAX_NEST) perr(P, cur(P), "nested too deeply");
}

static jnode *parse_expr(parser *P);
static jnode *parse_or(parser *P);
static jnode *parse_unary(parser *P, bool with_filter);

/* (args, name=value) after the '(' was taken */
static void parse_args(parser *P, jnode *call)
{
    while (!accept_op(P, ")")) {
        if (call->x.n || call->y.n) expect_op(P, ",");
        if (accept_op(P, ")")) break; /* trailing comma */
        jtok *k = cur(P);
        if (k->t == T_NAME && is_op(&P->t[P->i + 1], "=")) {
            P->i += 2;
            names_push(P, &call->names, jinja_strndup(P->ar, k->s, k->n));
            nl_push(P, &call->y, parse_expr(P));
        } else {
            if (call->y.n) perr(P, k, "positional argument after a keyword argument");
            nl_push(P, &call->x, parse_expr(P));
        }
    }
}

static jnode *parse_primary(parser *P)
{
    jtok *k = next(P);
    jnode *n;
    switch (k->t) {
    case T_NAME:
        n = node(P, N_CONST, k);
        if (is_name(k, "true") || is_name(k, "True"))
            n->v = jv_bool(true);
        else if (is_name(k, "false") || is_name(k, "False"))
            n->v = jv_bool(false);
        else if (is_name(k, "none") || is_name(k, "None"))
            n->v = jv_none();
        else {
            n->kind = N_NAME;
            n->v = jv_strn(jinja_strndup(P->ar, k->s, k->n), k->n);
        }
        return n;
    case T_STRING: {
        /* adjacent literals join, as in Python */
        cc_buf b = CC_BUF_INIT;
        cc_buf_append(&b, k->s, k->n);
        while (cur(P)->t == T_STRING) {
            jtok *m = next(P);
            cc_buf_append(&b, m->s, m->n);
        }
        n = node(P, N_CONST, k);
        n->v = jv_strn(jinja_strndup(P->ar, b.data ? (const char *)b.data : "", b.len), b.len);
        cc_buf_free(&b);
        return n;
    }
    case T_INT:
        n = node(P, N_CONST, k);
        n->v = jv_int(k->i);
        return n;
    case T_FLOAT:
        n = node(P, N_CONST, k);
        n->v = jv_float(k->f);
        return n;
    case T_OP:
        if (is_op(k, "(")) {
            /* a parenthesised expression or a tuple (a list here) */
            if (accept_op(P, ")")) {
                n = node(P, N_LIST, k);
                n->op = 1;
                return n;
            }
            jnode *e = parse_expr(P);
            if (accept_op(P, ")")) return e;
            n = node(P, N_LIST, k);
            n->op = 1;
            nl_push(P, &n->x, e);
            while (accept_op(P, ",")) {
                if (is_op(cur(P), ")")) break;
                nl_push(P, &n->x, parse_expr(P));
            }
            expect_op(P, ")");
            return n;
        }
        if (is_op(k, "[")) {
            n = node(P, N_LIST, k);
            while (!accept_op(P, "]")) {
                if (n->x.n) expect_op(P, ",");
                if (accept_op(P, "]")) break;
                nl_push(P, &n->x, parse_expr(P));
            }
            return n;
        }
        if (is_op(k, "{")) {
            n = node(P, N_DICT, k);
            while (!accept_op(P, "}")) {
                if (n->x.n) expect_op(P, ",");
                if (accept_op(P, "}")) break;
                nl_push(P, &n->x, parse_expr(P));
                expect_op(P, ":");
                nl_push(P, &n->y, parse_expr(P));
            }
            return n;
        }
        break;
    default:
        break;
    }
    perr(P, k, "unexpected %s", tok_desc(k));
}

static jnode *parse_postfix(parser *P, jnode *n)
{
    for (;;) {
        jtok *k = cur(P);
        if (accept_op(P, ".")) {
            jtok *a = next(P);
            jnode *m = node(P, N_ATTR, k);
            m->a = n;
            if (a->t == T_NAME)
                m->v = jv_strn(jinja_strndup(P->ar, a->s, a->n), a->n);
            else if (a->t == T_INT) { /* x.0 is x[0] */
                m->kind = N_ITEM;
                m->b = node(P, N_CONST, a);
                m->b->v = jv_int(a->i);
            } else
                perr(P, a, "expected an attribute name after '.'");
            n = m;
        } else if (accept_op(P, "[")) {
            jnode *start = NULL, *stop = NULL, *step = NULL;
            bool slice = false;
            if (!is_op(cur(P), ":")) start = parse_expr(P);
            if (accept_op(P, ":")) {
                slice = true;
                if (!is_op(cur(P), ":") && !is_op(cur(P), "]")) stop = parse_expr(P);
                if (accept_op(P, ":") && !is_op(cur(P), "]")) step = parse_expr(P);
            }
            expect_op(P, "]");
            jnode *m = node(P, slice ? N_SLICE : N_ITEM, k);
            m->a = n;
            m->b = start;
            m->c = stop;
            m->d = step;
            if (!slice && !start) perr(P, k, "empty subscript");
            n = m;
        } else if (accept_op(P, "(")) {
            jnode *m = node(P, N_CALL, k);
            m->a = n;
            parse_args(P, m);
            n = m;
        } else
            return n;
    }
}

static jnode *parse_filter_or_test(parser *P, jnode *n, bool test)
{
    jtok *k = cur(P);
    jnode *m = node(P, test ? N_TEST : N_FILTER, k);
    m->a = n;
    if (test && accept_name(P, "not")) m->op = 1;
    k = cur(P);
    /* names may be dotted in jinja2 (filters from extensions); only simple ones here */
    const char *name;
    if (test && k->t == T_NAME &&
        (is_name(k, "none") || is_name(k, "true") || is_name(k, "false"))) {
        P->i++;
        name = jinja_strndup(P->ar, k->s, k->n);
    } else if (test && k->t == T_OP &&
               (is_op(k, "==") || is_op(k, "!=") || is_op(k, "<") || is_op(k, ">") ||
                is_op(k, "<=") || is_op(k, ">="))) {
        P->i++;
        name = jinja_strndup(P->ar, k->s, k->n);
    } else
        name = expect_name(P);
    m->v = jv_strn(name, strlen(name));
    if (accept_op(P, "(")) {
        parse_args(P, m);
    } else if (test) {
        /* `x is divisibleby 3`: one argument without parentheses */
        jtok *a = cur(P);
        if ((a->t == T_NAME || a->t == T_STRING || a->t == T_INT || a->t == T_FLOAT ||
             is_op(a, "[") || is_op(a, "{")) &&
            !is_name(a, "else") && !is_name(a, "or") && !is_name(a, "and") && !is_name(a, "if") &&
            !is_name(a, "is") && !is_name(a, "in") && !is_name(a, "not"))
            nl_push(P, &m->x, parse_postfix(P, parse_primary(P)));
    }
    return m;
}

static jnode *parse_filter_expr(parser *P, jnode *n)
{
    for (;;) {
        if (accept_op(P, "|"))
            n = parse_filter_or_test(P, n, false);
        else if (accept_name(P, "is"))
            n = parse_filter_or_test(P, n, true);
        else if (is_op(cur(P), "(")) {
            jtok *k = next(P);
            jnode *m = node(P, N_CALL, k);
            m->a = n;
            parse_args(P, m);
            n = m;
        } else
            return n;
    }
}

static jnode *parse_unary(parser *P, bool with_filter)
{
    enter(P);
    jtok *k = cur(P);
    jnode *n;
    if (accept_op(P, "-")) {
        n = node(P, N_NEG, k);
        n->a = parse_unary(P, false);
    } else if (accept_op(P, "+")) {
        n = node(P, N_POS, k);
        n->a = parse_unary(P, false);
    } else
        n = parse_postfix(P, parse_primary(P));
    if (with_filter) n = parse_filter_expr(P, n);
    P->nest--;
    return n;
}

static jnode *bin(parser *P, const jtok *k, int op, jnode *a, jnode *b)
{
    jnode *n = node(P, N_BIN, k);
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(parser *P)
{
    jnode *n = parse_unary(P, true);
    while (is_op(cur(P), "**")) {
        jtok *k = next(P);
        n = bin(P, k, OP_POW, n, parse_unary(P, true));
    }
    return n;
}

static jnode *parse_math2(parser *P)
{
    jnode *n = parse_pow(P);
    for (;;) {
        jtok *k = cur(P);
        int op = is_op(k, "*")    ? OP_MUL
                 : is_op(k, "/")  ? OP_DIV
                 : is_op(k, "//") ? OP_FLOORDIV
                 : is_op(k, "%")  ? OP_MOD
                                  : 0;
        if (!op) return n;
        P->i++;
        n = bin(P, k, op, n, parse_pow(P));
    }
}

static jnode *parse_concat(parser *P)
{
    jnode *n = parse_math2(P);
    while (is_op(cur(P), "~")) {
        jtok *k = next(P);
        n = bin(P, k, OP_CONCAT, n, parse_math2(P));
    }
    return n;
}

static jnode *parse_math1(parser *P)
{
    jnode *n = parse_concat(P);
    for (;;) {
        jtok *k = cur(P);
        int op = is_op(k, "+") ? OP_ADD : is_op(k, "-") ? OP_SUB : 0;
        if (!op) return n;
        P->i++;
        n = bin(P, k, op, n, parse_concat(P));
    }
}

static jnode *parse_compare(parser *P)
{
    jnode *left = parse_math1(P), *result = NULL;
    for (;;) {
        jtok *k = cur(P);
        int op = is_op(k, "==")     ? OP_EQ
                 : is_op(k, "!=")   ? OP_NE
                 : is_op(k, "<")    ? OP_LT
                 : is_op(k, "<=")   ? OP_LE
                 : is_op(k, ">")    ? OP_GT
                 : is_op(k, ">=")   ? OP_GE
                 : is_name(k, "in") ? OP_IN
                                    : 0;
        if (!op && is_name(k, "not") && is_name(&P->t[P->i + 1], "in")) {
            op = OP_NOTIN;
            P->i++;
        }
        if (!op) return result ? result : left;
        P->i++;
        jnode *right = parse_math1(P);
        /* a < b < c is a < b and b < c */
        jnode *cmp = bin(P, k, op, left, right);
        if (result) {
            jnode *both = node(P, N_AND, k);
            both->a = result;
            both->b = cmp;
            result = both;
        } else
            result = cmp;
        left = right;
    }
}

static jnode *parse_not(parser *P)
{
    jtok *k = cur(P);
    if (accept_name(P, "not")) {
        enter(P);
        jnode *n = node(P, N_NOT, k);
        n->a = parse_not(P);
        P->nest--;
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_and(parser *P)
{
    jnode *n = parse_not(P);
    while (is_name(cur(P), "and")) {
        jtok *k = next(P);
        jnode *m = node(P, N_AND, k);
        m->a = n;
        m->b = parse_not(P);
        n = m;
    }
    return n;
}

static jnode *parse_or(parser *P)
{
    jnode *n = parse_and(P);
    while (is_name(cur(P), "or")) {
        jtok *k = next(P);
        jnode *m = node(P, N_OR, k);
        m->a = n;
        m->b = parse_and(P);
        n = m;
    }
    return n;
}

/* with_cond: `a if b else c` allowed (not in a for's iterable) */
static jnode *parse_expr_c(parser *P, bool with_cond)
{
    enter(P);
    jnode *n = parse_or(P);
    while (with_cond && is_name(cur(P), "if")) {
        jtok *k = next(P);
        jnode *m = node(P, N_COND, k);
        m->b = n;
        m->a = parse_or(P);
        if (accept_name(P, "else")) m->c = parse_expr_c(P, true);
        n = m;
    }
    P->nest--;
    return n;
}
static jnode *parse_expr(parser *P)
{
    return parse_expr_c(P, true);
}

/* ------------------------------------------------------------ statements */

static jnode *parse_body(parser *P, const char *const *ends, const char **found);

/* a, b = ... / for a, b in ... */
static void parse_targets(parser *P, jnames *names)
{
    bool paren = accept_op(P, "(");
    do {
        names_push(P, names, expect_name(P));
    } while (accept_op(P, ","));
    if (paren) expect_op(P, ")");
}

static jnode *parse_filter_chain(parser *P)
{
    jnode *n = NULL;
    do {
        n = parse_filter_or_test(P, n, false);
    } while (accept_op(P, "|"));
    return n;
}

static void parse_params(parser *P, jnode *n)
{
    expect_op(P, "(");
    while (!accept_op(P, ")")) {
        if (n->names.n) expect_op(P, ",");
        if (accept_op(P, ")")) break;
        names_push(P, &n->names, expect_name(P));
        nl_push(P, &n->y, accept_op(P, "=") ? parse_expr(P) : NULL);
    }
}

static jnode *parse_stmt(parser *P, const jtok *at)
{
    jtok *k = cur(P);
    if (k->t != T_NAME) perr(P, k, "expected a statement name, found %s", tok_desc(k));
    jnode *n;
    if (accept_name(P, "if")) {
        n = node(P, N_IF, at);
        n->a = parse_expr(P);
        expect_block_end(P);
        static const char *const ends[] = {"elif", "else", "endif", NULL};
        const char *found;
        jnode *inner = n;
        for (;;) {
            jnode *body = parse_body(P, ends, &found);
            if (!strcmp(found, "elif")) {
                inner->x = body->x;
                jnode *e = node(P, N_IF, cur(P));
                e->a = parse_expr(P);
                expect_block_end(P);
                nl_push(P, &inner->y, e);
                inner = e;
                continue;
            }
            if (!strcmp(found, "else")) {
                inner->x = body->x;
                expect_block_end(P);
                static const char *const endif[] = {"endif", NULL};
                inner->y = parse_body(P, endif, &found)->x;
            } else
                inner->x = body->x;
            expect_block_end(P);
            return n;
        }
    }
    if (accept_name(P, "for")) {
        n = node(P, N_FOR, at);
        parse_targets(P, &n->names);
        if (!accept_name(P, "in")) perr(P, cur(P), "expected 'in' in a for loop");
        n->a = parse_expr_c(P, false);
        if (accept_name(P, "if")) n->b = parse_expr_c(P, false);
        if (accept_name(P, "recursive")) perr(P, k, "recursive loops are not supported");
        expect_block_end(P);
        static const char *const ends[] = {"else", "endfor", NULL};
        const char *found;
        n->x = parse_body(P, ends, &found)->x;
        expect_block_end(P);
        if (!strcmp(found, "else")) {
            static const char *const endfor[] = {"endfor", NULL};
            n->y = parse_body(P, endfor, &found)->x;
            expect_block_end(P);
        }
        return n;
    }
    if (accept_name(P, "set")) {
        jtok *t = cur(P);
        n = node(P, N_SET, at);
        if (t->t == T_NAME && is_op(&P->t[P->i + 1], ".")) {
            names_push(P, &n->names, expect_name(P));
            expect_op(P, ".");
            const char *attr = expect_name(P);
            n->v = jv_strn(attr, strlen(attr));
            n->op = 1;
        } else
            parse_targets(P, &n->names);
        if (accept_op(P, "=")) {
            n->a = parse_expr(P);
            if (is_op(cur(P), ",")) { /* set a, b = 1, 2 */
                jnode *l = node(P, N_LIST, cur(P));
                nl_push(P, &l->x, n->a);
                while (accept_op(P, ","))
                    nl_push(P, &l->x, parse_expr(P));
                n->a = l;
            }
            expect_block_end(P);
            return n;
        }
        if (n->op || n->names.n != 1) perr(P, cur(P), "a block set takes one name");
        n->kind = N_SETBLOCK;
        if (accept_op(P, "|")) n->b = parse_filter_chain(P);
        expect_block_end(P);
        static const char *const ends[] = {"endset", NULL};
        const char *found;
        n->x = parse_body(P, ends, &found)->x;
        expect_block_end(P);
        return n;
    }
    if (accept_name(P, "macro")) {
        n = node(P, N_MACRO, at);
        const char *name = expect_name(P);
        n->v = jv_strn(name, strlen(name));
        parse_params(P, n);
        expect_block_end(P);
        static const char *const ends[] = {"endmacro", NULL};
        const char *found;
        n->x = parse_body(P, ends, &found)->x;
        if (cur(P)->t == T_NAME) P->i++; /* {% endmacro name %} */
        expect_block_end(P);
        return n;
    }
    if (accept_name(P, "call")) {
        n = node(P, N_CALLBLOCK, at);
        if (is_op(cur(P), "(")) parse_params(P, n);
        n->a = parse_expr(P);
        if (n->a->kind != N_CALL) perr(P, k, "a call block needs a call");
        expect_block_end(P);
        static const char *const ends[] = {"endcall", NULL};
        const char *found;
        n->x = parse_body(P, ends, &found)->x;
        expect_block_end(P);
        return n;
    }
    if (accept_name(P, "filter")) {
        n = node(P, N_FILTERBLOCK, at);
        n->b = parse_filter_chain(P);
        expect_block_end(P);
        static const char *const ends[] = {"endfilter", NULL};
        const char *found;
        n->x = parse_body(P, ends, &found)->x;
        expect_block_end(P);
        return n;
    }
    if (accept_name(P, "generation")) { /* Hugging Face's assistant-mask marker */
        n = node(P, N_BODY, at);
        expect_block_end(P);
        static const char *const ends[] = {"endgeneration", NULL};
        const char *found;
        n->x = parse_body(P, ends, &found)->x;
        expect_block_end(P);
        return n;
    }
    if (accept_name(P, "break") || accept_name(P, "continue")) {
        n = node(P, is_name(k, "break") ? N_BREAK : N_CONTINUE, at);
        expect_block_end(P);
        return n;
    }
    perr(P, k, "unknown statement '%.*s'", (int)k->n, k->s);
}

/* Statements until `{% <one of ends>` (consumed up to the name, *found set)
 * or the end of the template when ends is NULL. */
static jnode *parse_body(parser *P, const char *const *ends, const char **found)
{
    enter(P);
    jnode *body = node(P, N_BODY, cur(P));
    for (;;) {
        jtok *k = next(P);
        if (k->t == T_EOF) {
            if (!ends) break;
            perr(P, k, "missing {%% %s %%}", ends[0]);
        }
        if (k->t == T_TEXT) {
            jnode *n = node(P, N_TEXT, k);
            n->v = jv_strn(k->s, k->n);
            nl_push(P, &body->x, n);
        } else if (k->t == T_VAR_BEGIN) {
            jnode *n = node(P, N_OUTPUT, k);
            n->a = parse_expr(P);
            if (cur(P)->t != T_VAR_END)
                perr(P, cur(P), "expected '}}', found %s", tok_desc(cur(P)));
            P->i++;
            nl_push(P, &body->x, n);
        } else if (k->t == T_BLOCK_BEGIN) {
            jtok *name = cur(P);
            for (size_t e = 0; ends && ends[e]; e++)
                if (is_name(name, ends[e])) {
                    P->i++;
                    *found = ends[e];
                    P->nest--;
                    return body;
                }
            if (name->t == T_NAME && name->n > 3 &&
                (!memcmp(name->s, "end", 3) || is_name(name, "elif") || is_name(name, "else")))
                perr(P, name, "unexpected '%.*s'%s", (int)name->n, name->s,
                     ends ? "" : " outside a block");
            nl_push(P, &body->x, parse_stmt(P, k));
        } else
            perr(P, k, "unexpected %s", tok_desc(k));
    }
    P->nest--;
    return body;
}

int jinja_parse(engine_jinja *t, const char *src, size_t len, cc_err *err)
{
    jtoks toks = {0};
    if (jinja_lex(&t->ar, src, len, &toks, err)) return -1;
    parser P = {.ar = &t->ar, .t = toks.v, .n = toks.n, .err = err};
    if (setjmp(P.jb)) return -1;
    t->body = parse_body(&P, NULL, NULL);
    return 0;
}
