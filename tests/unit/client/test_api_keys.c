/* API keys: with keys configured every /v1 request needs "Authorization:
 * Bearer KEY" (401 invalid_api_key otherwise); a key past one of its budgets
 * gets 429 insufficient_quota; finished requests charge the tokens the
 * network reports to their key; /jsonstats shows each key's usage; with a
 * state_dir the usage survives a restart. */
#include "client_fixture.h"

#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"

static const char *const KEY_A = "sk-alpha-0123456789";
static const char *const KEY_B = "sk-beta-0123456789";

/* Two keys: "a" with a 100-token total budget, "b" with 30 nanoTON a day
 * (price 1 nanoTON per token at max_coefficient 4000: 4 nanoTON a token). */
static void install_keys(cfx *f)
{
    client *c = f->c;
    free(c->keys);
    c->n_keys = 2;
    c->keys = cc_calloc(2, sizeof(*c->keys));
    snprintf(c->keys[0].cfg.name, sizeof(c->keys[0].cfg.name), "a");
    crypto_sha256(KEY_A, strlen(KEY_A), c->keys[0].cfg.sha256);
    c->keys[0].cfg.budget_tokens_total = 100;
    snprintf(c->keys[1].cfg.name, sizeof(c->keys[1].cfg.name), "b");
    crypto_sha256(KEY_B, strlen(KEY_B), c->keys[1].cfg.sha256);
    c->keys[1].cfg.budget_nano_day = 30;
    c->price_per_token = 1;
}

static fcall *post_with(cfx *f, const char *auth)
{
    assert_true(f->n_calls < CFX_MAX_CALLS);
    fcall *call = &f->calls[f->n_calls++];
    call->path = "/v1/chat/completions";
    call->auth = auth;
    const char *body = "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    cc_buf_append(&call->in, body, strlen(body));
    client_api_completion((http_req *)(void *)call, f->c);
    return call;
}

/* The proxy's whole answer, with the tokens it reports. */
static void answer(cfx *f, int64_t prompt, int64_t completion)
{
    tl_int256 rid = cfx_take_run(f, 0)->request_id;
    cfx_head(f, 0, &rid, 200, "application/json", "", false);
    tl_client_queryAnswerPartEx a = TL_INIT(client_queryAnswerPartEx);
    a.request_id = rid;
    a.answer = tl_str("{}");
    a.flags = 1;
    a.final_info.hdr.id = TL_ID_client_queryFinalInfo;
    a.final_info.tokens_used.hdr.id = TL_ID_tokensUsed;
    a.final_info.tokens_used.prompt_tokens_used = prompt;
    a.final_info.tokens_used.completion_tokens_used = completion;
    a.final_info.tokens_used.total_tokens_used = prompt + completion;
    cfx_deliver(f, 0, &a.hdr);
}

static void test_no_keys_no_check(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    fcall *call = post_with(f, NULL);
    assert_false(call->done);
    answer(f, 3, 4);
    assert_int_equal(call->status, 200);
}

static void test_missing_or_wrong_key_is_401(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    install_keys(f);
    static const char *const bad[] = {NULL,
                                      "",
                                      "Bearer",
                                      "Bearer ",
                                      "Basic c2stYWxwaGE=",
                                      "Bearer sk-alpha-012345678",
                                      "Bearer sk-alpha-0123456789x"};
    for (size_t i = 0; i < CC_ARRAY_LEN(bad); i++) {
        f->n_calls = 0;
        cc_buf_free(&f->calls[0].out);
        memset(&f->calls[0], 0, sizeof(f->calls[0]));
        fcall *call = post_with(f, bad[i]);
        assert_true(call->done);
        if (call->status != 401)
            fail_msg("auth %s: status %d", bad[i] ? bad[i] : "(none)", call->status);
        assert_string_equal(call->err.code, "invalid_api_key");
        assert_string_equal(openai_error_type_for_status(401), "authentication_error");
        cc_buf_free(&call->in);
    }
    cfx_expect_none(f);
    assert_int_equal(f->c->unauthorized, CC_ARRAY_LEN(bad));
    /* /v1/models needs a key too */
    f->n_calls = 0;
    cc_buf_free(&f->calls[0].out);
    memset(&f->calls[0], 0, sizeof(f->calls[0]));
    fcall *m = &f->calls[f->n_calls++];
    m->path = "/v1/models";
    client_api_models((http_req *)(void *)m, f->c);
    assert_int_equal(m->status, 401);
    assert_int_equal(f->n_mq, 0);
}

