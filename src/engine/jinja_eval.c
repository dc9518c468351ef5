/*
 * The Jinja evaluator: walks the AST with jinja2's scoping (a for loop and a
 * macro call get their own scope, so `set` inside them does not leak out;
 * namespace() objects are how templates carry state out of loops), Python's
 * operators, and the limits of engine_jinja_limits.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "engine/jinja_int.h"

struct jscope {
    jdict vars;
    jscope *parent;
};

_Noreturn void jinja_fail(jctx *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cc_err_set(c->err, "template line %u, column %u: %s", c->line, c->col, msg);
    longjmp(c->jb, 1);
}

void jinja_step(jctx *c)
{
    if (++c->steps > c->lim.max_steps)
        jinja_fail(c, "more than %llu loop iterations and calls",
                   (unsigned long long)c->lim.max_steps);
}

static jscope *scope_new(jctx *c, jscope *parent)
{
    jscope *s = jinja_alloc(c->ar, sizeof(*s));
    s->parent = parent;
    return s;
}

static jv *scope_find(jscope *s, const char *name)
{
    for (; s; s = s->parent) {
        jv *v = jv_dict_find_str(&s->vars, name);
        if (v) return v;
    }
    return NULL;
}

static void scope_set(jctx *c, jscope *s, const char *name, jv v)
{
    jv_dict_set(c, &s->vars, jv_strn(name, strlen(name)), v);
}

/* Text of a macro body or block set goes to a temporary buffer; the list
 * lets a failed render free the ones still open. */
typedef struct tmpbuf {
    cc_buf b;
    cc_buf *save;
    struct tmpbuf *prev;
} tmpbuf;

void jinja_capture_begin(jctx *c)
{
    tmpbuf *t = jinja_alloc(c->ar, sizeof(*t));
    t->save = c->out;
    t->prev = c->tmp;
    c->tmp = t;
    c->out = &t->b;
}

jv jinja_capture_end(jctx *c)
{
    tmpbuf *t = c->tmp;
    jv v =
        jv_strn(jinja_strndup(c->ar, t->b.data ? (const char *)t->b.data : "", t->b.len), t->b.len);
    cc_buf_free(&t->b);
    c->out = t->save;
    c->tmp = t->prev;
    return v;
}

static void emit(jctx *c, const char *s, size_t n)
{
    if (n > c->lim.max_output || c->out->len > c->lim.max_output - n)
        jinja_fail(c, "the output is longer than the limit of %zu bytes", c->lim.max_output);
    cc_buf_append(c->out, s, n);
}

static jv eval(jctx *c, jscope *s, const jnode *n);
static void exec_body(jctx *c, jscope *s, const jnlist *body);

static void at(jctx *c, const jnode *n)
{
    c->line = n->line;
    c->col = n->col;
}

/* ------------------------------------------------------------ operators */

static bool is_int(jv v)
{
    return v.t == JV_INT || v.t == JV_BOOL;
}
static int64_t as_int(jv v)
{
    return v.t == JV_INT ? v.i : (int64_t)v.b;
}
static bool is_num(jv v)
{
    return is_int(v) || v.t == JV_FLOAT;
}
static double as_f(jv v)
{
    return v.t == JV_FLOAT ? v.f : (double)as_int(v);
}

static _Noreturn void op_fail(jctx *c, const char *op, jv a, jv b)
{
    if (a.t == JV_UNDEF || b.t == JV_UNDEF) {
        jv u = a.t == JV_UNDEF ? a : b;
        if (u.s) jinja_fail(c, "'%.*s' is undefined", (int)u.n, u.s);
        jinja_fail(c, "an undefined value used with '%s'", op);
    }
    jinja_fail(c, "unsupported operand types for %s: '%s' and '%s'", op, jv_type_name(a),
               jv_type_name(b));
}

