/* Requests on the worker: decode proxy.runQueryEx, run it on the backend and
 * stream the answer back as proxy.queryAnswerEx / proxy.queryAnswerPartEx,
 * ending with the final info (token usage, times) or proxy.queryAnswerErrorEx. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "worker/worker_internal.h"

#define MAX_HEADERS 64
/* Same name as CLIENT_MAX_TOKENS_HEADER (the layers do not include each other). */
#define WORKER_MAX_TOKENS_HEADER "X-Cocoon-Max-Tokens"

static void index_req(worker *w, wreq *r)
{
    uint64_t key = cc_load_u64le(r->request_id.b);
    r->rid_next = cc_map_get(&w->by_rid, key);
    cc_map_put(&w->by_rid, key, r);
    cc_list_push_front(&w->reqs, &r->node);
}

void worker_req_unlink(wreq *r)
{
    worker *w = r->w;
    cc_list_remove(&w->reqs, &r->node);
    uint64_t key = cc_load_u64le(r->request_id.b);
    wreq *head = cc_map_get(&w->by_rid, key);
    if (head == r) {
        if (r->rid_next)
            cc_map_put(&w->by_rid, key, r->rid_next);
        else
            cc_map_del(&w->by_rid, key);
    } else {
        for (wreq *o = head; o; o = o->rid_next)
            if (o->rid_next == r) {
                o->rid_next = r->rid_next;
                break;
            }
    }
    r->rid_next = NULL;
    worker_renew_request_ended(w); /* a link waiting to reconnect may now */
}

static void unlink_req(wreq *r)
{
    worker_req_unlink(r);
    r->w->active--;
}

static void fill_final(wreq *r, tl_proxy_queryFinalInfo *fi, const backend_usage *u)
{
    fi->hdr.id = TL_ID_proxy_queryFinalInfo;
    fi->tokens_used.hdr.id = TL_ID_tokensUsed;
    if (u) {
        /* What the proxy bills: COCOON's adjusted counts, not the raw ones. */
        ledger_multipliers m;
        ledger_tokens t;
        worker_multipliers(r->w, &m);
        worker_count_tokens(u, r->coefficient, &m, &t);
        fi->tokens_used.prompt_tokens_used = t.prompt;
        fi->tokens_used.cached_tokens_used = t.cached;
        fi->tokens_used.completion_tokens_used = t.completion;
        fi->tokens_used.reasoning_tokens_used = t.reasoning;
        fi->tokens_used.total_tokens_used = t.total;
    }
    /* enable_debug: the worker's timings as COCOON's worker writes them
     * (WorkerRunningRequest.cpp generate_worker_debug_inner). */
    if (r->debug) {
        snprintf(r->debug_json, sizeof(r->debug_json),
                 "{\"type\":\"worker_stats\",\"start_time\":%.6f,\"answer_receive_start_at\":%.6f,"
                 "\"answer_receive_end_at\":%.6f}",
                 r->start_wall, r->head_wall ? r->head_wall : r->start_wall, cc_now_wall());
        fi->flags |= 1u;
        fi->worker_debug = tl_str(r->debug_json);
    }
    /* Protocol v2 adds the worker's timestamps. */
    if (r->link && r->link->proto_version >= 2) {
        fi->flags |= 2u;
        fi->worker_start_time = r->start_wall;
        fi->worker_end_time = cc_now_wall();
    }
}

static void send_error(wlink *l, const tl_int256 *id, int code, const char *msg, wreq *r,
                       const backend_usage *u)
{
    tl_proxy_queryAnswerErrorEx e = TL_INIT(proxy_queryAnswerErrorEx);
    e.request_id = *id;
    e.error_code = code;
    e.error = tl_str(msg);
    e.flags = 1;
    if (r)
        fill_final(r, &e.final_info, u);
    else {
        e.final_info.hdr.id = TL_ID_proxy_queryFinalInfo;
        e.final_info.tokens_used.hdr.id = TL_ID_tokensUsed;
    }
    daemon_link_send(l, &e.hdr);
}

