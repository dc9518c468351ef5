#!/usr/bin/env bash
# Transport figures: PoW solve time (difficulty 20), tcp.packet throughput over
# TLS on loopback (128 B and 16 KiB payloads), query round trip, connect time.
# usage: bench/net/run.sh [BUILD_DIR] [--quick]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
shift || true
exec "$build/bin/cocoon-net-bench" "$@"
