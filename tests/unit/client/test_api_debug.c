/* COCOON's per-request fields on the client (timeout, enable_debug,
 * request_guid), its X-Cocoon-* timing headers, the debug object of
 * enable_debug and GET /request/debuglogentry (client_debug.c), as COCOON's
 * runners/client/ClientRunningRequest.cpp and ClientRunner.hpp do them. */
#include "client_fixture.h"

#define CHAT_MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

/* The http.request payload of a runQueryEx, as a string (owned). */
static char *payload_of(const tl_client_runQueryEx *q)
{
    cc_err err = {0};
    tl_obj *o = tl_decode(q->query.data, q->query.len, &err);
    assert_non_null(o);
    assert_int_equal(o->id, TL_ID_http_request);
    const tl_http_request *hr = (const tl_http_request *)o;
    char *s = cc_calloc(1, hr->payload.len + 1);
    memcpy(s, hr->payload.data, hr->payload.len);
    tl_obj_free(o);
    return s;
}

/* A head with the worker's and the proxy's timing headers, complete when
 * `final`, with the debug strings given in its final info. */
static void head_with(cfx *f, const tl_int256 *rid, const char *payload, bool final,
                      const char *worker_debug, const char *proxy_debug)
{
    tl_http_header h[3] = {
        {.hdr = {.id = TL_ID_http_header},
         .name = tl_str("Content-Type"),
         .value = tl_str("application/json")},
        {.hdr = {.id = TL_ID_http_header},
         .name = tl_str("X-Cocoon-Worker-Start"),
         .value = tl_str("1700000000.250000")},
        {.hdr = {.id = TL_ID_http_header},
         .name = tl_str("X-Cocoon-Evil"),
         .value = tl_str("a\r\nSet-Cookie: x")},
    };
    tl_http_response resp = TL_INIT(http_response);
    resp.http_version = tl_str("HTTP/1.1");
    resp.status_code = 200;
    resp.reason = tl_str("OK");
    resp.headers.n = 3;
    resp.headers.items = h;
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
        if (worker_debug) {
            a.final_info.flags = 1;
            a.final_info.worker_debug = tl_str(worker_debug);
            a.final_info.proxy_debug = tl_str(proxy_debug);
        }
    }
    cfx_deliver(f, 0, &a.hdr);
    cc_buf_free(&enc);
}

static double header_value(fcall *call, const char *name)
{
    cc_buf_append(&call->headers, "", 1);
    call->headers.len--;
    char key[80];
    snprintf(key, sizeof(key), "%s: ", name);
    const char *p = strstr((const char *)call->headers.data, key);
    if (!p) fail_msg("no %s in:\n%s", name, (const char *)call->headers.data);
    return strtod(p + strlen(key), NULL);
}

static void test_fields_are_read_and_not_forwarded(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    cfx_post(f, "/v1/chat/completions",
             "{\"model\":\"tiny\"," CHAT_MSGS ",\"timeout\":12.5,\"enable_debug\":true,"
             "\"request_guid\":\"g-1\",\"temperature\":0.5}");
    const tl_client_runQueryEx *q = cfx_take_run(f, 0);
    assert_true(q->timeout == 12.5);
    assert_int_equal(q->min_config_version, 0); /* no root followed */
    assert_true(q->flags & 1u);
    assert_true(q->enable_debug);
    char *p = payload_of(q);
    json_t *j = json_loads(p, 0, NULL);
    assert_non_null(j);
    assert_null(json_object_get(j, "timeout"));
    assert_null(json_object_get(j, "enable_debug"));
    assert_null(json_object_get(j, "request_guid"));
    assert_true(json_real_value(json_object_get(j, "temperature")) == 0.5);
    assert_non_null(json_object_get(j, "messages"));
    json_decref(j);
    free(p);
    creq *r = cc_list_first(creq, &f->c->all, node);
    assert_true(r->timeout == 12.5);
    cfx_part(f, 0, &q->request_id, "{}", true); /* end it */
}

/* COCOON's client asks for at least the root contract version it follows
 * (ClientRunner.cpp:44): ours sends its registry's version. */
static void test_min_config_version_is_the_roots(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    const char *text = "{\"version\": 9, \"proxy_image_hashes\": \"any\", "
                       "\"worker_image_hashes\": \"any\", \"model_hashes\": \"any\"}";
    cc_err err = {0};
    json_t *j = cc_json_loadb(text, strlen(text), &err);
    f->c->tee.proxy_registry = registry_from_json(j, &err);
    json_decref(j);
    assert_non_null(f->c->tee.proxy_registry);
    cfx_post(f, "/v1/chat/completions", "{\"model\":\"tiny\"," CHAT_MSGS "}");
    const tl_client_runQueryEx *q = cfx_take_run(f, 0);
    assert_int_equal(q->min_config_version, 9);
    cfx_part(f, 0, &q->request_id, "{}", true);
}

static void test_timeout_capped_and_default(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    /* Longer than the operator's request_timeout (60): the operator's wins. */
    cfx_post(f, "/v1/completions", "{\"model\":\"tiny\",\"prompt\":\"x\",\"timeout\":3600}");
    const tl_client_runQueryEx *q = cfx_take_run(f, 0);
    assert_true(q->timeout == 60);
    assert_int_equal(q->flags, 0); /* no debug asked for */
    /* A body without COCOON's fields travels byte for byte. */
    static const char plain[] = "{\"model\":\"tiny\",\"prompt\":\"x\",  \"top_k\":3}";
    cfx_post(f, "/v1/completions", plain);
    const tl_client_runQueryEx *q2 = cfx_take_run(f, 0);
    assert_true(q2->timeout == 60);
    char *p = payload_of(q2);
    assert_string_equal(p, plain);
    free(p);
    cfx_part(f, 0, &q->request_id, "{}", true);
    cfx_part(f, 0, &q2->request_id, "{}", true);
}

