/* Shared fixture of the client API tests: a client without sockets whose
 * sends to the proxy links are recorded and whose HTTP callers are fakes
 * (through client_io), with answers fed in as a proxy sends them.
 *
 * A fake caller (fcall) stands for the server's http_req: the API only hands
 * the pointer back to the client_io functions, which cast it back. */
#ifndef COCOON_TEST_CLIENT_FIXTURE_H
#define COCOON_TEST_CLIENT_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "client/client_internal.h"

#define CFX_MAX_SENT 32
#define CFX_MAX_CALLS 8
#define CFX_MAX_MODEL_QUERIES 8

typedef struct fcall {
    const char *path;
    const char *auth;        /* its Authorization header, NULL = none */
    const char *receipt_hdr; /* its X-Cocoon-Receipt header, NULL = none */
    const char *query;       /* URL query or NULL */
    cc_buf headers;          /* "Name: value\n" for each reply_header */
    cc_buf in;               /* request body */
    void (*gone_cb)(http_req *h, void *ud);
    void *gone_ud;
    int status; /* 0 until a reply or stream start */
    char content_type[96];
    cc_buf out;           /* reply body, or every byte streamed */
    openai_error err;     /* for reply_error */
    bool is_error;        /* the reply was an OpenAI error */
    bool streaming, done; /* done: replied or stream ended (exactly once) */
    int writes_fail;      /* stream_write fails from now on */
} fcall;

typedef struct cfx_sent {
    size_t link; /* index in c->links */
    tl_obj *msg; /* decoded copy (owned) */
} cfx_sent;

/* A query the client sent to a proxy (client.getSealingCandidates). */
typedef struct cfx_query {
    size_t link;
    tl_obj *msg; /* decoded copy (owned) */
    net_answer_fn cb;
    void *ud;
} cfx_query;

#define CFX_MAX_QUERIES 8

typedef struct cfx {
    struct event_base *base;
    client *c;
    cfx_sent sent[CFX_MAX_SENT];
    size_t n_sent, next;
    fcall calls[CFX_MAX_CALLS];
    size_t n_calls;
    models_call *mq[CFX_MAX_MODEL_QUERIES]; /* pending model-list queries, oldest first */
    size_t n_mq;
    bool refuse_sends;
    cfx_query queries[CFX_MAX_QUERIES]; /* pending, oldest first */
    size_t n_queries;
} cfx;

static cfx *g_cfx;

static inline fcall *cfx_call_of(http_req *h)
{
    return (fcall *)(void *)h;
}

static inline int cfx_send(clink *l, const tl_obj *msg)
{
    if (g_cfx->refuse_sends) return -1;
    cc_buf b = CC_BUF_INIT;
    cc_err err = {0};
    assert_int_equal(tl_encode(msg, &b, &err), 0);
    tl_obj *copy = tl_decode(b.data, b.len, &err);
    cc_buf_free(&b);
    assert_non_null(copy);
    assert_true(g_cfx->n_sent < CFX_MAX_SENT);
    g_cfx->sent[g_cfx->n_sent++] = (cfx_sent){daemon_links_index(&clink_client(l)->links, l), copy};
    return 0;
}

static inline models_call *cfx_query_models(clink *l, void (*done)(client *c, void *ud, bool ok),
                                            void *ud)
{
    if (!l || l->state != DAEMON_LINK_READY) return NULL;
    assert_true(g_cfx->n_mq < CFX_MAX_MODEL_QUERIES);
    models_call *mc = cc_calloc(1, sizeof(*mc));
    mc->l = l;
    mc->done = done;
    mc->ud = ud;
    g_cfx->mq[g_cfx->n_mq++] = mc;
    return mc;
}

static inline int cfx_query_send(clink *l, const tl_obj *msg, net_answer_fn cb, void *ud,
                                 cc_err *err)
{
    (void)err;
    cc_buf b = CC_BUF_INIT;
    cc_err e2 = {0};
    assert_int_equal(tl_encode(msg, &b, &e2), 0);
    tl_obj *copy = tl_decode(b.data, b.len, &e2);
    cc_buf_free(&b);
    assert_non_null(copy);
    assert_true(g_cfx->n_queries < CFX_MAX_QUERIES);
    g_cfx->queries[g_cfx->n_queries++] =
        (cfx_query){daemon_links_index(&clink_client(l)->links, l), copy, cb, ud};
    return 0;
}

static inline const char *cfx_req_path(const http_req *h)
{
    return ((const fcall *)(const void *)h)->path;
}

