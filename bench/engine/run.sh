#!/usr/bin/env bash
# Embedded engine figures (JSON lines): stories260K.gguf prompt and generation
# tokens/s on 1 and 2 threads; a synthetic 125M-parameter llama in Q8_0 and
# Q4_K (written to a temporary directory) with the GB/s of weights read per
# second next to the machine's streaming-read bandwidth, and the total tokens/s
# of 4 sequences decoding together (the server's slots share forward steps);
# the cost of a grammar's token mask on a 100k-token vocabulary (grammar.sh).
# usage: bench/engine/run.sh [BUILD_DIR] [--quick]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
quick=${2:-}
cocoon="$build/bin/cocoon"
shared=${COCOON_SHARED:-$PWD/../shared}
model="$shared/models/stories260K.gguf"
reps=5
[ "$quick" = "--quick" ] && reps=1
for t in 1 2; do
  "$cocoon" engine bench --model "$model" --threads "$t" --reps "$reps" --json
done
bash bench/engine/grammar.sh "$build" "$reps"
[ "$quick" = "--quick" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for type in Q8_0 Q4_K; do
  "$cocoon" engine synth --out "$tmp/llama125m-$type.gguf" --type "$type"
  for t in 1 2; do
    "$cocoon" engine bench --model "$tmp/llama125m-$type.gguf" --threads "$t" \
      --prompt-tokens 64 --gen-tokens 32 --reps 2 --batch 4 --bandwidth --json
  done
  rm -f "$tmp/llama125m-$type.gguf"
done
