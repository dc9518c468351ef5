#!/usr/bin/env python3
"""COCOON's proxy against our worker and our client: a small proxy in Python
that takes the worker's and the client's links, checks their handshakes as
runners/proxy/ does, routes requests as ProxyRunner.cpp forward_query does
(including its old-style refusals), and relays answers as
ProxyRunningRequest.cpp does. Then: a plain and a streamed request through
our client, the refusals (unknown model 404, balance too low 402, no worker
503, each at once), COCOON's per-request fields and debug answers (timeout,
enable_debug, request_guid, the X-Cocoon-* timing headers), the worker's
control paths (/request/disable, /request/enable, /request/change_coefficient
and the packets they send), ping, and the client's reconnect after the proxy
drops it.

Each rule cites the C++ of TelegramMessenger/cocoon. A violation by our
daemons is recorded and fails the program.
"""
import json
import os
import queue
import secrets
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cocoon_peer import (Link, ProtocolError, ZERO_ADDRESS, check, check_eq, cocoonlib,  # noqa: E402
                         log, make_cert, parse_std_address, tl)

MODEL = "fake-model"
GHOST = "ghost-model"
CHUNKS = 4
PROXY_OWNER = "0:" + "ef" * 32
ERROR, PROTOVIOLATION, NOTREADY = 602, 621, 651  # ton::ErrorCode


