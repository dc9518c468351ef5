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

static void send_term(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    (*(int *)ud)++;
    raise(SIGTERM);
}

static void test_run_stops_on_signal(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    int fired = 0;
    /* a persistent timer keeps the loop busy: only the signal ends it */
    struct event *t = event_new(base, -1, EV_PERSIST, send_term, &fired);
    struct timeval tv = {0, 10000};
    event_add(t, &tv);
    daemon_run(base);
    assert_int_equal(fired, 1);
    event_free(t);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_split),
        cmocka_unit_test(test_run_stops_on_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
