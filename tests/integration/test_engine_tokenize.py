#!/usr/bin/env python3
"""`cocoon engine tokenize` prints llama.cpp's ids for its test vectors (a sample of
each family through the command line; test_vocab_vectors.c checks them all in
process), parses special-token text only with --parse-special, adds no BOS, and
fails with a message on bad input."""
import json
import os
import subprocess
import sys
import tempfile

BIN = os.path.join(os.environ.get("COCOON_BIN_DIR", "build/bin"), "cocoon")
SHARED = os.environ.get("COCOON_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
VOCAB = os.path.join(SHARED, "models", "vocab")
SEP = b"\n__ggml_vocab_test__\n"


def run(*args, code=0):
    p = subprocess.run([BIN, "engine", "tokenize", *args], capture_output=True, timeout=120)
    err = p.stderr.decode(errors="replace")
    if "Sanitizer" in err:
        sys.exit(f"tokenize {args}: sanitizer report: {err}")
    if p.returncode < 0:
        sys.exit(f"tokenize {args}: crashed with signal {-p.returncode}")
    if p.returncode != code:
        sys.exit(f"tokenize {args}: exit {p.returncode}, expected {code}: {err}")
    return p.stdout.decode(), err


def vectors(name):
    raw = open(os.path.join(VOCAB, f"ggml-vocab-{name}.gguf.inp"), "rb").read()
    inputs, pos = [], 0
    while pos < len(raw):
        nxt = raw.find(SEP, pos)
        if nxt < 0:
            inputs.append(raw[pos:])
            break
        inputs.append(raw[pos:nxt])
        pos = nxt + len(SEP)
    outs = [[int(x) for x in line.split()]
            for line in open(os.path.join(VOCAB, f"ggml-vocab-{name}.gguf.out")).read().split("\n")[:len(inputs)]]
    return list(zip(inputs, outs))


def main():
    with tempfile.TemporaryDirectory(prefix="cocoon-tok-") as tmp:
        check_all(tmp)


def check_all(tmp):
    text_file = os.path.join(tmp, "text")
    checked = 0
    for name in ("llama-spm", "gpt-2", "deepseek-llm", "falcon", "mpt"):
        model = os.path.join(VOCAB, f"ggml-vocab-{name}.gguf")
        vec = vectors(name)
        assert len(vec) == 46, (name, len(vec))
        for i, (text, want) in enumerate(vec[::9]):
            with open(text_file, "wb") as f:
                f.write(text)
            out, _ = run("--model", model, "--text-file", text_file, "--json")
            got = json.loads(out)
            assert got == {"ids": want}, (name, text, got, want)
            if i == 0:  # the plain form: the ids space separated
                plain, _ = run("--model", model, "--text-file", text_file)
                assert plain == " ".join(map(str, want)) + "\n", (name, plain)
            checked += 1

    phi3 = os.path.join(VOCAB, "ggml-vocab-phi-3.gguf")
    out, _ = run("--model", phi3, "--prompt", "<|user|>\nHi", "--json")
    plain_ids = json.loads(out)["ids"]
    out, _ = run("--model", phi3, "--prompt", "<|user|>\nHi", "--parse-special", "--json")
    special_ids = json.loads(out)["ids"]
    assert 32010 not in plain_ids and len(plain_ids) > 3, plain_ids  # text, not the token
    assert special_ids[0] == 32010 and len(special_ids) < len(plain_ids), special_ids
    assert 1 not in special_ids  # no BOS even though the model adds one when generating
    out, _ = run("--model", phi3, "--prompt", "", "--json")
    assert json.loads(out) == {"ids": []}, out

    # Bad input: a message and a non-zero exit, never a crash.
    garbage = os.path.join(tmp, "garbage.gguf")
    with open(garbage, "wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00" + bytes(range(200)))
    _, err = run("--model", garbage, "--prompt", "x", code=1)
    assert "cocoon engine:" in err, err
    _, err = run("--model", os.path.join(tmp, "missing.gguf"), "--prompt", "x", code=1)
    assert "missing.gguf" in err, err
    _, err = run("--model", phi3, "--text-file", os.path.join(tmp, "missing.txt"), code=1)
    assert "missing.txt" in err, err
    run("--prompt", "x", code=2)  # no model
    run("--model", phi3, code=2)  # no text
    run("--model", phi3, "--prompt", "x", "--text-file", text_file, code=2)  # both
    print(f"tokenize: {checked} vectors through the CLI, special tokens and errors ok")


if __name__ == "__main__":
    main()
