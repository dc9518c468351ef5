/* Client connections on the proxy: connect/authorize (simplified to
 * "accepted" with --chain none, but the messages are COCOON's), the worker
 * list, and client requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_internal.h"
#include "crypto/crypto.h"
#include "ton/ton.h"

static void answer(pclient *c, uint64_t qid, const tl_obj *msg)
{
    cc_err err;
    cc_buf b = CC_BUF_INIT;
    if (tl_encode(msg, &b, &err) == 0)
        c->p->io->answer_client(c, qid, b.data, b.len);
    else
        c->p->io->answer_client_error(c, qid, NET_ERR_FAILURE, "internal encoding error");
    cc_buf_free(&b);
}

preq *proxy_client_request(const pclient *c, const tl_int256 *rid)
{
    for (preq *r = cc_map_get(&c->by_rid, cc_load_u64le(rid->b)); r; r = r->rid_next)
        if (memcmp(r->client_rid.b, rid->b, 32) == 0) return r;
    return NULL;
}

void proxy_client_add_request(pclient *c, preq *r)
{
    uint64_t key = cc_load_u64le(r->client_rid.b);
    r->rid_next = cc_map_get(&c->by_rid, key);
    cc_map_put(&c->by_rid, key, r);
    cc_list_push_front(&c->reqs, &r->c_node);
}

void proxy_client_remove_request(pclient *c, preq *r)
{
    cc_list_remove(&c->reqs, &r->c_node);
    uint64_t key = cc_load_u64le(r->client_rid.b);
    preq *head = cc_map_get(&c->by_rid, key);
    if (head == r) {
        if (r->rid_next)
            cc_map_put(&c->by_rid, key, r->rid_next);
        else
            cc_map_del(&c->by_rid, key);
    } else {
        for (preq *o = head; o; o = o->rid_next)
            if (o->rid_next == r) {
                o->rid_next = r->rid_next;
                break;
            }
    }
    r->rid_next = NULL;
}

void proxy_client_destroy(pclient *c, const char *why)
{
    proxy *p = c->p;
    CC_INFO("event=client_gone id=%llu reason=\"%s\"", (unsigned long long)c->id, why);
    proxy_requests_client_gone(c);
    proxy_auth_client_gone(c);
    cc_list_remove(&p->clients, &c->node);
    proxy_owner_put(c->owner);
    cc_map_free(&c->by_rid);
    free(c->owner_address);
    free(c);
}

static void drop_client(pclient *c, const char *why)
{
    net_conn *conn = c->conn;
    c->conn = NULL;
    proxy_client_destroy(c, why);
    net_conn_close(conn, why);
}

static void on_close(net_conn *conn, void *ud, const char *reason)
{
    (void)conn;
    pclient *c = ud;
    c->conn = NULL;
    proxy_client_destroy(c, reason ? reason : "closed");
}

/* client.workerTypesV2: one entry per model base name (COCOON lists workers
 * "name@commit:verity" as "name"), listing each ready worker's coefficient
 * and load. */
static void send_worker_types(pclient *c, uint64_t qid)
{
    proxy *p = c->p;
    size_t n = p->n_workers;
    tl_client_workerTypeV2 *types = cc_calloc(n + 1, sizeof(*types));
    tl_client_workerInstanceV2 *inst = cc_calloc(n + 1, sizeof(*inst));
    size_t *owner = cc_calloc(n + 1, sizeof(*owner)); /* type index of each worker */
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        pworker *w = p->workers[i];
        size_t t, base = registry_model_base_len(w->model);
        for (t = 0; t < nt; t++)
            if (types[t].name.len == base && memcmp(types[t].name.data, w->model, base) == 0) break;
        if (t == nt) {
            types[nt].hdr.id = TL_ID_client_workerTypeV2;
            types[nt].name = tl_mem(w->model, base);
            nt++;
        }
        owner[i] = t;
    }
    /* Group the instances per type in one array: count, then place. */
    size_t *start = cc_calloc(nt + 1, sizeof(*start));
    for (size_t i = 0; i < n; i++)
        start[owner[i] + 1]++;
    for (size_t t = 0; t < nt; t++)
        start[t + 1] += start[t];
    for (size_t t = 0; t < nt; t++) {
        types[t].workers.items = inst + start[t];
        types[t].workers.n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        pworker *w = p->workers[i];
        tl_client_workerTypeV2 *ty = &types[owner[i]];
        tl_client_workerInstanceV2 *wi = &ty->workers.items[ty->workers.n++];
        wi->hdr.id = TL_ID_client_workerInstanceV2;
        wi->coefficient = w->rw.coefficient;
        wi->active_requests = w->rw.active;
        /* A disabled worker takes nothing: show it as full. */
        wi->max_active_requests = w->rw.enabled ? w->rw.max_active : 0;
    }
    tl_client_workerTypesV2 a = TL_INIT(client_workerTypesV2);
    a.types.n = nt;
    a.types.items = types;
    answer(c, qid, &a.hdr);
    free(start);
    free(owner);
    free(inst);
    free(types);
}

