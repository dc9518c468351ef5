/* Internal declarations shared by the openai layer's own files (other
 * layers use openai.h). */
#ifndef COCOON_OPENAI_INT_H
#define COCOON_OPENAI_INT_H

#include "openai/openai.h"

/* A JSON string of the bytes s[0..n) with every invalid UTF-8 byte replaced
 * by `bad` (jansson refuses invalid UTF-8, and error messages quote client
 * input while generated text may split a character). */
json_t *openai_json_text(const char *s, size_t n, const char *bad);

/* Whether "usage" occurs in d[0..n): the quick test that lets SSE readers
 * skip nearly every event of a stream (openai_sse.c). */
bool openai_mentions_usage(const uint8_t *d, size_t n);

#endif
