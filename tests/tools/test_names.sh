#!/usr/bin/env bash
# Fails when a Catch2 test name holds a ';': ctest's discovery splits the name there, and each half
# then matches no test and passes without running anything. Usage: test_names.sh SOURCE_DIR
set -euo pipefail
cd "$1"
bad=$(grep -rn --include='*.cpp' -E 'TEST_CASE\("[^"]*;' tests examples || true)
if [ -n "$bad" ]; then
  echo "test names with ';' (use ',' instead):" >&2
  echo "$bad" >&2
  exit 1
fi
echo "test names: no ';'"
