/* daemon config helpers: the shared keys, their validation messages and the
 * proxy list, checked on real values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/daemon.h"

typedef daemon_config cfg;

/* Loads then checks; returns the first failure's rc. */
static int load(const char *text, cfg *c, cc_err *err)
{
    json_t *j = cc_json_loadb(text, strlen(text), err);
    assert_non_null(j);
    daemon_config_init(c);
    int rc = daemon_config_from_json(j, "/etc/cocoon/daemon.json", c, err);
    json_decref(j);
    if (rc == 0) rc = daemon_config_check(c, err);
    return rc;
}

static void test_defaults_and_paths(void **state)
{
    (void)state;
    cfg c;
    cc_err err = {0};
    assert_int_equal(load("{}", &c, &err), 0);
    assert_string_equal(c.tee, "none");
    assert_null(c.fake_root);
    assert_true(c.reconnect_min == 0.2);
    daemon_config_clear(&c);

    assert_int_equal(load("{\"tee\": \"fake\", \"policy\": \"fake\", \"fake_root\": \"root\", "
                          "\"registry\": \"/abs/reg.json\", \"owner_address\": \"EQx\", "
                          "\"reconnect_min\": 1.5, \"reconnect_max\": 3, \"log_level\": \"warn\"}",
                          &c, &err),
                     0);
    assert_string_equal(c.tee, "fake");
    assert_string_equal(c.policy, "fake");
    /* relative file names are taken from the config file's folder */
    assert_string_equal(c.fake_root, "/etc/cocoon/root");
    assert_string_equal(c.registry, "/abs/reg.json");
    assert_string_equal(c.owner_address, "EQx");
    assert_string_equal(c.log_level, "warn");
    assert_true(c.reconnect_min == 1.5);
    assert_true(c.reconnect_max == 3);
    daemon_config_clear(&c);
}

static void test_messages(void **state)
{
    (void)state;
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"tee\": \"sgx\"}", "field \"tee\": unknown value \"sgx\""},
        {"{\"policy\": \"none\"}", "field \"policy\": unknown value \"none\""},
        {"{\"log_level\": \"loud\"}", "field \"log_level\": unknown value \"loud\""},
        {"{\"tee\": \"fake\"}", "field \"fake_root\" is required with tee or policy \"fake\""},
        {"{\"policy\": \"fake\"}", "field \"fake_root\" is required with tee or policy \"fake\""},
        {"{\"reconnect_min\": 5, \"reconnect_max\": 2}",
         "field \"reconnect_min\" (5) exceeds \"reconnect_max\" (2)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cfg c;
        cc_err err = {0};
        assert_int_equal(load(cases[i].json, &c, &err), -1);
        assert_string_equal(err.msg, cases[i].msg);
        daemon_config_clear(&c);
    }
    /* wrong types and ranges are refused by name */
    cfg c;
    cc_err err = {0};
    assert_int_equal(load("{\"tee\": 3}", &c, &err), -1);
    assert_non_null(strstr(err.msg, "\"tee\""));
    daemon_config_clear(&c);
    assert_int_equal(load("{\"reconnect_max\": 0}", &c, &err), -1);
    assert_non_null(strstr(err.msg, "\"reconnect_max\""));
    daemon_config_clear(&c);
}

static void test_defaults_and_clear(void **state)
{
    (void)state;
    cfg c;
    daemon_config_init(&c);
    assert_string_equal(c.owner_address, "");
    assert_string_equal(c.policy, "any");
    assert_string_equal(c.log_level, "info");
    assert_null(c.registry);
    assert_true(c.reconnect_max == 10);
    cc_err err = {0};
    assert_int_equal(daemon_config_check(&c, &err), 0);
    daemon_config_clear(&c);
    assert_null(c.tee);
    assert_null(c.log_level);
    assert_true(c.reconnect_min == 0);
    daemon_config_clear(&c); /* twice is harmless */
}

/* A config struct as a role has one: its own fields and `common`. */
typedef struct {
    int64_t size;
    daemon_config common;
} role_cfg;

static void role_init(void *c)
{
    ((role_cfg *)c)->size = 1;
    daemon_config_init(&((role_cfg *)c)->common);
}

