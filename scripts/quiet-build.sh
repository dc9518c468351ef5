#!/usr/bin/env bash
# The build step of `make run`: one line instead of pages of compiler output (the whole output
# goes to BUILD/build.log, and its end is shown if the build fails).
# usage: scripts/quiet-build.sh BUILD_DIR JOBS
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
jobs=${2:-$(nproc)}
mkdir -p "$build"
log="$build/build.log"
start=$(date +%s)
printf 'make run: building into %s/ (log: %s) ... ' "$build" "$log"
# Configure only a new build tree: an existing one reconfigures itself when CMake files change.
configure() {
  [ -f "$build/CMakeCache.txt" ] && return 0
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
}
# Only the programs: `make build` and `make test` build the tests.
if configure >"$log" 2>&1 && cmake --build "$build" -j "$jobs" --target programs >>"$log" 2>&1; then
  echo "done in $(($(date +%s) - start)) s"
else
  echo "FAILED"
  tail -n 40 "$log" >&2
  exit 1
fi
