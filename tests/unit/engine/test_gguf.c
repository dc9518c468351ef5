/*
 * GGUF reader: the real file's layout, round trips through the writer, and
 * malformed files (bad magic/version, truncation at every byte, huge counts,
 * offsets outside the file, misalignment, unknown types, duplicate names).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "../shared_data.h"

static char *model_path(void)
{
    static char path[1024];
    return shared_data_path(path, sizeof(path), "models/stories260K.gguf");
}

static void test_real_file(void **state)
{
    (void)state;
    cc_err err = {0};
    engine_gguf *g = engine_gguf_open(model_path(), &err);
    if (!g) fail_msg("%s", err.msg);
    assert_int_equal(g->version, 3);
    assert_int_equal(g->n_kv, 19);
    assert_int_equal(g->n_tensors, 48);
    assert_int_equal(g->alignment, 32);
    assert_int_equal(g->data_offset, 14176);
    const engine_gguf_tensor *t = engine_gguf_tensor_find(g, "blk.3.ffn_down.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 172);
    assert_int_equal(t->ne[1], 64);
    assert_int_equal(t->type, ENGINE_T_F32);
    assert_int_equal(t->n_bytes, 172 * 64 * 4);
    char *arch = engine_gguf_get_str(g, "general.architecture");
    assert_string_equal(arch, "llama");
    free(arch);
    uint64_t v = 0;
    assert_int_equal(engine_gguf_get_u64(g, "llama.block_count", &v, &err), 0);
    assert_int_equal(v, 5);
    const engine_gguf_kv *kv = engine_gguf_find(g, "tokenizer.ggml.tokens");
    assert_non_null(kv);
    assert_int_equal(kv->arr_n, 512);
    assert_int_equal(kv->arr_strs[1].len, 3);
    assert_memory_equal(kv->arr_strs[1].ptr, "<s>", 3);
    /* The wrong type for a getter is an error, not a silent 0. */
    double f;
    assert_int_equal(engine_gguf_get_f64(g, "general.architecture", &f, &err), -1);
    engine_gguf_close(g);

    assert_null(engine_gguf_open("/nonexistent/x.gguf", &err));
    assert_non_null(strstr(err.msg, "cannot open"));
}

static void test_writer_roundtrip(void **state)
{
    (void)state;
    engine_gguf_writer *w = engine_gguf_writer_new();
    engine_gguf_w_u32(w, "a.u32", 7);
    engine_gguf_w_f32(w, "a.f32", 1.5f);
    engine_gguf_w_bool(w, "a.bool", true);
    engine_gguf_w_str(w, "a.str", "hello");
    const char *strs[] = {"x", "", "yz"};
    engine_gguf_w_arr_str(w, "a.strs", strs, 3);
    float t0[3] = {1, 2, 3};
    uint64_t ne[2] = {3, 1};
    engine_gguf_w_tensor(w, "t0", ENGINE_T_F32, 2, ne, t0, sizeof(t0));
    uint64_t ne1[1] = {32};
    uint8_t q[34] = {0};
    engine_gguf_w_tensor(w, "t1", ENGINE_T_Q8_0, 1, ne1, q, sizeof(q));
    cc_buf b = CC_BUF_INIT;
    engine_gguf_w_finish(w, &b);
    engine_gguf_writer_free(w);
    cc_err err = {0};
    engine_gguf *g = engine_gguf_parse(b.data, b.len, &err);
    if (!g) fail_msg("%s", err.msg);
    uint64_t u = 0;
    double f = 0;
    bool bo = false;
    assert_int_equal(engine_gguf_get_u64(g, "a.u32", &u, &err), 0);
    assert_int_equal(u, 7);
    assert_int_equal(engine_gguf_get_f64(g, "a.f32", &f, &err), 0);
    assert_true(f == 1.5);
    assert_int_equal(engine_gguf_get_bool(g, "a.bool", &bo, &err), 0);
    assert_true(bo);
    char *s = engine_gguf_get_str(g, "a.str");
    assert_string_equal(s, "hello");
    free(s);
    const engine_gguf_kv *kv = engine_gguf_find(g, "a.strs");
    assert_int_equal(kv->arr_n, 3);
    assert_int_equal(kv->arr_strs[1].len, 0);
    const engine_gguf_tensor *t = engine_gguf_tensor_find(g, "t0");
    assert_memory_equal(t->data, t0, sizeof(t0));
    t = engine_gguf_tensor_find(g, "t1");
    assert_int_equal(t->n_bytes, 34);
    assert_int_equal(t->offset % 32, 0);
    assert_null(engine_gguf_tensor_find(g, "t2"));
    engine_gguf_close(g);

    /* Version 2 has the same layout for what we read. */
    cc_store_u32le(b.data + 4, 2);
    g = engine_gguf_parse(b.data, b.len, &err);
    assert_non_null(g);
    assert_int_equal(g->version, 2);
    engine_gguf_close(g);
    cc_store_u32le(b.data + 4, 3);

    /* Every truncation that cuts into the tensor data is an error. */
    size_t need = 0;
    {
        engine_gguf *g2 = engine_gguf_parse(b.data, b.len, &err);
        const engine_gguf_tensor *last = engine_gguf_tensor_find(g2, "t1");
        need = (size_t)(g2->data_offset + last->offset + last->n_bytes);
        engine_gguf_close(g2);
    }
    for (size_t cut = 0; cut < need; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.data, cut);
        engine_gguf *gt = engine_gguf_parse(copy, cut, &err);
        if (gt) fail_msg("truncated to %zu bytes of %zu parsed", cut, need);
        assert_true(err.msg[0] != 0);
        free(copy);
    }
    cc_buf_free(&b);
}

