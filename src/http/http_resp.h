/*
 * The outbound client's HTTP/1.x response parser: pure functions over bytes,
 * no I/O, so that it can be unit-tested and fuzzed exactly as the client sees
 * its input. Internal to the http layer (http_client.c; tests and fuzzers).
 *
 * The head is parsed in place (the caller's buffer is cut into NUL-terminated
 * strings) because the client hands the fields to on_head only for the call
 * and then drops the head; no copy is needed. Strict where leniency would let
 * us misjudge where a response ends: CRLF line ends only, no obs-fold, a
 * Content-Length that is digits only and agrees with any duplicate, and no
 * transfer coding but "chunked".
 */
#ifndef COCOON_HTTP_RESP_H
#define COCOON_HTTP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* At most this many header fields in one response head. */
#define HTTP_RESP_MAX_FIELDS 100

typedef struct http_resp_head {
    int status; /* 100..999 */
    int minor;  /* HTTP/1.<minor>: 0 or 1 */
    http_header headers[HTTP_RESP_MAX_FIELDS];
    size_t n_headers;
    int64_t content_length; /* -1 = none */
    bool chunked;
    bool close; /* the server ends the connection after this response */
} http_resp_head;

/* Looks for a complete response head at the start of buf. Returns the bytes it
 * takes (> 0) with out filled and the head's bytes in buf rewritten (fields
 * point into buf), 0 when more bytes are needed (buf untouched), or -1 with a
 * message in err (buf may then be partly cut): malformed head, or no end
 * within max_head bytes.
 * *scanned (0 for each new head) remembers how far earlier calls looked for
 * the head's end, so a head that trickles in is not rescanned. */
int http_resp_head_parse(char *buf, size_t len, size_t max_head, size_t *scanned,
                         http_resp_head *out, char *err, size_t errlen);

/* Incremental decoder of a chunked body (RFC 9112 section 7.1) that copies
 * nothing: data comes back as spans of the input. */
typedef struct http_resp_chunked {
    int state;
    uint64_t left; /* bytes of the current chunk still to come */
    size_t line;   /* bytes of the current size/extension line */
    size_t trailers;
    bool digits;
} http_resp_chunked;

void http_resp_chunked_init(http_resp_chunked *c);
/* Takes bytes from in[0..len): sets *used (> 0 unless len == 0) and, when the
 * bytes taken are chunk data, *data and *dlen to them (else *dlen = 0). Returns 1
 * when the body's end (the last chunk and trailers) was reached, 0 when more
 * is needed (call again with the rest), -1 with *err set (static text) on bad
 * framing. Bytes after the end are not taken. */
int http_resp_chunked_step(http_resp_chunked *c, const uint8_t *in, size_t len, size_t *used,
                           const uint8_t **data, size_t *dlen, const char **err);

#endif
