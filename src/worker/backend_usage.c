/*
 * Usage accounting from OpenAI-compatible answers, streamed or not.
 *
 * COCOON's worker only looks for "usage" in a bare JSON body, so streams are
 * billed at zero. Here a tiny JSON scanner walks every document byte by byte,
 * tracks string/escape state and nesting depth, notices the top-level key
 * "usage" and captures only its object value; an SSE layer above it feeds the
 * scanner the payload of `data:` lines and resets it at each event boundary.
 * Nothing else is buffered, so memory stays bounded whatever the size of the
 * content, and chunk boundaries can fall anywhere.
 */
#include "worker/backend_usage.h"

#include <string.h>

#define USAGE_MAX_TOKENS ((int64_t)1 << 40) /* far above any real count */

/* ------------------------------------------------------- usage object */

static int64_t count_field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        return x < 0 ? 0 : x > USAGE_MAX_TOKENS ? USAGE_MAX_TOKENS : x;
    }
    if (json_is_real(v)) { /* some servers emit 12.0 */
        double x = json_real_value(v);
        return x > 0 && x < (double)USAGE_MAX_TOKENS ? (int64_t)x : 0;
    }
    return 0;
}

bool backend_usage_from_json(const json_t *u, backend_usage *out)
{
    if (!json_is_object(u)) return false;
    memset(out, 0, sizeof(*out));
    out->prompt_tokens = count_field(u, "prompt_tokens");
    out->completion_tokens = count_field(u, "completion_tokens");
    out->total_tokens = count_field(u, "total_tokens");
    const json_t *pd = json_object_get(u, "prompt_tokens_details");
    if (json_is_object(pd)) out->cached_tokens = count_field(pd, "cached_tokens");
    const json_t *cd = json_object_get(u, "completion_tokens_details");
    if (json_is_object(cd)) out->reasoning_tokens = count_field(cd, "reasoning_tokens");
    if (out->total_tokens == 0) out->total_tokens = out->prompt_tokens + out->completion_tokens;
    return true;
}

/* -------------------------------------------------------- JSON scanner */

static void scan_reset(backend_usage_scan *s)
{
    s->depth = 0;
    s->in_string = s->escape = false;
    s->expect_key = s->reading_key = s->usage_key = s->after_colon = s->top_is_object = false;
    s->key_len = 0;
    s->capturing = s->cap_overflow = false;
    s->cap_len = 0;
}

static void capture_done(backend_usage_parser *p)
{
    backend_usage_scan *s = &p->scan;
    s->capturing = false;
    if (s->cap_overflow) return;
    json_t *j = json_loadb(s->cap, s->cap_len, 0, NULL);
    backend_usage u;
    if (j && backend_usage_from_json(j, &u)) {
        p->usage = u;
        p->found = true;
    }
    json_decref(j);
}

