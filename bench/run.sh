#!/bin/sh
# bench/run.sh: loom's benchmark suite (workloads of bench/README.md W1-W5 and the
# two sync benchmarks, and W7: a to_thread round trip, which has no limit
# program), run from the repository root by `make bench`.
#
# Builds the C limit programs into build/bench/, then runs every program
# in interleaved rounds (round 1: each program once, round 2: again, ...),
# takes the median of each number over the rounds, and prints one table
# per workload: loom beside its limit and the peers, the ratio loom/limit
# and its target (bench/README.md, "Targets") with PASS/MISS. A program
# that fails or is missing shows "n/a" (its stderr is kept in
# build/bench/logs/).
#
# Environment:
#   BENCH_ROUNDS  rounds (default 5)
#   BENCH_N       tasks per workload (default 100000; W4 uses BENCH_C and
#                 BENCH_R: 100 connections x 1000 round trips)
#   BENCH_ONLY    space-separated workloads to run (e.g. "W1 W3")
#   BENCH_SCALE=1 instead: linear growth of W1, W2, W5 at N = 10 000,
#                 100 000, 1 000 000, and RSS after 10 rounds of W1
#   BENCH_TIMEOUT seconds per program run (default 300)
#   BENCH_TREE    take loom (lua/loom/*.lua, build/loom/core.so) from this
#                 tree instead of this one (A/B runs of a change)
set -u
cd "$(dirname "$0")/.." || exit 1

LUA=${LUA:-lua5.4}
CC=${CC:-cc}
BUILD=${BUILD:-build}
OUT=$BUILD/bench
ROUNDS=${BENCH_ROUNDS:-5}
TMO=${BENCH_TIMEOUT:-300}
# Everything a run uses or writes lives in a private work directory (a
# `make clean` by someone else during the run cannot pull the programs
# away); results and logs are copied to build/bench/ at the end.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/loom-bench.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
SNAP=$WORK/snap
BIN=$WORK/bin
LOGS=$WORK/logs
LUA_PATH="./bench/lib/?.lua;$SNAP/?.lua;$SNAP/?/init.lua;;"
LUA_CPATH="$SNAP/?.so;;"
export LUA_PATH LUA_CPATH
mkdir -p "$OUT" "$SNAP/loom" "$BIN" "$LOGS"

# {== Build ===========================================================

# loom is run from a snapshot (core.so and lua/loom/*.lua copied once), so
# that a rebuild or a `make clean` by someone else during the run changes
# nothing. Without build/loom/core.so, build one into build/bench/core.
TREE=${BENCH_TREE:-.}
so=$TREE/$BUILD/loom/core.so
if [ ! -f "$so" ]; then
  so=$OUT/core/loom/core.so
  make --no-print-directory -C "$TREE" BUILD="$PWD/$OUT/core" all \
    >"$LOGS/make.err" 2>&1 ||
    echo "bench: building loom failed: $(tail -3 "$LOGS/make.err")" >&2
