/* RA-TLS certificates, claims and policies with the none and fake providers. */
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
#include "../tee_fixture.h"

static char root_dir[256];

static int setup_root(void **state)
{
    return tee_fixture_root_create(root_dir, sizeof(root_dir), "cocoon-tee-test");
}

static int teardown_root(void **state)
{
    tee_fixture_root_remove(root_dir);
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

static tee_provider *fake_provider(const char *exe, const char *config)
{
    cc_err err = {0};
    tee_provider *p =
        tee_provider_new_fake(root_dir, config, config ? strlen(config) : 0, exe, &err);
    if (!p) fprintf(stderr, "fake provider: %s\n", err.msg);
    assert_non_null(p);
    return p;
}

static void test_claims_round_trip(void **state)
{
    tee_claims c = {0}, d;
    memset(c.ed25519_pub, 7, 32);
    c.has_model_hash = true;
    memset(c.model_hash, 9, 32);
    strcpy(c.role, "worker");
    cc_buf b = CC_BUF_INIT;
    tee_claims_encode(&c, &b);
    assert_int_equal(b.len, 32 + 36 + 4 + 6);
    cc_err err = {0};
    assert_int_equal(tee_claims_decode(b.data, b.len, &d, &err), 0);
    assert_memory_equal(d.ed25519_pub, c.ed25519_pub, 32);
    assert_true(d.has_model_hash);
    assert_memory_equal(d.model_hash, c.model_hash, 32);
    assert_false(d.has_x25519);
    assert_string_equal(d.role, "worker");
    /* An unknown item is skipped; a truncated one is refused. */
    uint8_t unk[6] = {0x99, 0, 2, 0, 1, 2};
    cc_buf_append(&b, unk, sizeof(unk));
    assert_int_equal(tee_claims_decode(b.data, b.len, &d, &err), 0);
    assert_int_equal(tee_claims_decode(b.data, b.len - 1, &d, &err), -1);
    assert_int_equal(tee_claims_decode(b.data, 31, &d, &err), -1);
    cc_buf_free(&b);
}

/* A sealing worker claims its X25519 key and its receipt key; a wrong-sized
 * or repeated receipt key item is refused. */
static void test_sealing_claims_round_trip(void **state)
{
    tee_claims c = {0}, d;
    memset(c.ed25519_pub, 7, 32);
    c.has_x25519 = c.has_receipt_key = true;
    memset(c.x25519_pub, 5, 32);
    memset(c.receipt_pub, 6, 32);
    cc_buf b = CC_BUF_INIT;
    tee_claims_encode(&c, &b);
    assert_int_equal(b.len, 32 + 36 + 36);
    cc_err err = {0};
    assert_int_equal(tee_claims_decode(b.data, b.len, &d, &err), 0);
    assert_true(d.has_x25519 && d.has_receipt_key);
    assert_memory_equal(d.x25519_pub, c.x25519_pub, 32);
    assert_memory_equal(d.receipt_pub, c.receipt_pub, 32);
    uint8_t item[36];
    memcpy(item, b.data + 68, sizeof(item)); /* the receipt key item, repeated */
    cc_buf_append(&b, item, sizeof(item));
    assert_int_equal(tee_claims_decode(b.data, b.len, &d, &err), -1);
    assert_non_null(strstr(err.msg, "receipt key"));
    b.len = 68;
    const uint8_t short_item[] = {TEE_CLAIM_RECEIPT_KEY, 0, 2, 0, 1, 2};
    cc_buf_append(&b, short_item, sizeof(short_item));
    assert_int_equal(tee_claims_decode(b.data, b.len, &d, &err), -1);
    cc_buf_free(&b);
}

static void test_none_identity_shape_and_any_policy(void **state)
{
    tee_provider *none = tee_provider_new_none();
    cc_err err = {0};
    tee_identity *id = tee_identity_new(none, NULL, &err);
    assert_non_null(id);
    assert_false(id->has_quote);
    X509 *x = id->cert;
    /* DESIGN §5.1 shape. */
    assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(x)), EVP_PKEY_ED25519);
    const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
    assert_int_equal(ASN1_STRING_length(serial), 16);
    int crit = -1;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_int_equal(crit, 1);
    assert_false(bc->ca);
    BASIC_CONSTRAINTS_free(bc);
    assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
    assert_int_equal(X509_get_extended_key_usage(x) & (XKU_SSL_SERVER | XKU_SSL_CLIENT),
                     XKU_SSL_SERVER | XKU_SSL_CLIENT);
    assert_true(X509_check_host(x, "localhost", 0, 0, NULL) == 1);
    assert_true(X509_check_ip_asc(x, "127.0.0.1", 0) == 1);
    assert_true(X509_check_ip_asc(x, "::1", 0) == 1);
    assert_non_null(X509_get0_subject_key_id(x));
    assert_false(tee_identity_needs_renewal(id, 0));
    assert_true(tee_identity_needs_renewal(id, id->not_after - 3600));

    tee_policy *any = tee_policy_new(TEE_POLICY_ANY);
    void *info = NULL;
    assert_int_equal(tee_verify_peer(any, x, &info, &err), 0);
    tee_peer_info *pi = info;
    assert_memory_equal(pi->pubkey, id->pubkey, 32);
    assert_false(pi->has_quote);
    tee_peer_info_free(info);

    /* No quote: fake and tdx policies refuse. */
    tee_policy *fake = tee_policy_new(TEE_POLICY_FAKE);
    tee_policy *tdx = tee_policy_new(TEE_POLICY_TDX);
    assert_int_equal(tee_verify_peer(fake, x, &info, &err), -1);
    assert_null(info);
    assert_non_null(strstr(err.msg, "no TEE quote"));
    assert_int_equal(tee_verify_peer(tdx, x, &info, &err), -1);
    tee_policy_free(any);
    tee_policy_free(fake);
    tee_policy_free(tdx);
    tee_identity_free(id);
    tee_provider_free(none);
}

