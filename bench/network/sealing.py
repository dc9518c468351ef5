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

BENCH_SECONDS (default 5) per run, BENCH_ROUNDS (default 3) per mode.

SEALING_MODEL=FILE.gguf puts the embedded engine with that model behind each
network instead of the fake backend (greedy answers of up to 64 tokens, one
engine slot per connection), so the ratio is the one a request with real
inference sees."""
import json
import os
import signal
import statistics
import sys
import tempfile
import urllib.request

import bench_network as bn

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
bn.DURATION = os.environ.get("BENCH_SECONDS", "5")


MODES = {"required": ["--sealing", "required"],
         "required_mac": ["--sealing", "required", "--sealing-receipts", "on_request"],
         "off": ["--sealing", "off"]}


ENGINE_MODEL = os.environ.get("SEALING_MODEL")


def up(mode, backend_url):
    workdir = tempfile.mkdtemp(prefix="cocoon-bench-sealing-")
    if ENGINE_MODEL:
        serve = ["--model", os.path.abspath(ENGINE_MODEL), "--slots", str(bn.CONNECTIONS)]
    else:
        serve = ["--backend", "openai-http", "--backend-url", backend_url, "--model", bn.MODEL]
    p, m = bn.start([os.path.join(bn.BIN, "cocoon"), "up", "--port", "0", "--workers", "1",
                     "--dir", workdir] + serve + MODES[mode],
                    r"ready (http://\S+)", timeout=120)
    return p, m.group(1)


def engine_model_id(url):
    """The id the embedded worker announces, which the requests must name; and greedy answers,
    so every mode generates the same tokens."""
    with urllib.request.urlopen(url + "/v1/models", timeout=30) as r:
        model = json.load(r)["data"][0]["id"]
    bn.MODEL = model
    bn.LUA = bn.LUA.replace('"max_tokens":64,', '"max_tokens":64,"temperature":0,')


def main():
    backend, backend_url = None, None
    if not ENGINE_MODEL:
        backend, m = bn.start([os.path.join(bn.BIN, "cocoon-fake-backend"), "--port", "0",
                               "--model", bn.MODEL, "--chunks", str(bn.CHUNKS), "--chunk-bytes",
                               str(bn.CHUNK_BYTES)], r"listening (\d+)")
        backend_url = "http://127.0.0.1:%s" % m.group(1)
    nets = {}
    totals = {}
    invalid = False
    try:
        for mode in MODES:  # inside the try: a network that fails to start stops the others
            nets[mode] = up(mode, backend_url)
        if ENGINE_MODEL:
            engine_model_id(nets["off"][1])
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
                                  "backend": os.path.basename(ENGINE_MODEL) if ENGINE_MODEL
                                  else "fake",
                                  "loadavg": bn.loadavg()}), flush=True)
    finally:
        for p, _ in nets.values():
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
        if backend:
            backend.send_signal(signal.SIGTERM)
            backend.wait(timeout=30)
    if invalid:
        sys.exit("bench: a run had non-2xx answers or socket errors")


if __name__ == "__main__":
    main()
