#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded number of
# inputs: a crash, leak or sanitizer report fails the test. Usage: run_fuzzers.sh SOURCE_DIR WORK_DIR [RUNS]
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
    [ -n "$(find engine store include plugins tests/fuzz -newer "$work/$name" \
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
build fuzz_pipeline -DUSE_OS_TZDB=1 tests/fuzz/fuzz_pipeline.cpp \
  engine/spec/{loader,loader_steps,loader_util,loader_schedule,pipeline,template,expression,semver,feedback_rules}.cpp \
  engine/triggers/watch.cpp \
  engine/triggers/cron.cpp engine/triggers/cron_parse.cpp base/{hash,strings}.cpp -lyaml-cpp -ldate-tz -lcrypto
for f in fuzz_cron fuzz_curator_line fuzz_serve_request fuzz_pipeline; do
  mkdir -p "$work/corpus-$f"
  echo "== $f: $runs inputs"
  "$work/$f" -runs="$runs" -max_len=4096 -seed=1 "$work/corpus-$f" 2>&1 | tail -3
done
echo "fuzzers: no crash"
