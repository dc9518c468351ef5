/*
 * Usage accounting from OpenAI-compatible answers, streamed or not.
 *
 * COCOON's worker only looks for "usage" in a bare JSON body, so streams are
 * billed at zero. Here a tiny JSON scanner walks every document byte by byte,
 * tracks string/escape state and nesting depth, notices the top-level key
 * "usage" and captures only its object value; the SSE splitter feeds it the
 * payload of `data:` lines and it resets at each event boundary. Nothing
 * else is buffered, so memory stays bounded whatever the size of the
 * content, and chunk boundaries can fall anywhere.
 */
#include "openai/openai_int.h"

#include <stdlib.h>
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

bool openai_usage_from_json(const json_t *u, openai_usage *out)
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

static void scan_reset(openai_usage_scanner *s)
{
    s->depth = 0;
    s->in_string = s->escape = false;
    s->expect_key = s->reading_key = s->usage_key = s->after_colon = s->top_is_object = false;
    s->key_len = 0;
    s->capturing = s->cap_overflow = false;
    s->cap_len = 0;
}

/* count_field of a number's text (what openai_jscan_value accepted): an
 * integer clamped, a real truncated. A long number or an exponent made the
 * walk unsure, and jansson's value is used instead of this one. */
static int64_t count_of_number(const uint8_t *s, size_t n)
{
    if (memchr(s, '.', n)) {
        char buf[40];
        if (n >= sizeof(buf)) return 0;
        memcpy(buf, s, n);
        buf[n] = 0;
        double x = strtod(buf, NULL);
        return x > 0 && x < (double)USAGE_MAX_TOKENS ? (int64_t)x : 0;
    }
    if (s[0] == '-') return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (v > USAGE_MAX_TOKENS) return USAGE_MAX_TOKENS; /* the walk went on to jansson */
        v = v * 10 + (s[i] - '0');
    }
    return v > USAGE_MAX_TOKENS ? USAGE_MAX_TOKENS : v;
}

/* Walks the object at j->p; for each member named in keys (plain keys only)
 * stores its count in out[i] (a later repeat wins, as in jansson), and when
 * nested[i] is set walks that member's object the same way. False when the
 * text is not an object or the walk is unsure. */
typedef struct usage_field {
    const char *key;
    int64_t *out;
    const struct usage_field *nested; /* NULL-key terminated */
} usage_field;

static bool scan_fields(openai_jscan *j, const usage_field *fields, int depth)
{
    if (j->p >= j->end || *j->p != '{') return false;
    for (const usage_field *f = fields; f->key; f++)
        if (f->out) *f->out = 0;
    j->p++;
    openai_jscan_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return true;
    }
    for (;;) {
        const uint8_t *k;
        size_t kl;
        bool plain;
        if (j->p >= j->end || *j->p != '"' || !openai_jscan_string(j, &k, &kl, &plain))
            return false;
        if (!plain) { /* an escaped key could spell a name: jansson's call */
            j->unsure = true;
            return false;
        }
        openai_jscan_ws(j);
        if (j->p >= j->end || *j->p++ != ':') return false;
        openai_jscan_ws(j);
        const usage_field *f = fields;
        while (f->key && !(strlen(f->key) == kl && !memcmp(f->key, k, kl)))
            f++;
        const uint8_t *v = j->p;
        if (f->key && f->nested && *v == '{') {
            if (!scan_fields(j, f->nested, depth + 1)) return false;
        } else {
            if (f->key && f->nested) /* not an object: no counts from it */
                for (const usage_field *g = f->nested; g->key; g++)
                    *g->out = 0;
            if (!openai_jscan_value(j, depth + 1)) return false;
            if (f->key && f->out)
                *f->out = (*v == '-' || (*v >= '0' && *v <= '9'))
                              ? count_of_number(v, (size_t)(j->p - v))
                              : 0;
        }
        openai_jscan_ws(j);
        if (j->p >= j->end) return false;
        uint8_t c = *j->p++;
        if (c == '}') return !j->unsure;
        if (c != ',') return false;
        openai_jscan_ws(j);
    }
}

/* openai_usage_from_json over the text of a usage object, without a parse;
 * 1 found, 0 not usage, -1 unsure (jansson decides). */
