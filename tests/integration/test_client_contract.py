#!/usr/bin/env python3
"""The client's contract on chain (`cocoon up --chain local`): the client gets
tonsim's "client" wallet, derives its contract at the proxy from the proxy's
key and the root's params (the address `cocoon client status` derives for the
same wallet, proxy contract and key), deploys it with its first top-up of the
stake (COCOON's rule), sets the hash of its short-authorization secret on it
(COCOON's ClientProxyInfo::check), reads it back from the chain and shows it on
/jsonstats; a contract above the threshold is not topped up again, and a
restarted client keeps its contract and secret."""
import hashlib
import json
import os
import signal

from cocoonlib import (Proc, binary, check, check_eq, children_of, client_contract, cocoon,
                       free_port, http_json, jsonstats, proc_comm, run, tmpdir, wait_until)


def main(holder):
    work = tmpdir("cocoon-client-contract-")
    d = os.path.join(work, "net")
    port = free_port()
    up = Proc("up", [binary("cocoon"), "up", "--port", str(port), "--dir", d, "--backend",
                     "openai-http", "--chain-refresh", "5"], work, capture_stdout=True)
    up.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=120)
    ccfg = json.load(open(os.path.join(d, "client.json")))
    check_eq(ccfg["wallet_key_file"], "client-wallet.json", "the client has a wallet")
    check_eq(os.stat(os.path.join(d, "client-wallet.json")).st_mode & 0o777, 0o600,
             "its key file is private")
    sim = json.load(open(os.path.join(d, "tonsim.json")))
    api = "http://127.0.0.1:%d" % sim["port"]
    wallet = sim["wallets"]["client"]

    c = wait_until(lambda: (lambda c: c if c and c.get("deployed") and c.get("state") == "open"
                            else None)(client_contract(port)), 60, "the client contract deployed")
    stake = c["stake_nano"]
    check(stake > 0, "the contract has the root's minimum stake (%d)" % stake)
    check_eq(c["balance_nano"], stake - stake % 20, "the first top-up is the stake (whole tokens)")
    check_eq(c["deploys"], 1, "one deploy")
    check_eq(c["tokens_used"], 0, "nothing charged yet")
    check_eq(c["last_error"], "", "no error")
    w = jsonstats(port)["payments"]["wallet"]
    check_eq(w["address"], wallet["address"], "the client's wallet is tonsim's client wallet")

    # The first worker has tonsim's worker wallet, owns its contract at the
    # proxy through it (ready to claim payouts; the proxy signs none yet).
    wcfg = json.load(open(os.path.join(d, "worker-1.json")))
    check_eq(wcfg["wallet_key_file"], "worker-wallet.json", "worker-1 has a wallet")
    whttp = int(wcfg["listen_http"].rsplit(":", 1)[1])
    wp = wait_until(lambda: (lambda j: j["payments"] if j and j["payments"]["proxies"][0].get(
        "contract") else None)(jsonstats(whttp)), 30, "the worker's contract")
    check_eq(wp["wallet"]["address"], sim["wallets"]["worker"]["address"], "the worker's wallet")
    check_eq(wp["nano_paid_on_chain"], 0, "nothing paid on chain yet")

    # The same address as the owners' CLI derives for that wallet.
    keys = os.path.join(work, "client.keys")
    fd = os.open(keys, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"version": "v5r1", "workchain": 0,
                   "network_global_id": wallet["network_global_id"],
                   "private_key": wallet["secret_key"][:64], "public_key": wallet["public_key"]}, f)
    rc, out, err = cocoon("client", "status", "--keys", keys, "--api", api, "--root",
                          sim["root"]["address"], "--proxy-contract", c["proxy_contract"],
                          "--proxy-pub", c["proxy_public_key"], "--json")
    check_eq(rc, 0, "cocoon client status (%s)" % err.strip())
    st = json.loads(out)
    check_eq(st["contract"], c["address"], "the CLI derives the same contract address")
    check_eq(st["balance_nano"], c["balance_nano"], "and reads the same balance")

    # The secret's hash reaches the contract (one message), and it is the
    # SHA-256 of the secret kept in the client's state folder.
    c = wait_until(lambda: (lambda c: c if c and c.get("secret_hash_ours") else None)(
        client_contract(port)), 60, "the secret's hash on the contract")
    with open(os.path.join(d, "client-state", "client-secret.seed"), "rb") as f:
        secret = f.read().hex()
    check_eq(c["secret_hash"], hashlib.sha256(secret.encode()).hexdigest(),
             "the contract holds sha256(secret)")
    check_eq(c["secret_updates"], 1, "one secret update")

    # Above half the stake: no second top-up while the contract is read again.
    reads = c["reads"]
    wait_until(lambda: (client_contract(port) or {}).get("reads", 0) >= reads + 3, 30, "three more reads")
    c2 = client_contract(port)
    check_eq(c2["topups"], 1, "one top-up in all")
    check_eq(c2["balance_nano"], c["balance_nano"], "the balance is unchanged")
    st, _ = http_json(port, "POST", "/v1/chat/completions",
                      {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}],
                       "max_tokens": 3})
    check_eq(st, 200, "requests are served")

    # A restarted client (killed; cocoon up starts it again): the same
    # contract and secret, so nothing is sent again.
    pid = [c for c in children_of(up.pid) if proc_comm(c) == "cocoon-client"]
    check_eq(len(pid), 1, "one client process")
    os.kill(pid[0], signal.SIGKILL)
    wait_until(lambda: proc_comm(pid[0]) != "cocoon-client", 20, "the old client gone")
    c3 = wait_until(lambda: (lambda c: c if c and c.get("known") and c.get("reads", 0) >= 3
                             else None)(client_contract(port)), 60, "the restarted client reads again")
    check_eq(c3["address"], c["address"], "the same contract after a restart")
    check(c3["secret_hash_ours"], "the contract still holds our secret's hash")
    check_eq((c3["deploys"], c3["topups"], c3["secret_updates"]), (0, 0, 0),
             "nothing sent again")

if __name__ == "__main__":
    run(main)
