/*
 * Tool calling for the embedded engine, in the model family's own form:
 * which form a model uses is read from its chat template (the template
 * renders the tools; the model answers as it was trained), the model's
 * output is parsed back into OpenAI tool_calls, and a forced tool_choice
 * becomes a grammar so the output is a well-formed call whose arguments
 * follow the function's parameters schema.
 *
 *   Hermes / Qwen  <tool_call>\n{"name": N, "arguments": {...}}\n</tool_call> (one or more)
 *   Llama 3.1      {"name": N, "parameters": {...}} (optionally after <|python_tag|>)
 *   Mistral        [TOOL_CALLS] [{"name": N, "arguments": {...}}, ...]
 *
 * The output is the model's, so parsing is lenient where it can be (spaces, a missing closing
 * tag at the end) and strict where a call would be invented: a block that is not a JSON object
 * with a string name is left as text.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "worker/backend_embedded_int.h"

emb_tool_format emb_tool_format_detect(const char *tmpl)
{
    if (!tmpl) return EMB_TOOLS_NONE;
    if (strstr(tmpl, "<tool_call>")) return EMB_TOOLS_HERMES;
    if (strstr(tmpl, "[TOOL_CALLS]")) return EMB_TOOLS_MISTRAL;
    if (strstr(tmpl, "<|python_tag|>") || strstr(tmpl, "ipython")) return EMB_TOOLS_LLAMA3;
    return EMB_TOOLS_NONE;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* One OpenAI tool call from {"name": N, "arguments"|"parameters": {...}}; NULL if obj is not
 * shaped like a call. */
static json_t *call_from(const json_t *obj)
{
    const json_t *name = json_object_get(obj, "name");
    if (!json_is_object(obj) || !json_is_string(name) || !json_string_length(name)) return NULL;
    const json_t *args = json_object_get(obj, "arguments");
    if (!args) args = json_object_get(obj, "parameters");
    char *arg_text = NULL;
    if (!args)
        arg_text = cc_strdup("{}");
    else if (json_is_string(args)) /* already a JSON string, as some models write it */
        arg_text = cc_strndup(json_string_value(args), json_string_length(args));
    else
        arg_text = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!arg_text) return NULL;
    uint8_t rnd[12];
    crypto_random(rnd, sizeof(rnd));
    char id[5 + 25] = "call_";
    cc_hex_encode(rnd, sizeof(rnd), id + 5);
    json_t *call = json_pack("{s:s, s:s, s:{s:O, s:s}}", "id", id, "type", "function", "function",
                             "name", name, "arguments", arg_text);
    free(arg_text);
    return call;
}

/* Parses one JSON value at the start of s (after spaces); *used gets the bytes it took. */
static json_t *json_at(const char *s, size_t n, size_t *used)
{
    size_t i = 0;
    while (i < n && is_space(s[i]))
        i++;
    json_error_t je;
    json_t *v = json_loadb(s + i, n - i, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &je);
    if (v) *used = i + (size_t)je.position;
    return v;
}

static char *trimmed(const char *s, size_t n)
{
    while (n && is_space(*s))
        s++, n--;
    while (n && is_space(s[n - 1]))
        n--;
    return cc_strndup(s, n);
}

static const char *find(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(s + i, needle, k)) return s + i;
    return NULL;
}

static json_t *parse_hermes(const char *text, size_t len, char **content)
{
    static const char open[] = "<tool_call>", close[] = "</tool_call>";
    const char *first = find(text, len, open);
    if (!first) return NULL;
    json_t *calls = json_array();
    const char *p = first, *end = text + len;
    while (p) {
        p += sizeof(open) - 1;
        size_t used = 0;
        json_t *v = json_at(p, (size_t)(end - p), &used);
        json_t *call = v ? call_from(v) : NULL;
        json_decref(v);
        if (!call) break;
        json_array_append_new(calls, call);
        p += used;
        while (p < end && is_space(*p))
            p++;
        if ((size_t)(end - p) >= sizeof(close) - 1 && !memcmp(p, close, sizeof(close) - 1))
            p += sizeof(close) - 1;
        p = find(p, (size_t)(end - p), open);
    }
    if (!json_array_size(calls)) {
        json_decref(calls);
        return NULL;
    }
    *content = trimmed(text, (size_t)(first - text));
    return calls;
}

