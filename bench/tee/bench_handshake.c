/* Attested connections per second over the real transport (DESIGN §4.1,
 * §5.2): TCP + PoW (difficulty 0) + TLS 1.3 with mutual RA-TLS certificates
 * + tcp.connect/connected, both ends running the verify hook. One process,
 * one event loop, connections one after another on loopback, so both ends
 * share a core: compare the rows with each other, not with other machines.
 * Rows: plain self-signed certificates with net's accept-any hook (baseline),
 * policy any with RA-TLS certificates, policy fake with the verification cache
 * (hits after the first connection), policy fake without cache (each end
 * verifies the other's quote every time).
 * usage: bench_handshake SECONDS_PER_ROW */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "net/net.h"
#include "tee/tee.h"

typedef struct run {
    struct event_base *base;
    net_listener *l;
    net_connect_config cc;
    long done, failed;
    double until;
    char last_error[256];
} run;

static void start_one(run *r);

static void on_ready(net_conn *c, void *ud)
{
    run *r = ud;
    r->done++;
    net_conn_close(c, "bench");
    start_one(r);
}

static void on_close(net_conn *c, void *ud, const char *reason)
{
    run *r = ud;
    r->failed++;
    snprintf(r->last_error, sizeof(r->last_error), "%s", reason);
    event_base_loopbreak(r->base);
}

static void on_server_close(net_conn *c, void *ud, const char *reason) {}

/* The server keeps its end until the client closes it (closing here could
 * race the client's tcp.connected). */
static void on_accept(net_listener *l, net_conn *c, void *ud)
{
    net_conn_callbacks cbs = {.on_close = on_server_close};
    net_conn_set_callbacks(c, &cbs, ud);
}

static void start_one(run *r)
{
    if (cc_now_mono() >= r->until) {
        event_base_loopbreak(r->base);
        return;
    }
    cc_err err;
    if (!net_connect(r->base, &r->cc, &err)) {
        r->failed++;
        snprintf(r->last_error, sizeof(r->last_error), "%s", err.msg);
        event_base_loopbreak(r->base);
    }
}

static void row(const char *name, net_tls_identity srv_id, net_tls_identity cli_id,
                net_verify srv_v, net_verify cli_v, double seconds, const char *note)
{
    run r = {0};
    r.base = event_base_new();
    cc_err err;
    net_listen_config lc = {.host = "127.0.0.1",
                            .port = 0,
                            .pow_difficulty = 0,
                            .identity = srv_id,
                            .verify = srv_v,
                            .on_accept = on_accept,
                            .ud = &r};
    r.l = net_listen(r.base, &lc, &err);
    if (!r.l) {
        fprintf(stderr, "listen: %s\n", err.msg);
        exit(1);
    }
    r.cc = (net_connect_config){.host = "127.0.0.1",
                                .port = net_listener_port(r.l),
                                .identity = cli_id,
                                .verify = cli_v,
                                .cbs = {.on_ready = on_ready, .on_close = on_close},
                                .ud = &r};
    double t0 = cc_now_mono();
    r.until = t0 + seconds;
    start_one(&r);
    event_base_dispatch(r.base);
    double t = cc_now_mono() - t0;
    net_listener_free(r.l);
    /* Let closing connections finish before the loop goes away. */
    event_base_loop(r.base, EVLOOP_NONBLOCK);
    event_base_free(r.base);
    if (r.failed) {
        fprintf(stderr, "%s: connection failed: %s\n", name, r.last_error);
        exit(1);
    }
    printf("{\"bench\":\"tee_handshake\",\"op\":\"%s\",\"conns_per_sec\":%.1f,\"ms_per_conn\":%.3f,"
           "\"n\":%ld,\"note\":\"%s\"}\n",
           name, r.done / t, 1e3 * t / (r.done ? r.done : 1), r.done, note);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    cc_log_init("bench", CC_LOG_WARN);
    cc_err err;
    char dir[512];
    cc_tmp_template(dir, sizeof(dir), "cocoon-bench-hs");
    if (!mkdtemp(dir) || tee_fake_root_init(dir, false, &err)) return 1;
    tee_provider *fake = tee_provider_new_fake(dir, NULL, 0, NULL, &err);
    tee_provider *none = tee_provider_new_none();
    X509 *root = tee_fake_root_load_cert(dir, &err);
    if (!fake || !root) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    tee_identity *fs = tee_identity_new(fake, NULL, &err), *fc = tee_identity_new(fake, NULL, &err);
    tee_identity *ns = tee_identity_new(none, NULL, &err), *nc = tee_identity_new(none, NULL, &err);
    net_tls_identity plain_s, plain_c;
    net_tls_identity_self_signed("bench-server", &plain_s, &err);
    net_tls_identity_self_signed("bench-client", &plain_c, &err);

    net_verify accept_any = {net_verify_accept_any, NULL, NULL};
    row("plain_tls_accept_any", plain_s, plain_c, accept_any, accept_any, seconds,
        "baseline: self-signed Ed25519, no attestation checks");

    tee_policy *any_s = tee_policy_new(TEE_POLICY_ANY), *any_c = tee_policy_new(TEE_POLICY_ANY);
    row("ratls_policy_any", (net_tls_identity){ns->key, ns->cert},
        (net_tls_identity){nc->key, nc->cert},
        (net_verify){tee_verify_peer, any_s, tee_peer_info_free},
        (net_verify){tee_verify_peer, any_c, tee_peer_info_free}, seconds,
        "RA-TLS certificates without quotes, policy any both ways");

    tee_policy *fs_pol = tee_policy_new(TEE_POLICY_FAKE), *fc_pol = tee_policy_new(TEE_POLICY_FAKE);
    tee_policy_set_root(fs_pol, root);
    tee_policy_set_root(fc_pol, root);
    net_verify vs = {tee_verify_peer, fs_pol, tee_peer_info_free};
    net_verify vc = {tee_verify_peer, fc_pol, tee_peer_info_free};
    net_tls_identity fsi = {fs->key, fs->cert}, fci = {fc->key, fc->cert};
    row("ratls_policy_fake_cache_hit", fsi, fci, vs, vc, seconds,
        "fake-TEE quotes, policy fake both ways, verification cache on (hits after the first)");
    tee_policy_set_cache_ttl(fs_pol, 0);
    tee_policy_set_cache_ttl(fc_pol, 0);
    row("ratls_policy_fake_cache_miss", fsi, fci, vs, vc, seconds,
        "fake-TEE quotes, policy fake both ways, cache off: two full quote verifications per "
        "connection");

    tee_policy_free(any_s);
    tee_policy_free(any_c);
    tee_policy_free(fs_pol);
    tee_policy_free(fc_pol);
    net_tls_identity_free(&plain_s);
    net_tls_identity_free(&plain_c);
    tee_identity_free(fs);
    tee_identity_free(fc);
    tee_identity_free(ns);
    tee_identity_free(nc);
    tee_provider_free(fake);
    tee_provider_free(none);
    X509_free(root);
    char p[600];
    snprintf(p, sizeof(p), "%s/fake_root.key", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/fake_root.pem", dir);
    unlink(p);
    rmdir(dir);
    return 0;
}
