#!/usr/bin/env python3
"""COCOON's worker against our proxy, with our client sending requests
through: a whole connection's life as runners/worker/ does it (handshake,
balance comparison, handshake complete, a plain and a streamed answer, an
error, enabled/disabled, a new coefficient, payment status, ping), then a
reconnect, and a worker whose new coefficient is negative.

Each step cites the C++ of TelegramMessenger/cocoon it follows.
"""
import json
import os
import queue
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cocoon_peer import (Link, ProtocolError, check, check_eq, cocoonlib, fail, log,  # noqa: E402
                         make_cert, parse_std_address, tl)

MODEL = "interop-model@0123abcd:beef"  # COCOON's name@commit:verity
BASE = "interop-model"                   # what clients see and ask for
OWNER = "0:" + "cd" * 32
COEFFICIENT = 1500
ZERO_USAGE = {"_": "tokensUsed", "prompt_tokens_used": 0, "cached_tokens_used": 0,
              "completion_tokens_used": 0, "reasoning_tokens_used": 0, "total_tokens_used": 0}


def handshake(link, earned=0, proxy_cnt=1):
    """WorkerProxyConnection.cpp send_handshake → received_handshake_answer →
    received_compare_answer → send_handshake_complete."""
    # :33-36 worker.params flags 3, owner, model, coefficient, is_test,
    # proxy count, max active requests, the range 1..2 (WorkerRunner.h:35-40).
    q = {"_": "worker.connectToProxy",
         "params": {"_": "worker.params", "flags": 3, "worker_owner_address": OWNER, "model": MODEL,
                    "coefficient": COEFFICIENT, "is_test": True, "proxy_cnt": proxy_cnt,
                    "max_active_requests": 4, "min_proto_version": 1, "max_proto_version": 2}}
    a, err = link.query(q, "worker.connectedToProxy")
    check(err is None, "worker.connectToProxy refused: %r" % (err,))
    p = a["params"]
    # :69-77 flags, is_test, and three addresses that must parse.
    check(p["flags"] & 3, "'proxy is too old': flags %d" % p["flags"])
    check_eq(p["is_test"], True, "proxy.params.is_test ('test mode mismatch')")
    for what, v in (("proxy_owner_address", p["proxy_owner_address"]),
                    ("proxy_sc_address", p["proxy_sc_address"]),
                    ("worker_sc_address", a["worker_sc_address"])):
        try:
            parse_std_address(v)
        except (ProtocolError, ValueError) as e:
            fail("%s %r does not parse; COCOON's worker drops the link: %s" % (what, v, e))
    check_eq(p["proto_version"], 2, "protocol version for a 1..2 worker")
    # :95-97 what we have earned, as we know it (earned_tokens_max_known:
    # nothing on a fresh worker; a worker that served this proxy before knows
    # of more than a proxy without a ledger).
    a, err = link.query({"_": "worker.compareBalanceWithProxy", "tokens_committed_to_blockchain": 0,
                         "tokens_committed_to_db": 0, "max_tokens": earned},
                        "worker.compareBalanceWithProxyResult")
    check(err is None, "compareBalanceWithProxy: %r" % (err,))
    # :151-158 the proxy's figures may not be below ours.
    check(a["tokens_committed_to_db"] >= 0, "tokens_committed_to_db %d" % a["tokens_committed_to_db"])
    known = max(earned, a["max_tokens"])  # :160 update_tokens_max_known
    if a["error_code"] == 0:
        # :162-163 CHECK(max_tokens == earned_tokens_max_known()): COCOON's
        # worker aborts otherwise.
        check_eq(a["max_tokens"], known, "compareBalanceWithProxyResult.max_tokens with error_code 0")
    else:
        # :168-181 the difference goes to the proxy; :209-216 anything but 0
        # back ends the link.
        a, err = link.query({"_": "worker.extendedCompareBalanceWithProxy",
                             "tokens_committed_to_db": 0, "other": b""},
                            "worker.extendedCompareBalanceWithProxyResult")
        check(err is None, "extendedCompareBalanceWithProxy: %r" % (err,))
        check_eq(a["error_code"], 0, "extendedCompareBalanceWithProxyResult.error_code")
    # :224-225 handshake complete, enabled.
    a, err = link.query({"_": "worker.proxyHandshakeComplete", "is_disabled": False},
                        "worker.proxyHandshakeCompleted")
    check(err is None, "proxyHandshakeComplete: %r" % (err,))