static void test_expired_and_not_yet_valid(void **state)
{
    tee_provider *none = tee_provider_new_none();
    cc_err err = {0};
    tee_identity_opts o = {.now = time(NULL) - 3 * 86400};
    tee_identity *old = tee_identity_new(none, &o, &err);
    assert_non_null(old);
    tee_policy *any = tee_policy_new(TEE_POLICY_ANY);
    void *info = NULL;
    assert_int_equal(tee_verify_peer(any, old->cert, &info, &err), -1);
    assert_non_null(strstr(err.msg, "expired"));
    o.now = time(NULL) + 3 * 86400;
    tee_identity *future = tee_identity_new(none, &o, &err);
    assert_int_equal(tee_verify_peer(any, future->cert, &info, &err), -1);
    assert_non_null(strstr(err.msg, "not yet valid"));
    /* Rotation replaces the old identity and keeps its claims. */
    tee_identity *cur = old;
    strcpy(cur->claims.role, "proxy");
    uint8_t old_pub[32];
    memcpy(old_pub, cur->pubkey, 32);
    assert_int_equal(tee_identity_rotate(none, NULL, &cur, &err), 1);
    assert_memory_equal(cur->pubkey, old_pub, 32); /* same key, new certificate */
    assert_string_equal(cur->claims.role, "proxy");
    assert_false(tee_identity_needs_renewal(cur, 0));
    tee_policy *any2 = tee_policy_new(TEE_POLICY_ANY);
    assert_int_equal(tee_verify_peer(any2, cur->cert, &info, &err), 0);
    assert_string_equal(((tee_peer_info *)info)->claims.role, "proxy");
    tee_peer_info_free(info);
    tee_policy_free(any2);
    assert_int_equal(tee_identity_rotate(none, NULL, &cur, &err), 0);
    tee_identity_free(cur);
    tee_identity_free(future);
    tee_policy_free(any);
    tee_provider_free(none);
}

/* A shorter lifetime (a daemon's max_cert_lifetime below a day) is kept on
 * rotation, and renewal starts in its last quarter so the certificate is
 * replaced before verifiers would refuse it. */
