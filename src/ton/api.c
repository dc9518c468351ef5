/* Transport of the TON HTTP API v2 client, on the http layer's event-loop
 * client (http.h), so the tree has one HTTP client.
 *
 * A ton_api is bound to one event_base: a daemon's loop (ton_api_new_on;
 * asynchronous calls only, so no chain call ever blocks the loop), or a
 * private loop the object owns (ton_api_new), on which the blocking calls the
 * CLI uses run one asynchronous call each until it completes. */
#include "ton/ton_internal.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "http/http.h"

#define API_MAX_REPLY (64u << 20)

struct ton_api {
    char *base;
    char *key;
    long timeout;
    struct event_base *loop;     /* where calls run */
    struct event_base *own_loop; /* the private loop of a blocking client, else NULL */
    http_client *http;
    ton_api_op *ops; /* calls in flight, freed with the client */
};

struct ton_api_op {
    ton_api *api;
    http_client_req *req;
    char *method;
    ton_api_done done;
    void *ud;
    long status;
    cc_buf body;
    bool too_big;
    bool in_done; /* ton_api_cancel from inside done is a no-op */
    ton_api_op *prev, *next;
};

static void op_free(ton_api_op *op);

static ton_api *api_make(struct event_base *loop, struct event_base *own, const char *base_url,
                         const char *api_key, cc_err *err)
{
    if (!base_url || !*base_url) {
        cc_err_set(err, "TON API URL is empty");
        return NULL;
    }
    if (!cc_str_has_prefix(base_url, "http://") && !cc_str_has_prefix(base_url, "https://")) {
        cc_err_set(err, "TON API URL \"%s\" must start with http:// or https://", base_url);
        return NULL;
    }
    if (!loop) {
        cc_err_set(err, "cannot create an event loop for the TON API client");
        return NULL;
    }
    /* A handful of connections is plenty: calls are few and small. */
    http_client_config hc = {.max_connections = 8, .connect_timeout = 10};
    http_client *http = http_client_new(loop, &hc, err);
    if (!http) return NULL;
    ton_api *api = cc_calloc(1, sizeof *api);
    api->base = cc_strdup(base_url);
    size_t n = strlen(api->base);
    while (n && api->base[n - 1] == '/')
        api->base[--n] = 0;
    api->key = api_key ? cc_strdup(api_key) : NULL;
    api->timeout = 30;
    api->loop = loop;
    api->own_loop = own;
    api->http = http;
    return api;
}

ton_api *ton_api_new(const char *base_url, const char *api_key, cc_err *err)
{
    struct event_base *own = event_base_new();
    ton_api *api = api_make(own, own, base_url, api_key, err);
    if (!api && own) event_base_free(own);
    return api;
}

ton_api *ton_api_new_on(struct event_base *loop, const char *base_url, const char *api_key,
                        cc_err *err)
{
    return api_make(loop, NULL, base_url, api_key, err);
}

void ton_api_free(ton_api *api)
{
    if (!api) return;
    http_client_free(api->http); /* drops the transfers without callbacks */
    while (api->ops)
        op_free(api->ops);
    if (api->own_loop) event_base_free(api->own_loop);
    free(api->base);
    free(api->key);
    free(api);
}

void ton_api_set_timeout(ton_api *api, long seconds)
{
    api->timeout = seconds;
}

const char *ton_api_url(const ton_api *api)
{
    return api->base;
}

static void op_free(ton_api_op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        op->api->ops = op->next;
    if (op->next) op->next->prev = op->prev;
    cc_buf_free(&op->body);
    free(op->method);
    free(op);
}

static int on_head(void *ud, int status, const http_header *h, size_t n)
{
    ton_api_op *op = ud;
    op->status = status;
    return 0;
}

static void on_body(void *ud, const uint8_t *data, size_t len)
{
    ton_api_op *op = ud;
    if (op->too_big) return;
    if (op->body.len + len > API_MAX_REPLY) {
        /* keep draining without storing; the end reports it */
        op->too_big = true;
        return;
    }
    cc_buf_append(&op->body, data, len);
}

static void on_done(void *ud, http_client_result res, const char *error)
{
    ton_api_op *op = ud;
    cc_err err = {0};
    json_t *result = NULL;
    if (res != HTTP_CLIENT_OK)
        cc_err_set(&err, "TON API %s: %s (%s)", op->method,
                   res == HTTP_CLIENT_ERR_TIMEOUT ? "timed out"
                                                  : (error ? error : "transfer failed"),
                   op->api->base);
    else if (op->too_big)
        cc_err_set(&err, "TON API %s: reply larger than %u bytes", op->method, API_MAX_REPLY);
    else {
        result = ton_api_parse_reply((const char *)op->body.data, op->body.len, op->status, &err);
        if (!result) cc_err_prefix(&err, "%s", op->method);
    }
    op->req = NULL; /* the http layer frees it after we return */
    op->in_done = true;
    op->done(op->ud, result, result ? NULL : &err);
    json_decref(result);
    op_free(op);
}

