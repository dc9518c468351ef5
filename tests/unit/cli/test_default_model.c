/*
 * Default model discovery, the checked download (exercised with file:// and
 * a refused local port, never the network), and the model identifier.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "../shared_data.h"

static const char *shared_model(void)
{
    static char path[1024];
    return shared_data_path(path, sizeof(path), "models/stories260K.gguf");
}

static void test_found(void **state)
{
    (void)state;
    char out[4096];
    cc_err err = {0};
    assert_int_equal(cli_default_model_path(out, sizeof(out), &err), 0);
    assert_non_null(strstr(out, "/stories260K.gguf"));
    char *real = realpath(shared_model(), NULL);
    assert_string_equal(out, real);
    free(real);
    /* Too small an output buffer is an error, not a truncated path. */
    setenv("COCOON_NO_DOWNLOAD", "1", 1);
    assert_int_equal(cli_default_model_path(out, 8, &err), -1);
    unsetenv("COCOON_NO_DOWNLOAD");
}

static void test_fetch(void **state)
{
    (void)state;
    /* A scratch directory in the build tree (or $TMPDIR, or here). */
    const char *base = getenv("COCOON_BUILD_DIR");
    if (!base) base = getenv("TMPDIR");
    char dir[2048];
    snprintf(dir, sizeof(dir), "%s/engine-fetch-XXXXXX", base ? base : ".");
    assert_non_null(mkdtemp(dir));
    char url[2048], out[4096], cached[4200];
    cc_err err = {0};
    /* Refused connection: a clean error. */
    assert_int_equal(
        cli_fetch_model("http://127.0.0.1:1/stories260K.gguf", dir, out, sizeof(out), &err), -1);
    assert_non_null(strstr(err.msg, "download of"));
    /* Wrong bytes (this test's own source): refused by the SHA-256 check. */
    const char *src = getenv("COCOON_SOURCE_DIR");
    if (src) {
        snprintf(url, sizeof(url), "file://%s/tests/unit/cli/test_default_model.c", src);
        assert_int_equal(cli_fetch_model(url, dir, out, sizeof(out), &err), -1);
        assert_non_null(strstr(err.msg, "SHA-256"));
    }
    snprintf(cached, sizeof(cached), "%s/stories260K.gguf", dir);
    assert_int_not_equal(access(cached, F_OK), 0);
    /* The right bytes are stored in the cache directory. */
    char *real = realpath(shared_model(), NULL);
    snprintf(url, sizeof(url), "file://%s", real);
    free(real);
    assert_int_equal(cli_fetch_model(url, dir, out, sizeof(out), &err), 0);
    assert_string_equal(out, cached);
    engine_model *m = engine_model_load(out, &err);
    assert_non_null(m);
    engine_model_free(m);
    unlink(cached);
    rmdir(dir);
}

static void test_identifier(void **state)
{
    (void)state;
    cc_err err = {0};
    char *id = engine_model_identifier(shared_model(), NULL, &err);
    assert_string_equal(id, "stories260K@sha256:" CLI_DEFAULT_MODEL_SHA256);
    free(id);
    id = engine_model_identifier(shared_model(), "story", &err);
    assert_string_equal(id, "story@sha256:" CLI_DEFAULT_MODEL_SHA256);
    free(id);
    assert_null(engine_model_identifier("/nonexistent.gguf", NULL, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_found),
        cmocka_unit_test(test_fetch),
        cmocka_unit_test(test_identifier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
