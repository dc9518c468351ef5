#!/usr/bin/env python3
"""A client's owner closes its contract, on tonsim through `cocoon up --chain local`.

COCOON's close (runners/proxy/ProxyClientInfo.cpp `check`, ProxyRunner.cpp
`client_charge(force_close)`): the owner asks for its refund
(`owner_client_request_refund`: the contract turns closing and pays back the
balance above the stake at once); the proxy, once nothing of that client runs
and its whole total is covered by a save_state on chain, sends the final
charge (`ext_client_grant_refund_signed`) for that total; the contract takes
what was not charged yet, the proxy contract pays the rest to the owner and
the contract is closed. Checked here:

- the contract ends closed, charged for exactly the tokens the proxy's ledger
  holds for the client, with nothing left;
- the owner received, from the proxy contract, exactly the balance it had
  before the close less the tokens charged by the close x price;
- value is conserved: what every party holds less is exactly the fees tonsim
  reports;
- the proxy then refuses that client ("client contract is closed");
- a second close moves nothing: the contract refuses it, the proxy contract
  pays nothing, only the owner's fees are spent."""
import json
import os

from cocoonlib import (binary, check, check_eq, cocoon, free_port, http_json, jsonstats, log,
                       Proc, run, tmpdir, wait_until)
from test_money_chain import account, api, fees_since, get, raw_eq
from test_ton_chain import OP_PAYOUT, body_op


def ask(port, max_tokens=6):
    st, _ = http_json(port, "POST", "/v1/chat/completions",
                      {"model": "fake-model", "max_tokens": max_tokens,
                       "messages": [{"role": "user", "content": "count to three"}]})
    return st


def payouts_to(chain, owner, source, lt):
    """The payouts (not the excesses) the owner's wallet received from source
    after lt."""
    return [int(t["in_msg"]["value"]) for t in
            api(chain, "getTransactions", {"address": owner, "limit": 100})
            if int(t["transaction_id"]["lt"]) > lt and t["in_msg"].get("source") and
            raw_eq(t["in_msg"]["source"], source) and
            body_op(t["in_msg"]) == OP_PAYOUT]


