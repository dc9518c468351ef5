/*
 * Token usage read from an OpenAI-compatible response body, incrementally and
 * in bounded memory (internal to the worker's backends).
 *
 * Works on both shapes of answer:
 *  - a plain JSON body: the top-level "usage" object;
 *  - an SSE stream: `data: {...}` events (split anywhere across chunks, CRLF or
 *    LF line ends, multi-line data, comments, `data: [DONE]`); the last event
 *    carrying a top-level "usage" object wins (servers that repeat cumulative
 *    usage in every chunk are therefore counted once, correctly).
 * Only the usage object itself is buffered (up to BACKEND_USAGE_MAX_OBJECT
 * bytes); content of any size streams through without being kept.
 *
 * The parser holds no heap memory: no cleanup call is needed.
 */
#ifndef COCOON_WORKER_BACKEND_USAGE_H
#define COCOON_WORKER_BACKEND_USAGE_H

#include "worker/backend.h"

#define BACKEND_USAGE_MAX_OBJECT 4096

typedef enum {
    BACKEND_USAGE_AUTO = 0, /* decided by the first non-blank byte: '{' JSON, else SSE */
    BACKEND_USAGE_JSON,
    BACKEND_USAGE_SSE,
} backend_usage_format;

typedef struct backend_usage_scan {
    int depth;
    bool in_string, escape;
    bool top_is_object, expect_key, reading_key, usage_key, after_colon;
    char key[8];
    size_t key_len;
    bool capturing, cap_overflow;
    size_t cap_len;
    char cap[BACKEND_USAGE_MAX_OBJECT];
} backend_usage_scan;

typedef struct backend_usage_parser {
    backend_usage_format format;
    /* SSE line state */
    enum { SSE_LINE_START, SSE_FIELD, SSE_DATA_FIRST, SSE_DATA, SSE_SKIP } line;
    bool after_cr;
    char field[8];
    size_t field_len;
    bool event_has_data;
    bool event_scanned; /* payload bytes of this event went to the scanner */
    backend_usage_scan scan;
    bool found;
    backend_usage usage;
    size_t events; /* SSE events seen (for stats/debug) */
} backend_usage_parser;

void backend_usage_parser_init(backend_usage_parser *p, backend_usage_format format);
void backend_usage_parser_feed(backend_usage_parser *p, const uint8_t *data, size_t len);
/* True when a usage object was found; *out gets the last one seen. */
bool backend_usage_parser_result(const backend_usage_parser *p, backend_usage *out);
/* Reads the usage fields of a usage JSON object (missing fields count 0;
 * total defaults to prompt + completion). Returns false if obj is not one. */
bool backend_usage_from_json(const json_t *usage_obj, backend_usage *out);

#endif
