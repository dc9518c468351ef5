/* `cocoon up`: its options and the plan (configs, registry, command lines),
 * which is pure data and needs no processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cli/up.h"

static int parse(up_opts *o, cc_err *err, char **words)
{
    int n = 0;
    while (words[n])
        n++;
    memset(err, 0, sizeof(*err));
    return up_parse_opts(n, words, o, err);
}

#define PARSE(o, err, ...) parse(o, err, (char *[]){"up", __VA_ARGS__, NULL})

static void test_options(void **state)
{
    (void)state;
    up_opts o;
    cc_err err;
    assert_int_equal(parse(&o, &err, (char *[]){"up", NULL}), 0);
    assert_int_equal(o.port, 10000);
    assert_int_equal(o.workers, 1);
    assert_string_equal(o.backend, "embedded");
    assert_string_equal(o.tee, "fake");
    assert_string_equal(o.sealing, "required");
    assert_int_equal(o.pow, 12);
    assert_int_equal(o.threads, 0);
    assert_int_equal(o.slots, 0);
    assert_null(o.model);
    assert_string_equal(o.chain, "local"); /* a network on its own chain by default */
    assert_true(o.chain_refresh == 60);
    assert_int_equal(PARSE(&o, &err, "--chain", "none", "--chain-refresh", "0.5"), 0);
    assert_string_equal(o.chain, "none");
    assert_true(o.chain_refresh == 0.5);

    assert_int_equal(PARSE(&o, &err, "--port", "0", "--workers", "3", "--backend", "openai-http",
                           "--backend-url", "http://h:1", "--model=m", "--tee", "none",
                           "--pow-difficulty", "4", "--dir", "d", "--sealing", "off"),
                     0);
    assert_string_equal(o.sealing, "off");
    assert_int_equal(o.port, 0);
    assert_int_equal(o.workers, 3);
    assert_string_equal(o.backend, "openai-http");
    assert_string_equal(o.backend_url, "http://h:1");
    assert_string_equal(o.model, "m");
    assert_string_equal(o.tee, "none");
    assert_int_equal(o.pow, 4);
    assert_string_equal(o.dir, "d");

    assert_int_equal(PARSE(&o, &err, "--workers", "2", "--help"), 0);
    assert_true(o.help);

    static const struct {
        char *words[4];
        const char *msg;
    } bad[] = {
        /* The bug this parser fixed: an unknown flag said "needs a value". */
        {{"--bogus"}, "unknown option --bogus"},
        {{"--port"}, "option --port needs a value"},
        {{"--port", "--workers", "2"}, "option --port needs a value"},
        {{"--port", "65536"}, "--port"},
        {{"--workers", "0"}, "--workers"},
        {{"--workers", "33"}, "--workers"},
        {{"--threads", "-1"}, "--threads"},
        {{"--slots", "1025"}, "--slots"},
        {{"--context", "-1"}, "--context"},
        {{"--kv-type", "q4_0"}, "--kv-type: expected f16 or q8_0"},
        {{"--context-overflow", "drop"}, "--context-overflow: expected error or shift"},
        {{"--context-keep", "all"}, "--context-keep: expected system or bos"},
        {{"--backend", "gpu"}, "--backend: expected embedded or openai-http"},
        {{"--tee", "sgx"}, "--tee: expected fake or none"},
        {{"--chain", "mainnet"}, "--chain: expected local or none"},
        {{"--chain-refresh", "0"}, "--chain-refresh"},
        {{"--chain-refresh", "1x"}, "--chain-refresh"},
        {{"--api-key", "short"}, "--api-key: use at least 8 characters"},
        {{"--sealing", "maybe"}, "--sealing: expected required, preferred or off"},
        {{"--backend-url", "http://x"}, "--backend-url needs --backend openai-http"},
        {{"extra"}, "unexpected argument \"extra\""},
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(bad); i++) {
        char *words[6] = {"up"};
        for (int k = 0; k < 4 && bad[i].words[k]; k++)
            words[k + 1] = bad[i].words[k];
        if (parse(&o, &err, words) == 0) fail_msg("case %zu accepted", i);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, bad[i].msg);
    }
}

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s) fail_msg("no string \"%s\"", key);
    return s;
}

