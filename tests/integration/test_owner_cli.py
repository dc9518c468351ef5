#!/usr/bin/env python3
"""The owners' commands on tools/tonsim (the cocoon contracts on @ton/sandbox):
`cocoon client status|topup|withdraw|close` and `cocoon worker status|payout`
act on the owner's client / worker contract through the owner's wallet, and
what they report equals what the contracts' get-methods say. A payout voucher
for another contract is refused before anything is sent. `cocoon proxy
status|topup|withdraw` act on the proxy contract its owner owns: a top-up
raises the stake, a withdrawal pays exactly the earned share (the worker
payout's tokens x (price - fee)) to the owner, and a second one sends
nothing."""
import os

from test_ton_chain import OP_PAYOUT, TON, body_op, cjson, cocoon, on_chain, wallet_keys


def main():
    on_chain(run)


def run(chain, tmp):
    st = chain.state
    api = ["--api", chain.api]
    root = st["root"]["address"]
    keys = wallet_keys(st, tmp)
    wallet = {r: w["address"] for r, w in st["wallets"].items()}
    params = cjson("root", "show", "--api", chain.api, "--root", root)["params"]
    price, fee = params["price_per_token"], params["worker_fee_per_token"]

    # A proxy contract to pair with (deployed by its stake, as test_ton_chain does).
    sign_keys = os.path.join(tmp, "proxy-signing.json")
    pub = cjson("wallet", "new", "--keys", sign_keys)["public_key"]
    party = [*api, "--root", root, "--proxy-pub", pub, "--json"]
    proxy_c = cjson("ton", "contract", "proxy", "--owner", wallet["proxy"], *party)
    body = cocoon("ton", "body", "proxy-increase-stake", "1", wallet["proxy"]).stdout.strip()
    cocoon("wallet", "send", "--keys", keys["proxy"], "--to", proxy_c["address"], "--amount", "1.1",
           "--bounce", "--body", body, "--init", proxy_c["state_init"], "--wait", *api)

    pair = [*party, "--proxy-contract", proxy_c["address"]]
    client = ["--keys", keys["client"], *pair]

    # --- client ---------------------------------------------------------------------
    s = cjson("client", "status", *client)
    want = cjson("ton", "contract", "client", "--owner", wallet["client"], *pair)["address"]
    assert s["contract"] == want and s["owner"] == wallet["client"] and not s["deployed"], s

    s = cjson("client", "topup", "1.5", "--wait", *client)
    assert s["deployed"] and s["state"] == "open", s
    assert s["balance_nano"] == 1_500_000_000 and s["stake_nano"] == params["min_client_stake"], s
    assert s["tokens_charged"] == 0 and s["transfer"]["confirmed"], s
    assert chain.get(s["contract"], "get_client_data")[:4] == [0, 1_500_000_000, params["min_client_stake"], 0]
    print("ok: client topup deploys and funds the contract")

    # The proxy charges 1000 tokens with its signed voucher: status shows it.
    voucher = cocoon("ton", "voucher", "sign", "--keys", sign_keys, "--op", "charge", "--tokens", "1000",
                     "--target", s["contract"], "--excess-to", wallet["proxy"]).stdout.strip()
    cocoon("wallet", "send", "--keys", keys["proxy"], "--to", s["contract"], "--amount", "0.1",
           "--bounce", "--body", voucher, "--wait", *api)
    s = cjson("client", "status", *client)
    assert s["tokens_charged"] == 1000 and s["balance_nano"] == 1_500_000_000 - 1000 * price, s

    s = cjson("client", "withdraw", "--wait", *client)
    data = chain.get(s["contract"], "get_client_data")
    assert s["balance_nano"] == s["stake_nano"] == params["min_client_stake"] == data[1], (s, data)
    got = [int(t["in_msg"]["value"]) for t in chain.txs(wallet["client"], 5) if body_op(t["in_msg"]) == OP_PAYOUT]
    assert 1_500_000_000 - 1000 * price - params["min_client_stake"] in got, got
    print("ok: client status after a charge, withdraw above the stake")

    s = cjson("client", "close", "--wait", *client)
    assert s["state"] == "closing" and s["unlock_ts"] > 0, s
    assert chain.get(s["contract"], "get_client_data")[0] == 1
    print("ok: client close requests the refund")

    # --- worker ---------------------------------------------------------------------
    worker = ["--keys", keys["worker"], *pair]
    w = cjson("worker", "status", *worker)
    assert not w["deployed"], w
    # A voucher for another contract is refused before anything is sent.
    other = cocoon("ton", "voucher", "sign", "--keys", sign_keys, "--op", "payout", "--tokens", "500",
                   "--target", want, "--excess-to", wallet["proxy"]).stdout.strip()
    p = cocoon("worker", "payout", other, *worker, ok=False)
    assert p.returncode == 1 and "another contract" in p.stderr, (p.returncode, p.stderr)
    assert not cjson("worker", "status", *worker)["deployed"]

    payout = cocoon("ton", "voucher", "sign", "--keys", sign_keys, "--op", "payout", "--tokens", "500",
                    "--target", w["contract"], "--excess-to", wallet["proxy"]).stdout.strip()
    w = cjson("worker", "payout", payout, "--wait", *worker)
    assert w["deployed"] and w["tokens_paid"] == 500 and w["state"] == "open", w
    assert chain.get(w["contract"], "get_worker_data")[:2] == [0, 500]
    incoming = [int(t["in_msg"]["value"]) for t in chain.txs(wallet["worker"], 10)
                if t["in_msg"].get("source") and body_op(t["in_msg"]) == OP_PAYOUT]
    assert 500 * fee in incoming, incoming
    # A replay of the same voucher is refused on chain: nothing more is paid.
    w = cjson("worker", "payout", payout, "--wait", *worker)
    assert w["tokens_paid"] == 500, w
    print("ok: worker status and payout")

    # --- proxy (its owner: the stake and the earned share) ---------------------------
    owner = ["--keys", keys["proxy"], *party]
    earned = 500 * (price - fee)
    p = cjson("proxy", "status", *owner)
    assert p["contract"] == proxy_c["address"] and p["owner"] == wallet["proxy"], p
    assert p["deployed"] and p["state"] == "open", p
    assert (p["earned_nano"], p["stake_nano"]) == (earned, 1_000_000_000), p
    p = cjson("proxy", "topup", "0.5", "--wait", *owner)
    assert p["stake_nano"] == 1_500_000_000 and p["earned_nano"] == earned, p
    assert chain.get(proxy_c["address"], "get_proxy_data")[1:3] == [earned, 1_500_000_000]
    print("ok: proxy topup raises the stake")

    def payouts_to_owner():
        return [int(t["in_msg"]["value"]) for t in chain.txs(wallet["proxy"], 20)
                if t["in_msg"].get("source") and body_op(t["in_msg"]) == OP_PAYOUT]
    paid_before = payouts_to_owner()
    p = cjson("proxy", "withdraw", "--wait", *owner)
    assert p["withdrawn_nano"] == earned and p["earned_nano"] == 0, p
    assert p["stake_nano"] == 1_500_000_000, p
    assert chain.get(proxy_c["address"], "get_proxy_data")[1] == 0
    paid = payouts_to_owner()
    assert len(paid) == len(paid_before) + 1 and paid[0] == earned, (paid_before, paid)
    # Nothing earned since: nothing is sent.
    seqno = chain.call("getWalletInformation", address=wallet["proxy"])["seqno"]
    p = cjson("proxy", "withdraw", *owner)
    assert p["result"] == "nothing to withdraw" and "transfer" not in p, p
    assert chain.call("getWalletInformation", address=wallet["proxy"])["seqno"] == seqno
    assert payouts_to_owner() == paid
    print("ok: proxy withdraw pays the earned share %d to the owner once" % earned)

    # Plain-text output and a usage error.
    plain = [*api, "--root", root, "--proxy-pub", pub, "--proxy-contract", proxy_c["address"]]
    text = cocoon("client", "status", "--keys", keys["client"], *plain).stdout
    assert text.startswith("contract") and '"closing"' in text, text
    assert cocoon("client", "fly", ok=False).returncode == 2


if __name__ == "__main__":
    main()
    print("ok: owners' CLI on the chain")
