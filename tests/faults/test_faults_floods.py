#!/usr/bin/env python3
"""Faults: floods and slow or greedy callers.

  handshake flood   hundreds of idle and garbage TCP connections on both of
                    the proxy's RA-TLS ports, then a client restart that has
                    to handshake through them (from the same address) and
                    serve within 2 s
  slow senders      HTTP heads trickled into the client's API
  slow readers      streamed answers nobody reads (the client caps what it
                    buffers per caller, max_output)
  oversized stream  a 16 MiB streamed answer read to the end
  fd exhaustion     the client under `ulimit -n 64` with 100 sockets open on
                    its API

Stated: honest requests succeed during (or, for fd exhaustion, within 30 s
scaled after) each case; no caller hangs; every failure is OpenAI JSON;
every daemon survives with RSS and descriptors bounded afterwards. FIGURES
lines give success rate and p99 per case."""
import os
import socket
import sys
import time
from http import client as httpclient
import json

from faultlib import Figures, Load, one_request, report, rss_kb, rss_scale
from cocoonlib import (Network, Proc, binary, check, free_port, limit, log, run, wait_until,
                       write_json)


def hold(port, n, payload=b""):
    out = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
            if payload:
                s.sendall(payload)
        except OSError:
            s.close()
            continue
        out.append(s)
    return out


def close_all(socks):
    for s in socks:
        s.close()


def main(holder):
    net = Network("faults-floods")
    holder.append(net)
    bport = net.start_backend(chunks=8, chunk_bytes=64)
    big = net.start_backend(model="big-model", chunks=256, chunk_bytes=65536)  # 16 MiB streams
    net.start_proxy(request_timeout=60)
    net.start_worker(bport)
    net.start_worker(big, model="big-model")
    net.start_client(extra={"request_timeout": 20, "max_body": 65536})
    net.wait_workers(2)
    net.wait_models()
    net.wait_models("big-model")
    load = Load(net.http_port, threads=3, timeout=30)
    load.wait_ok(10, 0, 30, "warm-up")
    figs = Figures({"proxy": net.proxy, "client": net.client, "worker-0": net.workers[0][0]})

    # ---- handshake flood on both RA-TLS ports: the links already up keep
    # serving, and a restarted client handshakes through the flood.
    t0 = time.time()
    flood = hold(net.client_port, 200) + hold(net.worker_port, 200)
    flood += hold(net.client_port, 50, os.urandom(512)) + hold(net.worker_port, 50, os.urandom(64))
    load.wait_ok(20, time.time(), 30, "during the handshake flood")
    t1 = time.time()
    s = load.check_no_hang("handshake flood", t0)
    report("handshake_flood", s, {"connections": len(flood)})
    net.client.kill()
    net.client = Proc("client-2", [binary("cocoon-client"), "--config",
                                   os.path.join(net.dir, "client.json")], net.dir)
    t2 = time.time()
    back = load.wait_ok(1, t2, 60, "a client handshaking through the flood")
    load.wait_ok(10, t2, 60, "the restarted client serving")
    s = load.check_no_hang("client restart during the flood", t1)
    report("handshake_flood_client_restart", s, {"connections": len(flood),
                                                 "first_ok_after_restart_s": round(back, 2)})
    # The idle sockets share the client's address (loopback): before a
    # newcomer could take an unsolved one's place, the restarted client
    # waited out the proof-of-work deadline (~10 s).
    check(back < limit(2.0), "a restarted client served %.2f s after start (< %.1f s) through "
          "a same-address flood" % (back, limit(2.0)))
    close_all(flood)
    figs = Figures({"proxy": net.proxy, "client": net.client, "worker-0": net.workers[0][0]})

    # ---- slow senders: heads that never finish.
    t0 = time.time()
    slow = hold(net.http_port, 100, b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    load.wait_ok(10, time.time(), 30, "during the slow senders")
    s = load.check_no_hang("slow senders", t0)
    report("slow_senders", s, {"connections": len(slow)})
    close_all(slow)

    # ---- slow readers: big streams nobody reads.
    t0 = time.time()
    readers = []
    body = json.dumps({"model": "big-model", "messages": [{"role": "user", "content": "x"}],
                       "max_tokens": 256, "stream": True}).encode()
    for _ in range(4):
        c = httpclient.HTTPConnection("127.0.0.1", net.http_port, timeout=limit(30))
        c.request("POST", "/v1/chat/completions", body=body,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        check(r.status == 200, "slow reader: stream started (%d)" % r.status)
        r.read1(100)  # the head only; the rest is left unread
        readers.append(c)
    load.wait_ok(10, time.time(), 30, "during the slow readers")
    s = load.check_no_hang("slow readers", t0)
    # Each unread stream costs the client at most max_output (8 MiB).
    rss = rss_kb(net.client.pid)
    check(rss < figs.base["client"][0] + (4 * 8 * 1024 + 64 * 1024) * rss_scale(net.client.pid),
          "slow readers: client RSS %d kB stays within 4 x max_output" % rss)
    report("slow_readers", s, {"client_rss_kb": rss})
    for c in readers:
        c.close()

    # ---- an oversized stream read to the end.
    t0 = time.time()
    c = httpclient.HTTPConnection("127.0.0.1", net.http_port, timeout=limit(60))
    c.request("POST", "/v1/chat/completions", body=body,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    n = 0
    while True:
        chunk = r.read1(1 << 16)
        if not chunk:
            break
        n += len(chunk)
    c.close()
    check(n > (8 << 20), "oversized stream: %d bytes read" % n)
    s = load.check_no_hang("oversized stream", t0)
    report("oversized_stream", s, {"stream_bytes": n})
    figs.check_bounded("floods", rss_growth_kb=128 * 1024)
    load.stop()

    # ---- fd exhaustion: a client with 64 descriptors, 100 callers holding
    # sockets; honest callers are served once the holders leave.
    cfg = json.load(open(os.path.join(net.dir, "client.json")))
    lport = free_port()
    cfg["listen_http"] = "127.0.0.1:%d" % lport
    path = write_json(os.path.join(net.dir, "client-low-fd.json"), cfg)
    low = Proc("client-low-fd", ["sh", "-c", 'ulimit -n 64 && exec "$0" "$@"',
                                 binary("cocoon-client"), "--config", path], net.dir)
    wait_until(lambda: one_request(lport, limit(10))[0] == "ok", 30, "low-fd client serving")
    t0 = time.time()
    held = hold(lport, 100)
    check(low.alive(), "fd exhaustion: the client is alive with %d sockets held" % len(held))
    close_all(held)
    load2 = Load(lport, threads=2, timeout=30)
    back = load2.wait_ok(10, t0, 30, "after the descriptor holders left")
    load2.stop()
    s = load2.check_no_hang("fd exhaustion", t0)
    report("fd_exhaustion", s, {"held": len(held), "recovered_s": round(back, 2)})
    check(os.path.getsize(low.log_path) < (1 << 20), "fd exhaustion: the log stays small")
    log("faults: floods, slow callers, an oversized stream and fd exhaustion survived")


if __name__ == "__main__":
    run(main)
    sys.exit(0)
