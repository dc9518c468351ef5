/* Cells, slices, BoC robustness and dictionaries: round trips, limits, and
 * malformed bags of cells (truncation, bad CRC, cycles, bad counts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ton/ton.h"

/* Made with @ton/core's Dictionary (values stored inline): 5 keys of 256 bits
 * with empty values, and 4 uint32 keys with ProxyInfo values. */
static const char dict256_boc[] =
    "b5ee9c7241010a010069000101c001020120020702016203040003df900241be844444444444444444444444"
    "4444444444444444444444444444444444444448050600015800014802012008090042bf8000000000000000"
    "0000000000000000000000000000000000000000000000010003ffd060e390d3";
static const char dict32_boc[] =
    "b5ee9c72410108010053000101c0010203cb4002070201cd03060201200405001f50e3132372e302e302e313"
    "a383030318003541931302e302e302e323a3434332031302e302e302e323a34343480005f00bc40011a7d00c"
    "d0dee6e874631d548c8a";

static ton_cell *build_chain(unsigned depth)
{
    ton_builder b;
    ton_builder_init(&b);
    ton_cell *c = ton_builder_end(&b, NULL);
    for (unsigned i = 0; i < depth; i++) {
        ton_builder_init(&b);
        ton_builder_store_uint(&b, i, 16);
        ton_builder_store_ref(&b, c);
        ton_cell_unref(c);
        c = ton_builder_end(&b, NULL);
        if (!c) return NULL;
    }
    return c;
}

static void test_builder_limits(void **state)
{
    (void)state;
    ton_builder b;
    ton_builder_init(&b);
    uint8_t ones[128];
    memset(ones, 0xff, sizeof ones);
    assert_int_equal(ton_builder_store_bits(&b, ones, 1023), 0);
    assert_int_equal(ton_builder_store_bit(&b, true), -1);
    cc_err err;
    assert_null(ton_builder_end(&b, &err));
    assert_non_null(strstr(err.msg, "overflow"));

    ton_builder_init(&b);
    assert_int_equal(ton_builder_store_uint(&b, 256, 8), -1); /* does not fit */
    assert_null(ton_builder_end(&b, &err));
    ton_builder_init(&b);
    assert_int_equal(ton_builder_store_int(&b, -129, 8), -1);
    ton_builder_clear(&b);

    ton_cell *leaf = ton_builder_end(&b, NULL);
    ton_builder_init(&b);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ton_builder_store_ref(&b, leaf), 0);
    assert_int_equal(ton_builder_store_ref(&b, leaf), -1);
    ton_builder_clear(&b);
    ton_cell_unref(leaf);

    /* the depth limit of 1024 */
    ton_cell *deep = build_chain(1024);
    assert_non_null(deep);
    assert_int_equal(ton_cell_depth(deep), 1024);
    ton_builder_init(&b);
    ton_builder_store_ref(&b, deep);
    assert_null(ton_builder_end(&b, &err));
    /* a 1024-deep chain survives a BoC round trip */
    cc_buf boc = CC_BUF_INIT;
    assert_int_equal(ton_boc_serialize(deep, (ton_boc_opts){.crc32c = true}, &boc, NULL), 0);
    ton_cell *back = ton_boc_parse(boc.data, boc.len, &err);
    assert_non_null(back);
    assert_true(ton_cell_equal(back, deep));
    assert_int_equal(ton_cell_count(back), 1025);
    ton_cell_unref(back);
    cc_buf_free(&boc);
    ton_cell_unref(deep);
}

