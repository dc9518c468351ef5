/*
 * The Jinja interpreter's internals (jinja_*.c), shared by its files only.
 *
 * Memory: every value, AST node and string lives in an arena (jinja_arena);
 * a parsed template owns one arena, a render another, freed whole at the end.
 * Nothing is freed piecemeal, so errors can unwind with longjmp from any
 * depth without leaking: an arena counts its bytes and stops a template that
 * asks for more than its limit (GGUF templates are outside input).
 */
#ifndef COCOON_ENGINE_JINJA_INT_H
#define COCOON_ENGINE_JINJA_INT_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/engine.h"

/* ------------------------------------------------------------- arena */

typedef struct jinja_chunk jinja_chunk;
typedef struct jinja_arena {
    jinja_chunk *head;
    size_t used, limit; /* bytes handed out so far / allowed (0: no limit) */
    jmp_buf *oom;       /* where to jump when over the limit (NULL: abort) */
} jinja_arena;

void *jinja_alloc(jinja_arena *a, size_t n); /* zeroed */
char *jinja_strndup(jinja_arena *a, const char *s, size_t n);
void jinja_arena_free(jinja_arena *a);

/* ------------------------------------------------------------- values */

typedef enum {
    JV_UNDEF = 0, /* jinja2's default Undefined: prints empty, fails on use */
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST,
    JV_DICT,
    JV_FUNC
} jv_type;

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jfunc jfunc;

typedef struct jv {
    uint8_t t;
    uint32_t n; /* JV_STR: byte length; JV_UNDEF: length of the missing name */
    union {
        bool b;
        int64_t i;
        double f;
        const char *s; /* JV_STR bytes (not terminated); JV_UNDEF: missing name */
        jlist *l;
        jdict *d;
        jfunc *fn;
    };
} jv;

struct jlist {
    jv *v;
    size_t n, cap;
    bool tuple; /* a Python tuple: only repr() differs */
};
struct jdict {
    jv *k, *v; /* keys in insertion order, like Python's dict */
    size_t n, cap;
    bool ns; /* a namespace(): `set ns.attr = ...` may assign to it */
};

typedef struct jnode jnode;
typedef struct jscope jscope;
typedef enum { JF_MACRO, JF_CALLER, JF_BUILTIN, JF_METHOD } jfunc_kind;
struct jfunc {
    jfunc_kind kind;
    const jnode *node; /* macro or call block */
    jscope *scope;     /* a caller's defining scope */
    jv caller;         /* the caller() a call block hands its macro */
    jv self;           /* a bound method's object */
    const char *name;  /* builtin or method name */
};

static inline jv jv_undef(const char *name)
{
    jv v = {.t = JV_UNDEF};
    v.s = name;
    v.n = name ? (uint32_t)strlen(name) : 0;
    return v;
}
static inline jv jv_none(void)
{
    return (jv){.t = JV_NONE};
}
static inline jv jv_bool(bool b)
{
    jv v = {.t = JV_BOOL};
    v.b = b;
    return v;
}
static inline jv jv_int(int64_t i)
{
    jv v = {.t = JV_INT};
    v.i = i;
    return v;
}
static inline jv jv_float(double f)
{
    jv v = {.t = JV_FLOAT};
    v.f = f;
    return v;
}
static inline jv jv_strn(const char *s, size_t n)
{
    jv v = {.t = JV_STR};
    v.s = s;
    v.n = (uint32_t)n;
    return v;
}

/* --------------------------------------------------------- the render */

typedef struct jctx {
    jinja_arena *ar;
    jmp_buf jb;
    cc_err *err;
    cc_buf *out; /* where text goes now (block set, macro bodies: a temporary) */
    engine_jinja_limits lim;
    uint64_t steps;
    int depth;
    int loopctl; /* 1: break, 2: continue pending */
    jscope *root;
    struct tmpbuf *tmp; /* open capture buffers, innermost first */
    uint32_t line, col; /* of the node being evaluated, for messages */
    jinja_arena own_ar; /* what ar and out point to during a render */
    cc_buf own_out;
} jctx;

