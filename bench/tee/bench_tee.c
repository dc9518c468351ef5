/* Attestation costs (JSON lines), one thread (one core): RA-TLS certificate
 * verification per second under policy fake with caches off (full quote
 * verification: two ECDSA P-256 signatures and the PCK chain), with a warm
 * platform cache (a new quote from a known platform: one ECDSA verification),
 * with the whole quote cached, and the refusals (forged quote, no quote) that
 * must cost less than acceptance; the same certificate under policy any as the
 * baseline; a real Intel TDX quote verified against the compiled-in root
 * (cold, warm platform cache, forged, with collateral); identity generation.
 * usage: bench_tee SECONDS_PER_OP FIXTURES_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tee/tee.h"

#define ROTATING_CERTS 320 /* more than the quote cache's 256 slots */

typedef struct ctx {
    tee_policy *pol;
    X509 *cert;
    X509 *certs[ROTATING_CERTS]; /* distinct quotes from one platform */
    size_t next;
    tee_quote quote;
    tee_provider *prov;
    time_t at;
    const tee_collateral *collateral;
    tee_verify_cache *cache;
    X509 *root; /* Intel's, parsed once as the policy does */
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

static void op_verify_peer_rotating(ctx *c)
{
    void *info = NULL;
    cc_err err;
    if (tee_verify_peer(c->pol, c->certs[c->next++ % ROTATING_CERTS], &info, &err)) {
        fprintf(stderr, "verify failed: %s\n", err.msg);
        exit(1);
    }
    tee_peer_info_free(info);
}

static void op_verify_peer_refused(ctx *c)
{
    cc_err err;
    if (tee_verify_peer(c->pol, c->cert, NULL, &err) == 0) {
        fprintf(stderr, "a certificate that should be refused was accepted\n");
        exit(1);
    }
    if (getenv("BENCH_TEE_VERBOSE")) fprintf(stderr, "refused: %s\n", err.msg);
}

static void op_quote_verify(ctx *c)
{
    tee_quote_verify_opts o = {
        .root = c->root, .at = c->at, .collateral = c->collateral, .cache = c->cache};
    cc_err err;
    if (tee_quote_verify(&c->quote, &o, NULL, &err)) {
        fprintf(stderr, "quote verify failed: %s\n", err.msg);
        exit(1);
    }
}

static void op_quote_refused(ctx *c)
{
    tee_quote_verify_opts o = {
        .root = c->root, .at = c->at, .collateral = c->collateral, .cache = c->cache};
    cc_err err;
    if (tee_quote_verify(&c->quote, &o, NULL, &err) == 0) {
        fprintf(stderr, "a forged quote was accepted\n");
        exit(1);
    }
}

/* The certificate of id with one byte of its quote's TD body flipped (MRTD):
 * still bound to the key, but the quote signature no longer verifies. */
static X509 *forged_cert(const tee_identity *id)
{
    cc_buf claims = CC_BUF_INIT, quote = CC_BUF_INIT;
    bool has_quote = false;
    cc_err err;
    X509 *x = NULL;
    if (tee_cert_extract(id->cert, &claims, &quote, &has_quote, &err) == 0 && has_quote &&
        quote.len > 200) {
        quote.data[TEE_QUOTE_HEADER_LEN + 136] ^= 1;
        x = tee_cert_build(id->key, claims.data, claims.len, quote.data, quote.len, time(NULL),
                           3600, &err);
    }
    cc_buf_free(&claims);
    cc_buf_free(&quote);
    if (!x) {
        fprintf(stderr, "cannot build the forged certificate\n");
        exit(1);
    }
    return x;
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

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Rates are per CPU second of this thread (one core), so a loaded machine
 * slows the run but not the figure; wall time is printed beside it. */
static void run(const char *name, void (*op)(ctx *), ctx *c, double seconds, const char *note)
{
    op(c); /* warm-up */
    long n = 0;
    double w0 = cc_now_mono(), t0 = cpu_now(), t;
    do {
        for (int i = 0; i < 16; i++)
            op(c);
        n += 16;
        t = cpu_now() - t0;
    } while (t < seconds);
    double wall = cc_now_mono() - w0;
    printf("{\"bench\":\"tee\",\"op\":\"%s\",\"ops_per_cpu_sec\":%.1f,\"cpu_us_per_op\":%.2f,"
           "\"wall_us_per_op\":%.2f,\"n\":%ld,\"note\":\"%s\"}\n",
           name, n / t, 1e6 * t / n, 1e6 * wall / n, n, note);
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
        "policy fake, caches off: cert checks + quote signature + QE report + PCK chain");
    tee_policy_set_cache_ttl(c.pol, 600);
    run("verify_cert_fake_cache_hit", op_verify_peer, &c, seconds,
        "policy fake, cached quote result: cert checks + REPORTDATA binding");
    for (int i = 0; i < ROTATING_CERTS; i++) {
        tee_identity *other = tee_identity_new(c.prov, NULL, &err);
        if (!other) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        c.certs[i] = other->cert;
        X509_up_ref(c.certs[i]);
        tee_identity_free(other);
    }
    run("verify_cert_fake_platform_warm", op_verify_peer_rotating, &c, seconds,
        "policy fake, 320 distinct quotes of one platform, platform cache warm: cert checks + "
        "one quote signature");
    X509 *forged = forged_cert(id);
    c.cert = forged;
    run("refuse_cert_fake_forged_quote", op_verify_peer_refused, &c, seconds,
        "policy fake, quote with a flipped MRTD byte: refused at the quote signature");
    tee_provider *none = tee_provider_new_none();
    tee_identity *bare = tee_identity_new(none, NULL, &err);
    c.cert = bare->cert;
    run("refuse_cert_fake_no_quote", op_verify_peer_refused, &c, seconds,
        "policy fake, certificate without a quote: refused before any signature work");
    c.cert = id->cert;
    tee_identity_free(bare);
    tee_provider_free(none);
    X509_free(forged);
    for (int i = 0; i < ROTATING_CERTS; i++)
        X509_free(c.certs[i]);
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
        c.root = tee_intel_root_ca();
        run("verify_intel_tdx_quote", op_quote_verify, &c, seconds,
            "real TDX v4 quote, Intel root, no collateral, no cache");
        c.cache = tee_verify_cache_new(600);
        run("verify_intel_tdx_quote_platform_warm", op_quote_verify, &c, seconds,
            "real TDX v4 quote, platform cache warm: QE binding + quote signature");
        tee_verify_cache_free(c.cache);
        c.cache = NULL;
        snprintf(path, sizeof(path), "%s/dcap-qvl_sample_tdx_quote_collateral.json", fixtures);
        tee_collateral *col = tee_collateral_load(path, &err);
        if (col) {
            c.collateral = col;
            tee_parse_iso_time("2025-06-20T00:00:00Z", &c.at, &err);
            run("verify_intel_tdx_quote_collateral", op_quote_verify, &c, seconds,
                "real TDX v4 quote with collateral (TCB info, QE identity, CRLs), no cache");
            c.cache = tee_verify_cache_new(600);
            run("verify_intel_tdx_quote_collateral_platform_warm", op_quote_verify, &c, seconds,
                "real TDX v4 quote with collateral, platform cache warm");
            tee_verify_cache_free(c.cache);
            c.cache = NULL;
            c.collateral = NULL;
            tee_collateral_free(col);
            tee_parse_iso_time("2026-11-21T00:00:00Z", &c.at, &err);
        }
        tee_quote_free(&c.quote);
        b.data[TEE_QUOTE_HEADER_LEN + 136] ^= 1; /* MRTD */
        if (tee_quote_parse(b.data, b.len, &c.quote, &err) == 0) {
            run("refuse_intel_tdx_quote_forged", op_quote_refused, &c, seconds,
                "real TDX v4 quote with a flipped MRTD byte, no cache: refused at the quote "
                "signature (key import + one ECDSA verification)");
            tee_quote_free(&c.quote);
        }
        b.data[TEE_QUOTE_HEADER_LEN + 136] ^= 1;
        b.data[TEE_QUOTE_HEADER_LEN + TEE_TD10_BODY_LEN + 4 + 64 + 5] ^= 1; /* attestation key */
        if (tee_quote_parse(b.data, b.len, &c.quote, &err) == 0) {
            run("refuse_intel_tdx_quote_foreign_key", op_quote_refused, &c, seconds,
                "real TDX v4 quote with another attestation key: refused at the QE report "
                "binding (one hash)");
            tee_quote_free(&c.quote);
        }
    }
    cc_buf_free(&b);
    X509_free(c.root);
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
