#!/usr/bin/env python3
"""`cocoon up` is attested by default (DESIGN §5, §9): every daemon runs the
fake TEE with policy fake; the registry lists exactly the genuine proxy and
worker image hashes (what `cocoon tee fake-image-hash` computes for the binary
and the config it wrote) and the served model's hash, never "any"; and each
link's /jsonstats shows the peer's verified image hash."""
import json
import os
import signal

from cocoonlib import (binary, check, check_eq, free_port, http_json, image_hash, limit, log,
                       model_hash, Proc, run, tmpdir)


def role_image_hash(role, config):
    return image_hash(binary("cocoon-" + role), role, config)


def http_port(config):
    with open(config) as f:
        return int(json.load(f)["listen_http"].rsplit(":", 1)[1])


def main(holder):
    work = tmpdir("cocoon-tee-up-")
    d = os.path.join(work, "net")
    port = free_port()
    # The fake backend keeps this independent of model files; its model hash is
    # the hash of the served name.
    up = Proc("up", [binary("cocoon"), "up", "--port", str(port), "--dir", d, "--backend",
                     "openai-http"], work, capture_stdout=True)
    up.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=120)
    try:
        reg = json.load(open(os.path.join(d, "registry.json")))
        proxy_cfg, worker_cfg = os.path.join(d, "proxy.json"), os.path.join(d, "worker-1.json")
        for name in ("proxy.json", "worker-1.json", "client.json"):
            cfg = json.load(open(os.path.join(d, name)))
            check_eq((cfg.get("tee"), cfg.get("policy")), ("fake", "fake"), name + " tee/policy")
        for name in ("worker-1.json", "client.json"):
            check_eq(json.load(open(os.path.join(d, name))).get("registry"), "registry.json",
                     name + " checks the proxy against the registry")
        proxy_hash = role_image_hash("proxy", proxy_cfg)
        worker_hash = role_image_hash("worker", worker_cfg)
        check_eq(reg["proxy_image_hashes"], [proxy_hash], "registry lists the genuine proxy image")
        check_eq(reg["worker_image_hashes"], [worker_hash],
                 "registry lists the genuine worker image")
        model = json.load(open(worker_cfg))["model"]
        check_eq(reg["model_hashes"], [model_hash(model)],
                 "registry lists the served model's hash")

        ps = http_json(http_port(proxy_cfg), "GET", "/jsonstats")[1]
        ws = ps["workers"]
        check_eq(len(ws), 1, "one worker at the proxy")
        check_eq(ws[0].get("image_hash"), worker_hash, "proxy sees the worker's image hash")
        check("quote=verified" in ws[0].get("attestation", ""), "proxy verified the worker")
        for name in ("worker-1.json", "client.json"):
            links = http_json(http_port(os.path.join(d, name)), "GET", "/jsonstats")[1]["proxies"]
            check_eq(links[0].get("image_hash"), proxy_hash, name + ": proxy image hash")
            check("policy=fake quote=verified" in links[0].get("attestation", ""),
                  name + ": proxy verified under policy fake")
        st, j = http_json(port, "POST", "/v1/chat/completions",
                          {"model": model, "messages": [{"role": "user", "content": "hi"}],
                           "max_tokens": 3})
        check_eq(st, 200, "a request through the attested links")
    finally:
        up.signal(signal.SIGTERM)
        up.p.wait(limit(20))
    log("cocoon up: fake TEE, registry with the genuine images and model, links verified")


if __name__ == "__main__":
    run(main)
