#!/usr/bin/env python3
"""`cocoon ton boc` and `cocoon ton address` reproduce the @ton/core vectors
(fixtures/ton/vectors.json) through the command line; `cocoon wallet new` and
`cocoon wallet address` agree; bad input fails with a message, not a crash."""
import json
import os
import subprocess
import sys
import tempfile

BIN = os.path.join(os.environ.get("COCOON_BIN_DIR", "build/bin"), "cocoon")
SHARED = os.environ.get("COCOON_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))


def run(*args, ok=True):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60)
    if "Sanitizer" in p.stderr:  # sanitizer builds: an error path must be clean too
        sys.exit(f"cocoon {' '.join(args)}: sanitizer report: {p.stderr}")
    if ok and p.returncode != 0:
        sys.exit(f"cocoon {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    if not ok and p.returncode == 0:
        sys.exit(f"cocoon {' '.join(args)} should have failed")
    if p.returncode < 0:
        sys.exit(f"cocoon {' '.join(args)} crashed with signal {-p.returncode}")
    return p


def main():
    vec = json.load(open(os.path.join(SHARED, "fixtures", "ton", "vectors.json")))
    checked = 0
    # bags of cells: every form in -> root hash, depth, cell count, canonical BoC out
    two = vec["cell_with_two_refs"]
    for key in ("boc_hex_crc32c", "boc_hex_no_crc", "boc_hex_idx_crc32c"):
        out = json.loads(run("ton", "boc", two["boc"][key], "--json").stdout)
        assert out["root_hash"] == two["root"]["hash_hex"], out
        assert out["depth"] == two["root"]["depth"] and out["cells"] == 3, out
        assert out["boc"] == two["boc"]["boc_hex_crc32c"], out
        checked += 1
    out = json.loads(run("ton", "boc", two["boc"]["boc_base64_crc32c"], "--json").stdout)
    assert out["boc"] == two["boc"]["boc_hex_crc32c"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.boc")
        with open(path, "wb") as f:
            f.write(bytes.fromhex(two["boc"]["boc_hex_idx_crc32c"]))
        out = json.loads(run("ton", "boc", "@" + path, "--json").stdout)
        assert out["root_hash"] == two["root"]["hash_hex"]
        for v in vec["wallet_external_messages"]["vectors"]:
            out = json.loads(run("ton", "boc", v["ext_msg_boc_base64"], "--json").stdout)
            assert out["root_hash"] == v["ext_msg_cell_hash_hex"], (v["wallet"], out)
            assert out["boc"] == v["ext_msg_boc_hex"], v["wallet"]
            checked += 1
        # addresses: any form in, all forms out
        for a in vec["addresses"]:
            for form in ("raw", "mainnet_bounceable_urlsafe", "testnet_non_bounceable_std_base64"):
                out = json.loads(run("ton", "address", a[form], "--json").stdout)
                assert out["raw"] == a["raw_form_roundtrip"], out
                assert out["bounceable"] == a["mainnet_bounceable_urlsafe"]
                assert out["non_bounceable"] == a["mainnet_non_bounceable_urlsafe"]
                assert out["testnet_bounceable"] == a["testnet_bounceable_urlsafe"]
                assert out["testnet_non_bounceable"] == a["testnet_non_bounceable_urlsafe"]
                checked += 1
        # malformed input: clear errors
        bad = two["boc"]["boc_hex_crc32c"][:-2] + "00"
        p = run("ton", "boc", bad, ok=False)
        assert "crc32c" in p.stderr, p.stderr
        p = run("ton", "address", "EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2O", ok=False)
        assert "checksum" in p.stderr, p.stderr
        # every kind of bad input: exit code 1 and one clear line naming the command
        raw0 = vec["addresses"][0]["raw"]
        junk = os.path.join(tmp, "junk.bin")
        with open(junk, "wb") as f:
            f.write(bytes.fromhex(two["boc"]["boc_hex_crc32c"])[:-7])
        bad_inputs = [
            ("boc", "", "truncated"), ("boc", "zz", "base64"), ("boc", "b5ee9c7", "base64"),
            ("boc", two["boc"]["boc_hex_no_crc"][:-2], "bag of cells"),
            ("boc", "@" + os.path.join(tmp, "missing.boc"), "cannot open"), ("boc", "@" + junk, "bag of cells"),
            ("boc", "te6cckEBAQEAAgAAAEysuc0=" + "A", "base64"),
            ("address", "", "neither"), ("address", raw0[:-1], "64 hex digits"),
            ("address", "1000:" + raw0[2:], "workchain"), ("address", raw0 + "0", "64 hex digits"),
            ("address", "EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xq", "neither"),
            ("address", "EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xq!!!", None),
        ]
        for what, arg, words in bad_inputs:
            p = run("ton", what, arg, "--json", ok=False)
            assert p.returncode == 1, (what, arg, p.returncode, p.stderr)
            assert p.stderr.startswith(f"cocoon ton {what}: ") and p.stderr.count("\n") == 1, (arg, p.stderr)
            assert words is None or words in p.stderr, (arg, words, p.stderr)
            assert p.stdout == "", (arg, p.stdout)
        checked += len(bad_inputs)
        # wallets: new writes keys, address derives the same wallet
        keys = os.path.join(tmp, "w.json")
        made = json.loads(run("wallet", "new", "--keys", keys).stdout)
        again = json.loads(run("wallet", "address", "--keys", keys, "--json").stdout)
        assert made["raw"] == again["raw"] and again["wallet_id"] == "7fffff11", (made, again)
        assert oct(os.stat(keys).st_mode & 0o777) == "0o600"
        run("wallet", "new", "--keys", keys, ok=False)  # no silent overwrite
        # the vectors' key gives the vectors' v5r1 wallet address
        vk = os.path.join(tmp, "v.json")
        with open(vk, "w") as f:
            json.dump({"version": "v5r1", "private_key": vec["keypair"]["seed_hex"]}, f)
        out = json.loads(run("wallet", "address", "--keys", vk, "--json").stdout)
        v5 = [v for v in vec["wallet_external_messages"]["vectors"] if v["wallet"] == "v5r1"][0]
        assert out["raw"] == v5["wallet_address_raw"], out
        assert out["bounceable"] == v5["wallet_address_bounceable"]
        checked += 1
        # vouchers from the command line verify, and tampering is caught
        target = vec["addresses"][0]["raw"]
        hexv = run("ton", "voucher", "sign", "--keys", vk, "--op", "charge", "--tokens", "500",
                   "--target", target, "--excess-to", target).stdout.strip()
        pub = vec["keypair"]["public_key_hex"]
        out = json.loads(run("ton", "voucher", "verify", hexv, "--pub", pub).stdout)
        assert out["tokens"] == 500 and out["target"] == target
        other = "00" * 31 + "01"
        run("ton", "voucher", "verify", hexv, "--pub", other, ok=False)
    print(f"ok: {checked} vector checks through the CLI")


if __name__ == "__main__":
    main()
