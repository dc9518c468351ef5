/*
 * The embedded backend's bridge to the engine. Requests were validated by
 * the openai layer (the same verdict the client gave); here they become
 * plain engine requests, refusing with a named param only what the engine
 * cannot do. On the way back, a step's token becomes the openai layer's
 * log-probability record.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "worker/backend_embedded_int.h"

/* Message content: a string or an array of {"type":"text","text":...} parts. */
static char *content_text(const json_t *c, size_t idx, openai_error *e)
{
    if (!c || json_is_null(c)) return cc_strdup("");
    if (json_is_string(c)) return cc_strndup(json_string_value(c), json_string_length(c));
    cc_buf b = CC_BUF_INIT;
    size_t i;
    json_t *part;
    json_array_foreach((json_t *)c, i, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!type || strcmp(type, "text") != 0) {
            cc_buf_free(&b);
            openai_error_param(e, "messages",
                               "'messages[%zu].content[%zu]': only text parts are supported by "
                               "this model",
                               idx, i);
            return NULL;
        }
        const json_t *text = json_object_get(part, "text");
        cc_buf_append(&b, json_string_value(text), json_string_length(text));
    }
    cc_buf_append_u8(&b, 0);
    return (char *)b.data;
}

static int render_chat(const engine_model *m, const json_t *body, bool system_part,
                       engine_request *r, openai_error *e)
{
    const json_t *msgs = json_object_get(body, "messages");
    size_t n = json_array_size(msgs);
    engine_chat_msg *cm = cc_calloc(n, sizeof(*cm));
    char **texts = cc_calloc(n, sizeof(char *));
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *msg = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (!strcmp(role, "developer")) role = "system";
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant")) {
            openai_error_param(e, "messages",
                               "'messages[%zu].role' '%.40s' is not supported by this model", i,
                               role);
            goto out;
        }
        texts[i] = content_text(json_object_get(msg, "content"), i, e);
        if (!texts[i]) goto out;
        cm[i].role = role;
        cm[i].content = texts[i];
    }
    /* The model's own chat template when its GGUF carries one (interpreted as Hugging Face
     * does), else the recognised format; either way its control tokens are special. */
    bool templated = false;
    r->prompt = engine_model_chat_render(m, cm, n, &templated);
    r->parse_special = templated || engine_model_chat_kind(m) != ENGINE_CHAT_PLAIN;
    if (system_part) r->system_part = engine_model_chat_system_part(m, cm, n, templated, r->prompt);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(cm);
    return rc;
}

/* One tool call of an assistant turn as chat templates expect it: arguments as an object
 * (Hugging Face templates write them with tojson; OpenAI sends a JSON text). */
static json_t *template_tool_call(const json_t *tc)
{
    json_t *out = json_deep_copy(tc);
    json_t *fn = json_object_get(out, "function");
    const json_t *args = json_object_get(fn, "arguments");
    if (json_is_string(args)) {
        json_t *parsed = json_loadb(json_string_value(args), json_string_length(args), 0, NULL);
        if (json_is_object(parsed))
            json_object_set_new(fn, "arguments", parsed);
        else
            json_decref(parsed);
    }
    return out;
}

/* A conversation with tools or tool turns, rendered by the model's template (the only thing
 * that knows how the model was shown tools). *fmt: the form the model answers calls in. */
