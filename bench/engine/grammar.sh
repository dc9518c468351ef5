#!/usr/bin/env bash
# Grammar-constrained sampling: the cost of one token mask on a real 100k-token
# vocabulary, through the matcher's automaton and without it (JSON lines).
# usage: bench/engine/grammar.sh [BUILD_DIR] [REPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
reps=${2:-5}
shared=${COCOON_SHARED:-$PWD/../shared}
. bench/engine/bench_build.sh
out=$(bench_build bench_grammar)
"$out" "$shared/models/vocab/ggml-vocab-deepseek-llm.gguf" "$reps"
