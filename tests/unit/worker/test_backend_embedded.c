/*
 * The embedded backend on a real libevent loop with the real model:
 * streamed and non-streamed chat and completion requests served
 * concurrently, usage equal to our tokenizer's counts, the completion text
 * equal to the reference greedy text, errors as OpenAI error objects, and
 * cancellation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "engine/engine.h"
#include "worker/backend.h"
#include "../shared_data.h"

/* SHA-256 of ../shared/models/stories260K.gguf. */
#define STORIES_SHA256 "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d"

static const char *greedy_text =
    ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw";

typedef struct call_rec {
    int status;
    char content_type[64];
    cc_buf body;
    bool done;
    int head_calls, done_calls;
    backend_usage usage;
    int error_code;
    bool body_after_done;
} call_rec;

static struct event_base *loop;
static int open_calls;

static void on_head(void *ud, int status, const backend_header *h, size_t n)
{
    call_rec *r = ud;
    r->status = status;
    r->head_calls++;
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(h[i].name, "Content-Type"))
            snprintf(r->content_type, sizeof(r->content_type), "%s", h[i].value);
}

static void on_body(void *ud, const uint8_t *d, size_t n)
{
    call_rec *r = ud;
    if (r->done) r->body_after_done = true;
    cc_buf_append(&r->body, d, n);
}

static void on_done(void *ud, const backend_usage *u, int code, const char *error)
{
    call_rec *r = ud;
    (void)error;
    r->done = true;
    r->done_calls++;
    r->usage = *u;
    r->error_code = code;
    if (--open_calls == 0) event_base_loopbreak(loop);
}

static const backend_callbacks cbs = {on_head, on_body, on_done};

static char *model_path(void)
{
    static char path[1024];
    return shared_data_path(path, sizeof(path), "models/stories260K.gguf");
}

/* A new event loop (the global `loop`) and an embedded backend on it for the test model:
 * served name (NULL: the file's), slots and context, the other settings at their defaults. */
static worker_backend *open_backend(const char *served, int slots, int n_ctx)
{
    loop = event_base_new();
    cc_err err = {0};
    backend_embedded_config cfg = {
        model_path(),      served, 1, slots, n_ctx, NULL, ENGINE_KV_F16, ENGINE_OVERFLOW_ERROR,
        ENGINE_KEEP_SYSTEM};
    worker_backend *b = backend_embedded_new(loop, &cfg, &err);
    if (!b) fail_msg("%s", err.msg);
    return b;
}

static backend_call *start(worker_backend *b, const char *path, const char *body, call_rec *r)
{
    memset(r, 0, sizeof(*r));
    backend_http_request req = {"POST", path, NULL, 0, (const uint8_t *)body, strlen(body), 0, 0};
    backend_call *c = NULL;
    cc_err err = {0};
    assert_int_equal(b->ops->start(b, &req, &cbs, r, &c, &err), 0);
    assert_non_null(c);
    open_calls++;
    /* Nothing may be delivered inside start(). */
    assert_int_equal(r->head_calls, 0);
    return c;
}

static void run_loop(void)
{
    struct timeval tv = {30, 0};
    event_base_loopexit(loop, &tv); /* a hang fails instead of blocking the suite */
    event_base_dispatch(loop);
    assert_int_equal(open_calls, 0);
}

static json_t *body_json(call_rec *r)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)r->body.data, r->body.len, 0, &je);
    if (!j) fail_msg("bad JSON body: %s: %.*s", je.text, (int)r->body.len, (char *)r->body.data);
    return j;
}

/* Concatenated text of an SSE stream (completion "text" or chat delta
 * "content"); checks the framing and returns the usage chunk if present. */
static char *sse_text(call_rec *r, bool chat, json_t **usage, const char **finish)
{
    cc_buf text = CC_BUF_INIT;
    char *all = cc_strndup((const char *)r->body.data, r->body.len);
    bool saw_done = false, first = true;
    static char fin[16];
    fin[0] = 0;
    *usage = NULL;
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        assert_true(cc_str_has_prefix(line, "data: "));
        const char *p = line + 6;
        assert_false(saw_done);
        if (!strcmp(p, "[DONE]")) {
            saw_done = true;
            continue;
        }
        json_t *j = json_loads(p, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "object")),
                            chat ? "chat.completion.chunk" : "text_completion");
        json_t *ch = json_object_get(j, "choices");
        if (json_array_size(ch) == 0) {
            *usage = json_incref(json_object_get(j, "usage"));
        } else {
            json_t *c0 = json_array_get(ch, 0);
            json_t *t = chat ? json_object_get(json_object_get(c0, "delta"), "content")
                             : json_object_get(c0, "text");
            if (chat && first)
                assert_string_equal(
                    json_string_value(json_object_get(json_object_get(c0, "delta"), "role")),
                    "assistant");
            first = false;
            if (json_is_string(t)) cc_buf_append_str(&text, json_string_value(t));
            json_t *f = json_object_get(c0, "finish_reason");
            if (json_is_string(f)) snprintf(fin, sizeof(fin), "%s", json_string_value(f));
        }
        json_decref(j);
    }
    assert_true(saw_done);
    free(all);
    *finish = fin;
    cc_buf_append_u8(&text, 0);
    return (char *)text.data;
}

