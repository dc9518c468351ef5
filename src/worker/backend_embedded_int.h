/*
 * Internal to the embedded backend: the bridge between the openai layer's
 * validated requests and answers and the engine's plain requests and
 * results (backend_embedded_openai.c).
 */
#ifndef COCOON_WORKER_BACKEND_EMBEDDED_INT_H
#define COCOON_WORKER_BACKEND_EMBEDDED_INT_H

#include "engine/engine.h"
#include "openai/openai.h"

/* The engine request for a validated OpenAI request: the chat rendered with
 * the model's template, or the completion prompt; sampling and stops.
 * Returns NULL with e filled (status 400, param named) for what the engine
 * cannot do: non-text content, tool turns, token-id prompts, echo. */
engine_request *emb_request_new(const engine_model *m, const openai_request *r, openai_error *e);

/* The log-probabilities of a step's token (with up to top alternatives),
 * token texts borrowed from the model. */
void emb_logprob(const engine_model *m, const engine_step *st, int top, openai_logprob *out);

#endif
