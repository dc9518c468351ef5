/*
 * Internal to src/net: the boxed TL tcp.Packet messages a frame carries.
 * Decoding never copies data: pointers refer into the frame.
 */
#ifndef COCOON_NET_TCP_CODEC_H
#define COCOON_NET_TCP_CODEC_H

#include "net/net.h"

typedef enum {
    NET_TCP_PING,
    NET_TCP_PONG,
    NET_TCP_PACKET,
    NET_TCP_QUERY_ANSWER,
    NET_TCP_QUERY_ERROR,
    NET_TCP_QUERY,
    NET_TCP_CONNECTED,
    NET_TCP_CONNECT,
} net_tcp_kind;

typedef struct net_tcp_msg {
    net_tcp_kind kind;
    uint64_t id;         /* all but packet */
    const uint8_t *data; /* packet, query, queryAnswer */
    size_t len;
    int32_t code;        /* queryError */
    const char *message; /* queryError; NUL-terminated after decode */
    size_t message_len;
    void *owned_; /* decoder's allocation, released by net_tcp_msg_free */
} net_tcp_msg;

/* Parses one frame payload; rejects unknown ids, truncation, trailing bytes.
 * Pointers in *m refer into p or into memory owned by *m: call
 * net_tcp_msg_free(m) when done (also after a failure). */
int net_tcp_decode(const uint8_t *p, size_t n, net_tcp_msg *m, cc_err *err);
void net_tcp_msg_free(net_tcp_msg *m);

/* Appends the boxed encoding of m (fields by kind, as above) to out. */
int net_tcp_encode(cc_buf *out, const net_tcp_msg *m, cc_err *err);

#endif
