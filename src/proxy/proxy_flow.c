/* Per-stream flow control at the proxy (proxy_internal.h, docs/net.md
 * "Flow control"). */
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_internal.h"

/* A message for the client waiting for credit: its encoding (a borrowed
 * decode of it is sent later) and the bytes it counts. */
typedef struct pflow_msg {
    struct pflow_msg *next;
    size_t counted;
    cc_buf enc;
} pflow_msg;

typedef struct pflow {
    bool down_on;     /* the client speaks flow control */
    net_flow_tx down; /* the client's credit to us */
    bool up;          /* the worker leg is flow-controlled */
    /* With down_on: what the current worker may still send (the client's
     * grants passed on). Without: our own window toward the worker,
     * returned as parts leave for the client. */
    net_flow_tx up_tx;
    net_flow_rx up_rx;
    pflow_msg *head, *tail;
    size_t queued; /* bytes of the encodings waiting */
} pflow;

void proxy_flow_start(preq *r)
{
    if (r->client && r->client->flow) {
        r->flow = cc_calloc(1, sizeof(pflow));
        r->flow->down_on = true;
    }
}

static void send_grant(preq *r, int64_t bytes)
{
    if (bytes <= 0 || !r->worker) return;
    tl_proxy_streamCredit m = TL_INIT(proxy_streamCredit);
    m.request_id = r->worker_rid;
    m.bytes = bytes;
    r->p->io->to_worker(r->worker, &m.hdr);
}

static void grant_worker(preq *r, int64_t bytes)
{
    if (bytes <= 0 || !r->worker) return;
    cc_err err;
    if (net_flow_tx_grant(&r->flow->up_tx, bytes, &err) < 0) return; /* cannot happen: <= down */
    send_grant(r, bytes);
}

void proxy_flow_dispatched(preq *r)
{
    bool up = r->worker && r->worker->flow;
    if (!r->flow && up) r->flow = cc_calloc(1, sizeof(pflow)); /* a client without it */
    pflow *f = r->flow;
    if (!f) return;
    f->up = up;
    f->up_tx.credit = 0;
    if (!f->up) return;
    if (f->down_on) {
        /* A fresh worker (or a retry) may have what the client's credit leaves. */
        grant_worker(r, net_flow_tx_avail(&f->down) - (int64_t)f->queued);
    } else {
        net_flow_rx_init(&f->up_rx, NET_FLOW_WINDOW_DEFAULT);
        send_grant(r, f->up_rx.window);
    }
}

int proxy_flow_from_worker(preq *r, size_t n, cc_err *err)
{
    pflow *f = r->flow;
    if (!f || !f->up) return 0;
    if (!f->down_on) return net_flow_rx_receive(&f->up_rx, n, err);
    if (net_flow_tx_spend(&f->up_tx, n) < 0)
        return cc_err_setc(err, NET_ERR_PROTOCOL,
                           "the worker sent %zu bytes over its stream window", n);
    return 0;
}

int proxy_flow_to_client(preq *r, const tl_obj *msg, size_t n)
{
    pflow *f = r->flow;
    if (!f) return 1;
    if (!f->down_on) {
        /* A client without flow control takes what comes (the link's
         * max_output stays its limit): return the worker's credit. */
        if (f->up && n) send_grant(r, net_flow_rx_consumed(&f->up_rx, n));
        return 1;
    }
    if (!f->head && (size_t)net_flow_tx_avail(&f->down) >= n) {
        net_flow_tx_spend(&f->down, n);
        return 1;
    }
    if (n == 0 && !f->head) return 1;
    cc_buf enc = CC_BUF_INIT;
    cc_err err;
    if (f->queued >= PROXY_FLOW_QUEUE_MAX || tl_encode(msg, &enc, &err) < 0) {
        cc_buf_free(&enc);
        return -1;
    }
    pflow_msg *m = cc_calloc(1, sizeof(*m));
    m->counted = n;
    m->enc = enc;
    f->queued += enc.len;
    if (f->tail)
        f->tail->next = m;
    else
        f->head = m;
    f->tail = m;
    return 0;
}

bool proxy_flow_holds(const preq *r)
{
    return r->flow && r->flow->head;
}

void proxy_flow_drop_queue(preq *r)
{
    pflow *f = r->flow;
    if (!f) return;
    while (f->head) {
        pflow_msg *m = f->head;
        f->head = m->next;
        cc_buf_free(&m->enc);
        free(m);
    }
    f->tail = NULL;
    f->queued = 0;
}

void proxy_flow_free(preq *r)
{
    proxy_flow_drop_queue(r);
    free(r->flow);
    r->flow = NULL;
}

/* Sends what waited and now fits the client's credit. */
static void drain(preq *r)
{
    pflow *f = r->flow;
    while (f->head && (size_t)net_flow_tx_avail(&f->down) >= f->head->counted) {
        pflow_msg *m = f->head;
        f->head = m->next;
        if (!f->head) f->tail = NULL;
        f->queued -= m->enc.len;
        net_flow_tx_spend(&f->down, m->counted);
        cc_err err;
        tl_decode_opts o = {.flags = TL_DECODE_BORROW};
        tl_obj *obj = tl_decode_ex(m->enc.data, m->enc.len, &o, &err);
        if (obj && r->client) r->p->io->to_client(r->client, obj);
        tl_obj_free(obj);
        cc_buf_free(&m->enc);
        free(m);
    }
}

void proxy_flow_on_credit(pclient *c, const tl_client_streamCredit *m)
{
    preq *r = proxy_client_request(c, &m->request_id);
    if (!r || !r->flow || !r->flow->down_on) return; /* unknown or finished: ignored */
    cc_err err;
    if (net_flow_tx_grant(&r->flow->down, m->bytes, &err) < 0) {
        CC_WARN("event=bad_stream_credit client=%llu error=\"%s\"", (unsigned long long)c->id,
                err.msg);
        return;
    }
    drain(r);
    if (r->parked) {
        if (!r->flow->head) proxy_request_finish(r);
        return;
    }
    /* Pass the grant on: the worker may send what the client can take. */
    if (r->flow->up) grant_worker(r, m->bytes);
}
