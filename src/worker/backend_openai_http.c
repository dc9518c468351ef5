/*
 * The openai-http backend: forwards each request to an OpenAI-compatible
 * server (vLLM, SGLang, llama.cpp's llama-server, Ollama) through the
 * http layer's event-loop client, streaming the answer through unchanged.
 *
 * What it adds on the way (DESIGN §4.4):
 *  - only POST /v1/chat/completions, /v1/completions, /v1/embeddings and
 *    /v1/audio/{transcriptions,translations} for its own model (by its base
 *    name, as COCOON's worker checks it) go out; anything else is answered
 *    locally with an OpenAI error;
 *  - speech to text goes out as the multipart body it came in; its answer
 *    (small, never streamed) is held until it ends, so that it is billed per
 *    audio second (the WAV header's duration, else the verbose_json answer's
 *    "duration") and an answer that cannot be billed is replaced by an error;
 *  - streamed requests get stream_options.include_usage = true, so the
 *    server sends a usage block we can bill (COCOON bills streams at zero);
 *  - max_tokens / max_completion_tokens are capped at the worker's limit;
 *  - usage is read from the body as it passes (SSE or JSON alike);
 *  - /v1/models is polled; up/down changes are reported through on_health.
 * Body bytes are handed on as the client reads them: never re-chunked or held.
 */
#include "worker/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "http/http.h"
#include "net/net.h"

typedef struct oa_backend oa_backend;

/* Transcripts are small; a larger answer is a broken server. */
#define AUDIO_ANSWER_MAX (4u << 20)

struct backend_call {
    oa_backend *b;
    http_client_req *req;
    backend_callbacks cb;
    void *ud;
    openai_usage_scanner usage;
    struct event *deferred; /* local answers and the on_done after cancel */
    int status;
    bool head_sent;
    bool cancelled;
    openai_error local; /* a refusal answered without contacting the server */
    bool is_local;
    /* speech to text: the answer held until its end (see audio_done) */
    bool audio;
    bool audio_wav;
    double audio_seconds;
    bool held_overflow;
    char held_type[128];
    cc_buf held;
    cc_list_node node; /* in b->calls */
};

struct oa_backend {
    worker_backend base; /* first: the worker sees a worker_backend * */
    struct event_base *evb;
    http_client *cli;
    char *url;    /* without a trailing "/" or "/v1" */
    char *model;  /* announced identifier */
    char *served; /* its base name (before '@'): what requests and the server say */
    char *auth;   /* "Bearer <key>" or NULL */
    double health_interval;
    bool healthy;
    int64_t audio_tokens_per_second;
    struct event *health_timer;
    http_client_req *health_req;
    int health_status;
    cc_buf health_body; /* the /v1/models answer (bounded) */
    bool warned_model;  /* logged once that the server does not list our model */
    cc_list calls;      /* backend_call in flight */
    /* figures for /jsonstats */
    uint64_t n_requests, n_refused, n_failed, n_timeouts, n_cancelled, n_active;
    uint64_t prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens;
    uint64_t audio_requests;
    double audio_seconds;
    uint64_t health_changes;
};

/* ------------------------------------------------------------- helpers */

static void call_unlink_free(backend_call *c)
{
    oa_backend *b = c->b;
    cc_list_remove(&b->calls, &c->node);
    if (c->deferred) event_free(c->deferred);
    cc_buf_free(&c->held);
    free(c);
}

static void finish(backend_call *c, int error_code, const char *error)
{
    oa_backend *b = c->b;
    backend_usage u = {0};
    if (c->audio) { /* billed per audio second, whatever the answer says */
        u.prompt_tokens = u.total_tokens =
            error_code == 0 && c->status >= 200 && c->status < 300
                ? openai_audio_tokens(c->audio_seconds, b->audio_tokens_per_second)
                : 0;
        if (u.prompt_tokens) {
            b->audio_requests++;
            b->audio_seconds += c->audio_seconds;
        }
    } else {
        openai_usage_scanner_result(&c->usage, &u);
    }
    b->n_active--;
    if (error_code == 0 && c->status >= 200 && c->status < 300) {
        b->prompt_tokens += (uint64_t)u.prompt_tokens;
        b->completion_tokens += (uint64_t)u.completion_tokens;
        b->cached_tokens += (uint64_t)u.cached_tokens;
        b->reasoning_tokens += (uint64_t)u.reasoning_tokens;
    }
    backend_callbacks cb = c->cb;
    void *ud = c->ud;
    call_unlink_free(c);
    if (cb.on_done) cb.on_done(ud, &u, error_code, error);
}