void proxy_client_send_connected(pclient *c, uint64_t qid, const uint8_t *hash, uint64_t nonce,
                                 const char *client_sc)
{
    proxy *p = c->p;
    tl_proxy_signedPaymentEmpty empty = TL_INIT(proxy_signedPaymentEmpty);
    tl_client_connectedToProxy a = TL_INIT(client_connectedToProxy);
    a.params.hdr.id = TL_ID_proxy_params;
    /* We relay sealed requests; say so only to a client that asked. */
    a.params.flags = 1u | 2u | c->hello_flags;
    memcpy(a.params.proxy_public_key.b, p->sign_pub, 32);
    a.params.proxy_owner_address = tl_str(proxy_owner_or_zero(p));
    a.params.proxy_sc_address = tl_str(proxy_sc_or_zero(p)); /* zero with --chain none */
    a.params.is_test = registry_get_params(p->reg)->is_test;
    a.params.proto_version = c->proto_version;
    a.client_sc_address = tl_str(client_sc);
    tl_client_proxyConnectionAuthShort s = TL_INIT(client_proxyConnectionAuthShort);
    tl_client_proxyConnectionAuthLong l = TL_INIT(client_proxyConnectionAuthLong);
    if (hash) {
        memcpy(s.secret_hash.b, hash, 32);
        s.nonce = (int64_t)nonce;
        a.auth = &s.hdr;
    } else {
        l.nonce = (int64_t)nonce;
        a.auth = &l.hdr;
    }
    a.signed_payment = &empty.hdr;
    answer(c, qid, &a.hdr);
}

void proxy_client_auth_success(pclient *c, uint64_t qid)
{
    tl_proxy_signedPaymentEmpty empty = TL_INIT(proxy_signedPaymentEmpty);
    c->authorized = true;
    const ledger_client *acct = proxy_money_client(c);
    tl_client_authorizationWithProxySuccess a = TL_INIT(client_authorizationWithProxySuccess);
    a.signed_payment = &empty.hdr;
    a.tokens_committed_to_db = acct ? ledger_payments_committed_db(&acct->pay) : 0;
    a.max_tokens = acct ? acct->pay.max : 0;
    answer(c, qid, &a.hdr);
    CC_INFO("event=client_ready id=%llu peer=%s proto=%d", (unsigned long long)c->id,
            c->conn ? net_conn_peer_addr(c->conn) : "-", c->proto_version);
}

