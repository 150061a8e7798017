#!/usr/bin/env bash
# The same 1,000-step fan-out/fan-in pipeline (each step writes one small file, one step gathers
# them) through llmops (in-process and subprocess executors) and Snakemake, side by side.
# Usage: [LLMOPS=path/to/llmops] bench/bench_fanout.sh [N] (default 1000). Needs a build in ./build and `snakemake`
# (scripts/setup.sh --bench installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
llmops=${LLMOPS:-$PWD/build/cli/llmops}  # LLMOPS: another build's binary
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

gen_pipeline() {  # $1: executor
  echo "apiVersion: llmops/v1"
  echo "kind: Pipeline"
  echo "name: fanout"
  echo "defaults: {executor: $1}"
  echo "steps:"
  for i in $(seq 1 "$n"); do
    echo "  w$i: {uses: testing/write, with: {text: \"$i\"}}"
  done
  echo "  gather:"
  echo "    uses: testing/concat"
  echo "    inputs:"
  for i in $(seq 1 "$n"); do echo "      i$i: \${{ steps.w$i.outputs.out }}"; done
}

now() { date +%s.%N; }
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"

declare -A secs
for ex in inprocess subprocess; do
  gen_pipeline "$ex" > "$work/$ex.yaml"
  t0=$(now)
  LLMOPS_HOME="$work/home-$ex" "$llmops" run "$work/$ex.yaml" --no-cache > "$work/$ex.log"
  t1=$(now)
  secs[$ex]=$(echo "$t1 - $t0" | bc)
  printf "llmops %-10s %d steps: %6.2f s (%.2f ms/step)\n" "$ex" "$((n + 1))" "${secs[$ex]}" \
    "$(echo "${secs[$ex]} * 1000 / ($n + 1)" | bc -l)"
done

if command -v snakemake > /dev/null; then
  mkdir -p "$work/sm"
  cat > "$work/sm/Snakefile" <<SMK
N = range(1, $n + 1)
rule all:
    input: "gather.txt"
rule write:
    output: "w/{i}.txt"
    shell: "printf '%s' {wildcards.i} > {output}"
rule gather:
    input: expand("w/{i}.txt", i=N)
    output: "gather.txt"
    shell: "cat {input} > {output}"
SMK
  t0=$(now)
  (cd "$work/sm" && snakemake -j "$(nproc)" --quiet > "$work/sm.log" 2>&1)
  t1=$(now)
  sm=$(echo "$t1 - $t0" | bc)
  printf "snakemake  %-8s %d jobs:  %6.2f s (%.2f ms/job)\n" "-j$(nproc)" "$((n + 1))" "$sm" \
    "$(echo "$sm * 1000 / ($n + 1)" | bc -l)"
  printf "ratio snakemake/llmops: inprocess %.1fx, subprocess %.1fx\n" \
    "$(echo "$sm / ${secs[inprocess]}" | bc -l)" "$(echo "$sm / ${secs[subprocess]}" | bc -l)"
else
  echo "snakemake not installed (apt-get install snakemake): comparison skipped"
fi
