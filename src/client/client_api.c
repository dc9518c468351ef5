/* The client's OpenAI HTTP API: /v1/chat/completions, /v1/completions,
 * /v1/embeddings, /v1/audio/{transcriptions,translations} and /v1/models[/{id}], forwarded to a
 * proxy as client.runQueryEx / client.getWorkerTypesV2, with answers streamed back as they arrive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/client_internal.h"
#include "crypto/crypto.h"

/* The proxy has the real timeout; ours only guarantees no HTTP caller waits
 * forever if a proxy stays silent. */
#define SAFETY_MARGIN 15.0

/* Production sends: the proxy link and the HTTP server. */
const client_io client_io_net = {
    .send = daemon_link_send,
    .query_models = client_query_models,
    .req_path = http_req_path,
    .req_query = http_req_query,
    .req_body = http_req_body,
    .req_header = http_req_header,
    .stream_pending = http_stream_pending,
    .on_drain = http_req_on_drain,
    .on_caller_gone = http_req_on_close,
    .reply_header = http_reply_header,
    .reply = http_reply,
    .reply_error = http_reply_error,
    .reply_json = http_reply_json,
    .stream_start = http_stream_start,
    .stream_write = http_stream_write,
    .stream_end = http_stream_end,
    .query = daemon_link_query,
};

static void reply_errorf(client *c, http_req *h, int status, const char *code, const char *msg)
{
    openai_error e;
    openai_error_set(&e, status, code, "%s", msg);
    c->io->reply_error(h, &e);
}

static creq *creq_new(client *c, creq_kind kind, http_req *hreq)
{
    creq *r = cc_calloc(1, sizeof(*r));
    r->c = c;
    r->kind = kind;
    r->hreq = hreq;
    cc_list_push_front(&c->all, &r->node);
    return r;
}

static void creq_free(creq *r)
{
    client *c = r->c;
    cc_list_remove(&c->all, &r->node);
    client_money_release(r);
    if (r->key && cc_map_get(&c->reqs, r->key) == r) cc_map_del(&c->reqs, r->key);
    if (r->pending_models) r->pending_models->done = NULL;
    if (r->timer) event_free(r->timer);
    openai_sse_filter_free(r->sse_filter);
    client_seal_free(r->seal);
    cc_buf_free(&r->body);
    cc_buf_free(&r->query);
    free(r->model);
    free(r);
}

static int status_for_code(int code)
{
    switch (code) {
    case NET_ERR_NOT_READY: /* no worker available now */
    case NET_ERR_CANCELLED:
        return 503;
    case NET_ERR_TIMEOUT:
        return 504;
    default:
        return 502;
    }
}

/* COCOON's proxy refuses a request it cannot route with the old
 * client.queryAnswerError, whatever the client's protocol version
 * (ProxyRunner.cpp, forward_query and choose_connection). Its codes are
 * ton::ErrorCode values too coarse to tell the causes apart (651 "notready"
 * is both "no workers" and "balance is too low"; an unknown model is 621), so
 * the text decides, as COCOON words it. */
static int refusal_status(int32_t code, const char *msg, const char **ecode)
{
    if (strstr(msg, "balance is too low")) {
        *ecode = "insufficient_quota";
        return 402;
    }
    if (!strncmp(msg, "unknown model", 13)) {
        *ecode = "model_not_found";
        return 404;
    }
    if (strstr(msg, "no workers for model") || strstr(msg, "no ready workers") ||
        strstr(msg, "can run this query with coefficient") || strstr(msg, "proxy is disabled")) {
        *ecode = "no_worker_available";
        return 503;
    }
    *ecode = code == NET_ERR_NOT_READY ? "no_worker_available" : "network_error";
    return status_for_code(code);
}

/* Ends the HTTP side with an error: a plain OpenAI error before any byte was
 * sent, an SSE error event (no [DONE]) inside a stream. Frees r. */
static void reply_error(creq *r, int status, const char *code, const char *msg)
{
    client *c = r->c;
    c->stats.failed++;
    if (r->hreq) {
        if (r->http_started && r->stream) {
            openai_error e;
            openai_error_set(&e, status, code, "%s", msg);
            char *j = openai_error_json(&e);
            cc_buf ev = CC_BUF_INIT;
            cc_buf_append_fmt(&ev, "data: %s\n\n", j);
            c->io->stream_write(r->hreq, ev.data, ev.len);
            cc_buf_free(&ev);
            free(j);
            c->io->stream_end(r->hreq);
        } else if (r->http_started) {
            c->io->stream_end(r->hreq);
        } else {
            reply_errorf(c, r->hreq, status, code, msg);
        }
        r->hreq = NULL;
    }
    CC_INFO("event=request_failed status=%d error=\"%s\"", status, msg);
    creq_free(r);
}

