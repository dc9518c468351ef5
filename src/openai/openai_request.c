/*
 * The one validator of OpenAI request bodies (/v1/chat/completions,
 * /v1/completions, /v1/embeddings): the client checks requests with it before they enter the
 * network and the embedded worker reads its fields from it, so both give the
 * same verdict with the same limits. This is a parser of outside input: it
 * never trusts a type, a range or a length, and says precisely which field
 * is wrong (param) and why.
 * Fields we do not know are passed through untouched: servers such as vLLM
 * accept further extensions and the backend decides. The extensions we
 * read ourselves (top_k, min_p, repetition_penalty) are checked here too.
 * Fields an OpenAI-compatible server honours but the embedded engine cannot
 * (tools, response_format, n, logit_bias, suffix, prompt batches, echo) are
 * checked for form and recorded; the embedded backend refuses them by name,
 * since the client cannot know which backend will serve the request.
 */
#include "openai/openai_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define bad openai_error_param
/* A bound beyond every 64-bit integer (jansson refuses larger ones). */
#define ANY_INT64 1e19

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* Returns the field or NULL when absent or null (null means "default"). */
static const json_t *opt(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

/* A numeric field in [min, max]: *out is the field when present (NULL when
 * absent or null, the default). Returns -1 with e filled when it is not a
 * number, out of range, or not a JSON integer when `integer` is asked for:
 * 5.0 would be read as 5 by some servers and refused by others, so it is
 * refused here, where the verdict is the same for all. (Integer bounds are
 * compared as doubles: exact for every bound used here.) */
static int numeric(const json_t *obj, const char *key, bool integer, double min, double max,
                   const json_t **out, openai_error *e)
{
    const json_t *v = opt(obj, key);
    *out = NULL;
    if (!v) return 0;
    if (!(integer ? json_is_integer(v) : json_is_number(v)))
        return bad(e, key, "'%s' must be %s, got %s", key, integer ? "an integer" : "a number",
                   json_type_name(v));
    double x = json_number_value(v);
    if (!(x >= min && x <= max)) {
        if (integer)
            return bad(e, key, "'%s' must be between %.0f and %.0f, got %lld", key, min, max,
                       (long long)json_integer_value(v));
        return bad(e, key, "'%s' must be between %g and %g, got %g", key, min, max, x);
    }
    *out = v;
    return 0;
}

static int check_number(const json_t *obj, const char *key, double min, double max, double *out,
                        openai_error *e)
{
    const json_t *v;
    if (numeric(obj, key, false, min, max, &v, e) < 0) return -1;
    if (v) *out = json_number_value(v);
    return 0;
}

static int check_int(const json_t *obj, const char *key, double min, double max, int64_t *out,
                     openai_error *e)
{
    const json_t *v;
    if (numeric(obj, key, true, min, max, &v, e) < 0) return -1;
    if (v && out) *out = json_integer_value(v);
    return 0;
}

static int check_bool(const json_t *obj, const char *key, bool *out, openai_error *e)
{
    const json_t *v = opt(obj, key);
    if (!v) return 0;
    if (!json_is_boolean(v))
        return bad(e, key, "'%s' must be a boolean, got %s", key, json_type_name(v));
    if (out) *out = json_is_true(v);
    return 0;
}

static int check_string(const json_t *obj, const char *key, openai_error *e)
{
    const json_t *v = opt(obj, key);
    if (v && !json_is_string(v))
        return bad(e, key, "'%s' must be a string, got %s", key, json_type_name(v));
    return 0;
}

static int check_stop(const json_t *obj, openai_request *r, openai_error *e)
{
    const json_t *v = opt(obj, "stop");
    if (!v) return 0;
    if (json_is_string(v)) {
        r->stop[r->n_stop++] = json_string_value(v);
        return 0;
    }
    if (!json_is_array(v))
        return bad(e, "stop", "'stop' must be a string or an array of strings, got %s",
                   json_type_name(v));
    if (json_array_size(v) > OPENAI_MAX_STOP)
        return bad(e, "stop", "'stop' may hold at most %d sequences, got %zu", OPENAI_MAX_STOP,
                   json_array_size(v));
    size_t i;
    const json_t *s;
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s))
            return bad(e, "stop", "'stop[%zu]' must be a string, got %s", i, json_type_name(s));
        r->stop[r->n_stop++] = json_string_value(s);
    }
    return 0;
}

