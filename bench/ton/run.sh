#!/usr/bin/env bash
# TON library throughput (JSON lines): BoC parse/serialize scaling, wallet
# transfers, vouchers. Builds the ton archives in the given build directory,
# compiles bench_ton.c against them and runs it.
# usage: bench/ton/run.sh [BUILD_DIR] [SECONDS_PER_OP]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${2:-0.5}
if ! log=$(cmake --build "$build" --target cocoon_ton 2>&1); then
  echo "$log" >&2
  exit 1
fi
out="$build/bench/bench_ton"
mkdir -p "$build/bench"
cc -std=c17 -O2 -D_GNU_SOURCE -Isrc bench/ton/bench_ton.c "$build/libcocoon_ton.a" \
  "$build/libcocoon_crypto.a" "$build/libcocoon_base.a" -lcurl -lcrypto -ljansson -lm -o "$out"
"$out" "$seconds"
