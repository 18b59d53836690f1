#!/bin/sh
# stress.sh (make stress): 10^5 random task trees, in two processes at once
# (tools/trees.lua), then the soak test (spec/stress/soak.lua: 10^6 task
# lifetimes and 10^4 TCP connections in one process, RSS and open fds
# flat). Exits non-zero if any part failed.
#   STRESS_TREES=n   how many trees (default 100000)
#   TREES_BASE=b     first seed (default 1)
#   TREES_ESCAPES=0, TREES_RUNS=k, TREES_SHOW=n: see tools/trees.lua
#   SOAK_TASKS, SOAK_CONNS, SOAK_SLACK: see spec/stress/soak.lua
BUILD=${BUILD:-build}
export LOOM_BUILD="$BUILD"
n=${STRESS_TREES:-100000}
base=${TREES_BASE:-1}
half=$((n / 2))
log1=$(mktemp); log2=$(mktemp)
trap 'rm -f "$log1" "$log2"' EXIT
start=$(date +%s)
echo "stress: $n random trees (seeds $base..$((base + n - 1))), two processes"
lua5.4 tools/trees.lua "$half" "$base" > "$log1" 2>&1 &
p1=$!
lua5.4 tools/trees.lua "$((n - half))" "$((base + half))" > "$log2" 2>&1 &
p2=$!
rc=0
wait $p1 || rc=1
wait $p2 || rc=1
cat "$log1" "$log2"
echo "stress: trees took $(( $(date +%s) - start )) s"
s2=$(date +%s)
lua5.4 spec/stress/soak.lua || rc=1
echo "stress: soak took $(( $(date +%s) - s2 )) s; total $(( $(date +%s) - start )) s"
[ "$rc" -eq 0 ] && echo "stress: ok" || echo "stress: FAILED"
exit $rc
