/*
 * OpenAI request bodies (/v1/chat/completions and /v1/completions) →
 * engine_request. Unknown fields are ignored (clients send many); fields we
 * use are validated with messages that name them, and the error code is the
 * HTTP status to answer with.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "engine/engine_int.h"

static int get_num(json_t *o, const char *k, double lo, double hi, double *out, cc_err *err)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return cc_err_setc(err, 400, "'%s' must be a number", k);
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi))
        return cc_err_setc(err, 400, "'%s' must be between %g and %g", k, lo, hi);
    *out = d;
    return 0;
}

static int get_int(json_t *o, const char *k, int64_t lo, int64_t hi, int64_t *out, cc_err *err)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return cc_err_setc(err, 400, "'%s' must be an integer", k);
    int64_t i = json_integer_value(v);
    if (i < lo || i > hi)
        return cc_err_setc(err, 400, "'%s' must be between %lld and %lld", k, (long long)lo,
                           (long long)hi);
    *out = i;
    return 0;
}

static int get_bool(json_t *o, const char *k, bool *out, cc_err *err)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return cc_err_setc(err, 400, "'%s' must be a boolean", k);
    *out = json_is_true(v);
    return 0;
}

/* Message content: a string or an array of {"type":"text","text":...} parts. */
static char *content_text(json_t *c, size_t idx, cc_err *err)
{
    if (!c || json_is_null(c)) return cc_strdup("");
    if (json_is_string(c)) return cc_strndup(json_string_value(c), json_string_length(c));
    if (!json_is_array(c)) {
        cc_err_setc(err, 400, "messages[%zu].content must be a string or an array", idx);
        return NULL;
    }
    cc_buf b = CC_BUF_INIT;
    size_t i;
    json_t *part;
    json_array_foreach(c, i, part)
    {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") != 0 ||
            !json_is_string(text)) {
            cc_buf_free(&b);
            cc_err_setc(err, 400, "messages[%zu].content[%zu]: only text parts are supported", idx,
                        i);
            return NULL;
        }
        cc_buf_append(&b, json_string_value(text), json_string_length(text));
    }
    cc_buf_append_u8(&b, 0);
    return (char *)b.data;
}

static int parse_messages(const engine_model *m, json_t *root, engine_request *r, cc_err *err)
{
    json_t *msgs = json_object_get(root, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return cc_err_setc(err, 400, "'messages' must be a non-empty array");
    size_t n = json_array_size(msgs);
    engine_chat_msg *cm = cc_calloc(n, sizeof(*cm));
    char **texts = cc_calloc(n, sizeof(char *));
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_array_get(msgs, i);
        json_t *role = json_object_get(msg, "role");
        if (!json_is_object(msg) || !json_is_string(role)) {
            cc_err_setc(err, 400, "messages[%zu] must be an object with a string 'role'", i);
            goto out;
        }
        const char *rs = json_string_value(role);
        if (!strcmp(rs, "developer")) rs = "system";
        if (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant")) {
            cc_err_setc(err, 400, "messages[%zu].role '%.40s' is not supported", i, rs);
            goto out;
        }
        texts[i] = content_text(json_object_get(msg, "content"), i, err);
        if (!texts[i]) goto out;
        cm[i].role = rs;
        cm[i].content = texts[i];
    }
    r->prompt = engine_chat_render(engine_model_chat_kind(m), cm, n, false, NULL);
    r->parse_special = engine_model_chat_kind(m) != ENGINE_CHAT_PLAIN;
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(cm);
    return rc;
}

static int parse_prompt(json_t *root, engine_request *r, cc_err *err)
{
    json_t *p = json_object_get(root, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1) p = json_array_get(p, 0);
    if (!json_is_string(p))
        return cc_err_setc(err, 400, "'prompt' must be a string (or an array of one string)");
    r->prompt = cc_strndup(json_string_value(p), json_string_length(p));
    return 0;
}