static void scan_byte(backend_usage_parser *p, uint8_t c)
{
    backend_usage_scan *s = &p->scan;
    if (s->capturing) {
        if (s->cap_len < sizeof(s->cap))
            s->cap[s->cap_len++] = (char)c;
        else
            s->cap_overflow = true;
    }
    if (s->in_string) {
        if (s->escape) {
            s->escape = false;
        } else if (c == '\\') {
            s->escape = true;
        } else if (c == '"') {
            s->in_string = false;
            if (s->reading_key) {
                s->reading_key = false;
                s->usage_key = s->key_len == 5 && memcmp(s->key, "usage", 5) == 0;
                s->after_colon = false;
            }
            return;
        }
        if (s->reading_key) {
            /* a longer key stays at the cap and so never equals "usage" */
            if (s->key_len < sizeof(s->key)) s->key[s->key_len++] = (char)c;
        }
        return;
    }
    switch (c) {
    case '"':
        s->in_string = true;
        if (s->depth == 1 && s->expect_key && !s->capturing) {
            s->expect_key = false;
            s->reading_key = true;
            s->key_len = 0;
        }
        return;
    case '{':
    case '[':
        if (s->depth == 1 && s->usage_key && s->after_colon) {
            s->usage_key = false;
            if (c == '{') {
                s->capturing = true;
                s->cap_overflow = false;
                s->cap[0] = '{';
                s->cap_len = 1;
            }
        }
        if (s->depth == 0) s->expect_key = s->top_is_object = c == '{';
        if (s->depth < 1000000) s->depth++;
        return;
    case '}':
    case ']':
        if (s->depth == 0) return; /* garbage; ignore */
        s->depth--;
        if (s->depth == 1 && s->capturing) capture_done(p);
        if (s->depth == 0) /* end of a document: another may follow */
            scan_reset(s);
        return;
    case ':':
        if (s->depth == 1 && s->usage_key) s->after_colon = true;
        return;
    case ',':
        if (s->depth == 1 && s->top_is_object) {
            s->expect_key = true;
            s->usage_key = false;
        }
        return;
    case ' ':
    case '\t':
    case '\r':
    case '\n':
        return;
    default:
        /* a scalar value (number, null, true, ...): "usage": null is no usage */
        if (s->depth == 1 && s->after_colon) s->usage_key = false;
        return;
    }
}

/* Bytes that can change the scanner's state outside strings below the top
 * level (where ':' ',' and scalars do not matter). */
