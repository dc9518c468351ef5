/* Per-stream flow control on the client (docs/net.md "Flow control"): the
 * client grants its proxy credit for each request's answer parts and grants
 * more only as its HTTP caller takes them. A caller that stops reading
 * leaves its bytes in our socket buffer; past the window, grants stop, so
 * the proxy and the worker stop too and the client holds at most about one
 * window per stream. */
#include <string.h>

#include "client/client_internal.h"

static void send_credit(creq *r, int64_t bytes)
{
    if (bytes <= 0 || !r->link) return;
    tl_client_streamCredit m = TL_INIT(client_streamCredit);
    m.request_id = r->rid;
    m.bytes = bytes;
    r->c->io->send(r->link, &m.hdr);
}

void client_flow_begin(creq *r)
{
    r->flow = r->link && (r->link->peer_flags & DAEMON_PARAMS_FLAG_FLOW);
    r->drain_wait = false;
    if (!r->flow) return;
    net_flow_rx_init(&r->rx, r->c->stream_window);
    send_credit(r, r->rx.window);
}

int client_flow_receive(creq *r, size_t n, cc_err *err)
{
    if (!r->flow) return 0;
    return net_flow_rx_receive(&r->rx, n, err);
}

/* How much of a caller's unread reply holds back our grants: one window. */
static size_t high_water(const creq *r)
{
    return (size_t)r->rx.window;
}

static void on_drained(http_req *h, void *ud)
{
    (void)h;
    creq *r = ud;
    r->drain_wait = false;
    if (!r->flow || !r->hreq) return;
    send_credit(r, net_flow_rx_release(&r->rx));
}

void client_flow_delivered(creq *r, size_t n)
{
    if (!r->flow) return;
    client *c = r->c;
    /* Streamed to a caller: count the bytes as taken only once its socket
     * took them (below the mark). Collected answers are taken at once. */
    if (r->http_started && r->hreq && c->io->stream_pending && c->io->on_drain &&
        c->io->stream_pending(r->hreq) > high_water(r)) {
        if (!r->drain_wait) {
            r->drain_wait = true;
            c->io->on_drain(r->hreq, high_water(r) / 2, on_drained, r);
        }
        return;
    }
    if (r->drain_wait) return; /* the drain callback grants everything held */
    send_credit(r, net_flow_rx_consumed(&r->rx, n));
}
