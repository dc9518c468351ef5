/* daemon main-loop pieces: the command-line split and the signal loop. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "daemon/daemon.h"

static void test_args_split(void **state)
{
    (void)state;
    char *argv[] = {"cocoon-worker", "--http",  "127.0.0.1:1", "--config",
                    "w.json",        "--proxy", "a:1",         "--config"};
    const char *config = NULL;
    char **rest = NULL;
    int n = -1;
    assert_int_equal(daemon_args_split(8, argv, &config, &rest, &n), 0);
    assert_string_equal(config, "w.json");
    /* the overrides keep their order; a --config without a value is left to
     * the flag parser (which names it) */
    assert_int_equal(n, 5);
    assert_string_equal(rest[0], "--http");
    assert_string_equal(rest[1], "127.0.0.1:1");
    assert_string_equal(rest[2], "--proxy");
    assert_string_equal(rest[3], "a:1");
    assert_string_equal(rest[4], "--config");
    assert_null(rest[5]);
    free(rest);

    char *help[] = {"cocoon-client", "--proxy", "a:1", "-h"};
    config = NULL;
    assert_int_equal(daemon_args_split(4, help, &config, &rest, &n), 1);
    assert_null(rest);
    assert_int_equal(n, 0);

    char *none[] = {"cocoon-client"};
    assert_int_equal(daemon_args_split(1, none, &config, &rest, &n), 0);
    assert_null(config);
    assert_int_equal(n, 0);
    assert_null(rest[0]);
    free(rest);
}

typedef struct {
    struct event_base *base;
    int ticks;
    bool gave_up;
} run_ctx;

static void send_term(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    (void)ud;
    raise(SIGTERM);
}

/* Keeps the loop busy, so that only the signal can end it; gives up after
 * a generous while so a broken daemon_run fails instead of hanging. */
static void tick(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    run_ctx *r = ud;
    if (++r->ticks < 3000) return;
    r->gave_up = true;
    event_base_loopbreak(r->base);
}

static void test_run_stops_on_signal(void **state)
{
    (void)state;
    run_ctx r = {.base = event_base_new()};
    struct event *busy = event_new(r.base, -1, EV_PERSIST, tick, &r);
    struct timeval every = cc_timeval(0.01);
    event_add(busy, &every);
    struct event *term = evtimer_new(r.base, send_term, NULL);
    struct timeval soon = cc_timeval(0.02);
    evtimer_add(term, &soon);
    daemon_run(r.base);
    assert_false(r.gave_up);
    /* the loop ended because of the signal: the busy timer is still armed */
    assert_true(event_pending(busy, EV_TIMEOUT, NULL));
    event_free(term);
    event_free(busy);
    event_base_free(r.base);
}

/* ---- daemon_main with a role that records what happens to it ---- */

typedef struct {
    int64_t level;
    bool fail_start;
    daemon_config common;
} toy_config;

typedef struct {
    struct event *term;
    int *stopped;
} toy;

static int toy_stops; /* how many daemons the test role stopped */

static void toy_init(void *c)
{
    memset(c, 0, sizeof(toy_config));
    daemon_config_init(&((toy_config *)c)->common);
}

static int toy_from_json(const json_t *o, const char *path, void *c, cc_err *err)
{
    toy_config *t = c;
    if (cc_json_get_int(o, "level", false, 0, 100, &t->level, err) < 0) return -1;
    return daemon_config_from_json(o, path, &t->common, err);
}

static int toy_flag(void *ud, const char *f, const char *v, cc_err *err)
{
    (void)err;
    if (strcmp(f, "--fail-start") != 0) return 0;
    if (!v) return 1; /* asked only whether the flag is known */
    ((toy_config *)ud)->fail_start = !strcmp(v, "yes");
    return 1;
}

static int toy_flags(void *c, int argc, char **argv, cc_err *err)
{
    const daemon_flag_targets t = {.log_level = &((toy_config *)c)->common.log_level};
    return daemon_flags_apply(&t, argc, argv, toy_flag, c, err);
}

