/*
 * The Jinja interpreter's values: the arena they live in, Python's notions of
 * truth, equality and order, str()/repr() and Hugging Face's tojson.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "engine/jinja_int.h"

/* ------------------------------------------------------------- arena */

struct jinja_chunk {
    jinja_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *jinja_alloc(jinja_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (a->limit && (n > a->limit || a->used > a->limit - n)) {
        if (a->oom) longjmp(*a->oom, 2);
        abort();
    }
    a->used += n;
    jinja_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = cc_malloc(sizeof(*c) + cap);
        c->used = 0;
        c->cap = cap;
        /* a big block goes behind the current one so its free tail stays usable */
        if (a->head && n > 65536) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *jinja_strndup(jinja_arena *a, const char *s, size_t n)
{
    char *p = jinja_alloc(a, n + 1);
    if (n) memcpy(p, s, n);
    return p;
}

void jinja_arena_free(jinja_arena *a)
{
    for (jinja_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
    a->used = 0;
}

/* -------------------------------------------------------- constructors */

jv jv_str(jctx *c, const char *s)
{
    size_t n = strlen(s);
    return jv_strn(jinja_strndup(c->ar, s, n), n);
}

jv jv_list_new(jctx *c)
{
    jv v = {.t = JV_LIST};
    v.l = jinja_alloc(c->ar, sizeof(jlist));
    return v;
}

jv jv_dict_new(jctx *c)
{
    jv v = {.t = JV_DICT};
    v.d = jinja_alloc(c->ar, sizeof(jdict));
    return v;
}

void jv_list_push(jctx *c, jlist *l, jv v)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jv *nv = jinja_alloc(c->ar, cap * sizeof(jv));
        if (l->n) memcpy(nv, l->v, l->n * sizeof(jv));
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
}

jv *jv_dict_find(const jdict *d, jv k)
{
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->k[i], k)) return &d->v[i];
    return NULL;
}

jv *jv_dict_find_str(const jdict *d, const char *k)
{
    size_t n = strlen(k);
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].t == JV_STR && d->k[i].n == n && !memcmp(d->k[i].s, k, n)) return &d->v[i];
    return NULL;
}

void jv_dict_set(jctx *c, jdict *d, jv k, jv v)
{
    jv *slot = jv_dict_find(d, k);
    if (slot) {
        *slot = v;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        jv *nk = jinja_alloc(c->ar, cap * sizeof(jv)), *nv = jinja_alloc(c->ar, cap * sizeof(jv));
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof(jv));
            memcpy(nv, d->v, d->n * sizeof(jv));
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n++] = v;
}

/* ---------------------------------------------------- truth, order, equality */

bool jv_truthy(jv v)
{
    switch (v.t) {
    case JV_BOOL:
        return v.b;
    case JV_INT:
        return v.i != 0;
    case JV_FLOAT:
        return v.f != 0;
    case JV_STR:
        return v.n > 0;
    case JV_LIST:
        return v.l->n > 0;
    case JV_DICT:
        return v.d->n > 0;
    case JV_FUNC:
        return true;
    default:
        return false;
    }
}

static bool is_num(jv v)
{
    return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
}
static double num(jv v)
{
    return v.t == JV_FLOAT ? v.f : v.t == JV_INT ? (double)v.i : (double)v.b;
}

/* Lists nested deeper than this compare unequal: a template can nest a
 * list a million deep in a loop, and the recursion must not exhaust the
 * stack (real data never comes near it). */
#define EQ_MAX_DEPTH 256

static bool equal_at(jv a, jv b, int depth);

bool jv_equal(jv a, jv b)
{
    return equal_at(a, b, 0);
}

static bool equal_at(jv a, jv b, int depth)
{
    if (depth > EQ_MAX_DEPTH) return false;
    if (is_num(a) && is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT)
            return (a.t == JV_INT ? a.i : a.b) == (b.t == JV_INT ? b.i : b.b);
        return num(a) == num(b);
    }
    if (a.t != b.t) return false;
    switch (a.t) {
    case JV_UNDEF:
    case JV_NONE:
        return true;
    case JV_STR:
        return a.n == b.n && !memcmp(a.s, b.s, a.n);
    case JV_LIST:
        if (a.l->n != b.l->n) return false;
        for (size_t i = 0; i < a.l->n; i++)
            if (!equal_at(a.l->v[i], b.l->v[i], depth + 1)) return false;
        return true;
    case JV_DICT:
        if (a.d->n != b.d->n) return false;
        for (size_t i = 0; i < a.d->n; i++) {
            jv *o = jv_dict_find(b.d, a.d->k[i]);
            if (!o || !equal_at(a.d->v[i], *o, depth + 1)) return false;
        }
        return true;
    case JV_FUNC:
        return a.fn == b.fn;
    default:
        return false;
    }
}

