#!/bin/sh
# demo.sh: run every example in examples/ (in order) with the in-tree build,
# saying which one runs ("[3/15]") and how long each took.
export LUA_PATH='./lua/?.lua;./lua/?/init.lua;;'
export LUA_CPATH="./${BUILD:-build}/?.so;;"
status=0
total=$(ls examples/*.lua 2>/dev/null | wc -l)
i=0
t0=$(date +%s)
echo "make demo: $total examples, about 20 seconds in all (06 waits for its"
echo "deadlines for about 10 s)"
for f in examples/*.lua; do
  [ -e "$f" ] || continue
  i=$((i + 1))
  echo "==> [$i/$total] $f"
  s=$(date +%s)
  lua5.4 "$f" || { echo "FAILED: $f"; status=1; }
  echo "    ($(( $(date +%s) - s )) s)"
  echo
done
echo "make demo: $i examples in $(( $(date +%s) - t0 )) s$( [ $status -ne 0 ] && echo ', some FAILED')"
exit $status
