/*
** W3 cancel storm, the limit: plain C on libuv. N "tasks", each a
** malloc'd uv_timer_t due in 1000 s; once all are started, cancel them:
** stop and close every timer; ms from the cancel until every close
** callback has run and freed its timer.
*/
#include "common.h"

static long closed;

static void on_timer(uv_timer_t *t) { (void)t; }

static void on_close(uv_handle_t *h) {
  free(h);
  closed++;
}

int main(int argc, char **argv) {
  long n = bench_n(argc, argv, 100000), i;
  uv_loop_t *loop = uv_default_loop();
  uv_timer_t **timers;
  double t0, c0, ms, cpu;
  (void)bench_env;
  timers = (uv_timer_t **)malloc((size_t)n * sizeof(uv_timer_t *));
  if (timers == NULL) bench_fail("W3", "out of memory");
  for (i = 0; i < n; i++) {
    timers[i] = (uv_timer_t *)malloc(sizeof(uv_timer_t));
    if (timers[i] == NULL) bench_fail("W3", "out of memory");
    uv_timer_init(loop, timers[i]);
    uv_timer_start(timers[i], on_timer, 1000000, 0);
  }
  uv_run(loop, UV_RUN_NOWAIT);
  c0 = bench_cpu_ms();
  t0 = bench_ms();
  for (i = 0; i < n; i++) {
    uv_timer_stop(timers[i]);
    uv_close((uv_handle_t *)timers[i], on_close);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  ms = bench_ms() - t0;
  cpu = bench_cpu_ms() - c0;
  if (closed != n) bench_fail("W3", "not every timer was closed");
  printf("W3 c ms=%.1f cpu=%.1f rss_kb=%ld n=%ld\n", ms, cpu,
         bench_status_kb("VmHWM"), n);
  free(timers);
  return 0;
}
