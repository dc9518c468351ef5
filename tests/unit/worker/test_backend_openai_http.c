/*
 * The openai-http backend against an in-process upstream (built on the http
 * module's server, so the test sees exactly what arrived) and, when it has
 * been built, against the real cocoon-fake-backend program.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "http/http.h"
#include "worker/backend.h"

/* ------------------------------------------------------------ upstream */

typedef struct upstream {
    struct event_base *base;
    http_server *srv;
    int port;
    json_t *last_body; /* what the backend sent us */
    cc_buf sent;       /* every body byte we answered with */
    int chunks;        /* content chunks per answer */
    int delay_ms;      /* between chunks; 0 = all at once */
    bool hold;         /* never answer completions */
    http_req *held;
    int closed_calls;
    int i;
    bool include_usage;
    struct event *tick;
} upstream;

static void up_closed(http_req *r, void *ud)
{
    ((upstream *)ud)->closed_calls++;
}

static void up_write(upstream *u, const char *s)
{
    cc_buf_append_str(&u->sent, s);
    http_stream_write(u->held, s, strlen(s));
}

static void up_tick(evutil_socket_t fd, short what, void *arg)
{
    upstream *u = arg;
    if (!u->held) return;
    char buf[256];
    while (u->i < u->chunks) {
        snprintf(buf, sizeof(buf),
                 "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                 "\"delta\":{\"content\":\"part %d\"}}],\"usage\":null}\n\n",
                 u->i);
        up_write(u, buf);
        u->i++;
        if (u->delay_ms) {
            struct timeval tv = {0, u->delay_ms * 1000};
            evtimer_add(u->tick, &tv);
            return;
        }
    }
    if (u->include_usage)
        up_write(u, "data: {\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":"
                    "{\"prompt_tokens\":12,\"completion_tokens\":34,\"total_tokens\":46,"
                    "\"prompt_tokens_details\":{\"cached_tokens\":5},"
                    "\"completion_tokens_details\":{\"reasoning_tokens\":6}}}\n\n");
    up_write(u, "data: [DONE]\n\n");
    http_stream_end(u->held);
    u->held = NULL;
}

static void up_models(http_req *r, void *ud)
{
    const char *body = "{\"object\":\"list\",\"data\":[{\"id\":\"m1\",\"object\":\"model\"}]}";
    http_reply(r, 200, "application/json", body, strlen(body));
}

static void up_completion(http_req *r, void *ud)
{
    upstream *u = ud;
    size_t len;
    const uint8_t *b = http_req_body(r, &len);
    json_decref(u->last_body);
    /* the worker never forwards duplicate keys (the backend might read another) */
    u->last_body = json_loadb((const char *)b, len, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(u->last_body);
    assert_string_equal(http_req_header(r, "Authorization"), "Bearer sk-test");
    u->held = r;
    u->i = 0;
    http_req_on_close(r, up_closed, u);
    if (u->hold) return;
    cc_buf_reset(&u->sent);
    if (json_is_true(json_object_get(u->last_body, "stream"))) {
        u->include_usage = json_is_true(
            json_object_get(json_object_get(u->last_body, "stream_options"), "include_usage"));
        http_stream_start(r, 200, "text/event-stream");
        struct timeval tv = {0, 1000};
        evtimer_add(u->tick, &tv);
        return;
    }
    const char *body = "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                       "\"message\":{\"role\":\"assistant\",\"content\":\"hello\"}}],"
                       "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}";
    cc_buf_append_str(&u->sent, body);
    u->held = NULL;
    http_reply(r, 200, "application/json", body, strlen(body));
}

static void upstream_start(upstream *u, int port)
{
    http_server_config cfg = {.host = "127.0.0.1", .port = port};
    cc_err err;
    u->srv = http_server_new(u->base, &cfg, &err);
    assert_non_null(u->srv);
    u->port = http_server_port(u->srv);
    http_server_route(u->srv, "GET", "/v1/models", up_models, u);
    http_server_route(u->srv, "POST", "/v1/chat/completions", up_completion, u);
    http_server_route(u->srv, "POST", "/v1/completions", up_completion, u);
}

static void upstream_stop(upstream *u)
{
    if (u->held) {
        http_stream_end(u->held);
        u->held = NULL;
    }
    http_server_free(u->srv);
    u->srv = NULL;
}

/* ------------------------------------------------------------- harness */

typedef struct result {
    int status;
    int head_calls;
    bool has_transfer_encoding;
    char content_type[64];
    cc_buf body;
    bool done;
    int error_code;
    char error[300];
    backend_usage usage;
    backend_call *call;
    worker_backend *b;
    bool cancel_on_body;
    bool cancelled;
} result;

typedef struct env {
    struct event_base *base;
    struct event *heartbeat;
    upstream up;
    worker_backend *b;
    int health_calls;
    bool last_health;
} env;

static void on_head(void *ud, int status, const backend_header *h, size_t n)
{
    result *r = ud;
    r->status = status;
    r->head_calls++;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(h[i].name, "Content-Type") == 0)
            snprintf(r->content_type, sizeof(r->content_type), "%s", h[i].value);
        if (strcasecmp(h[i].name, "Transfer-Encoding") == 0) r->has_transfer_encoding = true;
    }
}

