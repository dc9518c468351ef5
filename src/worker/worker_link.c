/* What the worker's links to its proxies do that the shared link object
 * (daemon_link.c) does not: the worker's COCOON handshake (connect, compare
 * balances, handshake complete) and telling the proxies when the backend's
 * health changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"
#include "ton/ton.h"
#include "worker/worker_internal.h"

static void send_enabled(wlink *l)
{
    tl_worker_enabledDisabled m = TL_INIT(worker_enabledDisabled);
    m.disabled = worker_is_disabled(wlink_worker(l)) ? 1 : 0;
    daemon_link_send(l, &m.hdr);
}

static void on_handshake_done(daemon_link *l, const tl_obj *o)
{
    (void)o;
    daemon_link_set_ready(l);
}

static void send_handshake_complete(daemon_link *l)
{
    worker *w = wlink_worker(l);
    tl_worker_proxyHandshakeComplete hc = TL_INIT(worker_proxyHandshakeComplete);
    hc.is_disabled = worker_is_disabled(w);
    w->announced_disabled[daemon_links_index(&w->links, l)] = hc.is_disabled;
    daemon_link_handshake(l, &hc.hdr, TL_TYPE_worker_HandshakeCompleted, on_handshake_done);
}

static void on_extended_balance(daemon_link *l, const tl_obj *o)
{
    int32_t ec = ((const tl_worker_extendedCompareBalanceWithProxyResult *)o)->error_code;
    if (ec != 0) {
        /* WorkerProxyConnection.cpp received_extended_compare_answer */
        char why[96];
        snprintf(why, sizeof(why), "cannot reconcile payment information: received error %d", ec);
        daemon_link_fail(l, why);
        return;
    }
    send_handshake_complete(l);
}

/* A non-zero error_code is not a refusal: the proxy knows of fewer tokens
 * than we do and asks for the difference (WorkerProxyConnection.cpp
 * received_compare_answer). COCOON's worker then sends what its proxy
 * database is missing; ours keeps no per-proxy history yet (--chain none,
 * it reported zeros), so the difference it sends is empty, and only the
 * proxy's second answer decides. */
static void on_balance(daemon_link *l, const tl_obj *o)
{
    const tl_worker_compareBalanceWithProxyResult *r =
        (const tl_worker_compareBalanceWithProxyResult *)o;
    worker *w = wlink_worker(l);
    /* COCOON's worker checks the proxy's signed payment here first
     * (WorkerProxyConnection.cpp: a lower one fails the connection). */
    if (!worker_money_on_signed(w, l, r->signed_payment)) {
        daemon_link_fail(l, w->pay[daemon_links_index(&w->links, l)].rollback_why);
        return;
    }
    /* ...then its database's total for us (update_tokens_committed_to_proxy_db). */
    if (!worker_money_on_db_tokens(w, l, r->tokens_committed_to_db)) {
        daemon_link_fail(l, w->pay[daemon_links_index(&w->links, l)].db_why);
        return;
    }
    int32_t ec = r->error_code;
    if (ec == 0) {
        send_handshake_complete(l);
        return;
    }
    CC_INFO("event=balance_reconcile proxy=%s error_code=%d", l->addr, ec);
    tl_worker_extendedCompareBalanceWithProxy x = TL_INIT(worker_extendedCompareBalanceWithProxy);
    daemon_link_handshake(l, &x.hdr, TL_TYPE_worker_ExtendedCompareBalanceWithProxyResult,
                          on_extended_balance);
}