static up_plan_input input(const up_opts *o, const char *fake_root)
{
    up_plan_input in = {.opts = o,
                        .bin_dir = "/opt/cocoon/bin",
                        .dir = "/run/net",
                        .model = "fake-model",
                        .backend_url = "http://127.0.0.1:7000",
                        .fake_root = fake_root,
                        .model_hash = "ab12",
                        .proxy_workers_port = 5001,
                        .proxy_clients_port = 5002,
                        .proxy_http_port = 5003};
    for (int i = 0; i < UP_MAX_WORKERS; i++)
        in.worker_http_port[i] = 6001 + i;
    return in;
}

static void test_plan_fake_tee(void **state)
{
    (void)state;
    up_opts o;
    cc_err err = {0};
    assert_int_equal(PARSE(&o, &err, "--workers", "2", "--backend", "openai-http", "--port", "8080",
                           "--pow-difficulty", "7", "--threads", "3", "--slots", "6", "--context",
                           "64", "--kv-type", "q8_0", "--context-overflow", "shift",
                           "--context-keep", "bos"),
                     0);
    up_plan_input in = input(&o, "/run/net/fake-tee-root");
    up_plan *p = malloc(sizeof(*p));
    assert_non_null(p);
    assert_int_equal(up_plan_build(&in, p, &err), 0);

    /* Start order and command lines. */
    assert_int_equal(p->n_daemons, 4);
    const char *names[] = {"proxy", "worker-1", "worker-2", "client"};
    const char *roles[] = {"proxy", "worker", "worker", "client"};
    for (size_t i = 0; i < 4; i++) {
        const up_daemon *d = &p->daemon[i];
        assert_string_equal(d->name, names[i]);
        assert_string_equal(d->role, roles[i]);
        char want[256];
        snprintf(want, sizeof(want), "/opt/cocoon/bin/cocoon-%s", roles[i]);
        assert_string_equal(d->argv[0], want);
        assert_string_equal(d->argv[1], "--config");
        snprintf(want, sizeof(want), "/run/net/%s.json", names[i]);
        assert_string_equal(d->argv[2], want);
        assert_null(d->argv[3]);
        /* Every daemon is attested with the network's fake root. */
        assert_string_equal(str(d->config, "tee"), "fake");
        assert_string_equal(str(d->config, "policy"), "fake");
        assert_string_equal(str(d->config, "fake_root"), "/run/net/fake-tee-root");
    }

    const json_t *pc = p->daemon[0].config;
    assert_string_equal(str(pc, "listen_workers"), "127.0.0.1:5001");
    assert_string_equal(str(pc, "listen_clients"), "127.0.0.1:5002");
    assert_string_equal(str(pc, "listen_http"), "127.0.0.1:5003");
    assert_string_equal(str(pc, "registry"), "registry.json");
    assert_int_equal(json_integer_value(json_object_get(pc, "pow_difficulty")), 7);
    assert_string_equal(str(pc, "state_dir"), "proxy-state");

    const json_t *w2 = p->daemon[2].config;
    assert_string_equal(json_string_value(json_array_get(json_object_get(w2, "proxies"), 0)),
                        "127.0.0.1:5001");
    assert_string_equal(str(w2, "listen_http"), "127.0.0.1:6002");
    assert_string_equal(str(w2, "backend"), "openai-http");
    assert_string_equal(str(w2, "backend_url"), "http://127.0.0.1:7000");
    assert_string_equal(str(w2, "model"), "fake-model");
    assert_string_equal(str(w2, "registry"), "registry.json"); /* checks the proxy's image */
    assert_int_equal(json_integer_value(json_object_get(w2, "threads")), 3);
    assert_int_equal(json_integer_value(json_object_get(w2, "slots")), 6);
    assert_int_equal(json_integer_value(json_object_get(w2, "context")), 64);
    assert_string_equal(str(w2, "kv_type"), "q8_0");
    assert_string_equal(str(w2, "context_overflow"), "shift");
    assert_string_equal(str(w2, "context_keep"), "bos");
    /* Each worker its own key and record of proxies' keys. */
    assert_string_equal(str(w2, "state_dir"), "worker-2-state");
    assert_string_equal(str(p->daemon[1].config, "state_dir"), "worker-1-state");

    const json_t *cc = p->daemon[3].config;
    assert_string_equal(str(cc, "listen_http"), "127.0.0.1:8080");
    assert_null(json_object_get(cc, "api_keys")); /* no --api-key: open */
    assert_string_equal(json_string_value(json_array_get(json_object_get(cc, "proxies"), 0)),
                        "127.0.0.1:5002");
    assert_string_equal(str(cc, "registry"), "registry.json");
    assert_string_equal(str(cc, "sealing"), "required"); /* cocoon up's default */
    assert_string_equal(str(cc, "state_dir"), "client-state");

    /* The registry lists the served model and the proxy's two addresses; the
     * image hashes are filled in once the configs are written. */
    assert_string_equal(p->registry_path, "/run/net/registry.json");
    const json_t *models = json_object_get(p->registry, "model_hashes");
    assert_int_equal(json_array_size(models), 1);
    assert_string_equal(json_string_value(json_array_get(models, 0)), "ab12");
    const json_t *proxy = json_array_get(json_object_get(p->registry, "proxies"), 0);
    assert_string_equal(str(proxy, "address"), "127.0.0.1:5002");
    assert_string_equal(str(proxy, "worker_address"), "127.0.0.1:5001");
    /* No chain given to the plan: no chain in the configs, and the free
     * mode's stake is the whole free balance, not COCOON's 1 TON. */
    for (size_t i = 0; i < p->n_daemons; i++)
        assert_null(json_object_get(p->daemon[i].config, "chain"));
    assert_int_equal(
        json_integer_value(json_object_get(p->daemon[0].config, "free_client_stake_nano")),
        100000000000LL);
    up_plan_free(p);

    /* With the local chain every daemon reads the root. */
    in.chain_url = "http://127.0.0.1:4000";
    in.root = "0:1111111111111111111111111111111111111111111111111111111111111111";
    assert_int_equal(up_plan_build(&in, p, &err), 0);
    for (size_t i = 0; i < p->n_daemons; i++) {
        const json_t *c = p->daemon[i].config;
        assert_string_equal(str(c, "chain"), "http://127.0.0.1:4000");
        assert_string_equal(str(c, "root_address"), in.root);
        assert_true(json_real_value(json_object_get(c, "chain_refresh")) == 60);
        assert_null(json_object_get(c, "free_client_stake_nano"));
    }
    up_plan_free(p);
    free(p);
}