static void test_slice_values(void **state)
{
    (void)state;
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 5, 3);
    ton_builder_store_int(&b, -5, 9);
    ton_builder_store_coins(&b, 0);
    ton_builder_store_coins(&b, 1234567890123ull);
    uint8_t big[32];
    for (int i = 0; i < 32; i++)
        big[i] = (uint8_t)(i + 1);
    ton_builder_store_uint_be(&b, big, 32, 256);
    ton_builder_store_uint_be(&b, big + 30, 2, 20); /* 0x1f20 in 20 bits */
    ton_addr a = {.wc = -1};
    memset(a.hash, 0x5a, 32);
    ton_builder_store_addr(&b, &a);
    ton_addr none = {.none = true};
    ton_builder_store_addr(&b, &none);
    ton_cell *c = ton_builder_end(&b, NULL);
    assert_non_null(c);
    ton_slice s;
    ton_slice_init(&s, c);
    uint64_t u;
    int64_t i64;
    assert_int_equal(ton_slice_load_uint(&s, 3, &u, NULL), 0);
    assert_int_equal(u, 5);
    assert_int_equal(ton_slice_load_int(&s, 9, &i64, NULL), 0);
    assert_int_equal(i64, -5);
    assert_int_equal(ton_slice_load_coins(&s, &u, NULL), 0);
    assert_int_equal(u, 0);
    assert_int_equal(ton_slice_load_coins(&s, &u, NULL), 0);
    assert_int_equal(u, 1234567890123ull);
    uint8_t got[32];
    assert_int_equal(ton_slice_load_uint_be(&s, 256, got, 32, NULL), 0);
    assert_memory_equal(got, big, 32);
    uint8_t small[4];
    assert_int_equal(ton_slice_load_uint_be(&s, 20, small, 4, NULL), 0);
    assert_int_equal(small[2], 0x1f);
    assert_int_equal(small[3], 0x20);
    ton_addr back;
    assert_int_equal(ton_slice_load_addr(&s, &back, NULL), 0);
    assert_true(ton_addr_equal(&back, &a));
    assert_int_equal(ton_slice_load_addr(&s, &back, NULL), 0);
    assert_true(back.none);
    cc_err err;
    assert_int_equal(ton_slice_expect_end(&s, &err), 0);
    assert_int_equal(ton_slice_load_bit(&s, &(bool){0}, &err), -1);
    assert_non_null(strstr(err.msg, "underflow"));
    const ton_cell *r;
    assert_int_equal(ton_slice_load_ref(&s, &r, &err), -1);
    ton_cell_unref(c);
}

static void test_address_errors(void **state)
{
    (void)state;
    ton_addr a;
    cc_err err;
    const char *bad[] = {"",
                         "0:83dfd5",
                         "x:83dfd552e63729b472fcbcc8c45ebcc6691702558b68ec7527e1ba403a0f31a8",
                         "300:83dfd552e63729b472fcbcc8c45ebcc6691702558b68ec7527e1ba403a0f31a8",
                         "EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2O", /* bad crc */
                         "EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2",
                         "!QCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N"};
    for (size_t i = 0; i < CC_ARRAY_LEN(bad); i++)
        assert_int_equal(ton_addr_parse(bad[i], &a, NULL, NULL, &err), -1);
}

