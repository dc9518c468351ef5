/* Transport of the TON HTTP API v2 client: blocking libcurl calls (the CLI and
 * tests use it directly; daemons call it from a worker thread). */
#include "ton/ton_internal.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#define API_MAX_REPLY (64u << 20)

struct ton_api {
    char *base;
    char *key;
    long timeout;
    CURL *curl;
};

ton_api *ton_api_new(const char *base_url, const char *api_key, cc_err *err)
{
    if (!base_url || !*base_url) {
        cc_err_set(err, "TON API URL is empty");
        return NULL;
    }
    if (!cc_str_has_prefix(base_url, "http://") && !cc_str_has_prefix(base_url, "https://")) {
        cc_err_set(err, "TON API URL \"%s\" must start with http:// or https://", base_url);
        return NULL;
    }
    ton_api *api = cc_calloc(1, sizeof *api);
    api->base = cc_strdup(base_url);
    size_t n = strlen(api->base);
    while (n && api->base[n - 1] == '/')
        api->base[--n] = 0;
    api->key = api_key ? cc_strdup(api_key) : NULL;
    api->timeout = 30;
    api->curl = curl_easy_init();
    if (!api->curl) {
        ton_api_free(api);
        cc_err_set(err, "cannot initialise libcurl");
        return NULL;
    }
    return api;
}

void ton_api_free(ton_api *api)
{
    if (!api) return;
    if (api->curl) curl_easy_cleanup(api->curl);
    free(api->base);
    free(api->key);
    free(api);
}

void ton_api_set_timeout(ton_api *api, long seconds)
{
    api->timeout = seconds;
}

typedef struct {
    cc_buf buf;
    bool too_big;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t len = size * n;
    if (s->buf.len + len > API_MAX_REPLY) {
        s->too_big = true;
        return 0;
    }
    cc_buf_append(&s->buf, p, len);
    return len;
}

json_t *ton_api_call(ton_api *api, const char *method, const char *query, const json_t *body,
                     cc_err *err)
{
    CURL *c = api->curl;
    curl_easy_reset(c);
    char *url;
    cc_buf u = CC_BUF_INIT;
    cc_buf_append_fmt(&u, "%s/%s", api->base, method);
    if (query && *query) cc_buf_append_fmt(&u, "?%s", query);
    url = cc_buf_steal_str(&u);
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (payload) hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (api->key) {
        char h[512];
        snprintf(h, sizeof h, "X-API-Key: %s", api->key);
        hdrs = curl_slist_append(hdrs, h);
    }
    sink s = {CC_BUF_INIT, false};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, api->timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (payload) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    }
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    json_t *result = NULL;
    if (s.too_big)
        cc_err_set(err, "TON API %s: reply larger than %u bytes", method, API_MAX_REPLY);
    else if (rc != CURLE_OK)
        cc_err_set(err, "TON API %s: %s (%s)", method, curl_easy_strerror(rc), api->base);
    else {
        result = ton_api_parse_reply((const char *)s.buf.data, s.buf.len, status, err);
        if (!result) cc_err_prefix(err, "%s", method);
    }
    curl_slist_free_all(hdrs);
    free(payload);
    free(url);
    cc_buf_free(&s.buf);
    return result;
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
