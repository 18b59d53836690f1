#!/bin/sh
# bench/prof/ir.sh PROG N [TREE...]: instructions per task (callgrind) of
# bench/loom/PROG.lua at size N, for this tree or each TREE given (a tree
# with lua/loom/*.lua and build/loom/core.so), and for the raw limit when
# bench/raw/PROG.lua exists. Deterministic, unlike timings on a shared
# machine: use it to check that a core change saves work.
#   AFTER=fn  count only what runs after the first call of C function fn
#             (e.g. AFTER=l_group_cancel for the W3 cancel phase)
# Needs valgrind and builds build/bench/plua (an interpreter linked with
# the static liblua, so that Lua's own functions have names).
set -u
cd "$(dirname "$0")/../.." || exit 1
prog=$1; n=$2; shift 2
[ $# -gt 0 ] || set -- .
mkdir -p build/bench
if [ ! -x build/bench/plua ] || [ bench/prof/plua.c -nt build/bench/plua ]; then
  # shellcheck disable=SC2046
  cc -O2 -g $(pkg-config --cflags lua5.4) bench/prof/plua.c \
    /usr/lib/x86_64-linux-gnu/liblua5.4.a -Wl,-E -lm -ldl \
    -o build/bench/plua || exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {   # count LABEL SCRIPT TREE
  dump=""
  [ -n "${AFTER:-}" ] && dump="--dump-before=$AFTER"
  LUA_PATH="./bench/lib/?.lua;$3/lua/?.lua;$3/lua/?/init.lua;;" \
  LUA_CPATH="$3/build/?.so;;" \
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" $dump \
      build/bench/plua "$2" "$n" >"$out/stdout" 2>"$out/stderr"
  tot=$(callgrind_annotate "$out/cg" 2>/dev/null |
        awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
  close=$(callgrind_annotate --inclusive=yes "$out/cg" 2>/dev/null |
          awk '/:lua_close \[/ { gsub(",", "", $1); print $1; exit }')
  echo "$1: $(( (${tot:-0} - ${close:-0}) / n )) instructions/task" \
       "(lua_close excluded)  $(head -1 "$out/stdout")"
  rm -f "$out"/cg*
}
[ -f "bench/raw/$prog.lua" ] && [ -z "${AFTER:-}" ] &&
  count "raw" "bench/raw/$prog.lua" .
for t in "$@"; do
  count "loom $t" "bench/loom/$prog.lua" "$t"
done