static int role_from_json(const json_t *o, const char *path, void *c, cc_err *err)
{
    role_cfg *r = c;
    if (cc_json_get_int(o, "size", false, 1, 9, &r->size, err) < 0) return -1;
    return daemon_config_from_json(o, path, &r->common, err);
}

static void test_load_file(void **state)
{
    (void)state;
    static const daemon_config_ops ops = {.size = sizeof(role_cfg),
                                          .common_offset = offsetof(role_cfg, common),
                                          .init = role_init,
                                          .from_json = role_from_json};
    char dir[256];
    cc_tmp_template(dir, sizeof(dir), "daemon_cfg");
    assert_non_null(mkdtemp(dir));
    char path[300];
    snprintf(path, sizeof(path), "%s/d.json", dir);
    role_cfg r;
    cc_err err = {0};

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"size\": 4, \"registry\": \"reg.json\", \"tee\": \"none\"}", f);
    fclose(f);
    ops.init(&r);
    assert_int_equal(daemon_config_load_file(&ops, path, &r, &err), 0);
    assert_int_equal(r.size, 4);
    char want[300];
    snprintf(want, sizeof(want), "%s/reg.json", dir);
    assert_string_equal(r.common.registry, want);
    daemon_config_clear(&r.common);

    /* a failure names the file */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"size\": 40}", f);
    fclose(f);
    ops.init(&r);
    assert_int_equal(daemon_config_load_file(&ops, path, &r, &err), -1);
    assert_true(strncmp(err.msg, path, strlen(path)) == 0);
    assert_non_null(strstr(err.msg, "\"size\""));
    daemon_config_clear(&r.common);
    remove(path);
    assert_int_equal(daemon_config_load_file(&ops, path, &r, &err), -1);
    assert_non_null(strstr(err.msg, path));
    remove(dir);
}

static json_t *parse_json(const char *text, cc_err *err)
{
    return cc_json_loadb(text, strlen(text), err);
}

static void test_proxies(void **state)
{
    (void)state;
    char **list = NULL;
    size_t n = 0;
    cc_err err = {0};
    json_t *j = parse_json("{\"proxies\": [\"127.0.0.1:1\", \"10.0.0.2:11002\"]}", &err);
    assert_non_null(j);
    assert_int_equal(daemon_proxies_from_json(j, &list, &n, &err), 0);
    json_decref(j);
    assert_int_equal(n, 2);
    assert_string_equal(list[1], "10.0.0.2:11002");
    /* absent: the list stays */
    j = json_object();
    assert_int_equal(daemon_proxies_from_json(j, &list, &n, &err), 0);
    json_decref(j);
    assert_int_equal(n, 2);

    assert_int_equal(daemon_proxies_add(&list, &n, "127.0.0.1:0", "--proxy", &err), -1);
    assert_string_equal(err.msg, "--proxy: port 0 cannot be dialled");
    assert_int_equal(daemon_proxies_add(&list, &n, "nonsense", "--proxy", &err), -1);
    assert_true(strncmp(err.msg, "--proxy: ", 9) == 0);
    assert_int_equal(n, 2);

    j = parse_json("{\"proxies\": [\"127.0.0.1:1\", 7]}", &err);
    assert_non_null(j);
    assert_int_equal(daemon_proxies_from_json(j, &list, &n, &err), -1);
    assert_string_equal(err.msg, "proxies[1] must be a \"host:port\" string");
    json_decref(j);
    j = parse_json("{\"proxies\": \"127.0.0.1:1\"}", &err);
    assert_non_null(j);
    assert_int_equal(daemon_proxies_from_json(j, &list, &n, &err), -1);
    assert_string_equal(err.msg, "field \"proxies\" must be a list of \"host:port\" strings");
    json_decref(j);
    daemon_proxies_clear(&list, &n);
    assert_null(list);
    assert_int_equal(n, 0);
}