static jv repeat(jctx *c, jv seq, int64_t times)
{
    if (times < 0) times = 0;
    if (seq.t == JV_STR) {
        if (seq.n && (uint64_t)times > c->lim.max_output / seq.n)
            jinja_fail(c, "string repetition longer than the output limit");
        size_t len = (size_t)times * seq.n;
        char *p = jinja_alloc(c->ar, len + 1);
        for (int64_t i = 0; i < times; i++)
            memcpy(p + (size_t)i * seq.n, seq.s, seq.n);
        return jv_strn(p, len);
    }
    if (seq.l->n && (uint64_t)times > c->lim.max_steps / seq.l->n)
        jinja_fail(c, "list repetition too long");
    jv l = jv_list_new(c);
    for (int64_t i = 0; i < times; i++)
        for (size_t j = 0; j < seq.l->n; j++)
            jv_list_push(c, l.l, seq.l->v[j]);
    return l;
}

static jv concat_str(jctx *c, jv a, jv b)
{
    size_t n = (size_t)a.n + b.n;
    if (n > c->lim.max_output) jinja_fail(c, "string longer than the output limit");
    char *p = jinja_alloc(c->ar, n + 1);
    memcpy(p, a.s, a.n);
    memcpy(p + a.n, b.s, b.n);
    return jv_strn(p, n);
}

static double py_fmod(double a, double b)
{
    double m = fmod(a, b);
    if (m != 0 && ((m < 0) != (b < 0))) m += b;
    return m;
}

static jv binop(jctx *c, int op, jv a, jv b)
{
    switch (op) {
    case OP_ADD:
        if (is_int(a) && is_int(b)) {
            int64_t r;
            if (__builtin_add_overflow(as_int(a), as_int(b), &r)) jinja_fail(c, "integer overflow");
            return jv_int(r);
        }
        if (is_num(a) && is_num(b)) return jv_float(as_f(a) + as_f(b));
        if (a.t == JV_STR && b.t == JV_STR) return concat_str(c, a, b);
        if (a.t == JV_LIST && b.t == JV_LIST) {
            jv l = jv_list_new(c);
            for (size_t i = 0; i < a.l->n; i++)
                jv_list_push(c, l.l, a.l->v[i]);
            for (size_t i = 0; i < b.l->n; i++)
                jv_list_push(c, l.l, b.l->v[i]);
            return l;
        }
        op_fail(c, "+", a, b);
    case OP_SUB:
        if (is_int(a) && is_int(b)) {
            int64_t r;
            if (__builtin_sub_overflow(as_int(a), as_int(b), &r)) jinja_fail(c, "integer overflow");
            return jv_int(r);
        }
        if (is_num(a) && is_num(b)) return jv_float(as_f(a) - as_f(b));
        op_fail(c, "-", a, b);
    case OP_MUL:
        if (is_int(a) && is_int(b)) {
            int64_t r;
            if (__builtin_mul_overflow(as_int(a), as_int(b), &r)) jinja_fail(c, "integer overflow");
            return jv_int(r);
        }
        if (is_num(a) && is_num(b)) return jv_float(as_f(a) * as_f(b));
        if ((a.t == JV_STR || a.t == JV_LIST) && is_int(b)) return repeat(c, a, as_int(b));
        if ((b.t == JV_STR || b.t == JV_LIST) && is_int(a)) return repeat(c, b, as_int(a));
        op_fail(c, "*", a, b);
    case OP_DIV:
        if (is_num(a) && is_num(b)) {
            if (as_f(b) == 0) jinja_fail(c, "division by zero");
            return jv_float(as_f(a) / as_f(b));
        }
        op_fail(c, "/", a, b);
    case OP_FLOORDIV:
    case OP_MOD:
        if (is_int(a) && is_int(b)) {
            int64_t x = as_int(a), y = as_int(b);
            if (y == 0) jinja_fail(c, "division by zero");
            if (x == INT64_MIN && y == -1) jinja_fail(c, "integer overflow");
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q--;
                m += y;
            }
            return jv_int(op == OP_MOD ? m : q);
        }
        if (is_num(a) && is_num(b)) {
            if (as_f(b) == 0) jinja_fail(c, "division by zero");
            return jv_float(op == OP_MOD ? py_fmod(as_f(a), as_f(b)) : floor(as_f(a) / as_f(b)));
        }
        op_fail(c, op == OP_MOD ? "%" : "//", a, b);
    case OP_POW:
        if (is_int(a) && is_int(b) && as_int(b) >= 0) {
            int64_t r = 1, base = as_int(a);
            for (int64_t e = as_int(b); e > 0; e--)
                if (__builtin_mul_overflow(r, base, &r)) jinja_fail(c, "integer overflow");
            return jv_int(r);
        }
        if (is_num(a) && is_num(b)) return jv_float(pow(as_f(a), as_f(b)));
        op_fail(c, "**", a, b);
    case OP_CONCAT:
        return concat_str(c, jv_stringify(c, a), jv_stringify(c, b));
    case OP_EQ:
        return jv_bool(jv_equal(a, b));
    case OP_NE:
        return jv_bool(!jv_equal(a, b));
    case OP_LT:
        return jv_bool(jv_compare(c, a, b) < 0);
    case OP_LE:
        return jv_bool(jv_compare(c, a, b) <= 0);
    case OP_GT:
        return jv_bool(jv_compare(c, a, b) > 0);
    case OP_GE:
        return jv_bool(jv_compare(c, a, b) >= 0);
    case OP_IN:
    case OP_NOTIN: {
        bool in = false;
        if (b.t == JV_STR) {
            if (a.t != JV_STR) op_fail(c, "in", a, b);
            in = a.n == 0 || (a.n <= b.n && memmem(b.s, b.n, a.s, a.n));
        } else if (b.t == JV_LIST) {
            for (size_t i = 0; i < b.l->n && !in; i++)
                in = jv_equal(a, b.l->v[i]);
        } else if (b.t == JV_DICT)
            in = jv_dict_find(b.d, a) != NULL;
        else if (b.t != JV_UNDEF)
            jinja_fail(c, "argument of type '%s' is not iterable", jv_type_name(b));
        return jv_bool(op == OP_IN ? in : !in);
    }
    }
    jinja_fail(c, "unknown operator");
}

