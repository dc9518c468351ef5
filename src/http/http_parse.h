/*
 * The inbound HTTP/1.x request parser: pure functions over bytes, no I/O, so
 * that it can be unit-tested and fuzzed exactly as the server sees its input.
 * Internal to the http layer (the server in http_conn.c; tests and fuzzers).
 *
 * The parser is strict where leniency lets two parties disagree about where a
 * request ends (request smuggling): duplicate or malformed Content-Length,
 * Content-Length together with Transfer-Encoding, any transfer coding other
 * than a lone "chunked", obs-fold continuation lines, bare CR or LF, spaces
 * before the colon, and control bytes in header values are all rejected.
 */
#ifndef COCOON_HTTP_PARSE_H
#define COCOON_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "http.h"

/* At most this many header fields in one head (more: 431). */
#define HTTP_MAX_HEADER_FIELDS 100

/* Why a request was rejected: the HTTP status to answer with, an OpenAI error
 * code (static) and a message for the client. */
typedef struct http_perr {
    int status;
    const char *code;
    char message[160];
} http_perr;

typedef struct http_head {
    char *raw; /* owned copy of the head, cut into NUL-terminated strings */
    const char *method;
    const char *path;  /* before '?' */
    const char *query; /* after '?', or NULL */
    int minor;         /* HTTP/1.<minor>: 0 or 1 */
    http_header *headers;
    size_t n_headers;
    int64_t content_length; /* -1 = none */
    bool chunked;
    bool keep_alive; /* what the client asked for (version default + Connection) */
    bool expect_continue;
    const char *host;   /* the Host field or NULL (only HTTP/1.0 may omit it) */
    const char *origin; /* the Origin field or NULL */
} http_head;

/* Looks for a complete request head at the start of buf (leading empty lines
 * are skipped, as RFC 9112 advises). Returns the number of bytes the head
 * takes (> 0) with out filled (clear it with http_head_clear), 0 when more
 * bytes are needed, or -1 with e filled: 400 malformed, 431 head larger than
 * max_head bytes or with too many fields, 501 unsupported transfer coding,
 * 505 unsupported version, 417 unknown expectation.
 * *scanned (start at 0 for each new head) remembers how far earlier calls
 * got, so a head that trickles in is not rescanned from its start each time. */
int http_head_parse(const uint8_t *buf, size_t len, size_t max_head, size_t *scanned,
                    http_head *out, http_perr *e);
void http_head_clear(http_head *h);
/* The value of a header field (case-insensitive name) or NULL. */
const char *http_head_get(const http_head *h, const char *name);

/* Incremental decoder of a chunked request body (RFC 9112 section 7.1). */
typedef struct http_chunked {
    int state;
    uint64_t left;   /* bytes of the current chunk still to come */
    size_t line;     /* bytes of the current size, extension or trailer line */
    size_t trailers; /* trailer bytes so far */
    bool digits;     /* the size line had at least one hex digit */
} http_chunked;

void http_chunked_init(http_chunked *c);
/* Feeds bytes; appends the decoded data to body. Sets *used to the bytes
 * taken from in (bytes after the body's end stay for the next request).
 * Returns 1 when the body is complete, 0 when more is needed, -1 with e
 * filled: 400 bad chunk framing, 413 body would exceed max_body. */
int http_chunked_feed(http_chunked *c, const uint8_t *in, size_t len, cc_buf *body, size_t max_body,
                      size_t *used, http_perr *e);

/* Whether a Host field value is allowed by a list of comma-separated names
 * (an entry with a port must match with that port; one without matches any
 * port; "*" allows any). Case-insensitive. any_ip additionally allows any IP
 * literal (a server bound to a wildcard address). */
bool http_host_allowed(const char *host, const char *list, bool any_ip);
/* Whether an Origin value is in a comma-separated list of origins
 * ("scheme://host[:port]"; an entry without a port matches any port; "*"
 * allows any). Case-insensitive. */
bool http_origin_allowed(const char *origin, const char *list);
/* Whether a Content-Type value is application/json (parameters allowed). */
bool http_content_type_is_json(const char *value);

#endif
