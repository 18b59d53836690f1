#!/bin/sh
# demo.sh: run every example in examples/ (in order) with the in-tree build.
export LUA_PATH='./lua/?.lua;./lua/?/init.lua;;'
export LUA_CPATH="./${BUILD:-build}/?.so;;"
status=0
for f in examples/*.lua; do
  [ -e "$f" ] || continue
  echo "==> $f"
  lua5.4 "$f" || { echo "FAILED: $f"; status=1; }
  echo
done
exit $status