/* Hop-by-hop and framing headers are the transport's business, not the
 * answer's: the worker re-frames the body for the proxy anyway. */
static bool pass_header(const char *name)
{
    static const char *const drop[] = {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding",
        "te",         "trailer",    "upgrade",          "content-length"};
    for (size_t i = 0; i < CC_ARRAY_LEN(drop); i++)
        if (strcasecmp(name, drop[i]) == 0) return false;
    return true;
}

/* ------------------------------------------------------ upstream events */

static int up_head(void *ud, int status, const http_header *hs, size_t n)
{
    backend_call *c = ud;
    c->status = status;
    backend_header *out = cc_calloc(n + 1, sizeof(*out));
    size_t k = 0;
    openai_usage_format fmt = OPENAI_USAGE_AUTO;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(hs[i].name, "content-type") == 0)
            fmt = strncasecmp(hs[i].value, "text/event-stream", 17) == 0 ? OPENAI_USAGE_SSE
                                                                         : OPENAI_USAGE_JSON;
        if (pass_header(hs[i].name)) out[k++] = (backend_header){hs[i].name, hs[i].value};
    }
    openai_usage_scanner_init(&c->usage, fmt);
    if (c->audio) { /* held until the end: audio_done */
        for (size_t i = 0; i < n; i++)
            if (strcasecmp(hs[i].name, "content-type") == 0)
                snprintf(c->held_type, sizeof(c->held_type), "%s", hs[i].value);
        free(out);
        return 0;
    }
    c->head_sent = true;
    if (c->cb.on_head) c->cb.on_head(c->ud, status, out, k);
    free(out);
    return 0;
}

static void up_body(void *ud, const uint8_t *data, size_t len)
{
    backend_call *c = ud;
    if (c->audio) {
        if (c->held.len + len > AUDIO_ANSWER_MAX)
            c->held_overflow = true;
        else
            cc_buf_append(&c->held, data, len);
        return;
    }
    /* Error bodies carry no usage; only successful answers are billed. */
    if (c->status >= 200 && c->status < 300) openai_usage_scanner_feed(&c->usage, data, len);
    if (c->cb.on_body) c->cb.on_body(c->ud, data, len);
}

/* An OpenAI error answered in place of the server's answer. */
static void answer_error(backend_call *c, const openai_error *e)
{
    char *body = openai_error_json(e);
    backend_header h = {"Content-Type", "application/json"};
    c->status = e->status;
    if (c->cb.on_head) c->cb.on_head(c->ud, e->status, &h, 1);
    if (c->cb.on_body) c->cb.on_body(c->ud, (const uint8_t *)body, strlen(body));
    free(body);
}

/* The end of a speech-to-text answer: its duration known, it goes on. */
static void audio_done(backend_call *c)
{
    openai_error e;
    bool ok = c->status >= 200 && c->status < 300;
    if (c->held_overflow) {
        openai_error_set(&e, 502, "backend_error", "the speech backend's answer exceeds %u bytes",
                         AUDIO_ANSWER_MAX);
        answer_error(c, &e);
        c->audio_seconds = 0;
        return;
    }
    if (ok && !c->audio_wav) {
        /* Not WAV: the backend decoded it, so its verbose_json "duration" is
         * the only measure there is. Without it the answer is not given away. */
        json_t *j = json_loadb((const char *)c->held.data, c->held.len, 0, NULL);
        json_t *d = json_object_get(j, "duration");
        double secs = json_is_number(d) ? json_number_value(d) : -1;
        json_decref(j);
        if (!(secs >= 0 && secs <= 86400)) {
            openai_error_set(&e, 502, "backend_error",
                             "the speech backend reported no audio duration (verbose_json "
                             "\"duration\"), so the request cannot be billed");
            answer_error(c, &e);
            c->audio_seconds = 0;
            return;
        }
        c->audio_seconds = secs;
    }
    backend_header h = {"Content-Type", c->held_type[0] ? c->held_type : "application/json"};
    if (c->cb.on_head) c->cb.on_head(c->ud, c->status, &h, 1);
    if (c->cb.on_body && c->held.len) c->cb.on_body(c->ud, c->held.data, c->held.len);
}

