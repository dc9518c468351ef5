/*
 * OpenAI request validation (a parser of client input). The first byte picks
 * the endpoint; the rest is the body. Checks the invariants callers rely on:
 * success means a JSON object with a non-empty model string and every value
 * within its documented range; failure means a 400 naming the field whose
 * error JSON renders (even when the message quotes bad UTF-8). The quick scan
 * (openai_parse_quick) must never accept what the validator refuses, and
 * what it accepts it must read exactly as the validator does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openai/openai.h"

/* The quick scan's reading of an accepted body equals the validator's. */
static void same_as_validator(const openai_request *q, const openai_request *r)
{
    if (strcmp(q->model, r->model) != 0 || q->kind != r->kind || q->stream != r->stream ||
        q->include_usage != r->include_usage || q->max_tokens != r->max_tokens ||
        q->temperature != r->temperature || q->top_p != r->top_p || q->min_p != r->min_p ||
        q->top_k != r->top_k || q->presence_penalty != r->presence_penalty ||
        q->frequency_penalty != r->frequency_penalty ||
        q->repetition_penalty != r->repetition_penalty || q->has_seed != r->has_seed ||
        q->n_stop != r->n_stop || q->logprobs != r->logprobs ||
        q->top_logprobs != r->top_logprobs || q->echo != r->echo || q->timeout != r->timeout ||
        q->enable_debug != r->enable_debug || q->request_guid || r->request_guid || q->n != r->n ||
        q->best_of != r->best_of || q->has_tools != r->has_tools ||
        q->tool_choice_none != r->tool_choice_none || q->has_tool_turns != r->has_tool_turns ||
        q->response_format != r->response_format || q->has_logit_bias != r->has_logit_bias ||
        q->has_suffix != r->has_suffix || q->prompt_is_text != r->prompt_is_text ||
        q->max_coefficient != r->max_coefficient || q->body)
        abort();
}

/* One token-cap field as the scan saw it, against jansson's value. */
static void same_cap(int state, int64_t value, const json_t *v)
{
    int want = !v                   ? OPENAI_TOP_ABSENT
               : json_is_null(v)    ? OPENAI_TOP_NULL
               : json_is_integer(v) ? OPENAI_TOP_INT
                                    : OPENAI_TOP_OTHER;
    if (state != want || (want == OPENAI_TOP_INT && json_integer_value(v) != value)) abort();
}

/* The worker's top-level scan (openai_scan_top) against jansson's parse. */
static void check_scan_top(const uint8_t *d, size_t n)
{
    openai_top t;
    if (!openai_scan_top(d, n, &t)) return;
    json_t *j = json_loadb((const char *)d, n, 0, NULL);
    if (!json_is_object(j) || json_object_size(j) != t.n_keys) abort();
    const json_t *model = json_object_get(j, "model");
    if (t.model && (!json_is_string(model) || json_string_length(model) != t.model_len ||
                    memcmp(json_string_value(model), t.model, t.model_len) != 0))
        abort();
    if (t.stream != json_is_true(json_object_get(j, "stream")) ||
        t.has_stream_options != (json_object_get(j, "stream_options") != NULL))
        abort();
    same_cap(t.max_tokens, t.max_tokens_value, json_object_get(j, "max_tokens"));
    same_cap(t.max_completion_tokens, t.max_completion_tokens_value,
             json_object_get(j, "max_completion_tokens"));
    if (t.close_at >= n || d[t.close_at] != '}') abort();
    for (size_t i = t.close_at + 1; i < n; i++)
        if (!strchr(" \t\r\n", d[i]) || !d[i]) abort();
    json_decref(j);
}

/* The conversation's opening (openai_scan_opening): a span of the body that
 * holds whole messages, the last a user message, and that jansson reads as
 * the first elements of "messages" when it reads the body. */
