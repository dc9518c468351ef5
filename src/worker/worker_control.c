/* COCOON's control paths on the worker's HTTP port (WorkerRunner.cpp
 * custom_initialize): /request/enable and /request/disable switch the
 * operator's "force disabled" flag, which the proxies learn through
 * worker.enabledDisabled; /request/change_coefficient?coefficient=X sets the
 * price multiplier to X (a decimal, ×1000 on the wire, as COCOON's
 * http_worker_change_coefficient reads it) and tells every ready proxy with
 * worker.newCoefficient. COCOON answers with HTML pages; ours answer the
 * worker's resulting state as JSON, and refuse what our proxy would refuse.
 * The port is the stats port, bound to loopback unless configured otherwise:
 * like COCOON's (without its optional access hash), whoever reaches it
 * controls the worker. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "worker/worker_internal.h"

bool worker_is_disabled(const worker *w)
{
    return !w->healthy || w->force_disabled;
}

void worker_set_force_disabled(worker *w, bool disabled)
{
    if (w->force_disabled == disabled) return;
    w->force_disabled = disabled;
    CC_INFO("event=worker_force_%s", disabled ? "disabled" : "enabled");
    worker_link_send_enabled(w);
}

void worker_set_coefficient(worker *w, int32_t value)
{
    if (w->coefficient == value) return;
    CC_INFO("event=worker_coefficient from=%d to=%d", w->coefficient, value);
    w->coefficient = value;
    for (size_t i = 0; i < w->links.n; i++) {
        if (w->links.at[i].state != DAEMON_LINK_READY) continue;
        tl_worker_newCoefficient m = TL_INIT(worker_newCoefficient);
        m.new_coefficient = value;
        daemon_link_send(&w->links.at[i], &m.hdr);
    }
}

static void reply_state(worker *w, http_req *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "enabled", json_boolean(!worker_is_disabled(w)));
    json_object_set_new(o, "force_disabled", json_boolean(w->force_disabled));
    json_object_set_new(o, "backend_healthy", json_boolean(w->healthy));
    json_object_set_new(o, "coefficient", json_integer(w->coefficient));
    http_reply_json(h, 200, o);
    json_decref(o);
}

static void on_enable(http_req *h, void *ud)
{
    worker_set_force_disabled(ud, false);
    reply_state(ud, h);
}

static void on_disable(http_req *h, void *ud)
{
    worker_set_force_disabled(ud, true);
    reply_state(ud, h);
}

/* The value of `name` in a raw query string, copied to out (no
 * %-decoding: a number needs none). Returns false when absent. */
static bool query_arg(const char *q, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    for (const char *p = q; p && *p;) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > nl && p[nl] == '=' && !strncmp(p, name, nl)) {
            snprintf(out, size, "%.*s", (int)CC_MIN(n - nl - 1, size - 1), p + nl + 1);
            return true;
        }
        p = end ? end + 1 : p + n;
    }
    return false;
}

int worker_parse_coefficient(const char *s, int32_t *out, char *why, size_t why_size)
{
    char *end = NULL;
    double d = *s ? strtod(s, &end) : NAN;
    if (!end || *end || !isfinite(d)) {
        snprintf(why, why_size, "failed to parse '%.40s' as a decimal number", s);
        return -1;
    }
    /* COCOON truncates (static_cast<int32>(d * 1000)); the nudge keeps a
     * binary artefact such as 2.3 × 1000 = 2299.9999… at 2300. */
    double v = floor(d * 1000 + 1e-6);
    if (!(v >= 1 && v < 1e9)) {
        snprintf(why, why_size, "coefficient must be at least 0.001 and below 1000000, got %.40s",
                 s);
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

int worker_query_coefficient(const char *query, int32_t *out, char *why, size_t why_size)
{
    char arg[64];
    if (!query_arg(query, "coefficient", arg, sizeof(arg))) return 1;
    return worker_parse_coefficient(arg, out, why, why_size);
}

static void on_change_coefficient(http_req *h, void *ud)
{
    worker *w = ud;
    char why[128];
    int32_t v;
    int rc = worker_query_coefficient(http_req_query(h), &v, why, sizeof(why));
    if (rc > 0) {
        http_reply_errorf(h, 400, "missing_parameter",
                          "give the new coefficient: /request/change_coefficient?coefficient=1.5 "
                          "(current: %.3f)",
                          w->coefficient * 0.001);
        return;
    }
    if (rc < 0) {
        http_reply_errorf(h, 400, "invalid_value", "%s", why);
        return;
    }
    worker_set_coefficient(w, v);
    reply_state(w, h);
}

/* COCOON's /request/payout?proxy=PROXY_CONTRACT (WorkerRunner::http_payout):
 * sends the kept voucher to our contract at that proxy (every proxy without
 * the argument); its short answers ("request sent", "proxy not found",
 * "request is already running", ...) as {"result": ...}. */
static void on_payout(http_req *h, void *ud)
{
    worker *w = ud;
    char proxy[128] = "", out[300];
    query_arg(http_req_query(h), "proxy", proxy, sizeof(proxy));
    int sent = worker_payout_request(w, proxy, out, sizeof(out));
    json_t *j = json_pack("{s:s,s:i}", "result", out, "sent", sent);
    char *t = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    http_reply(h, 200, "application/json", t, strlen(t));
    free(t);
}

/* Ours, not COCOON's: renews the certificate now, with new sealing keys
 * (worker_renew.c), say after a suspected exposure; POST only. Answers the
 * new certificate's hash and expiry. */
static void on_renew_certificate(http_req *h, void *ud)
{
    worker *w = ud;
    cc_err err = {0};
    if (worker_renew(w, true, &err) < 0) {
        http_reply_errorf(h, 500, "renewal_failed", "%s", err.msg);
        return;
    }
    unsigned char *der = NULL;
    int n = i2d_X509(w->tee.identity->cert, &der);
    uint8_t hash[32] = {0};
    char hex[65];
    if (n > 0) crypto_sha256(der, (size_t)n, hash);
    OPENSSL_free(der);
    cc_hex_encode(hash, 32, hex);
    json_t *j =
        json_pack("{s:s,s:I,s:I}", "certificate_hash", hex, "not_after",
                  (json_int_t)w->tee.identity->not_after, "renewals", (json_int_t)w->tee.renewals);
    char *t = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    http_reply(h, 200, "application/json", t, strlen(t));
    free(t);
}

void worker_control_register(worker *w)
{
    http_server_route_ex(w->http, "POST", "/request/renew_certificate", on_renew_certificate, w,
                         HTTP_ROUTE_NOT_CROSS_SITE);
    /* COCOON's worker takes these as GET links from its stats page; POST is
     * accepted too for scripts. */
    static const char *const methods[] = {"GET", "POST"};
    for (size_t i = 0; i < 2; i++) {
        http_server_route_ex(w->http, methods[i], "/request/enable", on_enable, w,
                             HTTP_ROUTE_NOT_CROSS_SITE);
        http_server_route_ex(w->http, methods[i], "/request/disable", on_disable, w,
                             HTTP_ROUTE_NOT_CROSS_SITE);
        http_server_route_ex(w->http, methods[i], "/request/change_coefficient",
                             on_change_coefficient, w, HTTP_ROUTE_NOT_CROSS_SITE);
        http_server_route_ex(w->http, methods[i], "/request/payout", on_payout, w,
                             HTTP_ROUTE_NOT_CROSS_SITE);
    }
}
