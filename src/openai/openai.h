/*
 * openai — the OpenAI HTTP API's formats, in one place for every role:
 *
 *   errors    {"error":{...}} bodies with one status → type map
 *   requests  the one validator of /v1/chat/completions, /v1/completions and
 *             /v1/embeddings bodies (the client checks with it, the embedded worker reads
 *             its fields from it: both give the same verdict)
 *   answers   chat.completion / text_completion objects and their streamed
 *             chunks, built from generated text, token log-probabilities
 *             and usage (the embedded backend feeds it the engine's results)
 *   SSE       one incremental splitter of server-sent events, the filter
 *             that drops the usage-only event, and the scanner that reads
 *             token usage from a streamed or plain answer
 *
 * No I/O and no event loop here: everything works on bytes and JSON, so the
 * HTTP layer (its own 404/405/413 errors) and the roles can all use it.
 * Objects are used by one thread at a time; nothing is shared.
 */
#ifndef COCOON_OPENAI_H
#define COCOON_OPENAI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ============================================================ errors ===== */

/* An OpenAI-style error: rendered as
 *   {"error":{"message":M,"type":T,"param":P|null,"code":C|null}}
 * type and code point to static strings (or NULL: type is then derived from
 * the status, code becomes null). */
typedef struct openai_error {
    int status;       /* HTTP status: 400, 401, 402, 404, 413, 429, 500, 502, 503, 504, ... */
    const char *type; /* "invalid_request_error", "server_error", ... (static) */
    const char *code; /* e.g. "model_not_found", "invalid_json" (static) or NULL */
    char param[64];   /* offending request field, "" = null */
    char message[512];
} openai_error;

