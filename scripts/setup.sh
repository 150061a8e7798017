#!/usr/bin/env bash
# Installs the Debian packages llmops needs to build and test. Idempotent: does nothing when all
# are present. Needs root (or sudo) only when something is missing.
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
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
