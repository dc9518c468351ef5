/* Cheap refusals: tee_quote_verify stops at the first failed check, and its
 * verified-platform cache never accepts what a fresh verification refuses
 * (other time, other root, other collateral minimum, a forged quote of a
 * cached platform). Real quotes and collateral from
 * $COCOON_SHARED/fixtures/tdx. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tee/tee.h"
#include "../shared_data.h"

static char fixtures[512];

static int setup(void **state)
{
    shared_data_path(fixtures, sizeof(fixtures), "fixtures/tdx");
    return 0;
}

static time_t at(const char *iso)
{
    time_t t;
    cc_err err = {0};
    assert_int_equal(tee_parse_iso_time(iso, &t, &err), 0);
    return t;
}

/* The v4 quote, with `flip` (when >= 0) XOR-ed with 1 before parsing. */
static void load_quote(long flip, tee_quote *q)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/dcap-qvl_sample_tdx_quote.bin", fixtures);
    cc_buf b = CC_BUF_INIT;
    cc_err err = {0};
    if (cc_read_file(path, &b, &err)) fail_msg("%s", err.msg);
    if (flip >= 0) b.data[flip] ^= 1;
    assert_int_equal(tee_quote_parse(b.data, b.len, q, &err), 0);
    cc_buf_free(&b);
}

static tee_collateral *load_collateral(void)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/dcap-qvl_sample_tdx_quote_collateral.json", fixtures);
    cc_err err = {0};
    tee_collateral *c = tee_collateral_load(path, &err);
    if (!c) fail_msg("%s", err.msg);
    return c;
}

static int verify(const tee_quote *q, tee_quote_verify_opts *o, tee_quote_result *res, cc_err *err)
{
    memset(err, 0, sizeof(*err));
    return tee_quote_verify(q, o, res, err);
}

static int count(const cc_buf *log, const char *needle)
{
    int n = 0;
    char *text = cc_strndup((const char *)log->data, log->len);
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    free(text);
    return n;
}

/* Offsets in the v4 quote: body at 48, MRTD at body + 136; signature data
 * after the 584-byte body and its u32 length: signature (64), attestation
 * key (64). */
#define OFF_MRTD (TEE_QUOTE_HEADER_LEN + 136)
#define OFF_ATT_KEY (TEE_QUOTE_HEADER_LEN + TEE_TD10_BODY_LEN + 4 + 64)

static void test_stops_at_first_failure(void **state)
{
    cc_err err;
    tee_quote_result res;
    /* Another attestation key: the QE report no longer binds it. Nothing
     * after that check runs (no signature, no chain). */
    tee_quote q;
    load_quote(OFF_ATT_KEY + 5, &q);
    tee_quote_verify_opts o = {.at = at("2026-11-21T00:00:00Z")};
    assert_int_equal(verify(&q, &o, &res, &err), -1);
    assert_non_null(strstr(err.msg, "QE report data"));
    assert_int_equal(count(&res.log, "FAIL"), 1);
    assert_int_equal(count(&res.log, "ok "), 0);
    assert_int_equal(count(&res.log, "PCK chain"), 0);
    tee_quote_result_free(&res);
    tee_quote_free(&q);

    /* A flipped MRTD byte: binding passes, the quote signature fails, the
     * chain is never looked at. */
    load_quote(OFF_MRTD, &q);
    assert_int_equal(verify(&q, &o, &res, &err), -1);
    assert_non_null(strstr(err.msg, "quote signature"));
    assert_int_equal(count(&res.log, "FAIL"), 1);
    assert_int_equal(count(&res.log, "ok "), 1);
    assert_int_equal(count(&res.log, "PCK chain"), 0);
    tee_quote_result_free(&res);
    tee_quote_free(&q);

    /* With collateral past its nextUpdate: the dates are checked before any
     * collateral signature, and only the first stale item is reported. */
    tee_collateral *col = load_collateral();
    load_quote(-1, &q);
    o.collateral = col;
    o.at = at("2025-08-01T00:00:00Z");
    assert_int_equal(verify(&q, &o, &res, &err), -1);
    assert_non_null(strstr(err.msg, "expired"));
    assert_int_equal(count(&res.log, "FAIL"), 1);
    assert_int_equal(count(&res.log, "signature by its issuer"), 0);
    tee_quote_result_free(&res);
    tee_quote_free(&q);
    tee_collateral_free(col);
}

