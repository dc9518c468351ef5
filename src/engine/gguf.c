/*
 * GGUF reader. The file is outside input: every count, length, type, offset
 * and alignment is checked against the bytes actually present before it is
 * used, so a truncated or hostile file gives an error message, never a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32
/* Keys and tensor names longer than this are certainly garbage. */
#define GGUF_MAX_NAME 65536

typedef struct reader {
    const uint8_t *p;
    size_t size, pos;
    cc_err *err;
} reader;

static int need(reader *r, size_t n, const char *what)
{
    if (n > r->size - r->pos)
        return cc_err_set(r->err, "truncated at byte %zu reading %s (need %zu bytes, %zu left)",
                          r->pos, what, n, r->size - r->pos);
    return 0;
}

static int rd_u32(reader *r, uint32_t *v, const char *what)
{
    if (need(r, 4, what)) return -1;
    *v = cc_load_u32le(r->p + r->pos);
    r->pos += 4;
    return 0;
}

static int rd_u64(reader *r, uint64_t *v, const char *what)
{
    if (need(r, 8, what)) return -1;
    *v = cc_load_u64le(r->p + r->pos);
    r->pos += 8;
    return 0;
}

static int rd_str(reader *r, engine_gguf_str *s, size_t max, const char *what)
{
    uint64_t n;
    if (rd_u64(r, &n, what)) return -1;
    if (n > max)
        return cc_err_set(r->err, "%s at byte %zu: length %llu too large", what, r->pos - 8,
                          (unsigned long long)n);
    if (need(r, (size_t)n, what)) return -1;
    s->ptr = (const char *)r->p + r->pos;
    s->len = (size_t)n;
    r->pos += (size_t)n;
    return 0;
}

static size_t scalar_size(uint32_t t)
{
    switch (t) {
    case ENGINE_GGUF_U8:
    case ENGINE_GGUF_I8:
    case ENGINE_GGUF_BOOL:
        return 1;
    case ENGINE_GGUF_U16:
    case ENGINE_GGUF_I16:
        return 2;
    case ENGINE_GGUF_U32:
    case ENGINE_GGUF_I32:
    case ENGINE_GGUF_F32:
        return 4;
    case ENGINE_GGUF_U64:
    case ENGINE_GGUF_I64:
    case ENGINE_GGUF_F64:
        return 8;
    default:
        return 0;
    }
}

static void decode_scalar(engine_gguf_kv *kv, const uint8_t *p)
{
    switch (kv->type) {
    case ENGINE_GGUF_U8:
        kv->v.u64 = p[0];
        break;
    case ENGINE_GGUF_I8:
        kv->v.i64 = (int8_t)p[0];
        break;
    case ENGINE_GGUF_BOOL:
        kv->v.b = p[0] != 0;
        break;
    case ENGINE_GGUF_U16:
        kv->v.u64 = (uint16_t)(p[0] | p[1] << 8);
        break;
    case ENGINE_GGUF_I16:
        kv->v.i64 = (int16_t)(p[0] | p[1] << 8);
        break;
    case ENGINE_GGUF_U32:
        kv->v.u64 = cc_load_u32le(p);
        break;
    case ENGINE_GGUF_I32:
        kv->v.i64 = (int32_t)cc_load_u32le(p);
        break;
    case ENGINE_GGUF_F32: {
        uint32_t u = cc_load_u32le(p);
        float f;
        memcpy(&f, &u, 4);
        kv->v.f64 = f;
        break;
    }
    case ENGINE_GGUF_U64:
        kv->v.u64 = cc_load_u64le(p);
        break;
    case ENGINE_GGUF_I64:
        kv->v.i64 = (int64_t)cc_load_u64le(p);
        break;
    case ENGINE_GGUF_F64: {
        uint64_t u = cc_load_u64le(p);
        memcpy(&kv->v.f64, &u, 8);
        break;
    }
    }
}

