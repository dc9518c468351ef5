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

static int render_chat(const engine_model *m, const json_t *body, engine_request *r,
                       openai_error *e)
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
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(cm);
    return rc;
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
    if (or->has_tools && ! or->tool_choice_none) REFUSE("tools", "(tool calling)");
    if (or->has_tool_turns) REFUSE("messages", "with tool calls or tool results");
    if (or->response_format != OPENAI_FORMAT_TEXT)
        REFUSE("response_format", "other than {\"type\":\"text\"}");
    if (or->n > 1) REFUSE("n", "greater than 1");
    if (or->best_of > 1) REFUSE("best_of", "greater than 1");
    if (or->has_suffix) REFUSE("suffix", "(non-empty)");
    if (or->echo) REFUSE("echo", "(true)");
    if (or->kind == OPENAI_COMPLETION && ! or->prompt_is_text)
        REFUSE("prompt", "as several prompts or token ids");
    static const char *const others[] = {"functions",  "function_call",      "audio",
                                         "prediction", "web_search_options", "tool_choice"};
    for (size_t i = 0; i < CC_ARRAY_LEN(others); i++) {
        const json_t *v = json_object_get(or->body, others[i]);
        if (!v || json_is_null(v)) continue;
        /* tool_choice "none" and "auto" without tools change nothing */
        if (!strcmp(others[i], "tool_choice") && json_is_string(v) &&
            (!strcmp(json_string_value(v), "none") || !strcmp(json_string_value(v), "auto")))
            continue;
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

engine_request *emb_request_new(const engine_model *m, const openai_request * or, openai_error *e)
{
    if (refuse_unsupported(or, e) < 0) return NULL;
    engine_request *r = cc_calloc(1, sizeof(*r));
    if ((or->kind == OPENAI_CHAT ? render_chat(m, or->body, r, e)
                                 : completion_prompt(or->body, r, e)) < 0) {
        engine_request_free(r);
        return NULL;
    }
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
    r->logprobs = or->logprobs;
    r->max_tokens = or->max_tokens;
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
