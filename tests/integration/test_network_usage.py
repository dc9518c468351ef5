#!/usr/bin/env python3
"""Streamed answers are billed (DESIGN §4.4; COCOON bills SSE streams at zero):
the worker injects stream_options.include_usage into every streamed backend
request and reads the usage from the SSE stream, so a stream whose caller did
not ask for usage still counts its tokens, exactly like a non-streamed answer.
The caller who did not ask gets no usage event."""
import json

from cocoonlib import Network, Stream, check, check_eq, http_json, log, run, sse_events


def worker_tokens(net):
    st, j = http_json(net.workers[0][1], "GET", "/jsonstats", timeout=5)
    check_eq(st, 200, "worker /jsonstats status")
    return j["requests"]["completion_tokens"]


def main(holder):
    net = Network("usage")
    holder.append(net)
    backend = net.start_backend(chunks=12, chunk_bytes=16)
    net.start_proxy()
    net.start_worker(backend)
    port = net.start_client()
    net.wait_workers(1, enabled=1)
    net.wait_models()

    chat = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    text = {"model": "fake-model", "prompt": "once"}
    cases = [  # (what, path, body, streamed)
        ("plain chat", "/v1/chat/completions", dict(chat, max_tokens=3), False),
        ("chat stream, no usage asked", "/v1/chat/completions",
         dict(chat, max_tokens=5, stream=True), True),
        ("text stream, no usage asked", "/v1/completions", dict(text, max_tokens=7, stream=True),
         True),
        ("chat stream with include_usage false", "/v1/chat/completions",
         dict(chat, max_tokens=4, stream=True, stream_options={"include_usage": False}), True),
        ("chat stream with usage asked", "/v1/chat/completions",
         dict(chat, max_tokens=6, stream=True, stream_options={"include_usage": True}), True),
    ]
    for what, path, body, streamed in cases:
        before = worker_tokens(net)
        if streamed:
            s = Stream(port, path, body)
            check_eq(s.status, 200, what + " status")
            events = sse_events(s.read_all())
            check_eq(events[-1], "[DONE]", what + " ends with [DONE]")
            usage = [json.loads(e)["usage"] for e in events[:-1]
                     if json.loads(e).get("usage")]
            asked = body.get("stream_options", {}).get("include_usage") is True
            check_eq(len(usage), 1 if asked else 0, what + ": usage events the caller sees")
            if asked:
                check_eq(usage[0]["completion_tokens"], body["max_tokens"], what + " usage")
        else:
            st, j = http_json(port, "POST", path, body)
            check_eq(st, 200, what + " status")
        # The worker counted the answer's tokens from the backend's usage.
        check_eq(worker_tokens(net) - before, body["max_tokens"], what + ": tokens billed")
        log("%s: %d completion tokens billed" % (what, body["max_tokens"]))


if __name__ == "__main__":
    run(main)