static void test_short_lifetime_rotation(void **state)
{
    tee_provider *none = tee_provider_new_none();
    cc_err err = {0};
    tee_identity_opts o = {.validity_seconds = 4 * 3600};
    tee_identity *cur = tee_identity_new(none, &o, &err);
    assert_non_null(cur);
    assert_int_equal(cur->not_after - cur->not_before, 4 * 3600);
    assert_false(tee_identity_needs_renewal(cur, cur->not_after - 2 * 3600));
    assert_true(tee_identity_needs_renewal(cur, cur->not_after - 3599));
    /* An hour before expiry: rotated, to another 4-hour certificate. */
    tee_identity_opts later = {.now = cur->not_after - 1800};
    assert_int_equal(tee_identity_rotate(none, &later, &cur, &err), 1);
    assert_int_equal(cur->not_after - cur->not_before, 4 * 3600);
    /* A verifier limited to that lifetime accepts it. */
    tee_policy *any = tee_policy_new(TEE_POLICY_ANY);
    tee_policy_set_max_cert_lifetime(any, 4 * 3600);
    tee_policy_set_time(any, cur->not_before + 60);
    assert_int_equal(tee_verify_peer(any, cur->cert, NULL, &err), 0);
    tee_policy_free(any);
    tee_identity_free(cur);
    tee_provider_free(none);
}

static void test_unknown_critical_extension_and_non_ed25519(void **state)
{
    cc_err err = {0};
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    uint8_t pub[32];
    size_t pl = 32;
    EVP_PKEY_get_raw_public_key(k, pub, &pl);
    X509 *x = tee_cert_build(k, pub, 32, NULL, 0, time(NULL) - 10, 3600, &err);
    assert_non_null(x);
    tee_policy *any = tee_policy_new(TEE_POLICY_ANY);
    void *info = NULL;
    assert_int_equal(tee_verify_peer(any, x, &info, &err), 0);
    tee_peer_info_free(info);
    /* Add a critical private extension and re-sign. */
    ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.4.1.12345.99", 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(os, (const unsigned char *)"x", 1);
    X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, os);
    X509_add_ext(x, ext, -1);
    X509_sign(x, k, NULL);
    assert_int_equal(tee_verify_peer(any, x, &info, &err), -1);
    assert_non_null(strstr(err.msg, "unknown critical extension 1.3.6.1.4.1.12345.99"));
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    X509_free(x);

    /* Claims naming another key are refused. */
    uint8_t other[32];
    memset(other, 1, 32);
    x = tee_cert_build(k, other, 32, NULL, 0, time(NULL) - 10, 3600, &err);
    assert_int_equal(tee_verify_peer(any, x, &info, &err), -1);
    assert_non_null(strstr(err.msg, "claims do not start"));
    X509_free(x);
    EVP_PKEY_free(k);

    /* A P-256 key is refused. */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *y = X509_new();
    X509_set_version(y, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(y), 1);
    X509_gmtime_adj(X509_getm_notBefore(y), -10);
    X509_gmtime_adj(X509_getm_notAfter(y), 3600);
    X509_set_pubkey(y, ec);
    X509_sign(y, ec, EVP_sha256());
    assert_int_equal(tee_verify_peer(any, y, &info, &err), -1);
    assert_non_null(strstr(err.msg, "not Ed25519"));
    X509_free(y);
    EVP_PKEY_free(ec);
    tee_policy_free(any);
}

