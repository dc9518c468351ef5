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
#include "../shared_data.h"

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
    /* the padded data bits follow the two descriptor bytes */
    size_t padded = (c->bit_len + 7) / 8;
    assert_int_equal(strlen(jstr(want, "data_padded_hex")), 2 * padded);
    assert_hex_eq(repr.data + 2, padded, jstr(want, "data_padded_hex"));
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
    uint32_t crc = cc_crc32c(in, strlen(in));
    cc_store_u32le(le, crc);
    assert_hex_eq(le, 4, jstr(v, "crc32c_hex_le_bytes"));
    assert_int_equal(crc, strtoul(jstr(v, "crc32c_uint32"), NULL, 16));
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

static void assert_cell_boc(const ton_cell *c, const char *hash_hex, const char *boc_hex)
{
    assert_hex_eq(ton_cell_hash(c), 32, hash_hex);
    if (boc_hex) {
        cc_buf b = CC_BUF_INIT;
        assert_int_equal(ton_boc_serialize(c, (ton_boc_opts){.crc32c = true}, &b, NULL), 0);
        assert_hex_eq(b.data, b.len, boc_hex);
        cc_buf_free(&b);
    }
}

static void test_wallet_messages(void **state)
{
    (void)state;
    const json_t *kp = json_object_get(g_vectors, "keypair");
    const json_t *wm = json_object_get(g_vectors, "wallet_external_messages");
    const json_t *common = json_object_get(wm, "common");
    uint8_t seed[32], pub[32];
    assert_int_equal(cc_hex_decode(jstr(kp, "seed_hex"), seed, 32, NULL), 0);
    assert_int_equal(crypto_ed25519_public(seed, pub, NULL), 0);
    assert_hex_eq(pub, 32, jstr(kp, "public_key_hex"));
    /* the 64-byte (tweetnacl) secret key is seed || public key */
    uint8_t secret64[64];
    memcpy(secret64, seed, 32);
    memcpy(secret64 + 32, pub, 32);
    assert_hex_eq(secret64, 64, jstr(kp, "secret_key_hex_nacl64"));
    ton_addr dest;
    assert_int_equal(ton_addr_parse(jstr(common, "dest_raw"), &dest, NULL, NULL, NULL), 0);
    uint64_t amount = strtoull(jstr(common, "amount_nanoton"), NULL, 10);
    assert_int_equal(amount, 10000000);
    uint8_t mode = (uint8_t)json_integer_value(json_object_get(common, "send_mode"));
    /* the transferred message below is a non-bounceable "hello" comment */
    assert_true(json_is_false(json_object_get(common, "bounce")));
    assert_non_null(strstr(jstr(common, "comment_body"), "'hello'"));
    const json_t *list = json_object_get(wm, "vectors");
    size_t i;
    const json_t *v;
    int checked = 0;
    json_array_foreach(list, i, v)
    {
        cc_err err;
        const char *kind = jstr(v, "wallet");
        ton_wallet w;
        ton_wallet_init(&w, !strcmp(kind, "v4r2") ? TON_WALLET_V4R2 : TON_WALLET_V5R1, 0, pub,
                        TON_GLOBAL_ID_MAINNET);
        if (w.version == TON_WALLET_V5R1) {
            assert_int_equal((int32_t)json_integer_value(json_object_get(v, "network_global_id")),
                             TON_GLOBAL_ID_MAINNET);
            assert_int_equal(w.wallet_id,
                             json_integer_value(json_object_get(v, "wallet_id_int32")));
            char id_hex[9];
            snprintf(id_hex, sizeof id_hex, "%08x", (unsigned)w.wallet_id);
            assert_string_equal(id_hex, jstr(v, "wallet_id_hex"));
        } else {
            assert_int_equal(w.wallet_id, json_integer_value(json_object_get(v, "subwallet_id")));
        }
        /* code, data and address */
        ton_cell *code = ton_wallet_code(w.version, &err);
        assert_non_null(code);
        assert_hex_eq(ton_cell_hash(code), 32, jstr(v, "state_init_code_hash_hex"));
        ton_cell_unref(code);
        ton_cell *data = ton_wallet_data(&w, &err);
        assert_cell_boc(data, jstr(v, "state_init_data_hash_hex"),
                        jstr(v, "state_init_data_boc_hex"));
        ton_cell_unref(data);
        ton_addr self;
        assert_int_equal(ton_wallet_address(&w, &self, &err), 0);
        char raw[80], friendly[49];
        ton_addr_to_raw(&self, raw, sizeof raw);
        assert_string_equal(raw, jstr(v, "wallet_address_raw"));
        ton_addr_to_friendly(&self, true, false, true, friendly);
        assert_string_equal(friendly, jstr(v, "wallet_address_bounceable"));
        ton_addr_to_friendly(&self, false, false, true, friendly);
        assert_string_equal(friendly, jstr(v, "wallet_address_non_bounceable"));

        /* the transferred message: 'hello' comment, no bounce */
        ton_cell *comment = ton_msg_comment("hello", &err);
        ton_int_msg im = {.dest = dest, .value = amount, .bounce = false, .body = comment};
        ton_cell *out = ton_msg_internal(&im, &err);
        ton_cell_unref(comment);
        assert_cell_boc(out, jstr(v, "out_msg_relaxed_cell_hash_hex"),
                        jstr(v, "out_msg_relaxed_boc_hex"));

        uint32_t seqno = (uint32_t)json_integer_value(json_object_get(v, "seqno"));
        uint32_t valid_until = (uint32_t)json_integer_value(json_object_get(v, "valid_until"));
        assert_int_equal(valid_until, json_integer_value(json_object_get(common, "valid_until")));
        ton_out_msg om = {.mode = mode, .msg = out};
        ton_cell *body = ton_wallet_transfer_body(&w, seed, seqno, valid_until, &om, 1, &err);
        assert_non_null(body);
        assert_cell_boc(body, jstr(v, "body_cell_hash_hex"), jstr(v, "body_boc_hex"));

        /* the signed part and the signature */
        ton_slice s;
        ton_slice_init(&s, body);
        uint8_t sig[64];
        ton_slice sp = s;
        if (w.version == TON_WALLET_V5R1) {
            sp.end = body->bit_len - 512;
            ton_slice tail = s;
            tail.pos = body->bit_len - 512;
            assert_int_equal(ton_slice_load_bits(&tail, 512, sig, NULL), 0);
        } else {
            assert_int_equal(ton_slice_load_bits(&sp, 512, sig, NULL), 0);
        }
        ton_cell *signed_part = ton_slice_to_cell(&sp, &err);
        assert_hex_eq(ton_cell_hash(signed_part), 32, jstr(v, "signed_part_hash_hex"));
        assert_hex_eq(sig, 64, jstr(v, "signature_hex"));
        assert_true(crypto_ed25519_verify(pub, ton_cell_hash(signed_part), 32, sig));
        ton_cell_unref(signed_part);
        ton_cell_unref(body);

        /* the whole external message */
        bool with_init = json_is_true(json_object_get(v, "with_state_init"));
        ton_cell *ext = ton_wallet_transfer(&w, seed, seqno, valid_until, &om, 1, with_init, &err);
        if (!ext) fail_msg("transfer: %s", err.msg);
        assert_cell_boc(ext, jstr(v, "ext_msg_cell_hash_hex"), jstr(v, "ext_msg_boc_hex"));
        char *b64 = ton_boc_to_base64(ext, &err);
        assert_string_equal(b64, jstr(v, "ext_msg_boc_base64"));
        free(b64);
        uint8_t norm[32];
        assert_int_equal(ton_msg_external_normalized_hash(ext, norm, &err), 0);
        assert_hex_eq(norm, 32, jstr(v, "ext_msg_normalized_hash_hex"));
        /* parsing the vector's BoC gives the same cell */
        ton_cell *parsed = ton_boc_parse_base64(jstr(v, "ext_msg_boc_base64"), &err);
        assert_non_null(parsed);
        assert_true(ton_cell_equal(parsed, ext));
        ton_cell_unref(parsed);
        ton_cell_unref(ext);
        ton_cell_unref(out);
        checked++;
    }
    assert_int_equal(checked, 4);
}

int main(void)
{
    char path[4096];
    shared_data_path(path, sizeof path, "fixtures/ton/vectors.json");
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
        cmocka_unit_test(test_wallet_messages),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(g_vectors);
    return rc;
}
