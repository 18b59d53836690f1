/*
** test_embed.c: loom on a host loop: exported symbols, loom_attach and
** loom_loop, ready tasks run by the host's uv_run, no reference kept when
** idle, loom.start with loom.on_unhandled, loom.shutdown, teardown.
*/
#include <dlfcn.h>

#include "ctest.h"

/* Only the LOOM_API symbols are exported from the core. */
int test_exports(void) {
  void *self = dlopen(NULL, RTLD_NOW);
  ASSERT_NOT_NULL(self);
  ASSERT_NOT_NULL(dlsym(self, "luaopen_loom_core"));
  ASSERT_NOT_NULL(dlsym(self, "loom_attach"));
  ASSERT_NOT_NULL(dlsym(self, "loom_loop"));
  ASSERT_NOT_NULL(dlsym(self, "loom_future_new"));
  ASSERT_NOT_NULL(dlsym(self, "loom_future_resolve"));
  ASSERT_NOT_NULL(dlsym(self, "loom_future_reject"));
  ASSERT_NOT_NULL(dlsym(self, "loom_future_post"));
  ASSERT_NULL(dlsym(self, "loom__ctx"));
  ASSERT_NULL(dlsym(self, "loom__wake"));
  ASSERT_NULL(dlsym(self, "loom__future_open"));
  dlclose(self);
  return 0;
}

/* loom_attach: EINVAL without loom, 0 twice with the same loop, EBUSY for
** another loop; loom_loop returns the attached loop. */
int test_attach_refusals(void) {
  uv_loop_t loop, other;
  lua_State *L = luaL_newstate();
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(uv_loop_init(&other), 0);
  ASSERT_EQ(loom_attach(L, &loop), UV_EINVAL);
  ASSERT_NULL(loom_loop(L));
  lua_close(L);
  L = ct_state(NULL);
  ASSERT_EQ(loom_attach(L, NULL), UV_EINVAL);
  ASSERT_EQ(loom_attach(L, &loop), 0);
  ASSERT_EQ(loom_attach(L, &loop), 0);
  ASSERT_PTR_EQ(loom_loop(L), &loop);
  ASSERT_EQ(loom_attach(L, &other), UV_EBUSY);
  ASSERT_PTR_EQ(loom_loop(L), &loop);
  ct_close(L, &loop);
  ASSERT_EQ(uv_loop_close(&other), 0);
  return 0;
}

/* Once a task exists (loom.start), another loop is refused. */
int test_attach_after_task_refused(void) {
  uv_loop_t loop;
  lua_State *L = ct_state(NULL);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ct_run(L, "t = loom.start(function() loom.sleep(0) end)");
  ASSERT_EQ(loom_attach(L, &loop), UV_EBUSY);
  ASSERT_PTR_NE(loom_loop(L), &loop);
  ct_run(L, "loom.shutdown()");
  ASSERT_EQ(ct_int(L, "t.status == 'cancelled' or t.status == 'ok'"), 1);
  ct_close(L, NULL);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  return 0;
}

/* loom_loop on a state with no loop gives loom's own loop; attaching
** another one afterwards is refused. */
int test_loop_own_then_attach_refused(void) {
  uv_loop_t loop;
  uv_loop_t *own;
  lua_State *L = ct_state(NULL);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  own = loom_loop(L);
  ASSERT_NOT_NULL(own);
  ASSERT_PTR_NE(own, &loop);
  ASSERT_PTR_EQ(loom_loop(L), own);
  ASSERT_EQ(loom_attach(L, &loop), UV_EBUSY);
  ASSERT_EQ(loom_attach(L, own), 0);
  ct_run(L, "assert(loom.run(function() loom.sleep(0.001) return 7 end) "
            "== 7)");
  ct_close(L, NULL);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  return 0;
}

