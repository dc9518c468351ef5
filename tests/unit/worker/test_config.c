/* cocoon-worker config: JSON, flag overrides and cross-field validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include "daemon/daemon.h"
#include "worker/worker.h"

static int parse(const char *text, worker_config *c, cc_err *err)
{
    json_t *j = cc_json_loadb(text, strlen(text), err);
    assert_non_null(j);
    worker_config_init(c);
    int rc = worker_config_from_json(j, "/srv/w/worker.json", c, err);
    json_decref(j);
    if (rc == 0) rc = worker_config_validate(c, err);
    return rc;
}

/* Secure default: a proxy off this machine needs the policy written out;
 * loopback proxies keep the default any (local test set-ups). */
static void test_remote_proxy_needs_policy(void **state)
{
    (void)state;
    worker_config c;
    cc_err err = {0};
    assert_int_equal(
        parse("{\"proxies\": [\"127.0.0.1:1\", \"10.0.0.2:7\"], \"model\": \"m.gguf\"}", &c, &err),
        -1);
    assert_non_null(strstr(err.msg, "10.0.0.2:7"));
    assert_non_null(strstr(err.msg, "names no \"policy\""));
    worker_config_clear(&c);
    assert_int_equal(parse("{\"proxies\": [\"proxy.example:7\"], \"model\": \"m.gguf\"}", &c, &err),
                     -1);
    worker_config_clear(&c);
    assert_int_equal(parse("{\"proxies\": [\"127.0.0.9:1\", \"[::1]:2\", \"localhost:3\"], "
                           "\"model\": \"m.gguf\"}",
                           &c, &err),
                     0);
    worker_config_clear(&c);
    assert_int_equal(parse("{\"proxies\": [\"10.0.0.2:7\"], \"model\": \"m.gguf\", "
                           "\"policy\": \"any\"}",
                           &c, &err),
                     0);
    assert_true(c.common.policy_explicit);
    worker_config_clear(&c);
}

/* Freshness and TCB settings: defaults, parsing and refusals. */
static void test_attestation_settings(void **state)
{
    (void)state;
    worker_config c;
    cc_err err = {0};
    assert_int_equal(parse("{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m.gguf\"}", &c, &err), 0);
    assert_int_equal(c.common.max_cert_lifetime, 86400);
    assert_int_equal(c.common.allowed_tcb, TEE_TCB_ALLOWED_DEFAULT);
    assert_null(c.common.collateral);
    worker_config_clear(&c);
    assert_int_equal(parse("{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m.gguf\", "
                           "\"max_cert_lifetime\": 7200, \"collateral\": \"pcs.json\", "
                           "\"allowed_tcb_statuses\": [\"UpToDate\"], "
                           "\"min_tcb_evaluation_data_number\": 17}",
                           &c, &err),
                     0);
    assert_int_equal(c.common.max_cert_lifetime, 7200);
    assert_string_equal(c.common.collateral, "/srv/w/pcs.json");
    assert_int_equal(c.common.allowed_tcb, 1u << TEE_TCB_UP_TO_DATE);
    assert_int_equal(c.common.min_tcb_eval_number, 17);
    worker_config_clear(&c);
    assert_int_equal(parse("{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m.gguf\", "
                           "\"allowed_tcb_statuses\": [\"Fine\"]}",
                           &c, &err),
                     -1);
    assert_non_null(strstr(err.msg, "allowed_tcb_statuses"));
    worker_config_clear(&c);
    assert_int_equal(parse("{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m.gguf\", "
                           "\"max_cert_lifetime\": 60}",
                           &c, &err),
                     -1);
    assert_non_null(strstr(err.msg, "max_cert_lifetime"));
    worker_config_clear(&c);
    assert_int_equal(parse("{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m.gguf\", "
                           "\"collateral_url\": \"https://pccs.local/c.json\", "
                           "\"collateral_refresh\": 600}",
                           &c, &err),
                     0);
    assert_string_equal(c.common.collateral_url, "https://pccs.local/c.json");
    assert_true(c.common.collateral_refresh == 600);
    worker_config_clear(&c);
    assert_int_equal(parse("{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m.gguf\", "
                           "\"collateral_url\": \"ftp://x/c.json\"}",
                           &c, &err),
                     -1);
    assert_non_null(strstr(err.msg, "collateral_url"));
    worker_config_clear(&c);
    assert_int_equal(parse("{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m.gguf\", "
                           "\"collateral_url\": \"http://x/c.json\", \"collateral\": \"c.json\"}",
                           &c, &err),
                     -1);
    assert_non_null(strstr(err.msg, "one source"));
    worker_config_clear(&c);
    /* a PCS / PCCS base URL with the platform families to ask for */
    assert_int_equal(parse("{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m.gguf\", "
                           "\"collateral_url\": \"https://pccs.local:8081\", "
                           "\"collateral_api\": \"pcs\", "
                           "\"collateral_fmspcs\": [\"b0c06f000000\", \"90C06F000000\"]}",
                           &c, &err),
                     0);
    assert_string_equal(c.common.collateral_api, "pcs");
    assert_int_equal(c.common.n_collateral_fmspcs, 2);
    assert_int_equal(c.common.collateral_fmspcs[1][0], 0x90);
    worker_config_clear(&c);
    static const char *const bad[] = {
        "\"collateral_api\": \"pcs\"",
        "\"collateral_api\": \"pccs\", \"collateral_url\": \"http://x\"",
        "\"collateral_url\": \"http://x\", \"collateral_fmspcs\": [\"b0c06f000000\"]",
        "\"collateral_url\": \"http://x\", \"collateral_api\": \"pcs\", "
        "\"collateral_fmspcs\": [\"b0c06f\"]",
        "\"collateral_url\": \"http://x\", \"collateral_api\": \"pcs\", "
        "\"collateral_fmspcs\": \"b0c06f000000\""};
    for (size_t i = 0; i < CC_ARRAY_LEN(bad); i++) {
        char text[400];
        snprintf(text, sizeof(text), "{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m.gguf\", %s}",
                 bad[i]);
        assert_int_equal(parse(text, &c, &err), -1);
        if (!strstr(err.msg, "collateral_")) fail_msg("%s: %s", bad[i], err.msg);
        worker_config_clear(&c);
    }
}

