/*
 * Fuzz target over the Jinja interpreter: any bytes as a chat template,
 * parsed and rendered with a small conversation and tight limits, so a
 * hostile template must end in an error message, never a crash, a hang or
 * unbounded memory.
 */
#include <stdint.h>
#include <stdlib.h>

#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_err err = {0};
    engine_jinja *t = engine_jinja_parse((const char *)data, size, &err);
    if (!t) return 0;
    json_t *vars = json_loads("{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"},"
                              " {\"role\": \"user\", \"content\": \"hi \\u00fc\"},"
                              " {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\":"
                              " [{\"function\": {\"name\": \"f\", \"arguments\": {\"x\": 1.5}}}]}],"
                              " \"tools\": null, \"add_generation_prompt\": true,"
                              " \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}",
                              0, NULL);
    engine_jinja_limits lim = {
        .max_output = 1 << 16, .max_memory = 8 << 20, .max_steps = 20000, .max_depth = 64};
    char *out = engine_jinja_render(t, vars, &lim, NULL, &err);
    free(out);
    json_decref(vars);
    engine_jinja_free(t);
    return 0;
}