static int render_tool_chat(const engine_model *m, const openai_request * or, bool tools_on,
                            bool system_part, engine_request *r, emb_tool_format *fmt,
                            openai_error *e)
{
    const char *param = tools_on ? "tools" : "messages";
    *fmt = emb_tool_format_detect(engine_model_chat_template(m));
    if (*fmt == EMB_TOOLS_NONE) {
        openai_error_param(e, param,
                           "'%s' %s is not supported by this model (its chat template renders no "
                           "tool calls in a known form)",
                           param, tools_on ? "(tool calling)" : "with tool calls or tool results");
        e->code = "unsupported_parameter";
        return -1;
    }
    const json_t *msgs = json_object_get(or->body, "messages");
    json_t *list = json_array();
    size_t i;
    const json_t *msg;
    int rc = -1;
    json_array_foreach(msgs, i, msg)
    {
        const char *role = json_string_value(json_object_get(msg, "role"));
        if (!strcmp(role, "developer")) role = "system";
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") &&
            strcmp(role, "tool")) {
            openai_error_param(e, "messages",
                               "'messages[%zu].role' '%.40s' is not supported by this model", i,
                               role);
            goto out;
        }
        json_t *one = json_pack("{s:s}", "role", role);
        const json_t *content = json_object_get(msg, "content");
        if (content && !json_is_null(content)) {
            char *text = content_text(content, i, e);
            if (!text) {
                json_decref(one);
                goto out;
            }
            json_object_set_new(one, "content", json_string(text));
            free(text);
        } else { /* null beside tool calls: "" (templates test it as a string, as vLLM gives) */
            json_object_set_new(one, "content", json_string(""));
        }
        const json_t *calls = json_object_get(msg, "tool_calls");
        if (json_is_array(calls)) {
            json_t *copy = json_array();
            size_t k;
            const json_t *tc;
            json_array_foreach(calls, k, tc) json_array_append_new(copy, template_tool_call(tc));
            json_object_set_new(one, "tool_calls", copy);
        }
        static const char *const keep[] = {"tool_call_id", "name"};
        for (size_t k = 0; k < CC_ARRAY_LEN(keep); k++) {
            const json_t *v = json_object_get(msg, keep[k]);
            if (json_is_string(v)) json_object_set(one, keep[k], (json_t *)v);
        }
        json_array_append_new(list, one);
    }
    cc_err err = {0};
    const json_t *tools = tools_on ? json_object_get(or->body, "tools") : NULL;
    r->prompt = engine_model_chat_prompt(m, list, tools, &err);
    if (!r->prompt) {
        openai_error_param(e, "messages", "the model's chat template failed: %s", err.msg);
        goto out;
    }
    r->parse_special = true;
    if (system_part)
        r->system_part = engine_model_chat_prompt_system_part(m, list, tools, r->prompt);
    rc = 0;
out:
    json_decref(list);
    return rc;
}

/* tool_choice "required" or a named function: the call is forced by a grammar. */
static int tool_choice_grammar(const openai_request * or, emb_tool_format fmt, engine_request *r,
                               openai_error *e)
{
    const json_t *tc = json_object_get(or->body, "tool_choice");
    const char *name = NULL;
    if (json_is_object(tc)) {
        name = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
        if (!name)
            return openai_error_param(e, "tool_choice", "'tool_choice.function.name' is required");
    } else if (!json_is_string(tc) || strcmp(json_string_value(tc), "required") != 0) {
        return 0; /* auto */
    }
    if (or->response_format != OPENAI_FORMAT_TEXT) {
        openai_error_param(e, "response_format",
                           "'response_format' is not supported by this model together with a "
                           "forced 'tool_choice'");
        e->code = "unsupported_parameter";
        return -1;
    }
    cc_err err = {0};
    const char *bad = NULL;
    r->grammar = emb_tool_grammar(fmt, json_object_get(or->body, "tools"), name, &bad, &err);
    if (r->grammar) return 0;
    if (bad && !strcmp(bad, "tool_choice"))
        return openai_error_param(e, "tool_choice", "'tool_choice': %s", err.msg);
    openai_error_param(e, "tools", "'tools' parameters schema: %s%s%s%s", err.msg,
                       bad ? " (keyword " : "", bad ? bad : "", bad ? ")" : "");
    e->code = "unsupported_parameter";
    return -1;
}

