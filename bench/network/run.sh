#!/usr/bin/env bash
# Throughput and latency through client -> proxy -> worker vs directly to the backend, then
# 1,000 streams at once (first byte, memory per stream per hop).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 bench/network/bench_network.py "$@"
python3 bench/network/streams.py "$@"
