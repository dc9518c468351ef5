#!/usr/bin/env python3
"""Sealed requests end to end (docs/confidentiality.md): a client with
sealing "required" gets sealed answers with a receipt and the worker's
certificate hash, streamed or not; a client whose registry lists no worker
image refuses to send anything (503) and no worker sees a request; "preferred"
says why it went plain; "off" stays COCOON's plain mode."""
import base64
import json
import os
import struct

from cocoonlib import (check, check_eq, http, jsonstats, log, Network, run, Stream, sse_events,
                       wait_until, write_json)

RECEIPT_LEN = 296


def parse_receipt(raw):
    check_eq(len(raw), RECEIPT_LEN, "receipt length")
    check_eq(raw[:8], b"CCRCPT01", "receipt magic")
    counts = struct.unpack_from("<5q", raw, 168)
    coefficient, parts, issued = struct.unpack_from("<qQq", raw, 208)
    return {"cert_hash": raw[40:72].hex(), "prompt": counts[0], "completion": counts[2],
            "total": counts[4], "coefficient": coefficient, "parts": parts}


def ask(port, extra=None, stream=False):
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hello sealed"}],
            "max_tokens": 5, "stream": stream}
    body.update(extra or {})
    return body


def main(holder):
    net = Network("sealing")
    holder.append(net)
    backend = net.start_backend(chunks=4, chunk_bytes=32)
    net.start_proxy()
    net.start_worker(backend)
    net.start_worker(backend)
    net.wait_workers(2, enabled=2)
    ws = net.proxy_stats()["workers"]
    check(all(w["sealing"] for w in ws), "both workers' certificates claim sealing keys")

    port = net.start_client(extra={"sealing": "required"})
    net.wait_models()

    # Not streamed: the evidence is in the headers.
    st, hdrs, data = http(port, "POST", "/v1/chat/completions", ask(port))
    check_eq(st, 200, "sealed request status (%r)" % data[:300])
    j = json.loads(data)
    check("choices" in j and j["usage"]["completion_tokens"] > 0, "a real answer came back")
    check_eq(hdrs.get("x-cocoon-sealing"), "on", "X-Cocoon-Sealing")
    worker = hdrs.get("x-cocoon-worker", "")
    check_eq(len(worker), 64, "X-Cocoon-Worker is a certificate hash")
    rc = parse_receipt(base64.b64decode(hdrs.get("x-cocoon-receipt", "")))
    check_eq(rc["cert_hash"], worker, "the receipt names the worker of the header")
    check_eq(rc["completion"], j["usage"]["completion_tokens"], "receipt completion tokens")
    check(rc["parts"] >= 1, "receipt counts the sealed parts")

    # Streamed: the worker in a header, the receipt as a closing SSE comment.
    s = Stream(port, "/v1/chat/completions", ask(port, stream=True))
    check_eq(s.status, 200, "sealed stream status")
    check_eq(s.r.getheader("X-Cocoon-Sealing"), "on", "stream X-Cocoon-Sealing")
    raw = s.read_all()
    events = sse_events(raw)
    check_eq(events[-1], "[DONE]", "the stream ends with [DONE]")
    check(any("choices" in e for e in events[:-1]), "the stream carries chunks")
    text = raw.decode()
    line = [l for l in text.split("\n") if l.startswith(": X-Cocoon-Receipt: ")]
    check_eq(len(line), 1, "one receipt comment in the stream")
    parse_receipt(base64.b64decode(line[0].split(": ", 2)[2]))
    check(": X-Cocoon-Worker: %s" % s.r.getheader("X-Cocoon-Worker") in text,
          "the stream's closing comment names the worker of its header")

    px = net.proxy_stats()
    check_eq(px["requests"]["sealed"], 2, "the proxy routed two sealed requests")
    check_eq(px["requests"]["receipts_refused"], 0, "the proxy accepted both receipts")
    cs = jsonstats(port)
    check_eq(cs["sealing"]["sealed"], 2, "the client sealed two requests")
    check_eq(cs["sealing"]["receipts_refused"], 0, "the client accepted both receipts")
    log("sealed: JSON and SSE answers carry verified receipts")

    # A worker joins: the proxy tells the client, which drops the candidate
    # list it keeps, asks again and offers the new worker from its next request.
    client = net.client
    queries = cs["sealing"]["candidate_queries"]
    _, hp3 = net.start_worker(backend)
    net.wait_workers(3, enabled=3)

    def told():  # (wait_until reports a daemon that exited)
        with open(client.log_path, errors="replace") as f:
            return "event=sealing_workers_changed" in f.read()
    wait_until(told, 10, "the client hears that the proxy's sealing workers changed")
    # Each request is wrapped for two of the three in turn and the proxy
    # picks one of those: the new one serves within a few requests.
    for _ in range(40):
        st, hdrs, data = http(port, "POST", "/v1/chat/completions", ask(port))
        check_eq(st, 200, "sealed request after a worker joined (%r)" % data[:300])
        if jsonstats(hp3)["requests"]["total"] > 0:
            break
    check(jsonstats(hp3)["requests"]["total"] > 0, "the worker that joined served sealed requests")
    check(jsonstats(port)["sealing"]["candidate_queries"] > queries,
          "the client asked for the new candidate list")
    log("sealed: a worker that joins is offered at once")

    # A registry that lists no worker image: no candidate passes, nothing is sent.
    reg = write_json(os.path.join(net.dir, "client-registry.json"), {
        "proxy_image_hashes": "any", "worker_image_hashes": ["11" * 32], "model_hashes": "any"})
    before = sum(jsonstats(hp)["requests"]["total"] for _, hp in net.workers)
    port2 = net.start_client(extra={"sealing": "required", "registry": reg}, name="client-strict")
    net.wait_models()
    st, hdrs, data = http(port2, "POST", "/v1/chat/completions", ask(port2))
    check_eq(st, 503, "required with no acceptable worker: 503 (%r)" % data[:300])
    check_eq(json.loads(data)["error"]["code"], "sealing_unavailable", "error code")
    after = sum(jsonstats(hp)["requests"]["total"] for _, hp in net.workers)
    check_eq(after, before, "no worker received the refused request")
    check(jsonstats(port2)["sealing"]["candidates_refused"] >= 1, "candidates were refused")

    # preferred with the same registry: plain, and it says why.
    port3 = net.start_client(extra={"sealing": "preferred", "registry": reg},
                             name="client-preferred")
    net.wait_models()
    st, hdrs, data = http(port3, "POST", "/v1/chat/completions", ask(port3))
    check_eq(st, 200, "preferred falls back to plain")
    check(hdrs.get("x-cocoon-sealing", "").startswith("off; no candidate"),
          "X-Cocoon-Sealing says why (%r)" % hdrs.get("x-cocoon-sealing"))
    check("x-cocoon-receipt" not in hdrs, "a plain answer has no receipt")

    port4 = net.start_client(extra={"sealing": "off"}, name="client-off")
    net.wait_models()
    st, hdrs, data = http(port4, "POST", "/v1/chat/completions", ask(port4))
    check_eq(st, 200, "sealing off")
    check_eq(hdrs.get("x-cocoon-sealing"), "off", "X-Cocoon-Sealing: off")
    log("policy: required refuses, preferred and off go plain and say so")


if __name__ == "__main__":
    run(main)
