#!/usr/bin/env bash
# `make deb`: Debian packages of the three daemons and the CLI from a built tree.
#   packaging/deb/build.sh BUILD_DIR OUT_DIR
# Each package holds its stripped program, man page, systemd unit (sandboxed: packaging/systemd/)
# and, for daemons, an example configuration installed as a conffile in /etc/cocoon/. Runtime
# dependencies are the Debian packages that own the shared libraries each program links.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:?usage: build.sh BUILD_DIR OUT_DIR}" && pwd)"
out="${2:?usage: build.sh BUILD_DIR OUT_DIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
version="$(sed -n 's/^project(cocoon VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")"
arch="$(dpkg --print-architecture)"
stage="$(mktemp -d "${TMPDIR:-/tmp}/cocoon-deb.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

# The packages owning the libraries a program links directly (its NEEDED entries; what those pull
# in is their packages' business), comma-separated.
depends_of() {
  local bin lib path pkgs=()
  for bin in "$@"; do
    for lib in $(objdump -p "$bin" | awk '$1 == "NEEDED" {print $2}'); do
      path="$(ldd "$bin" | awk -v l="$lib" '$1 == l && $3 ~ /^\// {print $3}')"
      [ -n "$path" ] || { echo "build.sh: $bin needs $lib, which is not installed" >&2; exit 1; }
      local owner
      owner="$(dpkg-query -S "$(readlink -f "$path")" 2>/dev/null || dpkg-query -S "$path" 2>/dev/null || true)"
      owner="${owner%%:*}"
      [ -n "$owner" ] || { echo "build.sh: no Debian package owns $path" >&2; exit 1; }
      pkgs+=("$owner")
    done
  done
  printf '%s\n' "${pkgs[@]}" | sort -u | paste -sd, - | sed 's/,/, /g'
}

# config_for ROLE SOURCE: the example configuration with the paths a packaged service uses.
config_for() {
  python3 - "$1" "$2" <<'PY'
import json, sys
role, path = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["comment"] = "cocoon-%s configuration (docs: man cocoon-%s, docs/operations.md)" % (role, role)
if role == "proxy":
    c["state_dir"] = "/var/lib/cocoon-proxy"
if role == "worker":
    c["model"] = "/var/lib/cocoon-worker/model.gguf"
print(json.dumps(c, indent=2))
PY
}

# package NAME DESCRIPTION PROGRAM... : one .deb.
package() {
  local name="$1" desc="$2"
  shift 2
  local root="$stage/$name"
  mkdir -p "$root/DEBIAN" "$root/usr/bin"
  local prog bins=()
  for prog in "$@"; do
    objcopy --strip-unneeded "$build/bin/$prog" "$root/usr/bin/$prog"
    bins+=("$root/usr/bin/$prog")
    local page
    for page in "$src"/packaging/man/"$prog".[18]; do
      [ -f "$page" ] || continue
      local sect="${page##*.}"
      mkdir -p "$root/usr/share/man/man$sect"
      gzip -9n < "$page" > "$root/usr/share/man/man$sect/$(basename "$page").gz"
    done
  done
  local role="${name#cocoon-}"
  if [ -f "$src/packaging/systemd/$name.service" ]; then
    mkdir -p "$root/lib/systemd/system" "$root/etc/cocoon"
    cp "$src/packaging/systemd/$name.service" "$root/lib/systemd/system/"
    local example="$src/configs/$role.json"
    [ "$role" = worker ] && example="$src/configs/worker-embedded.json"
    config_for "$role" "$example" > "$root/etc/cocoon/$role.json"
    echo "/etc/cocoon/$role.json" > "$root/DEBIAN/conffiles"
    if [ "$role" = proxy ]; then
      cp "$src/configs/registry.json" "$root/etc/cocoon/registry.json"
      echo "/etc/cocoon/registry.json" >> "$root/DEBIAN/conffiles"
    fi
    cat > "$root/DEBIAN/postinst" <<POST
#!/bin/sh
set -e
# The unit is installed, not started: edit /etc/cocoon/$role.json, then
#   systemctl enable --now $name
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
POST
    cp "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"
    chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"
  fi
  local size
  size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
  cat > "$root/DEBIAN/control" <<CTL
Package: $name
Version: $version
Architecture: $arch
Maintainer: cocoon developers <cocoon@localhost>
Installed-Size: $size
Depends: $(depends_of "${bins[@]}")
Section: net
Priority: optional
Homepage: https://github.com/TelegramMessenger/cocoon
Description: $desc
 cocoon is a C implementation of the Confidential Compute Open Network: GPU
 owners serve AI models inside trusted execution environments, proxies route
 and meter requests, clients get an OpenAI-compatible endpoint.
CTL
  dpkg-deb --root-owner-group -Zgzip --build "$root" "$out/${name}_${version}_${arch}.deb" >/dev/null
  echo "$out/${name}_${version}_${arch}.deb"
}

package cocoon-proxy "cocoon proxy: routes and meters requests to attested workers" cocoon-proxy
package cocoon-worker "cocoon worker: serves a model from a TEE to the cocoon network" cocoon-worker
package cocoon-client "cocoon client: OpenAI-compatible API to the cocoon network" cocoon-client
package cocoon "cocoon command: local network, engine, attestation and TON tools" cocoon cocoon-fake-backend