static void on_body(void *ud, const uint8_t *d, size_t n)
{
    result *r = ud;
    assert_false(r->done);
    cc_buf_append(&r->body, d, n);
    if (r->cancel_on_body && !r->cancelled) {
        r->cancelled = true;
        r->b->ops->cancel(r->call);
    }
}

static void on_done(void *ud, const backend_usage *u, int code, const char *error)
{
    result *r = ud;
    assert_false(r->done);
    r->done = true;
    r->usage = *u;
    r->error_code = code;
    snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
}

static const backend_callbacks cbs = {on_head, on_body, on_done};

static void on_health(void *ud, bool healthy)
{
    env *e = ud;
    e->health_calls++;
    e->last_health = healthy;
}

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg) {}

static void wait_for(env *e, const bool *flag, double secs)
{
    double end = cc_now_mono() + secs;
    while (!*flag && cc_now_mono() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
}

static void wait_health(env *e, int calls, double secs)
{
    double end = cc_now_mono() + secs;
    while (e->health_calls < calls && cc_now_mono() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
}

static worker_backend *make_backend(env *e, int port)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/", port);
    backend_openai_http_config cfg = {
        .url = url, .model = "m1", .api_key = "sk-test", .health_interval = 0.05};
    cc_err err;
    worker_backend *b = backend_openai_http_new(e->base, &cfg, &err);
    assert_non_null(b);
    b->on_health = on_health;
    b->health_ud = e;
    return b;
}

static int setup(void **state)
{
    env *e = cc_calloc(1, sizeof(*e));
    e->base = event_base_new();
    e->heartbeat = event_new(e->base, -1, EV_PERSIST, heartbeat_cb, NULL);
    struct timeval hb = {0, 10000};
    event_add(e->heartbeat, &hb);
    e->up.base = e->base;
    e->up.chunks = 5;
    e->up.tick = evtimer_new(e->base, up_tick, &e->up);
    upstream_start(&e->up, 0);
    e->b = make_backend(e, e->up.port);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    e->b->ops->destroy(e->b);
    if (e->up.srv) upstream_stop(&e->up);
    json_decref(e->up.last_body);
    cc_buf_free(&e->up.sent);
    event_free(e->up.tick);
    event_free(e->heartbeat);
    event_base_free(e->base);
    free(e);
    return 0;
}

static backend_call *start(env *e, const char *method, const char *path, const char *body,
                           int64_t max_tokens, double timeout, result *r)
{
    memset(r, 0, sizeof(*r));
    backend_http_request req = {
        method, path, NULL, 0, (const uint8_t *)body, body ? strlen(body) : 0, max_tokens, timeout};
    cc_err err;
    backend_call *call = NULL;
    assert_int_equal(e->b->ops->start(e->b, &req, &cbs, r, &call, &err), 0);
    assert_non_null(call);
    assert_int_equal(r->head_calls, 0); /* never from inside start() */
    assert_false(r->done);
    r->call = call;
    r->b = e->b;
    return call;
}

/* --------------------------------------------------------------- tests */

static void test_stream_passthrough_usage_and_injection(void **state)
{
    env *e = *state;
    wait_health(e, 1, 5);
    assert_true(e->b->ops->healthy(e->b));
    result r;
    start(e, "POST", "/v1/chat/completions",
          "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
          "\"stream\":true,\"max_tokens\":100,\"top_k\":3}",
          10, 5, &r);
    wait_for(e, &r.done, 5);
    assert_true(r.done);
    assert_int_equal(r.error_code, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.head_calls, 1);
    assert_string_equal(r.content_type, "text/event-stream");
    assert_false(r.has_transfer_encoding);
    /* exactly the upstream's bytes */
    assert_int_equal(r.body.len, e->up.sent.len);
    assert_memory_equal(r.body.data, e->up.sent.data, r.body.len);
    /* what the upstream received: include_usage injected, max_tokens capped */
    json_t *got = e->up.last_body;
    assert_true(
        json_is_true(json_object_get(json_object_get(got, "stream_options"), "include_usage")));
    assert_int_equal(json_integer_value(json_object_get(got, "max_tokens")), 10);
    assert_int_equal(json_integer_value(json_object_get(got, "top_k")), 3);
    /* usage read from the stream */
    assert_int_equal(r.usage.prompt_tokens, 12);
    assert_int_equal(r.usage.completion_tokens, 34);
    assert_int_equal(r.usage.total_tokens, 46);
    assert_int_equal(r.usage.cached_tokens, 5);
    assert_int_equal(r.usage.reasoning_tokens, 6);
    cc_buf_free(&r.body);

    json_t *stats = json_object();
    e->b->ops->stats(e->b, stats);
    json_t *s = json_object_get(stats, "backend_stats");
    assert_int_equal(json_integer_value(json_object_get(s, "completion_tokens")), 34);
    assert_int_equal(json_integer_value(json_object_get(s, "active")), 0);
    assert_string_equal(json_string_value(json_object_get(stats, "backend")), "openai-http");
    json_decref(stats);
    assert_string_equal(e->b->ops->model(e->b), "m1");
}

static void test_plain_json_answer(void **state)
{
    env *e = *state;
    result r;
    /* a lower max_completion_tokens is kept; absent max_tokens is not added then */
    start(e, "POST", "/v1/chat/completions",
          "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
          "\"max_completion_tokens\":3}",
          8, 5, &r);
    wait_for(e, &r.done, 5);
    assert_int_equal(r.error_code, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, e->up.sent.len);
    assert_memory_equal(r.body.data, e->up.sent.data, r.body.len);
    assert_int_equal(r.usage.prompt_tokens, 7);
    assert_int_equal(r.usage.completion_tokens, 2);
    assert_int_equal(r.usage.total_tokens, 9);
    json_t *got = e->up.last_body;
    assert_int_equal(json_integer_value(json_object_get(got, "max_completion_tokens")), 3);
    assert_null(json_object_get(got, "max_tokens"));
    assert_null(json_object_get(got, "stream_options")); /* only for streams */
    cc_buf_free(&r.body);

    /* no limit in the request: the cap is added */
    start(e, "POST", "/v1/completions", "{\"model\":\"m1\",\"prompt\":\"x\"}", 8, 5, &r);
    wait_for(e, &r.done, 5);
    assert_int_equal(json_integer_value(json_object_get(e->up.last_body, "max_tokens")), 8);
    cc_buf_free(&r.body);
}

/* Keys are appended to the body as sent when nothing else must change; a
 * body with duplicate keys is re-encoded with the value checked here. */
static void test_rewrite_appends_or_reencodes(void **state)
{
    env *e = *state;
    result r;
    start(e, "POST", "/v1/chat/completions",
          " {\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"}\"}],"
          "\"stream\":true} \r\n",
          8, 5, &r);
    wait_for(e, &r.done, 5);
    assert_int_equal(r.status, 200);
    json_t *got = e->up.last_body;
    assert_true(
        json_is_true(json_object_get(json_object_get(got, "stream_options"), "include_usage")));
    assert_int_equal(json_integer_value(json_object_get(got, "max_tokens")), 8);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(got, "messages"), 0), "content")),
                        "}");
    cc_buf_free(&r.body);

    /* an include_usage of false is overridden */
    start(e, "POST", "/v1/chat/completions",
          "{\"model\":\"m1\",\"messages\":[],\"stream\":true,"
          "\"stream_options\":{\"include_usage\":false},\"max_tokens\":null}",
          8, 5, &r);
    wait_for(e, &r.done, 5);
    got = e->up.last_body;
    assert_true(
        json_is_true(json_object_get(json_object_get(got, "stream_options"), "include_usage")));
    assert_int_equal(json_integer_value(json_object_get(got, "max_tokens")), 8);
    cc_buf_free(&r.body);

    /* duplicates: the last value counts, and only it is forwarded */
    start(e, "POST", "/v1/completions",
          "{\"model\":\"m1\",\"prompt\":\"x\",\"max_tokens\":999,\"max_tokens\":2}", 8, 5, &r);
    wait_for(e, &r.done, 5);
    assert_int_equal(json_integer_value(json_object_get(e->up.last_body, "max_tokens")), 2);
    cc_buf_free(&r.body);
    start(e, "POST", "/v1/completions",
          "{\"model\":\"m1\",\"prompt\":\"x\",\"max_tokens\":2,\"max_tokens\":999}", 8, 5, &r);
    wait_for(e, &r.done, 5);
    assert_int_equal(json_integer_value(json_object_get(e->up.last_body, "max_tokens")), 8);
    cc_buf_free(&r.body);
}