void proxy_client_on_query(net_conn *conn, void *ud, uint64_t qid, const uint8_t *data, size_t len)
{
    (void)conn;
    pclient *c = ud;
    proxy *p = c->p;
    cc_err err;
    tl_decode_opts o = {.flags = TL_DECODE_BORROW};
    tl_obj *q = tl_decode_ex(data, len, &o, &err);
    if (!q) {
        p->io->answer_client_error(c, qid, NET_ERR_PROTOCOL, err.msg);
        drop_client(c, "undecodable query");
        return;
    }
    tl_proxy_signedPaymentEmpty empty = TL_INIT(proxy_signedPaymentEmpty);
    switch (q->id) {
    case TL_ID_client_connectToProxy: {
        if (p->auth_chain && (c->auth || c->authorized)) {
            /* COCOON's states Auth and Ok take no second connect. */
            p->io->answer_client_error(c, qid, NET_ERR_ERROR,
                                       c->auth ? "expected auth message" : "already authorized");
            break;
        }
        const tl_client_params *cp = &((tl_client_connectToProxy *)q)->params;
        bool has = (cp->flags & 2u) != 0;
        int v;
        const char *why;
        int32_t code = proxy_check_client_params(
            p, cp, ((tl_client_connectToProxy *)q)->min_config_version, &why);
        if (code) {
            p->io->answer_client_error(c, qid, code, why);
            break;
        }
        if (registry_proto_negotiate(REGISTRY_PROTO_PROXY_MIN, REGISTRY_PROTO_PROXY_MAX, has,
                                     has ? cp->min_proto_version : 0,
                                     has ? cp->max_proto_version : 0, &v, &err) < 0) {
            p->io->answer_client_error(c, qid, NET_ERR_ERROR, err.msg);
            break;
        }
        c->proto_version = v;
        c->connected = true;
        /* The owner wallet keys the client's ledger account (COCOON's
         * ProxyClientInfo per client_owner_address). */
        free(c->owner_address);
        c->owner_address = tl_bytes_strdup(cp->client_owner_address);
        proxy_client_set_owner(c, c->owner_address); /* the fair limits' key */
        c->acct = NULL;
        if (!proxy_money_client(c)) {
            p->io->answer_client_error(c, qid, NET_ERR_ERROR, "client owner address is too long");
            c->connected = false;
            break;
        }
        c->hello_flags = cp->flags & (DAEMON_PARAMS_FLAG_SEALING | DAEMON_PARAMS_FLAG_FLOW |
                                      DAEMON_PARAMS_FLAG_SEAL_LISTS);
        c->flow = (cp->flags & DAEMON_PARAMS_FLAG_FLOW) != 0;
        /* With a chain, COCOON's authorization reads the client's contract
         * first and answers when it knows which offer to make. */
        if (proxy_auth_begin(c, qid)) break;
        /* Short auth: with --chain none there is no client contract holding a
         * secret hash, so any secret is accepted (see authorizeWithProxyShort). */
        static const uint8_t no_hash[32];
        proxy_client_send_connected(c, qid, no_hash, crypto_random_u64(), TON_ADDR_ZERO_RAW);
        break;
    }
    case TL_ID_client_authorizeWithProxyShort:
    case TL_ID_client_authorizeWithProxyLong: {
        if (!c->connected) {
            p->io->answer_client_error(c, qid, NET_ERR_PROTOCOL, "client.connectToProxy first");
            break;
        }
        if (c->auth) {
            proxy_auth_on_query(c, qid, q); /* may free c */
            break;
        }
        if (p->auth_chain) {
            /* COCOON: "already authorized". */
            p->io->answer_client_error(c, qid, NET_ERR_ERROR, "already authorized");
            break;
        }
        proxy_client_auth_success(c, qid);
        break;
    }
    case TL_ID_client_getWorkerTypesV2:
        if (!c->authorized)
            p->io->answer_client_error(c, qid, NET_ERR_PROTOCOL, "not authorized");
        else
            send_worker_types(c, qid);
        break;
    case TL_ID_client_getSealingCandidates:
        if (!c->authorized)
            p->io->answer_client_error(c, qid, NET_ERR_PROTOCOL, "not authorized");
        else
            proxy_seal_answer_candidates(c, qid, (tl_client_getSealingCandidates *)q);
        break;
    case TL_ID_client_updatePaymentStatus: {
        /* COCOON's serialize_payment_status: the account's totals. */
        const ledger_client *acct = c->authorized ? proxy_money_client(c) : NULL;
        if (!acct) {
            p->io->answer_client_error(c, qid, NET_ERR_PROTOCOL,
                                       "client request from non-ready connection");
            break;
        }
        tl_client_paymentStatus a = TL_INIT(client_paymentStatus);
        tl_proxy_signedPayment sp;
        a.signed_payment = proxy_signed_payment(&acct->pay, &sp, &empty.hdr);
        a.db_tokens = ledger_payments_committed_db(&acct->pay);
        a.max_tokens = acct->pay.max;
        answer(c, qid, &a.hdr);
        break;
    }
    case TL_ID_client_getAccountStatus: {
        /* cocoon extension: the contract figures a client without a chain
         * cannot read itself (proto/cocoon_ext.tl). */
        const ledger_client *acct = c->authorized ? proxy_money_client(c) : NULL;
        if (!acct) {
            p->io->answer_client_error(c, qid, NET_ERR_PROTOCOL,
                                       "client request from non-ready connection");
            break;
        }
        tl_client_accountStatus a = TL_INIT(client_accountStatus);
        proxy_money_account_status(p, acct, &a);
        a.signed_payment = &empty.hdr;
        answer(c, qid, &a.hdr);
        break;
    }
    case TL_ID_client_cancelQuery:
        proxy_request_cancel_from_client(c, &((tl_client_cancelQuery *)q)->request_id);
        {
            uint8_t bool_true[4];
            cc_store_u32le(bool_true, TL_ID_boolTrue);
            p->io->answer_client(c, qid, bool_true, 4);
        }
        break;
    default:
        p->io->answer_client_error(c, qid, NET_ERR_PROTOCOL, "unexpected query");
        break;
    }
    tl_obj_free(q);
}

