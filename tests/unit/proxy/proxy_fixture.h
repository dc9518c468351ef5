/* Shared fixture of the proxy's request tests: a proxy without sockets whose
 * sends to workers and clients are recorded (through proxy_io), workers and
 * clients added as if their handshakes had completed, and TL messages fed in
 * as the peers would send them (encoded, then through the packet handlers).
 *
 * Each test file includes this header once; the fixture is the only state
 * shared between its functions (g_fx, reset per test). */
#ifndef COCOON_TEST_PROXY_FIXTURE_H
#define COCOON_TEST_PROXY_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/proxy_internal.h"

#define FX_MAX_SENT 64

typedef struct fx_sent {
    bool to_worker;
    uint64_t peer; /* the worker's rw.id or the client's id */
    tl_obj *msg;   /* decoded copy of what went on the wire (owned) */
} fx_sent;

/* An answer to a client's query: the encoded result or an error. */
typedef struct fx_reply {
    uint64_t client, qid;
    int32_t code; /* 0: a result in data */
    char error[200];
    cc_buf data;
} fx_reply;

#define FX_MAX_ANSWERS 16

typedef struct fx {
    struct event_base *base;
    proxy *p;
    fx_sent sent[FX_MAX_SENT];
    size_t n_sent;
    size_t next;            /* first sent message not yet taken by fx_take */
    uint64_t refuse_worker; /* sends to this worker id fail like a full link */
    fx_reply answers[FX_MAX_ANSWERS];
    size_t n_answers;
} fx;

static fx *g_fx;

/* Every message goes through the real encoder and decoder, so the tests see
 * exactly what a peer would read. */
static inline int fx_record(bool to_worker, uint64_t peer, const tl_obj *msg)
{
    cc_buf b = CC_BUF_INIT;
    cc_err err = {0};
    assert_int_equal(tl_encode(msg, &b, &err), 0);
    tl_obj *copy = tl_decode(b.data, b.len, &err);
    cc_buf_free(&b);
    assert_non_null(copy);
    assert_true(g_fx->n_sent < FX_MAX_SENT);
    g_fx->sent[g_fx->n_sent++] = (fx_sent){to_worker, peer, copy};
    return 0;
}

static inline int fx_to_worker(pworker *w, const tl_obj *msg)
{
    if (w->rw.id == g_fx->refuse_worker) return -1;
    return fx_record(true, w->rw.id, msg);
}

static inline int fx_to_client(pclient *c, const tl_obj *msg)
{
    return fx_record(false, c->id, msg);
}

static inline int fx_answer_client(pclient *c, uint64_t qid, const uint8_t *data, size_t len)
{
    assert_true(g_fx->n_answers < FX_MAX_ANSWERS);
    fx_reply *a = &g_fx->answers[g_fx->n_answers++];
    a->client = c->id;
    a->qid = qid;
    cc_buf_append(&a->data, data, len);
    return 0;
}

static inline int fx_answer_client_error(pclient *c, uint64_t qid, int32_t code, const char *msg)
{
    assert_true(g_fx->n_answers < FX_MAX_ANSWERS);
    fx_reply *a = &g_fx->answers[g_fx->n_answers++];
    a->client = c->id;
    a->qid = qid;
    a->code = code;
    snprintf(a->error, sizeof(a->error), "%s", msg);
    return 0;
}

static const proxy_io fx_io = {.to_worker = fx_to_worker,
                               .to_client = fx_to_client,
                               .answer_client = fx_answer_client,
                               .answer_client_error = fx_answer_client_error};

/* The only place the tests build a proxy configuration. */
static inline proxy *fx_proxy_new(struct event_base *base, double request_timeout)
{
    proxy_config cfg;
    proxy_config_init(&cfg);
    cfg.request_timeout = request_timeout;
    proxy *p = proxy_new_detached(base, &cfg, &fx_io);
    proxy_config_clear(&cfg);
    return p;
}

static inline int fx_setup(void **state)
{
    cc_log_init("test", CC_LOG_WARN); /* the per-request info lines drown the report */
    g_fx = cc_calloc(1, sizeof(*g_fx));
    g_fx->base = event_base_new();
    g_fx->p = fx_proxy_new(g_fx->base, 600);
    *state = g_fx;
    return 0;
}

static inline void fx_clear_sent(fx *f)
{
    for (size_t i = 0; i < f->n_sent; i++)
        tl_obj_free(f->sent[i].msg);
    f->n_sent = f->next = 0;
}

static inline int fx_teardown(void **state)
{
    fx *f = *state;
    proxy_free(f->p);
    fx_clear_sent(f);
    for (size_t i = 0; i < f->n_answers; i++)
        cc_buf_free(&f->answers[i].data);
    event_base_free(f->base);
    free(f);
    g_fx = NULL;
    return 0;
}

/* A worker after worker.proxyHandshakeComplete: in the routing table. */
static inline pworker *fx_worker(fx *f, const char *model, int32_t coefficient, int32_t max_active)
{
    proxy *p = f->p;
    pworker *w = cc_calloc(1, sizeof(*w));
    w->p = p;
    w->rw.id = ++p->next_id;
    w->model = cc_strdup(model);
    w->owner_address = cc_strdup("");
    w->rw.model = w->model;
    w->rw.coefficient = coefficient;
    w->rw.max_active = max_active;
    w->rw.enabled = true;
    w->proto_version = 2;
    cc_list_push_front(&p->all_workers, &w->node);
    proxy_worker_table_add(w);
    w->state = PW_READY;
    return w;
}

