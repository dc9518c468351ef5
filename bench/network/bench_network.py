"""COCOON's relay benchmark: the fake backend streams 50 chunks of 128 bytes plus a
usage block; wrk measures requests/s and latency percentiles through
client -> proxy -> worker and directly against the backend, with and without
keep-alive, at concurrency 30 (throughput) and 1 (the latency a single request
adds). Prints one JSON object per figure and the ratios against the direct
baseline measured in the same run.

Honesty rules: only 2xx answers count as requests served (wrk counts every
answer); a figure with non-2xx answers or socket errors is marked
"valid": false and the script exits non-zero. Every figure carries the machine
load (/proc/loadavg) at its start, and the worker's advertised capacity is
checked to be above the concurrency so it is not the limit."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import nginx_chain

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
BIN = os.environ.get("COCOON_BIN_DIR", os.path.join(BUILD, "bin"))
DURATION = os.environ.get("BENCH_SECONDS", "10")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "30"))
CHUNKS, CHUNK_BYTES = 50, 128
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


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def daemon_pids(up_pid):
    """The proxy, worker and client started by `cocoon up`, by role."""
    pids = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                exe = os.path.basename(f.read().split(b"\0")[0].decode())
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == up_pid and exe.startswith("cocoon-"):
            pids[exe[len("cocoon-"):]] = int(pid)
    return pids


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_ms(value, unit):
    v = float(value)
    return v * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(url, keepalive, connections, pids):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA % (MODEL, "" if keepalive else 'wrk.headers["Connection"] = "close"'))
        script = f.name
    threads = min(2, connections)
    load = loadavg()
    cpu0 = {role: cpu_seconds(pid) for role, pid in pids.items()}
    try:
        out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ss" % DURATION,
                              "--latency", "-s", script, url], capture_output=True, text=True,
                             check=True).stdout
    finally:
        os.unlink(script)
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    answers = int(m.group(1))
    seconds = float(m.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non_2xx = int(non_2xx.group(1)) if non_2xx else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                             (int(x) for x in sock.groups()))) if sock else {}
    lat = {}
    for pct in ("50", "99"):
        m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % pct, out)
        lat[pct] = round(parse_ms(m.group(1), m.group(2)), 3) if m else None
    ok = answers - non_2xx
    # CPU time each daemon spent per request served: unlike requests/s, it
    # hardly depends on what else the machine is doing.
    cpu_us = {role: round((cpu_seconds(pid) - cpu0[role]) * 1e6 / ok, 1) if ok else None
              for role, pid in pids.items()}
    valid = non_2xx == 0 and not any(socket_errors.values()) and ok > 0
    return {"rps": round(ok / seconds, 2) if seconds else 0.0, "ok": ok, "non_2xx": non_2xx,
            "socket_errors": socket_errors, "valid": valid, "p50_ms": lat["50"],
            "p99_ms": lat["99"], "loadavg": load,
            "cpu_us_per_request": cpu_us}


def check_capacity(client_url):
    """The worker's cap (max_active_requests via /v1/models) must exceed the
    concurrency, or the benchmark would measure the cap."""
    with urllib.request.urlopen(client_url + "/v1/models", timeout=10) as r:
        models = json.load(r)["data"]
    cap = sum(m.get("cocoon", {}).get("max_active_requests", 0) for m in models)
    if cap < CONNECTIONS:
        raise SystemExit("bench: worker capacity %d is below the concurrency %d" %
                         (cap, CONNECTIONS))
    return cap


# Targets for cocoon's CPU per request over the nginx chain's (issue #10).
NGINX_TARGETS = {"bulk": {CONNECTIONS: 0.6, 1: 1.0}, "paced": {CONNECTIONS: 0.5}}
# bulk: the backend writes its 50 chunks at once; paced: 2 ms apart, as a model's tokens arrive,
# so every chunk crosses each hop on its own (only keep-alive at full concurrency is run).
WORKLOADS = (("bulk", 0, ((True, CONNECTIONS), (True, 1), (False, CONNECTIONS), (False, 1))),
             ("paced", 2, ((True, CONNECTIONS),)))


def nginx_anchor(relay, backend_port, workdir, workload):
    """The same wrk runs through three nginx hops; prints per-hop CPU and the
    ratio of cocoon's three daemons to nginx's three hops. Returns invalid
    figures."""
    nginx = nginx_chain.find_nginx(BUILD)
    if not nginx:
        return []
    ndir = os.path.join(workdir, "nginx-" + workload)
    os.makedirs(ndir)
    chain = nginx_chain.Chain(nginx, backend_port, ndir)
    invalid = []
    try:
        for (keepalive, conns), ours in relay.items():
            r = run_wrk(chain.url + "/v1/chat/completions", keepalive, conns, chain.pids())
            r.update({"bench": "network_nginx", "workload": workload, "keepalive": keepalive,
                      "connections": conns, "chunks": CHUNKS, "chunk_bytes": CHUNK_BYTES})
            print(json.dumps(r), flush=True)
            if not r["valid"]:
                invalid.append(dict(r, target="nginx"))
                continue
            mine = sum(ours["cpu_us_per_request"].values()) if ours["valid"] else None
            theirs = sum(r["cpu_us_per_request"].values())
            print(json.dumps({
                "bench": "network_vs_nginx", "workload": workload, "keepalive": keepalive,
                "connections": conns,
                "cocoon_cpu_us_per_request": round(mine, 1) if mine else None,
                "nginx_cpu_us_per_request": round(theirs, 1),
                "cpu_ratio": round(mine / theirs, 3) if mine and theirs else None,
                "target_cpu_ratio": NGINX_TARGETS[workload].get(conns) if keepalive else None,
                "cocoon_p50_ms": ours["p50_ms"], "nginx_p50_ms": r["p50_ms"],
                "cocoon_p99_ms": ours["p99_ms"], "nginx_p99_ms": r["p99_ms"],
                "loadavg": loadavg()}), flush=True)
    finally:
        chain.stop()
    return invalid


def run_workload(workload, delay_ms, cases):
    """One backend and one `cocoon up` for a workload; returns invalid figures."""
    backend, m = start([os.path.join(BIN, "cocoon-fake-backend"), "--port", "0", "--model", MODEL,
                        "--chunks", str(CHUNKS), "--chunk-bytes", str(CHUNK_BYTES),
                        "--delay-ms", str(delay_ms)],
                       r"listening (\d+)")
    backend_url = "http://127.0.0.1:%s" % m.group(1)
    workdir = tempfile.mkdtemp(prefix="cocoon-bench-")
    up, m = start([os.path.join(BIN, "cocoon"), "up", "--port", "0", "--workers", "1",
                   "--backend", "openai-http", "--backend-url", backend_url, "--model", MODEL,
                   # The relay as nginx does it: plain TLS hops, no sealing (bench/network/
                   # sealing.py measures that), no local chain (its start only adds seconds).
                   "--sealing", "off", "--chain", "none", "--dir", workdir],
                  r"ready (http://\S+)", timeout=120)
    client_url = m.group(1)
    invalid = []
    relay = {}
    try:
        cap = check_capacity(client_url)
        pids = daemon_pids(up.pid)
        for keepalive, conns in cases:
            results = {}
            for target, url in (("direct", backend_url), ("network", client_url)):
                r = run_wrk(url + "/v1/chat/completions", keepalive, conns,
                            pids if target == "network" else {"backend": backend.pid})
                r.update({"bench": "network_relay", "workload": workload, "target": target,
                          "keepalive": keepalive, "connections": conns, "chunks": CHUNKS,
                          "chunk_bytes": CHUNK_BYTES, "chunk_delay_ms": delay_ms,
                          "worker_capacity": cap})
                print(json.dumps(r), flush=True)
                if not r["valid"]:
                    invalid.append(r)
                results[target] = r
            relay[(keepalive, conns)] = results["network"]
            d, n = results["direct"], results["network"]
            both = d["valid"] and n["valid"]
            print(json.dumps({
                "bench": "network_relay_ratio", "workload": workload, "keepalive": keepalive,
                "connections": conns, "valid": both,
                "throughput_ratio": round(n["rps"] / d["rps"], 3) if both else None,
                "p50_added_ms": round(n["p50_ms"] - d["p50_ms"], 3)
                if both and n["p50_ms"] is not None and d["p50_ms"] is not None else None,
                "target_throughput_ratio": 0.5, "target_p50_added_ms": 1.0,
                "loadavg": loadavg()}), flush=True)
        invalid += nginx_anchor(relay, int(backend_url.rsplit(":", 1)[1]), workdir, workload)
    finally:
        up.send_signal(signal.SIGTERM)
        backend.send_signal(signal.SIGTERM)
        up.wait(timeout=30)
        backend.wait(timeout=30)
    return invalid


def main():
    invalid = []
    only = os.environ.get("BENCH_WORKLOADS")  # e.g. "paced"
    for workload, delay_ms, cases in WORKLOADS:
        if only and workload not in only.split(","):
            continue
        invalid += run_workload(workload, delay_ms, cases)
    if invalid:
        for r in invalid:
            print("bench: INVALID figure (%s, keepalive=%s, c=%d): %d non-2xx, socket errors %s" %
                  (r["target"], r["keepalive"], r["connections"], r["non_2xx"],
                   r["socket_errors"]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
