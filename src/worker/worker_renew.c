/* Certificate renewal on the worker (docs/confidentiality.md, "Keys"): the
 * RA-TLS certificate is renewed before it expires, or when the operator asks
 * (/request/renew_certificate), with new sealing keys (daemon_tee_rotate).
 * A proxy knows our certificate from the TLS handshake of our link, so each
 * link must reconnect to present the new one: the proxy is told we are
 * disabled (it stops routing to us over that link), a ping after that message
 * comes back once the proxy has seen it (net_conn_barrier: any request it
 * routed to us before has arrived by then), and once the link's last request
 * has ended and its receipt has left, the link reconnects and its handshake
 * enables us again. Requests wrapped for the old certificate in
 * the meantime still open: the worker keeps the previous keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "worker/worker_internal.h"

/* How often the certificate's age is checked: renewal is due hours before
 * the end of a day-long certificate (a quarter of a short one's life). */
#define RENEW_CHECK_SECONDS 60.0

/* Checks from the next turn of the loop: the answer flush and the receipt
 * batch (worker_seal.c) of this turn may still write to the link. */
static void relink_soon(worker *w)
{
    struct timeval now = {0, 0};
    event_add(w->renew.relink_ev, &now);
}

static bool link_busy(worker *w, const wlink *l)
{
    cc_list_foreach (wreq, r, &w->reqs, node)
        if (r->link == l) return true;
    return worker_seal_link_pending(w, l);
}

/* Reconnects every link marked for it that has nothing in flight. */
static void on_relink(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    worker *w = arg;
    w->renew.pending = false;
    for (size_t i = 0; i < w->links.n; i++) {
        wlink *l = &w->links.at[i];
        if (!w->renew.relink[i]) continue;
        /* Reconnected meanwhile (dropped, say): it presents the new one. */
        bool same = l->conn && l->connects == w->renew.connects[i];
        if (same && (w->renew.awaiting[i] || link_busy(w, l))) {
            w->renew.pending = true;
            continue;
        }
        w->renew.relink[i] = w->renew.awaiting[i] = false;
        if (same) daemon_link_restart(l, "certificate renewed: reconnecting to present it");
    }
}

void worker_renew_request_ended(worker *w)
{
    if (w->renew.pending) relink_soon(w);
}

/* The proxy has seen our "disabled": what it routed to us has arrived. */
static void on_barrier(net_conn *c, void *ud)
{
    (void)c;
    wlink *l = ud;
    worker *w = wlink_worker(l);
    w->renew.awaiting[daemon_links_index(&w->links, l)] = false;
    relink_soon(w);
}

int worker_renew(worker *w, bool force, cc_err *err)
{
    int r = daemon_tee_rotate(&w->tee, force, err);
    if (r <= 0) return r;
    CC_INFO("event=cert_rotated not_after=%lld sealing_keys=new renewals=%llu",
            (long long)w->tee.identity->not_after, (unsigned long long)w->tee.renewals);
    for (size_t i = 0; i < w->links.n; i++) {
        wlink *l = &w->links.at[i];
        if (!l->conn) continue; /* it dials with the new certificate */
        if (l->state != DAEMON_LINK_READY) {
            /* Dialed with the old certificate, and no request on it yet. */
            daemon_link_restart(l, "certificate renewed: reconnecting to present it");
            continue;
        }
        w->renew.relink[i] = true;
        w->renew.connects[i] = l->connects;
        tl_worker_enabledDisabled m = TL_INIT(worker_enabledDisabled);
        m.disabled = 1;
        daemon_link_send(l, &m.hdr);
        /* Without the barrier (it could not be sent) the link goes when
         * idle, and a request on its way then fails. */
        w->renew.awaiting[i] = net_conn_barrier(l->conn, on_barrier, l) == 0;
    }
    w->renew.pending = true;
    relink_soon(w);
    return 1;
}

static void on_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    worker *w = arg;
    cc_err err = {0};
    if (worker_renew(w, false, &err) < 0)
        CC_ERROR("event=cert_rotate_failed reason=\"%s\"", err.msg);
}

void worker_renew_start(worker *w)
{
    w->renew.relink = cc_calloc(w->links.n + 1, sizeof(*w->renew.relink));
    w->renew.awaiting = cc_calloc(w->links.n + 1, sizeof(*w->renew.awaiting));
    w->renew.connects = cc_calloc(w->links.n + 1, sizeof(*w->renew.connects));
    w->renew.relink_ev = event_new(w->base, -1, 0, on_relink, w);
    w->renew.timer = event_new(w->base, -1, EV_PERSIST, on_check, w);
    struct timeval tv = {(time_t)RENEW_CHECK_SECONDS, 0};
    event_add(w->renew.timer, &tv);
}

void worker_renew_free(worker *w)
{
    if (w->renew.timer) event_free(w->renew.timer);
    if (w->renew.relink_ev) event_free(w->renew.relink_ev);
    free(w->renew.relink);
    free(w->renew.awaiting);
    free(w->renew.connects);
    memset(&w->renew, 0, sizeof(w->renew));
}