/* ------------------------------------------------------- access, slicing */

jv jinja_getattr(jctx *c, jv obj, const char *name)
{
    if (obj.t == JV_UNDEF) {
        if (obj.s) jinja_fail(c, "'%.*s' is undefined", (int)obj.n, obj.s);
        jinja_fail(c, "an undefined value has no attribute '%s'", name);
    }
    if (obj.t == JV_DICT && obj.d->ns) {
        jv *v = jv_dict_find_str(obj.d, name);
        return v ? *v : jv_undef(NULL);
    }
    /* jinja2 looks for a Python attribute first (the methods), then an item */
    if (jinja_has_method(obj, name)) {
        jv f = {.t = JV_FUNC};
        f.fn = jinja_alloc(c->ar, sizeof(jfunc));
        f.fn->kind = JF_METHOD;
        f.fn->self = obj;
        f.fn->name = name;
        return f;
    }
    if (obj.t == JV_DICT) {
        jv *v = jv_dict_find_str(obj.d, name);
        if (v) return *v;
    }
    return jv_undef(NULL);
}

static bool norm_index(int64_t *i, size_t n)
{
    if (*i < 0) *i += (int64_t)n;
    return *i >= 0 && (uint64_t)*i < n;
}

/* byte offset of the i-th character */
static size_t utf8_off(jv s, size_t i)
{
    size_t k = 0, p = 0;
    for (; p < s.n; p++)
        if (((unsigned char)s.s[p] & 0xC0) != 0x80 && k++ == i) return p;
    return s.n;
}

