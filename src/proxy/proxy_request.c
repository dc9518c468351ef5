/* Requests through the proxy: choose a worker, forward proxy.runQueryEx,
 * relay the answer stream back as the client.queryAnswer*Ex twins, retry once
 * on another worker when a worker fails before any byte reached the client,
 * time out, and propagate cancellation. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "proxy/proxy_internal.h"

/* Error codes on the client leg (COCOON's, DESIGN §4.1). */

/* ------------------------------------------------------------ bookkeeping */

static void first_byte_timer_stop(preq *r)
{
    if (r->first_byte_timer) evtimer_del(r->first_byte_timer);
}

static void detach_worker(preq *r)
{
    pworker *w = r->worker;
    if (!w) return;
    first_byte_timer_stop(r);
    cc_list_remove(&w->reqs, &r->w_node);
    if (w->rw.active > 0) w->rw.active--;
    if (r->owner && r->owner->active > 0) r->owner->active--;
    proxy_money_detach_worker(r);
    cc_map_del(&r->p->by_wkey, r->wkey);
    r->worker = NULL;
}

static void attach_worker(preq *r, pworker *w)
{
    r->worker = w;
    cc_list_push_front(&w->reqs, &r->w_node);
    w->rw.active++;
    w->requests++;
    if (r->owner) r->owner->active++;
    proxy_money_attach_worker(r, w);
    /* A fresh id for the worker leg, so ids chosen by different clients can
     * never collide on a worker or in the proxy's table. */
    do {
        crypto_rand_pool_get(&r->p->ids, r->worker_rid.b, 32);
        r->wkey = cc_load_u64le(r->worker_rid.b);
    } while (cc_map_get(&r->p->by_wkey, r->wkey));
    cc_map_put(&r->p->by_wkey, r->wkey, r);
}

static void queue_remove(preq *r)
{
    proxy *p = r->p;
    powner *c = r->owner;
    if (!r->queued) return;
    cc_list_remove(&c->queue, &r->q_node);
    r->queued = false;
    p->queue_len--;
    p->queued_bytes -= r->query.len;
    c->queued--;
    c->queued_bytes -= r->query.len;
    if (cc_list_empty(&c->queue) && c->waiting) {
        cc_list_remove(&p->waiting, &c->wait_node);
        c->waiting = false;
    }
}

static void queue_add(preq *r)
{
    proxy *p = r->p;
    powner *c = r->owner;
    r->queued = true;
    cc_list_push_back(&c->queue, &r->q_node);
    p->queue_len++;
    p->queued_bytes += r->query.len;
    c->queued++;
    c->queued_bytes += r->query.len;
    p->stats.queued++;
    if (!c->waiting) {
        cc_list_push_back(&p->waiting, &c->wait_node);
        c->waiting = true;
    }
}

/* Why r may not wait (a limit it would pass), or NULL. One client can hold
 * at most its own share of the queue, so another client's requests still
 * find room; the byte limits bound the proxy's memory, not only the count
 * (100 waiting 8 MiB requests took it from 428 MB to 1.3 GB). */
static const char *queue_refusal(const preq *r)
{
    const proxy *p = r->p;
    const proxy_limits *l = &p->lim;
    const powner *c = r->owner;
    size_t len = r->query.len;
    if (c->queued >= l->client_max_queued)
        return "too many waiting requests from this client (client_max_queued)";
    if (c->queued_bytes + len > l->client_max_queued_bytes)
        return "this client's waiting requests are too large (client_max_queued_bytes)";
    if (p->queue_len >= l->max_queued) return "every worker of this model is busy";
    if (p->queued_bytes + len > l->max_queued_bytes)
        return "every worker of this model is busy and the proxy's queue is full "
               "(max_queued_bytes)";
    return NULL;
}

static bool client_at_cap(const preq *r)
{
    return r->owner && r->owner->active >= r->p->lim.client_max_active;
}

