#!/usr/bin/env python3
"""Faults: per-stream flow control (docs/net.md "Flow control").

Case 1: one 320 MB streamed answer (a Python backend writes it as fast as its
socket takes it) to a caller that reads it slowly, while other callers send
small requests over the same client->proxy->worker links. Stated: the huge
stream arrives whole; every small request succeeds with p99 under
limit(2.5) s; the links are never dropped (the same worker id at the proxy,
one worker connection); no daemon's RSS grows by more than 64 MiB.

Case 2: a caller that stops reading mid-stream. Stated: the backend sees
back-pressure (its socket stops taking bytes and its byte count stops
growing), the daemons' RSS stays bounded, and once the caller hangs up the
backend's write fails (the request is cancelled end to end).

COCOON_FLOW_TEST_MB changes the size of case 1 (default 320)."""
import json
import os
import select
import socket
import sys
import threading
import time
from http import client as httpclient
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from faultlib import MODEL, Figures, Load, report, rss_kb, rss_scale
from cocoonlib import Network, check, limit, log, run, wait_until

HUGE_MB = int(os.environ.get("COCOON_FLOW_TEST_MB", "320"))
CHUNK = 64 * 1024


class Backend:
    """An OpenAI-ish backend: small answers for everyone, and a stream of
    `mb` MB for a request whose prompt is "huge". Counts what the huge
    streams wrote and how often the socket was full (back-pressure)."""

    def __init__(self):
        self.written = 0
        self.full = 0
        self.broken = 0
        self.done = 0
        self.lock = threading.Lock()
        backend = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                body = json.dumps({"object": "list", "data": [{"id": MODEL,
                                                               "object": "model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                req = json.loads(self.rfile.read(n) or b"{}")
                text = req.get("messages", [{}])[-1].get("content", "")
                if text.startswith("huge"):
                    backend.huge(self, int(text.split()[1]))
                    return
                if req.get("stream"):
                    body = (b'data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n'
                            b"data: [DONE]\n\n")
                    ctype = "text/event-stream"
                else:
                    body = json.dumps({"id": "x", "object": "chat.completion", "model": MODEL,
                                       "choices": [{"index": 0, "message": {
                                           "role": "assistant", "content": "ok"},
                                           "finish_reason": "stop"}],
                                       "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                                 "total_tokens": 2}}).encode()
                    ctype = "application/json"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def huge(self, h, mb):
        total = mb << 20
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Content-Length", str(total))
        h.end_headers()
        h.wfile.flush()
        # One SSE event per chunk, exactly CHUNK bytes each.
        ev = b"data: " + b"x" * (CHUNK - 8) + b"\n\n"
        s = h.connection
        sent = 0
        try:
            while sent < total:
                _, w, _ = select.select([], [s], [], 0)
                if not w:
                    with self.lock:
                        self.full += 1
                    select.select([], [s], [], 60)
                s.sendall(ev)
                sent += len(ev)
                with self.lock:
                    self.written += len(ev)
            with self.lock:
                self.done += 1
        except OSError:
            with self.lock:
                self.broken += 1

    def figures(self):
        with self.lock:
            return {"written": self.written, "full": self.full, "broken": self.broken,
                    "done": self.done}


def start_huge(port, mb):
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "huge %d" % mb}],
                       "stream": True, "max_tokens": 4}).encode()
    c = httpclient.HTTPConnection("127.0.0.1", port, timeout=limit(120))
    c.request("POST", "/v1/chat/completions", body=body,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    check(r.status == 200, "huge stream: status %d" % r.status)
    return c, r


def daemons(net):
    return {"proxy": net.proxy, "worker": net.workers[0][0], "client": net.client}


def max_rss_growth(procs, base):
    return {n: rss_kb(p.pid) - base[n] for n, p in procs.items()}


def case_slow_reader(net, backend):
    procs = daemons(net)
    figs = Figures(procs)
    base = {n: rss_kb(p.pid) for n, p in procs.items()}
    worker_ids = [w["id"] for w in net.proxy_stats()["workers"]]
    peak = {n: 0 for n in procs}
    c, r = start_huge(net.http_port, HUGE_MB)
    t1 = time.time()
    load = Load(net.http_port, threads=2, timeout=30)
    got, last_sample = 0, 0.0
    while True:
        b = r.read1(CHUNK) if hasattr(r, "read1") else r.read(CHUNK)
        if not b:
            break
        got += len(b)
        # The slow reader: a pause every 4 MiB (fault injection, not a wait).
        if got % (4 << 20) < len(b):
            time.sleep(0.05)
        if time.time() - last_sample > 0.25:
            last_sample = time.time()
            for n, g in max_rss_growth(procs, base).items():
                peak[n] = max(peak[n], g)
    c.close()
    secs = time.time() - t1
    load.stop()
    s = load.check_no_hang("slow huge stream", t1)
    want = HUGE_MB << 20
    report("flow_huge_stream_small_requests", s,
           {"huge_mb": HUGE_MB, "got_bytes": got, "seconds": round(secs, 1),
            "rss_peak_growth_kb": peak, "backend": backend.figures()})
    check(got >= want, "huge stream: %d of %d bytes arrived" % (got, want))
    check(s["requests"] >= 5, "small requests ran during the stream (%d)" % s["requests"])
    check(s["success_rate"] == 1.0, "every small request succeeded during the stream (%r)" % s)
    check(s["p99_s"] < limit(2.5), "small requests p99 %.2f s < %.1f s" %
          (s["p99_s"], limit(2.5)))
    ws = net.proxy_stats()["workers"]
    check([w["id"] for w in ws] == worker_ids,
          "the worker link was never dropped (%r -> %r)" % (worker_ids, [w["id"] for w in ws]))
    for n, g in peak.items():
        bound = 64 * 1024 * rss_scale(procs[n].pid)  # sanitizer builds keep freed memory
        check(g <= bound, "%s RSS grew %d kB during the stream (bound %d kB)" % (n, g, bound))
    figs.check_bounded("slow huge stream")


def case_stopped_reader(net, backend):
    procs = daemons(net)
    base = {n: rss_kb(p.pid) for n, p in procs.items()}
    before = backend.figures()
    c, r = start_huge(net.http_port, 4096)  # 4 GB: never ends by itself
    r.read(1 << 20)  # a little, then nothing more

    def stalled():
        a = backend.figures()
        if a["full"] <= before["full"]:
            return False
        time.sleep(0.5)  # sampling the byte count twice, not waiting for an event
        b = backend.figures()
        return b["written"] == a["written"] and b
    f = wait_until(stalled, 60, "the backend's socket stops taking the stopped stream")
    inflight = f["written"] - before["written"]
    growth = max_rss_growth(procs, base)
    print("FIGURES " + json.dumps({"case": "flow_stopped_reader", "backend_bytes": inflight,
                                   "rss_growth_kb": growth}), flush=True)
    check(inflight < 64 << 20, "the stopped stream left only %d bytes the backend's way" % inflight)
    for n, g in growth.items():
        bound = 64 * 1024 * rss_scale(procs[n].pid)
        check(g <= bound, "%s RSS grew %d kB while the caller stopped (bound %d kB)" % (n, g, bound))
    # An honest request still goes through meanwhile.
    load = Load(net.http_port, threads=1, timeout=30)
    load.wait_ok(3, time.time(), 30, "requests beside a stopped stream")
    load.stop()
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    wait_until(lambda: backend.figures()["broken"] > before["broken"], 30,
               "the backend's stream ends once the caller hung up")


def main(holder):
    net = Network("faults-flow")
    holder.append(net)
    backend = Backend()
    net.start_proxy(request_timeout=600)
    net.start_worker(backend.port)
    net.start_client(extra={"request_timeout": 600})
    net.wait_workers(1)
    net.wait_models()
    case_slow_reader(net, backend)
    case_stopped_reader(net, backend)
    log("faults: flow control kept a huge and a stopped stream from hurting the links")


if __name__ == "__main__":
    run(main)
    sys.exit(0)
