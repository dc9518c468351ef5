#!/usr/bin/env python3
"""Money through `cocoon up`: the proxy's ledger rows equal the adjusted tokens
(COCOON's CountTokens over the usage the client saw), the worker reports the
same; a proxy killed with SIGKILL (and restarted by `cocoon up`) keeps at least its
last committed totals, and a clean stop keeps everything."""
import json
import os
import signal

from cocoonlib import (Proc, binary, check, check_eq, free_port, http_json, log, run, tmpdir,
                       wait_until)


def adjust(n, coefficient, mult):
    # COCOON's adjust_tokens, in the same double operations as ledger_adjust_tokens.
    return int(float(n) * (float(coefficient) * 0.001) * float(mult) * 0.0001)


def adjusted_total(usage, coefficient, m):
    prompt = usage.get("prompt_tokens", 0)
    completion = usage.get("completion_tokens", 0)
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)
    return (adjust(max(prompt - cached, 0), coefficient, m["prompt"]) +
            adjust(cached, coefficient, m["cached"]) +
            adjust(max(completion - reasoning, 0), coefficient, m["completion"]) +
            adjust(reasoning, coefficient, m["reasoning"]))


def http_port_of(d, cfg):
    with open(os.path.join(d, cfg)) as f:
        return int(json.load(f)["listen_http"].rsplit(":", 1)[1])


class Up:
    def __init__(self, work, d, name):
        self.port = free_port()
        self.proc = Proc(name, [binary("cocoon"), "up", "--port", str(self.port), "--dir", d,
                                "--backend", "openai-http"], work, capture_stdout=True)
        self.proc.wait_line(r"^ready http://127\.0\.0\.1:(\d+)$", timeout=120)
        self.proxy_http = http_port_of(d, "proxy.json")
        self.worker_http = http_port_of(d, "worker-1.json")

    def proxy_stats(self):
        st, j = http_json(self.proxy_http, "GET", "/jsonstats", timeout=5)
        check_eq(st, 200, "proxy /jsonstats")
        return j

    def worker_stats(self):
        st, j = http_json(self.worker_http, "GET", "/jsonstats", timeout=5)
        check_eq(st, 200, "worker /jsonstats")
        return j

    def ledger(self):
        led = self.proxy_stats()["ledger"]
        check_eq(len(led["clients"]), 1, "one client account")
        check_eq(len(led["workers"]), 1, "one worker account")
        return led["clients"][0], led["workers"][0]

    def request(self, max_tokens, coefficient, mult):
        st, j = http_json(self.port, "POST", "/v1/chat/completions",
                          {"model": "fake-model", "max_tokens": max_tokens,
                           "messages": [{"role": "user", "content": "count my tokens"}]})
        check_eq(st, 200, "request status")
        return adjusted_total(j["usage"], coefficient, mult)


def main(holder):
    work = tmpdir("cocoon-money-test-")
    d = os.path.join(work, "net")
    up = Up(work, d, "up1")
    ws = up.worker_stats()
    coefficient, mult = ws["coefficient"], ws["payments"]["multipliers"]
    check_eq(ws["payments"]["tokens_served"], 0, "nothing served yet")

    expected = 0
    for i in range(5):
        expected += up.request(2 + i, coefficient, mult)
    check(expected > 0, "the requests cost tokens")

    # Every token the client was shown is on both ledger rows, committed
    # within COCOON's 1-2 s flush cadence.
    def settled():
        c, w = up.ledger()
        return c["tokens_used"] == expected and c["committed_db"] == expected and \
            w["tokens"] == expected and c["reserved"] == 0 and c["running"] == 0
    wait_until(settled, 20, "ledger rows at %d committed tokens" % expected)
    c, w = up.ledger()
    check(c["available"] > 0, "the free-mode client keeps credit")
    # The proxy's payment notice rides with its next message to the worker
    # (at most 0.5 s late: net_conn_send_msg_later), so the last one is
    # waited for.
    wp = wait_until(lambda: (lambda p: p if p["last_payment"]["count"] >= 5 else None)(
        up.worker_stats()["payments"]), 20, "the worker's fifth payment notice")
    check_eq(wp["tokens_served"], expected, "worker tokens_served")
    check_eq(wp["nano_earned"], expected * wp["fee_per_token"], "worker nano_earned")
    check_eq(wp["last_payment"]["max_tokens"], expected, "worker's last payment total")
    check_eq(wp["last_payment"]["count"], 5, "one payment per request")
    log("ledger rows = %d adjusted tokens (coefficient %d, multipliers %r)" %
        (expected, coefficient, mult))

    # SIGKILL right after one more request: its tokens may be lost (not yet
    # committed), the committed ones may not.
    committed = c["committed_db"]
    expected += up.request(9, coefficient, mult)
    final = up.ledger()[0]["tokens_used"]
    check_eq(final, expected, "the last request is on the row")
    victim = [k for k in os.listdir("/proc") if k.isdigit() and
              _cmdline(k).startswith(binary("cocoon-proxy"))
              and d in _cmdline(k)]
    check_eq(len(victim), 1, "one proxy process for this network")
    os.kill(int(victim[0]), signal.SIGKILL)
    # `cocoon up` restarts the proxy, which loads the ledger file again.
    wait_until(lambda: "proxy restarted (pid" in up.proc.log_tail(100), 30, "proxy restarted")

    def reloaded():
        s = up.proxy_stats()
        return (len(s["ledger"]["clients"]) == 1 and len(s["ledger"]["workers"]) == 1 and
                s["workers_ready"] == 1 and s["clients_connected"] == 1 and
                len(http_json(up.port, "GET", "/v1/models", timeout=5)[1]["data"]) > 0)
    wait_until(reloaded, 30, "the restarted proxy with its ledger, worker and client")
    c, w = up.ledger()
    check(committed <= c["tokens_used"] <= final,
          "after SIGKILL: %d <= %d <= %d" % (committed, c["tokens_used"], final))
    check_eq(c["committed_db"], c["tokens_used"], "a loaded total counts as committed")
    check_eq(w["tokens"], c["tokens_used"], "worker row matches the client row")
    log("after SIGKILL and restart: %d tokens kept (committed %d, final %d)" %
        (c["tokens_used"], committed, final))

    # A clean stop commits everything.
    total = c["tokens_used"] + up.request(4, coefficient, mult)
    check_eq(up.ledger()[0]["tokens_used"], total, "the row counts on after the restart")
    up.proc.signal(signal.SIGTERM)
    up.proc.p.wait(30)
    check_eq(up.proc.p.returncode, 0, "cocoon up stopped cleanly")
    up = Up(work, d, "up3")
    check_eq(up.ledger()[0]["tokens_used"], total, "after a clean stop nothing is lost")
    up.proc.signal(signal.SIGTERM)
    up.proc.p.wait(30)
    log("clean stop keeps all %d tokens" % total)


def _cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


if __name__ == "__main__":
    run(main)