jv jinja_getitem(jctx *c, jv obj, jv key)
{
    switch (obj.t) {
    case JV_DICT: {
        jv *v = jv_dict_find(obj.d, key);
        if (v) return *v;
        if (key.t == JV_STR && jinja_has_method(obj, jinja_strndup(c->ar, key.s, key.n)))
            return jinja_getattr(c, obj, jinja_strndup(c->ar, key.s, key.n));
        return jv_undef(NULL);
    }
    case JV_LIST:
        if (is_int(key)) {
            int64_t i = as_int(key);
            return norm_index(&i, obj.l->n) ? obj.l->v[i] : jv_undef(NULL);
        }
        break;
    case JV_STR:
        if (is_int(key)) {
            size_t len = jv_utf8_len(obj.s, obj.n);
            int64_t i = as_int(key);
            if (!norm_index(&i, len)) return jv_undef(NULL);
            size_t a = utf8_off(obj, (size_t)i), b = utf8_off(obj, (size_t)i + 1);
            return jv_strn(obj.s + a, b - a);
        }
        break;
    case JV_UNDEF:
        if (obj.s) jinja_fail(c, "'%.*s' is undefined", (int)obj.n, obj.s);
        jinja_fail(c, "an undefined value has no items");
    default:
        break;
    }
    /* jinja2 turns a failed subscript (none[0], 1['a']) into Undefined */
    if (key.t == JV_STR) return jinja_getattr(c, obj, jinja_strndup(c->ar, key.s, key.n));
    return jv_undef(NULL);
}

static int64_t slice_bound(jctx *c, jv v, int64_t def, int64_t n, int64_t step)
{
    if (v.t == JV_NONE || v.t == JV_UNDEF) return def;
    if (!is_int(v)) jinja_fail(c, "slice indices must be integers");
    int64_t i = as_int(v);
    if (i < 0) {
        i += n;
        if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= n)
        i = step < 0 ? n - 1 : n;
    return i;
}

static jv slice(jctx *c, jv obj, jv start, jv stop, jv stepv)
{
    int64_t step = 1;
    if (stepv.t != JV_NONE && stepv.t != JV_UNDEF) {
        if (!is_int(stepv)) jinja_fail(c, "slice indices must be integers");
        step = as_int(stepv);
        if (step == 0) jinja_fail(c, "slice step cannot be zero");
    }
    jlist *items;
    bool str = obj.t == JV_STR;
    if (str)
        items = jv_str_chars(c, obj).l;
    else if (obj.t == JV_LIST)
        items = obj.l;
    else /* jinja2 slices in Python directly, not through its forgiving getitem */
        jinja_fail(c, "'%s' object is not subscriptable", jv_type_name(obj));
    int64_t n = (int64_t)items->n;
    int64_t lo = slice_bound(c, start, step < 0 ? n - 1 : 0, n, step);
    int64_t hi = slice_bound(c, stop, step < 0 ? -1 : n, n, step);
    jv out = jv_list_new(c);
    for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step)
        jv_list_push(c, out.l, items->v[i]);
    if (!str) return out;
    cc_buf b = CC_BUF_INIT;
    for (size_t i = 0; i < out.l->n; i++)
        cc_buf_append(&b, out.l->v[i].s, out.l->v[i].n);
    jv r = jv_strn(jinja_strndup(c->ar, b.data ? (const char *)b.data : "", b.len), b.len);
    cc_buf_free(&b);
    return r;
}

/* -------------------------------------------------------------- calls */

static jv call_macro(jctx *c, const jfunc *f, jv *args, size_t nargs, const char **kwn, jv *kwv,
                     size_t nkw)
{
    const jnode *m = f->node;
    if (++c->depth > c->lim.max_depth) jinja_fail(c, "macro calls nested too deeply");
    jinja_step(c);
    jscope *s = scope_new(c, f->kind == JF_CALLER ? f->scope : c->root);
    if (nargs > m->names.n)
        jinja_fail(c, "macro '%s' takes not more than %zu argument(s)",
                   f->name ? f->name : "caller", m->names.n);
    for (size_t i = 0; i < m->names.n; i++) {
        jv v = jv_undef(m->names.v[i]);
        bool have = false;
        if (i < nargs) {
            v = args[i];
            have = true;
        }
        for (size_t k = 0; k < nkw; k++)
            if (!strcmp(kwn[k], m->names.v[i])) {
                v = kwv[k];
                have = true;
            }
        if (!have && m->y.v[i]) v = eval(c, s, m->y.v[i]);
        scope_set(c, s, m->names.v[i], v);
    }
    for (size_t k = 0; k < nkw; k++) {
        bool known = false;
        for (size_t i = 0; i < m->names.n; i++)
            known |= !strcmp(kwn[k], m->names.v[i]);
        if (!known)
            jinja_fail(c, "macro '%s' takes no keyword argument '%s'", f->name ? f->name : "caller",
                       kwn[k]);
    }
    if (f->caller.t == JV_FUNC) scope_set(c, s, "caller", f->caller);
    jinja_capture_begin(c);
    exec_body(c, s, &m->x);
    c->loopctl = 0;
    jv r = jinja_capture_end(c);
    c->depth--;
    return r;
}