static inline const char *cfx_req_query(const http_req *h)
{
    return ((const fcall *)(const void *)h)->query;
}

static inline void cfx_reply_header(http_req *h, const char *name, const char *value)
{
    fcall *f = cfx_call_of(h);
    assert_false(f->streaming); /* headers go before the reply */
    assert_false(f->done);
    cc_buf_append_fmt(&f->headers, "%s: %s\n", name, value);
}

static inline const uint8_t *cfx_req_body(const http_req *h, size_t *len)
{
    const fcall *f = (const fcall *)(const void *)h;
    *len = f->in.len;
    return f->in.len ? f->in.data : (const uint8_t *)"";
}

static inline void cfx_on_gone(http_req *h, void (*cb)(http_req *h, void *ud), void *ud)
{
    cfx_call_of(h)->gone_cb = cb;
    cfx_call_of(h)->gone_ud = ud;
}

static inline void cfx_finish(fcall *f, int status)
{
    assert_false(f->done); /* exactly one ending per request */
    if (!f->streaming) f->status = status;
    f->done = true;
}

static inline void cfx_reply(http_req *h, int status, const char *content_type, const void *body,
                             size_t len)
{
    fcall *f = cfx_call_of(h);
    assert_false(f->streaming);
    cfx_finish(f, status);
    snprintf(f->content_type, sizeof(f->content_type), "%s", content_type);
    cc_buf_append(&f->out, body, len);
}

static inline void cfx_reply_error(http_req *h, const openai_error *e)
{
    fcall *f = cfx_call_of(h);
    f->err = *e;
    f->is_error = true;
    char *j = openai_error_json(e);
    cfx_reply(h, e->status, "application/json", j, strlen(j));
    free(j);
}

static inline void cfx_reply_json(http_req *h, int status, const json_t *obj)
{
    char *j = json_dumps(obj, JSON_COMPACT);
    cfx_reply(h, status, "application/json", j, strlen(j));
    free(j);
}

static inline void cfx_stream_start(http_req *h, int status, const char *content_type)
{
    fcall *f = cfx_call_of(h);
    assert_false(f->streaming);
    assert_false(f->done);
    f->streaming = true;
    f->status = status;
    snprintf(f->content_type, sizeof(f->content_type), "%s", content_type);
}

static inline int cfx_stream_write(http_req *h, const void *data, size_t len)
{
    fcall *f = cfx_call_of(h);
    assert_true(f->streaming);
    assert_false(f->done);
    if (f->writes_fail) return -1;
    cc_buf_append(&f->out, data, len);
    return 0;
}

static inline void cfx_stream_end(http_req *h)
{
    fcall *f = cfx_call_of(h);
    assert_true(f->streaming);
    cfx_finish(f, f->status);
}

static inline const char *cfx_req_header(const http_req *h, const char *name)
{
    const fcall *f = (const fcall *)(const void *)h;
    if (strcasecmp(name, "X-Cocoon-Receipt") == 0) return f->receipt_hdr;
    return strcasecmp(name, "Authorization") == 0 ? f->auth : NULL;
}

static const client_io cfx_io = {
    .send = cfx_send,
    .query_models = cfx_query_models,
    .req_path = cfx_req_path,
    .req_query = cfx_req_query,
    .req_body = cfx_req_body,
    .req_header = cfx_req_header,
    .on_caller_gone = cfx_on_gone,
    .reply_header = cfx_reply_header,
    .reply = cfx_reply,
    .reply_error = cfx_reply_error,
    .reply_json = cfx_reply_json,
    .stream_start = cfx_stream_start,
    .stream_write = cfx_stream_write,
    .stream_end = cfx_stream_end,
    .query = cfx_query_send,
};

/* The only place the tests build a client configuration: two proxies. */
static inline client *cfx_client_new(struct event_base *base)
{
    client_config cfg;
    client_config_init(&cfg);
    cfg.n_proxies = 2;
    cfg.proxies = cc_calloc(3, sizeof(*cfg.proxies));
    cfg.proxies[0] = cc_strdup("127.0.0.1:7001");
    cfg.proxies[1] = cc_strdup("127.0.0.1:7002");
    cfg.max_tokens = 256;
    cfg.max_coefficient = 4000;
    cfg.request_timeout = 60;
    cc_err err = {0};
    client *c = client_new_detached(base, &cfg, &cfx_io, &err);
    client_config_clear(&cfg);
    assert_non_null(c);
    return c;
}