static void test_boc_malformed(void **state)
{
    (void)state;
    /* the 3-cell vector bag, with crc32c */
    cc_buf good = CC_BUF_INIT;
    assert_int_equal(
        cc_hex_decode_loose("b5ee9c72410103010011000209deadbeefac02010103abc802000201cfa2d74f", 64,
                            &good, NULL),
        0);
    cc_err err;
    ton_cell *c = ton_boc_parse(good.data, good.len, &err);
    assert_non_null(c);
    ton_cell_unref(c);
    /* every truncation fails */
    for (size_t n = 0; n < good.len; n++)
        assert_null(ton_boc_parse(good.data, n, &err));
    /* every single bit flip fails (the crc covers everything) */
    for (size_t i = 0; i < good.len * 8; i++) {
        good.data[i / 8] ^= (uint8_t)(1u << (i % 8));
        c = ton_boc_parse(good.data, good.len, &err);
        assert_null(c);
        good.data[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    /* trailing garbage */
    cc_buf longer = CC_BUF_INIT;
    cc_buf_append(&longer, good.data, good.len);
    cc_buf_append_u8(&longer, 0);
    assert_null(ton_boc_parse(longer.data, longer.len, &err));
    cc_buf_free(&longer);
    cc_buf_free(&good);

    struct {
        const char *hex, *why;
    } bad[] = {
        /* without crc so the structure itself is what is wrong */
        {"b5ee9c72010103010011000209deadbeefac00010103abc802000201", "reference to itself"},
        {"b5ee9c72010103010011000209deadbeefac02010103abc800000201", "reference backwards (cycle)"},
        {"b5ee9c72010103010011000209deadbeefac02030103abc802000201", "reference out of range"},
        {"b5ee9c720101ff010011000209deadbeefac02010103abc802000201", "cell count"},
        {"b5ee9c72010103000011000209deadbeefac02010103abc802000201", "zero roots"},
        {"b5ee9c72010103010111000209deadbeefac02010103abc802000201", "absent cells"},
        {"b5ee9c72010103010012000209deadbeefac02010103abc802000201", "total size"},
        {"b5ee9c72010103010011000509deadbeefac02010103abc802000201", "5 refs"},
        {"b5ee9c72010103010011000209deadbeef0002010103abc802000201", "missing completion tag"},
        {"b5ee9c72050103010011000209deadbeefac02010103abc802000201", "ref size 5"},
        {"b5ee9c72000103010011000209deadbeefac02010103abc802000201", "ref size 0"},
        {"b5ee9c72180103010011000209deadbeefac02010103abc802000201", "unknown flags"},
        {"12345678010103010011000209deadbeefac02010103abc802000201", "magic"},
        {"b5ee9c72010100010001000a", "exotic cell without a type byte"},
        {"b5ee9c7201010101000400080105", "unknown exotic type"},
        {"b5ee9c720101010100020020", "level mask without pruned cells"},
    };
    for (size_t i = 0; i < CC_ARRAY_LEN(bad); i++) {
        cc_buf b = CC_BUF_INIT;
        assert_int_equal(cc_hex_decode_loose(bad[i].hex, strlen(bad[i].hex), &b, NULL), 0);
        c = ton_boc_parse(b.data, b.len, &err);
        if (c) fail_msg("accepted a bag with a bad %s", bad[i].why);
        cc_buf_free(&b);
    }
}

static void test_boc_index_and_dedup(void **state)
{
    (void)state;
    /* two structurally equal leaves are one cell in the bag */
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 7, 8);
    ton_cell *x = ton_builder_end(&b, NULL);
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 7, 8);
    ton_cell *y = ton_builder_end(&b, NULL);
    ton_builder_init(&b);
    ton_builder_store_ref(&b, x);
    ton_builder_store_ref(&b, y);
    ton_cell *root = ton_builder_end(&b, NULL);
    assert_int_equal(ton_cell_count(root), 2);
    cc_buf boc = CC_BUF_INIT;
    ton_boc_serialize(root, (ton_boc_opts){.crc32c = true, .index = true}, &boc, NULL);
    cc_err err;
    ton_cell *back = ton_boc_parse(boc.data, boc.len, &err);
    assert_non_null(back);
    assert_true(ton_cell_equal(back, root));
    /* a wrong index entry is rejected: offset size 1, index starts at byte 11 */
    cc_buf bad = CC_BUF_INIT;
    cc_buf_append(&bad, boc.data, boc.len - 4);
    bad.data[11] ^= 1;
    bad.data[4] &= (uint8_t)~0x40; /* drop the crc so only the index is wrong */
    assert_null(ton_boc_parse(bad.data, bad.len, &err));
    cc_buf_free(&bad);
    ton_cell_unref(back);
    cc_buf_free(&boc);
    ton_cell_unref(x);
    ton_cell_unref(y);
    ton_cell_unref(root);
}