int jv_compare(jctx *c, jv a, jv b)
{
    if (is_num(a) && is_num(b)) {
        if (a.t == JV_INT && b.t == JV_INT) return (a.i > b.i) - (a.i < b.i);
        double x = num(a), y = num(b);
        return (x > y) - (x < y);
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        /* UTF-8 byte order is code point order, as Python compares str */
        size_t n = a.n < b.n ? a.n : b.n;
        int r = n ? memcmp(a.s, b.s, n) : 0;
        if (r) return r < 0 ? -1 : 1;
        return (a.n > b.n) - (a.n < b.n);
    }
    if (a.t == JV_LIST && b.t == JV_LIST) {
        if (c->depth > c->lim.max_depth) jinja_fail(c, "lists nested too deeply to compare");
        for (size_t i = 0; i < a.l->n && i < b.l->n; i++) {
            if (jv_equal(a.l->v[i], b.l->v[i])) continue;
            c->depth++;
            int r = jv_compare(c, a.l->v[i], b.l->v[i]);
            c->depth--;
            return r;
        }
        return (a.l->n > b.l->n) - (a.l->n < b.l->n);
    }
    jinja_fail(c, "cannot compare %s with %s", jv_type_name(a), jv_type_name(b));
}

const char *jv_type_name(jv v)
{
    static const char *const names[] = {"Undefined", "NoneType", "bool", "int",     "float",
                                        "str",       "list",     "dict", "function"};
    if (v.t == JV_DICT && v.d->ns) return "Namespace";
    return names[v.t];
}

/* ------------------------------------------------------------ strings */

size_t jv_utf8_len(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) k++;
    return k;
}

jv jv_str_chars(jctx *c, jv s)
{
    jv l = jv_list_new(c);
    for (size_t i = 0; i < s.n;) {
        size_t j = i + 1;
        while (j < s.n && ((unsigned char)s.s[j] & 0xC0) == 0x80)
            j++;
        jv_list_push(c, l.l, jv_strn(s.s + i, j - i));
        i = j;
    }
    return l;
}

void jv_fmt_float(cc_buf *b, double f)
{
    if (isnan(f)) {
        cc_buf_append_str(b, "nan");
        return;
    }
    if (isinf(f)) {
        cc_buf_append_str(b, f < 0 ? "-inf" : "inf");
        return;
    }
    /* Python's repr: the shortest digits that read back as the same double,
     * positional from 1e-4 up to (not including) 1e16, else scientific with an
     * exponent of at least two digits */
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    int exp10 = atoi(strchr(tmp, 'e') + 1);
    if (exp10 >= -4 && exp10 < 16) {
        int decimals = prec - 1 - exp10;
        if (decimals < 0) decimals = 0;
        snprintf(tmp, sizeof(tmp), "%.*f", decimals, f);
        cc_buf_append_str(b, tmp);
        if (!strchr(tmp, '.')) cc_buf_append_str(b, ".0");
        return;
    }
    /* mantissa digits then e+XX / e-XX */
    char mant[32];
    snprintf(mant, sizeof(mant), "%.*e", prec - 1, f);
    char *e = strchr(mant, 'e');
    *e = 0;
    cc_buf_append_fmt(b, "%se%c%02d", mant, exp10 < 0 ? '-' : '+', abs(exp10));
}

static void repr_str(cc_buf *b, const char *s, size_t n)
{
    bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    cc_buf_append_u8(b, (uint8_t)q);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == (unsigned char)q || ch == '\\') {
            cc_buf_append_u8(b, '\\');
            cc_buf_append_u8(b, ch);
        } else if (ch == '\n')
            cc_buf_append_str(b, "\\n");
        else if (ch == '\r')
            cc_buf_append_str(b, "\\r");
        else if (ch == '\t')
            cc_buf_append_str(b, "\\t");
        else if (ch < 0x20 || ch == 0x7f)
            cc_buf_append_fmt(b, "\\x%02x", ch);
        else
            cc_buf_append_u8(b, ch);
    }
    cc_buf_append_u8(b, (uint8_t)q);
}

