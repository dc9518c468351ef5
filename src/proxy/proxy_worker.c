/* Worker connections on the proxy: the COCOON handshake (DESIGN §4.3), the
 * routing table, and the answers workers stream back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "proxy/proxy_internal.h"
#include "ton/ton.h"

static int to_worker(pworker *w, const tl_obj *msg)
{
    return net_conn_send_msg(w->conn, msg);
}

/* At most this late; at one request at a time the next request takes it
 * along within a few ms, and the worker wakes once per request less. */
#define PAYMENT_NOTICE_DELAY 0.5

static int to_worker_later(pworker *w, const tl_obj *msg)
{
    return net_conn_send_msg_later(w->conn, msg, PAYMENT_NOTICE_DELAY);
}

static int to_client(pclient *c, const tl_obj *msg)
{
    return net_conn_send_msg(c->conn, msg);
}

static int answer_client(pclient *c, uint64_t qid, const uint8_t *data, size_t len)
{
    return c->conn ? net_conn_answer(c->conn, qid, data, len, NULL) : -1;
}

static int answer_client_error(pclient *c, uint64_t qid, int32_t code, const char *msg)
{
    return c->conn ? net_conn_answer_error(c->conn, qid, code, msg, NULL) : -1;
}

const proxy_io proxy_io_net = {.to_worker = to_worker,
                               .to_worker_later = to_worker_later,
                               .to_client = to_client,
                               .answer_client = answer_client,
                               .answer_client_error = answer_client_error};

static int answer(proxy *p, net_conn *c, uint64_t qid, const tl_obj *msg)
{
    cc_err err;
    cc_buf b = CC_BUF_INIT;
    int rc = tl_encode(msg, &b, &err);
    if (rc == 0)
        rc = net_conn_answer(c, qid, b.data, b.len, &err);
    else
        net_conn_answer_error(c, qid, NET_ERR_FAILURE, "internal encoding error", NULL);
    cc_buf_free(&b);
    (void)p;
    return rc;
}

void proxy_worker_table_add(pworker *w)
{
    proxy *p = w->p;
    if (p->n_workers == p->cap_workers) {
        p->cap_workers = p->cap_workers ? p->cap_workers * 2 : 16;
        p->workers = cc_realloc(p->workers, p->cap_workers * sizeof(*p->workers));
        p->route = cc_realloc(p->route, p->cap_workers * sizeof(*p->route));
    }
    w->index = p->n_workers;
    p->workers[p->n_workers] = w;
    p->route[p->n_workers] = &w->rw;
    p->n_workers++;
}

static void table_remove(pworker *w)
{
    proxy *p = w->p;
    if (w->state != PW_READY) return;
    size_t last = p->n_workers - 1;
    p->workers[w->index] = p->workers[last];
    p->route[w->index] = p->route[last];
    p->workers[w->index]->index = w->index;
    p->n_workers--;
}

void proxy_worker_destroy(pworker *w, const char *why)
{
    proxy *p = w->p;
    CC_INFO("event=worker_gone id=%llu model=%s reason=\"%s\"", (unsigned long long)w->rw.id,
            w->model ? w->model : "-", why);
    bool offered = w->sealing && w->state == PW_READY;
    table_remove(w);
    w->state = PW_NEW;
    proxy_requests_worker_gone(w);
    proxy_requests_kick(p);
    cc_list_remove(&p->all_workers, &w->node);
    proxy_seal_worker_clear(w);
    if (offered) proxy_seal_workers_changed(p);
    free(w->model);
    free(w->owner_address);
    free(w);
}

/* Protocol violation or refusal: close (no on_close follows a local close). */
static void drop_worker(pworker *w, const char *why)
{
    net_conn *c = w->conn;
    w->conn = NULL;
    proxy_worker_destroy(w, why);
    net_conn_close(c, why);
}