static void test_bad_fields_are_400(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *a =
        cfx_post(f, "/v1/completions", "{\"model\":\"tiny\",\"prompt\":\"x\",\"timeout\":-1}");
    fcall *b = cfx_post(f, "/v1/completions",
                        "{\"model\":\"tiny\",\"prompt\":\"x\",\"enable_debug\":\"y\"}");
    fcall *c =
        cfx_post(f, "/v1/completions", "{\"model\":\"tiny\",\"prompt\":\"x\",\"request_guid\":[]}");
    assert_int_equal(a->status, 400);
    assert_string_equal(a->err.param, "timeout");
    assert_int_equal(b->status, 400);
    assert_string_equal(b->err.param, "enable_debug");
    assert_int_equal(c->status, 400);
    assert_string_equal(c->err.param, "request_guid");
    cfx_expect_none(f);
}

/* ClientRunningRequest.cpp process_answer_ex_impl: the answer's headers
 * (the worker's and the proxy's timings among them) and the client's own. */
static void test_timing_headers(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    double before = cc_now_wall();
    fcall *call = cfx_chat(f, false);
    const tl_client_runQueryEx *q = cfx_take_run(f, 0);
    head_with(f, &q->request_id, "{\"id\":\"x\"}", true, NULL, NULL);
    assert_true(call->done);
    assert_int_equal(call->status, 200);
    assert_true(header_value(call, "X-Cocoon-Worker-Start") == 1700000000.25);
    double s = header_value(call, "X-Cocoon-Client-Start");
    double e = header_value(call, "X-Cocoon-Client-End");
    assert_true(s >= before - 0.001 && s <= e && e <= cc_now_wall() + 0.001);
    /* a value that would split the header block is not copied */
    assert_null(strstr((const char *)call->headers.data, "Evil"));
    /* no debug asked for: the body is the worker's, unchanged */
    assert_string_equal(cfx_out(call), "{\"id\":\"x\"}");
}

static void test_debug_object_and_log(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_post(f, "/v1/chat/completions",
                           "{\"model\":\"tiny\"," CHAT_MSGS
                           ",\"enable_debug\":true,\"request_guid\":\"guid-7\"}");
    const tl_client_runQueryEx *q = cfx_take_run(f, 0);
    head_with(f, &q->request_id, "{\"id\":\"x\",\"choices\":[]}", true,
              "{\"type\":\"worker_stats\",\"start_time\":1.5}", "{\"type\":\"proxy_stats\"}");
    assert_true(call->done);
    json_t *j = json_loads(cfx_out(call), 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "x");
    json_t *d = json_object_get(j, "debug");
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "worker"), "type")),
                        "worker_stats");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "proxy"), "type")),
                        "proxy_stats");
    json_t *cl = json_object_get(d, "client");
    assert_string_equal(json_string_value(json_object_get(cl, "type")), "client_stats");
    assert_true(json_real_value(json_object_get(cl, "start_time")) <=
                json_real_value(json_object_get(cl, "answer_receive_end_at")));
    /* kept under the guid */
    fcall *g = &f->calls[f->n_calls++];
    g->path = "/request/debuglogentry";
    g->query = "x=1&request_guid=guid-7";
    client_api_debuglog((http_req *)(void *)g, f->c);
    assert_int_equal(g->status, 200);
    json_t *kept = json_loads(cfx_out(g), 0, NULL);
    assert_true(json_equal(kept, d));
    json_decref(kept);
    json_decref(j);
    /* an unknown guid, or none: {} */
    fcall *u = &f->calls[f->n_calls++];
    u->query = "request_guid=other";
    client_api_debuglog((http_req *)(void *)u, f->c);
    assert_string_equal(cfx_out(u), "{}");
    fcall *n = &f->calls[f->n_calls++];
    client_api_debuglog((http_req *)(void *)n, f->c);
    assert_string_equal(cfx_out(n), "{}");
}

/* A stream gets {"debug":...} on its own line after the last bytes
 * (ClientRunningRequest.cpp add_last_payload_part_with_debug). */
static void test_debug_after_stream(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call =
        cfx_post(f, "/v1/chat/completions",
                 "{\"model\":\"tiny\"," CHAT_MSGS ",\"stream\":true,\"enable_debug\":true}");
    const tl_client_runQueryEx *q = cfx_take_run(f, 0);
    cfx_head(f, 0, &q->request_id, 200, "text/event-stream", "data: {\"a\":1}\n\n", false);
    cfx_part(f, 0, &q->request_id, "data: [DONE]\n\n", true);
    assert_true(call->done);
    const char *out = cfx_out(call);
    const char *tail = strstr(out, "data: [DONE]\n\n{\"debug\":{");
    assert_non_null(tail);
    assert_non_null(strstr(tail, "\"client_stats\""));
    assert_int_equal(out[strlen(out) - 1], '\n');
    /* no guid: nothing kept */
    for (size_t i = 0; i < CLIENT_DEBUG_LOG_SIZE; i++)
        assert_null(f->c->debug_log.e[i].json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CFX_TEST(test_fields_are_read_and_not_forwarded),
        CFX_TEST(test_timeout_capped_and_default),
        CFX_TEST(test_min_config_version_is_the_roots),
        CFX_TEST(test_bad_fields_are_400),
        CFX_TEST(test_timing_headers),
        CFX_TEST(test_debug_object_and_log),
        CFX_TEST(test_debug_after_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
