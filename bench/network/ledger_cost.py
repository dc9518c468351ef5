"""The money path's cost on the relay benchmark: the same bulk workload
(bench_network.py's streamed chat completion, keep-alive, BENCH_CONNECTIONS
connections, 30 by default) through two `cocoon up` networks running side by
side, one with `--chain none` (the free mode: the proxy's ledger still
reserves, bills and commits every request, nothing moves on chain) and one with
`--chain local` (tonsim: the same ledger, plus contracts read, save_state notes
and vouchers signed, the client's contract read and topped up). The runs are
interleaved (none, local, none, local, ...; BENCH_ROUNDS rounds, 3 by default)
so that the machine's load moves both alike; every figure carries the load
average. Prints one JSON line per run and a summary with the medians and the
local/none ratios of requests/s and of CPU µs per request (client + proxy +
worker), over the valid runs. Exits 1 when a run had non-2xx answers or
socket errors. Keep the total short: `cocoon up`'s client contract holds
0.1 TON of stake, about 5 million tokens of credit (some 60,000 requests
here), and the client does not yet force a charge to free more (COCOON's
client does), so longer runs end in 402s on the local chain."""
import json
import os
import signal
import statistics
import sys
import tempfile

import bench_network as bn

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def network(chain, backend_url):
    workdir = tempfile.mkdtemp(prefix="cocoon-bench-ledger-%s-" % chain)
    up, m = bn.start([os.path.join(bn.BIN, "cocoon"), "up", "--port", "0", "--workers", "1",
                      "--backend", "openai-http", "--backend-url", backend_url, "--model",
                      bn.MODEL, "--sealing", "off", "--chain", chain, "--dir", workdir],
                     r"ready (http://\S+)", timeout=180)
    return up, m.group(1)


def main():
    backend, m = bn.start([os.path.join(bn.BIN, "cocoon-fake-backend"), "--port", "0", "--model",
                           bn.MODEL, "--chunks", str(bn.CHUNKS), "--chunk-bytes",
                           str(bn.CHUNK_BYTES)], r"listening (\d+)")
    backend_url = "http://127.0.0.1:%s" % m.group(1)
    nets = {}
    runs = {"none": [], "local": []}
    invalid = []
    try:
        for chain in ("none", "local"):
            nets[chain] = network(chain, backend_url)
            bn.check_capacity(nets[chain][1])
        for rnd in range(ROUNDS):
            for chain in ("none", "local"):
                up, url = nets[chain]
                r = bn.run_wrk(url + "/v1/chat/completions", True, bn.CONNECTIONS,
                               bn.daemon_pids(up.pid))
                r["cpu_us_total"] = round(sum(v for v in r["cpu_us_per_request"].values()
                                              if v is not None), 1)
                r.update({"bench": "ledger_cost", "chain": chain, "round": rnd + 1,
                          "connections": bn.CONNECTIONS, "keepalive": True})
                print(json.dumps(r), flush=True)
                if not r["valid"]:
                    invalid.append(r)
                runs[chain].append(r)
    finally:
        for up, _ in nets.values():
            up.send_signal(signal.SIGTERM)
        backend.send_signal(signal.SIGTERM)
        for up, _ in nets.values():
            up.wait(timeout=60)
        backend.wait(timeout=30)
    med = {}
    for chain, rs in runs.items():
        # Medians of the valid runs only (an invalid one is reported above
        # and fails the script).
        rs = [r for r in rs if r["valid"]] or rs
        med[chain] = {"rps": statistics.median(r["rps"] for r in rs),
                      "cpu_us_total": statistics.median(r["cpu_us_total"] for r in rs)}
        for role in ("client", "proxy", "worker"):
            med[chain]["cpu_us_" + role] = statistics.median(
                r["cpu_us_per_request"].get(role) or 0 for r in rs)
    print(json.dumps({"bench": "ledger_cost_summary", "rounds": ROUNDS, "median": med,
                      "rps_ratio_local_over_none": round(med["local"]["rps"] / med["none"]["rps"],
                                                         3),
                      "cpu_ratio_local_over_none": round(
                          med["local"]["cpu_us_total"] / med["none"]["cpu_us_total"], 3),
                      "valid": not invalid, "loadavg_end": bn.loadavg()}), flush=True)
    if invalid:
        print("bench: INVALID runs: %r" % [(r["chain"], r["round"], r["non_2xx"],
                                             r["socket_errors"]) for r in invalid],
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