static void on_close(net_conn *c, void *ud, const char *reason)
{
    (void)c;
    pworker *w = ud;
    w->conn = NULL;
    proxy_worker_destroy(w, reason ? reason : "closed");
}

static void fill_proxy_params(proxy *p, tl_proxy_params *pp, int version)
{
    pp->hdr.id = TL_ID_proxy_params;
    pp->flags = 1u | 2u;
    memcpy(pp->proxy_public_key.b, p->sign_pub, 32);
    pp->proxy_owner_address = tl_str(proxy_owner_or_zero(p));
    pp->proxy_sc_address = tl_str(proxy_sc_or_zero(p));
    pp->is_test = registry_get_params(p->reg)->is_test;
    pp->proto_version = version;
}

/* The announced model must be the one the worker's attested certificate
 * claims (the claim is signed by the key the quote's REPORTDATA names). */
static bool model_matches_claim(const char *model, const tee_peer_info *info)
{
    uint8_t h[32];
    crypto_sha256(model, strlen(model), h);
    return crypto_memeq(h, info->claims.model_hash, 32);
}

static void on_connect_to_proxy(pworker *w, uint64_t qid, const tl_worker_connectToProxy *q)
{
    proxy *p = w->p;
    const tl_worker_params *wp = &q->params;
    cc_err err;
    int v;
    bool has = (wp->flags & 2u) != 0;
    char *model = tl_bytes_strdup(wp->model);
    const char *refuse = NULL;
    int32_t code = proxy_check_worker_params(p, wp, &refuse);
    char why[600];
    /* The attested image hash (all zeros without a verified quote: allowed
     * only by a registry that says "any"). */
    uint8_t image[32] = {0};
    const tee_peer_info *info = net_conn_peer_info(w->conn);
    if (info && info->quote_verified) memcpy(image, info->image_hash, 32);
    if (code) {
        /* COCOON's own refusal (proxy_peer.c) */
    } else if (registry_proto_negotiate(REGISTRY_PROTO_PROXY_MIN, REGISTRY_PROTO_PROXY_MAX, has,
                                        has ? wp->min_proto_version : 0,
                                        has ? wp->max_proto_version : 0, &v, &err) < 0) {
        snprintf(why, sizeof(why), "%s", err.msg);
        refuse = why;
    } else if (!*model || strlen(model) != wp->model.len) {
        refuse = "empty or malformed model name";
    } else if (registry_model_base_len(model) == 0) {
        refuse = "model identifier has no name before '@'";
    } else if (!registry_model_allowed(p->reg, model)) {
        snprintf(why, sizeof(why), "model %s is not in the registry", model);
        refuse = why;
    } else if (info && info->claims.has_model_hash && !model_matches_claim(model, info)) {
        /* Only a certificate that claims a model is held to it: without the
         * claim (COCOON's certificates carry none) the registry check above
         * is all there is, as in COCOON's proxy. */
        snprintf(why, sizeof(why), "model %s is not the model hash in the worker's certificate",
                 model);
        refuse = why;
    } else if (!registry_worker_image_allowed(p->reg, image)) {
        refuse = "worker image hash is not in the registry";
    } else if (wp->coefficient <= 0) {
        refuse = "coefficient must be positive";
    }
    if (refuse) {
        p->stats.workers_refused++;
        char image_hex[65];
        cc_hex_encode(image, 32, image_hex);
        snprintf(p->stats.last_refused_peer, sizeof(p->stats.last_refused_peer), "%.63s",
                 net_conn_peer_addr(w->conn));
        snprintf(p->stats.last_refused_image, sizeof(p->stats.last_refused_image), "%s", image_hex);
        snprintf(p->stats.last_refused_reason, sizeof(p->stats.last_refused_reason), "%.199s",
                 refuse);
        CC_WARN("event=worker_refused peer=%s image_hash=%s reason=\"%s\"",
                net_conn_peer_addr(w->conn), image_hex, refuse);
        net_conn_answer_error(w->conn, qid, code ? code : NET_ERR_ERROR, refuse, NULL);
        free(model);
        return;
    }
    w->model = model;
    w->owner_address = tl_bytes_strdup(wp->worker_owner_address);
    if (!proxy_money_worker(w)) { /* the owner keys the worker's ledger account */
        net_conn_answer_error(w->conn, qid, NET_ERR_ERROR, "worker owner address is too long",
                              NULL);
        return;
    }
    w->proto_version = v;
    w->rw.model = w->model;
    w->rw.coefficient = wp->coefficient;
    w->rw.max_active = (wp->flags & 1u) ? wp->max_active_requests : 0;
    w->state = PW_CONNECTED;
    proxy_seal_worker_init(w, net_conn_peer_cert(w->conn), info);
    tl_worker_connectedToProxy a = TL_INIT(worker_connectedToProxy);
    fill_proxy_params(p, &a.params, v);
    w->flow = (wp->flags & DAEMON_PARAMS_FLAG_FLOW) != 0;
    a.params.flags |= wp->flags & DAEMON_PARAMS_FLAG_FLOW;
    /* Its contract, which our vouchers pay (zero with --chain none). */
    a.worker_sc_address = tl_str(proxy_chain_worker_sc(p, proxy_money_worker(w)));
    answer(p, w->conn, qid, &a.hdr);
}

