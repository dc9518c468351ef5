#!/usr/bin/env python3
"""The worker's cap on backend connections being opened at once (`backend_max_connecting`,
docs/operations.md): a burst of requests to a backend whose listen queue is full has only that
many connects out (the kernel drops the SYNs of the rest until the backend accepts again), the
other requests wait for a slot instead of failing, and all are answered once the backend takes
connections again."""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
import threading
import time

from cocoonlib import check, check_eq, http_json, limit, log, Network, run, wait_for

CAP = 2
BURST = 8
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


class Backend(BaseHTTPRequestHandler):
    """HTTP/1.0: every answer closes its connection, so each request needs a connect of its own
    (a kept-alive one would carry the burst one by one past the closed queue)."""

    def log_message(self, *a):
        pass

    def reply(self, obj):
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.reply({"id": "x", "object": "chat.completion", "model": "fake-model",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "ok"}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


class GatedServer(ThreadingHTTPServer):
    """Accepts only while open; closed, its listen queue is one connection long."""
    daemon_threads = True
    timeout = 0.05

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Backend)
        self.gate = threading.Lock()  # held while accepting, so closing waits for an accept
        self.accepting = True
        self.stop = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while not self.stop:
            with self.gate:
                if self.accepting:
                    self.handle_request()  # waits up to `timeout` for one connection
                    continue
            time.sleep(0.02)

    def close_queue(self):
        with self.gate:
            self.accepting = False
            self.socket.listen(0)

    def open_queue(self):
        with self.gate:
            self.socket.listen(512)
            self.accepting = True


def syn_sent_to(port, pid):
    """pid's sockets connecting to 127.0.0.1:port whose SYN is not answered (state SYN_SENT);
    only its own, so that no other program's sockets can count."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if (int(fields[2].split(":")[1], 16) == port and fields[3] == "02" and
                    fields[9] in inodes):
                n += 1
    return n


def main(holder):
    net = Network("backend-connects")
    holder.append(net)
    srv = GatedServer()
    bport = srv.server_address[1]
    net.start_proxy()
    # health polls far apart: none falls into the window where the backend takes nothing
    # and connects that wait longer than the test can take on a loaded machine (the default
    # 10 s would fail the waiting requests before the queue opens again)
    worker, _ = net.start_worker(bport, extra={"backend_max_connecting": CAP,
                                               "health_interval": 60,
                                               "backend_connect_timeout": limit(120)})
    port = net.start_client()
    net.wait_workers(1, enabled=1)
    net.wait_models()
    st, j = http_json(port, "POST", "/v1/chat/completions", CHAT)
    check_eq(st, 200, "a request while the backend accepts: %r" % j)

    srv.close_queue()
    results = [None] * BURST

    def one(i):
        results[i] = http_json(port, "POST", "/v1/chat/completions", CHAT, timeout=60)
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(BURST)]
    for t in threads:
        t.start()
    # CAP connects go out and stay unanswered (one more may sit in the queue); the requests
    # behind them wait in the worker.
    if not wait_for(lambda: syn_sent_to(bport, worker.pid) >= CAP, 20, 0.02):
        check(worker.alive(), "the worker exited:\n" + worker.log_tail())
        check(False, "the worker never had %d connects out (have %d)" % (CAP, syn_sent_to(bport, worker.pid)))
    peak = 0
    for _ in range(25):  # half a second or more of samples while the backend takes nothing
        peak = max(peak, syn_sent_to(bport, worker.pid))
        for t in threads:
            t.join(0.02 / len(threads))
    check(peak <= CAP, "%d connects out at once, over the cap of %d" % (peak, CAP))
    answered = sum(r is not None for r in results)
    check(answered == 0, "%d requests answered while the backend accepted nothing: %r" %
          (answered, results))

    srv.open_queue()
    for t in threads:
        t.join(limit(60))
        check(not t.is_alive(), "a request hung after the backend accepted again")
    for i, (st, j) in enumerate(results):
        check_eq(st, 200, "request %d status (%r)" % (i, j))
        check_eq(j["choices"][0]["message"]["content"], "ok", "request %d answer" % i)
    check(worker.alive(), "the worker is still running")
    srv.stop = True
    log("a burst of %d at a full listen queue: at most %d connects out (peak %d), all answered" %
        (BURST, CAP, peak))


if __name__ == "__main__":
    run(main)