static void expect_refusal(env *e, const char *method, const char *path, const char *body,
                           int status, const char *needle)
{
    result r;
    start(e, method, path, body, 0, 5, &r);
    wait_for(e, &r.done, 5);
    assert_true(r.done);
    assert_int_equal(r.error_code, 0); /* an ordinary HTTP answer */
    assert_int_equal(r.status, status);
    assert_string_equal(r.content_type, "application/json");
    cc_buf_append_u8(&r.body, 0);
    if (!strstr((char *)r.body.data, needle))
        fail_msg("%s %s: body %s lacks %s", method, path, (char *)r.body.data, needle);
    assert_non_null(strstr((char *)r.body.data, "{\"error\":{\"message\":"));
    assert_int_equal(r.usage.total_tokens, 0);
    cc_buf_free(&r.body);
}

static void test_refusals(void **state)
{
    env *e = *state;
    json_decref(e->up.last_body);
    e->up.last_body = NULL;
    expect_refusal(e, "POST", "/v1/chat/completions", "{\"model\":\"other\",\"messages\":[]}", 404,
                   "\"code\":\"model_not_found\"");
    expect_refusal(e, "POST", "/v1/embeddings", "{\"model\":\"m1\"}", 404,
                   "\"code\":\"not_found\"");
    expect_refusal(e, "GET", "/v1/completions", NULL, 405, "not allowed");
    expect_refusal(e, "POST", "/v1/completions", "{\"model\":", 400, "\"code\":\"invalid_json\"");
    expect_refusal(e, "POST", "/v1/completions", "[]", 400, "must be a JSON object");
    assert_null(e->up.last_body); /* none of them reached the server */
}

