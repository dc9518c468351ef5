"""COCOON's relay benchmark: the fake backend streams 50 chunks of 128 bytes plus a
usage block; wrk at concurrency 30 measures requests/s and latency percentiles
through client -> proxy -> worker and directly against the backend, with and
without keep-alive. Prints one JSON object per figure and the ratios."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
BIN = os.environ.get("COCOON_BIN_DIR", os.path.join(BUILD, "bin"))
DURATION = os.environ.get("BENCH_SECONDS", "10")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "30"))
MODEL = "bench-model"

LUA = """
wrk.method = "POST"
wrk.body = '{"model":"%s","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"
%s
"""


def start(cmd, wait_re, timeout=60):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        m = re.search(wait_re, line)
        if m:
            return p, m
    p.kill()
    raise SystemExit("bench: %s did not start" % cmd[0])


def parse_ms(value, unit):
    v = float(value)
    return v * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(url, keepalive):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA % (MODEL, "" if keepalive else 'wrk.headers["Connection"] = "close"'))
        script = f.name
    try:
        out = subprocess.run(["wrk", "-t2", "-c%d" % CONNECTIONS, "-d%ss" % DURATION, "--latency",
                              "-s", script, url], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % pct, out)
        lat[pct] = parse_ms(m.group(1), m.group(2)) if m else None
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"],
            "non_2xx": int(errors.group(1)) if errors else 0}


def main():
    backend, m = start([os.path.join(BIN, "cocoon-fake-backend"), "--port", "0", "--model", MODEL,
                        "--chunks", "50", "--chunk-bytes", "128"], r"listening (\d+)")
    backend_url = "http://127.0.0.1:%s" % m.group(1)
    workdir = tempfile.mkdtemp(prefix="cocoon-bench-")
    up, m = start([os.path.join(BIN, "cocoon"), "up", "--port", "0", "--workers", "1",
                   "--backend", "openai-http", "--backend-url", backend_url, "--model", MODEL,
                   "--dir", workdir],
                  r"ready (http://\S+)", timeout=120)
    client_url = m.group(1)
    try:
        results = {}
        for keepalive in (True, False):
            for target, url in (("direct", backend_url), ("network", client_url)):
                r = run_wrk(url + "/v1/chat/completions", keepalive)
                r.update({"bench": "network_relay", "target": target, "keepalive": keepalive,
                          "connections": CONNECTIONS, "chunks": 50, "chunk_bytes": 128})
                print(json.dumps(r), flush=True)
                results[(target, keepalive)] = r
            d, n = results[("direct", keepalive)], results[("network", keepalive)]
            print(json.dumps({
                "bench": "network_relay_ratio", "keepalive": keepalive,
                "throughput_ratio": round(n["rps"] / d["rps"], 3) if d["rps"] else None,
                "p50_added_ms": round(n["p50_ms"] - d["p50_ms"], 3)
                if n["p50_ms"] is not None and d["p50_ms"] is not None else None,
                "target_throughput_ratio": 0.5, "target_p50_added_ms": 1.0}), flush=True)
    finally:
        up.send_signal(signal.SIGTERM)
        backend.send_signal(signal.SIGTERM)
        up.wait(timeout=30)
        backend.wait(timeout=30)


if __name__ == "__main__":
    main()
