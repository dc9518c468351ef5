#!/usr/bin/env bash
# HTTP layer figures (JSON lines): libcurl client vs the openai-http backend
# against cocoon-fake-backend (50 chunks of 128 bytes + usage), and the usage
# parser's throughput.
# usage: bench/http/run.sh [BUILD_DIR] [SECONDS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${2:-3}
conc=${3:-30}
if ! log=$(cmake --build "$build" --target cocoon_worker_backends cocoon-fake-backend 2>&1); then
  echo "$log" >&2
  exit 1
fi
out="$build/bench/bench_http"
mkdir -p "$build/bench"
cc -std=c17 -O2 -D_GNU_SOURCE -Isrc bench/http/bench_http.c \
  "$build/libcocoon_worker_backends.a" "$build/libcocoon_http.a" "$build/libcocoon_base.a" \
  $(pkg-config --libs libevent libcurl jansson) -lm -o "$out"
fifo=$(mktemp -u)
mkfifo "$fifo"
"$build/bin/cocoon-fake-backend" --port 0 --model bench-model >"$fifo" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$fifo"' EXIT
read -r _ port <"$fifo"
"$out" "$port" "$seconds" "$conc"
