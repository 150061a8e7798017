#!/usr/bin/env bash
# Times the read commands on a run of N steps: `show --json`, `show`, one page of `show`,
# `lineage`, `logs`. Usage: bench/read_commands.sh N [LLMOPS_BINARY]  (default build/cli/llmops)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
llmops=$(realpath "${2:-build/cli/llmops}")
home=$(mktemp -d "${TMPDIR:-/tmp}/llmops-read.XXXXXX")
trap 'rm -rf "$home"' EXIT
export LLMOPS_HOME=$home
"$llmops" runs > /dev/null
run=$(python3 bench/big_run.py "$home" "$n")
for cmd in "show $run --json" "show $run" "show $run --json --steps-limit 100 --steps-offset $((n / 2))" \
  "lineage $run" "logs $run s5"; do
  # shellcheck disable=SC2086
  /usr/bin/time -f "%e s, %M KiB peak" "$llmops" $cmd > /dev/null 2> "$home/time" || true
  printf '%-60s %s\n' "$cmd" "$(tail -1 "$home/time")"
done
