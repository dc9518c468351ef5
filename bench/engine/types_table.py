#!/usr/bin/env python3
"""The issue's table from compare_types.sh's JSON lines: per weight type, ours / llama.cpp for
prompts of each length and generation, at each thread count, and peak RSS (the largest ratio of
any run of that type). Above 1 is ours faster for speeds, ours larger for RSS.
usage: bench/engine/types_table.py [FILE]   (default: standard input)"""
import json
import sys


def main():
    src = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    ratios = [json.loads(l) for l in src if l.strip().startswith("{")]
    ratios = [r for r in ratios if r.get("kind") == "ratio"]
    if not ratios:
        sys.exit("types_table.py: no ratio lines")
    types = list(dict.fromkeys(r["model"].removeprefix("synth-").removesuffix(".gguf") for r in ratios))
    prompts = sorted({r["prompt_tokens"] for r in ratios})
    threads = sorted({r["threads"] for r in ratios})
    cols = [("prompt", np, t) for np in prompts for t in threads] + [("gen", None, t) for t in threads]
    head = [f"prompt {np}, {t}t" if k == "prompt" else f"generation, {t}t" for k, np, t in cols]
    print("| type | " + " | ".join(head) + " | peak RSS |")
    print("|---" * (len(cols) + 2) + "|")
    for ty in types:
        rows = [r for r in ratios if r["model"] == f"synth-{ty}.gguf"]
        cells = []
        for kind, np, t in cols:
            if kind == "prompt":
                v = [r["prompt_ratio"] for r in rows if r["threads"] == t and r["prompt_tokens"] == np]
            else:  # generation is measured in every call: the mean over the prompt lengths
                v = [r["gen_ratio"] for r in rows if r["threads"] == t and r["gen_ratio"]]
            cells.append(f"{sum(v) / len(v):.2f}" if v and None not in v else "")
        rss = [r["rss_ratio"] for r in rows if r.get("rss_ratio")]
        cells.append(f"{max(rss):.2f}" if rss else "")
        print(f"| {ty} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
