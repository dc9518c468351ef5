/*
 * Internal interface between the TL runtime (the src/tl sources) and the code that
 * tlgen.py generates (tl_gen.c). Not for other modules: use tl/tl.h.
 */
#ifndef COCOON_TL_INTERNAL_H
#define COCOON_TL_INTERNAL_H

#include <string.h>

#include "tl/tl.h"

/* ------------------------------------------------------------- arena */

/* Bump allocator of a decoded tree: a list of chunks freed together. The
 * tl_arena struct itself lives in the first chunk. */
typedef struct tl_chunk {
    struct tl_chunk *prev;
    size_t cap;
    size_t used;
    _Alignas(16) unsigned char data[];
} tl_chunk;

struct tl_arena {
    tl_chunk *cur;
};

/* A new arena whose first chunk can hold about `hint` bytes. */
struct tl_arena *tl_arena_new(size_t hint);
/* n bytes aligned to 8, NOT zeroed (zeroed variant below). */
void *tl_arena_alloc(struct tl_arena *a, size_t n);
void *tl_arena_zalloc(struct tl_arena *a, size_t n);
void tl_arena_free(struct tl_arena *a);

/* -------------------------------------------------------- constructors */

typedef struct tl_rd tl_rd;
typedef struct tl_smp tl_smp;
typedef struct tl_dump tl_dump;

typedef struct tl_ctor_impl {
    tl_ctor_info info;
    int (*size)(const void *o, size_t *n, cc_err *err); /* bare size, validates */
    uint8_t *(*write)(const void *o, uint8_t *p);       /* bare, after size ok */
    int (*read)(tl_rd *r, void *o);                     /* bare, o zeroed with id set */
    void (*sample)(tl_smp *s, void *o);                 /* fills every field */
    void (*dump)(tl_dump *d, const void *o);            /* JSON text (tl_obj_dump) */
    bool (*equal)(const void *a, const void *b);        /* same id already checked */
} tl_ctor_impl;

extern const tl_ctor_impl tl_ctor_table[]; /* sorted by id */
extern const size_t tl_ctor_table_len;
extern const char *const tl_type_names[TL_TYPE_COUNT];

const tl_ctor_impl *tl_impl_find(uint32_t id);