static void finish(preq *r)
{
    proxy *p = r->p;
    bool freed_slot = r->worker != NULL;
    /* Done, but answer parts still wait for the client's credit. */
    bool park = !r->parked && r->client && proxy_flow_holds(r);
    queue_remove(r);
    detach_worker(r);
    proxy_money_release(r); /* a no-op when the request was billed */
    if (freed_slot && p->queue_len) proxy_requests_kick(p);
    if (park) {
        r->parked = true;
        return;
    }
    proxy_flow_free(r);
    proxy_owner_put(r->owner);
    pclient *c = r->client;
    if (c) proxy_client_remove_request(c, r);
    if (r->timer) event_free(r->timer);
    if (r->first_byte_timer) event_free(r->first_byte_timer);
    cc_buf_free(&r->query);
    proxy_seal_free(r->seal);
    free(r->model);
    free(r);
    p->stats.active--;
}

static void fill_client_final(preq *r, tl_client_queryFinalInfo *fi,
                              const tl_proxy_queryFinalInfo *wfi)
{
    fi->hdr.id = TL_ID_client_queryFinalInfo;
    fi->tokens_used.hdr.id = TL_ID_tokensUsed;
    if (wfi) {
        fi->tokens_used = wfi->tokens_used;
        fi->tokens_used.hdr.id = TL_ID_tokensUsed;
        if (r->enable_debug && (wfi->flags & 1u)) fi->worker_debug = wfi->worker_debug;
    }
    /* enable_debug: the proxy's timings as COCOON's proxy writes them
     * (ProxyRunningRequest.cpp generate_proxy_debug_inner). */
    if (r->enable_debug) {
        fi->flags |= 1u;
        snprintf(r->debug_json, sizeof(r->debug_json),
                 "{\"type\":\"proxy_stats\",\"start_time\":%.6f,\"answer_receive_start_at\":%.6f,"
                 "\"answer_receive_end_at\":%.6f}",
                 r->start_wall, r->head_wall ? r->head_wall : r->start_wall, cc_now_wall());
        fi->proxy_debug = tl_str(r->debug_json);
    }
    if (r->client && r->client->proto_version >= 2) {
        fi->flags |= 2u;
        fi->proxy_start_time = r->start_wall;
        fi->proxy_end_time = cc_now_wall();
        if (wfi && (wfi->flags & 2u)) {
            fi->worker_start_time = wfi->worker_start_time;
            fi->worker_end_time = wfi->worker_end_time;
        }
    }
}

static void send_client_error(preq *r, int code, const char *msg,
                              const tl_proxy_queryFinalInfo *wfi)
{
    if (!r->client) return;
    tl_client_queryAnswerErrorEx e = TL_INIT(client_queryAnswerErrorEx);
    e.request_id = r->client_rid;
    e.error_code = code;
    e.error = tl_str(msg);
    e.flags = 1;
    fill_client_final(r, &e.final_info, wfi);
    r->p->io->to_client(r->client, &e.hdr);
}

void proxy_request_finish(preq *r)
{
    finish(r);
}

static void fail_request(preq *r, int code, const char *msg)
{
    CC_INFO("event=request_failed code=%d error=\"%s\" model=%s attempts=%d", code, msg, r->model,
            r->attempts);
    r->p->stats.failed++;
    proxy_flow_drop_queue(r); /* the error ends the answer */
    send_client_error(r, code, msg, NULL);
    finish(r);
}

static void cancel_on_worker(preq *r)
{
    if (!r->worker) return;
    tl_proxy_cancelQuery m = TL_INIT(proxy_cancelQuery);
    m.request_id = r->worker_rid;
    r->p->io->to_worker(r->worker, &m.hdr);
}

/* ---------------------------------------------------------------- routing */

/* Tie-breaking needs spread, not secrecy: a seeded xorshift64 avoids a
 * trip into the kernel's RNG for every request. */
static uint64_t tie_random(proxy *p)
{
    uint64_t x = p->tie_rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return p->tie_rng = x;
}

/* The conversation key our clients put in the last 8 bytes of a request id
 * (random in other clients' ids, so it never matches). */
static uint64_t affinity_key(const preq *r)
{
    return cc_load_u64le(r->client_rid.b + 24);
}

