"""A COCOON peer in Python: TL coding, proof of work, TLS 1.3 and framing as
Telegram's COCOON does them, for the conformance programs next to this file.

Every rule below is COCOON's, with the C++ it comes from (TelegramMessenger/
cocoon); where our C code does the same, that is a coincidence the programs
check, not an assumption they make.

Only the standard library; the TL schema is read from proto/*.tl with the
parser of src/tl/tlgen.py (the constructor ids are CRC-32 of the normalised
declarations, as COCOON's TL compiler computes them).
"""
import hashlib
import os
import queue
import secrets
import socket
import ssl
import struct
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "src", "tl"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import tlgen  # noqa: E402
import cocoonlib  # noqa: E402,F401  (re-exported for the programs)

VECTOR_ID = 0x1CB5C415
BOOL_TRUE, BOOL_FALSE = 0x997275B5, 0xBC799737

# tee/cocoon/pow.cpp: the server's challenge is magic ‖ difficulty ‖ 16-byte
# salt (24 bytes); the answer magic ‖ nonce (12 bytes).
POW_SERVER_MAGIC = 0x418E1291
POW_CLIENT_MAGIC = 0x01827319
# The zero basechain address, raw form (block::StdAddress::rserialize(false)
# of 0:000…0); any address COCOON can parse will do where we have none.
ZERO_ADDRESS = "0:" + "0" * 64


class ProtocolError(Exception):
    pass


# ---------------------------------------------------------------------- TL

class TL:
    """Boxed objects as dicts: {"_": "ctor.name", field: value, ...}.
    string/bytes are bytes (str is encoded as UTF-8), int256 is 32 bytes,
    Bool is bool, vectors are lists, objects nested dicts."""

    def __init__(self):
        ctors = []
        for name in sorted(os.listdir(os.path.join(ROOT, "proto"))):
            if name.endswith(".tl"):
                ctors += tlgen.parse_file(os.path.join(ROOT, "proto", name))
        self.schema = tlgen.Schema(ctors)
        self.by_id = {c.id: c for c in ctors}

    def id_of(self, name):
        return self.schema.by_name[name].id

    # ---- encoding
    def encode(self, obj):
        out = bytearray()
        self._boxed(out, obj)
        return bytes(out)

    def _boxed(self, out, obj):
        c = self.schema.by_name.get(obj.get("_"))
        if c is None:
            raise ProtocolError("unknown constructor %r" % obj.get("_"))
        out += struct.pack("<I", c.id)
        self._fields(out, c, obj)

    def _fields(self, out, c, obj):
        flags = {}
        for f in c.fields:
            if f.cond:
                if not flags[f.cond[0]] & (1 << f.cond[1]):
                    continue
            v = obj.get(f.name)
            if v is None:
                v = self._default(f.t)
            if f.t["k"] == "nat":
                flags[f.name] = v
            self._value(out, f.t, v)

    def _default(self, t):
        k = t["k"]
        if k in ("nat", "int", "long"):
            return 0
        if k == "double":
            return 0.0
        if k in ("string", "bytes"):
            return b""
        if k == "int256":
            return bytes(32)
        if k == "int128":
            return bytes(16)
        if k in ("bool", "true"):
            return False
        if k == "vec":
            return []
        raise ProtocolError("field of type %s needs a value" % t.get("tag"))

    def _value(self, out, t, v):
        k = t["k"]
        if k == "nat":
            out += struct.pack("<I", v)
        elif k == "int":
            out += struct.pack("<i", v)
        elif k == "long":
            out += struct.pack("<q", v)
        elif k == "double":
            out += struct.pack("<d", v)
        elif k in ("int128", "int256"):
            n = 16 if k == "int128" else 32
            if len(v) != n:
                raise ProtocolError("%s of %d bytes" % (k, len(v)))
            out += v
        elif k in ("string", "bytes"):
            if isinstance(v, str):
                v = v.encode()
            n = len(v)
            if n < 254:
                out += bytes([n]) + v
                pad = (4 - (n + 1) % 4) % 4
            else:
                out += bytes([254]) + struct.pack("<I", n)[:3] + v
                pad = (4 - n % 4) % 4
            out += bytes(pad)
        elif k == "bool":
            out += struct.pack("<I", BOOL_TRUE if v else BOOL_FALSE)
        elif k == "true":
            pass
        elif k == "vec":
            if t["boxed"]:
                out += struct.pack("<I", VECTOR_ID)
            out += struct.pack("<I", len(v))
            for e in v:
                self._value(out, t["elem"], e)
        elif k == "bare":
            self._fields(out, t["ctor"], v)
        elif k == "boxed":
            self._boxed(out, v)
        else:
            raise ProtocolError("unsupported type %r" % k)

    # ---- decoding
    def decode(self, data, expect=None):
        """Decodes one boxed object that must take all of data; expect: a
        constructor name or a tuple of them the caller accepts."""
        r = _Reader(data)
        obj = self._read_boxed(r)
        if r.pos != len(data):
            raise ProtocolError("%s: %d trailing bytes" % (obj["_"], len(data) - r.pos))
        if expect is not None:
            names = (expect,) if isinstance(expect, str) else expect
            if obj["_"] not in names:
                raise ProtocolError("expected %s, got %s" % ("/".join(names), obj["_"]))
        return obj

    def _read_boxed(self, r):
        cid = r.u32()
        c = self.by_id.get(cid)
        if c is None:
            raise ProtocolError("unknown constructor id %08x" % cid)
        obj = {"_": c.name}
        self._read_fields(r, c, obj)
        return obj

    def _read_fields(self, r, c, obj):
        for f in c.fields:
            if f.cond and not obj[f.cond[0]] & (1 << f.cond[1]):
                continue
            obj[f.name] = self._read_value(r, f.t)

    def _read_value(self, r, t):
        k = t["k"]
        if k == "nat":
            return r.u32()
        if k == "int":
            return struct.unpack("<i", r.take(4))[0]
        if k == "long":
            return struct.unpack("<q", r.take(8))[0]
        if k == "double":
            return struct.unpack("<d", r.take(8))[0]
        if k == "int128":
            return r.take(16)
        if k == "int256":
            return r.take(32)
        if k in ("string", "bytes"):
            n = r.take(1)[0]
            if n == 255:
                raise ProtocolError("bad string length byte 255")
            if n == 254:
                n = int.from_bytes(r.take(3), "little")
                v = r.take(n)
                r.take((4 - n % 4) % 4)
            else:
                v = r.take(n)
                r.take((4 - (n + 1) % 4) % 4)
            return v
        if k == "bool":
            v = r.u32()
            if v not in (BOOL_TRUE, BOOL_FALSE):
                raise ProtocolError("bad Bool %08x" % v)
            return v == BOOL_TRUE
        if k == "true":
            return True
        if k == "vec":
            if t["boxed"] and r.u32() != VECTOR_ID:
                raise ProtocolError("bad vector id")
            n = r.u32()
            if n > len(r.data):
                raise ProtocolError("vector of %d elements in %d bytes" % (n, len(r.data)))
            return [self._read_value(r, t["elem"]) for _ in range(n)]
        if k == "bare":
            obj = {"_": t["ctor"].name}
            self._read_fields(r, t["ctor"], obj)
            return obj
        if k == "boxed":
            obj = self._read_boxed(r)
            if self.schema.by_name[obj["_"]].result != t["type"]:
                raise ProtocolError("%s where %s was expected" % (obj["_"], t["type"]))
            return obj
        raise ProtocolError("unsupported type %r" % k)


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ProtocolError("truncated at byte %d (need %d more)" % (self.pos, n))
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]


