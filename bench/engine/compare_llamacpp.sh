#!/usr/bin/env bash
# Side-by-side speed of the embedded engine and llama.cpp on the same GGUF file,
# runs alternating so both see the same machine load. Each call reports the best
# of 2 timed passes for each tool; generation starts from an empty context in
# both (llama-bench's tg test, our bench's generation pass). Prints JSON lines: one per
# run ("run") and one summary per tool and thread count ("median") with the
# median prompt and generation tokens/s over the repetitions.
#
# llama.cpp is not part of this repository: build its llama-bench yourself and
# pass the binary's path.
#
# usage: bench/engine/compare_llamacpp.sh LLAMA_BENCH MODEL.gguf [BUILD_DIR] [REPS] [THREADS...]
#   defaults: BUILD_DIR=build, REPS=5, THREADS="1 2"; prompt and generation 128 tokens.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 LLAMA_BENCH MODEL.gguf [BUILD_DIR] [REPS] [THREADS...]" >&2
  exit 2
fi
llama_bench=$(realpath "$1")
model=$(realpath "$2")
build=${3:-build}
reps=${4:-5}
shift $(( $# < 4 ? $# : 4 ))
threads=("$@")
[ ${#threads[@]} -eq 0 ] && threads=(1 2)
cd "$(dirname "$0")/../.."
cocoon="$build/bin/cocoon"
np=${COMPARE_PROMPT_TOKENS:-128}
ng=${COMPARE_GEN_TOKENS:-128}
runs=$(mktemp)
rss=$(mktemp)
trap 'rm -f "$runs" "$rss"' EXIT
export MAXRSS_OUT="$rss"
# the peak RSS of the last run, in KiB
last_rss() { tail -1 "$rss"; }

load() { cut -d' ' -f1 /proc/loadavg; }

for ((r = 1; r <= reps; r++)); do
  for t in "${threads[@]}"; do
    # Both tools: best of 2 timed passes per call (llama-bench also warms up
    # first; its samples_ts holds each pass).
    la=$(load)
    out=$(python3 bench/engine/maxrss.py "$llama_bench" -m "$model" -t "$t" -p "$np" -n "$ng" -r 2 \
      -o jsonl 2>/dev/null)
    echo "$out" | python3 -c '
import json, sys
t, r, la, rss = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
out = {"kind": "run", "tool": "llama.cpp", "threads": t, "rep": r, "loadavg": la, "peak_rss_kib": rss}
for line in sys.stdin:
    j = json.loads(line)
    best = max(j.get("samples_ts") or [j["avg_ts"]])
    if j.get("n_prompt", 0) > 0 and j.get("n_gen", 0) == 0:
        out["prompt_tok_s"] = round(best, 1)
    elif j.get("n_gen", 0) > 0 and j.get("n_prompt", 0) == 0:
        out["gen_tok_s"] = round(best, 1)
print(json.dumps(out))
' "$t" "$r" "$la" "$(last_rss)" | tee -a "$runs"
    la=$(load)
    out=$(python3 bench/engine/maxrss.py "$cocoon" engine bench --model "$model" --threads "$t" \
      --prompt-tokens "$np" --gen-tokens "$ng" --reps 2 --json)
    echo "$out" | python3 -c '
import json, sys
t, r, la, rss = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
j = json.loads(sys.stdin.readline())
print(json.dumps({"kind": "run", "tool": "cocoon", "threads": t, "rep": r, "loadavg": la,
                  "prompt_tok_s": j["prompt_tok_s"], "gen_tok_s": j["gen_tok_s"],
                  "peak_rss_kib": rss}))
' "$t" "$r" "$la" "$(last_rss)" | tee -a "$runs"
  done
done

python3 - "$runs" "$(basename "$model")" "$np" "$ng" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
model, np_, ng = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
keys = sorted({(r["tool"], r["threads"]) for r in rows})
med = {}
for tool, t in keys:
    sel = [r for r in rows if r["tool"] == tool and r["threads"] == t]
    m = lambda k: round(statistics.median(r[k] for r in sel if k in r), 1) if any(k in r for r in sel) else None
    med[(tool, t)] = {k: m(k) for k in ("prompt_tok_s", "gen_tok_s", "peak_rss_kib", "loadavg")}
    print(json.dumps(dict({"kind": "median", "model": model, "tool": tool, "threads": t,
                           "reps": len(sel), "prompt_tokens": np_, "gen_tokens": ng}, **med[(tool, t)])))
# ours / llama.cpp, the figures the issue's targets are written in
for t in sorted({t for _, t in keys}):
    a, b = med.get(("cocoon", t)), med.get(("llama.cpp", t))
    if not a or not b:
        continue
    r = lambda k: round(a[k] / b[k], 3) if a.get(k) and b.get(k) else None
    print(json.dumps({"kind": "ratio", "model": model, "threads": t, "prompt_tokens": np_,
                      "gen_tokens": ng, "prompt_ratio": r("prompt_tok_s"),
                      "gen_ratio": r("gen_tok_s"), "rss_ratio": r("peak_rss_kib")}))
EOF
