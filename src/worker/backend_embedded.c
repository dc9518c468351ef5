/*
 * The embedded backend: the worker's OpenAI requests served by our own
 * engine (src/engine). The engine's scheduler thread computes; its
 * callbacks are queued under a mutex and a byte written to a pipe wakes the
 * libevent loop, which delivers them (so every backend callback runs on the
 * loop thread and none runs inside start() or cancel()). A pipe rather than
 * event_active() because the worker's event base need not be thread-aware.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "net/net.h"
#include "worker/backend.h"
#include "worker/backend_embedded_int.h"

typedef enum { MSG_HEAD, MSG_BODY, MSG_DONE } msg_kind;

typedef struct emb_msg {
    backend_call *call;
    msg_kind kind;
    int status;
    char *data;
    size_t len;
    backend_usage usage;
    int code;
    struct emb_msg *next;
} emb_msg;

typedef struct emb_backend {
    worker_backend base;
    struct event_base *evb;
    engine_server *srv;
    char *model_id, *model_name;
    bool system_part; /* requests carry their system part (only a shift keeping it reads it) */
    int pipe_rd, pipe_wr;
    struct event *wake;
    pthread_mutex_t mu;
    emb_msg *q_head, *q_tail; /* under mu */
    int64_t n_requests, n_refused;
} emb_backend;

struct backend_call {
    emb_backend *b;
    engine_job *job; /* under b->mu; NULL once the engine is done with it */
    backend_callbacks cb;
    void *ud;
    bool stream, cancelled, timed_out;
    struct event *timer; /* the request's timeout, if any */
    /* Used on the scheduler thread only, from submit to on_done. */
    openai_output *out;
    openai_kind kind;
    bool logprobs;
    int top_logprobs;
    /* Tools offered: the text is held until the end, then parsed into tool calls (a call's
     * start cannot be told from text while it streams). */
    emb_tool_format tools;
    cc_buf held;
};

/* ------------------------------------------------ scheduler thread side */

static void push(emb_backend *b, emb_msg *m)
{
    pthread_mutex_lock(&b->mu);
    bool was_empty = !b->q_head;
    if (b->q_tail)
        b->q_tail->next = m;
    else
        b->q_head = m;
    b->q_tail = m;
    pthread_mutex_unlock(&b->mu);
    if (was_empty) {
        char c = 1;
        while (write(b->pipe_wr, &c, 1) < 0 && errno == EINTR)
            ;
        /* EAGAIN: the pipe already holds a wake-up byte; enough. */
    }
}

static emb_msg *msg_new(backend_call *c, msg_kind k)
{
    emb_msg *m = cc_calloc(1, sizeof(*m));
    m->call = c;
    m->kind = k;
    return m;
}

static void push_head(backend_call *c, int status)
{
    emb_msg *m = msg_new(c, MSG_HEAD);
    m->status = status;
    push(c->b, m);
}

/* Takes the bytes of out (left empty). */
static void push_body(backend_call *c, cc_buf *out)
{
    if (!out->len) return;
    emb_msg *m = msg_new(c, MSG_BODY);
    m->len = out->len;
    m->data = cc_buf_steal_str(out);
    push(c->b, m);
}

/* code: 0 or a NET_ERR_* protocol code (the backend's on_done). */
static void push_done(backend_call *c, const engine_usage *u, int code, const char *error)
{
    emb_msg *m = msg_new(c, MSG_DONE);
    m->usage.prompt_tokens = u->prompt_tokens;
    m->usage.completion_tokens = u->completion_tokens;
    m->usage.total_tokens = u->prompt_tokens + u->completion_tokens;
    m->usage.cached_tokens = u->cached_tokens;
    m->code = code;
    m->data = error ? cc_strdup(error) : NULL;
    pthread_mutex_lock(&c->b->mu);
    c->job = NULL; /* the engine frees the job when this returns */
    pthread_mutex_unlock(&c->b->mu);
    push(c->b, m);
}

/* An error answer: the head, an OpenAI error body. */
static void push_error(backend_call *c, const openai_error *e)
{
    push_head(c, e->status);
    emb_msg *m = msg_new(c, MSG_BODY);
    m->data = openai_error_json(e);
    m->len = strlen(m->data);
    push(c->b, m);
}

static void job_start(void *ud)
{
    push_head(ud, 200);
}

