/*
** test_thread.c: loom.to_thread in an embedding host and at teardown:
** a host loop stays alive while a job runs; lua_close with a job running
** (own loop and host loop) returns at once, the worker sees
** loom.thread.cancelled() and ends by itself afterwards; lua_close with a
** job finished but not delivered, and with a job waiting for a slot.
** Under ASan or valgrind (make asan, make valgrind) a worker touching
** freed memory fails these tests.
*/
#include <unistd.h>

#include "ctest.h"

/* A job that polls loom.thread.cancelled() for at most 5 s, then writes
** "cancelled" or "timeout" to the file MARK. */
#define POLLING_JOB                                                        \
  "function(p)\n"                                                          \
  "  local l = require 'loom'\n"                                           \
  "  local c = require 'loom.core'\n"                                      \
  "  local t0 = c.now()\n"                                                 \
  "  while not l.thread.cancelled() and c.now() - t0 < 5 do\n"             \
  "    c.thread_block(2)\n"                                                \
  "  end\n"                                                                \
  "  local f = io.open(p, 'w')\n"                                          \
  "  f:write(l.thread.cancelled() and 'cancelled' or 'timeout')\n"         \
  "  f:close()\n"                                                          \
  "end"

/* A fresh file name in MARK (the file does not exist). */
static void set_mark(lua_State *L, char *path) {
  int fd;
  strcpy(path, "/tmp/loom-ctest-XXXXXX");
  fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  unlink(path);
  lua_pushstring(L, path);
  lua_setglobal(L, "MARK");
}

/* Wait (at most 5 s) until the job wrote the file; check what it wrote
** and give the worker time to close its state before the process ends. */
static void wait_mark(const char *path, const char *want) {
  char buf[32];
  FILE *f = NULL;
  size_t n = 0;
  int i;
  for (i = 0; i < 500; i++) {
    f = fopen(path, "r");
    if (f != NULL) {
      n = fread(buf, 1, sizeof buf - 1, f);
      fclose(f);
      if (n > 0) break;
    }
    uv_sleep(10);
  }
  buf[n] = '\0';
  unlink(path);
  ASSERT_STR_EQ(buf, want);
  uv_sleep(100);
}

/* Run the host 'loop' (NOWAIT turns) until a worker runs a job. */
static void run_until_busy(lua_State *L, uv_loop_t *loop) {
  int i;
  for (i = 0; i < 500 && ct_int(L, "loom.core.thread_stats().busy") == 0;
       i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    uv_sleep(5);
  }
  ASSERT_EQ(ct_int(L, "loom.core.thread_stats().busy"), 1);
}

/* A host running its own uv_run sees a task waiting for a job keep the
** loop alive: uv_run returns once the job and the task are done. */
int test_thread_host_loop_alive(void) {
  uv_loop_t loop;
  lua_State *L;
  double t0;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "t = loom.start(function()\n"
            "  return loom.to_thread(function(ms)\n"
            "    require('loom.core').thread_block(ms)\n"
            "    return ms * 2\n"
            "  end, 100)\n"
            "end)");
  t0 = ct_ms();
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_GE(ct_ms() - t0, 99);
  ASSERT_EQ(ct_int(L, "t:result()"), 200);
  ASSERT_EQ(ct_int(L, "loom.core.future_stats().referenced"), 0);
  ct_close(L, &loop);
  return 0;
}

/* lua_close on loom's own loop with a job running: returns at once; the
** detached worker sees the cancellation and ends after lua_close. */
int test_thread_teardown_running_own_loop(void) {
  char path[64];
  lua_State *L = ct_state(NULL);
  double t0;
  set_mark(L, path);
  ct_run(L, "t = loom.start(function()\n"
            "  return loom.to_thread(" POLLING_JOB ", MARK)\n"
            "end)\n"
            "loom.run(function()\n"
            "  while loom.core.thread_stats().busy == 0 do\n"
            "    loom.sleep(0.005)\n"
            "  end\n"
            "end)");
  t0 = ct_ms();
  ct_close(L, NULL);
  ASSERT_LE(ct_ms() - t0, 1000);
  wait_mark(path, "cancelled");
  return 0;
}

/* The same on a host loop: after lua_close the host's loop empties and
** closes. */
int test_thread_teardown_running_host_loop(void) {
  char path[64];
  uv_loop_t loop;
  lua_State *L;
  double t0;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  set_mark(L, path);
  ct_run(L, "t = loom.start(function()\n"
            "  return loom.to_thread(" POLLING_JOB ", MARK)\n"
            "end)");
  run_until_busy(L, &loop);
  t0 = ct_ms();
  ct_close(L, &loop);
  ASSERT_LE(ct_ms() - t0, 1000);
  wait_mark(path, "cancelled");
  return 0;
}

/* lua_close after a job finished and posted its results, before the loop
** delivered them; and with a job still waiting for a slot behind a
** running one (thread_limit 1). */
int test_thread_teardown_undelivered_and_queued(void) {
  char path[64];
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  set_mark(L, path);
  ct_run(L, "quick = loom.start(function()\n"
            "  return loom.to_thread(function() return {1, 2, 3} end)\n"
            "end)");
  uv_run(&loop, UV_RUN_NOWAIT);            /* the job is submitted */
  uv_sleep(100);                           /* ... and done, not delivered */
  ct_run(L, "loom.thread_limit = 1\n"
            "slow = loom.start(function()\n"
            "  return loom.to_thread(" POLLING_JOB ", MARK)\n"
            "end)\n"
            "queued = loom.start(function()\n"
            "  return loom.to_thread(function() return 'never' end)\n"
            "end)");
  run_until_busy(L, &loop);
  ASSERT_EQ(ct_int(L, "loom.core.thread_stats().waiting"), 1);
  ct_close(L, &loop);
  wait_mark(path, "cancelled");
  return 0;
}

/* Many states, each with workers, opened and closed in turn: every worker
** is joined or ends by itself; nothing is left for the next. */
int test_thread_states_in_turn(void) {
  int i;
  for (i = 0; i < 5; i++) {
    lua_State *L = ct_state(NULL);
    ct_run(L, "loom.run(function()\n"
              "  loom.with_group(function(g)\n"
              "    for i = 1, 8 do\n"
              "      g:spawn(loom.to_thread, function(x) return x end, i)\n"
              "    end\n"
              "  end)\n"
              "end)");
    ct_run(L, "collectgarbage() collectgarbage()");
    ASSERT_EQ(ct_int(L, "loom.core.thread_stats().jobs"), 0);
    ct_close(L, NULL);
  }
  return 0;
}