fi
cp "$TREE"/lua/loom/*.lua "$SNAP/loom/"
[ -f "$so" ] && cp "$so" "$SNAP/loom/core.so"
UV_CFLAGS=$(pkg-config --cflags libuv 2>/dev/null)
UV_LIBS=$(pkg-config --libs libuv 2>/dev/null || echo -luv)
for w in w2 w3 w4 w7; do
  if [ ! -x "$OUT/$w" ] || [ "bench/c/$w.c" -nt "$OUT/$w" ] ||
     [ bench/c/common.h -nt "$OUT/$w" ]; then
    # shellcheck disable=SC2086
    $CC -O2 -std=c99 -D_DEFAULT_SOURCE -Wall $UV_CFLAGS -o "$OUT/$w" \
      "bench/c/$w.c" $UV_LIBS 2>"$LOGS/cc-$w.err" ||
      echo "bench: cannot build bench/c/$w.c: $(head -3 "$LOGS/cc-$w.err")" >&2
  fi
  [ -x "$OUT/$w" ] && cp "$OUT/$w" "$BIN/$w"
done

have() { $LUA -e "require '$1'" >/dev/null 2>&1; }
HAVE_LUV=0; have luv && HAVE_LUV=1
HAVE_CQ=0; have cqueues && HAVE_CQ=1

# {== Running =========================================================

RES=$WORK/results.txt
: >"$RES"

# run_one W IMPL CMD...: run once; append its result line, or "W IMPL n/a".
run_one() {
  w=$1; impl=$2; shift 2
  log="$LOGS/$w-$impl"
  if timeout "$TMO" "$@" >"$log.out" 2>"$log.err"; then :; fi
  line=$(grep -m1 "^$w $impl " "$log.out")
  if [ -n "$line" ]; then
    echo "$line" >>"$RES"
  else
    echo "$w $impl n/a" >>"$RES"
    [ -s "$log.err" ] || echo "exit without a result line" >"$log.err"
  fi
}

# The program list: "W IMPL how path" per line; how = lua | bin | skip.
programs() {
  lv=lua; [ $HAVE_LUV = 1 ] || lv=skip
  cqh=lua; [ $HAVE_CQ = 1 ] || cqh=skip
  cat <<EOF
W1 raw lua bench/raw/w1.lua
W1 loom lua bench/loom/w1.lua
W1 luv $lv bench/luv/w1.lua
W1 cqueues $cqh bench/cqueues/w1.lua
W1S raw lua bench/raw/w1s.lua
W1S loom lua bench/loom/w1s.lua
W2 c bin $BIN/w2
W2 loom lua bench/loom/w2.lua
W2 luv $lv bench/luv/w2.lua
W2 cqueues $cqh bench/cqueues/w2.lua
W3 c bin $BIN/w3
W3 loom lua bench/loom/w3.lua
W3 luv $lv bench/luv/w3.lua
W3 cqueues $cqh bench/cqueues/w3.lua
W4 c bin $BIN/w4
W4 loom lua bench/loom/w4.lua
W4 luv $lv bench/luv/w4.lua
W4 cqueues $cqh bench/cqueues/w4.lua
W4T tcp lua bench/loom/w4tcp.lua
W4T loom lua bench/loom/w4tls.lua
W4R p1 lua bench/loom/w4rp1.lua
W4R loom lua bench/loom/w4rp.lua
W5 raw lua bench/raw/w5.lua
W5 loom lua bench/loom/w5.lua
W5 luv $lv bench/luv/w5.lua
W5 cqueues $cqh bench/cqueues/w5.lua
W6 loom lua bench/loom/w6.lua
CHAN raw lua bench/raw/chan.lua
CHAN loom lua bench/loom/chan.lua
LOCK raw lua bench/raw/lock.lua
LOCK loom lua bench/loom/lock.lua
W7 c bin $BIN/w7
W7 loom lua bench/loom/w7.lua
W7 luv $lv bench/luv/w7.lua
EOF
}

selected() {
  [ -z "${BENCH_ONLY:-}" ] && return 0
  for x in $BENCH_ONLY; do [ "$x" = "$1" ] && return 0; done
  return 1
}

# run_prog W IMPL HOW PATH [N]
run_prog() {
  case $3 in
    lua) run_one "$1" "$2" $LUA "$4" ${5:-} ;;
    bin) if [ -x "$4" ]; then run_one "$1" "$2" "$4" ${5:-}
         else echo "$1 $2 n/a" >>"$RES"; fi ;;
    *) : ;;   # peer not installed: no row
  esac
}

machine_note() {
  echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" \
       "($1); $($LUA -v 2>&1 | cut -d' ' -f1-2)," \
       "libuv $(pkg-config --modversion libuv 2>/dev/null || echo '?')"
}

# {== Report ==========================================================

# report FILE: medians and one table per workload.
report() {
  awk -v rounds="$ROUNDS" '
  function median(k,   n, i, j, v, a) {
    n = cnt[k]
    for (i = 1; i <= n; i++) a[i] = vals[k, i] + 0
    for (i = 2; i <= n; i++) {
      v = a[i]
      for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]
      a[j + 1] = v
    }
    lo[k] = a[1]; hi[k] = a[n]
    if (n % 2) return a[(n + 1) / 2]
    return (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function num(x, unit) {
    if (unit == "ms" || unit == "us") return sprintf("%.1f", x)
    return sprintf("%.0f", x)
  }
  {
    w = $1; im = $2
    if (!((w, im) in seen)) { seen[w, im] = 1; impls[w] = impls[w] " " im }
    if ($3 == "n/a") { fails[w, im]++; next }
    runs[w, im]++
    for (f = 3; f <= NF; f++) {
      split($f, kv, "=")
      k = w SUBSEP im SUBSEP kv[1]
      cnt[k]++; vals[k, cnt[k]] = kv[2]
    }
  }
  END {
    split("W1 W1S W2 W3 W4 W4T W4R W5 W6 CHAN LOCK W7", order, " ")
    T["W1"] = "W1 spawn-join, cold (all N tasks alive at once)"
    M["W1"] = "ms";   D["W1"] = "lower"; L["W1"] = "raw"; G["W1"] = "<= 1.0"
    T["W1S"] = "W1S spawn-join, steady (rounds of 1000 tasks; N in all)"
    M["W1S"] = "ms"; D["W1S"] = "lower"; L["W1S"] = "raw"; G["W1S"] = "<= 1.0"
    T["W6"] = "W6 deep cancel (ms to unwind 10 000 nested groups)"
    M["W6"] = "ms"; D["W6"] = "lower"; L["W6"] = "-"; G["W6"] = ""
    T["W2"] = "W2 sleepers (ms beyond the ideal 100 ms)"
    M["W2"] = "over"; D["W2"] = "lower"; L["W2"] = "c"; G["W2"] = "<= 3"
    T["W3"] = "W3 cancel storm (ms from the cancel until all unwound)"
    M["W3"] = "ms"; D["W3"] = "lower"; L["W3"] = "c"; G["W3"] = "<= 2"
    T["W4"] = "W4 loopback echo (round trips per second)"
    M["W4"] = "rtps"; D["W4"] = "higher"; L["W4"] = "c"; G["W4"] = ">= 0.85"
    T["W5"] = "W5 parked memory (bytes per task)"
    M["W5"] = "bpt"; D["W5"] = "lower"; L["W5"] = "raw"; G["W5"] = "<= 1.10"
    T["CHAN"] = "CHAN channel(0) ping-pong (messages per second)"
    M["CHAN"] = "mps"; D["CHAN"] = "higher"; L["CHAN"] = "raw"; G["CHAN"] = ""
    T["LOCK"] = "LOCK lock hand-off (hand-offs per second)"
    M["LOCK"] = "hps"; D["LOCK"] = "higher"; L["LOCK"] = "raw"; G["LOCK"] = ""
    T["W4T"] = "W4T loopback echo over TLS 1.3 (round trips per second; limit: the same over plain TCP)"
    M["W4T"] = "rtps"; D["W4T"] = "higher"; L["W4T"] = "tcp"; G["W4T"] = ""
    T["W4R"] = "W4R loopback echo, 2 reuseport server processes (round trips per second; limit: 1 process)"
    M["W4R"] = "rtps"; D["W4R"] = "higher"; L["W4R"] = "p1"; G["W4R"] = ""
    T["W7"] = "W7 to_thread round trip (microseconds; us_conc: 8 callers at once; limit: uv_queue_work in C; luv: uv.new_work)"
    M["W7"] = "us"; D["W7"] = "lower"; L["W7"] = "c"; G["W7"] = ""
    for (o = 1; o <= 12; o++) {
      w = order[o]
      if (impls[w] == "") continue
      m = M[w]; lim = L[w]
      # Limit first, then loom, then the peers.
      n = split(impls[w], list, " ")
      line = lim " loom"
      for (i = 1; i <= n; i++)
        if (list[i] != lim && list[i] != "loom") line = line " " list[i]
      n = split(line, list, " ")
      hasrss = (w == "W2" || w == "W3")
      hascpu = (w != "W2" && w != "W5")
      limv = ""; limc = ""
      if (runs[w, lim] > 0) limv = median(w SUBSEP lim SUBSEP m)
      if (hascpu && cnt[w, lim, "cpu"]) limc = median(w SUBSEP lim SUBSEP "cpu")
      printf "\n%s  [%s, %s is better; median of %d rounds]\n", T[w], m, D[w], rounds
      printf "  %-9s %12s %9s %8s%s%s   %s\n", "impl", m, "spread", "ratio", \
             hascpu ? sprintf(" %9s", "cpu ratio") : "", \
             hasrss ? sprintf(" %10s", "peak RSS") : "", "target"
      for (i = 1; i <= n; i++) {
        im = list[i]
        if (!((w, im) in seen)) continue
        if (runs[w, im] == 0) {
          printf "  %-9s %12s\n", im, "n/a"
          continue
        }
        k = w SUBSEP im SUBSEP m
        v = median(k)
        spread = v != 0 ? (hi[k] - lo[k]) / v * 100 : 0
        ratio = (limv != "" && limv + 0 != 0) ? sprintf("%.2f", v / limv) : "-"
        if (im == lim) ratio = "limit"
        cr = ""
        if (hascpu) {
          kc = w SUBSEP im SUBSEP "cpu"
          # CPU ms per unit of work: for rates, limit/loom keeps the
          # direction of the rate ratio (higher is better).
          cr = sprintf(" %9s", "-")
          if (cnt[kc] && limc != "" && limc + 0 != 0 && median(kc) != 0)
            cr = sprintf(" %9.2f", D[w] == "higher" ? limc / median(kc) : median(kc) / limc)
          if (im == lim) cr = sprintf(" %9s", "limit")
        }
        rss = ""
        if (hasrss) {
          kr = w SUBSEP im SUBSEP "rss_kb"
          rss = cnt[kr] ? sprintf(" %8.0fMB", median(kr) / 1024) : sprintf(" %10s", "")
        }
        tgt = ""
        if (im == "loom" && G[w] != "" && ratio != "-") {
          split(G[w], g, " ")
          ok = (g[1] == "<=") ? (v / limv <= g[2]) : (v / limv >= g[2])
          tgt = sprintf("%s x limit: %s", G[w], ok ? "PASS" : "MISS")
        }
        note = ""
        if (fails[w, im]) note = sprintf(" (%d runs n/a)", fails[w, im])
        kq = w SUBSEP im SUBSEP "us_conc"
        if (cnt[kq]) note = note sprintf(" us_conc=%.1f", median(kq))
        via = w SUBSEP im SUBSEP "via"
        if (cnt[via] && vals[via, 1] != "event") note = note " (via " vals[via, 1] ")"
        printf "  %-9s %12s %8.0f%% %8s%s%s   %s%s\n", im, num(v, m), spread, \
               ratio, cr, rss, tgt, note
      }
    }
    # W2 measured fairly: loom spawns N tasks before the last sleep starts,
    # which plain C does not do; the timer cost is what loom adds beyond
    # the ideal minus the spawn-join time of N raw coroutines (W1 raw).
    k1 = "W1" SUBSEP "raw" SUBSEP "ms"; k2 = "W2" SUBSEP "loom" SUBSEP "over"
    kc = "W2" SUBSEP "c" SUBSEP "over"
    if (cnt[k1] && cnt[k2] && cnt[kc]) {
      raw1 = median(k1); over = median(k2); c = median(kc)
      cost = over - raw1
      printf "\nW2 timer cost (ms beyond the ideal minus W1 raw spawn-join)\n"
      printf "  loom: %.1f - %.1f = %.1f ms;  plain C: %.1f ms;  target <= 2 x C + 1 = %.1f ms: %s\n", \
             over, raw1, cost, c, 2 * c + 1, (cost <= 2 * c + 1) ? "PASS" : "MISS"
    }
  }' "$1"
}

# {== Scale mode ======================================================

scale() {
  SRES=$WORK/scale.txt
  PLOT_DATA=$WORK/plot.txt
  export PLOT_DATA
  : >"$SRES"
  : >"$PLOT_DATA"
  rounds=${BENCH_ROUNDS:-3}
  r=1
  while [ "$r" -le "$rounds" ]; do
    echo "bench: scale round $r/$rounds" >&2
    for n in ${BENCH_SIZES:-10000 100000 1000000}; do
      for spec in "W1 raw bench/raw/w1.lua" "W1 loom bench/loom/w1.lua" \
                  "W2 c -" "W2 loom bench/loom/w2.lua" \
                  "W5 raw bench/raw/w5.lua" "W5 loom bench/loom/w5.lua"; do
        set -- $spec
        RES=$SRES.tmp; : >"$RES"
        if [ "$3" = "-" ]; then run_prog "$1" "$2" bin "$BIN/w2" "$n"
        else run_prog "$1" "$2" lua "$3" "$n"; fi
        sed "s/^/$n /" "$RES" >>"$SRES"
      done
    done
    r=$((r + 1))
  done
  rm -f "$SRES.tmp"
  cp "$SRES" "$OUT/scale.txt" 2>/dev/null
  echo
  machine_note "end"
  echo "Scale: per-task cost at N = 10k, 100k, 1M (median of $rounds rounds);"
  echo "linear = the per-task cost at 1M is at most 1.2 x the one at 100k."
  awk '
  function med(k,   n, i, j, v, a) {
    n = cnt[k]
    for (i = 1; i <= n; i++) a[i] = vals[k, i] + 0
    for (i = 2; i <= n; i++) {
      v = a[i]
      for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]
      a[j + 1] = v
    }
    if (n % 2) return a[(n + 1) / 2]
    return (a[n / 2] + a[n / 2 + 1]) / 2
  }
  $4 == "n/a" { next }
  {
    n = $1; w = $2; im = $3
    for (f = 4; f <= NF; f++) {
      split($f, kv, "=")
      k = n SUBSEP w SUBSEP im SUBSEP kv[1]
      cnt[k]++; vals[k, cnt[k]] = kv[2]
    }
  }
  END {
    split("W1 raw ms|W1 loom ms|W2 c over|W2 loom over|W5 raw bpt|W5 loom bpt", rows, "|")
    plot = ENVIRON["PLOT_DATA"]
    printf "  %-16s %14s %14s %14s   %s\n", "", "N=10k", "N=100k", "N=1M", "linear"
    for (r = 1; r <= 6; r++) {
      split(rows[r], x, " ")
      w = x[1]; im = x[2]; m = x[3]
      out = sprintf("  %-16s", w " " im " " m)
      for (i = 1; i <= 3; i++) {
        n = (i == 1) ? 10000 : (i == 2) ? 100000 : 1000000
        k = n SUBSEP w SUBSEP im SUBSEP m
        if (!cnt[k]) { out = out sprintf(" %14s", "n/a"); pt[i] = ""; continue }
        v = med(k)
        pt[i] = (m == "bpt") ? v : v * 1000 / n
        out = out sprintf(" %14s", (m == "bpt") ? sprintf("%.0f B", v) : sprintf("%.2f us/task", pt[i]))
        if (plot != "") printf "%s %s %d %.4f\n", w, im, n, pt[i] >> plot
      }
      lin = (pt[2] != "" && pt[3] != "") ? ((pt[3] <= 1.2 * pt[2]) ? "yes" : "NO") : "n/a"
      print out "   " lin
    }
    # W2 timer cost per task: loom beyond the ideal minus the spawn-join of
    # N raw coroutines, per task; O(log N) per sleep: it grows slowly.
    out = sprintf("  %-16s", "W2 loom timer")
    for (i = 1; i <= 3; i++) {
      n = (i == 1) ? 10000 : (i == 2) ? 100000 : 1000000
      ka = n SUBSEP "W2" SUBSEP "loom" SUBSEP "over"
      kb = n SUBSEP "W1" SUBSEP "raw" SUBSEP "ms"
      if (!cnt[ka] || !cnt[kb]) { out = out sprintf(" %14s", "n/a"); continue }
      tc = (med(ka) - med(kb)) * 1000 / n
      out = out sprintf(" %14s", sprintf("%.2f us/task", tc))
      if (plot != "") printf "W2 timer %d %.4f\n", n, tc >> plot
    }
    print out "   (beyond-ideal minus raw spawn-join)"
  }' "$SRES"
  echo
  echo "Steady state: RSS after 10 rounds of W1 (N=${BENCH_N:-100000}) in one process"
  timeout "$TMO" $LUA bench/loom/w1_rounds.lua ${BENCH_N:-} 2>&1 | sed 's/^/  /'
  plot_scale
}

# plot_scale: build/bench/scaling.png, the per-task cost against N (from
# PLOT_DATA, written by the scale table), when gnuplot is installed.
plot_scale() {
  command -v gnuplot >/dev/null 2>&1 || {
    echo "(no gnuplot: install gnuplot-nox for build/bench/scaling.png)"
    return
  }
  d=$PLOT_DATA
  for s in "W1 raw" "W1 loom" "W2 c" "W2 loom" "W2 timer" "W5 raw" "W5 loom"; do
    f=$WORK/plot-$(echo "$s" | tr ' ' '-').dat
    grep "^$s " "$d" | awk '{print $3, $4}' >"$f"
  done
  gnuplot <<GP
set terminal png size 1100,420 font ",10"
set output "$OUT/scaling.png"
set multiplot layout 1,2 title "loom beside its limits: cost per task against N (median of $rounds rounds, one run)"
set logscale x 10
set format x "10^{%L}"
set xlabel "N (tasks)"
set ylabel "microseconds per task"
set key top left
set grid
plot "$WORK/plot-W1-raw.dat" w lp t "W1 raw coroutines", \
     "$WORK/plot-W1-loom.dat" w lp t "W1 loom spawn-join", \
     "$WORK/plot-W2-c.dat" w lp t "W2 plain C timers (beyond ideal)", \
     "$WORK/plot-W2-loom.dat" w lp t "W2 loom sleepers (beyond ideal)", \
     "$WORK/plot-W2-timer.dat" w lp t "W2 loom timer cost"
set ylabel "bytes per parked task"
set yrange [0:*]
plot "$WORK/plot-W5-raw.dat" w lp t "W5 raw coroutines", \
     "$WORK/plot-W5-loom.dat" w lp t "W5 loom tasks"
unset multiplot
GP
  echo "plot: $OUT/scaling.png"
}

# {== Main ============================================================

if [ "${BENCH_SCALE:-0}" = 1 ]; then
  scale
  exit 0
fi

PROGS=$WORK/programs.txt
programs >"$PROGS"
machine_note "start" >"$WORK/machine.txt"
r=1
while [ "$r" -le "$ROUNDS" ]; do
  echo "bench: round $r/$ROUNDS" >&2
  while read -r w impl how path; do
    selected "$w" || continue
    run_prog "$w" "$impl" "$how" "$path" "${BENCH_N:-}"
  done <"$PROGS"
  r=$((r + 1))
done

echo
cat "$WORK/machine.txt"
machine_note "end"
echo "N = ${BENCH_N:-100000} tasks; W4: ${BENCH_C:-100} connections x" \
     "${BENCH_R:-1000} round trips of 64 bytes. Ratios are loom / limit" \
     "inside this run (cpu ratio: on process CPU time, less hurt by other" \
     "jobs on a shared machine); spread = (max - min) / median over the" \
     "rounds."
report "$RES"
for f in "$LOGS"/*.err; do
  [ -s "$f" ] || continue
  case $f in */cc-*) ;; *)
    grep -q "^$(basename "$f" .err | tr '-' ' ') n/a" "$RES" || continue ;;
  esac
  echo "n/a $(basename "$f" .err): $(head -c 300 "$f" | head -3)"
done
mkdir -p "$OUT" && cp "$RES" "$OUT/results.txt" && rm -rf "$OUT/logs" &&
  cp -r "$LOGS" "$OUT/logs"
exit 0
