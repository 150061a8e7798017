#!/usr/bin/env bash
# The cost of watching: the same `llmops run` of a STEPS-step pipeline of independent no-op steps
# (default 10,000) with no web UI, and with `llmops ui` running and following it the way an open
# run page does (one event stream for the run, one for the runs list, the snapshot when it ends).
# Runs alternate (closed, open, closed, open, ...) REPEATS times each. Prints figures; asserts none.
#   bench/bench_ui.sh [STEPS] [REPEATS]        (LLMOPS_BIN: default build/cli/llmops)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${LLMOPS_BIN:-build/cli/llmops}")
steps=${1:-10000}
reps=${2:-3}
work=$(mktemp -d)
ui_pid=""
cleanup() {
  [ -n "$ui_pid" ] && kill "$ui_pid" 2>/dev/null || true
  jobs -p | xargs -r kill 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export LLMOPS_HOME=$work/home NO_COLOR=1

{
  printf 'apiVersion: llmops/v1\nkind: Pipeline\nname: wide\nsteps:\n'
  for ((i = 0; i < steps; i++)); do printf '  s%d: {uses: testing/noop}\n' "$i"; done
} > "$work/wide.yaml"
"$bin" run "$work/wide.yaml" --no-cache > /dev/null  # warm: the store exists, files are cached

# Seconds for one run, as us/step.
run_once() {
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" run "$work/wide.yaml" --no-cache > /dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v n="$steps" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }'
}

# Waits (at most 30 s) until FILE holds TEXT.
wait_for() {
  for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for $2 in $1" >&2
  return 1
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "pipeline: $steps independent testing/noop steps, llmops run --no-cache (local executor)"
printf '%-8s %-14s %-12s %s\n' rep "ui" "us/step" "events seen by the page"
for ((r = 1; r <= reps; r++)); do
  printf '%-8s %-14s %-12s %s\n' "$r" closed "$(run_once)" -

  "$bin" ui --port 0 > "$work/ui.out" 2> "$work/ui.err" &
  ui_pid=$!
  wait_for "$work/ui.out" "http://"
  url=$(grep -o 'http://[^ ]*' "$work/ui.out")
  next=$(sqlite3 "$LLMOPS_HOME/llmops.db" "SELECT COALESCE(MAX(id), 0) + 1 FROM runs")
  cursor=$(curl -s "${url}api/runs?limit=1" | sed -n 's/.*"cursor":"\([^"]*\)".*/\1/p')
  curl -sN "${url}api/events?run=$next&last_event_id=$cursor" > "$work/run.sse" &
  follow_run=$!
  curl -sN "${url}api/events?last_event_id=$cursor" > "$work/list.sse" &
  follow_list=$!
  cpu0=$(awk '{print $14 + $15}' "/proc/$ui_pid/stat")
  us=$(run_once)
  cpu1=$(awk '{print $14 + $15}' "/proc/$ui_pid/stat")
  wait_for "$work/run.sse" '"id":'"$next"',.*"state":"succeeded"'
  curl -s "${url}api/runs/$next" > "$work/snapshot.json"
  kill "$follow_run" "$follow_list" "$ui_pid" 2>/dev/null || true
  wait "$ui_pid" 2>/dev/null || true
  ui_pid=""
  printf '%-8s %-14s %-12s %s\n' "$r" "open+follow" "$us" \
    "$(grep -c '^event: step' "$work/run.sse") step, $(grep -c '^event: run' "$work/list.sse") run events; ui cpu during the run $(((cpu1 - cpu0) * 1000 / $(getconf CLK_TCK))) ms; snapshot $(wc -c < "$work/snapshot.json") bytes"
done
