#!/usr/bin/env python3
"""Secure attestation defaults (issue #14):
- a worker or client whose config names no policy refuses to start when a
  proxy is not on the loopback (nothing is dialled: 0.0.0.0 would reach this
  machine anyway), and says how to fix it;
- `policy any` written out is accepted but logged as a warning at start and
  shown on /jsonstats (proxy: top level; client: each proxy link)."""
import os
import time

from cocoonlib import (Network, Proc, binary, check, free_port, http_json, limit, run, wait_until,
                       write_json)


def exits_with(proc, text, timeout=15):
    """Waits (bounded) for proc to exit; returns its log when it failed."""
    wait_until(lambda: not proc.alive(), timeout, proc.name + " exits")
    with open(proc.log_path, encoding="utf-8", errors="replace") as f:
        out = f.read()
    check(proc.p.returncode != 0, "%s exits with an error (rc %s)" % (proc.name, proc.p.returncode))
    check(text in out, "%s says why: %r in %r" % (proc.name, text, out[-500:]))


def main(nets):
    net = Network("secure-defaults")
    nets.append(net)
    net.start_proxy(extra={"policy": "any"})
    wait_until(lambda: "event=policy_any" in open(net.proxy.log_path, errors="replace").read(), 10,
               "proxy logs event=policy_any")
    st = net.proxy_stats()
    check("workers are not attested" in st.get("attestation_warning", ""),
          "proxy /jsonstats carries the policy-any warning")

    # No policy and a proxy off the loopback: refused before any dial.
    remote = "0.0.0.0:%d" % free_port()
    cfg = write_json(os.path.join(net.dir, "worker-remote.json"),
                     {"proxies": [remote], "listen_http": "127.0.0.1:%d" % free_port(),
                      "backend": "openai-http", "backend_url": "http://127.0.0.1:9",
                      "model": "m"})
    exits_with(Proc("worker-remote", [binary("cocoon-worker"), "--config", cfg], net.dir),
               "names no \"policy\"")
    cfg = write_json(os.path.join(net.dir, "client-remote.json"),
                     {"proxies": [remote], "listen_http": "127.0.0.1:%d" % free_port()})
    exits_with(Proc("client-remote", [binary("cocoon-client"), "--config", cfg], net.dir),
               "names no \"policy\"")

    # Written out, any is accepted and warned about.
    port = net.start_client(extra={"policy": "any"})

    def link_warned():
        st, j = http_json(port, "GET", "/jsonstats", timeout=5)
        links = (j or {}).get("proxies") or []
        return st == 200 and links and all("attestation_warning" in l for l in links)
    wait_until(link_warned, 15, "client /jsonstats shows the warning on its proxy link")
    wait_until(lambda: "event=policy_any" in open(net.client.log_path, errors="replace").read(), 10,
               "client logs event=policy_any")


if __name__ == "__main__":
    run(main)
