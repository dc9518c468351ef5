/* daemon TEE set-up, measured settings, peer-info JSON and the stats server:
 * the identity a daemon makes must carry its role (and model) claims and,
 * under the fake TEE, the image hash of exactly the settings it measured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "crypto/crypto.h"
#include "daemon/daemon.h"
#include "../tee_fixture.h"

static char root_dir[512];

static int make_root(void **state)
{
    (void)state;
    return tee_fixture_root_create(root_dir, sizeof(root_dir), "cocoon-daemon-tee");
}

static int remove_root(void **state)
{
    (void)state;
    tee_fixture_root_remove(root_dir);
    return 0;
}

typedef struct {
    int calls;
    const char *chain;
} measure_ctx;

static int measure(const void *cfg, cc_buf *out, cc_err *err)
{
    measure_ctx *m = (measure_ctx *)cfg;
    m->calls++;
    const daemon_measure_item items[] = {{"chain", m->chain}};
    return daemon_measure(out, "proxy", "fake", "fake", items, 1, root_dir, err);
}

static void test_measure_lines(void **state)
{
    (void)state;
    cc_buf b = CC_BUF_INIT;
    cc_err err = {0};
    const daemon_measure_item items[] = {{"proxy_check", "off"}, {"backend_url", NULL}};
    assert_int_equal(daemon_measure(&b, "worker", "none", "any", items, 2, NULL, &err), 0);
    const char *want = "role=worker\ntee=none\npolicy=any\nproxy_check=off\nbackend_url=\n";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);

    /* policy fake appends the root certificate's hash as the last line */
    cc_buf_reset(&b);
    assert_int_equal(daemon_measure(&b, "client", "none", "fake", NULL, 0, root_dir, &err), 0);
    cc_buf_append(&b, "", 1);
    assert_non_null(strstr((char *)b.data, "policy=fake\nfake_root_sha256="));

    /* a newline could forge another line */
    cc_buf_reset(&b);
    const daemon_measure_item bad[] = {{"chain", "none\nrole=client"}};
    assert_int_equal(daemon_measure(&b, "proxy", "none", "any", bad, 1, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "newline"));
    cc_buf_free(&b);
}

static void test_none_any(void **state)
{
    (void)state;
    measure_ctx m = {0};
    uint8_t model_hash[32];
    memset(model_hash, 0xab, sizeof(model_hash));
    daemon_tee_config c = {.role = "worker",
                           .tee = "none",
                           .policy = "any",
                           .model_hash = model_hash,
                           .measure = measure,
                           .measure_cfg = &m};
    daemon_tee t = {0};
    cc_err err = {0};
    assert_int_equal(daemon_tee_setup(&t, &c, &err), 0);
    assert_int_equal(m.calls, 0); /* only the fake TEE measures settings */
    assert_non_null(t.provider);
    assert_non_null(t.identity);
    assert_non_null(t.policy);
    assert_null(t.proxy_registry);
    void *info = NULL;
    assert_int_equal(tee_verify_peer(t.policy, t.identity->cert, &info, &err), 0);
    const tee_peer_info *pi = info;
    assert_string_equal(pi->claims.role, "worker");
    assert_true(pi->claims.has_model_hash);
    assert_memory_equal(pi->claims.model_hash, model_hash, 32);
    assert_false(pi->quote_verified);

    /* unverified: the stats entry shows an empty image hash */
    json_t *e = json_object();
    daemon_json_add_peer_info(e, pi);
    assert_string_equal(json_string_value(json_object_get(e, "image_hash")), "");
    assert_string_equal(json_string_value(json_object_get(e, "attestation")), pi->summary);
    daemon_json_add_peer_info(e, NULL); /* nothing to add, nothing changes */
    assert_int_equal(json_object_size(e), 2);
    json_decref(e);
    tee_peer_info_free(info);
    daemon_tee_clear(&t);
    assert_null(t.provider);
}

static void test_fake_measured(void **state)
{
    (void)state;
    measure_ctx m = {.chain = "none"};
    daemon_tee_config c = {.role = "proxy",
                           .tee = "fake",
                           .policy = "fake",
                           .fake_root = root_dir,
                           .measure = measure,
                           .measure_cfg = &m};
    daemon_tee t = {0};
    cc_err err = {0};
    assert_int_equal(daemon_tee_setup(&t, &c, &err), 0);
    assert_int_equal(m.calls, 1);
    void *info = NULL;
    assert_int_equal(tee_verify_peer(t.policy, t.identity->cert, &info, &err), 0);
    const tee_peer_info *pi = info;
    assert_true(pi->quote_verified);
    assert_string_equal(pi->claims.role, "proxy");
    assert_false(pi->claims.has_model_hash);
    /* the image hash covers exactly what measure() wrote */
    cc_buf cfg = CC_BUF_INIT;
    measure_ctx again = {.chain = "none"};
    assert_int_equal(measure(&again, &cfg, &err), 0);
    uint8_t want[32];
    assert_int_equal(tee_fake_image_hash(NULL, cfg.data, cfg.len, want, &err), 0);
    assert_memory_equal(pi->image_hash, want, 32);
    char hex[65];
    cc_hex_encode(want, 32, hex);
    json_t *e = json_object();
    daemon_json_add_peer_info(e, pi);
    assert_string_equal(json_string_value(json_object_get(e, "image_hash")), hex);
    json_decref(e);
    cc_buf_free(&cfg);
    tee_peer_info_free(info);
    daemon_tee_clear(&t);
}