static void test_token_budget_then_429(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    install_keys(f);
    /* 60 + 60 tokens: the second request is let through (60 < 100) and overruns */
    fcall *c1 = post_with(f, "Bearer sk-alpha-0123456789");
    answer(f, 20, 40);
    assert_int_equal(c1->status, 200);
    fcall *c2 = post_with(f, "bearer  sk-alpha-0123456789");
    answer(f, 20, 40);
    assert_int_equal(c2->status, 200);
    assert_int_equal(f->c->keys[0].tokens_total, 120);
    fcall *c3 = post_with(f, "Bearer sk-alpha-0123456789");
    assert_true(c3->done);
    assert_int_equal(c3->status, 429);
    assert_string_equal(c3->err.code, "insufficient_quota");
    assert_string_equal(c3->err.type, "insufficient_quota");
    assert_non_null(strstr(c3->err.message, "'a' has used its total token budget (120 of 100)"));
    cfx_expect_none(f);
    /* the other key is untouched */
    fcall *c4 = post_with(f, "Bearer sk-beta-0123456789");
    assert_false(c4->done);
    answer(f, 5, 3);
    assert_int_equal(c4->status, 200);
    assert_int_equal(f->c->keys[1].nano_day, 32); /* 8 tokens x 1 x 4000/1000 */
    fcall *c5 = post_with(f, "Bearer sk-beta-0123456789");
    assert_int_equal(c5->status, 429);
    assert_non_null(strstr(c5->err.message, "daily nanoTON budget (32 of 30)"));

    json_t *st = client_keys_stats(f->c);
    assert_int_equal(json_array_size(st), 2);
    json_t *a = json_array_get(st, 0);
    assert_string_equal(json_string_value(json_object_get(a, "name")), "a");
    assert_int_equal(json_integer_value(json_object_get(a, "requests")), 2);
    assert_int_equal(json_integer_value(json_object_get(a, "refused_quota")), 1);
    assert_int_equal(json_integer_value(json_object_get(a, "tokens_total")), 120);
    assert_int_equal(json_integer_value(json_object_get(a, "tokens_day")), 120);
    assert_int_equal(json_integer_value(json_object_get(a, "budget_tokens_total")), 100);
    json_t *b = json_array_get(st, 1);
    assert_int_equal(json_integer_value(json_object_get(b, "nano_day")), 32);
    assert_null(json_object_get(b, "key_sha256")); /* hashes stay inside */
    json_decref(st);
}

/* A new UTC day starts the daily figures afresh; totals stay. */
static void test_day_rolls_over(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    install_keys(f);
    fcall *c1 = post_with(f, "Bearer sk-beta-0123456789");
    answer(f, 5, 5);
    assert_int_equal(c1->status, 200);
    assert_int_equal(f->c->keys[1].nano_day, 40);
    f->c->keys[1].day -= 1; /* as if the request had been yesterday */
    fcall *c2 = post_with(f, "Bearer sk-beta-0123456789");
    assert_false(c2->done);
    answer(f, 1, 1);
    assert_int_equal(c2->status, 200);
    assert_int_equal(f->c->keys[1].nano_day, 8);
    assert_int_equal(f->c->keys[1].nano_total, 48);
}

static fcall *debuglog(cfx *f, const char *auth)
{
    fcall *g = &f->calls[f->n_calls++];
    g->path = "/request/debuglogentry";
    g->query = "request_guid=g-1";
    g->auth = auth;
    client_api_debuglog((http_req *)(void *)g, f->c);
    return g;
}

/* The debug log is read with a key too, and only by the key whose request
 * made the entry; a key past its budget may still read it. */
