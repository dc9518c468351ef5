/*
 * cocoon-fake-backend — a small, fast OpenAI-compatible server for tests and
 * benchmarks. Answers are deterministic so tests can compare bytes exactly.
 *
 *   cocoon-fake-backend [--host H] [--port N] [--model NAME] [--chunks N]
 *                       [--chunk-bytes B] [--delay-ms D]
 *
 * --port 0 picks a free port; the line "listening PORT" is printed on stdout
 * (flushed) once the socket accepts connections.
 *
 * Endpoints: GET /v1/models, POST /v1/chat/completions, POST /v1/completions,
 * POST /v1/embeddings, GET /healthz (JSON {"status":"ok"}). A completion has N chunks of exactly B
 * content bytes (chunk i is "c<i>:" followed by letters derived from i), capped at max_tokens /
 * max_completion_tokens when given: one token per chunk. Usage is
 *   prompt_tokens     = (request body bytes + 3) / 4
 *   completion_tokens = number of chunks
 *   total_tokens      = prompt + completion
 *   cached_tokens     = prompt_tokens / 4,  reasoning_tokens = completion / 10
 * Streams send one SSE event per chunk, a final event with finish_reason, a
 * usage event when stream_options.include_usage is true, then `data: [DONE]`.
 *
 * Non-streamed answers also honour, deterministically:
 *   tools (non-empty, tool_choice not "none")  one tool call of the first tool
 *       (or of tool_choice's function): id "call_fake_0", arguments "{}",
 *       content null, finish_reason "tool_calls" (plain text once the last
 *       message is the tool's result);
 *   response_format json_object / json_schema  content {"text": <the text>};
 *   n                                           n identical choices (index 0..n-1).
 * Streams always send one plain-text choice. Embeddings: one vector per input
 * of "dimensions" (default 8) floats derived from the input's bytes, as
 * base64 of little-endian float32 when encoding_format is "base64";
 * prompt_tokens = total_tokens = (request body bytes + 3) / 4.
 *
 * Test knobs travel in the request body (so they pass through proxies):
 *   "fake": {"fail": 500,              reply with this status and an OpenAI error
 *            "delay_ms": 5,            pause between chunks for this request
 *            "disconnect_after": 3,    drop the connection after 3 chunks
 *            "echo": true}             non-streamed reply carries the request
 *                                      it received as "fake_request"
 * and the model name must be the configured one (else 404 model_not_found).
 *
 * Speech to text (POST /v1/audio/transcriptions and /v1/audio/translations,
 * multipart/form-data, checked with the openai layer's validator): the text
 * is the "prompt" field when one is given (so a test can check that text
 * comes back), else "fake transcript of S seconds, audio XXXXXXXXXXXXXXXX"
 * (S from the WAV header or, for other formats, bytes / 16000; X the FNV-1a
 * hash of the file). Answers in every response_format; verbose_json carries
 * "duration" unless the form has fake_no_duration=true.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "base/base.h"
#include "openai/openai.h"

typedef struct fake_config {
    const char *model;
    int chunks;
    int chunk_bytes;
    int delay_ms;
} fake_config;

typedef struct fake_stream fake_stream;

typedef struct fake_server {
    struct event_base *base;
    fake_stream *streams; /* the streams in progress, freed at exit */
    fake_config cfg;
    char **content; /* precomputed chunk contents */
    int content_n;
    unsigned long next_id;
} fake_server;

/* One streamed answer in progress. */
struct fake_stream {
    fake_server *srv;
    fake_stream *prev, *next; /* in srv->streams */
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct event *timer;
    struct evbuffer *out;
    bool chat;
    bool include_usage;
    bool closed;
    int i, n, disconnect_after, delay_ms;
    long prompt_tokens;
    const char *finish;
    char id[32];
};

static const char *content_of(fake_server *s, int i)
{
    if (i < s->content_n) return s->content[i];
    return s->content[s->content_n - 1];
}

static char *make_content(int i, int bytes)
{
    char *c = malloc((size_t)bytes + 1);
    int p = snprintf(c, (size_t)bytes + 1, "c%d:", i);
    if (p > bytes) p = bytes;
    for (int j = p; j < bytes; j++)
        c[j] = (char)('a' + (i * 7 + j) % 26);
    c[bytes] = '\0';
    return c;
}

