#!/usr/bin/env bash
# Prompt processing against llama.cpp by CPU time, for machines loaded by other jobs (where wall
# time mostly measures the scheduler): for each weight type a synthetic llama (`cocoon engine
# synth`), then per round and thread count llama-bench (-p NP -n 0: a warm-up and 2 timed passes)
# and `cocoon engine bench` (3 passes of NP tokens, one generated token), alternating. Prints one
# JSON line per run with the user + system seconds of the whole process and the load average,
# and per type and thread count the mean "x" = llama.cpp's CPU seconds / ours (above 1: ours
# costs less). Model loading is inside both figures.
# usage: bench/engine/compare_cpu.sh [BUILD_DIR] [ROUNDS]   (COMPARE_TYPES, COMPARE_THREADS,
#        COMPARE_PROMPT_TOKENS narrow or change the matrix)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
rounds=${2:-2}
bin=$(bench/engine/llamacpp.sh "$build")
np=${COMPARE_PROMPT_TOKENS:-128}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu() { # the CPU seconds of a command (its output dropped)
  /usr/bin/time -f "%U %S" -o "$tmp/t" "$@" >/dev/null 2>&1
  awk '{printf "%.2f", $1 + $2}' "$tmp/t"
}
for type in ${COMPARE_TYPES:-Q4_K Q6_K Q8_0 Q4_0 F16}; do
  model="$tmp/synth-$type.gguf"
  "$build/bin/cocoon" engine synth --out "$model" --type "$type" >/dev/null
  : > "$tmp/runs"
  for ((r = 1; r <= rounds; r++)); do
    for t in ${COMPARE_THREADS:-1 2}; do
      la=$(cut -d' ' -f1 /proc/loadavg)
      l=$(cpu "$bin/llama-bench" -m "$model" -t "$t" -p "$np" -n 0 -r 2)
      o=$(cpu "$build/bin/cocoon" engine bench --model "$model" --threads "$t" \
        --prompt-tokens "$np" --gen-tokens 1 --reps 3 --json)
      echo "{\"kind\": \"run\", \"type\": \"$type\", \"threads\": $t, \"round\": $r, \"loadavg\": $la, \"prompt_tokens\": $np, \"llama_cpu_s\": $l, \"cocoon_cpu_s\": $o}" |
        tee -a "$tmp/runs"
    done
  done
  python3 - "$tmp/runs" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for t in sorted({r["threads"] for r in rows}):
    sel = [r for r in rows if r["threads"] == t]
    xs = [r["llama_cpu_s"] / r["cocoon_cpu_s"] for r in sel]
    print(json.dumps({"kind": "mean", "type": sel[0]["type"], "threads": t, "rounds": len(sel),
                      "x": round(statistics.mean(xs), 2), "x_min": round(min(xs), 2),
                      "x_max": round(max(xs), 2),
                      "loadavg": round(statistics.mean(r["loadavg"] for r in sel), 1)}))
PY
  rm -f "$model"
done
