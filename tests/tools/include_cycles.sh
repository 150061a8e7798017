#!/usr/bin/env bash
# Fails when two modules of the project include each other, directly or through others. A module
# is a header with its source (engine/exec/fork_server.{hpp,cpp}) and its private header, if any
# (store/store_impl.hpp belongs to store/store); an edge A -> B is a file of A including a header
# of B. tsort(1) finds the cycles. Usage: include_cycles.sh SOURCE_DIR
set -euo pipefail
cd "$1"
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
dirs=$(for d in base store engine cli include plugins; do [ -d "$d" ] && echo "$d"; done)
for f in $(find $dirs -name '*.cpp' -o -name '*.hpp'); do
  from=${f%.*}
  from=${from%_impl}
  { grep -oE '^#include "[^"]+\.hpp"' "$f" || true; } | sed -E 's/^#include "(.*)\.hpp"/\1/' | while read -r inc; do
    # Includes are relative to the source root or to include/ (the SDK).
    if [ -f "$inc.hpp" ]; then to=$inc; elif [ -f "include/$inc.hpp" ]; then to=include/$inc; else continue; fi
    to=${to%_impl}
    if [ "$to" != "$from" ]; then echo "$from $to"; fi
  done
done > "$edges"
out=$(tsort "$edges" 2>&1 >/dev/null || true)
if [ -n "$out" ]; then
  echo "include cycle(s) between modules (tsort names the members of each loop):" >&2
  echo "$out" >&2
  exit 1
fi
echo "no include cycle among $(cut -d' ' -f1 "$edges" | sort -u | wc -l) modules ($(wc -l < "$edges") includes)"
