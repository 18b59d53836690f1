/*
** W2 sleepers, the limit: plain C on libuv. N "tasks", each a malloc'd
** uv_timer_t started for d_i ms (bench/README.md) from the time it is started
** (uv_update_time first: a sleep counts from when it begins, as it does
** for a task), closed and freed when it fires. Prints the ms from before
** the first start until every timer has fired and been freed, beyond the
** ideal 100 ms, and the peak RSS.
*/
#include "common.h"

static long fired, freed;

static void on_close(uv_handle_t *h) {
  free(h);
  freed++;
}

static void on_timer(uv_timer_t *t) {
  fired++;
  uv_close((uv_handle_t *)t, on_close);
}

int main(int argc, char **argv) {
  long n = bench_n(argc, argv, 100000), i;
  uv_loop_t *loop = uv_default_loop();
  double t0, c0, ms, cpu;
  (void)bench_env;
  c0 = bench_cpu_ms();
  t0 = bench_ms();
  for (i = 1; i <= n; i++) {
    uint64_t d = ((uint64_t)i * 2654435761u) % 4294967296u % 101;
    uv_timer_t *t = (uv_timer_t *)malloc(sizeof(uv_timer_t));
    if (t == NULL) bench_fail("W2", "out of memory");
    uv_update_time(loop);
    uv_timer_init(loop, t);
    uv_timer_start(t, on_timer, d, 0);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  ms = bench_ms() - t0;
  cpu = bench_cpu_ms() - c0;
  if (fired != n || freed != n) bench_fail("W2", "not every timer fired");
  /* uv's clock has 1 ms steps: allow the last timer 1 ms early. */
  if (ms < 99) bench_fail("W2", "finished early");
  printf("W2 c over=%.1f ms=%.1f cpu=%.1f rss_kb=%ld n=%ld\n", ms - 100, ms,
         cpu, bench_status_kb("VmHWM"), n);
  return 0;
}