ton_api_op *ton_api_call_async(ton_api *api, const char *method, const char *query,
                               const json_t *body, ton_api_done done, void *ud, cc_err *err)
{
    if (!method || !*method || !done) {
        cc_err_set(err, "ton_api_call_async: method and callback are required");
        return NULL;
    }
    cc_buf u = CC_BUF_INIT;
    cc_buf_append_fmt(&u, "%s/%s", api->base, method);
    if (query && *query) cc_buf_append_fmt(&u, "?%s", query);
    char *url = cc_buf_steal_str(&u);
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    http_header hdrs[3];
    size_t nh = 0;
    hdrs[nh++] = (http_header){"Accept", "application/json"};
    if (payload) hdrs[nh++] = (http_header){"Content-Type", "application/json"};
    if (api->key) hdrs[nh++] = (http_header){"X-API-Key", api->key};
    ton_api_op *op = cc_calloc(1, sizeof *op);
    op->api = api;
    op->method = cc_strdup(method);
    op->done = done;
    op->ud = ud;
    op->body = (cc_buf)CC_BUF_INIT;
    http_client_request rq = {.method = payload ? "POST" : "GET",
                              .url = url,
                              .headers = hdrs,
                              .n_headers = nh,
                              .body = payload,
                              .body_len = payload ? strlen(payload) : 0,
                              .timeout = (double)api->timeout};
    static const http_client_callbacks cbs = {on_head, on_body, on_done};
    op->next = api->ops;
    if (api->ops) api->ops->prev = op;
    api->ops = op;
    op->req = http_client_start(api->http, &rq, &cbs, op, err);
    free(url);
    free(payload);
    if (!op->req) {
        cc_err_prefix(err, "TON API %s", method);
        op_free(op);
        return NULL;
    }
    return op;
}

void ton_api_cancel(ton_api_op *op)
{
    if (!op || op->in_done) return;
    http_client_cancel(op->req);
    op_free(op);
}

/* ------------------------------------------------- the blocking calls */

typedef struct {
    bool finished;
    json_t *result;
    cc_err err;
} sync_call;

static void sync_done(void *ud, json_t *result, const cc_err *err)
{
    sync_call *s = ud;
    s->finished = true;
    if (result)
        s->result = json_incref(result);
    else
        s->err = *err;
}

json_t *ton_api_call(ton_api *api, const char *method, const char *query, const json_t *body,
                     cc_err *err)
{
    if (!api->own_loop) {
        cc_err_set(err, "TON API %s: blocking call on a client bound to a daemon's loop", method);
        return NULL;
    }
    sync_call s = {0};
    if (!ton_api_call_async(api, method, query, body, sync_done, &s, err)) return NULL;
    /* The request's own timeout ends the wait, so this terminates. */
    while (!s.finished)
        event_base_loop(api->own_loop, EVLOOP_ONCE);
    if (!s.result && err) *err = s.err;
    return s.result;
}

static char *addr_text(const ton_addr *a)
{
    char raw[80];
    ton_addr_to_raw(a, raw, sizeof raw);
    return cc_strdup(raw);
}

int ton_api_run_get_method(ton_api *api, const ton_addr *addr, const char *method,
                           const ton_stack_arg *args, size_t n_args, ton_stack *out, cc_err *err)
{
    json_t *stack = ton_stack_args_to_json(args, n_args, err);
    if (!stack) return -1;
    char *a = addr_text(addr);
    json_t *req = json_pack("{s:s,s:s,s:o}", "address", a, "method", method, "stack", stack);
    free(a);
    json_t *res = ton_api_call(api, "runGetMethod", NULL, req, err);
    json_decref(req);
    if (!res) return -1;
    int rc = ton_stack_parse_json(res, out, err);
    json_decref(res);
    if (rc < 0) return cc_err_prefix(err, "%s", method);
    if (out->exit_code != 0 && out->exit_code != 1) {
        int code = out->exit_code;
        ton_stack_free(out);
        return cc_err_setc(err, code, "get-method %s failed with exit code %d", method, code);
    }
    return 0;
}

