#!/usr/bin/env python3
"""`cocoon up` on its local chain (the default, `--chain local`): tools/tonsim
holds the root contract with this network's images, models and prices, and
the daemons read it every refresh period. A request is answered; a price
changed in the root reaches the proxy's ledger without a restart; a model
hash removed from the root stops the proxy routing to its worker (and adding
it back brings the worker back); a chain that stops answering leaves the
network serving, /jsonstats showing the error, and the next good read
clears it. Each of the two workers has a funded wallet and an owner of its
own (a wallet's seqno serves one daemon), so payouts reach each worker's
owner (test_money_chain.py follows them)."""
import json
import os
import signal

from cocoonlib import (Proc, binary, check, check_eq, children_of, cocoon, free_port, http_json,
                       jsonstats, limit, log, run, tmpdir, wait_until)

REFRESH = 1  # seconds between the daemons' reads of the root in this test


def ask(port):
    return http_json(port, "POST", "/v1/chat/completions",
                     {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}],
                      "max_tokens": 3})


def root_op(chain, keys, *args):
    rc, out, err = cocoon("root", *args, "--api", chain["url"], "--root", chain["root"], "--keys",
                          keys)
    check_eq(rc, 0, "cocoon root %s (%s)" % (" ".join(args), err.strip()))


def main(holder):
    work = tmpdir("cocoon-up-chain-")
    d = os.path.join(work, "net")
    port = free_port()
    up = Proc("up", [binary("cocoon"), "up", "--port", str(port), "--dir", d, "--backend",
                     "openai-http", "--workers", "2", "--chain-refresh", str(REFRESH)], work,
              capture_stdout=True)
    up.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=120)
    st, j = ask(port)
    check_eq(st, 200, "a request through cocoon up --chain local")

    sim = json.load(open(os.path.join(d, "tonsim.json")))
    chain = {"url": "http://127.0.0.1:%d" % sim["port"], "root": sim["root"]["address"]}
    owner = sim["wallets"]["owner"]
    keys = os.path.join(work, "owner.keys")
    fd = os.open(keys, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"version": "v5r1", "workchain": 0,
                   "network_global_id": owner["network_global_id"],
                   "private_key": owner["secret_key"][:64], "public_key": owner["public_key"]}, f)
    proxy_http = int(json.load(open(os.path.join(d, "proxy.json")))["listen_http"].split(":")[1])
    client_http = port

    # The root holds what cocoon up registered, with the network's prices.
    rc, out, err = cocoon("root", "show", "--api", chain["url"], "--root", chain["root"],
                          "--registry-json")
    check_eq(rc, 0, "cocoon root show (%s)" % err.strip())
    reg = json.loads(out)
    local = json.load(open(os.path.join(d, "registry.json")))
    check_eq(sorted(reg["model_hashes"]), sorted(local["model_hashes"]), "model hashes in the root")
    check_eq(sorted(reg["worker_image_hashes"]), sorted(local["worker_image_hashes"]),
             "worker images in the root")
    check_eq(sorted(reg["proxy_image_hashes"]), sorted(local["proxy_image_hashes"]),
             "proxy images in the root")
    p = reg["params"]
    check_eq((p["price_per_token"], p["worker_fee_per_token"]), (20, 19), "prices (5 % commission)")
    check_eq([p[k] for k in ("prompt_multiplier", "cached_multiplier", "completion_multiplier",
                             "reasoning_multiplier")], [10000] * 4, "multipliers 1.0")

    s = jsonstats(proxy_http)
    check_eq(s["chain"]["root"], chain["root"], "the proxy reads the root")
    check_eq(s["ledger"]["price_per_token"], 20, "the proxy's price")
    c = jsonstats(client_http)["chain"]
    check(c["root"] == chain["root"] and c["last_ok"] > 0, "the client reads it too: %r" % c)
    log("cocoon up --chain local: served; root lists the network; daemons follow it")

    # A wallet and an owner per worker: tonsim's "worker" and "worker-2".
    seen = set()
    for i, role in ((1, "worker"), (2, "worker-2")):
        w = sim["wallets"][role]
        wcfg = json.load(open(os.path.join(d, "worker-%d.json" % i)))
        check_eq(wcfg["owner_address"], w["address"], "worker-%d owned by its wallet" % i)
        kf = os.path.join(d, wcfg["wallet_key_file"])
        check_eq(os.stat(kf).st_mode & 0o777, 0o600, "worker-%d key file mode" % i)
        check_eq(json.load(open(kf))["secret_key"], w["secret_key"], "worker-%d's key" % i)
        whttp = int(wcfg["listen_http"].rsplit(":", 1)[1])
        wallet = wait_until(lambda: (lambda j: j and (j["payments"].get("wallet") or {}).get(
            "known") and j["payments"]["wallet"])(jsonstats(whttp)), timeout=30,
            what="worker-%d's wallet read on /jsonstats" % i)
        check_eq(wallet["address"], w["address"], "worker-%d sends with its own wallet" % i)
        check(wallet["balance"] > 0, "worker-%d's wallet is funded: %r" % (i, wallet))
        seen.add(w["address"])
    check_eq(len(seen), 2, "two distinct owners")
    log("two workers: a wallet and an owner each")

    # A new price reaches the ledger without a restart.
    version = s["chain"]["version"]
    root_op(chain, keys, "change-price", "40", "38")
    wait_until(lambda: jsonstats(proxy_http)["ledger"]["price_per_token"] == 40, timeout=30,
               what="the new price on the proxy's /jsonstats")
    check(jsonstats(proxy_http)["chain"]["version"] > version, "the root's version moved")
    # A new price is a new params version: the proxy moves to a new contract
    # (test_redeploy_chain.py), closing its links; served again once the
    # client and the workers are back on it.
    wait_until(lambda: ask(port)[0] == 200, timeout=90, what="served again after the change")
    check_eq(jsonstats(proxy_http)["onchain"]["redeploys"], 1, "the proxy on a new contract")
    log("price change: seen by the proxy")

    # A model hash removed from the root: no more routing to its worker.
    model = local["model_hashes"][0]
    root_op(chain, keys, "del-model-type", model)
    wait_until(lambda: all(w["barred"] for w in jsonstats(proxy_http)["workers"]), timeout=30,
               what="the worker barred after its model left the root")
    st, j = ask(port)
    check(st != 200, "no answer for a model the root no longer lists (got %d)" % st)
    root_op(chain, keys, "add-model-type", model)
    wait_until(lambda: not any(w["barred"] for w in jsonstats(proxy_http)["workers"]), timeout=30,
               what="the worker back once its model is listed again")
    st, j = ask(port)
    check_eq(st, 200, "answered again")
    log("model hash removed: routing stops; added back: routing resumes")

    # The chain stops answering (frozen, so cocoon up does not see a dead
    # child): requests are still served, the error is shown, then it clears.
    sim_pid = [k for k in children_of(up.pid) if "tonsim" in open("/proc/%d/cmdline" % k).read()]
    check_eq(len(sim_pid), 1, "one tonsim child")
    os.kill(sim_pid[0], signal.SIGSTOP)
    try:
        wait_until(lambda: jsonstats(proxy_http)["chain"]["last_error"], timeout=60,
                   what="the chain's error on /jsonstats")
        st, j = ask(port)
        check_eq(st, 200, "served while the chain does not answer")
        failures = jsonstats(proxy_http)["chain"]["failures"]
        check(failures >= 1, "failed reads counted")
    finally:
        os.kill(sim_pid[0], signal.SIGCONT)
    wait_until(lambda: jsonstats(proxy_http)["chain"]["last_error"] == "", timeout=60,
               what="recovery once the chain answers again")
    log("chain unreachable: still serving, error shown, recovered")

    up.signal(signal.SIGTERM)
    up.p.wait(limit(20))
    check_eq(up.p.returncode, 0, "cocoon up exit status")


if __name__ == "__main__":
    run(main)