static int check_logit_bias(const json_t *obj, openai_request *r, openai_error *e)
{
    const json_t *v = opt(obj, "logit_bias");
    if (!v) return 0;
    if (!json_is_object(v))
        return bad(e, "logit_bias", "'logit_bias' must be an object, got %s", json_type_name(v));
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        if (!json_is_number(x) || json_number_value(x) < -100 || json_number_value(x) > 100)
            return bad(e, "logit_bias", "'logit_bias' values must be numbers in [-100, 100]");
    }
    r->has_logit_bias = json_object_size(v) > 0;
    return 0;
}

/* ------------------------------------------------------------- messages */

static int check_content_parts(const json_t *parts, size_t mi, openai_error *e)
{
    size_t i;
    const json_t *p;
    json_array_foreach(parts, i, p)
    {
        if (!json_is_object(p))
            return bad(e, "messages", "'messages[%zu].content[%zu]' must be an object, got %s", mi,
                       i, json_type_name(p));
        const json_t *type = json_object_get(p, "type");
        if (!json_is_string(type))
            return bad(e, "messages", "'messages[%zu].content[%zu].type' must be a string", mi, i);
        const char *t = json_string_value(type);
        if (strcmp(t, "text") == 0 || strcmp(t, "refusal") == 0) {
            const json_t *text = json_object_get(p, t);
            if (!json_is_string(text))
                return bad(e, "messages", "'messages[%zu].content[%zu].%s' must be a string", mi, i,
                           t);
        } else if (strcmp(t, "image_url") != 0 && strcmp(t, "input_audio") != 0 &&
                   strcmp(t, "file") != 0) {
            return bad(e, "messages",
                       "'messages[%zu].content[%zu].type' must be one of text, image_url, "
                       "input_audio, file, refusal; got '%.64s'",
                       mi, i, t);
        }
    }
    return 0;
}

/* An assistant turn's tool_calls: [{"id":..,"type":"function","function":
 * {"name":..,"arguments":..}}, ...] (the form OpenAI gives them back in). */
static int check_tool_calls(const json_t *calls, size_t mi, openai_error *e)
{
    if (!json_is_array(calls))
        return bad(e, "messages", "'messages[%zu].tool_calls' must be an array, got %s", mi,
                   json_type_name(calls));
    size_t i;
    const json_t *c;
    json_array_foreach(calls, i, c)
    {
        const json_t *f = json_object_get(c, "function");
        if (!json_is_object(c) || !json_is_string(json_object_get(c, "id")) ||
            !json_is_string(json_object_get(c, "type")))
            return bad(e, "messages",
                       "'messages[%zu].tool_calls[%zu]' must be an object with string 'id' and "
                       "'type'",
                       mi, i);
        if (f && (!json_is_object(f) || !json_is_string(json_object_get(f, "name")) ||
                  !json_is_string(json_object_get(f, "arguments"))))
            return bad(e, "messages",
                       "'messages[%zu].tool_calls[%zu].function' must have string 'name' and "
                       "'arguments'",
                       mi, i);
    }
    return 0;
}