jv jinja_call_value(jctx *c, jv fn, jv *args, size_t nargs, const char **kwn, jv *kwv, size_t nkw)
{
    if (fn.t == JV_UNDEF) {
        if (fn.s) jinja_fail(c, "'%.*s' is undefined", (int)fn.n, fn.s);
        jinja_fail(c, "an undefined value is not callable");
    }
    if (fn.t != JV_FUNC) jinja_fail(c, "'%s' object is not callable", jv_type_name(fn));
    switch (fn.fn->kind) {
    case JF_MACRO:
    case JF_CALLER:
        return call_macro(c, fn.fn, args, nargs, kwn, kwv, nkw);
    case JF_METHOD:
        return jinja_call_method(c, fn.fn->self, fn.fn->name, args, nargs, kwn, kwv, nkw);
    case JF_BUILTIN:
        return jinja_call_global(c, fn.fn->name, args, nargs, kwn, kwv, nkw);
    }
    jinja_fail(c, "not callable");
}

typedef struct argv_ {
    jv *args, *kwv;
    const char **kwn;
    size_t nargs, nkw;
} argv_;

static argv_ eval_args(jctx *c, jscope *s, const jnode *n)
{
    argv_ a = {0};
    a.nargs = n->x.n;
    a.nkw = n->y.n;
    a.args = jinja_alloc(c->ar, (a.nargs + 1) * sizeof(jv));
    a.kwv = jinja_alloc(c->ar, (a.nkw + 1) * sizeof(jv));
    a.kwn = n->names.v;
    for (size_t i = 0; i < a.nargs; i++)
        a.args[i] = eval(c, s, n->x.v[i]);
    for (size_t i = 0; i < a.nkw; i++)
        a.kwv[i] = eval(c, s, n->y.v[i]);
    return a;
}

static jv apply_filters(jctx *c, jscope *s, const jnode *f, jv v)
{
    /* a filter chain parsed with a NULL innermost operand (block set, filter block) */
    if (f->a) v = apply_filters(c, s, f->a, v);
    argv_ a = eval_args(c, s, f);
    at(c, f);
    return jinja_filter(c, f->v.s, v, a.args, a.nargs, a.kwn, a.kwv, a.nkw);
}

/* --------------------------------------------------------- expressions */

