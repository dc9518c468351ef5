#!/usr/bin/env python3
"""A change of the root's params while `cocoon up --chain local` serves
(docs/payments.md, "When the root's params change"): the proxy moves to a
new proxy contract and retires the old one as COCOON's OldProxyContract
does, and a proxy killed in the middle resumes it. Checked on tonsim: the
network keeps serving, on the new contracts (the proxy's new contract
deployed, the client's new contract charged for exactly the tokens served
after the change); the old client contract gets its final charge for
exactly the tokens it was served and is closed with the rest refunded to
its owner; the old worker contract gets its last payout (the worker's owner
receives exactly its tokens x fee) and is closed; once its unlock time has
passed on the chain's clock the old proxy contract is closed and empty, and
the value it received equals what it paid plus the fees tonsim reports."""
import json
import os
import signal
import urllib.request

from cocoonlib import (Proc, binary, check, check_eq, cocoon, free_port, http_json,
                       jsonstats, limit, log, run, tmpdir, wait_until)
from test_money_chain import api, back, get, kill_proxy, raw_eq, raw_of, stack_int


def ask(port):
    st, _ = http_json(port, "POST", "/v1/chat/completions",
                      {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}],
                       "max_tokens": 3})
    return st


def main(holder):
    work = tmpdir("cocoon-redeploy-")
    d = os.path.join(work, "net")
    port = free_port()
    up = Proc("up", [binary("cocoon"), "up", "--port", str(port), "--dir", d, "--backend",
                     "openai-http", "--workers", "1", "--chain-refresh", "1"], work,
              capture_stdout=True)

    def wait(fn, timeout, what, interval=0.05):
        """wait_until, and when it fails: is cocoon up alive, what did the
        proxy log."""
        try:
            return wait_until(fn, timeout=timeout, what=what, interval=interval)
        except BaseException:
            log("cocoon up alive: %s" % up.alive())
            try:
                with open(os.path.join(d, "proxy.log"), "rb") as f:
                    log(b"\n".join(f.read().splitlines()[-60:]).decode(errors="replace"))
            except OSError:
                pass
            raise

    up.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=120)
    sim = json.load(open(os.path.join(d, "tonsim.json")))
    chain = "http://127.0.0.1:%d" % sim["port"]
    root = sim["root"]["address"]
    proxy_http = int(json.load(open(os.path.join(d, "proxy.json")))["listen_http"].split(":")[1])
    price = int(sim["params"]["price_per_token"])
    fee = int(sim["params"]["worker_fee_per_token"])
    client_owner = sim["wallets"]["client"]["address"]
    worker_owner = sim["wallets"]["worker"]["address"]
    owner = sim["wallets"]["owner"]
    keys = os.path.join(work, "owner.keys")
    fd = os.open(keys, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"version": "v5r1", "workchain": 0,
                   "network_global_id": owner["network_global_id"],
                   "private_key": owner["secret_key"][:64], "public_key": owner["public_key"]}, f)

    # Served on the first contracts.
    wait(lambda: jsonstats(proxy_http)["onchain"]["contract"]["state"] == "active", 60,
         "the proxy contract active")
    for i in range(5):
        check_eq(wait(lambda: ask(port) == 200, 60, "request %d answered" % i), True, "served")
    # The worker holds a voucher of the old contract, for more tokens than the
    # new contract will have signed for below.
    whttp = int(json.load(open(os.path.join(d, "worker-1.json")))["listen_http"].rsplit(":", 1)[1])
    st, j = http_json(proxy_http, "POST", "/request/save", {})
    check_eq(st, 200, "POST /request/save (%r)" % j)
    wait(lambda: jsonstats(proxy_http)["onchain"]["save_state"]["confirmed"] >= 1, 60,
         "a save_state on the old contract")
    check_eq(ask(port), 200, "a request bringing the voucher to the worker")
    old_paid = wait(lambda: jsonstats(whttp)["payments"]["proxies"][0]["paid_tokens"], 30,
                    "the worker holding the old contract's voucher")
    wait(lambda: jsonstats(proxy_http)["requests"]["active"] == 0, 30, "no request running")
    s = jsonstats(proxy_http)
    old = s["onchain"]["contract"]["address"]
    version = s["onchain"]["params_version"]
    rows = {raw_of(r["owner"]): r for r in s["ledger"]["clients"]}
    wrows = {raw_of(r["owner"]): r for r in s["ledger"]["workers"]}
    crow, wrow = rows[raw_of(client_owner)], wrows[raw_of(worker_owner)]
    tc, tw = crow["tokens_used"], wrow["tokens"]
    check(tc > 0 and tw == tc, "tokens served on the old contracts: client %d worker %d" % (tc, tw))
    old_client_sc, old_worker_sc = crow["sc_address"], wrow["sc_address"]
    c_state, c_balance, _, c_used = get(chain, old_client_sc, "get_client_data")[:4]
    check_eq(c_state, 0, "the old client contract is open")
    # What the old proxy contract has done so far (its later transactions
    # are the retirement's).
    # (One read: the balance is the one after transaction lt0.)
    acc = api(chain, "getAddressInformation", {"address": old})
    lt0, p_balance0 = int(acc["last_transaction_id"]["lt"]), int(acc["balance"])
    log("served on %s: client %d tokens (contract balance %d, %d charged)" %
        (old, tc, c_balance, c_used))

    # The owner changes the price: params_version rises.
    rc, out, err = cocoon("root", "change-price", str(price * 2), str(fee * 2), "--api", chain,
                          "--root", root, "--keys", keys)
    check_eq(rc, 0, "cocoon root change-price (%s)" % err.strip())
    oc = wait(lambda: (lambda o: o["redeploys"] == 1 and o)(jsonstats(proxy_http)["onchain"]), 30,
              "the proxy on a new contract")
    new = oc["contract"]["address"]
    check(new != old and oc["params_version"] > version, "a new contract: %s" % new)
    check_eq([c["address"] for c in oc["old_contracts"]["contracts"]], [old], "the old one retired")
    # Killed in the middle of the retirement (cocoon up restarts it): it
    # resumes from its ledger, and nothing is charged or paid twice (checked
    # below to the nanoTON).
    kill_proxy(d)
    wait(lambda: back(proxy_http), 90, "the proxy back after kill -9")
    oc = jsonstats(proxy_http)["onchain"]
    check_eq(oc["contract"]["address"], new, "the same new contract after the restart")
    check_eq([c["address"] for c in oc["old_contracts"]["contracts"]], [old],
             "the old one still retired after the restart")
    wait(lambda: jsonstats(proxy_http)["onchain"]["contract"]["state"] == "active", 60,
         "the new proxy contract deployed")
    log("params changed: new contract %s" % new)

    # The network keeps serving, on the new contracts.
    wait(lambda: ask(port) == 200, 90, "answered after the change")
    for i in range(2):
        check_eq(ask(port), 200, "request %d after the change" % i)
    wait(lambda: jsonstats(proxy_http)["requests"]["active"] == 0, 30, "no request running")
    s = jsonstats(proxy_http)
    crow = {raw_of(r["owner"]): r for r in s["ledger"]["clients"]}[raw_of(client_owner)]
    check(crow["sc_address"] and crow["sc_address"] != old_client_sc,
          "the client's account is on a new contract: %r" % crow)
    t_new = crow["tokens_used"]
    check(t_new > 0, "tokens on the new contract: %r" % crow)
    st, j = http_json(proxy_http, "POST", "/request/save", {})
    check_eq(st, 200, "POST /request/save (%r)" % j)
    wait(lambda: jsonstats(proxy_http)["onchain"]["save_state"]["confirmed"] >= 1, 60,
         "a save_state on the new contract")

    def charged():
        st, j = http_json(proxy_http, "GET", "/request/charge?client=" + client_owner)
        return get(chain, crow["sc_address"], "get_client_data")[3] == t_new
    wait(charged, 60, "the new client contract charged")
    # The worker takes the new contract's first (smaller) voucher as the start
    # of a new account, not as a proxy whose ledger was rolled back.
    for i in range(2):
        check_eq(ask(port), 200, "request %d after the save_state" % i)

    def new_voucher():
        # Before the fix of this case the worker kept the old contract's
        # larger total and refused the new voucher as a rollback.
        cc = {raw_of(r["owner"]): r for r in jsonstats(proxy_http)["ledger"]["workers"]}[
            raw_of(worker_owner)]["committed_chain"]
        p = jsonstats(whttp)["payments"]["proxies"][0]
        if 0 < cc < old_paid and p["paid_tokens"] == cc:
            return p
        ask(port)  # the voucher rides with the payment after a request
        return False
    p = wait(new_voucher, 60, "the worker holding the new contract's voucher", interval=0.5)
    check(p["rolled_back"] is None and p["rollbacks"] == 0 and
          raw_eq(p["proxy_contract"], new), "no rollback seen by the worker: %r" % p)
    log("served on the new contracts; charge landed on %s" % crow["sc_address"])

    # The old client and worker contracts are settled and closed.
    def settled():
        a = get(chain, old_client_sc, "get_client_data")
        w = api(chain, "runGetMethod", {"address": old_worker_sc, "method": "get_worker_data",
                                        "stack": []})
        return a[0] == 2 and w["exit_code"] == 0 and stack_int(w["stack"][0]) == 2 and (a, w)
    a, w = wait(settled, 60, "the old client and worker contracts closed")
    check_eq(a[3], tc, "the old client contract charged exactly its tokens")
    check_eq(a[1], 0, "and empty")
    check_eq(stack_int(w["stack"][1]), tw, "the old worker contract paid for exactly its tokens")
    txs = [t for t in api(chain, "getTransactions", {"address": old, "limit": 100})
           if int(t["transaction_id"]["lt"]) > lt0]
    outs = [m for t in txs for m in t["out_msgs"] if m.get("destination")]
    to_worker = sum(int(m["value"]) for m in outs if raw_eq(m["destination"], worker_owner))
    to_client = sum(int(m["value"]) for m in outs if raw_eq(m["destination"], client_owner))
    check_eq(to_worker, tw * fee, "the worker's owner received exactly tokens x fee")
    check_eq(to_client, c_balance - (tc - c_used) * price,
             "the client's owner received its balance less exactly the tokens' price")
    log("old client contract closed (charged %d tokens, %d refunded); old worker contract closed "
        "(%d paid)" % (tc, to_client, to_worker))

    # The old proxy contract closes once its unlock time has passed on the
    # chain's clock.
    o = wait(lambda: (lambda c: c["state"] == "closing" and c["unlock_ts"] > 0 and c)(
        jsonstats(proxy_http)["onchain"]["old_contracts"]["contracts"][0]), 60,
        "the old proxy contract closing")
    j = json.load(urllib.request.urlopen(chain + "/tonsim/time", timeout=limit(30)))
    now = j.get("result", j)["now"]
    req = urllib.request.Request(chain + "/tonsim/setTime",
                                 data=json.dumps({"advance": o["unlock_ts"] - now + 2}).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=limit(30)).read()
    wait(lambda: jsonstats(proxy_http)["onchain"]["old_contracts"]["contracts"][0]["state"] ==
         "closed", 60, "the old proxy contract closed")
    check_eq(get(chain, old, "get_proxy_data")[0], 2, "the old proxy contract's state")
    acc = api(chain, "getAddressInformation", {"address": old})
    lt1, p_balance1 = int(acc["last_transaction_id"]["lt"]), int(acc["balance"])
    check_eq(p_balance1, 0, "the old proxy contract paid everything out")
    txs = [t for t in api(chain, "getTransactions", {"address": old, "limit": 100})
           if lt0 < int(t["transaction_id"]["lt"]) <= lt1]
    received = sum(int(t["in_msg"].get("value", 0) or 0) for t in txs)
    paid = sum(int(m["value"]) for t in txs for m in t["out_msgs"] if m.get("destination"))
    fees = sum(int(t["fee"]) + sum(int(m["fwd_fee"]) for m in t["out_msgs"]
                                   if m.get("destination")) for t in txs)
    if p_balance0 + received != p_balance1 + paid + fees:
        for t in txs:
            log("lt %s in %s fee %s out %r aborted %r" % (
                t["transaction_id"]["lt"], t["in_msg"].get("value"), t["fee"],
                [(m["value"], m["fwd_fee"]) for m in t["out_msgs"]], t.get("aborted")))
    check_eq(p_balance0 + received, p_balance1 + paid + fees,
             "the old proxy contract's value conserved")
    log("old proxy contract closed: %d received, %d paid, %d fees" % (received, paid, fees))
    check(ask(port) == 200, "still serving")

    up.signal(signal.SIGTERM)
    up.p.wait(limit(20))
    check_eq(up.p.returncode, 0, "cocoon up exit status")


if __name__ == "__main__":
    run(main)
