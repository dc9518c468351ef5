/*
 * Sending frames, one-way packets and queries with ids and timeouts.
 */
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "crypto/crypto.h"
#include "net/rpc.h"

static const uint8_t no_header[NET_FRAME_HEADER_LEN] = {0};

/* Frames are assembled in place at the end of the output queue (no copy
 * from a scratch block: a relayed answer part is 16 KB): frame_begin puts
 * the header slot there, frame_end fills it in and queues the frame, or
 * frame_drop takes it back. */
static cc_buf *frame_begin(net_conn *c, size_t *start)
{
    (void)net_fifo_tail(&c->out, NET_FRAME_HEADER_LEN); /* moves sent bytes out of the way */
    cc_buf *b = &c->out.b;
    *start = b->len;
    cc_buf_append(b, no_header, sizeof no_header);
    return b;
}

static int frame_drop(net_conn *c, size_t start)
{
    c->out.b.len = start;
    return -1;
}

static int frame_end(net_conn *c, size_t start, double later, cc_err *err)
{
    cc_buf *b = &c->out.b;
    size_t flen = b->len - start, total = flen - NET_FRAME_HEADER_LEN;
    if (total > NET_FRAME_MAX_LEN) {
        frame_drop(c, start);
        return cc_err_setc(err, NET_ERR_ERROR, "message of %zu bytes exceeds the frame limit",
                           total);
    }
    size_t queued = net_conn_output_pending(c) - flen;
    if (queued + flen > c->max_output) {
        frame_drop(c, start);
        net_conn_fail_soon(c);
        return cc_err_setc(err, NET_ERR_FAILURE, "peer is not reading: %zu bytes queued, limit %zu",
                           queued, c->max_output);
    }
    cc_store_u32le(b->data + start, (uint32_t)total);
    cc_store_u32le(b->data + start + 4, (uint32_t)c->out_seqno);
    if (later > 0)
        net_conn_output_queued_later(c, later);
    else
        net_conn_output_queued(c);
    c->out_seqno = (int32_t)((uint32_t)c->out_seqno + 1u);
    c->stats.frames_out++;
    c->stats.bytes_out += flen;
    return 0;
}

/* Assembles header + boxed message at the end of the output and queues it. */
static int write_msg(net_conn *c, const net_tcp_msg *m, cc_err *err)
{
    if (c->closing || !c->ssl) return cc_err_setc(err, NET_ERR_NOT_READY, "connection is closed");
    size_t start;
    cc_buf *b = frame_begin(c, &start);
    if (net_tcp_encode(b, m, err) < 0) return frame_drop(c, start);
    return frame_end(c, start, 0, err);
}

static int send_packet_tl(net_conn *c, const tl_obj *msg, double later, cc_err *err)
{
    if (!net_conn_is_ready(c))
        return cc_err_setc(err, NET_ERR_NOT_READY, "connection is not ready");
    size_t len;
    if (tl_encoded_size(msg, &len, err) < 0) return -1;
    if (len > TL_MAX_BYTES_LEN)
        return cc_err_setc(err, NET_ERR_ERROR, "message of %zu bytes exceeds the frame limit", len);
    /* tcp.packet data:bytes, laid out as the TL bytes rule says: a 1-byte
     * length below 254, else 254 and a 3-byte length; zero padding to 4. */
    uint8_t pre[4 + 4];
    cc_store_u32le(pre, TL_ID_tcp_packet);
    size_t pre_len;
    if (len < 254) {
        pre[4] = (uint8_t)len;
        pre_len = 5;
    } else {
        pre[4] = 254;
        pre[5] = (uint8_t)len;
        pre[6] = (uint8_t)(len >> 8);
        pre[7] = (uint8_t)(len >> 16);
        pre_len = 8;
    }
    size_t start;
    cc_buf *b = frame_begin(c, &start);
    cc_buf_append(b, pre, pre_len);
    size_t at = b->len;
    if (tl_encode(msg, b, err) < 0) return frame_drop(c, start);
    if (b->len - at != len) {
        size_t wrote = b->len - at;
        frame_drop(c, start);
        return cc_err_setc(err, NET_ERR_ERROR, "encoder wrote %zu bytes, sized %zu", wrote, len);
    }
    static const uint8_t zeros[3] = {0};
    cc_buf_append(b, zeros, (4 - ((pre_len - 4 + len) & 3)) & 3);
    if (frame_end(c, start, later, err) < 0) return -1;
    c->stats.packets_out++;
    return 0;
}

