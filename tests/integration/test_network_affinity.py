#!/usr/bin/env python3
"""Prefix affinity through the network (`cocoon up --workers 2`, the embedded
engine on stories260K, sealed requests): the turns of a conversation return
to the worker that served its first turn, so each later turn reuses that
worker's cached prefix (usage.prompt_tokens_details.cached_tokens > 0), and
the proxy counts every such return (affinity_hits). Without affinity a turn
lands on the other worker half the time and reads its whole prompt again."""
import json
import os

from cocoonlib import (binary, check, check_eq, free_port, http_json, jsonstats, log, Proc, run,
                       shared_model, tmpdir, wait_until)

CONVERSATIONS = 3
TURNS = 4


def main(holder):
    model = shared_model()
    if not os.path.exists(model):
        log("skipped: %s not found" % model)
        return
    work = tmpdir("cocoon-affinity-")
    net = os.path.join(work, "net")
    port = free_port()
    up = Proc("up", [binary("cocoon"), "up", "--port", str(port), "--dir", net, "--model", model,
                     "--workers", "2", "--chain", "none", "--slots", "4"], work,
              capture_stdout=True)
    up.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=120)
    with open(os.path.join(net, "proxy.json")) as f:
        proxy_stats = int(json.load(f)["listen_http"].rsplit(":", 1)[1])
    # Both workers ready, so that each first turn may land on either.
    wait_until(lambda: (jsonstats(proxy_stats) or {}).get("workers_ready", 0) == 2, 60,
               "two ready workers")

    chats = [[{"role": "system", "content": "You tell short stories. Story %d." % k},
              {"role": "user", "content": "Tell me about a %s." % animal}]
             for k, animal in enumerate(("cat", "dog", "bird")[:CONVERSATIONS])]
    for turn in range(TURNS):
        for k, messages in enumerate(chats):
            st, j = http_json(port, "POST", "/v1/chat/completions", {
                "model": "stories260K", "messages": messages, "max_tokens": 6,
                "temperature": 0}, timeout=120)
            check_eq(st, 200, "conversation %d turn %d status" % (k, turn))
            usage = j["usage"]
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
            if turn > 0:
                check(cached > 0,
                      "conversation %d turn %d reuses its worker's cached prefix (usage %s)" %
                      (k, turn, json.dumps(usage)))
            messages.append({"role": "assistant",
                             "content": j["choices"][0]["message"]["content"]})
            messages.append({"role": "user", "content": "And then? (%d)" % turn})
    hits = jsonstats(proxy_stats)["requests"]["affinity_hits"]
    check_eq(hits, CONVERSATIONS * (TURNS - 1), "the proxy's affinity hits")
    log("prefix affinity: %d conversations of %d turns, %d hits" % (CONVERSATIONS, TURNS, hits))


if __name__ == "__main__":
    run(main)
