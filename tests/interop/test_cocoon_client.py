#!/usr/bin/env python3
"""COCOON's client against our proxy (with our worker and a fake backend
behind it): a whole connection's life as runners/client/ does it, twice (the
second time is the reconnect), with and without enable_debug; and the
proxy's refusal of a client that wants a newer network config.

Each step cites the C++ of TelegramMessenger/cocoon it follows: what COCOON's
client sends, what it parses from the answer, and what would make it drop
the link (any of those is a failure here).
"""
import hashlib
import json
import os
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cocoon_peer import (Link, ProtocolError, check, check_eq, cocoonlib,  # noqa: E402
                         fail, http_request, log, make_cert, parse_std_address, tl)

MODEL = "fake-model"
CHUNKS = 5
OWNER = "0:" + "ab" * 32  # the client's wallet address (ClientRunner: cocoon_wallet_address)


def handshake(link, min_config_version=0):
    """ClientProxyConnection.cpp send_handshake / received_handshake_answer /
    run_authorization / process_auth_answer."""
    # :28-32 client.params flags 3 (owner+is_test, proto range), is_test, the
    # range 1..2 (ClientRunner.hpp:30-35), and the root config version.
    q = {"_": "client.connectToProxy",
         "params": {"_": "client.params", "flags": 3, "client_owner_address": OWNER,
                    "is_test": True, "min_proto_version": 1, "max_proto_version": 2},
         "min_config_version": min_config_version}
    a, err = link.query(q, "client.connectedToProxy")
    if min_config_version:
        return err
    check(err is None, "client.connectToProxy refused: %r" % (err,))
    p = a["params"]
    # :56-57 "too old proxy" unless flags has bit 0 or 1.
    check(p["flags"] & 3, "proxy.params flags %d: COCOON's client says 'too old proxy'" % p["flags"])
    # :59-61 all three addresses must parse (block::StdAddress::parse).
    for what, v in (("proxy_owner_address", p["proxy_owner_address"]),
                    ("proxy_sc_address", p["proxy_sc_address"]),
                    ("client_sc_address", a["client_sc_address"])):
        try:
            parse_std_address(v)
        except (ProtocolError, ValueError) as e:
            fail("%s %r does not parse; COCOON's client drops the link: %s" % (what, v, e))
    # :62-63 is_test must equal ours.
    check_eq(p["is_test"], True, "proxy.params.is_test")
    # :65 the proxy chooses the version; it must be in our range.
    check(1 <= p["proto_version"] <= 2, "proto_version %d outside 1..2" % p["proto_version"])
    check_eq(len(p["proxy_public_key"]), 32, "proxy_public_key length")
    # :83-91 short auth only when the proxy knows our secret's hash; else long.
    auth = a["auth"]
    check(auth["_"] in ("client.proxyConnectionAuthShort", "client.proxyConnectionAuthLong"),
          "auth %s" % auth["_"])
    secret = b"interop-secret"
    if auth["_"] == "client.proxyConnectionAuthShort" and \
            auth["secret_hash"] == hashlib.sha256(secret).digest():
        q = {"_": "client.authorizeWithProxyShort", "data": secret}
    else:
        # :96-97 would pay the proxy contract first; there is no chain here.
        q = {"_": "client.authorizeWithProxyLong"}
    a, err = link.query(q, ("client.authorizationWithProxySuccess",
                            "client.authorizationWithProxyFailed"))
    check(err is None, "authorization refused: %r" % (err,))
    # :145-153 success carries a signed payment and token figures; failed
    # ends the link.
    check_eq(a["_"], "client.authorizationWithProxySuccess", "authorization answer")
    check(a["signed_payment"]["_"] in ("proxy.signedPaymentEmpty", "proxy.signedPayment"),
          "signed_payment %s" % a["signed_payment"]["_"])
    # :148 max_tokens is read as tokens already used (ClientProxyInfo.h:81
    # update_tokens_used); a figure near the stake would stop every request.
    check(0 <= a["max_tokens"] < 1 << 32,
          "max_tokens %d: COCOON's client would count it as spent" % a["max_tokens"])
    return p["proto_version"]


def worker_types(link):
    """ClientRunner.cpp:98-130: client.getWorkerTypesV2 (protocol >= 1), the
    names as the OpenAI model ids."""
    a, err = link.query({"_": "client.getWorkerTypesV2"}, "client.workerTypesV2")
    check(err is None, "getWorkerTypesV2: %r" % (err,))
    names = {t["name"].decode(): t for t in a["types"]}
    check(MODEL in names, "model %s in %r" % (MODEL, list(names)))
    check(len(names[MODEL]["workers"]) >= 1, "a worker for %s" % MODEL)
    w = names[MODEL]["workers"][0]
    check(w["coefficient"] > 0 and w["max_active_requests"] >= 1, "worker instance %r" % w)
    return w["coefficient"]