static void test_openai_http(void **state)
{
    (void)state;
    worker_config c;
    cc_err err = {0};
    assert_int_equal(
        parse("{\"proxies\": [\"127.0.0.1:11001\", \"10.0.0.2:7\"], \"backend\": "
              "\"openai-http\", \"backend_url\": \"http://127.0.0.1:8000\", "
              "\"model\": \"qwen\", \"coefficient\": 1500, \"is_test\": false, "
              "\"policy\": \"any\", \"http\": {\"allowed_hosts\": \"worker1.internal\"}, "
              "\"max_proxy_debt_nano\": 5000000, \"backend_connect_timeout\": 2.5}",
              &c, &err),
        0);
    assert_int_equal(c.max_proxy_debt_nano, 5000000);
    assert_true(c.backend_connect_timeout == 2.5);
    assert_int_equal(c.n_proxies, 2);
    assert_string_equal(c.proxies[1], "10.0.0.2:7");
    assert_string_equal(c.model, "qwen"); /* a name, not resolved as a path */
    assert_int_equal(c.coefficient, 1500);
    assert_false(c.is_test);           /* sent in worker.params instead of the default true */
    assert_int_equal(c.max_active, 0); /* auto: chosen by backend */
    assert_int_equal(c.http_port, 12000);
    /* The stats port's listener limits. */
    assert_string_equal(c.http_limits.allowed_hosts, "worker1.internal");

    char *argv[] = {"--backend",    "embedded", "--model",   "m.gguf", "--proxy", "1.2.3.4:5",
                    "--max-active", "3",        "--threads", "2",      "--slots", "5"};
    assert_int_equal(worker_config_apply_flags(&c, 12, argv, &err), 0);
    assert_int_equal(worker_config_validate(&c, &err), 0);
    assert_string_equal(c.backend, "embedded");
    assert_string_equal(c.model, "m.gguf");
    assert_int_equal(c.n_proxies, 1);
    assert_string_equal(c.proxies[0], "1.2.3.4:5");
    assert_int_equal(c.max_active, 3);
    assert_int_equal(c.threads, 2);
    assert_int_equal(c.slots, 5);
    /* The embedded engine's memory choices: defaults, then flags. */
    assert_int_equal(c.context, 0);
    assert_int_equal(c.kv_type, ENGINE_KV_F16);
    assert_int_equal(c.context_overflow, ENGINE_OVERFLOW_ERROR);
    assert_int_equal(c.context_keep, ENGINE_KEEP_SYSTEM);
    char *mem[] = {"--context",          "64",    "--kv-type",      "q8_0",
                   "--context-overflow", "shift", "--context-keep", "bos"};
    assert_int_equal(worker_config_apply_flags(&c, 8, mem, &err), 0);
    assert_int_equal(c.context, 64);
    assert_int_equal(c.kv_type, ENGINE_KV_Q8_0);
    assert_int_equal(c.context_overflow, ENGINE_OVERFLOW_SHIFT);
    assert_int_equal(c.context_keep, ENGINE_KEEP_BOS);
    char *bad_kv[] = {"--kv-type", "q4_0"};
    assert_int_equal(worker_config_apply_flags(&c, 2, bad_kv, &err), -1);
    assert_non_null(strstr(err.msg, "--kv-type: expected f16 or q8_0"));
    char *bad_ov[] = {"--context-overflow", "drop"};
    assert_int_equal(worker_config_apply_flags(&c, 2, bad_ov, &err), -1);
    assert_non_null(strstr(err.msg, "--context-overflow: expected error or shift"));
    char *bad_keep[] = {"--context-keep", "all"};
    assert_int_equal(worker_config_apply_flags(&c, 2, bad_keep, &err), -1);
    assert_non_null(strstr(err.msg, "--context-keep: expected system or bos"));

    char *bad1[] = {"--max-active", "0"};
    assert_int_equal(worker_config_apply_flags(&c, 2, bad1, &err), -1);
    assert_non_null(strstr(err.msg, "--max-active"));
    char *bad2[] = {"--frobnicate", "1"};
    assert_int_equal(worker_config_apply_flags(&c, 2, bad2, &err), -1);
    assert_non_null(strstr(err.msg, "--frobnicate"));
    char *bad3[] = {"--model"};
    assert_int_equal(worker_config_apply_flags(&c, 1, bad3, &err), -1);
    assert_non_null(strstr(err.msg, "--model"));
    worker_config_clear(&c);
}

