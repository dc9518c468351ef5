/* daemon_identity: the signing key is created once (0600), the same key and
 * wallet come back after a "restart", and damaged or exposed key files are
 * refused with the path named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/daemon.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    cc_tmp_template(dir, sizeof(dir), "daemon_identity");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/state/key.seed", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/state", dir);
    rmdir(path);
    rmdir(dir);
    return 0;
}

static void state_dir(char *out, size_t n)
{
    snprintf(out, n, "%s/state", dir);
}

static void test_created_once_and_reused(void **st)
{
    (void)st;
    char sd[300], path[400];
    state_dir(sd, sizeof(sd));
    daemon_identity a, b;
    cc_err err = {0};
    assert_int_equal(daemon_identity_load(&a, sd, "key.seed", "test", &err), 0);
    assert_true(a.persistent);
    snprintf(path, sizeof(path), "%s/key.seed", sd);
    assert_string_equal(a.path, path);
    struct stat s;
    assert_int_equal(stat(path, &s), 0);
    assert_int_equal(s.st_mode & 0777, 0600);
    assert_int_equal(s.st_size, 32);
    assert_int_equal(stat(sd, &s), 0);
    assert_int_equal(s.st_mode & 0077, 0); /* the folder is private too */

    /* A restart: the same key, so the same wallet (and contract) address. */
    assert_int_equal(daemon_identity_load(&b, sd, "key.seed", "test", &err), 0);
    assert_memory_equal(a.pub, b.pub, 32);
    json_t *ja = daemon_identity_json(&a), *jb = daemon_identity_json(&b);
    assert_string_equal(json_string_value(json_object_get(ja, "wallet_address")),
                        json_string_value(json_object_get(jb, "wallet_address")));
    assert_string_equal(json_string_value(json_object_get(ja, "public_key")),
                        json_string_value(json_object_get(jb, "public_key")));
    assert_int_equal(strlen(json_string_value(json_object_get(ja, "public_key"))), 64);
    assert_true(json_is_true(json_object_get(ja, "persistent")));
    json_decref(ja);
    json_decref(jb);
    daemon_identity_clear(&a);
    daemon_identity_clear(&b);

    /* Another state folder is another identity. */
    char other[300];
    snprintf(other, sizeof(other), "%s/other", dir);
    daemon_identity c;
    assert_int_equal(daemon_identity_load(&c, other, "key.seed", "test", &err), 0);
    assert_int_equal(daemon_identity_load(&a, sd, "key.seed", "test", &err), 0);
    assert_memory_not_equal(a.pub, c.pub, 32);
    unlink(c.path);
    rmdir(other);
    daemon_identity_clear(&a);
    daemon_identity_clear(&c);
}

static void test_ephemeral_without_state_dir(void **st)
{
    (void)st;
    daemon_identity a, b;
    cc_err err = {0};
    assert_int_equal(daemon_identity_load(&a, NULL, "key.seed", "test", &err), 0);
    assert_int_equal(daemon_identity_load(&b, NULL, "key.seed", "test", &err), 0);
    assert_false(a.persistent);
    assert_null(a.path);
    assert_memory_not_equal(a.pub, b.pub, 32);
    daemon_identity_clear(&a);
    daemon_identity_clear(&b);
}

static void test_bad_files_refused(void **st)
{
    (void)st;
    char sd[300], path[400];
    state_dir(sd, sizeof(sd));
    cc_err err = {0};
    assert_int_equal(cc_mkdirs(sd, 0700, &err), 0);
    snprintf(path, sizeof(path), "%s/key.seed", sd);
    daemon_identity a;

    assert_int_equal(cc_write_file_atomic(path, "short", 5, 0600, &err), 0);
    assert_int_equal(daemon_identity_load(&a, sd, "key.seed", "test", &err), -1);
    assert_non_null(strstr(err.msg, "32 bytes, this file has 5"));
    assert_non_null(strstr(err.msg, path));

    uint8_t key[32] = {1};
    assert_int_equal(cc_write_file_atomic(path, key, 32, 0644, &err), 0);
    assert_int_equal(daemon_identity_load(&a, sd, "key.seed", "test", &err), -1);
    assert_non_null(strstr(err.msg, "readable by its owner only"));

    /* The same bytes, private: accepted, and the key is the file's. */
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(daemon_identity_load(&a, sd, "key.seed", "test", &err), 0);
    assert_memory_equal(a.seed, key, 32);
    daemon_identity_clear(&a);
    uint8_t zero[32] = {0};
    assert_memory_equal(a.seed, zero, 32); /* wiped */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_created_once_and_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ephemeral_without_state_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
