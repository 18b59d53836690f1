/*
** host.c: a small C program that embeds Lua and loom on its own libuv
** loop (csrc/loom.h, API section 8).
**
** The host owns the loop and runs uv_run itself; loom_attach hands the
** loop to loom before any task exists. Lua tasks started with loom.start
** get events from the host in two ways, both through futures: ticks of a
** C uv_timer (settled on the loop thread with loom_future_resolve, inside
** a protected call) and results of worker threads (settled from those
** threads with loom_future_post). An error that escapes a task goes to
** the handler set by loom.on_unhandled. At the end the host stops its
** loop, calls loom.shutdown (which cancels the service task and waits for
** its cleanup), shows that uv_run returns by itself once no task is
** ready or waiting, joins its threads, closes the Lua state and the loop.
**
** Run it from the repository root, where it finds the Lua files of loom:
** `make demo`, or build/examples/host. Built against an installed loom
** (README, "Embedding loom": `cc host.c $(pkg-config --cflags --libs
** loom)`, or the rock's include/ directory), it runs from anywhere with
** LUA_PATH set to the installed Lua files (`eval "$(luarocks
** --lua-version 5.4 path)"`); loom.core is the core.so it was linked with.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#include "loom.h"

#define MAX_TICKS 3
#define MAX_JOBS 16
#define MAX_WAITING 16

static uv_loop_t loop;
static uv_timer_t ticker;
static lua_State *L;

/* Futures waiting for the next tick (settled by the timer). */
static loom_future *tick_waiting[MAX_WAITING];
static int ntick_waiting = 0;
static int ticks_sent = 0;

/* Worker threads and the futures they settle. */
typedef struct job {
  uv_thread_t tid;
  loom_future *f;
  long n;
} job;

static job jobs[MAX_JOBS];
static int njobs = 0;

/* {====================================================================
** Functions the Lua side calls (the `host` table)
** ===================================================================== */

/* host.next_tick() -> future of the next tick's number */
static int l_next_tick(lua_State *Ls) {
  if (ntick_waiting == MAX_WAITING)
    return luaL_error(Ls, "host: too many tick waiters");
  tick_waiting[ntick_waiting++] = loom_future_new(Ls);
  return 1;
}

/* A worker thread: no Lua here; the only loom call is the post. */
static void job_main(void *arg) {
  job *j = (job *)arg;
  char buf[64];
  long i, sum = 0;
  uv_sleep(20);                   /* some slow work */
  if (j->n < 0) {
    loom_future_post(j->f, 0, "negative input", strlen("negative input"));
    return;
  }
  for (i = 1; i <= j->n; i++) sum += i;
  snprintf(buf, sizeof(buf), "sum(1..%ld) = %ld", j->n, sum);
  loom_future_post(j->f, 1, buf, strlen(buf));
}

/* host.compute(n) -> future of the sum 1..n, computed by a thread */
static int l_compute(lua_State *Ls) {
  long n = (long)luaL_checkinteger(Ls, 1);
  job *j;
  if (njobs == MAX_JOBS) return luaL_error(Ls, "host: too many jobs");
  j = &jobs[njobs];
  j->n = n;
  j->f = loom_future_new(Ls);    /* pushes the future object */
  if (uv_thread_create(&j->tid, job_main, j) != 0)
    return luaL_error(Ls, "host: cannot start a thread");
  njobs++;
  return 1;
}

/* host.quit(): stop the host's loop (uv_run returns). */
static int l_quit(lua_State *Ls) {
  (void)Ls;
  uv_stop(&loop);
  return 0;
}

static const luaL_Reg host_funcs[] = {
  {"next_tick", l_next_tick},
  {"compute", l_compute},
  {"quit", l_quit},
  {NULL, NULL}
};

/* }==================================================================== */

/* [-1, +0] Resolve every future waiting for a tick (runs under lua_pcall:
** libuv callbacks must not raise). */
static int resolve_ticks(lua_State *Ls) {
  int i, n = ntick_waiting;
  lua_Integer tick = (lua_Integer)lua_tointeger(Ls, 1);
  ntick_waiting = 0;
  for (i = 0; i < n; i++) {
    lua_pushinteger(Ls, tick);
    loom_future_resolve(Ls, tick_waiting[i], 1);
  }
  return 0;
}

static void on_tick(uv_timer_t *h) {
  if (ntick_waiting == 0) return;  /* nobody listens: skip */
  lua_pushcfunction(L, resolve_ticks);
  lua_pushinteger(L, ++ticks_sent);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  if (ticks_sent == MAX_TICKS) uv_timer_stop(h);
}

