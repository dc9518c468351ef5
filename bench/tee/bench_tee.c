/* Attestation costs (JSON lines): RA-TLS certificate verification per second
 * under policy fake with a cache miss (full quote verification: two ECDSA
 * P-256 signatures and the PCK chain) and a cache hit, the same certificate
 * under policy any (no quote verification) as the baseline, a real Intel TDX
 * quote verified against the compiled-in root, and identity generation.
 * usage: bench_tee SECONDS_PER_OP FIXTURES_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tee/tee.h"

typedef struct ctx {
    tee_policy *pol;
    X509 *cert;
    tee_quote quote;
    tee_provider *prov;
    time_t at;
} ctx;

static void op_verify_peer(ctx *c)
{
    void *info = NULL;
    cc_err err;
    if (tee_verify_peer(c->pol, c->cert, &info, &err)) {
        fprintf(stderr, "verify failed: %s\n", err.msg);
        exit(1);
    }
    tee_peer_info_free(info);
}

static void op_quote_verify(ctx *c)
{
    tee_quote_verify_opts o = {.at = c->at};
    cc_err err;
    if (tee_quote_verify(&c->quote, &o, NULL, &err)) {
        fprintf(stderr, "quote verify failed: %s\n", err.msg);
        exit(1);
    }
}

static void op_identity(ctx *c)
{
    cc_err err;
    tee_identity *id = tee_identity_new(c->prov, NULL, &err);
    if (!id) {
        fprintf(stderr, "identity failed: %s\n", err.msg);
        exit(1);
    }
    tee_identity_free(id);
}

static void run(const char *name, void (*op)(ctx *), ctx *c, double seconds, const char *note)
{
    op(c); /* warm-up */
    long n = 0;
    double t0 = cc_now_mono(), t;
    do {
        for (int i = 0; i < 16; i++)
            op(c);
        n += 16;
        t = cc_now_mono() - t0;
    } while (t < seconds);
    printf("{\"bench\":\"tee\",\"op\":\"%s\",\"ops_per_sec\":%.1f,\"us_per_op\":%.2f,"
           "\"n\":%ld,\"note\":\"%s\"}\n",
           name, n / t, 1e6 * t / n, n, note);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0.5;
    const char *fixtures = argc > 2 ? argv[2] : "../shared/fixtures/tdx";
    cc_err err;
    char dir[512];
    cc_tmp_template(dir, sizeof(dir), "cocoon-bench-tee");
    if (!mkdtemp(dir) || tee_fake_root_init(dir, false, &err)) return 1;
    ctx c = {0};
    c.prov = tee_provider_new_fake(dir, "bench", 5, NULL, &err);
    if (!c.prov) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    tee_identity *id = tee_identity_new(c.prov, NULL, &err);
    X509 *root = tee_fake_root_load_cert(dir, &err);
    c.cert = id->cert;

    c.pol = tee_policy_new(TEE_POLICY_FAKE);
    tee_policy_set_root(c.pol, root);
    tee_policy_set_cache_ttl(c.pol, 0);
    run("verify_cert_fake_cache_miss", op_verify_peer, &c, seconds,
        "policy fake, cache off: cert checks + quote signature + QE report + PCK chain");
    tee_policy_set_cache_ttl(c.pol, 600);
    run("verify_cert_fake_cache_hit", op_verify_peer, &c, seconds,
        "policy fake, cached quote result: cert checks + REPORTDATA binding");
    tee_policy_free(c.pol);
    c.pol = tee_policy_new(TEE_POLICY_ANY);
    run("verify_cert_any", op_verify_peer, &c, seconds,
        "policy any: cert checks + quote parse + REPORTDATA binding, no quote verification");
    tee_policy_free(c.pol);

    char path[600];
    snprintf(path, sizeof(path), "%s/dcap-qvl_sample_tdx_quote.bin", fixtures);
    cc_buf b = CC_BUF_INIT;
    if (cc_read_file(path, &b, &err) == 0 && tee_quote_parse(b.data, b.len, &c.quote, &err) == 0) {
        tee_parse_iso_time("2026-11-21T00:00:00Z", &c.at, &err);
        run("verify_intel_tdx_quote", op_quote_verify, &c, seconds,
            "real TDX v4 quote, Intel root, no collateral");
        tee_quote_free(&c.quote);
    }
    cc_buf_free(&b);
    run("identity_new_fake", op_identity, &c, seconds,
        "Ed25519 key + fake quote + RA-TLS certificate (start-up and rotation cost)");

    X509_free(root);
    tee_identity_free(id);
    tee_provider_free(c.prov);
    snprintf(path, sizeof(path), "%s/fake_root.key", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/fake_root.pem", dir);
    unlink(path);
    rmdir(dir);
    return 0;
}
