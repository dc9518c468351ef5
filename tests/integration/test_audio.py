#!/usr/bin/env python3
"""Speech to text through the network: a WAV spoken by espeak-ng goes client ->
proxy -> worker -> an OpenAI-compatible speech backend (the fake one) as
multipart/form-data, through the official SDK (transcriptions in json, text,
verbose_json, srt; a translation) and as a raw multipart request; the text
comes back, and each request is billed per audio second: ceil(the WAV header's
duration x audio_tokens_per_second) tokens on the API key (/jsonstats), at the
worker, and in the proxy's ledger. Audio other than WAV is billed on the
verbose_json duration the backend reports, refused without verbose_json, and
not given away (502) when the backend reports none. Malformed multipart is a
400. The embedded engine (stories260K, when present, given to cocoon-worker by
name as --model stories260K) refuses the endpoint."""
import json
import math
import os
import shutil
import subprocess
import wave

from cocoonlib import (binary, check, check_eq, free_port, http, http_json, jsonstats, limit, log,
                       Network, Proc, run, shared_model, wait_until, write_json)

SDK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openai_sdk")
KEY = "sk-audio-test-key-1"
RATE = 7  # audio_tokens_per_second given to the worker


def sdk(port, model, wav, mode=None, key=None):
    args = ["node", os.path.join(SDK_DIR, "sdk_audio.mjs"), "http://127.0.0.1:%d/v1" % port,
            model, wav] + ([mode] if mode else [])
    env = dict(os.environ)
    if key:
        env["COCOON_TEST_KEY"] = key
    out = subprocess.run(args, capture_output=True, text=True, timeout=limit(120), env=env)
    if out.returncode != 0:
        raise AssertionError("SDK audio failed (%d): %s" % (out.returncode, out.stderr[-2000:]))
    got = json.loads(out.stdout)
    log("SDK audio: %s" % json.dumps(got)[:2000])
    return got


def multipart(fields, boundary="cocoonTestBoundary42"):
    """fields: (name, value bytes, filename or None). Returns (content type, body)."""
    body = b""
    for name, value, filename in fields:
        disp = 'form-data; name="%s"' % name + ('; filename="%s"' % filename if filename else "")
        body += b"--" + boundary.encode() + b"\r\nContent-Disposition: " + disp.encode() + b"\r\n"
        if filename:
            body += b"Content-Type: application/octet-stream\r\n"
        body += b"\r\n" + value + b"\r\n"
    body += b"--" + boundary.encode() + b"--\r\n"
    return "multipart/form-data; boundary=" + boundary, body


def post_form(port, fields, path="/v1/audio/transcriptions", ctype=None):
    ct, body = multipart(fields)
    return http(port, "POST", path, body,
                headers={"Content-Type": ctype or ct, "Authorization": "Bearer " + KEY})


def key_tokens(port):
    st, js = http_json(port, "GET", "/jsonstats", timeout=5)
    check_eq(st, 200, "client /jsonstats")
    k = [x for x in js["api_keys"] if x["name"] == "audio"][0]
    return k["tokens_total"]


def worker_audio(net):
    st, js = http_json(net.workers[0][1], "GET", "/jsonstats", timeout=5)
    check_eq(st, 200, "worker /jsonstats")
    s = js["backend_stats"]["backend_stats"]  # the worker's, then the backend's own
    return s["audio_requests"], s["audio_seconds"]


def ledger_used(net):
    return net.proxy_stats()["ledger"]["clients_tokens_used"]