/* The worker for r (index in p->workers), or -1, preferring worker id
 * `prefer` (the conversation's last worker, 0 for none) among equally loaded
 * ones; why_none (optional) receives proxy_route_why_none's reason either way
 * (a pick the send then fails still needs one). A sealed request may only go
 * to a worker the client wrapped its key for. */
static long pick_preferring(preq *r, uint64_t exclude_id, uint64_t rnd, uint64_t prefer,
                            int *why_none)
{
    proxy *p = r->p;
    if (r->seal) return proxy_seal_pick(r, exclude_id, prefer, rnd, why_none);
    long i =
        proxy_route_pick(p->route, p->n_workers, r->model, r->max_coefficient, exclude_id, rnd);
    i = proxy_route_prefer(p->route, p->n_workers, i, prefer, r->model, r->max_coefficient,
                           exclude_id);
    if (why_none)
        *why_none =
            proxy_route_why_none(p->route, p->n_workers, r->model, r->max_coefficient, exclude_id);
    return i;
}

static long pick(preq *r, uint64_t exclude_id, uint64_t rnd, int *why_none)
{
    uint64_t prefer = proxy_affinity_get(r->p->affinity, affinity_key(r));
    return pick_preferring(r, exclude_id, rnd, prefer, why_none);
}

static bool dispatch(preq *r, uint64_t exclude_id)
{
    proxy *p = r->p;
    uint64_t key = affinity_key(r);
    uint64_t prefer = proxy_affinity_get(p->affinity, key);
    long i = pick_preferring(r, exclude_id, tie_random(p), prefer, NULL);
    if (i < 0) return false;
    pworker *w = p->workers[i];
    if (prefer == w->rw.id) p->stats.affinity_hits++;
    proxy_affinity_put(p->affinity, key, w->rw.id);
    attach_worker(r, w);
    r->attempts++;
    r->worker_start_mono = cc_now_mono();
    if (r->seal) {
        if (proxy_seal_dispatch(r, r->timeout - (cc_now_mono() - r->start_mono)) < 0) {
            detach_worker(r);
            return false;
        }
        proxy_flow_dispatched(r);
        return true;
    }
    tl_proxy_signedPaymentEmpty empty = TL_INIT(proxy_signedPaymentEmpty);
    tl_proxy_runQueryEx q = TL_INIT(proxy_runQueryEx);
    q.query = tl_mem(r->query.data, r->query.len);
    q.signed_payment = &empty.hdr;
    q.coefficient = w->rw.coefficient;
    q.timeout = r->timeout - (cc_now_mono() - r->start_mono);
    q.request_id = r->worker_rid;
    if (r->enable_debug) {
        q.flags = 1;
        q.enable_debug = true;
    }
    if (p->io->to_worker(w, &q.hdr) < 0) {
        detach_worker(r);
        return false;
    }
    proxy_flow_dispatched(r);
    if (p->lim.first_byte_timeout > 0 && !r->relayed_any) {
        struct timeval tv = cc_timeval(p->lim.first_byte_timeout);
        evtimer_add(r->first_byte_timer, &tv);
    }
    CC_DEBUG("event=request_routed worker=%llu model=%s attempt=%d", (unsigned long long)w->rw.id,
             r->model, r->attempts);
    return true;
}

/* No worker now (or the client is at its cap): wait for a slot when the
 * model's workers are only busy and the queue limits allow, otherwise fail
 * at once. */
static void no_worker(preq *r, uint64_t exclude_id)
{
    proxy *p = r->p;
    /* 3 when some worker could take it (busy, or free while the client is
     * at its cap); below, no worker ever could. */
    int k0 = 0;
    pick(r, exclude_id, 0, &k0); /* a sealed request: among the workers it was sealed for */
    if (k0 == 3) {
        const char *refused = queue_refusal(r);
        if (!refused) {
            queue_add(r);
            return;
        }
        p->stats.no_worker++;
        p->stats.refused_limits++;
        r->owner->refused_limits++;
        fail_request(r, NET_ERR_NOT_READY, refused);
        return;
    }
    p->stats.no_worker++;
    static const char *const why[] = {
        "no worker serves this model",
        "every worker of this model is disabled",
        "every worker of this model is above max_coefficient",
    };
    fail_request(r, NET_ERR_NOT_READY, why[k0]);
}