static int read_kv(reader *r, engine_gguf_kv *kv, uint64_t idx)
{
    if (rd_str(r, &kv->key, GGUF_MAX_NAME, "metadata key"))
        return cc_err_prefix(r->err, "metadata %llu", (unsigned long long)idx);
    if (rd_u32(r, &kv->type, "metadata type")) return -1;
    const char *k = kv->key.ptr;
    int kl = (int)CC_MIN(kv->key.len, 200);
    if (kv->type == ENGINE_GGUF_STRING) {
        if (rd_str(r, &kv->str, SIZE_MAX, "string value"))
            return cc_err_prefix(r->err, "key %.*s", kl, k);
        return 0;
    }
    if (kv->type == ENGINE_GGUF_ARRAY) {
        if (rd_u32(r, &kv->arr_type, "array type") || rd_u64(r, &kv->arr_n, "array length"))
            return cc_err_prefix(r->err, "key %.*s", kl, k);
        if (kv->arr_type == ENGINE_GGUF_STRING) {
            /* Each string needs at least its 8-byte length. */
            if (kv->arr_n > (r->size - r->pos) / 8)
                return cc_err_set(r->err, "key %.*s: array of %llu strings exceeds the file", kl, k,
                                  (unsigned long long)kv->arr_n);
            kv->arr_strs =
                cc_calloc((size_t)kv->arr_n ? (size_t)kv->arr_n : 1, sizeof(engine_gguf_str));
            for (uint64_t i = 0; i < kv->arr_n; i++)
                if (rd_str(r, &kv->arr_strs[i], SIZE_MAX, "array string"))
                    return cc_err_prefix(r->err, "key %.*s[%llu]", kl, k, (unsigned long long)i);
            return 0;
        }
        size_t es = scalar_size(kv->arr_type);
        if (!es)
            return cc_err_set(r->err, "key %.*s: unsupported array element type %u", kl, k,
                              kv->arr_type);
        if (kv->arr_n > (r->size - r->pos) / es)
            return cc_err_set(r->err, "key %.*s: array of %llu elements exceeds the file", kl, k,
                              (unsigned long long)kv->arr_n);
        kv->arr_data = r->p + r->pos;
        r->pos += (size_t)kv->arr_n * es;
        return 0;
    }
    size_t sz = scalar_size(kv->type);
    if (!sz) return cc_err_set(r->err, "key %.*s: unknown value type %u", kl, k, kv->type);
    if (need(r, sz, "scalar value")) return cc_err_prefix(r->err, "key %.*s", kl, k);
    decode_scalar(kv, r->p + r->pos);
    r->pos += sz;
    return 0;
}

static bool str_eq(engine_gguf_str s, const char *z)
{
    size_t n = strlen(z);
    return s.len == n && memcmp(s.ptr, z, n) == 0;
}

static int read_tensor_info(reader *r, engine_gguf_tensor *t, uint64_t idx)
{
    if (rd_str(r, &t->name, GGUF_MAX_NAME, "tensor name"))
        return cc_err_prefix(r->err, "tensor %llu", (unsigned long long)idx);
    int nl = (int)CC_MIN(t->name.len, 200);
    if (rd_u32(r, &t->n_dims, "tensor dims"))
        return cc_err_prefix(r->err, "tensor %.*s", nl, t->name.ptr);
    if (t->n_dims < 1 || t->n_dims > ENGINE_GGUF_MAX_DIMS)
        return cc_err_set(r->err, "tensor %.*s: %u dimensions (1..4 allowed)", nl, t->name.ptr,
                          t->n_dims);
    uint64_t n = 1;
    for (uint32_t d = 0; d < ENGINE_GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d < t->n_dims) {
            if (rd_u64(r, &t->ne[d], "tensor dim"))
                return cc_err_prefix(r->err, "tensor %.*s", nl, t->name.ptr);
            if (t->ne[d] == 0 || t->ne[d] > (1ull << 40) || n > UINT64_MAX / t->ne[d])
                return cc_err_set(r->err, "tensor %.*s: bad dimension %llu", nl, t->name.ptr,
                                  (unsigned long long)t->ne[d]);
            n *= t->ne[d];
        }
    }
    if (n > (1ull << 42))
        return cc_err_set(r->err, "tensor %.*s: %llu elements is too many", nl, t->name.ptr,
                          (unsigned long long)n);
    t->n_elems = n;
    if (rd_u32(r, &t->type, "tensor type") || rd_u64(r, &t->offset, "tensor offset"))
        return cc_err_prefix(r->err, "tensor %.*s", nl, t->name.ptr);
    size_t be, bb;
    if (!engine_ttype_info(t->type, &be, &bb))
        return cc_err_set(r->err, "tensor %.*s: unknown tensor type %u", nl, t->name.ptr, t->type);
    if (t->ne[0] % be)
        return cc_err_set(
            r->err, "tensor %.*s: row of %llu is not a multiple of the %s block (%zu)", nl,
            t->name.ptr, (unsigned long long)t->ne[0], engine_ttype_name(t->type), be);
    t->n_bytes = n / be * bb;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    const engine_gguf_str *x = *(const engine_gguf_str *const *)a;
    const engine_gguf_str *y = *(const engine_gguf_str *const *)b;
    int c = memcmp(x->ptr, y->ptr, CC_MIN(x->len, y->len));
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static void free_parts(engine_gguf *g)
{
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++)
            free(g->kv[i].arr_strs);
    free(g->kv);
    free(g->tensors);
}

