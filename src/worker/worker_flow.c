/* Per-stream flow control on the worker (docs/net.md "Flow control"): the
 * answer body goes to the proxy in parts within the credit the proxy
 * granted for the request; what does not fit waits in the request's
 * pending buffer, and past WORKER_FLOW_HOLD bytes the backend is paused
 * (the openai-http backend stops reading its socket), so a stream nobody
 * reads costs this worker a bounded amount of memory and the backend's
 * writes block. */
#include "worker/worker_internal.h"

/* Bytes that may wait for credit before the backend is paused: one backend
 * read more than this can still arrive. */
#define WORKER_FLOW_HOLD ((size_t)64 << 10)
/* What sealing adds to a part (crypto_seal_part: the AEAD tag). */
#define WORKER_FLOW_SEAL_OVERHEAD 16

void worker_flow_pace(wreq *r)
{
    bool want = r->pending.len >= WORKER_FLOW_HOLD;
    if (want == r->paused || !r->call || !r->w->backend->ops->pause) return;
    r->paused = want;
    r->w->backend->ops->pause(r->call, want);
}

bool worker_flow_send(wreq *r, bool final, const backend_usage *usage)
{
    int64_t over = r->seal ? WORKER_FLOW_SEAL_OVERHEAD : 0;
    bool final_sent = false;
    while (r->pending.len && !final_sent) {
        int64_t avail = net_flow_tx_avail(&r->tx) - over;
        if (avail <= 0) break;
        size_t n = (uint64_t)avail < r->pending.len ? (size_t)avail : r->pending.len;
        final_sent = final && n == r->pending.len;
        long sent = worker_send_part(r, final_sent, r->pending.data, n, usage);
        if (sent < 0) { /* sealing failed (logged): nothing more can go */
            cc_buf_reset(&r->pending);
            return true;
        }
        net_flow_tx_spend(&r->tx, (size_t)sent);
        cc_buf_consume(&r->pending, n);
    }
    worker_flow_pace(r);
    if (r->pending.len) return false;
    if (!final || final_sent) return true;
    /* Nothing left but the final info: an empty last part (sealed, it
     * still carries a tag's worth of bytes). */
    if (net_flow_tx_avail(&r->tx) < over) return false;
    long sent = worker_send_part(r, true, NULL, 0, usage);
    if (sent > 0) net_flow_tx_spend(&r->tx, (size_t)sent);
    return true;
}

void worker_flow_drop(wreq *r)
{
    worker_req_unlink(r);
    r->w->active--;
    worker_req_free(r);
}

void worker_flow_on_credit(wreq *r, int64_t bytes)
{
    if (!r->flow) return; /* we never asked for credit: a confused peer */
    cc_err err;
    if (net_flow_tx_grant(&r->tx, bytes, &err) < 0) {
        CC_WARN("event=bad_stream_credit proxy=%s error=\"%s\"", r->link ? r->link->addr : "-",
                err.msg);
        return;
    }
    if (!r->link) return;
    bool done = worker_send_pending(r, r->lingering, r->lingering ? &r->usage : NULL);
    if (r->lingering && done) worker_flow_drop(r);
}