static void on_connected(daemon_link *l, const tl_obj *o)
{
    const tl_worker_connectedToProxy *a = (const tl_worker_connectedToProxy *)o;
    if (daemon_link_set_version(l, REGISTRY_PROTO_WORKER_MIN, REGISTRY_PROTO_WORKER_MAX,
                                a->params.flags, a->params.proto_version) < 0)
        return;
    l->peer_flags = a->params.flags; /* e.g. flow control (DAEMON_PARAMS_FLAG_FLOW) */
    worker *w = wlink_worker(l);
    char *psc = tl_bytes_strdup(a->params.proxy_sc_address);
    char *powner = tl_bytes_strdup(a->params.proxy_owner_address);
    char name[512], why[256];
    worker_proxy_name(psc, powner, l->addr, name, sizeof(name));
    free(psc);
    free(powner);
    if (!worker_proxy_key_check(w, name, a->params.proxy_public_key.b, why, sizeof(why))) {
        daemon_link_fail(l, why);
        return;
    }
    /* The proxy's key checks the signed payments it will send us. */
    wpay *pay = &w->pay[daemon_links_index(&w->links, l)];
    memcpy(pay->proxy_pub, a->params.proxy_public_key.b, 32);
    pay->has_pub = true;
    worker_paystore_restore(w, l, name, pay->proxy_pub);
    char sc[LEDGER_ADDR_MAX];
    snprintf(sc, sizeof(sc), "%.*s", (int)CC_MIN(a->worker_sc_address.len, sizeof(sc) - 1),
             (const char *)a->worker_sc_address.data);
    cc_err err;
    pay->has_sc = ton_addr_parse(sc, &pay->sc_address, NULL, NULL, &err) == 0;
    if (worker_payout_on_connected(w, l, a, why, sizeof(why)) < 0) {
        daemon_link_fail(l, why);
        return;
    }
    /* Payments are not settled yet (--chain none): report zero balances. */
    tl_worker_compareBalanceWithProxy cb = TL_INIT(worker_compareBalanceWithProxy);
    daemon_link_handshake(l, &cb.hdr, TL_TYPE_worker_CompareBalanceWithProxyResult, on_balance);
}

static void hello(daemon_link *l)
{
    worker *w = wlink_worker(l);
    tl_worker_connectToProxy q = TL_INIT(worker_connectToProxy);
    q.params.hdr.id = TL_ID_worker_params;
    q.params.flags = 1u | 2u | DAEMON_PARAMS_FLAG_FLOW;
    /* COCOON's proxy refuses a worker without a parseable owner address. */
    q.params.worker_owner_address =
        tl_str(*w->owner_address ? w->owner_address : TON_ADDR_ZERO_RAW);
    q.params.model = tl_str(w->model);
    q.params.coefficient = w->coefficient;
    w->announced_coefficient[daemon_links_index(&w->links, l)] = w->coefficient;
    q.params.is_test = w->is_test;
    q.params.proxy_cnt = (int32_t)w->links.n;
    q.params.max_active_requests = w->max_active;
    q.params.min_proto_version = REGISTRY_PROTO_WORKER_MIN;
    q.params.max_proto_version = REGISTRY_PROTO_WORKER_MAX;
    daemon_link_handshake(l, &q.hdr, TL_TYPE_worker_ConnectedToProxy, on_connected);
}

static void on_ready(daemon_link *l)
{
    worker *w = wlink_worker(l);
    CC_INFO("event=proxy_enabled proxy=%s enabled=%d", l->addr, !worker_is_disabled(w));
    /* The backend's health or the operator's switch may have changed while
     * the handshake was in flight; so may the coefficient. */
    if (w->announced_disabled[daemon_links_index(&w->links, l)] != worker_is_disabled(w))
        send_enabled(l);
    if (w->announced_coefficient[daemon_links_index(&w->links, l)] != w->coefficient) {
        tl_worker_newCoefficient m = TL_INIT(worker_newCoefficient);
        m.new_coefficient = w->coefficient;
        daemon_link_send(l, &m.hdr);
    }
}

const daemon_link_ops worker_link_ops = {.hello = hello,
                                         .on_ready = on_ready,
                                         .on_packet = worker_handle_packet,
                                         .on_gone = worker_link_gone};

void worker_link_send_enabled(worker *w)
{
    for (size_t i = 0; i < w->links.n; i++)
        if (w->links.at[i].state == DAEMON_LINK_READY) send_enabled(&w->links.at[i]);
}