def payment_message(m):
    """ClientRunner.cpp:336-359: proxy.signedPayment and
    proxy.clientRequestPayment may come between answers; the latter's
    max_tokens is read as tokens used (update_tokens_used)."""
    check(m["signed_payment"]["_"] in ("proxy.signedPaymentEmpty", "proxy.signedPayment")
          if "signed_payment" in m else True, "signed payment %r" % m)
    if m["_"] == "proxy.clientRequestPayment":
        check(0 <= m["max_tokens"] < 1 << 32 and m["db_tokens"] >= 0,
              "clientRequestPayment figures %r" % m)


def run_query(link, stream, model=MODEL, debug=False, min_config_version=0):
    """ClientRunningRequest.cpp:134-146: client.runQueryEx in a tcp.packet
    (flags 1, enable_debug false), timeout * 0.95; then :153-230 the answers:
    client.queryAnswerEx (an http.response) first, then queryAnswerPartEx
    until flags bit 0, or client.queryAnswerErrorEx. Returns (status,
    headers, body) or ("error", code, text)."""
    body = {"model": model, "max_tokens": 64, "stream": stream,
            "messages": [{"role": "user", "content": "hello"}]}
    rid = secrets.token_bytes(32)
    link.send_packet({"_": "client.runQueryEx", "model_name": model,
                      "query": http_request("POST", "/v1/chat/completions",
                                            json.dumps(body).encode(),
                                            [("Content-Type", "application/json")]),
                      "max_coefficient": 1000000, "max_tokens": 64, "timeout": 60 * 0.95,
                      "request_id": rid, "min_config_version": min_config_version, "flags": 1,
                      "enable_debug": debug})
    head = None
    data = b""
    while True:
        m = link.next_packet(timeout=60)
        if m["_"] in ("proxy.clientRequestPayment", "proxy.signedPayment"):
            payment_message(m)
            continue
        # ClientRunner.cpp:324-333 takes only the three *Ex answers; the
        # request id picks the request.
        check(m["_"] in ("client.queryAnswerEx", "client.queryAnswerPartEx",
                         "client.queryAnswerErrorEx"),
              "COCOON's client drops %s (ClientRunner.cpp:357)" % m["_"])
        check_eq(m["request_id"], rid, "request_id of %s" % m["_"])
        if m["_"] in ("client.queryAnswerErrorEx", "client.queryAnswerError"):
            return "error", m["error_code"], m["error"].decode()
        if m["_"] == "client.queryAnswerEx":
            check(head is None, "a second client.queryAnswerEx ('duplicate answer')")
            # :163 fetch_tl_object<http_response>(...).move_as_ok(): anything
            # else crashes COCOON's client.
            head = tl.decode(m["answer"], "http.response")
            data += head["payload"]
        else:
            # :213-216 a part before the head is dropped by COCOON.
            check(head is not None, "client.queryAnswerPartEx before the head")
            data += m["answer"]
        if m["flags"] & 1:
            fi = m["final_info"]
            check_eq(fi["_"], "client.queryFinalInfo", "final_info")
            if debug:
                # ClientRunningRequest.cpp:317-322 nlohmann::json::parse of
                # both debug strings: anything but JSON throws.
                check(fi["flags"] & 1, "final info with debug strings")
                check_eq(json.loads(fi["proxy_debug"])["type"], "proxy_stats", "proxy_debug")
                check_eq(json.loads(fi["worker_debug"])["type"], "worker_stats", "worker_debug")
            hdrs = {h["name"].decode().lower(): h["value"].decode() for h in head["headers"]}
            # ProxyRunningRequest.cpp:71-75 and WorkerRunningRequest.cpp:225-229.
            for h in ("x-cocoon-proxy-start", "x-cocoon-proxy-end", "x-cocoon-worker-start",
                      "x-cocoon-worker-end"):
                check(h in hdrs, "%s in the answer head (%r)" % (h, sorted(hdrs)))
            return head["status_code"], hdrs, data


