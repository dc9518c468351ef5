/* cocoon-worker --model stories260K: a model name (not a path) is found the
 * way cocoon up finds the default model, offline here: the model is already
 * in the shared models directory and downloads are disabled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "worker/worker.h"
#include "../shared_data.h"

static const char *shared_model(void)
{
    static char path[1024];
    return shared_data_path(path, sizeof(path), "models/stories260K.gguf");
}

static void test_is_name(void **state)
{
    (void)state;
    assert_true(worker_model_is_name("stories260K"));
    assert_true(worker_model_is_name("llama-3"));
    assert_false(worker_model_is_name("stories260K.gguf"));
    assert_false(worker_model_is_name("models/stories260K"));
    assert_false(worker_model_is_name("/abs/x"));
    assert_false(worker_model_is_name(""));
    assert_false(worker_model_is_name(NULL));
}

static void test_resolve_offline(void **state)
{
    (void)state;
    if (access(shared_model(), R_OK) != 0) skip();
    setenv("COCOON_NO_DOWNLOAD", "1", 1);
    char *path = NULL;
    cc_err err = {0};
    assert_int_equal(worker_model_resolve("stories260K", &path, &err), 0);
    assert_non_null(path);
    char *real = realpath(shared_model(), NULL);
    assert_string_equal(path, real);
    free(real);
    free(path);
    /* a path stays a path (the backend reports a missing file itself) */
    assert_int_equal(worker_model_resolve("/no/such/m.gguf", &path, &err), 0);
    assert_null(path);
    assert_int_equal(worker_model_resolve("models/m", &path, &err), 0);
    assert_null(path);
    /* another name is not guessed at */
    assert_int_equal(worker_model_resolve("gpt-oss", &path, &err), -1);
    assert_null(path);
    assert_non_null(strstr(err.msg, "gpt-oss"));
    assert_non_null(strstr(err.msg, "stories260K"));
    unsetenv("COCOON_NO_DOWNLOAD");
}

/* The config keeps the name as written (not made relative to its file). */
static void test_config_keeps_name(void **state)
{
    (void)state;
    cc_err err = {0};
    json_t *j =
        cc_json_loadb("{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"stories260K\"}", 52, &err);
    assert_non_null(j);
    worker_config c;
    worker_config_init(&c);
    assert_int_equal(worker_config_from_json(j, "/srv/w/worker.json", &c, &err), 0);
    assert_string_equal(c.model, "stories260K");
    worker_config_clear(&c);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_name),
        cmocka_unit_test(test_resolve_offline),
        cmocka_unit_test(test_config_keeps_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
