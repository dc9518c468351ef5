"""Shared parts of the fault-injection suite (tests/faults/): honest load with
its figures, a loopback TCP middlebox that damages the bytes between two hops,
and the resource figures of a daemon (RSS, open descriptors) from /proc.

Builds on tests/integration/cocoonlib.py (same waits, same scaled limits)."""
import json
import os
import select
import socket
import sys
import threading
import time
from http import client as httpclient

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from cocoonlib import (check, fail, limit, log)  # noqa: E402

MODEL = "fake-model"


# ------------------------------------------------------------ daemon figures

def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_scale(pid):
    """How much larger RSS bounds must be for this program: a sanitizer
    build keeps freed memory in quarantine and shadow memory besides."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            return 8 if any("libasan" in line or "libtsan" in line for line in f) else 1
    except OSError:
        return 1


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


class Figures:
    """RSS and descriptor counts of named daemons, read before and after a
    case: after it, every daemon is alive and within the stated bounds."""

    def __init__(self, procs):
        self.procs = procs  # name -> Proc
        self.base = {n: (rss_kb(p.pid), fd_count(p.pid)) for n, p in procs.items()}

    def check_bounded(self, case, rss_growth_kb=64 * 1024, fd_growth=32):
        """Fails when a daemon died or grew past the bounds; waits (event:
        the figures falling back) for descriptors of closed links to go."""
        out = {}
        for n, p in self.procs.items():
            check(alive(p.pid), "%s: %s is alive" % (case, n))
            r0, f0 = self.base[n]
            rss_growth_kb_n = rss_growth_kb * rss_scale(p.pid)
            end = time.time() + limit(10)
            while True:
                r, fds = rss_kb(p.pid), fd_count(p.pid)
                if (r - r0 <= rss_growth_kb_n and fds - f0 <= fd_growth) or time.time() > end:
                    break
                time.sleep(0.1)
            check(r - r0 <= rss_growth_kb_n, "%s: %s RSS %d -> %d kB (bound +%d)" %
                  (case, n, r0, r, rss_growth_kb_n))
            check(fds - f0 <= fd_growth, "%s: %s descriptors %d -> %d (bound +%d)" %
                  (case, n, f0, fds, fd_growth))
            out[n] = {"rss_kb": [r0, r], "fds": [f0, fds]}
        return out


# ---------------------------------------------------------------- honest load

def is_openai_error(body):
    """True for an OpenAI-style error body: {"error": {"message", "type", ...}}."""
    try:
        j = json.loads(body)
    except ValueError:
        return False
    e = j.get("error") if isinstance(j, dict) else None
    return isinstance(e, dict) and isinstance(e.get("message"), str) and "type" in e


def one_request(port, timeout, max_tokens=4, stream=False):
    """One honest chat completion: (outcome, seconds) where outcome is "ok",
    "error NNN" (an OpenAI JSON error with status NNN), "bad NNN" (anything
    else), "refused" (no connection) or "hang"."""
    t0 = time.time()
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": max_tokens, "stream": stream}
    try:
        c = httpclient.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
    except socket.timeout:
        return "hang", time.time() - t0
    except (OSError, httpclient.HTTPException):
        # Refused or reset before an answer (the client itself restarting).
        return "refused", time.time() - t0
    dt = time.time() - t0
    if r.status == 200:
        if stream:
            return ("ok" if b"[DONE]" in data else "bad"), dt
        try:
            return ("ok" if json.loads(data)["choices"] else "bad"), dt
        except (ValueError, KeyError):
            return "bad", dt
    return ("error %d" % r.status if is_openai_error(data) else "bad %d" % r.status), dt


class Load:
    """`threads` callers sending honest requests back to back until stop()."""

    def __init__(self, port, threads=4, timeout=30.0, stream=False):
        self.port, self.timeout, self.stream = port, limit(timeout), stream
        self.results = []  # (start time, outcome, seconds)
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        while self.running:
            t0 = time.time()
            outcome, dt = one_request(self.port, self.timeout, stream=self.stream)
            with self.lock:
                self.results.append((t0, outcome, dt))
            if outcome == "refused":
                time.sleep(0.05)  # the port is down: do not spin on it

    def count(self, outcome="ok", since=0.0):
        """Requests started after `since` whose outcome starts with `outcome`."""
        with self.lock:
            return sum(1 for t, o, _ in self.results if o.startswith(outcome) and t >= since)

    def wait_ok(self, n, since, timeout, what):
        """Waits until n requests started after `since` succeeded."""
        end = time.time() + limit(timeout)
        while time.time() < end:
            if self.count("ok", since) >= n:
                return time.time() - since
            time.sleep(0.05)
        fail("%s: fewer than %d honest requests succeeded within %.0f s (%s)" %
             (what, n, limit(timeout), self.summary(since)))

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(self.timeout + 5)

    def summary(self, since=0.0, until=None):
        with self.lock:
            rs = [(o, d) for t, o, d in self.results
                  if t >= since and (until is None or t < until)]
        n = len(rs)

        def p99(xs):
            xs = sorted(xs)
            return xs[min(len(xs) - 1, int(len(xs) * 0.99))] if xs else float("nan")
        by = {}
        for o, _ in rs:
            by[o] = by.get(o, 0) + 1
        # p99 of the successes, and of every answer (a failure that took
        # long is what a caller waited for too).
        return {"requests": n, "success_rate": (by.get("ok", 0) / n) if n else float("nan"),
                "p99_s": p99([d for o, d in rs if o == "ok"]),
                "p99_all_s": p99([d for o, d in rs if o != "refused"]),
                "max_s": max([d for o, d in rs if o != "refused"] or [float("nan")]),
                "outcomes": by}

    def check_no_hang(self, case, since=0.0):
        s = self.summary(since)
        check(s["outcomes"].get("hang", 0) == 0, "%s: no caller hung (%r)" % (case, s))
        check(not any(o.startswith("bad") for o in s["outcomes"]),
              "%s: every failure is an OpenAI JSON error (%r)" % (case, s))
        return s


def report(case, summary, extra=None):
    """One line of figures the notes quote."""
    d = {"case": case, "success_rate": round(summary["success_rate"], 4),
         "p99_s": round(summary["p99_s"], 3), "p99_all_s": round(summary["p99_all_s"], 3),
         "max_s": round(summary["max_s"], 3),
         "requests": summary["requests"],
         "outcomes": summary["outcomes"]}
    d.update(extra or {})
    print("FIGURES " + json.dumps(d, sort_keys=True), flush=True)


# ---------------------------------------------------------------- middlebox

class Middlebox:
    """A TCP relay on 127.0.0.1 in front of `target` (a port). Its mode says
    what happens to the bytes of every connection from now on:
      pass        relay unchanged
      delay       hold each chunk `delay` seconds before relaying it
      truncate    relay `cut` more bytes per direction, then close both sides
      duplicate   send one chunk twice (then pass)
      drop        lose one chunk (then pass)
    It runs in one thread over select()."""

    def __init__(self, target):
        self.target = target
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(256)
        self.port = self.ls.getsockname()[1]
        self.mode, self.delay, self.cut = "pass", 0.0, 0
        self.pairs = {}  # socket -> [peer socket, bytes left before a cut]
        self.pending = []  # (due time, socket, data) for delay
        self.damaged = 0
        self.running = True
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def set(self, mode, delay=0.0, cut=0):
        with self.lock:
            self.mode, self.delay, self.cut = mode, delay, cut
            self.damaged = 0
            for s in self.pairs:
                self.pairs[s][1] = cut

    def close(self):
        self.running = False
        self.t.join(5)
        for s in list(self.pairs):
            s.close()
        self.ls.close()

    def _drop_pair(self, s):
        pair = self.pairs.pop(s, None)
        s.close()
        if pair and pair[0] in self.pairs:
            self.pairs.pop(pair[0], None)
            pair[0].close()

    def _send(self, s, data):
        try:
            s.sendall(data)
        except OSError:
            self._drop_pair(s)

    def _run(self):
        while self.running:
            now = time.time()
            with self.lock:
                due = [p for p in self.pending if p[0] <= now]
                self.pending = [p for p in self.pending if p[0] > now]
            for _, s, data in due:
                if s in self.pairs or s.fileno() >= 0:
                    self._send(s, data)
            socks = [self.ls] + list(self.pairs)
            r, _, _ = select.select(socks, [], [], 0.01)
            for s in r:
                if s is self.ls:
                    a, _ = self.ls.accept()
                    b = socket.create_connection(("127.0.0.1", self.target))
                    self.pairs[a] = [b, self.cut]
                    self.pairs[b] = [a, self.cut]
                    continue
                if s not in self.pairs:
                    continue
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self._drop_pair(s)
                    continue
                peer = self.pairs[s][0]
                with self.lock:
                    mode = self.mode
                    if mode == "delay":
                        self.pending.append((time.time() + self.delay, peer, data))
                        continue
                    if mode == "truncate":
                        left = self.pairs[s][1]
                        if len(data) >= left:
                            data = data[:left]
                            self.damaged += 1
                            self._send(peer, data)
                            self._drop_pair(s)
                            continue
                        self.pairs[s][1] = left - len(data)
                    if mode in ("duplicate", "drop") and self.damaged == 0 and len(data) > 64:
                        self.damaged += 1
                        if mode == "drop":
                            continue
                        data = data + data
                self._send(peer, data)
