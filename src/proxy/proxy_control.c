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

void proxy_control_register(proxy *p)
{
    http_server_route_ex(p->http, "POST", "/request/save", on_save, p, HTTP_ROUTE_NOT_CROSS_SITE);
    static const char *const methods[] = {"GET", "POST"};
    for (size_t i = 0; i < 2; i++) {
        http_server_route_ex(p->http, methods[i], "/request/disable", on_disable, p,
                             HTTP_ROUTE_NOT_CROSS_SITE);
        http_server_route_ex(p->http, methods[i], "/request/enable", on_enable, p,
                             HTTP_ROUTE_NOT_CROSS_SITE);
    }
}
