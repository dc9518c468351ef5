/* `cocoon quote show|verify`, `cocoon cert gen|show`, `cocoon tee ...`:
 * attestation from the command line (DESIGN §5). */
#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>

#include "cli/cli.h"
#include "client/client.h"
#include "crypto/crypto.h"
#include "proxy/proxy.h"
#include "tee/tee.h"
#include "worker/worker.h"

/* Parses the words after "GROUP SUBCOMMAND" against the subcommand's options.
 * Returns 0 to go on, 1 after printing the usage for --help, -1 after
 * printing why the arguments are wrong (exit 2). */
static int parse_sub(const char *cmd, const char *synopsis, const cc_opt *opts, size_t n,
                     int max_pos, int argc, char **argv, cc_args *a)
{
    cc_err err = {0};
    if (cc_args_parse(opts, n, argc - 2, argv + 2, a, &err) < 0 ||
        (!a->help && a->n_pos > max_pos &&
         cc_err_set(&err, "unexpected argument \"%s\"", a->pos[max_pos]))) {
        fprintf(stderr, "%s: %s\nusage: %s\n", cmd, err.msg, synopsis);
        return -1;
    }
    if (a->help) {
        printf("usage: %s\n\noptions:\n", synopsis);
        cc_args_usage(stdout, opts, n);
        return 1;
    }
    return 0;
}

#define PARSE_SUB(cmd, synopsis, opts, max_pos)                                                    \
    cc_args a;                                                                                     \
    switch (parse_sub(cmd, synopsis, opts, CC_ARRAY_LEN(opts), max_pos, argc, argv, &a)) {         \
    case 1:                                                                                        \
        return 0;                                                                                  \
    case -1:                                                                                       \
        return 2;                                                                                  \
    }

static int load_quote(const char *path, tee_quote *q)
{
    cc_buf b = CC_BUF_INIT;
    cc_err err = {0};
    if (cc_read_file(path, &b, &err)) {
        fprintf(stderr, "cocoon quote: %s\n", err.msg);
        return -1;
    }
    int rc = tee_quote_parse_any(b.data, b.len, q, &err);
    cc_buf_free(&b);
    if (rc) fprintf(stderr, "cocoon quote: %s: %s\n", path, err.msg);
    return rc;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", s);
    free(s);
}

static void print_td_text(const tee_td_report *td)
{
    char hex[129];
    uint8_t ih[32];
#define P(name, field, n)                                                                          \
    cc_hex_encode(field, n, hex);                                                                  \
    printf("  %-16s %s\n", name, hex)
    P("mr_td", td->mr_td, 48);
    P("mr_config_id", td->mr_config_id, 48);
    P("mr_owner", td->mr_owner, 48);
    P("mr_owner_config", td->mr_owner_config, 48);
    P("rtmr0", td->rtmr[0], 48);
    P("rtmr1", td->rtmr[1], 48);
    P("rtmr2", td->rtmr[2], 48);
    P("rtmr3", td->rtmr[3], 48);
    P("td_attributes", td->td_attributes, 8);
    P("tee_tcb_svn", td->tee_tcb_svn, 16);
    P("report_data", td->report_data, 64);
    tee_image_hash(td, ih);
    P("image_hash", ih, 32);
#undef P
    printf("  %-16s %s\n", "debug", (tee_td_attributes(td) & TEE_TD_ATTR_DEBUG) ? "yes" : "no");
}

static const cc_opt quote_show_opts[] = {
    {"--json", NULL, "print the quote's fields as JSON", NULL},
};
static int quote_show(int argc, char **argv)
{
    PARSE_SUB("cocoon quote show", "cocoon quote show FILE [--json]", quote_show_opts, 1)
    const char *file = a.pos[0];
    if (!file) {
        fprintf(stderr, "usage: cocoon quote show FILE [--json]\n");
        return 2;
    }
    tee_quote q;
    if (load_quote(file, &q)) return 1;
    if (cc_args_get(&a, "--json")) {
        json_t *j = tee_quote_to_json(&q);
        print_json(j);
        json_decref(j);
    } else {
        printf("TDX quote v%u, %s body (%u bytes), %zu bytes (+%zu trailing)\n", q.version,
               q.td.is_td15 ? "TDX 1.5" : "TDX 1.0", q.body_size, q.len, q.trailing);
        print_td_text(&q.td);
    }
    tee_quote_free(&q);
    return 0;
}

