#!/usr/bin/env python3
"""Sealing keys rotate with the worker's certificate (docs/confidentiality.md,
"Keys"): POST /request/renew_certificate on a worker gives it a new
certificate with new X25519 and Ed25519 keys; its link reconnects once idle
to present it, and sealed requests sent all along keep succeeding (the other
worker serves meanwhile, answers in flight finish under the old keys). Then
the worker serves under the new certificate, and a receipt it signed before
the renewal still verifies offline with the old certificate (and not with
the new one)."""
import json
import os
import threading

from cocoonlib import (check, check_eq, cocoon, http, http_json, jsonstats, log, Network, run,
                       wait_until, write_json)


def ask():
    return {"model": "fake-model", "messages": [{"role": "user", "content": "hello renewal"}],
            "max_tokens": 5}


def sealed(port, what):
    st, hdrs, data = http(port, "POST", "/v1/chat/completions", ask())
    check_eq(st, 200, "%s: status (%r)" % (what, data[:300]))
    check_eq(hdrs.get("x-cocoon-sealing"), "on", "%s: sealed" % what)
    check("x-cocoon-receipt" in hdrs, "%s: a signed receipt" % what)
    return hdrs


def worker_connects(hport):
    return sum(l["connects"] for l in jsonstats(hport)["proxies"])


def main(holder):
    net = Network("sealing-renewal")
    holder.append(net)
    backend = net.start_backend(chunks=4, chunk_bytes=32)
    net.start_proxy()
    (wa, a_port), (wb, b_port) = net.start_worker(backend), net.start_worker(backend)
    net.wait_workers(2, enabled=2)
    port = net.start_client(extra={"sealing": "required"})
    net.wait_models()

    def alive():
        for p in (wa, wb, net.proxy, net.client):
            check(p.alive(), "%s is still running" % p.name)

    # Before: worker A alone serves, so the receipt is A's under its first
    # certificate.
    check_eq(http(b_port, "POST", "/request/disable")[0], 200, "disable B")
    net.wait_workers(2, enabled=1)
    before = sealed(port, "before the renewal")
    old_hash, old_receipt = before["x-cocoon-worker"], before["x-cocoon-receipt"]
    check_eq(http(b_port, "POST", "/request/enable")[0], 200, "enable B")
    net.wait_workers(2, enabled=2)

    # Requests all along, two at a time, while A renews.
    stop, results = threading.Event(), []

    def load():
        while not stop.is_set():
            try:
                st, hdrs, data = http(port, "POST", "/v1/chat/completions", ask())
                results.append((st, hdrs.get("x-cocoon-sealing"), hdrs.get("x-cocoon-worker"),
                                data[:200]))
            except Exception as e:  # noqa: BLE001 - any failure is a result
                results.append((0, None, None, repr(e)))
    threads = [threading.Thread(target=load, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    wait_until(lambda: len(results) >= 4, 30, "requests before the renewal")

    connects = worker_connects(a_port)
    st, renewed = http_json(a_port, "POST", "/request/renew_certificate")
    check_eq(st, 200, "renew_certificate status (%r)" % (renewed,))
    new_hash = renewed["certificate_hash"]
    check(new_hash != old_hash, "a new certificate")
    check_eq(renewed["renewals"], 1, "one renewal")
    # A GET does not renew (a link followed by a browser must not).
    check_eq(http(a_port, "GET", "/request/renew_certificate")[0] != 200, True,
             "GET /request/renew_certificate is refused")

    # A's link reconnects to present the new certificate; B served meanwhile.
    try:
        wait_until(lambda: worker_connects(a_port) > connects, 30, "worker A reconnected")
        net.wait_workers(2, enabled=2, timeout=30)
        n = len(results)
        wait_until(lambda: len(results) >= n + 4, 30, "requests after the renewal")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    alive()
    bad = [r for r in results if r[0] != 200 or r[1] != "on"]
    check_eq(bad, [], "every request during the renewal succeeded sealed (of %d)" % len(results))
    check(old_hash != new_hash and not any(r[2] == new_hash for r in results[:2]),
          "the first requests were not served under the new certificate")

    # After: A alone again, under its new certificate.
    check_eq(http(b_port, "POST", "/request/disable")[0], 200, "disable B again")
    net.wait_workers(2, enabled=1)
    after = sealed(port, "after the renewal")
    check_eq(after["x-cocoon-worker"], new_hash, "A serves under its new certificate")
    st, att = http_json(port, "GET", "/v1/attestation")
    check_eq(st, 200, "GET /v1/attestation")
    certs = {w["certificate_hash"]: w["certificate"] for w in att["workers"]}
    check(old_hash in certs and new_hash in certs, "the client lists both certificates of A")
    log("renewal: %d requests succeeded across it, new certificate %s... in use"
        % (len(results), new_hash[:16]))

    # The old receipt verifies offline with the old certificate only.
    ev = os.path.join(net.dir, "evidence.json")
    write_json(ev, {"receipt": old_receipt, "certificate": certs[old_hash]})
    code, out, err = cocoon("receipt", "verify", ev, "--policy", "any")
    check_eq(code, 0, "the old receipt verifies with the old certificate (%s)" % err.strip())
    check_eq(json.loads(out)["certificate_hash"], old_hash, "verified under the old certificate")
    write_json(ev, {"receipt": old_receipt, "certificate": certs[new_hash]})
    code, out, err = cocoon("receipt", "verify", ev, "--policy", "any")
    check_eq(code, 1, "the old receipt does not verify with the new certificate")
    new_ev = os.path.join(net.dir, "evidence-new.json")
    write_json(new_ev, {"receipt": after["x-cocoon-receipt"], "certificate": certs[new_hash]})
    code, out, err = cocoon("receipt", "verify", new_ev, "--policy", "any")
    check_eq(code, 0, "a receipt after the renewal verifies with the new certificate (%s)"
             % err.strip())
    log("receipts: the old key's verify with the old certificate, the new key's with the new")


if __name__ == "__main__":
    run(main)