int net_conn_send_packet_tl(net_conn *c, const tl_obj *msg, cc_err *err)
{
    return send_packet_tl(c, msg, 0, err);
}

static int send_msg(net_conn *c, const tl_obj *msg, double later)
{
    if (!c) return -1;
    cc_err err;
    cc_err_clear(&err);
    if (send_packet_tl(c, msg, later, &err) == 0) return 0;
    if (err.code != NET_ERR_NOT_READY && err.code != NET_ERR_FAILURE)
        CC_ERROR("event=encode_failed peer=%s msg=%s error=\"%s\"", net_conn_peer_addr(c),
                 tl_ctor_name(msg->id), err.msg);
    return -1;
}

int net_conn_send_msg(net_conn *c, const tl_obj *msg)
{
    return send_msg(c, msg, 0);
}

int net_conn_send_msg_later(net_conn *c, const tl_obj *msg, double delay)
{
    return send_msg(c, msg, delay > 0 ? delay : 1e-3);
}

int net_rpc_send_id_msg(net_conn *c, net_tcp_kind kind, uint64_t id)
{
    net_tcp_msg m = {.kind = kind, .id = id};
    return write_msg(c, &m, NULL);
}

static int send_data(net_conn *c, net_tcp_kind kind, uint64_t id, const void *data, size_t len,
                     cc_err *err)
{
    if (!net_conn_is_ready(c))
        return cc_err_setc(err, NET_ERR_NOT_READY, "connection is not ready");
    net_tcp_msg m = {.kind = kind, .id = id, .data = data, .len = len};
    return write_msg(c, &m, err);
}

int net_conn_send_packet(net_conn *c, const void *data, size_t len, cc_err *err)
{
    if (send_data(c, NET_TCP_PACKET, 0, data, len, err) < 0) return -1;
    c->stats.packets_out++;
    return 0;
}

int net_conn_answer(net_conn *c, uint64_t query_id, const void *data, size_t len, cc_err *err)
{
    return send_data(c, NET_TCP_QUERY_ANSWER, query_id, data, len, err);
}

int net_conn_answer_error(net_conn *c, uint64_t query_id, int32_t code, const char *message,
                          cc_err *err)
{
    if (!net_conn_is_ready(c))
        return cc_err_setc(err, NET_ERR_NOT_READY, "connection is not ready");
    const char *text = message ? message : "";
    net_tcp_msg m = {.kind = NET_TCP_QUERY_ERROR,
                     .id = query_id,
                     .code = code,
                     .message = text,
                     .message_len = CC_MIN(strlen(text), (size_t)4096)};
    return write_msg(c, &m, err);
}

/* ------------------------------------------------------------ queries */

static net_query *find_query(net_conn *c, uint64_t id, bool unlink)
{
    for (net_query **pp = &c->queries; *pp; pp = &(*pp)->next) {
        net_query *q = *pp;
        if (q->id == id) {
            if (unlink) *pp = q->next;
            return q;
        }
    }
    return NULL;
}

static void query_free(net_query *q)
{
    if (q->timer) event_free(q->timer);
    free(q);
}

static void query_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    net_query *q = arg;
    net_conn *c = q->conn;
    net_conn_hold(c);
    find_query(c, q->id, true);
    net_answer_fn cb = q->cb;
    void *ud = q->ud;
    query_free(q);
    cb(c, ud, NET_ERR_TIMEOUT, "query timed out", NULL, 0);
    net_conn_release(c);
}

