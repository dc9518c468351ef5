/*
 * Removing the usage-only SSE event from a relayed stream.
 *
 * The worker asks every backend for stream_options.include_usage so streams
 * can be billed; a caller that did not ask for it must not receive the extra
 * event: its `"choices": []` breaks the common `chunk.choices[0]` loop. This
 * filter holds back at most one incomplete event, passes every other event
 * through byte for byte, and drops an event whose data is a JSON object with
 * an empty "choices" array and a "usage" object.
 */
#include "http.h"

#include <stdlib.h>
#include <string.h>

struct http_sse_filter {
    cc_buf pending; /* bytes of the event being received */
    size_t scanned; /* bytes of pending already scanned for the event end */
    size_t line_len;
    bool prev_cr;
    /* The last event ended on a CR at the end of the input: a LF arriving
     * next belongs to it (passed on when the event was, dropped with it). */
    bool event_ended_on_cr, last_event_dropped;
    size_t dropped;
};

http_sse_filter *http_sse_filter_new(void)
{
    return cc_calloc(1, sizeof(http_sse_filter));
}

void http_sse_filter_free(http_sse_filter *f)
{
    if (!f) return;
    cc_buf_free(&f->pending);
    free(f);
}

size_t http_sse_filter_dropped(const http_sse_filter *f)
{
    return f->dropped;
}

static bool mentions_usage(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i + 5 <= n; i++) {
        const uint8_t *u = memchr(d + i, 'u', n - i - 4);
        if (!u) return false;
        if (memcmp(u + 1, "sage", 4) == 0) return true;
        i = (size_t)(u - d);
    }
    return false;
}

/* Whether the event (complete, terminators included) is the usage-only one. */
static bool usage_only_event(const uint8_t *ev, size_t n)
{
    if (!mentions_usage(ev, n)) return false;
    cc_buf data = CC_BUF_INIT;
    size_t i = 0;
    while (i < n) {
        size_t s = i;
        while (i < n && ev[i] != '\r' && ev[i] != '\n')
            i++;
        size_t len = i - s;
        if (len >= 5 && memcmp(ev + s, "data:", 5) == 0) {
            size_t off = s + 5 + (len > 5 && ev[s + 5] == ' ');
            if (data.len) cc_buf_append_u8(&data, '\n');
            cc_buf_append(&data, ev + off, s + len - off);
        }
        if (i < n && ev[i] == '\r') i++;
        if (i < n && ev[i] == '\n') i++;
    }
    bool drop = false;
    json_t *j = data.len ? json_loadb((const char *)data.data, data.len, 0, NULL) : NULL;
    if (json_is_object(j)) {
        const json_t *choices = json_object_get(j, "choices");
        drop = json_is_array(choices) && json_array_size(choices) == 0 &&
               json_is_object(json_object_get(j, "usage"));
    }
    json_decref(j);
    cc_buf_free(&data);
    return drop;
}

/* Index of the first CR or LF in d[0..n), or n. */
static size_t line_end(const uint8_t *d, size_t n)
{
    const uint8_t *lf = memchr(d, '\n', n);
    size_t end = lf ? (size_t)(lf - d) : n;
    const uint8_t *cr = memchr(d, '\r', end);
    return cr ? (size_t)(cr - d) : end;
}

void http_sse_filter_feed(http_sse_filter *f, const uint8_t *data, size_t len, cc_buf *out)
{
    cc_buf_append(&f->pending, data, len);
    size_t i = f->scanned, start = 0;
    const uint8_t *p = f->pending.data;
    size_t n = f->pending.len;
    while (i < n) {
        if (p[i] != '\r' && p[i] != '\n') {
            /* Inside a line: go to its end in one step (memchr is vectorised;
             * a stream is almost all line content). */
            size_t e = i + line_end(p + i, n - i);
            f->line_len += e - i;
            f->event_ended_on_cr = f->prev_cr = false;
            i = e;
            continue;
        }
        uint8_t c = p[i++];
        if (c == '\n' && f->prev_cr) { /* the LF of a CRLF: line already ended */
            f->prev_cr = false;
            if (f->event_ended_on_cr && start == i - 1) {
                if (!f->last_event_dropped) cc_buf_append_u8(out, '\n');
                start = i;
            }
            f->event_ended_on_cr = false;
            continue;
        }
        f->event_ended_on_cr = false;
        f->prev_cr = c == '\r';
        if (c != '\r' && c != '\n') {
            f->line_len++;
            continue;
        }
        if (f->line_len > 0) {
            f->line_len = 0;
            continue;
        }
        /* An empty line: the event ends here (a LF after this CR joins it). */
        size_t end = i;
        if (c == '\r' && end < n && p[end] == '\n') {
            end++;
            i++;
            f->prev_cr = false;
        }
        bool dropped = usage_only_event(p + start, end - start);
        if (dropped)
            f->dropped++;
        else
            cc_buf_append(out, p + start, end - start);
        f->event_ended_on_cr = p[end - 1] == '\r';
        f->last_event_dropped = dropped;
        start = end;
    }
    cc_buf_consume(&f->pending, start);
    f->scanned = f->pending.len;
}

void http_sse_filter_finish(http_sse_filter *f, cc_buf *out)
{
    if (f->pending.len) {
        if (usage_only_event(f->pending.data, f->pending.len))
            f->dropped++;
        else
            cc_buf_append(out, f->pending.data, f->pending.len);
    }
    cc_buf_reset(&f->pending);
    f->scanned = 0;
    f->line_len = 0;
    f->prev_cr = false;
    f->event_ended_on_cr = false;
}