static void test_embedded_path_is_relative_to_config(void **state)
{
    (void)state;
    worker_config c;
    cc_err err = {0};
    assert_int_equal(
        parse("{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"models/x.gguf\"}", &c, &err), 0);
    assert_string_equal(c.backend, "embedded");
    assert_string_equal(c.model, "/srv/w/models/x.gguf");
    worker_config_clear(&c);
    assert_int_equal(parse("{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m.gguf\", "
                           "\"context\": 128, \"kv_type\": \"q8_0\", "
                           "\"context_overflow\": \"shift\", \"context_keep\": \"bos\"}",
                           &c, &err),
                     0);
    assert_int_equal(c.context, 128);
    assert_int_equal(c.kv_type, ENGINE_KV_Q8_0);
    assert_int_equal(c.context_overflow, ENGINE_OVERFLOW_SHIFT);
    assert_int_equal(c.context_keep, ENGINE_KEEP_BOS);
    worker_config_clear(&c);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"model\": \"m\"}", "\"proxies\""},
        {"{\"proxies\": \"127.0.0.1:1\", \"model\": \"m\"}", "\"proxies\""},
        {"{\"proxies\": [\"127.0.0.1\"], \"model\": \"m\"}", "proxies[0]"},
        {"{\"proxies\": [\"127.0.0.1:1\", 5], \"model\": \"m\"}", "proxies[1]"},
        {"{\"proxies\": [\"127.0.0.1:0\"], \"model\": \"m\"}", "proxies[0]"},
        {"{\"proxies\": [\"127.0.0.1:1\"]}", "\"model\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"backend\": \"openai-http\", \"model\": \"m\"}",
         "\"backend_url\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"backend\": \"openai-http\", \"model\": \"m\", "
         "\"backend_url\": \"ftp://x\"}",
         "\"backend_url\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"backend\": \"gpu\", \"model\": \"m\"}", "\"backend\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"coefficient\": 0}",
         "\"coefficient\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"max_proxy_debt_nano\": -5}",
         "\"max_proxy_debt_nano\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"max_active_requests\": -1}",
         "\"max_active_requests\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"backend_connect_timeout\": 0}",
         "\"backend_connect_timeout\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"policy\": \"x\"}", "\"policy\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"reconnect_min\": 5, "
         "\"reconnect_max\": 1}",
         "\"reconnect_min\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"listen_http\": \"x\"}",
         "\"listen_http\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"modle\": 1}", "\"modle\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"kv_type\": \"f32\"}",
         "field \"kv_type\": expected f16 or q8_0"},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"kv_type\": 8}", "\"kv_type\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"context_overflow\": \"x\"}",
         "field \"context_overflow\": expected error or shift"},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"context_keep\": \"none\"}",
         "field \"context_keep\": expected system or bos"},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"context\": -1}", "\"context\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\", \"http\": {\"idle_timeout\": -1}}",
         "\"idle_timeout\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        worker_config c;
        cc_err err = {0};
        if (parse(cases[i].json, &c, &err) == 0) fail_msg("case %zu accepted", i);
        if (!strstr(err.msg, cases[i].needle))
            fail_msg("case %zu: \"%s\" lacks %s", i, err.msg, cases[i].needle);
        worker_config_clear(&c);
    }
}

