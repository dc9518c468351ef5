/* Reproduces every vector of fixtures/ton/vectors.json (made with @ton/core and
 * @ton/ton) byte for byte: cell representations and hashes, the BoC forms,
 * address forms and the wallet external messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "ton/ton.h"

static json_t *g_vectors;

static const char *jstr(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) fail_msg("vector field %s missing", key);
    return json_string_value(v);
}

static void assert_hex_eq(const uint8_t *data, size_t n, const char *want_hex)
{
    char *got = cc_hex_encode_alloc(data, n);
    if (strcmp(got, want_hex) != 0) fail_msg("got  %s\nwant %s", got, want_hex);
    free(got);
}

static ton_cell *cell_from_ops(const json_t *ops_all, const char *name)
{
    const json_t *ops = json_object_get(ops_all, name);
    assert_non_null(ops);
    ton_builder b;
    ton_builder_init(&b);
    size_t i;
    const json_t *op;
    json_array_foreach(ops, i, op)
    {
        const char *kind = json_string_value(json_array_get(op, 0));
        if (!strcmp(kind, "storeUint")) {
            const char *v = json_string_value(json_array_get(op, 1));
            unsigned bits = (unsigned)json_integer_value(json_array_get(op, 2));
            uint64_t x = !strncmp(v, "0b", 2) ? strtoull(v + 2, NULL, 2) : strtoull(v, NULL, 0);
            assert_int_equal(ton_builder_store_uint(&b, x, bits), 0);
        } else if (!strcmp(kind, "storeRef")) {
            ton_cell *child = cell_from_ops(ops_all, json_string_value(json_array_get(op, 1)));
            assert_int_equal(ton_builder_store_ref(&b, child), 0);
            ton_cell_unref(child);
        } else {
            fail_msg("unknown op %s", kind);
        }
    }
    cc_err err;
    ton_cell *c = ton_builder_end(&b, &err);
    assert_non_null(c);
    return c;
}

static void check_cell(const ton_cell *c, const json_t *want)
{
    assert_int_equal(c->bit_len, json_integer_value(json_object_get(want, "bit_len")));
    assert_int_equal(c->n_refs, json_integer_value(json_object_get(want, "n_refs")));
    assert_int_equal(ton_cell_depth(c), json_integer_value(json_object_get(want, "depth")));
    cc_buf repr = CC_BUF_INIT;
    ton_cell_repr(c, &repr);
    assert_hex_eq(repr.data, repr.len, jstr(want, "repr_hex"));
    char d12[5];
    snprintf(d12, sizeof d12, "%s%s", jstr(want, "d1_hex"), jstr(want, "d2_hex"));
    assert_hex_eq(repr.data, 2, d12);
    cc_buf_free(&repr);
    assert_hex_eq(ton_cell_hash(c), 32, jstr(want, "hash_hex"));
}

static void check_boc_forms(const ton_cell *c, const json_t *want)
{
    struct {
        const char *key;
        ton_boc_opts opts;
    } forms[] = {{"boc_hex_crc32c", {.crc32c = true}},
                 {"boc_hex_no_crc", {.crc32c = false}},
                 {"boc_hex_idx_crc32c", {.crc32c = true, .index = true}}};
    cc_err err;
    for (size_t i = 0; i < 3; i++) {
        cc_buf b = CC_BUF_INIT;
        assert_int_equal(ton_boc_serialize(c, forms[i].opts, &b, &err), 0);
        assert_hex_eq(b.data, b.len, jstr(want, forms[i].key));
        /* and each form parses back to the same cell */
        ton_cell *back = ton_boc_parse(b.data, b.len, &err);
        if (!back) fail_msg("parse %s: %s", forms[i].key, err.msg);
        assert_true(ton_cell_equal(back, c));
        ton_cell_unref(back);
        cc_buf_free(&b);
    }
    char *b64 = ton_boc_to_base64(c, &err);
    assert_string_equal(b64, jstr(want, "boc_base64_crc32c"));
    free(b64);
}

