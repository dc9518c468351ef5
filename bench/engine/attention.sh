#!/usr/bin/env bash
# A prompt batch's attention on one thread: per query (token-major, as before the tiles),
# per query head by head, and in tiles, thread CPU time (JSON lines).
# usage: bench/engine/attention.sh [BUILD_DIR] [REPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
reps=${2:-9}
if ! log=$(cmake --build "$build" --target cocoon_engine 2>&1); then
  echo "$log" >&2
  exit 1
fi
out="$build/bench/bench_attention"
mkdir -p "$build/bench"
cc -std=c17 -O2 -D_GNU_SOURCE -Isrc -I"$build/generated" bench/engine/bench_attention.c \
  "$build/libcocoon_engine.a" "$build/libcocoon_crypto.a" "$build/libcocoon_base.a" \
  -lcrypto -ljansson -lm -lpthread -o "$out"
echo "{\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
"$out" "$reps"
echo "{\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