static size_t count_tokens(const engine_model *m, const char *text, bool special)
{
    engine_tokens t = {0};
    cc_err err = {0};
    assert_int_equal(engine_tokenize(m, text, strlen(text), true, special, &t, &err), 0);
    size_t n = t.n;
    engine_tokens_free(&t);
    return n;
}

static void test_requests(void **state)
{
    (void)state;
    worker_backend *b = open_backend(NULL, 2, 512);
    assert_string_equal(b->ops->kind, "embedded");
    assert_string_equal(b->ops->model(b), "stories260K@sha256:" STORIES_SHA256);
    assert_true(b->ops->healthy(b));

    call_rec r[6];
    start(b, "/v1/completions",
          "{\"model\":\"stories260K\",\"prompt\":\"Once upon a "
          "time\",\"max_tokens\":32,\"temperature\":0}",
          &r[0]);
    start(b, "/v1/completions",
          "{\"model\":\"stories260K\",\"prompt\":\"Once upon a "
          "time\",\"max_tokens\":32,\"temperature\":0,"
          "\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
          &r[1]);
    start(b, "/v1/chat/completions",
          "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a "
          "time\"}],"
          "\"max_tokens\":12,\"temperature\":0}",
          &r[2]);
    start(b, "/v1/chat/completions",
          "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a "
          "time\"}],"
          "\"max_tokens\":12,\"temperature\":0,\"stream\":true}",
          &r[3]);
    start(b, "/v1/audio/speech", "{}", &r[4]);
    start(b, "/v1/completions", "{\"model\":\"stories260K\",\"prompt\":12}", &r[5]);
    run_loop();

    for (int i = 0; i < 6; i++) {
        assert_int_equal(r[i].head_calls, 1);
        assert_int_equal(r[i].done_calls, 1);
        assert_false(r[i].body_after_done);
        assert_int_equal(r[i].error_code, 0);
    }
    /* Completion, not streamed: the reference text and exact usage. */
    assert_int_equal(r[0].status, 200);
    assert_string_equal(r[0].content_type, "application/json");
    json_t *j = body_json(&r[0]);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "text_completion");
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "text")), greedy_text);
    assert_string_equal(json_string_value(json_object_get(c0, "finish_reason")), "length");
    assert_string_equal(json_string_value(json_object_get(j, "model")), "stories260K");
    json_t *u = json_object_get(j, "usage");
    assert_int_equal(json_integer_value(json_object_get(u, "prompt_tokens")), 5);
    assert_int_equal(json_integer_value(json_object_get(u, "completion_tokens")), 32);
    assert_int_equal(json_integer_value(json_object_get(u, "total_tokens")), 37);
    json_decref(j);
    assert_int_equal(r[0].usage.prompt_tokens, 5);
    assert_int_equal(r[0].usage.completion_tokens, 32);
    assert_int_equal(r[0].usage.total_tokens, 37);

    /* Completion, streamed. */
    assert_int_equal(r[1].status, 200);
    assert_string_equal(r[1].content_type, "text/event-stream");
    json_t *usage;
    const char *fin;
    char *text = sse_text(&r[1], false, &usage, &fin);
    assert_string_equal(text, greedy_text);
    assert_string_equal(fin, "length");
    assert_non_null(usage);
    assert_int_equal(json_integer_value(json_object_get(usage, "completion_tokens")), 32);
    json_decref(usage);
    free(text);
    assert_int_equal(r[1].usage.completion_tokens, 32);

    /* Chat: the plain role-prefixed prompt of a model without a template. */
    cc_err lerr = {0};
    engine_model *m = engine_model_load(model_path(), &lerr);
    assert_non_null(m);
    size_t chat_prompt = count_tokens(m, "user: Once upon a time\nassistant:", false);
    engine_model_free(m);
    assert_int_equal(r[2].status, 200);
    j = body_json(&r[2]);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "chat.completion");
    c0 = json_array_get(json_object_get(j, "choices"), 0);
    json_t *msg = json_object_get(c0, "message");
    assert_string_equal(json_string_value(json_object_get(msg, "role")), "assistant");
    const char *chat_text = json_string_value(json_object_get(msg, "content"));
    assert_non_null(chat_text);
    u = json_object_get(j, "usage");
    assert_int_equal(json_integer_value(json_object_get(u, "prompt_tokens")), (int64_t)chat_prompt);
    assert_int_equal(r[2].usage.prompt_tokens, (int64_t)chat_prompt);
    int64_t ct = json_integer_value(json_object_get(u, "completion_tokens"));
    assert_true(ct >= 1 && ct <= 12);
    assert_int_equal(r[2].usage.completion_tokens, ct);
    const char *fr = json_string_value(json_object_get(c0, "finish_reason"));
    assert_string_equal(fr, ct == 12 ? "length" : "stop");
    /* Streamed chat gives the same text. */
    assert_int_equal(r[3].status, 200);
    text = sse_text(&r[3], true, &usage, &fin);
    assert_string_equal(text, chat_text);
    assert_string_equal(fin, fr);
    assert_null(usage); /* not asked for */
    assert_int_equal(r[3].usage.completion_tokens, ct);
    free(text);
    json_decref(j);

    /* Errors are OpenAI error objects. */
    assert_int_equal(r[4].status, 404);
    j = body_json(&r[4]);
    assert_non_null(json_object_get(json_object_get(j, "error"), "message"));
    json_decref(j);
    assert_int_equal(r[5].status, 400);
    j = body_json(&r[5]);
    assert_non_null(strstr(
        json_string_value(json_object_get(json_object_get(j, "error"), "message")), "prompt"));
    json_decref(j);

    json_t *stats = json_object();
    b->ops->stats(b, stats);
    assert_int_equal(json_integer_value(json_object_get(stats, "backend_requests")), 6);
    json_decref(stats);

    for (int i = 0; i < 6; i++)
        cc_buf_free(&r[i].body);
    b->ops->destroy(b);
    event_base_free(loop);
}

