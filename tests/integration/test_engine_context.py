#!/usr/bin/env python3
"""A conversation that outgrows the embedded worker's context, through the whole network
(`cocoon up --context 64`, stories260K): with `--context-overflow shift` (and a Q8_0 KV
cache) a completion of 150 tokens goes past the 64-token context and ends at max_tokens, and
a chat's next turn finds its system prompt still cached after the shifts (the default
`--context-keep system`); with the default (`error`) the same request is a 400 naming the
context's size, and one that fits is answered."""
import os

from cocoonlib import (binary, check, check_eq, free_port, http_json, log, Proc, run,
                       shared_model, tmpdir)

PROMPT = "Once upon a time"  # 5 tokens with BOS


def network(work, name, extra):
    port = free_port()
    # Free mode (no local chain): the engine's settings are what is tested here.
    up = Proc(name, [binary("cocoon"), "up", "--port", str(port), "--dir",
                     os.path.join(work, name), "--model", shared_model(), "--chain", "none",
                     "--context", "64"] + extra, work, capture_stdout=True)
    up.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=120)
    return up, port


def complete(port, max_tokens):
    return http_json(port, "POST", "/v1/completions",
                     {"model": "stories260K", "prompt": PROMPT, "max_tokens": max_tokens,
                      "temperature": 0}, timeout=60)


SYSTEM = "Tell stories about Tom the cat."  # 24 tokens as stories260K's plain chat format


def chat(port, user, max_tokens):
    return http_json(port, "POST", "/v1/chat/completions",
                     {"model": "stories260K", "max_tokens": max_tokens, "temperature": 0,
                      "messages": [{"role": "system", "content": SYSTEM},
                                   {"role": "user", "content": user}]}, timeout=60)


def main(holder):
    if not os.path.exists(shared_model()):
        log("skipped: %s not found" % shared_model())
        return
    work = tmpdir("cocoon-engine-ctx-")

    up, port = network(work, "shift", ["--context-overflow", "shift", "--kv-type", "q8_0"])
    st, j = complete(port, 150)
    check_eq(st, 200, "shifted completion status (%r)" % (j,))
    check_eq(j["choices"][0]["finish_reason"], "length", "finish_reason past the context")
    check_eq(j["usage"]["completion_tokens"], 150, "completion tokens past the context")
    check(len(j["choices"][0]["text"]) > 300, "text past the context: %r" % j["choices"][0]["text"])
    st, j = chat(port, "Go on.", 150)
    check_eq(st, 200, "shifted chat status (%r)" % (j,))
    check_eq(j["usage"]["completion_tokens"], 150, "chat tokens past the context")
    # The next turn lands on the slot the prefix cache prefers: after the shifts it still holds
    # the system part (its 24 tokens), and nothing of the first turn's user message.
    st, j = chat(port, "Why?", 2)
    check_eq(st, 200, "next turn status (%r)" % (j,))
    cached = (j["usage"].get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    check_eq(cached, 24, "next turn's cached tokens: the system part kept by the shifts")
    up.stop(20)

    up, port = network(work, "error", [])
    st, j = complete(port, 150)
    check_eq(st, 400, "too long for the context: status (%r)" % (j,))
    msg = j["error"]["message"]
    check("context holds 64 tokens" in msg and "max_tokens" in msg, "the 400 names sizes: %r" % msg)
    st, j = complete(port, 20)
    check_eq(st, 200, "a request that fits (%r)" % (j,))
    check_eq(j["usage"]["completion_tokens"], 20, "completion tokens that fit")
    up.stop(20)
    log("context 64: shifted past it with a Q8_0 cache, the system prompt kept; refused with a "
        "400 naming it by default")


if __name__ == "__main__":
    run(main)