static json_t *parse_llama3(const char *text, size_t len, char **content)
{
    const char *p = text, *end = text + len;
    const char *tag = find(text, len, "<|python_tag|>");
    if (tag) p = tag + strlen("<|python_tag|>");
    while (p < end && is_space(*p))
        p++;
    if (p >= end || *p != '{') return NULL;
    json_t *calls = json_array();
    /* One call, or several separated by ';' as some Llama 3.x outputs do. */
    while (p < end) {
        size_t used = 0;
        json_t *v = json_at(p, (size_t)(end - p), &used);
        json_t *call = v ? call_from(v) : NULL;
        json_decref(v);
        if (!call) break;
        json_array_append_new(calls, call);
        p += used;
        while (p < end && (is_space(*p) || *p == ';'))
            p++;
    }
    if (!json_array_size(calls) || p < end) { /* text after the calls: an ordinary answer */
        json_decref(calls);
        return NULL;
    }
    *content = trimmed(text, (size_t)((tag ? tag : text) - text));
    return calls;
}

static json_t *parse_mistral(const char *text, size_t len, char **content)
{
    const char *tag = find(text, len, "[TOOL_CALLS]");
    if (!tag) return NULL;
    const char *p = tag + strlen("[TOOL_CALLS]"), *end = text + len;
    size_t used = 0;
    json_t *v = json_at(p, (size_t)(end - p), &used);
    json_t *calls = json_array();
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            json_t *call = call_from(x);
            if (call) json_array_append_new(calls, call);
        }
    } else if (v) {
        json_t *call = call_from(v);
        if (call) json_array_append_new(calls, call);
    }
    json_decref(v);
    if (!json_array_size(calls)) {
        json_decref(calls);
        return NULL;
    }
    *content = trimmed(text, (size_t)(tag - text));
    return calls;
}

json_t *emb_tool_calls_parse(emb_tool_format f, const char *text, size_t len, char **content)
{
    *content = NULL;
    switch (f) {
    case EMB_TOOLS_HERMES:
        return parse_hermes(text, len, content);
    case EMB_TOOLS_LLAMA3:
        return parse_llama3(text, len, content);
    case EMB_TOOLS_MISTRAL:
        return parse_mistral(text, len, content);
    default:
        return NULL;
    }
}

engine_grammar *emb_tool_grammar(emb_tool_format f, const json_t *tools, const char *name,
                                 const char **bad, cc_err *err)
{
    /* The call as a JSON schema: {"name": const, "arguments": parameters} for each function
     * allowed, then wrapped in the family's markers. */
    json_t *alts = json_array();
    size_t i;
    const json_t *t;
    const char *args_key = f == EMB_TOOLS_LLAMA3 ? "parameters" : "arguments";
    json_array_foreach(tools, i, t)
    {
        const json_t *fn = json_object_get(t, "function");
        const char *fname = json_string_value(json_object_get(fn, "name"));
        if (!fname || (name && strcmp(name, fname) != 0)) continue;
        json_t *params = json_object_get(fn, "parameters");
        params = params ? json_incref(params) : json_pack("{s:s}", "type", "object");
        json_t *one = json_pack("{s:s, s:{s:{s:s}, s:o}, s:[s, s], s:b}", "type", "object",
                                "properties", "name", "const", fname, args_key, params, "required",
                                "name", args_key, "additionalProperties", 0);
        json_array_append_new(alts, one);
    }
    if (!json_array_size(alts)) {
        json_decref(alts);
        if (bad) *bad = "tool_choice";
        cc_err_set(err, "no tool named '%.100s'", name ? name : "");
        return NULL;
    }
    json_t *schema = json_array_size(alts) == 1 ? json_incref(json_array_get(alts, 0))
                                                : json_pack("{s:O}", "anyOf", alts);
    json_decref(alts);
    const char *before = "", *after = "";
    if (f == EMB_TOOLS_HERMES) before = "<tool_call>\n", after = "\n</tool_call>";
    if (f == EMB_TOOLS_MISTRAL) before = "[TOOL_CALLS] [", after = "]";
    engine_grammar *g = engine_grammar_from_json_schema_wrapped(schema, before, after, bad, err);
    json_decref(schema);
    return g;
}