/* The worker gives the client's verdict (the one validator) and names the
 * field of every refusal, including what only the engine cannot do. */
static void test_refusals_name_their_param(void **state)
{
    (void)state;
    worker_backend *b = open_backend(NULL, 2, 64);
    cc_buf long_prompt = CC_BUF_INIT;
    cc_buf_append_str(&long_prompt, "{\"model\":\"stories260K\",\"prompt\":\"");
    for (int i = 0; i < 100; i++)
        cc_buf_append_str(&long_prompt, "Once upon a time ");
    cc_buf_append_str(&long_prompt, "\"}");
    char *lp = cc_buf_steal_str(&long_prompt);
    static const struct {
        const char *path, *body;
        int status;
        const char *param; /* "" = none (a success) */
    } cases[] = {
        /* the two the client used to accept and the worker refused with param null */
        {"/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"a\",\"max_tokens\":5.0}", 400,
         "max_tokens"},
        {"/v1/completions",
         "{\"model\":\"stories260K\",\"prompt\":\"a\",\"max_tokens\":2147483647}", 400,
         "max_tokens"},
        {"/v1/completions", "{\"prompt\":\"a\"}", 400, "model"},
        {"/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"a\",\"echo\":true}", 400,
         "echo"},
        {"/v1/completions", "{\"model\":\"stories260K\",\"prompt\":[1,2]}", 400, "prompt"},
        {"/v1/completions", "{\"model\":\"stories260K\",\"prompt\":[\"a\",\"b\"]}", 400, "prompt"},
        {"/v1/chat/completions",
         "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"c\","
         "\"content\":\"a\"}]}",
         400, "messages"},
        /* what OpenAI-compatible servers honour and the engine cannot: by name */
        {"/v1/chat/completions",
         "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
         "\"tools\":"
         "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
         400, "tools"},
        {"/v1/chat/completions",
         "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
         "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\","
         "\"schema\":{\"type\":\"string\",\"format\":\"date\"}}}}",
         400, "response_format"},
        /* JSON output is enforced (grammar-constrained sampling) */
        {"/v1/chat/completions",
         "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
         "\"max_tokens\":3,\"response_format\":{\"type\":\"json_object\"}}",
         200, ""},
        {"/v1/chat/completions",
         "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":3}",
         400, "n"}, /* more choices than the backend's 2 slots */
        {"/v1/chat/completions",
         "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":2,"
         "\"max_tokens\":2}",
         200, ""},
        {"/v1/chat/completions",
         "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
         "\"logit_bias\":{\"99999\":5}}",
         400, "logit_bias"},
        /* logit_bias the engine honours (a banned token, a favoured one) */
        {"/v1/chat/completions",
         "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_"
         "tokens\":2,"
         "\"logit_bias\":{\"3\":5,\"4\":-100}}",
         200, ""},
        {"/v1/chat/completions",
         "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
         "\"functions\":[{\"name\":\"f\"}]}",
         400, "functions"},
        {"/v1/chat/completions",
         "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
         "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\"}]}]}",
         400, "messages"},
        {"/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"a\",\"suffix\":\"b\"}", 400,
         "suffix"},
        {"/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"a\",\"best_of\":2}", 400,
         "best_of"},
        {"/v1/embeddings", "{\"model\":\"stories260K\",\"input\":\"a\"}", 400, "model"},
        /* their neutral values change nothing and pass */
        {"/v1/chat/completions",
         "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_"
         "tokens\":2,"
         "\"tools\":[],\"tool_choice\":\"none\",\"n\":1,\"logit_bias\":{},\"response_format\":"
         "{\"type\":\"text\"},\"modalities\":[\"text\"]}",
         200, ""},
        {"/v1/chat/completions",
         "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
         "\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}",
         400, "messages"},
        {"/v1/completions", NULL /* lp: longer than the 64-token context */, 400, "prompt"},
        /* another model than ours: refused as COCOON's worker does (by name) */
        {"/v1/completions", "{\"model\":\"x\",\"prompt\":\"a\",\"max_tokens\":2}", 404, "model"},
        {"/v1/completions", "{\"model\":\"stories260K@sha256:00\",\"prompt\":\"a\"}", 404, "model"},
        /* the full identifier names ours too */
        {"/v1/completions",
         "{\"model\":\"stories260K@sha256:" STORIES_SHA256 "\",\"prompt\":\"a\",\"max_tokens\":2}",
         200, ""},
        /* top_k -1 (vLLM's "off") is accepted by both sides */
        {"/v1/completions",
         "{\"model\":\"stories260K\",\"prompt\":\"a\",\"max_tokens\":2,\"top_k\":-1}", 200, ""},
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    call_rec r[N];
    for (size_t i = 0; i < N; i++)
        start(b, cases[i].path, cases[i].body ? cases[i].body : lp, &r[i]);
    run_loop();
    for (size_t i = 0; i < N; i++) {
        if (r[i].status != cases[i].status)
            fail_msg("case %zu: status %d, want %d", i, r[i].status, cases[i].status);
        assert_int_equal(r[i].error_code, 0);
        json_t *j = body_json(&r[i]);
        json_t *e = json_object_get(j, "error");
        if (cases[i].param[0]) {
            const char *param = json_string_value(json_object_get(e, "param"));
            if (!param || strcmp(param, cases[i].param) != 0)
                fail_msg("case %zu: param %s, want %s", i, param ? param : "null", cases[i].param);
            assert_string_equal(json_string_value(json_object_get(e, "type")),
                                "invalid_request_error");
        } else {
            assert_null(e);
        }
        json_decref(j);
        cc_buf_free(&r[i].body);
    }
    free(lp);
    b->ops->destroy(b);
    event_base_free(loop);
}

