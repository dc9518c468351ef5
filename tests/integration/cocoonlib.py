"""Shared helpers for the network integration tests (Python standard library only).

Start real programs from $COCOON_BIN_DIR on free loopback ports, wait for their
output, make HTTP calls with http.client, and clean everything up at exit.

Every wait here follows an event (a line printed, a port answering, a /jsonstats
state) and gives up only after a limit. The limits are written for a quiet
machine and multiplied by $COCOON_TEST_TIMEOUT_SCALE (default 4): the suite
runs beside other builds on a loaded 2-core machine, sanitizer builds start
programs several times slower, and a wait that is met returns at once, so a
generous limit costs nothing when the test passes.
"""
import atexit
import fcntl
import hashlib
from http import client as httpclient
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

BIN_DIR = os.path.abspath(os.environ.get("COCOON_BIN_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "bin"))

_procs = []
_tmpdirs = []


def _timeout_scale():
    text = os.environ.get("COCOON_TEST_TIMEOUT_SCALE", "4")
    try:
        v = float(text)
    except ValueError:
        v = 0
    if v <= 0:
        raise SystemExit("COCOON_TEST_TIMEOUT_SCALE must be a positive number, not %r" % text)
    return v


TIMEOUT_SCALE = _timeout_scale()


def limit(seconds):
    """A time limit for waiting on an event, scaled for loaded machines."""
    return seconds * TIMEOUT_SCALE


def log(*a):
    print("[%s]" % time.strftime("%H:%M:%S"), *a, flush=True)


def fail(msg):
    raise AssertionError(msg)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def check_eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def binary(name):
    path = os.path.join(BIN_DIR, name)
    if not os.access(path, os.X_OK):
        fail("program %s not found in %s (set COCOON_BIN_DIR)" % (name, BIN_DIR))
    return path


def tmpdir(prefix="cocoon-test-"):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


_PORT_LOCKS = []  # lock files of the ports this process handed out, held until it exits


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A loopback port for a daemon to bind later. The kernel's bind(0) would
    give one from the ephemeral range, where any outgoing connection of a test
    running beside this one may take it before the daemon binds it. So the
    port comes from the 8192 ports just below that range (`cocoon up` picks
    from the 8192 below these), and a lock file that every test honours
    reserves it until this process exits."""
    hi = _ephemeral_low()
    lo = hi - 8192
    if lo < 1024:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    lock_dir = os.path.join(tempfile.gettempdir(), "cocoon-test-ports")
    os.makedirs(lock_dir, exist_ok=True)
    for _ in range(1000):
        port = random.randrange(lo, hi)
        fd = os.open(os.path.join(lock_dir, str(port)), os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                os.close(fd)
                continue
        _PORT_LOCKS.append(fd)
        return port
    raise RuntimeError("no free loopback port between %d and %d" % (lo, hi))


def wait_until(fn, timeout=20.0, what="condition", interval=0.05):
    """Polls fn until it returns a true value (returned); fails after the
    (scaled) limit. Exceptions count as "not yet"."""
    timeout = limit(timeout)
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # the service may not be up yet
            last = e
        time.sleep(interval)
    fail("timed out after %.0f s waiting for %s (last error: %r)%s" % (timeout, what, last,
                                                                    _exited_report()))


def _exited_report():
    """The programs started through Proc that have exited, with their logs'
    last lines: a wait that times out often means one of them died at start."""
    out = ""
    for p in _procs:
        if not p.alive():
            out += "\n%s exited with status %s; its log ends:\n%s" % (
                p.name, p.p.returncode, p.log_tail(8))
    return out


class Proc:
    """A child program with its stderr in a log file and stdout readable line by line."""

    def __init__(self, name, args, workdir, capture_stdout=False):
        self.name = name
        self.log_path = os.path.join(workdir, name + ".log")
        self.logf = open(self.log_path, "ab")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE if capture_stdout else self.logf,
                                  stderr=self.logf, stdin=subprocess.DEVNULL, cwd=workdir)
        _procs.append(self)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def wait_line(self, pattern, timeout=15.0):
        """Reads stdout until a line matches; returns the match."""
        timeout = limit(timeout)
        rx = re.compile(pattern)
        end = time.time() + timeout
        fd = self.p.stdout.fileno()
        os.set_blocking(fd, False)
        buf = b""
        while time.time() < end:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                break
            if chunk:
                buf += chunk
                for line in buf.decode(errors="replace").splitlines():
                    m = rx.search(line)
                    if m:
                        return m
            else:
                time.sleep(0.02)
        fail("%s: no line matching %r within %.0f s; output %r; log tail:\n%s" %
             (self.name, pattern, timeout, buf[-500:], self.log_tail()))

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def kill(self):
        if self.alive():
            self.p.kill()
            self.p.wait(limit(10))

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL when the program has not exited within the
        (scaled) limit; a sanitizer build's leak check runs at exit."""
        if self.alive():
            self.p.terminate()
            try:
                self.p.wait(limit(timeout))
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        return self.p.returncode


def _cleanup():
    for p in reversed(_procs):
        try:
            p.stop(5)
        except Exception:
            pass
    if os.environ.get("COCOON_KEEP_TMP"):
        return
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def _on_term(sig, frame):
    sys.exit(1)


signal.signal(signal.SIGTERM, _on_term)


# --------------------------------------------------------------------- HTTP

def http(port, method, path, body=None, headers=None, timeout=30.0):
    """Returns (status, headers dict lower-case, body bytes)."""
    c = httpclient.HTTPConnection("127.0.0.1", port, timeout=limit(timeout))
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def http_json(port, method, path, body=None, timeout=30.0):
    st, _, data = http(port, method, path, body, timeout=timeout)
    try:
        return st, json.loads(data)
    except ValueError:
        fail("%s %s: status %d, body is not JSON: %r" % (method, path, st, data[:300]))


def sse_events(raw):
    """Splits an SSE body into the data payloads of its events."""
    out = []
    for block in raw.decode().split("\n\n"):
        lines = [l[5:].lstrip() for l in block.split("\n") if l.startswith("data:")]
        if lines:
            out.append("\n".join(lines))
    return out


class Stream:
    """A streamed POST read incrementally (what an SSE client does)."""

    def __init__(self, port, path, body, timeout=30.0):
        self.c = httpclient.HTTPConnection("127.0.0.1", port, timeout=limit(timeout))
        self.c.request("POST", path, body=json.dumps(body).encode(),
                       headers={"Content-Type": "application/json"})
        self.r = self.c.getresponse()
        self.status = self.r.status
        self.data = b""

    def read_some(self):
        """Returns the next bytes (b'' at the end of the stream)."""
        chunk = self.r.read1(65536)
        self.data += chunk
        return chunk

    def read_all(self):
        while True:
            try:
                if not self.read_some():
                    break
            except httpclient.IncompleteRead as e:
                self.data += e.partial
                break
        self.c.close()
        return self.data

    def close(self):
        self.c.close()


# ----------------------------------------------------------------- network

def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
    return path


class Network:
    """client -> proxy -> workers -> fake backends, each on free loopback ports."""

    def __init__(self, name="net", pow_difficulty=4):
        self.dir = tmpdir("cocoon-%s-" % name)
        self.pow = pow_difficulty
        self.backends = []  # (Proc, port)
        self.workers = []   # (Proc, http_port)
        self.proxy = None
        self.client = None

    def start_backend(self, model="fake-model", chunks=50, chunk_bytes=128):
        i = len(self.backends)
        p = Proc("backend-%d" % i, [binary("cocoon-fake-backend"), "--port", "0", "--model", model,
                                    "--chunks", str(chunks), "--chunk-bytes", str(chunk_bytes)],
                 self.dir, capture_stdout=True)
        port = int(p.wait_line(r"listening (\d+)").group(1))
        self.backends.append((p, port))
        return port

    def start_proxy(self, request_timeout=60, extra=None):
        self.worker_port, self.client_port, self.stats_port = free_port(), free_port(), free_port()
        write_json(os.path.join(self.dir, "registry.json"), {
            "proxy_image_hashes": "any", "worker_image_hashes": "any", "model_hashes": "any"})
        pcfg = {"listen_workers": "127.0.0.1:%d" % self.worker_port,
                "listen_clients": "127.0.0.1:%d" % self.client_port,
                "listen_http": "127.0.0.1:%d" % self.stats_port,
                "registry": "registry.json",
                "pow_difficulty": self.pow,
                "request_timeout": request_timeout,
                # its signing key (and ledger) outlive a restart: workers
                # refuse a proxy whose key changed, as COCOON's do
                "state_dir": "proxy-state",
                "log_level": "debug"}
        pcfg.update(extra or {})
        cfg = write_json(os.path.join(self.dir, "proxy.json"), pcfg)
        self.proxy = Proc("proxy", [binary("cocoon-proxy"), "--config", cfg], self.dir)
        wait_until(lambda: http(self.stats_port, "GET", "/healthz", timeout=2)[0] == 200, 15,
                   "proxy stats port")

    def start_worker(self, backend_port, model="fake-model", extra=None):
        i = len(self.workers)
        hport = free_port()
        cfg = {"proxies": ["127.0.0.1:%d" % self.worker_port],
               "listen_http": "127.0.0.1:%d" % hport,
               "backend": "openai-http",
               "backend_url": "http://127.0.0.1:%d" % backend_port,
               "model": model,
               "health_interval": 0.3,
               "reconnect_min": 0.1, "reconnect_max": 1,
               "log_level": "debug"}
        cfg.update(extra or {})
        path = write_json(os.path.join(self.dir, "worker-%d.json" % i), cfg)
        p = Proc("worker-%d" % i, [binary("cocoon-worker"), "--config", path], self.dir)
        self.workers.append((p, hport))
        return p, hport

    def start_client(self, proxies=None, extra=None, name="client"):
        self.http_port = free_port()
        cfg = {"listen_http": "127.0.0.1:%d" % self.http_port,
               "proxies": proxies or ["127.0.0.1:%d" % self.client_port],
               "request_timeout": 60,
               "max_body": 65536,
               "reconnect_min": 0.1, "reconnect_max": 1,
               "log_level": "debug"}
        cfg.update(extra or {})
        path = write_json(os.path.join(self.dir, name + ".json"), cfg)
        self.client = Proc(name, [binary("cocoon-client"), "--config", path], self.dir)
        return self.http_port

    def proxy_stats(self):
        st, j = http_json(self.stats_port, "GET", "/jsonstats", timeout=5)
        check_eq(st, 200, "proxy /jsonstats status")
        return j

    def wait_workers(self, n, enabled=None, timeout=20):
        def ok():
            ws = self.proxy_stats()["workers"]
            if enabled is None:
                return len(ws) == n
            return sum(1 for w in ws if w["enabled"]) == enabled and len(ws) == n
        wait_until(ok, timeout, "%d workers at the proxy" % n)

    def wait_client(self, timeout=20):
        """Until the client's HTTP port accepts connections (start_client does
        not wait; a sanitizer build starts slowly). A bare connect, so that no
        request shows in the client's counters."""
        def accepts():
            socket.create_connection(("127.0.0.1", self.http_port), timeout=limit(5)).close()
            return True
        wait_until(accepts, timeout, "the client's HTTP listener")

    def wait_models(self, model="fake-model", timeout=20):
        def ok():
            st, j = http_json(self.http_port, "GET", "/v1/models", timeout=5)
            return st == 200 and any(m["id"] == model for m in j["data"])
        wait_until(ok, timeout, "model %s at the client" % model)

    def dump_logs(self):
        for p in _procs:
            print("----- %s (%s)" % (p.name, p.log_path))
            print(p.log_tail(40))


# --------------------------------------------------------------- fake TEE
# The set-up the attestation tests share: a fake TEE root, the image hashes a
# registry must list, and polling a daemon's /jsonstats.

def cocoon(*args, timeout=60):
    """Runs `cocoon ARGS...`; returns (exit code, stdout, stderr)."""
    r = subprocess.run([binary("cocoon"), *args], capture_output=True, text=True,
                       timeout=limit(timeout))
    return r.returncode, r.stdout, r.stderr


def init_fake_root(d):
    """Creates a fake TEE root (certificate and key) in folder d; returns d."""
    rc, _, err = cocoon("tee", "init-fake-root", "--dir", d)
    if rc != 0:
        fail("cocoon tee init-fake-root --dir %s: %s" % (d, err))
    return d


def image_hash(exe, role, config):
    """The fake-TEE image hash of exe started as role with config: RTMR1
    measures the executable, RTMR2 the daemon's measured settings."""
    rc, out, err = cocoon("tee", "fake-image-hash", "--exe", exe, "--role", role, "--config",
                          config)
    if rc != 0:
        fail("cocoon tee fake-image-hash %s: %s" % (exe, err))
    return out.strip()


def shared_model(name="stories260K.gguf"):
    """A model of the shared test data (`$COCOON_SHARED/models`, by default
    ../shared beside the source tree)."""
    shared = os.environ.get("COCOON_SHARED") or os.path.join(
        os.environ.get("COCOON_SOURCE_DIR", "."), "..", "shared")
    return os.path.abspath(os.path.join(shared, "models", name))


def model_hash(name):
    """A served model's registry hash (the SHA-256 of its name)."""
    return hashlib.sha256(name.encode()).hexdigest()


def wait_for(pred, timeout=20.0, interval=0.1):
    """Like wait_until, but returns None after the (scaled) limit instead of
    failing, for tests that collect their checks."""
    end = time.time() + limit(timeout)
    while time.time() < end:
        try:
            v = pred()
        except Exception:  # the service may not be up yet
            v = None
        if v:
            return v
        time.sleep(interval)
    report = _exited_report()
    if report:
        print("wait_for timed out after %.0f s;%s" % (limit(timeout), report), flush=True)
    return None


def children_of(pid):
    """PIDs whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def proc_comm(pid):
    """A process's name (/proc/PID/comm), "" once it is gone."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def client_contract(port):
    """The client's contract at its first proxy from its /jsonstats, or None."""
    j = jsonstats(port)
    if not j:
        return None
    ps = j["payments"]["proxies"]
    return ps[0].get("contract") if ps else None


def jsonstats(port):
    """A daemon's /jsonstats as a dict, or None while it does not answer."""
    try:
        st, _, data = http(port, "GET", "/jsonstats", timeout=2)
        return json.loads(data) if st == 200 else None
    except (OSError, ValueError, httpclient.HTTPException):
        return None


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


class Checks:
    """Checks that are collected rather than stopping the test at the first
    failure: check(cond, what, detail) prints ok/FAIL; exit_code() sums up."""

    def __init__(self):
        self.failures = []

    def __call__(self, cond, what, detail=""):
        if cond:
            print("ok   %s" % what, flush=True)
        else:
            print("FAIL %s\n%s" % (what, detail), flush=True)
            self.failures.append(what)
        return cond

    def exit_code(self):
        if self.failures:
            print("%d check(s) failed" % len(self.failures))
            return 1
        print("all checks passed")
        return 0


# What a sanitizer build (COCOON_SANITIZE) writes to a program's stderr when it
# finds a bug. A daemon's report would otherwise go unseen: the daemons' exit
# statuses are not looked at, and leaks are reported only at exit.
SANITIZER_REPORTS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer",
                     b"SUMMARY: UndefinedBehaviorSanitizer", b": runtime error: ")


def stop_all_and_check_sanitizers():
    """Stops every program still running (SIGTERM, so leak checks run at exit)
    and fails when any program's log holds a sanitizer report."""
    for p in reversed(_procs):
        try:
            p.stop(15)
        except Exception:
            pass
    # Our programs' logs, and every other log in the test's directories (the
    # children of `cocoon up` write theirs there).
    logs = [(p.name, p.log_path) for p in _procs]
    for d in _tmpdirs:
        for root, _, files in os.walk(d):
            logs += [(f, os.path.join(root, f)) for f in sorted(files) if f.endswith(".log")]
    for name, path in logs:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        for pattern in SANITIZER_REPORTS:
            i = data.find(pattern)
            if i >= 0:
                fail("%s: sanitizer report in %s:\n%s" % (
                    name, path, data[max(0, i - 200):i + 3000].decode(errors="replace")))


def run(main):
    """Runs a test's main(), printing the daemons' logs when it fails; then
    stops the programs and fails on any sanitizer report in their logs."""
    net_holder = []
    try:
        main(net_holder)
        stop_all_and_check_sanitizers()
    except BaseException:
        for n in net_holder:
            n.dump_logs()
        raise
    log("PASS")


# ------------------------------------------------------------ cocoon up's proxy

def up_proxy_back(proxy_http):
    """`cocoon up`'s proxy answers its stats port and has read its wallet and contract."""
    try:
        s = jsonstats(proxy_http)
    except OSError:
        return False
    return s["onchain"]["contract"]["known"] and s["onchain"]["wallet"]["known"]


def up_kill_proxy(d):
    """SIGKILL `cocoon up`'s proxy (in folder d; up restarts it) and wait until it is gone."""
    pid = up_proxy_pid(d)
    os.kill(pid, signal.SIGKILL)

    def gone():
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return True
    wait_until(gone, timeout=30, what="the killed proxy gone")


def up_proxy_pid(d):
    """The cocoon-proxy process whose config is in d."""
    cfg = os.path.join(d, "proxy.json")
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            argv = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"cocoon-proxy") and cfg.encode() in argv:
            return int(p)
    raise AssertionError("no cocoon-proxy running with %s" % cfg)


# ------------------------------------------------------------- raw protocol

POW_SERVER_MAGIC = 0x418e1291
POW_CLIENT_MAGIC = 0x01827319


def pow_ok(salt, difficulty, nonce):
    h = hashlib.sha256(salt + struct.pack("<q", nonce)).digest()
    v = struct.unpack("<Q", h[:8])[0]
    zeros = 64 if v == 0 else 64 - v.bit_length()
    return zeros >= difficulty


def pow_solve(salt, difficulty, want=True):
    nonce = 0
    while pow_ok(salt, difficulty, nonce) != want:
        nonce += 1
    return nonce


def read_challenge(sock):
    data = b""
    while len(data) < 24:
        chunk = sock.recv(24 - len(data))
        if not chunk:
            fail("server closed before its PoW challenge")
        data += chunk
    magic, difficulty = struct.unpack("<Ii", data[:8])
    check_eq(magic, POW_SERVER_MAGIC, "PoW challenge magic")
    return difficulty, data[8:24]


def closed_by_peer(sock, timeout=5.0):
    """True when the peer closes (EOF or reset) within the (scaled) timeout."""
    sock.settimeout(limit(timeout))
    try:
        while True:
            d = sock.recv(4096)
            if not d:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    except OSError:
        return True