static jv eval(jctx *c, jscope *s, const jnode *n)
{
    if (++c->depth > c->lim.max_depth) jinja_fail(c, "expression nested too deeply");
    at(c, n);
    jv r;
    switch (n->kind) {
    case N_CONST:
        r = n->v;
        break;
    case N_NAME: {
        jv *v = scope_find(s, n->v.s);
        if (v)
            r = *v;
        else if (jinja_is_global(n->v.s)) {
            r = (jv){.t = JV_FUNC};
            r.fn = jinja_alloc(c->ar, sizeof(jfunc));
            r.fn->kind = JF_BUILTIN;
            r.fn->name = n->v.s;
        } else
            r = jv_undef(n->v.s);
        break;
    }
    case N_LIST:
        r = jv_list_new(c);
        r.l->tuple = n->op == 1;
        for (size_t i = 0; i < n->x.n; i++)
            jv_list_push(c, r.l, eval(c, s, n->x.v[i]));
        break;
    case N_DICT:
        r = jv_dict_new(c);
        for (size_t i = 0; i < n->x.n; i++) {
            jv k = eval(c, s, n->x.v[i]);
            jv_dict_set(c, r.d, k, eval(c, s, n->y.v[i]));
        }
        break;
    case N_ATTR: {
        jv o = eval(c, s, n->a);
        at(c, n);
        r = jinja_getattr(c, o, n->v.s);
        break;
    }
    case N_ITEM: {
        jv o = eval(c, s, n->a), k = eval(c, s, n->b);
        at(c, n);
        r = jinja_getitem(c, o, k);
        break;
    }
    case N_SLICE: {
        jv o = eval(c, s, n->a);
        jv a = n->b ? eval(c, s, n->b) : jv_none(), b = n->c ? eval(c, s, n->c) : jv_none(),
           st = n->d ? eval(c, s, n->d) : jv_none();
        at(c, n);
        if (o.t == JV_UNDEF) jinja_getitem(c, o, jv_none());
        r = slice(c, o, a, b, st);
        break;
    }
    case N_CALL: {
        jv fn = eval(c, s, n->a);
        argv_ a = eval_args(c, s, n);
        at(c, n);
        r = jinja_call_value(c, fn, a.args, a.nargs, a.kwn, a.kwv, a.nkw);
        break;
    }
    case N_FILTER: {
        jv v = eval(c, s, n->a);
        argv_ a = eval_args(c, s, n);
        at(c, n);
        r = jinja_filter(c, n->v.s, v, a.args, a.nargs, a.kwn, a.kwv, a.nkw);
        break;
    }
    case N_TEST: {
        jv v;
        /* `x is defined` must not fail on x.y of an undefined x */
        v = eval(c, s, n->a);
        argv_ a = eval_args(c, s, n);
        at(c, n);
        bool t = jinja_test(c, n->v.s, v, a.args, a.nargs);
        r = jv_bool(n->op ? !t : t);
        break;
    }
    case N_NOT:
        r = jv_bool(!jv_truthy(eval(c, s, n->a)));
        break;
    case N_NEG:
    case N_POS: {
        jv v = eval(c, s, n->a);
        at(c, n);
        if (v.t == JV_FLOAT)
            r = jv_float(n->kind == N_NEG ? -v.f : v.f);
        else if (is_int(v)) {
            if (n->kind == N_NEG && as_int(v) == INT64_MIN) jinja_fail(c, "integer overflow");
            r = jv_int(n->kind == N_NEG ? -as_int(v) : as_int(v));
        } else
            jinja_fail(c, "bad operand type for unary %c: '%s'", n->kind == N_NEG ? '-' : '+',
                       jv_type_name(v));
        break;
    }
    case N_BIN: {
        jv a = eval(c, s, n->a), b = eval(c, s, n->b);
        at(c, n);
        r = binop(c, n->op, a, b);
        break;
    }
    case N_AND: {
        jv a = eval(c, s, n->a);
        r = jv_truthy(a) ? eval(c, s, n->b) : a;
        break;
    }
    case N_OR: {
        jv a = eval(c, s, n->a);
        r = jv_truthy(a) ? a : eval(c, s, n->b);
        break;
    }
    case N_COND:
        if (jv_truthy(eval(c, s, n->a)))
            r = eval(c, s, n->b);
        else
            r = n->c ? eval(c, s, n->c) : jv_undef(NULL);
        break;
    default:
        jinja_fail(c, "a statement where an expression belongs");
    }
    c->depth--;
    return r;
}

/* ---------------------------------------------------------- statements */

static void assign(jctx *c, jscope *s, const jnames *names, jv v)
{
    if (names->n == 1) {
        scope_set(c, s, names->v[0], v);
        return;
    }
    jlist *items = v.t == JV_LIST ? v.l : jv_iter(c, v);
    if (items->n != names->n)
        jinja_fail(c, "cannot unpack %zu values into %zu names", items->n, names->n);
    for (size_t i = 0; i < names->n; i++)
        scope_set(c, s, names->v[i], items->v[i]);
}