static void test_cancel_and_cap(void **state)
{
    (void)state;
    cc_err err = {0};
    worker_backend *b = open_backend("tiny", 1, 512);
    assert_true(cc_str_has_prefix(b->ops->model(b), "tiny@sha256:"));
    call_rec r[3];
    /* One slot: the second request waits in the queue and is cancelled there. */
    backend_call *c0 = start(
        b, "/v1/completions",
        "{\"model\":\"tiny\",\"prompt\":\"Once upon a time\",\"max_tokens\":400,\"stream\":true}",
        &r[0]);
    backend_call *c1 = start(b, "/v1/completions",
                             "{\"model\":\"tiny\",\"prompt\":\"Once\",\"max_tokens\":400}", &r[1]);
    b->ops->cancel(c1);
    b->ops->cancel(c0);
    assert_int_equal(r[0].done_calls, 0); /* never inside cancel() */
    /* The worker's cap on max_tokens wins over the request's. */
    memset(&r[2], 0, sizeof(r[2]));
    backend_http_request req = {
        "POST",
        "/v1/completions",
        NULL,
        0,
        (const uint8_t *)"{\"model\":\"tiny\",\"prompt\":\"Once upon a time\",\"temperature\":0}",
        strlen("{\"model\":\"tiny\",\"prompt\":\"Once upon a time\",\"temperature\":0}"),
        3,
        0};
    backend_call *c2 = NULL;
    assert_int_equal(b->ops->start(b, &req, &cbs, &r[2], &c2, &err), 0);
    open_calls++;
    run_loop();
    assert_int_equal(r[0].error_code, 653);
    assert_int_equal(r[1].error_code, 653);
    assert_int_equal(r[0].done_calls, 1);
    assert_int_equal(r[1].done_calls, 1);
    assert_int_equal(r[2].error_code, 0);
    assert_int_equal(r[2].usage.completion_tokens, 3);
    json_t *j = body_json(&r[2]);
    json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "text")), ", there was");
    json_decref(j);
    for (int i = 0; i < 3; i++)
        cc_buf_free(&r[i].body);
    b->ops->destroy(b);
    event_base_free(loop);
}

/* A request whose timeout expires (queued behind a long one, or running:
 * it is long too, so it cannot finish within 1 ms either way) ends with
 * 652; the other one is unaffected. */
static void test_timeout(void **state)
{
    (void)state;
    cc_err err = {0};
    worker_backend *b = open_backend(NULL, 1, 512);
    call_rec r[2];
    start(b, "/v1/completions",
          "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"temperature\":0}", &r[0]);
    /* greedy: 300 tokens of the 341-token story */
    const char *body = "{\"model\":\"stories260K\",\"prompt\":\"Once upon a "
                       "time\",\"max_tokens\":300,\"temperature\":0}";
    memset(&r[1], 0, sizeof(r[1]));
    backend_http_request req = {
        "POST", "/v1/completions", NULL, 0, (const uint8_t *)body, strlen(body), 0, 0.001};
    backend_call *c = NULL;
    assert_int_equal(b->ops->start(b, &req, &cbs, &r[1], &c, &err), 0);
    open_calls++;
    run_loop();
    assert_int_equal(r[0].error_code, 0);
    assert_int_equal(r[0].usage.completion_tokens, 342); /* the story and its end token */
    assert_int_equal(r[1].error_code, 652);
    assert_int_equal(r[1].done_calls, 1);
    for (int i = 0; i < 2; i++)
        cc_buf_free(&r[i].body);
    b->ops->destroy(b);
    event_base_free(loop);
}

