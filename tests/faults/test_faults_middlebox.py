#!/usr/bin/env python3
"""Faults: a TCP middlebox on loopback between the client and the proxy, and
between the proxy and the workers, that delays, duplicates, drops and
truncates the bytes (each damages TLS records: the link must fail cleanly
and come back).

Stated: while bytes are delayed by 50 ms per chunk, at least 99% of honest
requests succeed; during every other damage no caller hangs and every
failure is an OpenAI JSON error; after the damage stops, honest requests
succeed within 30 s (scaled); every daemon survives with RSS and descriptors
bounded. FIGURES lines give success rate and p99 per hop and mode."""
import sys
import time

from faultlib import Figures, Load, Middlebox, report
from cocoonlib import Network, check, log, run, wait_until


def main(holder):
    net = Network("faults-mbox")
    holder.append(net)
    bport = net.start_backend(chunks=8, chunk_bytes=64)
    net.start_proxy(request_timeout=60)
    to_proxy_workers = Middlebox(net.worker_port)
    to_proxy_clients = Middlebox(net.client_port)
    for _ in range(2):
        net.start_worker(bport, extra={"proxies": ["127.0.0.1:%d" % to_proxy_workers.port]})
    net.start_client(proxies=["127.0.0.1:%d" % to_proxy_clients.port],
                     extra={"request_timeout": 10})
    net.wait_workers(2)
    net.wait_models()
    load = Load(net.http_port, threads=4, timeout=30)
    load.wait_ok(20, 0, 30, "warm-up")
    figs = Figures({"proxy": net.proxy, "client": net.client, "worker-0": net.workers[0][0],
                    "worker-1": net.workers[1][0]})

    for hop, mb in (("client-proxy", to_proxy_clients), ("proxy-worker", to_proxy_workers)):
        for mode, kw in (("delay", {"delay": 0.05}), ("duplicate", {}), ("drop", {}),
                         ("truncate", {"cut": 3000})):
            case = "%s %s" % (hop, mode)
            t0 = time.time()
            mb.set(mode, **kw)
            # Let the fault meet real traffic: a few requests end under it.
            wait_until(lambda: load.summary(t0)["requests"] >= 12, 60, "%s: traffic" % case)
            t1 = time.time()
            s = load.check_no_hang(case, t0)
            mb.set("pass")
            if mode == "delay":
                check(s["success_rate"] >= 0.99, "%s: success rate %.3f" % (case, s["success_rate"]))
            # Service returns once the bytes flow again (links reconnect).
            back = load.wait_ok(8, time.time(), 30, "%s: after the damage stopped" % case)
            report(case.replace(" ", "_"), s, {"damage_s": round(t1 - t0, 2),
                                               "recovered_s": round(back, 2)})
    load.stop()
    figs.check_bounded("middlebox")
    to_proxy_clients.close()
    to_proxy_workers.close()
    log("faults: delayed, duplicated, dropped and truncated bytes on both hops survived")


if __name__ == "__main__":
    run(main)
    sys.exit(0)