/* The worker failed before any byte was relayed: one more try elsewhere. */
static void retry_or_fail(preq *r, int code, const char *msg)
{
    uint64_t failed_id = r->worker ? r->worker->rw.id : 0;
    detach_worker(r);
    if (!r->relayed_any && r->attempts < 2) {
        r->p->stats.retried++;
        CC_INFO("event=request_retry model=%s failed_worker=%llu reason=\"%s\"", r->model,
                (unsigned long long)failed_id, msg);
        if (dispatch(r, failed_id)) return;
    }
    fail_request(r, code, msg);
}

static void on_timeout(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    preq *r = ud;
    r->p->stats.timeouts++;
    cancel_on_worker(r);
    fail_request(r, NET_ERR_TIMEOUT, "request timed out");
}

/* The worker took the request but sent nothing back in first_byte_timeout:
 * it is hung or far behind. Cancel it there and try another worker, as for
 * a worker that failed (no byte reached the client, so a retry is safe). */
static void on_first_byte_timeout(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    preq *r = ud;
    r->p->stats.first_byte_timeouts++;
    if (r->worker) r->worker->failures++;
    cancel_on_worker(r);
    retry_or_fail(r, NET_ERR_TIMEOUT, "the worker sent no answer within first_byte_timeout");
}

/* Serves or fails the first request of c's queue that can go now; false when
 * none can (every worker of their models busy, or c at its cap). */
static bool serve_one(proxy *p, powner *c)
{
    if (c->active >= p->lim.client_max_active) return false;
    cc_list_foreach (preq, r, &c->queue, q_node) {
        /* Look first: a request that still finds no free slot keeps its place. */
        int why = 0;
        if (pick(r, 0, 0, &why) >= 0) {
            queue_remove(r);
            if (!dispatch(r, 0))
                fail_request(r, NET_ERR_FAILURE, "could not send the request to a worker");
            return true;
        }
        if (why == 3) continue; /* every worker of the model is busy: keep waiting */
        queue_remove(r);
        p->stats.no_worker++;
        fail_request(r, NET_ERR_NOT_READY,
                     why == 0   ? "no worker serves this model"
                     : why == 1 ? "every worker of this model is disabled"
                                : "every worker of this model is above max_coefficient");
        /* The next one, read first, stays valid: failing r touches no other
         * queued request. */
    }
    return false;
}

/* Round robin over the client owners with waiting requests: an owner that
 * gets a slot goes to the back of the line, so an owner with thousands
 * waiting, over any number of connections, gets no more of the freed slots
 * than one with a single request. */
static void drain(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    proxy *p = ud;
    for (bool progress = true; progress;) {
        progress = false;
        size_t n = cc_list_count(&p->waiting);
        powner *c = cc_list_first(powner, &p->waiting, wait_node);
        while (n-- > 0 && c) {
            /* Read first: serving c changes only c's place in the line. */
            powner *next = cc_list_next(powner, c, wait_node);
            if (serve_one(p, c)) {
                progress = true;
                if (c->waiting) {
                    cc_list_remove(&p->waiting, &c->wait_node);
                    cc_list_push_back(&p->waiting, &c->wait_node);
                }
            }
            c = next;
        }
    }
}

void proxy_requests_kick(proxy *p)
{
    if (p->queue_len && p->drain_ev) event_active(p->drain_ev, 0, 0);
}

void proxy_requests_init(proxy *p)
{
    /* xorshift stays at zero from a zero seed, which sent every tie to the
     * last tied worker; any non-zero seed works. */
    p->tie_rng = crypto_random_u64() | 1u;
    p->affinity = cc_calloc(1, sizeof(*p->affinity));
    p->drain_ev = event_new(p->base, -1, 0, drain, p);
}

void proxy_requests_free(proxy *p)
{
    if (p->drain_ev) event_free(p->drain_ev);
    p->drain_ev = NULL;
    free(p->affinity);
    p->affinity = NULL;
}