static void send_cancel(creq *r)
{
    if (!r->link || !r->key) return;
    tl_client_cancelQuery m = TL_INIT(client_cancelQuery);
    m.request_id = r->rid;
    r->c->io->send(r->link, &m.hdr);
}

static void on_caller_gone(http_req *hreq, void *ud)
{
    creq *r = ud;
    r->c->stats.cancelled++;
    CC_INFO("event=request_cancelled by=caller");
    send_cancel(r);
    if (r->http_started)
        r->c->io->stream_end(hreq);
    else
        r->c->io->reply(hreq, 499, "text/plain", "", 0);
    r->hreq = NULL;
    creq_free(r);
}

static void on_timeout(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    creq *r = ud;
    send_cancel(r);
    reply_error(r, 504, "timeout", "the network did not answer in time");
}

/* ------------------------------------------------------------ completions */

static void send_plain(creq *r);
static void reply_error(creq *r, int status, const char *code, const char *msg);

static void seal_fallback(creq *r, int status, const char *why)
{
    if (status) {
        reply_error(r, status, status == 503 ? "sealing_unavailable" : "proxy_error", why);
        return;
    }
    snprintf(r->sealing_note, sizeof(r->sealing_note), "%s", why);
    CC_INFO("event=request_not_sealed reason=\"%s\"", why);
    send_plain(r);
}

static void send_request(creq *r, const clink *avoid)
{
    client *c = r->c;
    if (!client_pick_link(c, avoid)) {
        char why[400];
        reply_error(r, 503, "no_proxy", client_no_proxy_why(c, why, sizeof(why)));
        return;
    }
    /* The proxy reserves this much of our credit before it routes; a request
     * no proxy has the credit for is refused here rather than sent to be
     * refused there. */
    int64_t best = 0, to_reserve = 0;
    clink *l = client_money_pick(c, avoid, r, &best, &to_reserve);
    if (!l) {
        c->stats.refused_quota++;
        for (size_t i = 0; i < c->links.n; i++)
            if (c->links.at[i].state == DAEMON_LINK_READY)
                client_chain_credit_short(&c->links.at[i]);
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "client balance is too low: the request reserves %lld tokens (max_tokens=%lld, "
                 "max_coefficient=%d) and the credit left at any proxy is %lld tokens",
                 (long long)to_reserve, (long long)r->max_tokens, r->max_coefficient,
                 (long long)best);
        reply_error(r, 402, "insufficient_quota", msg);
        return;
    }
    if (r->key) cc_map_del(&c->reqs, r->key);
    do {
        crypto_rand_pool_get(&c->ids, r->rid.b, 32);
        r->key = cc_load_u64le(r->rid.b);
    } while (!r->key || cc_map_get(&c->reqs, r->key));
    if (r->affinity) cc_store_u64le(r->rid.b + 24, r->affinity);
    cc_map_put(&c->reqs, r->key, r);
    r->link = l;
    client_money_reserve(r, l);
    r->attempts++;
    l->requests++;
    if (c->sealing != CLIENT_SEALING_OFF) {
        client_seal_start(r, l, seal_fallback);
        return;
    }
    send_plain(r);
}

/* COCOON's plain client.runQueryEx on r->link (r->rid set). */
static void send_plain(creq *r)
{
    client *c = r->c;
    clink *l = r->link;
    tl_client_runQueryEx q = TL_INIT(client_runQueryEx);
    q.model_name = tl_str(r->model);
    q.query = tl_mem(r->query.data, r->query.len);
    q.max_coefficient = r->max_coefficient;
    q.max_tokens = (int32_t)CC_MIN(r->max_tokens, (int64_t)INT32_MAX);
    q.timeout = r->timeout;
    q.request_id = r->rid;
    q.min_config_version = client_config_version(c);
    if (r->debug) { /* the proxy and the worker add their debug JSON */
        q.flags |= 1u;
        q.enable_debug = true;
    }
    if (c->io->send(l, &q.hdr) < 0)
        reply_error(r, 502, "proxy_error", "could not send the request to the proxy");
    else
        client_flow_begin(r);
}

static void on_models_for_request(client *c, void *ud, bool ok)
{
    creq *r = ud;
    r->pending_models = NULL;
    if (!ok) {
        reply_error(r, 502, "proxy_error", "could not list the network's models");
        return;
    }
    if (!client_find_model(c, r->model)) {
        c->stats.not_found++;
        char msg[300];
        snprintf(msg, sizeof(msg), "The model '%.200s' does not exist or no worker serves it",
                 r->model);
        reply_error(r, 404, "model_not_found", msg);
        return;
    }
    send_request(r, NULL);
}

/* The key of a chat conversation for prefix affinity (0: none): a keyed hash
 * of the model and the conversation's opening (openai_scan_opening), which
 * the proxy sees in the request id and routes by (proxy_route_prefer). */