static void test_fake_quote_verifies_under_fake_not_tdx(void **state)
{
    tee_provider *p = fake_provider(NULL, "{\"model\":\"m\"}");
    cc_err err = {0};
    tee_claims cl = {0};
    strcpy(cl.role, "worker");
    tee_identity_opts o = {.claims = &cl};
    tee_identity *id = tee_identity_new(p, &o, &err);
    assert_non_null(id);
    assert_true(id->has_quote);

    tee_policy *fake = fake_policy();
    void *info = NULL;
    assert_int_equal(tee_verify_peer(fake, id->cert, &info, &err), 0);
    tee_peer_info *pi = info;
    assert_true(pi->has_quote);
    assert_true(pi->quote_verified);
    assert_false(pi->from_cache);
    assert_memory_equal(pi->image_hash, id->image_hash, 32);
    assert_string_equal(pi->claims.role, "worker");
    /* RTMR1 is the measured executable (this test program). */
    uint8_t exe[48];
    cc_buf b = CC_BUF_INIT;
    assert_int_equal(cc_read_file("/proc/self/exe", &b, &err), 0);
    crypto_sha384(b.data, b.len, exe);
    cc_buf_free(&b);
    assert_memory_equal(pi->td.rtmr[1], exe, 48);
    uint8_t cfg[48];
    crypto_sha384("{\"model\":\"m\"}", 13, cfg);
    assert_memory_equal(pi->td.rtmr[2], cfg, 48);
    tee_peer_info_free(info);

    /* Second time: from the cache. */
    assert_int_equal(tee_verify_peer(fake, id->cert, &info, &err), 0);
    assert_true(((tee_peer_info *)info)->from_cache);
    tee_peer_info_free(info);
    uint64_t hits, misses;
    tee_policy_cache_stats(fake, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 1);

    /* tdx pins Intel's root: the fake chain does not verify. */
    tee_policy *tdx = tee_policy_new(TEE_POLICY_TDX);
    assert_int_equal(tee_verify_peer(tdx, id->cert, &info, &err), -1);
    assert_null(info);
    assert_non_null(strstr(err.msg, "PCK chain"));
    tee_policy_free(tdx);

    /* Another network's fake root refuses it too. */
    char other[256];
    assert_int_equal(tee_fixture_root_create(other, sizeof(other), "cocoon-tee-test2"), 0);
    assert_int_equal(tee_fake_root_init(other, false, &err), -1); /* no overwrite */
    X509 *oroot = tee_fake_root_load_cert(other, &err);
    tee_policy *ofake = tee_policy_new(TEE_POLICY_FAKE);
    tee_policy_set_root(ofake, oroot);
    assert_int_equal(tee_verify_peer(ofake, id->cert, &info, &err), -1);
    tee_policy_free(ofake);
    X509_free(oroot);
    tee_fixture_root_remove(other);

    tee_policy_free(fake);
    tee_identity_free(id);
    tee_provider_free(p);
}

static void test_reportdata_must_match_key(void **state)
{
    /* A genuine quote taken from one certificate and put into a certificate
     * with another key must be refused (replay). */
    tee_provider *p = fake_provider(NULL, NULL);
    cc_err err = {0};
    tee_identity *id = tee_identity_new(p, NULL, &err);
    assert_non_null(id);
    cc_buf claims = CC_BUF_INIT, quote = CC_BUF_INIT;
    bool hq;
    assert_int_equal(tee_cert_extract(id->cert, &claims, &quote, &hq, &err), 0);
    assert_true(hq);
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    uint8_t pub[32];
    size_t pl = 32;
    EVP_PKEY_get_raw_public_key(k, pub, &pl);
    X509 *thief = tee_cert_build(k, pub, 32, quote.data, quote.len, time(NULL) - 10, 3600, &err);
    assert_non_null(thief);
    tee_policy *fake = fake_policy();
    void *info = NULL;
    assert_int_equal(tee_verify_peer(fake, thief, &info, &err), -1);
    assert_non_null(strstr(err.msg, "REPORTDATA"));
    /* Even policy any checks the binding when a quote is present. */
    tee_policy *any = tee_policy_new(TEE_POLICY_ANY);
    assert_int_equal(tee_verify_peer(any, thief, &info, &err), -1);
    tee_policy_free(any);
    tee_policy_free(fake);
    X509_free(thief);
    EVP_PKEY_free(k);
    cc_buf_free(&claims);
    cc_buf_free(&quote);
    tee_identity_free(id);
    tee_provider_free(p);
}

static void test_image_hash_follows_executable_and_allowlist(void **state)
{
    char exe_a[300], exe_b[300];
    snprintf(exe_a, sizeof(exe_a), "%s/exe-a", root_dir);
    snprintf(exe_b, sizeof(exe_b), "%s/exe-b", root_dir);
    cc_err err = {0};
    assert_int_equal(cc_write_file_atomic(exe_a, "genuine binary", 14, 0755, &err), 0);
    assert_int_equal(cc_write_file_atomic(exe_b, "genuine binarY", 14, 0755, &err), 0);
    tee_provider *pa = fake_provider(exe_a, "cfg");
    tee_provider *pb = fake_provider(exe_b, "cfg");
    tee_identity *ia = tee_identity_new(pa, NULL, &err);
    tee_identity *ib = tee_identity_new(pb, NULL, &err);
    assert_non_null(ia);
    assert_non_null(ib);
    assert_memory_not_equal(ia->image_hash, ib->image_hash, 32);

    tee_policy *fake = fake_policy();
    tee_policy_allow_image_hash(fake, ia->image_hash);
    void *info = NULL;
    assert_int_equal(tee_verify_peer(fake, ia->cert, &info, &err), 0);
    tee_peer_info_free(info);
    assert_int_equal(tee_verify_peer(fake, ib->cert, &info, &err), -1);
    assert_non_null(strstr(err.msg, "image hash"));
    assert_non_null(strstr(err.msg, "not allowed"));
    tee_policy_free(fake);
    tee_identity_free(ia);
    tee_identity_free(ib);
    tee_provider_free(pa);
    tee_provider_free(pb);
    unlink(exe_a);
    unlink(exe_b);
}

