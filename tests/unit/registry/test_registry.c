/* Registry loading (JSON source), allowlists and protocol-version negotiation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "registry/registry.h"

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"

static registry *load(const char *text, cc_err *err)
{
    json_t *j = cc_json_loadb(text, strlen(text), err);
    assert_non_null(j);
    registry *r = registry_from_json(j, err);
    json_decref(j);
    return r;
}

static void test_full_registry(void **state)
{
    (void)state;
    cc_err err = {0};
    registry *r = load("{\"version\": 7, \"params\": {\"price_per_token\": 100, "
                       "\"worker_fee_per_token\": 90, \"is_test\": false},"
                       "\"proxy_image_hashes\": [\"" H1 "\"],"
                       "\"worker_image_hashes\": \"any\","
                       "\"model_hashes\": [\"" H2 "\"],"
                       "\"models\": [\"tiny@sha256:00\"],"
                       "\"proxies\": [{\"address\": \"127.0.0.1:11002\", \"seqno\": 3}]}",
                       &err);
    assert_non_null(r);
    assert_int_equal(registry_version(r), 7);
    const registry_params *p = registry_get_params(r);
    assert_int_equal(p->price_per_token, 100);
    assert_int_equal(p->worker_fee_per_token, 90);
    assert_false(p->is_test);
    assert_int_equal(p->prompt_multiplier, 10000); /* default kept */

    uint8_t h1[32], h2[32], other[32];
    memset(h1, 0x11, 32);
    memset(h2, 0x22, 32);
    memset(other, 0x33, 32);
    assert_true(registry_proxy_image_allowed(r, h1));
    assert_false(registry_proxy_image_allowed(r, h2));
    assert_true(registry_worker_image_allowed(r, other)); /* "any" */
    assert_true(registry_model_hash_allowed(r, h2));
    assert_false(registry_model_hash_allowed(r, other));
    assert_true(registry_model_allowed(r, "tiny@sha256:00"));
    assert_false(registry_model_allowed(r, "tiny@sha256:01"));
    uint8_t named[32];
    crypto_sha256("tiny@sha256:00", 14, named);
    assert_true(registry_model_hash_allowed(r, named));

    assert_int_equal(registry_proxy_count(r), 1);
    assert_string_equal(registry_proxy_at(r, 0)->address, "127.0.0.1:11002");
    assert_int_equal(registry_proxy_at(r, 0)->seqno, 3);
    assert_null(registry_proxy_at(r, 0)->worker_address);
    assert_null(registry_proxy_at(r, 1));
    registry_free(r);
}

static void test_empty_list_allows_nothing(void **state)
{
    (void)state;
    cc_err err = {0};
    registry *r = load("{\"proxy_image_hashes\": [], \"worker_image_hashes\": [],"
                       "\"model_hashes\": []}",
                       &err);
    assert_non_null(r);
    uint8_t h[32] = {0};
    assert_false(registry_worker_image_allowed(r, h));
    assert_false(registry_model_allowed(r, "x"));
    registry_free(r);
}

/* Client images are optional: absent, every client passes (COCOON's
 * clients' port); listed, only the listed ones. */
static void test_client_images(void **state)
{
    (void)state;
    cc_err err = {0};
    uint8_t h1[32], h2[32];
    memset(h1, 0x11, 32);
    memset(h2, 0x22, 32);
    registry *r = load("{\"proxy_image_hashes\": [], \"worker_image_hashes\": [],"
                       "\"model_hashes\": []}",
                       &err);
    assert_non_null(r);
    assert_false(registry_lists_client_images(r));
    assert_true(registry_client_image_allowed(r, h2));
    registry_free(r);
    r = load("{\"proxy_image_hashes\": [], \"worker_image_hashes\": [],"
             "\"client_image_hashes\": [\"" H1 "\"], \"model_hashes\": []}",
             &err);
    assert_non_null(r);
    assert_true(registry_lists_client_images(r));
    assert_true(registry_client_image_allowed(r, h1));
    assert_false(registry_client_image_allowed(r, h2));
    registry_free(r);
    r = load("{\"proxy_image_hashes\": [], \"worker_image_hashes\": [],"
             "\"client_image_hashes\": \"anything\", \"model_hashes\": []}",
             &err);
    assert_null(r);
    assert_non_null(strstr(err.msg, "client_image_hashes"));
}