def take_request(link, coefficient=COEFFICIENT):
    """WorkerRunner.cpp:334-337 proxy.runQueryEx in a tcp.packet; :70-77 the
    request carries an http.request, the proxy's coefficient and timeout."""
    m = link.next_packet(timeout=60)
    while m["_"] in ("proxy.workerRequestPayment", "proxy.signedPayment",
                     "proxy.signedPaymentEmpty"):
        # WorkerRunner.cpp:316-325, :339-347: payment messages between
        # requests (for the previous request's answer).
        check(m["_"] != "proxy.workerRequestPayment" or m["max_tokens"] >= 0,
              "workerRequestPayment %r" % m)
        m = link.next_packet(timeout=60)
    check_eq(m["_"], "proxy.runQueryEx", "packet to the worker")
    check_eq(m["coefficient"], coefficient, "coefficient the proxy pays")
    check(m["timeout"] > 0, "timeout %r" % m["timeout"])
    check(m["signed_payment"]["_"] in ("proxy.signedPaymentEmpty", "proxy.signedPayment"),
          "signed_payment %s" % m["signed_payment"]["_"])
    req = tl.decode(m["query"], "http.request")
    return m["request_id"], req


def final_info(start, usage):
    # WorkerRunningRequest.cpp:332-336: flags bit 1 with the times (protocol 2).
    return {"_": "proxy.queryFinalInfo", "flags": 2, "tokens_used": usage,
            "worker_start_time": start, "worker_end_time": time.time()}


def head(status, ctype, payload=b""):
    return tl.encode({"_": "http.response", "http_version": "HTTP/1.1", "status_code": status,
                      "reason": "OK", "headers": [{"_": "http.header", "name": "Content-Type",
                                                   "value": ctype}],
                      "payload": payload})


def usage(prompt, completion):
    return {"_": "tokensUsed", "prompt_tokens_used": prompt, "cached_tokens_used": 0,
            "completion_tokens_used": completion, "reasoning_tokens_used": 0,
            "total_tokens_used": prompt + completion}


def in_thread(fn):
    out = queue.Queue()
    threading.Thread(target=lambda: out.put(fn()), daemon=True).start()
    return out


def serve_plain(link, http_port, coefficient=COEFFICIENT):
    reply = in_thread(lambda: cocoonlib.http(http_port, "POST", "/v1/chat/completions", {
        "model": BASE, "messages": [{"role": "user", "content": "hi"}]}, timeout=60))
    start = time.time()
    rid, req = take_request(link, coefficient)
    check_eq(req["method"], b"POST", "http.request method")
    check_eq(req["url"], b"/v1/chat/completions", "http.request url")
    check_eq(json.loads(req["payload"])["model"], BASE, "model in the request body")
    body = json.dumps({"object": "chat.completion", "model": BASE, "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "plain answer"},
         "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2,
                                               "total_tokens": 5}}).encode()
    # WorkerRunningRequest.cpp:240-247: the whole answer in one
    # proxy.queryAnswerEx, flags 1 with final info.
    link.send_packet({"_": "proxy.queryAnswerEx", "request_id": rid,
                      "answer": head(200, "application/json", body), "flags": 1,
                      "final_info": final_info(start, usage(3, 2))})
    st, hdrs, data = reply.get(timeout=cocoonlib.limit(60))
    check_eq(st, 200, "plain request through our client")
    check_eq(json.loads(data)["choices"][0]["message"]["content"], "plain answer", "plain body")
    # ProxyRunningRequest.cpp:71-75 the proxy's timing headers on the head,
    # ClientRunningRequest.cpp:175-179 the client's.
    for h in ("x-cocoon-proxy-start", "x-cocoon-proxy-end", "x-cocoon-client-start",
              "x-cocoon-client-end"):
        check(h in hdrs, "%s in the answer (%r)" % (h, sorted(hdrs)))
    check(float(hdrs["x-cocoon-proxy-start"]) <= float(hdrs["x-cocoon-proxy-end"]),
          "proxy start before end")