static void test_pruned_branch_levels(void **state)
{
    (void)state;
    /* a Merkle proof over a cell with one pruned child: the proof's level 0
     * hash equals the original cell's hash (that is what makes proofs work) */
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 0xabcd, 16);
    ton_cell *hidden = ton_builder_end(&b, NULL);
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 1, 8);
    ton_builder_store_ref(&b, hidden);
    ton_cell *orig = ton_builder_end(&b, NULL);

    uint8_t pruned_data[2 + 32 + 2];
    pruned_data[0] = TON_CELL_PRUNED;
    pruned_data[1] = 1;
    memcpy(pruned_data + 2, ton_cell_hash(hidden), 32);
    pruned_data[34] = 0;
    pruned_data[35] = 0;
    cc_err err;
    ton_cell *pruned = ton_cell_create(true, pruned_data, sizeof pruned_data * 8, NULL, 0, &err);
    assert_non_null(pruned);
    assert_int_equal(pruned->level_mask, 1);
    assert_memory_equal(pruned->hashes[0], ton_cell_hash(hidden), 32);
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 1, 8);
    ton_builder_store_ref(&b, pruned);
    ton_cell *partial = ton_builder_end(&b, NULL);
    assert_int_equal(partial->level_mask, 1);
    assert_memory_equal(partial->hashes[0], ton_cell_hash(orig), 32);

    uint8_t proof_data[1 + 32 + 2];
    proof_data[0] = TON_CELL_MERKLE_PROOF;
    memcpy(proof_data + 1, ton_cell_hash(orig), 32);
    proof_data[33] = 0;
    proof_data[34] = (uint8_t)ton_cell_depth(orig);
    proof_data[5] ^= 1; /* a proof claiming another hash is refused */
    assert_null(ton_cell_create(true, proof_data, sizeof proof_data * 8, &partial, 1, &err));
    assert_non_null(strstr(err.msg, "Merkle"));
    proof_data[5] ^= 1;
    ton_cell *proof = ton_cell_create(true, proof_data, sizeof proof_data * 8, &partial, 1, &err);
    assert_non_null(proof);
    assert_int_equal(proof->level_mask, 0);
    /* and the exotic cells survive a BoC round trip */
    cc_buf boc = CC_BUF_INIT;
    ton_boc_serialize(proof, (ton_boc_opts){.crc32c = true}, &boc, NULL);
    ton_cell *back = ton_boc_parse(boc.data, boc.len, &err);
    assert_non_null(back);
    assert_true(ton_cell_equal(back, proof));
    ton_cell_unref(back);
    cc_buf_free(&boc);
    ton_cell_unref(proof);
    ton_cell_unref(partial);
    ton_cell_unref(pruned);
    ton_cell_unref(orig);
    ton_cell_unref(hidden);
}

static void check_dict_vector(unsigned key_bits, const char *boc_hex, size_t want_n)
{
    cc_err err;
    ton_cell *holder = ton_boc_parse_hex(boc_hex, &err);
    assert_non_null(holder);
    ton_slice s;
    ton_slice_init(&s, holder);
    ton_dict d;
    assert_int_equal(ton_slice_load_dict(&s, key_bits, &d, &err), 0);
    assert_int_equal(d.n, want_n);
    /* rebuilding from the entries gives the same cell as @ton/core */
    ton_builder b;
    ton_builder_init(&b);
    assert_int_equal(ton_builder_store_dict(&b, &d, &err), 0);
    ton_cell *again = ton_builder_end(&b, &err);
    assert_true(ton_cell_equal(again, holder));
    ton_cell_unref(again);
    ton_dict_free(&d);
    ton_cell_unref(holder);
}

static void test_dict_vectors(void **state)
{
    (void)state;
    check_dict_vector(256, dict256_boc, 5);
    check_dict_vector(32, dict32_boc, 4);
    /* look-ups in the proxy map */
    ton_cell *holder = ton_boc_parse_hex(dict32_boc, NULL);
    ton_slice s;
    ton_slice_init(&s, holder);
    ton_dict d;
    assert_int_equal(ton_slice_load_dict(&s, 32, &d, NULL), 0);
    uint8_t key[32];
    ton_dict_key_uint(32, 2, key);
    ton_cell *v = ton_dict_get(&d, key);
    assert_non_null(v);
    ton_slice vs;
    ton_slice_init(&vs, v);
    char text[128];
    assert_int_equal(ton_proxy_info_parse(&vs, text, sizeof text, NULL), 0);
    assert_string_equal(text, "10.0.0.2:443 10.0.0.2:444");
    ton_dict_key_uint(32, 3, key);
    assert_null(ton_dict_get(&d, key));
    ton_dict_free(&d);
    ton_cell_unref(holder);
}

