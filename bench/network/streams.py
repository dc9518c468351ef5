"""1,000 streams at once through one client, proxy and worker (issue #10): every caller opens a
streamed chat completion at the same moment; the fake backend sends its first chunk at once and
the rest paced, so all streams are open together. Prints one JSON line with:

- `completed`: streams that ended with HTTP 200 and `data: [DONE]` (target: all);
- `first_byte_ms` p50/p99/max: from a caller's request to the first byte of its answer
  (target p99 <= 1 s);
- `rss_kib_per_stream` per daemon and summed: (peak RSS while every stream is open - RSS after a
  warm-up) / streams (target: sum <= 64 KiB);
- `hops_ms` p50/p99 of each stretch of a stream's way to its first byte, from the X-Cocoon-*
  timing headers of its answer (wall clock, one machine): `accept` (caller's connect to the
  client's start), `to_proxy`, `to_worker`, `backend` (worker start to the backend's head),
  `to_proxy_back`, `to_client_back`, `to_caller` (client's head to the caller's first byte);
  `slowest_1pct_ms` the mean of each stretch over the 1 % of streams with the latest first byte;
- `loadavg` at the start.
usage: python3 bench/network/streams.py [BUILD_DIR]   (BENCH_STREAMS overrides 1000)"""
import json
import os
import resource
import selectors
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
if len(sys.argv) > 1 and "COCOON_BIN_DIR" not in os.environ:
    os.environ["COCOON_BIN_DIR"] = os.path.join(sys.argv[1], "bin")

from cocoonlib import Network, Proc, binary, wait_until  # noqa: E402

STREAMS = int(os.environ.get("BENCH_STREAMS", "1000"))
CHUNKS, CHUNK_BYTES, DELAY_MS = 40, 64, 150
MODEL = "fake-model"


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def request_bytes(port):
    body = json.dumps({"model": MODEL, "stream": True, "max_tokens": 64,
                       "messages": [{"role": "user", "content": "stream me"}]})
    return ("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (port, len(body), body)).encode()


def run_streams(port, n, pids, sample):
    """Opens n streams at once; returns (per-stream results, peak RSS per pid)."""
    sel = selectors.DefaultSelector()
    req = request_bytes(port)
    streams = []
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        st = {"sock": s, "out": req, "data": bytearray(), "t0": time.monotonic(), "first": None,
              "w0": time.time(), "done": False}
        streams.append(st)
        sel.register(s, selectors.EVENT_WRITE, st)
    peak = {pid: 0 for pid in pids}
    open_n = n
    next_sample = 0.0
    deadline = time.monotonic() + 120
    while open_n and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=0.05):
            st = key.data
            s = st["sock"]
            if ev & selectors.EVENT_WRITE:
                try:
                    k = s.send(st["out"])
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    sel.unregister(s)
                    s.close()
                    st["done"] = True
                    open_n -= 1
                    continue
                st["out"] = st["out"][k:]
                if not st["out"]:
                    sel.modify(s, selectors.EVENT_READ, st)
                continue
            try:
                chunk = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            if chunk and st["first"] is None:
                st["first"] = time.monotonic()
            if chunk:
                st["data"] += chunk
                continue
            sel.unregister(s)
            s.close()
            st["done"] = True
            open_n -= 1
        now = time.monotonic()
        if sample and now >= next_sample:
            for pid in pids:
                peak[pid] = max(peak[pid], rss_kib(pid))
            next_sample = now + 0.1
    for st in streams:
        if not st["done"]:
            sel.unregister(st["sock"])
            st["sock"].close()
    return streams, peak


def ok(st):
    d = bytes(st["data"])
    return d.startswith(b"HTTP/1.1 200") and b"data: [DONE]" in d


HOPS = [("accept", None, "Client-Start"), ("to_proxy", "Client-Start", "Proxy-Start"),
        ("to_worker", "Proxy-Start", "Worker-Start"), ("backend", "Worker-Start", "Worker-End"),
        ("to_proxy_back", "Worker-End", "Proxy-End"), ("to_client_back", "Proxy-End", "Client-End"),
        ("to_caller", "Client-End", None)]