static void check_opening(const uint8_t *d, size_t n)
{
    size_t off, len;
    if (!openai_scan_opening(d, n, &off, &len)) return;
    if (off > n || len > n - off || len < 2 || d[off] != '{' || d[off + len - 1] != '}') abort();
    /* (A body with a key twice is read differently by jansson: last one wins.) */
    json_t *j = json_loadb((const char *)d, n, JSON_REJECT_DUPLICATES, NULL);
    if (j) {
        const json_t *msgs = json_object_get(j, "messages");
        char *span = malloc(len + 3);
        span[0] = '[';
        memcpy(span + 1, d + off, len);
        memcpy(span + 1 + len, "]", 2);
        json_t *opening = json_loads(span, 0, NULL);
        size_t k = json_array_size(opening);
        if (!json_is_array(msgs) || !k || k > json_array_size(msgs)) abort();
        for (size_t i = 0; i < k; i++)
            if (!json_equal(json_array_get(opening, i), json_array_get(msgs, i))) abort();
        const char *role = json_string_value(json_object_get(json_array_get(msgs, k - 1), "role"));
        if (!role || strcmp(role, "user") != 0) abort();
        json_decref(opening);
        free(span);
        json_decref(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const openai_kind kinds[] = {OPENAI_COMPLETION, OPENAI_CHAT, OPENAI_EMBEDDING,
                                        OPENAI_CHAT};
    openai_kind kind = kinds[data[0] & 3];
    openai_request r, q;
    openai_error e;
    check_scan_top(data + 1, size - 1);
    check_opening(data + 1, size - 1);
    bool quick = openai_parse_quick(kind, data + 1, size - 1, &q);
    int rc = openai_parse(kind, data + 1, size - 1, &r, &e);
    if (quick) {
        if (rc != 0) abort(); /* the scan accepted what the validator refuses */
        /* the opening it found on its way is the one openai_scan_opening finds */
        size_t off = 0, len = 0;
        bool has = openai_scan_opening(data + 1, size - 1, &off, &len);
        if (kind == OPENAI_CHAT &&
            (q.opening_len != (has ? len : 0) || (has && q.opening_off != off)))
            abort();
        same_as_validator(&q, &r);
        openai_request_clear(&q);
    }
    if (rc == 0) {
        if (!json_is_object(r.body) || !r.model || !r.model[0] || r.kind != kind ||
            r.max_tokens < 0 || r.max_tokens > OPENAI_MAX_TOKENS || (r.include_usage && !r.stream))
            abort();
        /* the values the worker hands to its engine stay in their documented ranges */
        if (!(r.temperature >= 0 && r.temperature <= 2) || !(r.top_p >= 0 && r.top_p <= 1) ||
            !(r.min_p >= 0 && r.min_p <= 1) || r.top_k < -1 || r.top_k > (1 << 20) ||
            !(r.repetition_penalty >= 0.01 && r.repetition_penalty <= 10) ||
            r.n_stop > OPENAI_MAX_STOP || r.top_logprobs < 0 ||
            r.top_logprobs > OPENAI_MAX_TOP_LOGPROBS || (r.top_logprobs && !r.logprobs))
            abort();
        /* what the embedded backend refuses by: in range, and consistent */
        if (r.n < 1 || r.n > OPENAI_MAX_CHOICES ||
            (r.kind == OPENAI_COMPLETION && r.best_of < r.n) || r.best_of > OPENAI_MAX_CHOICES ||
            (r.kind != OPENAI_CHAT && (r.has_tools || r.has_tool_turns)) ||
            (r.kind != OPENAI_COMPLETION && (r.has_suffix || r.prompt_is_text)))
            abort();
        for (size_t i = 0; i < r.n_stop; i++)
            if (!r.stop[i]) abort();
        /* COCOON's own fields stay in range and leave the body when stripped */
        if (r.timeout < 0 || r.timeout > 86400 || (r.request_guid && !r.request_guid[0])) abort();
        openai_request_strip_cocoon(&r);
        if (json_object_get(r.body, "timeout") || json_object_get(r.body, "request_guid") ||
            r.request_guid)
            abort();
        openai_request_clear(&r);
    } else {
        if (e.status != 400 || !e.type) abort();
        /* every refusal names its field, but for a body that has none */
        if (!e.param[0] && !(e.code && !strcmp(e.code, "invalid_json")) &&
            !strstr(e.message, "must be a JSON object"))
            abort();
        char *s = openai_error_json(&e);
        json_t *j = json_loads(s, 0, NULL);
        if (!j || !json_is_string(json_object_get(json_object_get(j, "error"), "message"))) abort();
        json_decref(j);
        free(s);
    }
    return 0;
}