static void up_done(void *ud, http_client_result res, const char *error)
{
    backend_call *c = ud;
    oa_backend *b = c->b;
    c->req = NULL;
    char msg[300];
    switch (res) {
    case HTTP_CLIENT_OK:
        if (c->audio) audio_done(c);
        finish(c, 0, NULL);
        return;
    case HTTP_CLIENT_ERR_TIMEOUT:
        b->n_timeouts++;
        b->n_failed++;
        snprintf(msg, sizeof(msg), "backend timeout: %s", error ? error : "");
        finish(c, NET_ERR_TIMEOUT, msg);
        return;
    case HTTP_CLIENT_ERR_CONNECT:
        b->n_failed++;
        snprintf(msg, sizeof(msg), "backend unreachable: %s", error ? error : "");
        finish(c, NET_ERR_FAILURE, msg);
        return;
    default:
        b->n_failed++;
        snprintf(msg, sizeof(msg), "backend connection failed: %s", error ? error : "");
        finish(c, NET_ERR_ERROR, msg);
        return;
    }
}

/* ----------------------------------------------------- deferred events */

static void deferred_cb(evutil_socket_t fd, short what, void *arg)
{
    backend_call *c = arg;
    if (c->cancelled) {
        c->b->n_cancelled++;
        finish(c, NET_ERR_CANCELLED, "cancelled");
        return;
    }
    /* a local refusal: an ordinary HTTP answer with an OpenAI error body */
    c->audio = false; /* nothing to bill */
    answer_error(c, &c->local);
    finish(c, 0, NULL);
}

/* ------------------------------------------------------------ requests */

/* The common request needs only keys added: a stream without
 * stream_options, a max_tokens cap and no max_tokens given. Then the new keys
 * are written before the body's closing brace instead of re-encoding the
 * whole document (which costs as much as parsing it). Only done for a body
 * with no duplicate keys (`unique`), so that the backend cannot read a
 * different value than the one checked here. Returns the new body (heap) or
 * NULL when the document must be re-encoded. */
static char *append_keys(const backend_http_request *req, json_t *j, bool stream, bool unique)
{
    if (!unique) return NULL;
    if (stream && json_object_get(j, "stream_options")) return NULL;
    if (req->max_tokens > 0) {
        json_t *mt = json_object_get(j, "max_tokens");
        json_t *mct = json_object_get(j, "max_completion_tokens");
        if ((mt && !json_is_null(mt)) || (mct && !json_is_null(mct))) {
            /* values within the cap are kept as they are */
            if ((mt && !json_is_null(mt) &&
                 (!json_is_integer(mt) || json_integer_value(mt) > req->max_tokens)) ||
                (mct && !json_is_null(mct) &&
                 (!json_is_integer(mct) || json_integer_value(mct) > req->max_tokens)))
                return NULL;
        } else if (mt || mct) {
            return NULL; /* an explicit null is replaced, not repeated */
        }
    }
    /* The document parsed as an object with a "model", so it ends with '}'
     * after optional blanks and a ',' can precede the added keys. */
    size_t end = req->body_len;
    while (end && req->body[end - 1] != '}')
        end--;
    if (!end) return NULL;
    cc_buf out = CC_BUF_INIT;
    cc_buf_append(&out, req->body, end - 1);
    if (stream) cc_buf_append_str(&out, ",\"stream_options\":{\"include_usage\":true}");
    if (req->max_tokens > 0 && !json_object_get(j, "max_tokens") &&
        !json_object_get(j, "max_completion_tokens"))
        cc_buf_append_fmt(&out, ",\"max_tokens\":%lld", (long long)req->max_tokens);
    cc_buf_append_u8(&out, '}');
    return cc_buf_steal_str(&out);
}

