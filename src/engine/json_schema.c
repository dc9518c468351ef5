/*
 * JSON schema → grammar text (grammar.c's GBNF-like form), so that
 * grammar-constrained sampling produces only documents valid under the
 * schema. The aim is soundness, not completeness: every sentence of the
 * grammar is valid, while some valid documents are not generated (objects
 * with properties get exactly the declared ones, in the declared order;
 * whitespace is one space or a newline and an indentation, and numbers'
 * digits are bounded, so a weak model cannot loop in them). Keywords whose meaning would be lost
 * are refused by name. Schemas are outside input (a request's response_format or a tool's
 * parameters): nesting, sizes and bounds are limited.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

#define MAX_NESTING 32
#define MAX_PROPERTIES 128
#define MAX_BOUND 256 /* minLength/maxLength/minItems/maxItems honoured up to this */
#define MAX_OUTPUT (1u << 20)

/* The rules every schema may use: JSON's own syntax, byte by byte (strings are valid UTF-8
 * and escapes; \u escapes exclude surrogates, which a JSON parser may reject alone). */
static const char common_rules[] =
    "ws ::= (\" \" | \"\\n\" [ \\t]{0,16})?\n"
    "hex ::= [0-9a-fA-F]\n"
    "cont ::= [\\x80-\\xbf]\n"
    "char ::= [\\x20\\x21\\x23-\\x5b\\x5d-\\x7f] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" "
    "([0-9a-cA-Ce-fE-F] hex hex hex | [dD] [0-7] hex hex))"
    " | [\\xc2-\\xdf] cont | \"\\xe0\" [\\xa0-\\xbf] cont | [\\xe1-\\xec\\xee\\xef] cont cont"
    " | \"\\xed\" [\\x80-\\x9f] cont | \"\\xf0\" [\\x90-\\xbf] cont cont"
    " | [\\xf1-\\xf3] cont cont cont | \"\\xf4\" [\\x80-\\x8f] cont cont\n"
    "string ::= \"\\\"\" char* \"\\\"\"\n"
    "integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n"
    "number ::= integer (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?\n"
    "boolean ::= \"true\" | \"false\"\n"
    "null ::= \"null\"\n"
    "value ::= object | array | string | number | boolean | null\n"
    "object ::= \"{\" ws (string ws \":\" ws value (ws \",\" ws string ws \":\" ws value)* ws)? "
    "\"}\"\n"
    "array ::= \"[\" ws (value (ws \",\" ws value)* ws)? \"]\"\n";

typedef struct jsc {
    cc_buf rules; /* the schema's own rules */
    int n_rules;
    const char **bad;
    cc_err *err;
    bool failed;
} jsc;

static int fail(jsc *c, const char *keyword, const char *fmt, const char *arg)
{
    if (!c->failed) {
        c->failed = true;
        if (c->bad) *c->bad = keyword;
        cc_err_set(c->err, fmt, arg);
    }
    return -1;
}

/* A grammar literal spelling bytes exactly. */
static void lit(cc_buf *b, const char *s, size_t n)
{
    cc_buf_append_u8(b, '"');
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = (uint8_t)s[i];
        if (ch == '"' || ch == '\\')
            cc_buf_append_fmt(b, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            cc_buf_append_fmt(b, "\\x%02x", ch);
        else
            cc_buf_append_u8(b, ch);
    }
    cc_buf_append_u8(b, '"');
}

/* A JSON value written compactly, as a literal. */
static int lit_json(jsc *c, cc_buf *b, const json_t *v, const char *keyword)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) return fail(c, keyword, "json_schema: '%s' cannot be written", keyword);
    lit(b, s, strlen(s));
    free(s);
    return 0;
}

static int gen(jsc *c, const json_t *schema, int depth, cc_buf *ref);

/* Starts a new rule; its name is written to ref. */
static void rule_begin(jsc *c, cc_buf *ref)
{
    int id = c->n_rules++;
    cc_buf_append_fmt(ref, "s%d", id);
    cc_buf_append_fmt(&c->rules, "s%d ::= ", id);
}

static int bound(jsc *c, const json_t *schema, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(schema, key);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail(c, key, "json_schema: '%s' must be a non-negative integer", key);
    *out = json_integer_value(v);
    return 1;
}