static void reply_json(struct evhttp_request *req, int status, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, s, strlen(s));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, status, NULL, b);
    evbuffer_free(b);
    free(s);
    json_decref(obj);
}

static void reply_error(struct evhttp_request *req, int status, const char *type, const char *code,
                        const char *msg)
{
    reply_json(req, status,
               json_pack("{s:{s:s,s:s,s:n,s:s?}}", "error", "message", msg, "type", type, "param",
                         "code", code));
}

static json_t *usage_json(long prompt, long completion)
{
    return json_pack("{s:I,s:I,s:I,s:{s:I},s:{s:I}}", "prompt_tokens", (json_int_t)prompt,
                     "completion_tokens", (json_int_t)completion, "total_tokens",
                     (json_int_t)(prompt + completion), "prompt_tokens_details", "cached_tokens",
                     (json_int_t)(prompt / 4), "completion_tokens_details", "reasoning_tokens",
                     (json_int_t)(completion / 10));
}

/* ------------------------------------------------------------- streaming */

static void stream_free(fake_stream *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        st->srv->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    if (st->timer) event_free(st->timer);
    evbuffer_free(st->out);
    free(st);
}

static void stream_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    fake_stream *st = arg;
    st->closed = true;
    st->evcon = NULL;
}

static void add_event(fake_stream *st, const char *json)
{
    evbuffer_add_printf(st->out, "data: %s\n\n", json);
}

static void add_chunk_event(fake_stream *st, int i)
{
    fake_server *s = st->srv;
    if (st->chat)
        evbuffer_add_printf(st->out,
                            "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\","
                            "\"created\":1700000000,\"model\":\"%s\",\"choices\":[{\"index\":0,"
                            "\"delta\":{%s\"content\":\"%s\"},\"logprobs\":null,"
                            "\"finish_reason\":null}]}\n\n",
                            st->id, s->cfg.model, i == 0 ? "\"role\":\"assistant\"," : "",
                            content_of(s, i));
    else
        evbuffer_add_printf(st->out,
                            "data: {\"id\":\"%s\",\"object\":\"text_completion\","
                            "\"created\":1700000000,\"model\":\"%s\",\"choices\":[{\"index\":0,"
                            "\"text\":\"%s\",\"logprobs\":null,\"finish_reason\":null}]}\n\n",
                            st->id, s->cfg.model, content_of(s, i));
}

static void add_tail_events(fake_stream *st)
{
    fake_server *s = st->srv;
    char buf[1024];
    if (st->chat)
        snprintf(buf, sizeof(buf),
                 "{\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                 "\"model\":\"%s\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                 "\"finish_reason\":\"%s\"}]}",
                 st->id, s->cfg.model, st->finish);
    else
        snprintf(buf, sizeof(buf),
                 "{\"id\":\"%s\",\"object\":\"text_completion\",\"created\":1700000000,"
                 "\"model\":\"%s\",\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,"
                 "\"finish_reason\":\"%s\"}]}",
                 st->id, s->cfg.model, st->finish);
    add_event(st, buf);
    if (st->include_usage) {
        json_t *u = usage_json(st->prompt_tokens, st->n);
        char *us = json_dumps(u, JSON_COMPACT);
        snprintf(buf, sizeof(buf),
                 "{\"id\":\"%s\",\"object\":\"%s\",\"created\":1700000000,\"model\":\"%s\","
                 "\"choices\":[],\"usage\":%s}",
                 st->id, st->chat ? "chat.completion.chunk" : "text_completion", s->cfg.model, us);
        free(us);
        json_decref(u);
        add_event(st, buf);
    }
    evbuffer_add_printf(st->out, "data: [DONE]\n\n");
}

static void stream_flush(fake_stream *st)
{
    if (evbuffer_get_length(st->out)) evhttp_send_reply_chunk(st->req, st->out);
}

static void stream_finish(fake_stream *st)
{
    if (st->evcon) evhttp_connection_set_closecb(st->evcon, NULL, NULL);
    evhttp_send_reply_end(st->req); /* also frees a request whose client left */
    stream_free(st);
}