static void test_cache_hit_and_time_window(void **state)
{
    cc_err err;
    tee_quote_result res;
    tee_quote q;
    load_quote(-1, &q);
    tee_verify_cache *cache = tee_verify_cache_new(600);
    tee_quote_verify_opts o = {.at = at("2026-11-21T00:00:00Z"), .cache = cache};
    assert_int_equal(verify(&q, &o, &res, &err), 0);
    assert_false(res.platform_cached);
    /* The window is the intersection of the chain's validity. */
    assert_true(res.valid_from == at("2025-02-06T23:25:51Z"));
    assert_true(res.valid_until == at("2032-02-06T23:25:51Z"));
    tee_quote_result_free(&res);
    assert_int_equal(verify(&q, &o, &res, &err), 0);
    assert_true(res.platform_cached);
    assert_int_equal(count(&res.log, "cached"), 1);
    tee_quote_result_free(&res);
    uint64_t hits, misses;
    tee_verify_cache_stats(cache, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 1);

    /* After the PCK leaf expired the cached verdict does not apply: the
     * fresh verification refuses, and so does the cached path. */
    o.at = at("2033-06-01T00:00:00Z");
    assert_int_equal(verify(&q, &o, &res, &err), -1);
    assert_non_null(strstr(err.msg, "PCK chain"));
    assert_false(res.platform_cached);
    tee_quote_result_free(&res);
    /* Before the PCK leaf existed, likewise. */
    o.at = at("2024-01-01T00:00:00Z");
    assert_int_equal(verify(&q, &o, &res, &err), -1);
    tee_quote_result_free(&res);

    /* A forged quote of the cached platform still pays its signature. */
    tee_quote forged;
    load_quote(OFF_MRTD, &forged);
    o.at = at("2026-11-21T00:00:00Z");
    assert_int_equal(verify(&forged, &o, &res, &err), -1);
    assert_non_null(strstr(err.msg, "quote signature"));
    tee_quote_result_free(&res);
    tee_quote_free(&forged);

    tee_verify_cache_free(cache);
    tee_quote_free(&q);
}

static void test_cache_other_root_misses(void **state)
{
    cc_err err;
    tee_quote_result res;
    tee_quote q;
    load_quote(-1, &q);
    tee_verify_cache *cache = tee_verify_cache_new(600);
    tee_quote_verify_opts o = {.at = at("2026-11-21T00:00:00Z"), .cache = cache};
    assert_int_equal(verify(&q, &o, &res, &err), 0);
    tee_quote_result_free(&res);
    /* A fake root (any other self-signed root): refused by its bytes before
     * any signature work, although the platform is cached under Intel's. */
    char dir[256];
    cc_tmp_template(dir, sizeof(dir), "cocoon-test-vcache");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(tee_fake_root_init(dir, false, &err), 0);
    X509 *fake_root = tee_fake_root_load_cert(dir, &err);
    assert_non_null(fake_root);
    o.root = fake_root;
    assert_int_equal(verify(&q, &o, &res, &err), -1);
    assert_false(res.platform_cached);
    assert_non_null(strstr(err.msg, "not the pinned root"));
    tee_quote_result_free(&res);
    X509_free(fake_root);
    char f[300];
    snprintf(f, sizeof(f), "%s/fake_root.key", dir);
    unlink(f);
    snprintf(f, sizeof(f), "%s/fake_root.pem", dir);
    unlink(f);
    rmdir(dir);
    tee_verify_cache_free(cache);
    tee_quote_free(&q);
}

