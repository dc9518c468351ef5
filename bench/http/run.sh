#!/usr/bin/env bash
# HTTP layer figures (JSON lines): libcurl client vs the openai-http backend
# against cocoon-fake-backend (50 chunks of 128 bytes + usage), and the
# throughput of the openai layer's SSE readers on such a stream: the worker's
# usage scanner (usage_parser_sse) and the client's usage-only-event filter
# fed one event per call (sse_filter).
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
  "$build/libcocoon_worker_backends.a" "$build/libcocoon_http.a" "$build/libcocoon_openai.a" \
  "$build/libcocoon_crypto.a" "$build/libcocoon_base.a" \
  $(pkg-config --libs libevent libcurl jansson) -lm -o "$out"
fifo=$(mktemp -u)
mkfifo "$fifo"
"$build/bin/cocoon-fake-backend" --port 0 --model bench-model >"$fifo" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$fifo"' EXIT
read -r _ port <"$fifo"
"$out" "$port" "$seconds" "$conc"
# Inbound: wrk against an http_server relaying 50 SSE events one write each,
# and against the fake backend (libevent's evhttp, one write) as the baseline.
if command -v wrk >/dev/null; then
  lua=$(mktemp --suffix=.lua)
  cat >"$lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"bench-model","stream":true,"messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"
LUA
  fifo2=$(mktemp -u)
  mkfifo "$fifo2"
  "$out" serve >"$fifo2" &
  spid=$!
  trap 'kill $pid $spid 2>/dev/null || true; rm -f "$fifo" "$fifo2" "$lua"' EXIT
  read -r _ sport <"$fifo2"
  for target in fake_backend http_server; do
    p=$port
    [ "$target" = http_server ] && p=$sport
    wrk -t1 -c"$conc" -d"${seconds}s" --latency -s "$lua" "http://127.0.0.1:$p/v1/chat/completions" |
      awk -v t="$target" -v c="$conc" '
        /Requests\/sec/ {rps=$2}
        /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
        END {printf "{\"bench\":\"http\",\"figure\":\"wrk_%s_stream\",\"requests_per_s\":%s,\"p50\":\"%s\",\"p99\":\"%s\",\"concurrency\":%s}\n", t, rps, p50, p99, c}'
  done
fi
