#!/usr/bin/env bash
# N no-op steps on a local single-node Slurm cluster, side by side in one run, rounds interleaved
# (llmops, Snakemake, llmops, ...): llmops with `executor: slurm` (one sbatch per step, squeue
# polled) and Snakemake 7.21's own `snakemake --slurm` (one sbatch per job). Both get the same
# width (llmops --max-parallel P = snakemake --jobs P; P defaults to the node's CPUs, so both
# keep the node exactly full) and the same job size (1 CPU, 1 GiB). Per tool: wall time of the
# whole command, seconds per step, Slurm jobs it submitted (squeue -t all lines before/after;
# the cluster keeps finished jobs, MinJobAge=86400), and from squeue the span first submit ->
# last end, the mean queue wait and the mean job run time (1 s resolution). Beside them, Slurm's
# own cost: the latency of a bare `sbatch --wrap true` (the engine's side of one submission is
# one such call) and how fast the cluster drains K bare jobs queued at once. Prints figures;
# asserts nothing.
#
# Snakemake's status checks (snakemake/executors/slurm/slurm_submit.py, 7.21): per active job,
# `sacct -P -n --format=JobIdRaw,State -j ID`; when sacct fails (here: "Slurm accounting storage
# is disabled", exit 1) it falls back to `scontrol show jobid -dd ID` and reads JobState, so it
# runs on this cluster as it is: no sacct shim. Its pace is its own throttle: with --slurm,
# scheduler.py replaces any --max-status-checks-per-second above 1 (the default is 10) by 0.03,
# i.e. 3 checks per 100 s and a 33 s sleep between passes over the active jobs (~35 s per job
# at P=2). SM_STATUS_RATE (default 1, the highest value 7.21 leaves alone) is passed as
# --max-status-checks-per-second; SM_STATUS_RATE=default passes nothing (expect hours for 200).
# Each Snakemake job runs `snakemake --slurm-jobstep` in the allocation, which runs the rule via
# `srun -n1 snakemake ...`: two Python start-ups per job, which is Snakemake's design.
#
# Usage: bench/bench_slurm.sh [N] [ROUNDS]   (defaults: 200, 1)
# Knobs: LLMOPS (binary, default build/cli/llmops) and LLMOPS_PLUGINS (its plugins folder,
#   default beside it): both are copied to a temp folder first, so a rebuild meanwhile does not
#   matter. SLURM_DIR: use the cluster there (started if it is not running, left running)
#   instead of a fresh one in a temp folder. PARALLEL (P), SHAPES ("fan", "chain" or
#   "fan chain"; default fan: N independent steps; chain: each step needs the one before),
#   SBATCH_PROBES (K, default 20), SM_STATUS_RATE (above). Needs scripts/setup.sh (slurm-wlm,
#   munge) and snakemake (scripts/setup.sh --bench).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
rounds=${2:-1}
shapes=${SHAPES:-fan}
probes=${SBATCH_PROBES:-20}
sm_rate=${SM_STATUS_RATE:-1}
export USER=${USER:-$(id -un)} # snakemake --slurm reads $USER (sacct guess of the account)