static int completion_prompt(const json_t *body, engine_request *r, openai_error *e)
{
    const json_t *p = json_object_get(body, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0)))
        p = json_array_get(p, 0);
    if (!json_is_string(p)) /* refuse_unsupported said so already */
        return openai_error_param(e, "prompt", "'prompt' must be one text for this model");
    r->prompt = cc_strndup(json_string_value(p), json_string_length(p));
    return 0;
}

/* What the validator lets through for OpenAI-compatible servers but the
 * engine cannot honour: refused by name, never silently ignored (a caller
 * asking for JSON or a tool call must not get plain text with a 200). */
static int refuse_unsupported(const openai_request * or, openai_error *e)
{
#define REFUSE(param, what)                                                                        \
    do {                                                                                           \
        openai_error_param(e, param, "'%s' %s is not supported by this model", param, what);       \
        e->code = "unsupported_parameter";                                                         \
        return -1;                                                                                 \
    } while (0)
    if (or->kind == OPENAI_EMBEDDING) {
        openai_error_param(e, "model", "'%s' does not serve embeddings", or->model);
        e->code = "unsupported_endpoint";
        return -1;
    }
    if (or->best_of > or->n) REFUSE("best_of", "greater than n");
    if (or->has_suffix) REFUSE("suffix", "(non-empty)");
    if (or->echo) REFUSE("echo", "(true)");
    if (or->kind == OPENAI_COMPLETION && ! or->prompt_is_text)
        REFUSE("prompt", "as several prompts or token ids");
    static const char *const others[] = {"functions", "function_call", "audio", "prediction",
                                         "web_search_options"};
    for (size_t i = 0; i < CC_ARRAY_LEN(others); i++) {
        const json_t *v = json_object_get(or->body, others[i]);
        if (!v || json_is_null(v)) continue;
        REFUSE(others[i], "(given)");
    }
    const json_t *mod = json_object_get(or->body, "modalities");
    if (json_is_array(mod)) {
        size_t i;
        const json_t *x;
        json_array_foreach(mod, i, x)
        {
            if (!json_is_string(x) || strcmp(json_string_value(x), "text") != 0)
                REFUSE("modalities", "other than [\"text\"]");
        }
    }
    return 0;
#undef REFUSE
}

/* "logit_bias" {"token id": bias}: the engine adds each bias to its token's
 * logit. The validator checked the values; the keys must be this model's
 * token ids. */
static int logit_bias(const engine_model *m, const json_t *lb, engine_sample_params *sp,
                      openai_error *e)
{
    size_t n = json_object_size(lb);
    if (!n) return 0;
    int32_t *ids = cc_calloc(n, sizeof(*ids));
    float *values = cc_calloc(n, sizeof(*values));
    /* owned by the request from here (engine_request_free frees them) */
    sp->bias_ids = ids;
    sp->bias_values = values;
    int n_vocab = engine_model_hparams(m)->n_vocab;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)lb, k, v)
    {
        int64_t id;
        cc_err err = {0};
        if (cc_parse_i64(k, 0, n_vocab - 1, &id, &err) < 0)
            return openai_error_param(e, "logit_bias",
                                      "'logit_bias' key '%.20s' is not a token id of this model "
                                      "(0..%d)",
                                      k, n_vocab - 1);
        ids[sp->n_bias] = (int32_t)id;
        values[sp->n_bias++] = (float)json_number_value(v);
    }
    return 0;
}

/* response_format json_object / json_schema: a grammar the sampled text must follow. A schema
 * keyword the compiler does not know is refused by name (never silently dropped: the caller
 * relies on the document being valid). */
