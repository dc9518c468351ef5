/* The worker's record of its proxies' keys: the first key is kept (and
 * survives a restart through the state folder), a different one is refused
 * with COCOON's message, and a damaged record stops the start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "worker/worker_internal.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    cc_tmp_template(dir, sizeof(dir), "worker_identity");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/worker-signing.seed", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/proxy-keys.json", dir);
    unlink(path);
    rmdir(dir);
    return 0;
}

static void test_names(void **st)
{
    (void)st;
    char name[256];
    worker_proxy_name("0:11", "0:22", "127.0.0.1:5", name, sizeof(name));
    assert_string_equal(name, "sc=0:11");
    /* Without a chain every proxy's contract is the zero address. */
    worker_proxy_name(TON_ADDR_ZERO_RAW, "0:22", "127.0.0.1:5", name, sizeof(name));
    assert_string_equal(name, "owner=0:22@127.0.0.1:5");
}

static void test_first_key_kept_across_restarts(void **st)
{
    (void)st;
    worker w = {0};
    cc_err err = {0};
    uint8_t k1[32], k2[32];
    memset(k1, 1, 32);
    memset(k2, 2, 32);
    char why[256] = "";
    assert_int_equal(worker_identity_open(&w, dir, &err), 0);
    uint8_t pub[32];
    memcpy(pub, w.ident.id.pub, 32);
    assert_true(worker_proxy_key_check(&w, "sc=0:11", k1, why, sizeof(why)));
    assert_true(worker_proxy_key_check(&w, "sc=0:11", k1, why, sizeof(why)));
    assert_true(worker_proxy_key_check(&w, "sc=0:33", k2, why, sizeof(why)));
    worker_identity_free(&w);

    /* Restarted: the same signing key, and the proxy's key is still held. */
    assert_int_equal(worker_identity_open(&w, dir, &err), 0);
    assert_memory_equal(w.ident.id.pub, pub, 32);
    assert_false(worker_proxy_key_check(&w, "sc=0:11", k2, why, sizeof(why)));
    assert_string_equal(why, "PROXY PUBLIC KEY CHANGED: was "
                             "0101010101010101010101010101010101010101010101010101010101010101 now "
                             "0202020202020202020202020202020202020202020202020202020202020202");
    assert_true(worker_proxy_key_check(&w, "sc=0:11", k1, why, sizeof(why)));
    json_t *o = json_object();
    worker_identity_json(&w, o);
    json_t *id = json_object_get(o, "identity");
    assert_int_equal(json_integer_value(json_object_get(id, "proxy_key_changes_refused")), 1);
    assert_int_equal(json_object_size(json_object_get(id, "proxy_keys")), 2);
    json_t *r = json_object_get(json_object_get(id, "refused_proxies"), "sc=0:11");
    assert_int_equal(json_integer_value(json_object_get(r, "count")), 1);
    json_decref(o);
    worker_identity_free(&w);
}

static void test_damaged_record_refused(void **st)
{
    (void)st;
    char path[512];
    snprintf(path, sizeof(path), "%s/proxy-keys.json", dir);
    static const char *const bad[] = {"[1]", "{\"sc=0:11\": \"abc\"}", "{\"x\": 5}", "{", NULL};
    static const char *const msg[] = {"top level must be a JSON object",
                                      "proxy \"sc=0:11\": the key must be 64 hex digits",
                                      "proxy \"x\": the key must be 64 hex digits", "line 1", NULL};
    for (int i = 0; bad[i]; i++) {
        cc_err err = {0};
        assert_int_equal(cc_write_file_atomic(path, bad[i], strlen(bad[i]), 0600, &err), 0);
        worker w = {0};
        assert_int_equal(worker_identity_open(&w, dir, &err), -1);
        if (!strstr(err.msg, msg[i])) fail_msg("%s: got \"%s\"", bad[i], err.msg);
        assert_non_null(strstr(err.msg, path));
        worker_identity_free(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_first_key_kept_across_restarts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_record_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
