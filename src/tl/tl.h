/*
 * tl — TL serialization of COCOON's wire messages (DESIGN §4.2–4.3).
 *
 * The schema is the .tl files in proto/; src/tl/tlgen.py turns it into tl/tl_gen.h (ids,
 * structs, tl_as_* helpers; included below) and tl_gen.c at build time.
 *
 * Representation (one C struct per constructor or function):
 *   - `tl_<ns>_<name>` (dots become underscores), e.g. tl_client_runQueryEx; id
 *     `TL_ID_<ns>_<name>`; every struct starts with `tl_obj hdr` so a pointer to
 *     any of them converts to `tl_obj *` (&x.hdr) and back (tl_as_<ctor>()).
 *   - int → int32_t, long → int64_t, double → double, int256 → tl_int256,
 *     string and bytes → tl_bytes, Bool → bool, `#` → uint32_t.
 *   - `flags.N?T`: the field is on the wire iff bit N of that flags field is
 *     set. Encoding looks only at the flags value: set the bit AND the field.
 *     A `true` field is a bool filled on decode from its bit, ignored on encode.
 *   - a lower-case (bare) constructor type, e.g. `params:proxy.params`, is
 *     embedded by value without an id on the wire (its hdr.id is set on
 *     decode and ignored on encode);
 *   - a capitalised (boxed) type, e.g. `signed_payment:proxy.SignedPayment`, is
 *     a `tl_obj *` that must point at one of that type's constructors
 *     (NULL only where the field is absent because of its flag);
 *   - `(vector T)` is bare (count, elements) and `Vector T` boxed (0x1cb5c415,
 *     count, elements), both `tl_vec_<T> {size_t n; T *items;}`.
 *
 * Building a message to send: declare the struct, fill it, encode.
 *
 *     tl_tcp_ping ping = TL_INIT(tcp_ping);
 *     ping.id = 42;
 *     if (tl_encode(&ping.hdr, &buf, &err) < 0) ...
 *
 * Memory: tl_encode only reads the object; its tl_bytes, vectors and boxed
 * fields may point at any caller memory. tl_decode returns ONE allocation
 * block (an arena) holding the root object and everything reachable from it
 * (nested objects, vectors and, unless TL_DECODE_BORROW, the bytes); free it
 * with tl_obj_free(root) only. Nested objects of a decoded tree are not
 * freed separately (tl_obj_free ignores anything but a decode root).
 * Decoded strings and bytes (copy mode) are followed by a NUL byte that is not
 * counted in len, so `(const char *)s.data` is a C string (an embedded NUL
 * would shorten it; compare with tl_bytes_eq_str when that matters).
 *
 * With TL_DECODE_BORROW, tl_bytes fields point into the input buffer instead
 * (no copy, no NUL terminator): the input must outlive the decoded object.
 * That is the mode for the hot path (relaying streamed chunks).
 *
 * Decoders reject truncated input, trailing bytes, unknown ids, a constructor
 * of the wrong type, lengths and counts larger than the remaining input, a
 * Bool other than boolTrue/boolFalse, a 0xFF length byte and nesting deeper
 * than max_depth, with a message naming the constructor and field. Lengths
 * may use the long form below 254 and padding bytes are not checked (as
 * COCOON's own parser does).
 */
#ifndef COCOON_TL_H
#define COCOON_TL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"

/* Header of every generated struct. `arena` is internal: set only on the root
 * object returned by tl_decode* / tl_sample_new (zero it in your own objects,
 * which TL_INIT and designated initialisers do). */
typedef struct tl_obj {
    uint32_t id;
    uint32_t reserved_;
    struct tl_arena *arena;
} tl_obj;

/* string / bytes. data may be NULL when len == 0. */
typedef struct tl_bytes {
    const uint8_t *data;
    size_t len;
} tl_bytes;

typedef struct tl_int256 {
    uint8_t b[32];
} tl_int256;

typedef struct tl_int128 {
    uint8_t b[16];
} tl_int128;

#define TL_ID_boolTrue 0x997275b5u
#define TL_ID_boolFalse 0xbc799737u
#define TL_ID_vector 0x1cb5c415u

/* A string or bytes payload is at most 2^24 - 1 bytes (3-byte length). */
#define TL_MAX_BYTES_LEN 0xffffffu

/* Used by the generated typed wrappers, so declared before them (documented
 * with the other coding functions below). */
tl_obj *tl_decode_as(const uint8_t *p, size_t n, uint32_t id, unsigned flags, cc_err *err);
void tl_obj_free(tl_obj *o);
int tl_encode(const tl_obj *o, cc_buf *out, cc_err *err);

#include "tl/tl_gen.h"

/* Zero-initialised value of constructor `name` (underscored), e.g.
 * `tl_tcp_ping p = TL_INIT(tcp_ping);` */
