#!/usr/bin/env python3
"""The daemons' logs never carry prompts or answers (DESIGN §9), even at log
level debug: requests with a recognisable prompt go through client -> proxy ->
worker (chat and text, streamed and not, a malformed body whose parse error
would quote the prompt, a backend error), then every daemon log is searched for
the prompt and for the answer's content."""
import json
import os

from cocoonlib import Network, Stream, check, check_eq, http, http_json, log, run, sse_events

PROMPT = "zebraquartzmarmalade"  # one bare token, so a JSON parse error would quote it


def main(holder):
    net = Network("logs")
    holder.append(net)
    backend = net.start_backend(chunks=6, chunk_bytes=48)
    net.start_proxy()
    net.start_worker(backend)
    port = net.start_client()
    net.wait_workers(1, enabled=1)
    net.wait_models()

    chat = {"model": "fake-model", "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 6}
    text = {"model": "fake-model", "prompt": PROMPT, "max_tokens": 6}
    answers = []
    for path, body in (("/v1/chat/completions", chat), ("/v1/completions", text)):
        st, j = http_json(port, "POST", path, body)
        check_eq(st, 200, "%s status" % path)
        c = j["choices"][0]
        answers.append(c["message"]["content"] if "message" in c else c["text"])
        s = Stream(port, path, dict(body, stream=True))
        check_eq(s.status, 200, "%s stream status" % path)
        check_eq(sse_events(s.read_all())[-1], "[DONE]", "%s stream end" % path)

    # A body that is not JSON, with the prompt as a bare token: the parser's
    # message names that token; it may go back to the caller, not to a log.
    bad = ('{"model":"fake-model","messages":[{"role":"user","content":%s}]}' % PROMPT).encode()
    st, _, _ = http(port, "POST", "/v1/chat/completions", bad)
    check_eq(st, 400, "malformed body status")
    # The same for a body the worker's backend refuses.
    st, _ = http_json(port, "POST", "/v1/chat/completions", dict(chat, fake={"fail": 500}))
    check(st >= 400, "backend failure status %d" % st)

    # Answer pieces to look for: every chunk of the backend's content is at
    # least 48 bytes of pseudo-random letters, far from anything a log says.
    check(all(len(a) >= 48 for a in answers), "answers %r" % answers)
    needles = [PROMPT.encode()] + [a[8:40].encode() for a in answers]

    # Stop the daemons so their logs are complete, then search them.
    for proc in (net.client, net.workers[0][0], net.proxy):
        proc.stop()
    logs = [f for f in os.listdir(net.dir)
            if f.endswith(".log") and not f.startswith("backend")]
    check_eq(sorted(logs), ["client.log", "proxy.log", "worker-0.log"], "daemon logs")
    total = 0
    for name in logs:
        with open(os.path.join(net.dir, name), "rb") as f:
            data = f.read()
        total += len(data)
        check(len(data) > 0, "%s is empty: the daemons did not log at debug level" % name)
        for n in needles:
            i = data.find(n)
            check(i < 0, "%s contains %r: %r" % (name, n, data[max(0, i - 120):i + 60]))
    log("no prompt or answer in %d bytes of daemon logs" % total)


if __name__ == "__main__":
    run(main)