tl = TL()


# ------------------------------------------------------------ proof of work

def pow_leading_zeros(salt, nonce):
    """tee/cocoon/pow.cpp leading_zero_bits: SHA-256(salt ‖ nonce as 8 LE
    bytes), the first 8 bytes of the hash read as a little-endian u64."""
    h = hashlib.sha256(salt + struct.pack("<q", nonce)).digest()
    v = struct.unpack("<Q", h[:8])[0]
    return 64 if v == 0 else 64 - v.bit_length()


def pow_solve(salt, difficulty):
    """pow.cpp PowSolveClient: nonces counted up from 0."""
    nonce = 0
    while pow_leading_zeros(salt, nonce) < difficulty:
        nonce += 1
    return nonce


def _read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ProtocolError("peer closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


# --------------------------------------------------------------- certificates

def make_cert(dirname, name="peer"):
    """A self-signed Ed25519 certificate, as COCOON's peers present outside a
    TEE (made by our `cocoon cert gen`, or openssl when it is not built)."""
    cert, key = os.path.join(dirname, name + ".crt"), os.path.join(dirname, name + ".key")
    try:
        subprocess.run([cocoonlib.binary("cocoon"), "cert", "gen", "--cert", cert, "--key", key],
                       check=True, capture_output=True)
    except (AssertionError, OSError, subprocess.CalledProcessError):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ed25519", "-keyout", key, "-out",
                        cert, "-days", "1", "-nodes", "-subj", "/CN=cocoon-peer"],
                       check=True, capture_output=True)
    return cert, key


# --------------------------------------------------------------------- link