/* Called once the chunks before a requested disconnect have been written. */
static void drop_connection(struct evhttp_connection *evcon, void *arg)
{
    fake_stream *st = arg;
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    evhttp_connection_free(evcon); /* frees the request with it */
    stream_free(st);
}

static bool disconnect_due(const fake_stream *st)
{
    return st->disconnect_after >= 0 && st->i >= st->disconnect_after;
}

static void stream_step(evutil_socket_t fd, short what, void *arg)
{
    fake_stream *st = arg;
    if (st->closed) {
        stream_finish(st);
        return;
    }
    if (st->delay_ms > 0) {
        if (st->i < st->n && !disconnect_due(st)) {
            add_chunk_event(st, st->i++);
            stream_flush(st);
            struct timeval tv = {st->delay_ms / 1000, (st->delay_ms % 1000) * 1000};
            evtimer_add(st->timer, &tv);
            return;
        }
    } else {
        while (st->i < st->n && !disconnect_due(st))
            add_chunk_event(st, st->i++);
    }
    if (disconnect_due(st)) {
        if (evbuffer_get_length(st->out))
            evhttp_send_reply_chunk_with_cb(st->req, st->out, drop_connection, st);
        else
            drop_connection(st->evcon, st);
        return;
    }
    add_tail_events(st);
    stream_flush(st);
    stream_finish(st);
}

/* ------------------------------------------------------------- handlers */

static void handle_models(fake_server *s, struct evhttp_request *req)
{
    reply_json(req, 200,
               json_pack("{s:s,s:[{s:s,s:s,s:i,s:s}]}", "object", "list", "data", "id",
                         s->cfg.model, "object", "model", "created", 1700000000, "owned_by",
                         "cocoon-fake-backend"));
}

/* The function a tool-calling request gets called: tool_choice's, else the
 * first tool's; NULL when no tool is to be called. */
static const char *tool_to_call(const json_t *j)
{
    const json_t *tools = json_object_get(j, "tools");
    const json_t *tc = json_object_get(j, "tool_choice");
    if (!json_is_array(tools) || json_array_size(tools) == 0) return NULL;
    if (json_is_string(tc) && strcmp(json_string_value(tc), "none") == 0) return NULL;
    /* the tool's result has come back: answer it in text */
    const json_t *msgs = json_object_get(j, "messages");
    const char *last =
        json_string_value(json_object_get(json_array_get(msgs, json_array_size(msgs) - 1), "role"));
    if (last && strcmp(last, "tool") == 0) return NULL;
    const char *named = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
    if (named) return named;
    return json_string_value(
        json_object_get(json_object_get(json_array_get(tools, 0), "function"), "name"));
}

static char *base64_of(const uint8_t *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* One deterministic vector for an input (its JSON text): value k is taken
 * from an FNV-1a hash of the text and k, in [-1, 1). */
static json_t *embedding_of(const json_t *input, int dims, bool b64)
{
    char *txt = json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY);
    float *v = calloc((size_t)dims, sizeof(float));
    for (int k = 0; k < dims; k++) {
        uint32_t h = 2166136261u ^ (uint32_t)k;
        for (const char *p = txt; p && *p; p++)
            h = (h ^ (uint8_t)*p) * 16777619u;
        v[k] = (float)(h % 2000) / 1000.0f - 1.0f;
    }
    free(txt);
    json_t *out;
    if (b64) {
        uint8_t *le = malloc((size_t)dims * 4);
        for (int k = 0; k < dims; k++) {
            uint32_t u;
            memcpy(&u, &v[k], 4);
            for (int b = 0; b < 4; b++)
                le[k * 4 + b] = (uint8_t)(u >> (8 * b));
        }
        char *s64 = base64_of(le, (size_t)dims * 4);
        out = json_string(s64);
        free(s64);
        free(le);
    } else {
        out = json_array();
        for (int k = 0; k < dims; k++)
            json_array_append_new(out, json_real(v[k]));
    }
    free(v);
    return out;
}