static const cc_opt quote_verify_opts[] = {
    {"--at", "ISO-8601-TIME", "verification time", "now"},
    {"--collateral", "FILE", "Intel collateral JSON (TCB status, CRLs, QE identity)", NULL},
    {"--fake-root", "DIR", "verify against this fake TEE root instead of Intel's", NULL},
};
static int quote_verify(int argc, char **argv)
{
    PARSE_SUB("cocoon quote verify",
              "cocoon quote verify FILE [--at ISO-8601-TIME] [--collateral FILE] [--fake-root DIR]",
              quote_verify_opts, 1)
    const char *file = a.pos[0];
    if (!file) {
        fprintf(stderr, "usage: cocoon quote verify FILE [--at ISO-8601-TIME] [--collateral FILE]"
                        " [--fake-root DIR]\n");
        return 2;
    }
    cc_err err = {0};
    tee_quote_verify_opts o = {0};
    const char *at = cc_args_get(&a, "--at");
    if (at && tee_parse_iso_time(at, &o.at, &err)) {
        fprintf(stderr, "cocoon quote verify: %s\n", err.msg);
        return 2;
    }
    const char *coll = cc_args_get(&a, "--collateral");
    const char *fake = cc_args_get(&a, "--fake-root");
    tee_collateral *c = NULL;
    if (coll && !(c = tee_collateral_load(coll, &err))) {
        fprintf(stderr, "cocoon quote verify: %s\n", err.msg);
        return 1;
    }
    if (fake && !(o.root = tee_fake_root_load_cert(fake, &err))) {
        fprintf(stderr, "cocoon quote verify: %s\n", err.msg);
        tee_collateral_free(c);
        return 1;
    }
    o.collateral = c;
    tee_quote q;
    if (load_quote(file, &q)) {
        tee_collateral_free(c);
        X509_free(o.root);
        return 1;
    }
    tee_quote_result res;
    int rc = tee_quote_verify(&q, &o, &res, &err);
    printf("quote %s: TDX v%u, verification time %s, root %s\n", file, q.version, at ? at : "now",
           fake ? "fake TEE root" : "Intel SGX Root CA (compiled in)");
    fwrite(res.log.data, 1, res.log.len, stdout);
    if (rc == 0 && c && res.tcb_status != TEE_TCB_UP_TO_DATE) {
        printf("FAIL TCB status %s is not UpToDate\n", tee_tcb_status_name(res.tcb_status));
        rc = -1;
    }
    if (!c) printf("note: no --collateral given: TCB status, CRLs and QE identity not checked\n");
    if (rc == 0)
        printf("VERIFIED%s%s\n", c ? " TCB " : "", c ? tee_tcb_status_name(res.tcb_status) : "");
    else
        printf("NOT VERIFIED: %s\n", err.msg[0] ? err.msg : "TCB status");
    tee_quote_result_free(&res);
    tee_quote_free(&q);
    tee_collateral_free(c);
    X509_free(o.root);
    return rc == 0 ? 0 : 1;
}

