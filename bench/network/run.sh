#!/usr/bin/env bash
# Throughput and latency through client -> proxy -> worker vs directly to the backend.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 bench/network/bench_network.py "$@"
