/* TL primitives shared by the generated coders, and the public encode/decode
 * entry points (tl.h). */
#include <stdlib.h>

#include "tl/tl_internal.h"

/* ---------------------------------------------------------------- lookup */

const tl_ctor_impl *tl_impl_find(uint32_t id)
{
    size_t lo = 0, hi = tl_ctor_table_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t m = tl_ctor_table[mid].info.id;
        if (m == id) return &tl_ctor_table[mid];
        if (m < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const tl_ctor_info *tl_ctor_find(uint32_t id)
{
    const tl_ctor_impl *impl = tl_impl_find(id);
    return impl ? &impl->info : NULL;
}

const char *tl_ctor_name(uint32_t id)
{
    const tl_ctor_impl *impl = tl_impl_find(id);
    return impl ? impl->info.name : "unknown";
}

const tl_ctor_info *tl_ctor_at(size_t i)
{
    return i < tl_ctor_table_len ? &tl_ctor_table[i].info : NULL;
}

const char *tl_type_name(int type)
{
    return type >= 0 && type < TL_TYPE_COUNT ? tl_type_names[type] : NULL;
}

bool tl_ctor_is_type(uint32_t id, int type)
{
    const tl_ctor_impl *impl = tl_impl_find(id);
    return impl && !impl->info.is_function && impl->info.type == type;
}

int tl_fail(cc_err *err, const char *where)
{
    return cc_err_prefix(err, "%s", where);
}

int tl_peek_id(const uint8_t *p, size_t n, uint32_t *id)
{
    if (n < 4) return -1;
    *id = cc_load_u32le(p);
    return 0;
}

/* ---------------------------------------------------------------- encoding */

int tl_sz_bytes(const tl_bytes *b, size_t *n, cc_err *err)
{
    if (b->len > TL_MAX_BYTES_LEN)
        return cc_err_set(err, "%zu bytes exceed the TL limit of %u", b->len, TL_MAX_BYTES_LEN);
    if (!b->data && b->len) return cc_err_set(err, "NULL data with length %zu", b->len);
    *n += tl_bytes_wire_size(b->len);
    return 0;
}

static int check_boxed(const tl_obj *o, int type, const tl_ctor_impl **impl, cc_err *err)
{
    if (!o)
        return cc_err_set(err, "missing value (NULL) of type %s",
                          type ? tl_type_names[type] : "(any)");
    *impl = tl_impl_find(o->id);
    if (!*impl) return cc_err_set(err, "unknown constructor id %08x", o->id);
    if (type && ((*impl)->info.is_function || (*impl)->info.type != type))
        return cc_err_set(err, "%s is not a constructor of %s", (*impl)->info.name,
                          tl_type_names[type]);
    return 0;
}

int tl_sz_boxed(const tl_obj *o, int type, size_t *n, cc_err *err)
{
    const tl_ctor_impl *impl = NULL;
    if (check_boxed(o, type, &impl, err)) return -1;
    *n += 4;
    if (impl->size(o, n, err)) return -1;
    return 0;
}

int tl_sz_vec_check(size_t count, bool have_items, cc_err *err)
{
    if (count > INT32_MAX) return cc_err_set(err, "vector of %zu elements is too long", count);
    if (count && !have_items)
        return cc_err_set(err, "vector of %zu elements with NULL items", count);
    return 0;
}

uint8_t *tl_wr_bytes(uint8_t *p, tl_bytes b)
{
    size_t h;
    if (b.len < 254) {
        p[0] = (uint8_t)b.len;
        h = 1;
    } else {
        p[0] = 254;
        p[1] = (uint8_t)b.len;
        p[2] = (uint8_t)(b.len >> 8);
        p[3] = (uint8_t)(b.len >> 16);
        h = 4;
    }
    if (b.len) memcpy(p + h, b.data, b.len);
    size_t total = tl_bytes_wire_size(b.len);
    memset(p + h + b.len, 0, total - h - b.len);
    return p + total;
}

uint8_t *tl_wr_boxed(const tl_obj *o, uint8_t *p)
{
    const tl_ctor_impl *impl = tl_impl_find(o->id); /* checked by the size pass */
    p = tl_wr_u32(p, o->id);
    return impl->write(o, p);
}

int tl_encoded_size(const tl_obj *o, size_t *size, cc_err *err)
{
    size_t n = 0;
    if (tl_sz_boxed(o, TL_TYPE_NONE, &n, err))
        return cc_err_prefix(err, "tl encode%s%s", o ? " " : "", o ? tl_ctor_name(o->id) : "");
    *size = n;
    return 0;
}

int tl_encode(const tl_obj *o, cc_buf *out, cc_err *err)
{
    size_t n;
    if (tl_encoded_size(o, &n, err)) return -1;
    cc_buf_reserve(out, n);
    uint8_t *end = tl_wr_boxed(o, out->data + out->len);
    if ((size_t)(end - (out->data + out->len)) != n) {
        /* The size and write passes are generated from the same schema; a
         * mismatch is a generator bug, not bad input. */
        CC_ERROR("tl encode: %s wrote %zu bytes, expected %zu", tl_ctor_name(o->id),
                 (size_t)(end - (out->data + out->len)), n);
        abort();
    }
    out->len += n;
    return 0;
}

/* ---------------------------------------------------------------- decoding */

int tl_rd_truncated(tl_rd *r, size_t need)
{
    return cc_err_set(r->err, "input truncated: need %zu bytes, %zu left", need,
                      (size_t)(r->end - r->p));
}

int tl_rd_bool(tl_rd *r, bool *v)
{
    uint32_t id;
    if (tl_rd_u32(r, &id)) return -1;
    if (id == TL_ID_boolTrue)
        *v = true;
    else if (id == TL_ID_boolFalse)
        *v = false;
    else
        return cc_err_set(r->err, "expected Bool, got id %08x", id);
    return 0;
}

int tl_rd_bytes(tl_rd *r, tl_bytes *b)
{
    if (tl_rd_need(r, 1)) return -1;
    size_t len, h;
    if (r->p[0] < 254) {
        len = r->p[0];
        h = 1;
    } else if (r->p[0] == 254) {
        if (tl_rd_need(r, 4)) return -1;
        len = (size_t)r->p[1] | (size_t)r->p[2] << 8 | (size_t)r->p[3] << 16;
        h = 4;
    } else {
        return cc_err_set(r->err, "invalid length byte 0xff");
    }
    size_t total = (h + len + 3) & ~(size_t)3, left = (size_t)(r->end - r->p);
    if (total > left)
        return cc_err_set(r->err, "length %zu exceeds the remaining %zu bytes", len,
                          left > h ? left - h : 0);
    const uint8_t *data = r->p + h;
    if (r->borrow) {
        b->data = data;
    } else {
        uint8_t *copy = tl_arena_alloc(r->arena, len + 1);
        memcpy(copy, data, len);
        copy[len] = 0;
        b->data = copy;
    }
    b->len = len;
    r->p += total;
    return 0;
}

int tl_rd_enter(tl_rd *r)
{
    if (r->depth >= r->max_depth)
        return cc_err_set(r->err, "nesting deeper than %u levels", r->max_depth);
    r->depth++;
    return 0;
}

int tl_rd_boxed(tl_rd *r, int type, tl_obj **out)
{
    uint32_t id;
    if (tl_rd_u32(r, &id)) return -1;
    const tl_ctor_impl *impl = tl_impl_find(id);
    if (!impl) return cc_err_set(r->err, "unknown constructor id %08x", id);
    if (type && (impl->info.is_function || impl->info.type != type))
        return cc_err_set(r->err, "expected %s, got %s (%08x)", tl_type_names[type],
                          impl->info.name, id);
    tl_obj *o = tl_arena_zalloc(r->arena, impl->info.struct_size);
    o->id = id;
    if (impl->read(r, o)) return -1;
    *out = o;
    return 0;
}

int tl_rd_vec(tl_rd *r, bool boxed, size_t min_elem, size_t elem_size, void **items, size_t *count)
{
    uint32_t n;
    if (boxed) {
        uint32_t id;
        if (tl_rd_u32(r, &id)) return -1;
        if (id != TL_ID_vector)
            return cc_err_set(r->err, "expected vector id %08x, got %08x", TL_ID_vector, id);
    }
    if (tl_rd_u32(r, &n)) return -1;
    size_t left = (size_t)(r->end - r->p);
    if (n > left / min_elem)
        return cc_err_set(r->err, "vector count %u exceeds the remaining %zu bytes", n, left);
    if (tl_rd_enter(r)) return -1;
    *items = n ? tl_arena_zalloc(r->arena, (size_t)n * elem_size) : NULL;
    *count = n;
    return 0;
}

tl_obj *tl_decode_ex(const uint8_t *p, size_t n, const tl_decode_opts *opts, cc_err *err)
{
    tl_decode_opts def = {0, 0, 0};
    if (!opts) opts = &def;
    if (opts->expect_type < 0 || opts->expect_type >= TL_TYPE_COUNT) {
        cc_err_set(err, "tl decode: bad expected type %d", opts->expect_type);
        return NULL;
    }
    bool borrow = (opts->flags & TL_DECODE_BORROW) != 0;
    /* Decoded structs are a few times larger than their wire form; copied
     * bytes need their own size again. Later chunks double. */
    size_t hint = 192 + (borrow ? n : 2 * n);
    if (hint > 65536) hint = 65536;
    tl_rd r = {
        .p = p,
        .end = p + n,
        .arena = tl_arena_new(hint),
        .err = err,
        .depth = 0,
        .max_depth = opts->max_depth ? opts->max_depth : TL_DEFAULT_MAX_DEPTH,
        .borrow = borrow,
    };
    tl_obj *o = NULL;
    if (!p && n) {
        cc_err_set(err, "NULL input");
        goto fail;
    }
    if (tl_rd_boxed(&r, opts->expect_type, &o)) goto fail;
    if (r.p != r.end) {
        cc_err_set(err, "%zu trailing bytes after %s", (size_t)(r.end - r.p), tl_ctor_name(o->id));
        goto fail;
    }
    o->arena = r.arena;
    return o;
fail:
    cc_err_prefix(err, "tl decode");
    tl_arena_free(r.arena);
    return NULL;
}

tl_obj *tl_decode_as(const uint8_t *p, size_t n, uint32_t id, unsigned flags, cc_err *err)
{
    tl_decode_opts opts = {.flags = flags};
    tl_obj *o = tl_decode_ex(p, n, &opts, err);
    if (o && o->id != id) {
        cc_err_set(err, "tl decode: expected %s, got %s", tl_ctor_name(id), tl_ctor_name(o->id));
        tl_obj_free(o);
        return NULL;
    }
    return o;
}

tl_obj *tl_decode(const uint8_t *p, size_t n, cc_err *err)
{
    return tl_decode_ex(p, n, NULL, err);
}

void tl_obj_free(tl_obj *o)
{
    if (o && o->arena) tl_arena_free(o->arena);
}

/* ---------------------------------------------------------------- helpers */

char *tl_bytes_strdup(tl_bytes b)
{
    char *s = cc_malloc(b.len + 1);
    if (b.len) memcpy(s, b.data, b.len);
    s[b.len] = 0;
    return s;
}

bool tl_bytes_eq_str(tl_bytes b, const char *s)
{
    size_t n = strlen(s);
    return b.len == n && (n == 0 || memcmp(b.data, s, n) == 0);
}

tl_obj *tl_obj_clone(const tl_obj *o, cc_err *err)
{
    cc_buf buf = CC_BUF_INIT;
    tl_obj *copy = NULL;
    if (tl_encode(o, &buf, err) == 0)
        copy = tl_decode_ex(buf.data, buf.len, &(tl_decode_opts){.max_depth = 1000}, err);
    cc_buf_free(&buf);
    return copy;
}

bool tl_obj_equal(const tl_obj *a, const tl_obj *b)
{
    if (!a || !b) return a == b;
    if (a->id != b->id) return false;
    const tl_ctor_impl *impl = tl_impl_find(a->id);
    return impl && impl->equal(a, b);
}
