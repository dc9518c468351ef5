/*
 * The filters, tests, methods and global functions chat templates use, with
 * jinja2's and Python's behaviour, plus the globals Hugging Face adds
 * (raise_exception, strftime_now) and its tojson (no ASCII escapes, indent,
 * sort_keys). Methods that modify lists or dicts fail as in Hugging Face's
 * ImmutableSandboxedEnvironment.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/jinja_int.h"

typedef struct fargs {
    jv *args, *kwv;
    const char **kwn;
    size_t nargs, nkw;
} fargs;

/* Argument i (positional) or the keyword name; NULL when not given. */
static jv *arg(const fargs *a, size_t i, const char *name)
{
    for (size_t k = 0; k < a->nkw; k++)
        if (name && !strcmp(a->kwn[k], name)) return &a->kwv[k];
    return i < a->nargs ? &a->args[i] : NULL;
}

static bool is_intv(jv v)
{
    return v.t == JV_INT || v.t == JV_BOOL;
}

static int64_t arg_int(jctx *c, const fargs *a, size_t i, const char *name, int64_t def)
{
    jv *v = arg(a, i, name);
    if (!v) return def;
    if (!is_intv(*v)) jinja_fail(c, "argument '%s' must be an integer", name ? name : "?");
    return v->t == JV_INT ? v->i : v->b;
}

static bool arg_bool(const fargs *a, size_t i, const char *name, bool def)
{
    jv *v = arg(a, i, name);
    return v ? jv_truthy(*v) : def;
}

static jv need_str(jctx *c, jv v, const char *what)
{
    if (v.t == JV_UNDEF && v.s) jinja_fail(c, "'%.*s' is undefined", (int)v.n, v.s);
    if (v.t != JV_STR) jinja_fail(c, "%s needs a string, not %s", what, jv_type_name(v));
    return v;
}

static jv mkstr(jctx *c, const char *s, size_t n)
{
    return jv_strn(jinja_strndup(c->ar, s, n), n);
}

static bool py_space(unsigned char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f);
}

/* str.strip family; chars NULL: whitespace */
static jv strip(jctx *c, jv s, const jv *chars, bool left, bool right)
{
    (void)c;
    size_t a = 0, b = s.n;
    if (chars && chars->t == JV_STR) {
        while (left && a < b && memchr(chars->s, s.s[a], chars->n))
            a++;
        while (right && b > a && memchr(chars->s, s.s[b - 1], chars->n))
            b--;
    } else {
        while (left && a < b && py_space((unsigned char)s.s[a]))
            a++;
        while (right && b > a && py_space((unsigned char)s.s[b - 1]))
            b--;
    }
    return jv_strn(s.s + a, b - a);
}

/* mode 0 lower, 1 upper, 2 str.title() (a word starts after any non-letter),
 * 3 capitalize, 4 the title filter (a word starts after blanks, '-' or an
 * opening bracket, as jinja2's do_title splits) */
static jv change_case(jctx *c, jv s, int mode)
{
    char *p = jinja_strndup(c->ar, s.s, s.n);
    bool start = true;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 0x80) { /* non-ASCII letters keep their case (see docs/engine.md) */
            start = false;
            continue;
        }
        bool alpha = isalpha(ch);
        if (mode == 0)
            p[i] = (char)tolower(ch);
        else if (mode == 1)
            p[i] = (char)toupper(ch);
        else if (mode == 2 || mode == 4)
            p[i] = (char)(start ? toupper(ch) : tolower(ch));
        else
            p[i] = (char)(i == 0 ? toupper(ch) : tolower(ch));
        if (mode == 2) start = !alpha;
        if (mode == 4) start = py_space(ch) || strchr("-({[<", ch);
    }
    return jv_strn(p, s.n);
}

static jv replace(jctx *c, jv s, jv old, jv new_, int64_t count)
{
    jinja_capture_begin(c);
    size_t i = 0;
    int64_t done = 0;
    if (old.n == 0) {
        /* Python inserts the replacement between characters */
        for (size_t k = 0; k <= s.n; k++) {
            if ((k == s.n || ((unsigned char)s.s[k] & 0xC0) != 0x80) &&
                (count < 0 || done < count)) {
                cc_buf_append(c->out, new_.s, new_.n);
                done++;
            }
            if (k < s.n) cc_buf_append(c->out, s.s + k, 1);
            if (c->out->len > c->lim.max_output) jinja_fail(c, "replace: result too long");
        }
        return jinja_capture_end(c);
    }
    while (i < s.n) {
        const char *hit =
            (count < 0 || done < count) ? memmem(s.s + i, s.n - i, old.s, old.n) : NULL;
        if (!hit) {
            cc_buf_append(c->out, s.s + i, s.n - i);
            break;
        }
        size_t at = (size_t)(hit - s.s);
        cc_buf_append(c->out, s.s + i, at - i);
        cc_buf_append(c->out, new_.s, new_.n);
        if (c->out->len > c->lim.max_output) jinja_fail(c, "replace: result too long");
        i = at + old.n;
        done++;
    }
    return jinja_capture_end(c);
}

