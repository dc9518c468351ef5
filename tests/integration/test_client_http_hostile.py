#!/usr/bin/env python3
"""Hostile HTTP callers at the client's OpenAI endpoint: request-smuggling
framing, a cross-site text/plain POST, a rebinding Host, a foreign Origin and
an oversized body each get an OpenAI-style JSON error without reaching the
network (the proxy's stats port refuses the rebinding Host too; a name
configured in "http": {"allowed_hosts"} is let in on both); a caller that never reads a large stream is cut off at the output
cap (the request is cancelled upstream, the client's memory stays bounded);
the client keeps serving."""
import json
import os
import socket
import time

from cocoonlib import Network, check, check_eq, http_json, log, run, wait_until

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


def raw(port, data, timeout=10.0):
    """Sends bytes, returns (status, headers text, JSON body or None, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    got = b""
    closed = False
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            closed = True
            break
        got += chunk
        head, sep, body = got.partition(b"\r\n\r\n")
        if sep:
            clen = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if clen and len(body) >= int(clen[0].split(b":")[1]):
                if b"connection: close" not in head.lower():
                    break
    s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.") else 0
    try:
        j = json.loads(body)
    except ValueError:
        j = None
    return status, head.decode(errors="replace"), j, closed


def expect_error(port, data, status, code, what):
    st, head, j, closed = raw(port, data)
    check_eq(st, status, what + " status")
    check(j is not None and "error" in j, "%s: OpenAI JSON error body (%r)" % (what, j))
    check_eq(j["error"]["code"], code, what + " code")
    check("content-type: application/json" in head.lower(), what + ": JSON content type")
    return closed


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main(holder):
    net = Network("httphostile")
    holder.append(net)
    backend = net.start_backend(chunks=4000, chunk_bytes=4096)
    net.start_proxy(extra={"http": {"allowed_hosts": "stats.internal"}})
    net.start_worker(backend)
    port = net.start_client(extra={"http": {"allowed_hosts": "api.internal"}})
    net.wait_workers(1, enabled=1)
    net.wait_models()

    body = json.dumps(CHAT).encode()
    post = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port
    check(expect_error(port, post + b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                       b"Content-Length: %d\r\n\r\n" % (len(body), len(body)) + body,
                       400, "invalid_request", "duplicate Content-Length"), "closed after 400")
    expect_error(port, post + b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" %
                 len(body) + body, 415, "unsupported_media_type", "text/plain POST")
    expect_error(port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: rebind.example:%d\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" %
                 (port, len(body)) + body, 421, "host_not_allowed", "rebinding Host")
    expect_error(port, post + b"Origin: https://evil.example\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body,
                 403, "origin_not_allowed", "foreign Origin")
    # A configured name is let in besides the loopback ones ("http" keys),
    # on the client's API and on the proxy's stats port; others get 421.
    st, head, j, _ = raw(port, b"GET /v1/models HTTP/1.1\r\nHost: api.internal:%d\r\n\r\n" % port)
    check_eq(st, 200, "configured Host on the client's API")
    sp = net.stats_port
    st, head, j, _ = raw(sp, b"GET /jsonstats HTTP/1.1\r\nHost: stats.internal:%d\r\n\r\n" % sp)
    check_eq(st, 200, "configured Host on the proxy's stats port")
    st, head, j, _ = raw(sp, b"GET /jsonstats HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % sp)
    check_eq(st, 200, "loopback Host on the proxy's stats port")
    expect_error(sp, b"GET /jsonstats HTTP/1.1\r\nHost: rebind.example:%d\r\n\r\n" % sp,
                 421, "host_not_allowed", "rebinding Host on the proxy's stats port")
    # 20 MiB announced: refused from the head, before the body is sent.
    expect_error(port, post + b"Content-Type: application/json\r\nContent-Length: 20971520\r\n"
                 b"\r\n", 413, "request_too_large", "oversized body")
    log("smuggling framing, text/plain, Host, Origin and size refused with JSON errors")

    # A caller that asks for ~20 MB of stream and never reads it.
    big = dict(CHAT, stream=True, max_tokens=100000)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    data = json.dumps(big).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
    cpid = net.client.pid
    # Flow control (docs/net.md): the client stops granting the proxy credit
    # for this stream, so the answer stops flowing instead of piling up in
    # the client (before it, the client buffered up to max_output and then
    # cut the caller off). Stalled: the proxy's relayed bytes stop growing.
    def relayed():
        return net.proxy_stats()["requests"]["bytes_relayed"]

    def stalled():
        a = relayed()
        time.sleep(0.5)  # two samples of a counter, not a wait for an event
        return a > 0 and relayed() == a
    wait_until(stalled, 60, "the stream to a caller that does not read stalling")
    # What the kernel buffers hold (a few MiB on loopback) and a window, not
    # the ~20 MB asked for.
    check(relayed() < 12 << 20, "the stalled stream relayed %d bytes (< 12 MiB)" % relayed())
    rss = rss_kib(cpid)
    log("client RSS with the stalled stream: %d KiB" % rss)
    check(rss < 200 * 1024, "client memory bounded (%d KiB)" % rss)
    s.close()

    for i in range(3):
        st, j = http_json(port, "POST", "/v1/chat/completions", CHAT)
        check_eq(st, 200, "request %d after the hostile callers" % i)
    check(net.client.alive(), "client still running")
    log("client kept serving")


if __name__ == "__main__":
    run(main)