def hops(st):
    """The stretches of one stream's way to its first byte (ms), or None without the headers."""
    d = bytes(st["data"])
    head = d[:d.find(b"\r\n\r\n")].decode("latin-1")
    t = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower().startswith("x-cocoon-"):
            try:
                t[name[9:].title()] = float(value)
            except ValueError:
                pass
    t[None] = None
    if not all(a in t and b in t for _, a, b in HOPS):
        return None
    first_wall = st["w0"] + (st["first"] - st["t0"])
    out = {}
    for name, a, b in HOPS:
        ta = st["w0"] if a is None else t[a]
        tb = first_wall if b is None else t[b]
        out[name] = (tb - ta) * 1000
    return out


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(q * len(v)))], 1)


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * STREAMS + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # children inherit it
    with open("/proc/loadavg") as f:
        load = [float(x) for x in f.read().split()[:3]]

    net = Network("streams", pow_difficulty=2)
    backend = Proc("backend", [binary("cocoon-fake-backend"), "--port", "0", "--model", MODEL,
                               "--chunks", str(CHUNKS), "--chunk-bytes", str(CHUNK_BYTES),
                               "--delay-ms", str(DELAY_MS)], net.dir, capture_stdout=True)
    bport = int(backend.wait_line(r"listening (\d+)").group(1))
    # One client daemon carries every caller here, and the proxy caps each client at 256 active
    # requests by default (fair limits, docs/security.md): lift the cap so it is not what is measured.
    net.start_proxy(extra={"log_level": "info", "client_max_active": STREAMS + 100})
    net.start_worker(bport, model=MODEL,
                     extra={"max_active_requests": STREAMS + 100, "log_level": "info"})
    port = net.start_client(extra={"log_level": "info", "sealing": "off"})
    net.wait_models(MODEL, timeout=60)
    daemons = {"client": net.client.p.pid, "proxy": net.proxy.p.pid,
               "worker": net.workers[0][0].p.pid}

    warm, _ = run_streams(port, 20, [], False)
    if not all(ok(st) for st in warm):
        raise SystemExit("bench: warm-up streams failed")
    idle = {name: rss_kib(pid) for name, pid in daemons.items()}
    t0 = time.monotonic()
    streams, peak = run_streams(port, STREAMS, list(daemons.values()), True)
    wall = time.monotonic() - t0
    completed = sum(1 for st in streams if ok(st))
    firsts = [(st["first"] - st["t0"]) * 1000 for st in streams if st["first"] is not None]
    per = {name: round((peak[pid] - idle[name]) / STREAMS, 2) for name, pid in daemons.items()}
    timed = [(st["first"] - st["t0"], hops(st)) for st in streams if st["first"] is not None]
    timed = [(f, h) for f, h in timed if h]
    hop_pct = {name: {"p50": pct([h[name] for _, h in timed], 0.5),
                      "p99": pct([h[name] for _, h in timed], 0.99)} for name, _, _ in HOPS}
    slow = sorted(timed, key=lambda x: x[0])[-max(1, len(timed) // 100):] if timed else []
    slow_mean = {name: round(sum(h[name] for _, h in slow) / len(slow), 1) if slow else None
                 for name, _, _ in HOPS}
    print(json.dumps({
        "bench": "network_streams", "streams": STREAMS, "completed": completed,
        "wall_s": round(wall, 2), "chunks": CHUNKS, "chunk_bytes": CHUNK_BYTES,
        "chunk_delay_ms": DELAY_MS,
        "first_byte_ms": {"p50": pct(firsts, 0.5), "p99": pct(firsts, 0.99),
                          "max": pct(firsts, 1.0)},
        "hops_ms": hop_pct, "slowest_1pct_ms": slow_mean,
        "rss_idle_kib": idle, "rss_peak_kib": {n: peak[p] for n, p in daemons.items()},
        "rss_kib_per_stream": dict(per, sum=round(sum(per.values()), 2)),
        "targets": {"completed": STREAMS, "first_byte_p99_ms": 1000, "rss_kib_per_stream_sum": 64},
        "loadavg": load}), flush=True)
    if completed != STREAMS:
        sys.exit(1)


if __name__ == "__main__":
    main()