static jv split(jctx *c, jv s, const jv *sep, int64_t maxsplit)
{
    jv l = jv_list_new(c);
    if (!sep || sep->t == JV_NONE) {
        size_t i = 0;
        while (i < s.n) {
            while (i < s.n && py_space((unsigned char)s.s[i]))
                i++;
            if (i >= s.n) break;
            size_t j = i;
            if (maxsplit >= 0 && (int64_t)l.l->n >= maxsplit) {
                size_t e = s.n;
                while (e > i && py_space((unsigned char)s.s[e - 1]))
                    e--;
                jv_list_push(c, l.l, jv_strn(s.s + i, e - i));
                break;
            }
            while (j < s.n && !py_space((unsigned char)s.s[j]))
                j++;
            jv_list_push(c, l.l, jv_strn(s.s + i, j - i));
            i = j;
        }
        return l;
    }
    jv d = need_str(c, *sep, "split");
    if (!d.n) jinja_fail(c, "split: empty separator");
    size_t i = 0;
    for (;;) {
        const char *hit = (maxsplit < 0 || (int64_t)l.l->n < maxsplit)
                              ? memmem(s.s + i, s.n - i, d.s, d.n)
                              : NULL;
        if (!hit) {
            jv_list_push(c, l.l, jv_strn(s.s + i, s.n - i));
            return l;
        }
        jinja_step(c);
        jv_list_push(c, l.l, jv_strn(s.s + i, (size_t)(hit - s.s) - i));
        i = (size_t)(hit - s.s) + d.n;
    }
}

static bool affix(jv s, jv p, bool end)
{
    if (p.t != JV_STR || p.n > s.n) return false;
    return !memcmp(end ? s.s + s.n - p.n : s.s, p.s, p.n);
}

static bool affix_any(jctx *c, jv s, jv p, bool end)
{
    if (p.t == JV_LIST) {
        for (size_t i = 0; i < p.l->n; i++)
            if (affix(s, p.l->v[i], end)) return true;
        return false;
    }
    need_str(c, p, end ? "endswith" : "startswith");
    return affix(s, p, end);
}

static int64_t length(jctx *c, jv v)
{
    switch (v.t) {
    case JV_STR:
        return (int64_t)jv_utf8_len(v.s, v.n);
    case JV_LIST:
        return (int64_t)v.l->n;
    case JV_DICT:
        return (int64_t)v.d->n;
    case JV_UNDEF:
        return 0;
    default:
        jinja_fail(c, "object of type '%s' has no len()", jv_type_name(v));
    }
}

static jv items_of(jctx *c, jv d)
{
    jv l = jv_list_new(c);
    for (size_t i = 0; i < d.d->n; i++) {
        jv pair = jv_list_new(c);
        pair.l->tuple = true;
        jv_list_push(c, pair.l, d.d->k[i]);
        jv_list_push(c, pair.l, d.d->v[i]);
        jv_list_push(c, l.l, pair);
    }
    return l;
}

/* ------------------------------------------------------------- methods */

static const char *const str_methods[] = {"strip",    "lstrip",  "rstrip",  "split",  "startswith",
                                          "endswith", "upper",   "lower",   "title",  "capitalize",
                                          "replace",  "find",    "count",   "join",   "splitlines",
                                          "isdigit",  "isalpha", "isspace", "rsplit", NULL};
static const char *const dict_methods[] = {"items", "keys", "values", "get", "copy",
                                           /* present but refused by the sandbox */
                                           "update", "pop", "setdefault", "clear", "popitem", NULL};
static const char *const list_methods[] = {"index",  "count",  "copy", "append",  "extend", "pop",
                                           "insert", "remove", "sort", "reverse", "clear",  NULL};

static bool in_names(const char *const *names, const char *name)
{
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(names[i], name)) return true;
    return false;
}

bool jinja_has_method(jv self, const char *name)
{
    if (self.t == JV_STR) return in_names(str_methods, name);
    if (self.t == JV_DICT) return !self.d->ns && in_names(dict_methods, name);
    if (self.t == JV_LIST) return in_names(list_methods, name);
    return false;
}

