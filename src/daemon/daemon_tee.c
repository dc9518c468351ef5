/* TEE set-up shared by the daemons: the provider that quotes us, our
 * certificate identity, the policy peers are checked against, and the
 * registry's proxy image allowlist for the daemons that dial proxies. */
#include "daemon/daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

void daemon_proxy_check_text(const daemon_config *d, char *out, size_t n)
{
    bool chain = strcmp(d->chain, "none") != 0;
    snprintf(out, n, "%s%s",
             chain         ? "root "
             : d->registry ? "registry"
                           : "off",
             chain ? d->root_address : "");
}

int daemon_measure(cc_buf *out, const char *role, const char *tee, const char *policy,
                   const daemon_measure_item *items, size_t n_items, const char *fake_root,
                   cc_err *err)
{
    if (tee_measure_add(out, "role", role, err) < 0 || tee_measure_add(out, "tee", tee, err) < 0 ||
        tee_measure_add(out, "policy", policy, err) < 0)
        return -1;
    for (size_t i = 0; i < n_items; i++)
        if (tee_measure_add(out, items[i].key, items[i].value, err) < 0) return -1;
    /* The trust anchor of policy fake: another root means other peers pass. */
    if (!strcmp(policy, "fake") && tee_measure_add_fake_root(out, fake_root, err) < 0) return -1;
    return 0;
}

/* The registry's proxy image allowlist, run in the TLS handshake so that
 * nothing is sent to a proxy running an image the network does not list. */
/* ud is the daemon_tee: its proxy_registry may be replaced (a chain's new
 * registry) between handshakes. */
static int check_proxy_image(void *ud, const tee_peer_info *info, cc_err *err)
{
    static const uint8_t none[32];
    const daemon_tee *t = ud;
    const uint8_t *h = info->quote_verified ? info->image_hash : none;
    if (registry_proxy_image_allowed(t->proxy_registry, h)) return 0;
    char hex[65];
    cc_hex_encode(h, 32, hex);
    return cc_err_set(err, "proxy image hash %s is not in the registry", hex);
}

static tee_provider *new_provider(tee_provider_kind kind, const daemon_tee_config *c, cc_err *err)
{
    if (kind == TEE_PROVIDER_NONE) return tee_provider_new_none();
    if (kind == TEE_PROVIDER_TDX) return tee_provider_new_tdx(err);
    if (kind == TEE_PROVIDER_FAKE_TDX) return tee_provider_new_fake_tdx();
    /* RTMR2 measures the trust-relevant settings, so changing them changes
     * the image hash the registry must list. */
    tee_provider *p = NULL;
    cc_buf measured = CC_BUF_INIT;
    if (c->measure(c->measure_cfg, &measured, err) == 0)
        p = tee_provider_new_fake(c->fake_root, measured.data, measured.len, NULL, err);
    cc_buf_free(&measured);
    return p;
}

/* Test only (docs/attestation.md): with a fake TEE, whose quotes prove
 * nothing anyway, this variable makes the certificate claim another model
 * than the one the worker announces, so a test can watch the proxy refuse
 * the lie. Real TDX ignores it. */
#define TEST_CLAIM_MODEL_ENV "COCOON_TEST_FAKE_CLAIM_MODEL"

static void test_claim_other_model(tee_provider_kind pk, tee_claims *claims)
{
    const char *lie = getenv(TEST_CLAIM_MODEL_ENV);
    if (!lie || (pk != TEE_PROVIDER_FAKE && pk != TEE_PROVIDER_FAKE_TDX)) return;
    crypto_sha256(lie, strlen(lie), claims->model_hash);
    CC_WARN("event=test_claim_override env=%s claimed_model=\"%s\"", TEST_CLAIM_MODEL_ENV, lie);
}

