/* The client's HTTP statuses and OpenAI error bodies: 400 for bad requests,
 * 404 for unknown models, 413 for requests COCOON cannot carry, and
 * 502/503/504 for what the network answers. */
#include "client_fixture.h"

static void assert_error(fcall *call, int status, const char *code, const char *needle)
{
    assert_true(call->done);
    assert_true(call->is_error);
    assert_int_equal(call->status, status);
    assert_int_equal(call->err.status, status);
    if (code)
        assert_string_equal(call->err.code, code);
    else
        assert_null(call->err.code);
    if (!strstr(call->err.message, needle))
        fail_msg("\"%s\" does not say \"%s\"", call->err.message, needle);
    /* The body is the OpenAI error object. */
    json_t *j = json_loadb((const char *)call->out.data, call->out.len, 0, NULL);
    assert_non_null(j);
    json_t *e = json_object_get(j, "error");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "message")), call->err.message);
    assert_string_equal(json_string_value(json_object_get(e, "type")),
                        openai_error_type_for_status(status));
    json_decref(j);
}

static void test_invalid_json_is_400(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_post(f, "/v1/chat/completions", "{\"model\": \"tiny\", ");
    assert_error(call, 400, "invalid_json", "");
    cfx_expect_none(f);
    assert_int_equal(f->c->stats.bad_request, 1);
    assert_int_equal(f->c->stats.requests, 0);
    assert_true(cc_list_empty(&f->c->all));
}

static void test_missing_field_is_400_naming_it(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_post(f, "/v1/chat/completions", "{\"model\": \"tiny\"}");
    assert_error(call, 400, NULL, "messages");
    assert_string_equal(call->err.param, "messages");
    call = cfx_post(f, "/v1/completions", "{\"prompt\": \"x\"}");
    assert_error(call, 400, NULL, "model");
    cfx_expect_none(f);
    assert_int_equal(f->c->stats.bad_request, 2);
}

