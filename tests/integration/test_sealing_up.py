#!/usr/bin/env python3
"""Done-when of issue #11: after requests through `cocoon up` (which seals,
"required"), a random marker sent in the prompts appears nowhere in the
proxy's memory, read through /proc/PID/maps and /proc/PID/mem of our own
descendant (same uid; no Yama here, else ptrace_scope must be 0 or 1 with us
as an ancestor). The control: the same scan finds a marker sent through the
same proxy by a client with sealing off, so a miss means "not there", not a
blind scanner."""
import base64
import json
import os
import re
import secrets
import signal
import threading

from cocoonlib import (Proc, Stream, binary, check, check_eq, children_of, cocoon, free_port, http,
                       http_json, limit, log, run, tmpdir, wait_until, write_json)


# Mappings larger than this are a sanitizer's shadow memory (terabytes
# reserved, never the heap); everything else is read in full.
SHADOW_SIZE = 64 << 30
CHUNK = 16 << 20


def memory_holds(pid, needle):
    """True when needle is in any readable mapping of pid (read in chunks
    that overlap by len(needle) - 1, so no match is cut in two)."""
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            if not m or m.group(3)[0] != "r" or "[vvar]" in line or "[vsyscall]" in line:
                continue
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            if end - start > SHADOW_SIZE:
                continue
            pos, tail = start, b""
            while pos < end:
                try:
                    mem.seek(pos)
                    chunk = mem.read(min(CHUNK, end - pos))
                except (OSError, OverflowError, ValueError):
                    break
                if not chunk:
                    break
                if needle in tail + chunk:
                    return True
                tail = chunk[-(len(needle) - 1):]
                pos += len(chunk)
    return False


def ask(marker, stream=False):
    return {"model": "fake-model", "stream": stream, "max_tokens": 4,
            "messages": [{"role": "user", "content": "remember %s please" % marker}]}


