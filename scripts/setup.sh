#!/usr/bin/env bash
# Installs the Debian packages llmops needs to build and test, then the node packages of the web
# UI's browser tests (ui/tests: playwright-core, which drives the system's chromium and never
# downloads a browser). Idempotent and quick: does nothing when all are present and ui/tests's
# node_modules matches its package-lock.json. Needs root (or sudo) only when a Debian package is
# missing, and the npm registry only when node_modules is missing or stale.
#   scripts/setup.sh          what the build and the tests need
#   scripts/setup.sh --bench  also the peers bench/ compares with (Snakemake, PyTorch for Python)
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost-dev libyaml-cpp-dev libsqlitecpp-dev libsqlite3-dev sqlite3
  libspdlog-dev libfmt-dev catch2 libcli11-dev nlohmann-json3-dev libssl-dev
  libhowardhinnant-date-dev tzdata
  libtorch-dev libgloo-dev libopenblas0-pthread libsentencepiece-dev libicu-dev
  clang libclang-rt-14-dev
  slurm-wlm munge
  python3
  chromium
)

if [ "${1:-}" = "--bench" ]; then
  packages+=(snakemake python3-torch)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# node and npm, for ui/tests. This image may carry NodeSource's nodejs, which brings its own npm and
# conflicts with Debian's npm package: take Debian's nodejs and npm only for what is not there.
if ! command -v node >/dev/null 2>&1; then
  missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ui/tests/node_modules, from the committed package-lock.json; a stamp in it holds the lock's sha256,
# so a changed lock installs again. --ignore-scripts: no package runs code at install.
tests="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/ui/tests"
stamp="$tests/node_modules/.lock-sha256"
lock_sha="$(sha256sum "$tests/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$lock_sha" ]; then
  echo "setup: npm ci in ui/tests" >&2
  (cd "$tests" && npm ci --no-audit --no-fund --ignore-scripts)
  echo "$lock_sha" >"$stamp"
fi
