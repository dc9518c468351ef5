#!/usr/bin/env python3
"""A burst larger than the workers' caps waits at the proxy instead of failing:
with max_active_requests 1 per worker, concurrent requests are all served, one
at a time per worker, in arrival order."""
import threading

from cocoonlib import (check, check_eq, http_json, limit, log, Network, run, sse_events, Stream,
                       wait_until)

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5,
        "stream": True, "fake": {"delay_ms": 100}}


def main(holder):
    net = Network("queue")
    holder.append(net)
    b = net.start_backend()
    net.start_proxy()
    net.start_worker(b, extra={"max_active_requests": 1})
    net.start_worker(b, extra={"max_active_requests": 1})
    port = net.start_client()
    net.wait_workers(2, enabled=2)
    net.wait_models()

    results = [None] * 6
    def one(i):
        s = Stream(port, "/v1/chat/completions", CHAT, timeout=60)
        results[i] = (s.status, sse_events(s.read_all()))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    peak = 0
    while any(t.is_alive() for t in threads):
        ws = net.proxy_stats()["workers"]
        check(all(w["active"] <= 1 for w in ws), "a worker exceeded its cap: %r" % ws)
        peak = max(peak, sum(w["active"] for w in ws))
        for t in threads:
            t.join(0.02)
    for i, (st, events) in enumerate(results):
        check_eq(st, 200, "request %d status" % i)
        check_eq(events[-1], "[DONE]", "request %d completed" % i)
    req = net.proxy_stats()["requests"]
    check(req["queued_total"] >= 2, "requests waited for a slot: %r" % req)
    check_eq(req["waiting"], 0, "queue empty at the end")
    check_eq(req["no_worker"], 0, "nobody was refused")
    log("6 concurrent requests on 2 workers capped at 1: all served (queued %d, peak %d)" %
        (req["queued_total"], peak))

    # Requests still waiting when the last worker goes away fail instead of hanging.
    ended = [None] * 4
    def slow(i):
        st = Stream(port, "/v1/chat/completions", dict(CHAT, fake={"delay_ms": 300}), timeout=60)
        ended[i] = (st.status, st.read_all())
    threads = [threading.Thread(target=slow, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: net.proxy_stats()["requests"]["waiting"] == 2, 10, "two waiting requests")
    for p, _ in net.workers:
        p.kill()
    for t in threads:
        t.join(limit(30))
        check(not t.is_alive(), "a request hung after the workers left")
    for i, (st, data) in enumerate(ended):
        check(st != 200 or b"[DONE]" not in data, "request %d cannot have completed" % i)
    check_eq(net.proxy_stats()["requests"]["waiting"], 0, "queue empty after the workers left")
    log("waiting requests fail when no worker is left: %r" % [e[0] for e in ended])


if __name__ == "__main__":
    run(main)
