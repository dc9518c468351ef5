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
#include <strings.h>

#include <cmocka.h>
#include <event2/event.h>

#include "daemon/daemon.h"
#include "../tee_fixture.h"
#include "../shared_data.h"

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
    char path[700];
    shared_data_path(path, sizeof(path), "fixtures/tdx/dcap-qvl_sample_tdx_quote_collateral.json");
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

    /* The retry (5 s later) gets the document: the policy now holds it
     * (for its FMSPC, which is not the fake platform's: refused for that). */
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
    assert_int_equal(tee_policy_collateral_count(pol), 1);
    refusal(pol, id->cert, why, sizeof(why));
    assert_non_null(strstr(why, "no collateral for this platform's FMSPC"));

    daemon_collateral_free(c);
    tee_identity_free(id);
    tee_provider_free(prov);
    tee_policy_free(pol);
    http_server_free(srv);
    cc_buf_free(&p.doc);
    event_base_free(base);
}

/* A PCS / PCCS v4 API on loopback, answering from the two fixture
 * collateral documents (FMSPC b0c06f000000 and 90c06f000000). */
typedef struct pcs {
    json_t *doc[2];
    int tcb_requests;
    char last_fmspc[16];
    bool asked_fake; /* the fake platform's FMSPC was asked for */
} pcs;

static char *pct(const char *s)
{
    cc_buf b = CC_BUF_INIT;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
            cc_buf_append(&b, s, 1);
        else
            cc_buf_append_fmt(&b, "%%%02X", ch);
    }
    cc_buf_append(&b, "", 1);
    return (char *)b.data;
}

static const char *doc_str(const json_t *d, const char *k)
{
    return json_string_value(json_object_get(d, k));
}

static void reply_signed(http_req *r, const json_t *d, const char *obj, const char *field,
                         const char *chain_field, const char *header)
{
    char sig[64];
    snprintf(sig, sizeof(sig), "%s_signature", field);
    cc_buf b = CC_BUF_INIT;
    cc_buf_append_fmt(&b, "{\"%s\":%s,\"signature\":\"%s\"}", obj, doc_str(d, field),
                      doc_str(d, sig));
    char *chain = pct(doc_str(d, chain_field));
    http_reply_header(r, header, chain);
    http_reply(r, 200, "application/json", b.data, b.len);
    free(chain);
    cc_buf_free(&b);
}

static void serve_pcs(http_req *r, void *ud)
{
    pcs *p = ud;
    const char *path = http_req_path(r), *q = http_req_query(r);
    if (!strcmp(path, "/tdx/certification/v4/qe/identity")) {
        reply_signed(r, p->doc[0], "enclaveIdentity", "qe_identity", "qe_identity_issuer_chain",
                     "SGX-Enclave-Identity-Issuer-Chain");
    } else if (!strcmp(path, "/sgx/certification/v4/pckcrl")) {
        char *chain = pct(doc_str(p->doc[0], "pck_crl_issuer_chain"));
        http_reply_header(r, "SGX-PCK-CRL-Issuer-Chain", chain);
        free(chain);
        cc_buf der = CC_BUF_INIT;
        const char *hex = doc_str(p->doc[0], "pck_crl");
        assert_int_equal(cc_hex_decode_loose(hex, strlen(hex), &der, NULL), 0);
        http_reply(r, 200, "application/pkix-crl", der.data, der.len);
        cc_buf_free(&der);
    } else if (!strcmp(path, "/sgx/certification/v4/rootcacrl")) {
        const char *hex = doc_str(p->doc[0], "root_ca_crl");
        http_reply(r, 200, "text/plain", hex, strlen(hex));
    } else if (!strcmp(path, "/tdx/certification/v4/tcb") && q && !strncmp(q, "fmspc=", 6)) {
        p->tcb_requests++;
        snprintf(p->last_fmspc, sizeof(p->last_fmspc), "%s", q + 6);
        int which = !strcasecmp(q + 6, "b0c06f000000")   ? 0
                    : !strcasecmp(q + 6, "90c06f000000") ? 1
                                                         : -1;
        if (!strcasecmp(q + 6, "fa4e00000000")) p->asked_fake = true;
        if (which < 0)
            http_reply(r, 404, "text/plain", "no", 2);
        else
            reply_signed(r, p->doc[which], "tcbInfo", "tcb_info", "tcb_info_issuer_chain",
                         "TCB-Info-Issuer-Chain");
    } else {
        http_reply(r, 404, "text/plain", "no", 2);
    }
}

static void load_docs(pcs *p)
{
    const char *names[2] = {"fixtures/tdx/dcap-qvl_sample_tdx_quote_collateral.json",
                            "fixtures/tdx/dcap-qvl_sample_tdx_quote_outdated_collateral.json"};
    for (int i = 0; i < 2; i++) {
        char path[700];
        cc_err err = {0};
        shared_data_path(path, sizeof(path), names[i]);
        p->doc[i] = cc_json_load_file(path, &err);
        assert_non_null(p->doc[i]);
    }
}

static void route_pcs(http_server *srv, pcs *p)
{
    static const char *const paths[] = {
        "/tdx/certification/v4/qe/identity", "/sgx/certification/v4/pckcrl",
        "/sgx/certification/v4/rootcacrl", "/tdx/certification/v4/tcb"};
    for (size_t i = 0; i < 4; i++)
        http_server_route(srv, "GET", paths[i], serve_pcs, p);
}

typedef struct pcs_watch {
    daemon_collateral *c;
    pcs *p;
    uint64_t want_fetches;
    bool want_fake;
} pcs_watch;

