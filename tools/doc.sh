#!/bin/sh
# doc.sh: build the reference manual (config.ld) into build/doc/ with LDoc,
# warnings as errors. ldoc's --fatalwarnings does not cover every warning
# (it prints some on stdout, some without setting its flag), so its whole
# output is captured and every line that is not one of its three progress
# messages counts as a warning. tools/doccheck.lua then checks what ldoc
# does not (every file of lua/loom/ listed in config.ld, every export of
# loom documented, every link between the pages valid).
#
# Prints "ok - doc" or "not ok - doc" followed by the warnings, then one
# summary line, "1 passed, 0 failed" or "0 passed, 1 failed" (.ci/run sums
# these); exits non-zero on failure.
LUA=${LUA:-lua5.4}
LDOC=${LDOC:-ldoc}
DOC_DIR=build/doc
cd "$(dirname "$0")/.." || exit 1
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT

rm -rf "$DOC_DIR"
"$LDOC" --fatalwarnings . >"$log" 2>&1
rc=$?
warnings=$(grep -v -E '^(reading configuration from config\.ld|found master module[[:space:]].*|output written to .*)$' "$log")
if [ $rc -eq 0 ] && [ -z "$warnings" ]; then
  warnings=$("$LUA" tools/doccheck.lua "$DOC_DIR" 2>&1) || rc=1
fi

if [ $rc -eq 0 ] && [ -z "$warnings" ]; then
  echo "ok - doc ($DOC_DIR/index.html)"
  echo "1 passed, 0 failed"
else
  echo "not ok - doc"
  if [ -n "$warnings" ]; then
    echo "$warnings" | sed 's/^/#   /'
  else
    echo "#   ldoc exited with status $rc"
  fi
  echo "0 passed, 1 failed"
  exit 1
fi
