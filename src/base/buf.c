#include "base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *cc_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("cocoon: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *cc_calloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        fputs("cocoon: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *cc_realloc(void *old, size_t n)
{
    void *p = realloc(old, n ? n : 1);
    if (!p) {
        fputs("cocoon: out of memory\n", stderr);
        abort();
    }
    return p;
}

char *cc_strdup(const char *s) { return cc_strndup(s, strlen(s)); }

char *cc_strndup(const char *s, size_t n)
{
    char *p = cc_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void cc_buf_reserve(cc_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t need = b->len + extra;
    if (need < b->len) {
        fputs("cocoon: buffer size overflow\n", stderr);
        abort();
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap * 2 > cap ? cap * 2 : need;
    b->data = cc_realloc(b->data, cap);
    b->cap = cap;
}

void cc_buf_append(cc_buf *b, const void *p, size_t n)
{
    if (!n)
        return;
    cc_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void cc_buf_append_str(cc_buf *b, const char *s) { cc_buf_append(b, s, strlen(s)); }

void cc_buf_append_u8(cc_buf *b, uint8_t v)
{
    cc_buf_reserve(b, 1);
    b->data[b->len++] = v;
}

void cc_buf_append_fmt(cc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    cc_buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cc_buf_consume(cc_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void cc_buf_reset(cc_buf *b) { b->len = 0; }

void cc_buf_free(cc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *cc_buf_steal_str(cc_buf *b)
{
    cc_buf_reserve(b, 1);
    b->data[b->len] = 0;
    char *s = (char *)b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}
