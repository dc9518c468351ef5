#!/usr/bin/env bash
# Builds llama.cpp's llama-bench and llama-server for the comparison benchmarks and prints the
# directory of the programs. The source is the git bundle the npm package node-llama-cpp ships
# (these machines reach the npm registry, not GitHub); it is built for this CPU (GGML_NATIVE) into
# BUILD_DIR/llamacpp, once. Nothing of it enters the repository.
# usage: bench/engine/llamacpp.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(realpath "${1:-build}")
version=${NODE_LLAMA_CPP_VERSION:-3.22.1}
dir="$build/llamacpp"
bin="$dir/build/bin"
if [ -x "$bin/llama-bench" ] && [ -x "$bin/llama-server" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -d src ]; then
  echo "llamacpp.sh: fetching node-llama-cpp@$version from npm for its llama.cpp bundle" >&2
  tarball=$(npm pack --silent "node-llama-cpp@$version")
  tar xzf "$tarball" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
  git clone -q package/llama/gitRelease.bundle src
  cp package/llama/llama.cpp.info.json src/.node-llama-cpp-info.json
  rm -rf package "$tarball"
fi
echo "llamacpp.sh: building llama-bench and llama-server (a few minutes, once)" >&2
cmake -S src -B build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON >/dev/null
cmake --build build -j "$(nproc)" --target llama-bench llama-server >/dev/null
echo "$bin"
