/*
 * The scheduler (server.c) seen through its callbacks, on stories260K: a long prompt arriving
 * while another request generates is read a bounded chunk per round, and the generating
 * request gets a token every round meanwhile (counted in rounds, not timed).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "../shared_data.h"

typedef struct rec {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int a_tokens;     /* tokens the generating request got so far */
    int a_at_b_start; /* ... when the long prompt's request started */
    int a_at_b_token; /* ... when it got its first token (-1: not yet) */
    int done;
    int64_t b_prompt;
    engine_job_status b_status;
} rec;

static rec R;

static void a_step(void *ud, const char *text, size_t len, const engine_step *st)
{
    (void)ud, (void)text, (void)len;
    pthread_mutex_lock(&R.mu);
    R.a_tokens += st->has_token;
    pthread_cond_broadcast(&R.cv);
    pthread_mutex_unlock(&R.mu);
}

static void b_start(void *ud)
{
    (void)ud;
    pthread_mutex_lock(&R.mu);
    R.a_at_b_start = R.a_tokens;
    pthread_mutex_unlock(&R.mu);
}

static void b_step(void *ud, const char *text, size_t len, const engine_step *st)
{
    (void)ud, (void)text, (void)len;
    pthread_mutex_lock(&R.mu);
    if (st->has_token && R.a_at_b_token < 0) R.a_at_b_token = R.a_tokens;
    pthread_mutex_unlock(&R.mu);
}

static void on_done(void *ud, const engine_job_result *res)
{
    pthread_mutex_lock(&R.mu);
    if (ud) { /* the long prompt's request */
        R.b_prompt = res->usage.prompt_tokens;
        R.b_status = res->status;
    }
    R.done++;
    pthread_cond_broadcast(&R.cv);
    pthread_mutex_unlock(&R.mu);
}

static engine_request *request(const char *prompt, int64_t max_tokens)
{
    engine_request *r = cc_calloc(1, sizeof(*r));
    r->prompt = cc_strdup(prompt);
    r->max_tokens = max_tokens;
    r->sp.top_p = 1;
    r->sp.repeat_penalty = 1;
    return r;
}

/* Waits (generously: a hung scheduler fails the test instead of blocking the suite) until
 * cond holds; R.mu held. */
#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        struct timespec until;                                                                     \
        clock_gettime(CLOCK_REALTIME, &until);                                                     \
        until.tv_sec += 60;                                                                        \
        while (!(cond))                                                                            \
            if (pthread_cond_timedwait(&R.cv, &R.mu, &until)) fail_msg("timed out: %s", #cond);    \
    } while (0)

static void test_long_prompt_interleaves(void **state)
{
    (void)state;
    char path[1024];
    shared_data_path(path, sizeof(path), "models/stories260K.gguf");
    cc_err err = {0};
    engine_model *m = engine_model_load(path, &err);
    if (!m) fail_msg("load %s: %s", path, err.msg);
    engine_server_config cfg = {
        1, 2, 512, ENGINE_KV_F16, ENGINE_OVERFLOW_ERROR, ENGINE_KEEP_SYSTEM};
    engine_server *s = engine_server_new(m, &cfg, &err);
    if (!s) fail_msg("%s", err.msg);
    memset(&R, 0, sizeof(R));
    pthread_mutex_init(&R.mu, NULL);
    pthread_cond_init(&R.cv, NULL);
    R.a_at_b_token = -1;

    /* A generates (greedy, the story runs for hundreds of tokens) ... */
    engine_job_callbacks ca = {NULL, a_step, on_done}, cb = {b_start, b_step, on_done};
    engine_job *a = engine_server_submit(s, request("Once upon a time", 0), &ca, NULL);
    pthread_mutex_lock(&R.mu);
    WAIT_FOR(R.a_tokens >= 1);
    pthread_mutex_unlock(&R.mu);
    /* ... when B arrives with a prompt of about 400 tokens. */
    cc_buf long_prompt = CC_BUF_INIT;
    for (int i = 0; i < 45; i++)
        cc_buf_append_str(&long_prompt, "Lily went to the park. ");
    cc_buf_append_u8(&long_prompt, 0);
    engine_server_submit(s, request((const char *)long_prompt.data, 2), &cb, &R);
    cc_buf_free(&long_prompt);
    pthread_mutex_lock(&R.mu);
    WAIT_FOR(R.done >= 1);
    pthread_mutex_unlock(&R.mu);
    engine_job_cancel(a);
    pthread_mutex_lock(&R.mu);
    WAIT_FOR(R.done >= 2);
    pthread_mutex_unlock(&R.mu);

    assert_int_equal(R.b_status, ENGINE_JOB_OK);
    assert_true(R.b_prompt > 300);
    assert_true(R.a_at_b_token >= 0);
    /* At most 128 prompt tokens a round, and A's token in every round: B's prompt took at
     * least b_prompt / 128 rounds, and A got a token in each and in the round of B's first
     * token (read whole in one round, B's prompt would leave A 2). */
    int between = R.a_at_b_token - R.a_at_b_start;
    if (between < (int)(R.b_prompt / 128) + 1)
        fail_msg("A got %d tokens while B read its %lld prompt tokens", between,
                 (long long)R.b_prompt);
    engine_server_free(s); /* frees the model too */
    pthread_mutex_destroy(&R.mu);
    pthread_cond_destroy(&R.cv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_prompt_interleaves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