static void exec_for(jctx *c, jscope *s, const jnode *n)
{
    jv it = eval(c, s, n->a);
    at(c, n);
    jlist *all = jv_iter(c, it);
    jscope *ls = scope_new(c, s);
    /* the filter runs first so loop.length and loop.last count what is kept */
    jlist *items = all;
    if (n->b) {
        items = jv_list_new(c).l;
        for (size_t i = 0; i < all->n; i++) {
            jinja_step(c);
            assign(c, ls, &n->names, all->v[i]);
            if (jv_truthy(eval(c, ls, n->b))) jv_list_push(c, items, all->v[i]);
        }
    }
    if (!items->n) {
        exec_body(c, s, &n->y);
        return;
    }
    jv loop = jv_dict_new(c);
    static const char *const keys[] = {"index",    "index0", "revindex", "revindex0",
                                       "first",    "last",   "length",   "previtem",
                                       "nextitem", "depth",  "depth0"};
    jv kv[CC_ARRAY_LEN(keys)];
    for (size_t k = 0; k < CC_ARRAY_LEN(keys); k++) {
        kv[k] = jv_str(c, keys[k]);
        jv_dict_set(c, loop.d, kv[k], jv_none());
    }
    scope_set(c, ls, "loop", loop);
    size_t len = items->n;
    for (size_t i = 0; i < len; i++) {
        jinja_step(c);
        /* the same loop object each round, updated in place (no garbage per round) */
        jv *v = loop.d->v;
        v[0] = jv_int((int64_t)i + 1);
        v[1] = jv_int((int64_t)i);
        v[2] = jv_int((int64_t)(len - i));
        v[3] = jv_int((int64_t)(len - i - 1));
        v[4] = jv_bool(i == 0);
        v[5] = jv_bool(i == len - 1);
        v[6] = jv_int((int64_t)len);
        v[7] = i ? items->v[i - 1] : jv_undef(NULL);
        v[8] = i + 1 < len ? items->v[i + 1] : jv_undef(NULL);
        v[9] = jv_int(1);
        v[10] = jv_int(0);
        assign(c, ls, &n->names, items->v[i]);
        scope_set(c, ls, "loop", loop);
        exec_body(c, ls, &n->x);
        int ctl = c->loopctl;
        c->loopctl = 0;
        if (ctl == 1) break;
    }
}

static void exec(jctx *c, jscope *s, const jnode *n)
{
    at(c, n);
    switch (n->kind) {
    case N_TEXT:
        emit(c, n->v.s, n->v.n);
        break;
    case N_OUTPUT: {
        jv v = eval(c, s, n->a);
        if (v.t == JV_STR)
            emit(c, v.s, v.n);
        else {
            size_t before = c->out->len;
            jv_to_str(c, c->out, v);
            if (c->out->len > c->lim.max_output) {
                c->out->len = before;
                jinja_fail(c, "the output is longer than the limit of %zu bytes",
                           c->lim.max_output);
            }
        }
        break;
    }
    case N_IF:
        exec_body(c, s, jv_truthy(eval(c, s, n->a)) ? &n->x : &n->y);
        break;
    case N_FOR:
        exec_for(c, s, n);
        break;
    case N_SET: {
        jv v = eval(c, s, n->a);
        at(c, n);
        if (n->op) {
            jv *ns = scope_find(s, n->names.v[0]);
            if (!ns || ns->t != JV_DICT || !ns->d->ns)
                jinja_fail(c, "cannot assign attribute on non-namespace object");
            jv_dict_set(c, ns->d, jv_str(c, n->v.s), v);
        } else
            assign(c, s, &n->names, v);
        break;
    }
    case N_SETBLOCK:
    case N_FILTERBLOCK: {
        jinja_capture_begin(c);
        exec_body(c, s, &n->x);
        jv v = jinja_capture_end(c);
        if (n->b) v = jv_stringify(c, apply_filters(c, s, n->b, v));
        if (n->kind == N_SETBLOCK)
            scope_set(c, s, n->names.v[0], v);
        else
            emit(c, v.s, v.n);
        break;
    }
    case N_MACRO: {
        jv f = {.t = JV_FUNC};
        f.fn = jinja_alloc(c->ar, sizeof(jfunc));
        f.fn->kind = JF_MACRO;
        f.fn->node = n;
        f.fn->name = n->v.s;
        scope_set(c, s, n->v.s, f);
        break;
    }
    case N_CALLBLOCK: {
        jv caller = {.t = JV_FUNC};
        caller.fn = jinja_alloc(c->ar, sizeof(jfunc));
        caller.fn->kind = JF_CALLER;
        caller.fn->node = n;
        caller.fn->scope = s;
        caller.fn->name = "caller";
        jv fn = eval(c, s, n->a->a);
        argv_ a = eval_args(c, s, n->a);
        at(c, n);
        if (fn.t != JV_FUNC || fn.fn->kind != JF_MACRO) jinja_fail(c, "a call block needs a macro");
        jfunc with = *fn.fn;
        with.caller = caller;
        jv r = call_macro(c, &with, a.args, a.nargs, a.kwn, a.kwv, a.nkw);
        emit(c, r.s, r.n);
        break;
    }
    case N_BREAK:
        c->loopctl = 1;
        break;
    case N_CONTINUE:
        c->loopctl = 2;
        break;
    case N_BODY:
        exec_body(c, s, &n->x);
        break;
    default:
        jinja_fail(c, "an expression where a statement belongs");
    }
}