jv jinja_call_method(jctx *c, jv self, const char *name, jv *args, size_t nargs, const char **kwn,
                     jv *kwv, size_t nkw)
{
    fargs a = {args, kwv, kwn, nargs, nkw};
    jinja_step(c);
    if (self.t == JV_STR) {
        if (!strcmp(name, "strip")) return strip(c, self, arg(&a, 0, "chars"), true, true);
        if (!strcmp(name, "lstrip")) return strip(c, self, arg(&a, 0, "chars"), true, false);
        if (!strcmp(name, "rstrip")) return strip(c, self, arg(&a, 0, "chars"), false, true);
        if (!strcmp(name, "split"))
            return split(c, self, arg(&a, 0, "sep"), arg_int(c, &a, 1, "maxsplit", -1));
        if (!strcmp(name, "rsplit") && !arg(&a, 1, "maxsplit"))
            return split(c, self, arg(&a, 0, "sep"), -1);
        if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
            jv *p = arg(&a, 0, "prefix");
            if (!p) jinja_fail(c, "%s needs an argument", name);
            return jv_bool(affix_any(c, self, *p, name[0] == 'e'));
        }
        if (!strcmp(name, "upper")) return change_case(c, self, 1);
        if (!strcmp(name, "lower")) return change_case(c, self, 0);
        if (!strcmp(name, "title")) return change_case(c, self, 2);
        if (!strcmp(name, "capitalize")) return change_case(c, self, 3);
        if (!strcmp(name, "replace")) {
            jv *o = arg(&a, 0, "old"), *n = arg(&a, 1, "new");
            if (!o || !n) jinja_fail(c, "replace needs two arguments");
            return replace(c, self, need_str(c, *o, "replace"), need_str(c, *n, "replace"),
                           arg_int(c, &a, 2, "count", -1));
        }
        if (!strcmp(name, "find") || !strcmp(name, "count")) {
            jv *p = arg(&a, 0, "sub");
            if (!p) jinja_fail(c, "%s needs an argument", name);
            jv sub = need_str(c, *p, name);
            if (!strcmp(name, "find")) {
                const char *hit = sub.n ? memmem(self.s, self.n, sub.s, sub.n) : self.s;
                return jv_int(hit ? (int64_t)jv_utf8_len(self.s, (size_t)(hit - self.s)) : -1);
            }
            int64_t k = 0;
            if (!sub.n) return jv_int((int64_t)jv_utf8_len(self.s, self.n) + 1);
            for (const char *p2 = self.s;
                 (p2 = memmem(p2, self.n - (size_t)(p2 - self.s), sub.s, sub.n)); p2 += sub.n)
                k++;
            return jv_int(k);
        }
        if (!strcmp(name, "join")) {
            jv *l = arg(&a, 0, "iterable");
            if (!l) jinja_fail(c, "join needs an argument");
            jlist *items = jv_iter(c, *l);
            jinja_capture_begin(c);
            for (size_t i = 0; i < items->n; i++) {
                if (i) cc_buf_append(c->out, self.s, self.n);
                jv e = need_str(c, items->v[i], "join");
                cc_buf_append(c->out, e.s, e.n);
            }
            return jinja_capture_end(c);
        }
        if (!strcmp(name, "splitlines")) {
            jv l = jv_list_new(c);
            size_t i = 0;
            while (i < self.n) {
                size_t j = i;
                while (j < self.n && self.s[j] != '\n' && self.s[j] != '\r')
                    j++;
                jv_list_push(c, l.l, jv_strn(self.s + i, j - i));
                if (j < self.n && self.s[j] == '\r' && j + 1 < self.n && self.s[j + 1] == '\n') j++;
                i = j + 1;
            }
            return l;
        }
        if (!strcmp(name, "isdigit") || !strcmp(name, "isalpha") || !strcmp(name, "isspace")) {
            if (!self.n) return jv_bool(false);
            for (size_t i = 0; i < self.n; i++) {
                unsigned char ch = (unsigned char)self.s[i];
                bool ok = name[2] == 'd'   ? isdigit(ch)
                          : name[2] == 'a' ? isalpha(ch)
                                           : py_space(ch);
                if (!ok) return jv_bool(false);
            }
            return jv_bool(true);
        }
    } else if (self.t == JV_DICT) {
        if (!strcmp(name, "items")) return items_of(c, self);
        if (!strcmp(name, "keys") || !strcmp(name, "values")) {
            jv l = jv_list_new(c);
            for (size_t i = 0; i < self.d->n; i++)
                jv_list_push(c, l.l, name[0] == 'k' ? self.d->k[i] : self.d->v[i]);
            return l;
        }
        if (!strcmp(name, "get")) {
            jv *k = arg(&a, 0, "key"), *d = arg(&a, 1, "default");
            if (!k) jinja_fail(c, "get needs a key");
            jv *v = jv_dict_find(self.d, *k);
            return v ? *v : d ? *d : jv_none();
        }
        if (!strcmp(name, "copy")) {
            jv d = jv_dict_new(c);
            for (size_t i = 0; i < self.d->n; i++)
                jv_dict_set(c, d.d, self.d->k[i], self.d->v[i]);
            return d;
        }
    } else if (self.t == JV_LIST) {
        if (!strcmp(name, "index") || !strcmp(name, "count")) {
            jv *x = arg(&a, 0, "value");
            if (!x) jinja_fail(c, "%s needs an argument", name);
            int64_t k = 0;
            for (size_t i = 0; i < self.l->n; i++)
                if (jv_equal(self.l->v[i], *x)) {
                    if (name[0] == 'i') return jv_int((int64_t)i);
                    k++;
                }
            if (name[0] == 'i') jinja_fail(c, "list.index(x): x not in list");
            return jv_int(k);
        }
        if (!strcmp(name, "copy")) {
            jv l = jv_list_new(c);
            for (size_t i = 0; i < self.l->n; i++)
                jv_list_push(c, l.l, self.l->v[i]);
            return l;
        }
    }
    jinja_fail(c, "access to attribute '%s' of '%s' object is unsafe.", name, jv_type_name(self));
}

/* -------------------------------------------------------------- globals */

