#!/usr/bin/env python3
"""RA-TLS and model names as COCOON has them, end to end.

1. Per-listener policies: a proxy holding workers to policy fake accepts, on
   its client port (default client_policy any), a client without any TEE.
2. Model names: a worker announcing "name@commit:verity" in front of a server
   that serves "name" (COCOON's vLLM set-up) is listed and reached by "name";
   the full identifier is no request name.
3. The model-hash refusal: a worker whose certificate claims another model
   than it announces (made to lie with the test-only variable
   COCOON_TEST_FAKE_CLAIM_MODEL) is refused by the proxy; an honest one is not.
4. COCOON's test mode: proxy and worker with tee/policy fake_tdx (64-byte
   quotes), the client without a TEE checking the proxy under fake_tdx, as
   COCOON's runners do with --fake-tdx; a request goes through. A certificate
   with our signed fake quote is refused there by name.
"""
import os
import subprocess

from cocoonlib import (Network, binary, check, check_eq, http_json, log, run, wait_until)

BASE = "cocoon-test"
ANNOUNCED = BASE + "@c0ffee:9e71"


def chat(port, model):
    return http_json(port, "POST", "/v1/chat/completions",
                     {"model": model, "messages": [{"role": "user", "content": "hi"}],
                      "max_tokens": 3}, timeout=30)


def cocoon(*args):
    r = subprocess.run([binary("cocoon"), *args], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def attested_network(holder):
    net = Network("tee-compat")
    holder.append(net)
    root = os.path.join(net.dir, "root")
    rc, _, err = cocoon("tee", "init-fake-root", "--dir", root)
    check(rc == 0, "init-fake-root: " + err)
    tee = {"tee": "fake", "policy": "fake", "fake_root": root}
    net.start_proxy(extra=tee)
    backend = net.start_backend(model=BASE)
    net.start_worker(backend, model=ANNOUNCED, extra=tee)
    hport = net.start_client()  # no TEE at all (tee none, policy any)
    net.wait_workers(1, enabled=1)

    # 1. The client port's own policy (any) lets the TEE-less client in.
    net.wait_models(BASE)
    ps = net.proxy_stats()
    cl = ps["clients"]
    check(len(cl) == 1 and "policy=any quote=none" in cl[0].get("attestation", ""),
          "the proxy took the client under its client port's policy any: %r" % cl)
    w = ps["workers"][0]
    check("policy=fake quote=verified" in w.get("attestation", ""),
          "the worker was held to policy fake: %r" % w)

    # 2. Listed and reached by the base name; the answer names it too.
    st, models = http_json(hport, "GET", "/v1/models")
    check_eq([m["id"] for m in models["data"]], [BASE], "client lists the base name")
    check_eq((w["model"], w["model_base"]), (ANNOUNCED, BASE), "proxy keeps both names")
    st, j = chat(hport, BASE)
    check_eq(st, 200, "a request for the base name reaches the worker")
    check_eq(j["model"], BASE, "the server saw the base name")
    st, _ = chat(hport, ANNOUNCED)
    check(st != 200, "the full identifier is not a request name (HTTP %d)" % st)

    # 3. A worker whose certificate claims another model is refused.
    os.environ["COCOON_TEST_FAKE_CLAIM_MODEL"] = BASE + "@0ther:0000"
    try:
        liar, _ = net.start_worker(backend, model=ANNOUNCED, extra=tee)
    finally:
        del os.environ["COCOON_TEST_FAKE_CLAIM_MODEL"]
    reason = "is not the model hash in the worker's certificate"

    def refused():
        s = net.proxy_stats()
        return reason in s.get("last_refused_worker", {}).get("reason", "") and s

    s = wait_until(refused, 20, "the proxy refusing the lying worker")
    check(s["workers_refused"] >= 1, "refusal counted")
    check_eq(len(s["workers"]), 1, "only the honest worker is ready")
    check("test_claim_override" in open(liar.log_path, errors="replace").read(),
          "the lying worker logged the test override")
    st, _ = chat(hport, BASE)
    check_eq(st, 200, "the honest worker still serves")
    liar.stop()


def fake_tdx_network(holder):
    net = Network("tee-fake-tdx")
    holder.append(net)
    tee = {"tee": "fake_tdx", "policy": "fake_tdx"}
    net.start_proxy(extra=tee)
    backend = net.start_backend(model=BASE)
    net.start_worker(backend, model=ANNOUNCED, extra=tee)
    # COCOON's client outside a TEE: a certificate without a quote, checking
    # the proxy under fake_tdx.
    hport = net.start_client(extra={"policy": "fake_tdx"})
    net.wait_workers(1, enabled=1)
    net.wait_models(BASE)
    st, j = chat(hport, BASE)
    check_eq(st, 200, "a request through fake_tdx links")
    w = net.proxy_stats()["workers"][0]
    check("policy=fake_tdx quote=verified form=fake_tdx" in w.get("attestation", ""),
          "proxy accepted the worker's 64-byte quote: %r" % w)
    st, cs = http_json(hport, "GET", "/jsonstats")
    links = cs.get("proxies") or [{}]
    check("policy=fake_tdx quote=verified form=fake_tdx" in links[0].get("attestation", ""),
          "client checked the proxy's 64-byte quote: %r" % links)

    # Our signed fake quote is not COCOON's form: refused by name.
    root = os.path.join(net.dir, "root")
    cert, key = os.path.join(net.dir, "dcap.pem"), os.path.join(net.dir, "dcap.key")
    check(cocoon("tee", "init-fake-root", "--dir", root)[0] == 0, "init-fake-root")
    rc, _, err = cocoon("cert", "gen", "--tee", "fake", "--fake-root", root, "--cert", cert,
                        "--key", key)
    check(rc == 0, "cert gen --tee fake: " + err)
    rc, out, err = cocoon("tee", "probe", "127.0.0.1:%d" % net.worker_port, "--cert", cert,
                          "--key", key, "--policy", "fake_tdx")
    check(rc != 0, "a signed fake quote is refused on a fake_tdx port: " + out + err)
    wait_until(lambda: "wants COCOON's 64-byte fake quote" in
               open(net.proxy.log_path, errors="replace").read(), 10, "the proxy saying why")
    # And a fake_tdx certificate made by the CLI is accepted there.
    cert2, key2 = os.path.join(net.dir, "ft.pem"), os.path.join(net.dir, "ft.key")
    rc, _, err = cocoon("cert", "gen", "--tee", "fake_tdx", "--cert", cert2, "--key", key2)
    check(rc == 0, "cert gen --tee fake_tdx: " + err)
    rc, out, err = cocoon("cert", "show", cert2, "--policy", "fake_tdx")
    check(rc == 0 and "quote: COCOON fake_tdx" in out, "cert show reads the 64-byte form: " + out)
    rc, out, err = cocoon("tee", "probe", "127.0.0.1:%d" % net.worker_port, "--cert", cert2,
                          "--key", key2, "--policy", "fake_tdx")
    check(rc == 0 and "form=fake_tdx" in out, "a fake_tdx certificate gets in: " + out + err)


def main(holder):
    attested_network(holder)
    fake_tdx_network(holder)
    log("COCOON compatibility: per-listener policies, base model names, model-hash refusal, "
        "fake_tdx")


if __name__ == "__main__":
    run(main)