/* Headers that describe the backend's own framing; the client re-frames. */
static bool hop_by_hop(const char *name)
{
    return !strcasecmp(name, "transfer-encoding") || !strcasecmp(name, "content-length") ||
           !strcasecmp(name, "connection") || !strcasecmp(name, "keep-alive");
}

/* ------------------------------------------------------------- answers
 *
 * What the backend produces within one turn of the event loop goes out as one
 * message: the head waits for the body bytes of the same turn (they ride in
 * http.response.payload), body chunks are joined, and the last ones carry the
 * final info. A small answer is then one message instead of four, on every hop
 * down to the client, without delaying any byte past the current turn. */

static void clear_head(wreq *r)
{
    for (size_t i = 0; i < 2 * r->n_head_headers; i++)
        free(r->head_headers[i]);
    free(r->head_headers);
    r->head_headers = NULL;
    r->n_head_headers = 0;
}

static void undirty(wreq *r)
{
    worker *w = r->w;
    if (!r->dirty) return;
    cc_list_remove(&w->dirty, &r->dirty_node);
    r->dirty = false;
}

static void mark_dirty(wreq *r)
{
    worker *w = r->w;
    if (r->dirty) return;
    r->dirty = true;
    cc_list_push_front(&w->dirty, &r->dirty_node);
    event_active(w->flush_ev, 0, 0);
}

/* The bytes an answer message carries: the plain ones, or for a sealed
 * request the next sealed part (in r->sealed, valid until the next call);
 * the final part is preceded by the signed receipt, which names the hash of
 * every sealed part including this one. 1: the final message must wait for
 * its receipt's batch signature (send_answer). */
static int answer_bytes(wreq *r, bool final, const uint8_t *data, size_t len, tl_bytes *out,
                        const tl_proxy_queryFinalInfo *fi)
{
    if (!r->seal) {
        *out = tl_mem(data, len);
        return 0;
    }
    cc_err err;
    cc_buf_reset(&r->sealed);
    if (worker_seal_part(r->seal, final, data, len, &r->sealed, &err) < 0) {
        CC_ERROR("event=seal_failed error=\"%s\"", err.msg);
        return -1;
    }
    *out = tl_mem(r->sealed.data, r->sealed.len);
    if (final && worker_seal_send_receipt(r->seal, r->link, &r->request_id, fi, r->coefficient))
        return 1; /* the final message waits for its receipt's batch */
    return 0;
}

static void send_answer(wreq *r, int how, const tl_obj *msg)
{
    if (how == 1)
        worker_seal_send_final(r->seal, r->link, msg);
    else
        daemon_link_send(r->link, msg);
}

/* Sends one answer part of len bytes (sealed when the request is); with
 * `final`, flags bit 0 and the final info. Returns the bytes the part's
 * answer took (what flow control counts), or -1. */
long worker_send_part(wreq *r, bool final, const uint8_t *data, size_t len,
                      const backend_usage *usage)
{
    tl_proxy_queryAnswerPartEx p = TL_INIT(proxy_queryAnswerPartEx);
    p.request_id = r->request_id;
    if (final) {
        p.flags = 1;
        fill_final(r, &p.final_info, usage);
    }
    int how = answer_bytes(r, final, data, len, &p.answer, &p.final_info);
    if (how < 0) return -1;
    send_answer(r, how, &p.hdr);
    return (long)p.answer.len;
}

/* Sends what is pending for r: the head (with the body so far as payload) or
 * a body part; with `final`, flags bit 0 and the final info. Under flow
 * control the head carries no body (heads are not counted) and the body goes
 * in parts within the credit (worker_flow.c). Returns false when bytes (or
 * the final part) still wait for credit. */