static void test_hostport(void **state)
{
    (void)state;
    char host[16] = "127.0.0.1";
    uint16_t port = 10000;
    cc_err err = {0};
    json_t *j = parse_json("{\"listen_http\": \"0.0.0.0:9\", \"bad\": \"0.0.0.0:x\", "
                           "\"num\": 5}",
                           &err);
    assert_non_null(j);
    assert_int_equal(daemon_json_get_hostport(j, "absent", host, sizeof(host), &port, &err), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 10000);
    assert_int_equal(daemon_json_get_hostport(j, "listen_http", host, sizeof(host), &port, &err),
                     0);
    assert_string_equal(host, "0.0.0.0");
    assert_int_equal(port, 9);
    assert_int_equal(daemon_json_get_hostport(j, "bad", host, sizeof(host), &port, &err), -1);
    assert_true(strncmp(err.msg, "field \"bad\": ", 13) == 0);
    assert_int_equal(daemon_json_get_hostport(j, "num", host, sizeof(host), &port, &err), -1);
    assert_non_null(strstr(err.msg, "\"num\""));
    json_decref(j);
}

typedef struct {
    char host[64];
    uint16_t port;
    char **proxies;
    size_t n_proxies;
    char *log_level;
    int extra_seen;
} flag_cfg;

/* A daemon's own flag: --n takes a positive number. */
static int extra_flag(void *ud, const char *f, const char *v, cc_err *err)
{
    flag_cfg *c = ud;
    if (strcmp(f, "--n") != 0) return 0;
    if (!v) return 1; /* asked only whether --n is known */
    if (atoi(v) <= 0) return cc_err_set(err, "--n: must be positive");
    c->extra_seen = atoi(v);
    return 1;
}