static const char *const globals[] = {"range",           "namespace",    "dict",
                                      "raise_exception", "strftime_now", NULL};

bool jinja_is_global(const char *name)
{
    return in_names(globals, name);
}

jv jinja_call_global(jctx *c, const char *name, jv *args, size_t nargs, const char **kwn, jv *kwv,
                     size_t nkw)
{
    fargs a = {args, kwv, kwn, nargs, nkw};
    jinja_step(c);
    if (!strcmp(name, "range")) {
        int64_t lo = 0, hi, step = 1;
        if (nargs == 1)
            hi = arg_int(c, &a, 0, NULL, 0);
        else if (nargs >= 2) {
            lo = arg_int(c, &a, 0, NULL, 0);
            hi = arg_int(c, &a, 1, NULL, 0);
            step = arg_int(c, &a, 2, NULL, 1);
        } else
            jinja_fail(c, "range expected at least 1 argument");
        if (step == 0) jinja_fail(c, "range() arg 3 must not be zero");
        jv l = jv_list_new(c);
        for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) {
            jinja_step(c);
            jv_list_push(c, l.l, jv_int(i));
        }
        return l;
    }
    if (!strcmp(name, "namespace") || !strcmp(name, "dict")) {
        jv d = jv_dict_new(c);
        d.d->ns = name[0] == 'n';
        for (size_t i = 0; i < nargs; i++) {
            if (args[i].t != JV_DICT) jinja_fail(c, "%s() takes keyword arguments or a dict", name);
            for (size_t k = 0; k < args[i].d->n; k++)
                jv_dict_set(c, d.d, args[i].d->k[k], args[i].d->v[k]);
        }
        for (size_t k = 0; k < nkw; k++)
            jv_dict_set(c, d.d, jv_str(c, kwn[k]), kwv[k]);
        return d;
    }
    if (!strcmp(name, "raise_exception")) {
        jv *m = arg(&a, 0, "message");
        jv s = m ? jv_stringify(c, *m) : jv_strn("", 0);
        jinja_fail(c, "raise_exception: %.*s", (int)(s.n > 300 ? 300 : s.n), s.s);
    }
    if (!strcmp(name, "strftime_now")) {
        jv *f = arg(&a, 0, "format");
        if (!f) jinja_fail(c, "strftime_now needs a format");
        jv fmt = need_str(c, *f, "strftime_now");
        char *z = jinja_strndup(c->ar, fmt.s, fmt.n);
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char out[512];
        size_t n = strftime(out, sizeof(out), z, &tm);
        return mkstr(c, out, n);
    }
    jinja_fail(c, "'%s' is not callable", name);
}

/* -------------------------------------------------------------- filters */

static jv attr_path(jctx *c, jv v, jv attr)
{
    /* attribute='a.b' or an integer index, as jinja2's make_attrgetter */
    if (is_intv(attr)) return jinja_getitem(c, v, attr);
    jv s = need_str(c, attr, "attribute");
    size_t i = 0;
    while (i <= s.n) {
        size_t j = i;
        while (j < s.n && s.s[j] != '.')
            j++;
        jv key = jv_strn(s.s + i, j - i);
        bool digits = j > i;
        for (size_t k = i; k < j; k++)
            digits &= s.s[k] >= '0' && s.s[k] <= '9';
        v = digits
                ? jinja_getitem(c, v, jv_int(strtoll(jinja_strndup(c->ar, key.s, key.n), NULL, 10)))
                : jinja_getitem(c, v, key);
        i = j + 1;
    }
    return v;
}

static jv select_common(jctx *c, jv seq, const fargs *a, bool by_attr, bool keep)
{
    jlist *items = jv_iter(c, seq);
    jv out = jv_list_new(c);
    size_t first = 0;
    jv attr = {0};
    if (by_attr) {
        jv *at = arg(a, 0, NULL);
        if (!at) jinja_fail(c, "selectattr needs an attribute");
        attr = *at;
        first = 1;
    }
    jv *test = arg(a, first, NULL);
    for (size_t i = 0; i < items->n; i++) {
        jinja_step(c);
        jv v = by_attr ? attr_path(c, items->v[i], attr) : items->v[i];
        bool t;
        if (!test)
            t = jv_truthy(v);
        else {
            jv name = need_str(c, *test, "select");
            t = jinja_test(c, jinja_strndup(c->ar, name.s, name.n), v, a->args + first + 1,
                           a->nargs > first + 1 ? a->nargs - first - 1 : 0);
        }
        if (t == keep) jv_list_push(c, out.l, items->v[i]);
    }
    return out;
}

typedef struct sort_item {
    jv key, val;
} sort_item;