static void handle_embeddings(fake_server *s, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = (const char *)evbuffer_pullup(in, -1);
    json_error_t je;
    json_t *j = json_loadb(body ? body : "", len, 0, &je);
    const char *model = json_string_value(json_object_get(j, "model"));
    json_t *input = json_object_get(j, "input");
    if (!j || !json_is_object(j) || !input) {
        json_decref(j);
        reply_error(req, 400, "invalid_request_error", "invalid_json", "need model and input");
        return;
    }
    if (!model || strcmp(model, s->cfg.model) != 0) {
        json_decref(j);
        reply_error(req, 404, "invalid_request_error", "model_not_found",
                    "The model does not exist");
        return;
    }
    json_int_t dims = json_integer_value(json_object_get(j, "dimensions"));
    if (dims < 1 || dims > 4096) dims = 8;
    bool b64 = json_is_string(json_object_get(j, "encoding_format")) &&
               strcmp(json_string_value(json_object_get(j, "encoding_format")), "base64") == 0;
    /* A string or a list of token ids is one input; another list, one each. */
    bool many = json_is_array(input) && json_array_size(input) > 0 &&
                !json_is_integer(json_array_get(input, 0));
    size_t count = many ? json_array_size(input) : 1;
    json_t *data = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(
            data,
            json_pack("{s:s,s:I,s:o}", "object", "embedding", "index", (json_int_t)i, "embedding",
                      embedding_of(many ? json_array_get(input, i) : input, (int)dims, b64)));
    json_int_t pt = (json_int_t)((len + 3) / 4);
    json_decref(j);
    reply_json(req, 200,
               json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data", data, "model",
                         s->cfg.model, "usage", "prompt_tokens", pt, "total_tokens", pt));
}

static void reply_text(struct evhttp_request *req, const char *ctype, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, strlen(text));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_send_reply(req, 200, NULL, b);
    evbuffer_free(b);
}

/* "HH:MM:SS,mmm" (sep ',') or "HH:MM:SS.mmm" (sep '.') */
static void timestamp(char *out, size_t cap, double secs, char sep)
{
    unsigned long ms = (unsigned long)(secs * 1000 + 0.5) % (100ul * 3600000);
    snprintf(out, cap, "%02lu:%02lu:%02lu%c%03lu", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60,
             sep, ms % 1000);
}

static void handle_audio(fake_server *s, struct evhttp_request *req, bool translate)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const uint8_t *body = evbuffer_pullup(in, -1);
    const char *ctype = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    openai_audio a;
    openai_error e;
    openai_kind kind = translate ? OPENAI_TRANSLATION : OPENAI_TRANSCRIPTION;
    if (openai_audio_parse(kind, ctype, body ? body : (const uint8_t *)"", len, &a, &e) < 0) {
        reply_error(req, 400, "invalid_request_error", e.code ? e.code : "invalid_value",
                    e.message);
        return;
    }
    if (strcmp(a.model, s->cfg.model) != 0) {
        reply_error(req, 404, "invalid_request_error", "model_not_found",
                    "The model does not exist");
        return;
    }
    openai_form *f = calloc(1, sizeof(*f));
    openai_form_parse(ctype, body, len, f, &e); /* valid: checked above */
    char *prompt = NULL;
    bool no_duration = false, words = false;
    for (size_t i = 0; i < f->n; i++) {
        const openai_form_part *p = &f->parts[i];
        if (!strcmp(p->name, "prompt") && p->len) prompt = strndup((const char *)p->data, p->len);
        if (!strcmp(p->name, "fake_no_duration") && p->len == 4 && !memcmp(p->data, "true", 4))
            no_duration = true;
        if (!strcmp(p->name, "timestamp_granularities[]") && p->len == 4 &&
            !memcmp(p->data, "word", 4))
            words = true;
    }
    free(f);
    double secs = a.is_wav ? a.seconds : (double)a.file_len / 16000.0;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < a.file_len; i++)
        h = (h ^ a.file[i]) * 1099511628211ULL;
    char text[9000];
    if (prompt)
        snprintf(text, sizeof(text), "%s", prompt);
    else
        snprintf(text, sizeof(text), "fake transcript of %.3f seconds, audio %016llx", secs,
                 (unsigned long long)h);
    free(prompt);
    char t0[32], t1[32], buf[9200];
    switch (a.format) {
    case OPENAI_AUDIO_TEXT:
        snprintf(buf, sizeof(buf), "%s\n", text);
        reply_text(req, "text/plain; charset=utf-8", buf);
        return;
    case OPENAI_AUDIO_SRT:
        timestamp(t0, sizeof(t0), 0, ',');
        timestamp(t1, sizeof(t1), secs, ',');
        snprintf(buf, sizeof(buf), "1\n%s --> %s\n%s\n\n", t0, t1, text);
        reply_text(req, "text/plain; charset=utf-8", buf);
        return;
    case OPENAI_AUDIO_VTT:
        timestamp(t0, sizeof(t0), 0, '.');
        timestamp(t1, sizeof(t1), secs, '.');
        snprintf(buf, sizeof(buf), "WEBVTT\n\n%s --> %s\n%s\n\n", t0, t1, text);
        reply_text(req, "text/vtt; charset=utf-8", buf);
        return;
    case OPENAI_AUDIO_VERBOSE_JSON: {
        json_t *seg =
            json_pack("{s:i,s:i,s:f,s:f,s:s,s:[],s:f,s:f,s:f,s:f}", "id", 0, "seek", 0, "start",
                      0.0, "end", secs, "text", text, "tokens", "temperature", a.temperature,
                      "avg_logprob", -0.1, "compression_ratio", 1.0, "no_speech_prob", 0.0);
        json_t *o = json_pack("{s:s,s:s,s:s,s:[o]}", "task", translate ? "translate" : "transcribe",
                              "language", "english", "text", text, "segments", seg);
        if (!no_duration) json_object_set_new(o, "duration", json_real(secs));
        if (words)
            json_object_set_new(
                o, "words", json_pack("[{s:s,s:f,s:f}]", "word", text, "start", 0.0, "end", secs));
        reply_json(req, 200, o);
        return;
    }
    default:
        reply_json(req, 200,
                   json_pack("{s:s,s:{s:s,s:I}}", "text", text, "usage", "type", "duration",
                             "seconds", (json_int_t)(secs + 0.999)));
        return;
    }
}

