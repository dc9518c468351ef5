"""What sealing costs (issue #11: at most 10 % more CPU per request): the
relay benchmark's streamed request through `cocoon up` with the client's
sealing "required" (receipts signed on every answer, the default),
"required" with `--sealing-receipts on_request` (MAC-only receipts unless the
caller asks; it does not here) and "off", alternating runs so all see the
same machine load, keep-alive at 30 connections and at 1. Prints one JSON
line per run (CPU µs per request for client, proxy and worker, wrk's rps and
p50) and one summary line per concurrency and sealed mode with the ratio
sealed / plain of the three daemons' CPU per request, taking each mode's
median over the rounds.

BENCH_SECONDS (default 5) per run, BENCH_ROUNDS (default 3) per mode."""
import json
import os
import signal
import statistics
import sys
import tempfile

import bench_network as bn

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
bn.DURATION = os.environ.get("BENCH_SECONDS", "5")


MODES = {"required": ["--sealing", "required"],
         "required_mac": ["--sealing", "required", "--sealing-receipts", "on_request"],
         "off": ["--sealing", "off"]}


def up(mode, backend_url):
    workdir = tempfile.mkdtemp(prefix="cocoon-bench-sealing-")
    p, m = bn.start([os.path.join(bn.BIN, "cocoon"), "up", "--port", "0", "--workers", "1",
                     "--backend", "openai-http", "--backend-url", backend_url, "--model",
                     bn.MODEL, "--dir", workdir] + MODES[mode],
                    r"ready (http://\S+)", timeout=120)
    return p, m.group(1)


def main():
    backend, m = bn.start([os.path.join(bn.BIN, "cocoon-fake-backend"), "--port", "0", "--model",
                           bn.MODEL, "--chunks", str(bn.CHUNKS), "--chunk-bytes",
                           str(bn.CHUNK_BYTES)], r"listening (\d+)")
    backend_url = "http://127.0.0.1:%s" % m.group(1)
    nets = {}
    totals = {}
    invalid = False
    try:
        for mode in MODES:  # inside the try: a network that fails to start stops the others
            nets[mode] = up(mode, backend_url)
        for conns in (bn.CONNECTIONS, 1):
            for rnd in range(ROUNDS):
                for mode, (p, url) in nets.items():
                    pids = bn.daemon_pids(p.pid)
                    r = bn.run_wrk(url + "/v1/chat/completions", True, conns, pids)
                    total = sum(v for v in r["cpu_us_per_request"].values() if v is not None)
                    r.update({"bench": "network_sealing", "sealing": mode, "connections": conns,
                              "round": rnd, "cpu_us_per_request_total": round(total, 1)})
                    print(json.dumps(r), flush=True)
                    invalid |= not r["valid"]
                    totals.setdefault((conns, mode), []).append(total)
            plain = statistics.median(totals[(conns, "off")])
            for mode in ("required", "required_mac"):
                sealed = statistics.median(totals[(conns, mode)])
                print(json.dumps({"bench": "network_sealing_ratio", "connections": conns,
                                  "sealing": mode, "keepalive": True, "rounds": ROUNDS,
                                  "cpu_us_sealed": round(sealed, 1),
                                  "cpu_us_plain": round(plain, 1),
                                  "cpu_ratio": round(sealed / plain, 3), "target_cpu_ratio": 1.10,
                                  "loadavg": bn.loadavg()}), flush=True)
    finally:
        for p, _ in nets.values():
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
        backend.send_signal(signal.SIGTERM)
        backend.wait(timeout=30)
    if invalid:
        sys.exit("bench: a run had non-2xx answers or socket errors")


if __name__ == "__main__":
    main()