static void test_cell_with_two_refs(void **state)
{
    (void)state;
    const json_t *v = json_object_get(g_vectors, "cell_with_two_refs");
    const json_t *ops = json_object_get(v, "builder_ops");
    ton_cell *root = cell_from_ops(ops, "root");
    check_cell(root, json_object_get(v, "root"));
    check_cell(root->refs[0], json_object_get(v, "child_a"));
    check_cell(root->refs[1], json_object_get(v, "child_b"));
    assert_int_equal(ton_cell_count(root), 3);
    check_boc_forms(root, json_object_get(v, "boc"));
    ton_cell_unref(root);
}

static void test_empty_cell(void **state)
{
    (void)state;
    const json_t *v =
        json_object_get(json_object_get(g_vectors, "cell_with_two_refs"), "empty_cell");
    ton_builder b;
    ton_builder_init(&b);
    ton_cell *c = ton_builder_end(&b, NULL);
    assert_hex_eq(ton_cell_hash(c), 32, jstr(v, "hash_hex"));
    check_boc_forms(c, v);
    ton_cell_unref(c);
}

static void test_crc32c(void **state)
{
    (void)state;
    const json_t *v =
        json_object_get(json_object_get(g_vectors, "cell_with_two_refs"), "crc32c_check");
    const char *in = jstr(v, "input_ascii");
    uint8_t le[4];
    cc_store_u32le(le, cc_crc32c(in, strlen(in)));
    assert_hex_eq(le, 4, jstr(v, "crc32c_hex_le_bytes"));
}

static void test_addresses(void **state)
{
    (void)state;
    const json_t *list = json_object_get(g_vectors, "addresses");
    size_t i;
    const json_t *v;
    assert_true(json_array_size(list) >= 2);
    json_array_foreach(list, i, v)
    {
        const char *forms[] = {"raw",
                               "mainnet_bounceable_urlsafe",
                               "mainnet_non_bounceable_urlsafe",
                               "testnet_bounceable_urlsafe",
                               "testnet_non_bounceable_urlsafe",
                               "mainnet_bounceable_std_base64",
                               "mainnet_non_bounceable_std_base64",
                               "testnet_bounceable_std_base64",
                               "testnet_non_bounceable_std_base64"};
        for (size_t f = 0; f < CC_ARRAY_LEN(forms); f++) {
            ton_addr a;
            bool bounce, test;
            cc_err err;
            if (ton_addr_parse(jstr(v, forms[f]), &a, &bounce, &test, &err) < 0)
                fail_msg("%s: %s", forms[f], err.msg);
            assert_int_equal(a.wc, json_integer_value(json_object_get(v, "workchain")));
            assert_hex_eq(a.hash, 32, jstr(v, "hash_hex"));
            if (f > 0) {
                assert_int_equal(test, strstr(forms[f], "testnet") != NULL);
                assert_int_equal(bounce, strstr(forms[f], "non_") == NULL);
            }
            char raw[80], out[49];
            ton_addr_to_raw(&a, raw, sizeof raw);
            assert_string_equal(raw, jstr(v, "raw_form_roundtrip"));
            bool url = strstr(forms[f], "urlsafe") != NULL;
            if (f > 0) {
                ton_addr_to_friendly(&a, bounce, test, url, out);
                assert_string_equal(out, jstr(v, forms[f]));
            }
        }
    }
}

int main(void)
{
    const char *shared = getenv("COCOON_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/fixtures/ton/vectors.json", shared ? shared : "../shared");
    cc_err err;
    g_vectors = cc_json_load_file(path, &err);
    if (!g_vectors) {
        fprintf(stderr, "cannot load vectors: %s\n", err.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cell_with_two_refs),
        cmocka_unit_test(test_empty_cell),
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_addresses),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(g_vectors);
    return rc;
}