static const char script[] =
  "local loom = require 'loom'\n"
  "local host = ...\n"
  "loom.on_unhandled(function(err, task)\n"
  "  print(('unhandled error in %s: %s'):format(task.name, tostring(err)))\n"
  "end)\n"
  /* Events from the C timer. */
  "local ticks = loom.start(function()\n"
  "  for _ = 1, 3 do print('tick ' .. host.next_tick():wait()) end\n"
  "end)\n"
  /* Results of worker threads, three at once, then a failure. */
  "local workers = loom.start(function()\n"
  "  local results = {}\n"
  "  loom.with_group(function(g)\n"
  "    for i, n in ipairs {10, 100, 1000} do\n"
  "      g:spawn(function() results[i] = host.compute(n):wait() end)\n"
  "    end\n"
  "  end)\n"
  "  for _, r in ipairs(results) do print('worker: ' .. r) end\n"
  "  local ok, err = pcall(function() return host.compute(-1):wait() end)\n"
  "  print('worker failed: ' .. tostring(err))\n"
  "end)\n"
  /* An error nobody handles. */
  "local failing = loom.start(function()\n"
  "  loom.sleep(0.01)\n"
  "  error('bad input', 0)\n"
  "end)\n"
  "failing.name = 'failing'\n"
  /* A service that runs until shutdown, with a shielded cleanup. */
  "service = loom.start(function()\n"
  "  local ok, e = pcall(function()\n"
  "    while true do loom.sleep(0.005) end\n"
  "  end)\n"
  "  loom.shield(function() loom.sleep(0.01) end)\n"
  "  print('service: cleanup done')\n"
  "  error(e, 0)\n"
  "end)\n"
  /* When the work is done, ask the host to stop its loop. */
  "loom.start(function()\n"
  "  ticks:wait() workers:wait()\n"
  "  host.quit()\n"
  "end)\n";

/* Run Lua code 'code' with 'narg' arguments below it; report errors. */
static int run_lua(const char *code, int narg) {
  if (luaL_loadstring(L, code) != LUA_OK) return 1;
  lua_insert(L, -(narg + 1));
  return lua_pcall(L, narg, 0, 0) != LUA_OK;
}

static int report(int failed) {
  if (failed) {
    fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return failed;
}

int main(void) {
  int i, rc;
  if (uv_loop_init(&loop) != 0) return 1;
  L = luaL_newstate();
  luaL_openlibs(L);
  /* loom's Lua files from the source tree; loom.core from this binary. */
  if (report(run_lua("package.path = './lua/?.lua;./lua/?/init.lua;' .. "
                     "package.path", 0)))
    return 1;
  luaL_requiref(L, "loom.core", luaopen_loom_core, 0);
  lua_pop(L, 1);
  rc = loom_attach(L, &loop);       /* before any task exists */
  if (rc != 0) {
    fprintf(stderr, "host: loom_attach: %s\n", uv_strerror(rc));
    return 1;
  }
  printf("host: loom runs on the host loop: %s\n",
         loom_loop(L) == &loop ? "yes" : "no");
  luaL_newlib(L, host_funcs);
  if (report(run_lua(script, 1))) return 1;

  uv_timer_init(&loop, &ticker);
  uv_timer_start(&ticker, on_tick, 15, 15);
  uv_run(&loop, UV_RUN_DEFAULT);    /* until host.quit() */
  printf("host: work done, shutting down\n");

  /* Cancel the service and wait for its cleanup. */
  if (report(run_lua("require('loom').shutdown()\n"
                     "print('host: service ' .. service.status)", 0)))
    return 1;

  /* With no task ready or waiting, uv_run returns by itself. */
  if (report(run_lua("require('loom').start(function()\n"
                     "  require('loom').sleep(0.005)\n"
                     "  print('late task done')\n"
                     "end)", 0)))
    return 1;
  uv_run(&loop, UV_RUN_DEFAULT);
  printf("host: uv_run returned by itself\n");

  /* Teardown: threads, then the state, then the loop. */
  for (i = 0; i < njobs; i++) uv_thread_join(&jobs[i].tid);
  lua_close(L);
  uv_close((uv_handle_t *)&ticker, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);    /* delivers the close callbacks */
  rc = uv_loop_close(&loop);
  printf("host: uv_loop_close = %d\n", rc);
  return rc == 0 ? 0 : 1;
}
