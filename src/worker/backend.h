/*
 * The worker's model backends. A backend takes one OpenAI HTTP request at a
 * time per call (many may be in flight) and streams back the HTTP answer:
 * a head (status + headers), body bytes as they are produced, then exactly one
 * completion call with the token usage (or an error).
 *
 * Threading: every callback is invoked on the worker's libevent loop thread
 * (backends that compute elsewhere, like the embedded engine, marshal their
 * results onto the loop). Calls into the backend are made from that thread.
 *
 * Ownership: the request struct and its strings are borrowed for the duration
 * of start() only; the backend copies what it keeps.  After on_done the
 * backend_call handle is gone; cancel() before on_done stops the work and
 * still delivers on_done (with error code NET_ERR_CANCELLED, "cancelled").
 */
#ifndef COCOON_WORKER_BACKEND_H
#define COCOON_WORKER_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "engine/engine.h"
#include "openai/openai.h"

struct event_base;

typedef struct backend_header {
    const char *name;
    const char *value;
} backend_header;

typedef struct backend_http_request {
    const char *method; /* "POST" */
    const char *path;   /* "/v1/chat/completions", "/v1/audio/transcriptions", ... */
    const backend_header *headers;
    size_t n_headers;
    const uint8_t *body; /* the JSON request (multipart/form-data for audio) */
    size_t body_len;
    int64_t max_tokens; /* enforced cap on generated tokens (0 = backend default) */
    double timeout;     /* seconds; 0 = none */
} backend_http_request;

/* The token counts of an answer (read with the openai layer's usage scanner). */
typedef openai_usage backend_usage;

typedef struct backend_callbacks {
    void (*on_head)(void *ud, int status, const backend_header *headers, size_t n_headers);
    void (*on_body)(void *ud, const uint8_t *data, size_t len);
    /* error == NULL on success. error_code is one of COCOON's
     * NET_ERR_* codes (net.h: failure, error, timeout, cancelled) and is 0
     * on success. */
    void (*on_done)(void *ud, const backend_usage *usage, int error_code, const char *error);
} backend_callbacks;

typedef struct backend_call backend_call;
typedef struct worker_backend worker_backend;

typedef struct backend_ops {
    const char *kind; /* "openai-http", "embedded" */
    /* Starts a request. On failure returns -1 with err filled and calls nothing. */
    int (*start)(worker_backend *b, const backend_http_request *req, const backend_callbacks *cb,
                 void *ud, backend_call **out, cc_err *err);
    void (*cancel)(backend_call *call);
    /* The model identifier announced to proxies (e.g. "name@sha256:<hex>"). */
    const char *(*model)(worker_backend *b);
    bool (*healthy)(worker_backend *b);
    /* Figures for /jsonstats (adds keys to obj). */
    void (*stats)(worker_backend *b, json_t *obj);
    void (*destroy)(worker_backend *b);
    /* Back-pressure (flow control, docs/net.md): stop producing body bytes
     * for this call until resumed; bytes already produced may still come.
     * NULL = the backend cannot pause (the worker then holds what comes). */
    void (*pause)(backend_call *call, bool paused);
} backend_ops;

struct worker_backend {
    const backend_ops *ops;
    /* Called (on the loop) when healthy() changes; set by the worker. */
    void (*on_health)(void *ud, bool healthy);
    void *health_ud;
};

/* ------------------------------------------------------- the two backends */

typedef struct backend_openai_http_config {
    const char *url;        /* base URL, e.g. http://127.0.0.1:8000 */
    const char *model;      /* the identifier the worker announces ("name" or, as COCOON,
                             * "name@commit:verity"); the server serves it as its base
                             * name (before '@'), which requests must name */
    const char *api_key;    /* optional bearer token */
    double health_interval; /* seconds between /v1/models polls (default 5) */
    int max_connections;
    int max_connecting;     /* connections being opened at once; 0 = the HTTP client's default */
    double connect_timeout; /* seconds a connect to the backend may take; 0 = the client's 10 */
    /* Speech to text: billed tokens per audio second (0 = audio is free). */
    int64_t audio_tokens_per_second;
} backend_openai_http_config;

worker_backend *backend_openai_http_new(struct event_base *base,
                                        const backend_openai_http_config *cfg, cc_err *err);

typedef struct backend_embedded_config {
    const char *model_path; /* GGUF file */
    const char *model_name; /* optional display name; default: file name without .gguf */
    int threads;            /* 0 = number of cores */
    int slots;              /* concurrent sequences; 0 = default */
    int context;            /* per-slot context length; 0 = model's (capped) */
    /* A Jinja chat template file replacing the GGUF's tokenizer.chat_template (NULL: the
     * GGUF's): for a model file without one, or a fixed template. */
    const char *chat_template_path;
    engine_kv_type kv_type;           /* the KV cache's type (F16 by default) */
    engine_overflow context_overflow; /* a request outgrowing the context: refused or shifted */
    engine_keep context_keep;         /* what a shift keeps: a chat's system part, or BOS only */
} backend_embedded_config;

worker_backend *backend_embedded_new(struct event_base *base, const backend_embedded_config *cfg,
                                     cc_err *err);

#endif
