#!/usr/bin/env bash
# Checks that every `assert` in src/*.tolk is needed: in a scratch copy of contracts/, removes one
# assert at a time, recompiles and runs that contract's tests; a mutant that passes them all is
# reported as SURVIVED. Slow (about 20 s a mutant, 63 mutants): an audit tool, not part of npm test.
#   scripts/mutants.sh [src/client.tolk:183 ...]     (default: every assert line)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/contracts"
cp -r "$here/build" "$here/lib" "$here/package.json" "$here/scripts" "$here/src" "$here/test" "$work/contracts/"
ln -s "$here/node_modules" "$work/contracts/node_modules"
cd "$work/contracts"
mutants=("$@")
if [ ${#mutants[@]} -eq 0 ]; then
  for f in src/*.tolk; do
    for ln in $(grep -n "assert (" "$f" | cut -d: -f1); do mutants+=("$f:$ln"); done
  done
fi
survived=0
for m in "${mutants[@]}"; do
  f=${m%%:*}; ln=${m##*:}
  case $f in
    src/client.tolk) tests="test/client.test.js";;
    src/root.tolk) tests="test/root.test.js";;
    src/worker.tolk) tests="test/worker.test.js test/proxy.test.js";;
    *) tests="test/client.test.js test/proxy.test.js test/worker.test.js";;
  esac
  cp "$f" "$f.orig"
  # `assert (cond) throw E;` -> `if (false) { assert (cond) throw E; }`
  sed -i "${ln}s|^\(\s*\)assert (|\1if (false) { assert (|; ${ln}s|;\s*\$|; }|" "$f"
  if ! node scripts/build.js > build.log 2>&1; then
    echo "$m BUILD-FAIL"
  elif node --test $tests > test.log 2>&1; then
    echo "$m SURVIVED: $(sed -n "${ln}p" "$f.orig" | sed 's/^ *//')"
    survived=$((survived + 1))
  else
    echo "$m killed"
  fi
  mv "$f.orig" "$f"
done
echo "${#mutants[@]} mutants, $survived survived"
[ "$survived" -eq 0 ]
