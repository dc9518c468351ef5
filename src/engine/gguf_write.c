/*
 * A small GGUF v3 writer: metadata and tensors are collected in memory and
 * laid out with the default 32-byte alignment on finish.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

typedef struct wtensor {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[ENGINE_GGUF_MAX_DIMS];
    uint8_t *data;
    size_t n_bytes;
} wtensor;

struct engine_gguf_writer {
    cc_buf kv; /* serialised key-value pairs */
    uint64_t n_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

engine_gguf_writer *engine_gguf_writer_new(void)
{
    return cc_calloc(1, sizeof(engine_gguf_writer));
}

void engine_gguf_writer_free(engine_gguf_writer *w)
{
    if (!w) return;
    cc_buf_free(&w->kv);
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->t);
    free(w);
}

static void put_u32(cc_buf *b, uint32_t v)
{
    uint8_t x[4];
    cc_store_u32le(x, v);
    cc_buf_append(b, x, 4);
}

static void put_u64(cc_buf *b, uint64_t v)
{
    uint8_t x[8];
    cc_store_u64le(x, v);
    cc_buf_append(b, x, 8);
}

static void put_str(cc_buf *b, const char *s)
{
    size_t n = strlen(s);
    put_u64(b, n);
    cc_buf_append(b, s, n);
}

static void key(engine_gguf_writer *w, const char *k, uint32_t type)
{
    put_str(&w->kv, k);
    put_u32(&w->kv, type);
    w->n_kv++;
}

void engine_gguf_w_u32(engine_gguf_writer *w, const char *k, uint32_t v)
{
    key(w, k, ENGINE_GGUF_U32);
    put_u32(&w->kv, v);
}

void engine_gguf_w_f32(engine_gguf_writer *w, const char *k, float v)
{
    key(w, k, ENGINE_GGUF_F32);
    uint32_t u;
    memcpy(&u, &v, 4);
    put_u32(&w->kv, u);
}

void engine_gguf_w_bool(engine_gguf_writer *w, const char *k, bool v)
{
    key(w, k, ENGINE_GGUF_BOOL);
    cc_buf_append_u8(&w->kv, v ? 1 : 0);
}

void engine_gguf_w_str(engine_gguf_writer *w, const char *k, const char *v)
{
    key(w, k, ENGINE_GGUF_STRING);
    put_str(&w->kv, v);
}

void engine_gguf_w_arr_str(engine_gguf_writer *w, const char *k, const char *const *v, size_t n)
{
    key(w, k, ENGINE_GGUF_ARRAY);
    put_u32(&w->kv, ENGINE_GGUF_STRING);
    put_u64(&w->kv, n);
    for (size_t i = 0; i < n; i++)
        put_str(&w->kv, v[i]);
}

void engine_gguf_w_arr_f32(engine_gguf_writer *w, const char *k, const float *v, size_t n)
{
    key(w, k, ENGINE_GGUF_ARRAY);
    put_u32(&w->kv, ENGINE_GGUF_F32);
    put_u64(&w->kv, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        put_u32(&w->kv, u);
    }
}

void engine_gguf_w_arr_i32(engine_gguf_writer *w, const char *k, const int32_t *v, size_t n)
{
    key(w, k, ENGINE_GGUF_ARRAY);
    put_u32(&w->kv, ENGINE_GGUF_I32);
    put_u64(&w->kv, n);
    for (size_t i = 0; i < n; i++)
        put_u32(&w->kv, (uint32_t)v[i]);
}

void engine_gguf_w_tensor(engine_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                          const uint64_t *ne, const void *data, size_t n_bytes)
{
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? w->cap_t * 2 : 32;
        w->t = cc_realloc(w->t, w->cap_t * sizeof(wtensor));
    }
    wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof(*t));
    t->name = cc_strdup(name);
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < n_dims && d < ENGINE_GGUF_MAX_DIMS; d++)
        t->ne[d] = ne[d];
    t->data = cc_malloc(n_bytes ? n_bytes : 1);
    memcpy(t->data, data, n_bytes);
    t->n_bytes = n_bytes;
}

static size_t pad32(size_t n)
{
    return (n + 31) & ~(size_t)31;
}

void engine_gguf_w_finish(engine_gguf_writer *w, cc_buf *out)
{
    size_t start = out->len;
    put_u32(out, 0x46554747u);
    put_u32(out, 3);
    put_u64(out, w->n_t);
    put_u64(out, w->n_kv);
    cc_buf_append(out, w->kv.data, w->kv.len);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        put_str(out, w->t[i].name);
        put_u32(out, w->t[i].n_dims);
        for (uint32_t d = 0; d < w->t[i].n_dims; d++)
            put_u64(out, w->t[i].ne[d]);
        put_u32(out, w->t[i].type);
        put_u64(out, off);
        off += pad32(w->t[i].n_bytes);
    }
    static const uint8_t zeros[32];
    cc_buf_append(out, zeros, pad32(out->len - start) - (out->len - start));
    for (size_t i = 0; i < w->n_t; i++) {
        cc_buf_append(out, w->t[i].data, w->t[i].n_bytes);
        cc_buf_append(out, zeros, pad32(w->t[i].n_bytes) - w->t[i].n_bytes);
    }
}

int engine_gguf_w_write_file(engine_gguf_writer *w, const char *path, cc_err *err)
{
    /* The header goes through a buffer; tensor data is written straight
     * from the writer's copies so a large model is not held twice. */
    cc_buf hb = CC_BUF_INIT;
    size_t n_t = w->n_t;
    put_u32(&hb, 0x46554747u);
    put_u32(&hb, 3);
    put_u64(&hb, n_t);
    put_u64(&hb, w->n_kv);
    cc_buf_append(&hb, w->kv.data, w->kv.len);
    uint64_t off = 0;
    for (size_t i = 0; i < n_t; i++) {
        put_str(&hb, w->t[i].name);
        put_u32(&hb, w->t[i].n_dims);
        for (uint32_t d = 0; d < w->t[i].n_dims; d++)
            put_u64(&hb, w->t[i].ne[d]);
        put_u32(&hb, w->t[i].type);
        put_u64(&hb, off);
        off += pad32(w->t[i].n_bytes);
    }
    static const uint8_t zeros[32];
    cc_buf_append(&hb, zeros, pad32(hb.len) - hb.len);
    FILE *f = fopen(path, "wb");
    if (!f) {
        cc_buf_free(&hb);
        return cc_err_set(err, "%s: %s", path, strerror(errno));
    }
    bool ok = fwrite(hb.data, 1, hb.len, f) == hb.len;
    for (size_t i = 0; ok && i < n_t; i++) {
        ok = fwrite(w->t[i].data, 1, w->t[i].n_bytes, f) == w->t[i].n_bytes;
        size_t pad = pad32(w->t[i].n_bytes) - w->t[i].n_bytes;
        if (ok && pad) ok = fwrite(zeros, 1, pad, f) == pad;
    }
    cc_buf_free(&hb);
    if (fclose(f) != 0) ok = false;
    if (!ok) return cc_err_set(err, "%s: write failed", path);
    return 0;
}