class Link:
    """One connection as net/TcpConnection.cpp runs it: PoW, TLS, the
    tcp.connect hello, then tcp.Packet frames. Link.dial() is the connecting
    side (COCOON's client and worker), Link.accept() the listening one
    (COCOON's proxy). A reader thread answers tcp.ping (TcpConnection.cpp:308)
    and queues everything else."""

    MAX_POW_DIFFICULTY = 28  # tee/cocoon/FwdProxy.h:21 max_pow_difficulty

    @classmethod
    def dial(cls, host, port, cert, key, timeout=30.0):
        raw = socket.create_connection((host, port), timeout=cocoonlib.limit(timeout))
        # pow.cpp PowSolveClient: read the 24-byte challenge, check the magic
        # and the difficulty cap, answer magic ‖ nonce.
        ch = _read_exact(raw, 24)
        magic, difficulty = struct.unpack("<Ii", ch[:8])
        if magic != POW_SERVER_MAGIC:
            raise ProtocolError("PoW magic %08x" % magic)
        if not 0 <= difficulty <= cls.MAX_POW_DIFFICULTY:
            raise ProtocolError("PoW difficulty %d over the cap" % difficulty)
        raw.sendall(struct.pack("<Iq", POW_CLIENT_MAGIC, pow_solve(ch[8:24], difficulty)))
        # TLS 1.3 with our self-signed certificate; the peer's is not checked
        # here (RA-TLS verification is the attestation tests' subject).
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(cert, key)
        link = cls(ctx.wrap_socket(raw, server_hostname="cocoon"), timeout)
        link.pow_difficulty = difficulty
        # TcpConnection.cpp:129-133: the connecting side sends tcp.connect
        # with a random id first; :286 the first frame back must be
        # tcp.connected (COCOON does not compare the id; we do, as ours echoes it).
        cid = secrets.randbits(63)
        link._send_frame(tl.encode({"_": "tcp.connect", "id": cid}))
        first = tl.decode(link._read_frame(), "tcp.connected")
        if first["id"] != cid:
            raise ProtocolError("tcp.connected id %d, sent %d" % (first["id"], cid))
        link._start()
        return link

    @classmethod
    def accept(cls, raw, cert, key, difficulty, timeout=30.0):
        """The server side of one accepted socket: pow.cpp PowVerifyServer
        (challenge out, exactly 12 bytes in, magic and nonce checked), TLS,
        then TcpConnection.cpp:291-296 (tcp.connect in, tcp.connected out
        with the same id)."""
        raw.settimeout(cocoonlib.limit(timeout))
        salt = secrets.token_bytes(16)
        raw.sendall(struct.pack("<Ii", POW_SERVER_MAGIC, difficulty) + salt)
        magic, nonce = struct.unpack("<Iq", _read_exact(raw, 12))
        if magic != POW_CLIENT_MAGIC:
            raise ProtocolError("PoW answer magic %08x" % magic)
        if pow_leading_zeros(salt, nonce) < difficulty:
            raise ProtocolError("PoW answer does not solve the challenge")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(cert, key)
        # The peer's certificate is not asked for: Python's ssl cannot take a
        # self-signed one without checking it against a CA, and attestation is
        # not what this suite tests.
        ctx.verify_mode = ssl.CERT_NONE
        link = cls(ctx.wrap_socket(raw, server_side=True), timeout)
        first = tl.decode(link._read_frame(), "tcp.connect")
        link._send_frame(tl.encode({"_": "tcp.connected", "id": first["id"]}))
        link._start()
        return link

    def __init__(self, tls_sock, timeout):
        # Limits on waiting for the peer, scaled for loaded machines as every
        # wait of the integration helpers is (cocoonlib.limit).
        self.timeout = cocoonlib.limit(timeout)
        self.s = tls_sock
        self.s.settimeout(None)
        self.out_seqno = 0
        self.in_seqno = 0
        self.lock = threading.Lock()
        self.inbox = queue.Queue()
        self.closed = threading.Event()
        self.close_reason = None
        self.pongs = queue.Queue()
        self.pow_difficulty = None

    def _start(self):
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()

    # TcpConnection.cpp:141-163: u32le length (4..2^24) ‖ i32le seqno ‖ data,
    # one counter per direction from 0.
    def _send_frame(self, data):
        if not 4 <= len(data) <= 1 << 24:
            raise ProtocolError("frame of %d bytes" % len(data))
        with self.lock:
            self.s.sendall(struct.pack("<Ii", len(data), self.out_seqno) + data)
            self.out_seqno += 1

    def _read_frame(self):
        n, seqno = struct.unpack("<Ii", _read_exact(self.s, 8))
        # TcpConnection.cpp:200-218: length and seqno checks.
        if n > 1 << 24 or n < 4:
            raise ProtocolError("frame length %d" % n)
        if seqno != self.in_seqno:
            raise ProtocolError("bad seqno: expected %d got %d" % (self.in_seqno, seqno))
        self.in_seqno += 1
        return _read_exact(self.s, n)

    def _read_loop(self):
        try:
            while True:
                p = tl.decode(self._read_frame())
                if p["_"] == "tcp.ping":
                    self._send_frame(tl.encode({"_": "tcp.pong", "id": p["id"]}))
                elif p["_"] == "tcp.pong":
                    self.pongs.put(p["id"])
                elif p["_"] in ("tcp.connect", "tcp.connected"):
                    raise ProtocolError("%s after the hello" % p["_"])
                else:
                    self.inbox.put(p)
        except Exception as e:  # EOF, reset, or a violation: the link is over
            self.close_reason = e
            self.closed.set()
            self.inbox.put(None)

    # ---- traffic
    def send_packet(self, obj):
        self._send_frame(tl.encode({"_": "tcp.packet", "data": tl.encode(obj)}))

    def ping(self, timeout=None):
        pid = secrets.randbits(63)
        self._send_frame(tl.encode({"_": "tcp.ping", "id": pid}))
        got = self.pongs.get(timeout=cocoonlib.limit(timeout) if timeout else self.timeout)
        if got != pid:
            raise ProtocolError("tcp.pong id %d for ping %d" % (got, pid))

    def next(self, timeout=None):
        """The next tcp.packet / tcp.query / answer, as a dict; None when the
        link closed."""
        limit = cocoonlib.limit(timeout) if timeout else self.timeout
        try:
            return self.inbox.get(timeout=limit)
        except queue.Empty:
            raise ProtocolError("nothing from the peer within %.0f s" % limit)

    def next_packet(self, timeout=None):
        """The next tcp.packet's payload, decoded."""
        p = self.next(timeout)
        if p is None:
            raise ProtocolError("link closed: %r" % self.close_reason)
        if p["_"] != "tcp.packet":
            raise ProtocolError("expected tcp.packet, got %s" % p["_"])
        return tl.decode(p["data"])

    def query(self, obj, expect=None, timeout=None):
        """tcp.query → (result dict, None) or (None, (code, message))."""
        qid = secrets.randbits(63)
        self._send_frame(tl.encode({"_": "tcp.query", "id": qid, "data": tl.encode(obj)}))
        p = self.next(timeout)
        if p is None:
            raise ProtocolError("link closed under a query: %r" % self.close_reason)
        if p["_"] not in ("tcp.queryAnswer", "tcp.queryError") or p["id"] != qid:
            raise ProtocolError("expected the answer to query %d, got %r" % (qid, p))
        if p["_"] == "tcp.queryError":
            return None, (p["code"], p["message"].decode(errors="replace"))
        return tl.decode(p["data"], expect), None

    def answer(self, qid, obj):
        self._send_frame(tl.encode({"_": "tcp.queryAnswer", "id": qid, "data": tl.encode(obj)}))

    def answer_error(self, qid, code, message):
        self._send_frame(tl.encode({"_": "tcp.queryError", "id": qid, "code": code,
                                    "message": message}))

    def close(self):
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.s.close()
        self.closed.wait(10)