static void on_query(net_conn *c, void *ud, uint64_t qid, const uint8_t *data, size_t len)
{
    pworker *w = ud;
    proxy *p = w->p;
    cc_err err;
    tl_decode_opts o = {.flags = TL_DECODE_BORROW};
    tl_obj *q = tl_decode_ex(data, len, &o, &err);
    if (!q) {
        net_conn_answer_error(c, qid, NET_ERR_PROTOCOL, err.msg, NULL);
        drop_worker(w, "undecodable query");
        return;
    }
    tl_proxy_signedPaymentEmpty empty = TL_INIT(proxy_signedPaymentEmpty);
    switch (q->id) {
    case TL_ID_worker_connectToProxy:
        if (w->state != PW_NEW) {
            net_conn_answer_error(c, qid, NET_ERR_PROTOCOL, "already connected", NULL);
            break;
        }
        on_connect_to_proxy(w, qid, (tl_worker_connectToProxy *)q);
        break;
    case TL_ID_worker_compareBalanceWithProxy: {
        if (w->state == PW_NEW) {
            net_conn_answer_error(c, qid, NET_ERR_PROTOCOL, "worker.connectToProxy first", NULL);
            break;
        }
        /* No settlement without a chain; the figures are the account's. A
         * worker that knows of more earned tokens than we do is told so with
         * error_code 1, as COCOON's proxy does
         * (ProxyInboundWorkerConnection.cpp:106-114): with 0 COCOON's worker
         * requires max_tokens to equal its own figure (a CHECK that aborts it,
         * WorkerProxyConnection.cpp:162-163); with 1 it sends
         * worker.extendedCompareBalanceWithProxy next. */
        const ledger_worker *acct = proxy_money_worker(w);
        int64_t ours = acct ? acct->pay.max : 0;
        tl_worker_compareBalanceWithProxyResult a = TL_INIT(worker_compareBalanceWithProxyResult);
        tl_proxy_signedPayment sp;
        a.signed_payment = proxy_signed_payment(acct ? &acct->pay : NULL, &sp, &empty.hdr);
        a.tokens_committed_to_db = acct ? ledger_payments_committed_db(&acct->pay) : 0;
        a.max_tokens = ours;
        a.error_code = ((tl_worker_compareBalanceWithProxy *)q)->max_tokens > ours ? 1 : 0;
        answer(p, c, qid, &a.hdr);
        break;
    }
    case TL_ID_worker_extendedCompareBalanceWithProxy: {
        if (w->state != PW_CONNECTED) {
            net_conn_answer_error(c, qid, NET_ERR_PROTOCOL, "handshake out of order", NULL);
            break;
        }
        /* COCOON's proxy does not reconcile yet either and answers 0
         * (ProxyInboundWorkerConnection.cpp:117-124); anything else makes
         * COCOON's worker drop the link. */
        tl_worker_extendedCompareBalanceWithProxyResult a =
            TL_INIT(worker_extendedCompareBalanceWithProxyResult);
        answer(p, c, qid, &a.hdr);
        break;
    }
    case TL_ID_worker_proxyHandshakeComplete: {
        if (w->state != PW_CONNECTED) {
            net_conn_answer_error(c, qid, NET_ERR_PROTOCOL, "handshake out of order", NULL);
            break;
        }
        w->rw.enabled = !((tl_worker_proxyHandshakeComplete *)q)->is_disabled;
        proxy_worker_table_add(w);
        w->state = PW_READY;
        p->stats.workers_accepted++;
        tl_worker_proxyHandshakeCompleted a = TL_INIT(worker_proxyHandshakeCompleted);
        answer(p, c, qid, &a.hdr);
        proxy_requests_kick(p);
        if (w->sealing) proxy_seal_workers_changed(p);
        CC_INFO("event=worker_ready id=%llu peer=%s model=%s coefficient=%d max_active=%d "
                "enabled=%d proto=%d",
                (unsigned long long)w->rw.id, net_conn_peer_addr(c), w->model, w->rw.coefficient,
                w->rw.max_active, w->rw.enabled, w->proto_version);
        break;
    }
    case TL_ID_worker_updatePaymentStatus: {
        /* COCOON's ProxyWorkerInfo::serialize_payment_status. */
        const ledger_worker *acct = w->state == PW_READY ? proxy_money_worker(w) : NULL;
        if (!acct) {
            net_conn_answer_error(c, qid, NET_ERR_PROTOCOL,
                                  "worker request from non-ready connection", NULL);
            break;
        }
        tl_worker_paymentStatus a = TL_INIT(worker_paymentStatus);
        tl_proxy_signedPayment sp;
        a.signed_payment = proxy_signed_payment(&acct->pay, &sp, &empty.hdr);
        a.db_tokens = ledger_payments_committed_db(&acct->pay);
        a.max_tokens = acct->pay.max;
        answer(p, c, qid, &a.hdr);
        break;
    }
    default:
        net_conn_answer_error(c, qid, NET_ERR_PROTOCOL, "unexpected query", NULL);
        break;
    }
    tl_obj_free(q);
}