static void handle_completion(fake_server *s, struct evhttp_request *req, bool chat)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = (const char *)evbuffer_pullup(in, -1);
    json_error_t je;
    json_t *j = json_loadb(body ? body : "", len, 0, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        reply_error(req, 400, "invalid_request_error", "invalid_json", "invalid JSON body");
        return;
    }
    const char *model = json_string_value(json_object_get(j, "model"));
    json_t *fake = json_object_get(j, "fake");
    int fail = (int)json_integer_value(json_object_get(fake, "fail"));
    if (fail >= 400 && fail <= 599) {
        json_decref(j);
        reply_error(req, fail, fail >= 500 ? "server_error" : "invalid_request_error", NULL,
                    "failure requested by the test");
        return;
    }
    if (!model || strcmp(model, s->cfg.model) != 0) {
        json_decref(j);
        reply_error(req, 404, "invalid_request_error", "model_not_found",
                    "The model does not exist");
        return;
    }
    int n = s->cfg.chunks;
    const char *finish = "stop";
    json_int_t cap = json_integer_value(json_object_get(j, "max_completion_tokens"));
    if (cap <= 0) cap = json_integer_value(json_object_get(j, "max_tokens"));
    if (cap > 0 && cap < n) {
        n = (int)cap;
        finish = "length";
    }
    long prompt_tokens = (long)((len + 3) / 4);
    bool stream = json_is_true(json_object_get(j, "stream"));
    char id[32];
    snprintf(id, sizeof(id), "fake-%lu", ++s->next_id);
    if (stream) {
        fake_stream *st = calloc(1, sizeof(*st));
        st->srv = s;
        st->next = s->streams;
        if (st->next) st->next->prev = st;
        s->streams = st;
        st->req = req;
        st->chat = chat;
        st->n = n;
        st->finish = finish;
        st->prompt_tokens = prompt_tokens;
        st->include_usage =
            json_is_true(json_object_get(json_object_get(j, "stream_options"), "include_usage"));
        json_t *da = json_object_get(fake, "disconnect_after");
        st->disconnect_after = json_is_integer(da) ? (int)json_integer_value(da) : -1;
        json_t *dm = json_object_get(fake, "delay_ms");
        st->delay_ms = json_is_integer(dm) ? (int)json_integer_value(dm) : s->cfg.delay_ms;
        snprintf(st->id, sizeof(st->id), "%s", id);
        st->out = evbuffer_new();
        st->timer = evtimer_new(s->base, stream_step, st);
        st->evcon = evhttp_request_get_connection(req);
        evhttp_connection_set_closecb(st->evcon, stream_conn_closed, st);
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        evhttp_add_header(h, "Content-Type", "text/event-stream");
        evhttp_add_header(h, "Cache-Control", "no-cache");
        evhttp_send_reply_start(req, 200, NULL);
        json_decref(j);
        stream_step(-1, 0, st);
        return;
    }
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += strlen(content_of(s, i));
    char *text = malloc(total + 1);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(content_of(s, i));
        memcpy(text + off, content_of(s, i), l);
        off += l;
    }
    text[off] = '\0';
    json_t *message = NULL;
    if (chat) {
        message = json_pack("{s:s}", "role", "assistant");
        const char *tool = tool_to_call(j);
        const char *rf =
            json_string_value(json_object_get(json_object_get(j, "response_format"), "type"));
        if (tool) {
            json_object_set_new(message, "content", json_null());
            json_object_set_new(message, "tool_calls",
                                json_pack("[{s:s,s:s,s:{s:s,s:s}}]", "id", "call_fake_0", "type",
                                          "function", "function", "name", tool, "arguments", "{}"));
            finish = "tool_calls";
        } else if (rf && (!strcmp(rf, "json_object") || !strcmp(rf, "json_schema"))) {
            json_t *doc = json_pack("{s:s}", "text", text);
            char *ds = json_dumps(doc, JSON_COMPACT);
            json_object_set_new(message, "content", json_string(ds));
            free(ds);
            json_decref(doc);
        } else {
            json_object_set_new(message, "content", json_string(text));
        }
    }
    json_int_t n_choices = json_integer_value(json_object_get(j, "n"));
    if (n_choices < 1 || n_choices > 128) n_choices = 1;
    json_t *choices = json_array();
    for (json_int_t c = 0; c < n_choices; c++)
        json_array_append_new(choices, chat
                                           ? json_pack("{s:I,s:O,s:n,s:s}", "index", c, "message",
                                                       message, "logprobs", "finish_reason", finish)
                                           : json_pack("{s:I,s:s,s:n,s:s}", "index", c, "text",
                                                       text, "logprobs", "finish_reason", finish));
    json_decref(message);
    free(text);
    json_t *resp = json_pack("{s:s,s:s,s:i,s:s,s:o,s:o}", "id", id, "object",
                             chat ? "chat.completion" : "text_completion", "created", 1700000000,
                             "model", s->cfg.model, "choices", choices, "usage",
                             usage_json(prompt_tokens, n * (long)n_choices));
    if (json_is_true(json_object_get(fake, "echo"))) json_object_set(resp, "fake_request", j);
    json_decref(j);
    reply_json(req, 200, resp);
}