/* A config error names the file, the line and column of the field, and the field. */
static void test_errors_name_file_line_field(void **state)
{
    (void)state;
    char dir[256];
    cc_tmp_template(dir, sizeof(dir), "cocoon-wcfg");
    assert_non_null(mkdtemp(dir));
    char path[300];
    snprintf(path, sizeof(path), "%s/worker.json", dir);
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\n  \"proxies\": [\"127.0.0.1:1\"],\n  \"model\": \"m\",\n  \"threads\": 5000\n}\n",
         ":4:3: field \"threads\" must be between"},
        {"{\"proxies\": [\"127.0.0.1:1\"],\n\n   \"modle\": \"m\"}",
         ":3:4: config: unknown field \"modle\""},
        {"{\"proxies\": [\"127.0.0.1:1\"], \"model\": \"m\",\n \"http\": {\n  \"idle_timeout\": "
         "-1}}",
         ":3:3: field \"http\": field \"idle_timeout\""},
        {"{\"proxies\": [\"127.0.0.1:1\",\n  \"127.0.0.1\"], \"model\": \"m\"}", ":2:3: "},
        /* a syntax error: jansson's own position */
        {"{\"proxies\": [\"127.0.0.1:1\"],\n \"model\": }", ":2:"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(cases[i].json, f);
        fclose(f);
        worker_config c;
        cc_err err = {0};
        worker_config_init(&c);
        if (worker_config_load(path, &c, &err) == 0) fail_msg("case %zu accepted", i);
        char want[400];
        snprintf(want, sizeof(want), "%s%s", path, cases[i].want);
        if (strncmp(err.msg, want, strlen(want)) != 0)
            fail_msg("case %zu: \"%s\" does not start with \"%s\"", i, err.msg, want);
        worker_config_clear(&c);
    }
    /* a validation error (after flags) names where the field is too */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"proxies\": [\"127.0.0.1:1\"],\n \"backend\": \"gpu\", \"model\": \"m\"}", f);
    fclose(f);
    worker_config c;
    cc_err err = {0};
    worker_config_init(&c);
    assert_int_equal(worker_config_load(path, &c, &err), 0);
    assert_int_equal(worker_config_validate(&c, &err), -1);
    daemon_config_error_at(path, false, &err);
    char want[400];
    snprintf(want, sizeof(want), "%s:2:2: field \"backend\": unknown value", path);
    assert_non_null(strstr(err.msg, want));
    worker_config_clear(&c);
    unlink(path);
    rmdir(dir);
}

/* The example configurations in configs/ must stay valid. */
static void test_example_configs(void **state)
{
    (void)state;
    const char *src = getenv("COCOON_SOURCE_DIR");
    if (!src) skip();
    static const char *const files[] = {"worker-openai-http.json", "worker-embedded.json"};
    for (size_t i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/configs/%s", src, files[i]);
        worker_config c;
        cc_err err = {0};
        worker_config_init(&c);
        if (worker_config_load(path, &c, &err) < 0 || worker_config_validate(&c, &err) < 0)
            fail_msg("%s: %s", files[i], err.msg);
        assert_int_equal(c.n_proxies, 1);
        /* Shipped configs attest (a TEE and policy tdx with collateral). */
        assert_string_equal(c.common.tee, "tdx");
        assert_string_equal(c.common.policy, "tdx");
        assert_non_null(c.common.collateral);
        worker_config_clear(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_configs),
        cmocka_unit_test(test_errors_name_file_line_field),
        cmocka_unit_test(test_openai_http),
        cmocka_unit_test(test_remote_proxy_needs_policy),
        cmocka_unit_test(test_attestation_settings),
        cmocka_unit_test(test_embedded_path_is_relative_to_config),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