bool worker_send_pending(wreq *r, bool final, const backend_usage *usage)
{
    undirty(r);
    if (!r->link) {
        cc_buf_reset(&r->pending);
        clear_head(r);
        r->head_pending = false;
        return true;
    }
    if (r->head_pending) {
        tl_http_header hs[MAX_HEADERS + 2];
        for (size_t i = 0; i < r->n_head_headers; i++) {
            hs[i].hdr.id = TL_ID_http_header;
            hs[i].name = tl_str(r->head_headers[2 * i]);
            hs[i].value = tl_str(r->head_headers[2 * i + 1]);
        }
        /* COCOON's worker times every answer in two headers the client
         * passes on (WorkerRunningRequest.cpp send_answer). */
        char t0[32], t1[32];
        cc_fmt_fixed(t0, r->start_wall, 6);
        cc_fmt_fixed(t1, cc_now_wall(), 6);
        size_t nh = r->n_head_headers;
        hs[nh++] = (tl_http_header){.hdr = {.id = TL_ID_http_header},
                                    .name = tl_str("X-Cocoon-Worker-Start"),
                                    .value = tl_str(t0)};
        hs[nh++] = (tl_http_header){.hdr = {.id = TL_ID_http_header},
                                    .name = tl_str("X-Cocoon-Worker-End"),
                                    .value = tl_str(t1)};
        tl_http_response resp = TL_INIT(http_response);
        resp.http_version = tl_str("HTTP/1.1");
        resp.status_code = r->head_status;
        resp.reason = tl_str(r->head_status == 200 ? "OK" : "");
        resp.headers.n = nh;
        resp.headers.items = hs;
        bool head_final = final && (!r->flow || !r->pending.len);
        if (!r->flow || head_final) resp.payload = tl_mem(r->pending.data, r->pending.len);
        cc_buf enc = CC_BUF_INIT;
        cc_err err;
        if (tl_encode(&resp.hdr, &enc, &err) < 0) {
            CC_ERROR("event=encode_failed what=http.response error=\"%s\"", err.msg);
        } else {
            tl_proxy_queryAnswerEx a = TL_INIT(proxy_queryAnswerEx);
            a.request_id = r->request_id;
            if (head_final) {
                a.flags = 1;
                fill_final(r, &a.final_info, usage);
            }
            int how = answer_bytes(r, head_final, enc.data, enc.len, &a.answer, &a.final_info);
            if (how >= 0) send_answer(r, how, &a.hdr);
        }
        cc_buf_free(&enc);
        clear_head(r);
        r->head_pending = false;
        if (head_final || !r->flow) {
            cc_buf_reset(&r->pending);
            return true;
        }
    }
    if (r->flow) return worker_flow_send(r, final, usage); /* within the proxy's credit */
    if (r->pending.len || final) worker_send_part(r, final, r->pending.data, r->pending.len, usage);
    cc_buf_reset(&r->pending);
    return true;
}

void worker_req_free(wreq *r)
{
    undirty(r);
    clear_head(r);
    cc_buf_free(&r->pending);
    cc_buf_free(&r->sealed);
    worker_seal_free(r->seal);
    free(r);
}

void worker_flush_pending(worker *w)
{
    while (!cc_list_empty(&w->dirty))
        worker_send_pending(cc_list_first(wreq, &w->dirty, dirty_node), false, NULL);
}

static void on_head(void *ud, int status, const backend_header *headers, size_t n)
{
    wreq *r = ud;
    r->head_sent = true;
    r->head_wall = cc_now_wall();
    if (!r->link) return;
    r->head_status = status;
    r->head_headers = cc_calloc(2 * CC_MIN(n, (size_t)MAX_HEADERS) + 1, sizeof(char *));
    for (size_t i = 0; i < n && r->n_head_headers < MAX_HEADERS; i++) {
        if (hop_by_hop(headers[i].name)) continue;
        r->head_headers[2 * r->n_head_headers] = cc_strdup(headers[i].name);
        r->head_headers[2 * r->n_head_headers + 1] = cc_strdup(headers[i].value);
        r->n_head_headers++;
    }
    r->head_pending = true;
    mark_dirty(r);
}

