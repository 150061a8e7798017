#!/usr/bin/env bash
# The per-step cost of an executable plugin: N steps of a Python step that does nothing
# (bench/plugins/py-noop, through the llmops_step helper), beside N steps of the library no-op
# (testing/noop) run in a subprocess, beside N bare `python3 -c pass` and N bare
# `python3 -c "import llmops_step"` (the interpreter and the helper's imports alone), side by side
# in one run, rounds interleaved. Steps run one at a time (--max-parallel 1) as a chain-free
# fan; per step = wall time / N. Prints figures; asserts nothing.
#
# Usage: bench/bench_step_protocol.sh [N] [ROUNDS]   (defaults: 100, 3)
# Knobs: LLMOPS (binary, default build/cli/llmops); PYTHON (default /usr/bin/python3, Debian's:
#   its folder goes first on PATH for every column, so a python3 wrapper such as a pyenv shim,
#   itself ~100 ms, does not skew the comparison).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
rounds=${2:-3}
llmops=$(realpath "${LLMOPS:-build/cli/llmops}")
helpers=$(dirname "$llmops")/../python
python=${PYTHON:-/usr/bin/python3}
export PATH=$(dirname "$python"):$PATH
work=$(mktemp -d /tmp/llmops-bench-sp.XXXXXX)
trap 'rm -rf "$work"' EXIT
export LLMOPS_HOME=$work/home LLMOPS_PLUGIN_PATH=$PWD/bench/plugins

pipeline() { # $1 = uses, $2 = extra step keys
  printf 'apiVersion: llmops/v1\nkind: Pipeline\nname: bench-sp\nsteps:\n'
  for i in $(seq 1 "$n"); do printf '  s%d: {uses: %s%s}\n' "$i" "$1" "$2"; done
}
pipeline bench/py-noop "" > "$work/py.yaml"
pipeline testing/noop ", executor: subprocess" > "$work/so.yaml"

ms() { python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) * 1000 / $n))" "$1"; }
clock() { date +%s.%N; }
span() { python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$1" "$2"; }

printf '%-8s %16s %16s %16s %18s\n' round "python step ms" ".so subprocess ms" "python3 -c pass ms" "import llmops_step ms"
for r in $(seq 1 "$rounds"); do
  t0=$(clock); "$llmops" run "$work/py.yaml" --max-parallel 1 --no-cache > "$work/out" 2>&1 || { cat "$work/out"; exit 1; }
  t1=$(clock); "$llmops" run "$work/so.yaml" --max-parallel 1 --no-cache > "$work/out" 2>&1 || { cat "$work/out"; exit 1; }
  t2=$(clock); for i in $(seq 1 "$n"); do python3 -c pass; done
  t3=$(clock); for i in $(seq 1 "$n"); do PYTHONPATH=$helpers python3 -c "import llmops_step"; done
  t4=$(clock)
  printf '%-8s %16s %16s %16s %18s\n' "$r" "$(ms "$(span "$t0" "$t1")")" "$(ms "$(span "$t1" "$t2")")" \
    "$(ms "$(span "$t2" "$t3")")" "$(ms "$(span "$t3" "$t4")")"
done
echo "N=$n steps per run; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
