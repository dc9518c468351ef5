#!/usr/bin/env python3
"""The client's network-trouble statuses (DESIGN §9), each with an OpenAI-style
error body: 504 when the client's request timeout (which travels with the
request) or the proxy's own request timeout runs out before the answer's head
(whichever of proxy and worker notices first, the client gets 504), 502 when
the proxy connection is lost under a request, 503 when no proxy is connected."""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import threading
import time

from cocoonlib import (check, check_eq, http, limit, log, Network, run, wait_until)

SLOW = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
HOLD_S = 6  # how long the slow backend holds a completion before answering


class SlowBackend(BaseHTTPRequestHandler):
    """An OpenAI-compatible backend that lists its model at once but holds every
    completion for HOLD_S seconds before sending anything (no head, no byte)."""

    def log_message(self, *a):
        pass

    def reply(self, obj):
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(HOLD_S)
        try:
            self.reply({"object": "chat.completion", "choices": [], "usage": {
                "prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
        except OSError:
            pass


def slow_backend():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), SlowBackend)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


def error_of(what, st, data, want_status):
    check_eq(st, want_status, what + " status")
    try:
        err = json.loads(data)["error"]
    except (ValueError, KeyError, TypeError):
        raise AssertionError("%s: not an OpenAI error body: %r" % (what, data[:200]))
    check(isinstance(err.get("message"), str) and err["message"], what + " error message")
    check("type" in err and "code" in err, what + " error fields: %r" % err)
    return err


def start(name, proxy_timeout, client_timeout):
    net = Network(name)
    b = slow_backend()
    net.start_proxy(request_timeout=proxy_timeout)
    net.start_worker(b)
    port = net.start_client(extra={"request_timeout": client_timeout})
    net.wait_workers(1, enabled=1)
    net.wait_models()
    return net, port


def main(holder):
    # The client's 1 s timeout (sent along in client.runQueryEx) runs out.
    net, port = start("status-client", 60, 1)
    holder.append(net)
    st, _, data = http(port, "POST", "/v1/chat/completions", SLOW, timeout=20)
    error_of("client timeout", st, data, 504)
    log("client timeout: 504")

    # The proxy's request timeout fires first (tcp error 652 becomes 504).
    net2, port2 = start("status-proxy", 1, 60)
    holder.append(net2)
    st, _, data = http(port2, "POST", "/v1/chat/completions", SLOW, timeout=20)
    error_of("proxy timeout", st, data, 504)
    log("proxy timeout: 504")

    # The only proxy dies under a request: 502.
    net3, port3 = start("status-lost", 60, 60)
    holder.append(net3)
    result = {}

    def slow_call():
        result["r"] = http(port3, "POST", "/v1/chat/completions", SLOW,
                           timeout=30)

    t = threading.Thread(target=slow_call)
    t.start()
    wait_until(lambda: net3.proxy_stats()["requests"]["active"] == 1, 10,
               "the request to reach the proxy")
    net3.proxy.kill()
    t.join(limit(30))
    check("r" in result, "the request ended after the proxy died")
    st, _, data = result["r"]
    error_of("proxy lost", st, data, 502)
    log("proxy lost under a request: 502")

    # No proxy connected at all: 503.
    wait_until(lambda: http(port3, "GET", "/healthz", timeout=5)[0] != 200, 10,
               "the client to notice it has no proxy")
    st, _, data = http(port3, "POST", "/v1/chat/completions", SLOW,
                       timeout=20)
    error_of("no proxy", st, data, 503)
    log("no proxy: 503")


if __name__ == "__main__":
    run(main)