/* A certificate over a fake quote for a fresh key, with `tweak` applied to the
 * quote bytes before it goes into the certificate. */
static X509 *cert_with_quote(tee_provider *p, void (*tweak)(uint8_t *q, size_t n))
{
    cc_err err = {0};
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    uint8_t pub[32], rd[64];
    size_t pl = 32;
    EVP_PKEY_get_raw_public_key(k, pub, &pl);
    crypto_sha512(pub, 32, rd);
    cc_buf q = CC_BUF_INIT;
    assert_int_equal(tee_provider_quote(p, rd, &q, &err), 0);
    if (tweak) tweak(q.data, q.len);
    X509 *x = tee_cert_build(k, pub, 32, q.data, q.len, time(NULL) - 10, 3600, &err);
    assert_non_null(x);
    cc_buf_free(&q);
    EVP_PKEY_free(k);
    return x;
}

static void set_debug(uint8_t *q, size_t n)
{
    q[48 + 120] |= 1;
}

static void test_debug_attribute_and_allowlists(void **state)
{
    tee_provider *p = fake_provider(NULL, "cfg");
    cc_err err = {0};
    void *info = NULL;
    X509 *dbg = cert_with_quote(p, set_debug);
    /* Policy any still applies the measurement checks to a quote it parses. */
    tee_policy *any = tee_policy_new(TEE_POLICY_ANY);
    assert_int_equal(tee_verify_peer(any, dbg, &info, &err), -1);
    assert_non_null(strstr(err.msg, "debug TD"));
    tee_policy_allow_debug(any, true);
    assert_int_equal(tee_verify_peer(any, dbg, &info, &err), 0);
    assert_false(((tee_peer_info *)info)->quote_verified);
    uint8_t unverified_image[32];
    memcpy(unverified_image, ((tee_peer_info *)info)->image_hash, 32);
    tee_peer_info_free(info);
    /* Unverified measurements never satisfy an allowlist, even a matching one. */
    tee_policy_allow_image_hash(any, unverified_image);
    assert_int_equal(tee_verify_peer(any, dbg, &info, &err), -1);
    assert_non_null(strstr(err.msg, "not verified"));
    tee_policy_free(any);
    /* Under fake the changed bit breaks the quote signature anyway. */
    tee_policy *fake = fake_policy();
    tee_policy_allow_debug(fake, true);
    assert_int_equal(tee_verify_peer(fake, dbg, &info, &err), -1);
    assert_non_null(strstr(err.msg, "quote signature"));
    X509_free(dbg);

    /* MRTD and RTMR allowlists. */
    X509 *good = cert_with_quote(p, NULL);
    tee_td_report m;
    assert_int_equal(tee_fake_measure(NULL, "cfg", 3, &m, &err), 0);
    uint8_t other[48] = {1};
    tee_policy_allow_mrtd(fake, other);
    assert_int_equal(tee_verify_peer(fake, good, &info, &err), -1);
    assert_non_null(strstr(err.msg, "MRTD"));
    tee_policy_allow_mrtd(fake, m.mr_td);
    assert_int_equal(tee_verify_peer(fake, good, &info, &err), 0);
    tee_peer_info_free(info);
    uint8_t rtmrs[4][48];
    memcpy(rtmrs, m.rtmr, sizeof(rtmrs));
    rtmrs[2][0] ^= 1; /* another configuration */
    tee_policy_allow_rtmrs(fake, rtmrs);
    assert_int_equal(tee_verify_peer(fake, good, &info, &err), -1);
    assert_non_null(strstr(err.msg, "RTMRs"));
    tee_policy_allow_rtmrs(fake, m.rtmr);
    assert_int_equal(tee_verify_peer(fake, good, &info, &err), 0);
    tee_peer_info_free(info);
    X509_free(good);
    tee_policy_free(fake);
    tee_provider_free(p);
}