/* The hot path: body bytes join the pending buffer until the end of this turn. */
static void on_body(void *ud, const uint8_t *data, size_t len)
{
    wreq *r = ud;
    if (!r->link || len == 0) return;
    r->body_bytes += len;
    cc_buf_append(&r->pending, data, len);
    mark_dirty(r);
    if (r->flow) worker_flow_pace(r);
}

static void on_done(void *ud, const backend_usage *usage, int error_code, const char *error)
{
    wreq *r = ud;
    worker *w = r->w;
    r->call = NULL;
    if (usage) {
        w->stats.prompt_tokens += (uint64_t)CC_MAX(usage->prompt_tokens, 0);
        w->stats.completion_tokens += (uint64_t)CC_MAX(usage->completion_tokens, 0);
    }
    w->stats.body_bytes += r->body_bytes;
    /* Served: what the proxy bills, i.e. a completed answer, or a failed one
     * some of whose bytes already left (a failure before that is retried). */
    if (usage && r->link && (error_code == 0 || !r->head_pending)) {
        ledger_multipliers m;
        ledger_tokens t;
        worker_multipliers(w, &m);
        worker_count_tokens(usage, r->coefficient, &m, &t);
        w->money.tokens_served += t.total;
    }
    if (error_code == NET_ERR_CANCELLED)
        w->stats.cancelled++;
    else if (error_code != 0)
        w->stats.failed++;
    else
        w->stats.ok++;
    if (error_code != 0) {
        if (r->head_pending) {
            /* Nothing left this worker yet: drop it, so the proxy may still
             * retry the request elsewhere. */
            r->head_pending = false;
            clear_head(r);
            cc_buf_reset(&r->pending);
            undirty(r);
        } else {
            worker_send_pending(r, false, NULL); /* bytes produced before the failure */
        }
        if (r->link)
            send_error(r->link, &r->request_id, error_code, error ? error : "backend error", r,
                       usage);
    } else {
        if (!r->head_sent) on_head(r, 200, NULL, 0);
        if (!worker_send_pending(r, true, usage)) {
            /* The last bytes wait for the proxy's credit (worker_flow.c). */
            r->lingering = true;
            if (usage) r->usage = *usage;
        }
    }
    char ms[32]; /* printf's float path was a visible part of a request's CPU */
    cc_fmt_fixed(ms, (cc_now_wall() - r->start_wall) * 1e3, 1);
    CC_INFO("event=request_done proxy=%s status=%s code=%d ms=%s completion_tokens=%lld",
            r->link ? r->link->addr : "-", error_code ? "error" : "ok", error_code, ms,
            (long long)(usage ? usage->completion_tokens : 0));
    if (r->lingering) {
        return; /* stays in w->reqs, and active, until its bytes left */
    }
    unlink_req(r);
    if (r->in_start) {
        r->done_in_start = true; /* freed by the starter once start() returns */
        return;
    }
    worker_req_free(r);
}

/* What proxy.runQueryEx and proxy.runSealedQuery share; seal (owned from
 * here on) is NULL for a plain request. */
typedef struct run_args {
    tl_bytes query; /* the http.request */
    tl_int256 request_id;
    int64_t coefficient;
    double timeout;
    wseal *seal;
    bool debug; /* enable_debug (plain requests only: sealed ones carry no flags) */
    const tl_obj *signed_payment; /* runQueryEx's (sealed requests carry none) */
} run_args;

