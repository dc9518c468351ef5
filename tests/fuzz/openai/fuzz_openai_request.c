/*
 * OpenAI request validation (a parser of client input). The first byte picks
 * the endpoint; the rest is the body. Checks the invariants callers rely on:
 * success means a JSON object with a non-empty model string and every value
 * within its documented range; failure means a 400 naming the field whose
 * error JSON renders (even when the message quotes bad UTF-8).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openai/openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const openai_kind kinds[] = {OPENAI_COMPLETION, OPENAI_CHAT, OPENAI_EMBEDDING,
                                        OPENAI_CHAT};
    openai_kind kind = kinds[data[0] & 3];
    openai_request r;
    openai_error e;
    if (openai_parse(kind, data + 1, size - 1, &r, &e) == 0) {
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
