/*
 * A link's byte queues (decrypted input, frames to encrypt, records to send)
 * as one flat block each instead of libevent's chained evbuffers: a frame is
 * always contiguous where it arrived (no pull-up copy when it straddles two
 * chunks), a steady stream reuses one block instead of allocating and freeing
 * a chunk per record, and the socket gets one plain buffer.  Bytes are taken
 * from the front by moving an offset; they are moved down only when that
 * costs no more than what was already taken, so each byte moves at most once
 * more on average.
 */
#include <string.h>

#include "net/net_internal.h"

/* An emptied queue gives back a block larger than this (one big frame or a
 * burst must not pin its memory for the life of the link). */
#define FIFO_KEEP ((size_t)256 << 10)

uint8_t *net_fifo_tail(net_fifo *f, size_t want)
{
    cc_buf *b = &f->b;
    if (b->cap - b->len < want && f->off > 0 && f->off >= b->len - f->off) {
        memmove(b->data, b->data + f->off, b->len - f->off);
        b->len -= f->off;
        f->off = 0;
    }
    cc_buf_reserve(b, want);
    return b->data + b->len;
}

void net_fifo_append(net_fifo *f, const void *p, size_t n)
{
    if (!n) return;
    memcpy(net_fifo_tail(f, n), p, n);
    f->b.len += n;
}

void net_fifo_consume(net_fifo *f, size_t n)
{
    f->off += n;
    if (f->off < f->b.len) return;
    f->off = 0;
    f->b.len = 0;
    if (f->b.cap > FIFO_KEEP) cc_buf_free(&f->b);
}

void net_fifo_free(net_fifo *f)
{
    cc_buf_free(&f->b);
    f->off = 0;
}