int ton_api_send_boc(ton_api *api, const ton_cell *msg, uint8_t hash[32], cc_err *err)
{
    char *b64 = ton_boc_to_base64(msg, err);
    if (!b64) return -1;
    json_t *req = json_pack("{s:s}", "boc", b64);
    free(b64);
    json_t *res = ton_api_call(api, "sendBocReturnHash", NULL, req, err);
    json_decref(req);
    if (!res) return -1;
    if (hash) {
        memset(hash, 0, 32);
        const char *h = json_string_value(json_object_get(res, "hash"));
        cc_buf b = CC_BUF_INIT;
        if (h && strlen(h) == 64)
            cc_hex_decode(h, hash, 32, NULL);
        else if (h && ton_base64_decode(h, strlen(h), &b, NULL) == 0 && b.len == 32)
            memcpy(hash, b.data, 32);
        cc_buf_free(&b);
    }
    json_decref(res);
    return 0;
}

static char *addr_query(const ton_addr *addr, const char *extra)
{
    char raw[80];
    ton_addr_to_raw(addr, raw, sizeof raw);
    cc_buf q = CC_BUF_INIT;
    /* the raw form needs ':' escaped in a query string */
    char *colon = strchr(raw, ':');
    *colon = 0;
    cc_buf_append_fmt(&q, "address=%s%%3A%s%s", raw, colon + 1, extra ? extra : "");
    return cc_buf_steal_str(&q);
}

int ton_api_get_address_information(ton_api *api, const ton_addr *addr, ton_account *out,
                                    cc_err *err)
{
    char *q = addr_query(addr, NULL);
    json_t *res = ton_api_call(api, "getAddressInformation", q, NULL, err);
    free(q);
    if (!res) return -1;
    int rc = ton_account_from_json(res, out, err);
    json_decref(res);
    return rc;
}

int ton_api_get_wallet_information(ton_api *api, const ton_addr *addr, ton_wallet_info *out,
                                   cc_err *err)
{
    char *q = addr_query(addr, NULL);
    json_t *res = ton_api_call(api, "getWalletInformation", q, NULL, err);
    free(q);
    if (!res) return -1;
    int rc = ton_wallet_info_from_json(res, out, err);
    json_decref(res);
    return rc;
}

int ton_api_get_transactions(ton_api *api, const ton_addr *addr, unsigned limit, ton_tx **out,
                             size_t *n, cc_err *err)
{
    char extra[40];
    snprintf(extra, sizeof extra, "&limit=%u", limit ? limit : 10);
    char *q = addr_query(addr, extra);
    json_t *res = ton_api_call(api, "getTransactions", q, NULL, err);
    free(q);
    if (!res) return -1;
    int rc = ton_txs_from_json(res, out, n, err);
    json_decref(res);
    return rc;
}

int ton_api_estimate_fee(ton_api *api, const ton_addr *addr, const ton_cell *body,
                         const ton_cell *init, ton_fees *out, cc_err *err)
{
    memset(out, 0, sizeof *out);
    char *b64 = ton_boc_to_base64(body, err);
    if (!b64) return -1;
    char *code = NULL, *data = NULL;
    if (init) {
        ton_slice s;
        ton_slice_init(&s, init);
        const ton_cell *cc = NULL, *dc = NULL;
        bool bit;
        if (ton_slice_load_bit(&s, &bit, err) < 0 || ton_slice_load_bit(&s, &bit, err) < 0 ||
            ton_slice_load_maybe_ref(&s, &cc, err) < 0 ||
            ton_slice_load_maybe_ref(&s, &dc, err) < 0) {
            free(b64);
            return -1;
        }
        code = cc ? ton_boc_to_base64(cc, err) : cc_strdup("");
        data = dc ? ton_boc_to_base64(dc, err) : cc_strdup("");
    }
    char *a = addr_text(addr);
    json_t *req = json_pack("{s:s,s:s,s:s,s:s,s:b}", "address", a, "body", b64, "init_code",
                            code ? code : "", "init_data", data ? data : "", "ignore_chksig", 1);
    free(a);
    free(b64);
    free(code);
    free(data);
    json_t *res = ton_api_call(api, "estimateFee", NULL, req, err);
    json_decref(req);
    if (!res) return -1;
    const json_t *sf = json_object_get(res, "source_fees");
    int rc = 0;
    if (!json_is_object(sf))
        rc = cc_err_set(err, "estimateFee: reply without source_fees");
    else {
        const json_t *v;
        const char *keys[] = {"in_fwd_fee", "storage_fee", "gas_fee", "fwd_fee"};
        uint64_t *dst[] = {&out->in_fwd_fee, &out->storage_fee, &out->gas_fee, &out->fwd_fee};
        for (int i = 0; i < 4; i++) {
            v = json_object_get(sf, keys[i]);
            if (json_is_integer(v) && json_integer_value(v) >= 0)
                *dst[i] = (uint64_t)json_integer_value(v);
        }
    }
    json_decref(res);
    return rc;
}
