#!/usr/bin/env python3
"""The client's listeners: with admin_listen, /stats, /jsonstats, /metrics and
/healthz answer there and not on the API port; /metrics is in the exposition
format with histograms; cors_origins lets a listed browser origin call the
API (preflight 204, Access-Control-Allow-Origin) and refuses another (403)."""
from cocoonlib import check, check_eq, free_port, http, Network, run, wait_until


def main(holder):
    net = Network("listeners")
    holder.append(net)
    net.start_proxy()
    admin = free_port()
    port = net.start_client(extra={"admin_listen": "127.0.0.1:%d" % admin,
                                   "cors_origins": ["https://app.example"]})
    wait_until(lambda: http(admin, "GET", "/healthz", timeout=2)[0] in (200, 503), 15,
               "the client's admin listener")
    st, hdrs, body = http(admin, "GET", "/healthz")
    check(body.startswith(b'{"status":'), "/healthz is JSON: %r" % body)
    for path in ("/stats", "/jsonstats", "/metrics", "/healthz"):
        check_eq(http(admin, "GET", path)[0] in (200, 503), True, "%s on the admin port" % path)
        check_eq(http(port, "GET", path)[0], 404, "%s not on the API port" % path)
    st, _, metrics = http(admin, "GET", "/metrics")
    check_eq(st, 200, "/metrics")
    for want in (b"# HELP cocoon_requests_total /jsonstats requests.total\n",
                 b"# TYPE cocoon_requests_total gauge\n",
                 b"# TYPE cocoon_latency_seconds histogram\n",
                 b'cocoon_ttft_seconds_bucket{le="+Inf"} 0\n', b"cocoon_latency_seconds_count 0\n"):
        check(want in metrics, "/metrics has %r" % want)

    # CORS: a preflight from the listed origin, then the call itself.
    st, hdrs, _ = http(port, "OPTIONS", "/v1/chat/completions",
                       headers={"Origin": "https://app.example",
                                "Access-Control-Request-Method": "POST",
                                "Access-Control-Request-Headers": "authorization, content-type"})
    check_eq(st, 204, "preflight status")
    check_eq(hdrs.get("access-control-allow-origin"), "https://app.example", "preflight origin")
    check("POST" in hdrs.get("access-control-allow-methods", ""), "preflight methods")
    check_eq(hdrs.get("access-control-allow-headers"), "authorization, content-type",
             "preflight headers")
    st, hdrs, _ = http(port, "GET", "/v1/models", headers={"Origin": "https://app.example"})
    check_eq(hdrs.get("access-control-allow-origin"), "https://app.example", "answer's origin")
    check("x-request-id" in hdrs.get("access-control-expose-headers", "").lower(),
          "X-Request-Id exposed to the page")
    st, hdrs, _ = http(port, "POST", "/v1/chat/completions", body={"model": "m"},
                       headers={"Origin": "https://evil.example"})
    check_eq(st, 403, "another origin")
    check("access-control-allow-origin" not in hdrs, "no CORS grant for another origin")
    st, hdrs, _ = http(port, "GET", "/v1/models")
    check("access-control-allow-origin" not in hdrs, "no CORS header without an Origin")


if __name__ == "__main__":
    run(main)
