#!/usr/bin/env bash
# Refreshes the front-end libraries the web UI (llmops ui) ships, in ui/web/vendor/. They are
# committed, so building llmops needs no node, npm or network; only this script does (npm and the
# npm registry). It fetches each pinned package with `npm pack` into a temporary folder, checks the
# tarball against the pinned npm integrity (sha512), and copies the browser bundle, the CSS and the
# license. To move to a new version: change the version and integrity below (the integrity is what
# `npm view <pkg>@<version> dist.integrity` prints), run this, and update ui/web/vendor/VENDOR.md
# with the sha256 lines it prints.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor="$root/ui/web/vendor"

# package@version|npm integrity|file in the tarball:name in ui/web/vendor ...
pins=(
  "@dagrejs/dagre@3.1.4|sha512-tW3fsvXxSteGpBHgT/hqPxBxTibPw409mH97S6LzXe+ddak2/RtPtYkYPo5gfvzBtnjxrZnoh8ft62zA3LDAZQ==|package/dist/dagre.min.js:dagre.min.js package/LICENSE:LICENSE.dagre"
  "uplot@1.6.32|sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==|package/dist/uPlot.iife.min.js:uPlot.iife.min.js package/dist/uPlot.min.css:uPlot.min.css package/LICENSE:LICENSE.uplot"
)

command -v npm >/dev/null || { echo "ui-vendor: needs npm (scripts/setup.sh installs it)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$vendor"

for pin in "${pins[@]}"; do
  IFS='|' read -r spec integrity files <<<"$pin"
  dir="$tmp/$(echo "$spec" | tr '@/' '__')"
  mkdir -p "$dir/x"
  tarball="$(cd "$dir" && npm pack --silent "$spec" | tail -n 1)"
  got="sha512-$(node -e 'const c=require("crypto"),f=require("fs");
    process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' \
    "$dir/$tarball")"
  if [ "$got" != "$integrity" ]; then
    echo "ui-vendor: $spec: integrity $got, pinned $integrity" >&2
    exit 1
  fi
  tar -xzf "$dir/$tarball" -C "$dir/x"
  for f in $files; do
    src="${f%%:*}" dst="${f#*:}"
    cp "$dir/x/$src" "$vendor/$dst"
    chmod 644 "$vendor/$dst"
  done
  echo "ui-vendor: $spec ok" >&2
done

(cd "$vendor" && sha256sum dagre.min.js uPlot.iife.min.js uPlot.min.css LICENSE.dagre LICENSE.uplot)