def through_network(holder, wav, seconds):
    want = math.ceil(seconds * RATE)
    net = Network("audio")
    holder.append(net)
    backend = net.start_backend(model="whisper-1")
    net.start_proxy()
    net.start_worker(backend, model="whisper-1", extra={"audio_tokens_per_second": RATE})
    state = os.path.join(net.dir, "client-state")
    port = net.start_client(extra={"max_body": 4 << 20, "state_dir": state,
                                   "api_keys": [{"name": "audio", "key": KEY}]})
    net.wait_workers(1, enabled=1)
    def model_listed():
        st, _, data = http(port, "GET", "/v1/models", headers={"Authorization": "Bearer " + KEY})
        return st == 200 and any(m["id"] == "whisper-1" for m in json.loads(data)["data"])
    wait_until(model_listed, 20, "whisper-1 at the client")

    got = sdk(port, "whisper-1", wav, key=KEY)
    fake_text = got["json"]["text"]
    check(fake_text.startswith("fake transcript of %.3f seconds" % seconds),
          "the backend's transcript comes back: %r" % fake_text)
    check_eq(got["prompted"]["text"], "hello cocoon", "the prompt-derived transcript")
    check_eq(got["text"].strip(), fake_text, "response_format text")
    check_eq(got["verbose"]["text"], fake_text, "verbose_json text")
    check(abs(got["verbose"]["duration"] - seconds) < 1e-3, "verbose_json duration")
    check_eq((got["verbose"]["words"], got["verbose"]["segments"]), (1, 1), "words and segments")
    check(got["srt"].startswith("1\n00:00:00,000 --> ") and fake_text in got["srt"], "srt")
    check_eq(got["translation"]["text"], fake_text, "a translation")
    check_eq(key_tokens(port), 6 * want, "6 SDK requests billed %d tokens each on the key" % want)
    log("billed: %d tokens a request (%.3f s x %d tokens/s, rounded up), %d for 6"
        % (want, seconds, RATE, 6 * want))
    n, secs = worker_audio(net)
    check_eq(n, 6, "audio requests at the worker")
    check(abs(secs - 6 * seconds) < 1e-3, "audio seconds at the worker: %r" % secs)
    used = ledger_used(net)
    check(used > 0, "the proxy's ledger charged the client: %r" % used)
    log("proxy ledger: clients_tokens_used %d (adjusted tokens)" % used)

    # curl-style raw multipart
    audio = open(wav, "rb").read()
    st, hdrs, body = post_form(port, [("model", b"whisper-1", None), ("file", audio, "x.wav")])
    check_eq(st, 200, "raw multipart: status")
    check_eq(json.loads(body)["text"], fake_text, "raw multipart: text")
    check(hdrs.get("x-request-id", "").startswith("req_"), "raw multipart: a request id")
    check_eq(key_tokens(port), 7 * want, "the raw request billed too")
    check(ledger_used(net) > used, "the proxy's ledger grew")

    # other audio: billed on the backend's verbose_json duration
    mp3 = b"ID3\x04" + bytes(range(256)) * 125  # 32004 bytes: the fake says 2.00025 s
    before = key_tokens(port)
    st, _, body = post_form(port, [("model", b"whisper-1", None), ("file", mp3, "x.mp3"),
                                   ("response_format", b"verbose_json", None)])
    check_eq(st, 200, "mp3 with verbose_json: status")
    check_eq(key_tokens(port) - before, math.ceil(len(mp3) / 16000 * RATE),
             "mp3 billed on the backend's duration")
    st, _, body = post_form(port, [("model", b"whisper-1", None), ("file", mp3, "x.mp3")])
    check_eq(st, 400, "mp3 without verbose_json: status")
    check_eq(json.loads(body)["error"]["param"], "response_format", "its param")
    before = key_tokens(port)
    st, _, body = post_form(port, [("model", b"whisper-1", None), ("file", mp3, "x.mp3"),
                                   ("response_format", b"verbose_json", None),
                                   ("fake_no_duration", b"true", None)])
    check_eq(st, 502, "a backend that reports no duration: status")
    check("cannot be billed" in json.loads(body)["error"]["message"], "its message")
    check_eq(key_tokens(port), before, "nothing billed without a duration")

    # malformed requests: clear 400s
    st, _, body = post_form(port, [("model", b"whisper-1", None), ("file", audio, "x.wav")],
                            ctype="multipart/form-data; boundary=other")
    check_eq(st, 400, "a wrong boundary")
    check_eq(json.loads(body)["error"]["code"], "invalid_multipart", "its code")
    st, _, body = post_form(port, [("model", b"whisper-1", None), ("file", audio[:30], "x.wav")])
    check_eq((st, json.loads(body)["error"]["param"]), (400, "file"), "a truncated WAV")
    st, _, body = post_form(port, [("model", b"whisper-1", None), ("file", audio, "x.wav"),
                                   ("response_format", b"mp4", None)])
    check_eq((st, json.loads(body)["error"]["param"]), (400, "response_format"), "a bad format")
    st, _, body = post_form(port, [("model", b"no-such-model", None), ("file", audio, "x.wav")])
    check_eq(st, 404, "an unknown model")
    check_eq(key_tokens(port), before, "refusals are not billed")

    # The key's usage survives a restart of the client (state_dir): with a budget
    # of what it has spent, the restarted client refuses the next request.
    spent = key_tokens(port)
    net.client.stop()
    check(os.path.exists(os.path.join(state, "api_key_usage.json")), "usage written at exit")
    port = net.start_client(extra={"max_body": 4 << 20, "state_dir": state,
                                   "api_keys": [{"name": "audio", "key": KEY,
                                                 "budget_tokens_total": spent}]})
    wait_until(lambda: jsonstats(port) is not None, 20, "the restarted client")
    check_eq(key_tokens(port), spent, "the key's tokens after a restart")
    st, _, body = post_form(port, [("model", b"whisper-1", None), ("file", audio, "x.wav")])
    check_eq(st, 429, "the budget counts what was spent before the restart")
    check_eq(json.loads(body)["error"]["code"], "insufficient_quota", "its code")