static int usage_from_text(const char *text, size_t n, openai_usage *out)
{
    openai_usage u = {0};
    const usage_field prompt_details[] = {{"cached_tokens", &u.cached_tokens, NULL}, {0}};
    const usage_field completion_details[] = {{"reasoning_tokens", &u.reasoning_tokens, NULL}, {0}};
    const usage_field top[] = {{"prompt_tokens", &u.prompt_tokens, NULL},
                               {"completion_tokens", &u.completion_tokens, NULL},
                               {"total_tokens", &u.total_tokens, NULL},
                               {"prompt_tokens_details", NULL, prompt_details},
                               {"completion_tokens_details", NULL, completion_details},
                               {0}};
    openai_jscan j = {.p = (const uint8_t *)text, .end = (const uint8_t *)text + n};
    openai_jscan_ws(&j);
    bool ok = scan_fields(&j, top, 0);
    openai_jscan_ws(&j);
    if (j.unsure || !ok) return j.unsure || (ok && j.p != j.end) ? -1 : 0;
    if (j.p != j.end) return 0; /* trailing bytes: not JSON */
    if (u.total_tokens == 0) u.total_tokens = u.prompt_tokens + u.completion_tokens;
    *out = u;
    return 1;
}

static void capture_done(openai_usage_scanner *p)
{
    openai_usage_scanner *s = p;
    s->capturing = false;
    if (s->cap_overflow) return;
    openai_usage fast;
    int v = usage_from_text(s->cap, s->cap_len, &fast);
    if (v >= 0) {
        if (v == 1) {
            p->usage = fast;
            p->found = true;
        }
        return;
    }
    json_t *j = json_loadb(s->cap, s->cap_len, 0, NULL);
    openai_usage u;
    if (j && openai_usage_from_json(j, &u)) {
        p->usage = u;
        p->found = true;
    }
    json_decref(j);
}

static void scan_byte(openai_usage_scanner *p, uint8_t c)
{
    openai_usage_scanner *s = p;
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
static void scan_bytes(openai_usage_scanner *p, const uint8_t *d, size_t n)
{
    openai_usage_scanner *s = p;
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

/* ------------------------------------------------------------ streams */

static void sse_feed(openai_usage_scanner *p, const uint8_t *d, size_t n)
{
    size_t pos = 0;
    openai_sse_piece piece;
    while (pos < n && openai_sse_next(&p->sse, d, n, &pos, &piece)) {
        if (piece.kind == OPENAI_SSE_EVENT_END) {
            if (p->event_scanned) scan_reset(p); /* else the scanner is still fresh */
            p->events += p->event_has_data;
            p->event_has_data = p->event_scanned = false;
            continue;
        }
        if (piece.kind != OPENAI_SSE_PAYLOAD) continue;
        p->event_has_data = true;
        /* An event whose data is this one line, with no "usage" bytes in
         * it, cannot change the result: skip the scan. That is nearly every
         * event of a stream (the usage block comes last). */
        if (piece.whole_event && !openai_mentions_usage(piece.data, piece.len)) continue;
        p->event_scanned = true;
        if (piece.join) scan_byte(p, '\n'); /* the lines of one event's data */
        scan_bytes(p, piece.data, piece.len);
    }
}

void openai_usage_scanner_init(openai_usage_scanner *p, openai_usage_format format)
{
    memset(p, 0, sizeof(*p));
    p->format = format;
    openai_sse_init(&p->sse);
    scan_reset(p);
}

void openai_usage_scanner_feed(openai_usage_scanner *p, const uint8_t *data, size_t len)
{
    size_t i = 0;
    if (p->format == OPENAI_USAGE_AUTO) {
        while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
            i++;
        if (i == len) return; /* still undecided; blanks mean nothing in either format */
        p->format = data[i] == '{' ? OPENAI_USAGE_JSON : OPENAI_USAGE_SSE;
    }
    if (p->format == OPENAI_USAGE_JSON)
        scan_bytes(p, data + i, len - i);
    else
        sse_feed(p, data + i, len - i);
}

bool openai_usage_scanner_result(const openai_usage_scanner *p, openai_usage *out)
{
    if (!p->found) return false;
    *out = p->usage;
    return true;
}