static void check_out(jctx *c, cc_buf *b)
{
    if (b->len > c->lim.max_output)
        jinja_fail(c, "the output is longer than the limit of %zu bytes", c->lim.max_output);
}

void jv_repr(jctx *c, cc_buf *b, jv v)
{
    if (++c->depth > c->lim.max_depth) jinja_fail(c, "values nested too deeply");
    switch (v.t) {
    case JV_STR:
        repr_str(b, v.s, v.n);
        break;
    case JV_LIST:
        cc_buf_append_u8(b, v.l->tuple ? '(' : '[');
        for (size_t i = 0; i < v.l->n; i++) {
            if (i) cc_buf_append_str(b, ", ");
            jv_repr(c, b, v.l->v[i]);
            check_out(c, b);
        }
        if (v.l->tuple && v.l->n == 1) cc_buf_append_u8(b, ',');
        cc_buf_append_u8(b, v.l->tuple ? ')' : ']');
        break;
    case JV_DICT:
        if (v.d->ns) cc_buf_append_str(b, "<Namespace ");
        cc_buf_append_u8(b, '{');
        for (size_t i = 0; i < v.d->n; i++) {
            if (i) cc_buf_append_str(b, ", ");
            jv_repr(c, b, v.d->k[i]);
            cc_buf_append_str(b, ": ");
            jv_repr(c, b, v.d->v[i]);
            check_out(c, b);
        }
        cc_buf_append_u8(b, '}');
        if (v.d->ns) cc_buf_append_u8(b, '>');
        break;
    default:
        jv_to_str(c, b, v);
    }
    c->depth--;
}

void jv_to_str(jctx *c, cc_buf *b, jv v)
{
    switch (v.t) {
    case JV_UNDEF:
        break;
    case JV_NONE:
        cc_buf_append_str(b, "None");
        break;
    case JV_BOOL:
        cc_buf_append_str(b, v.b ? "True" : "False");
        break;
    case JV_INT:
        cc_buf_append_fmt(b, "%lld", (long long)v.i);
        break;
    case JV_FLOAT:
        jv_fmt_float(b, v.f);
        break;
    case JV_STR:
        cc_buf_append(b, v.s, v.n);
        break;
    case JV_FUNC:
        cc_buf_append_fmt(b, "<function %s>", v.fn->name ? v.fn->name : "macro");
        break;
    default:
        jv_repr(c, b, v);
    }
    check_out(c, b);
}

jv jv_stringify(jctx *c, jv v)
{
    if (v.t == JV_STR) return v;
    jinja_capture_begin(c);
    jv_to_str(c, c->out, v);
    return jinja_capture_end(c);
}

/* ----------------------------------------------------------------- JSON */

static void json_str(cc_buf *b, const char *s, size_t n)
{
    cc_buf_append_u8(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"':
            cc_buf_append_str(b, "\\\"");
            break;
        case '\\':
            cc_buf_append_str(b, "\\\\");
            break;
        case '\n':
            cc_buf_append_str(b, "\\n");
            break;
        case '\r':
            cc_buf_append_str(b, "\\r");
            break;
        case '\t':
            cc_buf_append_str(b, "\\t");
            break;
        case '\b':
            cc_buf_append_str(b, "\\b");
            break;
        case '\f':
            cc_buf_append_str(b, "\\f");
            break;
        default:
            if (ch < 0x20)
                cc_buf_append_fmt(b, "\\u%04x", ch);
            else
                cc_buf_append_u8(b, ch);
        }
    }
    cc_buf_append_u8(b, '"');
}

static void json_newline(cc_buf *b, int indent, int level)
{
    cc_buf_append_u8(b, '\n');
    for (int i = 0; i < indent * level; i++)
        cc_buf_append_u8(b, ' ');
}

static int cmp_keys(const void *x, const void *y)
{
    const jv *a = *(const jv *const *)x, *b = *(const jv *const *)y;
    size_t n = a->n < b->n ? a->n : b->n;
    int r = n ? memcmp(a->s, b->s, n) : 0;
    return r ? r : (a->n > b->n) - (a->n < b->n);
}

