#!/usr/bin/env bash
# The packed Q8_0/Q4_0/Q4_K/Q6_K tiles of each kind (AVX2, AVX-VNNI, AVX-512 VNNI) by
# thread CPU time, alternating kinds in one run (JSON lines): a 2048 x 768
# matrix (in cache) with 1 and 4 inputs, and 8192 x 2048 (from memory) with 1.
# usage: bench/engine/x8.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
. bench/engine/bench_build.sh
out=$(bench_build bench_x8)
"$out" 2048 768 1 1000
"$out" 2048 768 4 300
"$out" 2048 768 32 40
"$out" 8192 2048 1 30