static uint64_t affinity_key(const client *c, const openai_request *oreq, bool quick,
                             const uint8_t *body, size_t len)
{
    /* The validating scan found the opening on its way; else look for it. */
    size_t off = oreq->opening_off, n = oreq->opening_len;
    if (!c->affinity || (!quick && !openai_scan_opening(body, len, &off, &n)) || !n) return 0;
    const char *model = oreq->model;
    /* Hashed in place: the opening may be a long document, not worth a copy. */
    uint8_t digests[64], mac[32];
    crypto_sha256(model, strlen(model), digests);
    crypto_sha256(body + off, n, digests + 32);
    crypto_hmac_sha256(c->affinity_secret, sizeof c->affinity_secret, digests, sizeof digests, mac);
    uint64_t key = cc_load_u64le(mac);
    return key ? key : 1;
}

void client_api_completion(http_req *hreq, void *ud)
{
    client *c = ud;
    size_t len;
    const uint8_t *body = c->io->req_body(hreq, &len);
    openai_request oreq;
    openai_error e;
    const char *path = c->io->req_path(hreq);
    openai_kind kind = openai_kind_for_path(path);
    ckey *key;
    if (client_keys_check(c, hreq, &key) < 0) return;
    /* Speech to text comes as multipart/form-data and travels as it came. */
    bool audio = openai_kind_is_audio(kind);
    const char *ctype = audio ? c->io->req_header(hreq, "Content-Type") : "application/json";
    /* The common request is checked by a scan of its text; the rest by the full validator. */
    bool quick = !audio && openai_parse_quick(kind, body, len, &oreq);
    if (!quick && (audio ? openai_parse_audio(kind, ctype, body, len, &oreq, &e)
                         : openai_parse(kind, body, len, &oreq, &e)) < 0) {
        c->stats.bad_request++;
        c->io->reply_error(hreq, &e);
        return;
    }
    c->stats.requests++;
    creq *r = creq_new(c, CREQ_COMPLETION, hreq);
    r->api_key = key;
    r->stream = oreq.stream;
    if (oreq.stream && !oreq.include_usage) r->sse_filter = openai_sse_filter_new();
    r->model = cc_strdup(oreq.model);
    if (kind == OPENAI_CHAT) r->affinity = affinity_key(c, &oreq, quick, body, len);
    /* Each of n choices (best_of candidates) may take max_tokens: the reservation, and the
     * query's max_tokens the proxy reserves, cover them all; the cap the worker applies to
     * each stays per choice. */
    int64_t per_choice = oreq.max_tokens > 0 ? oreq.max_tokens : c->max_tokens;
    int64_t choices = CC_MAX(oreq.n, oreq.best_of);
    r->max_tokens = CC_MIN(per_choice * CC_MAX(choices, 1), (int64_t)INT32_MAX);
    r->max_coefficient = oreq.max_coefficient >= 0 ? (int)oreq.max_coefficient : c->max_coefficient;
    r->start = cc_now_mono();
    r->start_wall = cc_now_wall();
    /* A caller may shorten the wait, not lengthen it past the operator's. */
    r->timeout = oreq.timeout > 0 ? CC_MIN(oreq.timeout, c->request_timeout) : c->request_timeout;
    r->debug = oreq.enable_debug;
    if (oreq.request_guid) {
        r->has_guid = true;
        crypto_sha256(oreq.request_guid, strlen(oreq.request_guid), r->guid_key);
    }
    /* COCOON's own fields are the client's: they do not travel on. */
    char *stripped = NULL;
    if (openai_request_strip_cocoon(&oreq)) {
        stripped = json_dumps(oreq.body, JSON_COMPACT);
        body = (const uint8_t *)stripped;
        len = strlen(stripped);
    }
    openai_request_clear(&oreq);

    /* The HTTP request as COCOON carries it: http.request with the body. */
    /* The token cap travels with the request so the worker can enforce it
     * even when the body names none (the client's default applies). */
    char cap[24];
    snprintf(cap, sizeof(cap), "%lld", (long long)per_choice);
    tl_http_header hs[2] = {
        {.hdr = {.id = TL_ID_http_header}, .name = tl_str("Content-Type"), .value = tl_str(ctype)},
        {.hdr = {.id = TL_ID_http_header},
         .name = tl_str(CLIENT_MAX_TOKENS_HEADER),
         .value = tl_str(cap)}};
    tl_http_request hr = TL_INIT(http_request);
    hr.method = tl_str("POST");
    hr.url = tl_str(path);
    hr.http_version = tl_str("HTTP/1.1");
    hr.headers.n = 2;
    hr.headers.items = hs;
    hr.payload = tl_mem(body, len);
    cc_err err;
    int erc = tl_encode(&hr.hdr, &r->query, &err);
    free(stripped);
    if (erc < 0) {
        reply_errorf(c, hreq, 413, "request_too_large", err.msg);
        r->hreq = NULL;
        creq_free(r);
        return;
    }
    c->io->on_caller_gone(hreq, on_caller_gone, r);
    r->timer = evtimer_new(c->base, on_timeout, r);
    struct timeval tv = cc_timeval(r->timeout + SAFETY_MARGIN);
    evtimer_add(r->timer, &tv);

    if (client_find_model(c, r->model)) {
        send_request(r, NULL);
        return;
    }
    /* Not in the cached list: ask afresh before calling it unknown. */
    r->pending_models = c->io->query_models(client_pick_link(c, NULL), on_models_for_request, r);
    if (!r->pending_models) {
        char why[400];
        reply_error(r, 503, "no_proxy", client_no_proxy_why(c, why, sizeof(why)));
    }
}

