#!/usr/bin/env bash
# Quick start 2: install what is missing, build, and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
cd build
exec ctest --output-on-failure -j "$(nproc)" --timeout 600
