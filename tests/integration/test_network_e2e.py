#!/usr/bin/env python3
"""client -> proxy -> worker -> fake backend: streamed and non-streamed chat and
text completions deliver exactly the backend's content; /v1/models; errors
(unknown model 404, malformed JSON 400, oversized body 413); stats pages."""
import json

from cocoonlib import (Network, Stream, check, check_eq, http, http_json, log, run, sse_events)


def strip_ids(obj):
    """The fake backend numbers its answers ("fake-N") and counts prompt tokens
    from the body bytes it receives (the worker rewrites the body: it adds
    stream_options), so ids and prompt counts differ; everything else must match."""
    if isinstance(obj, dict):
        return {k: strip_ids(v) for k, v in obj.items()
                if k not in ("id", "prompt_tokens", "total_tokens", "prompt_tokens_details")}
    if isinstance(obj, list):
        return [strip_ids(v) for v in obj]
    return obj


def main(holder):
    net = Network("e2e")
    holder.append(net)
    backend = net.start_backend(chunks=20, chunk_bytes=64)
    net.start_proxy()
    net.start_worker(backend)
    port = net.start_client()
    net.wait_workers(1, enabled=1)
    net.wait_models()

    st, models = http_json(port, "GET", "/v1/models")
    check_eq(st, 200, "/v1/models status")
    check_eq(models["object"], "list", "/v1/models object")
    check_eq([m["id"] for m in models["data"]], ["fake-model"], "model ids")

    chat = {"model": "fake-model", "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": 7}
    text = {"model": "fake-model", "prompt": "once upon", "max_tokens": 5}
    for path, body in (("/v1/chat/completions", chat), ("/v1/completions", text)):
        # Non-streamed: the same JSON as the backend gives directly.
        st, via = http_json(port, "POST", path, body)
        check_eq(st, 200, "%s status" % path)
        st, direct = http_json(backend, "POST", path, body)
        check_eq(st, 200, "%s direct status" % path)
        check_eq(strip_ids(via), strip_ids(direct), "%s answer through the network" % path)
        check_eq(via["usage"]["completion_tokens"], body["max_tokens"], "completion tokens")
        log("non-streamed %s ok (%d bytes)" % (path, len(json.dumps(via))))

        # Streamed: the same SSE events in the same order, ending with [DONE].
        sbody = dict(body, stream=True, stream_options={"include_usage": True})
        s = Stream(port, path, sbody)
        check_eq(s.status, 200, "%s stream status" % path)
        check(s.r.getheader("Content-Type", "").startswith("text/event-stream"),
              "stream content type %r" % s.r.getheader("Content-Type"))
        via_events = sse_events(s.read_all())
        s2 = Stream(backend, path, sbody)
        direct_events = sse_events(s2.read_all())
        check_eq(via_events[-1], "[DONE]", "last event")
        check_eq(len(via_events), len(direct_events), "number of events")
        for a, b in zip(via_events[:-1], direct_events[:-1]):
            check_eq(strip_ids(json.loads(a)), strip_ids(json.loads(b)), "stream event")
        log("streamed %s ok (%d events)" % (path, len(via_events)))

    # A stream arrives in pieces, not as one block at the end: with a delay
    # between chunks the first event must come long before the last.
    s = Stream(port, "/v1/chat/completions",
               dict(chat, stream=True, max_tokens=10, fake={"delay_ms": 100}))
    first = s.read_some()
    check(b"c0:" in first and b"[DONE]" not in first, "first piece %r" % first[:80])
    rest = s.read_all()
    check(b"[DONE]" in rest, "stream completes")

    # Errors, OpenAI style.
    st, j = http_json(port, "POST", "/v1/chat/completions", dict(chat, model="no-such-model"))
    check_eq(st, 404, "unknown model status")
    check_eq(j["error"]["code"], "model_not_found", "unknown model code")
    st, _, data = http(port, "POST", "/v1/chat/completions", b'{"model": "fake-model", "messa')
    check_eq(st, 400, "malformed JSON status")
    check("error" in json.loads(data), "malformed JSON error body")
    st, j = http_json(port, "POST", "/v1/chat/completions", {"model": "fake-model"})
    check_eq(st, 400, "missing messages status")
    big = {"model": "fake-model", "messages": [{"role": "user", "content": "x" * 100000}]}
    st, _, data = http(port, "POST", "/v1/chat/completions", big)
    check_eq(st, 413, "oversized body status")
    check("error" in json.loads(data), "oversized body error body")
    st, _, _ = http(port, "GET", "/v1/nothing-here")
    check_eq(st, 404, "unknown path")
    log("error statuses ok")

    # The backend's own errors pass through with their status.
    st, j = http_json(port, "POST", "/v1/chat/completions", dict(chat, fake={"fail": 429}))
    check_eq(st, 429, "backend error status passes through")

    # Stats pages on all three daemons.
    for name, p in (("client", port), ("proxy", net.stats_port), ("worker", net.workers[0][1])):
        st, j = http_json(p, "GET", "/jsonstats")
        check_eq(st, 200, "%s /jsonstats" % name)
        st, _, page = http(p, "GET", "/stats")
        check(st == 200 and b"<html" in page.lower(), "%s /stats is HTML" % name)
        st, _, _ = http(p, "GET", "/healthz")
        check_eq(st, 200, "%s /healthz" % name)
        st, _, metrics = http(p, "GET", "/metrics")
        check(st == 200 and b"cocoon_" in metrics, "%s /metrics" % name)
    ps = net.proxy_stats()
    check(ps["requests"]["ok"] >= 6, "proxy counted the requests: %r" % ps["requests"])
    check_eq(ps["requests"]["active"], 0, "no request left active at the proxy")
    st, cs = http_json(port, "GET", "/jsonstats")
    check_eq(cs["requests"]["active"], 0, "no request left active at the client")
    log("stats ok")

    # The client's token cap applies when a request names none: the worker
    # enforces it on the backend.
    capped = net.start_client(extra={"max_tokens": 3}, name="client-capped")
    net.http_port = capped
    net.wait_models()
    st, j = http_json(capped, "POST", "/v1/chat/completions",
                      {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]})
    check_eq(st, 200, "capped request status")
    check_eq(j["usage"]["completion_tokens"], 3, "client max_tokens enforced")
    st, j = http_json(capped, "POST", "/v1/chat/completions", dict(chat, max_tokens=2))
    check_eq(j["usage"]["completion_tokens"], 2, "a smaller max_tokens in the body is kept")
    log("token cap enforced")


if __name__ == "__main__":
    run(main)
