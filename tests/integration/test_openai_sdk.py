#!/usr/bin/env python3
"""The official OpenAI SDK (npm `openai`, run by Node) against the client
endpoint: chat.completions.create streamed and not, completions.create,
models.list() and an unknown model. What the SDK receives must equal what the
backend produces directly."""
import json
import os
import subprocess

from cocoonlib import (check, check_eq, http_json, limit, log, Network, run, sse_events, Stream)

SDK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openai_sdk")


def direct_stream_text(port, body):
    s = Stream(port, "/v1/chat/completions", dict(body, stream=True))
    text = ""
    for ev in sse_events(s.read_all()):
        if ev == "[DONE]":
            break
        for c in json.loads(ev).get("choices", []):
            text += c.get("delta", {}).get("content") or ""
    return text


def main(holder):
    check(os.path.isdir(os.path.join(SDK_DIR, "node_modules", "openai")),
          "the openai npm package is not installed (scripts/install-deps.sh runs npm ci)")
    net = Network("sdk")
    holder.append(net)
    backend = net.start_backend(model="sdk-model", chunks=12, chunk_bytes=40)
    net.start_proxy()
    net.start_worker(backend, model="sdk-model")
    port = net.start_client()
    net.wait_workers(1, enabled=1)
    net.wait_models("sdk-model")

    chat_body = {"model": "sdk-model", "messages": [{"role": "user", "content": "Tell me a story."}],
                 "max_tokens": 64}
    st, direct_chat = http_json(backend, "POST", "/v1/chat/completions", chat_body)
    check_eq(st, 200, "direct chat status")
    st, direct_text = http_json(backend, "POST", "/v1/completions",
                                {"model": "sdk-model", "prompt": "Once upon a time", "max_tokens": 64})
    check_eq(st, 200, "direct completion status")
    want_stream = direct_stream_text(backend, chat_body)

    out = subprocess.run(["node", os.path.join(SDK_DIR, "sdk_client.mjs"),
                          "http://127.0.0.1:%d/v1" % port, "sdk-model"],
                         capture_output=True, text=True, timeout=limit(120))
    if out.returncode != 0:
        raise AssertionError("SDK client failed (%d): %s" % (out.returncode, out.stderr[-2000:]))
    got = json.loads(out.stdout)
    log("SDK result keys: %s" % sorted(got))

    check_eq(got["chat"]["object"], "chat.completion", "chat object")
    check_eq(got["chat"]["content"], direct_chat["choices"][0]["message"]["content"], "chat content")
    check_eq(got["chat"]["usage"]["completion_tokens"], direct_chat["usage"]["completion_tokens"],
             "chat completion tokens")
    check_eq(got["chat_stream"]["content"], want_stream, "streamed chat content")
    check(got["chat_stream"]["chunks"] >= 12, "streamed chat arrived in chunks")
    check(got["chat_stream"]["usage"] is not None and
          got["chat_stream"]["usage"]["completion_tokens"] == 12, "usage in the stream")
    check_eq(got["completion"]["object"], "text_completion", "completion object")
    check_eq(got["completion"]["text"], direct_text["choices"][0]["text"], "completion text")
    check_eq(got["models"], ["sdk-model"], "models.list()")
    check_eq(got["unknown_model"]["status"], 404, "unknown model status through the SDK")


if __name__ == "__main__":
    run(main)