static void run_http(wlink *l, run_args *q)
{
    worker *w = wlink_worker(l);
    cc_err err;
    tl_decode_opts o = {.flags = TL_DECODE_BORROW, .expect_type = 0};
    tl_obj *inner = tl_decode_ex(q->query.data, q->query.len, &o, &err);
    if (!inner || inner->id != TL_ID_http_request) {
        w->stats.rejected++;
        send_error(l, &q->request_id, NET_ERR_ERROR,
                   inner ? "query is not an http.request" : err.msg, NULL, NULL);
        tl_obj_free(inner);
        worker_seal_free(q->seal);
        return;
    }
    tl_http_request *hr = (tl_http_request *)inner;
    worker_money_on_signed(w, l, q->signed_payment);
    char why[200];
    if (!worker_money_admits(w, l, why, sizeof(why))) {
        w->stats.rejected++;
        send_error(l, &q->request_id, NET_ERR_ERROR, why, NULL, NULL);
        tl_obj_free(inner);
        worker_seal_free(q->seal);
        return;
    }
    if (w->active >= w->max_active) {
        w->stats.rejected++;
        send_error(l, &q->request_id, NET_ERR_NOT_READY, "worker is at its request limit", NULL,
                   NULL);
        tl_obj_free(inner);
        worker_seal_free(q->seal);
        return;
    }
    /* Strings for the backend must be NUL-terminated; the borrowed decode
     * gives lengths only, so copy the few small ones. */
    char *method = tl_bytes_strdup(hr->method);
    char *url = tl_bytes_strdup(hr->url);
    size_t nh = CC_MIN(hr->headers.n, (size_t)MAX_HEADERS);
    backend_header hs[MAX_HEADERS];
    char *hstore[2 * MAX_HEADERS];
    size_t nk = 0, ns = 0;
    int64_t max_tokens = 0;
    for (size_t i = 0; i < nh; i++) {
        char *name = tl_bytes_strdup(hr->headers.items[i].name);
        char *value = tl_bytes_strdup(hr->headers.items[i].value);
        hstore[ns++] = name;
        hstore[ns++] = value;
        if (!strcasecmp(name, WORKER_MAX_TOKENS_HEADER)) {
            /* The client's cap: enforced here, not passed on. */
            if (cc_parse_i64(value, 1, INT32_MAX, &max_tokens, NULL) < 0) max_tokens = 0;
            continue;
        }
        hs[nk].name = name;
        hs[nk].value = value;
        nk++;
    }
    backend_http_request br = {
        .method = method,
        .path = url,
        .headers = hs,
        .n_headers = nk,
        .max_tokens = max_tokens,
        .body = hr->payload.data,
        .body_len = hr->payload.len,
        .timeout = q->timeout > 0 && q->timeout < 86400 ? q->timeout : 0,
    };
    wreq *r = cc_calloc(1, sizeof(*r));
    r->w = w;
    r->link = l;
    r->request_id = q->request_id;
    r->seal = q->seal;
    r->coefficient = q->coefficient > 0 && q->coefficient <= INT32_MAX ? (int32_t)q->coefficient
                                                                       : w->coefficient;
    r->start_wall = cc_now_wall();
    r->debug = q->debug;
    r->flow = (l->peer_flags & DAEMON_PARAMS_FLAG_FLOW) != 0;
    index_req(w, r);
    w->active++;
    w->stats.total++;
    l->requests++;
    static const backend_callbacks cbs = {on_head, on_body, on_done};
    r->in_start = true;
    int rc = w->backend->ops->start(w->backend, &br, &cbs, r, &r->call, &err);
    r->in_start = false;
    if (rc < 0) {
        unlink_req(r);
        w->stats.failed++;
        send_error(l, &q->request_id, err.code ? err.code : NET_ERR_ERROR, err.msg, r, NULL);
        worker_req_free(r);
    } else if (r->done_in_start) {
        worker_req_free(r);
    }
    free(method);
    free(url);
    for (size_t i = 0; i < ns; i++)
        free(hstore[i]);
    tl_obj_free(inner);
}

static void run_query(wlink *l, const tl_proxy_runQueryEx *q)
{
    run_args a = {q->query,         q->request_id, q->coefficient,
                  q->timeout,       NULL,          (q->flags & 1u) && q->enable_debug,
                  q->signed_payment};
    run_http(l, &a);
}