static inline int cfx_setup(void **state)
{
    cc_log_init("test", CC_LOG_WARN);
    g_cfx = cc_calloc(1, sizeof(*g_cfx));
    g_cfx->base = event_base_new();
    g_cfx->c = cfx_client_new(g_cfx->base);
    /* Both links as after client.authorizeWithProxy. */
    for (size_t i = 0; i < g_cfx->c->links.n; i++)
        g_cfx->c->links.at[i].state = DAEMON_LINK_READY;
    *state = g_cfx;
    return 0;
}

static inline void cfx_clear_sent(cfx *f)
{
    for (size_t i = 0; i < f->n_sent; i++)
        tl_obj_free(f->sent[i].msg);
    f->n_sent = f->next = 0;
}

/* Answers the oldest pending model-list query (as the link does when the
 * proxy's answer arrives or the query fails). */
static inline void cfx_models_answer(cfx *f, bool ok)
{
    assert_true(f->n_mq > 0);
    models_call *mc = f->mq[0];
    memmove(f->mq, f->mq + 1, (f->n_mq - 1) * sizeof(*f->mq));
    f->n_mq--;
    if (mc->done) mc->done(f->c, mc->ud, ok);
    free(mc);
}

/* Answers the oldest pending query with an encoded result (or an error). */
static inline void cfx_query_answer(cfx *f, const tl_obj *result, int32_t code, const char *error)
{
    assert_true(f->n_queries > 0);
    cfx_query q = f->queries[0];
    memmove(f->queries, f->queries + 1, (f->n_queries - 1) * sizeof(*f->queries));
    f->n_queries--;
    cc_buf b = CC_BUF_INIT;
    if (result) {
        cc_err err = {0};
        assert_int_equal(tl_encode(result, &b, &err), 0);
    }
    q.cb(NULL, q.ud, code, error, b.data, b.len);
    cc_buf_free(&b);
    tl_obj_free(q.msg);
}

static inline int cfx_teardown(void **state)
{
    cfx *f = *state;
    while (f->n_queries)
        cfx_query_answer(f, NULL, NET_ERR_CANCELLED, "test over");
    while (f->n_mq)
        cfx_models_answer(f, false);
    client_free(f->c);
    cfx_clear_sent(f);
    for (size_t i = 0; i < f->n_calls; i++) {
        /* Every request the client took was ended exactly once. */
        assert_true(f->calls[i].done);
        cc_buf_free(&f->calls[i].in);
        cc_buf_free(&f->calls[i].out);
        cc_buf_free(&f->calls[i].headers);
    }
    event_base_free(f->base);
    free(f);
    g_cfx = NULL;
    return 0;
}

/* The model list as the proxy announced it (all enabled). */
static inline void cfx_models(cfx *f, const char *const *names, size_t n)
{
    client *c = f->c;
    for (size_t i = 0; i < c->n_models; i++)
        free(c->models[i].name);
    free(c->models);
    c->models = cc_calloc(n + 1, sizeof(*c->models));
    c->n_models = n;
    for (size_t i = 0; i < n; i++) {
        c->models[i].name = cc_strdup(names[i]);
        c->models[i].workers = c->models[i].enabled = 1;
        c->models[i].max = 4;
        c->models[i].coefficient_min = 1000;
    }
}

static inline void cfx_tiny(cfx *f)
{
    static const char *const names[] = {"tiny@sha256:00ff"};
    cfx_models(f, names, 1);
}

/* A caller's request to the completion handler. */
static inline fcall *cfx_post(cfx *f, const char *path, const char *body)
{
    assert_true(f->n_calls < CFX_MAX_CALLS);
    fcall *call = &f->calls[f->n_calls++];
    call->path = path;
    cc_buf_append(&call->in, body, strlen(body));
    client_api_completion((http_req *)(void *)call, f->c);
    return call;
}

static inline fcall *cfx_chat(cfx *f, bool stream)
{
    return cfx_post(f, "/v1/chat/completions",
                    stream ? "{\"model\":\"tiny\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                             "\"content\":\"hi\"}]}"
                           : "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\","
                             "\"content\":\"hi\"}]}");
}

static inline fcall *cfx_get_models(cfx *f)
{
    assert_true(f->n_calls < CFX_MAX_CALLS);
    fcall *call = &f->calls[f->n_calls++];
    call->path = "/v1/models";
    client_api_models((http_req *)(void *)call, f->c);
    return call;
}

static inline void cfx_caller_leaves(fcall *call)
{
    assert_non_null(call->gone_cb);
    assert_false(call->done);
    call->gone_cb((http_req *)(void *)call, call->gone_ud);
}

