/* What the client's links to its proxies do that the shared link object
 * (daemon_link.c) does not: the client's COCOON handshake (connect, then
 * authorize; DESIGN §4.3), the answers it routes to requests, and the
 * choice of a proxy for each request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "registry/registry.h"
#include "ton/ton.h"

clink *client_pick_link(client *c, const clink *avoid)
{
    /* The configured order is the user's preference: later proxies are
     * fallbacks. */
    return daemon_links_pick(&c->links, avoid);
}

const char *client_no_proxy_why(client *c, char *buf, size_t n)
{
    /* The first link's own reason tells the caller what to fix (a refused
     * authorization, an unreachable proxy) rather than only that it failed. */
    for (size_t i = 0; i < c->links.n; i++) {
        const clink *l = &c->links.at[i];
        if (l->last_error[0]) {
            snprintf(buf, n, "no proxy connection is available (%s: %s)", l->addr, l->last_error);
            return buf;
        }
    }
    return "no proxy connection is available";
}

static void on_packet(daemon_link *l, const uint8_t *data, size_t len)
{
    cc_err err;
    tl_decode_opts o = {.flags = TL_DECODE_BORROW};
    tl_obj *m = tl_decode_ex(data, len, &o, &err);
    if (!m) {
        daemon_link_fail(l, "undecodable packet from proxy");
        return;
    }
    switch (m->id) {
    case TL_ID_client_queryAnswerEx:
    case TL_ID_client_queryAnswerPartEx:
    case TL_ID_client_queryAnswerErrorEx:
    case TL_ID_client_queryAnswerError:     /* COCOON's proxy refusing a request */
    case TL_ID_client_queryAnswerPartError: /* ... or failing one mid-way */
        client_handle_answer(l, m);
        break;
    case TL_ID_client_queryReceipt:
        client_seal_on_receipt(l, (const tl_client_queryReceipt *)m);
        break;
    case TL_ID_client_sealingWorkersChanged:
        client_seal_on_workers_changed(l, (const tl_client_sealingWorkersChanged *)m);
        break;
    case TL_ID_proxy_clientRequestPayment: { /* the account's totals after a request */
        const tl_proxy_clientRequestPayment *p = (const tl_proxy_clientRequestPayment *)m;
        client_money_on_totals(l, p->db_tokens, p->max_tokens);
        client_chain_on_signed_payment(l, p->signed_payment);
        break;
    }
    default:
        CC_DEBUG("event=packet_ignored proxy=%s id=%s", l->addr, tl_ctor_name(m->id));
        break;
    }
    tl_obj_free(m);
}

static void on_authorized(daemon_link *l, const tl_obj *o)
{
    if (o->id == TL_ID_client_authorizationWithProxyFailed) {
        const tl_client_authorizationWithProxyFailed *f =
            (const tl_client_authorizationWithProxyFailed *)o;
        char why[200];
        snprintf(why, sizeof(why), "authorization refused: %d %.*s", f->error_code,
                 (int)CC_MIN(f->error.len, 120), (const char *)f->error.data);
        daemon_link_fail(l, why);
        return;
    }
    const tl_client_authorizationWithProxySuccess *a =
        (const tl_client_authorizationWithProxySuccess *)o;
    client_money_on_totals(l, a->tokens_committed_to_db, a->max_tokens);
    client_chain_on_signed_payment(l, a->signed_payment);
    daemon_link_set_ready(l);
}

#define LONG_AUTH_TIMEOUT 300.0 /* s, COCOON's authorize_long */