static void test_unknown_model_is_404_after_a_fresh_list(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call =
        cfx_post(f, "/v1/chat/completions",
                 "{\"model\":\"huge\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    /* Not in the cached list: the client asks the proxy again first. */
    assert_false(call->done);
    assert_int_equal(f->n_mq, 1);
    assert_ptr_equal(f->mq[0]->l, &f->c->links.at[0]);
    cfx_models_answer(f, true);
    assert_error(call, 404, "model_not_found", "'huge' does not exist");
    cfx_expect_none(f);
    assert_int_equal(f->c->stats.not_found, 1);
}

static void test_model_appearing_in_the_fresh_list_is_served(void **state)
{
    cfx *f = *state;
    fcall *call = cfx_chat(f, false);
    assert_int_equal(f->n_mq, 1);
    cfx_expect_none(f);
    cfx_tiny(f); /* the answer brought the model */
    cfx_models_answer(f, true);
    const tl_client_runQueryEx *q = cfx_take_run(f, 0);
    assert_true(tl_bytes_eq_str(q->model_name, "tiny"));
    assert_false(call->done);
}

static void test_model_list_failure_is_502(void **state)
{
    cfx *f = *state;
    fcall *call = cfx_chat(f, false);
    cfx_models_answer(f, false);
    assert_error(call, 502, "proxy_error", "could not list the network's models");
}

static void test_request_too_large_for_tl_is_413(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    /* Valid JSON whose http.request no longer fits a TL string. */
    size_t n = TL_MAX_BYTES_LEN + 16;
    static const char head[] =
        "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"";
    static const char tail[] = "\"}]}";
    char *body = cc_calloc(1, n + sizeof(head) + sizeof(tail));
    memcpy(body, head, sizeof(head) - 1);
    memset(body + sizeof(head) - 1, 'a', n);
    memcpy(body + sizeof(head) - 1 + n, tail, sizeof(tail));
    fcall *call = cfx_post(f, "/v1/chat/completions", body);
    free(body);
    assert_error(call, 413, "request_too_large", "TL limit");
    cfx_expect_none(f);
    assert_true(cc_list_empty(&f->c->all));
}

static void test_no_ready_proxy_is_503(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    f->c->links.at[0].state = DAEMON_LINK_HANDSHAKE;
    f->c->links.at[1].state = DAEMON_LINK_WAITING;
    fcall *call = cfx_chat(f, false);
    assert_error(call, 503, "no_proxy", "no proxy connection is available");
    /* Unknown model and no proxy to ask: the same answer. */
    call = cfx_post(f, "/v1/completions", "{\"model\":\"other\",\"prompt\":\"x\"}");
    assert_error(call, 503, "no_proxy", "no proxy connection is available");
    /* A link that failed says why (a refused authorization, say). */
    snprintf(f->c->links.at[0].last_error, sizeof(f->c->links.at[0].last_error),
             "authorization refused: 602 sha256 mismatch");
    call = cfx_chat(f, false);
    assert_error(call, 503, "no_proxy", "authorization refused: 602 sha256 mismatch");
    cfx_expect_none(f);
    assert_int_equal(f->n_mq, 0);
}

static void test_send_failure_is_502(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    f->refuse_sends = true;
    fcall *call = cfx_chat(f, false);
    assert_error(call, 502, "proxy_error", "could not send the request to the proxy");
    assert_int_equal(f->c->stats.failed, 1);
}

/* The proxy's error codes map to HTTP statuses; the text is the proxy's. */
static void test_network_error_codes(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    static const struct {
        int32_t code;
        int status;
        const char *err_code;
    } cases[] = {
        {651, 503, "no_worker_available"}, {653, 503, "network_error"}, {652, 504, "network_error"},
        {601, 502, "network_error"},       {602, 502, "network_error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fcall *call = cfx_chat(f, false);
        tl_int256 rid = cfx_take_run(f, 0)->request_id;
        char text[64];
        snprintf(text, sizeof(text), "proxy says %d", cases[i].code);
        cfx_error(f, 0, &rid, cases[i].code, text);
        assert_error(call, cases[i].status, cases[i].err_code, text);
        cfx_clear_sent(f);
    }
    assert_int_equal(f->c->stats.failed, 5);
    assert_int_equal(cc_map_count(&f->c->reqs), 0);
}

static void test_error_inside_a_stream_is_an_sse_event(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, true);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_head(f, 0, &rid, 200, "text/event-stream", "data: {\"a\":1}\n\n", false);
    cfx_error(f, 0, &rid, 652, "too slow");
    /* The 200 has gone out: the error is the stream's last event, no [DONE]. */
    assert_true(call->done);
    assert_true(call->streaming);
    assert_int_equal(call->status, 200);
    const char *out = cfx_out(call);
    assert_non_null(strstr(out, "data: {\"a\":1}\n\n"));
    assert_non_null(strstr(out, "data: {\"error\":"));
    assert_non_null(strstr(out, "too slow"));
    assert_null(strstr(out, "[DONE]"));
}

static void test_worker_http_error_passes_through(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = cfx_chat(f, true);
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    /* A backend 400 is the backend's answer, not a stream: relayed as is. */
    cfx_head(f, 0, &rid, 400, "application/json", "{\"error\":{\"message\":\"bad\"}}", true);
    assert_true(call->done);
    assert_false(call->streaming);
    assert_false(call->is_error);
    assert_int_equal(call->status, 400);
    assert_string_equal(call->content_type, "application/json");
    assert_string_equal(cfx_out(call), "{\"error\":{\"message\":\"bad\"}}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CFX_TEST(test_invalid_json_is_400),
        CFX_TEST(test_missing_field_is_400_naming_it),
        CFX_TEST(test_unknown_model_is_404_after_a_fresh_list),
        CFX_TEST(test_model_appearing_in_the_fresh_list_is_served),
        CFX_TEST(test_model_list_failure_is_502),
        CFX_TEST(test_request_too_large_for_tl_is_413),
        CFX_TEST(test_no_ready_proxy_is_503),
        CFX_TEST(test_send_failure_is_502),
        CFX_TEST(test_network_error_codes),
        CFX_TEST(test_error_inside_a_stream_is_an_sse_event),
        CFX_TEST(test_worker_http_error_passes_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
