/*
 * The SSE usage-event filter over whatever a worker streams back. Property:
 * the output does not depend on how the input is split (whole, at one cut,
 * byte by byte), is never longer than the input, and nothing is dropped
 * unless it mentioned usage. And the filter's field scan judges any text
 * as a jansson parse does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openai/openai.h"

static bool usage_only_by_parse(const uint8_t *d, size_t n)
{
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

static size_t run(const uint8_t *d, size_t n, size_t step, size_t cut, cc_buf *out)
{
    openai_sse_filter *f = openai_sse_filter_new();
    if (step == 0) { /* two pieces at cut */
        openai_sse_filter_feed(f, d, cut, out);
        openai_sse_filter_feed(f, d + cut, n - cut, out);
    } else {
        for (size_t i = 0; i < n; i += step)
            openai_sse_filter_feed(f, d + i, CC_MIN(step, n - i), out);
    }
    openai_sse_filter_finish(f, out);
    size_t dropped = openai_sse_filter_dropped(f);
    openai_sse_filter_free(f);
    return dropped;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (openai_is_usage_only_json(data, size) != usage_only_by_parse(data, size)) abort();
    if (size < 1) return 0;
    size_t cut = data[0] % size;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    cut = CC_MIN(cut, n);
    cc_buf a = CC_BUF_INIT, b = CC_BUF_INIT, c = CC_BUF_INIT;
    size_t da = run(d, n, n ? n : 1, 0, &a);
    size_t db = run(d, n, 1, 0, &b);
    size_t dc = run(d, n, 0, cut, &c);
    if (da != db || da != dc || a.len != b.len || a.len != c.len ||
        (a.len && (memcmp(a.data, b.data, a.len) != 0 || memcmp(a.data, c.data, a.len) != 0)))
        abort();
    if (a.len > n || (a.len < n && da == 0)) abort();
    if (da && (!n || !memmem(d, n, "usage", 5))) abort();
    cc_buf_free(&a);
    cc_buf_free(&b);
    cc_buf_free(&c);
    return 0;
}