# ------------------------------------------------------------------ helpers

def parse_std_address(b):
    """What block::StdAddress::parse takes that we need: the raw form
    "wc:64 hex digits" or a 48-character user-friendly form. Raises on
    anything else, as COCOON's TRY_RESULT(... StdAddress::parse ...) does."""
    s = b.decode() if isinstance(b, bytes) else b
    if ":" in s:
        wc, h = s.split(":", 1)
        int(wc)
        if len(h) != 64:
            raise ProtocolError("address %r: hash is not 64 hex digits" % s)
        bytes.fromhex(h)
        return s
    if len(s) == 48:
        import base64
        raw = base64.urlsafe_b64decode(s.replace("+", "-").replace("/", "_"))
        if len(raw) != 36:
            raise ProtocolError("address %r" % s)
        return s
    raise ProtocolError("address %r does not parse" % s)


def http_request(method, url, body=b"", headers=()):
    """An http.request as COCOON's client wraps one (ClientRunningRequest.cpp:
    the OpenAI request with its headers and a Content-Length)."""
    hdrs = [{"_": "http.header", "name": k, "value": v} for k, v in headers]
    if body:
        hdrs.append({"_": "http.header", "name": "Content-Length", "value": str(len(body))})
    return tl.encode({"_": "http.request", "method": method, "url": url, "http_version": "HTTP/1.1",
                      "headers": hdrs, "payload": body})


def wait_until(fn, timeout, what):
    return cocoonlib.wait_until(fn, timeout, what)


log = cocoonlib.log
check = cocoonlib.check
check_eq = cocoonlib.check_eq
fail = cocoonlib.fail