def main(holder):
    work = tmpdir("cocoon-sealing-up-")
    port = free_port()
    d = os.path.join(work, "up")
    up = Proc("up", [binary("cocoon"), "up", "--port", str(port), "--dir", d, "--backend",
                     "openai-http"], work, capture_stdout=True)
    up.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=120)
    kids = children_of(up.pid)
    proxy = [k for k in kids if "cocoon-proxy" in open("/proc/%d/cmdline" % k).read()]
    check_eq(len(proxy), 1, "one proxy child")
    proxy = proxy[0]
    with open(os.path.join(d, "client.json")) as f:
        ccfg = json.load(f)
    check_eq(ccfg.get("sealing"), "required", "cocoon up's client requires sealing")

    sealed_marker = "SEALED-" + secrets.token_hex(12)
    for i in range(3):
        st, hdrs, data = http(port, "POST", "/v1/chat/completions", ask(sealed_marker))
        check_eq(st, 200, "sealed request %d (%r)" % (i, data[:200]))
        check_eq(hdrs.get("x-cocoon-sealing"), "on", "request %d was sealed" % i)

    # The evidence: GET /v1/attestation names the worker of the header, with
    # its certificate; `cocoon receipt verify` checks the chain offline.
    st, att = http_json(port, "GET", "/v1/attestation")
    check_eq(st, 200, "GET /v1/attestation")
    check_eq(att["sealing"], "required", "attestation: sealing mode")
    check(att["proxies"][0]["quote_verified"], "attestation: the proxy's quote verified")
    ws = [w for w in att["workers"] if w["certificate_hash"] == hdrs["x-cocoon-worker"]]
    check_eq(len(ws), 1, "attestation lists the worker that served")
    check(ws[0]["quote_verified"] and len(ws[0]["image_hash"]) == 64,
          "attestation: the worker's quote verified, with its image hash")
    root = os.path.join(d, ccfg["fake_root"])
    evidence = {"receipt": hdrs["x-cocoon-receipt"], "certificate": ws[0]["certificate"]}
    ev = write_json(os.path.join(work, "evidence.json"), evidence)
    code, out, err = cocoon("receipt", "verify", ev, "--policy", "fake", "--fake-root", root,
                            "--registry", os.path.join(d, "registry.json"))
    check_eq(code, 0, "cocoon receipt verify accepts the evidence (%s)" % err.strip())
    check_eq(json.loads(out)["certificate_hash"], hdrs["x-cocoon-worker"], "verified worker")
    raw = bytearray(base64.b64decode(evidence["receipt"]))
    raw[200] ^= 1  # total_tokens, after signing
    evidence["receipt"] = base64.b64encode(bytes(raw)).decode()
    write_json(ev, evidence)
    code, out, err = cocoon("receipt", "verify", ev, "--policy", "fake", "--fake-root", root)
    check_eq(code, 1, "a receipt with a changed count is refused")
    check("signature" in err, "... for its signature (%s)" % err.strip())
    log("evidence: /v1/attestation and cocoon receipt verify")

    # Answers that end in the same turn of the worker's loop share one
    # signature (a Merkle batch): a burst of concurrent sealed requests all
    # get a receipt that verifies alone, and a batch receipt with a changed
    # path byte is refused.
    results = [None] * 24

    def one(i):
        results[i] = http(port, "POST", "/v1/chat/completions", ask("burst-%d" % i))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(limit(60))
    receipts = []
    for i, res in enumerate(results):
        check(res is not None, "burst request %d answered" % i)
        st, h, data = res
        check_eq(st, 200, "burst request %d (%r)" % (i, data[:200]))
        receipts.append((base64.b64decode(h["x-cocoon-receipt"]), h["x-cocoon-worker"]))
    batched = [r for r in receipts if r[0][:8] == b"CCRCPT02"]
    check(all(r[0][:8] in (b"CCRCPT01", b"CCRCPT02") for r in receipts), "receipt magics")
    for raw, _ in batched[:3] + [r for r in receipts if r[0][:8] == b"CCRCPT01"][:1]:
        evidence = {"receipt": base64.b64encode(raw).decode(), "certificate": ws[0]["certificate"]}
        write_json(ev, evidence)
        code, out, err = cocoon("receipt", "verify", ev, "--policy", "fake", "--fake-root", root)
        check_eq(code, 0, "a %s receipt of the burst verifies alone (%s)" % (raw[:8], err.strip()))
    if batched:
        raw = bytearray(batched[0][0])
        raw[-64 - 1] ^= 1  # the last byte of its path
        write_json(ev, {"receipt": base64.b64encode(bytes(raw)).decode(),
                        "certificate": ws[0]["certificate"]})
        code, out, err = cocoon("receipt", "verify", ev, "--policy", "fake", "--fake-root", root)
        check_eq(code, 1, "a batch receipt with a changed path is refused (%s)" % err.strip())
    log("burst of %d sealed requests: %d batch receipts, all verify" % (len(receipts), len(batched)))

    # A worker restart (new sealing keys, new certificate, no sessions): the
    # next request goes through at once, sealed to the new worker; the
    # client re-asks for candidates and re-encapsulates by itself.
    def models_workers():
        st, m = http_json(port, "GET", "/v1/models", timeout=2)
        return m["data"][0]["cocoon"]["workers"] if st == 200 and m["data"] else 0

    old_worker = hdrs["x-cocoon-worker"]
    worker = [k for k in children_of(up.pid)
              if "cocoon-worker" in open("/proc/%d/cmdline" % k).read()]
    check_eq(len(worker), 1, "one worker child")
    os.kill(worker[0], signal.SIGKILL)
    wait_until(lambda: models_workers() == 0, 30, "the proxy sees the worker gone")
    wait_until(lambda: models_workers() == 1, 60, "the restarted worker is back")
    st, hdrs, data = http(port, "POST", "/v1/chat/completions", ask(sealed_marker))
    check_eq(st, 200, "sealed request after the worker restarted (%r)" % data[:200])
    check_eq(hdrs.get("x-cocoon-sealing"), "on", "still sealed")
    check(hdrs.get("x-cocoon-worker") not in (None, old_worker), "sealed to the new certificate")
    log("worker restart: the next sealed request went through at once")
    s = Stream(port, "/v1/chat/completions", ask(sealed_marker, stream=True))
    check_eq(s.status, 200, "sealed stream")
    s.read_all()
    check(not memory_holds(proxy, sealed_marker.encode()),
          "the sealed prompt's marker is nowhere in the proxy's memory")
    log("marker of 5 sealed requests absent from the proxy's memory")

    # Control: a plain client on the same proxy; its marker is found.
    ccfg["sealing"] = "off"
    plain_port = free_port()
    ccfg["listen_http"] = "127.0.0.1:%d" % plain_port
    path = write_json(os.path.join(d, "client-plain.json"), ccfg)
    Proc("client-plain", [binary("cocoon-client"), "--config", path], d)
    wait_until(lambda: http(plain_port, "GET", "/v1/models", timeout=2)[0] == 200, 30,
               "plain client ready")
    plain_marker = "PLAIN-" + secrets.token_hex(12)
    st, hdrs, _ = http(plain_port, "POST", "/v1/chat/completions", ask(plain_marker))
    check_eq(st, 200, "plain request")
    check_eq(hdrs.get("x-cocoon-sealing"), "off", "the control request was plain")
    check(memory_holds(proxy, plain_marker.encode()),
          "the scan finds a plain prompt's marker in the proxy (the scanner sees the heap)")
    check(not memory_holds(proxy, sealed_marker.encode()), "still no sealed marker")
    log("control: a plain prompt's marker is found by the same scan")
    up.signal(signal.SIGTERM)
    up.p.wait(limit(20))


if __name__ == "__main__":
    run(main)
