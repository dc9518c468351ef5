#!/usr/bin/env bash
# The packed Q8_0/Q4_0/Q4_K tiles of each kind (AVX2, AVX-VNNI, AVX-512 VNNI) by
# thread CPU time, alternating kinds in one run (JSON lines): a 2048 x 768
# matrix (in cache) with 1 and 4 inputs, and 8192 x 2048 (from memory) with 1.
# usage: bench/engine/x8.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
if ! log=$(cmake --build "$build" --target cocoon_engine 2>&1); then
  echo "$log" >&2
  exit 1
fi
out="$build/bench/bench_x8"
mkdir -p "$build/bench"
cc -std=c17 -O2 -D_GNU_SOURCE -Isrc -I"$build/generated" bench/engine/bench_x8.c \
  "$build/libcocoon_engine.a" "$build/libcocoon_crypto.a" "$build/libcocoon_base.a" \
  -lcrypto -ljansson -lm -lpthread -o "$out"
"$out" 2048 768 1 1000
"$out" 2048 768 4 300
"$out" 2048 768 32 40
"$out" 8192 2048 1 30
