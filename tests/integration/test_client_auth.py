#!/usr/bin/env python3
"""COCOON's client authorization on a chain (`cocoon up --chain local`, tonsim):

- the client's first connection finds no contract: the proxy offers the long
  form, the client deploys its contract (its first top-up) and registers the
  proxy's nonce with owner_client_register; the proxy sees the registration
  in its contract's transactions and authorizes it; requests are served;
- a restarted client meets a contract that holds its secret's hash: the short
  form, nothing registered again;
- a peer presenting a wrong secret is refused with COCOON's "sha256 mismatch";
- a peer, and a real cocoon-client, whose owner has no contract are offered
  the long form and refused after the proxy's auth_timeout with the reason;
  the client's callers get 503 with that reason and nothing is served;
- a request the contract's figures cannot cover gets 402 insufficient_quota
  from the client at once (its own read of the contract decides).

Proxy log lines and /jsonstats are the events waited on; no fixed sleeps."""
import hashlib
import json
import os
import re
import secrets
import signal
import sys

from cocoonlib import (Proc, binary, check, check_eq, children_of, client_contract, free_port,
                       http_json, jsonstats, limit, log, proc_comm, run, tmpdir, wait_until)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
from cocoon_peer import Link, make_cert  # noqa: E402


def child(up, name):
    pids = [c for c in children_of(up.pid) if proc_comm(c) == name]
    check_eq(len(pids), 1, "one %s process" % name)
    return pids[0]


def proxy_log(d):
    try:
        with open(os.path.join(d, "proxy.log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def authorized(d, form):
    """The proxy's event=client_authorized lines of that form."""
    return re.findall(r"event=client_authorized .*form=%s" % form, proxy_log(d))


def chat(port, max_tokens=3):
    return http_json(port, "POST", "/v1/chat/completions",
                     {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}],
                      "max_tokens": max_tokens})


def connect(link, owner):
    q = {"_": "client.connectToProxy",
         "params": {"_": "client.params", "flags": 3, "client_owner_address": owner,
                    "is_test": True, "min_proto_version": 1, "max_proto_version": 2},
         "min_config_version": 0}
    return link.query(q, "client.connectedToProxy", timeout=limit(30))


