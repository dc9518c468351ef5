/* Round trip of every constructor of the schema: sample values (all optional
 * fields absent / present / mixed) are encoded, decoded in copy and borrow
 * mode and re-encoded; the bytes must be identical. Also cuts every encoding
 * at every byte and appends a byte: both must be rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "tl/tl.h"

#define SEEDS 8

static void encode_ok(const tl_obj *o, cc_buf *out)
{
    cc_err err = {0};
    int rc = tl_encode(o, out, &err);
    if (rc != 0) fail_msg("encode %s: %s", tl_ctor_name(o->id), err.msg);
    size_t sz = 0;
    assert_int_equal(tl_encoded_size(o, &sz, &err), 0);
    assert_int_equal(sz, out->len);
    assert_int_equal(out->len % 4, 0);
}

static void round_trip_one(uint32_t id, uint32_t seed, size_t *total_bytes)
{
    tl_obj *o = tl_sample_new(id, seed);
    assert_non_null(o);
    assert_int_equal(o->id, id);
    cc_buf a = CC_BUF_INIT, b = CC_BUF_INIT, c = CC_BUF_INIT;
    encode_ok(o, &a);
    assert_int_equal(cc_load_u32le(a.data), id);
    *total_bytes += a.len;

    cc_err err = {0};
    tl_obj *d = tl_decode(a.data, a.len, &err);
    if (!d) fail_msg("decode %s seed %u: %s", tl_ctor_name(id), seed, err.msg);
    assert_int_equal(d->id, id);
    encode_ok(d, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_true(tl_obj_equal(o, d));

    /* Borrow mode on a private copy of the input: same bytes back. */
    uint8_t *in = malloc(a.len);
    memcpy(in, a.data, a.len);
    tl_obj *e = tl_decode_ex(in, a.len, &(tl_decode_opts){.flags = TL_DECODE_BORROW}, &err);
    if (!e) fail_msg("borrow decode %s: %s", tl_ctor_name(id), err.msg);
    encode_ok(e, &c);
    assert_memory_equal(a.data, c.data, a.len);

    /* The clone is an independent copy. */
    tl_obj *f = tl_obj_clone(e, &err);
    assert_non_null(f);
    tl_obj_free(e);
    memset(in, 0xAA, a.len);
    free(in);
    assert_true(tl_obj_equal(o, f));
    tl_obj_free(f);

    /* The dump is valid JSON naming the constructor. */
    cc_buf j = CC_BUF_INIT;
    tl_obj_dump(d, &j, 0);
    json_error_t jerr;
    json_t *json = json_loadb((const char *)j.data, j.len, JSON_ALLOW_NUL, &jerr);
    if (!json) fail_msg("dump of %s is not JSON: %s", tl_ctor_name(id), jerr.text);
    assert_string_equal(json_string_value(json_object_get(json, "@type")), tl_ctor_name(id));
    json_decref(json);
    cc_buf_free(&j);

    /* Typed decode: the constructor's own type is accepted. */
    const tl_ctor_info *info = tl_ctor_find(id);
    if (!info->is_function) {
        tl_obj *g = tl_decode_ex(a.data, a.len, &(tl_decode_opts){.expect_type = info->type}, &err);
        assert_non_null(g);
        tl_obj_free(g);
    }

    tl_obj_free(d);
    tl_obj_free(o);
    cc_buf_free(&a);
    cc_buf_free(&b);
    cc_buf_free(&c);
}

static void test_every_constructor_round_trips(void **state)
{
    size_t bytes = 0;
    assert_int_equal(tl_ctor_at(TL_CTOR_COUNT), NULL);
    for (size_t i = 0; i < TL_CTOR_COUNT; i++) {
        const tl_ctor_info *info = tl_ctor_at(i);
        assert_non_null(info);
        for (uint32_t seed = 0; seed < SEEDS; seed++)
            round_trip_one(info->id, seed, &bytes);
    }
    assert_true(bytes > TL_CTOR_COUNT * SEEDS * 4);
}

static void test_every_constructor_rejects_cuts_and_trailing(void **state)
{
    for (size_t i = 0; i < TL_CTOR_COUNT; i++) {
        const tl_ctor_info *info = tl_ctor_at(i);
        for (uint32_t seed = 0; seed < 3; seed++) {
            tl_obj *o = tl_sample_new(info->id, seed);
            cc_buf a = CC_BUF_INIT;
            encode_ok(o, &a);
            for (size_t cut = 0; cut < a.len; cut++) {
                /* Exact-size heap copy so ASan sees any over-read. */
                uint8_t *p = malloc(cut ? cut : 1);
                memcpy(p, a.data, cut);
                cc_err err = {0};
                tl_obj *d = tl_decode(p, cut, &err);
                if (d) fail_msg("%s seed %u cut at %zu/%zu accepted", info->name, seed, cut, a.len);
                assert_non_null(strstr(err.msg, "tl decode"));
                free(p);
            }
            cc_buf_append_u8(&a, 0);
            cc_err err = {0};
            assert_null(tl_decode(a.data, a.len, &err));
            assert_non_null(strstr(err.msg, "trailing"));
            cc_buf_free(&a);
            tl_obj_free(o);
        }
    }
}

static void test_samples_cover_optional_fields(void **state)
{
    /* seed 1 sets every used flag bit: the final info must be on the wire. */
    tl_obj *o = tl_sample_new(TL_ID_proxy_queryAnswerPartEx, 1);
    tl_proxy_queryAnswerPartEx *m = tl_as_proxy_queryAnswerPartEx(o);
    assert_non_null(m);
    assert_int_equal(m->flags, 1);
    assert_int_equal(m->final_info.flags, 3);
    tl_obj *z = tl_sample_new(TL_ID_proxy_queryAnswerPartEx, 0);
    assert_int_equal(tl_as_proxy_queryAnswerPartEx(z)->flags, 0);
    assert_null(tl_as_tcp_ping(o));
    tl_obj_free(o);
    tl_obj_free(z);
    assert_null(tl_sample_new(0x12345678, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_constructor_round_trips),
        cmocka_unit_test(test_every_constructor_rejects_cuts_and_trailing),
        cmocka_unit_test(test_samples_cover_optional_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