/* append_keys from a scan of the top level instead of a parse (openai_scan_top): the common
 * request goes through without a JSON tree. Returns the new body, or NULL when the parse must
 * decide (a refusal, with its message, or a re-encoding). */
static char *rewrite_scanned(oa_backend *b, openai_kind kind, const backend_http_request *req,
                             bool *stream)
{
    openai_top t;
    if (!openai_scan_top(req->body, req->body_len, &t) || !t.model ||
        t.model_len != strlen(b->served) || memcmp(t.model, b->served, t.model_len) != 0)
        return NULL;
    if (kind == OPENAI_EMBEDDING) return cc_strndup((const char *)req->body, req->body_len);
    *stream = t.stream;
    if (t.stream && t.has_stream_options) return NULL;
    int64_t cap = req->max_tokens;
    bool mt = t.max_tokens >= OPENAI_TOP_INT, mct = t.max_completion_tokens >= OPENAI_TOP_INT;
    if (cap > 0 && (mt || mct)) {
        /* values within the cap are kept as they are */
        if ((mt && (t.max_tokens != OPENAI_TOP_INT || t.max_tokens_value > cap)) ||
            (mct &&
             (t.max_completion_tokens != OPENAI_TOP_INT || t.max_completion_tokens_value > cap)))
            return NULL;
    } else if (cap > 0 && (t.max_tokens || t.max_completion_tokens)) {
        return NULL; /* an explicit null is replaced, not repeated */
    }
    cc_buf out = CC_BUF_INIT;
    cc_buf_append(&out, req->body, t.close_at);
    /* the object holds "model", so a ',' goes before each added key */
    if (t.stream) cc_buf_append_str(&out, ",\"stream_options\":{\"include_usage\":true}");
    if (cap > 0 && !t.max_tokens && !t.max_completion_tokens)
        cc_buf_append_fmt(&out, ",\"max_tokens\":%lld", (long long)cap);
    cc_buf_append_u8(&out, '}');
    return cc_buf_steal_str(&out);
}

/* Rewrites the request body: include_usage for streams, the max_tokens cap.
 * Returns the new body (heap) or NULL with e filled (the body is refused). */
static char *rewrite_body(oa_backend *b, openai_kind kind, const backend_http_request *req,
                          bool *stream, openai_error *e)
{
    char *scanned = rewrite_scanned(b, kind, req, stream);
    if (scanned) return scanned;
    json_error_t je;
    bool unique = true;
    json_t *j = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) { /* duplicate keys are allowed here, as before, but re-encoded */
        unique = false;
        j = json_loadb((const char *)req->body, req->body_len, 0, &je);
    }
    if (!j) {
        openai_error_set(e, 400, "invalid_json",
                         "We could not parse the JSON body of your request: %s (line %d, column "
                         "%d)",
                         je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        openai_error_set(e, 400, NULL, "The request body must be a JSON object");
        return NULL;
    }
    /* As COCOON's worker: the request names the model's base name (what the
     * proxy lists), which is also what the server serves it as (vLLM's
     * --served-model-name), so the body goes through unchanged. */
    const char *model = json_string_value(json_object_get(j, "model"));
    if (!model || strcmp(model, b->served) != 0) {
        openai_error_set(e, 404, "model_not_found", "The model '%.200s' is not served here",
                         model ? model : "");
        snprintf(e->param, sizeof(e->param), "model");
        json_decref(j);
        return NULL;
    }
    if (kind == OPENAI_EMBEDDING) { /* no stream, no token cap: unchanged */
        json_decref(j);
        return cc_strndup((const char *)req->body, req->body_len);
    }
    *stream = json_is_true(json_object_get(j, "stream"));
    char *fast = append_keys(req, j, *stream, unique);
    if (fast) {
        json_decref(j);
        return fast;
    }
    if (*stream) {
        json_t *so = json_object_get(j, "stream_options");
        if (!json_is_object(so)) {
            so = json_object();
            json_object_set_new(j, "stream_options", so);
        }
        json_object_set_new(so, "include_usage", json_true());
    }
    if (req->max_tokens > 0) {
        static const char *const keys[] = {"max_tokens", "max_completion_tokens"};
        bool any = false;
        for (size_t i = 0; i < CC_ARRAY_LEN(keys); i++) {
            json_t *v = json_object_get(j, keys[i]);
            if (!v || json_is_null(v)) continue;
            any = true;
            if (!json_is_integer(v) || json_integer_value(v) > req->max_tokens)
                json_object_set_new(j, keys[i], json_integer(req->max_tokens));
        }
        if (!any) json_object_set_new(j, "max_tokens", json_integer(req->max_tokens));
    }
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s) openai_error_set(e, 400, NULL, "The request body could not be re-encoded");
    return s;
}

