/*
 * tcp.Packet messages through the coders generated from proto/tcp.tl.
 * Decoding borrows: data pointers refer into the frame, nothing is copied.
 */
#include <string.h>

#include "net/tcp_codec.h"
#include "tl/tl.h"

int net_tcp_decode(const uint8_t *p, size_t n, net_tcp_msg *m, cc_err *err)
{
    memset(m, 0, sizeof *m);
    tl_decode_opts opts = {.flags = TL_DECODE_BORROW, .expect_type = TL_TYPE_tcp_Packet};
    tl_obj *o = tl_decode_ex(p, n, &opts, err);
    if (!o) {
        if (err) err->code = NET_ERR_PROTOCOL;
        return -1;
    }
    m->owned_ = o;
    switch (o->id) {
    case TL_ID_tcp_ping:
        m->kind = NET_TCP_PING;
        m->id = (uint64_t)tl_as_tcp_ping(o)->id;
        break;
    case TL_ID_tcp_pong:
        m->kind = NET_TCP_PONG;
        m->id = (uint64_t)tl_as_tcp_pong(o)->id;
        break;
    case TL_ID_tcp_connect:
        m->kind = NET_TCP_CONNECT;
        m->id = (uint64_t)tl_as_tcp_connect(o)->id;
        break;
    case TL_ID_tcp_connected:
        m->kind = NET_TCP_CONNECTED;
        m->id = (uint64_t)tl_as_tcp_connected(o)->id;
        break;
    case TL_ID_tcp_packet: {
        tl_tcp_packet *x = tl_as_tcp_packet(o);
        m->kind = NET_TCP_PACKET;
        m->data = x->data.data;
        m->len = x->data.len;
        break;
    }
    case TL_ID_tcp_query: {
        tl_tcp_query *x = tl_as_tcp_query(o);
        m->kind = NET_TCP_QUERY;
        m->id = (uint64_t)x->id;
        m->data = x->data.data;
        m->len = x->data.len;
        break;
    }
    case TL_ID_tcp_queryAnswer: {
        tl_tcp_queryAnswer *x = tl_as_tcp_queryAnswer(o);
        m->kind = NET_TCP_QUERY_ANSWER;
        m->id = (uint64_t)x->id;
        m->data = x->data.data;
        m->len = x->data.len;
        break;
    }
    case TL_ID_tcp_queryError: {
        tl_tcp_queryError *x = tl_as_tcp_queryError(o);
        m->kind = NET_TCP_QUERY_ERROR;
        m->id = (uint64_t)x->id;
        m->code = x->code;
        /* borrowed bytes are not NUL-terminated: keep a terminated copy */
        char *msg = tl_bytes_strdup(x->message);
        m->message = msg;
        m->message_len = strlen(msg);
        break;
    }
    default:
        net_tcp_msg_free(m);
        return cc_err_setc(err, NET_ERR_PROTOCOL, "tcp.Packet: unexpected constructor 0x%08x",
                           o->id);
    }
    return 0;
}

void net_tcp_msg_free(net_tcp_msg *m)
{
    if (m->kind == NET_TCP_QUERY_ERROR && m->message) free((char *)m->message);
    m->message = NULL;
    tl_obj_free(m->owned_);
    m->owned_ = NULL;
}

int net_tcp_encode(cc_buf *out, const net_tcp_msg *m, cc_err *err)
{
    int64_t id = (int64_t)m->id;
    tl_bytes data = tl_mem(m->data, m->len);
    switch (m->kind) {
    case NET_TCP_PING: {
        tl_tcp_ping x = TL_INIT(tcp_ping);
        x.id = id;
        return tl_encode(&x.hdr, out, err);
    }
    case NET_TCP_PONG: {
        tl_tcp_pong x = TL_INIT(tcp_pong);
        x.id = id;
        return tl_encode(&x.hdr, out, err);
    }
    case NET_TCP_CONNECT: {
        tl_tcp_connect x = TL_INIT(tcp_connect);
        x.id = id;
        return tl_encode(&x.hdr, out, err);
    }
    case NET_TCP_CONNECTED: {
        tl_tcp_connected x = TL_INIT(tcp_connected);
        x.id = id;
        return tl_encode(&x.hdr, out, err);
    }
    case NET_TCP_PACKET: {
        tl_tcp_packet x = TL_INIT(tcp_packet);
        x.data = data;
        return tl_encode(&x.hdr, out, err);
    }
    case NET_TCP_QUERY: {
        tl_tcp_query x = TL_INIT(tcp_query);
        x.id = id;
        x.data = data;
        return tl_encode(&x.hdr, out, err);
    }
    case NET_TCP_QUERY_ANSWER: {
        tl_tcp_queryAnswer x = TL_INIT(tcp_queryAnswer);
        x.id = id;
        x.data = data;
        return tl_encode(&x.hdr, out, err);
    }
    case NET_TCP_QUERY_ERROR: {
        tl_tcp_queryError x = TL_INIT(tcp_queryError);
        x.id = id;
        x.code = m->code;
        x.message = tl_mem(m->message, m->message_len);
        return tl_encode(&x.hdr, out, err);
    }
    }
    return cc_err_setc(err, NET_ERR_ERROR, "tcp.Packet: unknown kind %d", (int)m->kind);
}