static void job_step(void *ud, const char *text, size_t len, const engine_step *st)
{
    backend_call *c = ud;
    openai_logprob lp;
    bool has_lp = c->logprobs && st->has_token;
    if (has_lp) emb_logprob(engine_server_model(c->b->srv), st, c->top_logprobs, &lp);
    cc_buf out = CC_BUF_INIT;
    if (c->tools) {
        cc_buf_append(&c->held, text, len);
        if (has_lp) openai_output_step(c->out, NULL, 0, &lp, &out);
    } else {
        openai_output_step_choice(c->out, (size_t)st->choice, text, len, has_lp ? &lp : NULL, &out);
    }
    push_body(c, &out);
}

/* The end of an answer to a request with tools: the held text is either tool calls (and the
 * text before them) or an ordinary answer. */
static void finish_tools(backend_call *c, openai_finish fin, const openai_usage *ou, cc_buf *out)
{
    char *content = NULL;
    json_t *calls = emb_tool_calls_parse(c->tools, c->held.data ? (const char *)c->held.data : "",
                                         c->held.len, &content);
    if (calls) {
        openai_output_finish_tools(c->out, content, strlen(content), calls, ou, out);
    } else {
        openai_output_step(c->out, (const char *)c->held.data, c->held.len, NULL, out);
        openai_output_finish(c->out, fin, ou, out);
    }
    json_decref(calls);
    free(content);
}

static void job_done(void *ud, const engine_job_result *res)
{
    backend_call *c = ud;
    const engine_usage *u = &res->usage;
    int code = 0;
    if (res->status == ENGINE_JOB_OK) {
        openai_usage ou = {.prompt_tokens = u->prompt_tokens,
                           .cached_tokens = u->cached_tokens,
                           .completion_tokens = u->completion_tokens,
                           .total_tokens = u->prompt_tokens + u->completion_tokens};
        cc_buf out = CC_BUF_INIT;
        openai_finish fin =
            res->finish == ENGINE_FINISH_LENGTH ? OPENAI_FINISH_LENGTH : OPENAI_FINISH_STOP;
        if (c->tools) {
            finish_tools(c, fin, &ou, &out);
        } else if (res->n_choices > 1) {
            openai_finish fins[64];
            size_t n = (size_t)CC_MIN(res->n_choices, 64);
            for (size_t i = 0; i < n; i++)
                fins[i] = res->finish_of[i] == ENGINE_FINISH_LENGTH ? OPENAI_FINISH_LENGTH
                                                                    : OPENAI_FINISH_STOP;
            openai_output_finish_choices(c->out, fins, n, &ou, &out);
        } else {
            openai_output_finish(c->out, fin, &ou, &out);
        }
        push_body(c, &out);
    } else if (res->status == ENGINE_JOB_REFUSED) { /* the prompt cannot run: the request's fault */
        openai_error e;
        openai_error_param(&e, c->kind == OPENAI_CHAT ? "messages" : "prompt", "%s", res->error);
        push_error(c, &e);
    } else {
        /* The engine's own end statuses become COCOON's protocol codes here. */
        code = res->status == ENGINE_JOB_CANCELLED ? NET_ERR_CANCELLED : NET_ERR_FAILURE;
    }
    /* Before push_done: once MSG_DONE is queued the loop may free c. */
    openai_output_free(c->out);
    c->out = NULL;
    cc_buf_free(&c->held);
    push_done(c, u, code, code ? res->error : NULL);
}

/* ------------------------------------------------------ loop thread side */

static void deliver(emb_msg *m)
{
    backend_call *c = m->call;
    switch (m->kind) {
    case MSG_HEAD:
        if (!c->cancelled && c->cb.on_head) {
            backend_header h[2] = {{"Content-Type", c->stream && m->status == 200
                                                        ? "text/event-stream"
                                                        : "application/json"},
                                   {"Cache-Control", "no-cache"}};
            c->cb.on_head(c->ud, m->status, h, 2);
        }
        break;
    case MSG_BODY:
        if (!c->cancelled && c->cb.on_body) c->cb.on_body(c->ud, (const uint8_t *)m->data, m->len);
        break;
    case MSG_DONE:
        if (c->timer) event_free(c->timer);
        if (c->cb.on_done) {
            if (c->timed_out)
                c->cb.on_done(c->ud, &m->usage, NET_ERR_TIMEOUT, "timeout");
            else if (c->cancelled)
                c->cb.on_done(c->ud, &m->usage, NET_ERR_CANCELLED, "cancelled");
            else
                c->cb.on_done(c->ud, &m->usage, m->code, m->code ? m->data : NULL);
        }
        free(c);
        break;
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    emb_backend *b = arg;
    char buf[64];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&b->mu);
    emb_msg *m = b->q_head;
    b->q_head = b->q_tail = NULL;
    pthread_mutex_unlock(&b->mu);
    while (m) {
        emb_msg *next = m->next;
        deliver(m);
        free(m->data);
        free(m);
        m = next;
    }
}