void proxy_worker_on_packet(net_conn *c, void *ud, const uint8_t *data, size_t len)
{
    pworker *w = ud;
    cc_err err;
    tl_decode_opts o = {.flags = TL_DECODE_BORROW};
    tl_obj *m = tl_decode_ex(data, len, &o, &err);
    if (!m) {
        CC_WARN("event=bad_worker_packet id=%llu error=\"%s\"", (unsigned long long)w->rw.id,
                err.msg);
        drop_worker(w, "undecodable packet");
        return;
    }
    if (w->state != PW_READY) {
        tl_obj_free(m);
        drop_worker(w, "packet before the handshake completed");
        return;
    }
    switch (m->id) {
    case TL_ID_proxy_queryAnswerEx:
    case TL_ID_proxy_queryAnswerPartEx:
    case TL_ID_proxy_queryAnswerErrorEx:
        proxy_relay_answer(w, m);
        break;
    case TL_ID_proxy_queryReceipt:
        proxy_seal_on_receipt(w, (const tl_proxy_queryReceipt *)m);
        break;
    case TL_ID_worker_enabledDisabled: {
        bool en = ((tl_worker_enabledDisabled *)m)->disabled == 0;
        if (en != w->rw.enabled)
            CC_INFO("event=worker_%s id=%llu model=%s", en ? "enabled" : "disabled",
                    (unsigned long long)w->rw.id, w->model);
        bool changed = en != w->rw.enabled;
        w->rw.enabled = en;
        proxy_requests_kick(w->p);
        if (changed && w->sealing) proxy_seal_workers_changed(w->p);
        break;
    }
    case TL_ID_worker_newCoefficient: {
        /* COCOON's proxy ends the link on a negative value (ProxyRunner.cpp
         * receive_message, "bad coefficient value"); ours also on one past
         * the handshake's bound, and keeps the old price on 0 (a free worker
         * is refused at the handshake too). Routing and pricing read
         * rw.coefficient from the next request on. */
        int32_t nc = ((tl_worker_newCoefficient *)m)->new_coefficient;
        if (nc < 0 || nc >= 1000000000) {
            tl_obj_free(m);
            drop_worker(w, "bad coefficient value");
            return;
        }
        if (nc == 0)
            CC_WARN("event=worker_coefficient_ignored id=%llu value=0",
                    (unsigned long long)w->rw.id);
        else if (nc != w->rw.coefficient) {
            CC_INFO("event=worker_coefficient id=%llu model=%s from=%d to=%d",
                    (unsigned long long)w->rw.id, w->model, w->rw.coefficient, nc);
            w->rw.coefficient = nc;
        }
        break;
    }
    default:
        CC_DEBUG("event=worker_packet_ignored id=%s", tl_ctor_name(m->id));
        break;
    }
    (void)c;
    tl_obj_free(m);
}