/* The caller's first byte is its time to first token (of a whole answer,
 * its end). */
static void mark_first_byte(creq *r)
{
    if (r->first_byte) return;
    r->first_byte = true;
    http_histogram_add(&r->c->ttft, cc_now_mono() - r->start);
}

/* fi: the final info of the last answer (NULL when it carried none). */
static void finish_ok(creq *r, const tl_client_queryFinalInfo *fi)
{
    client *c = r->c;
    c->stats.ok++;
    mark_first_byte(r);
    http_histogram_add(&c->latency, cc_now_mono() - r->start);
    if (r->hreq) {
        cc_buf rest = CC_BUF_INIT;
        if (r->http_started && r->sse_filter) openai_sse_filter_finish(r->sse_filter, &rest);
        client_debug_finish(r, fi, &rest);
        if (r->http_started) {
            if (rest.len) c->io->stream_write(r->hreq, rest.data, rest.len);
            cc_buf_free(&rest);
            /* A sealed stream's evidence, as SSE comments (clients skip them). */
            char *trailer = client_seal_evidence(r);
            if (trailer) c->io->stream_write(r->hreq, trailer, strlen(trailer));
            free(trailer);
            c->io->stream_end(r->hreq);
        } else {
            if (r->seal)
                free(client_seal_evidence(r));
            else
                client_seal_head_headers(r);
            c->stats.bytes_out += r->body.len;
            c->io->reply(r->hreq, r->status ? r->status : 200,
                         r->content_type[0] ? r->content_type : "application/json", r->body.data,
                         r->body.len);
            cc_buf_free(&rest);
        }
        r->hreq = NULL;
    }
    char ms[32]; /* printf's float path was a visible part of a request's CPU */
    cc_fmt_fixed(ms, (cc_now_mono() - r->start) * 1e3, 1);
    CC_INFO("event=request_done status=%d stream=%d ms=%s", r->status, r->stream, ms);
    creq_free(r);
}

/* Body bytes: to the caller at once when streaming, else collected. Returns
 * -1 when the caller has gone (r is then freed). */
static int deliver(creq *r, const uint8_t *data, size_t len)
{
    if (len == 0) return 0;
    if (r->http_started) {
        cc_buf kept = CC_BUF_INIT;
        if (r->sse_filter) {
            openai_sse_filter_feed(r->sse_filter, data, len, &kept);
            data = kept.data;
            len = kept.len;
        }
        if (len) mark_first_byte(r);
        int wrc = len ? r->c->io->stream_write(r->hreq, data, len) : 0;
        cc_buf_free(&kept);
        r->c->stats.bytes_out += len;
        if (wrc < 0) {
            send_cancel(r);
            r->c->stats.cancelled++;
            r->c->io->stream_end(r->hreq);
            r->hreq = NULL;
            creq_free(r);
            return -1;
        }
        return 0;
    }
    cc_buf_append(&r->body, data, len);
    return 0;
}

/* Returns -1 when the caller has gone while the head's payload was written
 * (r is then freed). */
static int on_head(creq *r, tl_bytes answer)
{
    cc_err err;
    tl_decode_opts o = {.flags = TL_DECODE_BORROW};
    tl_obj *obj = tl_decode_ex(answer.data, answer.len, &o, &err);
    r->head_done = true;
    r->status = 200;
    if (obj && obj->id == TL_ID_http_response) {
        const tl_http_response *resp = (const tl_http_response *)obj;
        if (resp->status_code >= 100 && resp->status_code <= 599) r->status = resp->status_code;
        for (size_t i = 0; i < resp->headers.n; i++) {
            const tl_http_header *h = &resp->headers.items[i];
            if (h->name.len == 12 && !strncasecmp((const char *)h->name.data, "content-type", 12))
                snprintf(r->content_type, sizeof(r->content_type), "%.*s",
                         (int)CC_MIN(h->value.len, 90), (const char *)h->value.data);
        }
        client_debug_timing_headers(r, resp);
        if (r->stream && r->status == 200) {
            client_seal_head_headers(r);
            r->c->io->stream_start(r->hreq, 200,
                                   r->content_type[0] ? r->content_type : "text/event-stream");
            r->http_started = true;
        }
        if (resp->payload.len) cc_buf_append(&r->body, resp->payload.data, resp->payload.len);
    } else {
        CC_WARN("event=bad_answer_head error=\"%s\"", obj ? "not an http.response" : err.msg);
        client_debug_timing_headers(r, NULL);
    }
    tl_obj_free(obj);
    int rc = 0;
    if (r->http_started && r->body.len) {
        cc_buf pending = r->body;
        r->body = (cc_buf)CC_BUF_INIT;
        rc = deliver(r, pending.data, pending.len);
        cc_buf_free(&pending);
    }
    return rc;
}