/* The claims a certificate makes, as a peer verifies them. */
static tee_claims claims_of(const daemon_tee *t, X509 *cert)
{
    void *info = NULL;
    cc_err err = {0};
    assert_int_equal(tee_verify_peer(t->policy, cert, &info, &err), 0);
    const tee_peer_info *pi = info;
    assert_true(pi->quote_verified);
    tee_claims c = pi->claims;
    tee_peer_info_free(info);
    return c;
}

static void der_hash(X509 *cert, uint8_t out[32])
{
    unsigned char *der = NULL;
    int n = i2d_X509(cert, &der);
    assert_true(n > 0);
    crypto_sha256(der, (size_t)n, out);
    OPENSSL_free(der);
}

/* A worker's renewal makes new sealing keys, claimed by the new certificate
 * (attested as the first was), and keeps the previous certificate with its
 * keys: a receipt signed with the old key still verifies under the old
 * certificate's claim, not under the new one's. */
static void test_rotate_sealing_keys(void **state)
{
    (void)state;
    measure_ctx m = {.chain = "none"};
    uint8_t model_hash[32];
    memset(model_hash, 0x5a, sizeof(model_hash));
    daemon_tee_config c = {.role = "worker",
                           .tee = "fake",
                           .policy = "fake",
                           .fake_root = root_dir,
                           .model_hash = model_hash,
                           .sealing_keys = true,
                           .measure = measure,
                           .measure_cfg = &m};
    daemon_tee t = {0};
    cc_err err = {0};
    assert_int_equal(daemon_tee_setup(&t, &c, &err), 0);
    assert_null(t.prev_cert);
    tee_claims first = claims_of(&t, t.identity->cert);
    uint8_t first_hash[32], first_sk[32], first_rsk[32], pub[32], id_pub[32];
    der_hash(t.identity->cert, first_hash);
    memcpy(first_sk, t.seal_sk, 32);
    memcpy(first_rsk, t.receipt_sk, 32);
    memcpy(id_pub, t.identity->pubkey, 32);

    /* A day-long certificate is not due: nothing changes. */
    assert_int_equal(daemon_tee_rotate(&t, false, &err), 0);
    assert_null(t.prev_cert);
    assert_memory_equal(t.seal_sk, first_sk, 32);

    assert_int_equal(daemon_tee_rotate(&t, true, &err), 1);
    assert_int_equal(t.renewals, 1);
    tee_claims second = claims_of(&t, t.identity->cert);
    assert_true(second.has_x25519 && second.has_receipt_key && second.has_model_hash);
    assert_memory_equal(second.model_hash, model_hash, 32);
    assert_string_equal(second.role, "worker");
    assert_memory_not_equal(second.x25519_pub, first.x25519_pub, 32);
    assert_memory_not_equal(second.receipt_pub, first.receipt_pub, 32);
    /* The new claims are the new private keys' public halves. */
    assert_int_equal(crypto_x25519_public(t.seal_sk, pub, &err), 0);
    assert_memory_equal(pub, second.x25519_pub, 32);
    assert_int_equal(crypto_ed25519_public(t.receipt_sk, pub, &err), 0);
    assert_memory_equal(pub, second.receipt_pub, 32);
    /* The identity key stays (a proxy knows the worker by it). */
    assert_memory_equal(t.identity->pubkey, id_pub, 32);
    /* The previous certificate and its keys are kept, unchanged. */
    assert_non_null(t.prev_cert);
    uint8_t h[32];
    der_hash(t.prev_cert, h);
    assert_memory_equal(h, first_hash, 32);
    assert_memory_equal(t.prev_seal_sk, first_sk, 32);
    assert_memory_equal(t.prev_receipt_sk, first_rsk, 32);
    tee_claims prev = claims_of(&t, t.prev_cert);
    assert_memory_equal(prev.receipt_pub, first.receipt_pub, 32);

    /* A receipt of the old key verifies offline with the old certificate. */
    crypto_receipt r = {0}, back;
    uint8_t out[CRYPTO_RECEIPT_LEN];
    memcpy(r.cert_hash, first_hash, 32);
    r.total_tokens = 7;
    assert_int_equal(crypto_receipt_sign(&r, t.prev_receipt_sk, out, &err), 0);
    assert_int_equal(crypto_receipt_verify(out, sizeof(out), prev.receipt_pub, &back, &err), 0);
    assert_int_equal(back.total_tokens, 7);
    assert_int_equal(crypto_receipt_verify(out, sizeof(out), second.receipt_pub, &back, &err), -1);

    /* A second renewal forgets the first certificate's keys. */
    uint8_t second_hash[32], second_sk[32];
    der_hash(t.identity->cert, second_hash);
    memcpy(second_sk, t.seal_sk, 32);
    assert_int_equal(daemon_tee_rotate(&t, true, &err), 1);
    der_hash(t.prev_cert, h);
    assert_memory_equal(h, second_hash, 32);
    assert_memory_equal(t.prev_seal_sk, second_sk, 32);
    assert_memory_not_equal(t.prev_seal_sk, first_sk, 32);
    daemon_tee_clear(&t);
    assert_null(t.prev_cert);
}

