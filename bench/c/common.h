/*
** common.h: what the plain-C libuv limit programs share: the size (argv[1],
** else BENCH_N, else a default), a monotonic clock in ms, the peak resident
** set from /proc/self/status, and failing with exit status 2 (run.sh then
** shows "n/a").
*/
#ifndef bench_common_h
#define bench_common_h

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

static long bench_n(int argc, char **argv, long def) {
  const char *s = argc > 1 ? argv[1] : getenv("BENCH_N");
  long n = s != NULL ? strtol(s, NULL, 10) : 0;
  return n > 0 ? n : def;
}

static long bench_env(const char *name, long def) {
  const char *s = getenv(name);
  long n = s != NULL ? strtol(s, NULL, 10) : 0;
  return n > 0 ? n : def;
}

static double bench_ms(void) { return (double)uv_hrtime() / 1e6; }

/* Process CPU time in ms (what os.clock() measures in the Lua programs). */
static double bench_cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A field of /proc/self/status, in kB. */
static long bench_status_kb(const char *field) {
  char line[256];
  size_t n = strlen(field);
  long v = 0;
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) return 0;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, field, n) == 0 && line[n] == ':') {
      v = strtol(line + n + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

static void bench_fail(const char *w, const char *what) {
  fprintf(stderr, "%s c: %s\n", w, what);
  exit(2);
}

#endif