/* Stops the render with "line L, column C: message". */
_Noreturn void jinja_fail(jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

jv jv_str(jctx *c, const char *s); /* copies */
jv jv_list_new(jctx *c);
jv jv_dict_new(jctx *c);
void jv_list_push(jctx *c, jlist *l, jv v);
void jv_dict_set(jctx *c, jdict *d, jv k, jv v);
jv *jv_dict_find(const jdict *d, jv k);
jv *jv_dict_find_str(const jdict *d, const char *k);

bool jv_truthy(jv v);
bool jv_equal(jv a, jv b);
/* Python's ordering for numbers with numbers and strings with strings;
 * anything else fails the render like Python's TypeError. */
int jv_compare(jctx *c, jv a, jv b);
const char *jv_type_name(jv v);
/* str(v) / repr(v) as Python writes them, appended to b. */
void jv_to_str(jctx *c, cc_buf *b, jv v);
void jv_repr(jctx *c, cc_buf *b, jv v);
jv jv_stringify(jctx *c, jv v); /* str(v) as a value (strings as they are) */
/* json.dumps(v, ensure_ascii=False, indent, sort_keys) as Hugging Face's tojson. */
void jv_to_json(jctx *c, cc_buf *b, jv v, int indent, bool sort_keys, int level);
jv jv_from_json(jctx *c, const json_t *j);
/* Python's repr of a float. */
void jv_fmt_float(cc_buf *b, double f);
size_t jv_utf8_len(const char *s, size_t n);
/* Characters of a string as a list of one-character strings. */
jv jv_str_chars(jctx *c, jv s);

/* Items for iteration: a list's items, a dict's keys, a string's characters. */
jlist *jv_iter(jctx *c, jv v);

/* ------------------------------------------------------------ the AST */

typedef enum {
    /* expressions */
    N_CONST,
    N_NAME,
    N_LIST,
    N_DICT,
    N_ATTR,
    N_ITEM,
    N_SLICE,
    N_CALL,
    N_FILTER,
    N_TEST,
    N_NOT,
    N_NEG,
    N_POS,
    N_BIN,
    N_AND,
    N_OR,
    N_COND,
    /* statements */
    N_TEXT,
    N_OUTPUT,
    N_IF,
    N_FOR,
    N_SET,
    N_SETBLOCK,
    N_MACRO,
    N_CALLBLOCK,
    N_FILTERBLOCK,
    N_BREAK,
    N_CONTINUE,
    N_BODY
} jnode_kind;

/* Binary operators of N_BIN. */
enum {
    OP_ADD = 1,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_FLOORDIV,
    OP_MOD,
    OP_POW,
    OP_CONCAT,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_IN,
    OP_NOTIN
};

typedef struct jnlist {
    jnode **v;
    size_t n, cap;
} jnlist;
typedef struct jnames {
    const char **v;
    size_t n, cap;
} jnames;

/*
 * One node. Field use by kind:
 *   N_CONST v; N_NAME v (name); N_LIST x (op 1: a tuple); N_DICT x keys, y values;
 *   N_ATTR a, v (name); N_ITEM a, b; N_SLICE a, b start, c stop, d step;
 *   N_CALL a callee, x args, y keyword values, names keywords;
 *   N_FILTER / N_TEST a operand, v name, x/y/names as a call, op 1: `is not`;
 *   N_NOT/N_NEG/N_POS a; N_BIN op, a, b; N_AND/N_OR a, b; N_COND a cond, b, c;
 *   N_TEXT v; N_OUTPUT a; N_IF a cond, x then, y else;
 *   N_FOR names targets, a iterable, b filter, x body, y else;
 *   N_SET names targets (op 1: names[0].v attribute of a namespace), a value;
 *   N_SETBLOCK names target, x body, b filter chain (operand NULL);
 *   N_MACRO v name, names params, y defaults (NULL: none), x body;
 *   N_CALLBLOCK a the call, names caller's params, y their defaults, x body;
 *   N_FILTERBLOCK b filter chain, x body; N_BODY x.
 */
struct jnode {
    jnode_kind kind;
    int op;
    uint32_t line, col;
    jv v;
    jnode *a, *b, *c, *d;
    jnlist x, y;
    jnames names;
};

struct engine_jinja {
    jinja_arena ar;
    jnode *body;
};

/* Parses src into t->body (in t->ar). */
int jinja_parse(engine_jinja *t, const char *src, size_t len, cc_err *err);

/* ------------------------------------------------------- the builtins */

jv jinja_filter(jctx *c, const char *name, jv v, jv *args, size_t nargs, const char **kwn, jv *kwv,
                size_t nkw);
bool jinja_test(jctx *c, const char *name, jv v, jv *args, size_t nargs);
/* A method of a string, list or dict (NULL when there is none by that name). */
bool jinja_has_method(jv self, const char *name);
jv jinja_call_method(jctx *c, jv self, const char *name, jv *args, size_t nargs, const char **kwn,
                     jv *kwv, size_t nkw);
bool jinja_is_global(const char *name);
jv jinja_call_global(jctx *c, const char *name, jv *args, size_t nargs, const char **kwn, jv *kwv,
                     size_t nkw);
/* Calls a callable value (macros come back to the evaluator). */
jv jinja_call_value(jctx *c, jv fn, jv *args, size_t nargs, const char **kwn, jv *kwv, size_t nkw);
jv jinja_getattr(jctx *c, jv obj, const char *name);
jv jinja_getitem(jctx *c, jv obj, jv key);
void jinja_step(jctx *c); /* counts a loop iteration or call against the limit */
/* Sends output to a fresh buffer until jinja_capture_end, which returns
 * what was written (open buffers are freed when a render fails). */
void jinja_capture_begin(jctx *c);
jv jinja_capture_end(jctx *c);

#endif