/* COCOON's worker announces "name@commit:verity" while the server serves
 * "name": requests name the base and reach the server unchanged. */
static void test_cocoon_model_identifier(void **state)
{
    env *e = *state;
    e->b->ops->destroy(e->b);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", e->up.port);
    backend_openai_http_config cfg = {.url = url, .model = "m1@c0ffee:beef", .api_key = "sk-test"};
    cc_err err;
    e->b = backend_openai_http_new(e->base, &cfg, &err);
    assert_non_null(e->b);
    e->b->on_health = on_health;
    e->b->health_ud = e;
    assert_string_equal(e->b->ops->model(e->b), "m1@c0ffee:beef"); /* announced in full */
    json_decref(e->up.last_body);
    e->up.last_body = NULL;
    expect_refusal(e, "POST", "/v1/chat/completions",
                   "{\"model\":\"m1@c0ffee:beef\",\"messages\":[]}", 404,
                   "\"code\":\"model_not_found\"");
    assert_null(e->up.last_body);
    result r;
    start(e, "POST", "/v1/completions", "{\"model\":\"m1\",\"prompt\":\"hi\"}", 0, 5, &r);
    wait_for(e, &r.done, 5);
    assert_true(r.done);
    assert_int_equal(r.status, 200);
    assert_non_null(e->up.last_body);
    assert_string_equal(json_string_value(json_object_get(e->up.last_body, "model")), "m1");
    cc_buf_free(&r.body);
}

