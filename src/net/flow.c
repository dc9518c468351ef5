/*
 * Per-stream flow control bookkeeping (net.h, "per-stream flow control").
 * Kept apart from the daemons so that the rules — no negative windows, no
 * grant beyond the window, a sender over its window is refused — are
 * checked in one place and unit-tested without links.
 */
#include "net/net.h"

int net_flow_tx_grant(net_flow_tx *f, int64_t bytes, cc_err *err)
{
    if (bytes <= 0 || bytes > NET_FLOW_GRANT_MAX)
        return cc_err_setc(err, NET_ERR_PROTOCOL, "stream credit of %lld bytes is out of range",
                           (long long)bytes);
    if (f->credit > NET_FLOW_WINDOW_MAX - bytes)
        return cc_err_setc(err, NET_ERR_PROTOCOL,
                           "stream credit of %lld bytes lifts the window past %lld bytes",
                           (long long)bytes, (long long)NET_FLOW_WINDOW_MAX);
    f->credit += bytes;
    return 0;
}

int64_t net_flow_tx_avail(const net_flow_tx *f)
{
    return f->credit;
}

int net_flow_tx_spend(net_flow_tx *f, size_t n)
{
    if ((uint64_t)n > (uint64_t)f->credit) {
        f->credit = 0;
        return -1;
    }
    f->credit -= (int64_t)n;
    return 0;
}

void net_flow_rx_init(net_flow_rx *f, int64_t window)
{
    if (window < NET_FLOW_WINDOW_MIN) window = NET_FLOW_WINDOW_MIN;
    if (window > NET_FLOW_WINDOW_MAX) window = NET_FLOW_WINDOW_MAX;
    *f = (net_flow_rx){.window = window, .avail = window};
}

int net_flow_rx_receive(net_flow_rx *f, size_t n, cc_err *err)
{
    if ((uint64_t)n > (uint64_t)f->avail)
        return cc_err_setc(err, NET_ERR_PROTOCOL,
                           "peer sent %zu bytes over its stream window (%lld bytes of credit)", n,
                           (long long)f->avail);
    f->avail -= (int64_t)n;
    f->held += (int64_t)n;
    return 0;
}

int64_t net_flow_rx_consumed(net_flow_rx *f, size_t n)
{
    int64_t k = (uint64_t)n > (uint64_t)f->held ? f->held : (int64_t)n;
    f->held -= k;
    f->owed += k;
    if (f->owed < f->window / 4) return 0;
    return net_flow_rx_flush(f);
}

int64_t net_flow_rx_flush(net_flow_rx *f)
{
    int64_t g = f->owed;
    f->owed = 0;
    f->avail += g;
    return g;
}

int64_t net_flow_rx_release(net_flow_rx *f)
{
    f->owed += f->held;
    f->held = 0;
    return net_flow_rx_flush(f);
}