/* A speech-to-text request: the same validator as the client's, the model
 * checked, the body passed on as it came. Returns its Content-Type, or NULL
 * with e filled. */
static const char *audio_request(oa_backend *b, backend_call *c, openai_kind kind,
                                 const backend_http_request *req, openai_error *e)
{
    const char *ctype = NULL;
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, "content-type") == 0) ctype = req->headers[i].value;
    openai_audio a;
    if (openai_audio_parse(kind, ctype, req->body, req->body_len, &a, e) < 0) return NULL;
    if (strcmp(a.model, b->served) != 0) {
        openai_error_set(e, 404, "model_not_found", "The model '%.200s' is not served here",
                         a.model);
        snprintf(e->param, sizeof(e->param), "model");
        return NULL;
    }
    c->audio = true;
    c->audio_wav = a.is_wav;
    c->audio_seconds = a.seconds;
    return ctype;
}

static int oa_start(worker_backend *wb, const backend_http_request *req,
                    const backend_callbacks *cb, void *ud, backend_call **out, cc_err *err)
{
    oa_backend *b = (oa_backend *)wb;
    backend_call *c = cc_calloc(1, sizeof(*c));
    c->b = b;
    c->cb = *cb;
    c->ud = ud;
    openai_usage_scanner_init(&c->usage, OPENAI_USAGE_AUTO);
    c->deferred = event_new(b->evb, -1, 0, deferred_cb, c);
    cc_list_push_front(&b->calls, &c->node);
    b->n_requests++;
    b->n_active++;
    *out = c;

    const char *method = req->method ? req->method : "";
    const char *path = req->path ? req->path : "";
    char *body = NULL;
    bool stream = false;
    openai_kind kind = openai_route(method, path, &c->local);
    const char *ctype = "application/json";
    const void *send = NULL;
    size_t send_len = 0;
    if (openai_kind_is_audio(kind)) {
        ctype = audio_request(b, c, kind, req, &c->local);
        send = req->body; /* unchanged: no copy of the audio */
        send_len = req->body_len;
    } else if (kind) {
        body = rewrite_body(b, kind, req, &stream, &c->local);
        send = body;
        send_len = body ? strlen(body) : 0;
    }
    if (!send || !ctype) {
        c->is_local = true;
        b->n_refused++;
        event_active(c->deferred, 0, 0); /* callbacks never run inside start() */
        return 0;
    }
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", b->url, path);
    http_header hs[3] = {{"Content-Type", ctype},
                         {"Accept", stream ? "text/event-stream" : "application/json"},
                         {"Authorization", b->auth}};
    http_client_request creq = {"POST", url, hs, b->auth ? 3 : 2, send, send_len, req->timeout};
    static const http_client_callbacks ucb = {up_head, up_body, up_done};
    c->req = http_client_start(b->cli, &creq, &ucb, c, err);
    free(body);
    if (!c->req) {
        b->n_requests--;
        b->n_active--;
        *out = NULL;
        call_unlink_free(c);
        return -1;
    }
    return 0;
}

static void oa_cancel(backend_call *c)
{
    if (!c || c->cancelled) return;
    if (c->req) {
        http_client_cancel(c->req);
        c->req = NULL;
    }
    c->cancelled = true;
    /* on_done(NET_ERR_CANCELLED) comes from the loop, never from inside cancel(). */
    event_active(c->deferred, 0, 0);
}