static int gen_string(jsc *c, const json_t *schema, cc_buf *ref)
{
    int64_t min = 0, max = -1;
    int hmin = bound(c, schema, "minLength", &min), hmax = bound(c, schema, "maxLength", &max);
    if (hmin < 0 || hmax < 0) return -1;
    if (!hmin && !hmax) {
        cc_buf_append_str(ref, "string");
        return 0;
    }
    if (min > MAX_BOUND)
        return fail(c, "minLength", "json_schema: 'minLength' above %s is not supported", "256");
    if (max > MAX_BOUND) max = -1; /* a longer limit is not enforced: never exceeded below it */
    if (max >= 0 && max < min)
        return fail(c, "maxLength", "json_schema: '%s' is below minLength", "maxLength");
    rule_begin(c, ref);
    if (max >= 0)
        cc_buf_append_fmt(&c->rules, "\"\\\"\" char{%lld,%lld} \"\\\"\"\n", (long long)min,
                          (long long)max);
    else
        cc_buf_append_fmt(&c->rules, "\"\\\"\" char{%lld,} \"\\\"\"\n", (long long)min);
    return 0;
}

static int gen_array(jsc *c, const json_t *schema, int depth, cc_buf *ref)
{
    cc_buf item = CC_BUF_INIT;
    const json_t *items = json_object_get(schema, "items");
    int rc = 0;
    if (items)
        rc = gen(c, items, depth + 1, &item);
    else
        cc_buf_append_str(&item, "value");
    int64_t min = 0, max = -1;
    int hmin = bound(c, schema, "minItems", &min), hmax = bound(c, schema, "maxItems", &max);
    if (rc < 0 || hmin < 0 || hmax < 0) {
        cc_buf_free(&item);
        return -1;
    }
    if (min > MAX_BOUND) {
        cc_buf_free(&item);
        return fail(c, "minItems", "json_schema: 'minItems' above %s is not supported", "256");
    }
    if (max > MAX_BOUND) max = -1;
    if (max >= 0 && max < min) {
        cc_buf_free(&item);
        return fail(c, "maxItems", "json_schema: '%s' is below minItems", "maxItems");
    }
    cc_buf_append_u8(&item, 0);
    const char *it = (const char *)item.data;
    rule_begin(c, ref);
    cc_buf *r = &c->rules;
    if (max == 0) {
        cc_buf_append_str(r, "\"[\" ws \"]\"\n");
    } else {
        /* [ item (, item){min-1,max-1} ], optional as a whole when min is 0 */
        long long lo = min > 0 ? (long long)min - 1 : 0;
        cc_buf_append_fmt(r, "\"[\" ws %s%s (ws \",\" ws %s){%lld,", min == 0 ? "(" : "", it, it,
                          lo);
        if (max > 0) cc_buf_append_fmt(r, "%lld", (long long)max - 1);
        cc_buf_append_fmt(r, "} ws%s \"]\"\n", min == 0 ? ")?" : "");
    }
    cc_buf_free(&item);
    return 0;
}

static int gen_object(jsc *c, const json_t *schema, int depth, cc_buf *ref)
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *req = json_object_get(schema, "required");
    const json_t *ap = json_object_get(schema, "additionalProperties");
    if (props && !json_is_object(props))
        return fail(c, "properties", "json_schema: '%s' must be an object", "properties");
    if (req && !json_is_array(req))
        return fail(c, "required", "json_schema: '%s' must be an array", "required");
    size_t n = json_object_size(props);
    if (n > MAX_PROPERTIES)
        return fail(c, "properties", "json_schema: more than %s properties", "128");
    size_t i;
    const json_t *r;
    json_array_foreach(req, i, r)
    {
        if (!json_is_string(r))
            return fail(c, "required", "json_schema: '%s' must list strings", "required");
        if (!json_object_get(props, json_string_value(r)))
            return fail(c, "required",
                        "json_schema: required property '%.100s' is not in properties",
                        json_string_value(r));
    }
    if (!n) {
        /* No declared properties: any members (of the additionalProperties schema). */
        if (json_is_false(ap)) {
            rule_begin(c, ref);
            cc_buf_append_str(&c->rules, "\"{\" ws \"}\"\n");
            return 0;
        }
        if (!ap || json_is_true(ap)) {
            cc_buf_append_str(ref, "object");
            return 0;
        }
        cc_buf v = CC_BUF_INIT;
        if (gen(c, ap, depth + 1, &v) < 0) {
            cc_buf_free(&v);
            return -1;
        }
        cc_buf_append_u8(&v, 0);
        const char *vs = (const char *)v.data;
        rule_begin(c, ref);
        cc_buf_append_fmt(&c->rules,
                          "\"{\" ws (string ws \":\" ws %s (ws \",\" ws string ws \":\" ws %s)* "
                          "ws)? \"}\"\n",
                          vs, vs);
        cc_buf_free(&v);
        return 0;
    }
    if (ap && !json_is_boolean(ap) && !json_is_object(ap))
        return fail(c, "additionalProperties", "json_schema: '%s' must be a boolean or a schema",
                    "additionalProperties");
    /* Members m_i = "key" ws ":" ws value_i. */
    char **member = cc_calloc(n, sizeof(char *));
    bool *required = cc_calloc(n, sizeof(bool));
    const char *key;
    const json_t *sub;
    size_t k = 0;
    int rc = 0;
    json_object_foreach((json_t *)props, key, sub)
    {
        cc_buf m = CC_BUF_INIT, v = CC_BUF_INIT;
        json_t *ks = json_string(key);
        rc = ks ? lit_json(c, &m, ks, "properties") : fail(c, "properties", "%s", "bad key");
        json_decref(ks);
        if (rc == 0) rc = gen(c, sub, depth + 1, &v);
        cc_buf_append_u8(&v, 0);
        cc_buf_append_fmt(&m, " ws \":\" ws %s", (const char *)v.data);
        cc_buf_free(&v);
        member[k] = cc_buf_steal_str(&m);
        json_array_foreach(req, i, r) if (!strcmp(json_string_value(r), key)) required[k] = true;
        k++;
        if (rc < 0) break;
    }
    if (rc == 0) {
        /* A_i: the members from i on when none was written yet; after the first one written,
         * each following member is ", m_j" (optional ones in ( )?). A_n is the empty object's
         * inside. */
        int first = c->n_rules;
        c->n_rules += (int)n + 1;
        for (size_t a = 0; a <= n; a++) {
            cc_buf_append_fmt(&c->rules, "s%d ::= ", first + (int)a);
            if (a == n) {
                cc_buf_append_str(&c->rules, "\"\"\n");
                continue;
            }
            cc_buf_append_fmt(&c->rules, "%s", member[a]);
            for (size_t j = a + 1; j < n; j++)
                cc_buf_append_fmt(&c->rules, required[j] ? " ws \",\" ws %s" : " (ws \",\" ws %s)?",
                                  member[j]);
            if (!required[a]) cc_buf_append_fmt(&c->rules, " | s%d", first + (int)a + 1);
            cc_buf_append_u8(&c->rules, '\n');
        }
        rule_begin(c, ref);
        cc_buf_append_fmt(&c->rules, "\"{\" ws s%d ws \"}\"\n", first);
    }
    for (size_t a = 0; a < k; a++)
        free(member[a]);
    free(member);
    free(required);
    return rc;
}

