#!/usr/bin/env python3
"""Persistent identities: the client and the worker keep their signing key (and
so their wallet address) across restarts in their state folders; the proxy
announces its persistent key, not its rotating TLS one, so a restarted proxy
is served again; a proxy that comes back with another key is refused by the
worker (COCOON's "PROXY PUBLIC KEY CHANGED"), with a log line and /jsonstats
entries."""
import os

from cocoonlib import (Network, Proc, binary, check, check_eq, jsonstats, read_text, run,
                       wait_until)


def identity(port):
    j = jsonstats(port)
    return j["identity"] if j else None


def wait_identity(port, what):
    return wait_until(lambda: identity(port), 20, what)


def worker_link(port):
    j = jsonstats(port)
    return j["proxies"][0] if j else None


def main(holder):
    net = Network("identity")
    holder.append(net)
    bport = net.start_backend()
    net.start_proxy(extra={"state_dir": "proxy-state"})
    wproc, whttp = net.start_worker(bport, extra={"state_dir": "worker-state"})
    cport = net.start_client(extra={"state_dir": "client-state"})
    net.wait_workers(1)
    net.wait_models()

    w1 = wait_identity(whttp, "worker identity")
    c1 = wait_identity(cport, "client identity")
    for name, ident, f in (("worker", w1, "worker-signing.seed"),
                           ("client", c1, "client-signing.seed")):
        check(ident["persistent"], "%s identity is persistent" % name)
        check_eq(len(ident["public_key"]), 64, "%s public key is 32 bytes of hex" % name)
        check(ident["wallet_address"].startswith("0:"), "%s wallet address" % name)
        path = os.path.join(net.dir, "%s-state" % name, f)
        check_eq(os.stat(path).st_mode & 0o777, 0o600, "%s key file mode" % name)
        check_eq(os.path.getsize(path), 32, "%s key file size" % name)
    check(w1["public_key"] != c1["public_key"], "client and worker keys differ")
    keys = w1["proxy_keys"]
    check_eq(len(keys), 1, "the worker recorded its proxy's key")
    proxy_key = list(keys.values())[0]
    with open(os.path.join(net.dir, "worker-state", "proxy-keys.json")) as f:
        check(proxy_key in f.read(), "the proxy's key is saved in the worker's state folder")

    # Restart the client and the worker: same keys, same wallets.
    net.client.stop()
    wproc.stop()
    cfg_c = os.path.join(net.dir, "client.json")
    cfg_w = os.path.join(net.dir, "worker-0.json")
    Proc("client-2", [binary("cocoon-client"), "--config", cfg_c], net.dir)
    Proc("worker-0b", [binary("cocoon-worker"), "--config", cfg_w], net.dir)
    c2 = wait_identity(cport, "restarted client identity")
    w2 = wait_identity(whttp, "restarted worker identity")
    for name, a, b in (("client", c1, c2), ("worker", w1, w2)):
        check_eq(b["public_key"], a["public_key"], "%s keeps its key over a restart" % name)
        check_eq(b["wallet_address"], a["wallet_address"],
                 "%s keeps its wallet address over a restart" % name)
    net.wait_workers(1)

    # The proxy restarts with its state: same announced key, served again.
    pcfg = os.path.join(net.dir, "proxy.json")
    net.proxy.stop()
    p2 = Proc("proxy-2", [binary("cocoon-proxy"), "--config", pcfg], net.dir)
    net.wait_workers(1, timeout=30)
    w3 = identity(whttp)
    check_eq(w3["proxy_key_changes_refused"], 0, "a proxy with its old key is not refused")
    check_eq(list(w3["proxy_keys"].values()), [proxy_key], "the recorded key is unchanged")

    # The proxy loses its key (a new state folder): the worker refuses it.
    p2.stop()
    st = os.path.join(net.dir, "proxy-state")
    for f in os.listdir(st):
        os.unlink(os.path.join(st, f))
    Proc("proxy-3", [binary("cocoon-proxy"), "--config", pcfg], net.dir)
    wait_until(lambda: (identity(whttp) or {}).get("proxy_key_changes_refused", 0) >= 1, 30,
               "the worker refuses the proxy's new key")
    w4 = identity(whttp)
    refused = list(w4["refused_proxies"].values())[0]
    check_eq(refused["expected_key"], proxy_key, "the refusal names the recorded key")
    check(refused["announced_key"] != proxy_key, "and the new one")
    link = wait_until(lambda: (lambda l: l if "PROXY PUBLIC KEY CHANGED" in
                               (l or {}).get("last_error", "") else None)(worker_link(whttp)),
                      20, "the link's last error names the key change")
    check(link["state"] != "ready", "the link to that proxy is not ready")
    wait_until(lambda: "event=proxy_key_changed" in read_text(
        os.path.join(net.dir, "worker-0b.log")), 10, "the worker logs the key change")
    wait_until(lambda: len(net.proxy_stats()["workers"]) == 0, 10, "the proxy has no worker")


if __name__ == "__main__":
    run(main)