static int check_messages(const json_t *body, openai_request *req, openai_error *e)
{
    const json_t *msgs = opt(body, "messages");
    if (!msgs) return bad(e, "messages", "'messages' is a required property");
    if (!json_is_array(msgs))
        return bad(e, "messages", "'messages' must be an array, got %s", json_type_name(msgs));
    if (json_array_size(msgs) == 0)
        return bad(e, "messages", "'messages' must contain at least one message");
    static const char *const roles[] = {"system",    "developer", "user",
                                        "assistant", "tool",      "function"};
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
    {
        if (!json_is_object(m))
            return bad(e, "messages", "'messages[%zu]' must be an object, got %s", i,
                       json_type_name(m));
        const json_t *role = json_object_get(m, "role");
        if (!json_is_string(role))
            return bad(e, "messages", "'messages[%zu].role' is required and must be a string", i);
        const char *r = json_string_value(role);
        bool known = false;
        for (size_t k = 0; k < CC_ARRAY_LEN(roles); k++)
            known |= strcmp(r, roles[k]) == 0;
        if (!known)
            return bad(e, "messages",
                       "'messages[%zu].role' must be one of system, developer, user, assistant, "
                       "tool, function; got '%.64s'",
                       i, r);
        const json_t *content = json_object_get(m, "content");
        bool is_assistant = strcmp(r, "assistant") == 0;
        const json_t *calls = opt(m, "tool_calls");
        if (calls && !is_assistant)
            return bad(e, "messages", "'messages[%zu].tool_calls' is only allowed for assistant",
                       i);
        if (calls && check_tool_calls(calls, i, e) < 0) return -1;
        if (strcmp(r, "tool") == 0 && !json_is_string(json_object_get(m, "tool_call_id")))
            return bad(e, "messages", "'messages[%zu].tool_call_id' is required for role tool", i);
        if (calls || strcmp(r, "tool") == 0 || strcmp(r, "function") == 0 ||
            opt(m, "function_call"))
            req->has_tool_turns = true;
        if (!content || json_is_null(content)) {
            /* An assistant turn may carry only tool calls. */
            if (is_assistant) continue;
            return bad(e, "messages", "'messages[%zu].content' is required", i);
        }
        if (json_is_string(content)) continue;
        if (!json_is_array(content))
            return bad(e, "messages",
                       "'messages[%zu].content' must be a string or an array of content parts, "
                       "got %s",
                       i, json_type_name(content));
        if (check_content_parts(content, i, e) < 0) return -1;
    }
    return 0;
}

/* A completions "prompt" or an embeddings "input" (key): one string, or an
 * array of strings, of token ids, or of arrays of token ids. Sets *is_text
 * when it is one string (or an array of one string). */
static int check_prompt(const json_t *body, const char *key, bool *is_text, openai_error *e)
{
    const json_t *p = opt(body, key);
    if (!p) return bad(e, key, "'%s' is a required property", key);
    *is_text = json_is_string(p) || (json_is_array(p) && json_array_size(p) == 1 &&
                                     json_is_string(json_array_get(p, 0)));
    if (json_is_string(p)) return 0;
    if (!json_is_array(p))
        return bad(e, key,
                   "'%s' must be a string, an array of strings or an array of token ids, got %s",
                   key, json_type_name(p));
    if (json_array_size(p) == 0) return bad(e, key, "'%s' must not be an empty array", key);
    if (json_array_size(p) > OPENAI_MAX_BATCH && !json_is_integer(json_array_get(p, 0)))
        return bad(e, key, "'%s' may hold at most %d entries, got %zu", key, OPENAI_MAX_BATCH,
                   json_array_size(p));
    /* All strings, all token ids, or all arrays of token ids. */
    const json_t *first = json_array_get(p, 0);
    size_t i;
    const json_t *x;
    json_array_foreach(p, i, x)
    {
        if (json_is_string(first) && json_is_string(x)) continue;
        if (json_is_integer(first) && json_is_integer(x) && json_integer_value(x) >= 0) continue;
        if (json_is_array(first) && json_is_array(x) && json_array_size(x) > 0) {
            size_t j;
            const json_t *t;
            json_array_foreach(x, j, t)
            {
                if (!json_is_integer(t) || json_integer_value(t) < 0)
                    return bad(e, key, "'%s[%zu][%zu]' must be a token id", key, i, j);
            }
            continue;
        }
        return bad(e, key,
                   "'%s[%zu]' must match the first element's kind (string, token id or array "
                   "of token ids)",
                   key, i);
    }
    return 0;
}

/* ------------------------------------------------- tools and formats */