static void test_prefix_reuse(void **state)
{
    (void)state;
    worker_backend *b = open_backend(NULL, 3, 512);
    call_rec r[3];
    /* The first one runs long so the second gets a slot of its own. */
    start(b, "/v1/completions",
          "{\"model\":\"stories260K\",\"prompt\":\"Once upon a "
          "time\",\"max_tokens\":60,\"temperature\":0}",
          &r[0]);
    start(b, "/v1/completions",
          "{\"model\":\"stories260K\",\"prompt\":\"Lily went to the park with her "
          "mom\",\"max_tokens\":2}",
          &r[1]);
    run_loop();
    assert_int_equal(r[0].usage.cached_tokens, 0);
    assert_true(r[1].usage.cached_tokens <= 1); /* at most BOS, if it followed the first */
    int64_t lily_prompt = r[1].usage.prompt_tokens;
    start(b, "/v1/completions",
          "{\"model\":\"stories260K\",\"prompt\":\"Lily went to the park with her mom and "
          "dad\",\"max_tokens\":2}",
          &r[2]);
    run_loop();
    assert_int_equal(r[2].error_code, 0);
    assert_true(r[2].usage.cached_tokens >= lily_prompt);
    assert_true(r[2].usage.cached_tokens < r[2].usage.prompt_tokens);
    for (int i = 0; i < 3; i++)
        cc_buf_free(&r[i].body);
    b->ops->destroy(b);
    event_base_free(loop);
}

/* Text and usage of one completion request run alone on a fresh one-slot backend. */
static char *solo_text(const char *body)
{
    worker_backend *b = open_backend(NULL, 1, 512);
    call_rec r;
    start(b, "/v1/completions", body, &r);
    run_loop();
    assert_int_equal(r.error_code, 0);
    assert_int_equal(r.usage.cached_tokens, 0);
    json_t *j = body_json(&r);
    char *text = cc_strdup(json_string_value(
        json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text")));
    json_decref(j);
    cc_buf_free(&r.body);
    b->ops->destroy(b);
    event_base_free(loop);
    return text;
}

static size_t common_ids(const engine_model *m, const char *a, const char *b)
{
    engine_tokens ta = {0}, tb = {0};
    cc_err err = {0};
    assert_int_equal(engine_tokenize(m, a, strlen(a), true, false, &ta, &err), 0);
    assert_int_equal(engine_tokenize(m, b, strlen(b), true, false, &tb, &err), 0);
    size_t k = 0;
    while (k < ta.n && k < tb.n && ta.ids[k] == tb.ids[k])
        k++;
    engine_tokens_free(&ta);
    engine_tokens_free(&tb);
    return k;
}

/* Requests arriving together whose prompts start alike: the later ones copy the start from
 * the slot that computes it (waiting for it if it is still being read) instead of computing
 * it again, and answer exactly what they answer alone; a request waiting for a prompt that is
 * cancelled still answers. */
static void test_shared_prompt(void **state)
{
    (void)state;
#define STORY                                                                                      \
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "      \
    "park with her friends and her dog."
    static const char *prompts[3] = {STORY " One day", STORY " Tom", STORY};
    char body[3][512], *solo[3];
    for (int i = 0; i < 3; i++) {
        snprintf(body[i], sizeof(body[i]),
                 "{\"model\":\"stories260K\",\"prompt\":\"%s\",\"max_tokens\":%d,"
                 "\"temperature\":0}",
                 prompts[i], i == 0 ? 40 : 12);
        solo[i] = solo_text(body[i]);
    }
    cc_err err = {0};
    engine_model *m = engine_model_load(model_path(), &err);
    assert_non_null(m);
    size_t story = common_ids(m, prompts[0], prompts[1]);
    size_t n2 = count_tokens(m, prompts[2], false);
    engine_model_free(m);
    assert_true(story > 20);

    worker_backend *b = open_backend(NULL, 3, 512);
    call_rec r[3];
    for (int i = 0; i < 3; i++)
        start(b, "/v1/completions", body[i], &r[i]);
    run_loop();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].error_code, 0);
        json_t *j = body_json(&r[i]);
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(j, "choices"), 0), "text")),
                            solo[i]);
        json_decref(j);
    }
    assert_int_equal(r[0].usage.cached_tokens, 0);
    /* the shared start, and all of a prompt but its last token (evaluated for its logits) */
    assert_true(r[1].usage.cached_tokens >= (int64_t)story);
    assert_int_equal(r[2].usage.cached_tokens, (int64_t)CC_MIN(story, n2 - 1));
    for (int i = 0; i < 3; i++)
        cc_buf_free(&r[i].body);

    /* The first is cancelled at once (in the queue, or while the second waits for its
     * prompt): the second computes what it could not copy. */
    char longer[512];
    snprintf(longer, sizeof(longer),
             "{\"model\":\"stories260K\",\"prompt\":\"%s\",\"max_tokens\":400}", prompts[0]);
    backend_call *c0 = start(b, "/v1/completions", longer, &r[0]);
    start(b, "/v1/completions", body[1], &r[1]);
    b->ops->cancel(c0);
    run_loop();
    assert_int_equal(r[0].error_code, 653);
    assert_int_equal(r[1].error_code, 0);
    json_t *j = body_json(&r[1]);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "choices"), 0), "text")),
                        solo[1]);
    json_decref(j);
    for (int i = 0; i < 2; i++)
        cc_buf_free(&r[i].body);
    for (int i = 0; i < 3; i++)
        free(solo[i]);
    b->ops->destroy(b);
    event_base_free(loop);