engine_gguf *engine_gguf_parse(const uint8_t *data, size_t size, cc_err *err)
{
    reader r = {data, size, 0, err};
    uint32_t magic, version;
    if (rd_u32(&r, &magic, "magic")) return NULL;
    if (magic != GGUF_MAGIC) {
        cc_err_set(err, "not a GGUF file (bad magic %08x)", magic);
        return NULL;
    }
    if (rd_u32(&r, &version, "version")) return NULL;
    if (version != 2 && version != 3) {
        cc_err_set(err, "unsupported GGUF version %u (2 and 3 are)", version);
        return NULL;
    }
    engine_gguf *g = cc_calloc(1, sizeof(*g));
    g->version = version;
    g->base = data;
    g->size = size;
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (rd_u64(&r, &g->n_tensors, "tensor count") || rd_u64(&r, &g->n_kv, "metadata count"))
        goto fail;
    /* A key-value pair takes at least 12 bytes, a tensor info at least 28. */
    if (g->n_kv > (size - r.pos) / 12) {
        cc_err_set(err, "metadata count %llu exceeds the file", (unsigned long long)g->n_kv);
        goto fail;
    }
    if (g->n_tensors > (size - r.pos) / 28) {
        cc_err_set(err, "tensor count %llu exceeds the file", (unsigned long long)g->n_tensors);
        goto fail;
    }
    g->kv = cc_calloc(g->n_kv ? (size_t)g->n_kv : 1, sizeof(engine_gguf_kv));
    for (uint64_t i = 0; i < g->n_kv; i++) {
        if (read_kv(&r, &g->kv[i], i)) goto fail;
        if (str_eq(g->kv[i].key, "general.alignment")) {
            if (g->kv[i].type != ENGINE_GGUF_U32 || g->kv[i].v.u64 == 0 ||
                (g->kv[i].v.u64 & (g->kv[i].v.u64 - 1)) || g->kv[i].v.u64 > 65536) {
                cc_err_set(err, "general.alignment must be a u32 power of two <= 65536");
                goto fail;
            }
            g->alignment = (uint32_t)g->kv[i].v.u64;
        }
    }
    g->tensors = cc_calloc(g->n_tensors ? (size_t)g->n_tensors : 1, sizeof(engine_gguf_tensor));
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (read_tensor_info(&r, &g->tensors[i], i)) goto fail;
    uint64_t data_off = (r.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors && data_off > size) {
        cc_err_set(err, "tensor data section starts at %llu, past the end of the file (%zu)",
                   (unsigned long long)data_off, size);
        goto fail;
    }
    g->data_offset = data_off;
    uint64_t avail = data_off <= size ? size - data_off : 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        engine_gguf_tensor *t = &g->tensors[i];
        int nl = (int)CC_MIN(t->name.len, 200);
        if (t->offset % g->alignment) {
            cc_err_set(err, "tensor %.*s: offset %llu not aligned to %u", nl, t->name.ptr,
                       (unsigned long long)t->offset, g->alignment);
            goto fail;
        }
        if (t->offset > avail || t->n_bytes > avail - t->offset) {
            cc_err_set(err, "tensor %.*s: data [%llu, +%llu) outside the file's %llu data bytes",
                       nl, t->name.ptr, (unsigned long long)t->offset,
                       (unsigned long long)t->n_bytes, (unsigned long long)avail);
            goto fail;
        }
        t->data = data + data_off + t->offset;
    }
    /* Duplicate names would make lookups ambiguous: sort the names and
     * compare neighbours. */
    if (g->n_tensors > 1) {
        const engine_gguf_str **names = cc_malloc((size_t)g->n_tensors * sizeof(*names));
        for (uint64_t i = 0; i < g->n_tensors; i++)
            names[i] = &g->tensors[i].name;
        qsort(names, (size_t)g->n_tensors, sizeof(*names), cmp_name);
        for (uint64_t i = 0; i + 1 < g->n_tensors; i++)
            if (!cmp_name(&names[i], &names[i + 1])) {
                cc_err_set(err, "duplicate tensor name %.*s", (int)CC_MIN(names[i]->len, 200),
                           names[i]->ptr);
                free(names);
                goto fail;
            }
        free(names);
    }
    return g;