void jv_to_json(jctx *c, cc_buf *b, jv v, int indent, bool sort_keys, int level)
{
    if (level > c->lim.max_depth) jinja_fail(c, "tojson: value nested too deeply");
    check_out(c, b);
    switch (v.t) {
    case JV_NONE:
        cc_buf_append_str(b, "null");
        break;
    case JV_BOOL:
        cc_buf_append_str(b, v.b ? "true" : "false");
        break;
    case JV_INT:
        cc_buf_append_fmt(b, "%lld", (long long)v.i);
        break;
    case JV_FLOAT:
        if (isnan(v.f))
            cc_buf_append_str(b, "NaN");
        else if (isinf(v.f))
            cc_buf_append_str(b, v.f < 0 ? "-Infinity" : "Infinity");
        else
            jv_fmt_float(b, v.f);
        break;
    case JV_STR:
        json_str(b, v.s, v.n);
        break;
    case JV_LIST:
        if (!v.l->n) {
            cc_buf_append_str(b, "[]");
            break;
        }
        cc_buf_append_u8(b, '[');
        for (size_t i = 0; i < v.l->n; i++) {
            if (i) cc_buf_append_str(b, indent >= 0 ? "," : ", ");
            if (indent >= 0) json_newline(b, indent, level + 1);
            jv_to_json(c, b, v.l->v[i], indent, sort_keys, level + 1);
        }
        if (indent >= 0) json_newline(b, indent, level);
        cc_buf_append_u8(b, ']');
        break;
    case JV_DICT: {
        if (!v.d->n) {
            cc_buf_append_str(b, "{}");
            break;
        }
        size_t n = v.d->n;
        const jv **order = jinja_alloc(c->ar, n * sizeof(*order));
        for (size_t i = 0; i < n; i++) {
            order[i] = &v.d->k[i];
            if (v.d->k[i].t != JV_STR)
                jinja_fail(c, "tojson: keys must be strings, not %s", jv_type_name(v.d->k[i]));
        }
        if (sort_keys) qsort(order, n, sizeof(*order), cmp_keys);
        cc_buf_append_u8(b, '{');
        for (size_t i = 0; i < n; i++) {
            if (i) cc_buf_append_str(b, indent >= 0 ? "," : ", ");
            if (indent >= 0) json_newline(b, indent, level + 1);
            json_str(b, order[i]->s, order[i]->n);
            cc_buf_append_str(b, ": ");
            jv_to_json(c, b, v.d->v[order[i] - v.d->k], indent, sort_keys, level + 1);
        }
        if (indent >= 0) json_newline(b, indent, level);
        cc_buf_append_u8(b, '}');
        break;
    }
    default:
        jinja_fail(c, "tojson: object of type %s is not JSON serializable", jv_type_name(v));
    }
}

jv jv_from_json(jctx *c, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_NULL:
        return jv_none();
    case JSON_TRUE:
        return jv_bool(true);
    case JSON_FALSE:
        return jv_bool(false);
    case JSON_INTEGER:
        return jv_int(json_integer_value(j));
    case JSON_REAL:
        return jv_float(json_real_value(j));
    case JSON_STRING: {
        size_t n = json_string_length(j);
        return jv_strn(jinja_strndup(c->ar, json_string_value(j), n), n);
    }
    case JSON_ARRAY: {
        jv l = jv_list_new(c);
        size_t i;
        const json_t *e;
        json_array_foreach(j, i, e) jv_list_push(c, l.l, jv_from_json(c, e));
        return l;
    }
    case JSON_OBJECT: {
        jv d = jv_dict_new(c);
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)j, k, e)
            jv_dict_set(c, d.d, jv_str(c, k), jv_from_json(c, e));
        return d;
    }
    }
    return jv_none();
}

jlist *jv_iter(jctx *c, jv v)
{
    switch (v.t) {
    case JV_LIST:
        return v.l;
    case JV_DICT: {
        jv l = jv_list_new(c);
        for (size_t i = 0; i < v.d->n; i++)
            jv_list_push(c, l.l, v.d->k[i]);
        return l.l;
    }
    case JV_STR:
        return jv_str_chars(c, v).l;
    case JV_UNDEF:
        return jv_list_new(c).l; /* jinja2's Undefined iterates as empty */
    default:
        jinja_fail(c, "'%s' object is not iterable", jv_type_name(v));
    }
}
