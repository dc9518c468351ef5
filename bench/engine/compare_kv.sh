#!/usr/bin/env bash
# Generation with an F16 and a Q8_0 KV cache, ours and llama.cpp's, by CPU time: a synthetic
# llama (`cocoon engine synth`, default 134M, Q8_0 weights; heads of 64), then per round the
# CPU seconds of GEN and of 32 generated tokens (2 repetitions each; from an empty context, so
# the cache grows to GEN) for each tool and cache type, alternating. The difference over the
# GEN - 32 extra tokens is the CPU time per token with the load, warm-up and prompt cancelled
# out. llama.cpp runs with flash attention (-fa 1), which its quantized V cache needs, for both
# cache types. Prints one JSON line per round and type, and the means.
# usage: bench/engine/compare_kv.sh [BUILD_DIR] [ROUNDS]   (KV_GEN: tokens, default 512;
#        KV_THREADS: threads, default 1; KV_WTYPE: weight type, default Q8_0)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
rounds=${2:-2}
bin=$(bench/engine/llamacpp.sh "$build")
export LD_LIBRARY_PATH="$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
gen=${KV_GEN:-512}
t=${KV_THREADS:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cpu() { # the CPU seconds of a command (its output dropped)
  /usr/bin/time -f "%U %S" -o "$tmp/t" "$@" >/dev/null 2>&1
  awk '{printf "%.3f", $1 + $2}' "$tmp/t"
}
model="$tmp/synth.gguf"
"$build/bin/cocoon" engine synth --out "$model" --type "${KV_WTYPE:-Q8_0}" >/dev/null
ours() { cpu "$build/bin/cocoon" engine bench --model "$model" --threads "$t" --prompt-tokens 1 \
  --gen-tokens "$2" --reps 2 --kv-type "$1" --json; }
theirs() { cpu "$bin/llama-bench" -m "$model" -t "$t" -p 0 -n "$2" -r 2 -fa 1 -ctk "$1" -ctv "$1"; }
: > "$tmp/runs"
for ((r = 1; r <= rounds; r++)); do
  for kv in f16 q8_0; do
    la=$(cut -d' ' -f1 /proc/loadavg)
    ol=$(ours "$kv" "$gen"); os=$(ours "$kv" 32)
    ll=$(theirs "$kv" "$gen"); ls=$(theirs "$kv" 32)
    echo "{\"kind\": \"run\", \"kv\": \"$kv\", \"round\": $r, \"threads\": $t, \"gen\": $gen, \"loadavg\": $la, \"cocoon_cpu_s\": [$os, $ol], \"llama_cpu_s\": [$ls, $ll]}" |
      tee -a "$tmp/runs"
  done
done
python3 - "$tmp/runs" "$gen" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
extra = 2 * (int(sys.argv[2]) - 32)  # tokens of the two long repetitions beyond the short ones
def ms(r, k):
    return (r[k][1] - r[k][0]) / extra * 1e3
for kv in ("f16", "q8_0"):
    sel = [r for r in rows if r["kv"] == kv]
    o = statistics.mean(ms(r, "cocoon_cpu_s") for r in sel)
    l = statistics.mean(ms(r, "llama_cpu_s") for r in sel)
    print(json.dumps({"kind": "mean", "kv": kv, "rounds": len(sel), "cocoon_ms_per_token": round(o, 2),
                      "llama_ms_per_token": round(l, 2), "x": round(l / o, 2),
                      "loadavg": round(statistics.mean(r["loadavg"] for r in sel), 1)}))
PY
