/* Internal: the OpenAI answer formatter used by the server (openai_output.c). */
#ifndef COCOON_ENGINE_OPENAI_H
#define COCOON_ENGINE_OPENAI_H

#include "engine/engine.h"

typedef struct eng_oai eng_oai;

eng_oai *eng_oai_new(const engine_model *m, const engine_request *r, const char *model_name);
void eng_oai_free(eng_oai *o);
/* A generation step: text released by it (and its token, for logprobs).
 * Streaming: appends SSE bytes to out; otherwise accumulates. */
void eng_oai_step(eng_oai *o, const char *text, size_t n, const engine_step *st, cc_buf *out);
/* The end: the final chunks and [DONE], or the whole JSON object. */
void eng_oai_finish(eng_oai *o, engine_finish fin, const engine_usage *u, size_t cached,
                    cc_buf *out);
/* {"error":{...}} in OpenAI's shape (heap string). */
char *eng_oai_error_json(int status, const char *message);

#endif