/* A hand-assembled file whose field offsets we know. */
typedef struct raw {
    cc_buf b;
    size_t off_ntensors, off_nkv, off_kv_type, off_arr_n, off_ndims, off_dim0, off_ttype, off_toff;
} raw;

static void put64(cc_buf *b, uint64_t v)
{
    uint8_t x[8];
    cc_store_u64le(x, v);
    cc_buf_append(b, x, 8);
}

static void put32(cc_buf *b, uint32_t v)
{
    uint8_t x[4];
    cc_store_u32le(x, v);
    cc_buf_append(b, x, 4);
}

static void putstr(cc_buf *b, const char *s)
{
    put64(b, strlen(s));
    cc_buf_append_str(b, s);
}

static void build_raw(raw *r, const char *tname2)
{
    memset(r, 0, sizeof(*r));
    cc_buf *b = &r->b;
    put32(b, 0x46554747u);
    put32(b, 3);
    r->off_ntensors = b->len;
    put64(b, tname2 ? 2 : 1);
    r->off_nkv = b->len;
    put64(b, 2);
    putstr(b, "k.scalar");
    r->off_kv_type = b->len;
    put32(b, ENGINE_GGUF_U32);
    put32(b, 5);
    putstr(b, "k.arr");
    put32(b, ENGINE_GGUF_ARRAY);
    put32(b, ENGINE_GGUF_I32);
    r->off_arr_n = b->len;
    put64(b, 2);
    put32(b, 1);
    put32(b, 2);
    putstr(b, "w");
    r->off_ndims = b->len;
    put32(b, 2);
    r->off_dim0 = b->len;
    put64(b, 4);
    put64(b, 2);
    r->off_ttype = b->len;
    put32(b, ENGINE_T_F32);
    r->off_toff = b->len;
    put64(b, 0);
    if (tname2) {
        putstr(b, tname2);
        put32(b, 1);
        put64(b, 8);
        put32(b, ENGINE_T_F32);
        put64(b, 32);
    }
    while (b->len % 32)
        cc_buf_append_u8(b, 0);
    for (int i = 0; i < 16; i++)
        put32(b, 0x3f800000u); /* 1.0f */
}

static void expect_fail(raw *r, const char *what)
{
    cc_err err = {0};
    engine_gguf *g = engine_gguf_parse(r->b.data, r->b.len, &err);
    if (g) fail_msg("parsed a file with %s", what);
    if (!strstr(err.msg, what)) fail_msg("error \"%s\" does not mention \"%s\"", err.msg, what);
    cc_buf_free(&r->b);
}

