/* Every `cocoon` command group answers bad arguments the same way: exit 2
 * with "unknown option --x" or "option --x needs a value" on stderr, and
 * --help prints the options on stdout and exits 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "../shared_data.h"

typedef int (*command)(int argc, char **argv);

typedef struct run_result {
    int rc;
    char out[8192], err[8192];
} run_result;

/* Reads what fd 1 or 2 got while redirected into f. */
static void slurp(FILE *f, char *buf, size_t n)
{
    fflush(f);
    rewind(f);
    size_t len = fread(buf, 1, n - 1, f);
    buf[len] = 0;
}

/* Runs cmd with words (NULL-terminated), capturing stdout and stderr. */
static void run(command cmd, char **words, run_result *r)
{
    int argc = 0;
    while (words[argc])
        argc++;
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);
    r->rc = cmd(argc, words);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    slurp(out, r->out, sizeof(r->out));
    slurp(err, r->err, sizeof(r->err));
    fclose(out);
    fclose(err);
}

#define RUN(cmd, r, ...) run(cmd, (char *[]){__VA_ARGS__, NULL}, r)

static void expect_usage_error(const run_result *r, const char *needle)
{
    if (r->rc != 2) fail_msg("exit %d, want 2; stderr: %s", r->rc, r->err);
    if (!strstr(r->err, needle)) fail_msg("stderr lacks \"%s\": %s", needle, r->err);
}

static void expect_help(const run_result *r, const char *needle)
{
    if (r->rc != 0) fail_msg("--help exit %d; stderr: %s", r->rc, r->err);
    if (!strstr(r->out, needle)) fail_msg("help lacks \"%s\": %s", needle, r->out);
}

static void test_unknown_options(void **state)
{
    (void)state;
    run_result *r = malloc(sizeof(*r));
    RUN(cli_cmd_up, r, "up", "--bogus");
    expect_usage_error(r, "unknown option --bogus");
    RUN(cli_cmd_engine, r, "engine", "generate", "--bogus", "1");
    expect_usage_error(r, "unknown option --bogus");
    RUN(cli_cmd_quote, r, "quote", "show", "q.bin", "--bogus");
    expect_usage_error(r, "unknown option --bogus");
    RUN(cli_cmd_cert, r, "cert", "gen", "--cert", "c", "--key", "k", "--bogus");
    expect_usage_error(r, "unknown option --bogus");
    RUN(cli_cmd_tee, r, "tee", "init-fake-root", "--dir", "d", "--bogus");
    expect_usage_error(r, "unknown option --bogus");
    RUN(cli_cmd_tee, r, "tee", "probe", "127.0.0.1:1", "--bogus");
    expect_usage_error(r, "unknown option --bogus");
    RUN(cli_cmd_ton, r, "ton", "boc", "00", "--bogus");
    expect_usage_error(r, "unknown option --bogus");
    RUN(cli_cmd_wallet, r, "wallet", "address", "--bogus");
    expect_usage_error(r, "unknown option --bogus");
    free(r);
}

static void test_missing_values(void **state)
{
    (void)state;
    run_result *r = malloc(sizeof(*r));
    RUN(cli_cmd_up, r, "up", "--workers");
    expect_usage_error(r, "option --workers needs a value");
    RUN(cli_cmd_engine, r, "engine", "bench", "--model");
    expect_usage_error(r, "option --model needs a value");
    RUN(cli_cmd_quote, r, "quote", "verify", "q.bin", "--at");
    expect_usage_error(r, "option --at needs a value");
    RUN(cli_cmd_cert, r, "cert", "show", "c.pem", "--policy", "--fake-root", "d");
    expect_usage_error(r, "option --policy needs a value");
    RUN(cli_cmd_tee, r, "tee", "fake-image-hash", "--exe");
    expect_usage_error(r, "option --exe needs a value");
    RUN(cli_cmd_tee, r, "tee", "probe", "127.0.0.1:1", "--timeout", "0");
    expect_usage_error(r, "--timeout");
    RUN(cli_cmd_wallet, r, "wallet", "address", "--keys");
    expect_usage_error(r, "option --keys needs a value");
    free(r);
}

/* The bench's phase lengths: 0 skips a phase (it used to mean the default
 * 128), and nothing left to measure is a usage error. */
static void test_engine_bench_lengths(void **state)
{
    (void)state;
    char model[4096];
    shared_data_path(model, sizeof(model), "models/stories260K.gguf");
    run_result *r = malloc(sizeof(*r));
    assert_non_null(r);
    RUN(cli_cmd_engine, r, "engine", "bench", "--model", model, "--prompt-tokens", "0",
        "--gen-tokens", "0");
    expect_usage_error(r, "nothing to measure");
    RUN(cli_cmd_engine, r, "engine", "bench", "--model", model, "--prompt-tokens", "0",
        "--gen-tokens", "4", "--reps", "1", "--threads", "1");
    if (r->rc != 0) fail_msg("exit %d; stderr: %s", r->rc, r->err);
    if (!strstr(r->out, "(0 tokens)") || !strstr(r->out, "(4 tokens)"))
        fail_msg("want a skipped prompt and 4 generated tokens: %s", r->out);
    free(r);
}

static void test_help(void **state)
{
    (void)state;
    run_result *r = malloc(sizeof(*r));
    RUN(cli_cmd_up, r, "up", "--help");
    expect_help(r, "--workers N");
    expect_help(r, "(default 10000)");
    RUN(cli_cmd_engine, r, "engine", "generate", "--help");
    expect_help(r, "--temperature T");
    expect_help(r, "(default 0.8)");
    RUN(cli_cmd_quote, r, "quote", "verify", "--help");
    expect_help(r, "--collateral FILE");
    RUN(cli_cmd_cert, r, "cert", "gen", "-h");
    expect_help(r, "--tee KIND");
    RUN(cli_cmd_tee, r, "tee", "probe", "--help");
    expect_help(r, "(default 10)");
    RUN(cli_cmd_wallet, r, "wallet", "send", "--help");
    expect_help(r, "cocoon wallet send");
    RUN(cli_cmd_root, r, "root", "show", "--help");
    expect_help(r, "cocoon root show");
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_options),
        cmocka_unit_test(test_missing_values),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_engine_bench_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
