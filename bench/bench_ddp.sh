#!/usr/bin/env bash
# Data-parallel trainer/torch-lm on one machine: the same training (the main pipeline's model:
# hidden 128, 3 layers, seq_len 256, batch 8, vocab 768; synthetic task data) as one process
# (no `distributed:`), then as 1, 2 and 4 ranks with one thread each (Gloo on loopback), side by
# side in one run. Per configuration: the train step's wall time, training tokens/s (global
# batch tokens over the time in training steps) and the share of step time spent in all-reduce,
# from `llmops show --json`, plus the final loss (equal across world sizes: same global batch).
# On a 2-core machine 4 ranks oversubscribe the cores: the point is correctness and overhead.
# Prints figures; asserts nothing.
#
# Usage: bench/bench_ddp.sh [STEPS] [WORLDS]   (defaults: 60, "1 2 4")
# Knobs: LLMOPS (binary, default build/cli/llmops).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-60}
worlds=${2:-1 2 4}
llmops=$(realpath "${LLMOPS:-build/cli/llmops}")
work=$(mktemp -d /tmp/llmops-bench-ddp.XXXXXX)
trap 'rm -rf "$work"' EXIT
export LLMOPS_HOME=$work/home

pipeline() { # $1 = the `distributed:` entry or ""
  cat <<YAML
apiVersion: llmops/v1
kind: Pipeline
name: bench-ddp
steps:
  synth: {uses: curator/synthetic-tasks, with: {count: 600, seed: 7, scenario: base}}
  curate: {uses: curator/jsonl, inputs: {data: "\${{ steps.synth.outputs.dataset }}"}}
  train:
    uses: trainer/torch-lm
    inputs: {train: "\${{ steps.curate.outputs.train }}", eval: "\${{ steps.curate.outputs.eval }}"}
    with: {mode: scratch, hidden: 128, layers: 3, heads: 4, vocab: 768, seq_len: 256,
           batch_size: 8, steps: $steps, eval_every: $steps, threads: 1, checkpoint_every: 0$1}
YAML
}

printf '%-16s %10s %12s %12s %10s\n' config "train s" "tokens/s" "all-reduce" "loss"
run=0
measure() { # $1 = label, $2 = distributed entry
  pipeline "$2" > "$work/p.yaml"
  "$llmops" run "$work/p.yaml" > "$work/out.txt" 2>&1 || { cat "$work/out.txt"; exit 1; }
  run=$((run + 1))
  "$llmops" show "$run" --json | python3 -c '
import json, sys
label = sys.argv[1]
d = json.load(sys.stdin)
s = [x for x in d["steps"] if x["step"] == "train"][0]["executions"][-1]
m = s["metrics"]
last = lambda k: m[k][-1]["value"] if k in m else 0.0
took = s["ended_at"] - s["started_at"]
print("%-16s %10.1f %12.0f %11.1f%% %10.4f" % (label, took, last("tokens_per_s"),
      100 * last("allreduce_share"), m["loss"][-1]["value"]))' "$1"
}
measure "1 process" ""
for w in $worlds; do
  measure "$w rank(s)" ", distributed: {world_size: $w}"
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
