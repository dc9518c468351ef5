#!/usr/bin/env bash
# Attestation costs (JSON lines). Builds the tee archives in the given build
# directory, compiles bench_tee.c against them and runs it.
# usage: bench/tee/run.sh [BUILD_DIR] [SECONDS_PER_OP]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${2:-0.5}
shared=${COCOON_SHARED:-$PWD/../shared}
if ! log=$(cmake --build "$build" --target cocoon_tee 2>&1); then
  echo "$log" >&2
  exit 1
fi
out="$build/bench/bench_tee"
mkdir -p "$build/bench"
cc -std=c17 -O2 -D_GNU_SOURCE -Isrc bench/tee/bench_tee.c \
  "$build/libcocoon_tee.a" "$build/libcocoon_crypto.a" "$build/libcocoon_base.a" \
  -lcrypto -ljansson -lm -o "$out"
"$out" "$seconds" "$shared/fixtures/tdx"
# Full attested handshakes over the real transport (needs the net layer).
if [ -f src/net/net.h ] && log=$(cmake --build "$build" --target cocoon_net cocoon_tee 2>&1); then
  hs="$build/bench/bench_tee_handshake"
  cc -std=c17 -O2 -D_GNU_SOURCE -Isrc -I"$build/generated" bench/tee/bench_handshake.c \
    "$build/libcocoon_net.a" "$build/libcocoon_tee.a" "$build/libcocoon_tl.a" \
    "$build/libcocoon_crypto.a" "$build/libcocoon_base.a" \
    $(pkg-config --libs libevent libevent_openssl libevent_pthreads) -lssl -lcrypto -ljansson -lm \
    -o "$hs"
  "$hs" "$seconds"
else
  echo "# net layer not buildable here; handshake figures skipped" >&2
fi