/* A complete local answer (errors found in start()), delivered via the queue. */
static void local_answer(emb_backend *b, backend_call *c, const openai_error *e)
{
    push_error(c, e);
    engine_usage u = {0, 0, 0};
    push_done(c, &u, 0, NULL);
    b->n_refused++;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    backend_call *c = arg;
    if (c->cancelled) return;
    /* Stops the work like cancel(); on_done then reports the timeout. */
    c->timed_out = c->cancelled = true;
    pthread_mutex_lock(&c->b->mu);
    if (c->job) engine_job_cancel(c->job);
    pthread_mutex_unlock(&c->b->mu);
}

static int emb_start(worker_backend *wb, const backend_http_request *req,
                     const backend_callbacks *cb, void *ud, backend_call **out, cc_err *err)
{
    emb_backend *b = (emb_backend *)wb;
    backend_call *c = cc_calloc(1, sizeof(*c));
    c->b = b;
    c->cb = *cb;
    c->ud = ud;
    *out = c;
    b->n_requests++;
    openai_error e;
    openai_kind kind = openai_route(req->method, req->path, &e);
    if (!kind) {
        local_answer(b, c, &e);
        return 0;
    }
    if (openai_kind_is_audio(kind)) { /* the engine has no speech model */
        openai_error_param(&e, "model", "%s is not served by '%.100s': it is not a speech model",
                           req->path, b->model_name);
        e.code = "unsupported_endpoint";
        local_answer(b, c, &e);
        return 0;
    }
    /* The same validator as the client's: a request it let through is not
     * refused here for its form, only for what the engine cannot do. */
    openai_request oreq;
    if (openai_parse(kind, req->body, req->body_len, &oreq, &e) < 0) {
        local_answer(b, c, &e);
        return 0;
    }
    /* COCOON's worker serves only the model it announced: the body must
     * name its base (WorkerRunningRequest.cpp:75, "model name mismatch").
     * The full identifier is accepted too: our client lets callers use it. */
    if (strcmp(oreq.model, b->model_name) != 0 && strcmp(oreq.model, b->model_id) != 0) {
        openai_error_param(&e, "model", "this worker serves '%.100s', not '%.100s'", b->model_name,
                           oreq.model);
        e.status = 404;
        e.code = "model_not_found";
        e.type = openai_error_type_for_status(404);
        openai_request_clear(&oreq);
        local_answer(b, c, &e);
        return 0;
    }
    emb_tool_format tools;
    engine_request *r =
        emb_request_new(engine_server_model(b->srv), &oreq, b->system_part, &e, &tools);
    if (r && r->n_choices > engine_server_slots(b->srv)) {
        /* every choice runs on a slot of its own, at the same time */
        openai_error_param(&e, "n", "'n' is at most %d on this worker (its slots)",
                           engine_server_slots(b->srv));
        e.code = "unsupported_parameter";
        engine_request_free(r);
        r = NULL;
    }
    if (!r) {
        openai_request_clear(&oreq);
        local_answer(b, c, &e);
        return 0;
    }
    if (req->max_tokens > 0 && (r->max_tokens == 0 || r->max_tokens > req->max_tokens))
        r->max_tokens = req->max_tokens;
    c->kind = kind;
    c->tools = tools;
    c->logprobs = oreq.logprobs;
    c->top_logprobs = oreq.top_logprobs;
    c->out = openai_output_new(&oreq, b->model_name);
    c->stream = oreq.stream;
    openai_request_clear(&oreq);
    if (req->timeout > 0) {
        c->timer = evtimer_new(b->evb, on_timeout, c);
        struct timeval tv = cc_timeval(req->timeout);
        evtimer_add(c->timer, &tv);
    }
    static const engine_job_callbacks jcb = {job_start, job_step, job_done};
    pthread_mutex_lock(&b->mu);
    c->job = engine_server_submit(b->srv, r, &jcb, c);
    pthread_mutex_unlock(&b->mu);
    (void)err;
    return 0;
}