static int check_tools(const json_t *j, openai_request *r, openai_error *e)
{
    const json_t *tools = opt(j, "tools");
    if (tools) {
        if (!json_is_array(tools))
            return bad(e, "tools", "'tools' must be an array, got %s", json_type_name(tools));
        if (json_array_size(tools) > OPENAI_MAX_TOOLS)
            return bad(e, "tools", "'tools' may hold at most %d tools, got %zu", OPENAI_MAX_TOOLS,
                       json_array_size(tools));
        size_t i;
        const json_t *t;
        json_array_foreach(tools, i, t)
        {
            const json_t *type = json_object_get(t, "type");
            if (!json_is_object(t) || !json_is_string(type))
                return bad(e, "tools", "'tools[%zu]' must be an object with a string 'type'", i);
            if (strcmp(json_string_value(type), "function") != 0) continue;
            const json_t *f = json_object_get(t, "function");
            if (!json_is_object(f) || !json_is_string(json_object_get(f, "name")) ||
                json_string_length(json_object_get(f, "name")) == 0)
                return bad(e, "tools", "'tools[%zu].function.name' is required", i);
            const json_t *params = opt(f, "parameters");
            if (params && !json_is_object(params))
                return bad(e, "tools", "'tools[%zu].function.parameters' must be an object", i);
        }
        r->has_tools = json_array_size(tools) > 0;
    }
    const json_t *tc = opt(j, "tool_choice");
    if (tc) {
        if (json_is_string(tc)) {
            const char *s = json_string_value(tc);
            if (strcmp(s, "none") && strcmp(s, "auto") && strcmp(s, "required"))
                return bad(e, "tool_choice",
                           "'tool_choice' must be none, auto, required or an object; got '%.40s'",
                           s);
            r->tool_choice_none = strcmp(s, "none") == 0;
        } else if (!json_is_object(tc) || !json_is_string(json_object_get(tc, "type"))) {
            return bad(e, "tool_choice",
                       "'tool_choice' must be a string or an object with a string 'type'");
        }
        if (!r->has_tools && !r->tool_choice_none &&
            !(json_is_string(tc) && strcmp(json_string_value(tc), "auto") == 0))
            return bad(e, "tool_choice", "'tool_choice' requires 'tools'");
    }
    return check_bool(j, "parallel_tool_calls", NULL, e);
}

static int check_response_format(const json_t *j, openai_request *r, openai_error *e)
{
    const json_t *rf = opt(j, "response_format");
    if (!rf) return 0;
    const json_t *type = json_is_object(rf) ? json_object_get(rf, "type") : NULL;
    if (!json_is_string(type))
        return bad(e, "response_format",
                   "'response_format' must be an object with a string 'type'");
    const char *t = json_string_value(type);
    if (strcmp(t, "text") == 0) return 0;
    if (strcmp(t, "json_object") == 0) {
        r->response_format = OPENAI_FORMAT_JSON_OBJECT;
        return 0;
    }
    if (strcmp(t, "json_schema") == 0) {
        const json_t *js = json_object_get(rf, "json_schema");
        if (!json_is_object(js) || !json_is_string(json_object_get(js, "name")))
            return bad(e, "response_format",
                       "'response_format.json_schema' must be an object with a string 'name'");
        r->response_format = OPENAI_FORMAT_JSON_SCHEMA;
        return 0;
    }
    return bad(e, "response_format",
               "'response_format.type' must be text, json_object or json_schema; got '%.40s'", t);
}

static int check_embedding(const json_t *j, openai_error *e)
{
    bool is_text;
    if (check_prompt(j, "input", &is_text, e) < 0 || check_string(j, "user", e) < 0 ||
        check_int(j, "dimensions", 1, 1 << 20, NULL, e) < 0)
        return -1;
    const json_t *f = opt(j, "encoding_format");
    if (f && (!json_is_string(f) || (strcmp(json_string_value(f), "float") != 0 &&
                                     strcmp(json_string_value(f), "base64") != 0)))
        return bad(e, "encoding_format", "'encoding_format' must be float or base64");
    return 0;
}

/* ----------------------------------------------------------------- main */

/* The sampling fields both kinds share. */
static int check_sampling(const json_t *j, openai_request *r, openai_error *e)
{
    if (check_number(j, "temperature", 0, 2, &r->temperature, e) < 0 ||
        check_number(j, "top_p", 0, 1, &r->top_p, e) < 0 ||
        check_number(j, "min_p", 0, 1, &r->min_p, e) < 0 ||
        check_int(j, "top_k", -1, 1 << 20, &r->top_k, e) < 0 ||
        check_number(j, "presence_penalty", -2, 2, &r->presence_penalty, e) < 0 ||
        check_number(j, "frequency_penalty", -2, 2, &r->frequency_penalty, e) < 0 ||
        check_number(j, "repetition_penalty", 0.01, 10, &r->repetition_penalty, e) < 0 ||
        check_int(j, "n", 1, OPENAI_MAX_CHOICES, &r->n, e) < 0 ||
        check_int(j, "seed", -ANY_INT64, ANY_INT64, &r->seed, e) < 0 || check_stop(j, r, e) < 0 ||
        check_logit_bias(j, r, e) < 0 || check_string(j, "user", e) < 0)
        return -1;
    r->has_seed = opt(j, "seed") != NULL;
    return 0;
}