#undef STORY
}

/* n choices: the prompt evaluated once (counted once), each choice its own stream: equal
 * under greedy sampling, different with a temperature; streamed, every chunk names its
 * choice. */
static void test_choices(void **state)
{
    (void)state;
    worker_backend *b = open_backend(NULL, 4, 512);
    call_rec r[4];
    start(b, "/v1/completions",
          "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":20,"
          "\"temperature\":0}",
          &r[0]);
    run_loop();
    start(b, "/v1/completions",
          "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":20,"
          "\"temperature\":0,\"n\":3}",
          &r[1]);
    start(b, "/v1/chat/completions",
          "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell a "
          "story\"}],\"max_tokens\":20,\"temperature\":1,\"seed\":7,\"n\":4}",
          &r[2]);
    run_loop();
    start(b, "/v1/chat/completions",
          "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell a "
          "story\"}],\"max_tokens\":8,\"temperature\":1,\"n\":3,\"stream\":true}",
          &r[3]);
    run_loop();
    for (int i = 0; i < 4; i++) {
        if (r[i].status != 200) {
            cc_buf_append_u8(&r[i].body, 0);
            fail_msg("%d: %s", i, (char *)r[i].body.data);
        }
        assert_int_equal(r[i].error_code, 0);
    }
    json_t *one = body_json(&r[0]), *greedy = body_json(&r[1]), *warm = body_json(&r[2]);
    const char *text0 = json_string_value(
        json_object_get(json_array_get(json_object_get(one, "choices"), 0), "text"));
    json_t *gc = json_object_get(greedy, "choices");
    assert_int_equal(json_array_size(gc), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *c = json_array_get(gc, i);
        assert_int_equal(json_integer_value(json_object_get(c, "index")), (json_int_t)i);
        assert_string_equal(json_string_value(json_object_get(c, "text")), text0);
    }
    /* usage: the prompt once, every choice's completion */
    assert_int_equal(r[1].usage.prompt_tokens, r[0].usage.prompt_tokens);
    assert_int_equal(r[1].usage.completion_tokens, 3 * r[0].usage.completion_tokens);
    json_t *u = json_object_get(greedy, "usage");
    assert_int_equal(json_integer_value(json_object_get(u, "prompt_tokens")),
                     r[0].usage.prompt_tokens);
    json_t *wc = json_object_get(warm, "choices");
    assert_int_equal(json_array_size(wc), 4);
    size_t distinct = 0;
    for (size_t i = 0; i < 4; i++) {
        const char *ti = json_string_value(
            json_object_get(json_object_get(json_array_get(wc, i), "message"), "content"));
        assert_non_null(ti);
        bool seen = false;
        for (size_t k = 0; k < i; k++)
            seen = seen ||
                   !strcmp(ti, json_string_value(json_object_get(
                                   json_object_get(json_array_get(wc, k), "message"), "content")));
        distinct += !seen;
    }
    assert_true(distinct >= 3); /* 20 sampled tokens each: equal texts would be a shared stream */
    /* streamed: chunks of every index, each choice ending with its finish_reason */
    cc_buf_append_u8(&r[3].body, 0);
    int finishes[3] = {0}, deltas[3] = {0};
    for (char *p = strstr((char *)r[3].body.data, "data: {"); p; p = strstr(p + 1, "data: {")) {
        json_t *ev = json_loads(p + 6, JSON_DISABLE_EOF_CHECK, NULL);
        assert_non_null(ev);
        json_t *c = json_array_get(json_object_get(ev, "choices"), 0);
        if (c) {
            json_int_t idx = json_integer_value(json_object_get(c, "index"));
            assert_true(idx >= 0 && idx < 3);
            deltas[idx]++;
            finishes[idx] += json_is_string(json_object_get(c, "finish_reason"));
        }
        json_decref(ev);
    }
    for (int i = 0; i < 3; i++) {
        assert_true(deltas[i] >= 2);
        assert_int_equal(finishes[i], 1);
    }
    json_decref(one);
    json_decref(greedy);
    json_decref(warm);
    for (int i = 0; i < 4; i++)
        cc_buf_free(&r[i].body);
    b->ops->destroy(b);
    event_base_free(loop);
}