static void test_plan_without_tee(void **state)
{
    (void)state;
    up_opts o;
    cc_err err = {0};
    assert_int_equal(PARSE(&o, &err, "--tee", "none", "--api-key", "sk-12345678"), 0);
    up_plan_input in = input(&o, NULL);
    in.backend_url = NULL; /* the embedded engine */
    in.model = "/models/m.gguf";
    up_plan *p = malloc(sizeof(*p));
    assert_non_null(p);
    assert_int_equal(up_plan_build(&in, p, &err), 0);
    assert_int_equal(p->n_daemons, 3);
    for (size_t i = 0; i < p->n_daemons; i++) {
        assert_null(json_object_get(p->daemon[i].config, "tee"));
        assert_null(json_object_get(p->daemon[i].config, "fake_root"));
    }
    const json_t *w = p->daemon[1].config;
    assert_string_equal(str(w, "backend"), "embedded");
    assert_string_equal(str(w, "model"), "/models/m.gguf");
    assert_null(json_object_get(w, "backend_url"));
    assert_null(json_object_get(w, "registry"));
    /* the engine's choices not given: the worker's defaults, not written */
    assert_null(json_object_get(w, "context_overflow"));
    assert_null(json_object_get(w, "context_keep"));
    /* --api-key: the client's config holds its SHA-256, never the key */
    const json_t *keys = json_object_get(p->daemon[2].config, "api_keys");
    assert_int_equal(json_array_size(keys), 1);
    const json_t *k = json_array_get(keys, 0);
    assert_string_equal(str(k, "name"), "up");
    assert_string_equal(str(k, "key_sha256"),
                        "db722c9c5c5fbe334dd0e95a7406d76fcde6396e9d3495edf174ad689fda5dc2");
    assert_null(json_object_get(k, "key"));
    assert_string_equal(str(p->registry, "proxy_image_hashes"), "any");
    assert_string_equal(str(p->registry, "worker_image_hashes"), "any");
    up_plan_free(p);

    /* A folder whose paths do not fit is refused, with nothing left to free. */
    char *long_dir = malloc(PATH_MAX + 10);
    memset(long_dir, 'd', PATH_MAX + 9);
    long_dir[PATH_MAX + 9] = 0;
    in.dir = long_dir;
    assert_int_equal(up_plan_build(&in, p, &err), -1);
    assert_non_null(strstr(err.msg, "path too long"));
    assert_int_equal(p->n_daemons, 0);
    assert_null(p->registry);
    free(long_dir);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_plan_fake_tee),
        cmocka_unit_test(test_plan_without_tee),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