static void on_connected(daemon_link *l, const tl_obj *o)
{
    const tl_client_connectedToProxy *a = (const tl_client_connectedToProxy *)o;
    if (daemon_link_set_version(l, REGISTRY_PROTO_CLIENT_MIN, REGISTRY_PROTO_CLIENT_MAX,
                                a->params.flags, a->params.proto_version) < 0)
        return;
    l->peer_flags = a->params.flags;
    client_seal_lists_forget(clink_client(l), l);    /* a new connection: its workers may differ */
    if (client_chain_on_connected(l, a) < 0) return; /* the link failed */
    /* As COCOON's client (ClientProxyConnection.cpp run_authorization): the
     * short form only when the proxy holds the hash of our secret (the one
     * our contract holds, client_chain.c), else the long one. Without a
     * state folder the secret is empty, as COCOON's with no secret_string;
     * COCOON's proxy without a chain offers the short form with a hash it
     * made up, and refuses an empty secret against it ("sha256 mismatch"). */
    client *c = clink_client(l);
    bool long_auth = true;
    if (a->auth && a->auth->id == TL_ID_client_proxyConnectionAuthShort)
        long_auth =
            !crypto_memeq(c->secret_hash,
                          ((const tl_client_proxyConnectionAuthShort *)a->auth)->secret_hash.b, 32);
    if (long_auth) {
        /* COCOON's authorize_long: the nonce goes on chain through our
         * wallet (owner_client_register) and the proxy answers once it sees
         * it there, so the query waits as long as COCOON's (300 s). */
        uint64_t nonce =
            !a->auth ? 0
            : a->auth->id == TL_ID_client_proxyConnectionAuthShort
                ? (uint64_t)((const tl_client_proxyConnectionAuthShort *)a->auth)->nonce
                : (uint64_t)((const tl_client_proxyConnectionAuthLong *)a->auth)->nonce;
        if (!client_chain_register(l, nonce))
            CC_DEBUG("event=client_long_auth_unregistered proxy=%s reason=\"no chain wallet or "
                     "contract: the nonce is not registered on chain\"",
                     l->addr);
        tl_client_authorizeWithProxyLong q = TL_INIT(client_authorizeWithProxyLong);
        daemon_link_handshake_for(l, &q.hdr, TL_TYPE_client_AuthorizationWithProxy, on_authorized,
                                  LONG_AUTH_TIMEOUT);
    } else {
        tl_client_authorizeWithProxyShort q = TL_INIT(client_authorizeWithProxyShort);
        q.data = tl_str(c->secret);
        daemon_link_handshake(l, &q.hdr, TL_TYPE_client_AuthorizationWithProxy, on_authorized);
    }
}

static void hello(daemon_link *l)
{
    tl_client_connectToProxy q = TL_INIT(client_connectToProxy);
    q.params.hdr.id = TL_ID_client_params;
    q.params.flags = 1u | 2u | DAEMON_PARAMS_FLAG_FLOW;
    if (clink_client(l)->sealing != CLIENT_SEALING_OFF)
        q.params.flags |= DAEMON_PARAMS_FLAG_SEALING | DAEMON_PARAMS_FLAG_SEAL_LISTS;
    /* COCOON's proxy refuses a client without a parseable owner address.
     * Without one configured, the owner of our contracts is our wallet
     * (COCOON's client announces cocoon_wallet_address()): the proxy derives
     * the contract it authorizes us by from what we announce. */
    client *c = clink_client(l);
    const char *owner = c->owner_address;
    char wallet_owner[80];
    if (!*owner && c->has_contract_owner) {
        ton_addr_to_raw(&c->contract_owner, wallet_owner, sizeof(wallet_owner));
        owner = wallet_owner;
    }
    q.params.client_owner_address = tl_str(*owner ? owner : TON_ADDR_ZERO_RAW);
    q.params.is_test = clink_client(l)->is_test;
    q.params.min_proto_version = REGISTRY_PROTO_CLIENT_MIN;
    q.params.max_proto_version = REGISTRY_PROTO_CLIENT_MAX;
    q.min_config_version = client_config_version(clink_client(l));
    daemon_link_handshake(l, &q.hdr, TL_TYPE_client_ConnectedToProxy, on_connected);
}

/* A new proxy: learn its models and our account there right away. */
static void on_ready(daemon_link *l)
{
    client_query_models(l, NULL, NULL);
    client_money_link_ready(l);
}

const daemon_link_ops client_link_ops = {
    .hello = hello, .on_ready = on_ready, .on_packet = on_packet, .on_gone = client_link_gone};
