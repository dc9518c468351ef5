/*
 * Validation of OpenAI request bodies (/v1/chat/completions, /v1/completions).
 * This is a parser of outside input: it never trusts a type, a range or a
 * length, and says precisely which field is wrong (param) and why.
 * Fields we do not know are passed through untouched: servers such as vLLM
 * accept extensions (top_k, min_p, ...) and the backend decides.
 */
#include "http.h"

#include <stdio.h>
#include <string.h>

#define MAX_STOP 4

static int bad(http_error *e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(http_error *e, const char *param, const char *fmt, ...)
{
    http_error_set(e, 400, NULL, "%s", "");
    snprintf(e->param, sizeof(e->param), "%s", param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -1;
}

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

static int check_number(const json_t *obj, const char *key, double min, double max, http_error *e)
{
    const json_t *v = opt(obj, key);
    if (!v) return 0;
    if (!json_is_number(v))
        return bad(e, key, "'%s' must be a number, got %s", key, json_type_name(v));
    double x = json_number_value(v);
    if (x < min || x > max)
        return bad(e, key, "'%s' must be between %g and %g, got %g", key, min, max, x);
    return 0;
}

static int check_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
                     http_error *e)
{
    const json_t *v = opt(obj, key);
    if (!v) return 0;
    /* 5.0 is an integer to Python servers; accept whole reals too. */
    json_int_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) > -9e18 && json_real_value(v) < 9e18 &&
               json_real_value(v) == (double)(json_int_t)json_real_value(v)) {
        x = (json_int_t)json_real_value(v);
    } else {
        return bad(e, key, "'%s' must be an integer, got %s", key, json_type_name(v));
    }
    if (x < min || x > max)
        return bad(e, key, "'%s' must be between %lld and %lld, got %lld", key, (long long)min,
                   (long long)max, (long long)x);
    if (out) *out = x;
    return 0;
}

static int check_bool(const json_t *obj, const char *key, bool *out, http_error *e)
{
    const json_t *v = opt(obj, key);
    if (!v) return 0;
    if (!json_is_boolean(v))
        return bad(e, key, "'%s' must be a boolean, got %s", key, json_type_name(v));
    if (out) *out = json_is_true(v);
    return 0;
}

static int check_string(const json_t *obj, const char *key, http_error *e)
{
    const json_t *v = opt(obj, key);
    if (v && !json_is_string(v))
        return bad(e, key, "'%s' must be a string, got %s", key, json_type_name(v));
    return 0;
}

static int check_stop(const json_t *obj, http_error *e)
{
    const json_t *v = opt(obj, "stop");
    if (!v || json_is_string(v)) return 0;
    if (!json_is_array(v))
        return bad(e, "stop", "'stop' must be a string or an array of strings, got %s",
                   json_type_name(v));
    if (json_array_size(v) > MAX_STOP)
        return bad(e, "stop", "'stop' may hold at most %d sequences, got %zu", MAX_STOP,
                   json_array_size(v));
    size_t i;
    const json_t *s;
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s))
            return bad(e, "stop", "'stop[%zu]' must be a string, got %s", i, json_type_name(s));
    }
    return 0;
}

static int check_logit_bias(const json_t *obj, http_error *e)
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
    return 0;
}

/* ------------------------------------------------------------- messages */

static int check_content_parts(const json_t *parts, size_t mi, http_error *e)
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

static int check_messages(const json_t *body, http_error *e)
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

static int check_prompt(const json_t *body, http_error *e)
{
    const json_t *p = opt(body, "prompt");
    if (!p) return bad(e, "prompt", "'prompt' is a required property");
    if (json_is_string(p)) return 0;
    if (!json_is_array(p))
        return bad(e, "prompt",
                   "'prompt' must be a string, an array of strings or an array of token ids, "
                   "got %s",
                   json_type_name(p));
    if (json_array_size(p) == 0) return bad(e, "prompt", "'prompt' must not be an empty array");
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
                    return bad(e, "prompt", "'prompt[%zu][%zu]' must be a token id", i, j);
            }
            continue;
        }
        return bad(e, "prompt",
                   "'prompt[%zu]' must match the first element's kind (string, token id or "
                   "array of token ids)",
                   i);
    }
    if (json_array_size(p) > 1 && !json_is_integer(first))
        return bad(e, "prompt", "batched prompts are not supported: send one prompt per request");
    return 0;
}

/* ----------------------------------------------------------------- main */

