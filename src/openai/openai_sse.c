/*
 * Server-sent events: the one splitter, and the filter that removes the
 * usage-only event from a relayed stream.
 *
 * The splitter walks a stream chunk by chunk and reports the pieces its
 * readers need: the payload of "data" lines (zero-copy, a line's content in
 * one memchr step: a stream is almost all line content) and the ends of
 * events. The filter (client side) and the usage scanner (worker side) both
 * read streams through it.
 *
 * The worker asks every backend for stream_options.include_usage so streams
 * can be billed; a caller that did not ask for it must not receive the extra
 * event: its `"choices": []` breaks the common `chunk.choices[0]` loop. The
 * filter holds back at most one incomplete event, passes every other event
 * through byte for byte, and drops an event whose data is a JSON object with
 * an empty "choices" array and a "usage" object.
 */
#include "openai/openai_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ splitter */

void openai_sse_init(openai_sse *s)
{
    memset(s, 0, sizeof(*s));
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

/* A line terminator c at d[*pos - 1] (already consumed); the LF of a CRLF
 * is consumed with it when it is in this chunk (else after_cr stays set for
 * the next one). Returns true with p filled when the line was empty: the
 * event ends. */
static bool line_ends(openai_sse *s, uint8_t c, const uint8_t *d, size_t n, size_t *pos,
                      openai_sse_piece *p)
{
    bool blank = s->line == OPENAI_SSE_LINE_START;
    s->line = OPENAI_SSE_LINE_START;
    s->field_len = 0;
    if (c == '\r') {
        if (*pos < n) {
            if (d[*pos] == '\n') (*pos)++; /* the whole CRLF belongs to this line */
        } else {
            s->after_cr = true;      /* a LF may start the next chunk */
            s->tail_pending = blank; /* ... and then belongs to this event */
        }
    }
    if (!blank) return false;
    s->data_lines = 0;
    p->kind = OPENAI_SSE_EVENT_END;
    p->data = NULL;
    p->len = 0;
    p->end = *pos;
    return true;
}

bool openai_sse_next(openai_sse *s, const uint8_t *d, size_t n, size_t *pos, openai_sse_piece *p)
{
    size_t i = *pos;
    if (i < n && s->after_cr) { /* the last chunk ended on a CR */
        bool tail = s->tail_pending;
        s->after_cr = s->tail_pending = false;
        if (d[i] == '\n') { /* the LF of that CRLF: the line already ended */
            i++;
            if (tail) {
                *p = (openai_sse_piece){.kind = OPENAI_SSE_EVENT_TAIL, .end = i};
                *pos = i;
                return true;
            }
        }
    }
    while (i < n) {
        uint8_t c = d[i];
        if (c == '\r' || c == '\n') {
            i++;
            if (line_ends(s, c, d, n, &i, p)) {
                *pos = i;
                return true;
            }
            continue;
        }
        switch (s->line) {
        case OPENAI_SSE_LINE_START:
            if (c == ':' || s->events_only) { /* a comment line, or any line */
                s->line = OPENAI_SSE_SKIP;
                i += 1 + line_end(d + i + 1, n - i - 1);
                continue;
            }
            if (n - i >= 5 && memcmp(d + i, "data:", 5) == 0) { /* nearly every line */
                i += 5;
                s->line = OPENAI_SSE_DATA_FIRST;
                s->data_lines++;
                s->line_fresh = true;
                continue;
            }
            s->line = OPENAI_SSE_FIELD;
            s->field_len = 0;
            /* fall through */
        case OPENAI_SSE_FIELD:
            i++;
            if (c == ':') {
                bool is_data = s->field_len == 4 && memcmp(s->field, "data", 4) == 0;
                s->line = is_data ? OPENAI_SSE_DATA_FIRST : OPENAI_SSE_SKIP;
                if (is_data) {
                    s->data_lines++;
                    s->line_fresh = true;
                }
            } else if (s->field_len < sizeof(s->field)) {
                s->field[s->field_len++] = (char)c;
            } else {
                s->line = OPENAI_SSE_SKIP; /* no field we care about is that long */
            }
            continue;
        case OPENAI_SSE_DATA_FIRST:
            s->line = OPENAI_SSE_DATA;
            if (c == ' ') { /* one optional space after the colon */
                i++;
                continue;
            }
            /* fall through */
        case OPENAI_SSE_DATA: {
            size_t end = i + line_end(d + i, n - i);
            p->kind = OPENAI_SSE_PAYLOAD;
            p->data = d + i;
            p->len = end - i;
            p->join = s->line_fresh && s->data_lines > 1;
            p->whole_event = s->line_fresh && s->data_lines == 1 && event_ends_after(d, end, n);
            p->end = end;
            s->line_fresh = false;
            *pos = end;
            return true;
        }
        case OPENAI_SSE_SKIP:
            i += line_end(d + i, n - i);
            continue;
        }
    }
    *pos = i;
    return false;
}

/* -------------------------------------------------------------- filter */

struct openai_sse_filter {
    openai_sse sse;
    cc_buf pending; /* bytes of the event being received */
    bool last_event_dropped;
    size_t dropped;
};

openai_sse_filter *openai_sse_filter_new(void)
{
    openai_sse_filter *f = cc_calloc(1, sizeof(openai_sse_filter));
    f->sse.events_only = true; /* payloads are read only for events that mention usage */
    return f;
}

void openai_sse_filter_free(openai_sse_filter *f)
{
    if (!f) return;
    cc_buf_free(&f->pending);
    free(f);
}

size_t openai_sse_filter_dropped(const openai_sse_filter *f)
{
    return f->dropped;
}

/* glibc's memmem is slow for short needles; memchr on the first letter is
 * vectorised. */
bool openai_mentions_usage(const uint8_t *d, size_t n)
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

/* ------------------------------------------------- usage-only JSON scan */

/* 1 or 0 when the walk decides, -1 when jansson must. */
static int usage_only_scan(const uint8_t *d, size_t n)
{
    openai_jscan j = {.p = d, .end = d + n};
    openai_jscan_ws(&j);
    if (j.p >= j.end || *j.p != '{') return 0; /* not an object (or not JSON) */
    j.p++;
    bool choices_empty = false, usage_object = false;
    openai_jscan_ws(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
    } else {
        for (;;) {
            const uint8_t *k;
            size_t kl;
            bool plain;
            if (j.p >= j.end || *j.p != '"' || !openai_jscan_string(&j, &k, &kl, &plain))
                return j.unsure ? -1 : 0;
            if (!plain) j.unsure = true; /* an escaped key could spell either name */
            openai_jscan_ws(&j);
            if (j.p >= j.end || *j.p++ != ':') return j.unsure ? -1 : 0;
            openai_jscan_ws(&j);
            const uint8_t *v = j.p;
            if (!openai_jscan_value(&j, 1)) return j.unsure ? -1 : 0;
            /* A repeated key: jansson keeps the last value. */
            if (kl == 7 && !memcmp(k, "choices", 7)) {
                const uint8_t *q = v + 1;
                while (q < j.p && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
                    q++;
                choices_empty = *v == '[' && q == j.p - 1;
            } else if (kl == 5 && !memcmp(k, "usage", 5)) {
                usage_object = *v == '{';
            }
            openai_jscan_ws(&j);
            if (j.p >= j.end) return j.unsure ? -1 : 0;
            uint8_t c = *j.p++;
            if (c == '}') break;
            if (c != ',') return j.unsure ? -1 : 0;
            openai_jscan_ws(&j);
        }
    }
    openai_jscan_ws(&j);
    if (j.p != j.end) return j.unsure ? -1 : 0; /* trailing bytes: jansson refuses the text */
    if (j.unsure) return -1;
    return choices_empty && usage_object;
}

bool openai_is_usage_only_json(const uint8_t *d, size_t n)
{
    int v = usage_only_scan(d, n);
    if (v >= 0) return v == 1;
    json_t *j = json_loadb((const char *)d, n, 0, NULL);
    bool drop = false;
    if (json_is_object(j)) {
        const json_t *choices = json_object_get(j, "choices");
        drop = json_is_array(choices) && json_array_size(choices) == 0 &&
               json_is_object(json_object_get(j, "usage"));
    }
    json_decref(j);
    return drop;
}

/* Whether the event (complete, terminators included) is the usage-only one.
 * Only events that mention "usage" are scanned: nearly every event passes
 * after one memchr sweep. */
static bool usage_only_event(const uint8_t *ev, size_t n)
{
    if (!openai_mentions_usage(ev, n)) return false;
    cc_buf data = CC_BUF_INIT;
    const uint8_t *one = NULL; /* the data of a one-line event, read in place */
    size_t one_len = 0, lines = 0;
    openai_sse s;
    openai_sse_init(&s);
    openai_sse_piece p;
    size_t pos = 0;
    while (openai_sse_next(&s, ev, n, &pos, &p)) {
        if (p.kind != OPENAI_SSE_PAYLOAD) continue;
        if (lines++ == 0) {
            one = p.data;
            one_len = p.len;
            continue;
        }
        if (lines == 2) cc_buf_append(&data, one, one_len);
        if (p.join) cc_buf_append_u8(&data, '\n');
        cc_buf_append(&data, p.data, p.len);
    }
    bool drop = lines == 1 ? openai_is_usage_only_json(one, one_len)
                : data.len ? openai_is_usage_only_json(data.data, data.len)
                           : false;
    cc_buf_free(&data);
    return drop;
}

void openai_sse_filter_feed(openai_sse_filter *f, const uint8_t *data, size_t len, cc_buf *out)
{
    /* Read the chunk where it is unless an event is already held back: a
     * relayed stream usually arrives one whole event per chunk, and then no
     * byte is copied but to out. */
    const uint8_t *d = data;
    size_t n = len, pos = 0, start = 0;
    bool held = f->pending.len > 0;
    if (held) {
        pos = f->pending.len;
        cc_buf_append(&f->pending, data, len);
        d = f->pending.data;
        n = f->pending.len;
    }
    openai_sse_piece p;
    while (pos < n && openai_sse_next(&f->sse, d, n, &pos, &p)) {
        if (p.kind == OPENAI_SSE_EVENT_TAIL) {
            /* The LF completing the CRLF that ended the last event goes
             * wherever that event went. */
            if (!f->last_event_dropped) cc_buf_append_u8(out, '\n');
            start = p.end;
        } else if (p.kind == OPENAI_SSE_EVENT_END) {
            bool drop = usage_only_event(d + start, p.end - start);
            if (drop)
                f->dropped++;
            else
                cc_buf_append(out, d + start, p.end - start);
            f->last_event_dropped = drop;
            start = p.end;
        }
    }
    if (held)
        cc_buf_consume(&f->pending, start);
    else
        cc_buf_append(&f->pending, d + start, n - start);
}

void openai_sse_filter_finish(openai_sse_filter *f, cc_buf *out)
{
    if (f->pending.len) {
        if (usage_only_event(f->pending.data, f->pending.len))
            f->dropped++;
        else
            cc_buf_append(out, f->pending.data, f->pending.len);
    }
    cc_buf_reset(&f->pending);
    openai_sse_init(&f->sse);
    f->sse.events_only = true;
}