static int gen_type(jsc *c, const json_t *schema, const char *type, int depth, cc_buf *ref)
{
    if (!strcmp(type, "object")) return gen_object(c, schema, depth, ref);
    if (!strcmp(type, "array")) return gen_array(c, schema, depth, ref);
    if (!strcmp(type, "string")) return gen_string(c, schema, ref);
    if (!strcmp(type, "number") || !strcmp(type, "integer") || !strcmp(type, "boolean") ||
        !strcmp(type, "null")) {
        cc_buf_append_str(ref, type);
        return 0;
    }
    return fail(c, "type", "json_schema: unknown type '%.40s'", type);
}

static const char *const known[] = {"type",      "properties",  "required", "additionalProperties",
                                    "items",     "enum",        "const",    "anyOf",
                                    "minLength", "maxLength",   "minItems", "maxItems",
                                    "title",     "description", "default",  "examples",
                                    "$schema",   "$id",         "$comment", "strict",
                                    "name"};

static int gen(jsc *c, const json_t *schema, int depth, cc_buf *ref)
{
    if (depth > MAX_NESTING)
        return fail(c, "properties", "json_schema: nested deeper than %s levels", "32");
    if (json_is_true(schema)) {
        cc_buf_append_str(ref, "value");
        return 0;
    }
    if (!json_is_object(schema))
        return fail(c, "type", "json_schema: %s", "a schema must be an object or true");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)schema, key, v)
    {
        bool ok = false;
        for (size_t i = 0; i < CC_ARRAY_LEN(known) && !ok; i++)
            ok = !strcmp(key, known[i]);
        if (!ok) return fail(c, key, "json_schema: keyword '%.60s' is not supported", key);
    }
    if (c->rules.len > MAX_OUTPUT) return fail(c, "properties", "json_schema: %s", "too large");
    const json_t *cst = json_object_get(schema, "const");
    const json_t *en = json_object_get(schema, "enum");
    const json_t *any = json_object_get(schema, "anyOf");
    const json_t *type = json_object_get(schema, "type");
    if (any) {
        if (cst || en || type || json_object_get(schema, "properties") ||
            json_object_get(schema, "items"))
            return fail(c, "anyOf", "json_schema: '%s' beside type, enum or const", "anyOf");
        if (!json_is_array(any) || !json_array_size(any))
            return fail(c, "anyOf", "json_schema: '%s' must be a non-empty array", "anyOf");
        cc_buf alts = CC_BUF_INIT;
        size_t i;
        json_array_foreach(any, i, v)
        {
            if (i) cc_buf_append_str(&alts, " | ");
            if (gen(c, v, depth + 1, &alts) < 0) {
                cc_buf_free(&alts);
                return -1;
            }
        }
        rule_begin(c, ref);
        cc_buf_append(&c->rules, alts.data, alts.len);
        cc_buf_append_u8(&c->rules, '\n');
        cc_buf_free(&alts);
        return 0;
    }
    if (cst) {
        cc_buf b = CC_BUF_INIT;
        int rc = lit_json(c, &b, cst, "const");
        if (rc == 0) {
            rule_begin(c, ref);
            cc_buf_append(&c->rules, b.data, b.len);
            cc_buf_append_u8(&c->rules, '\n');
        }
        cc_buf_free(&b);
        return rc;
    }
    if (en) {
        if (!json_is_array(en) || !json_array_size(en))
            return fail(c, "enum", "json_schema: '%s' must be a non-empty array", "enum");
        cc_buf b = CC_BUF_INIT;
        size_t i;
        json_array_foreach(en, i, v)
        {
            if (i) cc_buf_append_str(&b, " | ");
            if (lit_json(c, &b, v, "enum") < 0) {
                cc_buf_free(&b);
                return -1;
            }
        }
        rule_begin(c, ref);
        cc_buf_append(&c->rules, b.data, b.len);
        cc_buf_append_u8(&c->rules, '\n');
        cc_buf_free(&b);
        return 0;
    }
    if (json_is_string(type)) return gen_type(c, schema, json_string_value(type), depth, ref);
    if (json_is_array(type)) {
        if (!json_array_size(type))
            return fail(c, "type", "json_schema: '%s' must not be empty", "type");
        cc_buf alts = CC_BUF_INIT;
        size_t i;
        json_array_foreach(type, i, v)
        {
            if (i) cc_buf_append_str(&alts, " | ");
            if (!json_is_string(v) || gen_type(c, schema, json_string_value(v), depth, &alts) < 0) {
                cc_buf_free(&alts);
                return fail(c, "type", "json_schema: '%s' must list type names", "type");
            }
        }
        rule_begin(c, ref);
        cc_buf_append(&c->rules, alts.data, alts.len);
        cc_buf_append_u8(&c->rules, '\n');
        cc_buf_free(&alts);
        return 0;
    }
    if (type) return fail(c, "type", "json_schema: '%s' must be a string or a list", "type");
    if (json_object_get(schema, "properties") || json_object_get(schema, "additionalProperties"))
        return gen_object(c, schema, depth, ref);
    if (json_object_get(schema, "items")) return gen_array(c, schema, depth, ref);
    cc_buf_append_str(ref, "value");
    return 0;
}

