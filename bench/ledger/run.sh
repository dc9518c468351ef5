#!/usr/bin/env bash
# The proxy ledger's cost per durable commit (JSON lines).
# usage: bench/ledger/run.sh [BUILD_DIR] [SECONDS_PER_FIGURE]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${2:-1}
if ! log=$(cmake --build "$build" --target cocoon_ledger 2>&1); then
  echo "$log" >&2
  exit 1
fi
out="$build/bench/bench_ledger"
mkdir -p "$build/bench"
cc -std=c17 -O2 -D_GNU_SOURCE -Isrc -I"$build/generated" bench/ledger/bench_ledger.c \
  "$build/libcocoon_ledger.a" "$build/libcocoon_ton.a" "$build/libcocoon_crypto.a" \
  "$build/libcocoon_base.a" -lsqlite3 -lcrypto -ljansson -lm -o "$out"
"$out" "$seconds"
