#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded number of
# inputs: a crash, leak or sanitizer report fails the test, and so does an input that runs longer
# than 10 s, makes one allocation over 512 MB or grows memory past 2 GB (the parsers bound what an
# input can cost; a miss is a bug). Each target also replays its seeds in tests/fuzz/seeds/TARGET
# (inputs that once crashed or blew up, and valid examples to start from).
# Usage: run_fuzzers.sh SOURCE_DIR WORK_DIR [RUNS]
# RUNS is per target; the slowest (fuzz_pipeline) and the newer lm targets run a share of it, so
# that the whole stays at about 4-5 minutes on 2 cores.
set -euo pipefail
src=$1
work=$2
runs=${3:-20000}
mkdir -p "$work"
cxx=$(command -v clang++ || command -v clang++-14 || true)
if [ -z "$cxx" ]; then
  echo "clang++ not found: install clang and libclang-rt-14-dev (scripts/setup.sh does)" >&2
  exit 1
fi
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$src" -I"$src/include")
cd "$src"
build() {  # name, extra args...
  local name=$1
  shift
  # Rebuilt when any source or header it could include changed (the compiler's own arguments
  # are not all files, so look at the folders).
  if [ ! -x "$work/$name" ] ||
    [ -n "$(find engine store include plugins ui tests/fuzz -newer "$work/$name" \
      \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) -print -quit)" ]; then
    "$cxx" "${flags[@]}" "$@" -o "$work/$name"
  fi
}
build fuzz_cron -DUSE_OS_TZDB=1 tests/fuzz/fuzz_cron.cpp engine/triggers/cron.cpp engine/triggers/cron_parse.cpp \
  -ldate-tz
build fuzz_curator_line -Iplugins/curators/common tests/fuzz/fuzz_curator_line.cpp \
  plugins/curators/common/{text,conversation,quality,minhash}.cpp plugins/common/pii.cpp
build fuzz_serve_request -Iplugins -Iplugins/deployers/serve tests/fuzz/fuzz_serve_request.cpp \
  plugins/deployers/serve/api.cpp
build fuzz_pipeline -DUSE_OS_TZDB=1 tests/fuzz/fuzz_pipeline.cpp engine/plugins/exec_manifest.cpp \
  engine/spec/{loader,loader_steps,loader_util,loader_schedule,loader_slurm,slurm_spec,pipeline,template,expression,semver,feedback_rules}.cpp \
  engine/triggers/watch.cpp \
  engine/triggers/cron.cpp engine/triggers/cron_parse.cpp base/{command,hash,strings}.cpp -lyaml-cpp -ldate-tz -lcrypto
# plugins/lm's parsers of tokenizer.json and safetensors headers need no libtorch (ICU only).
build fuzz_slurm tests/fuzz/fuzz_slurm.cpp engine/exec/slurm_cli.cpp base/strings.cpp
build fuzz_ui tests/fuzz/fuzz_ui.cpp ui/http.cpp ui/layout.cpp
build fuzz_safetensors -Iplugins tests/fuzz/fuzz_safetensors.cpp plugins/lm/safetensors.cpp
build fuzz_tokenizer -Iplugins tests/fuzz/fuzz_tokenizer.cpp plugins/lm/tokenizer.cpp \
  plugins/lm/tokenizer_load.cpp -licui18n -licuuc
limits=(-timeout=10 -malloc_limit_mb=512 -rss_limit_mb=2048)
share() {  # name -> runs for it
  case $1 in
    fuzz_pipeline) echo $((runs * 2 / 3)) ;;
    fuzz_safetensors | fuzz_tokenizer | fuzz_slurm | fuzz_ui) echo $((runs / 3)) ;;
    *) echo "$runs" ;;
  esac
}
for f in fuzz_cron fuzz_curator_line fuzz_serve_request fuzz_pipeline fuzz_safetensors \
  fuzz_tokenizer fuzz_slurm fuzz_ui; do
  mkdir -p "$work/corpus-$f"
  seeds=()
  if [ -d "$src/tests/fuzz/seeds/$f" ]; then seeds=("$src/tests/fuzz/seeds/$f"); fi
  n=$(share "$f")
  echo "== $f: $n inputs"
  # pipefail: the fuzzer's exit status, not tail's, decides.
  "$work/$f" -runs="$n" -max_len=4096 -seed=1 "${limits[@]}" "$work/corpus-$f" "${seeds[@]}" 2>&1 |
    tail -3
done
echo "fuzzers: no crash"