def session(net, cert, key, n):
    log("session %d: PoW, TLS, tcp.connect" % n)
    link = Link.dial("127.0.0.1", net.client_port, cert, key)
    check_eq(link.pow_difficulty, net.pow, "PoW difficulty announced")
    proto = handshake(link)
    check_eq(proto, 2, "protocol version chosen for a 1..2 client")
    coefficient = worker_types(link)
    log("session %d: ready, proto %d, worker coefficient %d" % (n, proto, coefficient))

    st, hdrs, body = run_query(link, stream=False)
    check_eq(st, 200, "plain query status")
    j = json.loads(body)
    check_eq(j["object"], "chat.completion", "plain answer object")
    check(j["usage"]["completion_tokens"] == CHUNKS, "usage %r" % j["usage"])

    st, hdrs, body = run_query(link, stream=True)
    check_eq(st, 200, "streamed query status")
    check(hdrs.get("content-type", "").startswith("text/event-stream"), "SSE content type %r" % hdrs)
    events = cocoonlib.sse_events(body)
    check_eq(events[-1], "[DONE]", "last SSE event")
    chunks = [json.loads(e) for e in events[:-1]]
    check(sum(1 for c in chunks if c.get("choices") and c["choices"][0]["delta"].get("content"))
          == CHUNKS, "%d content chunks in %r" % (CHUNKS, events))

    st, hdrs, body = run_query(link, stream=False, debug=True)
    check_eq(st, 200, "query with enable_debug")

    # ProxyRunner.cpp:1427-1429: a request wanting a newer network config.
    r = run_query(link, stream=False, min_config_version=7)
    check_eq(r, ("error", 602, "active config version is too low"), "newer config refused")

    # An unknown model: COCOON's proxy answers at once (ProxyRunner.cpp:1363
    # "unknown model"); our proxy's *Ex error is one COCOON's client reads
    # (ClientRunningRequest.cpp:202-209).
    r = run_query(link, stream=False, model="no-such-model")
    check(r[0] == "error" or r[0] == 404, "unknown model answered: %r" % (r,))

    # ClientRunner.cpp:296-307 client.updatePaymentStatus every so often;
    # :525-537 reads db_tokens and max_tokens (tokens used).
    a, err = link.query({"_": "client.updatePaymentStatus"}, "client.paymentStatus")
    check(err is None, "updatePaymentStatus: %r" % (err,))
    check(0 <= a["max_tokens"] < 1 << 32, "paymentStatus.max_tokens %d" % a["max_tokens"])

    # TcpConnection.cpp:308: a tcp.ping is answered with tcp.pong.
    link.ping()
    link.close()


def main(holder):
    net = cocoonlib.Network("interop-client")
    holder.append(net)
    backend = net.start_backend(model=MODEL, chunks=CHUNKS, chunk_bytes=8)
    net.start_proxy()
    net.start_worker(backend, model=MODEL)
    net.wait_workers(1, enabled=1)
    cert, key = make_cert(net.dir, "cocoon-client")
    session(net, cert, key, 1)
    # Reconnect: a new link goes through the whole handshake again.
    session(net, cert, key, 2)
    check_eq(net.proxy_stats()["clients_accepted"], 2, "clients the proxy took (one per session)")
    # ProxyInboundClientConnection.cpp:47-49 the same at the handshake.
    link = Link.dial("127.0.0.1", net.client_port, cert, key)
    err = handshake(link, min_config_version=3)
    check(err is not None and "active config version is too low" in str(err),
          "connect wanting a newer config refused: %r" % (err,))
    link.close()

    log("the proxy's control paths (ProxyRunner.cpp:533-556)")
    st, _, data = cocoonlib.http(net.stats_port, "GET", "/request/disable")
    check_eq(st, 405, "disable must be a post request (%r)" % data[:200])
    st, _, data = cocoonlib.http(net.stats_port, "POST", "/request/disable", b"")
    check_eq(st, 200, "disable (%r)" % data[:200])
    link = Link.dial("127.0.0.1", net.client_port, cert, key)
    # ProxyRunner.cpp:161-165 register_client on a disabled proxy.
    _, err = link.query({"_": "client.connectToProxy", "min_config_version": 0, "params": {
        "_": "client.params", "flags": 3, "client_owner_address": OWNER, "is_test": True,
        "min_proto_version": 1, "max_proto_version": 2}}, "client.connectedToProxy")
    check_eq(err, (651, "proxy is not participating in this iteration"), "disabled proxy refusal")
    link.close()
    st, _, data = cocoonlib.http(net.stats_port, "POST", "/request/enable", b"")
    check_eq(st, 200, "enable (%r)" % data[:200])
    session(net, cert, key, 3)


if __name__ == "__main__":
    cocoonlib.run(main)
