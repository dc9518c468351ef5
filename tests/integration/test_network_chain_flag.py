#!/usr/bin/env python3
"""`cocoon-proxy --chain none --registry FILE`: the local registry comes from a
JSON file named on the command line; without one the proxy refuses to start
with a message naming the field, and an unsupported chain is refused."""
import os
import subprocess

from cocoonlib import (binary, check, check_eq, free_port, http, http_json, limit, Proc, run,
                       tmpdir, wait_until, write_json)


def start_args(cfg, *extra):
    return [binary("cocoon-proxy"), "--config", cfg] + list(extra)


def main(holder):
    d = tmpdir("cocoon-chain-")
    wport, cport, sport = free_port(), free_port(), free_port()
    reg = write_json(os.path.join(d, "other-registry.json"), {
        "version": 4242, "proxy_image_hashes": "any", "worker_image_hashes": "any",
        "model_hashes": ["ab" * 32]})
    cfg = write_json(os.path.join(d, "proxy.json"), {
        "listen_workers": "127.0.0.1:%d" % wport, "listen_clients": "127.0.0.1:%d" % cport,
        "listen_http": "127.0.0.1:%d" % sport, "pow_difficulty": 2})

    # No registry anywhere: refused at start, naming the field.
    r = subprocess.run(start_args(cfg), capture_output=True, text=True, timeout=limit(30))
    check_eq(r.returncode, 2, "exit status without a registry")
    check("\"registry\"" in r.stderr and "--registry" in r.stderr, "message: %r" % r.stderr)

    # A chain we cannot reach yet: refused with a clear message.
    r = subprocess.run(start_args(cfg, "--chain", "https://example.invalid/api/v2", "--registry", reg),
                       capture_output=True, text=True, timeout=limit(30))
    check(r.returncode != 0, "an unsupported chain must not start")
    check("only" in r.stderr and "none" in r.stderr, "message: %r" % r.stderr)

    # --chain none --registry FILE: starts, and /jsonstats reflects that file.
    p = Proc("proxy", start_args(cfg, "--chain", "none", "--registry", reg), d)
    wait_until(lambda: http(sport, "GET", "/healthz", timeout=2)[0] == 200, 15, "proxy health")
    st, stats = http_json(sport, "GET", "/jsonstats")
    check_eq(st, 200, "/jsonstats status")
    check_eq(stats.get("registry_version"), 4242, "version of the registry in use (from --registry)")
    p.stop()


if __name__ == "__main__":
    run(main)
