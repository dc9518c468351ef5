#!/usr/bin/env python3
"""A client with two proxies uses the first, and when that proxy dies it moves to
the next one (workers serve both); when the first comes back it is preferred again."""
import os

from cocoonlib import (Proc, binary, check, check_eq, free_port, http, http_json, log, run,
                       tmpdir, wait_until, write_json, Network)

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def start_proxy(d, name):
    wp, cp, sp = free_port(), free_port(), free_port()
    cfg = write_json(os.path.join(d, name + ".json"), {
        "listen_workers": "127.0.0.1:%d" % wp, "listen_clients": "127.0.0.1:%d" % cp,
        "listen_http": "127.0.0.1:%d" % sp, "registry": "registry.json", "pow_difficulty": 4,
        # A restarted proxy keeps its key: the worker refuses one whose key changed.
        "state_dir": name + "-state"})
    p = Proc(name, [binary("cocoon-proxy"), "--config", cfg], d)
    wait_until(lambda: http(sp, "GET", "/healthz", timeout=2)[0] == 200, 15, name)
    return p, wp, cp, sp, cfg


def requests_at(sp):
    return http_json(sp, "GET", "/jsonstats")[1]["requests"]["total"]


def main(holder):
    net = Network("proxies")  # used for the backend and log dumps
    holder.append(net)
    d = net.dir
    backend = net.start_backend()
    write_json(os.path.join(d, "registry.json"), {
        "proxy_image_hashes": "any", "worker_image_hashes": "any", "model_hashes": "any"})
    pa, wa, ca, sa, cfga = start_proxy(d, "proxy-a")
    pb, wb, cb, sb, _ = start_proxy(d, "proxy-b")
    wcfg = write_json(os.path.join(d, "worker.json"), {
        "proxies": ["127.0.0.1:%d" % wa, "127.0.0.1:%d" % wb],
        "listen_http": "127.0.0.1:%d" % free_port(), "backend": "openai-http",
        "backend_url": "http://127.0.0.1:%d" % backend, "model": "fake-model",
        "reconnect_min": 0.1, "reconnect_max": 0.5})
    Proc("worker", [binary("cocoon-worker"), "--config", wcfg], d)
    port = free_port()
    ccfg = write_json(os.path.join(d, "client.json"), {
        "listen_http": "127.0.0.1:%d" % port,
        "proxies": ["127.0.0.1:%d" % ca, "127.0.0.1:%d" % cb],
        "reconnect_min": 0.1, "reconnect_max": 0.5})
    Proc("client", [binary("cocoon-client"), "--config", ccfg], d)
    for sp in (sa, sb):
        wait_until(lambda: http_json(sp, "GET", "/jsonstats")[1]["workers_ready"] == 1, 20,
                   "worker at both proxies")
    # /healthz answers 200 as soon as either proxy is connected; under load the
    # second may come up first, so wait for the first one by name.
    wait_until(lambda: http_json(port, "GET", "/jsonstats")[1]["proxies"][0]["state"] == "ready",
               20, "client connected to proxy a")

    for i in range(3):
        st, _ = http_json(port, "POST", "/v1/chat/completions", CHAT)
        check_eq(st, 200, "request %d via the first proxy" % i)
    check_eq(requests_at(sa), 3, "first proxy served all")
    check_eq(requests_at(sb), 0, "second proxy idle")

    pa.kill()
    for i in range(3):
        st, _ = wait_until(lambda: (lambda r: r if r[0] == 200 else None)(
            http_json(port, "POST", "/v1/chat/completions", CHAT)), 15, "service via proxy b")
    check(requests_at(sb) >= 3, "second proxy took over")
    log("first proxy down: the client moved to the second")

    pa2 = Proc("proxy-a2", [binary("cocoon-proxy"), "--config", cfga], d)
    check(pa2.alive(), "proxy a restarted")
    wait_until(lambda: http_json(sa, "GET", "/jsonstats")[1]["workers_ready"] == 1, 20,
               "worker back at proxy a")
    wait_until(lambda: http_json(port, "GET", "/jsonstats")[1]["proxies"][0]["state"] == "ready",
               20, "client reconnected to proxy a")
    st, _ = http_json(port, "POST", "/v1/chat/completions", CHAT)
    check_eq(st, 200, "request after proxy a returned")
    check_eq(requests_at(sa), 1, "the first proxy is preferred again")
    log("first proxy back: preferred again")


if __name__ == "__main__":
    run(main)