void proxy_client_on_packet(net_conn *conn, void *ud, const uint8_t *data, size_t len)
{
    (void)conn;
    pclient *c = ud;
    cc_err err;
    tl_decode_opts o = {.flags = TL_DECODE_BORROW};
    tl_obj *m = tl_decode_ex(data, len, &o, &err);
    if (!m) {
        CC_WARN("event=bad_client_packet id=%llu error=\"%s\"", (unsigned long long)c->id, err.msg);
        drop_client(c, "undecodable packet");
        return;
    }
    if (!c->authorized) {
        tl_obj_free(m);
        drop_client(c, "request before authorization");
        return;
    }
    switch (m->id) {
    case TL_ID_client_runQueryEx:
        proxy_request_start(c, (tl_client_runQueryEx *)m);
        break;
    case TL_ID_client_runSealedQuery:
        proxy_request_start_sealed(c, (tl_client_runSealedQuery *)m);
        break;
    case TL_ID_client_cancelQuery:
        proxy_request_cancel_from_client(c, &((tl_client_cancelQuery *)m)->request_id);
        break;
    case TL_ID_client_streamCredit:
        proxy_flow_on_credit(c, (const tl_client_streamCredit *)m);
        break;
    default:
        CC_DEBUG("event=client_packet_ignored id=%s", tl_ctor_name(m->id));
        break;
    }
    tl_obj_free(m);
}

void proxy_on_client_accept(net_listener *l, net_conn *conn, void *ud)
{
    (void)l;
    proxy *p = ud;
    pclient *c = cc_calloc(1, sizeof(*c));
    c->p = p;
    c->conn = conn;
    c->id = ++p->next_id;
    cc_list_push_front(&p->clients, &c->node);
    p->stats.clients_accepted++;
    static const net_conn_callbacks cbs = {.on_packet = proxy_client_on_packet,
                                           .on_query = proxy_client_on_query,
                                           .on_close = on_close};
    net_conn_set_callbacks(conn, &cbs, c);
    CC_INFO("event=client_connected id=%llu peer=%s", (unsigned long long)c->id,
            net_conn_peer_addr(conn));
}

void proxy_client_close_all(proxy *p, const char *why)
{
    while (!cc_list_empty(&p->clients)) {
        pclient *c = cc_list_first(pclient, &p->clients, node);
        net_conn *conn = c->conn;
        c->conn = NULL;
        proxy_client_destroy(c, why);
        if (conn) net_conn_close(conn, why);
    }
}

void proxy_client_free_all(proxy *p)
{
    proxy_client_close_all(p, "proxy stopping");
}