/* The final token count of a request (in the last answer's final_info)
 * goes to the caller's API key, once. */
static void charge_key(creq *r, const tl_obj *m)
{
    if (!r->api_key || r->usage_recorded) return;
    const tl_client_queryFinalInfo *fi = NULL;
    if (m->id == TL_ID_client_queryAnswerEx) {
        const tl_client_queryAnswerEx *a = (const tl_client_queryAnswerEx *)m;
        if (a->flags & 1u) fi = &a->final_info;
    } else if (m->id == TL_ID_client_queryAnswerPartEx) {
        const tl_client_queryAnswerPartEx *a = (const tl_client_queryAnswerPartEx *)m;
        if (a->flags & 1u) fi = &a->final_info;
    } else if (m->id == TL_ID_client_queryAnswerErrorEx) {
        const tl_client_queryAnswerErrorEx *a = (const tl_client_queryAnswerErrorEx *)m;
        if (a->flags & 1u) fi = &a->final_info;
    }
    if (!fi) return;
    const tl_tokensUsed *t = &fi->tokens_used;
    int64_t total = t->total_tokens_used > 0 ? t->total_tokens_used
                                             : t->prompt_tokens_used + t->completion_tokens_used;
    r->usage_recorded = true;
    client_keys_charge(r->c, r->api_key, total);
}
static void client_answer_opened(creq *r, uint32_t id, const tl_client_queryAnswerPartEx *a);

void client_handle_answer(clink *l, const tl_obj *m)
{
    client *c = clink_client(l);
    const tl_int256 *rid;
    int32_t error_code = 0;
    tl_bytes error = {0};
    bool is_error = true;
    switch (m->id) {
    case TL_ID_client_queryAnswerErrorEx: {
        const tl_client_queryAnswerErrorEx *e = (const tl_client_queryAnswerErrorEx *)m;
        rid = &e->request_id;
        error_code = e->error_code;
        error = e->error;
        break;
    }
    /* The old refusals carry request_id after the error (cocoon.tl). */
    case TL_ID_client_queryAnswerError: {
        const tl_client_queryAnswerError *e = (const tl_client_queryAnswerError *)m;
        rid = &e->request_id;
        error_code = e->error_code;
        error = e->error;
        break;
    }
    case TL_ID_client_queryAnswerPartError: {
        const tl_client_queryAnswerPartError *e = (const tl_client_queryAnswerPartError *)m;
        rid = &e->request_id;
        error_code = e->error_code;
        error = e->error;
        break;
    }
    default: /* request_id comes first in both *Ex answers */
        rid = &((const tl_client_queryAnswerPartEx *)m)->request_id;
        is_error = false;
        break;
    }
    creq *r = cc_map_get(&c->reqs, cc_load_u64le(rid->b));
    if (!r || r->link != l || memcmp(r->rid.b, rid->b, 32) != 0 || !r->hreq) return;
    charge_key(r, m);
    if (is_error) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%.*s", (int)CC_MIN(error.len, 280), (const char *)error.data);
        const char *ecode;
        if (client_seal_session_lost(r, msg) && r->attempts < 2) {
            c->stats.retried++; /* once, with a new encapsulation */
            send_request(r, NULL);
            return;
        }
        int status = refusal_status(error_code, msg, &ecode);
        reply_error(r, status, ecode, msg);
        return;
    }
    const tl_client_queryAnswerPartEx *a = (const tl_client_queryAnswerPartEx *)m;
    size_t counted = m->id == TL_ID_client_queryAnswerPartEx ? a->answer.len : 0;
    cc_err ferr;
    if (counted && client_flow_receive(r, counted, &ferr) < 0) {
        CC_WARN("event=flow_violation proxy=%s error=\"%s\"", l->addr, ferr.msg);
        send_cancel(r);
        reply_error(r, 502, "proxy_error", ferr.msg);
        return;
    }
    tl_client_queryAnswerPartEx opened;
    cc_buf plain = CC_BUF_INIT;
    if (r->seal) {
        /* Everything below sees the opened bytes; nothing reaches the caller
         * from a part that does not open in its place. */
        cc_err err;
        if (client_seal_open(r, (a->flags & 1u) != 0, a->answer, &plain, &err) < 0) {
            CC_WARN("event=sealed_answer_refused error=\"%s\"", err.msg);
            send_cancel(r);
            reply_error(r, 502, "sealing_error", err.msg);
            cc_buf_free(&plain);
            return;
        }
        /* The last part is held back until the receipt matches the whole
         * answer: nothing unvouched-for reaches the caller. */
        if ((a->flags & 1u) && client_seal_check(r, &a->final_info, &err) < 0) {
            CC_WARN("event=receipt_refused error=\"%s\"", err.msg);
            c->stats.receipts_refused++;
            reply_error(r, 502, "receipt_refused", err.msg);
            if (plain.data) explicit_bzero(plain.data, plain.cap);
            cc_buf_free(&plain);
            return;
        }
        opened = *a;
        opened.answer = tl_mem(plain.data, plain.len);
        a = &opened;
    }
    tl_int256 rid_copy = r->rid;
    client_answer_opened(r, m->id, a); /* may free r */
    if (plain.data) explicit_bzero(plain.data, plain.cap);
    cc_buf_free(&plain);
    creq *still = cc_map_get(&c->reqs, cc_load_u64le(rid_copy.b));
    if (counted && still && memcmp(still->rid.b, rid_copy.b, 32) == 0)
        client_flow_delivered(still, counted);
}