class MiniProxy:
    def __init__(self, cert, key, pow_difficulty=6):
        self.cert, self.key, self.pow = cert, key, pow_difficulty
        self.violations = []
        self.workers = {}      # model base name -> worker Link (ready)
        self.clients = []      # ready client Links
        self.requests = {}     # worker-leg request id -> (client link, client request id)
        self.tokens_available = 1 << 40
        # Answer the next worker's balance comparison with error_code 1, as
        # a proxy that knows of fewer tokens than the worker does
        # (ProxyInboundWorkerConnection.cpp:106-114). Our worker reports
        # zeros, so this proxy forces the branch.
        self.compare_ext_once = True
        self.events = queue.Queue()
        self.lock = threading.Lock()
        self.listeners = []

    def violation(self, what):
        log("VIOLATION: " + what)
        self.violations.append(what)

    # ---- listening
    def listen(self, role):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        self.listeners.append(s)
        threading.Thread(target=self._accept_loop, args=(s, role), daemon=True).start()
        return s.getsockname()[1]

    def _accept_loop(self, s, role):
        while True:
            try:
                raw, _ = s.accept()
            except OSError:
                return
            try:
                link = Link.accept(raw, self.cert, self.key, self.pow)
            except Exception as e:  # noqa: BLE001
                self.violation("%s link set-up failed: %r" % (role, e))
                continue
            threading.Thread(target=self._serve, args=(link, role), daemon=True).start()

    def _serve(self, link, role):
        state = {"ready": False}
        while True:
            p = link.next(timeout=3600)
            if p is None:
                with self.lock:
                    if role == "client" and link in self.clients:
                        self.clients.remove(link)
                    for m, w in list(self.workers.items()):
                        if w is link:
                            del self.workers[m]
                self.events.put((role, "closed", link))
                return
            try:
                if p["_"] == "tcp.query":
                    q = tl.decode(p["data"])
                    getattr(self, "%s_query" % role)(link, state, p["id"], q)
                elif p["_"] == "tcp.packet":
                    getattr(self, "%s_packet" % role)(link, state, tl.decode(p["data"]))
                else:
                    self.violation("%s sent %s" % (role, p["_"]))
            except ProtocolError as e:
                self.violation("%s: %s" % (role, e))

    def proxy_params(self, proto):
        # ProxyInboundWorkerConnection.cpp:90-92 / ProxyInboundClientConnection.cpp:96-98.
        return {"_": "proxy.params", "flags": 1 | (2 if proto > 0 else 0),
                "proxy_public_key": bytes(32), "proxy_owner_address": PROXY_OWNER,
                "proxy_sc_address": ZERO_ADDRESS, "is_test": True, "proto_version": proto}

    @staticmethod
    def choose_version(params):
        # ProxyInbound*Connection.cpp: the peer's range from flags bit 1 (else
        # 0..0), ours 0..2 (ProxyRunner.hpp:44-49); max of the overlap.
        lo, hi = (params["min_proto_version"], params["max_proto_version"]) \
            if params["flags"] & 2 else (0, 0)
        if hi < 0 or 2 < lo:
            return None
        return min(hi, 2)

    # ---- worker side: ProxyInboundWorkerConnection.cpp
    def worker_query(self, link, st, qid, q):
        if q["_"] == "worker.connectToProxy":
            p = q["params"]
            # :42-66 the checks, in COCOON's order.
            why = None
            if not p["flags"] & 1:
                why = (ERROR, "too old worker")
            elif p["is_test"] is not True:
                why = (ERROR, "test mode mismatch")
            elif p["model"] == b"":
                why = (PROTOVIOLATION, "invalid worker hash or worker type")
            elif not 0 <= p["coefficient"] < 1000000000:
                why = (PROTOVIOLATION, "invalid coefficient value")
            elif p["max_active_requests"] < 1:
                why = (PROTOVIOLATION, "invalid max_active_requests value")
            elif p["proxy_cnt"] < 1:
                why = (PROTOVIOLATION, "invalid proxy_cnt value")
            v = self.choose_version(p)
            if why is None and v is None:
                why = (PROTOVIOLATION, "cannot choose common protocol version")
            if why is None:
                try:
                    parse_std_address(p["worker_owner_address"])  # :77
                except (ProtocolError, ValueError) as e:
                    why = (ERROR, str(e))
            if why:
                self.violation("worker.connectToProxy refused: %r (params %r)" % (why, p))
                link.answer_error(qid, *why)
                return
            st.update(proto=v, model=p["model"].decode().split("@")[0], coefficient=p["coefficient"],
                      max_active=p["max_active_requests"])
            link.answer(qid, {"_": "worker.connectedToProxy", "params": self.proxy_params(v),
                              "worker_sc_address": ZERO_ADDRESS})
        elif q["_"] == "worker.compareBalanceWithProxy":
            if "proto" not in st:
                self.violation("compareBalanceWithProxy before connectToProxy")
            code = 1 if self.compare_ext_once else 0
            self.compare_ext_once = False
            st["compare_code"] = code
            link.answer(qid, {"_": "worker.compareBalanceWithProxyResult",
                              "signed_payment": {"_": "proxy.signedPaymentEmpty"},
                              "tokens_committed_to_db": 0, "max_tokens": 0, "error_code": code})
        elif q["_"] == "worker.extendedCompareBalanceWithProxy":
            # :117-124 answered with 0 (COCOON does not compare further yet).
            if st.get("compare_code") != 1:
                self.violation("extendedCompareBalanceWithProxy without error_code 1")
            st["extended"] = True
            link.answer(qid, {"_": "worker.extendedCompareBalanceWithProxyResult", "error_code": 0})
        elif q["_"] == "worker.proxyHandshakeComplete":
            # WorkerProxyConnection.cpp:162-166, :209-211: complete only after
            # a zero code, or after the extended comparison.
            if st.get("compare_code") != 0 and not st.get("extended"):
                self.violation("handshake completed without reconciling the balance")
            st["ready"] = True
            st["enabled"] = not q["is_disabled"]
            with self.lock:
                self.workers[st["model"]] = link
            link.state = st
            link.answer(qid, {"_": "worker.proxyHandshakeCompleted"})
            self.events.put(("worker", "ready", link))
        elif q["_"] == "worker.updatePaymentStatus":
            link.answer(qid, {"_": "worker.paymentStatus",
                              "signed_payment": {"_": "proxy.signedPaymentEmpty"},
                              "db_tokens": 0, "max_tokens": 0})
        else:
            link.answer_error(qid, PROTOVIOLATION, "unexpected query")
            self.violation("worker query %s" % q["_"])

    def worker_packet(self, link, st, m):
        if not st.get("ready"):
            self.violation("worker packet %s before the handshake" % m["_"])
            return
        if m["_"] == "worker.enabledDisabled":
            st["enabled"] = m["disabled"] == 0
            self.events.put(("worker", "enabled", st["enabled"]))
            return
        if m["_"] == "worker.newCoefficient":
            # ProxyRunner.cpp:1159-1173: negative ends the link, else applied.
            if m["new_coefficient"] < 0:
                self.violation("bad coefficient value %d" % m["new_coefficient"])
            st["coefficient"] = m["new_coefficient"]
            self.events.put(("worker", "coefficient", m["new_coefficient"]))
            return
        if m["_"] not in ("proxy.queryAnswerEx", "proxy.queryAnswerPartEx", "proxy.queryAnswerErrorEx"):
            self.violation("worker packet %s" % m["_"])
            return
        with self.lock:
            req = self.requests.get(m["request_id"])
        if req is None:
            self.violation("answer to an unknown request")  # ProxyRunner.cpp:1100-1104 logs it
            return
        client, crid, rstate = req
        now = time.time()
        # ProxyRunningRequest.cpp:58-100: a second head is "out of order answer
        # parts"; the head must be an http.response (move_as_ok); completion
        # needs final_info (CHECK); errors dereference final_info too (:124).
        answer = m.get("answer")
        if m["_"] == "proxy.queryAnswerEx":
            if rstate["sent_answer"]:
                self.violation("out of order answer parts")
            resp = tl.decode(m["answer"], "http.response")
            rstate["sent_answer"] = True
            rstate["head_at"] = now
            self.events.put(("worker", "head", resp))
            # :71-78 the proxy's timing headers, re-serialised.
            resp["headers"] = list(resp["headers"]) + [
                {"_": "http.header", "name": b"X-Cocoon-Proxy-Start",
                 "value": b"%.6f" % rstate["start"]},
                {"_": "http.header", "name": b"X-Cocoon-Proxy-End", "value": b"%.6f" % now}]
            answer = tl.encode(resp)
        elif m["_"] == "proxy.queryAnswerPartEx" and not rstate["sent_answer"]:
            self.violation("queryAnswerPartEx before queryAnswerEx")
        done = m["flags"] & 1 or m["_"] == "proxy.queryAnswerErrorEx"
        if (m["flags"] & 1 or m["_"] == "proxy.queryAnswerErrorEx") and not m.get("final_info"):
            self.violation("%s without final_info (COCOON's proxy dereferences it)" % m["_"])
        fi = None
        if m.get("final_info"):
            wfi = m["final_info"]
            # :254-258 create_final_info for a protocol-2 client.
            fi = {"_": "client.queryFinalInfo", "flags": 2, "tokens_used": wfi["tokens_used"],
                  "proxy_start_time": rstate["start"], "proxy_end_time": now,
                  "worker_start_time": wfi.get("worker_start_time", 0.0),
                  "worker_end_time": wfi.get("worker_end_time", 0.0)}
            self.events.put(("worker", "final", wfi))
            if rstate["debug"]:
                # ProxyRunningRequest.cpp:244-258 proxy_debug, worker_debug passed on.
                fi["flags"] |= 1
                fi["worker_debug"] = wfi.get("worker_debug") or b""
                fi["proxy_debug"] = json.dumps({
                    "type": "proxy_stats", "start_time": rstate["start"],
                    "answer_receive_start_at": rstate.get("head_at", now),
                    "answer_receive_end_at": now}).encode()
        out = {"_": m["_"].replace("proxy.", "client."), "request_id": crid,
               "flags": 1 if fi else 0, "final_info": fi}
        if m["_"] == "proxy.queryAnswerErrorEx":
            out.update(error_code=m["error_code"], error=m["error"], flags=1)
        else:
            out["answer"] = answer
        client.send_packet(out)
        if done:
            with self.lock:
                self.requests.pop(m["request_id"], None)

    # ---- client side: ProxyInboundClientConnection.cpp, ProxyRunner.cpp
    def client_query(self, link, st, qid, q):
        if q["_"] == "client.connectToProxy":
            p = q["params"]
            why = None
            if not p["flags"] & 1:  # :37-39
                why = (ERROR, "tool old client")
            elif p["is_test"] is not True:  # :40-42
                why = (ERROR, "test mode mismatch")
            else:
                try:
                    parse_std_address(p["client_owner_address"])  # :43-46
                except (ProtocolError, ValueError) as e:
                    why = (ERROR, "cannot parse client owner address: %s" % e)
            v = self.choose_version(p)
            if why is None and v is None:
                why = (PROTOVIOLATION, "cannot choose common protocol version")
            if why:
                self.violation("client.connectToProxy refused: %r (params %r)" % (why, p))
                link.answer_error(qid, *why)
                return
            st["proto"] = v
            # :69-76 without a chain: the short form with the (pseudo) client's
            # secret hash, which is not the hash of any secret the client has.
            link.answer(qid, {"_": "client.connectedToProxy", "params": self.proxy_params(v),
                              "client_sc_address": ZERO_ADDRESS,
                              "auth": {"_": "client.proxyConnectionAuthShort",
                                       "secret_hash": bytes(32), "nonce": 0},
                              "signed_payment": {"_": "proxy.signedPaymentEmpty"}})
        elif q["_"] == "client.authorizeWithProxyLong":
            # :128-132 ton disabled: success at once.
            self._auth_ok(link, st, qid)
        elif q["_"] == "client.authorizeWithProxyShort":
            # :150-154 the secret's SHA-256 must be the client's secret hash;
            # no secret hashes to zero, so this is COCOON's refusal.
            self.violation("short auth against a hash that is not the client's secret's")
            link.answer_error(qid, 0, "sha256 mismatch")
        elif q["_"] == "client.getWorkerTypesV2":
            if not st.get("ready"):
                self.violation("getWorkerTypesV2 before authorization")
            with self.lock:
                ws = dict(self.workers)
            types = [{"_": "client.workerTypeV2", "name": name, "workers": [
                {"_": "client.workerInstanceV2", "flags": 0, "coefficient": w.state["coefficient"],
                 "active_requests": 0, "max_active_requests": w.state["max_active"]}]}
                for name, w in ws.items()]
            # A model listed that the routing no longer knows (its worker left
            # between the list and the request): COCOON's "unknown model".
            types.append({"_": "client.workerTypeV2", "name": GHOST, "workers": [
                {"_": "client.workerInstanceV2", "flags": 0, "coefficient": 1000,
                 "active_requests": 0, "max_active_requests": 1}]})
            link.answer(qid, {"_": "client.workerTypesV2", "types": types})
        elif q["_"] == "client.updatePaymentStatus":
            link.answer(qid, {"_": "client.paymentStatus",
                              "signed_payment": {"_": "proxy.signedPaymentEmpty"},
                              "db_tokens": 0, "max_tokens": 0})
        else:
            # ProxyRunner.cpp: any other query from a client is not COCOON's.
            link.answer_error(qid, PROTOVIOLATION, "unexpected query %s" % q["_"])
            self.events.put(("client", "query", q["_"]))

    def _auth_ok(self, link, st, qid):
        st["ready"] = True
        with self.lock:
            self.clients.append(link)
        # :165-175 send_auth_success: tokens committed and max_tokens (used).
        link.answer(qid, {"_": "client.authorizationWithProxySuccess",
                          "signed_payment": {"_": "proxy.signedPaymentEmpty"},
                          "tokens_committed_to_db": 0, "max_tokens": 0})
        self.events.put(("client", "ready", link))

    def client_packet(self, link, st, m):
        if not st.get("ready"):
            self.violation("client packet %s before authorization" % m["_"])
            return
        if m["_"] != "client.runQueryEx":
            self.events.put(("client", "packet", m["_"]))
            return
        rid = m["request_id"]

        def fail(code, text):
            # ProxyRunner.cpp:1412-1417: the old constructor, whatever the
            # client's protocol version.
            link.send_packet({"_": "client.queryAnswerError", "error_code": code, "error": text,
                              "request_id": rid, "request_tokens_used": {
                                  "_": "tokensUsed", "prompt_tokens_used": 0, "cached_tokens_used": 0,
                                  "completion_tokens_used": 0, "reasoning_tokens_used": 0,
                                  "total_tokens_used": 0}})
            self.events.put(("client", "refused", text))

        self.events.put(("client", "run", m))
        tl.decode(m["query"], "http.request")
        # :1419-1425 the balance check first.
        if self.tokens_available < m["max_tokens"]:
            return fail(ERROR, "client balance is too low: max_tokens=%d tokens_payed=0 "
                        "tokens_used=0 tokens_reserved=0 tokens_stake=0" % m["max_tokens"])
        # choose_connection (:1350-1404).
        name = m["model_name"].decode()
        with self.lock:
            w = self.workers.get(name)
        if name != MODEL:
            return fail(PROTOVIOLATION, "unknown model " + name)
        if w is None or not w.state.get("enabled"):
            return fail(NOTREADY, "no workers for model " + name)
        wrid = secrets.token_bytes(32)
        debug = bool(m["flags"] & 1 and m.get("enable_debug"))
        with self.lock:
            self.requests[wrid] = (link, rid, {"sent_answer": False, "start": time.time(),
                                               "debug": debug})
        # ProxyRunningRequest.cpp:35-38: proxy.runQueryEx, timeout * 0.95, the
        # client's enable_debug.
        w.send_packet({"_": "proxy.runQueryEx", "query": m["query"],
                       "signed_payment": {"_": "proxy.signedPaymentEmpty"},
                       "coefficient": w.state["coefficient"], "timeout": m["timeout"] * 0.95,
                       "request_id": wrid, "flags": 1, "enable_debug": debug})

    def wait_event(self, role, kind, timeout=60):
        timeout = cocoonlib.limit(timeout)
        end = time.time() + timeout
        while time.time() < end:
            try:
                ev = self.events.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                break
            if ev[0] == role and ev[1] == kind:
                return ev[2]
        cocoonlib.fail("no %s %s event within %d s" % (role, kind, timeout))