static char *gbnf(const json_t *schema, const char *before, const char *after,
                  const char **bad_keyword, cc_err *err)
{
    jsc c = {.bad = bad_keyword, .err = err};
    if (bad_keyword) *bad_keyword = NULL;
    cc_buf root = CC_BUF_INIT;
    if (!schema) {
        cc_buf_append_str(&root, "object");
    } else if (gen(&c, schema, 0, &root) < 0) {
        cc_buf_free(&root);
        cc_buf_free(&c.rules);
        return NULL;
    }
    cc_buf out = CC_BUF_INIT;
    cc_buf_append_str(&out, "root ::= ");
    if (before && before[0]) {
        lit(&out, before, strlen(before));
        cc_buf_append_u8(&out, ' ');
    }
    cc_buf_append(&out, root.data, root.len);
    if (after && after[0]) {
        cc_buf_append_u8(&out, ' ');
        lit(&out, after, strlen(after));
    }
    cc_buf_append_u8(&out, '\n');
    cc_buf_append_str(&out, common_rules);
    cc_buf_append(&out, c.rules.data, c.rules.len);
    cc_buf_free(&root);
    cc_buf_free(&c.rules);
    return cc_buf_steal_str(&out);
}

char *engine_json_schema_gbnf(const json_t *schema, const char **bad_keyword, cc_err *err)
{
    return gbnf(schema, NULL, NULL, bad_keyword, err);
}

engine_grammar *engine_grammar_from_json_schema(const json_t *schema, const char **bad_keyword,
                                                cc_err *err)
{
    return engine_grammar_from_json_schema_wrapped(schema, NULL, NULL, bad_keyword, err);
}

engine_grammar *engine_grammar_from_json_schema_wrapped(const json_t *schema, const char *before,
                                                        const char *after, const char **bad_keyword,
                                                        cc_err *err)
{
    char *text = gbnf(schema, before, after, bad_keyword, err);
    if (!text) return NULL;
    engine_grammar *g = engine_grammar_parse(text, strlen(text), "root", err);
    free(text);
    return g;
}