/* One answer message of r, opened when it was sealed. May free r. */
static void client_answer_opened(creq *r, uint32_t id, const tl_client_queryAnswerPartEx *a)
{
    client *c = r->c;
    if (id == TL_ID_client_queryAnswerEx || !r->head_done) {
        if (id == TL_ID_client_queryAnswerEx) {
            if (on_head(r, a->answer) < 0) return;
        } else {
            r->head_done = true; /* a part without a head: plain 200 */
            r->status = 200;
            client_debug_timing_headers(r, NULL);
            if (r->stream) {
                client_seal_head_headers(r);
                c->io->stream_start(r->hreq, 200, "text/event-stream");
                r->http_started = true;
            }
        }
    }
    if (id == TL_ID_client_queryAnswerPartEx && deliver(r, a->answer.data, a->answer.len) < 0)
        return;
    if (a->flags & 1u) finish_ok(r, &a->final_info);
}

void client_link_gone(clink *l)
{
    client *c = clink_client(l);
    client_seal_lists_forget(c, l);
    /* Collect first: retries and failures change the table. */
    size_t n = 0;
    creq **list = cc_calloc(cc_map_count(&c->reqs) + 1, sizeof(*list));
    for (size_t i = 0; i < c->reqs.cap; i++) {
        creq *r = c->reqs.slots[i].val;
        if (r && r->link == l) list[n++] = r;
    }
    for (size_t i = 0; i < n; i++) {
        creq *r = list[i];
        r->link = NULL;
        if (!r->head_done && r->attempts < 2 && client_pick_link(c, l)) {
            c->stats.retried++;
            CC_INFO("event=request_retry reason=proxy_lost proxy=%s", l->addr);
            send_request(r, l);
        } else {
            reply_error(r, 502, "proxy_error", "the connection to the proxy was lost");
        }
    }
    free(list);
}

void client_requests_abort_all(client *c)
{
    size_t n = 0;
    creq **list = cc_calloc(cc_map_count(&c->reqs) + 1, sizeof(*list));
    for (size_t i = 0; i < c->reqs.cap; i++)
        if (c->reqs.slots[i].val) list[n++] = c->reqs.slots[i].val;
    for (size_t i = 0; i < n; i++)
        reply_error(list[i], 503, "shutting_down", "the client is stopping");
    free(list);
}

/* ------------------------------------------------------------- /v1/models */

/* The model's public id: its name without the "@sha256:..." pin. */
static json_t *model_id_json(const cmodel *m)
{
    const char *at = strstr(m->name, "@sha256:");
    return at ? json_stringn(m->name, (size_t)(at - m->name)) : json_string(m->name);
}

static json_t *model_json(const cmodel *m)
{
    json_t *e = json_object();
    json_object_set_new(e, "id", model_id_json(m));
    json_object_set_new(e, "object", json_string("model"));
    json_object_set_new(e, "created", json_integer(0));
    json_object_set_new(e, "owned_by", json_string("cocoon"));
    json_t *x = json_object();
    json_object_set_new(x, "name", json_string(m->name));
    json_object_set_new(x, "workers", json_integer(m->workers));
    json_object_set_new(x, "enabled_workers", json_integer(m->enabled));
    json_object_set_new(x, "active_requests", json_integer(m->active));
    json_object_set_new(x, "max_active_requests", json_integer(m->max));
    json_object_set_new(x, "coefficient_min", json_integer(m->coefficient_min));
    json_object_set_new(e, "cocoon", x);
    return e;
}