static void test_health_follows_backend(void **state)
{
    env *e = *state;
    wait_health(e, 1, 5);
    assert_int_equal(e->health_calls, 1);
    assert_true(e->last_health);
    int port = e->up.port;
    upstream_stop(&e->up); /* the backend dies */
    wait_health(e, 2, 5);
    assert_int_equal(e->health_calls, 2);
    assert_false(e->last_health);
    assert_false(e->b->ops->healthy(e->b));
    /* requests now fail as unreachable (601), before any byte */
    result r;
    start(e, "POST", "/v1/completions", "{\"model\":\"m1\",\"prompt\":\"x\"}", 0, 5, &r);
    wait_for(e, &r.done, 5);
    assert_int_equal(r.error_code, 601);
    assert_int_equal(r.head_calls, 0);
    cc_buf_free(&r.body);
    upstream_start(&e->up, port); /* and comes back */
    wait_health(e, 3, 5);
    assert_int_equal(e->health_calls, 3);
    assert_true(e->last_health);
}

static void test_cancel_mid_stream(void **state)
{
    env *e = *state;
    e->up.chunks = 1000;
    e->up.delay_ms = 5;
    result r;
    start(e, "POST", "/v1/chat/completions",
          "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
          "\"stream\":true}",
          0, 30, &r);
    r.cancel_on_body = true;
    wait_for(e, &r.done, 5);
    assert_true(r.cancelled);
    assert_int_equal(r.error_code, 653);
    assert_true(r.body.len > 0);
    double end = cc_now_mono() + 5;
    while (e->up.closed_calls == 0 && cc_now_mono() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
    assert_int_equal(e->up.closed_calls, 1); /* the upstream saw the transfer stop */
    assert_true(e->up.i < 1000);
    cc_buf_free(&r.body);
}

static void test_timeout(void **state)
{
    env *e = *state;
    e->up.hold = true;
    result r;
    start(e, "POST", "/v1/completions", "{\"model\":\"m1\",\"prompt\":\"x\"}", 0, 0.2, &r);
    wait_for(e, &r.done, 5);
    assert_int_equal(r.error_code, 652);
    assert_non_null(strstr(r.error, "timeout"));
    cc_buf_free(&r.body);
}

static void test_cancel_before_answer_and_destroy_with_calls(void **state)
{
    env *e = *state;
    e->up.hold = true;
    result r1, r2;
    backend_call *c1 =
        start(e, "POST", "/v1/completions", "{\"model\":\"m1\",\"prompt\":\"x\"}", 0, 5, &r1);
    e->b->ops->cancel(c1);
    assert_false(r1.done); /* delivered from the loop, not inside cancel() */
    wait_for(e, &r1.done, 5);
    assert_int_equal(r1.error_code, 653);
    /* a call still open when the backend is destroyed is dropped quietly */
    start(e, "POST", "/v1/completions", "{\"model\":\"m1\",\"prompt\":\"x\"}", 0, 5, &r2);
    bool never = false;
    wait_for(e, &never, 0.05);
    assert_false(r2.done);
}

/* ---------------------------------------------- the real fake backend */

static pid_t spawn_fake(int *port)
{
    const char *dir = getenv("COCOON_BIN_DIR");
    if (!dir) return -1;
    char path[1024];
    snprintf(path, sizeof(path), "%s/cocoon-fake-backend", dir);
    if (access(path, X_OK) != 0) return -1;
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(path, path, "--port", "0", "--model", "m1", "--chunks", "6", "--chunk-bytes", "16",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[64] = "";
    if (!fgets(line, sizeof(line), f) || sscanf(line, "listening %d", port) != 1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fclose(f);
        return -1;
    }
    fclose(f);
    return pid;
}

static void test_against_fake_backend_program(void **state)
{
    env *e = *state;
    int port = 0;
    pid_t pid = spawn_fake(&port);
    if (pid < 0) {
        skip(); /* the program is built by the full build; unit runs may lack it */
        return;
    }
    e->b->ops->destroy(e->b);
    e->health_calls = 0;
    e->b = make_backend(e, port);
    wait_health(e, 1, 5);
    assert_true(e->last_health);

    /* streamed, client did not ask for usage: the injected include_usage makes
     * the fake send it, and the cap of 3 tokens limits it to 3 chunks */
    result r;
    start(e, "POST", "/v1/chat/completions",
          "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
          "\"stream\":true}",
          3, 5, &r);
    wait_for(e, &r.done, 5);
    assert_int_equal(r.error_code, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.usage.completion_tokens, 3);
    assert_true(r.usage.prompt_tokens > 0);
    assert_int_equal(r.usage.total_tokens, r.usage.prompt_tokens + 3);
    cc_buf_append_u8(&r.body, 0);
    assert_non_null(strstr((char *)r.body.data, "\"content\":\"c2:"));
    assert_null(strstr((char *)r.body.data, "\"content\":\"c3:"));
    assert_non_null(strstr((char *)r.body.data, "\"finish_reason\":\"length\""));
    assert_non_null(strstr((char *)r.body.data, "data: [DONE]\n\n"));
    cc_buf_free(&r.body);

    /* not streamed, echo: what the fake received */
    start(e, "POST", "/v1/completions",
          "{\"model\":\"m1\",\"prompt\":\"x\",\"max_tokens\":50,\"fake\":{\"echo\":true}}", 4, 5,
          &r);
    wait_for(e, &r.done, 5);
    json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    assert_non_null(j);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "fake_request"), "max_tokens")), 4);
    assert_int_equal(r.usage.completion_tokens, 4);
    json_decref(j);
    cc_buf_free(&r.body);

    /* the backend drops the connection mid-stream: an error after bytes */
    start(e, "POST", "/v1/completions",
          "{\"model\":\"m1\",\"prompt\":\"x\",\"stream\":true,\"fake\":{\"disconnect_after\":2}}",
          0, 5, &r);
    wait_for(e, &r.done, 5);
    assert_int_equal(r.error_code, 602);
    assert_true(r.body.len > 0);
    cc_buf_free(&r.body);

    /* killed: health goes down */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    wait_health(e, 2, 5);
    assert_false(e->last_health);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stream_passthrough_usage_and_injection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plain_json_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_appends_or_reencodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cocoon_model_identifier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_follows_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_mid_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_before_answer_and_destroy_with_calls, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_against_fake_backend_program, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