def embedded(holder, wav):
    model = shared_model()
    if not os.path.exists(model):
        log("embedded part skipped: %s not found" % model)
        return
    net = Network("audio-emb")
    holder.append(net)
    net.start_proxy()
    hport = free_port()
    cfg = write_json(os.path.join(net.dir, "worker-emb.json"), {
        "proxies": ["127.0.0.1:%d" % net.worker_port], "listen_http": "127.0.0.1:%d" % hport,
        "backend": "embedded", "threads": 1,
        "reconnect_min": 0.1, "reconnect_max": 1, "log_level": "debug"})
    # The model by name, found as cocoon up finds it: offline, in the shared directory.
    os.environ["COCOON_SHARED"] = os.path.dirname(os.path.dirname(model))
    os.environ["COCOON_NO_DOWNLOAD"] = "1"
    net.workers.append((Proc("worker-emb", [binary("cocoon-worker"), "--config", cfg,
                                            "--model", "stories260K"], net.dir), hport))
    port = net.start_client(extra={"max_body": 4 << 20})
    net.wait_workers(1, enabled=1, timeout=60)
    net.wait_models("stories260K")
    got = sdk(port, "stories260K", wav, mode="refused")["refused"]
    check_eq(got["status"], 400, "the embedded engine refuses audio")
    check_eq(got["code"], "unsupported_endpoint", "its code")
    check("/v1/audio/transcriptions" in got["message"], "it names the endpoint: %r" % got)


def main(holder):
    check(os.path.isdir(os.path.join(SDK_DIR, "node_modules", "openai")),
          "the openai npm package is not installed (scripts/install-deps.sh runs npm ci)")
    check(shutil.which("espeak-ng") is not None,
          "espeak-ng is not installed (scripts/install-deps.sh installs it)")
    d = Network("audio-wav").dir
    wav = os.path.join(d, "hello.wav")
    subprocess.run(["espeak-ng", "-w", wav, "hello cocoon"], check=True, timeout=limit(60),
                   capture_output=True)
    with wave.open(wav, "rb") as w:
        seconds = w.getnframes() / w.getframerate()
    log("espeak-ng wrote %d bytes, %.3f s of audio" % (os.path.getsize(wav), seconds))
    check(seconds > 0.3, "espeak-ng spoke")
    through_network(holder, wav, seconds)
    embedded(holder, wav)


if __name__ == "__main__":
    run(main)
