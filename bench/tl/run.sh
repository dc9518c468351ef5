#!/usr/bin/env bash
# TL encode/decode throughput (JSON lines). Builds the TL archives in the given
# build directory, compiles bench_tl.c against them and runs it.
# usage: bench/tl/run.sh [BUILD_DIR] [SECONDS_PER_OP]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${2:-0.5}
if ! log=$(cmake --build "$build" --target cocoon_tl 2>&1); then
  echo "$log" >&2
  exit 1
fi
out="$build/bench/bench_tl"
mkdir -p "$build/bench"
cc -std=c17 -O2 -D_GNU_SOURCE -Isrc -I"$build/generated" bench/tl/bench_tl.c \
  "$build/libcocoon_tl.a" "$build/libcocoon_base.a" -ljansson -lm -o "$out"
"$out" "$seconds"
