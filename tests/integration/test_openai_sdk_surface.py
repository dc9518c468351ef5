#!/usr/bin/env python3
"""The OpenAI surface beyond plain text through the official SDK (npm `openai`):
against an OpenAI-compatible backend (the fake one) tools, tool results,
response_format json_object, n, embeddings, models.retrieve and request ids
pass through; against the embedded engine (stories260K, when present) what it
cannot honour is refused with a 400 naming the field, never ignored (its
logit_bias is honoured, with token ids of its own vocabulary, and a JSON schema is
enforced: the answer parses and follows it). With API
keys configured, the SDK gets 401 without a key or with a wrong one, and 429
once its key's token budget is spent; /jsonstats shows the key's usage."""
import json
import os
import subprocess

from cocoonlib import (binary, check, check_eq, free_port, http_json, limit, log, Network, Proc,
                       run, shared_model, write_json)

SDK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openai_sdk")


def sdk(port, model, mode, key=None):
    args = ["node", os.path.join(SDK_DIR, "sdk_surface.mjs"), "http://127.0.0.1:%d/v1" % port,
            model, mode] + ([key] if key else [])
    out = subprocess.run(args, capture_output=True, text=True, timeout=limit(120))
    if out.returncode != 0:
        raise AssertionError("SDK (%s) failed (%d): %s" % (mode, out.returncode, out.stderr[-2000:]))
    got = json.loads(out.stdout)
    log("SDK %s: %s" % (mode, json.dumps(got)[:2000]))
    return got


def check_common(got, model):
    check_eq(got["plain"]["request_id"], "sdk-trace-1", "the caller's X-Request-Id comes back")
    rid = got["generated_request_id"] or ""
    check(rid.startswith("req_") and len(rid) == 36, "a generated X-Request-Id: %r" % rid)
    check_eq(got["retrieve"], {"id": model, "object": "model"}, "models.retrieve")
    check_eq(got["retrieve_unknown"]["status"], 404, "models.retrieve of an unknown model")
    check_eq(got["retrieve_unknown"]["code"], "model_not_found", "its code")


def passthrough(holder):
    net = Network("surface")
    holder.append(net)
    backend = net.start_backend(model="sdk-model", chunks=6, chunk_bytes=10)
    net.start_proxy()
    net.start_worker(backend, model="sdk-model")
    port = net.start_client()
    net.wait_workers(1, enabled=1)
    net.wait_models("sdk-model")
    got = sdk(port, "sdk-model", "passthrough")
    check_common(got, "sdk-model")
    check_eq(got["tools"]["finish_reason"], "tool_calls", "a tool call's finish_reason")
    check_eq(got["tools"]["name"], "get_weather", "the tool called")
    check_eq(got["tools"]["arguments"], "{}", "its arguments")
    check_eq(got["tool_result"]["finish_reason"], "stop", "the answer to a tool result")
    check(got["tool_result"]["content"].startswith("c0:"), "text after the tool result")
    check(got["json"]["text"].startswith("c0:"), "response_format json_object gives JSON")
    check_eq(got["n"], [0, 1, 2], "n=3 gives three choices")
    check_eq(got["embeddings"]["count"], 2, "one embedding per input")
    check_eq(got["embeddings"]["dims"], 8, "the fake backend's dimensions")
    check(got["embeddings"]["finite"] and got["embeddings"]["differ"], "decoded vectors")
    check(got["embeddings"]["prompt_tokens"] > 0, "embedding usage")