static int check_stream(const json_t *j, openai_request *r, openai_error *e)
{
    if (check_bool(j, "stream", &r->stream, e) < 0) return -1;
    const json_t *so = opt(j, "stream_options");
    if (!so) return 0;
    if (!json_is_object(so))
        return bad(e, "stream_options", "'stream_options' must be an object, got %s",
                   json_type_name(so));
    if (!r->stream)
        return bad(e, "stream_options", "'stream_options' is only allowed when 'stream' is true");
    const json_t *iu = opt(so, "include_usage");
    if (iu && !json_is_boolean(iu))
        return bad(e, "stream_options", "'stream_options.include_usage' must be a boolean, got %s",
                   json_type_name(iu));
    r->include_usage = iu && json_is_true(iu);
    return 0;
}

static int check_logprobs(const json_t *j, openai_request *r, openai_error *e)
{
    if (r->kind == OPENAI_CHAT) {
        int64_t top = -1;
        if (check_bool(j, "logprobs", &r->logprobs, e) < 0 ||
            check_int(j, "top_logprobs", 0, OPENAI_MAX_TOP_LOGPROBS, &top, e) < 0)
            return -1;
        if (top >= 0 && !r->logprobs)
            return bad(e, "top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
        r->top_logprobs = top > 0 ? (int)top : 0;
        r->best_of = r->n; /* chat has no best_of: its n candidates are all returned */
        return 0;
    }
    int64_t lp = -1;
    if (check_int(j, "logprobs", 0, OPENAI_MAX_COMPLETION_LOGPROBS, &lp, e) < 0 ||
        check_int(j, "best_of", 1, OPENAI_MAX_CHOICES, &r->best_of, e) < 0 ||
        check_bool(j, "echo", &r->echo, e) < 0 || check_string(j, "suffix", e) < 0)
        return -1;
    /* absent, best_of is n (n candidates, all returned); given, it must cover n */
    if (!opt(j, "best_of")) r->best_of = r->n;
    if (r->best_of < r->n)
        return bad(e, "best_of", "'best_of' must be at least 'n' (%lld)", (long long)r->n);
    const json_t *suffix = opt(j, "suffix");
    r->has_suffix = suffix && json_string_length(suffix) > 0;
    if (opt(j, "top_logprobs"))
        return bad(e, "top_logprobs", "'top_logprobs' is a chat parameter; use 'logprobs' here");
    r->logprobs = lp >= 0;
    r->top_logprobs = lp > 0 ? (int)lp : 0;
    return 0;
}

/* COCOON's client reads these fields itself (ClientRunningRequest.cpp,
 * on_payload_downloaded); its checks are only "a number", "a boolean", "a
 * string". Ours add bounds so a mistake gets a 400 naming the field rather
 * than a request that waits a day or a guid nobody can pass in a URL. */
#define MAX_TIMEOUT 86400.0
#define MAX_GUID 256

static int check_cocoon(const json_t *j, openai_request *r, openai_error *e)
{
    const json_t *t = opt(j, "timeout");
    if (t) {
        if (!json_is_number(t))
            return bad(e, "timeout", "'timeout' must be a number of seconds, got %s",
                       json_type_name(t));
        double x = json_number_value(t);
        if (!(x > 0 && x <= MAX_TIMEOUT))
            return bad(e, "timeout",
                       "'timeout' must be more than 0 and at most %.0f seconds, got %g",
                       MAX_TIMEOUT, x);
        r->timeout = x;
    }
    if (check_bool(j, "enable_debug", &r->enable_debug, e) < 0) return -1;
    const json_t *g = opt(j, "request_guid");
    if (g) {
        if (!json_is_string(g))
            return bad(e, "request_guid", "'request_guid' must be a string, got %s",
                       json_type_name(g));
        size_t n = json_string_length(g);
        if (n == 0 || n > MAX_GUID)
            return bad(e, "request_guid", "'request_guid' must be 1 to %d bytes long, got %zu",
                       MAX_GUID, n);
        r->request_guid = json_string_value(g);
    }
    return 0;
}

bool openai_request_strip_cocoon(openai_request *r)
{
    static const char *const keys[] = {"max_coefficient", "timeout", "enable_debug",
                                       "request_guid"};
    bool any = false;
    if (!r->body) return false;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (json_object_get(r->body, keys[i])) {
            json_object_del(r->body, keys[i]);
            any = true;
        }
    r->request_guid = NULL; /* it pointed into the deleted field */
    return any;
}

void openai_request_defaults(openai_request *r, openai_kind kind)
{
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->temperature = 1;
    r->top_p = 1;
    r->repetition_penalty = 1;
    r->n = 1;
    r->best_of = 1;
    r->max_coefficient = -1;
}

int openai_parse(openai_kind kind, const void *body, size_t len, openai_request *out,
                 openai_error *e)
{
    openai_request_defaults(out, kind);
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        openai_error_set(e, 400, "invalid_json",
                         "We could not parse the JSON body of your request: %s (line %d, column "
                         "%d, position %d)",
                         je.text, je.line, je.column, je.position);
        return -1;
    }
    if (!json_is_object(j)) {
        bad(e, "", "The request body must be a JSON object, got %s", json_type_name(j));
        json_decref(j);
        return -1;
    }
    int64_t max_tokens = 0, max_completion_tokens = 0;
    const json_t *model = opt(j, "model");
    if (!model)
        bad(e, "model", "'model' is a required property");
    else if (!json_is_string(model))
        bad(e, "model", "'model' must be a string, got %s", json_type_name(model));
    else if (json_string_length(model) == 0)
        bad(e, "model", "'model' must not be empty");
    if (!model || !json_is_string(model) || json_string_length(model) == 0) goto fail;
    if (kind == OPENAI_EMBEDDING) {
        if (check_embedding(j, e) < 0 || check_cocoon(j, out, e) < 0) goto fail;
        goto done;
    }
    if ((kind == OPENAI_CHAT ? check_messages(j, out, e)
                             : check_prompt(j, "prompt", &out->prompt_is_text, e)) < 0)
        goto fail;
    if (kind == OPENAI_CHAT && (check_tools(j, out, e) < 0 || check_response_format(j, out, e) < 0))
        goto fail;
    if (check_int(j, "max_tokens", 1, OPENAI_MAX_TOKENS, &max_tokens, e) < 0 ||
        check_int(j, "max_completion_tokens", 1, OPENAI_MAX_TOKENS, &max_completion_tokens, e) <
            0 ||
        check_sampling(j, out, e) < 0 || check_stream(j, out, e) < 0 ||
        check_logprobs(j, out, e) < 0 || check_cocoon(j, out, e) < 0 ||
        check_int(j, "max_coefficient", 0, INT32_MAX, &out->max_coefficient, e) < 0)
        goto fail;
done:
    out->body = j;
    out->model = json_string_value(model);
    out->max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
    return 0;
fail:
    json_decref(j);
    openai_request_defaults(out, kind);
    return -1;
}