static void request_cb(struct evhttp_request *req, void *arg)
{
    fake_server *s = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (!path) path = "/";
    if (strcmp(path, "/v1/models") == 0 && m == EVHTTP_REQ_GET)
        handle_models(s, req);
    else if (strcmp(path, "/v1/chat/completions") == 0 && m == EVHTTP_REQ_POST)
        handle_completion(s, req, true);
    else if (strcmp(path, "/v1/completions") == 0 && m == EVHTTP_REQ_POST)
        handle_completion(s, req, false);
    else if (strcmp(path, "/v1/embeddings") == 0 && m == EVHTTP_REQ_POST)
        handle_embeddings(s, req);
    else if (strcmp(path, "/v1/audio/transcriptions") == 0 && m == EVHTTP_REQ_POST)
        handle_audio(s, req, false);
    else if (strcmp(path, "/v1/audio/translations") == 0 && m == EVHTTP_REQ_POST)
        handle_audio(s, req, true);
    else if (strcmp(path, "/healthz") == 0)
        reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
    else
        reply_error(req, 404, "invalid_request_error", "not_found", "unknown path");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}

static const cc_opt options[] = {
    {"--host", "H", "address to listen on", "127.0.0.1"},
    {"--port", "N", "port to listen on (0 = any free port, printed as `listening N`)", "0"},
    {"--model", "NAME", "the model name served", "fake-model"},
    {"--chunks", "N", "content chunks per answer (0..1000000)", "50"},
    {"--chunk-bytes", "B", "bytes per chunk (1..1048576)", "128"},
    {"--delay-ms", "D", "pause between streamed chunks", "0"},
    {"--version", NULL, "print the version and exit", NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cocoon-fake-backend [OPTIONS]\n"
               "A deterministic OpenAI-compatible server for tests and benchmarks.\n\n");
    cc_args_usage(f, options, CC_ARRAY_LEN(options));
}

