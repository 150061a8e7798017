#!/usr/bin/env bash
# Refreshes the screenshots in docs/ui (referenced by docs/ui.md) by running the browser suite
# with UI_SHOTS pointing there. Needs a build (build/cli/llmops) and scripts/setup.sh's chromium
# and playwright-core.
set -euo pipefail
cd "$(dirname "$0")/.."
LLMOPS_BIN=${LLMOPS_BIN:-$PWD/build/cli/llmops} UI_SHOTS=$PWD/docs/ui node ui/tests/run.mjs
