#!/usr/bin/env bash
# The F16 row kernels (AVX2, AVX-512) by thread CPU time, alternating in one run (JSON lines):
# the synthetic model's shapes (2048 x 768 and 768 x 2048) over 100 MB of weights (from
# memory), a prompt step of 64 inputs and one input (generation).
# usage: bench/engine/f16.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
. bench/engine/bench_build.sh
out=$(bench_build bench_f16)
"$out" 2048 768 64 100
"$out" 768 2048 64 100
"$out" 2048 768 1 100
