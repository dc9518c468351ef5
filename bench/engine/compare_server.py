#!/usr/bin/env python3
"""Many requests at once: aggregate generated tokens/s of `cocoon up` (the whole network, embedded
engine with N slots) against llama.cpp's `llama-server --parallel N` on the same GGUF file and the
same threads, for N concurrent `/v1/completions` requests (same prompt, max_tokens, greedy).
Prints one JSON line per (server, N) and a ratio line per N (target from issue #12: >= 1.2 at 8
and 16): "ratio" by wall time, "cpu_ratio" by tokens per CPU second of the engine's process
(llama-server, cocoon-worker), which a loaded machine's time slicing does not enter.
usage: bench/engine/compare_server.py BUILD_DIR MODEL.gguf [N ...]   (default N: 1 4 8 16)
llama-server comes from bench/engine/llamacpp.sh."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
BUILD = os.path.abspath(sys.argv[1])
MODEL = os.path.abspath(sys.argv[2])
LEVELS = [int(x) for x in sys.argv[3:]] or [1, 4, 8, 16]
THREADS = int(os.environ.get("COMPARE_THREADS", "2"))
MAX_TOKENS = int(os.environ.get("COMPARE_GEN_TOKENS", "64"))
PROMPT = "Once upon a time there was a little robot who lived in a garden. " * 4


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post(url, body, timeout=600):
    req = urllib.request.Request(url, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def wait_ok(url, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit("bench: %s did not answer" % url)


def tree_cpu(pid):
    """CPU seconds (user + system) of pid and its descendants, per program name: on a loaded
    machine the time slicing of other jobs enters wall time but not CPU time."""
    tick = os.sysconf("SC_CLK_TCK")
    kids, stats = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        f = st[st.rindex(")") + 2:].split()
        kids.setdefault(int(f[1]), []).append(int(d))
        stats[int(d)] = (name, (int(f[11]) + int(f[12])) / tick)
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            name, cpu = stats[p]
            out[name] = out.get(name, 0.0) + cpu
        todo += kids.get(p, [])
    return out


def burst(base, model, n, pid):
    """n requests at once; returns (completion tokens, wall seconds, errors, CPU seconds of the
    server's processes by name)."""
    tokens, errors = [0] * n, []
    body = {"model": model, "prompt": PROMPT, "max_tokens": MAX_TOKENS, "temperature": 0}

    def one(i):
        try:
            tokens[i] = post(base + "/v1/completions", body)["usage"]["completion_tokens"]
        except Exception as e:  # reported, and the figure marked invalid
            errors.append(str(e))

    ths = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    c0 = tree_cpu(pid)
    t0 = time.monotonic()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    wall = time.monotonic() - t0
    c1 = tree_cpu(pid)
    cpu = {k: round(v - c0.get(k, 0.0), 2) for k, v in c1.items() if v - c0.get(k, 0.0) > 0}
    return sum(tokens), wall, errors, cpu


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run_llama(n, llama_bin):
    port = free_port()
    p = subprocess.Popen([os.path.join(llama_bin, "llama-server"), "-m", MODEL, "--port", str(port),
                          "--host", "127.0.0.1", "-t", str(THREADS), "--parallel", str(n),
                          "-c", str(1024 * n), "--no-webui"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = "http://127.0.0.1:%d" % port
        wait_ok(base + "/health")
        burst(base, "m", 1, p.pid)  # warm-up
        return burst(base, "m", n, p.pid)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)


def run_cocoon(n):
    args = [os.path.join(BUILD, "bin", "cocoon"), "up", "--port", "0", "--model", MODEL,
            "--threads", str(THREADS), "--slots", str(n)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base = None
        deadline = time.time() + 300
        while time.time() < deadline and base is None:
            line = p.stdout.readline()
            if not line:
                break
            m = re.search(r"ready (http://\S+)", line)
            if m:
                base = m.group(1)
        if not base:
            raise SystemExit("bench: cocoon up did not become ready")
        with urllib.request.urlopen(base + "/v1/models", timeout=30) as r:
            model = json.load(r)["data"][0]["id"]
        burst(base, model, 1, p.pid)
        return burst(base, model, n, p.pid)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)


def main():
    llama_bin = subprocess.check_output([os.path.join(HERE, "llamacpp.sh"), BUILD], text=True).strip()
    for n in LEVELS:
        res, cpu_res = {}, {}
        for name, fn in (("llama-server", lambda: run_llama(n, llama_bin)), ("cocoon", lambda: run_cocoon(n))):
            la = loadavg()
            toks, wall, errors, cpu = fn()
            # The engine's own process: llama-server, or cocoon-worker (client and proxy apart).
            engine_cpu = sum(v for k, v in cpu.items() if k.startswith(("llama-server", "cocoon-worker")))
            res[name] = toks / wall if wall and not errors else None
            cpu_res[name] = toks / engine_cpu if engine_cpu and not errors else None
            print(json.dumps({"bench": "engine_server", "server": name, "concurrent": n,
                              "threads": THREADS, "completion_tokens": toks, "wall_s": round(wall, 2),
                              "tok_s": round(toks / wall, 1) if wall else None,
                              "cpu_s": cpu, "tok_per_engine_cpu_s": round(cpu_res[name], 1) if cpu_res[name] else None,
                              "errors": errors[:3], "loadavg": la, "model": os.path.basename(MODEL)}), flush=True)
        a, b = res["cocoon"], res["llama-server"]
        ca, cb = cpu_res["cocoon"], cpu_res["llama-server"]
        print(json.dumps({"bench": "engine_server_ratio", "concurrent": n,
                          "ratio": round(a / b, 3) if a and b else None,
                          "cpu_ratio": round(ca / cb, 3) if ca and cb else None,
                          "target": 1.2 if n >= 8 else None}), flush=True)


if __name__ == "__main__":
    main()
