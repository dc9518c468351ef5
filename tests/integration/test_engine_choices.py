#!/usr/bin/env python3
"""n > 1 through the network with the embedded engine (stories260K): "n": 3 gives three
choices (indices 0..2) that are equal under greedy sampling and differ with a temperature,
plain and streamed; the prompt is counted once in usage; more choices than the worker's slots
are refused with a 400 naming "n"."""
import json
import os

from cocoonlib import (binary, check, check_eq, free_port, http_json, log, Network, Proc, run,
                       shared_model, sse_events, Stream, write_json)


def chat(port, **extra):
    body = {"model": "stories260K", "messages": [{"role": "user", "content": "Tell a story"}],
            "max_tokens": 24}
    body.update(extra)
    st, r = http_json(port, "POST", "/v1/chat/completions", body, timeout=120)
    check_eq(st, 200, "status (%r)" % r)
    return r


def main(holder):
    model = shared_model()
    check(os.path.exists(model), "%s not found" % model)
    net = Network("engine-choices")
    holder.append(net)
    net.start_proxy()
    hport = free_port()
    cfg = write_json(os.path.join(net.dir, "worker-emb.json"), {
        "proxies": ["127.0.0.1:%d" % net.worker_port], "listen_http": "127.0.0.1:%d" % hport,
        "backend": "embedded", "model": model, "threads": 1, "slots": 4,
        "reconnect_min": 0.1, "reconnect_max": 1, "log_level": "debug"})
    net.workers.append((Proc("worker-emb", [binary("cocoon-worker"), "--config", cfg], net.dir),
                        hport))
    port = net.start_client()
    net.wait_workers(1, enabled=1, timeout=60)
    net.wait_models("stories260K")

    one = chat(port, temperature=0)
    greedy = chat(port, temperature=0, n=3)
    texts = [c["message"]["content"] for c in greedy["choices"]]
    check_eq([c["index"] for c in greedy["choices"]], [0, 1, 2], "three choices")
    check_eq(texts, [one["choices"][0]["message"]["content"]] * 3, "greedy choices are equal")
    check_eq(greedy["usage"]["prompt_tokens"], one["usage"]["prompt_tokens"],
             "the prompt is counted once")
    check_eq(greedy["usage"]["completion_tokens"], 3 * one["usage"]["completion_tokens"],
             "every choice's completion is counted")

    warm = chat(port, temperature=1.0, seed=11, n=3)
    texts = [c["message"]["content"] for c in warm["choices"]]
    log("n=3 at temperature 1: %s" % json.dumps(texts))
    check_eq(len(texts), 3, "three choices")
    check_eq(len(set(texts)), 3, "distinct with a temperature")
    again = chat(port, temperature=1.0, seed=11, n=3)
    check_eq([c["message"]["content"] for c in again["choices"]], texts, "a seed reproduces them")

    s = Stream(port, "/v1/chat/completions", {
        "model": "stories260K", "messages": [{"role": "user", "content": "Tell a story"}],
        "max_tokens": 12, "temperature": 0.9, "n": 3, "stream": True}, timeout=120)
    check_eq(s.status, 200, "streamed: status")
    events = sse_events(s.read_all())
    check_eq(events[-1], "[DONE]", "the stream ends with [DONE]")
    parts, finishes = {0: "", 1: "", 2: ""}, {}
    for e in events[:-1]:
        for c in json.loads(e)["choices"]:
            parts[c["index"]] += c["delta"].get("content") or ""
            if c["finish_reason"]:
                finishes[c["index"]] = c["finish_reason"]
    check_eq(sorted(finishes), [0, 1, 2], "each choice ends with its finish_reason")
    check(all(parts.values()), "each choice streamed text: %r" % parts)

    st, r = http_json(port, "POST", "/v1/chat/completions", {
        "model": "stories260K", "messages": [{"role": "user", "content": "a"}], "n": 5})
    check_eq(st, 400, "more choices than slots: status")
    check_eq(r["error"]["param"], "n", "its param")


if __name__ == "__main__":
    run(main)
