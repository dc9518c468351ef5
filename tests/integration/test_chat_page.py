#!/usr/bin/env python3
"""The client's chat page in a real browser: Debian's headless Chromium, driven over the DevTools
protocol, opens `/` on a client of a running network (client -> proxy -> worker -> fake backend),
picks the model, sends a message and sees the streamed answer (the same text the API gives), runs
the Summarize task, shows an OpenAI error for a 4xx, follows the dark colour scheme, and leaves a
screenshot as a test artifact (COCOON_TEST_ARTIFACTS, else the build's test-artifacts directory)."""
import os
import urllib.request

from cdplib import Browser
from cocoonlib import Network, check, check_eq, http_json, limit, log, run, wait_until

CHUNKS, CHUNK_BYTES = 6, 12


def artifacts_dir():
    d = os.environ.get("COCOON_TEST_ARTIFACTS") or os.path.join(
        os.environ.get("COCOON_BIN_DIR", os.path.join("build", "bin")), "..", "test-artifacts")
    os.makedirs(d, exist_ok=True)
    return d


def main(holder):
    net = Network("page")
    backend = net.start_backend(chunks=CHUNKS, chunk_bytes=CHUNK_BYTES)
    net.start_proxy()
    net.start_worker(backend)
    port = net.start_client()
    net.wait_models()

    # The page itself: HTML from the binary, with a policy that keeps it on this origin.
    with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=limit(10)) as r:
        st, body, csp = r.status, r.read().decode(), r.headers.get("Content-Security-Policy", "")
        ctype = r.headers.get("Content-Type", "")
    check_eq(st, 200, "GET / status")
    check(ctype.startswith("text/html"), "content type %r" % ctype)
    check("<title>cocoon chat</title>" in body and "/v1/chat/completions" in body, "the chat page")
    check("connect-src 'self'" in csp and "default-src 'none'" in csp, "CSP %r" % csp)

    # What the API answers for the same conversation, to compare with what the page shows.
    st, want = http_json(port, "POST", "/v1/chat/completions",
                         {"model": "fake-model", "messages": [{"role": "user", "content": "hello page"}]})
    check_eq(st, 200, "API answer")
    want_text = want["choices"][0]["message"]["content"]
    check(len(want_text) == CHUNKS * CHUNK_BYTES, "fake answer length %d" % len(want_text))

    b = Browser()
    try:
        b.call("Page.enable")
        b.call("Runtime.enable")
        b.call("Page.navigate", url="http://127.0.0.1:%d/" % port)
        wait_until(lambda: b.try_eval("location.pathname === '/' && document.readyState === 'complete'"
                                      " && Number(document.body.dataset.models || 0) > 0"),
                   limit(30), "the page loaded with its models")
        check_eq(b.eval("document.getElementById('model').value"), "fake-model", "model picker")

        # A message typed and sent as a person does: the answer streams into a bubble.
        b.eval("document.getElementById('input').value = 'hello page';"
               "document.getElementById('send').click(); true")
        wait_until(lambda: b.eval("document.querySelectorAll('.msg.assistant[data-state=done]').length") == 1,
                   limit(30), "the streamed answer")
        got = b.eval("document.querySelector('.msg.assistant .text').textContent")
        check_eq(got, want_text, "answer shown by the page")
        usage = b.eval("document.querySelector('.msg.assistant .usage').textContent")
        check("+%d tokens" % CHUNKS in usage, "usage line %r" % usage)
        check_eq(b.eval("document.querySelectorAll('.msg.user').length"), 1, "user bubbles")

        # A task button: Summarize runs a one-shot request through the network.
        b.eval("document.getElementById('input').value = 'a long text to summarize';"
               "document.getElementById('summarize').click(); true")
        wait_until(lambda: b.eval("document.querySelectorAll('.msg.assistant[data-state=done]').length") == 2,
                   limit(30), "the summary")

        # An error: a model nobody serves gets the API's 4xx, shown with its message.
        b.eval("(() => { const s = document.getElementById('model'); const o = document.createElement('option');"
               "o.value = o.textContent = 'no-such-model'; s.appendChild(o); s.value = 'no-such-model';"
               "document.getElementById('input').value = 'anyone?';"
               "document.getElementById('send').click(); return true; })()")
        wait_until(lambda: b.eval("document.querySelectorAll('.msg.error').length") == 1, limit(30),
                   "the error bubble")
        status = int(b.eval("document.querySelector('.msg.error').dataset.status"))
        text = b.eval("document.querySelector('.msg.error').textContent")
        check(400 <= status < 500, "error status %d" % status)
        check("HTTP %d" % status in text and "no-such-model" in text, "error text %r" % text)

        # Dark scheme: the page follows the system setting.
        light = b.eval("getComputedStyle(document.body).backgroundColor")
        b.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])
        dark = b.eval("getComputedStyle(document.body).backgroundColor")
        check(light != dark, "dark scheme changes the background (%s vs %s)" % (light, dark))

        path = os.path.join(artifacts_dir(), "chat_page.png")
        png = b.screenshot(path)
        check(png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000, "screenshot is a PNG")
        log("screenshot: %s (%d bytes)" % (path, len(png)))
    finally:
        b.close()


if __name__ == "__main__":
    run(main)
