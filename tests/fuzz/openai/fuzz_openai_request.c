/*
 * OpenAI request validation (a parser of client input). The first byte picks
 * the endpoint; the rest is the body. Checks the invariants callers rely on:
 * success means a JSON object with a non-empty model string; failure means a
 * 400 whose error JSON renders (even when the message quotes bad UTF-8).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openai/openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    openai_kind kind = (data[0] & 1) ? OPENAI_CHAT : OPENAI_COMPLETION;
    openai_request r;
    openai_error e;
    if (openai_parse(kind, data + 1, size - 1, &r, &e) == 0) {
        if (!json_is_object(r.body) || !r.model || !r.model[0] || r.kind != kind ||
            r.max_tokens < 0 || (r.include_usage && !r.stream))
            abort();
        openai_request_clear(&r);
    } else {
        if (e.status != 400 || !e.type) abort();
        char *s = openai_error_json(&e);
        json_t *j = json_loads(s, 0, NULL);
        if (!j || !json_is_string(json_object_get(json_object_get(j, "error"), "message"))) abort();
        json_decref(j);
        free(s);
    }
    return 0;
}