/* --------------------------------------------------------------- health */

static void health_schedule(oa_backend *b, double secs)
{
    struct timeval tv = cc_timeval(secs);
    evtimer_add(b->health_timer, &tv);
}

static int health_head(void *ud, int status, const http_header *hs, size_t n)
{
    ((oa_backend *)ud)->health_status = status;
    return 0;
}

#define HEALTH_BODY_MAX (1u << 20)

static void health_body(void *ud, const uint8_t *d, size_t n)
{
    oa_backend *b = ud;
    if (b->health_body.len + n <= HEALTH_BODY_MAX) cc_buf_append(&b->health_body, d, n);
}

/* Servers name their models differently (llama-server reports a file path),
 * so a missing name is worth a warning, not a "down". */
static void check_model_listed(oa_backend *b)
{
    json_t *j = json_loadb((const char *)b->health_body.data, b->health_body.len, 0, NULL);
    json_t *data = json_object_get(j, "data");
    bool listed = false;
    size_t i;
    json_t *m;
    json_array_foreach(data, i, m)
    {
        const char *id = json_string_value(json_object_get(m, "id"));
        if (id && strcmp(id, b->served) == 0) listed = true;
    }
    if (json_is_array(data) && !listed && !b->warned_model) {
        b->warned_model = true;
        CC_WARN("event=backend_model_not_listed url=%s model=%s", b->url, b->served);
    }
    json_decref(j);
}

static void health_done(void *ud, http_client_result res, const char *error)
{
    oa_backend *b = ud;
    b->health_req = NULL;
    bool up = res == HTTP_CLIENT_OK && b->health_status >= 200 && b->health_status < 300;
    if (up) check_model_listed(b);
    if (up != b->healthy) {
        b->healthy = up;
        b->health_changes++;
        if (up)
            CC_INFO("event=backend_up url=%s", b->url);
        else
            CC_WARN("event=backend_down url=%s status=%d error=\"%s\"", b->url, b->health_status,
                    error ? error : "");
        if (b->base.on_health) b->base.on_health(b->base.health_ud, up);
    }
    health_schedule(b, b->health_interval);
}

static void health_tick(evutil_socket_t fd, short what, void *arg)
{
    oa_backend *b = arg;
    if (b->health_req) return;
    char url[1024];
    snprintf(url, sizeof(url), "%s/v1/models", b->url);
    http_header auth = {"Authorization", b->auth};
    double timeout = CC_MAX(1.0, CC_MIN(b->health_interval, 10.0));
    http_client_request req = {"GET", url, &auth, b->auth ? 1 : 0, NULL, 0, timeout};
    static const http_client_callbacks hcb = {health_head, health_body, health_done};
    b->health_status = 0;
    cc_buf_reset(&b->health_body);
    b->health_req = http_client_start(b->cli, &req, &hcb, b, NULL);
    if (!b->health_req) health_schedule(b, b->health_interval);
}

/* ------------------------------------------------------------ the rest */

static const char *oa_model(worker_backend *wb)
{
    return ((oa_backend *)wb)->model;
}

static bool oa_healthy(worker_backend *wb)
{
    return ((oa_backend *)wb)->healthy;
}

static void oa_stats(worker_backend *wb, json_t *obj)
{
    oa_backend *b = (oa_backend *)wb;
    json_object_set_new(obj, "backend", json_string("openai-http"));
    json_object_set_new(obj, "backend_url", json_string(b->url));
    json_object_set_new(obj, "backend_model", json_string(b->model));
    json_object_set_new(obj, "backend_healthy", json_boolean(b->healthy));
    json_t *s = json_object();
    json_object_set_new(s, "requests", json_integer((json_int_t)b->n_requests));
    json_object_set_new(s, "active", json_integer((json_int_t)b->n_active));
    json_object_set_new(s, "refused", json_integer((json_int_t)b->n_refused));
    json_object_set_new(s, "failed", json_integer((json_int_t)b->n_failed));
    json_object_set_new(s, "timeouts", json_integer((json_int_t)b->n_timeouts));
    json_object_set_new(s, "cancelled", json_integer((json_int_t)b->n_cancelled));
    json_object_set_new(s, "prompt_tokens", json_integer((json_int_t)b->prompt_tokens));
    json_object_set_new(s, "completion_tokens", json_integer((json_int_t)b->completion_tokens));
    json_object_set_new(s, "cached_tokens", json_integer((json_int_t)b->cached_tokens));
    json_object_set_new(s, "reasoning_tokens", json_integer((json_int_t)b->reasoning_tokens));
    json_object_set_new(s, "health_changes", json_integer((json_int_t)b->health_changes));
    json_object_set_new(s, "audio_requests", json_integer((json_int_t)b->audio_requests));
    json_object_set_new(s, "audio_seconds", json_real(b->audio_seconds));
    json_object_set_new(obj, "backend_stats", s);
}

