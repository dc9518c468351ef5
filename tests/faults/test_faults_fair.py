#!/usr/bin/env python3
"""Faults: one client floods the proxy with slow streamed requests (150 at once,
each held 1 s by the backend, against a worker with 4 slots, so ~146 wait), while
another client sends honest requests.

Before the fair limits, waiting requests were served oldest first: the
honest client's requests waited behind the whole flood (~37 s here). Now
each client has its own line and freed slots go to the clients in turn.
Stated: the honest client's requests all succeed, with p99 under 10 s
(scaled by COCOON_TEST_TIMEOUT_SCALE / 4: the limit is limit(2.5)); the
flooding client's requests succeed too, or fail with OpenAI JSON; every
daemon lives with bounded RSS and descriptors."""
import json
import sys
import threading
import time
from http import client as httpclient

from faultlib import MODEL, Figures, Load, is_openai_error, report
from cocoonlib import Network, check, limit, log, run, wait_until

FLOOD = 150


def flood_one(port, out, lock):
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "slow"}],
                       "max_tokens": 4, "stream": True, "fake": {"delay_ms": 250}}).encode()
    try:
        c = httpclient.HTTPConnection("127.0.0.1", port, timeout=limit(120))
        c.request("POST", "/v1/chat/completions", body=body,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status == 200:
            o = "ok" if b"[DONE]" in data else "error" if b'"error"' in data else "bad"
        else:
            o = "error" if is_openai_error(data) else "bad"
    except OSError:
        o = "hang"
    with lock:
        out.append(o)


OWNER_FLOOD = "0:" + "f1" * 32
OWNER_HONEST = "0:" + "a7" * 32


def owner_case():
    """One owner with three client connections (three cocoon-client daemons
    announcing the same owner address) floods; another owner with one client
    sends honest requests. The proxy's limits are per owner: with
    client_max_active 2 the flooding owner never has more than 2 requests on
    the worker (per connection it would have 6), so the worker never runs
    more than 3 (with the honest one), and the honest owner's
    requests all succeed with p99 under limit(2.5) s."""
    net = Network("faults-fair-owner")
    bport = net.start_backend(chunks=4, chunk_bytes=32)
    net.start_proxy(request_timeout=120, extra={"client_max_active": 2})
    net.start_worker(bport, extra={"max_active_requests": 16})
    flood_ports = [net.start_client(name="flood%d" % i,
                                    extra={"request_timeout": 120, "owner_address": OWNER_FLOOD})
                   for i in range(3)]
    honest_port = net.start_client(name="honest",
                                   extra={"request_timeout": 120, "owner_address": OWNER_HONEST})
    net.wait_workers(1)
    net.wait_models()
    for port in flood_ports:
        net.http_port = port
        net.wait_models()
    results, lock = [], threading.Lock()
    n = 40
    threads = [threading.Thread(target=flood_one, args=(flood_ports[i % 3], results, lock),
                                daemon=True) for i in range(3 * n)]
    for t in threads:
        t.start()
    wait_until(lambda: net.proxy_stats()["requests"]["waiting"] >= n, 60,
               "the flood waiting at the proxy")
    t1 = time.time()
    honest = Load(honest_port, threads=1, timeout=60)
    peak = 0
    while honest.count("ok", t1) < 10:
        # Requests on the worker: the flooding owner's and at most one honest.
        peak = max(peak, net.proxy_stats()["workers"][0]["active"])
        check(time.time() - t1 < limit(60), "owner case: honest requests did not go through")
        time.sleep(0.05)
    honest.stop()
    s = honest.check_no_hang("flooding owner", t1)
    owners = {c.get("owner") for c in net.proxy_stats()["clients"]}
    report("fair_owner_three_connections", s, {"flood": 3 * n, "worker_active_peak": peak,
                                                "owners": sorted(o for o in owners if o)})
    check(s["success_rate"] == 1.0, "flooding owner: every honest request succeeded")
    check(s["p99_s"] < limit(2.5), "flooding owner: honest p99 %.2f s < %.0f s" %
          (s["p99_s"], limit(2.5)))
    check(peak >= 2, "the flood kept the worker busy (%d at once)" % peak)
    check(peak <= 3, "the flooding owner's three connections ran at most 2 at once, beside one "
          "honest request (%d on the worker)" % peak)
    check(len([o for o in owners if o]) == 2, "two owners at the proxy (%r)" % owners)
    for t in threads:
        t.join(limit(120))
    by = {o: results.count(o) for o in set(results)}
    check(by.get("hang", 0) == 0 and by.get("bad", 0) == 0,
          "flooding owner: its own requests end with answers or OpenAI errors (%r)" % by)
    log("faults: an owner with three connections got one owner's share")


def main(holder):
    owner_case()
    net = Network("faults-fair")
    holder.append(net)
    bport = net.start_backend(chunks=4, chunk_bytes=32)
    net.start_proxy(request_timeout=120)
    net.start_worker(bport, extra={"max_active_requests": 4})
    flood_port = net.start_client(name="flood", extra={"request_timeout": 120})
    honest_port = net.start_client(name="honest", extra={"request_timeout": 120})
    net.wait_workers(1)
    net.wait_models()
    figs = Figures({"proxy": net.proxy, "worker-0": net.workers[0][0]})

    results, lock = [], threading.Lock()
    threads = [threading.Thread(target=flood_one, args=(flood_port, results, lock), daemon=True)
               for _ in range(FLOOD)]
    t0 = time.time()
    for t in threads:
        t.start()
    wait_until(lambda: net.proxy_stats()["requests"]["waiting"] >= FLOOD // 2, 60,
               "the flood waiting at the proxy")
    t1 = time.time()
    honest = Load(honest_port, threads=2, timeout=60)
    honest.wait_ok(20, t1, 60, "honest requests during the flood")
    honest.stop()
    s = honest.check_no_hang("flooding client", t1)
    waiting = net.proxy_stats()["requests"]["waiting"]
    report("fair_honest_during_flood", s, {"flood": FLOOD, "flood_waiting_after": waiting})
    check(s["success_rate"] == 1.0, "flooding client: every honest request succeeded")
    check(s["p99_s"] < limit(2.5), "flooding client: honest p99 %.2f s < %.0f s" %
          (s["p99_s"], limit(2.5)))
    for t in threads:
        t.join(limit(120))
    by = {o: results.count(o) for o in set(results)}
    print("FIGURES " + json.dumps({"case": "fair_flood_itself", "outcomes": by,
                                   "seconds": round(time.time() - t0, 2)}), flush=True)
    check(by.get("hang", 0) == 0 and by.get("bad", 0) == 0,
          "flooding client: its own requests end with answers or OpenAI errors (%r)" % by)
    figs.check_bounded("flooding client")
    log("faults: a flooding client did not starve an honest one")


if __name__ == "__main__":
    run(main)
    sys.exit(0)