/* Fills e (param empty); returns -1 so it can be used as `return openai_error_set(...)`. */
int openai_error_set(openai_error *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same for a bad request field: status 400, param set. */
int openai_error_param(openai_error *e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The one status → type map: 400/404/405/413 and other 4xx "invalid_request_error",
 * 401 "authentication_error", 402 "insufficient_quota", 403 "permission_error",
 * 429 "rate_limit_error", 5xx "server_error". */
const char *openai_error_type_for_status(int status);
/* The JSON body of an error, as a new heap string (caller frees). Invalid
 * UTF-8 in the message or param (they may quote client input) becomes '?'. */
char *openai_error_json(const openai_error *e);

/* ========================================================== requests ===== */

typedef enum {
    OPENAI_CHAT = 1,      /* POST /v1/chat/completions */
    OPENAI_COMPLETION,    /* POST /v1/completions */
    OPENAI_EMBEDDING,     /* POST /v1/embeddings */
    OPENAI_TRANSCRIPTION, /* POST /v1/audio/transcriptions (multipart/form-data) */
    OPENAI_TRANSLATION,   /* POST /v1/audio/translations (multipart/form-data) */
} openai_kind;

/* Speech to text: bodies are multipart/form-data, not JSON (openai_audio_parse). */
static inline bool openai_kind_is_audio(openai_kind k)
{
    return k == OPENAI_TRANSCRIPTION || k == OPENAI_TRANSLATION;
}

/* The kind served at a path, or 0 when the path is neither endpoint. */
openai_kind openai_kind_for_path(const char *path);
/* For a server that answers only these endpoints: the kind of a request,
 * or 0 with e filled (404 "not_found" for another path, 405
 * "method_not_allowed" for a method other than POST; NULL = POST). */
openai_kind openai_route(const char *method, const char *path, openai_error *e);

#define OPENAI_MAX_STOP 4
/* max_tokens and max_completion_tokens: integers in [1, OPENAI_MAX_TOKENS]
 * (more than any model's context; larger values are mistakes). */
#define OPENAI_MAX_TOKENS (1 << 24)
#define OPENAI_MAX_TOP_LOGPROBS 20
#define OPENAI_MAX_COMPLETION_LOGPROBS 5
/* n (choices per request) and best_of: at most this many. */
#define OPENAI_MAX_CHOICES 128
/* Prompts of one completions request, inputs of one embeddings request. */
#define OPENAI_MAX_BATCH 2048
/* Tools of one chat request (OpenAI's own limit). */
#define OPENAI_MAX_TOOLS 128

typedef enum {
    OPENAI_FORMAT_TEXT = 0, /* default */
    OPENAI_FORMAT_JSON_OBJECT,
    OPENAI_FORMAT_JSON_SCHEMA,
} openai_response_format;

/* A validated request. The fields are the values given, or the defaults
 * noted when absent or null. Strings are borrowed from body. */
typedef struct openai_request {
    openai_kind kind;
    json_t *body;      /* the parsed JSON object (owned; released by _clear) */
    const char *model; /* never empty */
    bool stream;
    bool include_usage; /* stream_options.include_usage */
    /* max_completion_tokens if given, else max_tokens, else 0 (= not given). */
    int64_t max_tokens;
    double temperature;        /* [0, 2], default 1 */
    double top_p;              /* [0, 1], default 1 */
    double min_p;              /* [0, 1], default 0 (extension) */
    int64_t top_k;             /* [-1, 2^20], default 0; -1 and 0 = off (extension) */
    double presence_penalty;   /* [-2, 2], default 0 */
    double frequency_penalty;  /* [-2, 2], default 0 */
    double repetition_penalty; /* [0.01, 10], default 1 (extension) */
    bool has_seed;
    int64_t seed;
    const char *stop[OPENAI_MAX_STOP]; /* "stop": one string or up to 4 */
    size_t n_stop;
    /* Chat: "logprobs" (boolean) and "top_logprobs" (0..20, needs logprobs).
     * Completions: "logprobs" n (0..5) sets logprobs and top_logprobs = n. */
    bool logprobs;
    int top_logprobs;
    bool echo; /* completions */
    /* COCOON's per-request fields, read by the client and removed from the
     * body it forwards (openai_request_strip_cocoon). */
    double timeout;           /* "timeout": seconds in (0, 86400]; 0 = not given */
    bool enable_debug;        /* "enable_debug": debug timings in the answer */
    const char *request_guid; /* "request_guid": 1..256 bytes, NULL = not given */
    /* What an OpenAI-compatible server may honour and the embedded engine
     * cannot: checked for form here, passed through unchanged by the
     * openai-http backend, refused by name by the embedded one. */
    int64_t n;             /* [1, OPENAI_MAX_CHOICES], default 1 */
    int64_t best_of;       /* completions, [n, OPENAI_MAX_CHOICES], default n; chat: n */
    bool has_tools;        /* chat: a non-empty "tools" */
    bool tool_choice_none; /* chat: "tool_choice": "none" */
    bool has_tool_turns;   /* chat: a tool/function message or tool_calls */
    openai_response_format response_format; /* chat: response_format.type */
    bool has_logit_bias;                    /* a non-empty "logit_bias" */
    bool has_suffix;                        /* completions: a non-empty "suffix" */
    /* completions: the prompt is one string (or an array of one string);
     * otherwise several prompts or token ids */
    bool prompt_is_text;
    /* "max_coefficient" (COCOON's extension): the highest worker price
     * coefficient the caller accepts, an integer in [0, 2^31 - 1]; -1 when
     * not given (the client's default applies). */
    int64_t max_coefficient;
    char *model_copy; /* openai_parse_quick: what model points to (owned) */
    /* openai_parse_quick, for a chat request: the conversation's opening in
     * the body, as openai_scan_opening gives it (opening_len 0: none, or not
     * looked for: openai_parse leaves it 0). */
    size_t opening_off, opening_len;
} openai_request;

/* Parses and validates a request body (of any kind: an embeddings body
 * needs "model" and "input"). On success fills out (call
 * openai_request_clear later) and returns 0. On failure returns -1 with e
 * filled: status 400 with type invalid_request_error, param naming the field
 * and a message that says what is wrong (malformed JSON: code "invalid_json"
 * and the parser's line/column/position). Unknown fields are accepted and
 * left in body (servers add extensions). Integers must be written as JSON
 * integers: 5.0 is a number, not an integer. */
int openai_parse(openai_kind kind, const void *body, size_t len, openai_request *out,
                 openai_error *e);
/* The common request (chat or completion) read by one scan of its text,
 * without a JSON tree (openai_quick.c): true when openai_parse would accept
 * body, with out filled as it would fill it, except that body is NULL and
 * model is a copy (openai_request_clear frees it). false, with out
 * untouched, when the scan meets anything outside the few fields and plain
 * forms it knows, or a value openai_parse would refuse: then openai_parse
 * decides, and gives its message. */
bool openai_parse_quick(openai_kind kind, const void *body, size_t len, openai_request *out);
void openai_request_clear(openai_request *r);

/* What the worker's body rewrite reads of a request's top level, from one
 * scan of its text (openai_quick.c). */
enum { OPENAI_TOP_ABSENT, OPENAI_TOP_NULL, OPENAI_TOP_INT, OPENAI_TOP_OTHER };
typedef struct openai_top {
    const uint8_t *model; /* "model" when a string without escapes (its bytes); else NULL */
    size_t model_len;
    bool stream;                           /* "stream": true */
    bool has_stream_options;               /* "stream_options" present, whatever its value */
    int max_tokens, max_completion_tokens; /* OPENAI_TOP_*; _INT: a JSON integer, below */
    int64_t max_tokens_value, max_completion_tokens_value;
    size_t close_at; /* offset of the object's closing brace */
    size_t n_keys;
} openai_top;
/* true when body is one JSON object that jansson would read, with distinct
 * top-level keys written without escapes (so each key's value is the one a
 * backend reads too); false to decline (anything the scan cannot judge
 * exactly as jansson would, such as nesting beyond 64 or long numbers):
 * then parse it. Duplicate keys inside nested objects are not looked for. */
bool openai_scan_top(const void *body, size_t len, openai_top *out);

/* A chat conversation's opening, for prefix affinity: the raw text of its
 * "messages" from the first message to the end of the first user message
 * (the system or developer messages before it included), which every later
 * turn of the conversation repeats. false when the body has no such opening
 * within its first OPENAI_OPENING_MAX_MESSAGES messages, or is not text the
 * scan can walk (openai_quick.c). */
#define OPENAI_OPENING_MAX_MESSAGES 8
bool openai_scan_opening(const void *body, size_t len, size_t *off, size_t *n);
/* Removes the fields COCOON's client consumes itself (max_coefficient,
 * timeout, enable_debug, request_guid) from r->body, as COCOON's client does
 * before forwarding. Returns true when one was there: the body must then be
 * forwarded re-serialised rather than as received. request_guid pointed into
 * the body and becomes NULL: copy it first. */
bool openai_request_strip_cocoon(openai_request *r);

/* ============================================== speech to text ===== */

/* One part of a multipart/form-data body (RFC 7578). Strings are copied
 * (bounded); data is borrowed from the body. */
#define OPENAI_FORM_MAX_PARTS 32
typedef struct openai_form_part {
    char name[64];
    bool has_filename;
    char filename[256];
    char content_type[128]; /* "" when the part names none */
    const uint8_t *data;
    size_t len;
} openai_form_part;

typedef struct openai_form {
    size_t n;
    openai_form_part parts[OPENAI_FORM_MAX_PARTS];
} openai_form;

/* Parses a multipart/form-data body given its Content-Type header value
 * (which carries the boundary). Strict: CRLF line ends, no preamble, a
 * Content-Disposition "form-data" with a name on every part, at most
 * OPENAI_FORM_MAX_PARTS parts, nothing after the closing delimiter but one
 * CRLF. Returns 0, or -1 with e filled (400, code "invalid_multipart"). */
int openai_form_parse(const char *content_type, const uint8_t *body, size_t len, openai_form *out,
                      openai_error *e);

/* The duration of a RIFF/WAVE file, read strictly from its header: a "fmt "
 * chunk (PCM, IEEE float or extensible; consistent block align and byte
 * rate) and a "data" chunk that lies within the file. Returns 1 with
 * *seconds set for a WAV file, 0 when the bytes are not RIFF/WAVE at all
 * (another format), -1 with why filled when they claim RIFF/WAVE and are
 * malformed. */
int openai_wav_duration(const uint8_t *d, size_t n, double *seconds, char *why, size_t why_len);

/* The largest audio file accepted: below OpenAI's 25 MiB, because a request
 * crosses the network in one frame of at most 16 MiB. The client's max_body
 * (8 MiB by default) may lower it further. */
#define OPENAI_AUDIO_MAX_BYTES (15u << 20)

typedef enum {
    OPENAI_AUDIO_JSON = 0, /* default */
    OPENAI_AUDIO_TEXT,
    OPENAI_AUDIO_SRT,
    OPENAI_AUDIO_VERBOSE_JSON,
    OPENAI_AUDIO_VTT,
} openai_audio_format;

/* A validated speech-to-text request. */
typedef struct openai_audio {
    openai_kind kind;
    char model[257];
    const uint8_t *file; /* borrowed from the body */
    size_t file_len;
    openai_audio_format format;
    double temperature; /* [0, 1], default 0 */
    /* Billing: a WAV file's duration comes from its header; any other format
     * is billed on the duration the backend reports, which only verbose_json
     * carries, so other formats must ask for it. */
    bool is_wav;
    double seconds; /* is_wav: the header's duration */
} openai_audio;

/* Validates a speech-to-text body: fields file (required, with a filename,
 * 1..OPENAI_AUDIO_MAX_BYTES bytes), model (required), language, prompt,
 * response_format (json|text|srt|verbose_json|vtt), temperature (0..1),
 * timestamp_granularities[] (word|segment, only with verbose_json), stream
 * (only false). Other text fields pass through (servers add extensions);
 * another file part or a field given twice is refused. Returns 0 or -1 with
 * e filled (400, param naming the field). */
int openai_audio_parse(openai_kind kind, const char *content_type, const uint8_t *body, size_t len,
                       openai_audio *out, openai_error *e);
/* The same, filling an openai_request as openai_parse does (model, default
 * fields, a body object holding the model) for code that handles every
 * endpoint alike; the audio itself is not copied. */
int openai_parse_audio(openai_kind kind, const char *content_type, const uint8_t *body, size_t len,
                       openai_request *out, openai_error *e);
/* Audio seconds as billed tokens: ceil(seconds * tokens_per_second), at
 * least 1 for any audio, capped at 2^31 - 1. */
int64_t openai_audio_tokens(double seconds, int64_t tokens_per_second);

/* =========================================================== answers ===== */

/* Token counts of an answer. */
typedef struct openai_usage {
    int64_t prompt_tokens;
    int64_t cached_tokens; /* prompt_tokens_details.cached_tokens */
    int64_t completion_tokens;
    int64_t reasoning_tokens; /* completion_tokens_details.reasoning_tokens */
    int64_t total_tokens;
} openai_usage;

/* Reads the fields of a usage JSON object (missing fields count 0, negative
 * ones 0, huge ones are capped; total defaults to prompt + completion).
 * Returns false if obj is not an object. */
bool openai_usage_from_json(const json_t *usage_obj, openai_usage *out);

/* One generated token with its log-probability and the most likely
 * alternatives (token texts are raw bytes, borrowed for the call). */
typedef struct openai_token_text {
    const char *text;
    size_t len;
    float logprob;
} openai_token_text;

typedef struct openai_logprob {
    openai_token_text token;
    size_t n_top;
    openai_token_text top[OPENAI_MAX_TOP_LOGPROBS];
} openai_logprob;

typedef enum { OPENAI_FINISH_STOP = 0, OPENAI_FINISH_LENGTH } openai_finish;

/* The answer to one request, built piece by piece: streamed, each step
 * appends SSE events (chat.completion.chunk or text_completion chunks) and
 * the end appends the final chunk, the usage event when asked for and
 * "data: [DONE]"; otherwise everything is collected and the end appends the
 * whole JSON object. Text may hold invalid UTF-8 (it becomes U+FFFD). */
typedef struct openai_output openai_output;
openai_output *openai_output_new(const openai_request *r, const char *model_name);
void openai_output_free(openai_output *o);
/* Text released by a generation step and (when logprobs were asked for) its
 * token; lp may be NULL. */
void openai_output_step(openai_output *o, const char *text, size_t n, const openai_logprob *lp,
                        cc_buf *out);
void openai_output_finish(openai_output *o, openai_finish fin, const openai_usage *u, cc_buf *out);
/* With n > 1 (the request's "n"): a step of one choice, and the end with each choice's
 * finish (fins[i] for choice i; usage covers them all). */
void openai_output_step_choice(openai_output *o, size_t index, const char *text, size_t n,
                               const openai_logprob *lp, cc_buf *out);
void openai_output_finish_choices(openai_output *o, const openai_finish *fins, size_t n,
                                  const openai_usage *u, cc_buf *out);
/* The end of a chat answer that calls tools (finish_reason "tool_calls"): content (the text
 * before the calls, may be empty: null) and calls, an array of {"id","type":"function",
 * "function":{"name","arguments"}} (borrowed). Streamed, the content is one delta and each
 * call a tool_calls delta with its index, id, type, name and arguments. */
void openai_output_finish_tools(openai_output *o, const char *content, size_t n,
                                const json_t *calls, const openai_usage *u, cc_buf *out);

/* =============================================================== SSE ===== */

/* An incremental splitter of a server-sent event stream (lines end with
 * CRLF, LF or CR; an empty line ends an event; lines starting with ':' are
 * comments; only "data" fields are reported). Chunk boundaries may fall
 * anywhere. Holds no memory: zero-initialise or openai_sse_init(). */
typedef struct openai_sse {
    enum {
        OPENAI_SSE_LINE_START = 0,
        OPENAI_SSE_FIELD,
        OPENAI_SSE_DATA_FIRST,
        OPENAI_SSE_DATA,
        OPENAI_SSE_SKIP
    } line;
    bool after_cr;     /* the last chunk ended on a CR: a LF next belongs to it */
    bool tail_pending; /* ... and that CR ended an event */
    bool line_fresh;   /* no payload of this data line reported yet */
    char field[8];
    size_t field_len;
    size_t data_lines; /* data lines in the current event */
    /* Report event ends (and tails) only: lines are skipped whole, without
     * reading field names (the filter's hot path). */
    bool events_only;
} openai_sse;

typedef enum {
    OPENAI_SSE_PAYLOAD = 1, /* bytes of a data field's value (part of one line) */
    OPENAI_SSE_EVENT_END,   /* an empty line: the event ends before `end` */
    OPENAI_SSE_EVENT_TAIL,  /* the LF of a CRLF whose CR ended the previous event */
} openai_sse_piece_kind;

typedef struct openai_sse_piece {
    openai_sse_piece_kind kind;
    const uint8_t *data; /* PAYLOAD: borrowed from the chunk */
    size_t len;
    /* PAYLOAD: these bytes start a data line that is not the event's first:
     * the lines of one event's data join with '\n' before them. */
    bool join;
    /* PAYLOAD: the bytes are all of the event's data (one line, and its end
     * and the event's end are both in this chunk): a reader that only wants
     * some events can decide on them alone. */
    bool whole_event;
    size_t end; /* offset in the chunk just past this piece */
} openai_sse_piece;

void openai_sse_init(openai_sse *s);
/* Reads from d[*pos..n) up to the next piece; returns false when the chunk
 * is used up (*pos == n) with nothing more to report. */
bool openai_sse_next(openai_sse *s, const uint8_t *d, size_t n, size_t *pos, openai_sse_piece *p);

/* Drops the usage-only event (data: a JSON object with "choices": [] and a
 * "usage" object) from an SSE stream relayed in pieces. Workers request usage
 * from every backend so that streams are billed; a caller that did not set
 * stream_options.include_usage must not get that event (its empty choices
 * break the usual `chunk.choices[0]` loop). Every other byte passes through
 * unchanged and in order; at most one incomplete event is held back. */
typedef struct openai_sse_filter openai_sse_filter;
openai_sse_filter *openai_sse_filter_new(void);
/* Appends the complete events of data that pass to out. */
void openai_sse_filter_feed(openai_sse_filter *f, const uint8_t *data, size_t len, cc_buf *out);
/* At the end of the stream: appends what is still held back (unless it is
 * the usage-only event). */
void openai_sse_filter_finish(openai_sse_filter *f, cc_buf *out);
/* Events dropped so far. */
size_t openai_sse_filter_dropped(const openai_sse_filter *f);
void openai_sse_filter_free(openai_sse_filter *f);
/* The filter's test of one event's data: a JSON object whose "choices" is an
 * empty array and whose "usage" is an object, judged as jansson would parse
 * it (invalid JSON is never usage-only). A field scan, not a parse: the
 * parse cost the client about 10 µs per streamed request. */
bool openai_is_usage_only_json(const uint8_t *d, size_t n);

/* Token usage read from an answer as it passes, in bounded memory, whether
 * a plain JSON body (its top-level "usage" object) or an SSE stream (the last
 * event carrying a top-level "usage" object wins, so servers that repeat
 * cumulative usage in every chunk are counted once). Only the usage object
 * itself is buffered (up to OPENAI_USAGE_MAX_OBJECT bytes); content of any
 * size streams through. Holds no heap memory: no cleanup call. */
#define OPENAI_USAGE_MAX_OBJECT 4096

typedef enum {
    OPENAI_USAGE_AUTO = 0, /* decided by the first non-blank byte: '{' JSON, else SSE */
    OPENAI_USAGE_JSON,
    OPENAI_USAGE_SSE,
} openai_usage_format;

typedef struct openai_usage_scanner {
    openai_usage_format format;
    openai_sse sse;
    /* the JSON scanner */
    int depth;
    bool in_string, escape;
    bool top_is_object, expect_key, reading_key, usage_key, after_colon;
    char key[8];
    size_t key_len;
    bool capturing, cap_overflow;
    size_t cap_len;
    char cap[OPENAI_USAGE_MAX_OBJECT];
    bool found;
    openai_usage usage;
    bool event_has_data, event_scanned;
    size_t events; /* SSE events with data seen (for tests and debugging) */
} openai_usage_scanner;

void openai_usage_scanner_init(openai_usage_scanner *p, openai_usage_format format);
void openai_usage_scanner_feed(openai_usage_scanner *p, const uint8_t *data, size_t len);
/* True when a usage object was found; *out gets the last one seen. */
bool openai_usage_scanner_result(const openai_usage_scanner *p, openai_usage *out);

#endif