void proxy_on_worker_accept(net_listener *l, net_conn *c, void *ud)
{
    (void)l;
    proxy *p = ud;
    pworker *w = cc_calloc(1, sizeof(*w));
    w->p = p;
    w->conn = c;
    w->rw.id = ++p->next_id;
    w->rw.model = "";
    w->connected_at = cc_now_wall();
    cc_list_push_front(&p->all_workers, &w->node);
    static const net_conn_callbacks cbs = {
        .on_packet = proxy_worker_on_packet, .on_query = on_query, .on_close = on_close};
    net_conn_set_callbacks(c, &cbs, w);
    CC_INFO("event=worker_connected id=%llu peer=%s", (unsigned long long)w->rw.id,
            net_conn_peer_addr(c));
}

/* The image hash the worker's certificate proved (zeros without a verified
 * quote: allowed only by a registry that says "any"). */
static void worker_image(const pworker *w, uint8_t image[32])
{
    memset(image, 0, 32);
    const tee_peer_info *info = w->conn ? net_conn_peer_info(w->conn) : NULL;
    if (info && info->quote_verified) memcpy(image, info->image_hash, 32);
}

void proxy_workers_recheck(proxy *p)
{
    bool kick = false;
    for (size_t i = 0; i < p->n_workers; i++) {
        pworker *w = p->workers[i];
        uint8_t image[32];
        worker_image(w, image);
        bool barred = !registry_model_allowed(p->reg, w->model) ||
                      !registry_worker_image_allowed(p->reg, image);
        if (barred == w->rw.barred) continue;
        w->rw.barred = barred;
        kick |= !barred;
        CC_INFO("event=worker_%s id=%llu model=%s reason=\"%s\"", barred ? "barred" : "unbarred",
                (unsigned long long)w->rw.id, w->model,
                barred ? "the registry no longer allows its model or image hash"
                       : "the registry allows it again");
    }
    if (kick) proxy_requests_kick(p);
}

void proxy_worker_close_all(proxy *p, const char *why)
{
    while (!cc_list_empty(&p->all_workers)) {
        pworker *w = cc_list_first(pworker, &p->all_workers, node);
        net_conn *c = w->conn;
        w->conn = NULL;
        proxy_worker_destroy(w, why);
        if (c) net_conn_close(c, why);
    }
}

void proxy_worker_free_all(proxy *p)
{
    proxy_worker_close_all(p, "proxy stopping");
}