/* Each bad input must fail with a message naming the field. */
static void test_errors_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *needle;
    } cases[] = {
        {"{\"worker_image_hashes\": \"any\", \"model_hashes\": \"any\"}", "proxy_image_hashes"},
        {"{\"proxy_image_hashes\": \"all\", \"worker_image_hashes\": \"any\", \"model_hashes\": "
         "\"any\"}",
         "proxy_image_hashes"},
        {"{\"proxy_image_hashes\": \"any\", \"worker_image_hashes\": [\"abc\"], "
         "\"model_hashes\": \"any\"}",
         "worker_image_hashes[0]"},
        {"{\"proxy_image_hashes\": \"any\", \"worker_image_hashes\": \"any\", \"model_hashes\": "
         "[\"" H1 "\", 5]}",
         "model_hashes[1]"},
        {"{\"proxy_image_hashes\": \"any\", \"worker_image_hashes\": \"any\", \"model_hashes\": "
         "\"any\", \"params\": {\"price_per_token\": -1}}",
         "price_per_token"},
        {"{\"proxy_image_hashes\": \"any\", \"worker_image_hashes\": \"any\", \"model_hashes\": "
         "\"any\", \"params\": {\"pricee\": 1}}",
         "pricee"},
        {"{\"proxy_image_hashes\": \"any\", \"worker_image_hashes\": \"any\", \"model_hashes\": "
         "\"any\", \"params\": {\"price_per_token\": 1, \"worker_fee_per_token\": 2}}",
         "worker_fee_per_token"},
        {"{\"proxy_image_hashes\": \"any\", \"worker_image_hashes\": \"any\", \"model_hashes\": "
         "\"any\", \"proxies\": [{\"seqno\": 1}]}",
         "proxies[0]"},
        {"{\"proxy_image_hashes\": \"any\", \"worker_image_hashes\": \"any\", \"model_hashes\": "
         "\"any\", \"models\": [\"\"]}",
         "models[0]"},
        {"{\"proxy_image_hashes\": \"any\", \"worker_image_hashes\": \"any\", \"model_hashes\": "
         "\"any\", \"extra\": 1}",
         "extra"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cc_err err = {0};
        registry *r = load(cases[i].json, &err);
        if (r) fail_msg("case %zu unexpectedly accepted", i);
        if (!strstr(err.msg, cases[i].needle))
            fail_msg("case %zu: message \"%s\" does not name \"%s\"", i, err.msg, cases[i].needle);
    }
}

static void test_open_and_files(void **state)
{
    (void)state;
    cc_err err = {0};
    assert_null(registry_open("none", NULL, &err));
    assert_non_null(strstr(err.msg, "registry"));
    assert_null(registry_open("https://toncenter.com/api/v2", "x.json", &err));
    assert_non_null(strstr(err.msg, "only \"none\""));
    assert_null(registry_open("none", "/nonexistent/registry.json", &err));
    assert_non_null(strstr(err.msg, "/nonexistent/registry.json"));

    char path[512];
    cc_tmp_template(path, sizeof(path), "cocoon-registry");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "{\"proxy_image_hashes\": \"any\", \"worker_image_hashes\": \"any\",\n"
                       " \"model_hashes\": [\"zz\"]}";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_null(registry_open("none", path, &err));
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "model_hashes[0]"));
    unlink(path);
}

static void test_proto_negotiation(void **state)
{
    (void)state;
    static const struct {
        int own_min, own_max;
        bool has;
        int peer_min, peer_max;
        int want; /* -1 = refused */
    } cases[] = {
        {0, 2, true, 1, 2, 2},                           /* proxy vs worker: both speak 2 */
        {0, 2, true, 1, 1, 1},                           /* older worker */
        {1, 2, true, 0, 2, 2},                           /* client vs proxy */
        {1, 2, true, 0, 0, -1},                          /* no overlap */
        {1, 2, true, 3, 5, -1},                          /* peer too new */
        {0, 2, false, 0, 0, 0},                          /* peer without range: version 0 */
        {1, 2, false, 0, 0, -1}, {0, 2, true, 2, 1, -1}, /* empty peer range */
        {1, 3, true, 2, 9, 3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cc_err err = {0};
        int v = -7;
        int rc = registry_proto_negotiate(cases[i].own_min, cases[i].own_max, cases[i].has,
                                          cases[i].peer_min, cases[i].peer_max, &v, &err);
        if (cases[i].want < 0) {
            assert_int_equal(rc, -1);
            assert_true(err.msg[0] != 0);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(v, cases[i].want);
        }
    }
}

/* The example registry in configs/ must stay valid. */
static void test_model_base_names(void **state)
{
    (void)state;
    assert_int_equal(registry_model_base_len("qwen"), 4);
    assert_int_equal(registry_model_base_len("tiny@sha256:ab12"), 4);
    assert_int_equal(registry_model_base_len("Qwen/Qwen3-8B@5a1c:9f0e"), 13);
    assert_int_equal(registry_model_base_len("@x"), 0);
    assert_int_equal(registry_model_base_len("a@b@c"), 1); /* the first '@' */
    assert_true(registry_model_base_eq("Qwen/Qwen3-8B@5a1c:9f0e", "Qwen/Qwen3-8B"));
    assert_true(registry_model_base_eq("qwen", "qwen"));
    assert_false(registry_model_base_eq("qwen", "qwe"));
    assert_false(registry_model_base_eq("qwen@c:v", "qwen@c:v"));
    assert_false(registry_model_base_eq("qwen@c:v", "qwen@"));
}

static void test_example_registry(void **state)
{
    (void)state;
    const char *src = getenv("COCOON_SOURCE_DIR");
    if (!src) skip();
    char path[1024];
    snprintf(path, sizeof(path), "%s/configs/registry.json", src);
    cc_err err = {0};
    registry *r = registry_open("none", path, &err);
    if (!r) fail_msg("%s", err.msg);
    assert_int_equal(registry_proxy_count(r), 1);
    registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_registry), cmocka_unit_test(test_model_base_names),
        cmocka_unit_test(test_full_registry),    cmocka_unit_test(test_empty_list_allows_nothing),
        cmocka_unit_test(test_client_images),    cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_open_and_files),   cmocka_unit_test(test_proto_negotiation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