void openai_request_clear(openai_request *r)
{
    if (r->body) json_decref(r->body);
    free(r->model_copy);
    memset(r, 0, sizeof(*r));
}

openai_kind openai_kind_for_path(const char *path)
{
    if (strcmp(path, "/v1/chat/completions") == 0) return OPENAI_CHAT;
    if (strcmp(path, "/v1/completions") == 0) return OPENAI_COMPLETION;
    if (strcmp(path, "/v1/embeddings") == 0) return OPENAI_EMBEDDING;
    if (strcmp(path, "/v1/audio/transcriptions") == 0) return OPENAI_TRANSCRIPTION;
    if (strcmp(path, "/v1/audio/translations") == 0) return OPENAI_TRANSLATION;
    return 0;
}

openai_kind openai_route(const char *method, const char *path, openai_error *e)
{
    const char *m = method ? method : "POST";
    openai_kind kind = path ? openai_kind_for_path(path) : 0;
    if (!kind) {
        openai_error_set(e, 404, "not_found", "Unknown request URL: %.20s %.200s", m,
                         path ? path : "");
        return 0;
    }
    if (strcmp(m, "POST") != 0) {
        openai_error_set(e, 405, "method_not_allowed", "Method %.20s is not allowed for %.200s", m,
                         path);
        return 0;
    }
    return kind;
}
