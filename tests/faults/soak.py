#!/usr/bin/env python3
"""`make soak`: mixed load (plain requests, streamed requests read to the
end, and streams the caller abandons after the first bytes, which cancels
them upstream) through one proxy, two workers and a client for
COCOON_SOAK_SECONDS (default 600), then the RSS and descriptor drift of each
daemon between the end of the warm-up and the end of the run. Prints one
FIGURES line per load and per daemon; fails only when a daemon died, a
caller hung or a failure was not OpenAI JSON."""
import json
import os
import sys
import threading
import time
from http import client as httpclient

from faultlib import MODEL, Load, fd_count, report, rss_kb
from cocoonlib import Network, check, limit, log, run


class Abandon:
    """Callers that start a stream, read its first bytes and hang up."""

    def __init__(self, port):
        self.port, self.n, self.running = port, 0, True
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                           "max_tokens": 16, "stream": True}).encode()
        while self.running:
            try:
                c = httpclient.HTTPConnection("127.0.0.1", self.port, timeout=limit(30))
                c.request("POST", "/v1/chat/completions", body=body,
                          headers={"Content-Type": "application/json"})
                c.getresponse().read1(64)
                c.close()
                self.n += 1
            except (OSError, httpclient.HTTPException):
                time.sleep(0.05)

    def stop(self):
        self.running = False
        self.t.join(limit(30))


def main(holder):
    seconds = float(os.environ.get("COCOON_SOAK_SECONDS", "600"))
    net = Network("soak")
    holder.append(net)
    bport = net.start_backend(chunks=16, chunk_bytes=256)
    net.start_proxy(request_timeout=60)
    net.start_worker(bport)
    net.start_worker(bport)
    net.start_client(extra={"request_timeout": 30})
    net.wait_workers(2)
    net.wait_models()
    plain = Load(net.http_port, threads=3, timeout=30)
    streamed = Load(net.http_port, threads=2, timeout=30, stream=True)
    abandon = Abandon(net.http_port)
    plain.wait_ok(20, 0, 30, "warm-up")
    procs = {"proxy": net.proxy, "client": net.client, "worker-0": net.workers[0][0],
             "worker-1": net.workers[1][0]}
    base = {n: (rss_kb(p.pid), fd_count(p.pid)) for n, p in procs.items()}
    t0 = time.time()
    next_report = t0 + 60
    while time.time() - t0 < seconds:
        time.sleep(1)  # the soak's clock, not a wait for an event
        for n, p in procs.items():
            check(p.alive(), "soak: %s alive after %.0f s" % (n, time.time() - t0))
        if time.time() >= next_report:
            next_report += 60
            log("soak %.0f s: %s" % (time.time() - t0, {
                n: (rss_kb(p.pid), fd_count(p.pid)) for n, p in procs.items()}))
    plain.stop()
    streamed.stop()
    abandon.stop()
    print("FIGURES " + json.dumps({"case": "soak_abandoned_streams", "count": abandon.n}))
    for load, name in ((plain, "plain"), (streamed, "streamed")):
        s = load.check_no_hang("soak " + name, t0)
        report("soak_" + name, s, {"seconds": seconds})
    for n, p in procs.items():
        r0, f0 = base[n]
        r1, f1 = rss_kb(p.pid), fd_count(p.pid)
        print("FIGURES " + json.dumps({"case": "soak_drift", "daemon": n, "rss_kb": [r0, r1],
                                       "rss_drift_kb": r1 - r0, "fds": [f0, f1],
                                       "fd_drift": f1 - f0}), flush=True)


if __name__ == "__main__":
    run(main)
    sys.exit(0)