static inline bool tl_eq_bytes(tl_bytes a, tl_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/* Prefixes the current error with "where: " and returns -1. */
int tl_fail(cc_err *err, const char *where);

/* --------------------------------------------------------------- sizes */

static inline size_t tl_bytes_wire_size(size_t len)
{
    return ((len < 254 ? 1 : 4) + len + 3) & ~(size_t)3;
}
int tl_sz_bytes(const tl_bytes *b, size_t *n, cc_err *err);
int tl_sz_boxed(const tl_obj *o, int type, size_t *n, cc_err *err);
int tl_sz_vec_check(size_t count, bool have_items, cc_err *err);

/* -------------------------------------------------------------- writing */

static inline uint8_t *tl_wr_u32(uint8_t *p, uint32_t v)
{
    cc_store_u32le(p, v);
    return p + 4;
}
static inline uint8_t *tl_wr_i32(uint8_t *p, int32_t v)
{
    return tl_wr_u32(p, (uint32_t)v);
}
static inline uint8_t *tl_wr_i64(uint8_t *p, int64_t v)
{
    cc_store_u64le(p, (uint64_t)v);
    return p + 8;
}
static inline uint8_t *tl_wr_f64(uint8_t *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    cc_store_u64le(p, u);
    return p + 8;
}
uint8_t *tl_wr_bytes(uint8_t *p, tl_bytes b);
uint8_t *tl_wr_boxed(const tl_obj *o, uint8_t *p);

/* -------------------------------------------------------------- reading */

struct tl_rd {
    const uint8_t *p;
    const uint8_t *end;
    struct tl_arena *arena;
    cc_err *err;
    unsigned depth;
    unsigned max_depth;
    bool borrow;
};

int tl_rd_truncated(tl_rd *r, size_t need);

static inline int tl_rd_need(tl_rd *r, size_t n)
{
    return (size_t)(r->end - r->p) < n ? tl_rd_truncated(r, n) : 0;
}
static inline int tl_rd_u32(tl_rd *r, uint32_t *v)
{
    if (tl_rd_need(r, 4)) return -1;
    *v = cc_load_u32le(r->p);
    r->p += 4;
    return 0;
}
static inline int tl_rd_i32(tl_rd *r, int32_t *v)
{
    if (tl_rd_need(r, 4)) return -1;
    *v = (int32_t)cc_load_u32le(r->p);
    r->p += 4;
    return 0;
}
static inline int tl_rd_i64(tl_rd *r, int64_t *v)
{
    if (tl_rd_need(r, 8)) return -1;
    *v = (int64_t)cc_load_u64le(r->p);
    r->p += 8;
    return 0;
}
static inline int tl_rd_f64(tl_rd *r, double *v)
{
    if (tl_rd_need(r, 8)) return -1;
    uint64_t u = cc_load_u64le(r->p);
    memcpy(v, &u, 8);
    r->p += 8;
    return 0;
}
static inline int tl_rd_raw(tl_rd *r, uint8_t *out, size_t n)
{
    if (tl_rd_need(r, n)) return -1;
    memcpy(out, r->p, n);
    r->p += n;
    return 0;
}
int tl_rd_bool(tl_rd *r, bool *v);
int tl_rd_bytes(tl_rd *r, tl_bytes *b);
/* Enters one nesting level (constructor or vector); the caller decrements
 * r->depth when done. */
int tl_rd_enter(tl_rd *r);
/* Reads a boxed object of `type` (TL_TYPE_NONE: any) into an arena struct. */
int tl_rd_boxed(tl_rd *r, int type, tl_obj **out);
/* Reads a vector header (id if boxed, count), checks count * min_elem fits in
 * the remaining input, enters a nesting level and allocates count zeroed
 * elements of elem_size. */
int tl_rd_vec(tl_rd *r, bool boxed, size_t min_elem, size_t elem_size, void **items, size_t *count);

/* ------------------------------------------------------------- samples */

struct tl_smp {
    uint64_t state;
    uint32_t seed;
    unsigned depth;
    struct tl_arena *arena;
};
uint32_t tl_smp_u32(tl_smp *s);
uint64_t tl_smp_u64(tl_smp *s);
double tl_smp_double(tl_smp *s);
uint32_t tl_smp_flags(tl_smp *s, uint32_t mask);
void tl_smp_fill(tl_smp *s, uint8_t *p, size_t n);
tl_bytes tl_smp_bytes(tl_smp *s, bool text);
size_t tl_smp_count(tl_smp *s);
void *tl_smp_alloc(tl_smp *s, size_t n);
tl_obj *tl_smp_boxed(tl_smp *s, int type);

/* ---------------------------------------------------------------- dump */

struct tl_dump {
    cc_buf *out;
    size_t max_bytes; /* per string/bytes field; 0 = all */
    unsigned depth;
};
void tl_dp_begin(tl_dump *d, const char *name); /* {"@type":"name" */
void tl_dp_key(tl_dump *d, const char *key);    /* ,"key": */
void tl_dp_open(tl_dump *d, char c);
void tl_dp_close(tl_dump *d, char c);
void tl_dp_sep(tl_dump *d, size_t i);
void tl_dp_int(tl_dump *d, int64_t v);
void tl_dp_double(tl_dump *d, double v);
void tl_dp_bool(tl_dump *d, bool v);
void tl_dp_hex(tl_dump *d, const uint8_t *p, size_t n);
void tl_dp_bytes(tl_dump *d, tl_bytes b);
void tl_dp_boxed(tl_dump *d, const tl_obj *o);

#endif