/* ------------------------------------------------------------- client side */

/* Starts a request whose fields are in q (a sealed one passes its visible
 * fields and its sealed body as query); seal is owned from here on. */
static void start(pclient *c, const tl_client_runQueryEx *q, pseal *seal)
{
    proxy *p = c->p;
    if (proxy_client_request(c, &q->request_id)) {
        CC_WARN("event=duplicate_request_id client=%llu", (unsigned long long)c->id);
        proxy_seal_free(seal);
        return; /* the first one is answered; a duplicate cannot be told apart */
    }
    preq *r = cc_calloc(1, sizeof(*r));
    r->seal = seal;
    r->p = p;
    r->client = c;
    r->owner = proxy_client_owner(c);
    r->owner->refs++;
    r->client_rid = q->request_id;
    r->model = tl_bytes_strdup(q->model_name);
    r->max_coefficient = q->max_coefficient;
    r->max_tokens = q->max_tokens;
    r->enable_debug = (q->flags & 1u) && q->enable_debug;
    r->timeout =
        q->timeout > 0 && q->timeout < p->request_timeout ? q->timeout : p->request_timeout;
    r->start_wall = cc_now_wall();
    r->start_mono = cc_now_mono();
    cc_buf_append(&r->query, q->query.data, q->query.len);
    proxy_client_add_request(c, r);
    proxy_flow_start(r);
    c->requests++;
    p->stats.requests++;
    p->stats.active++;
    char why[300];
    int code = proxy_money_reserve(r, q, why, sizeof(why));
    if (code) {
        p->stats.refused_balance++;
        fail_request(r, code, why);
        return;
    }
    const char *cwhy; /* after the balance, as ProxyRunner.cpp forward_query */
    if ((code = proxy_check_config_version(p, q->min_config_version, &cwhy)) != 0) {
        fail_request(r, code, cwhy);
        return;
    }
    if (p->disabled) { /* ProxyRunner.cpp choose_connection */
        fail_request(r, NET_ERR_NOT_READY, "proxy is disabled");
        return;
    }
    r->timer = evtimer_new(p->base, on_timeout, r);
    r->first_byte_timer = evtimer_new(p->base, on_first_byte_timeout, r);
    struct timeval tv = cc_timeval(r->timeout);
    evtimer_add(r->timer, &tv);
    if (client_at_cap(r) || !dispatch(r, 0)) no_worker(r, 0);
}

void proxy_request_start(pclient *c, const tl_client_runQueryEx *q)
{
    start(c, q, NULL);
}

void proxy_request_start_sealed(pclient *c, const tl_client_runSealedQuery *q)
{
    const char *why = NULL;
    pseal *seal = proxy_seal_new(q, &why);
    if (!seal) {
        tl_client_queryAnswerErrorEx e = TL_INIT(client_queryAnswerErrorEx);
        e.request_id = q->request_id;
        e.error_code = NET_ERR_ERROR;
        e.error = tl_str(why);
        e.flags = 1;
        e.final_info.hdr.id = TL_ID_client_queryFinalInfo;
        e.final_info.tokens_used.hdr.id = TL_ID_tokensUsed;
        c->p->io->to_client(c, &e.hdr);
        return;
    }
    /* The fields the proxy may see; the body stays sealed. */
    tl_client_runQueryEx v = TL_INIT(client_runQueryEx);
    v.model_name = q->model_name;
    v.query = q->body;
    v.max_coefficient = q->max_coefficient;
    v.max_tokens = q->max_tokens;
    v.timeout = q->timeout;
    v.request_id = q->request_id;
    start(c, &v, seal);
}

void proxy_request_cancel_from_client(pclient *c, const tl_int256 *rid)
{
    preq *r = proxy_client_request(c, rid);
    if (!r) return;
    c->p->stats.cancelled++;
    CC_INFO("event=request_cancelled by=client model=%s", r->model);
    cancel_on_worker(r);
    proxy_flow_drop_queue(r);
    finish(r);
}