def main(holder):
    work = tmpdir("cocoon-client-close-")
    d = os.path.join(work, "net")
    port = free_port()
    up = Proc("up", [binary("cocoon"), "up", "--port", str(port), "--dir", d, "--backend",
                     "openai-http", "--workers", "1", "--chain-refresh", "1"], work,
              capture_stdout=True)
    up.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=120)
    sim = json.load(open(os.path.join(d, "tonsim.json")))
    chain = "http://127.0.0.1:%d" % sim["port"]
    pcfg = json.load(open(os.path.join(d, "proxy.json")))
    proxy_http = int(pcfg["listen_http"].split(":")[1])
    price = int(sim["params"]["price_per_token"])
    owner = sim["wallets"]["client"]["address"]
    pwallet = sim["wallets"]["proxy"]["address"]

    wait_until(lambda: jsonstats(proxy_http)["onchain"]["save_state"]["history_read"],
               timeout=60, what="the proxy contract active and its notes read")
    oc = jsonstats(proxy_http)["onchain"]
    contract = oc["contract"]["address"]
    # The client daemon deploys and funds its contract and sets its secret;
    # the window starts once that is done and no wallet has a transfer on
    # its way (the owner's CLI uses the same wallet).
    def settled():
        pay = (jsonstats(port) or {}).get("payments", {})
        cw = pay.get("wallet") or {}
        cc = [(p.get("contract") or {}) for p in pay.get("proxies", [])]
        pw = (jsonstats(proxy_http) or {}).get("onchain", {}).get("wallet", {})
        return (cc and not cw.get("queued") and not cw.get("in_flight") and
                not pw.get("in_flight") and not pw.get("queued") and
                all(c.get("deployed") and c.get("secret_hash_ours") and not c.get("send_pending")
                    for c in cc))
    for i in range(5):
        check_eq(ask(port), 200, "request %d" % i)
    wait_until(settled, timeout=90, what="the client's contract deployed, wallets idle")
    wait_until(lambda: jsonstats(proxy_http)["requests"]["active"] == 0, timeout=60,
               what="no request running")
    rows = [c for c in jsonstats(proxy_http)["ledger"]["clients"] if raw_eq(c["owner"], owner)]
    check_eq(len(rows), 1, "the client's account at the proxy")
    used = rows[0]["tokens_used"]
    check(used > 0, "the client used tokens: %r" % rows[0])
    client_sc = rows[0]["sc_address"]

    keys = os.path.join(work, "owner.json")
    fd = os.open(keys, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"version": "v5r1", "private_key": sim["wallets"]["client"]["secret_key"][:64],
                   "network_global_id": sim["wallets"]["client"]["network_global_id"]}, f)
    owner_args = ["--keys", keys, "--api", chain, "--root", sim["root"]["address"],
                  "--proxy-pub", oc["proxy_public_key"], "--proxy-contract", contract, "--json"]
    rc, out, err = cocoon("client", "status", *owner_args)
    check_eq(rc, 0, "cocoon client status (%s)" % err.strip())
    check(raw_eq(json.loads(out)["contract"], client_sc), "the CLI derives the proxy's contract")

    # 2 TON more than the stake, so the close refunds both ways: the part
    # above the stake at once, the rest with the proxy's final charge.
    rc, out, err = cocoon("client", "topup", "2", "--wait", *owner_args, timeout=120)
    check_eq(rc, 0, "cocoon client topup (%s)" % err.strip())
    everyone = [pwallet, owner, contract, client_sc]
    before = {a: account(chain, a) for a in everyone}
    data0 = get(chain, client_sc, "get_client_data")  # state balance stake tokens_used ...
    check_eq(data0[0], 0, "the contract is open")
    check(data0[1] >= data0[2] + 2 * 10**9, "balance above the stake: %r" % data0)
    log("before the close: balance %d, stake %d, %d tokens charged on chain, %d used" %
        (data0[1], data0[2], data0[3], used))

    rc, out, err = cocoon("client", "close", "--wait", *owner_args, timeout=120)
    check_eq(rc, 0, "cocoon client close (%s)" % err.strip())
    wait_until(lambda: get(chain, client_sc, "get_client_data")[0] == 2, timeout=90,
               what="the proxy's final charge closing the contract")
    wait_until(lambda: jsonstats(proxy_http)["onchain"]["payments"]["closes_done"] >= 1 and
               not jsonstats(proxy_http)["onchain"]["wallet"]["in_flight"] and
               not jsonstats(proxy_http)["onchain"]["wallet"]["queued"], timeout=60,
               what="the close confirmed, the proxy's wallet idle")
    data = get(chain, client_sc, "get_client_data")
    check_eq((data[0], data[1], data[3]), (2, 0, used),
             "closed, empty, charged for the ledger's %d tokens" % used)
    charged = (used - data0[3]) * price
    got = payouts_to(chain, owner, contract, before[owner][1])
    check_eq(len(got), 2, "two refunds: above the stake at once, the rest at the close (%r)" % got)
    check_eq(sum(got), data0[1] - charged,
             "the owner got balance %d - charged %d back (%r)" % (data0[1], charged, got))
    pstats = jsonstats(proxy_http)["onchain"]["payments"]
    check_eq((pstats["closes"], pstats["closes_done"]), (1, 1), "one final charge: %r" % pstats)

    after = {a: account(chain, a) for a in everyone}
    fees = sum(fees_since(chain, a, before[a][1]) for a in everyone)
    held = sum(b for b, _ in before.values()), sum(b for b, _ in after.values())
    check_eq(held[0] - held[1], fees, "held before - after = fees (%d -> %d)" % held)
    log("closed: %d tokens charged by the close (%d nanoTON), %d nanoTON back to the owner, "
        "%d in fees" % (used - data0[3], charged, sum(got), fees))

    # The proxy refuses the closed client (the client's own credit check,
    # fed by the proxy's figures, may answer first: nothing is served either way).
    wait_until(lambda: [c["state"] for c in jsonstats(proxy_http)["ledger"]["clients"]
                        if raw_eq(c["owner"], owner)] == ["closed"], timeout=30,
               what="the proxy's account closed")
    st = ask(port)
    check(st != 200, "a request of the closed client is refused (%d)" % st)
    rows = [c for c in jsonstats(proxy_http)["ledger"]["clients"] if raw_eq(c["owner"], owner)]
    check_eq(rows[0]["tokens_used"], used, "nothing more billed after the close")

    # A second close moves nothing but the owner's fees.
    before = {a: account(chain, a) for a in everyone}
    pdata = get(chain, contract, "get_proxy_data")
    rc, out, err = cocoon("client", "close", "--wait", *owner_args, timeout=120)
    check_eq(rc, 0, "a second cocoon client close is sent (%s)" % err.strip())
    wait_until(lambda: account(chain, owner)[1] > before[owner][1] and
               account(chain, client_sc)[1] > before[client_sc][1], timeout=60,
               what="the second close processed by the contract")
    wait_until(lambda: sum(1 for t in api(chain, "getTransactions", {"address": owner, "limit": 10})
                           if int(t["transaction_id"]["lt"]) > before[owner][1]) >= 2,
               timeout=60, what="the refusal back at the owner")
    check_eq(get(chain, client_sc, "get_client_data")[:4], data[:4], "the contract unchanged")
    check_eq(get(chain, contract, "get_proxy_data"), pdata, "the proxy contract's data unchanged")
    check_eq(payouts_to(chain, owner, contract, before[owner][1]), [],
             "no payment from the proxy contract")
    after = {a: account(chain, a) for a in everyone}
    fees = sum(fees_since(chain, a, before[a][1]) for a in everyone)
    lost = sum(b for b, _ in before.values()) - sum(b for b, _ in after.values())
    check_eq(lost, fees, "the second close cost only fees (%d)" % fees)
    check_eq(jsonstats(proxy_http)["onchain"]["payments"]["closes"], 1,
             "the proxy sent no second final charge")
    log("second close: refused by the contract, %d nanoTON of fees, nothing moved" % fees)


if __name__ == "__main__":
    run(main)