static int response_grammar(const openai_request * or, engine_request *r, openai_error *e)
{
    if (or->response_format == OPENAI_FORMAT_TEXT || r->grammar) return 0;
    const json_t *schema = NULL;
    if (or->response_format == OPENAI_FORMAT_JSON_SCHEMA) {
        schema = json_object_get(
            json_object_get(json_object_get(or->body, "response_format"), "json_schema"), "schema");
        if (!schema) schema = NULL; /* no schema given: any JSON object */
    }
    cc_err err = {0};
    const char *bad = NULL;
    r->grammar = engine_grammar_from_json_schema(schema, &bad, &err);
    if (r->grammar) return 0;
    openai_error_param(e, "response_format", "'response_format.json_schema.schema': %s%s%s",
                       err.msg, bad ? " (keyword " : "", bad ? bad : "");
    if (bad) {
        size_t n = strlen(e->message);
        if (n + 1 < sizeof(e->message)) memcpy(e->message + n, ")", 2);
        e->code = "unsupported_parameter";
    }
    return -1;
}

engine_request *emb_request_new(const engine_model *m, const openai_request * or, bool system_part,
                                openai_error *e, emb_tool_format *tools)
{
    *tools = EMB_TOOLS_NONE;
    if (refuse_unsupported(or, e) < 0) return NULL;
    engine_request *r = cc_calloc(1, sizeof(*r));
    bool tools_on = or->kind == OPENAI_CHAT && or->has_tools && ! or->tool_choice_none;
    emb_tool_format fmt = EMB_TOOLS_NONE;
    int rc;
    if (or->kind != OPENAI_CHAT)
        rc = completion_prompt(or->body, r, e);
    else if (tools_on || or->has_tool_turns)
        rc = render_tool_chat(m, or, tools_on, system_part, r, &fmt, e);
    else
        rc = render_chat(m, or->body, system_part, r, e);
    if (rc == 0 && tools_on) rc = tool_choice_grammar(or, fmt, r, e);
    if (rc < 0) {
        engine_request_free(r);
        return NULL;
    }
    if (tools_on) *tools = fmt;
    if (or->n > 1 && tools_on) {
        engine_request_free(r);
        openai_error_param(e, "n", "'n' greater than 1 is not supported by this model with tools");
        e->code = "unsupported_parameter";
        return NULL;
    }
    r->n_choices = (int) or->n;
    engine_sample_params *sp = &r->sp;
    engine_sample_params_default(sp);
    sp->repeat_last_n = 64;
    sp->temperature = (float) or->temperature;
    sp->top_p = (float) or->top_p;
    sp->min_p = (float) or->min_p;
    sp->presence_penalty = (float) or->presence_penalty;
    sp->frequency_penalty = (float) or->frequency_penalty;
    sp->repeat_penalty = (float) or->repetition_penalty;
    sp->top_k = or->top_k > 0 ? (int) or->top_k : 0; /* -1 and 0 both mean off */
    sp->seed = or->has_seed && or->seed >= 0 ? (uint64_t) or->seed : crypto_random_u64();
    sp->top_logprobs = or->top_logprobs;
    if (logit_bias(m, json_object_get(or->body, "logit_bias"), sp, e) < 0) {
        engine_request_free(r);
        return NULL;
    }
    if (response_grammar(or, r, e) < 0) {
        engine_request_free(r);
        return NULL;
    }
    r->logprobs = or->logprobs;
    r->max_tokens = or->max_tokens;
    r->max_tokens_asked = or->max_tokens > 0; /* the proxy's cap, added later, is not */
    for (size_t i = 0; i < or->n_stop; i++)
        if (or->stop[i][0]) r->stops[r->n_stops++] = cc_strdup(or->stop[i]);
    return r;
}

void emb_logprob(const engine_model *m, const engine_step *st, int top, openai_logprob *out)
{
    out->token.text = engine_token_text(m, st->lp.id, &out->token.len);
    out->token.logprob = st->lp.logprob;
    out->n_top = 0;
    for (int i = 0; i < st->lp.n_top && i < top && i < OPENAI_MAX_TOP_LOGPROBS; i++) {
        openai_token_text *t = &out->top[out->n_top++];
        t->text = engine_token_text(m, st->lp.top_ids[i], &t->len);
        t->logprob = st->lp.top_logprobs[i];
    }
}
