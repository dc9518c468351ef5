/*
 * Usage accounting over backend answers (outside input: whatever the model
 * server sends). Property: the result never depends on how the bytes are
 * split into chunks (whole, uneven pieces, one byte at a time — the last
 * never takes the skip-whole-event shortcut), and counts are never negative.
 *
 * The parser lives in the worker's backends archive; it depends only on base
 * and jansson, so its source is compiled into this target directly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/backend_usage.c"

static void run(backend_usage_format fmt, const uint8_t *d, size_t n, size_t cut, bool *found,
                backend_usage *u)
{
    backend_usage_parser p;
    backend_usage_parser_init(&p, fmt);
    backend_usage_parser_feed(&p, d, cut);
    /* the rest in uneven pieces */
    size_t off = cut, step = 1;
    while (off < n) {
        size_t k = CC_MIN(step, n - off);
        backend_usage_parser_feed(&p, d + off, k);
        off += k;
        step = step * 3 + 1;
    }
    memset(u, 0, sizeof(*u));
    *found = backend_usage_parser_result(&p, u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    backend_usage_format fmt = (backend_usage_format)(data[0] % 3);
    size_t cut = data[1] % (size - 1);
    const uint8_t *d = data + 2;
    size_t n = size - 2;
    cut = CC_MIN(cut, n);
    bool f1, f2;
    backend_usage u1, u2;
    run(fmt, d, n, n, &f1, &u1);
    run(fmt, d, n, cut, &f2, &u2);
    if (f1 != f2 || memcmp(&u1, &u2, sizeof(u1)) != 0) abort();
    if (f1 && (u1.prompt_tokens < 0 || u1.completion_tokens < 0 || u1.total_tokens < 0 ||
               u1.cached_tokens < 0 || u1.reasoning_tokens < 0))
        abort();
    return 0;
}
