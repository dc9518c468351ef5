#!/usr/bin/env bash
# Installs what building, running and testing cocoon needs on a Debian machine:
# the Debian packages (apt-get, through sudo when not root) and the Node
# packages of the directories that have a package-lock.json (npm ci).
# Safe to run again: it installs only what is missing.
# usage: scripts/install-deps.sh [run]
#   run: only what `make run` needs (build the programs, start the local chain),
#        so a first run does not wait for the test tools (clang, Chromium, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}

# unicode-data: the engine's tokenizer tables are generated from it at build time.
packages=(build-essential cmake pkg-config python3 libssl-dev libevent-dev libjansson-dev
  libsqlite3-dev unicode-data curl ca-certificates)
node_dirs=(contracts) # tools/tonsim runs on contracts/node_modules
if [ "$mode" != run ]; then
  # libcurl4-openssl-dev: only bench/http's baseline client links libcurl (the
  # tree's own code uses the http layer's client).
  packages+=(libcurl4-openssl-dev libcmocka-dev clang libclang-rt-14-dev wrk
    chromium-headless-shell python3-jinja2 espeak-ng)
  node_dirs+=(tools/tonsim tests/integration/openai_sdk tests/integration/hf_tokenizers)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The contracts toolchain and the openai SDK want Node.js 20 or later (Debian 12's
# own nodejs is 18; the machines this project targets ship Node 20).
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "install-deps: warning: Node.js 20 or later is needed for contracts/ and the SDK test" \
       "(found $(node --version 2>/dev/null || echo none))" >&2
fi

# Node packages: contracts, the local chain, the OpenAI SDK test client, the Hugging
# Face tokenizers the vocabulary converter is tested on.
for dir in "${node_dirs[@]}"; do
  if [ -f "$dir/package-lock.json" ]; then
    stamp="$dir/node_modules/.cocoon-lock-stamp"
    if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
      echo "install-deps: npm ci in $dir"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
      cp "$dir/package-lock.json" "$stamp"
    fi
  fi
done