static void oa_destroy(worker_backend *wb)
{
    oa_backend *b = (oa_backend *)wb;
    if (!b) return;
    /* Calls still open are dropped without callbacks: the worker is going away. */
    while (!cc_list_empty(&b->calls)) {
        backend_call *c = cc_list_first(backend_call, &b->calls, node);
        if (c->req) http_client_cancel(c->req);
        call_unlink_free(c);
    }
    if (b->health_req) http_client_cancel(b->health_req);
    event_free(b->health_timer);
    cc_buf_free(&b->health_body);
    http_client_free(b->cli);
    free(b->url);
    free(b->model);
    free(b->served);
    free(b->auth);
    free(b);
}

/* The server's writes block once the socket buffers fill: the answer then
 * flows at the pace of the slowest reader downstream. */
static void oa_pause(backend_call *c, bool paused)
{
    if (c && c->req) http_client_pause(c->req, paused);
}

static const backend_ops oa_ops = {
    .kind = "openai-http",
    .start = oa_start,
    .cancel = oa_cancel,
    .model = oa_model,
    .healthy = oa_healthy,
    .stats = oa_stats,
    .destroy = oa_destroy,
    .pause = oa_pause,
};

worker_backend *backend_openai_http_new(struct event_base *base,
                                        const backend_openai_http_config *cfg, cc_err *err)
{
    if (!cfg->url ||
        !(cc_str_has_prefix(cfg->url, "http://") || cc_str_has_prefix(cfg->url, "https://"))) {
        cc_err_set(err, "openai-http backend: url must start with http:// or https://");
        return NULL;
    }
    if (!cfg->model || !cfg->model[0]) {
        cc_err_set(err, "openai-http backend: model is required");
        return NULL;
    }
    http_client_config ccfg = {.max_connections = cfg->max_connections,
                               .max_connecting = cfg->max_connecting,
                               .connect_timeout = cfg->connect_timeout};
    http_client *cli = http_client_new(base, &ccfg, err);
    if (!cli) return NULL;
    oa_backend *b = cc_calloc(1, sizeof(*b));
    b->base.ops = &oa_ops;
    b->evb = base;
    b->cli = cli;
    /* Accept "http://host:8000", ".../" and ".../v1" alike: request paths carry /v1. */
    char *url = cc_strdup(cfg->url);
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        url[--n] = '\0';
    if (n >= 3 && strcmp(url + n - 3, "/v1") == 0) url[n -= 3] = '\0';
    b->url = url;
    b->model = cc_strdup(cfg->model);
    /* COCOON's rule (registry_model_base_len), kept here so the backends do
     * not depend on the registry layer. */
    b->served = cc_strndup(cfg->model, strcspn(cfg->model, "@"));
    if (cfg->api_key && cfg->api_key[0]) {
        cc_buf a = CC_BUF_INIT;
        cc_buf_append_fmt(&a, "Bearer %s", cfg->api_key);
        b->auth = cc_buf_steal_str(&a);
    }
    b->health_interval = cfg->health_interval > 0 ? cfg->health_interval : 5;
    b->audio_tokens_per_second = cfg->audio_tokens_per_second;
    b->health_timer = evtimer_new(base, health_tick, b);
    health_schedule(b, 0); /* first poll right away */
    return &b->base;
}