static void exec_body(jctx *c, jscope *s, const jnlist *body)
{
    if (++c->depth > c->lim.max_depth) jinja_fail(c, "blocks nested too deeply");
    for (size_t i = 0; i < body->n && !c->loopctl; i++)
        exec(c, s, body->v[i]);
    c->depth--;
}

/* ------------------------------------------------------------- the API */

engine_jinja_limits engine_jinja_default_limits(void)
{
    return (engine_jinja_limits){
        .max_output = 16u << 20, .max_memory = 256u << 20, .max_steps = 1000000, .max_depth = 200};
}

engine_jinja *engine_jinja_parse(const char *src, size_t len, cc_err *err)
{
    engine_jinja *t = cc_calloc(1, sizeof(*t));
    if (jinja_parse(t, src, len, err)) {
        engine_jinja_free(t);
        return NULL;
    }
    return t;
}

void engine_jinja_free(engine_jinja *t)
{
    if (!t) return;
    jinja_arena_free(&t->ar);
    free(t);
}

char *engine_jinja_render(const engine_jinja *t, const json_t *vars, const engine_jinja_limits *lim,
                          size_t *out_len, cc_err *err)
{
    /* The arena and the output live in the heap context, not in locals:
     * locals changed after setjmp are indeterminate after the longjmp. */
    jmp_buf oom;
    jctx *volatile c = cc_calloc(1, sizeof(jctx));
    c->ar = &c->own_ar;
    c->out = &c->own_out;
    c->err = err;
    c->lim = lim ? *lim : engine_jinja_default_limits();
    c->own_ar.limit = c->lim.max_memory;
    c->own_ar.oom = &oom;
    int why = setjmp(oom);
    if (!why) why = setjmp(c->jb) ? 1 : 0;
    if (why) {
        if (why == 2)
            cc_err_set(err, "template line %u, column %u: more than %zu bytes of values", c->line,
                       c->col, c->lim.max_memory);
        for (tmpbuf *b = c->tmp; b; b = b->prev)
            cc_buf_free(&b->b);
        cc_buf_free(&c->own_out);
        jinja_arena_free(&c->own_ar);
        free(c);
        return NULL;
    }
    c->root = scope_new(c, NULL);
    if (vars && json_is_object(vars)) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)vars, k, v)
            scope_set(c, c->root, jinja_strndup(c->ar, k, strlen(k)), jv_from_json(c, v));
    }
    exec_body(c, c->root, &t->body->x);
    jinja_arena_free(&c->own_ar);
    cc_buf out = c->own_out;
    free(c);
    cc_buf_append_u8(&out, 0);
    if (out_len) *out_len = out.len - 1;
    return (char *)out.data;
}
