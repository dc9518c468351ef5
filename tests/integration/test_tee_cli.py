#!/usr/bin/env python3
"""The attestation commands end to end: `cocoon quote show|verify|fake`,
`cocoon cert gen|show`, `cocoon tee init-fake-root|fake-image-hash`, against
the real TDX quotes in $COCOON_SHARED/fixtures/tdx and the fake TEE.
Also: a binary changed by one byte gets another image hash and is refused by
an allowlist holding the genuine one."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from cocoonlib import Checks, limit

BIN = os.environ.get("COCOON_BIN_DIR", "build/bin")
SHARED = os.environ.get("COCOON_SHARED") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared")
FIX = os.path.join(SHARED, "fixtures", "tdx")
COCOON = os.path.join(BIN, "cocoon")
V4 = os.path.join(FIX, "dcap-qvl_sample_tdx_quote.bin")
V5 = os.path.join(FIX, "dcap-qvl_sample_tdx_quote_outdated.bin")

check = Checks()


def run(*args, exe=COCOON):
    p = subprocess.run([exe, *args], capture_output=True, text=True, timeout=limit(120))
    return p.returncode, p.stdout, p.stderr


def expected(name):
    with open(os.path.join(FIX, "expected.json")) as f:
        for q in json.load(f)["quotes"]:
            if q["file"] == name:
                return q
    raise SystemExit(f"no expected values for {name}")


def test_show(path):
    name = os.path.basename(path)
    exp = expected(name)
    rc, out, err = run("quote", "show", path, "--json")
    check(rc == 0, f"quote show {name}", err)
    got = json.loads(out)
    check(got["version"] == exp["header"]["version"], f"{name} version")
    check(got["tee_type"] == exp["header"]["tee_type"], f"{name} tee_type")
    bad = [k for k, v in exp["body"].items() if got.get(k) != v]
    check(not bad, f"{name}: {len(exp['body'])} body fields match expected.json", f"differ: {bad}")
    check(got["fmspc"] == exp["pck"]["fmspc"], f"{name} fmspc")
    check(len(got["image_hash"]) == 64, f"{name} image_hash present")
    # Hex text input gives the same answer.
    with tempfile.NamedTemporaryFile("w", suffix=".hex", delete=False) as t:
        t.write("0x" + open(path, "rb").read().hex() + "\n")
    rc, out2, _ = run("quote", "show", t.name, "--json")
    os.unlink(t.name)
    check(rc == 0 and json.loads(out2)["image_hash"] == got["image_hash"], f"{name} as hex text")


def test_verify():
    for q in (V4, V5):
        name = os.path.basename(q)
        rc, out, err = run("quote", "verify", q, "--at", "2026-11-21T00:00:00Z")
        check(rc == 0 and "VERIFIED" in out and "FAIL" not in out,
              f"quote verify {name} at 2026-11-21", out + err)
        rc, out, _ = run("quote", "verify", q, "--at", "2033-06-01T00:00:00Z")
        check(rc == 1 and "FAIL PCK chain" in out, f"quote verify {name} after PCK expiry fails", out)
    rc, out, err = run("quote", "verify", V4, "--at", "2025-06-20T00:00:00Z", "--collateral",
                       os.path.join(FIX, "dcap-qvl_sample_tdx_quote_collateral.json"))
    check(rc == 0 and "VERIFIED TCB UpToDate" in out, "v4 + collateral at 2025-06-20: UpToDate",
          out + err)
    rc, out, err = run("quote", "verify", V5, "--at", "2026-02-19T00:00:00Z", "--collateral",
                       os.path.join(FIX, "dcap-qvl_sample_tdx_quote_outdated_collateral.json"))
    check(rc == 1 and "no matching TCB level" in out, "v5 + collateral at 2026-02-19: no matching TCB level",
          out + err)
    # A flipped byte in the signed region fails.
    data = bytearray(open(V4, "rb").read())
    data[200] ^= 1
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as t:
        t.write(data)
    rc, out, _ = run("quote", "verify", t.name, "--at", "2026-11-21")
    os.unlink(t.name)
    check(rc == 1 and "FAIL quote signature" in out, "flipped byte refused", out)
    # Truncated and non-TDX input fail cleanly with a message.
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as t:
        t.write(open(V4, "rb").read()[:1000])
    rc, _, err = run("quote", "show", t.name)
    os.unlink(t.name)
    check(rc == 1 and "truncated" in err, "truncated quote refused", err)
    sgx = bytearray(open(V4, "rb").read())
    sgx[4] = 0
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as t:
        t.write(sgx)
    rc, _, err = run("quote", "show", t.name)
    os.unlink(t.name)
    check(rc == 1 and "not a TDX quote" in err, "SGX quote refused", err)
    rc, _, err = run("quote", "verify", V4, "--at", "next tuesday")
    check(rc == 2, "bad --at is a usage error", err)


def test_fake(tmp):
    root = os.path.join(tmp, "root")
    rc, _, err = run("tee", "init-fake-root", "--dir", root)
    check(rc == 0 and os.path.exists(os.path.join(root, "fake_root.pem")), "init-fake-root", err)
    rc, _, _ = run("tee", "init-fake-root", "--dir", root)
    check(rc == 1, "init-fake-root refuses to overwrite")
    q = os.path.join(tmp, "fake.bin")
    rc, _, err = run("quote", "fake", "--fake-root", root, "--out", q)
    check(rc == 0, "quote fake", err)
    rc, out, _ = run("quote", "verify", q, "--fake-root", root)
    check(rc == 0 and "VERIFIED" in out, "fake quote verifies against the fake root", out)
    rc, out, _ = run("quote", "verify", q)
    check(rc == 1 and "FAIL PCK chain" in out, "fake quote refused against Intel's root", out)

    # The image hash follows the executable: a copy changed by one byte differs.
    genuine = os.path.join(tmp, "cocoon-genuine")
    tampered = os.path.join(tmp, "cocoon-tampered")
    shutil.copy(COCOON, genuine)
    shutil.copy(COCOON, tampered)
    with open(tampered, "ab") as f:
        f.write(b"\0")
    rc, h_gen, _ = run("tee", "fake-image-hash", "--exe", genuine)
    rc2, h_tam, _ = run("tee", "fake-image-hash", "--exe", tampered)
    h_gen, h_tam = h_gen.strip(), h_tam.strip()
    check(rc == 0 and rc2 == 0 and len(h_gen) == 64 and h_gen != h_tam,
          "fake image hash changes with the binary")

    for exe, name, want in ((genuine, "genuine", 0), (tampered, "tampered", 1)):
        cert, key = os.path.join(tmp, name + ".pem"), os.path.join(tmp, name + ".key")
        rc, out, err = run("cert", "gen", "--tee", "fake", "--fake-root", root, "--cert", cert,
                           "--key", key, "--role", "worker", exe=exe)
        check(rc == 0, f"cert gen from the {name} binary", err)
        rc, out, err = run("cert", "show", cert, "--policy", "fake", "--fake-root", root,
                           "--allow-image", h_gen)
        check(rc == want and ("ACCEPTED" if want == 0 else "not allowed") in out,
              f"{name} binary {'accepted' if want == 0 else 'refused'} by the image allowlist",
              out + err)
    rc, out, _ = run("cert", "show", os.path.join(tmp, "genuine.pem"), "--policy", "tdx")
    check(rc == 1 and "REFUSED" in out, "policy tdx refuses a fake-TEE certificate", out)
    rc, out, _ = run("cert", "show", os.path.join(tmp, "genuine.pem"), "--policy", "any")
    check(rc == 0 and "role worker" in out, "policy any accepts and shows the claims", out)

    none = os.path.join(tmp, "none.pem")
    rc, _, err = run("cert", "gen", "--cert", none, "--key", os.path.join(tmp, "none.key"))
    check(rc == 0, "cert gen without a TEE", err)
    rc, out, _ = run("cert", "show", none, "--policy", "fake", "--fake-root", root)
    check(rc == 1 and "no TEE quote" in out, "policy fake refuses a certificate without a quote", out)
    rc, _, err = run("cert", "gen", "--tee", "tdx", "--cert", none, "--key", none + ".key")
    check(rc == 1 and "tdx" in err, "tee tdx outside a TD fails with a message", err)


def main():
    if not os.path.exists(COCOON):
        print(f"cocoon binary not found at {COCOON}")
        return 1
    test_show(V4)
    test_show(V5)
    test_verify()
    tmp = tempfile.mkdtemp(prefix="cocoon-tee-cli-")
    try:
        test_fake(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