static void run_sealed(wlink *l, const tl_proxy_runSealedQuery *q)
{
    worker *w = wlink_worker(l);
    cc_buf query = CC_BUF_INIT;
    cc_err err;
    wseal *seal = worker_seal_open(w, q, &query, &err);
    if (!seal) {
        w->stats.rejected++;
        CC_WARN("event=sealed_request_refused proxy=%s error=\"%s\"", l->addr, err.msg);
        send_error(l, &q->request_id, NET_ERR_ERROR, err.msg, NULL, NULL);
    } else {
        w->stats.sealed++;
        run_args a = {tl_mem(query.data, query.len),
                      q->request_id,
                      q->coefficient,
                      q->timeout,
                      seal,
                      false,
                      NULL};
        run_http(l, &a);
    }
    /* The plaintext request is no longer needed (the backend copied it). */
    if (query.data) explicit_bzero(query.data, query.cap);
    cc_buf_free(&query);
}

static wreq *find_req(worker *w, wlink *l, const tl_int256 *id)
{
    for (wreq *r = cc_map_get(&w->by_rid, cc_load_u64le(id->b)); r; r = r->rid_next)
        if (r->link == l && memcmp(r->request_id.b, id->b, 32) == 0) return r;
    return NULL;
}

void worker_handle_packet(wlink *l, const uint8_t *data, size_t len)
{
    cc_err err;
    tl_decode_opts o = {.flags = TL_DECODE_BORROW};
    tl_obj *obj = tl_decode_ex(data, len, &o, &err);
    if (!obj) {
        CC_WARN("event=bad_packet proxy=%s error=\"%s\"", l->addr, err.msg);
        return;
    }
    switch (obj->id) {
    case TL_ID_proxy_runQueryEx:
        run_query(l, (tl_proxy_runQueryEx *)obj);
        break;
    case TL_ID_proxy_runSealedQuery:
        run_sealed(l, (tl_proxy_runSealedQuery *)obj);
        break;
    case TL_ID_proxy_cancelQuery: {
        wreq *r = find_req(wlink_worker(l), l, &((tl_proxy_cancelQuery *)obj)->request_id);
        if (r && r->lingering)
            worker_flow_drop(r); /* its backend is done: only its bytes waited */
        else if (r && r->call) {
            CC_INFO("event=request_cancel proxy=%s", l->addr);
            backend_call *call = r->call;
            r->call = NULL;
            wlink_worker(l)->backend->ops->cancel(
                call); /* on_done(NET_ERR_CANCELLED) follows and frees r */
        }
        break;
    }
    case TL_ID_proxy_streamCredit: {
        const tl_proxy_streamCredit *m = (const tl_proxy_streamCredit *)obj;
        /* Credit for an unknown or finished request is ignored. */
        wreq *r = find_req(wlink_worker(l), l, &m->request_id);
        if (r) worker_flow_on_credit(r, m->bytes);
        break;
    }
    case TL_ID_proxy_workerRequestPayment:
        worker_money_on_payment(wlink_worker(l), l, (const tl_proxy_workerRequestPayment *)obj);
        break;
    default:
        CC_DEBUG("event=packet_ignored proxy=%s id=%s", l->addr, tl_ctor_name(obj->id));
        break;
    }
    tl_obj_free(obj);
}

void worker_link_gone(wlink *l)
{
    worker *w = wlink_worker(l);
    worker_seal_link_gone(w, l);
    cc_list_foreach (wreq, r, &w->reqs, node) {
        if (r->link != l) continue;
        r->link = NULL;
        if (r->lingering) {
            worker_flow_drop(r); /* the foreach read the next one first */
            continue;
        }
        if (r->call) {
            backend_call *call = r->call;
            r->call = NULL;
            /* on_done may run inside cancel and free r: the foreach read
             * the next one first, and cancelling never frees other requests. */
            w->backend->ops->cancel(call);
        }
    }
}

void worker_requests_cancel_all(worker *w)
{
    for (size_t i = 0; i < w->links.n; i++)
        worker_link_gone(&w->links.at[i]);
}