int main(int argc, char **argv)
{
    fake_server s = {0};
    s.cfg = (fake_config){"fake-model", 50, 128, 0};
    cc_args a;
    cc_err err = {0};
    int port = 0;
    if (cc_args_parse(options, CC_ARRAY_LEN(options), argc - 1, argv + 1, &a, &err) < 0 ||
        (!a.help && a.n_pos > 0 && cc_err_set(&err, "unexpected argument \"%s\"", a.pos[0])) ||
        cc_args_int(&a, "--port", 0, 65535, &port, &err) < 0 ||
        cc_args_int(&a, "--chunks", 0, 1000000, &s.cfg.chunks, &err) < 0 ||
        cc_args_int(&a, "--chunk-bytes", 1, 1 << 20, &s.cfg.chunk_bytes, &err) < 0 ||
        cc_args_int(&a, "--delay-ms", 0, 3600 * 1000, &s.cfg.delay_ms, &err) < 0) {
        fprintf(stderr, "cocoon-fake-backend: %s (--help lists the options)\n", err.msg);
        return 2;
    }
    if (a.help) {
        usage(stdout);
        return 0;
    }
    if (cc_args_flag(&a, "--version")) {
        printf("cocoon-fake-backend %s\n", COCOON_VERSION);
        return 0;
    }
    const char *host = cc_args_get(&a, "--host") ? cc_args_get(&a, "--host") : "127.0.0.1";
    if (cc_args_get(&a, "--model")) s.cfg.model = cc_args_get(&a, "--model");
    /* The name is written into JSON verbatim: keep it to plain characters. */
    for (const char *c = s.cfg.model; *c; c++) {
        if (!isalnum((unsigned char)*c) && !strchr("._:/@+-", *c)) {
            fprintf(stderr, "cocoon-fake-backend: --model may hold letters, digits and ._:/@+-\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    s.content_n = s.cfg.chunks > 0 ? s.cfg.chunks : 1;
    s.content = calloc((size_t)s.content_n, sizeof(char *));
    for (int i = 0; i < s.content_n; i++)
        s.content[i] = make_content(i, s.cfg.chunk_bytes);
    s.base = event_base_new();
    struct evhttp *http = evhttp_new(s.base);
    evhttp_set_gencb(http, request_cb, &s);
    evhttp_set_timeout(http, 120);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
    if (!bs) {
        fprintf(stderr, "cocoon-fake-backend: cannot listen on %s:%d: %s\n", host, port,
                strerror(errno));
        return 1;
    }
    /* Accepted sockets inherit TCP_NODELAY from the listener on Linux. Without
     * it a reply larger than one write (libevent writes 16 KiB at a time)
     * waits for the client's delayed ACK: +40 ms per request. */
    int one = 1;
    setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* evhttp listens with a backlog of 128: a worker opening 1,000 streams at
     * once overflowed it, and every dropped connect came back only with the
     * SYN retransmit a second later. Real backends ask for more (uvicorn
     * 2048); listen() again only resizes the queue (capped by somaxconn). */
    listen(evhttp_bound_socket_get_fd(bs), 4096);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl);
    int bound = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    printf("listening %d\n", bound);
    fflush(stdout);
    struct event *sigint = evsignal_new(s.base, SIGINT, on_signal, s.base);
    struct event *sigterm = evsignal_new(s.base, SIGTERM, on_signal, s.base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    event_base_dispatch(s.base);
    event_free(sigint);
    event_free(sigterm);
    /* Streams still running at a signal: end each request (which frees one
     * whose caller already left; evhttp_free frees the others with their
     * connections), then free our part. */
    while (s.streams)
        stream_finish(s.streams);
    evhttp_free(http);
    event_base_free(s.base);
    for (int i = 0; i < s.content_n; i++)
        free(s.content[i]);
    free(s.content);
    return 0;
}
