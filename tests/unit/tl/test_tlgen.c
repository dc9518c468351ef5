/* The generator itself: schema errors fail the generation with a message
 * naming the place, and the code generated for TL features the real schema
 * does not use (tlgen_check/schema.tl) compiles and round-trips. Runs python3
 * and cc like the build does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tl/tl.h"

static char tmpdir[256];
static const char *src_dir;

static int setup(void **state)
{
    src_dir = getenv("COCOON_SOURCE_DIR");
    if (!src_dir) src_dir = ".";
    /* Scratch space inside the build tree (the test runs from any directory). */
    const char *build = getenv("COCOON_BUILD_DIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/tlgen-test-XXXXXX", build ? build : ".");
    if (!mkdtemp(tmpdir)) return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Runs tlgen on `schema`; returns its exit status and its stderr in errbuf. */
static int tlgen(const char *schema, char *errbuf, size_t errcap)
{
    char path[512], cmd[2048];
    snprintf(path, sizeof(path), "%s/s.tl", tmpdir);
    cc_err err = {0};
    assert_int_equal(cc_write_file_atomic(path, schema, strlen(schema), 0644, &err), 0);
    snprintf(cmd, sizeof(cmd), "python3 '%s/src/tl/tlgen.py' --out '%s/out' '%s' 2>'%s/err'",
             src_dir, tmpdir, path, tmpdir);
    int rc = run(cmd);
    snprintf(path, sizeof(path), "%s/err", tmpdir);
    cc_buf b = CC_BUF_INIT;
    assert_int_equal(cc_read_file(path, &b, &err), 0);
    size_t n = CC_MIN(b.len, errcap - 1);
    if (n) memcpy(errbuf, b.data, n);
    errbuf[n] = 0;
    cc_buf_free(&b);
    return rc;
}

static void expect_schema_error(const char *schema, const char *needle)
{
    char msg[2048];
    int rc = tlgen(schema, msg, sizeof(msg));
    if (rc != 1 || !strstr(msg, needle))
        fail_msg("schema '%s': rc %d, stderr '%s', expected '%s'", schema, rc, msg, needle);
}

static void test_schema_errors_fail_generation(void **state)
{
    char msg[2048];
    assert_int_equal(tlgen("a.b x:int = a.B;\n", msg, sizeof(msg)), 0);
    /* The explicit id of "a.b x:int = a.B" is its CRC: accepted. */
    char ok[128];
    snprintf(ok, sizeof(ok), "a.b#%08x x:int = a.B;\n", cc_crc32("a.b x:int = a.B", 15));
    assert_int_equal(tlgen(ok, msg, sizeof(msg)), 0);

    expect_schema_error("a.b#00000001 x:int = a.B;\n",
                        "s.tl:1: a.b: explicit id 00000001 differs from computed");
    expect_schema_error("//@pinned-id\na.b x:int = a.B;\n", "//@pinned-id without an explicit");
    expect_schema_error("a.b x:a.Unknown = a.B;\n", "s.tl:1: a.b.x: unknown type 'a.Unknown'");
    expect_schema_error("a.b x:a.unknown = a.B;\n", "unknown constructor 'a.unknown'");
    expect_schema_error("a.b x:int = a.B", "without ';'");
    expect_schema_error("a.b x:f.0?int = a.B;\n", "flags field 'f' must be a '#'");
    expect_schema_error("a.b x:int = a.B;\na.b y:int = a.B;\n", "a.b declared twice");
    expect_schema_error("//@pinned-id\na.b#00000001 = a.B;\n//@pinned-id\na.c#00000001 = a.B;\n",
                        "collides");
    expect_schema_error("a.b x:a.b = a.B;\n", "embeds itself");
    expect_schema_error("---functions---\na.f = a.B;\n---types---\na.b x:a.f = a.B;\n",
                        "is a function");
    expect_schema_error("a.b flags:# x:flags.0?true y:true = a.B;\n",
                        "'true' needs a flags condition");
    expect_schema_error("a.b x:flags.40?int = a.B;\n", "flag bit 40 > 31");
    expect_schema_error("a.b x:(vector (vector int)) = a.B;\n", "unsupported type");
    expect_schema_error("a.b x:int = Bool;\n", "cannot add constructors to Bool");
}

static void test_generated_code_for_all_features(void **state)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "python3 '%1$s/src/tl/tlgen.py' --out '%2$s/gen/tl' "
             "'%1$s/tests/unit/tl/tlgen_check/schema.tl' && "
             "cc -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter "
             "-I'%2$s/gen' -I'%1$s/src' -o '%2$s/check' '%2$s/gen/tl/tl_gen.c' "
             "'%1$s/tests/unit/tl/tlgen_check/main.c' '%1$s'/src/tl/*.c '%1$s'/src/base/*.c "
             "-ljansson -lm && '%2$s/check'",
             src_dir, tmpdir);
    assert_int_equal(run(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_errors_fail_generation),
        cmocka_unit_test(test_generated_code_for_all_features),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