static void sort_items(jctx *c, sort_item *v, size_t n, bool reverse, bool ci)
{
    /* insertion sort: stable like Python's sort, and lists in templates are short */
    for (size_t i = 1; i < n; i++) {
        sort_item x = v[i];
        size_t j = i;
        while (j > 0) {
            jv a = v[j - 1].key, b = x.key;
            if (ci && a.t == JV_STR && b.t == JV_STR) {
                a = change_case(c, a, 0);
                b = change_case(c, b, 0);
            }
            int r = jv_compare(c, a, b);
            if (reverse ? r >= 0 : r <= 0) break;
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
        jinja_step(c);
    }
}

static jv do_indent(jctx *c, jv s, jv *width, bool first, bool blank)
{
    jv ind;
    if (width && width->t == JV_STR)
        ind = *width;
    else {
        int64_t w = width ? (is_intv(*width) ? (width->t == JV_INT ? width->i : width->b) : 4) : 4;
        if (w < 0) w = 0;
        if (w > 1024) jinja_fail(c, "indent: width too large");
        char *p = jinja_alloc(c->ar, (size_t)w + 1);
        memset(p, ' ', (size_t)w);
        ind = jv_strn(p, (size_t)w);
    }
    /* jinja2 appends a newline, then splits lines (dropping that last empty one) */
    jv t = jv_list_new(c);
    size_t i = 0;
    while (i < s.n) {
        size_t j = i;
        while (j < s.n && s.s[j] != '\n' && s.s[j] != '\r')
            j++;
        jv_list_push(c, t.l, jv_strn(s.s + i, j - i));
        if (j < s.n && s.s[j] == '\r' && j + 1 < s.n && s.s[j + 1] == '\n') j++;
        i = j + 1;
    }
    if (s.n == 0 || s.s[s.n - 1] == '\n' || s.s[s.n - 1] == '\r')
        jv_list_push(c, t.l, jv_strn("", 0));
    jinja_capture_begin(c);
    if (first) cc_buf_append(c->out, ind.s, ind.n);
    for (size_t k = 0; k < t.l->n; k++) {
        jv line = t.l->v[k];
        if (k) {
            cc_buf_append_u8(c->out, '\n');
            if (line.n || blank) cc_buf_append(c->out, ind.s, ind.n);
        }
        cc_buf_append(c->out, line.s, line.n);
        if (c->out->len > c->lim.max_output) jinja_fail(c, "indent: result too long");
    }
    return jinja_capture_end(c);
}

jv jinja_filter(jctx *c, const char *name, jv v, jv *args, size_t nargs, const char **kwn, jv *kwv,
                size_t nkw)
{
    fargs a = {args, kwv, kwn, nargs, nkw};
    jinja_step(c);
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        jv *d = arg(&a, 0, "default_value");
        bool boolean = arg_bool(&a, 1, "boolean", false);
        if (v.t == JV_UNDEF || (boolean && !jv_truthy(v))) return d ? *d : jv_strn("", 0);
        return v;
    }
    if (!strcmp(name, "tojson")) {
        jv *ind = arg(&a, 1, "indent");
        int indent = -1;
        if (ind && ind->t != JV_NONE) {
            if (!is_intv(*ind)) jinja_fail(c, "tojson: indent must be an integer");
            int64_t w = ind->t == JV_INT ? ind->i : ind->b;
            indent = w < 0 ? 0 : w > 64 ? 64 : (int)w;
        }
        jv *ea = arg(&a, 0, "ensure_ascii");
        if (ea && jv_truthy(*ea)) jinja_fail(c, "tojson: ensure_ascii=True is not supported");
        jinja_capture_begin(c);
        jv_to_json(c, c->out, v, indent, arg_bool(&a, 3, "sort_keys", false), 0);
        return jinja_capture_end(c);
    }
    if (!strcmp(name, "safe") || !strcmp(name, "list") || !strcmp(name, "string") ||
        !strcmp(name, "length") || !strcmp(name, "count") || !strcmp(name, "first") ||
        !strcmp(name, "last")) {
        if (name[0] == 's' && name[1] == 'a') return jv_stringify(c, v); /* Markup(v) is a str */
        if (name[0] == 's') return jv_stringify(c, v);
        if (name[0] == 'l' && name[1] == 'e') return jv_int(length(c, v));
        if (name[0] == 'c') return jv_int(length(c, v));
        jlist *items = jv_iter(c, v);
        if (name[0] == 'f') return items->n ? items->v[0] : jv_undef(NULL);
        if (!strcmp(name, "last")) return items->n ? items->v[items->n - 1] : jv_undef(NULL);
        jv l = jv_list_new(c);
        for (size_t i = 0; i < items->n; i++)
            jv_list_push(c, l.l, items->v[i]);
        return l;
    }
    if (!strcmp(name, "trim"))
        return strip(c, need_str(c, jv_stringify(c, v), "trim"), arg(&a, 0, "chars"), true, true);
    if (!strcmp(name, "upper")) return change_case(c, jv_stringify(c, v), 1);
    if (!strcmp(name, "lower")) return change_case(c, jv_stringify(c, v), 0);
    if (!strcmp(name, "title")) return change_case(c, jv_stringify(c, v), 4);
    if (!strcmp(name, "capitalize")) return change_case(c, jv_stringify(c, v), 3);
    if (!strcmp(name, "replace")) {
        jv *o = arg(&a, 0, "old"), *n = arg(&a, 1, "new");
        if (!o || !n) jinja_fail(c, "replace needs two arguments");
        return replace(c, jv_stringify(c, v), jv_stringify(c, *o), jv_stringify(c, *n),
                       arg_int(c, &a, 2, "count", -1));
    }
    if (!strcmp(name, "join")) {
        jv *sep = arg(&a, 0, "d"), *attr = arg(&a, 1, "attribute");
        jlist *items = jv_iter(c, v);
        jv sepv = sep ? jv_stringify(c, *sep) : jv_strn("", 0);
        jv *parts = jinja_alloc(c->ar, (items->n + 1) * sizeof(jv));
        for (size_t i = 0; i < items->n; i++)
            parts[i] = jv_stringify(c, attr ? attr_path(c, items->v[i], *attr) : items->v[i]);
        jinja_capture_begin(c);
        for (size_t i = 0; i < items->n; i++) {
            if (i) cc_buf_append(c->out, sepv.s, sepv.n);
            cc_buf_append(c->out, parts[i].s, parts[i].n);
            if (c->out->len > c->lim.max_output) jinja_fail(c, "join: result too long");
        }
        return jinja_capture_end(c);
    }
    if ((!strcmp(name, "int") || !strcmp(name, "float")) && v.t == JV_UNDEF) {
        /* int(Undefined) raises in jinja2 */
        if (v.s) jinja_fail(c, "'%.*s' is undefined", (int)v.n, v.s);
        jinja_fail(c, "%s of an undefined value", name);
    }
    if (!strcmp(name, "int")) {
        int64_t def = arg_int(c, &a, 0, "default", 0);
        if (v.t == JV_INT) return v;
        if (v.t == JV_BOOL) return jv_int(v.b);
        if (v.t == JV_FLOAT)
            return isfinite(v.f) && fabs(v.f) < 9e18 ? jv_int((int64_t)v.f) : jv_int(def);
        if (v.t == JV_STR) {
            char *z = jinja_strndup(c->ar, v.s, v.n), *end;
            while (py_space((unsigned char)*z))
                z++;
            long long r = strtoll(z, &end, 10);
            while (py_space((unsigned char)*end))
                end++;
            if (end != z && !*end) return jv_int(r);
            double f = strtod(z, &end);
            while (py_space((unsigned char)*end))
                end++;
            if (end != z && !*end && isfinite(f) && fabs(f) < 9e18) return jv_int((int64_t)f);
        }
        return jv_int(def);
    }
    if (!strcmp(name, "float")) {
        if (v.t == JV_FLOAT) return v;
        if (is_intv(v)) return jv_float(v.t == JV_INT ? (double)v.i : v.b);
        if (v.t == JV_STR) {
            char *z = jinja_strndup(c->ar, v.s, v.n), *end;
            double f = strtod(z, &end);
            if (end != z && !*end) return jv_float(f);
        }
        jv *d = arg(&a, 0, "default");
        return d ? *d : jv_float(0);
    }
    if (!strcmp(name, "abs")) {
        if (v.t == JV_FLOAT) return jv_float(fabs(v.f));
        if (is_intv(v)) {
            int64_t i = v.t == JV_INT ? v.i : v.b;
            if (i == INT64_MIN) jinja_fail(c, "integer overflow");
            return jv_int(i < 0 ? -i : i);
        }
        jinja_fail(c, "bad operand type for abs(): '%s'", jv_type_name(v));
    }
    if (!strcmp(name, "round")) {
        int64_t prec = arg_int(c, &a, 0, "precision", 0);
        jv *m = arg(&a, 1, "method");
        double x = v.t == JV_FLOAT ? v.f : is_intv(v) ? (double)(v.t == JV_INT ? v.i : v.b) : 0;
        if (!(v.t == JV_FLOAT || is_intv(v))) jinja_fail(c, "round needs a number");
        double p = pow(10, (double)prec);
        const char *meth = m && m->t == JV_STR ? jinja_strndup(c->ar, m->s, m->n) : "common";
        /* Python's round() keeps an int an int and rounds halves to even */
        if (!strcmp(meth, "common") && is_intv(v)) return jv_int(v.t == JV_INT ? v.i : v.b);
        double r = !strcmp(meth, "floor")  ? floor(x * p) / p
                   : !strcmp(meth, "ceil") ? ceil(x * p) / p
                                           : nearbyint(x * p) / p;
        return jv_float(r);
    }
    if (!strcmp(name, "items")) {
        if (v.t == JV_UNDEF) return jv_list_new(c);
        if (v.t != JV_DICT) jinja_fail(c, "items needs a mapping, not %s", jv_type_name(v));
        return items_of(c, v);
    }
    if (!strcmp(name, "unique")) {
        bool cs = arg_bool(&a, 0, "case_sensitive", false);
        jv *attr = arg(&a, 1, "attribute");
        jlist *items = jv_iter(c, v);
        jv out = jv_list_new(c), seen = jv_list_new(c);
        for (size_t i = 0; i < items->n; i++) {
            jinja_step(c);
            jv k = attr ? attr_path(c, items->v[i], *attr) : items->v[i];
            if (!cs && k.t == JV_STR) k = change_case(c, k, 0);
            bool dup = false;
            for (size_t j = 0; j < seen.l->n && !dup; j++) {
                jinja_step(c);
                dup = jv_equal(seen.l->v[j], k);
            }
            if (dup) continue;
            jv_list_push(c, seen.l, k);
            jv_list_push(c, out.l, items->v[i]);
        }
        return out;
    }
    if (!strcmp(name, "map")) {
        jlist *items = jv_iter(c, v);
        jv out = jv_list_new(c);
        jv *attr = arg(&a, (size_t)-1, "attribute");
        jv *def = arg(&a, (size_t)-1, "default");
        for (size_t i = 0; i < items->n; i++) {
            jinja_step(c);
            jv e;
            if (attr) {
                e = attr_path(c, items->v[i], *attr);
                if (e.t == JV_UNDEF && def) e = *def;
            } else {
                if (!nargs) jinja_fail(c, "map needs a filter name or attribute=");
                jv f = need_str(c, args[0], "map");
                e = jinja_filter(c, jinja_strndup(c->ar, f.s, f.n), items->v[i], args + 1,
                                 nargs - 1, kwn, kwv, nkw);
            }
            jv_list_push(c, out.l, e);
        }
        return out;
    }
    if (!strcmp(name, "selectattr") || !strcmp(name, "rejectattr"))
        return select_common(c, v, &a, true, name[0] == 's');
    if (!strcmp(name, "select") || !strcmp(name, "reject"))
        return select_common(c, v, &a, false, name[0] == 's');
    if (!strcmp(name, "reverse")) {
        if (v.t == JV_STR) {
            jlist *ch = jv_str_chars(c, v).l;
            jinja_capture_begin(c);
            for (size_t i = ch->n; i-- > 0;)
                cc_buf_append(c->out, ch->v[i].s, ch->v[i].n);
            return jinja_capture_end(c);
        }
        jlist *items = jv_iter(c, v);
        jv out = jv_list_new(c);
        for (size_t i = items->n; i-- > 0;)
            jv_list_push(c, out.l, items->v[i]);
        return out;
    }
    if (!strcmp(name, "sort") || !strcmp(name, "dictsort")) {
        bool dict = name[0] == 'd';
        if (dict && v.t != JV_DICT) jinja_fail(c, "dictsort needs a mapping");
        jlist *items = dict ? items_of(c, v).l : jv_iter(c, v);
        bool reverse = arg_bool(&a, dict ? 2 : 0, "reverse", false);
        bool cs = arg_bool(&a, dict ? 0 : 1, "case_sensitive", false);
        jv *attr = dict ? NULL : arg(&a, 2, "attribute");
        jv *by = dict ? arg(&a, 1, "by") : NULL;
        bool by_value = by && by->t == JV_STR && by->n == 5 && !memcmp(by->s, "value", 5);
        sort_item *si = jinja_alloc(c->ar, (items->n + 1) * sizeof(*si));
        for (size_t i = 0; i < items->n; i++) {
            si[i].val = items->v[i];
            si[i].key = dict   ? items->v[i].l->v[by_value ? 1 : 0]
                        : attr ? attr_path(c, items->v[i], *attr)
                               : items->v[i];
        }
        sort_items(c, si, items->n, reverse, !cs);
        jv out = jv_list_new(c);
        for (size_t i = 0; i < items->n; i++)
            jv_list_push(c, out.l, si[i].val);
        return out;
    }
    if (!strcmp(name, "min") || !strcmp(name, "max") || !strcmp(name, "sum")) {
        jlist *items = jv_iter(c, v);
        jv *attr = arg(&a, name[1] == 'u' ? 0 : 1, "attribute");
        if (name[1] == 'u') {
            jv acc = jv_int(0);
            jv *start = arg(&a, 1, "start");
            if (start) acc = *start;
            for (size_t i = 0; i < items->n; i++) {
                jv e = attr ? attr_path(c, items->v[i], *attr) : items->v[i];
                if (acc.t == JV_INT && e.t == JV_INT) {
                    if (__builtin_add_overflow(acc.i, e.i, &acc.i))
                        jinja_fail(c, "integer overflow");
                } else if ((acc.t == JV_INT || acc.t == JV_FLOAT) &&
                           (e.t == JV_INT || e.t == JV_FLOAT))
                    acc = jv_float((acc.t == JV_INT ? (double)acc.i : acc.f) +
                                   (e.t == JV_INT ? (double)e.i : e.f));
                else
                    jinja_fail(c, "sum needs numbers");
            }
            return acc;
        }
        if (!items->n) return jv_undef(NULL);
        jv best = items->v[0];
        for (size_t i = 1; i < items->n; i++) {
            jv x = attr ? attr_path(c, items->v[i], *attr) : items->v[i];
            jv y = attr ? attr_path(c, best, *attr) : best;
            int r = jv_compare(c, x, y);
            if (name[1] == 'i' ? r < 0 : r > 0) best = items->v[i];
        }
        return best;
    }
    if (!strcmp(name, "indent"))
        return do_indent(c, need_str(c, v, "indent"), arg(&a, 0, "width"),
                         arg_bool(&a, 1, "first", false), arg_bool(&a, 2, "blank", false));
    if (!strcmp(name, "escape") || !strcmp(name, "e")) {
        jv s = jv_stringify(c, v);
        jinja_capture_begin(c);
        for (size_t i = 0; i < s.n; i++) {
            char ch = s.s[i];
            const char *r = ch == '&'    ? "&amp;"
                            : ch == '<'  ? "&lt;"
                            : ch == '>'  ? "&gt;"
                            : ch == '"'  ? "&#34;"
                            : ch == '\'' ? "&#39;"
                                         : NULL;
            if (r)
                cc_buf_append_str(c->out, r);
            else
                cc_buf_append_u8(c->out, (uint8_t)ch);
        }
        return jinja_capture_end(c);
    }
    if (!strcmp(name, "wordcount")) {
        /* runs of \w as jinja2's regex counts them (non-ASCII bytes taken as word characters) */
        jv s = jv_stringify(c, v);
        int64_t k = 0;
        bool in = false;
        for (size_t i = 0; i < s.n; i++) {
            unsigned char ch = (unsigned char)s.s[i];
            bool w = isalnum(ch) || ch == '_' || ch >= 0x80;
            if (w && !in) k++;
            in = w;
        }
        return jv_int(k);
    }
    jinja_fail(c, "no filter named '%s'", name);
}