void proxy_requests_client_gone(pclient *c)
{
    while (!cc_list_empty(&c->reqs)) {
        preq *r = cc_list_first(preq, &c->reqs, c_node);
        c->p->stats.cancelled++;
        cancel_on_worker(r);
        queue_remove(r); /* while r->client still names its queue */
        r->client = NULL;
        proxy_client_remove_request(c, r);
        finish(r);
    }
}

/* ------------------------------------------------------------- worker side */

void proxy_requests_worker_gone(pworker *w)
{
    while (!cc_list_empty(&w->reqs)) {
        preq *r = cc_list_first(preq, &w->reqs, w_node);
        retry_or_fail(r, NET_ERR_FAILURE, "worker disconnected");
    }
}

preq *proxy_request_lookup(pworker *w, const tl_int256 *rid)
{
    preq *r = cc_map_get(&w->p->by_wkey, cc_load_u64le(rid->b));
    if (!r || r->worker != w || memcmp(r->worker_rid.b, rid->b, 32) != 0) return NULL;
    return r;
}

/* COCOON's finish_request: the request's tokens move from the client's
 * account to the worker's, then each side hears its account's totals
 * (committed to the database, and everything), with the latest voucher of
 * the account (proxy.signedPaymentEmpty until a save_state covers some). */
static void send_payments(preq *r, const tl_proxy_queryFinalInfo *fi)
{
    proxy *p = r->p;
    ledger_client *ca = r->acct; /* proxy_money_bill clears r->acct */
    int64_t tokens = proxy_money_bill(r, fi ? fi->tokens_used.total_tokens_used : 0);
    tl_proxy_signedPaymentEmpty empty = TL_INIT(proxy_signedPaymentEmpty);
    if (r->worker) {
        ledger_worker *wa = proxy_money_worker(r->worker);
        tl_proxy_workerRequestPayment m = TL_INIT(proxy_workerRequestPayment);
        tl_proxy_signedPayment sp;
        m.request_id = r->worker_rid;
        m.signed_payment = proxy_signed_payment(wa ? &wa->pay : NULL, &sp, &empty.hdr);
        m.db_tokens = wa ? ledger_payments_committed_db(&wa->pay) : 0;
        m.max_tokens = wa ? wa->pay.max : 0;
        m.request_tokens = tokens;
        m.request_client_owner = tl_str(ca ? ca->owner : "");
        /* The worker's answer is complete: nothing waits on this notice. */
        (p->io->to_worker_later ? p->io->to_worker_later : p->io->to_worker)(r->worker, &m.hdr);
    }
    if (r->client) {
        tl_proxy_clientRequestPayment m = TL_INIT(proxy_clientRequestPayment);
        tl_proxy_signedPayment sp;
        m.request_id = r->client_rid;
        m.signed_payment = proxy_signed_payment(ca ? &ca->pay : NULL, &sp, &empty.hdr);
        m.db_tokens = ca ? ledger_payments_committed_db(&ca->pay) : 0;
        m.max_tokens = ca ? ca->pay.max : 0;
        m.request_tokens = tokens;
        p->io->to_client(r->client, &m.hdr);
    }
}

static void complete(preq *r, const tl_proxy_queryFinalInfo *fi)
{
    proxy *p = r->p;
    pworker *w = r->worker;
    send_payments(r, fi);
    if (w)
        w->rw.avg_time =
            proxy_route_update_avg(w->rw.avg_time, cc_now_mono() - r->worker_start_mono);
    p->stats.ok++;
    char ms[32]; /* printf's float path was a visible part of a request's CPU */
    cc_fmt_fixed(ms, (cc_now_mono() - r->start_mono) * 1e3, 1);
    CC_INFO("event=request_done model=%s worker=%llu ms=%s prompt_tokens=%lld "
            "completion_tokens=%lld",
            r->model, (unsigned long long)(w ? w->rw.id : 0), ms,
            (long long)(fi ? fi->tokens_used.prompt_tokens_used : 0),
            (long long)(fi ? fi->tokens_used.completion_tokens_used : 0));
    finish(r);
}

/* A TL string or bytes field at p[*off] (short or long length form): moves *off past it and its
 * padding; false when it does not fit in n bytes. */
