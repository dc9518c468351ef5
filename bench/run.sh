#!/usr/bin/env bash
# Runs every benchmark and prints one JSON object per figure (see DESIGN §10).
# usage: bench/run.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
export COCOON_BIN_DIR="$PWD/$build/bin" COCOON_BUILD_DIR="$PWD/$build"
export COCOON_SHARED=${COCOON_SHARED:-$PWD/../shared}
status=0
for script in bench/*/run.sh; do
  echo "# $script" >&2
  bash "$script" "$build" || { echo "# $script failed" >&2; status=1; }
done
exit $status