/* logprobs in both OpenAI shapes. */
static void test_logprobs_json(void **state)
{
    (void)state;
    worker_backend *b = open_backend(NULL, 2, 512);
    call_rec r[2];
    start(b, "/v1/chat/completions",
          "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a "
          "time\"}],"
          "\"max_tokens\":3,\"temperature\":0,\"logprobs\":true,\"top_logprobs\":2}",
          &r[0]);
    start(b, "/v1/completions",
          "{\"model\":\"stories260K\",\"prompt\":\"Once upon a "
          "time\",\"max_tokens\":3,\"temperature\":0,\"logprobs\":2}",
          &r[1]);
    run_loop();
    json_t *j = body_json(&r[0]);
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    json_t *content = json_object_get(json_object_get(c0, "logprobs"), "content");
    assert_int_equal(json_array_size(content), 3);
    cc_buf joined = CC_BUF_INIT;
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(content, i);
        assert_true(json_is_string(json_object_get(e, "token")));
        assert_true(json_real_value(json_object_get(e, "logprob")) <= 0);
        json_t *tops = json_object_get(e, "top_logprobs");
        assert_int_equal(json_array_size(tops), 2);
        /* greedy: the chosen token is the most likely one */
        assert_string_equal(json_string_value(json_object_get(json_array_get(tops, 0), "token")),
                            json_string_value(json_object_get(e, "token")));
        json_t *bytes = json_object_get(e, "bytes");
        for (size_t k = 0; k < json_array_size(bytes); k++)
            cc_buf_append_u8(&joined, (uint8_t)json_integer_value(json_array_get(bytes, k)));
    }
    /* the tokens' bytes are the answer's text */
    const char *text =
        json_string_value(json_object_get(json_object_get(c0, "message"), "content"));
    assert_int_equal(joined.len, strlen(text));
    assert_memory_equal(joined.data, text, joined.len);
    cc_buf_free(&joined);
    json_decref(j);

    j = body_json(&r[1]);
    c0 = json_array_get(json_object_get(j, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "text")), ", there was");
    json_t *lp = json_object_get(c0, "logprobs");
    json_t *tokens = json_object_get(lp, "tokens"), *values = json_object_get(lp, "token_logprobs"),
           *tops = json_object_get(lp, "top_logprobs"), *offs = json_object_get(lp, "text_offset");
    assert_int_equal(json_array_size(tokens), 3);
    assert_int_equal(json_array_size(values), 3);
    assert_int_equal(json_array_size(tops), 3);
    assert_int_equal(json_array_size(offs), 3);
    assert_string_equal(json_string_value(json_array_get(tokens, 0)), ",");
    assert_string_equal(json_string_value(json_array_get(tokens, 1)), " there");
    assert_int_equal(json_integer_value(json_array_get(offs, 1)), 1);
    assert_int_equal(json_integer_value(json_array_get(offs, 2)), 7);
    assert_int_equal(json_object_size(json_array_get(tops, 0)), 2);
    assert_true(json_real_value(json_object_get(json_array_get(tops, 0), ",")) ==
                json_real_value(json_array_get(values, 0)));
    json_decref(j);
    for (int i = 0; i < 2; i++)
        cc_buf_free(&r[i].body);
    b->ops->destroy(b);
    event_base_free(loop);
}

/* A request outgrowing the context (64 tokens here): with context_overflow error a prompt
 * plus max_tokens beyond it is a 400 naming the context's size, one that fits runs; with
 * shift a generation of 150 tokens goes past the context and ends at max_tokens, with
 * either cache type. */
static void test_context_overflow(void **state)
{
    (void)state;
    /* Greedy: with the default temperature and a random seed the model may draw its end
     * token before 150 tokens (about one run in 40), and the answer then ends with "stop". */
    static const char *body = "{\"model\":\"stories260K\",\"prompt\":\"Once upon a "
                              "time\",\"max_tokens\":%d,\"temperature\":0}";
    char big[160], small[160];
    snprintf(big, sizeof(big), body, 150);
    snprintf(small, sizeof(small), body, 20);
    const struct {
        engine_kv_type kv;
        engine_overflow ov;
    } runs[] = {{ENGINE_KV_F16, ENGINE_OVERFLOW_ERROR},
                {ENGINE_KV_F16, ENGINE_OVERFLOW_SHIFT},
                {ENGINE_KV_Q8_0, ENGINE_OVERFLOW_SHIFT}};
    for (size_t k = 0; k < CC_ARRAY_LEN(runs); k++) {
        loop = event_base_new();
        cc_err err = {0};
        backend_embedded_config cfg = {
            model_path(), NULL, 1, 2, 64, NULL, runs[k].kv, runs[k].ov, ENGINE_KEEP_SYSTEM};
        worker_backend *b = backend_embedded_new(loop, &cfg, &err);
        if (!b) fail_msg("%s", err.msg);
        call_rec r[2];
        start(b, "/v1/completions", big, &r[0]);
        start(b, "/v1/completions", small, &r[1]);
        run_loop();
        json_t *j = body_json(&r[0]);
        if (runs[k].ov == ENGINE_OVERFLOW_ERROR) {
            assert_int_equal(r[0].status, 400);
            const char *msg =
                json_string_value(json_object_get(json_object_get(j, "error"), "message"));
            assert_non_null(msg);
            if (!strstr(msg, "context holds 64 tokens") || !strstr(msg, "max_tokens"))
                fail_msg("message: %s", msg);
        } else {
            if (r[0].status != 200)
                fail_msg("run %zu: status %d: %.*s", k, r[0].status, (int)r[0].body.len,
                         (char *)r[0].body.data);
            json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
            assert_string_equal(json_string_value(json_object_get(c0, "finish_reason")), "length");
            assert_int_equal(json_integer_value(
                                 json_object_get(json_object_get(j, "usage"), "completion_tokens")),
                             150);
            assert_int_equal(r[0].usage.completion_tokens, 150);
        }
        json_decref(j);
        assert_int_equal(r[1].status, 200); /* 5 + 20 tokens fit either way */
        for (int i = 0; i < 2; i++)
            cc_buf_free(&r[i].body);
        b->ops->destroy(b);
        event_base_free(loop);
    }
}

