/* GET /v1/models: the proxy's worker types as an OpenAI model list (bare
 * names, only models some worker takes requests for), and its failures. */
#include "client_fixture.h"

static json_t *reply_json(fcall *call)
{
    assert_true(call->done);
    json_error_t je;
    json_t *j = json_loadb((const char *)call->out.data, call->out.len, 0, &je);
    if (!j) fail_msg("reply is not JSON: %s", je.text);
    return j;
}

static void test_lists_enabled_models_by_bare_name(void **state)
{
    cfx *f = *state;
    fcall *call = cfx_get_models(f);
    assert_false(call->done);
    assert_int_equal(f->n_mq, 1);
    /* The answer: two models, one without any enabled worker. */
    static const char *const names[] = {"tiny@sha256:00ff", "plain", "off"};
    cfx_models(f, names, 3);
    f->c->models[0].workers = 2;
    f->c->models[0].enabled = 2;
    f->c->models[0].active = 3;
    f->c->models[0].max = 8;
    f->c->models[0].coefficient_min = 1200;
    f->c->models[2].enabled = 0;
    cfx_models_answer(f, true);
    assert_int_equal(call->status, 200);
    assert_string_equal(call->content_type, "application/json");
    json_t *j = reply_json(call);
    assert_string_equal(json_string_value(json_object_get(j, "object")), "list");
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 2);
    json_t *m0 = json_array_get(data, 0);
    assert_string_equal(json_string_value(json_object_get(m0, "id")), "tiny");
    assert_string_equal(json_string_value(json_object_get(m0, "object")), "model");
    assert_string_equal(json_string_value(json_object_get(m0, "owned_by")), "cocoon");
    json_t *x = json_object_get(m0, "cocoon");
    assert_string_equal(json_string_value(json_object_get(x, "name")), "tiny@sha256:00ff");
    assert_int_equal(json_integer_value(json_object_get(x, "workers")), 2);
    assert_int_equal(json_integer_value(json_object_get(x, "enabled_workers")), 2);
    assert_int_equal(json_integer_value(json_object_get(x, "active_requests")), 3);
    assert_int_equal(json_integer_value(json_object_get(x, "max_active_requests")), 8);
    assert_int_equal(json_integer_value(json_object_get(x, "coefficient_min")), 1200);
    assert_string_equal(json_string_value(json_object_get(json_array_get(data, 1), "id")), "plain");
    json_decref(j);
    assert_true(cc_list_empty(&f->c->all));
}

static void test_empty_network_is_an_empty_list(void **state)
{
    cfx *f = *state;
    fcall *call = cfx_get_models(f);
    cfx_models_answer(f, true);
    json_t *j = reply_json(call);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 0);
    json_decref(j);
}

static void test_asks_the_first_ready_proxy(void **state)
{
    cfx *f = *state;
    f->c->links.at[0].state = DAEMON_LINK_WAITING;
    fcall *call = cfx_get_models(f);
    assert_int_equal(f->n_mq, 1);
    assert_ptr_equal(f->mq[0]->l, &f->c->links.at[1]);
    cfx_models_answer(f, true);
    assert_int_equal(call->status, 200);
}

static void test_no_proxy_is_503(void **state)
{
    cfx *f = *state;
    f->c->links.at[0].state = DAEMON_LINK_WAITING;
    f->c->links.at[1].state = DAEMON_LINK_CONNECTING;
    fcall *call = cfx_get_models(f);
    assert_true(call->done);
    assert_int_equal(call->status, 503);
    assert_string_equal(call->err.code, "no_proxy");
    assert_int_equal(f->n_mq, 0);
    assert_true(cc_list_empty(&f->c->all));
}

static void test_failed_query_is_502(void **state)
{
    cfx *f = *state;
    fcall *call = cfx_get_models(f);
    cfx_models_answer(f, false);
    assert_int_equal(call->status, 502);
    assert_string_equal(call->err.code, "proxy_error");
    assert_non_null(strstr(call->err.message, "could not list"));
    assert_true(cc_list_empty(&f->c->all));
}

/* The cached list decides whether a completion goes out at once. */
static void test_cached_model_skips_the_list(void **state)
{
    cfx *f = *state;
    static const char *const names[] = {"a@sha256:01", "b"};
    cfx_models(f, names, 2);
    cfx_post(f, "/v1/completions", "{\"model\":\"a\",\"prompt\":\"x\"}");
    cfx_post(f, "/v1/completions", "{\"model\":\"b\",\"prompt\":\"x\"}");
    cfx_post(f, "/v1/completions", "{\"model\":\"a@sha256:01\",\"prompt\":\"x\"}");
    assert_int_equal(f->n_mq, 0);
    assert_true(tl_bytes_eq_str(cfx_take_run(f, 0)->model_name, "a"));
    assert_true(tl_bytes_eq_str(cfx_take_run(f, 0)->model_name, "b"));
    assert_true(tl_bytes_eq_str(cfx_take_run(f, 0)->model_name, "a@sha256:01"));
    /* "a@sha256:02" is not "a@sha256:01": ask first. */
    cfx_post(f, "/v1/completions", "{\"model\":\"a@sha256:02\",\"prompt\":\"x\"}");
    assert_int_equal(f->n_mq, 1);
    cfx_expect_none(f);
}

static fcall *get_model(cfx *f, const char *path)
{
    assert_true(f->n_calls < CFX_MAX_CALLS);
    fcall *call = &f->calls[f->n_calls++];
    call->path = path;
    client_api_models((http_req *)(void *)call, f->c);
    return call;
}

/* GET /v1/models/{id} (the SDKs' models.retrieve): by bare or full name,
 * %-escaped; an unknown or disabled model is an OpenAI 404. */
static void test_retrieve_one_model(void **state)
{
    cfx *f = *state;
    static const char *const names[] = {"tiny@sha256:00ff", "org/m", "off"};
    static const struct {
        const char *path;
        int status;
        const char *id;
    } cases[] = {
        {"/v1/models/tiny", 200, "tiny"},     {"/v1/models/tiny@sha256:00ff", 200, "tiny"},
        {"/v1/models/org%2Fm", 200, "org/m"}, {"/v1/models/org/m", 200, "org/m"},
        {"/v1/models/off", 404, NULL},        {"/v1/models/nope", 404, NULL},
        {"/v1/models/bad%2", 404, NULL},      {"/v1/models/", 404, NULL},
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(cases); i++) {
        fcall *call = get_model(f, cases[i].path);
        if (!call->done) {
            cfx_models(f, names, 3);
            f->c->models[2].enabled = 0;
            cfx_models_answer(f, true);
        }
        if (call->status != cases[i].status)
            fail_msg("%s: status %d, want %d", cases[i].path, call->status, cases[i].status);
        if (cases[i].id) {
            json_t *j = reply_json(call);
            assert_string_equal(json_string_value(json_object_get(j, "id")), cases[i].id);
            assert_string_equal(json_string_value(json_object_get(j, "object")), "model");
            json_decref(j);
        } else {
            assert_string_equal(call->err.code, "model_not_found");
        }
    }
    assert_int_equal(f->c->stats.failed, 0);
    assert_true(cc_list_empty(&f->c->all));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CFX_TEST(test_lists_enabled_models_by_bare_name),
        CFX_TEST(test_empty_network_is_an_empty_list),
        CFX_TEST(test_asks_the_first_ready_proxy),
        CFX_TEST(test_no_proxy_is_503),
        CFX_TEST(test_failed_query_is_502),
        CFX_TEST(test_cached_model_skips_the_list),
        CFX_TEST(test_retrieve_one_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