static bool skip_tl_bytes(const uint8_t *p, size_t n, size_t *off)
{
    size_t o = *off, len, head;
    if (o >= n) return false;
    if (p[o] < 254) {
        len = p[o];
        head = 1;
    } else if (p[o] == 254 && n - o >= 4) {
        len = (size_t)p[o + 1] | (size_t)p[o + 2] << 8 | (size_t)p[o + 3] << 16;
        head = 4;
    } else {
        return false;
    }
    size_t total = (head + len + 3) & ~(size_t)3;
    if (total > n - o) return false;
    *off = o + total;
    return true;
}

/* A short TL string (len < 254) with its padding. */
static void put_tl_str(cc_buf *out, const char *s, size_t len)
{
    static const uint8_t zero[4] = {0};
    cc_buf_append_u8(out, (uint8_t)len);
    cc_buf_append(out, s, len);
    cc_buf_append(out, zero, (4 - (1 + len) % 4) % 4);
}

/* COCOON's proxy adds X-Cocoon-Proxy-Start/End to the worker's
 * http.response (ProxyRunningRequest.cpp process_answer_ex_impl). The head
 * is walked, not decoded: the two headers go in after the last one, the
 * count is raised by two, the rest is copied as it came (decoding and
 * re-encoding it was a visible part of the proxy's CPU per request).
 * Returns false, and the head goes on as it came, when it is not a whole
 * http.response. */
static bool add_timing_headers(const preq *r, tl_bytes answer, cc_buf *out)
{
    const uint8_t *p = answer.data;
    size_t n = answer.len, off = 4;
    uint32_t id;
    if (tl_peek_id(p, n, &id) < 0 || id != TL_ID_http_response) return false;
    if (!skip_tl_bytes(p, n, &off) || n - off < 4) return false; /* http_version */
    off += 4;                                                    /* status_code */
    if (!skip_tl_bytes(p, n, &off) || n - off < 4) return false; /* reason */
    size_t count_at = off;
    uint32_t count = cc_load_u32le(p + off);
    off += 4;
    if (count > (n - off) / 8) return false; /* each header takes at least 8 bytes */
    for (uint32_t i = 0; i < 2 * count; i++)
        if (!skip_tl_bytes(p, n, &off)) return false;
    size_t headers_end = off;
    if (!skip_tl_bytes(p, n, &off) || off != n) return false; /* payload, then nothing */
    char t0[32], t1[32];
    size_t l0 = cc_fmt_fixed(t0, r->start_wall, 6), l1 = cc_fmt_fixed(t1, cc_now_wall(), 6);
    cc_buf_reserve(out, n + 96);
    cc_buf_append(out, p, count_at);
    uint8_t c[4];
    cc_store_u32le(c, count + 2);
    cc_buf_append(out, c, 4);
    cc_buf_append(out, p + count_at + 4, headers_end - count_at - 4);
    put_tl_str(out, "X-Cocoon-Proxy-Start", 20);
    put_tl_str(out, t0, l0);
    put_tl_str(out, "X-Cocoon-Proxy-End", 18);
    put_tl_str(out, t1, l1);
    cc_buf_append(out, p + headers_end, n - headers_end);
    return true;
}

/* Relays one answer message. Body parts keep their bytes borrowed from the
 * worker's frame: the only copy is the encoding into the outgoing frame
 * buffer (the head is decoded once more, for the timing headers). */
