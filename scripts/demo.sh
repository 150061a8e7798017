#!/usr/bin/env bash
# Quick start 1: install what is missing, build, and run the main pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
exec ./build/cli/llmops run pipelines/task-assistant.yaml "$@"