/* The host's uv_run runs ready tasks with no extra call and returns once
** they are done; Task fields and t:result() work outside tasks. */
int test_host_runs_ready_tasks(void) {
  uv_loop_t loop;
  lua_State *L;
  double t0;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L,
    "order = {}\n"
    "a = loom.start(function(x) loom.sleep(0.03) order[#order+1] = 'a'\n"
    "  return x, nil, 3 end, 1)\n"
    "b = loom.start(function() order[#order+1] = 'b' end)\n"
    "assert(#order == 0 and a.status == 'running' and not a:done())\n"
    "assert(not pcall(a.result, a))\n"
    "a.name = 'sleeper'");
  t0 = ct_ms();
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_GE(ct_ms() - t0, 30);
  ASSERT_LE(ct_ms() - t0, 1000);
  ASSERT_EQ(ct_int(L, "#order == 2 and order[1] == 'b' and "
                      "order[2] == 'a'"), 1);
  ASSERT_EQ(ct_int(L, "a.status == 'ok' and a:done() and "
                      "a.name == 'sleeper' and b.status == 'ok'"), 1);
  ct_run(L, "local x, y, z = a:result() assert(x == 1 and y == nil and "
            "z == 3 and select('#', a:result()) == 3)");
  ASSERT_EQ(uv_loop_alive(&loop), 0);
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  /* A task started from C later runs on the next uv_run. */
  ct_run(L, "c = loom.start(function() loom.sleep(0) return 'c' end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(ct_int(L, "c:result() == 'c'"), 1);
  ct_close(L, &loop);
  return 0;
}

/* A task blocked on nothing that can happen keeps no reference: the
** host's uv_run returns; loom.shutdown then cancels it. */
int test_host_loop_idle_no_reference(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "t = loom.start(function() loom.sleep(math.huge) end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(ct_int(L, "t.status == 'running'"), 1);
  ASSERT_EQ(uv_loop_alive(&loop), 0);
  ct_run(L, "loom.shutdown()");
  ASSERT_EQ(ct_int(L, "t.status == 'cancelled' and t:cancelled()"), 1);
  ct_run(L, "local ok, e = pcall(t.result, t) "
            "assert(not ok and loom.TaskCancelled:is(e))");
  ct_close(L, &loop);
  return 0;
}

/* An error escaping a started task goes once, raw, to the handler, with
** the task second; the process goes on. */
int test_start_unhandled_custom(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L,
    "calls = {}\n"
    "err = setmetatable({}, {__tostring = function() return 'E' end})\n"
    "assert(loom.on_unhandled(function(e, t) calls[#calls+1] = {e, t} end)"
    " == nil)\n"
    "t = loom.start(function() loom.sleep(0.001) error(err) end)\n"
    "ok = loom.start(function() return 1 end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(ct_int(L, "#calls"), 1);
  ASSERT_EQ(ct_int(L, "rawequal(calls[1][1], err) and "
                      "rawequal(calls[1][2], t)"), 1);
  ASSERT_EQ(ct_int(L, "t.status == 'error' and ok.status == 'ok'"), 1);
  ct_run(L, "local s, e = pcall(t.result, t) assert(not s and "
            "rawequal(e, err))");
  /* A nested group's failure arrives as the ErrorGroup itself. */
  ct_run(L, "g = loom.start(function() loom.with_group(function(g)\n"
            "  g:spawn(function() error('child') end) end) end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(ct_int(L, "#calls == 2 and loom.ErrorGroup:is(calls[2][1]) "
                      "and rawequal(calls[2][2], g)"), 1);
  ct_close(L, &loop);
  return 0;
}

/* The default handler prints the error and its traceback to stderr and
** the process goes on. */
int test_start_unhandled_default(void) {
  uv_loop_t loop;
  lua_State *L;
  char *out;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "t = loom.start(function() local function inner() "
            "error('kaboom') end inner() end) t.name = 'doomed'");
  ct_stderr_begin();
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  out = ct_stderr_end();
  ASSERT_NOT_NULL(strstr(out, "unhandled error"));
  ASSERT_NOT_NULL(strstr(out, "kaboom"));
  ASSERT_NOT_NULL(strstr(out, "traceback"));
  ASSERT_NOT_NULL(strstr(out, "doomed"));
  ASSERT_NOT_NULL(strstr(out, "inner"));
  free(out);
  ASSERT_EQ(ct_int(L, "t.status == 'error'"), 1);
  ct_close(L, &loop);
  return 0;
}