def main(holder):
    work = tmpdir("cocoon-client-auth-")
    d = os.path.join(work, "net")
    port = free_port()
    up = Proc("up", [binary("cocoon"), "up", "--port", str(port), "--dir", d, "--backend",
                     "openai-http", "--chain-refresh", "5"], work, capture_stdout=True)
    up.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=180)
    sim = json.load(open(os.path.join(d, "tonsim.json")))
    wallet = sim["wallets"]["client"]
    pcfg_path = os.path.join(d, "proxy.json")
    pcfg = json.load(open(pcfg_path))
    proxy_http = int(pcfg["listen_http"].rsplit(":", 1)[1])
    proxy_clients = int(pcfg["listen_clients"].rsplit(":", 1)[1])

    # 1. First connection: long, with the nonce registered on chain.
    c = wait_until(lambda: (lambda c: c if c and c.get("deployed") and c.get("registers", 0) >= 1
                            else None)(client_contract(port)), 60, "the nonce registered by the client")
    check_eq(c["registers"], 1, "one registration")
    wait_until(lambda: authorized(d, "long"), 60, "the proxy authorized the long form")
    st, j = chat(port)
    check_eq(st, 200, "served after the long authorization (%r)" % (j,))
    auth = jsonstats(proxy_http)["auth"]
    check(auth["chain"], "the proxy authorizes with the chain: %r" % auth)
    check_eq(auth["refused"], 0, "nobody refused yet")
    wait_until(lambda: (client_contract(port) or {}).get("secret_hash_ours"), 60,
               "the secret's hash on the contract")
    log("first connection: long authorization, nonce registered on chain, served")

    # 2. A restarted client: the contract holds its hash, the short form.
    pid = child(up, "cocoon-client")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: proc_comm(pid) != "cocoon-client", 20, "the old client gone")
    wait_until(lambda: authorized(d, "short"), 60, "the restarted client authorized (short)")
    wait_until(lambda: chat(port)[0] == 200, 60, "the restarted client served")
    # The restarted client's own read of its contract (its credit follows it).
    c = wait_until(lambda: (lambda c: c if c and c.get("known") and c.get("deployed") else None)(
        client_contract(port)), 30, "the restarted client read its contract")
    check_eq(c["registers"], 0, "the restarted client registered nothing")
    check_eq(len(authorized(d, "long")), 1, "still one long authorization in all")
    log("restarted client: short authorization with its secret")

    # The contract's figures decide the client's credit: a request whose
    # reservation (max_tokens x max_coefficient/1000) is over what the
    # contract pays for is refused at once with 402; nothing reaches the proxy.
    avail = min(c["balance_nano"], c["stake_nano"]) // 20
    coef = (2 * avail * 1000) // 1000000 + 1000
    total = jsonstats(proxy_http)["requests"]["total"]
    st, j = http_json(port, "POST", "/v1/chat/completions",
                      {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}],
                       "max_tokens": 1000000, "max_coefficient": coef})
    check_eq(st, 402, "over the contract's credit: 402 (%r)" % (j,))
    check_eq(j["error"]["type"], "insufficient_quota", "OpenAI error type")
    check_eq(j["error"]["code"], "insufficient_quota", "OpenAI error code")
    check_eq(jsonstats(proxy_http)["requests"]["total"], total,
             "the refused request never left the client")

    # A short proxy wait for the refusals below: the proxy is restarted by
    # cocoon up with the edited config (not a measured setting).
    pcfg["auth_timeout"] = 8
    with open(pcfg_path, "w") as f:
        json.dump(pcfg, f)
    ppid = child(up, "cocoon-proxy")
    os.kill(ppid, signal.SIGTERM)
    wait_until(lambda: proc_comm(ppid) != "cocoon-proxy", 30, "the old proxy gone")
    wait_until(lambda: (lambda j: j and j.get("auth", {}).get("timeout") == 8)(
        _try_stats(proxy_http)), 60, "the proxy back with auth_timeout 8")
    wait_until(lambda: chat(port)[0] == 200, 60, "the client served by the restarted proxy")

    cert, key = make_cert(work)
    # 3. A wrong secret against the contract's hash: refused, link closed.
    link = Link.dial("127.0.0.1", proxy_clients, cert, key)
    a, err = connect(link, wallet["address"])
    check(err is None, "connect: %r" % (err,))
    check_eq(a["auth"]["_"], "client.proxyConnectionAuthShort", "the short offer")
    with open(os.path.join(d, "client-state", "client-secret.seed"), "rb") as f:
        secret = f.read().hex().encode()
    check_eq(a["auth"]["secret_hash"], hashlib.sha256(secret).digest(),
             "the offered hash is the contract's (our client's secret)")
    _, err = link.query({"_": "client.authorizeWithProxyShort", "data": b"not-the-secret"},
                        ("client.authorizationWithProxySuccess",
                         "client.authorizationWithProxyFailed"), timeout=limit(30))
    check_eq(err, (602, "sha256 mismatch"), "a wrong secret refused with COCOON's error")
    check(link.next(timeout=limit(20)) is None, "the link is closed after the refusal")
    wait_until(lambda: re.search(r"event=client_auth_refused .*reason=\"sha256 mismatch\"",
                                 proxy_log(d)), 20, "the refusal logged")

    # 4. An owner without a contract: the long offer, then the refusal with
    # the reason once auth_timeout passes without a registration.
    stranger = "0:" + secrets.token_hex(32)
    link = Link.dial("127.0.0.1", proxy_clients, cert, key)
    a, err = connect(link, stranger)
    check(err is None, "connect: %r" % (err,))
    check_eq(a["auth"]["_"], "client.proxyConnectionAuthLong", "the long offer without a contract")
    nonce = a["auth"]["nonce"]
    r, err = link.query({"_": "client.authorizeWithProxyLong"},
                        ("client.authorizationWithProxySuccess",
                         "client.authorizationWithProxyFailed"), timeout=limit(60))
    check(err is None, "the failure is an answer: %r" % (err,))
    check_eq(r["_"], "client.authorizationWithProxyFailed", "refused")
    why = r["error"].decode() if isinstance(r["error"], bytes) else r["error"]
    check("client contract not deployed" in why and ("nonce %d" % (nonce % (1 << 64))) in why,
          "the reason names the missing contract and the nonce: %r" % why)
    link.close()

    # 5. A real client whose owner has no contract (no wallet to make one):
    # its callers get 503 with the reason; nothing is served.
    ccfg = json.load(open(os.path.join(d, "client.json")))
    other = free_port()
    ccfg["listen_http"] = "127.0.0.1:%d" % other
    ccfg["owner_address"] = sim["wallets"]["owner"]["address"]
    ccfg.pop("wallet_key_file", None)
    ccfg["state_dir"] = "client-2-state"
    with open(os.path.join(d, "client-2.json"), "w") as f:
        json.dump(ccfg, f)
    client2 = Proc("client-2", [binary("cocoon-client"), "--config",
                                os.path.join(d, "client-2.json")], d)
    wait_until(lambda: jsonstats(other) is not None, 30, "client-2 up")
    refused, served = [], []

    def refused_with_reason():
        st, j = chat(other)
        if st == 200:
            served.append(j)
        msg = (j or {}).get("error", {}).get("message", "")
        if st == 503 and "client contract not deployed" in msg:
            refused.append(msg)
            return True
        return False
    wait_until(refused_with_reason, 120, "client-2's callers told why")
    check_eq(served, [], "client-2 was never served")
    owner_rows = [r for r in jsonstats(proxy_http)["ledger"]["clients"]
                  if r["owner"] == ccfg["owner_address"]]
    check_eq(len(owner_rows), 1, "client-2's account at the proxy")
    check_eq(owner_rows[0]["tokens_used"], 0, "nothing used by client-2")
    check(jsonstats(proxy_http)["auth"]["refused"] >= 3, "the refusals counted")
    log("wrong secret refused; no contract refused after auth_timeout (%s)" % refused[0][:160])
    client2.stop()

    # 6. A client over its balance: the owner's wallet deploys its contract
    # with 2000 tokens' worth (and never tops it up again). Requests are
    # served while the credit covers their reservation, then 402 at once;
    # the proxy never bills the account beyond its balance.
    owner_keys = os.path.join(d, "owner-wallet.json")
    fd = os.open(owner_keys, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"secret_key": sim["wallets"]["owner"]["secret_key"],
                   "network_global_id": sim["wallets"]["owner"].get("network_global_id", -239)}, f)
    poor = free_port()
    ccfg.update({"listen_http": "127.0.0.1:%d" % poor, "wallet_key_file": "owner-wallet.json",
                 "state_dir": "client-3-state", "topup_nano": 2000 * 20, "min_balance_nano": 1})
    with open(os.path.join(d, "client-3.json"), "w") as f:
        json.dump(ccfg, f)
    Proc("client-3", [binary("cocoon-client"), "--config", os.path.join(d, "client-3.json")], d)
    wait_until(lambda: chat(poor)[0] == 200, 90, "client-3 authorized (long) and served")
    c3 = client_contract(poor)
    check_eq(c3["balance_nano"], 2000 * 20, "2000 tokens paid for")
    codes = []
    for _ in range(50):
        st, j = chat(poor, max_tokens=50)
        codes.append(st)
        if st != 200:
            break
    check_eq(codes[-1], 402, "over its balance: 402 (%r)" % (j,))
    check_eq((j["error"]["type"], j["error"]["code"]), ("insufficient_quota", "insufficient_quota"),
             "COCOON's quota error")
    check(all(x == 200 for x in codes[:-1]), "served until then: %r" % codes)
    # The client's own check, on its contract's figures, refuses without
    # sending what clearly does not fit (near the edge the proxy's refusal,
    # mapped to the same 402, is what decides: the client estimates a sealed
    # request's reservation from its plain size).
    total = jsonstats(proxy_http)["requests"]["total"]
    st, _ = chat(poor, max_tokens=500)
    check_eq(st, 402, "still 402")
    check_eq(jsonstats(proxy_http)["requests"]["total"], total, "nothing sent for that 402")
    row = [r for r in jsonstats(proxy_http)["ledger"]["clients"]
           if r["owner"] == ccfg["owner_address"]]
    check_eq(len(row), 1, "client-3's account")
    check(0 < row[0]["tokens_used"] <= 2000,
          "billed %d tokens, within the 2000 its contract pays for" % row[0]["tokens_used"])
    log("over its balance: %d requests served (%d tokens billed of 2000), then 402" %
        (len(codes) - 1, row[0]["tokens_used"]))

    up.signal(signal.SIGTERM)
    up.p.wait(limit(30))
    check_eq(up.p.returncode, 0, "cocoon up exit status")


def _try_stats(port):
    try:
        return jsonstats(port)
    except OSError:
        return None


if __name__ == "__main__":
    run(main)
