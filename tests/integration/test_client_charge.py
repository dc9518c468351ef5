#!/usr/bin/env python3
"""The client's forced charge (COCOON's ClientProxyInfo::check), with
`cocoon up --chain local`: the proxy charges a client contract only once what
is ready is worth its min_charge (1 TON by default), while a client's credit
is capped by its stake (0.1 TON: 5M tokens at 20 nanoTON). So, as COCOON's
client does, ours keeps the proxy's latest signed charge voucher and relays
it to its own contract through its wallet once the proxy's count passes the
contract's charged tokens by half the stake.

Large prompts (the fake backend counts a quarter token per byte) carry the
proxy's count past half the stake; a save_state makes the proxy sign a
voucher, which reaches the client with the next request's payment notice.
Stated: the client relays it (forced_charges on /jsonstats, a
client_forced_charge log line), the contract's tokens_used becomes exactly
the voucher's total, the proxy itself sent no charge, and requests still
succeed afterwards. No fixed sleeps: /jsonstats is polled."""
import json
import os

from cocoonlib import (Proc, binary, check, check_eq, client_contract, free_port, http_json,
                       jsonstats, log, run, tmpdir, up_kill_proxy, up_proxy_back, wait_until)


def ask(port, text, max_tokens=4):
    st, j = http_json(port, "POST", "/v1/chat/completions",
                      {"model": "fake-model", "max_tokens": max_tokens,
                       "messages": [{"role": "user", "content": text}]}, timeout=120)
    return st, j


def main(holder):
    work = tmpdir("cocoon-client-charge-")
    d = os.path.join(work, "net")
    port = free_port()
    up = Proc("up", [binary("cocoon"), "up", "--port", str(port), "--dir", d, "--backend",
                     "openai-http", "--chain-refresh", "2"], work, capture_stdout=True)
    up.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=120)
    pcfg = json.load(open(os.path.join(d, "proxy.json")))
    proxy_http = int(pcfg["listen_http"].split(":")[1])
    # Our proxy charges a client itself once half its stake is used
    # uncharged (test_money_credit.py); COCOON's waits for min_charge. As
    # COCOON's here, so that only the client's rule can charge: the config
    # changed, and the proxy restarted by cocoon up with it.
    wait_until(lambda: up_proxy_back(proxy_http), timeout=60, what="the proxy on chain")
    pcfg["charge_short_credit"] = False
    with open(os.path.join(d, "proxy.json"), "w") as f:
        json.dump(pcfg, f)
    up_kill_proxy(d)
    wait_until(lambda: up_proxy_back(proxy_http) and not jsonstats(proxy_http)["onchain"][
        "payments"]["charge_short_credit"], timeout=60, what="the proxy back, as COCOON's")
    wait_until(lambda: ask(port, "hello")[0] == 200, timeout=60, what="served again")

    c = wait_until(lambda: (lambda c: c if c and c.get("deployed") and c.get("state") == "open"
                            else None)(client_contract(port)), 90, "the client contract deployed")
    stake_tokens = c["stake_nano"] // 20
    check(stake_tokens > 0, "a stake (%r)" % c)
    check_eq(c["tokens_used"], 0, "nothing charged yet")

    # Past half the stake in the proxy's count: prompts of 256 KiB are about
    # 65k billed tokens each (a quarter token per byte), and each reserves
    # about 1M tokens while it runs (its bytes times the coefficient, COCOON's
    # rule), which the credit left still covers.
    big = "x" * (256 << 10)
    n = 0
    while True:
        st, j = ask(port, big)
        check_eq(st, 200, "large request %d (%r)" % (n, j if st != 200 else ""))
        n += 1
        used = jsonstats(proxy_http)["ledger"]["clients_tokens_used"]
        if used > stake_tokens // 2 + 1000:
            break
        check(n < 120, "the proxy's count grows (%d after %d requests)" % (used, n))
    log("%d large requests: the proxy counts %d tokens, half the stake is %d" %
        (n, used, stake_tokens // 2))

    st, j = http_json(proxy_http, "POST", "/request/save", {})
    check_eq(st, 200, "POST /request/save (%r)" % j)
    wait_until(lambda: jsonstats(proxy_http)["onchain"]["save_state"]["confirmed"] >= 1,
               timeout=90, what="the save_state confirmed")
    # The voucher rides with the next request's payment notice.
    check_eq(ask(port, "hello")[0], 200, "a request after the save")
    c = wait_until(lambda: (lambda c: c if c and c.get("voucher_tokens", 0) > 0 else None)(
        client_contract(port)), 60, "the client holds the proxy's voucher")
    voucher = c["voucher_tokens"]
    check(voucher > stake_tokens // 2, "the voucher covers the use (%d)" % voucher)

    c = wait_until(lambda: (lambda c: c if c and c["tokens_used"] == voucher else None)(
        client_contract(port)), 90, "the contract charged up to the voucher by the client")
    check(c["forced_charges"] >= 1, "the client sent the charge (%r)" % c)
    with open(os.path.join(d, "client.log"), errors="replace") as f:
        check("event=client_forced_charge" in f.read(), "the client logged its forced charge")
    oc = jsonstats(proxy_http)["onchain"]
    check_eq(oc["payments"]["charges"], 0, "the proxy sent no charge of its own")
    check_eq(c["bad_vouchers"], 0, "no voucher refused")
    check_eq(ask(port, "after the charge")[0], 200, "served after the charge")
    log("forced charge: contract charged %d tokens by the client's relay of the proxy's voucher"
        % voucher)


if __name__ == "__main__":
    run(main)
