/*
** w7.c: W7's C reference: a round trip through libuv's thread pool,
** uv_queue_work of a trivial function and its after-work callback on the
** loop, N times in a row (the next queued from the callback), then C at
** once (N in all). What loom.to_thread adds to this is its own threads,
** a Lua state per worker and copying values each way. Reports `us` and
** `us_conc` per round trip. N = argv[1] / BENCH_N (100000), C = BENCH_C (8).
*/
#include "common.h"

static long n, done_seq, done_conc, queued_conc, conc;
static long sum;
static uv_work_t *reqs;

static void work(uv_work_t *w) {
  long *v = (long *)w->data;
  *v = *v + 1;
}

static void after_seq(uv_work_t *w, int status);

static void queue_seq(uv_loop_t *loop, uv_work_t *w, long *v) {
  w->data = v;
  if (uv_queue_work(loop, w, work, after_seq) != 0)
    bench_fail("W7", "uv_queue_work failed");
}

static long seq_value;

static void after_seq(uv_work_t *w, int status) {
  (void)status;
  sum += *(long *)w->data;
  if (++done_seq < n) {
    seq_value = done_seq;
    queue_seq(w->loop, w, &seq_value);
  }
}

static long *conc_values;

static void after_conc(uv_work_t *w, int status) {
  long i = w - reqs;
  (void)status;
  done_conc++;
  if (queued_conc < n) {
    conc_values[i] = queued_conc++;
    uv_queue_work(w->loop, w, work, after_conc);
  }
}

int main(int argc, char **argv) {
  uv_loop_t *loop = uv_default_loop();
  uv_work_t w;
  double t0, c0, us, cpu, us_conc;
  long i;
  n = bench_n(argc, argv, 100000);
  conc = bench_env("BENCH_C", 8);
  seq_value = 0;
  queue_seq(loop, &w, &seq_value);
  t0 = bench_ms();
  c0 = bench_cpu_ms();
  uv_run(loop, UV_RUN_DEFAULT);
  us = (bench_ms() - t0) * 1000.0 / (double)n;
  cpu = (bench_cpu_ms() - c0) * 1000.0 / (double)n;
  if (sum != n * (n + 1) / 2) bench_fail("W7", "wrong sum");
  reqs = calloc((size_t)conc, sizeof *reqs);
  conc_values = calloc((size_t)conc, sizeof *conc_values);
  if (reqs == NULL || conc_values == NULL) bench_fail("W7", "no memory");
  t0 = bench_ms();
  for (i = 0; i < conc && queued_conc < n; i++) {
    conc_values[i] = queued_conc++;
    reqs[i].data = &conc_values[i];
    uv_queue_work(loop, &reqs[i], work, after_conc);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  us_conc = (bench_ms() - t0) * 1000.0 / (double)n;
  if (done_conc != n) bench_fail("W7", "wrong count");
  printf("W7 c us=%.3f cpu=%.3f us_conc=%.3f n=%ld rss_kb=%ld\n", us, cpu,
         us_conc, n, bench_status_kb("VmHWM"));
  return 0;
}