static void test_dict_edit_roundtrip(void **state)
{
    (void)state;
    ton_builder b;
    ton_builder_init(&b);
    ton_cell *unit = ton_builder_end(&b, NULL);
    ton_dict d;
    ton_dict_init(&d, 256);
    uint8_t key[32];
    for (int i = 0; i < 200; i++) {
        memset(key, 0, 32);
        key[0] = (uint8_t)(i * 37);
        key[31] = (uint8_t)i;
        assert_int_equal(ton_dict_set(&d, key, unit, NULL), 0);
    }
    assert_int_equal(ton_dict_set(&d, key, unit, NULL), 0); /* replace, no duplicate */
    assert_int_equal(d.n, 200);
    assert_true(ton_dict_del(&d, key));
    assert_false(ton_dict_del(&d, key));
    ton_cell *root;
    assert_int_equal(ton_dict_serialize(&d, &root, NULL), 0);
    ton_dict back;
    assert_int_equal(ton_dict_parse(&back, root, 256, NULL), 0);
    assert_int_equal(back.n, 199);
    for (size_t i = 0; i < d.n; i++)
        assert_non_null(ton_dict_get(&back, d.items[i].key));
    ton_dict_free(&back);
    ton_cell_unref(root);
    /* empty dictionary: HashmapE is a single 0 bit */
    ton_dict empty;
    ton_dict_init(&empty, 32);
    assert_int_equal(ton_dict_serialize(&empty, &root, NULL), 0);
    assert_null(root);
    ton_dict_free(&d);
    ton_cell_unref(unit);
}

static void test_dict_malformed(void **state)
{
    (void)state;
    /* a fork whose two branches are the same cell, 256 levels deep, would
     * describe 2^256 entries: the parser must stop at its entry limit */
    ton_builder b;
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 0, 2); /* short label of length 0 */
    ton_cell *leaf = ton_builder_end(&b, NULL);
    ton_cell *node = leaf;
    for (int i = 0; i < 255; i++) {
        ton_builder_init(&b);
        ton_builder_store_uint(&b, 0, 2);
        ton_builder_store_ref(&b, node);
        ton_builder_store_ref(&b, node);
        ton_cell *up = ton_builder_end(&b, NULL);
        ton_cell_unref(node);
        node = up;
    }
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 0, 2);
    ton_builder_store_ref(&b, node);
    ton_builder_store_ref(&b, node);
    ton_cell *root = ton_builder_end(&b, NULL);
    ton_cell_unref(node);
    ton_dict d;
    cc_err err;
    assert_int_equal(ton_dict_parse(&d, root, 256, &err), -1);
    assert_non_null(strstr(err.msg, "entries"));
    ton_cell_unref(root);
    /* a label longer than the key */
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 2, 2);  /* hml_long */
    ton_builder_store_uint(&b, 40, 6); /* 40 > 32 */
    root = ton_builder_end(&b, NULL);
    assert_int_equal(ton_dict_parse(&d, root, 32, &err), -1);
    ton_cell_unref(root);
    /* a fork without refs */
    ton_builder_init(&b);
    ton_builder_store_uint(&b, 0, 2);
    root = ton_builder_end(&b, NULL);
    assert_int_equal(ton_dict_parse(&d, root, 8, &err), -1);
    ton_cell_unref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builder_limits),      cmocka_unit_test(test_slice_values),
        cmocka_unit_test(test_address_errors),      cmocka_unit_test(test_boc_malformed),
        cmocka_unit_test(test_boc_index_and_dedup), cmocka_unit_test(test_pruned_branch_levels),
        cmocka_unit_test(test_dict_vectors),        cmocka_unit_test(test_dict_edit_roundtrip),
        cmocka_unit_test(test_dict_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
