#!/usr/bin/env python3
"""The worker's payouts on chain (tools/tonsim): a small proxy in Python (the
conformance suite's peer) announces a proxy key and contract deployed in the
test and sends our worker signed payout vouchers. The worker derives its
contract at that proxy, keeps the latest valid voucher and, once it covers
more than payout_threshold_nano beyond what was paid, sends it through its
wallet (the first payout deploys the contract); the contract pays, and
/jsonstats shows what was paid on chain. A voucher for another contract and
a forged one are refused, a replay sends nothing, and /request/payout
answers as COCOON's. No value moves for the refused ones. The kept voucher
survives a restart of the worker (its state folder), and a proxy that then
signs a lower total (its ledger rolled back) is refused with the reason on
/jsonstats, at the handshake as COCOON's worker does and afterwards."""
import base64
import json
import os
import socket
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
from cocoon_peer import ZERO_ADDRESS, Link, make_cert, tl  # noqa: E402
from cocoonlib import (Proc, binary, check, check_eq, http_json, jsonstats, free_port, log,  # noqa: E402
                       limit, read_text, wait_until)
from test_ton_chain import OP_PAYOUT, Chain, body_op, cjson, cocoon, wallet_keys  # noqa: E402


class FakeProxy:
    """Answers one worker's handshake as ProxyInboundWorkerConnection.cpp does,
    with the given key and contract, then sends what the test asks."""

    def __init__(self, d, pub, owner, contract):
        self.cert, self.key = make_cert(d, "fake-proxy")
        self.pub, self.owner, self.contract = pub, owner, contract
        self.link = None
        self.ready = threading.Event()
        self.handshake_payment = {"_": "proxy.signedPaymentEmpty"}
        self.db_tokens = 0  # its database's total for the worker, as it reports it
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            try:
                link = Link.accept(raw, self.cert, self.key, 4)
            except Exception as e:  # noqa: BLE001
                log("fake proxy: link set-up failed: %r" % (e,))
                continue
            threading.Thread(target=self._serve, args=(link,), daemon=True).start()

    def _serve(self, link):
        while True:
            p = link.next(timeout=3600)
            if p is None:
                return
            if p["_"] != "tcp.query":
                continue
            q = tl.decode(p["data"])
            qid = p["id"]
            if q["_"] == "worker.connectToProxy":
                v = min(q["params"]["max_proto_version"], 2)
                link.answer(qid, {"_": "worker.connectedToProxy",
                                  "params": {"_": "proxy.params", "flags": 3,
                                             "proxy_public_key": self.pub,
                                             "proxy_owner_address": self.owner,
                                             "proxy_sc_address": self.contract, "is_test": True,
                                             "proto_version": v},
                                  "worker_sc_address": ZERO_ADDRESS})
            elif q["_"] == "worker.compareBalanceWithProxy":
                link.answer(qid, {"_": "worker.compareBalanceWithProxyResult",
                                  "signed_payment": self.handshake_payment,
                                  "tokens_committed_to_db": self.db_tokens,
                                  "max_tokens": self.db_tokens, "error_code": 0})
            elif q["_"] == "worker.proxyHandshakeComplete":
                link.answer(qid, {"_": "worker.proxyHandshakeCompleted"})
                self.link = link
                self.ready.set()
            elif q["_"] == "worker.updatePaymentStatus":
                link.answer(qid, {"_": "worker.paymentStatus",
                                  "signed_payment": {"_": "proxy.signedPaymentEmpty"},
                                  "db_tokens": 0, "max_tokens": 0})
            else:
                link.answer_error(qid, 500, "unexpected query")

    def pay(self, voucher, tokens):
        self.db_tokens = tokens
        self.link.send_packet({"_": "proxy.workerRequestPayment", "request_id": bytes(32),
                               "signed_payment": {"_": "proxy.signedPayment", "data": voucher},
                               "db_tokens": tokens, "max_tokens": tokens, "request_tokens": 0,
                               "request_client_owner": ZERO_ADDRESS})


def boc(text):
    text = text.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        return base64.b64decode(text)


