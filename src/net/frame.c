/*
 * Framing inside TLS: u32le len ‖ i32le seqno ‖ len bytes, one sequence
 * counter per direction starting at 0 (DESIGN §4.1).
 */
#include <event2/buffer.h>

#include "net/net.h"

int net_frame_check_header(const uint8_t hdr[NET_FRAME_HEADER_LEN], int32_t expected_seqno,
                           uint32_t *len_out, cc_err *err)
{
    uint32_t len = cc_load_u32le(hdr);
    int32_t seqno = (int32_t)cc_load_u32le(hdr + 4);
    if (len < NET_FRAME_MIN_LEN || len > NET_FRAME_MAX_LEN)
        return cc_err_setc(err, NET_ERR_PROTOCOL, "frame length %u out of range [%u, %u]", len,
                           NET_FRAME_MIN_LEN, NET_FRAME_MAX_LEN);
    if (seqno != expected_seqno)
        return cc_err_setc(err, NET_ERR_PROTOCOL, "frame seqno %d, expected %d", (int)seqno,
                           (int)expected_seqno);
    *len_out = len;
    return 0;
}

void net_deframer_init(net_deframer *d)
{
    d->seqno = 0;
    d->current_len = 0;
}

int net_deframer_next_mem(net_deframer *d, const uint8_t *data, size_t n, const uint8_t **payload,
                          size_t *len, cc_err *err)
{
    if (n < NET_FRAME_HEADER_LEN) return 0;
    uint32_t flen = 0;
    /* The header is validated as soon as it is complete so a hostile length is
     * refused before we buffer up to 16 MiB for it. */
    if (net_frame_check_header(data, d->seqno, &flen, err) < 0) return -1;
    if (n - NET_FRAME_HEADER_LEN < (size_t)flen) return 0;
    d->current_len = flen;
    *payload = data + NET_FRAME_HEADER_LEN;
    *len = flen;
    return 1;
}

size_t net_deframer_take(net_deframer *d)
{
    size_t n = NET_FRAME_HEADER_LEN + (size_t)d->current_len;
    d->current_len = 0;
    /* Wraps like COCOON's i32 counter would after 2^31 frames. */
    d->seqno = (int32_t)((uint32_t)d->seqno + 1u);
    return n;
}

int net_deframer_next(net_deframer *d, struct evbuffer *in, const uint8_t **payload, size_t *len,
                      cc_err *err)
{
    uint8_t hdr[NET_FRAME_HEADER_LEN];
    size_t avail = evbuffer_get_length(in);
    if (avail < NET_FRAME_HEADER_LEN) return 0;
    if (evbuffer_copyout(in, hdr, sizeof hdr) != (ev_ssize_t)sizeof hdr)
        return cc_err_setc(err, NET_ERR_FAILURE, "frame: cannot read header");
    uint32_t flen = 0;
    if (net_frame_check_header(hdr, d->seqno, &flen, err) < 0) return -1;
    if (avail < NET_FRAME_HEADER_LEN + (size_t)flen) return 0;
    uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)(NET_FRAME_HEADER_LEN + flen));
    if (!p) return cc_err_setc(err, NET_ERR_FAILURE, "frame: cannot linearise %u bytes", flen);
    return net_deframer_next_mem(d, p, NET_FRAME_HEADER_LEN + (size_t)flen, payload, len, err);
}

void net_deframer_consume(net_deframer *d, struct evbuffer *in)
{
    evbuffer_drain(in, net_deframer_take(d));
}
