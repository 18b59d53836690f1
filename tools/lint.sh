#!/bin/sh
# lint.sh: the rockspec lists exactly the C sources and Lua modules the
# tree has (the Makefile builds csrc/loom.c and csrc/*/*.c), and csrc/
# keeps its layering (tools/layers.lua).
status=0
spec=loom-scm-1.rockspec
for f in csrc/loom.c csrc/*/*.c; do
  grep -q "\"$f\"" "$spec" || { echo "lint: $f missing from $spec"; status=1; }
done
for f in $(grep -oE '"csrc/[a-z_/]+\.c"' "$spec" | tr -d '"'); do
  [ -f "$f" ] || { echo "lint: $spec lists $f, which does not exist"; status=1; }
done
for f in lua/loom/*.lua; do
  grep -q "\"$f\"" "$spec" || { echo "lint: $f missing from $spec"; status=1; }
done
lua5.4 tools/layers.lua --quiet || status=1
[ $status -eq 0 ] && echo "lint: ok"
exit $status