/* model_json with the network's prices (nanoTON per token by category) when a proxy told them. */
static json_t *model_json_priced(client *c, const cmodel *m)
{
    json_t *o = model_json(m);
    json_t *pricing = client_money_pricing(c);
    if (pricing) json_object_set_new(o, "pricing", pricing);
    return o;
}

static void on_models_for_list(client *c, void *ud, bool ok)
{
    creq *r = ud;
    r->pending_models = NULL;
    if (!ok) {
        reply_error(r, 502, "proxy_error", "could not list the network's models");
        return;
    }
    if (r->model) { /* GET /v1/models/{id} */
        for (size_t i = 0; i < c->n_models; i++) {
            const cmodel *m = &c->models[i];
            json_t *id = model_id_json(m);
            bool match = m->enabled > 0 && (strcmp(json_string_value(id), r->model) == 0 ||
                                            strcmp(m->name, r->model) == 0);
            json_decref(id);
            if (!match) continue;
            json_t *o = model_json_priced(c, m);
            c->io->reply_json(r->hreq, 200, o);
            json_decref(o);
            r->hreq = NULL;
            creq_free(r);
            return;
        }
        char msg[300];
        snprintf(msg, sizeof(msg), "The model '%.200s' does not exist or no worker serves it",
                 r->model);
        reply_errorf(c, r->hreq, 404, "model_not_found", msg); /* an answer, not a failure */
        r->hreq = NULL;
        creq_free(r);
        return;
    }
    json_t *data = json_array();
    for (size_t i = 0; i < c->n_models; i++)
        if (c->models[i].enabled > 0)
            json_array_append_new(data, model_json_priced(c, &c->models[i]));
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("list"));
    json_object_set_new(o, "data", data);
    c->io->reply_json(r->hreq, 200, o);
    json_decref(o);
    r->hreq = NULL;
    creq_free(r);
}

