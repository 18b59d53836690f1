#!/bin/sh
# torture.sh (make torture): the whole suite with LOOM_GC_TORTURE=1 (a full
# garbage collection after every resume of a task, so that an object in
# flight that nothing anchors is collected at once), one busted process
# per spec file: a small heap keeps each forced collection short (the
# suite in one process takes about 3 minutes, and specs with tight timing
# then miss their deadlines). The C tests run once. The last line printed
# is "N passed, M failed"; a file whose run crashes or exits non-zero with
# no failure counts as one failure.
#   BUILD=dir (default build), SANITIZE=asan (as tools/test.sh)
BUILD=${BUILD:-build}
export LOOM_BUILD="$BUILD" LOOM_GC_TORTURE=1
if [ "${SANITIZE:-}" = asan ]; then
  LD_PRELOAD="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
  export LD_PRELOAD
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0; failed=0
start=$(date +%s)
if [ -x "$BUILD/ctest/run" ]; then
  "$BUILD/ctest/run" > "$log" 2>&1
  rc=$?
  sum=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
  p=${sum%% *}; f=$(echo "$sum" | cut -d' ' -f3)
  [ -z "$sum" ] && { p=0; f=1; }
  [ "$rc" -ne 0 ] && [ "$f" = 0 ] && f=1
  [ "$f" -ne 0 ] && cat "$log"
  echo "C tests: $p passed, $f failed"
  passed=$((passed + p)); failed=$((failed + f))
fi
for spec in $(find spec -name '*_spec.lua' | sort); do
  t0=$(date +%s)
  busted --lua=lua5.4 -o plainTerminal "$spec" > "$log" 2>&1
  rc=$?
  sum=$(grep -E '[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors?' "$log" | tail -1)
  if [ -z "$sum" ]; then
    s=0; f=1
    echo "$spec: busted did not finish (exit $rc)"
    tail -20 "$log"
  else
    s=$(echo "$sum" | grep -oE '[0-9]+ success' | grep -oE '[0-9]+')
    f=$(( $(echo "$sum" | grep -oE '[0-9]+ failure' | grep -oE '[0-9]+') + \
          $(echo "$sum" | grep -oE '[0-9]+ error' | grep -oE '[0-9]+') ))
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    [ "$f" -ne 0 ] && sed -n '/^Failure\|^Error/,$p' "$log"
  fi
  echo "$spec: $s passed, $f failed ($(( $(date +%s) - t0 )) s)"
  passed=$((passed + s)); failed=$((failed + f))
done
echo "torture: $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
