#!/usr/bin/env python3
"""Faults: kill -9 and SIGSTOP of each role (worker, proxy, client) under
honest load, on a network of one proxy, two workers and one client.

Stated times (limits are scaled by COCOON_TEST_TIMEOUT_SCALE): a stopped
worker is dropped by the proxy's liveness check within 15 s (its default
worker_liveness_timeout is 8 s) and honest requests succeed again at once
after; after any other fault, honest requests succeed within 30 s of the
role coming back. During every case no caller hangs and every failure is an
OpenAI JSON error; after it, every daemon is alive with RSS and descriptor
counts bounded. The FIGURES lines give success rate and p99 per case."""
import os
import signal
import sys
import time

from faultlib import Figures, Load, report
from cocoonlib import Network, Proc, binary, check, log, run, wait_until


def main(holder):
    net = Network("faults-roles")
    holder.append(net)
    bport = net.start_backend(chunks=4, chunk_bytes=32)
    net.start_proxy(request_timeout=60)
    net.start_worker(bport)
    net.start_worker(bport)
    # A request timeout above the proxy's worker liveness timeout (8 s), so
    # requests caught on a stopped worker are retried rather than timed out,
    # yet short enough that a caller behind a stopped proxy gets its error
    # (504 as OpenAI JSON) in seconds.
    net.start_client(extra={"request_timeout": 15})
    net.wait_workers(2)
    net.wait_models()
    load = Load(net.http_port, threads=4, timeout=30)
    load.wait_ok(20, 0, 30, "warm-up")

    def figures():
        return Figures({"proxy": net.proxy, "client": net.client, "worker-0": net.workers[0][0]})

    # ---- SIGSTOP one worker: the proxy drops it and serves on the other.
    figs = figures()
    victim = net.workers[1][0]
    t0 = time.time()
    os.kill(victim.pid, signal.SIGSTOP)
    wait_until(lambda: len(net.proxy_stats()["workers"]) == 1, 15, "stopped worker dropped")
    dropped = time.time() - t0
    load.wait_ok(20, time.time(), 30, "after the stopped worker was dropped")
    s = load.check_no_hang("worker SIGSTOP", t0)
    report("worker_sigstop", s, {"dropped_after_s": round(dropped, 2)})
    check(s["p99_s"] < 15 * 4, "worker SIGSTOP: p99 %.2f s" % s["p99_s"])
    os.kill(victim.pid, signal.SIGCONT)
    net.wait_workers(2, timeout=30)  # it notices the dropped link and reconnects
    figs.check_bounded("worker SIGSTOP")

    # ---- kill -9 a worker: its requests retry on the other one.
    figs = figures()
    t0 = time.time()
    victim.kill()
    wait_until(lambda: len(net.proxy_stats()["workers"]) == 1, 15, "killed worker gone")
    load.wait_ok(20, time.time(), 30, "after a worker was killed")
    s = load.check_no_hang("worker kill -9", t0)
    report("worker_kill9", s)
    net.start_worker(bport)
    net.wait_workers(2, timeout=30)
    figs.check_bounded("worker kill -9")

    # ---- SIGSTOP the proxy: callers get errors (the client's own deadline,
    # request_timeout plus its 15 s margin), then service resumes. The
    # proxy's links to the workers survive its own stop: their silence was
    # not the workers' fault.
    figs = figures()
    ids = sorted(w["id"] for w in net.proxy_stats()["workers"])
    t0 = time.time()
    os.kill(net.proxy.pid, signal.SIGSTOP)
    wait_until(lambda: load.count("error", t0) >= 1, 60, "callers told of the stopped proxy")
    first_error = time.time() - t0
    os.kill(net.proxy.pid, signal.SIGCONT)
    t1 = time.time()
    load.wait_ok(20, t1, 30, "after the proxy resumed")
    check(sorted(w["id"] for w in net.proxy_stats()["workers"]) == ids,
          "proxy SIGSTOP: the worker links survived the proxy's stop")
    s = load.check_no_hang("proxy SIGSTOP", t0)
    report("proxy_sigstop", s, {"stopped_s": round(t1 - t0, 2),
                                "first_error_s": round(first_error, 2)})
    figs.check_bounded("proxy SIGSTOP")

    # ---- kill -9 the proxy and start it again on the same ports.
    t0 = time.time()
    net.proxy.kill()
    net.proxy = Proc("proxy-2", [binary("cocoon-proxy"), "--config",
                                 os.path.join(net.dir, "proxy.json")], net.dir)
    net.wait_workers(len([w for w in net.workers if w[0].alive()]), timeout=30)
    t1 = time.time()
    load.wait_ok(20, t1, 30, "after the proxy restarted")
    s = load.check_no_hang("proxy kill -9", t0)
    report("proxy_kill9", s, {"back_after_s": round(t1 - t0, 2)})
    figs = figures()

    # ---- SIGSTOP the client for 3 s (the length of the fault, not a wait):
    # its callers wait in the kernel meanwhile, then every one gets its
    # answer, and its link to the proxy survives the stop.
    figs = figures()
    links = net.proxy_stats()["clients_accepted"]
    t0 = time.time()
    os.kill(net.client.pid, signal.SIGSTOP)
    time.sleep(3)
    os.kill(net.client.pid, signal.SIGCONT)
    t1 = time.time()
    load.wait_ok(20, t1, 30, "after the client resumed")
    check(net.proxy_stats()["clients_accepted"] == links,
          "client SIGSTOP: its link to the proxy survived the stop")
    s = load.check_no_hang("client SIGSTOP", t0)
    report("client_sigstop", s, {"stopped_s": round(t1 - t0, 2)})
    figs.check_bounded("client SIGSTOP")

    # ---- kill -9 the client and start it again (callers are refused while
    # its port is closed, then served).
    t0 = time.time()
    net.client.kill()
    net.client = Proc("client-2", [binary("cocoon-client"), "--config",
                                   os.path.join(net.dir, "client.json")], net.dir)
    load.wait_ok(20, time.time(), 30, "after the client restarted")
    s = load.check_no_hang("client kill -9", t0)
    report("client_kill9", s)
    load.stop()
    figs = Figures({"proxy": net.proxy, "worker-0": net.workers[0][0]})
    figs.check_bounded("client kill -9")
    log("faults: every role killed and stopped under load; service came back each time")


if __name__ == "__main__":
    run(main)
    sys.exit(0)
