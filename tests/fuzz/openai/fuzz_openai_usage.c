/*
 * Usage accounting over backend answers (outside input: whatever the model
 * server sends). Property: the result never depends on how the bytes are
 * split into chunks (whole, uneven pieces, one byte at a time — the last
 * never takes the skip-whole-event shortcut), and counts are never negative.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openai/openai.h"

static void run(openai_usage_format fmt, const uint8_t *d, size_t n, size_t cut, bool *found,
                openai_usage *u)
{
    openai_usage_scanner p;
    openai_usage_scanner_init(&p, fmt);
    openai_usage_scanner_feed(&p, d, cut);
    /* the rest in uneven pieces */
    size_t off = cut, step = 1;
    while (off < n) {
        size_t k = CC_MIN(step, n - off);
        openai_usage_scanner_feed(&p, d + off, k);
        off += k;
        step = step * 3 + 1;
    }
    memset(u, 0, sizeof(*u));
    *found = openai_usage_scanner_result(&p, u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    openai_usage_format fmt = (openai_usage_format)(data[0] % 3);
    size_t cut = data[1] % (size - 1);
    const uint8_t *d = data + 2;
    size_t n = size - 2;
    cut = CC_MIN(cut, n);
    bool f1, f2;
    openai_usage u1, u2;
    run(fmt, d, n, n, &f1, &u1);
    run(fmt, d, n, cut, &f2, &u2);
    if (f1 != f2 || memcmp(&u1, &u2, sizeof(u1)) != 0) abort();
    if (f1 && (u1.prompt_tokens < 0 || u1.completion_tokens < 0 || u1.total_tokens < 0 ||
               u1.cached_tokens < 0 || u1.reasoning_tokens < 0))
        abort();
    return 0;
}