static inline const tl_obj *cfx_take(cfx *f, size_t link, uint32_t ctor)
{
    assert_true(f->next < f->n_sent);
    const cfx_sent *s = &f->sent[f->next++];
    if (s->msg->id != ctor)
        fail_msg("expected %s, got %s", tl_ctor_name(ctor), tl_ctor_name(s->msg->id));
    assert_int_equal(s->link, link);
    return s->msg;
}

static inline const tl_client_runQueryEx *cfx_take_run(cfx *f, size_t link)
{
    return (const tl_client_runQueryEx *)cfx_take(f, link, TL_ID_client_runQueryEx);
}

static inline void cfx_expect_none(cfx *f)
{
    if (f->next < f->n_sent)
        fail_msg("unexpected %s to link %zu", tl_ctor_name(f->sent[f->next].msg->id),
                 f->sent[f->next].link);
}

/* Hands a proxy's message to the API as the link does: encoded, then
 * decoded in borrow mode. */
static inline void cfx_deliver(cfx *f, size_t link, const tl_obj *msg)
{
    cc_buf b = CC_BUF_INIT;
    cc_err err = {0};
    assert_int_equal(tl_encode(msg, &b, &err), 0);
    tl_decode_opts o = {.flags = TL_DECODE_BORROW};
    tl_obj *m = tl_decode_ex(b.data, b.len, &o, &err);
    assert_non_null(m);
    client_handle_answer(&f->c->links.at[link], m);
    tl_obj_free(m);
    cc_buf_free(&b);
}

/* client.queryAnswerEx carrying an http.response head (and payload). */
static inline void cfx_head(cfx *f, size_t link, const tl_int256 *rid, int status,
                            const char *content_type, const char *payload, bool final)
{
    tl_http_header h = {.hdr = {.id = TL_ID_http_header},
                        .name = tl_str("Content-Type"),
                        .value = tl_str(content_type)};
    tl_http_response resp = TL_INIT(http_response);
    resp.http_version = tl_str("HTTP/1.1");
    resp.status_code = status;
    resp.reason = tl_str("");
    resp.headers.n = content_type ? 1 : 0;
    resp.headers.items = &h;
    resp.payload = tl_str(payload);
    cc_buf enc = CC_BUF_INIT;
    cc_err err = {0};
    assert_int_equal(tl_encode(&resp.hdr, &enc, &err), 0);
    tl_client_queryAnswerEx a = TL_INIT(client_queryAnswerEx);
    a.request_id = *rid;
    a.answer = tl_mem(enc.data, enc.len);
    if (final) {
        a.flags = 1;
        a.final_info.hdr.id = TL_ID_client_queryFinalInfo;
        a.final_info.tokens_used.hdr.id = TL_ID_tokensUsed;
    }
    cfx_deliver(f, link, &a.hdr);
    cc_buf_free(&enc);
}

static inline void cfx_part(cfx *f, size_t link, const tl_int256 *rid, const char *bytes,
                            bool final)
{
    tl_client_queryAnswerPartEx a = TL_INIT(client_queryAnswerPartEx);
    a.request_id = *rid;
    a.answer = tl_str(bytes);
    if (final) {
        a.flags = 1;
        a.final_info.hdr.id = TL_ID_client_queryFinalInfo;
        a.final_info.tokens_used.hdr.id = TL_ID_tokensUsed;
    }
    cfx_deliver(f, link, &a.hdr);
}

static inline void cfx_error(cfx *f, size_t link, const tl_int256 *rid, int32_t code,
                             const char *text)
{
    tl_client_queryAnswerErrorEx e = TL_INIT(client_queryAnswerErrorEx);
    e.request_id = *rid;
    e.error_code = code;
    e.error = tl_str(text);
    e.flags = 1;
    e.final_info.hdr.id = TL_ID_client_queryFinalInfo;
    e.final_info.tokens_used.hdr.id = TL_ID_tokensUsed;
    cfx_deliver(f, link, &e.hdr);
}

/* The body of a reply as a NUL-terminated string (for strstr checks). */
static inline const char *cfx_out(fcall *call)
{
    cc_buf_append(&call->out, "", 1);
    call->out.len--;
    return (const char *)call->out.data;
}

/* Makes a link unusable, as the link layer does before client_link_gone(). */
static inline void cfx_link_lost(cfx *f, size_t link)
{
    clink *l = &f->c->links.at[link];
    l->state = DAEMON_LINK_WAITING;
    client_link_gone(l);
}

#define CFX_TEST(fn) cmocka_unit_test_setup_teardown(fn, cfx_setup, cfx_teardown)

#endif
