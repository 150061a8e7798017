#!/usr/bin/env bash
# Crash campaign: random SIGKILLs of the engine and of its step workers, then `llmops resume`
# until each run ends, on both executors. Prints one line per trial and a summary: trials, kills,
# resumes, steps lost (not succeeded at the end), steps duplicated (more than one successful
# execution), and whether the database and the blob store are intact (integrity_check, fsck).
# Usage: bench/crash_campaign.sh [TRIALS] [LLMOPS_BINARY]   (defaults: 20, build/cli/llmops)
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-20}
llmops=$(realpath "${2:-build/cli/llmops}")
export LLMOPS_PLUGIN_PATH=${LLMOPS_PLUGIN_PATH:-$(realpath build/plugins)}
work=$(mktemp -d "${TMPDIR:-/tmp}/llmops-crash.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT  # KEEP=1: leave the stores for a look

pipeline() {  # executor
  cat <<EOF
apiVersion: llmops/v1
kind: Pipeline
name: crash-$1
defaults: {executor: $1}
steps:
  a: {uses: testing/write, with: {text: alpha}}
  b: {uses: testing/sleep, needs: [a], with: {seconds: 0.4}}
  c: {uses: testing/sleep, needs: [a], with: {seconds: 0.6}}
  d:
    uses: testing/concat
    needs: [b, c]
    inputs: {x: "\${{ steps.a.outputs.out }}"}
  e: {uses: testing/sleep, needs: [d], with: {seconds: 0.3}}
  f:
    uses: testing/concat
    needs: [e]
    inputs: {x: "\${{ steps.d.outputs.out }}"}
EOF
}

q() { sqlite3 -batch "$LLMOPS_HOME/llmops.db" "$1" 2> /dev/null || true; }
runs() { q "SELECT COUNT(*) FROM runs" 2> /dev/null || echo 0; }

# Starts (in the background) whatever continues trial $t: its run, or the run's resume.
continue_run() {
  if [ "$(runs)" = 0 ]; then
    "$llmops" run "$work/p-$t.yaml" >> "$work/log-$t" 2>&1 &  # killed before it recorded the run
  else
    "$llmops" resume 1 >> "$work/log-$t" 2>&1 &
  fi
}

total_kills=0 total_resumes=0 total_lost=0 total_dup=0 bad_db=0 bad_fsck=0 unfinished=0
for ((t = 1; t <= trials; t++)); do
  executor=$([ $((t % 2)) -eq 0 ] && echo subprocess || echo inprocess)
  export LLMOPS_HOME=$work/home-$t
  pipeline "$executor" > "$work/p-$t.yaml"
  kills=0 resumes=0
  "$llmops" run "$work/p-$t.yaml" > "$work/log-$t" 2>&1 &
  engine=$!
  # Up to three kills per trial, each at a random moment of the run (or of its resume).
  for ((k = 0; k < 3; k++)); do
    sleep "0.$((RANDOM % 9 + 1))"
    kill -0 "$engine" 2> /dev/null || break
    victim=$engine
    workers=$(pgrep -P "$engine" || true)
    if [ "$executor" = subprocess ] && [ -n "$workers" ] && [ $((RANDOM % 2)) -eq 0 ]; then
      victim=$(echo "$workers" | shuf -n 1)  # a worker (or the fork server): one step fails
    fi
    kill -9 "$victim" 2> /dev/null || true
    kills=$((kills + 1))
    if [ "$victim" = "$engine" ]; then
      wait "$engine" 2> /dev/null || true
      continue_run
      engine=$!
      resumes=$((resumes + 1))
    fi
  done
  wait "$engine" 2> /dev/null || true
  # Resume until the run has succeeded (a killed worker fails its step; resume runs it again).
  for ((r = 0; r < 5; r++)); do
    [ "$(q "SELECT state FROM runs WHERE id = 1" 2> /dev/null)" = succeeded ] && break
    continue_run
    wait $! || true
    resumes=$((resumes + 1))
  done
  state=$(q "SELECT state FROM runs WHERE id = 1" 2> /dev/null || echo none)
  lost=$(q "SELECT COUNT(*) FROM run_steps WHERE run_id = 1 AND state NOT IN ('succeeded', 'cached')" 2> /dev/null || echo 6)
  dup=$(q "SELECT COUNT(*) FROM (SELECT step FROM executions WHERE run_id = 1 AND state = 'succeeded'
           GROUP BY step HAVING COUNT(*) > 1)")
  integrity=$(q "PRAGMA integrity_check")
  fsck=ok
  "$llmops" fsck > "$work/fsck-$t" 2>&1 || fsck=failed
  [ "$state" = succeeded ] || unfinished=$((unfinished + 1))
  [ "$integrity" = ok ] || bad_db=$((bad_db + 1))
  [ "$fsck" = ok ] || bad_fsck=$((bad_fsck + 1))
  total_kills=$((total_kills + kills)) total_resumes=$((total_resumes + resumes))
  total_lost=$((total_lost + lost)) total_dup=$((total_dup + dup))
  printf 'trial %2d  %-10s  kills %d  resumes %d  run %-9s  lost %d  duplicated %d  db %s  fsck %s\n' \
    "$t" "$executor" "$kills" "$resumes" "$state" "$lost" "$dup" "$integrity" "$fsck"
done
echo
echo "trials $trials  kills $total_kills  resumes $total_resumes  unfinished $unfinished" \
  " lost $total_lost  duplicated $total_dup  damaged databases $bad_db  fsck failures $bad_fsck"
