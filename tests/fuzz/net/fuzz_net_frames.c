/*
 * The receive path of a connection: an arbitrary byte stream (as it would come
 * out of TLS) through the deframer and the tcp.Packet decoder.  The first byte
 * picks how the stream is split into reads, so partial headers and frames
 * across read boundaries get exercised.
 */
#include <event2/buffer.h>

#include "net/net.h"
#include "net/tcp_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t chunk = 1 + data[0] % 64;
    data++;
    size--;
    struct evbuffer *in = evbuffer_new();
    net_deframer d;
    net_deframer_init(&d);
    size_t pos = 0;
    int dead = 0;
    while (pos < size && !dead) {
        size_t n = size - pos < chunk ? size - pos : chunk;
        evbuffer_add(in, data + pos, n);
        pos += n;
        for (;;) {
            const uint8_t *p;
            size_t len;
            cc_err err;
            int r = net_deframer_next(&d, in, &p, &len, &err);
            if (r == 0) break;
            if (r < 0) {
                if (err.code != NET_ERR_PROTOCOL) __builtin_trap();
                dead = 1;
                break;
            }
            if (len < NET_FRAME_MIN_LEN || len > NET_FRAME_MAX_LEN) __builtin_trap();
            net_tcp_msg m;
            if (net_tcp_decode(p, len, &m, &err) == 0) {
                /* whatever decodes must re-encode to the same bytes, except
                 * for non-canonical length forms and padding, which COCOON
                 * accepts too; so only check the size bound */
                cc_buf b = CC_BUF_INIT;
                if (net_tcp_encode(&b, &m, NULL) < 0 || b.len > len) __builtin_trap();
                cc_buf_free(&b);
            }
            net_tcp_msg_free(&m);
            net_deframer_consume(&d, in);
        }
    }
    evbuffer_free(in);
    return 0;
}
