/*
 * base — the layer every other module builds on: errors, logging, growable
 * byte buffers, hex, time and a few JSON helpers over jansson.
 *
 * Ownership: a cc_buf owns its heap block; cc_buf_free() releases it.  Functions
 * that return a char * the caller must free say so.  No function here keeps a
 * pointer to caller memory after it returns.
 */
#ifndef COCOON_BASE_H
#define COCOON_BASE_H

/* What every program's --version prints after its name. */
#define COCOON_VERSION "0.1.0"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>

#include <jansson.h>

/* ---------------------------------------------------------------- errors */

/* Functions that can fail return 0 on success and -1 on failure and, when
 * given a non-NULL cc_err, leave a human-readable reason in it. */
typedef struct cc_err {
    int code; /* optional machine code (e.g. a COCOON error code or HTTP status) */
    char msg[512];
} cc_err;

/* Formats the message into err (if err != NULL) and evaluates to -1, so callers
 * can write `return cc_err_set(err, ...);`.  They are macros so the compiler
 * sees the constant -1 (and does not warn about outputs left unset on error
 * paths); a GNU statement expression, so a bare call is no unused value. */
void cc_err_set_impl(cc_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cc_err_setc_impl(cc_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cc_err_prefix_impl(cc_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define cc_err_set(err, ...)                                                                       \
    ({                                                                                             \
        cc_err_set_impl((err), __VA_ARGS__);                                                       \
        -1;                                                                                        \
    })
#define cc_err_setc(err, code, ...)                                                                \
    ({                                                                                             \
        cc_err_setc_impl((err), (code), __VA_ARGS__);                                              \
        -1;                                                                                        \
    })
/* Prepends "prefix: " to the current message; evaluates to -1. */
#define cc_err_prefix(err, ...)                                                                    \
    ({                                                                                             \
        cc_err_prefix_impl((err), __VA_ARGS__);                                                    \
        -1;                                                                                        \
    })
void cc_err_clear(cc_err *err);

/* --------------------------------------------------------------- logging */

typedef enum { CC_LOG_DEBUG = 0, CC_LOG_INFO, CC_LOG_WARN, CC_LOG_ERROR } cc_log_level;

/* One line per event: `ts=... level=... comp=... <fields>` written to stderr.
 * The threshold and component name are process-wide settings made once at
 * start (they are configuration, not mutable state shared between modules). */
void cc_log_init(const char *component, cc_log_level min_level);
cc_log_level cc_log_level_from_string(const char *s); /* defaults to INFO */
bool cc_log_enabled(cc_log_level lvl);
/* Copies src into dst (always terminated), writing each control byte as \xNN; returns the length.
 */
size_t cc_log_escape(char *dst, size_t dst_size, const char *src);
void cc_log(cc_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Buffered mode (daemons): info and debug lines gather in memory until cc_log_flush(), a warning or
 * error, a full buffer, exit() or a crash signal; the caller flushes on a timer. Off by default, so
 * tools and tests see each line at once. */
void cc_log_buffered(bool on);
void cc_log_flush(void);

#define CC_DEBUG(...) (cc_log_enabled(CC_LOG_DEBUG) ? cc_log(CC_LOG_DEBUG, __VA_ARGS__) : (void)0)
#define CC_INFO(...) cc_log(CC_LOG_INFO, __VA_ARGS__)
#define CC_WARN(...) cc_log(CC_LOG_WARN, __VA_ARGS__)
#define CC_ERROR(...) cc_log(CC_LOG_ERROR, __VA_ARGS__)

/* ---------------------------------------------------------- byte buffers */

typedef struct cc_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} cc_buf;

#define CC_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Allocation failure aborts the process: out-of-memory is not outside input
 * and there is no sane recovery in a daemon (like Redis' zmalloc). */
void cc_buf_reserve(cc_buf *b, size_t extra);
void cc_buf_append(cc_buf *b, const void *p, size_t n);
void cc_buf_append_str(cc_buf *b, const char *s);
void cc_buf_append_u8(cc_buf *b, uint8_t v);
void cc_buf_append_fmt(cc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes (n <= len). */
void cc_buf_consume(cc_buf *b, size_t n);
void cc_buf_reset(cc_buf *b); /* len = 0, keeps capacity */
void cc_buf_free(cc_buf *b);
/* Returns the contents as a NUL-terminated heap string and empties b. */
char *cc_buf_steal_str(cc_buf *b);

/* Checked allocation helpers (abort on OOM, see above). */
void *cc_malloc(size_t n);
void *cc_calloc(size_t n, size_t sz);
void *cc_realloc(void *p, size_t n);
char *cc_strdup(const char *s);
char *cc_strndup(const char *s, size_t n);

/* --------------------------------------------------------------- hex etc. */

/* Lowercase hex of n bytes into out (2n+1 bytes incl. NUL). */
void cc_hex_encode(const uint8_t *in, size_t n, char *out);
/* Heap string, caller frees. */
char *cc_hex_encode_alloc(const uint8_t *in, size_t n);
/* Decodes exactly out_len bytes from a hex string of exactly 2*out_len chars. */
int cc_hex_decode(const char *hex, uint8_t *out, size_t out_len, cc_err *err);
/* Decodes hex text tolerating an optional 0x prefix and whitespace anywhere. */
int cc_hex_decode_loose(const char *text, size_t text_len, cc_buf *out, cc_err *err);

/* ------------------------------------------------------------- checksums */

uint32_t cc_crc32(const void *data, size_t n);  /* IEEE 802.3 (TL constructor ids) */
uint32_t cc_crc32c(const void *data, size_t n); /* Castagnoli (TON BoC) */
uint16_t cc_crc16(const void *data, size_t n);  /* XMODEM (TON addresses) */

/* ------------------------------------------------------------------ time */

double cc_now_wall(void);      /* seconds since the epoch */
double cc_now_mono(void);      /* monotonic seconds */
uint64_t cc_now_mono_ns(void); /* monotonic nanoseconds */
/* A duration in seconds as the struct timeval libevent's timers take;
 * negative counts as 0. */
struct timeval cc_timeval(double seconds);

/* ------------------------------------------------------------------ files */

/* Reads a whole file into out (appended). */
int cc_read_file(const char *path, cc_buf *out, cc_err *err);
/* Writes atomically: temp file in the same directory, fsync, rename. */
int cc_write_file_atomic(const char *path, const void *data, size_t len, int mode, cc_err *err);
/* A mkdtemp/mkstemp template "<$TMPDIR or /tmp>/<prefix>-XXXXXX" in out[n]. */
void cc_tmp_template(char *out, size_t n, const char *prefix);
/* mkdir -p */
int cc_mkdirs(const char *path, int mode, cc_err *err);

/* ------------------------------------------------------------------- JSON */

/* Loads a JSON object from a file; message names file, line and column. */
json_t *cc_json_load_file(const char *path, cc_err *err);
json_t *cc_json_loadb(const char *data, size_t len, cc_err *err);

/* Typed field access with validation messages that name the field.
 * `required`: when false and the key is absent, *out keeps its default and 0 is
 * returned. Strings returned point into the json object (borrowed). */
int cc_json_get_str(const json_t *obj, const char *key, bool required, const char **out,
                    cc_err *err);
int cc_json_get_int(const json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                    int64_t *out, cc_err *err);
int cc_json_get_double(const json_t *obj, const char *key, bool required, double min, double max,
                       double *out, cc_err *err);
int cc_json_get_bool(const json_t *obj, const char *key, bool required, bool *out, cc_err *err);
/* Rejects keys of obj not listed in the NULL-terminated `allowed` array. */
int cc_json_check_keys(const json_t *obj, const char *const *allowed, const char *where,
                       cc_err *err);
/* Where the field at `path` ("a", "a.b", "a[2].name") is in a JSON text: 0
 * with the line and column (1-based) of its key, or of the array element,
 * or -1 when the text has no such field. */
int cc_json_locate(const char *text, size_t len, const char *path, int *line, int *col);
/* The field path a validation message names (its first field "PATH", or
 * WHERE.KEY for "WHERE: unknown field \"KEY\""): 0 with out filled, or -1. */
int cc_json_error_field(const char *msg, char *out, size_t cap);

/* -------------------------------------------------------------- strings */

bool cc_str_has_prefix(const char *s, const char *prefix);
/* Copies src (NULL = "") into dst[cap], truncating; dst is always terminated. */
void cc_str_copy(char *dst, size_t cap, const char *src);
/* Parses a decimal integer in [min,max]; whole string must be consumed. */
int cc_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out, cc_err *err);
/* Hot-path formatting without printf (its float path costs microseconds): each writes the
 * text and a NUL at dst and returns the length without the NUL. cc_fmt_u64: decimal, dst holds
 * 21 bytes. cc_fmt_fixed: |x| < 9.2e12 as printf's "%.*f" with decimals 0..6 (rounded half
 * away from zero on the scaled value, so a last digit may differ from printf's by one in
 * halfway cases), dst holds 32 bytes; NaN and larger values fall back to snprintf. */
size_t cc_fmt_u64(char *dst, uint64_t v);
size_t cc_fmt_fixed(char *dst, double x, int decimals);

#define CC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CC_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline uint32_t cc_load_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t cc_load_u64le(const uint8_t *p)
{
    return (uint64_t)cc_load_u32le(p) | (uint64_t)cc_load_u32le(p + 4) << 32;
}
static inline void cc_store_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void cc_store_u64le(uint8_t *p, uint64_t v)
{
    cc_store_u32le(p, (uint32_t)v);
    cc_store_u32le(p + 4, (uint32_t)(v >> 32));
}

/* ------------------------------------------- configuration helpers (cfg.c) */

/* Splits "host:port" or "[v6]:port" into host (NUL-terminated, at most
 * host_len-1 chars) and port (0..65535). */
int cc_parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port, cc_err *err);
/* Resolves `path` relative to the directory of `file` (absolute paths and a
 * NULL file leave it as is). Heap string, caller frees; NULL for a NULL path. */
char *cc_path_relative_to(const char *file, const char *path);

/* ------------------------------------ intrusive doubly-linked list (list.c) */

/* The object that holds a cc_list_node `member` at `ptr`. */
#define cc_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* A node lives inside the object it lists; a zeroed node is unlinked. */
typedef struct cc_list_node {
    struct cc_list_node *prev, *next;
} cc_list_node;

/* A zeroed list is empty: no set-up needed in a calloc'ed owner. The last
 * node is kept so a list can serve as a FIFO queue. */
typedef struct cc_list {
    cc_list_node *first, *last;
} cc_list;

void cc_list_push_front(cc_list *l, cc_list_node *n);
void cc_list_push_back(cc_list *l, cc_list_node *n);
/* Unlinks n from l and zeroes it. Removing an unlinked node does nothing,
 * so an owner may remove on every path without tracking whether it did. */
void cc_list_remove(cc_list *l, cc_list_node *n);
/* Whether n, which is either in l or in no list, is in l (constant time). */
bool cc_list_contains(const cc_list *l, const cc_list_node *n);
static inline bool cc_list_empty(const cc_list *l)
{
    return l->first == NULL;
}
size_t cc_list_count(const cc_list *l);

/* The object after obj (whose node is `member`), or NULL at the end. */
#define cc_list_next(type, obj, member)                                                            \
    ((obj)->member.next ? cc_container_of((obj)->member.next, type, member) : (type *)NULL)

/* The first object of l, or NULL when it is empty. */
#define cc_list_first(type, l, member)                                                             \
    ((l)->first ? cc_container_of((l)->first, type, member) : (type *)NULL)

/* Walks l from first to last, `var` being each object (of `type`) whose
 * `member` is the node. The next object is read before the body runs, so
 * the body may remove (and free) the current object, but no other one. */
#define cc_list_foreach(type, var, l, member)                                                      \
    for (type *var = cc_list_first(type, l, member),                                               \
              *var##_next_ = var ? cc_list_next(type, var, member) : NULL;                         \
         var; var = var##_next_, var##_next_ = var ? cc_list_next(type, var, member) : NULL)

/* -------------------------------------------- command-line options (args.c) */

/* One option of a program or command: "--name" alone (a flag) or
 * "--name VALUE" / "--name=VALUE". Every program's argv goes through
 * cc_args_parse, so an unknown option, a missing value and --help behave the
 * same everywhere. */
typedef struct cc_opt {
    const char *name;    /* with the dashes: "--port" */
    const char *metavar; /* "N" for an option with a value; NULL for a flag */
    const char *help;    /* one line for the usage text */
    const char *def;     /* the default, shown in the usage text; NULL for none */
} cc_opt;

#define CC_ARGS_MAX_OPTS 48
#define CC_ARGS_MAX_POS 16

/* The parse of an argv against a list of options. Values point into argv. */
typedef struct cc_args {
    const cc_opt *opts;
    size_t n_opts;
    const char *value[CC_ARGS_MAX_OPTS]; /* per option: its value, "" for a flag, NULL absent */
    const char *pos[CC_ARGS_MAX_POS];    /* positional arguments in order */
    int n_pos;
    bool help; /* --help or -h was given (the rest is still parsed) */
} cc_args;

/* Parses argv[0..argc) against opts[0..n_opts). "--" ends the options; "-"
 * and "-<digit>..." are positional; an option given twice keeps the last
 * value. Fails with "unknown option --x", "option --x needs a value" (also
 * when the next word is itself an option), "option --flag takes no value"
 * and "too many arguments". */
int cc_args_parse(const cc_opt *opts, size_t n_opts, int argc, char *const *argv, cc_args *out,
                  cc_err *err);
/* The value of option `name` ("" for a set flag), or NULL when absent. The
 * name must be one of the parsed options (a typo in the caller aborts). */
const char *cc_args_get(const cc_args *a, const char *name);
bool cc_args_flag(const cc_args *a, const char *name);
/* Parses the option's value as an integer in [min,max] / a finite number into
 * *out; leaves *out as it is (the default) when the option is absent. Errors
 * name the option. */
int cc_args_i64(const cc_args *a, const char *name, int64_t min, int64_t max, int64_t *out,
                cc_err *err);
int cc_args_int(const cc_args *a, const char *name, int min, int max, int *out, cc_err *err);
int cc_args_double(const cc_args *a, const char *name, double *out, cc_err *err);
/* Prints one line per option: name, metavar, help and "(default X)". */
void cc_args_usage(FILE *f, const cc_opt *opts, size_t n_opts);

/* ------------------------------------------------ u64 -> pointer map (map.c) */

/* Open-addressing hash map; values are non-NULL pointers the caller owns. */
typedef struct cc_map_slot {
    uint64_t key;
    void *val; /* NULL = empty slot */
} cc_map_slot;
typedef struct cc_map {
    cc_map_slot *slots;
    size_t cap, n;
} cc_map;

void cc_map_init(cc_map *m);
void cc_map_free(cc_map *m); /* frees the table, not the values */
void *cc_map_get(const cc_map *m, uint64_t key);
/* Inserts or replaces; returns the previous value (or NULL). val NULL = delete. */
void *cc_map_put(cc_map *m, uint64_t key, void *val);
/* Removes; returns the removed value or NULL. */
void *cc_map_del(cc_map *m, uint64_t key);
size_t cc_map_count(const cc_map *m);

#endif
