#!/usr/bin/env python3
"""The C TON library against a real TVM: starts tools/tonsim (the cocoon
contracts on @ton/sandbox) and drives it only through `cocoon` commands.

Proves: C-built wallet v5r1 transfers (first one deploys the wallet) move the
exact amounts; the root registry accepts the owner's C-built operations,
refuses a non-owner, and `cocoon root show` reads it back via runGetMethod
(also in the configs/registry.json form); C-derived proxy/client/worker
contract addresses are the ones the contracts use (the proxy contract accepts
requests only from the client and worker contracts it derives itself); client
top-up, register, a proxy-signed charge voucher and a worker payout voucher are
accepted and move the expected amounts; a voucher with a bad signature, a
replayed voucher, a withdrawal below the stake and closes before their delay are
rejected on-chain with their exit codes and no value moved; save-state notes,
withdraw, refund grant, forced refund, params change and the proxy's two-phase
signed close work (the last two after moving the chain clock, which wallet
transfers follow).
Contract state is checked independently through the HTTP API from Python and
compared with the C readers (`cocoon ton state`, `cocoon wallet history`)."""
import base64
import json
import os
import select
import subprocess
import sys
import tempfile
import urllib.request

SRC = os.environ.get("COCOON_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(os.environ.get("COCOON_BIN_DIR", "build/bin"), "cocoon")
TON = 1_000_000_000
OP_PAYOUT = 0xC59A7CD3


class Chain:
    def __init__(self, tmp):
        tonsim = os.path.join(SRC, "tools", "tonsim", "tonsim.js")
        if not os.path.isdir(os.path.join(SRC, "contracts", "node_modules")):
            sys.exit("contracts/node_modules is missing: run `npm ci` in contracts/ (scripts/install-deps.sh)")
        self.proc = subprocess.Popen(["node", tonsim, "--port", "0", "--state", os.path.join(tmp, "state.json")],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 90)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.stop()
            sys.exit("tonsim did not start: " + (self.proc.stderr.read() or "no output"))
        self.state = json.loads(line)
        self.api = f"http://{self.state['host']}:{self.state['port']}/api/v2"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def call(self, api_method, **params):
        req = urllib.request.Request(f"{self.api}/{api_method}", data=json.dumps(params).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            reply = json.load(r)
        assert reply["ok"], reply
        return reply["result"]

    def balance(self, addr):
        return int(self.call("getAddressInformation", address=addr)["balance"])

    def get(self, addr, method):
        r = self.call("runGetMethod", address=addr, method=method, stack=[])
        assert r["exit_code"] == 0, (method, r)
        out = []
        for kind, value in r["stack"]:
            out.append(int(value, 16) if kind == "num" else value)
        return out

    def txs(self, addr, limit=10):
        return self.call("getTransactions", address=addr, limit=limit)


def cocoon(*args, ok=True):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)
    if "Sanitizer" in p.stderr:  # sanitizer builds: refused operations must be clean too
        sys.exit(f"cocoon {' '.join(args)}: sanitizer report: {p.stderr}")
    if p.returncode < 0:
        sys.exit(f"cocoon {' '.join(args)} crashed (signal {-p.returncode})")
    if ok and p.returncode != 0:
        sys.exit(f"cocoon {' '.join(args)} failed: {p.stderr}")
    return p


def cjson(*args):
    return json.loads(cocoon(*args).stdout)


def on_chain(run):
    """Runs run(chain, tmp) against a fresh tonsim in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        chain = Chain(tmp)
        try:
            run(chain, tmp)
        finally:
            chain.stop()


def wallet_keys(st, tmp):
    """Writes each tonsim wallet's key file for `cocoon wallet --keys`; role -> path."""
    keys = {}
    for role, w in st["wallets"].items():
        keys[role] = os.path.join(tmp, f"{role}.json")
        with open(keys[role], "w") as f:
            json.dump({"version": "v5r1", "private_key": w["secret_key"][:64],
                       "network_global_id": w["network_global_id"]}, f)
    return keys


def main():
    on_chain(run)


def run(chain, tmp):
    st = chain.state
    api = ["--api", chain.api]
    root = st["root"]["address"]
    keys = wallet_keys(st, tmp)
    for role, w in st["wallets"].items():
        # the C side derives the same wallet address as @ton/ton
        got = cjson("wallet", "address", "--keys", keys[role], "--json")["raw"]
        assert got == w["address"], (role, got, w["address"])
    wallet = {r: w["address"] for r, w in st["wallets"].items()}

    # --- plain wallet transfers -------------------------------------------------
    fresh_keys = os.path.join(tmp, "fresh.json")
    fresh = cjson("wallet", "new", "--keys", fresh_keys)
    before = chain.balance(wallet["client"])
    cjson("wallet", "send", "--keys", keys["client"], "--to", fresh["non_bounceable"], "--amount", "3",
          "--wait", *api)
    assert chain.balance(fresh["raw"]) == 3 * TON
    spent = before - chain.balance(wallet["client"])
    assert 3 * TON < spent < 3 * TON + TON // 20, spent
    # the fresh wallet's first transfer carries its StateInit and deploys it
    before = chain.balance(wallet["worker"])
    r = cjson("wallet", "send", "--keys", fresh_keys, "--to", wallet["worker"], "--amount", "1.25",
              "--no-bounce", "--wait", *api)
    assert r["deployed_now"] and r["seqno"] == 0, r
    # the receiver gets exactly the amount (mode 3: the sender pays the fees); its
    # balance then pays for its own processing of the message
    got = chain.txs(wallet["worker"], 1)[0]["in_msg"]
    assert int(got["value"]) == 1_250_000_000, got
    assert cjson("ton", "address", got["source"], "--json")["raw"] == fresh["raw"], got
    assert 0 < chain.balance(wallet["worker"]) - before <= 1_250_000_000
    info = cjson("wallet", "balance", "--keys", fresh_keys, "--json", *api)
    assert info["state"] == "active" and info["seqno"] == 1, info
    assert 1_700_000_000 < info["balance_nano"] < 1_750_000_000, info
    print("ok: wallet transfers")

    # --- root registry: owner operations and read-back via runGetMethod ------------
    h = lambda c: c * 64  # noqa: E731
    own = [*api, "--root", root, "--keys", keys["owner"], "--wait"]
    cocoon("root", "add-proxy-type", h("a"), *own)
    cocoon("root", "add-worker-type", h("b"), *own)
    cocoon("root", "add-model-type", h("c"), *own)
    cocoon("root", "add-model-type", h("d"), *own)
    cocoon("root", "del-model-type", h("c"), *own)
    cocoon("root", "register-proxy", "127.0.0.1:11001 127.0.0.1:11002", *own)
    cocoon("root", "register-proxy", "10.0.0.5:443", *own)
    cocoon("root", "update-proxy", "2", "10.0.0.6:443", *own)
    cocoon("root", "change-price", "25", "18", *own)
    shown = cjson("root", "show", "--api", chain.api, "--root", root)
    assert shown["proxy_hashes"] == [h("a")] and shown["worker_hashes"] == [h("b")], shown
    assert shown["model_hashes"] == [h("d")], shown
    assert shown["proxies"] == {"1": "127.0.0.1:11001 127.0.0.1:11002", "2": "10.0.0.6:443"}, shown
    assert shown["last_proxy_seqno"] == 2 and shown["version"] == 9, shown
    params = shown["params"]
    assert params["price_per_token"] == 25 and params["worker_fee_per_token"] == 18, params
    assert params["params_version"] == 1 and shown["owner"] == wallet["owner"], shown
    # the same registry in the form of configs/registry.json (for --chain none snapshots)
    reg = cjson("root", "show", "--registry-json", "--api", chain.api, "--root", root)
    assert reg["version"] == 9 and reg["model_hashes"] == [h("d")], reg
    assert reg["params"]["price_per_token"] == 25 and reg["params"]["params_version"] == 1, reg
    assert {"seqno": 1, "worker_address": "127.0.0.1:11001", "address": "127.0.0.1:11002"} in reg["proxies"]
    assert {"seqno": 2, "address": "10.0.0.6:443"} in reg["proxies"], reg
    # a non-owner's change is refused on-chain: nothing moves
    cocoon("root", "add-model-type", h("e"), *api, "--root", root, "--keys", keys["client"], "--wait")
    again = cjson("root", "show", "--api", chain.api, "--root", root)
    assert again["version"] == 9 and again["model_hashes"] == [h("d")], again
    assert chain.txs(root, 1)[0]["compute_exit_code"] == 100
    print("ok: root registry")

    # --- proxy contract: C-derived address, deployed by a C-built stake ------------
    sign_keys = os.path.join(tmp, "proxy-signing.json")
    pub = cjson("wallet", "new", "--keys", sign_keys)["public_key"]
    party = [*api, "--root", root, "--proxy-pub", pub, "--json"]
    proxy_c = cjson("ton", "contract", "proxy", "--owner", wallet["proxy"], *party)
    body = cocoon("ton", "body", "proxy-increase-stake", "1", wallet["proxy"]).stdout.strip()
    cocoon("wallet", "send", "--keys", keys["proxy"], "--to", proxy_c["address"], "--amount", "1.1",
           "--bounce", "--body", body, "--init", proxy_c["state_init"], "--wait", *api)
    pdata = chain.get(proxy_c["address"], "get_proxy_data")
    assert pdata == [0, 0, TON, 0], pdata  # open, nothing earned, stake 1 TON

    # --- client contract: top-up (deploys), register, charge voucher ----------------
    # the client's money goes on to the proxy contract, which must recognise the
    # C-derived client contract address as its own (else it would refuse with 109)
    client_c = cjson("ton", "contract", "client", "--owner", wallet["client"], "--proxy-contract",
                     proxy_c["address"], *party)
    held = chain.balance(proxy_c["address"])
    body = cocoon("ton", "body", "client-top-up", "1", wallet["client"]).stdout.strip()
    cocoon("wallet", "send", "--keys", keys["client"], "--to", client_c["address"], "--amount", "1.1",
           "--bounce", "--body", body, "--init", client_c["state_init"], "--wait", *api)
    cdata = chain.get(client_c["address"], "get_client_data")
    assert cdata[:4] == [0, TON, params["min_client_stake"], 0], cdata
    ptx = chain.txs(proxy_c["address"], 1)[0]
    assert not ptx["aborted"] and ptx["compute_exit_code"] == 0, ptx
    assert TON - 1_000_000 < chain.balance(proxy_c["address"]) - held <= TON  # less its storage fee
    body = cocoon("ton", "body", "client-register", "4242", wallet["client"], "--qid", "7").stdout.strip()
    cocoon("wallet", "send", "--keys", keys["client"], "--to", client_c["address"], "--amount", "0.06",
           "--bounce", "--body", body, "--wait", *api)
    # the nonce travels to the proxy contract's transaction list (where the proxy reads it)
    hist = cjson("wallet", "history", "--address", proxy_c["address"], "--limit", "1", *api)
    assert hist[0]["in_op"] == "0x65448ff4" and hist[0]["in_source"] == client_c["address"], hist

    voucher = cocoon("ton", "voucher", "sign", "--keys", sign_keys, "--op", "charge", "--tokens", "1000",
                     "--target", client_c["address"], "--excess-to", wallet["proxy"], "--qid", "9").stdout.strip()
    cocoon("wallet", "send", "--keys", keys["proxy"], "--to", client_c["address"], "--amount", "0.1",
           "--bounce", "--body", voucher, "--wait", *api)
    cdata = chain.get(client_c["address"], "get_client_data")
    cost = 1000 * params["price_per_token"]
    assert cdata[3] == 1000 and cdata[1] == TON - cost, cdata
    # the C readers of get_client_data / get_proxy_data see the same
    cstate = cjson("ton", "state", "client", client_c["address"], *api)
    assert [cstate[k] for k in ("state", "balance", "stake", "tokens_used", "unlock_ts")] == cdata[:5], cstate
    assert int(cstate["secret_hash"], 16) == cdata[5], cstate
    pdata = chain.get(proxy_c["address"], "get_proxy_data")
    pstate = cjson("ton", "state", "proxy", proxy_c["address"], *api)
    assert [pstate[k] for k in ("state", "balance", "stake", "unlock_ts")] == pdata, pstate
    print("ok: client top-up, register, charge voucher")

    # a voucher signed by another key: rejected (101), nothing moves
    forged = cocoon("ton", "voucher", "sign", "--keys", keys["client"], "--op", "charge", "--tokens", "5000",
                    "--target", client_c["address"], "--excess-to", wallet["client"]).stdout.strip()
    held = chain.balance(client_c["address"])
    pheld = chain.balance(proxy_c["address"])
    cocoon("wallet", "send", "--keys", keys["client"], "--to", client_c["address"], "--amount", "0.1",
           "--bounce", "--body", forged, "--wait", *api)
    assert chain.get(client_c["address"], "get_client_data") == cdata
    # no value moved: the contract pays at most its storage fee, the proxy gets nothing, and the
    # 0.1 TON came back to the sender as a bounce
    assert held - 1_000_000 < chain.balance(client_c["address"]) <= held
    assert chain.balance(proxy_c["address"]) == pheld
    bounced = [t for t in chain.txs(wallet["client"], 3) if t["in_msg"].get("source") and
               cjson("ton", "address", t["in_msg"]["source"], "--json")["raw"] == client_c["address"]]
    assert bounced and 0 < 100_000_000 - int(bounced[0]["in_msg"]["value"]) < 10_000_000, bounced
    last = chain.txs(client_c["address"], 1)[0]
    assert last["aborted"] and last["compute_exit_code"] == 101, last
    # ... and the C reader of getTransactions sees the same
    hist = cjson("wallet", "history", "--address", client_c["address"], "--limit", "1", *api)
    assert hist[0]["aborted"] and hist[0]["exit_code"] == 101, hist
    assert hist[0]["in_op"] == "0xbb63ff93" and hist[0]["in_source"] == wallet["client"], hist
    # replaying the accepted voucher: rejected (103), nothing moves
    cocoon("wallet", "send", "--keys", keys["proxy"], "--to", client_c["address"], "--amount", "0.1",
           "--bounce", "--body", voucher, "--wait", *api)
    assert chain.get(client_c["address"], "get_client_data") == cdata
    assert chain.txs(client_c["address"], 1)[0]["compute_exit_code"] == 103
    print("ok: forged and replayed vouchers rejected")

    # --- proxy save-state note: COCOON's do_not_process message, kept only in the
    # proxy contract's transaction list -----------------------------------------------
    note = cocoon("ton", "body", "proxy-save-state", "3", "5e" * 32, "--qid", "11").stdout.strip()
    cocoon("wallet", "send", "--keys", keys["proxy"], "--to", proxy_c["address"], "--amount", "0.01",
           "--bounce", "--body", note, "--wait", *api)
    hist = cjson("wallet", "history", "--address", proxy_c["address"], "--limit", "1", *api)
    assert hist[0]["in_op"] == "0x9a1247c0" and not hist[0]["aborted"], hist
    assert chain.get(proxy_c["address"], "get_proxy_data") == pdata
    print("ok: proxy save-state note")

    # --- fee estimate: nothing is sent ----------------------------------------------
    seq = cjson("wallet", "balance", "--keys", keys["client"], "--json", *api)["seqno"]
    fees = cjson("wallet", "send", "--keys", keys["client"], "--to", wallet["worker"], "--amount", "1",
                 "--dry-run", *api)
    assert fees["gas_fee"] > 0 and fees["total_fee"] >= fees["gas_fee"] and not fees["deploys"], fees
    assert cjson("wallet", "balance", "--keys", keys["client"], "--json", *api)["seqno"] == seq
    print("ok: fee estimate")

    # --- worker payout: the proxy contract recognises the C-derived worker address ----
    worker_c = cjson("ton", "contract", "worker", "--owner", wallet["worker"], "--proxy-contract",
                     proxy_c["address"], *party)
    payout = cocoon("ton", "voucher", "sign", "--keys", sign_keys, "--op", "payout", "--tokens", "500",
                    "--target", worker_c["address"], "--excess-to", wallet["worker"]).stdout.strip()
    cocoon("wallet", "send", "--keys", keys["worker"], "--to", worker_c["address"], "--amount", "0.2",
           "--bounce", "--body", payout, "--init", worker_c["state_init"], "--wait", *api)
    wdata = chain.get(worker_c["address"], "get_worker_data")
    assert wdata[0] == 0 and wdata[1] == 500, wdata
    wstate = cjson("ton", "state", "worker", worker_c["address"], *api)
    assert wstate["tokens"] == 500 and wstate["owner"] == wallet["worker"], wstate
    assert wstate["proxy_contract"] == proxy_c["address"] and wstate["proxy_pub"] == pub, wstate
    amount = 500 * params["worker_fee_per_token"]
    share = 500 * (params["price_per_token"] - params["worker_fee_per_token"])
    assert chain.get(proxy_c["address"], "get_proxy_data")[1] == share  # the proxy's earned share
    incoming = [int(t["in_msg"]["value"]) for t in chain.txs(wallet["worker"], 10)
                if t["in_msg"].get("source") and body_op(t["in_msg"]) == OP_PAYOUT]
    assert amount in incoming, incoming
    print("ok: worker payout voucher")

    # --- client withdraw above the stake, then the proxy's refund grant closes it ----
    cdata = chain.get(client_c["address"], "get_client_data")
    body = cocoon("ton", "body", "client-withdraw", wallet["client"]).stdout.strip()
    cocoon("wallet", "send", "--keys", keys["client"], "--to", client_c["address"], "--amount", "0.06",
           "--bounce", "--body", body, "--wait", *api)
    after = chain.get(client_c["address"], "get_client_data")
    assert after[1] == after[2] == params["min_client_stake"], (cdata, after)
    got = [int(t["in_msg"]["value"]) for t in chain.txs(wallet["client"], 5) if body_op(t["in_msg"]) == OP_PAYOUT]
    assert cdata[1] - cdata[2] in got, got  # paid by the proxy contract
    # nothing above the stake is left: refused (104), nothing moves
    cocoon("wallet", "send", "--keys", keys["client"], "--to", client_c["address"], "--amount", "0.06",
           "--bounce", "--body", body, "--wait", *api)
    assert chain.get(client_c["address"], "get_client_data") == after
    assert chain.txs(client_c["address"], 1)[0]["compute_exit_code"] == 104
    # the proxy's final voucher: charge to 1500 tokens, refund the rest, close
    grant = cocoon("ton", "voucher", "sign", "--keys", sign_keys, "--op", "refund", "--tokens", "1500",
                   "--target", client_c["address"], "--excess-to", wallet["proxy"]).stdout.strip()
    cocoon("wallet", "send", "--keys", keys["proxy"], "--to", client_c["address"], "--amount", "0.1",
           "--bounce", "--body", grant, "--wait", *api)
    final = cjson("ton", "state", "client", client_c["address"], *api)
    assert final["state"] == 2 and final["balance"] == 0 and final["tokens_used"] == 1500, final
    refund = after[1] - 500 * params["price_per_token"]
    got = [int(t["in_msg"]["value"]) for t in chain.txs(wallet["client"], 5) if body_op(t["in_msg"]) == OP_PAYOUT]
    assert refund in got, (refund, got)
    print("ok: client withdraw and refund grant")

    # --- a refund request, then after the delay the rest is forced out of the stake ----
    c2 = cjson("ton", "contract", "client", "--owner", wallet["owner"], "--proxy-contract",
               proxy_c["address"], *party)
    body = cocoon("ton", "body", "client-top-up", "0.5", wallet["owner"]).stdout.strip()
    cocoon("wallet", "send", "--keys", keys["owner"], "--to", c2["address"], "--amount", "0.6", "--bounce",
           "--body", body, "--init", c2["state_init"], "--wait", *api)
    s2 = cjson("ton", "state", "client", c2["address"], *api)
    assert s2["balance"] == 500_000_000 and s2["stake"] == params["min_client_stake"], s2
    refund_req = cocoon("ton", "body", "client-request-refund", wallet["owner"]).stdout.strip()
    cocoon("wallet", "send", "--keys", keys["owner"], "--to", c2["address"], "--amount", "0.06", "--bounce",
           "--body", refund_req, "--wait", *api)
    s2 = cjson("ton", "state", "client", c2["address"], *api)
    stake = params["min_client_stake"]
    assert s2["state"] == 1 and s2["balance"] == stake, s2  # above-stake part paid out at once
    cocoon("wallet", "send", "--keys", keys["owner"], "--to", c2["address"], "--amount", "0.06", "--bounce",
           "--body", refund_req, "--wait", *api)
    assert chain.txs(c2["address"], 1)[0]["compute_exit_code"] == 105  # too early
    assert cjson("ton", "state", "client", c2["address"], *api)["state"] == 1
    # move the chain clock past the delay: the wallet signs valid_until from the chain's clock
    set_time(chain, params["client_delay_before_close"] + 1)
    pstake = chain.get(proxy_c["address"], "get_proxy_data")[2]
    cocoon("wallet", "send", "--keys", keys["owner"], "--to", c2["address"], "--amount", "0.06", "--bounce",
           "--body", refund_req, "--wait", *api)
    s2 = cjson("ton", "state", "client", c2["address"], *api)
    assert s2["state"] == 2 and s2["balance"] == 0, s2
    got = [int(t["in_msg"]["value"]) for t in chain.txs(wallet["owner"], 5) if body_op(t["in_msg"]) == OP_PAYOUT]
    assert stake in got, got
    assert chain.get(proxy_c["address"], "get_proxy_data")[2] == pstake - stake  # out of the proxy's stake
    print("ok: refund request, forced refund after the delay")

    # --- params change by KEY=VALUE: a proxy contract under new params is another one --
    cocoon("root", "change-params", "client_delay_before_close=600", "min_client_stake=50000000", *own)
    shown = cjson("root", "show", "--api", chain.api, "--root", root)
    assert shown["params"]["client_delay_before_close"] == 600, shown["params"]
    assert shown["params"]["min_client_stake"] == 50_000_000 and shown["params"]["params_version"] == 2
    assert shown["params"]["price_per_token"] == 25  # untouched fields keep their values
    proxy2 = cjson("ton", "contract", "proxy", "--owner", wallet["proxy"], *party)
    assert proxy2["address"] != proxy_c["address"], proxy2
    print("ok: params change")

    # --- proxy: payout of the earned share, then the two-phase close ------------------
    pown = [*api, "--keys", keys["proxy"], "--to", proxy_c["address"], "--amount", "0.05", "--bounce", "--wait"]
    body = cocoon("ton", "body", "proxy-payout", wallet["proxy"]).stdout.strip()
    cocoon("wallet", "send", "--body", body, *pown)
    got = [int(t["in_msg"]["value"]) for t in chain.txs(wallet["proxy"], 5) if body_op(t["in_msg"]) == OP_PAYOUT]
    assert share in got, got
    assert chain.get(proxy_c["address"], "get_proxy_data")[1] == 0
    cocoon("wallet", "send", "--body", cocoon("ton", "body", "proxy-close", wallet["proxy"]).stdout.strip(), *pown)
    assert cjson("ton", "state", "proxy", proxy_c["address"], *api)["state"] == 1
    # the completion is signed with the proxy key; anyone may relay it
    complete = cocoon("ton", "voucher", "sign", "--keys", sign_keys, "--op", "close-complete", "--target",
                      proxy_c["address"], "--excess-to", wallet["proxy"]).stdout.strip()
    cocoon("wallet", "send", "--body", complete, *pown)
    assert chain.txs(proxy_c["address"], 1)[0]["compute_exit_code"] == 105
    set_time(chain, params["proxy_delay_before_close"] + 1)
    before = chain.balance(wallet["proxy"])
    held = chain.balance(proxy_c["address"])
    cocoon("wallet", "send", "--body", complete, *pown)
    final = cjson("ton", "state", "proxy", proxy_c["address"], *api)
    assert final["state"] == 2 and final["stake"] == 0, final
    assert chain.balance(proxy_c["address"]) == 0
    assert chain.balance(wallet["proxy"]) - before > held - TON // 10  # everything came home
    print("ok: proxy payout and two-phase close")


def set_time(chain, advance):
    req = urllib.request.Request(chain.api.replace("/api/v2", "") + "/tonsim/setTime",
                                 data=json.dumps({"advance": advance}).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()


def body_op(msg):
    """First 32 bits of a one-cell message body BoC (enough for an op code)."""
    b64 = (msg.get("msg_data") or {}).get("body")
    if not b64:
        return None
    boc = base64.b64decode(b64)
    flags = boc[4]
    size, off = flags & 7, boc[5]
    pos = 6 + 3 * size + off + size  # cells, roots, absent, total size, one root index
    if flags & 0x80:
        cells = int.from_bytes(boc[6:6 + size], "big")
        pos += cells * off
    d2 = boc[pos + 1]
    data = boc[pos + 2: pos + 2 + (d2 + 1) // 2]
    return int.from_bytes(data[:4], "big") if len(data) >= 4 else None


if __name__ == "__main__":
    main()
    print("ok: TON chain integration")
