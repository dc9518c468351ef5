#!/usr/bin/env python3
"""Attested links over real TLS with the fake TEE (DESIGN §5): a proxy with
policy `fake` and a registry listing the genuine worker image hash accepts a
worker started from the genuine binary and refuses one started from a copy
changed by one byte (log + /jsonstats); a worker without a quote is refused
in the TLS handshake; a proxy with policy `tdx` refuses a fake-TEE worker; a
client whose registry lists the proxy's image gets an answer through the
attested proxy and worker, and a client whose registry does not list it
refuses the proxy in the handshake and sends it nothing."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

from cocoonlib import (BIN_DIR as BIN, Checks, free_port, image_hash, init_fake_root, jsonstats,
                       limit, model_hash, read_text as read, wait_for, write_json)

check = Checks()
failures = check.failures
procs = []


def start(exe, args, log):
    f = open(log, "w")
    p = subprocess.Popen([exe, *args], stdout=f, stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=limit(10))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main():
    for name in ("cocoon", "cocoon-proxy", "cocoon-worker", "cocoon-client", "cocoon-fake-backend"):
        if not os.path.exists(os.path.join(BIN, name)):
            print(f"{name} not built in {BIN}")
            return 1
    tmp = tempfile.mkdtemp(prefix="cocoon-tee-links-")
    try:
        return run(tmp)
    finally:
        # Programs that ended before the end of the test (one that died at
        # start explains every wait after it); printed last, where a cut
        # output still shows them.
        ended = [(" ".join(os.path.basename(a) for a in p.args[:3]), p.returncode)
                 for p in procs if p.poll() is not None]
        for p in procs:
            stop(p)
        if failures:
            for log in sorted(os.listdir(tmp)):
                if log.endswith(".log"):
                    print(f"--- {log}\n{read(os.path.join(tmp, log))[-3000:]}")
            for cmd, rc in ended:
                print(f"ended before the end of the test: {cmd} (status {rc})")
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp):
    root = init_fake_root(os.path.join(tmp, "root"))
    genuine = os.path.join(tmp, "cocoon-worker")
    tampered = os.path.join(tmp, "cocoon-worker-tampered")
    shutil.copy(os.path.join(BIN, "cocoon-worker"), genuine)
    shutil.copy(os.path.join(BIN, "cocoon-worker"), tampered)
    with open(tampered, "ab") as f:
        f.write(b"\x01")
    backend = subprocess.Popen([os.path.join(BIN, "cocoon-fake-backend"), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(backend)
    line = backend.stdout.readline()
    backend_url = "http://127.0.0.1:" + line.split()[1]

    wport, cport, sport = free_port(), free_port(), free_port()
    pcfg = write_json(os.path.join(tmp, "proxy.json"), {
        "listen_workers": f"127.0.0.1:{wport}", "listen_clients": f"127.0.0.1:{cport}",
        "listen_http": f"127.0.0.1:{sport}", "registry": "registry.json", "pow_difficulty": 4,
        "tee": "fake", "policy": "fake", "client_policy": "fake", "fake_root": root,
    })

    def worker_cfg(name, tee, **extra):
        return write_json(os.path.join(tmp, name + ".json"), {
            "proxies": [f"127.0.0.1:{wport}"], "listen_http": f"127.0.0.1:{free_port()}",
            "backend": "openai-http", "backend_url": backend_url, "model": "fake-model",
            "tee": tee, "policy": "fake", "fake_root": root, **extra,
        })

    gcfg = worker_cfg("worker-genuine", "fake")
    good_hash = image_hash(genuine, "worker", gcfg)
    bad_hash = image_hash(tampered, "worker", gcfg)
    proxy_hash = image_hash(os.path.join(BIN, "cocoon-proxy"), "proxy", pcfg)
    check(good_hash != bad_hash, "the changed worker binary has another image hash")
    # RTMR2 is real: a measured setting (here the worker's peer policy) changes
    # the image hash, a port does not.
    lax_cfg = worker_cfg("worker-lax", "fake", policy="any")
    lax_hash = image_hash(genuine, "worker", lax_cfg)
    check(lax_hash != good_hash, "a changed measured setting (policy) changes the image hash")
    moved = json.load(open(gcfg))
    moved["listen_http"] = f"127.0.0.1:{free_port()}"
    moved_cfg = write_json(os.path.join(tmp, "worker-moved.json"), moved)
    check(image_hash(genuine, "worker", moved_cfg) == good_hash,
          "a port is not measured (same image hash)")
    write_json(os.path.join(tmp, "registry.json"), {
        "version": 1,
        "proxy_image_hashes": [proxy_hash],
        "worker_image_hashes": [good_hash],
        "model_hashes": [model_hash("fake-model")],
        "proxies": [{"address": f"127.0.0.1:{cport}", "worker_address": f"127.0.0.1:{wport}"}],
    })
    proxy_log = os.path.join(tmp, "proxy.log")
    start(os.path.join(BIN, "cocoon-proxy"), ["--config", pcfg], proxy_log)
    check(wait_for(lambda: jsonstats(sport)) is not None, "proxy with the fake TEE is up",
          read(proxy_log))

    # 1. Genuine binary: accepted.
    start(genuine, ["--config", gcfg], os.path.join(tmp, "worker-genuine.log"))
    st = wait_for(lambda: (s := jsonstats(sport)) and s.get("workers_ready", 0) >= 1 and s)
    check(st is not None, "worker from the genuine binary is accepted (attested, image listed)",
          json.dumps(jsonstats(sport)))
    wport_http = int(json.load(open(gcfg))["listen_http"].rsplit(":", 1)[1])
    links = (jsonstats(wport_http) or {}).get("proxies") or [{}]
    check(links[0].get("image_hash") == proxy_hash and
          "quote=verified" in links[0].get("attestation", ""),
          "the worker's /jsonstats shows the proxy's image hash and verification result",
          json.dumps(links))

    # 2. Tampered binary: attested fine, but its image hash is not registered.
    tampered_proc = start(tampered, ["--config", worker_cfg("worker-tampered", "fake")],
                          os.path.join(tmp, "worker-tampered.log"))
    st = wait_for(lambda: (s := jsonstats(sport)) and s.get("workers_refused", 0) >= 1 and s)
    check(st is not None and st.get("workers_ready") == 1,
          "worker from the modified binary is refused (visible in /jsonstats)",
          json.dumps(jsonstats(sport)))
    check("image hash is not in the registry" in read(proxy_log) and bad_hash in read(proxy_log),
          "the proxy log says why the modified worker was refused, with its image hash",
          read(proxy_log)[-2000:])
    st = jsonstats(sport) or {}
    last = st.get("last_refused_worker") or {}
    check(last.get("image_hash") == bad_hash and "not in the registry" in last.get("reason", ""),
          "/jsonstats shows the refused worker's image hash and reason", json.dumps(st))
    ws = st.get("workers") or [{}]
    check(ws[0].get("image_hash") == good_hash and "quote=verified" in ws[0].get("attestation", ""),
          "/jsonstats shows the accepted worker's image hash and verification result",
          json.dumps(ws))

    # 2b. Genuine binary with a changed measured setting: refused the same way.
    # (Refused workers retry; stop each one so the last refusal is the next one's.)
    stop(tampered_proc)

    def last_refused(pred):
        return wait_for(lambda: (s := jsonstats(sport)) and
                        pred(s.get("last_refused_worker") or {}) and s)

    lax_proc = start(genuine, ["--config", lax_cfg], os.path.join(tmp, "worker-lax.log"))
    st = last_refused(lambda last: last.get("image_hash") == lax_hash)
    check(st is not None and st.get("workers_ready") == 1 and
          "image hash is not in the registry" in st["last_refused_worker"].get("reason", ""),
          "worker with a changed measured setting (policy any) is refused: image not listed",
          json.dumps(jsonstats(sport)))

    # 2c. Genuine binary and settings, but a model the registry does not list.
    stop(lax_proc)
    model_proc = start(genuine, ["--config", worker_cfg("worker-other-model", "fake",
                                                        model="other-model")],
                       os.path.join(tmp, "worker-other-model.log"))
    st = last_refused(lambda last: "other-model" in last.get("reason", ""))
    last = (st or {}).get("last_refused_worker") or {}
    check(st is not None and st.get("workers_ready") == 1 and
          "model other-model is not in the registry" in last.get("reason", "") and
          last.get("image_hash") == good_hash,
          "worker serving a model not in the registry is refused (/jsonstats: reason, image)",
          json.dumps(jsonstats(sport)))
    check("model other-model is not in the registry" in read(proxy_log),
          "the proxy log says the model is not in the registry", read(proxy_log)[-2000:])
    stop(model_proc)

    # 3. No TEE at all: the TLS handshake itself fails under policy fake.
    start(os.path.join(BIN, "cocoon-worker"), ["--config", worker_cfg("worker-none", "none")],
          os.path.join(tmp, "worker-none.log"))
    ok = wait_for(lambda: "no TEE quote" in read(proxy_log))
    check(ok, "a worker without a quote is refused in the handshake", read(proxy_log)[-2000:])
    st = jsonstats(sport) or {}
    check(st.get("workers_ready") == 1, "still exactly one ready worker", json.dumps(st))

    # 4. A proxy that demands real TDX refuses the fake-TEE worker.
    wport2, sport2 = free_port(), free_port()
    pcfg2 = write_json(os.path.join(tmp, "proxy-tdx.json"), {
        "listen_workers": f"127.0.0.1:{wport2}", "listen_clients": f"127.0.0.1:{free_port()}",
        "listen_http": f"127.0.0.1:{sport2}", "registry": "registry.json", "pow_difficulty": 4,
        "tee": "fake", "fake_root": root, "policy": "tdx",
    })
    tdx_log = os.path.join(tmp, "proxy-tdx.log")
    start(os.path.join(BIN, "cocoon-proxy"), ["--config", pcfg2], tdx_log)
    check(wait_for(lambda: jsonstats(sport2)) is not None, "tdx-policy proxy is up", read(tdx_log))
    wcfg = write_json(os.path.join(tmp, "worker-to-tdx.json"), {
        "proxies": [f"127.0.0.1:{wport2}"], "listen_http": f"127.0.0.1:{free_port()}",
        "backend": "openai-http", "backend_url": backend_url, "model": "fake-model",
        "tee": "fake", "policy": "fake", "fake_root": root,
    })
    start(genuine, ["--config", wcfg], os.path.join(tmp, "worker-to-tdx.log"))
    ok = wait_for(lambda: "PCK chain" in read(tdx_log))
    check(ok, "policy tdx refuses a fake quote (PCK chain not to Intel's root)",
          read(tdx_log)[-2000:])
    check((jsonstats(sport2) or {}).get("workers_ready") == 0, "no worker on the tdx proxy")

    # 5. Clients: the registry decides which proxy images they talk to.
    def client(name, registry):
        hport = free_port()
        cfg = write_json(os.path.join(tmp, name + ".json"), {
            "listen_http": f"127.0.0.1:{hport}", "proxies": [f"127.0.0.1:{cport}"],
            "tee": "fake", "policy": "fake", "fake_root": root, "registry": registry,
        })
        log = os.path.join(tmp, name + ".log")
        start(os.path.join(BIN, "cocoon-client"), ["--config", cfg], log)
        return hport, log

    def chat(hport):
        body = json.dumps({"model": "fake-model", "max_tokens": 4,
                           "messages": [{"role": "user", "content": "secret prompt"}]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{hport}/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=limit(5)) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, None
        except Exception:
            return None, None

    hport, _ = client("client-good", "registry.json")
    res = wait_for(lambda: (r := chat(hport)) and r[0] == 200 and r)
    check(res is not None and res[1]["choices"], "client gets an answer through attested links",
          str(chat(hport)))
    links = (jsonstats(hport) or {}).get("proxies") or [{}]
    check(links[0].get("image_hash") == proxy_hash and
          "quote=verified" in links[0].get("attestation", ""),
          "the client's /jsonstats shows the proxy's image hash and verification result",
          json.dumps(links))
    st = jsonstats(sport) or {}
    cl = st.get("clients") or [{}]
    check("policy=fake quote=verified" in cl[0].get("attestation", "") and
          len(cl[0].get("image_hash", "")) == 64,
          "the proxy's /jsonstats shows the client's image hash and verification result",
          json.dumps(st))
    accepted_before = st.get("clients_accepted", 0)

    other = dict(json.load(open(os.path.join(tmp, "registry.json"))))
    other["proxy_image_hashes"] = ["00" * 32]
    write_json(os.path.join(tmp, "registry-other.json"), other)
    hport, clog = client("client-wrong-proxy", "registry-other.json")
    ok = wait_for(lambda: "is not in the registry" in read(clog))
    check(ok, "client refuses a proxy whose image hash is not registered", read(clog)[-2000:])
    status, _ = chat(hport)
    check(status is not None and status != 200, f"that client does not answer (HTTP {status})")
    st = jsonstats(sport) or {}
    check(st.get("clients_accepted", 0) == accepted_before,
          "the proxy never got a connection from it (nothing sent)", json.dumps(st))

    # 6. A worker refuses a proxy whose image its registry does not list.
    wcfg = json.load(open(worker_cfg("worker-wrong-proxy", "fake")))
    wcfg["registry"] = "registry-other.json"
    wlog = os.path.join(tmp, "worker-wrong-proxy.log")
    start(genuine, ["--config", write_json(os.path.join(tmp, "worker-wrong-proxy.json"), wcfg)],
          wlog)
    ok = wait_for(lambda: "is not in the registry" in read(wlog))
    check(ok, "worker refuses a proxy whose image hash is not registered", read(wlog)[-2000:])
    check((jsonstats(sport) or {}).get("workers_ready") == 1, "and never became a ready worker")

    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
