/*
 * Internal to the embedded backend: the bridge between the openai layer's
 * validated requests and answers and the engine's plain requests and
 * results (backend_embedded_openai.c).
 */
#ifndef COCOON_WORKER_BACKEND_EMBEDDED_INT_H
#define COCOON_WORKER_BACKEND_EMBEDDED_INT_H

#include "engine/engine.h"
#include "openai/openai.h"

/* Tool calling (backend_embedded_tools.c): the form a model family writes calls in, read
 * from its chat template. */
typedef enum {
    EMB_TOOLS_NONE = 0, /* the template does not render tools in a known form */
    EMB_TOOLS_HERMES,   /* <tool_call>{"name","arguments"}</tool_call> (Hermes, Qwen) */
    EMB_TOOLS_LLAMA3,   /* {"name","parameters"} (Llama 3.1+) */
    EMB_TOOLS_MISTRAL,  /* [TOOL_CALLS] [{"name","arguments"}] */
} emb_tool_format;
emb_tool_format emb_tool_format_detect(const char *template_text);
/* The OpenAI tool_calls (a new JSON array of {"id":"call_...","type":"function","function":
 * {"name","arguments": JSON text}}) in generated text, and in *content (heap) the text before
 * them; NULL (and *content NULL) when the text holds no call. */
json_t *emb_tool_calls_parse(emb_tool_format f, const char *text, size_t len, char **content);
/* A grammar whose sentences are one call in the family's form to one of the tools (name
 * NULL) or to the named one, its arguments following the function's parameters schema.
 * NULL with err (and *bad: a schema keyword, or "tool_choice" for an unknown name). */
engine_grammar *emb_tool_grammar(emb_tool_format f, const json_t *tools, const char *name,
                                 const char **bad, cc_err *err);

/* The engine request for a validated OpenAI request: the chat rendered with
 * the model's template, or the completion prompt; sampling and stops; with
 * system_part, a chat's system part for a context shift to keep
 * (engine_request.system_part).
 * Returns NULL with e filled (status 400, param named) for what the engine
 * cannot do: non-text content, tools with a template that renders none, token-id prompts,
 * echo. *tools: the form to parse tool calls from the output in (EMB_TOOLS_NONE: no tools). */
engine_request *emb_request_new(const engine_model *m, const openai_request *r, bool system_part,
                                openai_error *e, emb_tool_format *tools);

/* The log-probabilities of a step's token (with up to top alternatives),
 * token texts borrowed from the model. */
void emb_logprob(const engine_model *m, const engine_step *st, int top, openai_logprob *out);

#endif