static bool pcs_reached(void *ud)
{
    pcs_watch *w = ud;
    uint64_t f;
    daemon_collateral_stats(w->c, &f, NULL, NULL);
    return f >= w->want_fetches && (!w->want_fake || w->p->asked_fake);
}

/* collateral_api "pcs": the configured platform families are fetched from
 * the four PCS endpoints and put into the policy one per FMSPC; a genuine
 * platform met without collateral (the fake one here) is asked for at once;
 * a family the PCS does not know (404) leaves the others in place. */
static void test_pcs_source(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    pcs p = {0};
    cc_err err = {0};
    load_docs(&p);
    http_server_config sc = {.host = "127.0.0.1", .port = 0};
    http_server *srv = http_server_new(base, &sc, &err);
    assert_non_null(srv);
    route_pcs(srv, &p);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", http_server_port(srv));

    tee_policy *pol = tee_policy_new(TEE_POLICY_TDX);
    X509 *root = tee_fake_root_load_cert(root_dir, &err);
    tee_policy_set_root(pol, root);
    X509_free(root);
    tee_provider *prov = tee_provider_new_fake(root_dir, "t", 1, NULL, &err);
    tee_identity *id = tee_identity_new(prov, NULL, &err);
    assert_non_null(id);

    daemon_collateral *c = daemon_collateral_new(base, url, 3600, &err);
    assert_non_null(c);
    assert_int_equal(daemon_collateral_watch(c, pol, &err), 0);
    const uint8_t fmspcs[2][6] = {{0xb0, 0xc0, 0x6f, 0, 0, 0}, {0x90, 0xc0, 0x6f, 0, 0, 0}};
    assert_int_equal(daemon_collateral_use_pcs(c, fmspcs, 2, &err), 0);
    daemon_collateral_start(c);
    pcs_watch w = {.c = c, .p = &p, .want_fetches = 1};
    loop_until(base, pcs_reached, &w, 60);
    uint64_t fetches, failures;
    time_t next;
    daemon_collateral_stats(c, &fetches, &failures, &next);
    assert_int_equal(fetches, 1);
    assert_int_equal(p.tcb_requests, 2);
    assert_int_equal(tee_policy_collateral_count(pol), 2);
    assert_true(next > 0);

    /* The fake platform has none: refused, noted, and asked for. */
    char why[600];
    refusal(pol, id->cert, why, sizeof(why));
    assert_non_null(strstr(why, "no collateral for this platform's FMSPC"));
    uint8_t missing[4][6];
    assert_int_equal(tee_policy_missing_fmspcs(pol, missing, 4), 1);
    w.want_fetches = 2;
    w.want_fake = true;
    loop_until(base, pcs_reached, &w, 60);
    assert_true(p.asked_fake);
    daemon_collateral_stats(c, &fetches, &failures, NULL);
    assert_int_equal(fetches, 2);
    assert_int_equal(tee_policy_collateral_count(pol), 2);

    daemon_collateral_free(c);
    tee_identity_free(id);
    tee_provider_free(prov);
    tee_policy_free(pol);
    http_server_free(srv);
    json_decref(p.doc[0]);
    json_decref(p.doc[1]);
    event_base_free(base);
}

/* No FMSPC configured: nothing is fetched until a genuine platform is met
 * without collateral; then its family is asked for at once. */
static void test_pcs_learns_families(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    pcs p = {0};
    cc_err err = {0};
    http_server_config sc = {.host = "127.0.0.1", .port = 0};
    http_server *srv = http_server_new(base, &sc, &err);
    assert_non_null(srv);
    load_docs(&p);
    route_pcs(srv, &p);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(srv));
    tee_policy *pol = tee_policy_new(TEE_POLICY_TDX);
    X509 *root = tee_fake_root_load_cert(root_dir, &err);
    tee_policy_set_root(pol, root);
    X509_free(root);
    tee_provider *prov = tee_provider_new_fake(root_dir, "t", 1, NULL, &err);
    tee_identity *id = tee_identity_new(prov, NULL, &err);
    assert_non_null(id);
    daemon_collateral *c = daemon_collateral_new(base, url, 3600, &err);
    assert_non_null(c);
    assert_int_equal(daemon_collateral_watch(c, pol, &err), 0);
    assert_int_equal(daemon_collateral_use_pcs(c, NULL, 0, &err), 0);
    daemon_collateral_start(c);
    char why[600];
    refusal(pol, id->cert, why, sizeof(why));
    assert_non_null(strstr(why, "needs collateral"));
    /* asked for; the PCS does not know it, so the round built nothing */
    watch w = {.c = c, .want_failures = 1};
    loop_until(base, reached, &w, 60);
    assert_true(p.asked_fake);
    assert_int_equal(p.tcb_requests, 1);
    uint64_t fetches, failures;
    daemon_collateral_stats(c, &fetches, &failures, NULL);
    assert_int_equal(fetches, 0);
    assert_int_equal(failures, 1);
    assert_int_equal(tee_policy_collateral_count(pol), 0);
    daemon_collateral_free(c);
    tee_identity_free(id);
    tee_provider_free(prov);
    tee_policy_free(pol);
    http_server_free(srv);
    json_decref(p.doc[0]);
    json_decref(p.doc[1]);
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
        cmocka_unit_test(test_pcs_source),
        cmocka_unit_test(test_pcs_learns_families),
    };
    return cmocka_run_group_tests(tests, make_root, remove_root);
}