/* ---------------------------------------------------------------- tests */

bool jinja_test(jctx *c, const char *name, jv v, jv *args, size_t nargs)
{
    jv *x = nargs ? &args[0] : NULL;
    if (!strcmp(name, "defined")) return v.t != JV_UNDEF;
    if (!strcmp(name, "undefined")) return v.t == JV_UNDEF;
    if (!strcmp(name, "none")) return v.t == JV_NONE;
    if (!strcmp(name, "string")) return v.t == JV_STR;
    if (!strcmp(name, "number")) return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
    if (!strcmp(name, "integer")) return v.t == JV_INT;
    if (!strcmp(name, "float")) return v.t == JV_FLOAT;
    if (!strcmp(name, "boolean")) return v.t == JV_BOOL;
    if (!strcmp(name, "true")) return v.t == JV_BOOL && v.b;
    if (!strcmp(name, "false")) return v.t == JV_BOOL && !v.b;
    if (!strcmp(name, "mapping")) return v.t == JV_DICT;
    if (!strcmp(name, "iterable"))
        return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
    if (!strcmp(name, "sequence")) return v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT;
    if (!strcmp(name, "callable")) return v.t == JV_FUNC;
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        /* str.islower() / isupper(): some cased letter, none of the other case */
        if (v.t != JV_STR) return false;
        bool cased = false;
        for (size_t i = 0; i < v.n; i++) {
            unsigned char ch = (unsigned char)v.s[i];
            if (name[0] == 'l' ? isupper(ch) : islower(ch)) return false;
            cased |= isalpha(ch) != 0;
        }
        return cased;
    }
    if ((!strcmp(name, "odd") || !strcmp(name, "even")) && v.t == JV_FLOAT) {
        double m = fmod(v.f, 2);
        if (m < 0) m += 2;
        return name[0] == 'o' ? m == 1 : m == 0;
    }
    if (!strcmp(name, "odd") || !strcmp(name, "even") || !strcmp(name, "divisibleby")) {
        if (!is_intv(v)) jinja_fail(c, "test '%s' needs an integer", name);
        int64_t i = v.t == JV_INT ? v.i : v.b;
        if (name[0] == 'o') return i % 2 != 0;
        if (name[0] == 'e') return i % 2 == 0;
        if (!x || !is_intv(*x) || (x->t == JV_INT ? x->i : x->b) == 0)
            jinja_fail(c, "divisibleby needs a non-zero integer");
        return i % (x->t == JV_INT ? x->i : x->b) == 0;
    }
    if (!x) jinja_fail(c, "no test named '%s' without an argument", name);
    if (!strcmp(name, "in")) {
        if (x->t == JV_STR) {
            if (v.t != JV_STR) jinja_fail(c, "'in <string>' requires a string");
            return v.n == 0 || memmem(x->s, x->n, v.s, v.n);
        }
        if (x->t == JV_DICT) return jv_dict_find(x->d, v) != NULL;
        jlist *items = jv_iter(c, *x);
        for (size_t i = 0; i < items->n; i++)
            if (jv_equal(v, items->v[i])) return true;
        return false;
    }
    if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "=="))
        return jv_equal(v, *x);
    if (!strcmp(name, "ne") || !strcmp(name, "!=")) return !jv_equal(v, *x);
    if (!strcmp(name, "sameas")) return jv_equal(v, *x) && v.t == x->t;
    if (!strcmp(name, "lt") || !strcmp(name, "lessthan") || !strcmp(name, "<"))
        return jv_compare(c, v, *x) < 0;
    if (!strcmp(name, "le") || !strcmp(name, "<=")) return jv_compare(c, v, *x) <= 0;
    if (!strcmp(name, "gt") || !strcmp(name, "greaterthan") || !strcmp(name, ">"))
        return jv_compare(c, v, *x) > 0;
    if (!strcmp(name, "ge") || !strcmp(name, ">=")) return jv_compare(c, v, *x) >= 0;
    jinja_fail(c, "no test named '%s'", name);
}
