/* `cocoon tee probe HOST:PORT`: one attested connection to a daemon's worker
 * or client port, for operators (what does that proxy run?) and for tests
 * (does the daemon refuse this certificate?). It presents a certificate from
 * files (or a fresh quote-less one), checks the daemon's certificate with the
 * chosen policy, prints what it proved and exits 0 only when the link came up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/pem.h>

#include "cli/cli.h"
#include "net/net.h"
#include "tee/tee.h"

typedef struct probe {
    struct event_base *base;
    bool ready;
    char reason[512];
    char summary[256];
} probe;

static void on_ready(net_conn *c, void *ud)
{
    probe *p = ud;
    p->ready = true;
    const tee_peer_info *pi = net_conn_peer_info(c);
    snprintf(p->summary, sizeof(p->summary), "%s", pi ? pi->summary : "");
    net_conn_close(c, "probe done");
    event_base_loopbreak(p->base);
}

static void on_close(net_conn *c, void *ud, const char *reason)
{
    probe *p = ud;
    if (!p->ready) snprintf(p->reason, sizeof(p->reason), "%s", reason ? reason : "closed");
    event_base_loopbreak(p->base);
}

static void on_timeout(evutil_socket_t fd, short what, void *ud)
{
    probe *p = ud;
    snprintf(p->reason, sizeof(p->reason), "no answer in time");
    event_base_loopbreak(p->base);
}

static void *read_pem(const char *path, bool key, cc_err *err)
{
    cc_buf b = CC_BUF_INIT;
    if (cc_read_file(path, &b, err)) return NULL;
    BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
    void *r = key ? (void *)PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                  : (void *)PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    OPENSSL_cleanse(b.data, b.len);
    cc_buf_free(&b);
    if (!r) cc_err_set(err, "%s: not a PEM %s", path, key ? "private key" : "certificate");
    return r;
}

static const cc_opt probe_opts[] = {
    {"--cert", "FILE", "our certificate (PEM; with --key)", "a fresh one without a quote"},
    {"--key", "FILE", "its private key (PEM)", NULL},
    {"--policy", "KIND", "how to check the peer: any, fake or tdx", "any"},
    {"--fake-root", "DIR", "fake TEE root (--policy fake)", NULL},
    {"--timeout", "SECONDS", "give up after (1..3600)", "10"},
};

#define PROBE_SYNOPSIS                                                                             \
    "cocoon tee probe HOST:PORT [--cert FILE --key FILE] [--policy any|fake|tdx] "                 \
    "[--fake-root DIR] [--timeout SECONDS]"

int cli_tee_probe(int argc, char **argv)
{
    cc_args a;
    cc_err perr = {0};
    if (cc_args_parse(probe_opts, CC_ARRAY_LEN(probe_opts), argc - 2, argv + 2, &a, &perr) < 0 ||
        (!a.help && a.n_pos > 1 && cc_err_set(&perr, "unexpected argument \"%s\"", a.pos[1]))) {
        fprintf(stderr, "cocoon tee probe: %s\nusage: %s\n", perr.msg, PROBE_SYNOPSIS);
        return 2;
    }
    if (a.help) {
        printf("usage: %s\n\noptions:\n", PROBE_SYNOPSIS);
        cc_args_usage(stdout, probe_opts, CC_ARRAY_LEN(probe_opts));
        return 0;
    }
    const char *target = a.pos[0];
    const char *cert_path = cc_args_get(&a, "--cert");
    const char *key_path = cc_args_get(&a, "--key");
    const char *pol = cc_args_get(&a, "--policy");
    const char *root = cc_args_get(&a, "--fake-root");
    int timeout = 10;
    if (!target || !cert_path != !key_path) {
        fprintf(stderr, "usage: %s\n", PROBE_SYNOPSIS);
        return 2;
    }
    if (cc_args_int(&a, "--timeout", 1, 3600, &timeout, &perr) < 0) {
        fprintf(stderr, "cocoon tee probe: %s\n", perr.msg);
        return 2;
    }
    cc_err err = {0};
    char host[256];
    uint16_t port;
    tee_policy_kind kind = TEE_POLICY_ANY;
    if (cc_parse_hostport(target, host, sizeof(host), &port, &err) ||
        (pol && tee_policy_kind_parse(pol, &kind, &err))) {
        fprintf(stderr, "cocoon tee probe: %s\n", err.msg);
        return 2;
    }
    int rc = 1;
    tee_policy *policy = tee_policy_new(kind);
    tee_identity *fresh = NULL;
    net_tls_identity id = {0};
    probe p = {0};
    if (kind == TEE_POLICY_FAKE) {
        X509 *r = root ? tee_fake_root_load_cert(root, &err) : NULL;
        if (!r) {
            if (!root) cc_err_set(&err, "--policy fake needs --fake-root DIR");
            goto out;
        }
        tee_policy_set_root(policy, r);
        X509_free(r);
    }
    if (cert_path) {
        id.cert = read_pem(cert_path, false, &err);
        id.key = id.cert ? read_pem(key_path, true, &err) : NULL;
        if (!id.key) goto out;
    } else {
        tee_provider *none = tee_provider_new_none();
        fresh = tee_identity_new(none, NULL, &err);
        tee_provider_free(none);
        if (!fresh) goto out;
        id = (net_tls_identity){fresh->key, fresh->cert};
    }
    p.base = event_base_new();
    net_connect_config cc = {.host = host,
                             .port = port,
                             .identity = id,
                             .verify = {tee_verify_peer, policy, tee_peer_info_free},
                             .cbs = {.on_ready = on_ready, .on_close = on_close},
                             .ud = &p};
    if (!net_connect(p.base, &cc, &err)) goto out;
    struct event *tev = evtimer_new(p.base, on_timeout, &p);
    struct timeval tv = {timeout, 0};
    evtimer_add(tev, &tv);
    event_base_dispatch(p.base);
    event_free(tev);
    /* Let the closing connection finish before the loop goes away. */
    event_base_loop(p.base, EVLOOP_NONBLOCK);
    if (p.ready) {
        printf("attested: %s\n", p.summary[0] ? p.summary : "(policy any, nothing checked)");
        rc = 0;
    } else {
        cc_err_set(&err, "refused or failed: %s", p.reason);
    }
out:
    if (rc) fprintf(stderr, "cocoon tee probe: %s\n", err.msg);
    if (p.base) event_base_free(p.base);
    if (fresh)
        tee_identity_free(fresh);
    else {
        EVP_PKEY_free(id.key);
        X509_free(id.cert);
    }
    tee_policy_free(policy);
    return rc;
}