static void on_models_caller_gone(http_req *hreq, void *ud)
{
    creq *r = ud;
    r->c->io->reply(hreq, 499, "text/plain", "", 0);
    r->hreq = NULL;
    creq_free(r);
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* %XX escapes of a path segment decoded (the SDKs escape ids holding '/');
 * NULL when an escape is malformed or decodes to a NUL. */
static char *path_unescape(const char *s)
{
    size_t n = strlen(s);
    char *out = cc_malloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < n ? hex_digit(s[i + 1]) : -1;
        int lo = i + 2 < n ? hex_digit(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi | lo) == 0) {
            free(out);
            return NULL;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

void client_api_models(http_req *hreq, void *ud)
{
    client *c = ud;
    ckey *key;
    if (client_keys_check(c, hreq, &key) < 0) return;
    const char *path = c->io->req_path(hreq);
    char *want = NULL;
    if (strncmp(path, "/v1/models/", 11) == 0) {
        want = path_unescape(path + 11);
        if (!want || !want[0]) {
            free(want);
            reply_errorf(c, hreq, 404, "model_not_found", "No model id in the request URL");
            return;
        }
    }
    creq *r = creq_new(c, CREQ_MODELS, hreq);
    r->model = want;
    r->pending_models = c->io->query_models(client_pick_link(c, NULL), on_models_for_list, r);
    if (!r->pending_models) {
        char why[400];
        reply_errorf(c, hreq, 503, "no_proxy", client_no_proxy_why(c, why, sizeof(why)));
        r->hreq = NULL;
        creq_free(r);
        return;
    }
    c->io->on_caller_gone(hreq, on_models_caller_gone, r);
}

/* -------------------------------------------------------- /v1/attestation */

/* What the caller may check for itself: the proxies' attestation as our TLS
 * handshake verified it, and the workers that served sealed answers. */
void client_api_attestation(http_req *hreq, void *ud)
{
    client *c = ud;
    json_t *ps = json_array();
    for (size_t i = 0; i < c->links.n; i++) {
        clink *l = &c->links.at[i];
        json_t *e = json_object();
        json_object_set_new(e, "address", json_string(l->addr));
        json_object_set_new(e, "connected", json_boolean(l->conn != NULL));
        json_object_set_new(e, "sealing", json_boolean(l->peer_flags & DAEMON_PARAMS_FLAG_SEALING));
        const tee_peer_info *pi = l->conn ? net_conn_peer_info(l->conn) : NULL;
        if (pi) {
            daemon_json_add_peer_info(e, pi);
            json_object_set_new(e, "quote_verified", json_boolean(pi->quote_verified));
            json_object_set_new(e, "tcb_status", json_string(tee_tcb_status_name(pi->tcb_status)));
        }
        json_array_append_new(ps, e);
    }
    static const char *const mode[] = {"preferred", "required", "off"};
    json_t *o = json_object();
    json_object_set_new(o, "sealing", json_string(mode[c->sealing]));
    json_object_set_new(o, "policy",
                        json_string(c->worker_policy
                                        ? tee_policy_kind_name(tee_policy_kind_of(c->worker_policy))
                                        : "none"));
    json_object_set_new(o, "proxies", ps);
    json_object_set_new(o, "workers", client_seal_attestation_json(c));
    json_object_set_new(o, "at", json_real(cc_now_wall()));
    c->io->reply_json(hreq, 200, o);
    json_decref(o);
}

/* ---------------------------------------------------------------- stats */

static void stats_fill(void *ud, json_t *o)
{
    client *c = ud;
    if (c->tee.chain) json_object_set_new(o, "chain", daemon_chain_json(c->tee.chain));
    json_t *req = json_object();
    json_object_set_new(req, "total", json_integer((json_int_t)c->stats.requests));
    json_object_set_new(req, "active", json_integer((json_int_t)cc_map_count(&c->reqs)));
    json_object_set_new(req, "ok", json_integer((json_int_t)c->stats.ok));
    json_object_set_new(req, "failed", json_integer((json_int_t)c->stats.failed));
    json_object_set_new(req, "cancelled", json_integer((json_int_t)c->stats.cancelled));
    json_object_set_new(req, "retried", json_integer((json_int_t)c->stats.retried));
    json_object_set_new(req, "not_found", json_integer((json_int_t)c->stats.not_found));
    json_object_set_new(req, "bad_request", json_integer((json_int_t)c->stats.bad_request));
    json_object_set_new(req, "bytes_out", json_integer((json_int_t)c->stats.bytes_out));
    json_object_set_new(req, "unauthorized", json_integer((json_int_t)c->unauthorized));
    json_t *sl = json_object();
    static const char *const mode[] = {"preferred", "required", "off"};
    json_object_set_new(sl, "mode", json_string(mode[c->sealing]));
    json_object_set_new(sl, "sealed", json_integer((json_int_t)c->stats.sealed));
    json_object_set_new(sl, "plain", json_integer((json_int_t)c->stats.plain));
    json_object_set_new(sl, "refused", json_integer((json_int_t)c->stats.sealing_refused));
    json_object_set_new(sl, "candidates_refused",
                        json_integer((json_int_t)c->stats.candidates_refused));
    json_object_set_new(sl, "receipts_refused",
                        json_integer((json_int_t)c->stats.receipts_refused));
    json_object_set_new(sl, "candidate_queries",
                        json_integer((json_int_t)c->stats.candidate_queries));
    json_object_set_new(o, "sealing", sl);
    json_object_set_new(o, "requests", req);
    if (c->n_keys) json_object_set_new(o, "api_keys", client_keys_stats(c));
    json_object_set_new(o, "latency_seconds", http_histogram_json(&c->latency));
    json_object_set_new(o, "ttft_seconds", http_histogram_json(&c->ttft));
    json_object_set_new(o, "proxies", daemon_links_stats_json(&c->links, NULL));
    json_t *ms = json_array();
    for (size_t i = 0; i < c->n_models; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "name", json_string(c->models[i].name));
        json_object_set_new(e, "workers", json_integer(c->models[i].workers));
        json_object_set_new(e, "enabled_workers", json_integer(c->models[i].enabled));
        json_array_append_new(ms, e);
    }
    json_object_set_new(o, "models", ms);
    json_object_set_new(o, "payments", client_money_json(c));
    json_object_set_new(o, "identity", daemon_identity_json(&c->ident));
}

static bool health(void *ud, const char **detail)
{
    client *c = ud;
    if (!client_pick_link(c, NULL)) {
        *detail = "no proxy connection is ready";
        return false;
    }
    *detail = "ok";
    return true;
}

void client_api_register(client *c)
{
    http_server_route(c->http, "POST", "/v1/chat/completions", client_api_completion, c);
    http_server_route(c->http, "POST", "/v1/completions", client_api_completion, c);
    http_server_route(c->http, "POST", "/v1/embeddings", client_api_completion, c);
    /* multipart/form-data: the form parser checks the Content-Type itself */
    http_server_route_ex(c->http, "POST", "/v1/audio/transcriptions", client_api_completion, c,
                         HTTP_ROUTE_ANY_CONTENT_TYPE);
    http_server_route_ex(c->http, "POST", "/v1/audio/translations", client_api_completion, c,
                         HTTP_ROUTE_ANY_CONTENT_TYPE);
    http_server_route(c->http, "GET", "/v1/models", client_api_models, c);
    http_server_route(c->http, "GET", "/v1/models/*", client_api_models, c);
    http_server_route(c->http, "GET", "/v1/attestation", client_api_attestation, c);
    client_page_register(c);
    http_server_route(c->http, "GET", "/request/debuglogentry", client_api_debuglog, c);
    http_server_add_stats(c->admin ? c->admin : c->http, "cocoon-client", stats_fill, health, c);
}