/* A chat request's status, answer finish and usage, run alone on b. */
static void run_one(worker_backend *b, const char *path, const char *body, call_rec *r)
{
    start(b, path, body, r);
    run_loop();
    if (r->status != 200) fail_msg("status %d: %.*s", r->status, (int)r->body.len, r->body.data);
}

/* With the context shifted, what a later request finds in the slot's cache: a chat's system
 * part (the next turn with the same system prompt, here as a developer message, starts from
 * it; BOS only with context_keep bos) and a completion's BOS. One slot, so every request
 * follows the previous one there. */
static void test_context_keep(void **state)
{
    (void)state;
    static const char *system = "Tell stories about Tom the cat.";
    /* The system part's tokens, as the engine computes them for the worker's rendering. */
    cc_err err = {0};
    engine_model *m = engine_model_load(model_path(), &err);
    if (!m) fail_msg("%s", err.msg);
    engine_chat_msg msgs[] = {{"system", system}, {"user", "Go on."}};
    bool templated = false;
    char *prompt = engine_model_chat_render(m, msgs, 2, &templated);
    char *part = engine_model_chat_system_part(m, msgs, 2, templated, prompt);
    assert_non_null(part);
    engine_tokens ids = {0};
    bool special = templated || engine_model_chat_kind(m) != ENGINE_CHAT_PLAIN;
    assert_int_equal(engine_tokenize(m, prompt, strlen(prompt), true, special, &ids, &err), 0);
    int64_t n_system = (int64_t)engine_system_part_tokens(m, &ids, part, special);
    assert_true(n_system > 8);
    engine_tokens_free(&ids);
    free(prompt);
    free(part);
    engine_model_free(m);

    char first[512], next[512];
    snprintf(first, sizeof(first),
             "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"system\",\"content\":\"%s\"},"
             "{\"role\":\"user\",\"content\":\"Go on.\"}],\"max_tokens\":150,\"temperature\":0}",
             system);
    snprintf(next, sizeof(next),
             "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"developer\",\"content\":"
             "\"%s\"},{\"role\":\"user\",\"content\":\"Why?\"}],\"max_tokens\":2}",
             system);
    static const char *completion = "{\"model\":\"stories260K\",\"prompt\":\"Once upon a "
                                    "time\",\"max_tokens\":150,\"temperature\":0}";
    const engine_keep keeps[] = {ENGINE_KEEP_SYSTEM, ENGINE_KEEP_BOS};
    for (size_t k = 0; k < CC_ARRAY_LEN(keeps); k++) {
        loop = event_base_new();
        backend_embedded_config cfg = {
            model_path(), NULL, 1, 1, 64, NULL, ENGINE_KV_F16, ENGINE_OVERFLOW_SHIFT, keeps[k]};
        worker_backend *b = backend_embedded_new(loop, &cfg, &err);
        if (!b) fail_msg("%s", err.msg);
        call_rec r[4];
        run_one(b, "/v1/chat/completions", first, &r[0]);
        assert_int_equal(r[0].usage.completion_tokens, 150); /* past the 64-token context */
        assert_true(r[0].usage.prompt_tokens > n_system);
        run_one(b, "/v1/chat/completions", next, &r[1]);
        if (r[1].usage.cached_tokens != (keeps[k] == ENGINE_KEEP_SYSTEM ? n_system : 1))
            fail_msg("keep %s: %lld cached, the system part has %lld tokens",
                     engine_keep_name(keeps[k]), (long long)r[1].usage.cached_tokens,
                     (long long)n_system);
        /* A completion has no system part: BOS only, whatever the choice. */
        run_one(b, "/v1/completions", completion, &r[2]);
        assert_int_equal(r[2].usage.completion_tokens, 150);
        run_one(b, "/v1/completions", completion, &r[3]);
        assert_int_equal(r[3].usage.cached_tokens, 1);
        for (int i = 0; i < 4; i++)
            cc_buf_free(&r[i].body);
        b->ops->destroy(b);
        event_base_free(loop);
    }
}

static void test_bad_model(void **state)
{
    (void)state;
    cc_err err = {0};
    struct event_base *base = event_base_new();
    backend_embedded_config cfg = {
        "/nonexistent.gguf", NULL, 1, 1, 0, NULL, ENGINE_KV_F16, ENGINE_OVERFLOW_ERROR,
        ENGINE_KEEP_SYSTEM};
    assert_null(backend_embedded_new(base, &cfg, &err));
    assert_true(err.msg[0] != 0);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests),       cmocka_unit_test(test_refusals_name_their_param),
        cmocka_unit_test(test_cancel_and_cap), cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_prefix_reuse),   cmocka_unit_test(test_shared_prompt),
        cmocka_unit_test(test_choices),        cmocka_unit_test(test_logprobs_json),
        cmocka_unit_test(test_bad_model),      cmocka_unit_test(test_context_overflow),
        cmocka_unit_test(test_context_keep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