static const uint8_t k_nested[256] = {['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1};

/* scan_byte over a run of bytes. Almost every byte of an answer is content
 * inside a string or nested below the top level; those runs are skipped with
 * a table lookup instead of going through the state machine. */
static void scan_bytes(backend_usage_parser *p, const uint8_t *d, size_t n)
{
    backend_usage_scan *s = &p->scan;
    size_t i = 0;
    while (i < n) {
        if (!s->capturing && !s->reading_key && !s->escape) {
            if (s->in_string) {
                /* content strings are long: memchr is vectorised */
                const uint8_t *q = memchr(d + i, '"', n - i);
                size_t end = q ? (size_t)(q - d) : n;
                const uint8_t *bs = memchr(d + i, '\\', end - i);
                i = bs ? (size_t)(bs - d) : end;
            } else if (s->depth >= 2) {
                while (i < n && !k_nested[d[i]])
                    i++;
            }
            if (i == n) return;
        }
        scan_byte(p, d[i++]);
    }
}

/* ------------------------------------------------------------ SSE layer */

static void sse_line_end(backend_usage_parser *p)
{
    switch (p->line) {
    case SSE_LINE_START: /* blank line: end of event */
        if (p->event_has_data) p->events++;
        p->event_has_data = false;
        p->event_scanned = false;
        scan_reset(&p->scan);
        break;
    case SSE_FIELD: /* a field name with no colon: "data" alone means empty data */
        break;
    case SSE_DATA_FIRST:
    case SSE_DATA:
        /* Lines of one event's data are joined with '\n'. */
        scan_byte(p, '\n');
        break;
    case SSE_SKIP:
        break;
    }
    p->line = SSE_LINE_START;
    p->field_len = 0;
}

static void sse_byte(backend_usage_parser *p, uint8_t c)
{
    if (c == '\n' && p->after_cr) { /* the LF of a CRLF */
        p->after_cr = false;
        return;
    }
    p->after_cr = c == '\r';
    if (c == '\r' || c == '\n') {
        sse_line_end(p);
        return;
    }
    switch (p->line) {
    case SSE_LINE_START:
        if (c == ':') { /* comment line */
            p->line = SSE_SKIP;
            return;
        }
        p->line = SSE_FIELD;
        p->field_len = 0;
        /* fall through */
    case SSE_FIELD:
        if (c == ':') {
            bool is_data = p->field_len == 4 && memcmp(p->field, "data", 4) == 0;
            p->line = is_data ? SSE_DATA_FIRST : SSE_SKIP;
            if (is_data) p->event_has_data = true;
        } else if (p->field_len < sizeof(p->field)) {
            p->field[p->field_len++] = (char)c;
        } else {
            p->line = SSE_SKIP; /* no field we care about is that long */
        }
        return;
    case SSE_DATA_FIRST:
        p->line = SSE_DATA;
        if (c == ' ') /* one optional space after the colon */
            return;
        /* fall through */
    case SSE_DATA:
        scan_byte(p, c);
        p->event_scanned = true;
        return;
    case SSE_SKIP:
        return;
    }
}

/* ---------------------------------------------------------------- API */

void backend_usage_parser_init(backend_usage_parser *p, backend_usage_format format)
{
    memset(p, 0, sizeof(*p));
    p->format = format;
    p->line = SSE_LINE_START;
    scan_reset(&p->scan);
}

/* Index of the first CR or LF in d[0..n), or n. */
static size_t line_end(const uint8_t *d, size_t n)
{
    const uint8_t *lf = memchr(d, '\n', n);
    size_t end = lf ? (size_t)(lf - d) : n;
    const uint8_t *cr = memchr(d, '\r', end);
    return cr ? (size_t)(cr - d) : end;
}

/* True when the line ending at d[end] (a CR or LF) is followed by a blank
 * line inside d, i.e. the event ends right there. */
static bool event_ends_after(const uint8_t *d, size_t end, size_t n)
{
    if (end >= n) return false;
    size_t j = end + 1;
    if (d[end] == '\r') {
        if (j >= n) return false; /* a LF may follow in the next chunk */
        if (d[j] == '\n') j++;
    }
    return j < n && (d[j] == '\r' || d[j] == '\n');
}

/* Whether "usage" occurs in d[0..n). glibc's memmem is slow for short
 * needles; memchr on the first letter is vectorised. */
static bool has_usage_bytes(const uint8_t *d, size_t n)
{
    const uint8_t *end = d + n;
    while (n >= 5) {
        const uint8_t *u = memchr(d, 'u', n - 4);
        if (!u) return false;
        if (memcmp(u + 1, "sage", 4) == 0) return true;
        d = u + 1;
        n = (size_t)(end - d);
    }
    return false;
}

static void sse_feed(backend_usage_parser *p, const uint8_t *d, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (p->line == SSE_DATA_FIRST && d[i] != '\r' && d[i] != '\n') {
            if (d[i] == ' ') /* one optional space after the colon */
                i++;
            p->line = SSE_DATA;
            continue;
        }
        /* Inside a data line or a skipped line, go to the line end in one step. */
        if (p->line == SSE_DATA || p->line == SSE_SKIP) {
            size_t end = i + line_end(d + i, n - i);
            if (p->line == SSE_DATA) {
                /* An event whose data is this one line, with no "usage" bytes in
                 * it, cannot change the result: skip the scan. That is nearly
                 * every event of a stream (the usage block comes last). */
                bool skip = !p->event_scanned && event_ends_after(d, end, n) &&
                            !has_usage_bytes(d + i, end - i);
                if (!skip && end > i) {
                    scan_bytes(p, d + i, end - i);
                    p->event_scanned = true;
                }
            }
            i = end;
            if (i == n) return;
        }
        sse_byte(p, d[i++]);
    }
}

void backend_usage_parser_feed(backend_usage_parser *p, const uint8_t *data, size_t len)
{
    size_t i = 0;
    if (p->format == BACKEND_USAGE_AUTO) {
        while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
            i++;
        if (i == len) return; /* still undecided; blanks mean nothing in either format */
        p->format = data[i] == '{' ? BACKEND_USAGE_JSON : BACKEND_USAGE_SSE;
    }
    if (p->format == BACKEND_USAGE_JSON)
        scan_bytes(p, data + i, len - i);
    else
        sse_feed(p, data + i, len - i);
}

bool backend_usage_parser_result(const backend_usage_parser *p, backend_usage *out)
{
    if (!p->found) return false;
    *out = p->usage;
    return true;
}