def drain(px):
    while True:
        try:
            px.events.get_nowait()
        except queue.Empty:
            return


def chat(port, stream=False, model=MODEL, max_tokens=None):
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    if max_tokens:
        body["max_tokens"] = max_tokens
    t0 = time.time()
    st, hdrs, data = cocoonlib.http(port, "POST", "/v1/chat/completions", body, timeout=60)
    return st, hdrs, data, time.time() - t0


def main(holder):
    net = cocoonlib.Network("interop-proxy")
    holder.append(net)
    cert, key = make_cert(net.dir, "cocoon-proxy")
    px = MiniProxy(cert, key)
    wport, cport = px.listen("worker"), px.listen("client")
    backend = net.start_backend(model=MODEL, chunks=CHUNKS, chunk_bytes=8)
    net.worker_port = wport
    _, whttp = net.start_worker(backend, model=MODEL)
    wlink = px.wait_event("worker", "ready")
    check_eq(wlink.state["proto"], 2, "protocol version chosen with our worker")
    check(wlink.state.get("extended"), "our worker reconciled the balance after error_code 1")
    hport = net.start_client(proxies=["127.0.0.1:%d" % cport])
    clink = px.wait_event("client", "ready")
    net.wait_models(MODEL, timeout=30)

    log("plain and streamed requests through COCOON's proxy")
    st, _, data, _ = chat(hport)
    check_eq(st, 200, "plain request status (%r)" % data[:200])
    check_eq(json.loads(data)["usage"]["completion_tokens"], CHUNKS, "usage through the proxy")
    raw = cocoonlib.Stream(hport, "/v1/chat/completions", {
        "model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        timeout=60).read_all()
    events = cocoonlib.sse_events(raw)
    check_eq(events[-1], "[DONE]", "stream end")

    log("COCOON's refusals: client.queryAnswerError, answered at once")
    # The client's request timeout is 60 s: an answer within 20 s is the
    # refusal, not the timeout.
    net.wait_models(GHOST, timeout=30)
    st, _, data, took = chat(hport, model=GHOST)
    check_eq(st, 404, "unknown model (%r)" % data[:200])
    check_eq(px.wait_event("client", "refused"), "unknown model " + GHOST, "the proxy's refusal")
    check(took < 20, "unknown-model refusal at once (%.1f s)" % took)
    px.tokens_available = 0
    st, _, data, took = chat(hport, max_tokens=50)
    check_eq(st, 402, "balance too low (%r)" % data[:200])
    check(px.wait_event("client", "refused").startswith("client balance is too low"),
          "the proxy's balance refusal")
    check_eq(json.loads(data)["error"]["code"], "insufficient_quota", "402 error code")
    check(took < 20, "refusal answered at once, not after the timeout (%.1f s)" % took)
    px.tokens_available = 1 << 40
    wlink.state["enabled"] = False  # as after worker.enabledDisabled
    st, _, data, took = chat(hport)
    check_eq(st, 503, "no worker (%r)" % data[:200])
    check("no workers for model" in json.loads(data)["error"]["message"], "COCOON's text kept")
    check(took < 20, "no-worker refusal at once (%.1f s)" % took)
    wlink.state["enabled"] = True

    log("COCOON's per-request fields, timing headers and debug answers")
    drain(px)
    guid = "interop-guid-1"
    st, hdrs, data = cocoonlib.http(hport, "POST", "/v1/chat/completions", {
        "model": MODEL, "messages": [{"role": "user", "content": "hi"}], "timeout": 33,
        "enable_debug": True, "request_guid": guid}, timeout=60)
    check_eq(st, 200, "debug request status (%r)" % data[:200])
    run = px.wait_event("client", "run")
    # ClientRunningRequest.cpp:89-108 the fields are read and erased from the
    # body; :140-143 timeout * 0.95 and enable_debug with flags bit 0. Ours
    # sends the timeout as given (the proxy applies its own margin).
    check(30 <= run["timeout"] <= 33, "runQueryEx timeout from the body (%r)" % run["timeout"])
    check(run["flags"] & 1 and run["enable_debug"] is True, "enable_debug in runQueryEx")
    sent = json.loads(tl.decode(run["query"], "http.request")["payload"])
    for k in ("timeout", "enable_debug", "request_guid"):
        check(k not in sent, "%s removed from the forwarded body (%r)" % (k, sent))
    head = px.wait_event("worker", "head")
    names = [h["name"].decode().lower() for h in head["headers"]]
    # WorkerRunningRequest.cpp:225-229 the worker's timing headers.
    check("x-cocoon-worker-start" in names and "x-cocoon-worker-end" in names,
          "our worker's timing headers (%r)" % names)
    wfi = px.wait_event("worker", "final")
    # WorkerRunningRequest.cpp:323-336 worker_debug with enable_debug.
    check(wfi["flags"] & 1, "worker final info carries debug")
    check_eq(json.loads(wfi["worker_debug"])["type"], "worker_stats", "worker_debug type")
    # ClientRunningRequest.cpp:175-179 the client's headers; the others pass on.
    for h in ("x-cocoon-client-start", "x-cocoon-client-end", "x-cocoon-proxy-start",
              "x-cocoon-proxy-end", "x-cocoon-worker-start", "x-cocoon-worker-end"):
        check(h in hdrs, "%s in the answer (%r)" % (h, sorted(hdrs)))
    check(float(hdrs["x-cocoon-client-start"]) <= float(hdrs["x-cocoon-client-end"]),
          "client start before end")
    # :314-376 the debug object on the last JSON value of the answer.
    dbg = json.loads(data)["debug"]
    check_eq(dbg["client"]["type"], "client_stats", "client debug")
    check_eq(dbg["proxy"]["type"], "proxy_stats", "proxy debug passed on")
    check_eq(dbg["worker"]["type"], "worker_stats", "worker debug passed on")
    # ClientRunner.cpp:253-261 /request/debuglogentry keeps it under the guid.
    st, _, kept = cocoonlib.http(hport, "GET", "/request/debuglogentry?request_guid=" + guid)
    check_eq(st, 200, "debuglogentry status")
    check_eq(json.loads(kept), dbg, "the kept debug object")
    st, _, kept = cocoonlib.http(hport, "GET", "/request/debuglogentry?request_guid=nope")
    check_eq(json.loads(kept), {}, "unknown guid")
    st, _, data = cocoonlib.http(hport, "POST", "/v1/chat/completions", {
        "model": MODEL, "messages": [{"role": "user", "content": "hi"}], "timeout": "soon"})
    check_eq(st, 400, "a bad timeout is a 400 (%r)" % data[:200])
    check_eq(json.loads(data)["error"]["param"], "timeout", "the 400 names the field")

    log("the worker's control paths (WorkerRunner.cpp:195-227)")
    drain(px)
    st, _, data = cocoonlib.http(whttp, "GET", "/request/change_coefficient?coefficient=2.5")
    check_eq(st, 200, "change_coefficient (%r)" % data[:200])
    check_eq(px.wait_event("worker", "coefficient"), 2500, "worker.newCoefficient x1000")
    check_eq(json.loads(data)["coefficient"], 2500, "the new coefficient answered")
    st, _, data = cocoonlib.http(whttp, "GET", "/request/change_coefficient?coefficient=abc")
    check_eq(st, 400, "a coefficient that is not a number (%r)" % data[:200])
    st, _, data = cocoonlib.http(whttp, "GET", "/request/disable")
    check_eq(st, 200, "disable (%r)" % data[:200])
    check_eq(px.wait_event("worker", "enabled"), False, "worker.enabledDisabled 1")
    st, _, data = cocoonlib.http(whttp, "GET", "/request/enable")
    check_eq(px.wait_event("worker", "enabled"), True, "worker.enabledDisabled 0")
    st, _, data, _ = chat(hport)
    check_eq(st, 200, "request after the changes (%r)" % data[:200])
    wfi = px.wait_event("worker", "final")
    check(not wfi["flags"] & 1, "no worker_debug without enable_debug")

    log("ping both links")
    wlink.ping()
    clink.ping()

    log("the proxy drops the client; it reconnects")
    clink.close()
    px.wait_event("client", "ready", timeout=60)
    st, _, data, _ = chat(hport)
    check_eq(st, 200, "request after the reconnect (%r)" % data[:200])
    check(not px.violations, "violations of COCOON's rules: %r" % px.violations)


if __name__ == "__main__":
    cocoonlib.run(main)