static void test_malformed(void **state)
{
    (void)state;
    raw r;
    cc_err err = {0};
    build_raw(&r, NULL);
    engine_gguf *g = engine_gguf_parse(r.b.data, r.b.len, &err);
    if (!g) fail_msg("valid raw file: %s", err.msg);
    engine_gguf_close(g);
    cc_buf_free(&r.b);

    build_raw(&r, NULL);
    r.b.data[0] = 'X';
    expect_fail(&r, "bad magic");
    build_raw(&r, NULL);
    cc_store_u32le(r.b.data + 4, 1);
    expect_fail(&r, "version 1");
    build_raw(&r, NULL);
    cc_store_u32le(r.b.data + 4, 4);
    expect_fail(&r, "version 4");
    build_raw(&r, NULL);
    cc_store_u64le(r.b.data + r.off_nkv, 1ull << 60);
    expect_fail(&r, "metadata count");
    build_raw(&r, NULL);
    cc_store_u64le(r.b.data + r.off_ntensors, UINT64_MAX);
    expect_fail(&r, "tensor count");
    build_raw(&r, NULL);
    cc_store_u64le(r.b.data + 24, UINT64_MAX); /* first key's length */
    expect_fail(&r, "too large");
    build_raw(&r, NULL);
    cc_store_u32le(r.b.data + r.off_kv_type, 77);
    expect_fail(&r, "unknown value type 77");
    build_raw(&r, NULL);
    cc_store_u64le(r.b.data + r.off_arr_n, 1ull << 62);
    expect_fail(&r, "exceeds the file");
    build_raw(&r, NULL);
    cc_store_u32le(r.b.data + r.off_ndims, 5);
    expect_fail(&r, "5 dimensions");
    build_raw(&r, NULL);
    cc_store_u64le(r.b.data + r.off_dim0, 0);
    expect_fail(&r, "bad dimension");
    build_raw(&r, NULL);
    cc_store_u64le(r.b.data + r.off_dim0, 1ull << 39);
    expect_fail(&r, "outside the file");
    build_raw(&r, NULL);
    cc_store_u32le(r.b.data + r.off_ttype, 99);
    expect_fail(&r, "unknown tensor type 99");
    build_raw(&r, NULL);
    cc_store_u32le(r.b.data + r.off_ttype, ENGINE_T_Q8_0); /* 4 is not a multiple of 32 */
    expect_fail(&r, "not a multiple");
    build_raw(&r, NULL);
    cc_store_u64le(r.b.data + r.off_toff, 4);
    expect_fail(&r, "not aligned");
    build_raw(&r, NULL);
    cc_store_u64le(r.b.data + r.off_toff, 1ull << 40);
    expect_fail(&r, "outside the file");
    build_raw(&r, NULL);
    cc_store_u64le(r.b.data + r.off_toff, UINT64_MAX - 31);
    expect_fail(&r, "outside the file");
    build_raw(&r, "w");
    expect_fail(&r, "duplicate tensor name");
    build_raw(&r, "w2");
    g = engine_gguf_parse(r.b.data, r.b.len, &err);
    assert_non_null(g);
    engine_gguf_close(g);
    cc_buf_free(&r.b);
}

/* The real model truncated at many points never loads and never crashes. */
static void test_model_truncated(void **state)
{
    (void)state;
    cc_buf file = CC_BUF_INIT;
    cc_err err = {0};
    assert_int_equal(cc_read_file(model_path(), &file, &err), 0);
    for (size_t cut = 0; cut < file.len; cut += 1 + cut / 3) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, file.data, cut);
        engine_gguf *g = engine_gguf_parse(copy, cut, &err);
        if (g) {
            engine_model *m = engine_model_from_gguf(g, &err);
            if (m) fail_msg("model truncated to %zu bytes loaded", cut);
        }
        assert_true(err.msg[0] != 0);
        free(copy);
    }
    /* An unknown architecture is a clear error. */
    uint8_t *arch = memmem(file.data, file.len, "general.architecture", 20);
    assert_non_null(arch);
    assert_memory_equal(arch + 20 + 12, "llama", 5);
    arch[20 + 12 + 4] = 'x';
    engine_gguf *g = engine_gguf_parse(file.data, file.len, &err);
    assert_non_null(g);
    assert_null(engine_model_from_gguf(g, &err));
    assert_non_null(strstr(err.msg, "architecture \"llamx\" not supported"));
    cc_buf_free(&file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_file),
        cmocka_unit_test(test_writer_roundtrip),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_model_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