tee_policy *daemon_tee_policy_new(const char *kind, const char *fake_root, cc_err *err)
{
    tee_policy_kind polk;
    if (tee_policy_kind_parse(kind, &polk, err) < 0) return NULL;
    tee_policy *p = tee_policy_new(polk);
    if (polk == TEE_POLICY_FAKE) {
        X509 *root = tee_fake_root_load_cert(fake_root, err);
        if (!root) {
            tee_policy_free(p);
            return NULL;
        }
        tee_policy_set_root(p, root);
        X509_free(root);
    }
    return p;
}

int daemon_tee_policy_configure(tee_policy *p, const daemon_config *c, cc_err *err)
{
    tee_policy_set_max_cert_lifetime(p, c->max_cert_lifetime);
    tee_policy_set_allowed_tcb(p, c->allowed_tcb);
    tee_policy_set_min_tcb_eval_number(p, c->min_tcb_eval_number);
    if (!c->collateral) return 0;
    /* Read once at start: verification must not wait on the disk. */
    tee_collateral *col = tee_collateral_load(c->collateral, err);
    if (!col) return cc_err_prefix(err, "field \"collateral\"");
    time_t next;
    if (tee_collateral_next_update(col, &next) == 0 && next < time(NULL))
        CC_WARN("event=collateral_stale file=\"%s\" next_update=%lld: peers under policy tdx "
                "are refused until it is replaced",
                c->collateral, (long long)next);
    tee_policy_set_collateral(p, col, 0);
    return 0;
}

daemon_tee_config daemon_tee_config_of(const char *role, const daemon_config *common,
                                       bool check_proxies)
{
    return (daemon_tee_config){.role = role,
                               .tee = common->tee,
                               .policy = common->policy,
                               .fake_root = common->fake_root,
                               .common = common,
                               .proxy_registry = check_proxies ? common->registry : NULL};
}

int daemon_tee_setup(daemon_tee *t, const daemon_tee_config *c, cc_err *err)
{
    tee_provider_kind pk;
    tee_policy_kind polk;
    if (tee_provider_kind_parse(c->tee, &pk, err) < 0 ||
        tee_policy_kind_parse(c->policy, &polk, err) < 0)
        return -1;
    t->provider = new_provider(pk, c, err);
    if (!t->provider) return -1;
    tee_claims claims = {0};
    snprintf(claims.role, sizeof(claims.role), "%s", c->role);
    if (c->model_hash) {
        /* The certificate (signed by the key the quote's REPORTDATA names)
         * names the served model: a proxy can hold the announced model to it
         * (DESIGN §5.3). */
        claims.has_model_hash = true;
        memcpy(claims.model_hash, c->model_hash, sizeof(claims.model_hash));
        test_claim_other_model(pk, &claims);
    }
    if (c->sealing_keys) {
        /* Generated in the TEE's memory and never written anywhere: only this
         * process can open what clients seal to the certificate's key. */
        if (crypto_x25519_keygen(t->seal_sk, claims.x25519_pub) < 0 ||
            crypto_ed25519_keygen(t->receipt_sk, claims.receipt_pub) < 0)
            return cc_err_set(err, "cannot make the sealing keys");
        claims.has_x25519 = claims.has_receipt_key = true;
        t->sealing = true;
    }
    /* Our certificates live no longer than we let peers' live. */
    long life = TEE_CERT_VALIDITY_SECONDS;
    if (c->common && c->common->max_cert_lifetime < life) life = c->common->max_cert_lifetime;
    tee_identity_opts io = {.claims = &claims, .validity_seconds = life};
    t->identity = tee_identity_new(t->provider, &io, err);
    if (!t->identity) return -1;
    t->policy = daemon_tee_policy_new(c->policy, c->fake_root, err);
    if (!t->policy || (c->common && daemon_tee_policy_configure(t->policy, c->common, err) < 0))
        return -1;
    if (c->common && c->common->collateral_url) {
        if (!c->base) return cc_err_set(err, "collateral_url: no event loop to fetch it on");
        t->collateral = daemon_collateral_new(c->base, c->common->collateral_url,
                                              c->common->collateral_refresh, err);
        if (!t->collateral || daemon_collateral_watch(t->collateral, t->policy, err) < 0) return -1;
        if (!strcmp(c->common->collateral_api, "pcs") &&
            daemon_collateral_use_pcs(t->collateral,
                                      (const uint8_t(*)[6])c->common->collateral_fmspcs,
                                      c->common->n_collateral_fmspcs, err) < 0)
            return -1;
        daemon_collateral_start(t->collateral);
    }
    if (tee_policy_kind_of(t->policy) == TEE_POLICY_ANY)
        CC_WARN("event=policy_any role=%s: peers are not attested (any certificate is accepted); "
                "use policy tdx, fake or fake_tdx to attest them",
                c->role);
    if (c->proxy_registry) {
        t->proxy_registry = registry_open("none", c->proxy_registry, err);
        if (!t->proxy_registry) return -1;
        tee_policy_set_check(t->policy, check_proxy_image, t);
    }
    return 0;
}

