#!/usr/bin/env python3
"""Failures between proxy and workers: a worker killed before a request sends the
request to another worker; a worker killed mid-stream ends the client's stream
with an error (no hang) and the proxy keeps serving; a backend that goes down
disables its worker and requests go to the others; a cancelled HTTP request is
cancelled upstream."""
import json
import time

from cocoonlib import (check, check_eq, http_json, limit, log, Network, run, sse_events, Stream,
                       wait_until)

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


def ok_request(port, what, content=None):
    body = dict(CHAT, messages=[{"role": "user", "content": content}]) if content else CHAT
    st, j = http_json(port, "POST", "/v1/chat/completions", body, timeout=20)
    check_eq(st, 200, what)
    check_eq(j["usage"]["completion_tokens"], 4, what + " completion tokens")


def worker_active(hport):
    st, j = http_json(hport, "GET", "/jsonstats", timeout=5)
    return j["requests"]["active"]


def main(holder):
    net = Network("failover")
    holder.append(net)
    b0 = net.start_backend()
    b1 = net.start_backend()
    b2 = net.start_backend()
    net.start_proxy()
    w0, _ = net.start_worker(b0)
    w1, _ = net.start_worker(b1)
    w2, _ = net.start_worker(b2)
    port = net.start_client()
    net.wait_workers(3, enabled=3)
    net.wait_models()
    for i in range(6):
        ok_request(port, "warm-up request %d" % i)

    # 1. A worker killed before a request: every request still succeeds.
    w0.kill()
    for i in range(8):
        ok_request(port, "request %d after a worker was killed" % i)
    net.wait_workers(2)
    log("killed worker before requests: ok")

    # 2. A worker killed mid-stream: the stream ends with an error, no hang.
    s = Stream(port, "/v1/chat/completions",
               dict(CHAT, stream=True, max_tokens=200, fake={"delay_ms": 50}), timeout=30)
    check_eq(s.status, 200, "stream status")
    first = s.read_some()
    check(b"c0:" in first, "stream started: %r" % first[:60])
    busy = [(p, h) for (p, h) in net.workers[1:] if p.alive() and worker_active(h) > 0]
    check_eq(len(busy), 1, "exactly one worker runs the stream")
    victim = busy[0][0]
    t0 = time.time()
    victim.kill()
    data = s.read_all()  # must return: the proxy ends the request
    elapsed = time.time() - t0
    events = sse_events(data)
    check(elapsed < limit(10), "stream ended %.1f s after the kill" % elapsed)
    check("[DONE]" not in events, "a broken stream must not end with [DONE]")
    last = json.loads(events[-1])
    check("error" in last, "last event is an error: %r" % events[-1][:200])
    log("worker killed mid-stream: stream ended with %r after %.2f s" %
        (last["error"]["message"], elapsed))
    net.wait_workers(1)
    for i in range(3):
        ok_request(port, "request %d after the mid-stream kill" % i)

    # 3. Backend down: its worker is disabled and requests go elsewhere.
    net.start_worker(b0)  # a new worker on the first backend
    net.wait_workers(2, enabled=2)
    survivor_backend = [p for (p, _) in net.backends][0]
    survivor_backend.kill()  # b0 is down: the new worker must disable itself
    net.wait_workers(2, enabled=1)
    for i in range(6):
        ok_request(port, "request %d with one backend down" % i)
    stats = net.proxy_stats()
    disabled = [w for w in stats["workers"] if not w["enabled"]]
    check_eq(len(disabled), 1, "one disabled worker at the proxy")
    check_eq(disabled[0]["active"], 0, "the disabled worker got no request")
    log("backend down: worker disabled, requests served by the other")

    # 3b. A worker whose backend died but which has not noticed yet (slow health
    # polls): its requests fail before any byte and are retried elsewhere.
    b3 = net.start_backend()
    net.start_worker(b3, extra={"health_interval": 120})
    net.wait_workers(3, enabled=2)
    net.backends[-1][0].kill()
    retried_before = net.proxy_stats()["requests"]["retried"]
    # Distinct conversations (a repeated one returns to the worker that served
    # it), until one lands on the dead backend's worker: ties go at random.
    for i in range(40):
        ok_request(port, "request %d with a silently dead backend" % i, "dead backend %d" % i)
        retried = net.proxy_stats()["requests"]["retried"] - retried_before
        if retried >= 1 and i >= 7:
            break
    check(retried >= 1, "requests were retried on another worker (%d)" % retried)
    log("worker failing before the first byte: %d request(s) retried elsewhere" % retried)

    # 4. The HTTP caller goes away: the request is cancelled upstream.
    s = Stream(port, "/v1/chat/completions",
               dict(CHAT, stream=True, max_tokens=500, fake={"delay_ms": 50}), timeout=30)
    s.read_some()
    s.close()
    wait_until(lambda: net.proxy_stats()["requests"]["active"] == 0, 10,
               "the proxy to drop the cancelled request")
    stats = net.proxy_stats()
    check(stats["requests"]["cancelled"] >= 1, "cancellation counted: %r" % stats["requests"])
    def worker_cancelled():
        total = 0
        for p, h in net.workers:
            if p.alive():
                total += http_json(h, "GET", "/jsonstats", timeout=5)[1]["requests"]["cancelled"]
        return total >= 1
    wait_until(worker_cancelled, 10, "the worker to cancel its backend call")
    ok_request(port, "request after a cancellation")
    log("caller went away: request cancelled upstream")

    # 5. No worker left: 503, not a hang.
    for p, _ in net.workers:
        p.kill()
    net.wait_workers(0)
    st, j = http_json(port, "POST", "/v1/chat/completions", CHAT, timeout=20)
    check(st in (404, 503), "no worker: status %d" % st)
    log("no worker: %d %s" % (st, j["error"]["message"]))


if __name__ == "__main__":
    run(main)