static const cc_opt quote_fake_opts[] = {
    {"--fake-root", "DIR", "the fake TEE root that signs", NULL},
    {"--out", "FILE", "where to write the quote", NULL},
    {"--report-data", "HEX64", "REPORTDATA (64 bytes in hex)", "zeros"},
    {"--measure", "CONFIG-FILE", "settings measured into RTMR2", NULL},
};
static int quote_fake(int argc, char **argv)
{
    PARSE_SUB("cocoon quote fake",
              "cocoon quote fake --fake-root DIR --out FILE [--report-data HEX64] [--measure "
              "CONFIG-FILE]",
              quote_fake_opts, 0)
    const char *root = cc_args_get(&a, "--fake-root");
    const char *out = cc_args_get(&a, "--out");
    const char *rd_hex = cc_args_get(&a, "--report-data");
    const char *cfg = cc_args_get(&a, "--measure");
    if (!root || !out) {
        fprintf(stderr, "usage: cocoon quote fake --fake-root DIR --out FILE [--report-data HEX64]"
                        " [--measure CONFIG-FILE]\n");
        return 2;
    }
    cc_err err = {0};
    uint8_t rd[64] = {0};
    if (rd_hex && cc_hex_decode(rd_hex, rd, 64, &err)) {
        fprintf(stderr, "cocoon quote fake: --report-data: %s\n", err.msg);
        return 2;
    }
    cc_buf measured = CC_BUF_INIT, q = CC_BUF_INIT;
    if (cfg && cc_read_file(cfg, &measured, &err)) {
        fprintf(stderr, "cocoon quote fake: %s\n", err.msg);
        return 1;
    }
    tee_provider *p = tee_provider_new_fake(root, measured.data, measured.len, NULL, &err);
    int rc = 1;
    if (p && tee_provider_quote(p, rd, &q, &err) == 0 &&
        cc_write_file_atomic(out, q.data, q.len, 0644, &err) == 0) {
        printf("wrote %s (%zu bytes)\n", out, q.len);
        rc = 0;
    } else {
        fprintf(stderr, "cocoon quote fake: %s\n", err.msg);
    }
    tee_provider_free(p);
    cc_buf_free(&measured);
    cc_buf_free(&q);
    return rc;
}

int cli_cmd_quote(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: cocoon quote show FILE [--json]\n"
               "       cocoon quote verify FILE [--at ISO-8601-TIME] [--collateral FILE]"
               " [--fake-root DIR]\n"
               "       cocoon quote fake --fake-root DIR --out FILE [--report-data HEX64]"
               " [--measure CONFIG-FILE]\n"
               "FILE is a binary TDX quote or its hex text. verify exits 0 only when every\n"
               "check passes (with --collateral: and the TCB status is UpToDate).\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "show")) return quote_show(argc, argv);
    if (!strcmp(argv[1], "verify")) return quote_verify(argc, argv);
    if (!strcmp(argv[1], "fake")) return quote_fake(argc, argv);
    fprintf(stderr, "cocoon quote: unknown subcommand \"%s\"\n", argv[1]);
    return 2;
}

/* ------------------------------------------------------------------ cert */

