#!/usr/bin/env bash
# A prompt batch's attention on one thread: per query (token-major, as before the tiles),
# per query head by head, and in tiles, thread CPU time (JSON lines).
# usage: bench/engine/attention.sh [BUILD_DIR] [REPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
reps=${2:-9}
. bench/engine/bench_build.sh
out=$(bench_build bench_attention)
echo "{\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
"$out" "$reps"
echo "{\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
