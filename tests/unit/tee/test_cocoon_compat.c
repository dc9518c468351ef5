/* RA-TLS as COCOON computes it: REPORTDATA over the key alone, claims bound by
 * the certificate signature, certificates without our claims extension, and
 * COCOON's 64-byte fake_tdx quotes under policy fake_tdx. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "tee/tee.h"

static char root_dir[256];

static int setup_root(void **state)
{
    (void)state;
    cc_tmp_template(root_dir, sizeof(root_dir), "cocoon-tee-compat");
    if (!mkdtemp(root_dir)) return -1;
    cc_err err = {0};
    if (tee_fake_root_init(root_dir, false, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown_root(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof(p), "%s/fake_root.key", root_dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/fake_root.pem", root_dir);
    unlink(p);
    rmdir(root_dir);
    return 0;
}

static tee_policy *fake_policy(void)
{
    tee_policy *pol = tee_policy_new(TEE_POLICY_FAKE);
    cc_err err = {0};
    X509 *root = tee_fake_root_load_cert(root_dir, &err);
    assert_non_null(root);
    tee_policy_set_root(pol, root);
    X509_free(root);
    return pol;
}

static EVP_PKEY *new_key(uint8_t pub[32])
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(k);
    size_t pl = 32;
    assert_int_equal(EVP_PKEY_get_raw_public_key(k, pub, &pl), 1);
    return k;
}

/* The verification result for `cert` under `pol`: 0 with *out, or -1 with
 * the reason in err. */
static int verify(tee_policy *pol, X509 *cert, tee_peer_info **out, cc_err *err)
{
    void *info = NULL;
    int rc = tee_verify_peer(pol, cert, &info, err);
    *out = info;
    return rc;
}

static void test_report_data_is_over_the_key_alone(void **state)
{
    (void)state;
    cc_err err = {0};
    tee_provider *p = tee_provider_new_fake(root_dir, "cfg", 3, NULL, &err);
    assert_non_null(p);
    tee_claims cl = {0};
    strcpy(cl.role, "worker");
    cl.has_model_hash = true;
    memset(cl.model_hash, 0x5a, 32);
    tee_identity_opts o = {.claims = &cl};
    tee_identity *id = tee_identity_new(p, &o, &err);
    assert_non_null(id);

    cc_buf claims = CC_BUF_INIT, quote = CC_BUF_INIT;
    bool hq = false;
    assert_int_equal(tee_cert_extract(id->cert, &claims, &quote, &hq, &err), 0);
    assert_true(hq);
    assert_true(claims.len > 32); /* key, then our items */
    tee_quote q;
    assert_int_equal(tee_quote_parse(quote.data, quote.len, &q, &err), 0);
    uint8_t want[64], over_claims[64];
    crypto_sha512(id->pubkey, 32, want);
    crypto_sha512(claims.data, claims.len, over_claims);
    assert_memory_equal(q.td.report_data, want, 64);
    assert_memory_not_equal(q.td.report_data, over_claims, 64);
    tee_quote_free(&q);

    /* Accepted with its claims, which the key's signature covers. */
    tee_policy *fake = fake_policy();
    tee_peer_info *pi;
    assert_int_equal(verify(fake, id->cert, &pi, &err), 0);
    assert_true(pi->quote_verified);
    assert_true(pi->has_claims);
    assert_true(pi->claims.has_model_hash);
    assert_memory_equal(pi->claims.model_hash, cl.model_hash, 32);
    assert_non_null(strstr(pi->summary, "claims=yes"));
    tee_peer_info_free(pi);

    /* Changing the claims after signing (another model hash) breaks the
     * certificate's self-signature: the claims cannot be swapped under a
     * genuine quote. */
    unsigned char *der = NULL;
    int dlen = i2d_X509(id->cert, &der);
    assert_true(dlen > 0);
    unsigned char *role = memmem(der, (size_t)dlen, "worker", 6);
    assert_non_null(role);
    role[5] = 's'; /* "workes": a different claim under the same signature */
    const unsigned char *dp = der;
    X509 *forged = d2i_X509(NULL, &dp, dlen);
    assert_non_null(forged);
    assert_int_equal(verify(fake, forged, &pi, &err), -1);
    assert_null(pi);
    assert_non_null(strstr(err.msg, "self-signed"));
    X509_free(forged);
    OPENSSL_free(der);

    tee_policy_free(fake);
    cc_buf_free(&claims);
    cc_buf_free(&quote);
    tee_identity_free(id);
    tee_provider_free(p);
}

