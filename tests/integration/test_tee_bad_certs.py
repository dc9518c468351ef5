#!/usr/bin/env python3
"""RA-TLS refusals over real TLS against a running proxy (DESIGN §5.2), with
`cocoon tee probe` as the peer, both directions:
- the proxy (policy fake) accepts a genuine fake-TEE certificate (control),
  and refuses one whose quote's REPORTDATA is not over its key and claims, an
  expired one and one without a quote, saying why in its log;
- a peer checking the proxy refuses its fake quote under policy tdx and under
  policy fake with another network's fake root;
- the registry lists client images: on the clients' port the proxy accepts
  the listed image and refuses another image and a client without a quote,
  while the workers' port does not apply the client list."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from cocoonlib import (BIN_DIR as BIN, Checks, cocoon, free_port, http, init_fake_root, limit,
                       read_text as read, wait_for)

check = Checks()
failures = check.failures


def up(port):
    return http(port, "GET", "/healthz", timeout=1)[0] == 200


def main():
    tmp = tempfile.mkdtemp(prefix="cocoon-tee-badcerts-")
    proxy = None
    try:
        root, other_root = os.path.join(tmp, "root"), os.path.join(tmp, "other-root")
        for d in (root, other_root):
            init_fake_root(d)

        def gen(name, *extra):
            cert, key = os.path.join(tmp, name + ".pem"), os.path.join(tmp, name + ".key")
            rc, out, err = cocoon("cert", "gen", "--tee", "fake", "--fake-root", root,
                                  "--cert", cert, "--key", key, "--role", "worker", *extra)
            check(rc == 0, f"cert gen {name}", err)
            gen.image[name] = next((l.split()[1] for l in out.splitlines()
                                    if l.startswith("image_hash ")), "")
            return cert, key
        gen.image = {}

        good = gen("good")
        measure = os.path.join(tmp, "other.measure")
        with open(measure, "w") as f:
            f.write("role=client\nsomething=else\n")
        other_image = gen("other-image", "--measure", measure)
        check(len(gen.image["good"]) == 64 and gen.image["good"] != gen.image["other-image"],
              "two fake images", str(gen.image))
        listed = gen.image["good"]
        with open(os.path.join(tmp, "registry.json"), "w") as f:
            f.write('{"version": 1, "proxy_image_hashes": "any", "worker_image_hashes": "any",'
                    f' "client_image_hashes": ["{listed}"],'
                    ' "model_hashes": "any", "proxies": []}')
        wport, cport, sport = free_port(), free_port(), free_port()
        cfg = os.path.join(tmp, "proxy.json")
        with open(cfg, "w") as f:
            f.write(f'{{"listen_workers": "127.0.0.1:{wport}", "listen_clients": '
                    f'"127.0.0.1:{cport}", "listen_http": "127.0.0.1:{sport}", "registry": '
                    f'"registry.json", "pow_difficulty": 4, "tee": "fake", "policy": "fake", '
                    f'"client_policy": "fake", "fake_root": "root"}}')
        log = os.path.join(tmp, "proxy.log")
        proxy = subprocess.Popen([os.path.join(BIN, "cocoon-proxy"), "--config", cfg],
                                 stdout=open(log, "w"), stderr=subprocess.STDOUT)
        check(wait_for(lambda: up(sport)) is not None, "proxy with policy fake is up", read(log))

        def probe(port, cert=None, key=None, policy="fake", fake_root=root):
            args = ["tee", "probe", f"127.0.0.1:{port}", "--policy", policy]
            if fake_root:
                args += ["--fake-root", fake_root]
            if cert:
                args += ["--cert", cert, "--key", key]
            return cocoon(*args)

        # Control: a genuine certificate gets through, and the probe sees the
        # proxy's verified quote.
        rc, out, err = probe(wport, *good)
        check(rc == 0 and "quote=verified" in out, "a genuine fake-TEE certificate is accepted",
              out + err)

        # Proxy side: the three bad certificates.
        cases = [
            ("wrong-reportdata", ["--wrong-report-data"],
             "REPORTDATA is not SHA-512 of the certificate's public key"),
            ("expired", ["--not-before", "2020-01-01T00:00:00Z", "--validity", "3600"],
             "certificate has expired"),
        ]
        for name, extra, reason in cases:
            cert, key = gen(name, *extra)
            rc, out, err = probe(wport, cert, key)
            check(rc != 0, f"{name}: the connection does not come up", out + err)
            check(wait_for(lambda: reason in read(log), 5) is not None,
                  f"{name}: the proxy log says why ({reason})", read(log)[-2000:])
        rc, out, err = probe(cport)  # fresh certificate without a quote
        check(rc != 0 and wait_for(lambda: "carries no TEE quote" in read(log), 5) is not None,
              "a certificate without a quote is refused (policy fake)", read(log)[-2000:])

        # Client images: the listed one passes the clients' port, another is
        # refused there (and still passes the workers' port, whose list is
        # the worker images).
        rc, out, err = probe(cport, *good)
        check(rc == 0, "the listed client image is accepted on the clients' port", out + err)
        rc, out, err = probe(cport, *other_image)
        check(rc != 0 and wait_for(lambda: "client image hash " + gen.image["other-image"] +
                                   " is not in the registry" in read(log), 5) is not None,
              "an unlisted client image is refused on the clients' port", read(log)[-2000:])
        rc, out, err = probe(wport, *other_image)
        check(rc == 0, "the client list does not apply on the workers' port", out + err)

        # Peer side: refusing the proxy's certificate.
        rc, out, err = probe(cport, *good, policy="tdx", fake_root=None)
        check(rc != 0 and "policy tdx" in err and "PCK chain" in err,
              "a tdx-policy peer refuses the proxy's fake quote", out + err)
        rc, out, err = probe(cport, *good, policy="fake", fake_root=other_root)
        check(rc != 0 and "PCK chain" in err,
              "a peer with another network's fake root refuses the proxy", out + err)
    finally:
        if proxy:
            proxy.send_signal(signal.SIGTERM)
            try:
                proxy.wait(limit(10))
            except subprocess.TimeoutExpired:
                proxy.kill()
        if failures and os.path.exists(os.path.join(tmp, "proxy.log")):
            print("--- proxy.log\n" + read(os.path.join(tmp, "proxy.log"))[-3000:])
        shutil.rmtree(tmp, ignore_errors=True)
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
