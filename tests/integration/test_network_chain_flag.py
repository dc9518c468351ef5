#!/usr/bin/env python3
"""`cocoon-proxy --chain none --registry FILE`: the local registry comes from a
JSON file named on the command line; without one the proxy refuses to start
with a message naming the field; a chain URL needs a root address, and a
chain that cannot be read stops the start with a message naming both (the
chain's own behaviour is in test_up_chain.py)."""
import os
import subprocess

from cocoonlib import (binary, check, check_eq, free_port, http, http_json, limit, Proc, run,
                       tmpdir, wait_until, write_json)


ROOT = "0:" + "11" * 32


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

    # A chain URL without a root, a chain that is no URL, a root that is no
    # address: refused before anything starts, naming what is wrong.
    r = subprocess.run(start_args(cfg, "--chain", "http://127.0.0.1:1/api/v2"),
                       capture_output=True, text=True, timeout=limit(30))
    check_eq(r.returncode, 2, "exit status of a chain without a root")
    check("\"root_address\"" in r.stderr and "--root" in r.stderr, "message: %r" % r.stderr)
    r = subprocess.run(start_args(cfg, "--chain", "tonsim", "--root", ROOT),
                       capture_output=True, text=True, timeout=limit(30))
    check_eq(r.returncode, 2, "exit status of a chain that is no URL")
    check("\"chain\"" in r.stderr and "none" in r.stderr, "message: %r" % r.stderr)
    r = subprocess.run(start_args(cfg, "--chain", "http://127.0.0.1:1/api/v2", "--root", "0:zz"),
                       capture_output=True, text=True, timeout=limit(30))
    check_eq(r.returncode, 2, "exit status of a bad root address")
    check("\"root_address\"" in r.stderr, "message: %r" % r.stderr)

    # A chain we cannot reach (nothing listens on port 1 of loopback): the
    # first read of the root fails, and so does the start, naming both.
    r = subprocess.run(start_args(cfg, "--chain", "http://127.0.0.1:1/api/v2", "--root", ROOT),
                       capture_output=True, text=True, timeout=limit(60))
    check_eq(r.returncode, 1, "exit status when the chain cannot be read")
    check("127.0.0.1:1" in r.stderr and ROOT in r.stderr, "message: %r" % r.stderr)

    # --chain none --registry FILE: starts, and /jsonstats reflects that file.
    p = Proc("proxy", start_args(cfg, "--chain", "none", "--registry", reg), d)
    wait_until(lambda: http(sport, "GET", "/healthz", timeout=2)[0] == 200, 15, "proxy health")
    st, stats = http_json(sport, "GET", "/jsonstats")
    check_eq(st, 200, "/jsonstats status")
    check_eq(stats.get("registry_version"), 4242, "version of the registry in use (from --registry)")
    p.stop()


if __name__ == "__main__":
    run(main)