int net_conn_query(net_conn *c, const void *data, size_t len, double timeout_s, net_answer_fn cb,
                   void *ud, uint64_t *query_id_out, cc_err *err)
{
    if (!cb) return cc_err_setc(err, NET_ERR_ERROR, "query without an answer callback");
    uint64_t id;
    do
        id = crypto_random_u64();
    while (id == 0 || find_query(c, id, false));
    if (send_data(c, NET_TCP_QUERY, id, data, len, err) < 0) return -1;
    net_query *q = cc_calloc(1, sizeof *q);
    q->id = id;
    q->cb = cb;
    q->ud = ud;
    q->conn = c;
    if (timeout_s <= 0) timeout_s = 60;
    q->timer = evtimer_new(c->base, query_timeout_cb, q);
    struct timeval tv = cc_timeval(timeout_s);
    evtimer_add(q->timer, &tv);
    q->next = c->queries;
    c->queries = q;
    c->stats.queries_out++;
    if (query_id_out) *query_id_out = id;
    return 0;
}

void net_conn_cancel_query(net_conn *c, uint64_t query_id)
{
    net_query *q = find_query(c, query_id, true);
    if (q) query_free(q);
}

void net_rpc_fail_all(net_conn *c, int code, const char *reason)
{
    net_query *q = c->queries;
    c->queries = NULL;
    while (q) {
        net_query *next = q->next;
        net_answer_fn cb = q->cb;
        void *ud = q->ud;
        query_free(q);
        cb(c, ud, code, reason, NULL, 0);
        q = next;
    }
}

/* ------------------------------------------------------------ dispatch */

int net_rpc_dispatch(net_conn *c, const net_tcp_msg *m)
{
    net_query *q;
    switch (m->kind) {
    case NET_TCP_PING:
        net_rpc_send_id_msg(c, NET_TCP_PONG, m->id);
        break;
    case NET_TCP_PONG:
        c->stats.pongs_in++;
        if (c->barrier_cb && m->id == c->barrier_id) {
            net_barrier_fn cb = c->barrier_cb;
            c->barrier_cb = NULL;
            cb(c, c->barrier_ud);
        }
        break;
    case NET_TCP_PACKET:
        c->stats.packets_in++;
        if (c->cbs.on_packet) c->cbs.on_packet(c, c->ud, m->data, m->len);
        break;
    case NET_TCP_QUERY:
        c->stats.queries_in++;
        if (c->cbs.on_query)
            c->cbs.on_query(c, c->ud, m->id, m->data, m->len);
        else
            net_conn_answer_error(c, m->id, NET_ERR_ERROR, "queries are not served here", NULL);
        break;
    case NET_TCP_QUERY_ANSWER:
        /* An unknown id is an answer to a query that timed out or was cancelled. */
        q = find_query(c, m->id, true);
        if (q) {
            net_answer_fn cb = q->cb;
            void *ud = q->ud;
            query_free(q);
            cb(c, ud, 0, NULL, m->data, m->len);
        }
        break;
    case NET_TCP_QUERY_ERROR:
        q = find_query(c, m->id, true);
        if (q) {
            net_answer_fn cb = q->cb;
            void *ud = q->ud;
            query_free(q);
            char *msg = cc_strndup(m->message, m->message_len);
            /* code 0 would read as success to the caller */
            cb(c, ud, m->code ? m->code : NET_ERR_ERROR, msg, NULL, 0);
            free(msg);
        }
        break;
    case NET_TCP_CONNECT:
    case NET_TCP_CONNECTED:
        net_conn_fail(c, NET_ERR_PROTOCOL, "protocol violation: repeated %s",
                      m->kind == NET_TCP_CONNECT ? "tcp.connect" : "tcp.connected");
        return -1;
    }
    return c->closing ? -1 : 0;
}

int net_conn_barrier(net_conn *c, net_barrier_fn cb, void *ud)
{
    if (!c || c->state != NET_CONN_READY) return -1;
    /* Not 0: a keepalive ping's id is random too, and cannot be mistaken
     * for this one but by a 2^-64 chance. */
    c->barrier_id = crypto_random_u64() | 1;
    c->barrier_cb = cb;
    c->barrier_ud = ud;
    if (net_rpc_send_id_msg(c, NET_TCP_PING, c->barrier_id) < 0) {
        c->barrier_cb = NULL;
        return -1;
    }
    c->stats.pings_out++;
    return 0;
}