def run(chain, tmp):
    st = chain.state
    api = ["--api", chain.api]
    root = st["root"]["address"]
    keys = wallet_keys(st, tmp)
    wallet = {r: w["address"] for r, w in st["wallets"].items()}
    fee = cjson("root", "show", "--api", chain.api, "--root", root)["params"]["worker_fee_per_token"]

    # The worker checks its proxies' images against the root's list; this
    # proxy is not attested, which reads as the all-zero image: list it
    # (first, so that everything below reads the root as it then stays).
    cocoon("root", "add-proxy-type", "00" * 32, "--api", chain.api, "--root", root, "--keys",
           keys["owner"], "--wait")

    # The proxy's signing key and contract (deployed by its stake).
    sign_keys = os.path.join(tmp, "proxy-signing.json")
    pub = cjson("wallet", "new", "--keys", sign_keys)["public_key"]
    party = [*api, "--root", root, "--proxy-pub", pub, "--json"]
    proxy_c = cjson("ton", "contract", "proxy", "--owner", wallet["proxy"], *party)
    body = cocoon("ton", "body", "proxy-increase-stake", "1", wallet["proxy"]).stdout.strip()
    cocoon("wallet", "send", "--keys", keys["proxy"], "--to", proxy_c["address"], "--amount", "1.1",
           "--bounce", "--body", body, "--init", proxy_c["state_init"], "--wait", *api)
    # Money to pay workers with beyond the stake (clients' top-ups bring it in a
    # real network); an empty body keeps the value.
    cocoon("wallet", "send", "--keys", keys["proxy"], "--to", proxy_c["address"], "--amount", "1",
           "--bounce", "--wait", *api)
    pair = [*party, "--proxy-contract", proxy_c["address"]]
    ours = cjson("ton", "contract", "worker", "--owner", wallet["worker"], *pair)["address"]
    other = cjson("ton", "contract", "client", "--owner", wallet["client"], *pair)["address"]
    forger = os.path.join(tmp, "forger.json")
    cjson("wallet", "new", "--keys", forger)

    def voucher(tokens, target=ours, key=sign_keys):
        return boc(cocoon("ton", "voucher", "sign", "--keys", key, "--op", "payout", "--tokens",
                          str(tokens), "--target", target, "--excess-to", wallet["proxy"]).stdout)

    # The proxy and the worker.
    px = FakeProxy(tmp, bytes.fromhex(pub), wallet["proxy"], proxy_c["address"])
    bk = Proc("backend", [binary("cocoon-fake-backend"), "--port", "0", "--model", "fake-model"],
              tmp, capture_stdout=True)
    bport = int(bk.wait_line(r"listening (\d+)").group(1))
    whttp = free_port()
    wkey = os.path.join(tmp, "worker-wallet.json")
    fd = os.open(wkey, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"secret_key": st["wallets"]["worker"]["secret_key"],
                   "network_global_id": st["wallets"]["worker"]["network_global_id"]}, f)
    cfg = os.path.join(tmp, "worker-daemon.json")
    with open(cfg, "w") as f:
        json.dump({"proxies": ["127.0.0.1:%d" % px.port], "listen_http": "127.0.0.1:%d" % whttp,
                   "backend": "openai-http", "backend_url": "http://127.0.0.1:%d" % bport,
                   "model": "fake-model", "chain": "http://127.0.0.1:%d" % st["port"],
                   "root_address": root, "wallet_key_file": wkey, "payout_threshold_nano": 1,
                   "reconnect_min": 0.1, "reconnect_max": 1, "log_level": "debug",
                   "state_dir": os.path.join(tmp, "worker-state")}, f)
    worker = Proc("worker", [binary("cocoon-worker"), "--config", cfg], tmp)
    check(px.ready.wait(60), "the worker completes its handshake with the proxy")

    def entry():
        j = jsonstats(whttp)
        return j["payments"] if j else None

    p = wait_until(lambda: (lambda e: e if e and e["proxies"][0].get("contract") else None)(entry()),
                   20, "the worker's contract at the proxy")
    check_eq(p["proxies"][0]["contract"], ours, "the worker derives the contract the CLI derives")
    check_eq(p["proxies"][0]["proxy_contract"], proxy_c["address"], "and the proxy's")
    check_eq(p["wallet"]["address"], wallet["worker"], "the worker's wallet")

    def transfers():
        return entry()["wallet"]["transfers"]

    # Refused: a voucher for another contract, and one signed by another key.
    px.pay(voucher(300, target=other), 300)
    px.pay(voucher(300, key=forger), 300)
    log_path = os.path.join(tmp, "worker.log")
    wait_until(lambda: read_text(log_path).count("event=bad_signed_payment") >= 2, 20,
               "both bad vouchers logged")
    check("it pays another contract" in read_text(log_path), "the foreign voucher's reason")
    e = entry()
    check_eq((e["proxies"][0]["paid_tokens"], e["proxies"][0]["claims"], transfers()), (0, 0, 0),
             "nothing kept, nothing sent")
    check_eq(chain.balance(ours), 0, "the contract is not even deployed")

    # A good voucher: claimed by itself (threshold 1 nanoTON), deploying the contract.
    px.pay(voucher(500), 500)
    e = wait_until(lambda: (lambda e: e if e["proxies"][0]["tokens_paid_on_chain"] == 500 else None)(
        entry()), 60, "the payout on chain")
    check_eq(chain.get(ours, "get_worker_data")[:2], [0, 500], "the contract paid 500 tokens")
    check_eq(e["nano_paid_on_chain"], 500 * fee, "nano_paid_on_chain")
    check_eq(e["nano_claimable"], 0, "nothing left to claim")
    check_eq(e["nano_paid"], 500 * fee, "nano_paid = on chain + claimable")
    check_eq(e["proxies"][0]["claims"], 1, "one claim")

    def incoming():
        return [int(t["in_msg"]["value"]) for t in chain.txs(wallet["worker"], 20)
                if t["in_msg"].get("source") and body_op(t["in_msg"]) == OP_PAYOUT]
    wait_until(lambda: 500 * fee in incoming(), 30, "500 x fee paid to the worker's wallet")

    # A replay sends nothing; /request/payout has nothing to claim.
    sent = transfers()
    px.pay(voucher(500), 500)
    reads = entry()["proxies"][0]["chain_reads"]
    wait_until(lambda: entry()["proxies"][0]["chain_reads"] >= reads + 2, 20, "two more reads")
    check_eq((entry()["proxies"][0]["claims"], transfers()), (1, sent), "a replay sends nothing")
    code, j = http_json(whttp, "GET", "/request/payout")
    check_eq((code, j["result"], j["sent"]), (200, "nothing to claim", 0), "/request/payout")
    code, j = http_json(whttp, "GET", "/request/payout?proxy=" + wallet["client"])
    check_eq(j["result"], "proxy not found", "/request/payout for an unknown proxy")

    # A higher total: only the difference is paid.
    px.pay(voucher(800), 800)
    wait_until(lambda: entry()["proxies"][0]["tokens_paid_on_chain"] == 800, 60, "the second payout")
    check_eq(chain.get(ours, "get_worker_data")[:2], [0, 800], "the contract paid 800 in all")
    check_eq(entry()["proxies"][0]["claims"], 2, "two claims")

    # A restart keeps the voucher (state_dir/proxy-payments.json): nothing to
    # claim again, and it is what later payments are held to.
    check_eq(worker.stop(), 0, "the worker stops cleanly")
    px.ready.clear()
    worker = Proc("worker", [binary("cocoon-worker"), "--config", cfg], tmp)
    check(px.ready.wait(60), "the restarted worker's handshake")
    e = wait_until(lambda: (lambda e: e if e["proxies"][0]["chain_reads"] >= 1 else None)(entry()),
                   30, "the restarted worker's contract read")
    check_eq(e["proxies"][0]["paid_tokens"], 800, "the voucher for 800 tokens kept across a restart")
    check_eq((e["proxies"][0]["tokens_paid_on_chain"], e["nano_claimable"]), (800, 0),
             "all of it paid already")
    check_eq((e["proxies"][0]["claims"], e["wallet"]["transfers"]), (0, 0), "nothing sent again")
    check_eq(e["proxies"][0]["rolled_back"], None, "not rolled back")

    # The proxy signs less than we hold: its ledger was rolled back.
    px.pay(voucher(600), 600)
    e = wait_until(lambda: (lambda e: e if e["proxies"][0]["rolled_back"] else None)(entry()), 20,
                   "the rollback on /jsonstats")
    why = e["proxies"][0]["rolled_back"]
    check("signed a payment for 600 tokens, we hold one for 800" in why, "the reason: %r" % why)
    check_eq(e["proxies"][0]["paid_tokens"], 800, "the higher voucher kept")
    # At the handshake (COCOON's worker fails the connection there): the
    # link is refused with the same reason.
    px.handshake_payment = {"_": "proxy.signedPayment", "data": voucher(600)}
    check_eq(worker.stop(), 0, "the worker stops cleanly")
    px.ready.clear()
    log_path = os.path.join(tmp, "worker.log")
    seen = read_text(log_path).count("tokens_committed_to_blockchain is too low")
    worker = Proc("worker", [binary("cocoon-worker"), "--config", cfg], tmp)
    wait_until(lambda: read_text(log_path).count("tokens_committed_to_blockchain is too low") >
               seen, 30, "the handshake refused for the rollback")
    e = wait_until(entry, 20, "the worker's stats")
    check("we hold one for 800" in (e["proxies"][0]["rolled_back"] or ""),
          "the reason on /jsonstats: %r" % e["proxies"][0])
    check(not px.ready.is_set(), "no handshake completed with the rolled-back proxy")
    log("restart: voucher kept; a proxy signing 600 < 800 refused (%s)" % why)
    worker.stop()

    # A proxy that signs what we hold again but whose database reports fewer
    # tokens committed for us than it did (800): COCOON's worker fails the
    # handshake ("tokens_committed_to_db is too low"), ours too.
    px.handshake_payment = {"_": "proxy.signedPayment", "data": voucher(800)}
    px.db_tokens = 700
    px.ready.clear()
    seen = read_text(log_path).count("tokens_committed_to_db is too low")
    worker = Proc("worker", [binary("cocoon-worker"), "--config", cfg], tmp)
    wait_until(lambda: read_text(log_path).count("tokens_committed_to_db is too low") > seen, 30,
               "the handshake refused for the database's lower total")
    e = wait_until(entry, 20, "the worker's stats")
    why = e["proxies"][0]["rolled_back"] or ""
    check("reports 700 tokens committed for us, it reported 800" in why, "the reason: %r" % why)
    check(not px.ready.is_set(), "no handshake completed with that proxy")
    # Once it reports its total again, the handshake completes.
    px.db_tokens = 800
    check(px.ready.wait(limit(60)), "the handshake completes once the proxy reports 800 again")
    log("a proxy reporting 700 < 800 tokens committed refused at the handshake (%s), "
        "accepted again at 800" % why)
    worker.stop()

    # A proxy announcing a contract other than the one its owner, key and
    # the root give (COCOON's WorkerRunner::register_proxy) is refused.
    px.contract = "0:" + "11" * 32
    px.ready.clear()
    seen = read_text(log_path).count("PROXY SC ADDRESS IS UNEXPECTED")
    worker = Proc("worker", [binary("cocoon-worker"), "--config", cfg], tmp)
    wait_until(lambda: read_text(log_path).count("PROXY SC ADDRESS IS UNEXPECTED") > seen, 30,
               "the proxy with a foreign contract refused")
    check("expected %s got 0:%s" % (proxy_c["address"], "11" * 32) in read_text(log_path),
          "the reason names both contracts")
    check(not px.ready.is_set(), "no handshake completed with that proxy")
    worker.stop()


def main():
    from tempfile import TemporaryDirectory
    import cocoonlib
    with TemporaryDirectory() as tmp:
        chain = Chain(tmp)
        try:
            run(chain, tmp)
            cocoonlib.stop_all_and_check_sanitizers()
        finally:
            chain.stop()
    log("PASS")


if __name__ == "__main__":
    main()
