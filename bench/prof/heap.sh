#!/bin/sh
# bench/prof/heap.sh [N...]: instructions per sleep spent in loom's
# deadline heap (queueing a sleep: loom__timer_set; firing it: clock_fire,
# the heap pop and the wake-up of the sleeper), counted by callgrind while
# W2 runs (bench/loom/w2.lua) at each N (default 10000 100000 1000000).
# Only these two are toggled: callgrind's --toggle-collect flips
# collection at each entry and exit, so a toggled function called inside
# another one would switch counting off there. A (4-ary) heap costs
# O(log N) per operation: the figure grows at most by a constant for each
# tenfold N.
set -u
cd "$(dirname "$0")/../.." || exit 1
[ $# -gt 0 ] || set -- 10000 100000 1000000
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for n in "$@"; do
  LUA_PATH="./bench/lib/?.lua;./lua/?.lua;./lua/?/init.lua;;" \
  LUA_CPATH="./build/?.so;;" \
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" \
      --toggle-collect=loom__timer_set --toggle-collect=clock_fire \
      lua5.4 bench/loom/w2.lua "$n" >/dev/null 2>&1
  tot=$(callgrind_annotate "$out/cg" 2>/dev/null |
        awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  lg=$(awk -v n="$n" 'BEGIN { printf "%.1f", log(n) / log(2) }')
  echo "N=$n: $(( ${tot:-0} / n )) instructions per sleep in the heap" \
       "(log2 N = $lg)"
  rm -f "$out"/cg*
done
