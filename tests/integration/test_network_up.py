#!/usr/bin/env python3
"""`cocoon up`: prints `ready http://127.0.0.1:PORT`, serves a request, and stops
every child on SIGTERM (and on SIGINT); a child that dies is restarted and
serves again; one that keeps dying (a crash loop) stops the rest."""
import json
import os
import signal
import time

from cocoonlib import (Proc, binary, check, check_eq, children_of, free_port, http_json, limit,
                       log, run, tmpdir, wait_until)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def start_up(workdir, name, extra):
    port = free_port()
    d = os.path.join(workdir, name)
    up = Proc(name, [binary("cocoon"), "up", "--port", str(port), "--dir", d] + extra, workdir,
              capture_stdout=True)
    m = up.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=120)
    check_eq(int(m.group(1)), port, "port in the ready line")
    return up, port, d


def main(holder):
    work = tmpdir("cocoon-up-test-")
    backend = ["--backend", "openai-http"]
    # Wanted: the embedded engine by default; the fake backend keeps this test
    # independent of model files. A separate run covers the default below.
    up, port, d = start_up(work, "up1", backend + ["--workers", "2"])
    kids = children_of(up.pid)
    check_eq(len(kids), 6, "children: tonsim, fake backend, proxy, 2 workers, client (%r)" % kids)
    for f in ("registry.json", "proxy.json", "worker-1.json", "worker-2.json", "client.json"):
        check(os.path.exists(os.path.join(d, f)), "%s written" % f)
    st, j = http_json(port, "POST", "/v1/chat/completions",
                      {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}],
                       "max_tokens": 3})
    check_eq(st, 200, "request through cocoon up")
    check_eq(j["usage"]["completion_tokens"], 3, "completion tokens")
    up.signal(signal.SIGTERM)
    up.p.wait(limit(20))
    check_eq(up.p.returncode, 0, "cocoon up exit status after SIGTERM")
    for k in kids:
        check(not alive(k), "child %d stopped" % k)
    log("cocoon up: ready, served, stopped all children on SIGTERM")

    # A child killed with SIGKILL is restarted, logged, and serves again.
    up, port, d = start_up(work, "up2", backend + ["--crash-limit", "2", "--crash-window", "600"])
    kids = children_of(up.pid)

    def child(role):
        ks = [k for k in children_of(up.pid) if role in open("/proc/%d/cmdline" % k).read()]
        check_eq(len(ks), 1, "one %s child" % role)
        return ks[0]

    def served():
        try:
            st, j = http_json(port, "POST", "/v1/chat/completions",
                              {"model": "fake-model",
                               "messages": [{"role": "user", "content": "hi"}],
                               "max_tokens": 2}, timeout=10)
        except OSError:
            return False
        return st == 200

    for role, n in (("cocoon-worker", 1), ("cocoon-proxy", 2)):
        victim = child(role)
        t0 = time.time()
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: up.log_tail(400).count(" restarted (pid ") == n,
                   30, "%s restarted" % role)
        check("(pid %d) was killed by signal 9" % victim in up.log_tail(400),
              "the death of %s is logged" % role)
        check(up.alive(), "cocoon up keeps running after %s died" % role)
        # The restart is logged right after the fork, so the new child may still carry
        # cocoon up's own command line until it execs: wait for it to become the role.
        wait_until(lambda: child(role) != victim, 30, "a new %s process" % role)
        wait_until(served, 60, "requests served after %s restarted" % role)
        log("cocoon up: %s killed, restarted and serving again after %.1f s" %
            (role, time.time() - t0))
    # A second death of the same child within the window is a crash loop.
    victim = child("cocoon-worker")
    os.kill(victim, signal.SIGKILL)
    up.p.wait(limit(20))
    check_eq(up.p.returncode, 1, "cocoon up exit status after a crash loop")
    for k in children_of(up.pid) + kids:
        check(not alive(k), "child %d stopped after the crash loop" % k)
    check("died 2 times within 600 s" in up.log_tail(), "the crash loop is reported")
    log("cocoon up: a crash loop stops the rest")

    # SIGINT (Ctrl-C) too.
    up, port, d = start_up(work, "up3", backend)
    kids = children_of(up.pid)
    up.signal(signal.SIGINT)
    up.p.wait(limit(20))
    check_eq(up.p.returncode, 0, "exit status after SIGINT")
    for k in kids:
        check(not alive(k), "child %d stopped after SIGINT" % k)
    log("cocoon up: SIGINT stops everything")

    # The default backend (embedded engine with the default model), when built.
    up = Proc("up4", [binary("cocoon"), "up", "--port", str(free_port()), "--dir",
                      os.path.join(work, "up4")], work, capture_stdout=True)
    t0 = time.time()
    try:
        m = up.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=120)
    except AssertionError:
        text = up.log_tail(50)
        wlog = os.path.join(work, "up4", "worker-1.log")
        if os.path.exists(wlog):
            text += open(wlog).read()
        for why in ("embedded is not built", "no default model found"):
            if why in text:
                log("cocoon up default (embedded) skipped: %s" % why)
                up.stop()
                return
        raise
    port = int(m.group(1))
    st, models = http_json(port, "GET", "/v1/models")
    model = models["data"][0]["id"]
    st, j = http_json(port, "POST", "/v1/completions",
                      {"model": model, "prompt": "Once upon a time", "max_tokens": 8}, timeout=60)
    check_eq(st, 200, "embedded completion status")
    check(len(j["choices"][0]["text"]) > 0, "embedded model produced text")
    up.signal(signal.SIGTERM)
    up.p.wait(limit(20))
    log("cocoon up default (embedded %s): ready after %.1f s, completion %r" %
        (model, time.time() - t0, j["choices"][0]["text"][:40]))


if __name__ == "__main__":
    run(main)