/* A failing handler is reported on stderr; nothing else breaks. */
int test_start_unhandled_handler_fails(void) {
  uv_loop_t loop;
  lua_State *L;
  char *out;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "loom.on_unhandled(function() error('handler bug') end)\n"
            "t = loom.start(function() error('first') end)\n"
            "u = loom.start(function() loom.sleep(0.001) return 2 end)");
  ct_stderr_begin();
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  out = ct_stderr_end();
  ASSERT_NOT_NULL(strstr(out, "handler bug"));
  free(out);
  ASSERT_EQ(ct_int(L, "t.status == 'error' and u:result() == 2"), 1);
  ct_close(L, &loop);
  return 0;
}

/* A cancellation is not an unhandled error. */
int test_start_cancel_not_unhandled(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L,
    "calls = 0 loom.on_unhandled(function() calls = calls + 1 end)\n"
    "t = loom.start(function() loom.sleep(10) end)\n"
    "k = loom.start(function() loom.sleep(0.001) t:cancel() end)\n"
    "s = loom.start(function() loom.scope(function(s) s:cancel() "
    "loom.sleep(1) end) return 'scoped' end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(ct_int(L, "calls"), 0);
  ASSERT_EQ(ct_int(L, "t.status == 'cancelled' and k.status == 'ok' and "
                      "s:result() == 'scoped'"), 1);
  ct_close(L, &loop);
  return 0;
}

/* loom.shutdown cancels every started task and runs the loop until their
** cleanup, shielded waits included, is done; they end "cancelled". */
int test_shutdown_waits_for_cleanup(void) {
  uv_loop_t loop;
  lua_State *L;
  double t0;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L,
    "log = {}\n"
    "a = loom.start(function()\n"
    "  local ok, e = pcall(loom.sleep, 100)\n"
    "  loom.shield(function() loom.sleep(0.03) end)\n"
    "  log[#log+1] = 'a cleaned'\n"
    "  error(e, 0)\n"
    "end)\n"
    "b = loom.start(function()\n"
    "  local fut = host.future()\n"
    "  local c <close> = setmetatable({}, {__close = function()\n"
    "    log[#log+1] = 'b closed' end})\n"
    "  fut:wait()\n"
    "end)\n"
    "c = loom.start(function()\n"
    "  loom.with_group(function(g)\n"
    "    for i = 1, 3 do g:spawn(function()\n"
    "      local ok, e = pcall(loom.sleep, 50)\n"
    "      loom.shield(function() loom.sleep(0.01 * i) end)\n"
    "      log[#log+1] = 'child ' .. i\n"
    "      error(e, 0)\n"
    "    end) end\n"
    "  end)\n"
    "end)\n"
    "d = loom.start(function() return 'done early' end)\n"
    /* Swallowing the cancellation and returning ends "ok" (API 4). */
    "e = loom.start(function() pcall(loom.sleep, 50) return 'kept' end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_NOWAIT), 1);
  ASSERT_EQ(ct_int(L, "d:result() == 'done early'"), 1);
  t0 = ct_ms();
  ct_run(L, "loom.shutdown()");
  ASSERT_GE(ct_ms() - t0, 30);
  ASSERT_LE(ct_ms() - t0, 2000);
  ASSERT_EQ(ct_int(L, "a.status == 'cancelled' and b.status == "
                      "'cancelled' and c.status == 'cancelled' and "
                      "d.status == 'ok' and e:result() == 'kept'"), 1);
  ASSERT_EQ(ct_int(L, "#log"), 5);
  ct_run(L, "local seen = {} for _, v in ipairs(log) do seen[v] = true "
            "end assert(seen['a cleaned'] and seen['b closed'] and "
            "seen['child 1'] and seen['child 3'])");
  ct_run(L, "local s = loom.core.stats() assert(s.tasks == 0, s.tasks)\n"
            "assert(loom.core.future_stats().waiting == 0)");
  ASSERT_EQ(uv_loop_alive(&loop), 0);
  ct_close(L, &loop);
  return 0;
}