static int refuse_all(void *ud, const tee_peer_info *info, cc_err *err)
{
    (*(int *)ud)++;
    return cc_err_set(err, "registry says no");
}

static void test_check_callback(void **state)
{
    tee_provider *none = tee_provider_new_none();
    cc_err err = {0};
    tee_identity *id = tee_identity_new(none, NULL, &err);
    tee_policy *any = tee_policy_new(TEE_POLICY_ANY);
    int calls = 0;
    tee_policy_set_check(any, refuse_all, &calls);
    void *info = NULL;
    assert_int_equal(tee_verify_peer(any, id->cert, &info, &err), -1);
    assert_int_equal(calls, 1);
    assert_non_null(strstr(err.msg, "registry says no"));
    tee_policy_free(any);
    tee_identity_free(id);
    tee_provider_free(none);
}

/* An injected clock for the caches' TTL: time moves without sleeping. */
static double test_clock(void *ud)
{
    return *(double *)ud;
}

/* The verification cache forgets results after its TTL, and TTL 0 turns
 * it off: a quote is then verified in full every time. */
static void test_cache_ttl(void **state)
{
    tee_provider *p = fake_provider(NULL, NULL);
    cc_err err = {0};
    tee_identity *id = tee_identity_new(p, NULL, &err);
    assert_non_null(id);
    tee_policy *pol = fake_policy();
    double now = 500;
    tee_policy_set_clock(pol, test_clock, &now);
    tee_policy_set_cache_ttl(pol, 50);
    void *info = NULL;
    bool cached[4];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tee_verify_peer(pol, id->cert, &info, &err), 0);
        cached[i] = ((tee_peer_info *)info)->from_cache;
        tee_peer_info_free(info);
        now += 20; /* 500: miss, 520: hit */
    }
    now += 20; /* 560: past the 50 s TTL of the entry made at 500 */
    assert_int_equal(tee_verify_peer(pol, id->cert, &info, &err), 0);
    cached[2] = ((tee_peer_info *)info)->from_cache;
    tee_peer_info_free(info);
    assert_false(cached[0]);
    assert_true(cached[1]);
    assert_false(cached[2]);
    uint64_t hits, misses;
    tee_policy_cache_stats(pol, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 2);
    /* The platform cache (same clock and TTL) expired too: the third
     * verification checked the PCK chain again. */
    tee_policy_platform_cache_stats(pol, &hits, &misses);
    assert_int_equal(hits, 0);
    assert_int_equal(misses, 2);

    tee_policy_set_cache_ttl(pol, 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tee_verify_peer(pol, id->cert, &info, &err), 0);
        cached[3] = ((tee_peer_info *)info)->from_cache;
        tee_peer_info_free(info);
        assert_false(cached[3]);
    }
    tee_policy_free(pol);
    tee_identity_free(id);
    tee_provider_free(p);
}

/* Quotes of one fake platform share their QE report, so a new certificate
 * (a new quote) from a known platform skips the chain: the platform cache
 * hits while the whole-quote cache misses. */
static void test_platform_cache_across_quotes(void **state)
{
    tee_provider *p = fake_provider(NULL, NULL);
    cc_err err = {0};
    tee_identity *a = tee_identity_new(p, NULL, &err), *b = tee_identity_new(p, NULL, &err);
    assert_non_null(a);
    assert_non_null(b);
    tee_policy *pol = fake_policy();
    assert_int_equal(tee_verify_peer(pol, a->cert, NULL, &err), 0);
    assert_int_equal(tee_verify_peer(pol, b->cert, NULL, &err), 0);
    uint64_t hits, misses;
    tee_policy_cache_stats(pol, &hits, &misses);
    assert_int_equal(hits, 0);
    assert_int_equal(misses, 2);
    tee_policy_platform_cache_stats(pol, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 1);
    tee_policy_free(pol);
    tee_identity_free(a);
    tee_identity_free(b);
    tee_provider_free(p);
}

/* A certificate valid for longer than max_cert_lifetime is refused, even
 * when its quote is genuine (the "10-year re-wrap" of a valid quote). */