static int read_measured_config(const char *path, cc_buf *out)
{
    cc_err err = {0};
    if (path && cc_read_file(path, out, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

/* For tests of the verifier: replaces the certificate by one with the same
 * key and claims whose quote's REPORTDATA is over other (random) data, as a
 * quote stolen from another certificate would be. */
static int mismatch_report_data(tee_provider *p, tee_identity *id, cc_err *err)
{
    uint8_t rd[64];
    crypto_random(rd, sizeof(rd));
    cc_buf quote = CC_BUF_INIT, claims = CC_BUF_INIT;
    tee_claims_encode(&id->claims, &claims);
    X509 *x = NULL;
    if (tee_provider_quote(p, rd, &quote, err) == 0)
        x = tee_cert_build(id->key, claims.data, claims.len, quote.data, quote.len, id->not_before,
                           (long)(id->not_after - id->not_before), err);
    cc_buf_free(&quote);
    cc_buf_free(&claims);
    if (!x) return -1;
    X509_free(id->cert);
    id->cert = x;
    return 0;
}

static const cc_opt cert_gen_opts[] = {
    {"--cert", "FILE", "certificate output (PEM)", NULL},
    {"--key", "FILE", "private key output (PEM)", NULL},
    {"--tee", "KIND", "none, fake, tdx or fake_tdx", "none"},
    {"--fake-root", "DIR", "fake TEE root (--tee fake)", NULL},
    {"--measure", "CONFIG-FILE", "settings measured into RTMR2", NULL},
    {"--role", "NAME", "role claimed in the certificate", NULL},
    {"--not-before", "ISO-8601-TIME", "start of validity", "now"},
    {"--validity", "SECONDS", "validity period", NULL},
    {"--wrong-report-data", NULL, "(tests) a quote over other data than the claims", NULL},
};
static int cert_gen(int argc, char **argv)
{
    PARSE_SUB("cocoon cert gen",
              "cocoon cert gen --cert FILE --key FILE [--tee none|fake|tdx|fake_tdx] [--fake-root "
              "DIR] [--measure CONFIG-FILE] [--role NAME] [--not-before ISO-8601-TIME] [--validity "
              "SECONDS] [--wrong-report-data]",
              cert_gen_opts, 0)
    const char *tee = cc_args_get(&a, "--tee");
    const char *root = cc_args_get(&a, "--fake-root");
    const char *cert_out = cc_args_get(&a, "--cert");
    const char *key_out = cc_args_get(&a, "--key");
    const char *cfg = cc_args_get(&a, "--measure");
    const char *role = cc_args_get(&a, "--role");
    const char *not_before = cc_args_get(&a, "--not-before");
    const char *validity = cc_args_get(&a, "--validity");
    bool wrong_rd = cc_args_get(&a, "--wrong-report-data") != NULL;
    if (!cert_out || !key_out) {
        fprintf(stderr,
                "usage: cocoon cert gen --cert FILE --key FILE [--tee none|fake|tdx|fake_tdx]"
                " [--fake-root DIR] [--measure CONFIG-FILE] [--role NAME]"
                " [--not-before ISO-8601-TIME] [--validity SECONDS]"
                " [--wrong-report-data]\n");
        return 2;
    }
    cc_err err = {0};
    tee_provider_kind kind = TEE_PROVIDER_NONE;
    if (tee && tee_provider_kind_parse(tee, &kind, &err)) {
        fprintf(stderr, "cocoon cert gen: %s\n", err.msg);
        return 2;
    }
    tee_identity_opts o = {0};
    if (not_before && tee_parse_iso_time(not_before, &o.now, &err)) {
        fprintf(stderr, "cocoon cert gen: --not-before: %s\n", err.msg);
        return 2;
    }
    if (validity &&
        (sscanf(validity, "%ld", &o.validity_seconds) != 1 || o.validity_seconds <= 0)) {
        fprintf(stderr, "cocoon cert gen: --validity: expected a positive number of seconds\n");
        return 2;
    }
    if (wrong_rd && kind == TEE_PROVIDER_NONE) {
        fprintf(stderr, "cocoon cert gen: --wrong-report-data needs a quote (--tee fake|tdx)\n");
        return 2;
    }
    cc_buf measured = CC_BUF_INIT;
    if (read_measured_config(cfg, &measured)) return 1;
    tee_provider *p = NULL;
    if (kind == TEE_PROVIDER_NONE)
        p = tee_provider_new_none();
    else if (kind == TEE_PROVIDER_TDX)
        p = tee_provider_new_tdx(&err);
    else if (kind == TEE_PROVIDER_FAKE_TDX)
        p = tee_provider_new_fake_tdx();
    else if (!root)
        cc_err_set(&err, "--tee fake needs --fake-root DIR");
    else
        p = tee_provider_new_fake(root, measured.data, measured.len, NULL, &err);
    cc_buf_free(&measured);
    if (!p) {
        fprintf(stderr, "cocoon cert gen: %s\n", err.msg);
        return 1;
    }
    tee_claims claims = {0};
    if (role) snprintf(claims.role, sizeof(claims.role), "%s", role);
    o.claims = &claims;
    tee_identity *id = tee_identity_new(p, &o, &err);
    if (id && wrong_rd && mismatch_report_data(p, id, &err)) {
        tee_identity_free(id);
        id = NULL;
    }
    int rc = 1;
    cc_buf c = CC_BUF_INIT, k = CC_BUF_INIT;
    if (!id || tee_identity_write_pem(id, &c, &k, &err) ||
        cc_write_file_atomic(cert_out, c.data, c.len, 0644, &err) ||
        cc_write_file_atomic(key_out, k.data, k.len, 0600, &err)) {
        fprintf(stderr, "cocoon cert gen: %s\n", err.msg);
    } else {
        char pub[65];
        cc_hex_encode(id->pubkey, 32, pub);
        printf("wrote %s and %s\nkey %s\n", cert_out, key_out, pub);
        if (id->has_quote) {
            char ih[65];
            cc_hex_encode(id->image_hash, 32, ih);
            printf("image_hash %s\n", ih);
        }
        rc = 0;
    }
    if (k.data) OPENSSL_cleanse(k.data, k.len);
    cc_buf_free(&c);
    cc_buf_free(&k);
    tee_identity_free(id);
    tee_provider_free(p);
    return rc;
}

static X509 *read_cert(const char *path, cc_err *err)
{
    cc_buf b = CC_BUF_INIT;
    if (cc_read_file(path, &b, err)) return NULL;
    BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!x) {
        const unsigned char *p = b.data;
        x = d2i_X509(NULL, &p, (long)b.len);
    }
    cc_buf_free(&b);
    if (!x) cc_err_set(err, "%s: not a PEM or DER certificate", path);
    return x;
}

static const cc_opt cert_show_opts[] = {
    {"--policy", "KIND", "any, fake or tdx", "any"},
    {"--fake-root", "DIR", "fake TEE root (--policy fake)", NULL},
    {"--allow-image", "HEX", "accept only this image hash", NULL},
};
static int cert_show(int argc, char **argv)
{
    PARSE_SUB("cocoon cert show",
              "cocoon cert show FILE [--policy any|fake|tdx] [--fake-root DIR] [--allow-image HEX]",
              cert_show_opts, 1)
    const char *file = a.pos[0];
    const char *pol = cc_args_get(&a, "--policy");
    const char *root = cc_args_get(&a, "--fake-root");
    if (!file) {
        fprintf(stderr, "usage: cocoon cert show FILE [--policy any|fake|tdx] [--fake-root DIR]"
                        " [--allow-image HEX]\n");
        return 2;
    }
    cc_err err = {0};
    X509 *x = read_cert(file, &err);
    if (!x) {
        fprintf(stderr, "cocoon cert show: %s\n", err.msg);
        return 1;
    }
    char subj[256];
    X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
    BIO *out = BIO_new_fp(stdout, BIO_NOCLOSE);
    printf("subject %s\nvalidity ", subj);
    ASN1_TIME_print(out, X509_get0_notBefore(x));
    printf(" .. ");
    ASN1_TIME_print(out, X509_get0_notAfter(x));
    BIO_flush(out);
    BIO_free(out);
    printf("\n");
    cc_buf claims = CC_BUF_INIT, quote = CC_BUF_INIT;
    bool hq = false;
    int rc = 1;
    tee_claims cl;
    if (tee_cert_extract(x, &claims, &quote, &hq, &err) ||
        (claims.len && tee_claims_decode(claims.data, claims.len, &cl, &err))) {
        fprintf(stderr, "cocoon cert show: %s\n", err.msg);
        goto out;
    }
    char hex[65];
    if (!claims.len) {
        /* COCOON's certificates made without a TEE carry no claims. */
        printf("claims: none (no %s extension)\n", TEE_OID_CLAIMS);
    } else {
        cc_hex_encode(cl.ed25519_pub, 32, hex);
        printf("claims: ed25519 %s%s%s\n", hex, cl.role[0] ? " role " : "", cl.role);
        if (cl.has_model_hash) {
            cc_hex_encode(cl.model_hash, 32, hex);
            printf("claims: model_hash %s\n", hex);
        }
    }
    if (hq && quote.len == TEE_FAKE_TDX_QUOTE_LEN) {
        char rd[2 * TEE_FAKE_TDX_QUOTE_LEN + 1];
        cc_hex_encode(quote.data, quote.len, rd);
        printf("quote: COCOON fake_tdx, report_data %s\n", rd);
    } else if (hq) {
        tee_quote q;
        if (tee_quote_parse(quote.data, quote.len, &q, &err) == 0) {
            printf("quote: TDX v%u, %zu bytes\n", q.version, q.len);
            print_td_text(&q.td);
            tee_quote_free(&q);
        } else {
            printf("quote: unparsable: %s\n", err.msg);
        }
    } else {
        printf("quote: none\n");
    }
    rc = 0;
    if (pol) {
        tee_policy_kind k;
        if (tee_policy_kind_parse(pol, &k, &err)) {
            fprintf(stderr, "cocoon cert show: %s\n", err.msg);
            rc = 2;
            goto out;
        }
        tee_policy *p = tee_policy_new(k);
        const char *allow = cc_args_get(&a, "--allow-image");
        if (allow) {
            uint8_t ih[32];
            if (cc_hex_decode(allow, ih, 32, &err)) {
                fprintf(stderr, "cocoon cert show: --allow-image: %s\n", err.msg);
                tee_policy_free(p);
                rc = 2;
                goto out;
            }
            tee_policy_allow_image_hash(p, ih);
        }
        if (root) {
            X509 *r = tee_fake_root_load_cert(root, &err);
            if (!r) {
                fprintf(stderr, "cocoon cert show: %s\n", err.msg);
                tee_policy_free(p);
                rc = 1;
                goto out;
            }
            tee_policy_set_root(p, r);
            X509_free(r);
        }
        void *info = NULL;
        if (tee_verify_peer(p, x, &info, &err) == 0) {
            printf("policy %s: ACCEPTED %s\n", pol, ((tee_peer_info *)info)->summary);
            tee_peer_info_free(info);
        } else {
            printf("policy %s: REFUSED %s\n", pol, err.msg);
            rc = 1;
        }
        tee_policy_free(p);
    }
out:
    cc_buf_free(&claims);
    cc_buf_free(&quote);
    X509_free(x);
    return rc;
}

int cli_cmd_cert(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: cocoon cert gen --cert FILE --key FILE [--tee none|fake|tdx|fake_tdx]"
               " [--fake-root DIR] [--measure CONFIG-FILE] [--role NAME]\n"
               "                [--not-before ISO-8601-TIME] [--validity SECONDS]"
               " [--wrong-report-data]\n"
               "       cocoon cert show FILE [--policy any|fake|tdx] [--fake-root DIR]"
               " [--allow-image HEX]\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "gen")) return cert_gen(argc, argv);
    if (!strcmp(argv[1], "show")) return cert_show(argc, argv);
    fprintf(stderr, "cocoon cert: unknown subcommand \"%s\"\n", argv[1]);
    return 2;
}

/* ------------------------------------------------------------------- tee */

int cli_measure_daemon_config(const char *role, const char *path, cc_buf *out, cc_err *err)
{
    int rc = -1;
    if (!strcmp(role, "proxy")) {
        proxy_config c;
        proxy_config_init(&c);
        if (proxy_config_load(path, &c, err) == 0) rc = proxy_config_measure(&c, out, err);
        proxy_config_clear(&c);
    } else if (!strcmp(role, "worker")) {
        worker_config c;
        worker_config_init(&c);
        if (worker_config_load(path, &c, err) == 0) rc = worker_config_measure(&c, out, err);
        worker_config_clear(&c);
    } else if (!strcmp(role, "client")) {
        client_config c;
        client_config_init(&c);
        if (client_config_load(path, &c, err) == 0) rc = client_config_measure(&c, out, err);
        client_config_clear(&c);
    } else {
        cc_err_set(err, "--role: expected proxy, worker or client, got \"%s\"", role);
    }
    return rc;
}

static const cc_opt tee_image_hash_cmd_opts[] = {
    {"--exe", "PROGRAM", "the executable measured into RTMR1", NULL},
    {"--measure", "FILE", "settings measured into RTMR2, as they are", NULL},
    {"--config", "FILE", "a daemon config whose measured settings go into RTMR2", NULL},
    {"--role", "ROLE", "proxy, worker or client (with --config)", NULL},
    {"--show", NULL, "print the measured settings to stderr", NULL},
};
static int tee_image_hash_cmd(int argc, char **argv)
{
    PARSE_SUB("cocoon tee fake-image-hash",
              "cocoon tee fake-image-hash --exe PROGRAM [--measure FILE | --config FILE --role "
              "proxy|worker|client]",
              tee_image_hash_cmd_opts, 0)
    const char *exe = cc_args_get(&a, "--exe");
    const char *cfg = cc_args_get(&a, "--measure");
    const char *daemon_cfg = cc_args_get(&a, "--config");
    const char *role = cc_args_get(&a, "--role");
    if (!exe || (cfg && daemon_cfg) || (!daemon_cfg != !role)) {
        fprintf(stderr, "usage: cocoon tee fake-image-hash --exe PROGRAM"
                        " [--measure FILE | --config FILE --role proxy|worker|client]\n");
        return 2;
    }
    cc_buf measured = CC_BUF_INIT;
    cc_err err = {0};
    if (daemon_cfg) {
        /* The same measured settings the daemon hands its fake TEE. */
        if (cli_measure_daemon_config(role, daemon_cfg, &measured, &err) < 0) {
            fprintf(stderr, "cocoon tee fake-image-hash: %s\n", err.msg);
            cc_buf_free(&measured);
            return 1;
        }
        if (cc_args_get(&a, "--show")) fwrite(measured.data, 1, measured.len, stderr);
    } else if (read_measured_config(cfg, &measured)) {
        return 1;
    }
    uint8_t h[32];
    int rc = tee_fake_image_hash(exe, measured.data, measured.len, h, &err);
    cc_buf_free(&measured);
    if (rc) {
        fprintf(stderr, "cocoon tee fake-image-hash: %s\n", err.msg);
        return 1;
    }
    char hex[65];
    cc_hex_encode(h, 32, hex);
    printf("%s\n", hex);
    return 0;
}

static const cc_opt tee_init_root_cmd_opts[] = {
    {"--dir", "DIR", "folder for fake_root.key and fake_root.pem (created)", NULL},
    {"--force", NULL, "overwrite an existing root", NULL},
};

static int tee_init_root_cmd(int argc, char **argv)
{
    PARSE_SUB("cocoon tee init-fake-root", "cocoon tee init-fake-root --dir DIR [--force]",
              tee_init_root_cmd_opts, 0)
    const char *dir = cc_args_get(&a, "--dir");
    if (!dir) {
        fprintf(stderr, "usage: cocoon tee init-fake-root --dir DIR [--force]\n");
        return 2;
    }
    cc_err err = {0};
    if (tee_fake_root_init(dir, cc_args_get(&a, "--force") != NULL, &err)) {
        fprintf(stderr, "cocoon tee init-fake-root: %s\n", err.msg);
        return 1;
    }
    printf("wrote %s/fake_root.key and %s/fake_root.pem\n", dir, dir);
    return 0;
}

int cli_cmd_tee(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: cocoon tee init-fake-root --dir DIR [--force]\n"
               "       cocoon tee fake-image-hash --exe PROGRAM"
               " [--measure FILE | --config FILE --role proxy|worker|client [--show]]\n"
               "       cocoon tee probe HOST:PORT [--cert FILE --key FILE]"
               " [--policy any|fake|tdx] [--fake-root DIR]\n"
               "init-fake-root writes the network-wide fake TEE root (fake_root.key,\n"
               "fake_root.pem); fake-image-hash prints the image hash the fake TEE reports\n"
               "for PROGRAM (what a registry should list): with --config, measuring the\n"
               "settings of that daemon config the way the daemon does (--show prints them);\n"
               "probe makes one attested connection to a daemon's port and prints what the\n"
               "daemon's certificate proved (exit 0 only when the link came up).\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "init-fake-root")) return tee_init_root_cmd(argc, argv);
    if (!strcmp(argv[1], "fake-image-hash")) return tee_image_hash_cmd(argc, argv);
    if (!strcmp(argv[1], "probe")) return cli_tee_probe(argc, argv);
    fprintf(stderr, "cocoon tee: unknown subcommand \"%s\"\n", argv[1]);
    return 2;
}