def serve_stream(link, http_port):
    reply = in_thread(lambda: cocoonlib.Stream(http_port, "/v1/chat/completions", {
        "model": BASE, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        timeout=60).read_all())
    start = time.time()
    rid, req = take_request(link)
    check(json.loads(req["payload"]).get("stream") is True, "stream flag forwarded")
    # :240-247 the head first (flags 0), then :279-285 parts, the last with
    # flags 1 and final info.
    link.send_packet({"_": "proxy.queryAnswerEx", "request_id": rid,
                      "answer": head(200, "text/event-stream"), "flags": 0})
    words = ["one", "two", "three"]
    for i, w in enumerate(words):
        ev = b"data: " + json.dumps({"object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {"content": w}}]}).encode() + b"\n\n"
        last = i == len(words) - 1
        if last:
            ev += b"data: [DONE]\n\n"
        link.send_packet({"_": "proxy.queryAnswerPartEx", "request_id": rid, "answer": ev,
                          "flags": 1 if last else 0,
                          "final_info": final_info(start, usage(3, 3)) if last else None})
    raw = reply.get(timeout=cocoonlib.limit(60))
    events = cocoonlib.sse_events(raw)
    check_eq(events[-1], "[DONE]", "stream end")
    got = [json.loads(e)["choices"][0]["delta"]["content"] for e in events[:-1]
           if json.loads(e).get("choices")]
    check_eq(got, words, "streamed words")


def serve_error(link, http_port, coefficient=COEFFICIENT):
    reply = in_thread(lambda: cocoonlib.http(http_port, "POST", "/v1/chat/completions", {
        "model": BASE, "messages": [{"role": "user", "content": "hi"}]}, timeout=60))
    start = time.time()
    rid, _ = take_request(link, coefficient)
    # WorkerRunningRequest.cpp:181-184: proxy.queryAnswerErrorEx, flags 1,
    # with a ton::ErrorCode (602 error).
    link.send_packet({"_": "proxy.queryAnswerErrorEx", "request_id": rid, "error_code": 602,
                      "error": "backend failed", "flags": 1,
                      "final_info": final_info(start, ZERO_USAGE)})
    # Our proxy may retry once on another worker (docs/protocol.md); there is
    # none, so the error reaches the caller.
    st, _, data = reply.get(timeout=cocoonlib.limit(60))
    check(st >= 500, "worker error reaches the caller as a 5xx: %d %r" % (st, data[:200]))


def worker_rows(net):
    return [w for w in net.proxy_stats()["workers"] if w.get("model", "").startswith(BASE)]


def session(net, cert, key, http_port, n, earned):
    log("session %d: PoW, TLS, tcp.connect, handshake (earned %d)" % (n, earned))
    link = Link.dial("127.0.0.1", net.worker_port, cert, key)
    handshake(link, earned)
    cocoonlib.wait_until(lambda: len(worker_rows(net)) == 1, 30, "our worker at the proxy")
    net.wait_models(BASE, timeout=30)
    serve_plain(link, http_port)
    serve_stream(link, http_port)
    # WorkerRunner.cpp:484-497 worker.newCoefficient as a packet, after
    # /request/change_coefficient; ProxyRunner.cpp:1159-1173 applies it.
    link.send_packet({"_": "worker.newCoefficient", "new_coefficient": 2200})
    cocoonlib.wait_until(lambda: worker_rows(net) and worker_rows(net)[0]["coefficient"] == 2200,
                         30, "the new coefficient at the proxy")
    serve_plain(link, http_port, coefficient=2200)
    serve_error(link, http_port, coefficient=2200)

    # WorkerRunner.cpp:479-480 worker.enabledDisabled as a packet.
    link.send_packet({"_": "worker.enabledDisabled", "disabled": 1})
    cocoonlib.wait_until(lambda: worker_rows(net) and not worker_rows(net)[0]["enabled"], 30,
                         "the worker disabled at the proxy")
    link.send_packet({"_": "worker.enabledDisabled", "disabled": 0})
    cocoonlib.wait_until(lambda: worker_rows(net) and worker_rows(net)[0]["enabled"], 30,
                         "the worker enabled again")


    # WorkerRunner.cpp:279-287 worker.updatePaymentStatus; :439 reads
    # worker.paymentStatus.
    a, err = link.query({"_": "worker.updatePaymentStatus"}, "worker.paymentStatus")
    check(err is None, "updatePaymentStatus: %r" % (err,))
    check(a["max_tokens"] >= 0 and a["db_tokens"] >= 0, "paymentStatus %r" % a)

    link.ping()  # TcpConnection.cpp:308
    link.close()
    cocoonlib.wait_until(lambda: len(worker_rows(net)) == 0, 30, "the worker gone after close")


def main(holder):
    net = cocoonlib.Network("interop-worker")
    holder.append(net)
    net.start_proxy()
    http_port = net.start_client()
    cert, key = make_cert(net.dir, "cocoon-worker")
    session(net, cert, key, http_port, 1, 0)
    # The reconnect, as a worker that remembers the tokens it earned.
    session(net, cert, key, http_port, 2, 11)
    check_eq(net.proxy_stats()["workers_accepted"], 2, "worker handshakes accepted")

    log("a negative new coefficient ends the link (ProxyRunner.cpp:1168-1171)")
    link = Link.dial("127.0.0.1", net.worker_port, cert, key)
    handshake(link)
    cocoonlib.wait_until(lambda: len(worker_rows(net)) == 1, 30, "our worker at the proxy")
    link.send_packet({"_": "worker.newCoefficient", "new_coefficient": -1})
    cocoonlib.wait_until(lambda: len(worker_rows(net)) == 0, 30, "the worker dropped")
    link.close()


if __name__ == "__main__":
    cocoonlib.run(main)