static void emb_cancel(backend_call *c)
{
    if (!c || c->cancelled) return;
    c->cancelled = true;
    pthread_mutex_lock(&c->b->mu);
    if (c->job) engine_job_cancel(c->job);
    pthread_mutex_unlock(&c->b->mu);
}

static const char *emb_model(worker_backend *wb)
{
    return ((emb_backend *)wb)->model_id;
}

static bool emb_healthy(worker_backend *wb)
{
    (void)wb;
    return true;
}

static void emb_stats(worker_backend *wb, json_t *obj)
{
    emb_backend *b = (emb_backend *)wb;
    engine_server_stats st;
    engine_server_get_stats(b->srv, &st);
    json_object_set_new(obj, "backend_requests", json_integer(b->n_requests));
    json_object_set_new(obj, "backend_refused", json_integer(b->n_refused));
    json_object_set_new(obj, "engine_active", json_integer(st.active));
    json_object_set_new(obj, "engine_queued", json_integer(st.queued));
    json_object_set_new(obj, "engine_prompt_tokens", json_integer(st.prompt_tokens));
    json_object_set_new(obj, "engine_completion_tokens", json_integer(st.completion_tokens));
    json_object_set_new(obj, "engine_busy_seconds", json_real(st.busy_seconds));
}

static void emb_destroy(worker_backend *wb)
{
    emb_backend *b = (emb_backend *)wb;
    if (!b) return;
    engine_server_free(b->srv); /* pending jobs end cancelled into the queue */
    /* Calls still open get their on_done now, as the contract promises. */
    on_wake(b->pipe_rd, 0, b);
    event_free(b->wake);
    close(b->pipe_rd);
    close(b->pipe_wr);
    pthread_mutex_destroy(&b->mu);
    free(b->model_id);
    free(b->model_name);
    free(b);
}

static const backend_ops emb_ops = {"embedded",  emb_start, emb_cancel,  emb_model,
                                    emb_healthy, emb_stats, emb_destroy, NULL};

worker_backend *backend_embedded_new(struct event_base *base, const backend_embedded_config *cfg,
                                     cc_err *err)
{
    if (!cfg || !cfg->model_path || !cfg->model_path[0]) {
        cc_err_set(err, "embedded backend: no model file given");
        return NULL;
    }
    char *id = engine_model_identifier(cfg->model_path, cfg->model_name, err);
    if (!id) return NULL;
    engine_model *m = engine_model_load(cfg->model_path, err);
    if (!m) {
        free(id);
        return NULL;
    }
    if (cfg->chat_template_path) {
        cc_buf t = CC_BUF_INIT;
        if (cc_read_file(cfg->chat_template_path, &t, err) < 0) {
            cc_err_prefix(err, "chat_template");
            engine_model_free(m);
            free(id);
            return NULL;
        }
        cc_buf_append_u8(&t, 0);
        engine_model_set_chat_template(m, (const char *)t.data);
        cc_buf_free(&t);
    }
    emb_backend *b = cc_calloc(1, sizeof(*b));
    b->base.ops = &emb_ops;
    b->evb = base;
    b->model_id = id;
    /* The "model" field of answers: the announced name without the hash. */
    b->model_name = cc_strndup(id, (size_t)(strstr(id, "@sha256:") - id));
    b->system_part =
        cfg->context_overflow == ENGINE_OVERFLOW_SHIFT && cfg->context_keep == ENGINE_KEEP_SYSTEM;
    engine_server_config sc = {cfg->threads,          cfg->slots,       cfg->context, cfg->kv_type,
                               cfg->context_overflow, cfg->context_keep};
    b->srv = engine_server_new(m, &sc, err);
    if (!b->srv) {
        free(b->model_id);
        free(b->model_name);
        free(b);
        return NULL;
    }
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        cc_err_set(err, "pipe: %s", strerror(errno));
        engine_server_free(b->srv);
        free(b->model_id);
        free(b->model_name);
        free(b);
        return NULL;
    }
    b->pipe_rd = fds[0];
    b->pipe_wr = fds[1];
    pthread_mutex_init(&b->mu, NULL);
    b->wake = event_new(base, b->pipe_rd, EV_READ | EV_PERSIST, on_wake, b);
    event_add(b->wake, NULL);
    CC_INFO("event=backend_ready kind=embedded model=%s", b->model_id);
    return &b->base;
}
