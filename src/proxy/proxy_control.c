/* COCOON's control paths on the proxy's HTTP port (ProxyRunner.cpp
 * custom_initialize): POST /request/disable takes the proxy out of service
 * (new clients and workers are refused with "proxy is not participating in
 * this iteration", new requests with "proxy is disabled", both COCOON's
 * texts and its notready code; links and requests already there go on), and
 * POST /request/enable puts it back. Anything but POST is refused, as
 * COCOON does ("disable must be a post request"). COCOON's proxy stays
 * disabled until the root contract's next params version; with no chain
 * there is none, so ours is enabled again at once. The answer is the
 * resulting state as JSON (COCOON's is an HTML page). */
#include <string.h>

#include "proxy/proxy_internal.h"

static void reply_state(proxy *p, http_req *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "enabled", json_boolean(!p->disabled));
    http_reply_json(h, 200, o);
    json_decref(o);
}

static void set_disabled(proxy *p, http_req *h, bool disabled)
{
    if (strcmp(http_req_method(h), "POST") != 0) {
        http_reply_errorf(h, 405, "method_not_allowed", "%s must be a post request",
                          disabled ? "disable" : "enable");
        return;
    }
    if (p->disabled != disabled) CC_INFO("event=proxy_%s", disabled ? "disabled" : "enabled");
    p->disabled = disabled;
    reply_state(p, h);
}

static void on_disable(http_req *h, void *ud)
{
    set_disabled(ud, h, true);
}

static void on_enable(http_req *h, void *ud)
{
    set_disabled(ud, h, false);
}

/* Ours: POST /request/save sends a save_state now instead of at the next
 * save_interval (operators, tests); 409 while one is on its way, 404 without
 * a chain wallet. */
static void on_save(http_req *h, void *ud)
{
    proxy *p = ud;
    if (strcmp(http_req_method(h), "POST") != 0) {
        http_reply_errorf(h, 405, "method_not_allowed", "save must be a post request");
        return;
    }
    if (!p->onchain) {
        http_reply_errorf(h, 404, "not_found", "no proxy contract (chain none or no owner)");
        return;
    }
    if (proxy_chain_save_now(p) < 0) {
        http_reply_errorf(h, 409, "conflict", "a save_state is on its way, or no wallet");
        return;
    }
    json_t *o = json_pack("{s:b}", "requested", 1);
    http_reply_json(h, 200, o);
    json_decref(o);
}

/* COCOON's /request/charge?client=OWNER and /request/payout?worker=OWNER
 * ("charge now", "pay now" on its stats page): the account's voucher sent
 * at once, whatever the threshold. The answer is COCOON's short text as
 * {"result": TEXT}. */
static void pay_now(http_req *h, proxy *p, bool client)
{
    char owner[LEDGER_ADDR_MAX] = "";
    const char *q = http_req_query(h);
    const char *key = client ? "client=" : "worker=";
    const char *at = q ? strstr(q, key) : NULL;
    if (at) {
        at += strlen(key);
        size_t n = strcspn(at, "&");
        if (n >= sizeof owner) n = sizeof owner - 1;
        /* raw addresses carry ':' as %3A in a query */
        size_t k = 0;
        for (size_t i = 0; i < n && k + 1 < sizeof owner; i++) {
            if (at[i] == '%' && i + 2 < n && at[i + 1] == '3' &&
                (at[i + 2] == 'A' || at[i + 2] == 'a')) {
                owner[k++] = ':';
                i += 2;
            } else {
                owner[k++] = at[i];
            }
        }
        owner[k] = 0;
    }
    char why[256] = "request sent";
    int rc;
    if (client) {
        ledger_client *a = ledger_client_get(p->ledger, owner, false);
        rc = a ? proxy_chain_charge(p, a, why, sizeof why)
               : (snprintf(why, sizeof why, "client not found"), -1);
    } else {
        ledger_worker *a = ledger_worker_get(p->ledger, owner, false);
        rc = a ? proxy_chain_payout(p, a, why, sizeof why)
               : (snprintf(why, sizeof why, "worker not found"), -1);
    }
    (void)rc;
    json_t *o = json_pack("{s:s}", "result", why);
    http_reply_json(h, 200, o);
    json_decref(o);
}

static void on_charge(http_req *h, void *ud)
{
    pay_now(h, ud, true);
}

static void on_payout(http_req *h, void *ud)
{
    pay_now(h, ud, false);
}

static void reply_result(http_req *h, const char *text)
{
    json_t *o = json_pack("{s:s}", "result", text);
    http_reply_json(h, 200, o);
    json_decref(o);
}

/* COCOON's /request/withdraw: the earned share of the proxy contract to its
 * owner now (proxy_stake.c), answered {"result": TEXT} as /request/charge. */
static void on_withdraw(http_req *h, void *ud)
{
    proxy *p = ud;
    char why[256];
    if (p->onchain && !proxy_chain_stake(p))
        snprintf(why, sizeof why, "no chain wallet");
    else
        proxy_stake_withdraw(proxy_chain_stake(p), why, sizeof why);
    reply_result(h, why);
}

/* Ours: /request/topup[?amount_nano=N] adds N nanoTON to the proxy
 * contract's stake (without N: what it lacks below the root's
 * min_proxy_stake). */
static void on_topup(http_req *h, void *ud)
{
    char why[256];
    int64_t amount = 0;
    const char *q = http_req_query(h);
    const char *at = q ? strstr(q, "amount_nano=") : NULL;
    if (at) {
        char num[24] = "";
        at += strlen("amount_nano=");
        size_t n = strcspn(at, "&");
        if (n < sizeof num) memcpy(num, at, n);
        if (n == 0 || n >= sizeof num || cc_parse_i64(num, 1, INT64_MAX / 4, &amount, NULL) < 0) {
            reply_result(h, "bad amount_nano (a positive whole number of nanoTON)");
            return;
        }
    }
    proxy *p = ud;
    if (p->onchain && !proxy_chain_stake(p))
        snprintf(why, sizeof why, "no chain wallet");
    else
        proxy_stake_topup(proxy_chain_stake(p), (uint64_t)amount, why, sizeof why);
    reply_result(h, why);
}

void proxy_control_register(proxy *p)
{
    http_server_route_ex(p->http, NULL, "/request/withdraw", on_withdraw, p,
                         HTTP_ROUTE_NOT_CROSS_SITE);
    http_server_route_ex(p->http, NULL, "/request/topup", on_topup, p, HTTP_ROUTE_NOT_CROSS_SITE);
    http_server_route_ex(p->http, NULL, "/request/charge", on_charge, p, HTTP_ROUTE_NOT_CROSS_SITE);
    http_server_route_ex(p->http, NULL, "/request/payout", on_payout, p, HTTP_ROUTE_NOT_CROSS_SITE);
    http_server_route_ex(p->http, "POST", "/request/save", on_save, p, HTTP_ROUTE_NOT_CROSS_SITE);
    static const char *const methods[] = {"GET", "POST"};
    for (size_t i = 0; i < 2; i++) {
        http_server_route_ex(p->http, methods[i], "/request/disable", on_disable, p,
                             HTTP_ROUTE_NOT_CROSS_SITE);
        http_server_route_ex(p->http, methods[i], "/request/enable", on_enable, p,
                             HTTP_ROUTE_NOT_CROSS_SITE);
    }
}