static int toy_validate(const void *c, cc_err *err)
{
    const toy_config *t = c;
    if (t->level > 10) return cc_err_set(err, "level too high");
    return daemon_config_check(&t->common, err);
}

static void toy_clear(void *c)
{
    daemon_config_clear(&((toy_config *)c)->common);
}

static void *toy_start(struct event_base *base, const void *c, cc_err *err)
{
    if (((const toy_config *)c)->fail_start) {
        cc_err_set(err, "cannot start");
        return NULL;
    }
    toy *t = cc_calloc(1, sizeof(*t));
    t->term = evtimer_new(base, send_term, NULL);
    struct timeval soon = cc_timeval(0.01);
    evtimer_add(t->term, &soon);
    return t;
}

static void toy_stop(void *d)
{
    toy *t = d;
    event_free(t->term);
    free(t);
    toy_stops++;
}

static const daemon_config_ops toy_ops = {sizeof(toy_config), offsetof(toy_config, common),
                                          toy_init,           toy_from_json,
                                          toy_flags,          toy_validate,
                                          toy_clear};

static int toy_main(bool required, int argc, char **argv)
{
    const daemon_role role = {.name = "toy",
                              .usage = "usage: cocoon-toy --config FILE\n",
                              .config_required = required,
                              .config = &toy_ops,
                              .start = toy_start,
                              .stop = toy_stop};
    return daemon_main(&role, argc, argv);
}

static void test_main(void **state)
{
    (void)state;
    char dir[256];
    cc_tmp_template(dir, sizeof(dir), "daemon_main");
    assert_non_null(mkdtemp(dir));
    char good[300], high[300];
    snprintf(good, sizeof(good), "%s/good.json", dir);
    snprintf(high, sizeof(high), "%s/high.json", dir);
    FILE *f = fopen(good, "w");
    assert_non_null(f);
    fputs("{\"level\": 3, \"log_level\": \"warn\"}", f);
    fclose(f);
    f = fopen(high, "w");
    assert_non_null(f);
    fputs("{\"level\": 30}", f);
    fclose(f);

    char *help[] = {"cocoon-toy", "--help"};
    assert_int_equal(toy_main(true, 2, help), 0);
    /* a bad command line or config: 2, and nothing started */
    char *none[] = {"cocoon-toy"};
    assert_int_equal(toy_main(true, 1, none), 2);
    char *too_high[] = {"cocoon-toy", "--config", high};
    assert_int_equal(toy_main(false, 3, too_high), 2);
    char *unknown[] = {"cocoon-toy", "--config", good, "--colour", "red"};
    assert_int_equal(toy_main(false, 5, unknown), 2);
    char *bad_level[] = {"cocoon-toy", "--config", good, "--log-level", "loud"};
    assert_int_equal(toy_main(false, 5, bad_level), 2);
    char *missing[] = {"cocoon-toy", "--config", "no-such-file.json"};
    assert_int_equal(toy_main(false, 3, missing), 2);
    assert_int_equal(toy_stops, 0);
    /* the daemon cannot start: 1 */
    char *fail[] = {"cocoon-toy", "--config", good, "--fail-start", "yes"};
    assert_int_equal(toy_main(true, 5, fail), 1);
    assert_int_equal(toy_stops, 0);
    /* started, stopped by SIGTERM: 0, after stop() */
    char *run[] = {"cocoon-toy", "--config", good};
    assert_int_equal(toy_main(true, 3, run), 0);
    assert_int_equal(toy_stops, 1);
    /* no --config is fine for a role that does not require one */
    assert_int_equal(toy_main(false, 1, none), 0);
    assert_int_equal(toy_stops, 2);
    remove(good);
    remove(high);
    remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_split),
        cmocka_unit_test(test_run_stops_on_signal),
        cmocka_unit_test(test_main),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
