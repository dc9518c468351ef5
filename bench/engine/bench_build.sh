# Sourced by the engine's micro-benchmark scripts: bench_build NAME builds the engine library in
# $build and links bench/engine/NAME.c against it into $build/bench/NAME, whose path it prints.
# (Compiled here rather than as a CMake target so that `make` never builds benchmarks.)
bench_build() {
  local log
  if ! log=$(cmake --build "$build" --target cocoon_engine 2>&1); then
    echo "$log" >&2
    return 1
  fi
  mkdir -p "$build/bench"
  cc -std=c17 -O2 -D_GNU_SOURCE -Isrc -I"$build/generated" "bench/engine/$1.c" \
    "$build/libcocoon_engine.a" "$build/libcocoon_crypto.a" "$build/libcocoon_base.a" \
    -lcrypto -ljansson -lm -lpthread -o "$build/bench/$1"
  echo "$build/bench/$1"
}