#define TL_INIT(name)                                                                              \
    {                                                                                              \
        .hdr = {.id = TL_ID_##name }                                                               \
    }

/* ------------------------------------------------------------- encoding */

/* Appends the boxed encoding of o (4-byte id + fields) to out. On failure
 * (NULL or wrong-type boxed field, string over TL_MAX_BYTES_LEN, NULL data
 * with a non-zero length, unknown id) out is unchanged and err says which
 * field. */
int tl_encode(const tl_obj *o, cc_buf *out, cc_err *err);
/* Size tl_encode would append (validates like it). */
int tl_encoded_size(const tl_obj *o, size_t *size, cc_err *err);

/* ------------------------------------------------------------- decoding */

enum {
    TL_DECODE_BORROW = 1u << 0, /* tl_bytes point into the input, see above */
};
#define TL_DEFAULT_MAX_DEPTH 16

typedef struct tl_decode_opts {
    unsigned flags;     /* TL_DECODE_* */
    unsigned max_depth; /* nesting limit of constructors and vectors; 0 = default */
    int expect_type;    /* TL_TYPE_*: accept only that type's constructors; 0 = any */
} tl_decode_opts;

/* Decodes one boxed object occupying all n bytes (copy mode, any constructor
 * or function). Returns NULL and fills err on malformed input. */
tl_obj *tl_decode(const uint8_t *p, size_t n, cc_err *err);
tl_obj *tl_decode_ex(const uint8_t *p, size_t n, const tl_decode_opts *opts, cc_err *err);
/* Like tl_decode_ex with these flags, but accepts only constructor `id`
 * ("expected X, got Y" otherwise). The typed tl_decode_<ctor>(p, n, flags,
 * err) wrappers of tl_gen.h call it; tl_encode_<ctor>(o, out, err) and
 * tl_free_<ctor>(o) wrap tl_encode and tl_obj_free. */
tl_obj *tl_decode_as(const uint8_t *p, size_t n, uint32_t id, unsigned flags, cc_err *err);
/* Frees a decoded object (the root returned by tl_decode*, tl_sample_new or
 * tl_obj_clone) and everything in it. NULL and non-root objects: no-op. */
void tl_obj_free(tl_obj *o);

/* Reads the first 4 bytes as a constructor id without decoding (-1 if n < 4). */
int tl_peek_id(const uint8_t *p, size_t n, uint32_t *id);

/* --------------------------------------------------------------- schema */

typedef struct tl_ctor_info {
    uint32_t id;
    const char *name;   /* "client.runQueryEx" */
    const char *result; /* result type, "client.QueryAnswerEx" */
    int type;           /* TL_TYPE_* of a constructor; TL_TYPE_NONE for functions */
    bool is_function;
    size_t struct_size; /* sizeof(tl_<name>) */
    bool pinned_id;     /* explicit id in the schema that is not the CRC */
} tl_ctor_info;

/* NULL if the id is unknown. */
const tl_ctor_info *tl_ctor_find(uint32_t id);
/* "client.runQueryEx", or "unknown" for an unknown id. */
const char *tl_ctor_name(uint32_t id);
/* Iterates over the schema: i in [0, TL_CTOR_COUNT), sorted by id. */
const tl_ctor_info *tl_ctor_at(size_t i);
/* "client.QueryAnswerEx" for TL_TYPE_client_QueryAnswerEx; NULL if out of range. */
const char *tl_type_name(int type);
/* True if constructor id belongs to boxed type `type`. */
bool tl_ctor_is_type(uint32_t id, int type);

/* -------------------------------------------------------------- helpers */

/* A tl_bytes view of a C string (for encoding; not copied). */
static inline tl_bytes tl_str(const char *s)
{
    tl_bytes b = {(const uint8_t *)s, s ? strlen(s) : 0};
    return b;
}
static inline tl_bytes tl_mem(const void *p, size_t n)
{
    tl_bytes b = {(const uint8_t *)p, n};
    return b;
}
/* Heap copy as a NUL-terminated string (caller frees). */
char *tl_bytes_strdup(tl_bytes b);
bool tl_bytes_eq_str(tl_bytes b, const char *s);
/* Deep copy in copy mode (one arena, free with tl_obj_free). */
tl_obj *tl_obj_clone(const tl_obj *o, cc_err *err);
/* Deep comparison: same constructor, same flags, equal fields; fields absent
 * by their flags, hdr of embedded structs and `true` fields are ignored;
 * doubles compare bitwise. Unknown ids are never equal. */
bool tl_obj_equal(const tl_obj *a, const tl_obj *b);
/* Appends o as one line of JSON: {"@type":"tcp.ping","id":42}; absent
 * optional fields are left out, int256 is hex, bytes a string with \u00XX for
 * bytes outside printable ASCII, cut after max_bytes per field (0 = no cut).
 * Longs are plain JSON numbers (exact up to 2^53 in most JSON readers). */
void tl_obj_dump(const tl_obj *o, cc_buf *out, size_t max_bytes);
/* Test support: a value of constructor `id` with every field filled from a
 * deterministic generator seeded by `seed` (flags fields get a seed-dependent
 * subset of their used bits, boxed fields a seed-dependent constructor of
 * their type, strings lengths around the 1/4-byte length boundary). NULL for
 * an unknown id. Free with tl_obj_free. */
tl_obj *tl_sample_new(uint32_t id, uint32_t seed);

#endif
