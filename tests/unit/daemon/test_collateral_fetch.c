/* Collateral from a URL (daemon_collateral): a local http_server plays the
 * PCCS-style source. The fetched collateral reaches the watched tdx policy
 * (whose refusal of a fake quote then comes from the collateral checks, not
 * from "NotEvaluated"); a failed fetch changes nothing and is retried; the
 * refresh delay follows nextUpdate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "daemon/daemon.h"
#include "../tee_fixture.h"

static char root_dir[512];

static int make_root(void **state)
{
    (void)state;
    return tee_fixture_root_create(root_dir, sizeof(root_dir), "cocoon-collateral-fetch");
}

static int remove_root(void **state)
{
    (void)state;
    tee_fixture_root_remove(root_dir);
    return 0;
}

typedef struct pccs {
    cc_buf doc;
    int status; /* what the next requests get */
    int requests;
} pccs;

static void serve(http_req *r, void *ud)
{
    pccs *p = ud;
    p->requests++;
    if (p->status == 200)
        http_reply(r, 200, "application/json", p->doc.data, p->doc.len);
    else
        http_reply(r, p->status, "text/plain", "no", 2);
}

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs the loop until done() or the (generous) limit; a heartbeat wakes it
 * so the limit is seen even when nothing else happens. */
static void loop_until(struct event_base *base, bool (*done)(void *), void *ud, double secs)
{
    struct event *hb = event_new(base, -1, EV_PERSIST, heartbeat_cb, NULL);
    struct timeval tv = {0, 100000};
    event_add(hb, &tv);
    double end = cc_now_mono() + secs;
    while (!done(ud) && cc_now_mono() < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(hb);
}

typedef struct watch {
    daemon_collateral *c;
    pccs *p;
    uint64_t want_fetches, want_failures;
} watch;

static bool reached(void *ud)
{
    watch *w = ud;
    uint64_t f, e;
    daemon_collateral_stats(w->c, &f, &e, NULL);
    return f >= w->want_fetches && e >= w->want_failures;
}

/* Refusal reason of a fake-quote certificate under the policy. */
static void refusal(tee_policy *pol, X509 *cert, char *out, size_t n)
{
    cc_err err = {0};
    assert_int_equal(tee_verify_peer(pol, cert, NULL, &err), -1);
    snprintf(out, n, "%s", err.msg);
}

static void test_fetch_installs_and_failures_keep(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    pccs p = {.status = 404};
    const char *shared = getenv("COCOON_SHARED");
    char path[700];
    snprintf(path, sizeof(path), "%s/fixtures/tdx/dcap-qvl_sample_tdx_quote_collateral.json",
             shared ? shared : "../shared");
    cc_err err = {0};
    assert_int_equal(cc_read_file(path, &p.doc, &err), 0);
    http_server_config sc = {.host = "127.0.0.1", .port = 0};
    http_server *srv = http_server_new(base, &sc, &err);
    assert_non_null(srv);
    http_server_route(srv, "GET", "/collateral.json", serve, &p);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/collateral.json", http_server_port(srv));

    /* Policy tdx pointed at the fake root, so a fake quote gets as far as
     * the TCB evaluation. */
    tee_policy *pol = tee_policy_new(TEE_POLICY_TDX);
    X509 *root = tee_fake_root_load_cert(root_dir, &err);
    tee_policy_set_root(pol, root);
    X509_free(root);
    tee_provider *prov = tee_provider_new_fake(root_dir, "t", 1, NULL, &err);
    assert_non_null(prov);
    tee_identity *id = tee_identity_new(prov, NULL, &err);
    assert_non_null(id);
    char why[600];
    refusal(pol, id->cert, why, sizeof(why));
    assert_non_null(strstr(why, "NotEvaluated"));

    daemon_collateral *c = daemon_collateral_new(base, url, 3600, &err);
    assert_non_null(c);
    assert_int_equal(daemon_collateral_watch(c, pol, &err), 0);
    daemon_collateral_start(c);
    /* 404: a failure, the policy keeps what it had (nothing). */
    watch w = {.c = c, .p = &p, .want_failures = 1};
    loop_until(base, reached, &w, 30);
    uint64_t fetches, failures;
    daemon_collateral_stats(c, &fetches, &failures, NULL);
    assert_int_equal(fetches, 0);
    assert_int_equal(failures, 1);
    refusal(pol, id->cert, why, sizeof(why));
    assert_non_null(strstr(why, "NotEvaluated"));

    /* The retry (5 s later) gets the document: the policy now evaluates
     * with it (and refuses the fake platform on the collateral's terms). */
    p.status = 200;
    w.want_fetches = 1;
    loop_until(base, reached, &w, 60);
    time_t next;
    daemon_collateral_stats(c, &fetches, &failures, &next);
    assert_int_equal(fetches, 1);
    assert_int_equal(p.requests, 2);
    time_t want;
    assert_int_equal(tee_parse_iso_time("2025-07-19T10:00:35Z", &want, &err), 0);
    assert_true(next == want);
    refusal(pol, id->cert, why, sizeof(why));
    assert_null(strstr(why, "NotEvaluated"));
    assert_non_null(strstr(why, "collateral"));

    daemon_collateral_free(c);
    tee_identity_free(id);
    tee_provider_free(prov);
    tee_policy_free(pol);
    http_server_free(srv);
    cc_buf_free(&p.doc);
    event_base_free(base);
}

static void test_refresh_delay(void **state)
{
    (void)state;
    /* Plenty of time: the configured interval. */
    assert_true(daemon_collateral_refresh_delay(1000, 1000 + 30 * 86400, 3600) == 3600);
    /* Two hours left: after one (half the time left). */
    assert_true(daemon_collateral_refresh_delay(1000, 1000 + 7200, 3600 * 4) == 3600);
    /* Stale or about to be: retry soon, never in a busy loop. */
    assert_true(daemon_collateral_refresh_delay(1000, 900, 3600) == 5);
    assert_true(daemon_collateral_refresh_delay(1000, 1004, 3600) == 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refresh_delay),
        cmocka_unit_test(test_fetch_installs_and_failures_keep),
    };
    return cmocka_run_group_tests(tests, make_root, remove_root);
}
