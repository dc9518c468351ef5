#!/usr/bin/env bash
# The engine against llama.cpp on every weight type the issue names: a synthetic llama (the
# default `cocoon engine synth` shape) in Q4_K, Q6_K, Q8_0, Q4_0 and F16, prompts of 128 and 512
# tokens, 1 and 2 threads, alternating runs (compare_llamacpp.sh), with peak RSS. llama.cpp comes
# from bench/engine/llamacpp.sh. Prints compare_llamacpp.sh's JSON lines ("ratio" lines hold
# ours / llama.cpp), then the table of ratios (types_table.py) on standard error.
# usage: bench/engine/compare_types.sh [BUILD_DIR] [REPS]   (COMPARE_TYPES, COMPARE_PROMPTS and
#        COMPARE_THREADS narrow the matrix, e.g. COMPARE_TYPES="Q6_K F16")
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
reps=${2:-3}
bin=$(bench/engine/llamacpp.sh "$build")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
read -r -a threads <<< "${COMPARE_THREADS:-1 2}"
for type in ${COMPARE_TYPES:-Q4_K Q6_K Q8_0 Q4_0 F16}; do
  model="$tmp/synth-$type.gguf"
  "$build/bin/cocoon" engine synth --out "$model" --type "$type" >/dev/null
  for np in ${COMPARE_PROMPTS:-128 512}; do
    COMPARE_PROMPT_TOKENS=$np bench/engine/compare_llamacpp.sh "$bin/llama-bench" "$model" \
      "$build" "$reps" "${threads[@]}" | tee -a "$tmp/lines"
  done
  rm -f "$model"
done
python3 bench/engine/types_table.py "$tmp/lines" >&2
