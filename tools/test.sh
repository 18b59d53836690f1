#!/bin/sh
# test.sh: run the whole busted suite under Lua 5.4 (and the C tests when
# there are any); the last line printed is "N passed, M failed".
#   BUILD=dir        where core.so was built (default: build)
#   SANITIZE=asan    run with the ASan/UBSan runtime preloaded
#   SANITIZE=tsan    run with the ThreadSanitizer runtime preloaded (a
#                    data race or a lock-order problem fails the run)
#   SANITIZE=valgrind run busted under valgrind
#   BUSTED_ARGS=...  extra busted arguments (e.g. a spec file)
#   CTEST_ARGS=...   names of the C tests to run (default: all)
#   SHUFFLE=1        run the specs in a random order (the seed is printed;
#                    SEED=n repeats an order)
BUILD=${BUILD:-build}
export LOOM_BUILD="$BUILD"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
runner=""
busted_cmd="busted --lua=lua5.4"
case "${SANITIZE:-}" in
  asan)
    asan=$(${CC:-cc} -print-file-name=libasan.so)
    ubsan=$(${CC:-cc} -print-file-name=libubsan.so)
    export LD_PRELOAD="$asan $ubsan"
    export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    ;;
  tsan)
    export LD_PRELOAD="$(${CC:-cc} -print-file-name=libtsan.so)"
    TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:${TSAN_OPTIONS:-}"
    export TSAN_OPTIONS="second_deadlock_stack=1:$TSAN_OPTIONS"
    # As for valgrind: busted re-executes itself, which dies silently
    # under the preloaded runtime. (/bin/sh crashes under it too: specs
    # run under TSan start their child processes without a shell.)
    busted_cmd="lua5.4 $(command -v busted) --ignore-lua"
    ;;
  valgrind)
    runner="valgrind --quiet --error-exitcode=99 --leak-check=no"
    runner="$runner --suppressions=tools/valgrind.supp"
    # busted re-executes itself with --lua, which valgrind would not
    # follow: run it under lua5.4 directly.
    busted_cmd="lua5.4 $(command -v busted) --ignore-lua"
    ;;
esac
passed=0; failed=0
# The C tests (built by `make ctest`) print their own "N passed, M failed".
# A runner that crashes, or whose exit status is not 0, counts as a
# failure even if its summary line is missing or says 0 failed.
if [ -x "$BUILD/ctest/run" ]; then
  st=$(mktemp)
  # shellcheck disable=SC2086
  { $runner "$BUILD/ctest/run" ${CTEST_ARGS:-}; echo $? > "$st"; } 2>&1 |
    tee -a "$log"
  if [ "$(cat "$st")" != 0 ]; then
    grep -qE '^[0-9]+ passed, [1-9][0-9]* failed$' "$log" ||
      echo "0 passed, 1 failed" >> "$log"
  fi
  rm -f "$st"
fi
for line in $(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tr ' ' '_'); do
  p=$(echo "$line" | cut -d_ -f1); f=$(echo "$line" | cut -d_ -f3)
  passed=$((passed + p)); failed=$((failed + f))
done
: > "$log"
# shellcheck disable=SC2086
shuffle=""
if [ -n "${SHUFFLE:-}" ]; then
  seed=${SEED:-$(date +%s)}
  echo "busted: random order, seed $seed (SHUFFLE=1 SEED=$seed repeats it)"
  shuffle="--shuffle --seed=$seed"
fi
$runner $busted_cmd -o tools/busted_files.lua $shuffle ${BUSTED_ARGS:-} 2>&1 | tee "$log"
sum=$(grep -E '[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors?' "$log" | tail -1)
if [ -z "$sum" ]; then
  echo "busted did not finish (no summary line)"
  failed=$((failed + 1))
else
  s=$(echo "$sum" | grep -oE '[0-9]+ success' | grep -oE '[0-9]+')
  f=$(echo "$sum" | grep -oE '[0-9]+ failure' | grep -oE '[0-9]+')
  e=$(echo "$sum" | grep -oE '[0-9]+ error' | grep -oE '[0-9]+')
  passed=$((passed + s)); failed=$((failed + f + e))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