static void test_debug_log_needs_the_same_key(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    install_keys(f);
    f->c->keys[0].cfg.budget_tokens_total = 5;
    fcall *call = &f->calls[f->n_calls++];
    call->path = "/v1/chat/completions";
    call->auth = "Bearer sk-alpha-0123456789";
    const char *body = "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"hi\"}],\"enable_debug\":true,\"request_guid\":\"g-1\"}";
    cc_buf_append(&call->in, body, strlen(body));
    client_api_completion((http_req *)(void *)call, f->c);
    answer(f, 3, 4); /* 7 tokens: key a is now over its budget */
    assert_int_equal(call->status, 200);
    assert_int_equal(debuglog(f, NULL)->status, 401);
    assert_int_equal(debuglog(f, "Bearer nope")->status, 401);
    fcall *other = debuglog(f, "Bearer sk-beta-0123456789");
    assert_int_equal(other->status, 200);
    assert_string_equal(cfx_out(other), "{}");
    fcall *own = debuglog(f, "Bearer sk-alpha-0123456789");
    assert_int_equal(own->status, 200);
    json_t *j = json_loads(cfx_out(own), 0, NULL);
    assert_non_null(json_object_get(j, "client"));
    json_decref(j);
}

/* What a key spent is read back after a restart, so its budget still holds. */
static void test_usage_survives_restart(void **state)
{
    cfx *f = *state;
    cfx_tiny(f);
    install_keys(f);
    char dir[256];
    cc_tmp_template(dir, sizeof(dir), "cocoon-keys");
    assert_non_null(mkdtemp(dir));
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/state", dir); /* created on open */
    cc_err err = {0};
    assert_int_equal(client_keys_store_open(f->c, sub, &err), 0);
    fcall *c1 = post_with(f, "Bearer sk-alpha-0123456789");
    answer(f, 30, 40);
    assert_int_equal(c1->status, 200);
    fcall *c2 = post_with(f, "Bearer sk-beta-0123456789");
    answer(f, 2, 3);
    assert_int_equal(c2->status, 200);
    assert_true(f->c->keys_dirty); /* written FLUSH_DELAY later, or at exit */
    /* the process stops: what is pending is written */
    client_keys_store_close(f->c);
    char file[340];
    snprintf(file, sizeof(file), "%s/api_key_usage.json", sub);
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* a new process: usage starts at zero, then comes back from the file */
    install_keys(f);
    assert_int_equal(f->c->keys[0].tokens_total, 0);
    assert_int_equal(client_keys_store_open(f->c, sub, &err), 0);
    assert_int_equal(f->c->keys[0].tokens_total, 70);
    assert_int_equal(f->c->keys[0].tokens_day, 70);
    assert_int_equal(f->c->keys[1].nano_day, 20); /* 5 tokens x 1 x 4000/1000 */
    assert_int_equal(f->c->keys[1].nano_total, 20);
    fcall *c3 = post_with(f, "Bearer sk-alpha-0123456789");
    answer(f, 20, 20); /* 70 < 100: let through, and overruns */
    assert_int_equal(c3->status, 200);
    assert_int_equal(client_keys_store_flush(f->c, &err), 0);
    client_keys_store_close(f->c);
    install_keys(f);
    assert_int_equal(client_keys_store_open(f->c, sub, &err), 0);
    assert_int_equal(f->c->keys[0].tokens_total, 110);
    fcall *c4 = post_with(f, "Bearer sk-alpha-0123456789");
    assert_int_equal(c4->status, 429); /* the budget counted what was spent before */
    assert_non_null(strstr(c4->err.message, "(110 of 100)"));
    client_keys_store_close(f->c);
    /* a damaged file stops the client instead of resetting every budget */
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fputs("{\"version\":1,\"keys\":[{\"key_sha256\":\"zz\"}]}", fp);
    fclose(fp);
    install_keys(f);
    assert_int_equal(client_keys_store_open(f->c, sub, &err), -1);
    assert_non_null(strstr(err.msg, "api_key_usage.json"));
    assert_non_null(strstr(err.msg, "key_sha256"));
    client_keys_store_close(f->c);
    fp = fopen(file, "w");
    assert_non_null(fp);
    fputs("{\"version\":1,", fp);
    fclose(fp);
    assert_int_equal(client_keys_store_open(f->c, sub, &err), -1);
    assert_non_null(strstr(err.msg, "line 1"));
    client_keys_store_close(f->c);
    unlink(file);
    rmdir(sub);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        CFX_TEST(test_no_keys_no_check),
        CFX_TEST(test_missing_or_wrong_key_is_401),
        CFX_TEST(test_token_budget_then_429),
        CFX_TEST(test_day_rolls_over),
        CFX_TEST(test_debug_log_needs_the_same_key),
        CFX_TEST(test_usage_survives_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
