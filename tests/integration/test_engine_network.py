#!/usr/bin/env python3
"""The embedded engine through the whole network (`cocoon up`: client, proxy,
worker with the embedded backend and stories260K.gguf): /v1/completions and
/v1/chat/completions, streamed and not, give the reference greedy text and
usage equal to the real token counts; concurrent requests all get it."""
import json
import os
import threading

from cocoonlib import (binary, check, check_eq, free_port, http_json, limit, log, Proc, run,
                       shared_model, sse_events, Stream, tmpdir)

GREEDY = (", there was a little girl named Lily. She loved to play outside in the park. "
          "One day, she saw")
PROMPT = "Once upon a time"  # 5 tokens with BOS: 1 403 407 261 378


def stream_text(port, path, body, chat):
    s = Stream(port, path, body, timeout=60)
    check_eq(s.status, 200, "%s streamed status" % path)
    events = sse_events(s.read_all())
    check_eq(events[-1], "[DONE]", "stream ends with [DONE]")
    text, usage, finish = "", None, None
    for e in events[:-1]:
        j = json.loads(e)
        check_eq(j["object"], "chat.completion.chunk" if chat else "text_completion",
                 "chunk object")
        if not j["choices"]:
            usage = j.get("usage")
            continue
        c = j["choices"][0]
        piece = c["delta"].get("content") if chat else c.get("text")
        text += piece or ""
        finish = c.get("finish_reason") or finish
    return text, usage, finish


def main(holder):
    model = shared_model()
    if not os.path.exists(model):
        log("skipped: %s not found" % model)
        return
    work = tmpdir("cocoon-engine-net-")
    port = free_port()
    up = Proc("up", [binary("cocoon"), "up", "--port", str(port), "--dir",
                     os.path.join(work, "net"), "--model", model], work, capture_stdout=True)
    up.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=120)

    st, models = http_json(port, "GET", "/v1/models")
    check_eq(st, 200, "/v1/models status")
    name = models["data"][0]["id"]
    check_eq(name, "stories260K", "served model name")

    # Completion, not streamed: the reference text and exact usage.
    st, j = http_json(port, "POST", "/v1/completions",
                      {"model": name, "prompt": PROMPT, "max_tokens": 32, "temperature": 0},
                      timeout=60)
    check_eq(st, 200, "completion status")
    check_eq(j["object"], "text_completion", "completion object")
    check_eq(j["choices"][0]["text"], GREEDY, "greedy completion text")
    check_eq(j["choices"][0]["finish_reason"], "length", "finish_reason")
    u = j["usage"]
    check_eq((u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]), (5, 32, 37),
             "completion usage")

    # Streamed completion with usage.
    text, usage, finish = stream_text(port, "/v1/completions", {
        "model": name, "prompt": PROMPT, "max_tokens": 32, "temperature": 0, "stream": True,
        "stream_options": {"include_usage": True}}, chat=False)
    check_eq(text, GREEDY, "streamed completion text")
    check_eq(finish, "length", "streamed finish_reason")
    check(usage is not None, "usage chunk present")
    check_eq((usage["prompt_tokens"], usage["completion_tokens"]), (5, 32), "streamed usage")

    # Chat, both ways: the same text; the plain role-prefixed prompt
    # ("user: ...\nassistant:") of a model without a chat template has 23 tokens.
    body = {"model": name, "messages": [{"role": "user", "content": "Tell me a story"}],
            "max_tokens": 16, "temperature": 0}
    st, j = http_json(port, "POST", "/v1/chat/completions", body, timeout=60)
    check_eq(st, 200, "chat status")
    check_eq(j["object"], "chat.completion", "chat object")
    msg = j["choices"][0]["message"]
    check_eq(msg["role"], "assistant", "chat role")
    u = j["usage"]
    check_eq(u["prompt_tokens"], 23, "chat prompt tokens")
    check(1 <= u["completion_tokens"] <= 16, "chat completion tokens %r" % u)
    check_eq(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"], "chat total")
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    text, usage, finish = stream_text(port, "/v1/chat/completions", body, chat=True)
    check_eq(text, msg["content"], "streamed chat text")
    check_eq(finish, j["choices"][0]["finish_reason"], "streamed chat finish_reason")
    check_eq(usage["completion_tokens"], u["completion_tokens"], "streamed chat usage")

    # A stop string, and several requests at once (the engine's slots).
    st, j = http_json(port, "POST", "/v1/completions",
                      {"model": name, "prompt": PROMPT, "max_tokens": 32, "temperature": 0,
                       "stop": ["girl"]}, timeout=60)
    check_eq(j["choices"][0]["text"], ", there was a little ", "text cut at the stop string")
    check_eq(j["choices"][0]["finish_reason"], "stop", "finish_reason at a stop string")
    results = [None] * 6

    def one(i):
        results[i] = http_json(port, "POST", "/v1/completions",
                               {"model": name, "prompt": PROMPT, "max_tokens": 32,
                                "temperature": 0}, timeout=60)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(limit(90))
    for i, r in enumerate(results):
        check(r is not None, "concurrent request %d answered" % i)
        check_eq(r[0], 200, "concurrent status %d" % i)
        check_eq(r[1]["choices"][0]["text"], GREEDY, "concurrent text %d" % i)
    log("embedded engine through the network: completions, chat, streams, stops, %d concurrent"
        % len(results))
    up.stop(20)


if __name__ == "__main__":
    run(main)