def embedded(holder):
    model = shared_model()
    if not os.path.exists(model):
        log("embedded part skipped: %s not found" % model)
        return
    net = Network("surface-emb")
    holder.append(net)
    net.start_proxy()
    hport = free_port()
    cfg = write_json(os.path.join(net.dir, "worker-emb.json"), {
        "proxies": ["127.0.0.1:%d" % net.worker_port], "listen_http": "127.0.0.1:%d" % hport,
        "backend": "embedded", "model": model, "threads": 1,
        "reconnect_min": 0.1, "reconnect_max": 1, "log_level": "debug"})
    net.workers.append((Proc("worker-emb", [binary("cocoon-worker"), "--config", cfg], net.dir),
                        hport))
    port = net.start_client()
    net.wait_workers(1, enabled=1, timeout=60)
    net.wait_models("stories260K")
    got = sdk(port, "stories260K", "embedded")
    check_common(got, "stories260K")
    fp = got["plain"]["system_fingerprint"] or ""
    check(fp.startswith("fp_") and len(fp) == 13, "system_fingerprint: %r" % fp)
    for field, want in [("tools", "tools"), ("response_format", "response_format"), ("n", "n"),
                        ("logit_bias", "logit_bias"), ("suffix", "suffix"), ("echo", "echo"),
                        ("prompt", "prompt"), ("embeddings", "model")]:
        r = got["refusals"][field]
        check_eq(r["status"], 400, "%s refused with 400" % field)
        check_eq(r["param"], want, "%s: the refusal names the field" % field)
    # logit_bias is honoured by the engine; only a key that is no token id is refused
    check_eq(got["refusals"]["logit_bias_ok"]["status"], 200, "logit_bias with a token id")
    check_eq(got["refusals"]["response_format"]["code"], "unsupported_parameter",
             "a schema keyword the engine cannot enforce")
    check("pattern" in got["refusals"]["response_format"]["message"], "the keyword is named")
    # n choices up to the worker's slots (4 by default); n: 9 was refused above
    check_eq(got["n_ok"], [0, 1], "n=2 gives two choices")
    # a JSON schema is enforced by grammar-constrained sampling
    js = got["json_schema"]
    check_eq(js["finish_reason"], "stop", "json_schema answer ends by itself")
    doc = json.loads(js["content"])
    check(isinstance(doc, dict) and set(doc) <= {"name", "age", "happy"}, "schema's keys: %r" % doc)
    check(isinstance(doc["name"], str) and len(doc["name"]) <= 10, "name: %r" % doc)
    check(isinstance(doc["age"], int) and not isinstance(doc["age"], bool), "age: %r" % doc)
    check(isinstance(doc.get("happy", True), bool), "happy: %r" % doc)


def keys(holder):
    net = Network("surface-keys")
    holder.append(net)
    backend = net.start_backend(model="sdk-model", chunks=6, chunk_bytes=10)
    net.start_proxy()
    net.start_worker(backend, model="sdk-model")
    # About 35 tokens a request (the fake backend counts a token per 4 body
    # bytes, plus 6): two requests pass, the second overruns, the third is refused.
    port = net.start_client(extra={"api_keys": [
        {"name": "sdk", "key": "sk-sdk-test-key-1", "budget_tokens_total": 60},
        {"name": "other", "key_sha256": "00" * 32}]})
    net.wait_workers(1, enabled=1)
    net.wait_client()
    st, _ = http_json(port, "GET", "/v1/models", timeout=5)
    check_eq(st, 401, "/v1/models without a key")
    got = sdk(port, "sdk-model", "keys", key="sk-sdk-test-key-1")
    for what in ("no_key", "wrong_key", "models_wrong_key"):
        check_eq(got[what]["status"], 401, "%s: status" % what)
        check_eq(got[what]["code"], "invalid_api_key", "%s: code" % what)
    check_eq(got["ok"], 2, "requests within the budget")
    check_eq(got["last"]["status"], 429, "past the budget")
    check_eq(got["last"]["code"], "insufficient_quota", "its code")
    check_eq(got["last"]["type"], "insufficient_quota", "its type")
    st, js = http_json(port, "GET", "/jsonstats", timeout=5)
    check_eq(st, 200, "/jsonstats")
    k = [x for x in js["api_keys"] if x["name"] == "sdk"][0]
    check_eq(k["requests"], 2, "the key's requests on /jsonstats")
    check_eq(k["refused_quota"], 1, "the key's refusals on /jsonstats")
    check(k["tokens_total"] >= 60 and k["tokens_day"] == k["tokens_total"],
          "the key's tokens on /jsonstats: %r" % k)
    check_eq(js["requests"]["unauthorized"], 4, "401s on /jsonstats")


def main(holder):
    check(os.path.isdir(os.path.join(SDK_DIR, "node_modules", "openai")),
          "the openai npm package is not installed (scripts/install-deps.sh runs npm ci)")
    passthrough(holder)
    embedded(holder)
    keys(holder)


if __name__ == "__main__":
    run(main)