static void test_max_cert_lifetime(void **state)
{
    tee_provider *p = fake_provider(NULL, NULL);
    cc_err err = {0};
    tee_identity *id = tee_identity_new(p, NULL, &err);
    assert_non_null(id);
    tee_policy *pol = fake_policy();
    assert_int_equal(tee_verify_peer(pol, id->cert, NULL, &err), 0);

    cc_buf claims = CC_BUF_INIT, quote = CC_BUF_INIT;
    bool has_quote = false;
    assert_int_equal(tee_cert_extract(id->cert, &claims, &quote, &has_quote, &err), 0);
    assert_true(has_quote);
    long ten_years = 10L * 365 * 86400;
    X509 *rewrap = tee_cert_build(id->key, claims.data, claims.len, quote.data, quote.len,
                                  time(NULL) - 60, ten_years, &err);
    assert_non_null(rewrap);
    assert_int_equal(tee_verify_peer(pol, rewrap, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "exceeds the maximum 86400 s"));
    /* One second over the limit is refused, the limit itself is not. */
    X509 *over = tee_cert_build(id->key, claims.data, claims.len, quote.data, quote.len,
                                time(NULL) - 60, 86401, &err);
    assert_int_equal(tee_verify_peer(pol, over, NULL, &err), -1);
    tee_policy_set_max_cert_lifetime(pol, 3600);
    assert_int_equal(tee_verify_peer(pol, id->cert, NULL, &err), -1);
    tee_policy_set_max_cert_lifetime(pol, 0); /* unlimited */
    assert_int_equal(tee_verify_peer(pol, rewrap, NULL, &err), 0);
    X509_free(over);
    X509_free(rewrap);
    cc_buf_free(&claims);
    cc_buf_free(&quote);
    tee_policy_free(pol);
    tee_identity_free(id);
    tee_provider_free(p);
}

/* Policy tdx decides on the TCB status; without collateral that status is
 * NotEvaluated, which is refused unless named in the allowed set. (The tdx
 * policy is pointed at the fake root so a fake quote reaches that check.) */
static void test_tdx_refuses_not_evaluated(void **state)
{
    tee_provider *p = fake_provider(NULL, NULL);
    cc_err err = {0};
    tee_identity *id = tee_identity_new(p, NULL, &err);
    assert_non_null(id);
    tee_policy *tdx = tee_policy_new(TEE_POLICY_TDX);
    X509 *root = tee_fake_root_load_cert(root_dir, &err);
    tee_policy_set_root(tdx, root);
    X509_free(root);
    assert_int_equal(tee_verify_peer(tdx, id->cert, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "TCB status NotEvaluated is not accepted"));
    /* Cached or not, the refusal stands. */
    assert_int_equal(tee_verify_peer(tdx, id->cert, NULL, &err), -1);
    tee_policy_set_allowed_tcb(tdx, TEE_TCB_ALLOWED_DEFAULT | 1u << TEE_TCB_NOT_EVALUATED);
    assert_int_equal(tee_verify_peer(tdx, id->cert, NULL, &err), 0);
    /* Policy fake has no TCB to evaluate: NotEvaluated is its normal state. */
    tee_policy *fake = fake_policy();
    assert_int_equal(tee_verify_peer(fake, id->cert, NULL, &err), 0);
    tee_policy_free(fake);
    tee_policy_free(tdx);
    tee_identity_free(id);
    tee_provider_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims_round_trip),
        cmocka_unit_test(test_sealing_claims_round_trip),
        cmocka_unit_test(test_none_identity_shape_and_any_policy),
        cmocka_unit_test(test_expired_and_not_yet_valid),
        cmocka_unit_test(test_short_lifetime_rotation),
        cmocka_unit_test(test_unknown_critical_extension_and_non_ed25519),
        cmocka_unit_test(test_fake_quote_verifies_under_fake_not_tdx),
        cmocka_unit_test(test_reportdata_must_match_key),
        cmocka_unit_test(test_image_hash_follows_executable_and_allowlist),
        cmocka_unit_test(test_check_callback),
        cmocka_unit_test(test_cache_ttl),
        cmocka_unit_test(test_platform_cache_across_quotes),
        cmocka_unit_test(test_max_cert_lifetime),
        cmocka_unit_test(test_tdx_refuses_not_evaluated),
        cmocka_unit_test(test_debug_attribute_and_allowlists),
    };
    return cmocka_run_group_tests(tests, setup_root, teardown_root);
}
