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

/* A strict walk over one JSON text (RFC 8259, as jansson reads it), for hot
 * paths that need a field or two of a small document and not a parse
 * (openai_jscan.c). What it cannot judge exactly the way jansson would (\u
 * escapes, non-ASCII bytes, numbers that might overflow, nesting past 64)
 * sets `unsure`, and the caller then asks jansson. A false return with
 * `unsure` unset: the text is not JSON. */
typedef struct {
    const uint8_t *p, *end;
    bool unsure;
} openai_jscan;
void openai_jscan_ws(openai_jscan *j);
/* A string at j->p (its '"' checked by the caller): s/len its raw bytes,
 * *plain when it holds no escape. */
bool openai_jscan_string(openai_jscan *j, const uint8_t **s, size_t *len, bool *plain);
/* Any value at j->p; j->p ends after it. depth: of the value's container. */
bool openai_jscan_value(openai_jscan *j, int depth);

/* An openai_request holding the defaults of kind (openai_request.c). */
void openai_request_defaults(openai_request *r, openai_kind kind);

#endif