static int parse_stop(json_t *root, engine_request *r, cc_err *err)
{
    json_t *s = json_object_get(root, "stop");
    if (!s || json_is_null(s)) return 0;
    if (json_is_string(s)) {
        if (json_string_length(s)) r->stops[r->n_stops++] = cc_strdup(json_string_value(s));
        return 0;
    }
    if (!json_is_array(s) || json_array_size(s) > 4)
        return cc_err_setc(err, 400, "'stop' must be a string or an array of up to 4 strings");
    size_t i;
    json_t *v;
    json_array_foreach(s, i, v)
    {
        if (!json_is_string(v)) return cc_err_setc(err, 400, "'stop' must contain only strings");
        if (json_string_length(v)) r->stops[r->n_stops++] = cc_strdup(json_string_value(v));
    }
    return 0;
}

static int parse_common(json_t *root, engine_request *r, cc_err *err)
{
    engine_sample_params *sp = &r->sp;
    double temp = 1.0, top_p = 1.0, min_p = 0, pp = 0, fp = 0, rp = 1.0;
    int64_t top_k = 0, seed = -1, max_tokens = 0, n = 1, top_lp = 0;
    bool echo = false;
    if (get_num(root, "temperature", 0, 2, &temp, err) ||
        get_num(root, "top_p", 0, 1, &top_p, err) || get_num(root, "min_p", 0, 1, &min_p, err) ||
        get_num(root, "presence_penalty", -2, 2, &pp, err) ||
        get_num(root, "frequency_penalty", -2, 2, &fp, err) ||
        get_num(root, "repetition_penalty", 0.01, 10, &rp, err) ||
        get_int(root, "top_k", 0, 1 << 20, &top_k, err) ||
        get_int(root, "seed", INT64_MIN, INT64_MAX, &seed, err) ||
        get_int(root, "max_tokens", 1, 1 << 24, &max_tokens, err) ||
        get_int(root, "max_completion_tokens", 1, 1 << 24, &max_tokens, err) ||
        get_int(root, "n", 1, 1, &n, err) || get_bool(root, "stream", &r->stream, err) ||
        get_bool(root, "echo", &echo, err) || parse_stop(root, r, err))
        return -1;
    if (echo) return cc_err_setc(err, 400, "'echo' is not supported");
    json_t *so = json_object_get(root, "stream_options");
    if (so && json_is_object(so) && get_bool(so, "include_usage", &r->include_usage, err))
        return -1;
    if (r->api == ENGINE_API_CHAT) {
        if (get_bool(root, "logprobs", &r->logprobs, err) ||
            get_int(root, "top_logprobs", 0, ENGINE_MAX_TOP_LOGPROBS, &top_lp, err))
            return -1;
    } else {
        int64_t lp = -1;
        if (get_int(root, "logprobs", 0, 5, &lp, err)) return -1;
        r->logprobs = lp >= 0;
        top_lp = lp > 0 ? lp : 0;
    }
    sp->temperature = (float)temp;
    sp->top_p = (float)top_p;
    sp->min_p = (float)min_p;
    sp->presence_penalty = (float)pp;
    sp->frequency_penalty = (float)fp;
    sp->repeat_penalty = (float)rp;
    sp->top_k = (int)top_k;
    sp->seed = seed >= 0 ? (uint64_t)seed : crypto_random_u64();
    sp->top_logprobs = (int)top_lp;
    r->max_tokens = max_tokens;
    return 0;
}

engine_request *engine_request_parse(const engine_model *m, engine_api api, const uint8_t *body,
                                     size_t len, cc_err *err)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)body, len, 0, &je);
    if (!root) {
        cc_err_setc(err, 400, "invalid JSON body: %s (line %d, column %d)", je.text, je.line,
                    je.column);
        return NULL;
    }
    engine_request *r = cc_calloc(1, sizeof(*r));
    r->api = api;
    engine_sample_params_default(&r->sp);
    r->sp.repeat_last_n = 64;
    int rc;
    if (!json_is_object(root))
        rc = cc_err_setc(err, 400, "the body must be a JSON object");
    else if (api == ENGINE_API_CHAT)
        rc = parse_messages(m, root, r, err);
    else
        rc = parse_prompt(root, r, err);
    if (rc == 0) rc = parse_common(root, r, err);
    json_decref(root);
    if (rc) {
        engine_request_free(r);
        return NULL;
    }
    return r;
}

void engine_request_free(engine_request *r)
{
    if (!r) return;
    free(r->prompt);
    for (size_t i = 0; i < r->n_stops; i++)
        free(r->stops[i]);
    free(r);
}