/* A daemon without sealing keys renews its certificate with the same claims. */
static void test_rotate_plain(void **state)
{
    (void)state;
    measure_ctx m = {.chain = "none"};
    daemon_tee_config c = {.role = "proxy",
                           .tee = "fake",
                           .policy = "fake",
                           .fake_root = root_dir,
                           .measure = measure,
                           .measure_cfg = &m};
    daemon_tee t = {0};
    cc_err err = {0};
    assert_int_equal(daemon_tee_setup(&t, &c, &err), 0);
    uint8_t before[32], after[32];
    der_hash(t.identity->cert, before);
    assert_int_equal(daemon_tee_rotate(&t, true, &err), 1);
    der_hash(t.identity->cert, after);
    assert_memory_not_equal(before, after, 32);
    tee_claims cl = claims_of(&t, t.identity->cert);
    assert_string_equal(cl.role, "proxy");
    assert_false(cl.has_x25519 || cl.has_receipt_key);
    assert_null(t.prev_cert);
    daemon_tee_clear(&t);
}

static void test_errors(void **state)
{
    (void)state;
    measure_ctx m = {0};
    daemon_tee t = {0};
    cc_err err = {0};
    daemon_tee_config c = {
        .role = "client", .tee = "sgx", .policy = "any", .measure = measure, .measure_cfg = &m};
    assert_int_equal(daemon_tee_setup(&t, &c, &err), -1);
    assert_non_null(strstr(err.msg, "sgx"));
    assert_null(t.provider);
    daemon_tee_clear(&t);

    /* half made: the identity exists, the fake root does not load */
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/absent", root_dir);
    c = (daemon_tee_config){.role = "client",
                            .tee = "none",
                            .policy = "fake",
                            .fake_root = missing,
                            .measure = measure,
                            .measure_cfg = &m};
    assert_int_equal(daemon_tee_setup(&t, &c, &err), -1);
    assert_non_null(t.identity);
    daemon_tee_clear(&t); /* releases what was made (the sanitizer build checks) */
    assert_null(t.identity);

    c = (daemon_tee_config){.role = "client",
                            .tee = "none",
                            .policy = "any",
                            .proxy_registry = missing,
                            .measure = measure,
                            .measure_cfg = &m};
    assert_int_equal(daemon_tee_setup(&t, &c, &err), -1);
    assert_null(t.proxy_registry);
    daemon_tee_clear(&t);
}

static void fill(void *ud, json_t *o)
{
    json_object_set_new(o, "n", json_integer(*(int *)ud));
}

static void test_stats_http(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    int n = 7;
    cc_err err = {0};
    http_server *s = daemon_stats_http_new(base, "127.0.0.1", 0, NULL, "t", fill, NULL, &n, &err);
    assert_non_null(s);
    assert_true(http_server_port(s) > 0);
    /* the same port again cannot be bound: the message names the address */
    char want[64];
    snprintf(want, sizeof(want), "stats HTTP on 127.0.0.1:%d", http_server_port(s));
    http_server *s2 = daemon_stats_http_new(base, "127.0.0.1", http_server_port(s), NULL, "t", fill,
                                            NULL, &n, &err);
    assert_null(s2);
    assert_true(strncmp(err.msg, want, strlen(want)) == 0);
    http_server_free(s);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_measure_lines), cmocka_unit_test(test_none_any),
        cmocka_unit_test(test_fake_measured), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_stats_http),    cmocka_unit_test(test_rotate_sealing_keys),
        cmocka_unit_test(test_rotate_plain),
    };
    return cmocka_run_group_tests(tests, make_root, remove_root);
}