static void test_cache_with_collateral(void **state)
{
    cc_err err;
    tee_quote_result res;
    tee_quote q;
    load_quote(-1, &q);
    tee_collateral *col = load_collateral();
    tee_verify_cache *cache = tee_verify_cache_new(600);
    tee_quote_verify_opts o = {.at = at("2025-06-20T00:00:00Z"), .collateral = col, .cache = cache};
    assert_int_equal(verify(&q, &o, &res, &err), 0);
    assert_int_equal(res.tcb_status, TEE_TCB_UP_TO_DATE);
    /* The collateral narrows the window to its items' dates (the QE
     * identity's issueDate is the latest start, the PCK CRL's nextUpdate
     * the earliest end). */
    assert_true(res.valid_from == at("2025-06-19T10:32:27Z"));
    assert_true(res.valid_until == at("2025-07-19T10:00:35Z"));
    tee_quote_result_free(&res);
    assert_int_equal(verify(&q, &o, &res, &err), 0);
    assert_true(res.platform_cached);
    assert_int_equal(res.tcb_status, TEE_TCB_UP_TO_DATE);
    tee_quote_result_free(&res);

    /* Past nextUpdate: refused although the platform was cached. */
    o.at = at("2025-07-20T00:00:00Z");
    assert_int_equal(verify(&q, &o, &res, &err), -1);
    assert_false(res.platform_cached);
    tee_quote_result_free(&res);

    /* A higher minimum tcbEvaluationDataNumber (the fixture has 17). */
    o.at = at("2025-06-20T00:00:00Z");
    o.min_tcb_eval_number = 18;
    assert_int_equal(verify(&q, &o, &res, &err), -1);
    assert_non_null(strstr(err.msg, "tcbEvaluationDataNumber"));
    assert_false(res.platform_cached);
    tee_quote_result_free(&res);
    o.min_tcb_eval_number = 17;
    assert_int_equal(verify(&q, &o, &res, &err), 0);
    tee_quote_result_free(&res);

    /* Without the collateral the cached TCB verdict is not reused: the key
     * names the collateral. */
    o.collateral = NULL;
    o.at = at("2026-11-21T00:00:00Z");
    assert_int_equal(verify(&q, &o, &res, &err), 0);
    assert_false(res.platform_cached);
    assert_int_equal(res.tcb_status, TEE_TCB_NOT_EVALUATED);
    tee_quote_result_free(&res);

    assert_int_equal(tee_collateral_eval_number(col), 17);
    time_t next;
    assert_int_equal(tee_collateral_next_update(col, &next), 0);
    assert_true(next == at("2025-07-19T10:00:35Z"));
    tee_verify_cache_free(cache);
    tee_collateral_free(col);
    tee_quote_free(&q);
}

/* An injected clock: the TTL ends without waiting. */
static double fake_clock(void *ud)
{
    return *(double *)ud;
}

static void test_cache_ttl_clock(void **state)
{
    cc_err err;
    tee_quote_result res;
    tee_quote q;
    load_quote(-1, &q);
    double now = 1000;
    tee_verify_cache *cache = tee_verify_cache_new(10);
    tee_verify_cache_set_clock(cache, fake_clock, &now);
    tee_quote_verify_opts o = {.at = at("2026-11-21T00:00:00Z"), .cache = cache};
    assert_int_equal(verify(&q, &o, &res, &err), 0);
    tee_quote_result_free(&res);
    now += 9.5;
    assert_int_equal(verify(&q, &o, &res, &err), 0);
    assert_true(res.platform_cached);
    tee_quote_result_free(&res);
    now += 1;
    assert_int_equal(verify(&q, &o, &res, &err), 0);
    assert_false(res.platform_cached);
    tee_quote_result_free(&res);
    /* TTL 0: nothing is kept. */
    tee_verify_cache_set_ttl(cache, 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(verify(&q, &o, &res, &err), 0);
        assert_false(res.platform_cached);
        tee_quote_result_free(&res);
    }
    tee_verify_cache_free(cache);
    tee_quote_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stops_at_first_failure),
        cmocka_unit_test(test_cache_hit_and_time_window),
        cmocka_unit_test(test_cache_other_root_misses),
        cmocka_unit_test(test_cache_with_collateral),
        cmocka_unit_test(test_cache_ttl_clock),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