/* A client after client.authorizeWithProxy. */
static inline pclient *fx_client(fx *f, int proto_version)
{
    proxy *p = f->p;
    pclient *c = cc_calloc(1, sizeof(*c));
    c->p = p;
    c->id = ++p->next_id;
    c->connected = c->authorized = true;
    c->proto_version = proto_version;
    cc_list_push_front(&p->clients, &c->node);
    return c;
}

static inline tl_int256 fx_rid(uint8_t n)
{
    tl_int256 r;
    memset(r.b, n, sizeof(r.b));
    return r;
}

static inline void fx_encode(const tl_obj *msg, cc_buf *out)
{
    cc_err err = {0};
    assert_int_equal(tl_encode(msg, out, &err), 0);
}

static inline void fx_client_packet(pclient *c, const tl_obj *msg)
{
    cc_buf b = CC_BUF_INIT;
    fx_encode(msg, &b);
    proxy_client_on_packet(NULL, c, b.data, b.len);
    cc_buf_free(&b);
}

static inline void fx_worker_packet(pworker *w, const tl_obj *msg)
{
    cc_buf b = CC_BUF_INIT;
    fx_encode(msg, &b);
    proxy_worker_on_packet(NULL, w, b.data, b.len);
    cc_buf_free(&b);
}

/* client.runQueryEx as a client sends it; timeout 0 = the proxy's cap. */
static inline void fx_run_ex(pclient *c, uint8_t rid, const char *model, int32_t max_coefficient,
                             double timeout, bool debug)
{
    tl_client_runQueryEx q = TL_INIT(client_runQueryEx);
    q.model_name = tl_str(model);
    q.query = tl_str("QUERY-BYTES");
    q.max_coefficient = max_coefficient;
    q.max_tokens = 100;
    q.timeout = timeout;
    q.request_id = fx_rid(rid);
    if (debug) {
        q.flags = 1;
        q.enable_debug = true;
    }
    fx_client_packet(c, &q.hdr);
}

static inline void fx_run(pclient *c, uint8_t rid, const char *model)
{
    fx_run_ex(c, rid, model, 1000000, 0, false);
}

static inline void fx_cancel(pclient *c, uint8_t rid)
{
    tl_client_cancelQuery m = TL_INIT(client_cancelQuery);
    m.request_id = fx_rid(rid);
    fx_client_packet(c, &m.hdr);
}

/* Takes the next recorded message, checking where it went and what it is. */
static inline const tl_obj *fx_take(fx *f, bool to_worker, uint64_t peer, uint32_t ctor)
{
    assert_true(f->next < f->n_sent);
    const fx_sent *s = &f->sent[f->next++];
    if (s->msg->id != ctor)
        fail_msg("expected %s, got %s", tl_ctor_name(ctor), tl_ctor_name(s->msg->id));
    assert_int_equal(s->to_worker, to_worker);
    assert_int_equal(s->peer, peer);
    return s->msg;
}

static inline void fx_expect_none(fx *f)
{
    if (f->next < f->n_sent)
        fail_msg("unexpected %s to %s %llu", tl_ctor_name(f->sent[f->next].msg->id),
                 f->sent[f->next].to_worker ? "worker" : "client",
                 (unsigned long long)f->sent[f->next].peer);
}

/* The proxy.runQueryEx a worker received; its request id is the worker leg's. */
static inline const tl_proxy_runQueryEx *fx_take_run(fx *f, const pworker *w)
{
    return (const tl_proxy_runQueryEx *)fx_take(f, true, w->rw.id, TL_ID_proxy_runQueryEx);
}

static inline const tl_client_queryAnswerErrorEx *fx_take_error(fx *f, const pclient *c, int code)
{
    const tl_client_queryAnswerErrorEx *e = (const tl_client_queryAnswerErrorEx *)fx_take(
        f, false, c->id, TL_ID_client_queryAnswerErrorEx);
    assert_int_equal(e->error_code, code);
    return e;
}

static inline bool fx_error_says(const tl_client_queryAnswerErrorEx *e, const char *text)
{
    return tl_bytes_eq_str(e->error, text);
}

/* A worker's answer: head (proxy.queryAnswerEx) or part, final with tokens. */
static inline void fx_answer(pworker *w, const tl_int256 *wrid, bool head, const char *bytes,
                             bool final, int64_t prompt, int64_t completion)
{
    tl_proxy_queryAnswerPartEx a = TL_INIT(proxy_queryAnswerPartEx);
    if (head) a.hdr.id = TL_ID_proxy_queryAnswerEx;
    a.request_id = *wrid;
    a.answer = tl_str(bytes);
    if (final) {
        a.flags = 1;
        a.final_info.hdr.id = TL_ID_proxy_queryFinalInfo;
        a.final_info.tokens_used.hdr.id = TL_ID_tokensUsed;
        a.final_info.tokens_used.prompt_tokens_used = prompt;
        a.final_info.tokens_used.completion_tokens_used = completion;
        a.final_info.tokens_used.total_tokens_used = prompt + completion;
    }
    fx_worker_packet(w, &a.hdr);
}

static inline void fx_worker_error(pworker *w, const tl_int256 *wrid, int32_t code,
                                   const char *text)
{
    tl_proxy_queryAnswerErrorEx e = TL_INIT(proxy_queryAnswerErrorEx);
    e.request_id = *wrid;
    e.error_code = code;
    e.error = tl_str(text);
    fx_worker_packet(w, &e.hdr);
}

/* Runs what is ready on the loop (the queue's drain event) without waiting. */
static inline void fx_loop(fx *f)
{
    event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static inline preq *fx_find(pclient *c, uint8_t rid)
{
    tl_int256 want = fx_rid(rid);
    cc_list_foreach (preq, r, &c->reqs, c_node)
        if (memcmp(r->client_rid.b, want.b, 32) == 0) return r;
    return NULL;
}

#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

#endif