fail:
    free_parts(g);
    free(g);
    return NULL;
}

engine_gguf *engine_gguf_open(const char *path, cc_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cc_err_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        cc_err_set(err, "%s: not a regular file", path);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    if (size < 24) {
        close(fd);
        cc_err_set(err, "%s: file of %zu bytes is too small to be GGUF", path, size);
        return NULL;
    }
    /* Private and writable: the model loader repacks some weights in place
     * (pack.c); those pages become the process's own copies, the file is
     * never written. */
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        cc_err_set(err, "%s: mmap: %s", path, strerror(errno));
        return NULL;
    }
    engine_gguf *g = engine_gguf_parse(map, size, err);
    if (!g) {
        munmap(map, size);
        cc_err_prefix(err, "%s", path);
        return NULL;
    }
    g->mapped = true;
    return g;
}

void engine_gguf_close(engine_gguf *g)
{
    if (!g) return;
    if (g->mapped) munmap((void *)g->base, g->size);
    free_parts(g);
    free(g);
}

const engine_gguf_kv *engine_gguf_find(const engine_gguf *g, const char *key)
{
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (str_eq(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const engine_gguf_tensor *engine_gguf_tensor_find(const engine_gguf *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (str_eq(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

int engine_gguf_get_u64(const engine_gguf *g, const char *key, uint64_t *out, cc_err *err)
{
    const engine_gguf_kv *kv = engine_gguf_find(g, key);
    if (!kv) return -1;
    switch (kv->type) {
    case ENGINE_GGUF_U8:
    case ENGINE_GGUF_U16:
    case ENGINE_GGUF_U32:
    case ENGINE_GGUF_U64:
        *out = kv->v.u64;
        return 0;
    case ENGINE_GGUF_I8:
    case ENGINE_GGUF_I16:
    case ENGINE_GGUF_I32:
    case ENGINE_GGUF_I64:
        if (kv->v.i64 < 0)
            return cc_err_set(err, "%s: negative value %lld", key, (long long)kv->v.i64);
        *out = (uint64_t)kv->v.i64;
        return 0;
    default:
        return cc_err_set(err, "%s: not an integer (type %u)", key, kv->type);
    }
}

int engine_gguf_get_f64(const engine_gguf *g, const char *key, double *out, cc_err *err)
{
    const engine_gguf_kv *kv = engine_gguf_find(g, key);
    if (!kv) return -1;
    if (kv->type == ENGINE_GGUF_F32 || kv->type == ENGINE_GGUF_F64) {
        *out = kv->v.f64;
        return 0;
    }
    uint64_t u;
    if (engine_gguf_get_u64(g, key, &u, err)) return -1;
    *out = (double)u;
    return 0;
}

int engine_gguf_get_bool(const engine_gguf *g, const char *key, bool *out, cc_err *err)
{
    const engine_gguf_kv *kv = engine_gguf_find(g, key);
    if (!kv) return -1;
    if (kv->type != ENGINE_GGUF_BOOL) return cc_err_set(err, "%s: not a bool", key);
    *out = kv->v.b;
    return 0;
}

char *engine_gguf_get_str(const engine_gguf *g, const char *key)
{
    const engine_gguf_kv *kv = engine_gguf_find(g, key);
    if (!kv || kv->type != ENGINE_GGUF_STRING) return NULL;
    return cc_strndup(kv->str.ptr, kv->str.len);
}
