#!/usr/bin/env bash
# The F16 row kernels (AVX2, AVX-512) by thread CPU time, alternating in one run (JSON lines):
# the synthetic model's shapes (2048 x 768 and 768 x 2048) over 100 MB of weights (from
# memory), a prompt step of 64 inputs and one input (generation).
# usage: bench/engine/f16.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
if ! log=$(cmake --build "$build" --target cocoon_engine 2>&1); then
  echo "$log" >&2
  exit 1
fi
out="$build/bench/bench_f16"
mkdir -p "$build/bench"
cc -std=c17 -O2 -D_GNU_SOURCE -Isrc -I"$build/generated" bench/engine/bench_f16.c \
  "$build/libcocoon_engine.a" "$build/libcocoon_crypto.a" "$build/libcocoon_base.a" \
  -lcrypto -ljansson -lm -lpthread -o "$out"
"$out" 2048 768 64 100
"$out" 768 2048 64 100
"$out" 2048 768 1 100