work=$(mktemp -d "${TMPDIR:-/tmp}/llmops-bench-slurm.XXXXXX")
own_cluster=""
cleanup() {
  if [ -n "$own_cluster" ]; then scripts/slurm-local.sh stop "$own_cluster" > /dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A stable copy of llmops: <dir>/cli/llmops finds <dir>/plugins by itself; set the path anyway.
src=$(realpath "${LLMOPS:-build/cli/llmops}")
mkdir -p "$work/llmops/cli" "$work/llmops/plugins" "$work/cache"
cp "$src" "$work/llmops/cli/llmops"
cp "$(realpath "${LLMOPS_PLUGINS:-$(dirname "$src")/../plugins}")"/*.so "$work/llmops/plugins/"
llmops=$work/llmops/cli/llmops
export LLMOPS_PLUGIN_PATH=$work/llmops/plugins
export XDG_CACHE_HOME=$work/cache # the plugin descriptor cache: ours, filled before timing

if [ -n "${SLURM_DIR:-}" ]; then
  cluster=$SLURM_DIR
else
  cluster=$work/slurm
  own_cluster=$cluster
fi
scripts/slurm-local.sh start "$cluster" > /dev/null
SLURM_CONF=$(realpath "$cluster")/slurm.conf
export SLURM_CONF
cpus=$(sinfo -h -o %c | head -1)
p=${PARALLEL:-$cpus}

now() { date +%s.%N; }
jobs_seen() { squeue -t all -h -o %i | wc -l; }
last_job() { squeue -t all -h -o %i | sort -n | tail -1 | grep . || echo 0; }
# Jobs with an id above $1: "span_s mean_wait_s mean_run_s" (squeue's times: whole seconds).
job_times() {
  squeue -t all -h -o '%i %V %S %e' | awk -v after="$1" '
    function t(s) { gsub(/[-T:]/, " ", s); return mktime(s) }
    $1 > after && $4 != "N/A" {
      v = t($2); s = t($3); e = t($4); k++; wait += s - v; run += e - s
      if (first == "" || v < first) first = v
      if (e > last) last = e
    }
    END { if (k) printf "%d %.2f %.2f", last - first, wait / k, run / k; else print "0 0 0" }'
}

gen_pipeline() { # shape
  echo "apiVersion: llmops/v1"
  echo "kind: Pipeline"
  echo "name: $1"
  echo "defaults: {executor: slurm}"
  echo "steps:"
  echo "  s0: {uses: testing/noop}"
  for i in $(seq 1 $((n - 1))); do
    if [ "$1" = chain ]; then
      echo "  s$i: {uses: testing/noop, needs: [s$((i - 1))]}"
    else
      echo "  s$i: {uses: testing/noop}"
    fi
  done
}
gen_snakefile() { # shape: one rule, N wildcard outputs, each job touches its output
  echo "N = range($n)"
  echo "rule all:"
  echo "    input: expand(\"out/{i}\", i=N)"
  echo "rule noop:"
  if [ "$1" = chain ]; then
    echo "    input: lambda w: [f\"out/{int(w.i) - 1}\"] if int(w.i) > 0 else []"
  fi
  echo "    output: \"out/{i}\""
  echo "    shell: \"touch {output}\""
}
for shape in $shapes; do
  gen_pipeline "$shape" > "$work/$shape.yaml"
  mkdir -p "$work/sm-$shape"
  gen_snakefile "$shape" > "$work/sm-$shape/Snakefile"
done

report() { # tool shape seconds jobs_before jobs_after last_job_before [extra]
  local span wait run
  read -r span wait run <<< "$(job_times "$6")"
  printf "%-9s %-5s %d steps: %7.2f s wall, %.3f s/step; %d Slurm jobs; span %d s, wait %.2f s, run %.2f s%s\n" \
    "$1" "$2" "$n" "$3" "$(echo "$3 / $n" | bc -l)" "$(($5 - $4))" "$span" "$wait" "$run" "${7:-}"
}
fail() { # what log
  echo "$1 failed; the end of its log:" >&2
  tail -n 30 "$2" >&2
  exit 1
}

run_llmops() { # shape round
  local log=$work/llmops-$1-$2.log b0 j0 j1 t0 t1 engine
  rm -rf "${work:?}/home"
  b0=$(last_job)
  j0=$(jobs_seen)
  t0=$(now)
  (cd "$work" && LLMOPS_HOME="$work/home" "$llmops" run "$work/$1.yaml" --no-cache \
    --max-parallel "$p" > "$log" 2>&1) || fail "llmops run" "$log"
  t1=$(now)
  j1=$(jobs_seen)
  engine=$(sed -n 's/^run [0-9]* succeeded in \([^ ]*\).*/\1/p' "$log" | tail -1) # 12.3s, 1m38s
  report llmops "$1" "$(echo "$t1 - $t0" | bc)" "$j0" "$j1" "$b0" " (the run's own time: ${engine:-?})"
}

run_snakemake() { # shape round
  local d=$work/sm-$1 log=$work/snakemake-$1-$2.log b0 j0 j1 t0 t1 rate=()
  [ "$sm_rate" = default ] || rate=(--max-status-checks-per-second "$sm_rate")
  rm -rf "$d/out" "$d/.snakemake"
  b0=$(last_job)
  j0=$(jobs_seen)
  t0=$(now)
  (cd "$d" && snakemake --slurm --jobs "$p" "${rate[@]}" \
    --default-resources slurm_partition=debug mem_mb=1024 > "$log" 2>&1) || fail snakemake "$log"
  t1=$(now)
  j1=$(jobs_seen)
  report snakemake "$1" "$(echo "$t1 - $t0" | bc)" "$j0" "$j1" "$b0" \
    " ($(grep -c 'has been submitted with SLURM jobid' "$log") sbatch calls in its log)"
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "slurm $(sinfo -V | cut -d' ' -f2): one node, $cpus CPUs, jobs of 1 CPU and 1 GiB; width P=$p (llmops --max-parallel, snakemake --jobs); snakemake $(snakemake --version) --slurm, --max-status-checks-per-second ${sm_rate}; status by sacct, falling back to scontrol (no accounting here; no shim)"
echo "times: wall = the whole command; span = first submit -> last end of its jobs; wait = submit -> start, run = start -> end, means per job (squeue, whole seconds)"

# Slurm's own cost, before the tools: K bare sbatch calls timed one by one, then how long the
# cluster takes to run them all (queued at once, so at its full width).
mkdir -p "$work/probe"
b0=$(last_job)
t0=$(now)
ids=()
for _ in $(seq 1 "$probes"); do
  ids+=("$(cd "$work/probe" && sbatch --parsable -o /dev/null --wrap true)")
done
t1=$(now)
deadline=$((SECONDS + 300))
while [ -n "$(squeue -h -t PD,R,CG,CF -j "$(IFS=,; echo "${ids[*]}")" -o %i)" ] && [ $SECONDS -lt $deadline ]; do
  sleep 0.1
done
t2=$(now)
read -r span wait run <<< "$(job_times "$b0")"
printf "sbatch --wrap true: %.1f ms per call (%d calls); the %d jobs done %.2f s after the first call (%.3f s/job at the node's width; span %d s, wait %.2f s, run %.2f s)\n" \
  "$(echo "($t1 - $t0) * 1000 / $probes" | bc -l)" "$probes" "$probes" "$(echo "$t2 - $t0" | bc)" \
  "$(echo "($t2 - $t0) / $probes" | bc -l)" "$span" "$wait" "$run"

"$llmops" plugins list > /dev/null # fill the descriptor cache outside the timings
for r in $(seq 1 "$rounds"); do
  echo "== round $r"
  for shape in $shapes; do
    run_llmops "$shape" "$r"
    run_snakemake "$shape" "$r"
  done
done