static void on_chain_registry(void *ud, registry *reg)
{
    daemon_tee *t = ud;
    registry *old = t->proxy_registry;
    t->proxy_registry = reg;
    registry_free(old);
}

int daemon_tee_follow_chain(daemon_tee *t, struct event_base *base, const daemon_config *common,
                            cc_err *err)
{
    if (!strcmp(common->chain, "none")) return 0;
    registry *first = NULL;
    t->chain = daemon_chain_start(base, common, &first, on_chain_registry, t, err);
    if (!t->chain) return -1;
    on_chain_registry(t, first);
    /* The root's proxy images replace a registry file's (and the check is
     * installed when there was no file). */
    tee_policy_set_check(t->policy, check_proxy_image, t);
    return 0;
}

int daemon_tee_rotate(daemon_tee *t, bool force, cc_err *err)
{
    if (!t->identity || (!force && !tee_identity_needs_renewal(t->identity, 0))) return 0;
    if (!t->sealing) return tee_identity_renew(t->provider, NULL, &t->identity, err) < 0 ? -1 : 1;
    /* Keys that rotate with the certificate: whoever obtains a sealing key
     * later opens only what was sealed to its certificate's lifetime. */
    tee_claims claims = t->identity->claims;
    uint8_t sk[32], rsk[32];
    int rc = -1;
    X509 *old = t->identity->cert;
    tee_identity_opts o = {.claims = &claims,
                           .validity_seconds = t->identity->not_after - t->identity->not_before};
    if (crypto_x25519_keygen(sk, claims.x25519_pub) < 0 ||
        crypto_ed25519_keygen(rsk, claims.receipt_pub) < 0) {
        cc_err_set(err, "cannot make new sealing keys");
        goto out;
    }
    X509_up_ref(old); /* the renewal frees the identity that holds it */
    if (tee_identity_renew(t->provider, &o, &t->identity, err) < 0) {
        X509_free(old);
        goto out;
    }
    X509_free(t->prev_cert);
    t->prev_cert = old;
    memcpy(t->prev_seal_sk, t->seal_sk, 32);
    memcpy(t->prev_receipt_sk, t->receipt_sk, 32);
    memcpy(t->seal_sk, sk, 32);
    memcpy(t->receipt_sk, rsk, 32);
    t->renewals++;
    rc = 1;
out:
    explicit_bzero(sk, sizeof(sk));
    explicit_bzero(rsk, sizeof(rsk));
    explicit_bzero(&claims, sizeof(claims));
    return rc;
}

void daemon_tee_clear(daemon_tee *t)
{
    X509_free(t->prev_cert);
    daemon_chain_free(t->chain);           /* first: no registry swap after this */
    daemon_collateral_free(t->collateral); /* watches the policies: before them */
    if (t->identity) tee_identity_free(t->identity);
    if (t->policy) tee_policy_free(t->policy);
    if (t->proxy_registry) registry_free(t->proxy_registry);
    if (t->provider) tee_provider_free(t->provider);
    explicit_bzero(t, sizeof(*t)); /* the sealing keys too */
}