static void test_certificate_without_claims_extension(void **state)
{
    (void)state;
    cc_err err = {0};
    uint8_t pub[32];
    EVP_PKEY *k = new_key(pub);
    /* COCOON's certificate made without a TEE: neither extension. */
    X509 *plain = tee_cert_build(k, NULL, 0, NULL, 0, time(NULL) - 10, 3600, &err);
    assert_non_null(plain);
    cc_buf claims = CC_BUF_INIT, quote = CC_BUF_INIT;
    bool hq = true;
    assert_int_equal(tee_cert_extract(plain, &claims, &quote, &hq, &err), 0);
    assert_false(hq);
    assert_int_equal(claims.len, 0);

    tee_policy *any = tee_policy_new(TEE_POLICY_ANY);
    tee_peer_info *pi;
    assert_int_equal(verify(any, plain, &pi, &err), 0);
    assert_false(pi->has_claims);
    assert_false(pi->has_quote);
    assert_memory_equal(pi->claims.ed25519_pub, pub, 32);
    assert_false(pi->claims.has_model_hash);
    assert_false(pi->claims.has_x25519);
    assert_string_equal(pi->claims.role, "");
    assert_non_null(strstr(pi->summary, "claims=none"));
    tee_peer_info_free(pi);

    /* A policy that wants a quote still refuses it, for the quote. */
    tee_policy *fake = fake_policy();
    assert_int_equal(verify(fake, plain, &pi, &err), -1);
    assert_non_null(strstr(err.msg, "no TEE quote"));

    /* A genuine fake-TEE quote without the claims extension is accepted:
     * the quote binds the key, the key is the only claim. */
    tee_provider *p = tee_provider_new_fake(root_dir, NULL, 0, NULL, &err);
    assert_non_null(p);
    uint8_t rd[64];
    crypto_sha512(pub, 32, rd);
    assert_int_equal(tee_provider_quote(p, rd, &quote, &err), 0);
    X509 *bare = tee_cert_build(k, NULL, 0, quote.data, quote.len, time(NULL) - 10, 3600, &err);
    assert_non_null(bare);
    assert_int_equal(verify(fake, bare, &pi, &err), 0);
    assert_true(pi->quote_verified);
    assert_false(pi->has_claims);
    assert_false(pi->claims.has_model_hash);
    tee_peer_info_free(pi);

    X509_free(bare);
    tee_provider_free(p);
    tee_policy_free(fake);
    tee_policy_free(any);
    X509_free(plain);
    cc_buf_free(&claims);
    cc_buf_free(&quote);
    EVP_PKEY_free(k);
}

/* A certificate for a fresh key with a 64-byte fake_tdx quote; `wrong`
 * puts another key's REPORTDATA in it. */
static X509 *fake_tdx_cert(bool wrong, uint8_t pub[32])
{
    cc_err err = {0};
    EVP_PKEY *k = new_key(pub);
    uint8_t rd[64];
    crypto_sha512(pub, 32, rd);
    if (wrong) rd[0] ^= 1;
    /* COCOON's claims extension is the bare key. */
    X509 *x = tee_cert_build(k, pub, 32, rd, sizeof(rd), time(NULL) - 10, 3600, &err);
    assert_non_null(x);
    EVP_PKEY_free(k);
    return x;
}