/* After loom.shutdown, new tasks start and run normally. */
int test_shutdown_then_start_again(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "loom.shutdown()");  /* nothing started: a no-op */
  ct_run(L, "t = loom.start(function() loom.sleep(10) end)");
  ct_run(L, "loom.shutdown()");
  ASSERT_EQ(ct_int(L, "t.status == 'cancelled'"), 1);
  ct_run(L, "u = loom.start(function() loom.sleep(0.001) return 5 end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(ct_int(L, "u:result()"), 5);
  ct_run(L, "assert(loom.run(function() loom.sleep(0) return 6 end) == 6)");
  ct_close(L, &loop);
  return 0;
}

/* lua_close with a task waiting on a future and a sleeping task, without
** shutdown: the host's next uv_run delivers the close callbacks and
** uv_loop_close returns 0. */
int test_teardown_pending_host_loop(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "fut, f = host.future()\n"
            "t = loom.start(function() return fut:wait() end)\n"
            "s = loom.start(function() loom.sleep(100) end)\n"
            "orphan = host.future()  orphan = nil");
  ASSERT_EQ(uv_run(&loop, UV_RUN_NOWAIT), 1);
  ASSERT_EQ(ct_int(L, "loom.core.future_stats().referenced"), 1);
  ct_close(L, &loop);
  return 0;
}

/* The same with loom's own loop: lua_close does everything. */
int test_teardown_pending_own_loop(void) {
  lua_State *L = ct_state(NULL);
  ct_run(L, "fut, f = host.future()\n"
            "t = loom.start(function() return fut:wait() end)\n"
            "s = loom.start(function() loom.sleep(100) end)\n"
            "done = host.future() host.post(select(2, host.future()), "
            "true, 'x')");
  ct_close(L, NULL);
  return 0;
}

/* Every kind of handle and request loom makes, on a host loop: after
** loom.shutdown and lua_close, one uv_run(UV_RUN_NOWAIT) frees
** everything and the host's loop closes (issue 10, item 12). */
int test_teardown_nowait_after_shutdown(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "local l\n"
            "loom.start(function() l = loom.tcp.listen('127.0.0.1', 0)\n"
            "  loom.sleep(100) end)\n"
            "loom.start(function() loom.dns.getaddrinfo('localhost') "
            "loom.sleep(100) end)\n"
            "loom.start(function() local f = loom.fs.open('/dev/null')\n"
            "  f:read(1) loom.sleep(100) end)\n"
            "loom.start(function() loom.signal.wait('SIGUSR2') end)\n"
            "loom.start(function() loom.udp.bind('127.0.0.1', 0)"
            ":receive_from() end)\n"
            "loom.start(function() local p = loom.process.spawn"
            "{ 'sleep', '5' } p:wait() end)\n"
            "fut = host.future()\n"
            "loom.start(function() fut:wait() end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_NOWAIT), 1);
  ct_run(L, "loom.shutdown()");
  ct_close_nowait(L, &loop);
  return 0;
}

/* The same without loom.shutdown: lua_close closes every handle (tasks
** blocked on timers, streams, a listener, a signal, a future). */
int test_teardown_nowait_no_shutdown(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "loom.start(function() l = loom.tcp.listen('127.0.0.1', 0)\n"
            "  loom.sleep(100) end)\n"
            "loom.start(function() local s = loom.pipe.listen("
            "os.tmpname() .. '.sock') s:accept() end)\n"
            "loom.start(function() loom.signal.wait('SIGUSR2') end)\n"
            "fut = host.future()\n"
            "loom.start(function() fut:wait() end)\n"
            "loom.run(function() loom.sleep(0.001) end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_NOWAIT), 1);
  ct_close_nowait(L, &loop);
  return 0;
}

/* luaopen_loom_core called again on the same state returns the same
** module table (a host that opens it itself after require "loom"). */
int test_open_twice_same_table(void) {
  lua_State *L = ct_state(NULL);
  luaL_requiref(L, "loom.core", luaopen_loom_core, 0);
  lua_pushcfunction(L, luaopen_loom_core);
  lua_call(L, 0, 1);
  ASSERT(lua_rawequal(L, -1, -2));
  lua_pop(L, 2);
  ct_run(L, "assert(loom.run(function() loom.sleep(0) return 1 end) == 1)");
  ct_close(L, NULL);
  return 0;
}