int http_openai_parse(http_openai_kind kind, const void *body, size_t len, http_openai_request *out,
                      http_error *e)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        http_error_set(e, 400, "invalid_json",
                       "We could not parse the JSON body of your request: %s (line %d, column %d, "
                       "position %d)",
                       je.text, je.line, je.column, je.position);
        return -1;
    }
    if (!json_is_object(j)) {
        bad(e, "", "The request body must be a JSON object, got %s", json_type_name(j));
        json_decref(j);
        return -1;
    }
    int64_t max_tokens = 0, max_completion_tokens = 0, n = 1, top_logprobs = -1;
    bool stream = false, include_usage = false, chat_logprobs = false;
    const json_t *model = opt(j, "model");
    if (!model)
        bad(e, "model", "'model' is a required property");
    else if (!json_is_string(model))
        bad(e, "model", "'model' must be a string, got %s", json_type_name(model));
    else if (json_string_length(model) == 0)
        bad(e, "model", "'model' must not be empty");
    if (!model || !json_is_string(model) || json_string_length(model) == 0) goto fail;
    if ((kind == HTTP_OPENAI_CHAT ? check_messages(j, e) : check_prompt(j, e)) < 0) goto fail;
    if (check_int(j, "max_tokens", 1, INT32_MAX, &max_tokens, e) < 0 ||
        check_int(j, "max_completion_tokens", 1, INT32_MAX, &max_completion_tokens, e) < 0 ||
        check_number(j, "temperature", 0, 2, e) < 0 || check_number(j, "top_p", 0, 1, e) < 0 ||
        check_number(j, "presence_penalty", -2, 2, e) < 0 ||
        check_number(j, "frequency_penalty", -2, 2, e) < 0 ||
        check_int(j, "n", 1, 128, &n, e) < 0 ||
        check_int(j, "seed", INT64_MIN, INT64_MAX, NULL, e) < 0 ||
        check_bool(j, "stream", &stream, e) < 0 || check_stop(j, e) < 0 ||
        check_logit_bias(j, e) < 0 || check_string(j, "user", e) < 0)
        goto fail;
    if (n != 1) {
        bad(e, "n", "'n' must be 1: several choices per request are not supported");
        e->code = "unsupported_value";
        goto fail;
    }
    const json_t *so = opt(j, "stream_options");
    if (so) {
        if (!json_is_object(so)) {
            bad(e, "stream_options", "'stream_options' must be an object, got %s",
                json_type_name(so));
            goto fail;
        }
        if (!stream) {
            bad(e, "stream_options", "'stream_options' is only allowed when 'stream' is true");
            goto fail;
        }
        const json_t *iu = opt(so, "include_usage");
        if (iu && !json_is_boolean(iu)) {
            bad(e, "stream_options", "'stream_options.include_usage' must be a boolean, got %s",
                json_type_name(iu));
            goto fail;
        }
        include_usage = iu && json_is_true(iu);
    }
    if (kind == HTTP_OPENAI_CHAT) {
        if (check_bool(j, "logprobs", &chat_logprobs, e) < 0 ||
            check_int(j, "top_logprobs", 0, 20, &top_logprobs, e) < 0)
            goto fail;
        if (top_logprobs >= 0 && !chat_logprobs) {
            bad(e, "top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
            goto fail;
        }
    } else {
        int64_t best_of = 1;
        if (check_int(j, "logprobs", 0, 5, NULL, e) < 0 ||
            check_int(j, "best_of", 1, 1, &best_of, e) < 0 || check_bool(j, "echo", NULL, e) < 0 ||
            check_string(j, "suffix", e) < 0)
            goto fail;
        if (opt(j, "top_logprobs")) {
            bad(e, "top_logprobs", "'top_logprobs' is a chat parameter; use 'logprobs' here");
            goto fail;
        }
    }
    out->kind = kind;
    out->body = j;
    out->model = json_string_value(model);
    out->stream = stream;
    out->include_usage = include_usage;
    out->max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
    return 0;
fail:
    json_decref(j);
    return -1;
}

void http_openai_request_clear(http_openai_request *r)
{
    if (r->body) json_decref(r->body);
    memset(r, 0, sizeof(*r));
}

http_openai_kind http_openai_kind_for_path(const char *path)
{
    if (strcmp(path, "/v1/chat/completions") == 0) return HTTP_OPENAI_CHAT;
    if (strcmp(path, "/v1/completions") == 0) return HTTP_OPENAI_COMPLETION;
    return 0;
}
