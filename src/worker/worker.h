/*
 * worker — the cocoon-worker daemon (DESIGN §1, §4.3): dials every proxy in
 * its config (reconnecting with exponential backoff), announces its model,
 * coefficient and capacity, runs each request on its model backend
 * (src/worker/backend.h) and streams the answer back.
 *
 * Ownership: worker_config strings are heap copies owned by the config and
 * released by worker_config_clear(). worker_new() copies what it keeps and
 * takes ownership of the backend it is given.
 */
#ifndef COCOON_WORKER_H
#define COCOON_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "daemon/daemon.h"
#include "worker/backend.h"

struct event_base;

typedef struct worker_config {
    char **proxies; /* "host:port" of each proxy's worker port ("proxies", required) */
    size_t n_proxies;
    char http_host[64]; /* "listen_http" (stats), default 127.0.0.1:12000 */
    uint16_t http_port;
    /* "http": the stats port's listener limits */
    daemon_http_limits http_limits;
    char *backend;     /* "openai-http" | "embedded" (default) */
    char *backend_url; /* openai-http: base URL of the server (required for it) */
    char *api_key;     /* openai-http: optional bearer token */
    char *model;       /* openai-http: served model name; embedded: GGUF file */
    char *model_name;  /* embedded: name announced (default: derived from the file) */
    int threads;       /* embedded: 0 = all cores */
    int slots;         /* embedded: concurrent sequences, 0 = default */
    int context;       /* embedded: "context", tokens per slot, 0 = the model's (at most 4096) */
    engine_kv_type kv_type; /* embedded: "kv_type", "f16" (default) or "q8_0" */
    /* embedded: "context_overflow", "error" (default) or "shift" (engine_overflow) */
    engine_overflow context_overflow;
    /* embedded: "context_keep", what a shift keeps: "system" (default: a chat's system part) or
     * "bos" (engine_keep) */
    engine_keep context_keep;
    int coefficient; /* price coefficient x1000 (default 1000) */
    int max_active;  /* "max_active_requests"; 0 = by backend: 16 embedded, 128 openai-http */
    double health_interval; /* backend health polls, seconds (2) */
    /* openai-http: backend connections being opened at once; 0 = the HTTP client's 32 */
    int backend_max_connecting;
    /* openai-http: seconds a backend connect may take ("backend_connect_timeout", 10) */
    double backend_connect_timeout;
    bool is_test;         /* "is_test": the network we join is a test one (default true) */
    daemon_config common; /* owner, TEE, policy, registry (proxy check), backoff, log level */
    /* embedded: "chat_template", a Jinja chat template file used instead of the GGUF's own
     * (NULL: the GGUF's) */
    char *chat_template;
    /* "max_proxy_debt_nano": a proxy that owes more than this (tokens it has
     * counted for us beyond its latest signed payment, x the registry's
     * worker fee) gets no new request. 0 (default): no limit. */
    int64_t max_proxy_debt_nano;
    /* "audio_tokens_per_second": speech to text is billed as this many
     * tokens per audio second (10), at the prompt price. */
    int64_t audio_tokens_per_second;
    /* "state_dir": the worker's persistent state (its signing key, the keys
     * its proxies announced); NULL: nothing survives a restart. */
    char *state_dir;
    /* With a chain: "wallet_key_file" (the wallet that sends payouts and
     * owns our contracts when no owner_address is given) and
     * "payout_threshold_nano" (claim by itself once the kept voucher covers
     * this much beyond what was paid; 0 = only on /request/payout). */
    char *wallet_key_file;
    int64_t payout_threshold_nano;
} worker_config;

/* The functions below as daemon_config_load_file() and daemon_main() take
 * them. */
extern const daemon_config_ops worker_config_ops;
void worker_config_init(worker_config *c);
int worker_config_from_json(const json_t *obj, const char *path, worker_config *c, cc_err *err);
int worker_config_load(const char *path, worker_config *c, cc_err *err);
/* Cross-field checks after loading and overrides (backend needs url/model...). */
int worker_config_validate(const worker_config *c, cc_err *err);
/* Applies command-line overrides: --backend, --backend-url, --model,
 * --model-name, --coefficient, --max-active, --http, --proxy (replaces the list;
 * may repeat), --log-level.  Unknown flags are errors. */
int worker_config_apply_flags(worker_config *c, int argc, char **argv, cc_err *err);
void worker_config_clear(worker_config *c);
/* The measured part of the configuration (RTMR2 of the fake TEE, DESIGN
 * §5.4), appended to out: role, tee, policy, proxy check, backend and its URL,
 * the fake root's certificate hash. Call after overrides. */
int worker_config_measure(const worker_config *c, cc_buf *out, cc_err *err);

typedef struct worker worker;

/* Starts the daemon on base: takes ownership of backend (even on failure). */
worker *worker_new(struct event_base *base, const worker_config *cfg, worker_backend *backend,
                   cc_err *err);
void worker_free(worker *w);
uint16_t worker_http_port(const worker *w);

int worker_main(int argc, char **argv);

/* worker_model.c: the default model by name (`cocoon up`, `--model stories260K`).
 * Finds stories260K.gguf: $COCOON_SHARED/models, ../shared/models beside the
 * current directory, the running binary or its parents, the cache dir
 * ($XDG_CACHE_HOME or ~/.cache)/cocoon/models; otherwise downloads it from
 * its public URL into the cache (unless COCOON_NO_DOWNLOAD is set). Every
 * candidate must have the known SHA-256. */
#define WORKER_DEFAULT_MODEL_NAME "stories260K"
#define WORKER_DEFAULT_MODEL_SHA256                                                                \
    "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d"
#define WORKER_DEFAULT_MODEL_URL                                                                   \
    "https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf"
int worker_default_model_path(char *out, size_t n, cc_err *err);
/* Downloads the default model from url into dir/stories260K.gguf, checking
 * its SHA-256 first (url is a parameter for tests). */
int worker_fetch_model(const char *url, const char *dir, char *out, size_t n, cc_err *err);
/* Whether an embedded backend's "model" is a name rather than a path: no
 * '/' and no ".gguf" suffix. */
bool worker_model_is_name(const char *model);
/* The GGUF path for an embedded backend's "model": *path NULL when model is
 * a path (or an existing file), else the default model's path (heap) found
 * as above; -1 for another name or when it cannot be found. */
int worker_model_resolve(const char *model, char **path, cc_err *err);

#endif