void proxy_relay_answer(pworker *w, const tl_obj *msg)
{
    proxy *p = w->p;
    if (msg->id == TL_ID_proxy_queryAnswerErrorEx) {
        const tl_proxy_queryAnswerErrorEx *e = (const tl_proxy_queryAnswerErrorEx *)msg;
        preq *r = proxy_request_lookup(w, &e->request_id);
        if (!r) return;
        char *text = tl_bytes_strdup(e->error);
        w->failures++;
        if (!r->relayed_any) {
            retry_or_fail(r, e->error_code ? e->error_code : NET_ERR_ERROR, text);
        } else {
            p->stats.failed++;
            send_client_error(r, e->error_code ? e->error_code : NET_ERR_ERROR, text,
                              (e->flags & 1u) ? &e->final_info : NULL);
            /* Part of the answer reached the client: as COCOON's
             * finish_request on a failure, the tokens spent are billed. */
            /* A sealed answer is billed from its receipt only, and a
             * failed one has none. */
            send_payments(r, (e->flags & 1u) && !r->seal ? &e->final_info : NULL);
            finish(r);
        }
        free(text);
        return;
    }
    /* queryAnswerEx and queryAnswerPartEx declare the same fields, so their
     * generated structs are interchangeable (checked below); the encoder
     * picks the constructor from hdr.id. */
    _Static_assert(sizeof(tl_proxy_queryAnswerEx) == sizeof(tl_proxy_queryAnswerPartEx) &&
                       offsetof(tl_proxy_queryAnswerEx, final_info) ==
                           offsetof(tl_proxy_queryAnswerPartEx, final_info) &&
                       sizeof(tl_client_queryAnswerEx) == sizeof(tl_client_queryAnswerPartEx) &&
                       offsetof(tl_client_queryAnswerEx, final_info) ==
                           offsetof(tl_client_queryAnswerPartEx, final_info),
                   "answer head and part structs must match");
    const tl_proxy_queryAnswerPartEx *a = (const tl_proxy_queryAnswerPartEx *)msg;
    preq *r = proxy_request_lookup(w, &a->request_id);
    if (!r) return; /* finished or cancelled meanwhile */
    bool counted = msg->id == TL_ID_proxy_queryAnswerPartEx;
    cc_err ferr;
    if (counted && proxy_flow_from_worker(r, a->answer.len, &ferr) < 0) {
        CC_WARN("event=flow_violation worker=%llu error=\"%s\"", (unsigned long long)w->rw.id,
                ferr.msg);
        w->failures++;
        cancel_on_worker(r);
        fail_request(r, NET_ERR_PROTOCOL, ferr.msg);
        return;
    }
    if (!r->relayed_any) {
        r->relayed_any = true;
        first_byte_timer_stop(r);
        cc_buf_free(&r->query); /* no retry from here on */
    }
    bool final = (a->flags & 1u) != 0;
    if (r->seal) {
        proxy_seal_on_part(r, &a->answer);
        char why[200];
        if (final && proxy_seal_check_receipt(r, &a->final_info, why, sizeof(why)) < 0) {
            /* Nothing is billed, and the client hears why its answer ends. */
            CC_WARN("event=receipt_refused worker=%llu reason=\"%s\"", (unsigned long long)w->rw.id,
                    why);
            p->stats.receipts_refused++;
            w->failures++;
            p->stats.failed++;
            send_client_error(r, NET_ERR_ERROR, why, NULL);
            send_payments(r, NULL);
            finish(r);
            return;
        }
        if (final) proxy_seal_forward_receipt(r);
    }
    tl_client_queryAnswerPartEx out = TL_INIT(client_queryAnswerPartEx);
    out.request_id = r->client_rid;
    out.answer = a->answer;
    cc_buf timed = CC_BUF_INIT;
    if (msg->id == TL_ID_proxy_queryAnswerEx) {
        out.hdr.id = TL_ID_client_queryAnswerEx;
        r->head_wall = cc_now_wall();
        if (add_timing_headers(r, a->answer, &timed)) out.answer = tl_mem(timed.data, timed.len);
    }
    if (final) {
        out.flags = 1;
        fill_client_final(r, &out.final_info, &a->final_info);
    }
    int go = r->client ? proxy_flow_to_client(r, &out.hdr, counted ? out.answer.len : 0) : 0;
    if (go > 0) {
        p->stats.parts_relayed++;
        p->stats.bytes_relayed += a->answer.len;
        p->io->to_client(r->client, &out.hdr);
    }
    cc_buf_free(&timed);
    if (go < 0) { /* a worker without flow control outran the client's credit */
        cancel_on_worker(r);
        fail_request(r, NET_ERR_FAILURE, "the client does not read this answer");
        return;
    }
    if (final) complete(r, &a->final_info);
}