static void test_flags(void **state)
{
    (void)state;
    flag_cfg c = {.host = "127.0.0.1", .port = 10000, .log_level = cc_strdup("info")};
    cc_err err = {0};
    daemon_proxies_add(&c.proxies, &c.n_proxies, "10.0.0.9:1", "proxies[0]", &err);
    const daemon_flag_targets t = {c.host,       sizeof(c.host), &c.port, &c.proxies,
                                   &c.n_proxies, &c.log_level,   NULL};
    char *argv[] = {"--proxy", "1.1.1.1:2", "--http",    "0.0.0.0:9",   "--n",
                    "4",       "--proxy",   "1.1.1.1:3", "--log-level", "debug"};
    assert_int_equal(daemon_flags_apply(&t, 10, argv, extra_flag, &c, &err), 0);
    /* the first --proxy replaced the configured list, the second added */
    assert_int_equal(c.n_proxies, 2);
    assert_string_equal(c.proxies[0], "1.1.1.1:2");
    assert_string_equal(c.proxies[1], "1.1.1.1:3");
    assert_string_equal(c.host, "0.0.0.0");
    assert_int_equal(c.port, 9);
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(c.extra_seen, 4);

    char *no_value[] = {"--http"};
    assert_int_equal(daemon_flags_apply(&t, 1, no_value, extra_flag, &c, &err), -1);
    assert_string_equal(err.msg, "flag --http needs a value");
    char *unknown[] = {"--colour", "red"};
    assert_int_equal(daemon_flags_apply(&t, 2, unknown, extra_flag, &c, &err), -1);
    assert_string_equal(err.msg, "unknown flag --colour");
    /* An unknown last flag is unknown, not "needs a value"; a known one
     * followed by another flag needs a value. */
    char *unknown_last[] = {"--bogus"};
    assert_int_equal(daemon_flags_apply(&t, 1, unknown_last, extra_flag, &c, &err), -1);
    assert_string_equal(err.msg, "unknown flag --bogus");
    char *own_last[] = {"--n"};
    assert_int_equal(daemon_flags_apply(&t, 1, own_last, extra_flag, &c, &err), -1);
    assert_string_equal(err.msg, "flag --n needs a value");
    char *then_flag[] = {"--proxy", "--log-level", "debug"};
    assert_int_equal(daemon_flags_apply(&t, 3, then_flag, extra_flag, &c, &err), -1);
    assert_string_equal(err.msg, "flag --proxy needs a value");
    char *config_last[] = {"--config"};
    assert_int_equal(daemon_flags_apply(&t, 1, config_last, extra_flag, &c, &err), -1);
    assert_string_equal(err.msg, "flag --config needs a value");
    char *stray[] = {"stray"};
    assert_int_equal(daemon_flags_apply(&t, 1, stray, extra_flag, &c, &err), -1);
    assert_string_equal(err.msg, "unexpected argument \"stray\"");
    char *own_flag[] = {"--n", "4"};
    assert_int_equal(daemon_flags_apply(&t, 2, own_flag, NULL, NULL, &err), -1);
    assert_string_equal(err.msg, "unknown flag --n");
    char *bad_own[] = {"--n", "0"};
    assert_int_equal(daemon_flags_apply(&t, 2, bad_own, extra_flag, &c, &err), -1);
    assert_string_equal(err.msg, "--n: must be positive");
    char *bad_http[] = {"--http", "nohost"};
    assert_int_equal(daemon_flags_apply(&t, 2, bad_http, NULL, NULL, &err), -1);
    assert_true(strncmp(err.msg, "--http: ", 8) == 0);
    char *bad_proxy[] = {"--proxy", "1.1.1.1:0"};
    assert_int_equal(daemon_flags_apply(&t, 2, bad_proxy, NULL, NULL, &err), -1);
    assert_string_equal(err.msg, "--proxy: port 0 cannot be dialled");
    /* the chain flags land in a daemon_config, and only where one is given */
    daemon_config dc;
    daemon_config_init(&dc);
    const daemon_flag_targets with_chain = {.log_level = &c.log_level, .chain = &dc};
    char *chain[] = {"--chain",
                     "http://127.0.0.1:9/api/v2",
                     "--root",
                     "0:"
                     "0000000000000000000000000000000000000000000000000000000000000001",
                     "--chain-refresh",
                     "2.5"};
    assert_int_equal(daemon_flags_apply(&with_chain, 6, chain, NULL, NULL, &err), 0);
    assert_string_equal(dc.chain, "http://127.0.0.1:9/api/v2");
    assert_true(dc.root_address[0] == '0');
    assert_true(dc.chain_refresh == 2.5);
    assert_int_equal(daemon_config_check(&dc, &err), 0);
    char *bad_refresh[] = {"--chain-refresh", "0"};
    assert_int_equal(daemon_flags_apply(&with_chain, 2, bad_refresh, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "--chain-refresh"));
    assert_int_equal(daemon_flags_apply(&t, 2, chain, NULL, NULL, &err), -1);
    assert_string_equal(err.msg, "unknown flag --chain");
    /* a chain URL needs a root that parses; anything else is neither */
    free(dc.root_address);
    dc.root_address = cc_strdup("not-an-address");
    assert_int_equal(daemon_config_check(&dc, &err), -1);
    assert_non_null(strstr(err.msg, "root_address"));
    free(dc.root_address);
    dc.root_address = NULL;
    assert_int_equal(daemon_config_check(&dc, &err), -1);
    assert_non_null(strstr(err.msg, "\"root_address\" (or --root ADDR) is required"));
    free(dc.chain);
    dc.chain = cc_strdup("tonsim");
    assert_int_equal(daemon_config_check(&dc, &err), -1);
    assert_non_null(strstr(err.msg, "neither \"none\" nor"));
    daemon_config_clear(&dc);
    /* a daemon without --http and --proxy (the proxy) leaves them unknown */
    const daemon_flag_targets only_level = {.log_level = &c.log_level};
    char *level[] = {"--log-level", "warn"};
    assert_int_equal(daemon_flags_apply(&only_level, 2, level, NULL, NULL, &err), 0);
    assert_string_equal(c.log_level, "warn");
    char *http[] = {"--http", "0.0.0.0:9"};
    assert_int_equal(daemon_flags_apply(&only_level, 2, http, NULL, NULL, &err), -1);
    assert_string_equal(err.msg, "unknown flag --http");
    char *proxy[] = {"--proxy", "1.1.1.1:2"};
    assert_int_equal(daemon_flags_apply(&only_level, 2, proxy, NULL, NULL, &err), -1);
    assert_string_equal(err.msg, "unknown flag --proxy");
    daemon_proxies_clear(&c.proxies, &c.n_proxies);
    free(c.log_level);
}

static void test_choice(void **state)
{
    (void)state;
    static const char *const allowed[] = {"a", "bb", NULL};
    cc_err err = {0};
    assert_int_equal(daemon_check_choice("k", "bb", allowed, &err), 0);
    assert_int_equal(daemon_check_choice("k", "b", allowed, &err), -1);
    assert_string_equal(err.msg, "field \"k\": unknown value \"b\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_paths),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_defaults_and_clear),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_proxies),
        cmocka_unit_test(test_choice),
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
