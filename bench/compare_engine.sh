#!/usr/bin/env bash
# Two builds of llmops side by side in one run, rounds interleaved (A, B, A, B, ...) so that the
# machine's load falls on both alike: bench_engine's cases, and the CLI's wall time for an N-step
# chain of no-op steps (`llmops run --no-cache`, fresh store), beside a bare SQLite WAL commit per
# step (the floor, from bench_engine). Prints figures; asserts nothing.
# Usage: bench/compare_engine.sh BUILD_A BUILD_B [N] [ROUNDS]   (a build: a folder with
#        cli/llmops, bench/bench_engine and plugins/ holding the testing plugins)
set -euo pipefail
a=$1
b=$2
n=${3:-10000}
rounds=${4:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  echo "apiVersion: llmops/v1"
  echo "kind: Pipeline"
  echo "name: chain"
  echo "steps:"
  echo "  s0: {uses: testing/noop}"
  for i in $(seq 1 $((n - 1))); do echo "  s$i: {uses: testing/noop, needs: [s$((i - 1))]}"; done
} > "$work/chain.yaml"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
  for build in "$a" "$b"; do
    echo "== round $r: $build"
    env -u LLMOPS_PLUGIN_PATH "$build/bench/bench_engine" "$n" | grep -v '^machine'
    rm -rf "$work/home"
    t0=$(date +%s.%N)
    env -u LLMOPS_PLUGIN_PATH LLMOPS_HOME="$work/home" "$build/cli/llmops" run "$work/chain.yaml" \
      --no-cache > "$work/out.log"
    t1=$(date +%s.%N)
    printf "CLI llmops run, chain of %d no-op steps: %.2f s wall (%.1f us/step)\n" "$n" \
      "$(echo "$t1 - $t0" | bc)" "$(echo "($t1 - $t0) * 1000000 / $n" | bc -l)"
  done
done
