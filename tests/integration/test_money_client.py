#!/usr/bin/env python3
"""The client's money (docs/payments.md): its /jsonstats "payments" follow the
proxy's totals so that balance_nano falls by exactly what nano_charged rises;
/v1/models carries the prices; a client whose free-mode credit at the proxy
is small gets 402 insufficient_quota once it has spent it, and the proxy's
ledger shows it was served nothing beyond its credit."""
from cocoonlib import (Network, check, check_eq, http, http_json, jsonstats, log, run,
                       wait_until)

PRICE = 20           # the registry's default price_per_token (nanoTON)
CREDIT = 1500        # tokens of balance the proxy gives the client
CHAT = {"model": "fake-model", "max_tokens": 16, "max_coefficient": 1000,
        "messages": [{"role": "user", "content": "spend my credit"}]}


def payments(port):
    return jsonstats(port)["payments"]


def client_row(net):
    rows = net.proxy_stats()["ledger"]["clients"]
    check_eq(len(rows), 1, "one client account at the proxy")
    return rows[0]


def main(holder):
    net = Network("money-client")
    holder.append(net)
    backend = net.start_backend(chunks=4, chunk_bytes=8)
    net.start_proxy(extra={"free_client_balance_nano": CREDIT * PRICE})
    net.start_worker(backend)
    port = net.start_client()
    net.wait_workers(1, enabled=1)
    net.wait_models()

    # The client learns its account at the proxy (client.accountStatus).
    wait_until(lambda: payments(port)["proxies"][0].get("known"), 20,
               "the client knows its account at the proxy")
    p0 = payments(port)
    check_eq(p0["balance_nano"], CREDIT * PRICE, "balance before any request")
    check_eq(p0["nano_charged"], 0, "nothing charged yet")
    check_eq(p0["stake_nano"], 10 ** 9, "the free-mode stake")

    # Prices in the model list: price x multiplier (registry defaults).
    st, models = http_json(port, "GET", "/v1/models")
    check_eq(st, 200, "/v1/models status")
    pricing = models["data"][0]["pricing"]
    check_eq((pricing["prompt"], pricing["cached"], pricing["completion"], pricing["reasoning"]),
             (PRICE, PRICE // 10, PRICE * 8, PRICE * 8), "pricing by category")

    # Spend the credit. Every request is either served or refused with 402.
    served, refused = 0, None
    for _ in range(200):
        st, j = http_json(port, "POST", "/v1/chat/completions", CHAT)
        if st == 402:
            refused = j
            break
        check_eq(st, 200, "request status")
        served += 1
        # Sequential requests: the client's totals settle before the next.
        wait_until(lambda: payments(port)["tokens_charged"] == client_row(net)["tokens_used"],
                   10, "client totals follow the proxy's")
    check(refused is not None, "the credit ran out within 200 requests")
    check(served >= 2, "some requests were served first (%d)" % served)
    err = refused["error"]
    check_eq((err["type"], err["code"]), ("insufficient_quota", "insufficient_quota"),
             "402 error type and code")

    row = client_row(net)
    check(row["tokens_used"] <= CREDIT,
          "served nothing beyond the credit: %d <= %d" % (row["tokens_used"], CREDIT))
    check_eq(row["reserved"], 0, "no reservation left")
    p1 = payments(port)
    check_eq(p1["tokens_charged"], row["tokens_used"], "tokens_charged = the proxy's row")
    check_eq(p1["nano_charged"], row["tokens_used"] * PRICE, "nano_charged = tokens x price")
    check_eq(p0["balance_nano"] - p1["balance_nano"], p1["nano_charged"] - p0["nano_charged"],
             "balance_nano fell by exactly what nano_charged rose")
    check_eq(p1["proxies"][0]["balance_nano"], p1["balance_nano"], "one proxy: total = row")
    check(p1["refused_quota"] + net.proxy_stats()["ledger"]["refused_balance"] >= 1,
          "the refusal is counted")

    # /stats shows the figures to a person.
    st, _, html = http(port, "GET", "/stats")
    check_eq(st, 200, "/stats status")
    check(b"balance_nano" in html and b"nano_charged" in html, "/stats shows payments")
    log("served %d requests for %d tokens (%d nanoTON), then 402; balance %d -> %d" %
        (served, row["tokens_used"], p1["nano_charged"], p0["balance_nano"], p1["balance_nano"]))

    worker_debt_limit(holder)


def worker_debt_limit(holder):
    """A worker refuses new requests from a proxy that owes it more than
    max_proxy_debt_nano (nothing is signed without a chain, so the debt is
    everything served x the registry's worker fee)."""
    net = Network("money-debt")
    holder.append(net)
    backend = net.start_backend(chunks=4, chunk_bytes=8)
    net.start_proxy()
    limit = 1000
    _, wport = net.start_worker(backend, extra={"registry": "registry.json",
                                                "max_proxy_debt_nano": limit})
    port = net.start_client()
    net.wait_workers(1, enabled=1)
    net.wait_models()
    statuses = []
    for _ in range(100):
        st, j = http_json(port, "POST", "/v1/chat/completions", CHAT)
        statuses.append(st)
        if st != 200:
            break
    check(statuses[-1] != 200, "the worker stopped serving within 100 requests")
    check(statuses.count(200) >= 1, "served before the limit")
    wp = jsonstats(wport)["payments"]
    row = wp["proxies"][0]
    check(row["debt_nano"] > limit, "refused only above the limit (%d)" % row["debt_nano"])
    check(row["debt_nano"] - limit <= wp["fee_per_token"] * row["max_tokens"],
          "the debt is what the proxy counted")
    check_eq(row["refused_for_debt"], 1, "one refusal counted")
    check_eq(wp["nano_paid"], 0, "nothing signed without a chain")
    check("proxy owes too much" in j["error"]["message"], "the refusal says why: %r" % j)
    log("worker refused after %d requests: debt %d nanoTON > limit %d (client saw %d)" %
        (statuses.count(200), row["debt_nano"], limit, statuses[-1]))


if __name__ == "__main__":
    run(main)
