#!/usr/bin/env bash
# Grammar-constrained sampling: the cost of one token mask on a real 100k-token
# vocabulary, through the matcher's automaton and without it (JSON lines).
# usage: bench/engine/grammar.sh [BUILD_DIR] [REPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
reps=${2:-5}
shared=${COCOON_SHARED:-$PWD/../shared}
if ! log=$(cmake --build "$build" --target cocoon_engine 2>&1); then
  echo "$log" >&2
  exit 1
fi
out="$build/bench/bench_grammar"
mkdir -p "$build/bench"
cc -std=c17 -O2 -D_GNU_SOURCE -Isrc -I"$build/generated" bench/engine/bench_grammar.c \
  "$build/libcocoon_engine.a" "$build/libcocoon_crypto.a" "$build/libcocoon_base.a" \
  -lcrypto -ljansson -lm -lpthread -o "$out"
"$out" "$shared/models/vocab/ggml-vocab-deepseek-llm.gguf" "$reps"
