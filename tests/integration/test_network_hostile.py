#!/usr/bin/env python3
"""Hostile peers on the proxy's ports: garbage bytes, a wrong proof-of-work
answer, a bad magic, a bad frame seqno and an undecodable packet each get their
connection dropped, while a stream in flight and later requests are served."""
import os
import socket
import ssl
import struct
import subprocess

from cocoonlib import (binary, check, check_eq, closed_by_peer, http_json, limit, log, Network,
                       POW_CLIENT_MAGIC, pow_solve, read_challenge, run, sse_events, Stream)

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
TCP_CONNECT = 0xa57c4261
TCP_CONNECTED = 0x636d41d6


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=limit(5))
    difficulty, salt = read_challenge(s)
    return s, difficulty, salt


def tls_session(port, cert, key):
    """PoW + TLS 1.3 with our own certificate; returns the TLS socket."""
    s, difficulty, salt = connect(port)
    s.sendall(struct.pack("<Iq", POW_CLIENT_MAGIC, pow_solve(salt, difficulty)))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cert, key)
    t = ctx.wrap_socket(s)
    t.settimeout(limit(5))
    return t


def frame(seqno, payload):
    return struct.pack("<Ii", len(payload), seqno) + payload


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def make_cert(d):
    cert, key = os.path.join(d, "peer.crt"), os.path.join(d, "peer.key")
    try:
        subprocess.run([binary("cocoon"), "cert", "gen", "--cert", cert, "--key", key],
                       check=True, capture_output=True, timeout=limit(30))
    except Exception:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ed25519", "-keyout", key, "-out",
                        cert, "-days", "1", "-nodes", "-subj", "/CN=test"],
                       check=True, capture_output=True, timeout=limit(30))
    return cert, key


def main(holder):
    net = Network("hostile", pow_difficulty=6)
    holder.append(net)
    b = net.start_backend()
    net.start_proxy()
    net.start_worker(b)
    port = net.start_client()
    net.wait_workers(1, enabled=1)
    net.wait_models()
    cert, key = make_cert(net.dir)

    # A stream runs through the whole attack and must finish intact.
    stream = Stream(port, "/v1/chat/completions",
                    dict(CHAT, stream=True, max_tokens=40, fake={"delay_ms": 40}), timeout=60)
    check_eq(stream.status, 200, "stream status")
    stream.read_some()

    for target, pport in (("client port", net.client_port), ("worker port", net.worker_port)):
        # Garbage instead of the PoW answer.
        s, _, _ = connect(pport)
        s.sendall(os.urandom(64))
        check(closed_by_peer(s), "%s: garbage not dropped" % target)
        s.close()
        # A well-formed answer that does not solve the puzzle.
        s, difficulty, salt = connect(pport)
        s.sendall(struct.pack("<Iq", POW_CLIENT_MAGIC, pow_solve(salt, difficulty, want=False)))
        check(closed_by_peer(s), "%s: wrong PoW answer not dropped" % target)
        s.close()
        # A valid nonce behind a bad magic.
        s, difficulty, salt = connect(pport)
        s.sendall(struct.pack("<Iq", 0xdeadbeef, pow_solve(salt, difficulty)))
        check(closed_by_peer(s), "%s: bad magic not dropped" % target)
        s.close()
        # Positive control: PoW + TLS with our certificate + tcp.connect works...
        t = tls_session(pport, cert, key)
        t.sendall(frame(0, struct.pack("<Iq", TCP_CONNECT, 12345)))
        ln, seq = struct.unpack("<Ii", read_exact(t, 8))
        body = read_exact(t, ln)
        check_eq(struct.unpack("<I", body[:4])[0], TCP_CONNECTED, "%s: tcp.connected" % target)
        check_eq(seq, 0, "%s: first server seqno" % target)
        # ...and then a frame with a skipped seqno is a violation: dropped.
        t.sendall(frame(5, struct.pack("<Iq", 0xbbe9627c, 1)))  # tcp.ping, seqno 5 instead of 1
        check(closed_by_peer(t), "%s: bad seqno not dropped" % target)
        t.close()
        # Bad seqno on the very first frame.
        t = tls_session(pport, cert, key)
        t.sendall(frame(1, struct.pack("<Iq", TCP_CONNECT, 1)))
        check(closed_by_peer(t), "%s: bad first seqno not dropped" % target)
        t.close()
        # A correct frame whose packet is not TL we know (after tcp.connect).
        t = tls_session(pport, cert, key)
        t.sendall(frame(0, struct.pack("<Iq", TCP_CONNECT, 7)))
        read_exact(t, 8 + 12)
        junk = struct.pack("<I", 0x9c17baf8) + bytes([8]) + os.urandom(8) + b"\0\0\0"
        t.sendall(frame(1, junk))  # tcp.packet carrying 8 random bytes
        check(closed_by_peer(t), "%s: undecodable packet not dropped" % target)
        t.close()
        log("%s: garbage, wrong PoW, bad magic, bad seqno, junk packet all dropped" % target)

    data = stream.read_all()
    events = sse_events(data)
    check_eq(events[-1], "[DONE]", "the stream in flight finished")
    check_eq(sum(1 for e in events if '"content"' in e), 40, "content events")
    for i in range(3):
        st, j = http_json(port, "POST", "/v1/chat/completions", CHAT)
        check_eq(st, 200, "request %d after the attacks" % i)
    check(net.proxy.alive(), "proxy still running")
    stats = net.proxy_stats()
    check_eq(stats["workers_ready"], 1, "the real worker is still connected")
    log("proxy kept serving")


if __name__ == "__main__":
    run(main)