static void test_cocoon_fake_tdx_quotes(void **state)
{
    (void)state;
    cc_err err = {0};
    tee_policy_kind kind;
    assert_int_equal(tee_policy_kind_parse("fake_tdx", &kind, &err), 0);
    assert_int_equal(kind, TEE_POLICY_FAKE_TDX);
    assert_string_equal(tee_policy_kind_name(kind), "fake_tdx");
    tee_provider_kind pk;
    assert_int_equal(tee_provider_kind_parse("fake_tdx", &pk, &err), 0);
    assert_int_equal(pk, TEE_PROVIDER_FAKE_TDX);

    uint8_t pub[32];
    X509 *good = fake_tdx_cert(false, pub);
    tee_policy *ft = tee_policy_new(TEE_POLICY_FAKE_TDX);
    tee_peer_info *pi;
    assert_int_equal(verify(ft, good, &pi, &err), 0);
    assert_true(pi->has_quote);
    assert_true(pi->quote_verified);
    assert_true(pi->has_claims);
    /* Every measurement zero: COCOON's image hash of a fake TD. */
    uint8_t zeros[8 * 48 + 64] = {0}, want[32];
    crypto_sha256(zeros, sizeof(zeros), want);
    assert_memory_equal(pi->image_hash, want, 32);
    assert_non_null(strstr(pi->summary, "policy=fake_tdx quote=verified form=fake_tdx"));
    tee_peer_info_free(pi);

    /* Under any it is read (and must be bound) but not verified. */
    tee_policy *any = tee_policy_new(TEE_POLICY_ANY);
    assert_int_equal(verify(any, good, &pi, &err), 0);
    assert_false(pi->quote_verified);
    tee_peer_info_free(pi);

    /* Policies that verify signatures refuse the unsigned form by name. */
    tee_policy *fake = fake_policy();
    tee_policy *tdx = tee_policy_new(TEE_POLICY_TDX);
    assert_int_equal(verify(fake, good, &pi, &err), -1);
    assert_non_null(strstr(err.msg, "accepted only by policy fake_tdx"));
    assert_int_equal(verify(tdx, good, &pi, &err), -1);
    assert_non_null(strstr(err.msg, "accepted only by policy fake_tdx"));

    /* Another key's REPORTDATA is refused everywhere. */
    X509 *wrong = fake_tdx_cert(true, pub);
    assert_int_equal(verify(ft, wrong, &pi, &err), -1);
    assert_non_null(strstr(err.msg, "REPORTDATA is not SHA-512 of the certificate's public key"));
    assert_int_equal(verify(any, wrong, &pi, &err), -1);

    /* fake_tdx wants a quote, and only its own form. */
    uint8_t k2pub[32];
    EVP_PKEY *k2 = new_key(k2pub);
    X509 *plain = tee_cert_build(k2, NULL, 0, NULL, 0, time(NULL) - 10, 3600, &err);
    assert_int_equal(verify(ft, plain, &pi, &err), -1);
    assert_non_null(strstr(err.msg, "no TEE quote"));
    tee_provider *fp = tee_provider_new_fake(root_dir, NULL, 0, NULL, &err);
    tee_identity *ours = tee_identity_new(fp, NULL, &err);
    assert_non_null(ours);
    assert_int_equal(verify(ft, ours->cert, &pi, &err), -1);
    assert_non_null(strstr(err.msg, "wants COCOON's 64-byte fake quote"));

    /* Our fake_tdx provider makes exactly COCOON's form, with our claims. */
    tee_provider *ftp = tee_provider_new_fake_tdx();
    tee_claims cl = {0};
    strcpy(cl.role, "proxy");
    tee_identity_opts o = {.claims = &cl};
    tee_identity *mine = tee_identity_new(ftp, &o, &err);
    assert_non_null(mine);
    assert_true(mine->has_quote);
    assert_memory_equal(mine->image_hash, want, 32);
    cc_buf quote = CC_BUF_INIT;
    bool hq;
    assert_int_equal(tee_cert_extract(mine->cert, NULL, &quote, &hq, &err), 0);
    assert_int_equal(quote.len, TEE_FAKE_TDX_QUOTE_LEN);
    uint8_t rd[64];
    crypto_sha512(mine->pubkey, 32, rd);
    assert_memory_equal(quote.data, rd, 64);
    assert_int_equal(verify(ft, mine->cert, &pi, &err), 0);
    assert_string_equal(pi->claims.role, "proxy");
    tee_peer_info_free(pi);

    cc_buf_free(&quote);
    tee_identity_free(mine);
    tee_provider_free(ftp);
    tee_identity_free(ours);
    tee_provider_free(fp);
    X509_free(plain);
    EVP_PKEY_free(k2);
    X509_free(wrong);
    tee_policy_free(tdx);
    tee_policy_free(fake);
    tee_policy_free(any);
    tee_policy_free(ft);
    X509_free(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_data_is_over_the_key_alone),
        cmocka_unit_test(test_certificate_without_claims_extension),
        cmocka_unit_test(test_cocoon_fake_tdx_quotes),
    };
    return cmocka_run_group_tests(tests, setup_root, teardown_root);
}
