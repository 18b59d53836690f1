/*
** test_future.c: loom_future_new/resolve/reject/post: values and errors
** reaching waiting tasks, settling twice refused, posts from many threads
** at once, loop liveness while a post is awaited, futures collected while
** unsettled, cancelled and multiple waiters.
*/
#include "ctest.h"

/* Calls loom_future_new on a state without loom.core. */
static int call_future_new(lua_State *L) {
  loom_future_new(L);
  return 1;
}

int test_future_new_needs_loom(void) {
  lua_State *L = luaL_newstate();
  lua_pushcfunction(L, call_future_new);
  ASSERT_EQ(lua_pcall(L, 0, 1, 0), LUA_ERRRUN);
  ASSERT_NOT_NULL(strstr(lua_tostring(L, -1), "not open"));
  lua_close(L);
  return 0;
}

/* Host side of the timer test: resolve with three values, from a libuv
** callback, inside a protected call. */
typedef struct timer_ctx {
  lua_State *L;
  loom_future *f;
} timer_ctx;

static int resolve_three(lua_State *L) {
  timer_ctx *tc = (timer_ctx *)lua_touserdata(L, 1);
  lua_pushinteger(L, 1);
  lua_pushnil(L);
  lua_pushliteral(L, "three");
  loom_future_resolve(L, tc->f, 3);
  return 0;
}

static void on_resolve_timer(uv_timer_t *h) {
  timer_ctx *tc = (timer_ctx *)h->data;
  lua_pushcfunction(tc->L, resolve_three);
  lua_pushlightuserdata(tc->L, tc);
  ASSERT_EQ(lua_pcall(tc->L, 1, 0, 0), LUA_OK);
  uv_close((uv_handle_t *)h, NULL);
}

/* A host timer resolves a future on the loop thread: the waiting task
** gets the values, nils included. */
int test_future_resolve_from_timer(void) {
  uv_loop_t loop;
  uv_timer_t timer;
  timer_ctx tc;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "fut, f = host.future()\n"
            "t = loom.start(function() return fut:wait() end)\n"
            "assert(not fut:done() and tostring(fut):find('pending'))");
  lua_getglobal(L, "f");
  tc.L = L;
  tc.f = (loom_future *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  ASSERT_EQ(uv_timer_init(&loop, &timer), 0);
  timer.data = &tc;
  ASSERT_EQ(uv_timer_start(&timer, on_resolve_timer, 10, 0), 0);
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(ct_int(L, "t.status == 'ok' and select('#', t:result())"), 3);
  ct_run(L, "local a, b, c = t:result() assert(a == 1 and b == nil and "
            "c == 'three')\n"
            "assert(fut:done() and tostring(fut):find('resolved'))\n"
            /* A settled future keeps its outcome for later waiters. */
            "u = loom.start(function() return select('#', fut:wait()) end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(ct_int(L, "u:result()"), 3);
  ct_close(L, &loop);
  return 0;
}

/* A rejected future raises the same error value in its waiter. */
int test_future_reject_keeps_value(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "fut, f = host.future() err = {code = 42}\n"
            "t = loom.start(function() return pcall(fut.wait, fut) end)\n"
            "loom.start(function() loom.sleep(0.005) host.reject(f, err) "
            "end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ct_run(L, "local ok, e = t:result() assert(ok == false and "
            "rawequal(e, err))\n"
            "assert(tostring(fut):find('rejected'))");
  /* Zero values. */
  ct_run(L, "z, zf = host.future() host.resolve(zf)\n"
            "n = loom.start(function() return select('#', z:wait()) end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(ct_int(L, "n:result()"), 0);
  ct_close(L, &loop);
  return 0;
}

/* The first of resolve, reject and post wins; later ones are refused. */
int test_future_settle_twice_refused(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "warned = 0\n"
            "loom.on_unhandled(function(e, t) assert(t == nil)\n"
            "  assert(tostring(e):find('settled twice', 1, true))\n"
            "  warned = warned + 1 end)\n"
            "a, af = host.future()\n"
            "host.resolve(af, 'first') host.resolve(af, 'second', 2)\n"
            "host.reject(af, 'third')\n"
            "assert(host.post(af, true, 'fourth') == -1)\n"
            "b, bf = host.future()\n"
            "assert(host.post(bf, true, 'posted') == 0)\n"
            "assert(host.post(bf, true, 'again') == -1)\n"
            "assert(host.post(bf, false, 'again') == -1)\n"
            "assert(not b:done())\n"  /* delivered on the loop thread */
            "host.resolve(bf, 'resolved') host.reject(bf, 'rejected')\n"
            "t = loom.start(function() return a:wait(), b:wait() end)");
  ct_run(L, "assert(warned == 4, warned) loom.on_unhandled(nil)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ct_run(L, "local x, y = t:result() assert(x == 'first' and "
            "y == 'posted', tostring(x) .. tostring(y))\n"
            "assert(host.post(bf, true, 'late') == -1)");
  ct_close(L, &loop);
  return 0;
}

/* A post with ok = 0 rejects with the string itself (no position added);
** binary data and the empty string survive. */
int test_future_post_rejects_string(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "a, af = host.future() b, bf = host.future()\n"
            "c, cf = host.future()\n"
            "host.post_later(af, false, 'boom', 5)\n"
            "host.post_later(bf, true, 'x\\0y', 5)\n"
            "host.post_later(cf, true, '', 0)\n"
            "t = loom.start(function() return pcall(a.wait, a) end)\n"
            "u = loom.start(function() return b:wait(), c:wait() end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ct_join_threads();
  ct_run(L, "local ok, e = t:result() assert(ok == false and e == 'boom')\n"
            "local x, y = u:result() assert(x == 'x\\0y' and y == '')");
  ct_close(L, &loop);
  return 0;
}

/* Posts from many threads at once: each future gets its own value, and of
** the threads racing on one future exactly one wins. */
int test_future_post_many_threads(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L,
    "futs, ids, tasks = {}, {}, {}\n"
    "for i = 1, 16 do\n"
    "  local fut, f = host.future()\n"
    "  futs[i] = fut\n"
    "  if i % 2 == 0 then\n"
    "    tasks[i] = loom.start(function() return fut:wait() end)\n"
    "  end\n"
    "  host.post_later(f, true, 'v' .. i, i % 3)\n"
    "end\n"
    "shared, sf = host.future()\n"
    "for i = 1, 8 do ids[i] = host.post_later(sf, i % 2 == 0, 'r' .. i, 1)"
    " end\n"
    "for i = 1, 16, 2 do\n"
    "  tasks[i] = loom.start(function() return futs[i]:wait() end)\n"
    "end\n"
    "st = loom.start(function() return pcall(shared.wait, shared) end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ct_join_threads();
  ct_run(L,
    "for i = 1, 16 do assert(tasks[i]:result() == 'v' .. i) end\n"
    "local wins = 0\n"
    "for i = 1, 8 do local rc = host.post_rc(ids[i])\n"
    "  assert(rc == 0 or rc == -1) if rc == 0 then wins = wins + 1 end\n"
    "end\n"
    "assert(wins == 1, wins)\n"
    "local ok, v = st:result() assert(v:match('^r%d$'))\n"
    "assert(ok == (tonumber(v:sub(2)) % 2 == 0))");
  ASSERT_EQ(uv_loop_alive(&loop), 0);
  ct_close(L, &loop);
  return 0;
}

/* While a task waits for a future that a thread will post, the host's
** uv_run does not return; afterwards loom keeps no reference. */
int test_future_post_keeps_loop_alive(void) {
  uv_loop_t loop;
  lua_State *L;
  double t0;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "fut, f = host.future()\n"
            "assert(not loom.core.future_stats().referenced)\n"
            "t = loom.start(function() return fut:wait() end)\n"
            "host.post_later(f, true, 'late', 60)");
  t0 = ct_ms();
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_GE(ct_ms() - t0, 60);
  ct_join_threads();
  ASSERT_EQ(ct_int(L, "t:result() == 'late'"), 1);
  ASSERT_EQ(ct_int(L, "loom.core.future_stats().referenced"), 0);
  ASSERT_EQ(uv_loop_alive(&loop), 0);
  ct_close(L, &loop);
  return 0;
}

/* Inside loom.run, a task waiting for a post is not a deadlock. */
int test_future_post_in_loom_run(void) {
  lua_State *L = ct_state(NULL);
  double t0 = ct_ms();
  ct_run(L, "assert(loom.run(function()\n"
            "  local fut, f = host.future()\n"
            "  host.post_later(f, true, 'from thread', 40)\n"
            "  return fut:wait()\n"
            "end) == 'from thread')");
  ASSERT_GE(ct_ms() - t0, 40);
  ct_join_threads();
  /* Whereas a wait nobody can end is reported. */
  ct_run(L, "local ok, e = pcall(loom.run, function() loom.sleep(math.huge)"
            " end) assert(not ok and tostring(e):find('deadlock'))");
  ct_close(L, NULL);
  return 0;
}

/* Futures collected while unsettled stay valid until settled, then are
** freed: by a post from a thread, or by resolve on the loop thread. */
int test_future_collected_unsettled(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "local fut1, f1 = host.future() p1 = f1\n"
            "local fut2, f2 = host.future() p2 = f2\n"
            "local fut3 = host.future() host.resolve(select(2, "
            "host.future()), 1)\n");
  lua_gc(L, LUA_GCCOLLECT);
  lua_gc(L, LUA_GCCOLLECT);
  /* The settled-and-collected ones are freed at once. */
  ASSERT_EQ(ct_int(L, "loom.core.future_stats().live"), 3);
  ct_run(L, "host.post_later(p1, true, 'nobody listens', 5)\n"
            "host.resolve(p2, 'nobody', 'either')");
  ASSERT_EQ(ct_int(L, "loom.core.future_stats().live"), 2);
  ct_run(L, "t = loom.start(function() loom.sleep(0.03) end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ct_join_threads();
  ASSERT_EQ(ct_int(L, "host.post_rc(0)"), 0);
  ASSERT_EQ(ct_int(L, "loom.core.future_stats().live"), 1);
  ct_close(L, &loop);
  return 0;
}

/* A cancelled waiter leaves the future unsettled and unreferenced; a later
** post settles it for the next waiter. */
int test_future_waiter_cancelled(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "fut, f = host.future()\n"
            "t = loom.start(function() return fut:wait() end)\n"
            "m = loom.start(function() return loom.move_on_after(0.01, "
            "function() return fut:wait() end) end)\n"
            "loom.start(function() loom.sleep(0.001) t:cancel() end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(ct_int(L, "t.status == 'cancelled' and m.status == 'ok' and "
                      "select('#', m:result()) == 0"), 1);
  ASSERT_EQ(ct_int(L, "loom.core.future_stats().waiting"), 0);
  ASSERT_EQ(ct_int(L, "loom.core.future_stats().referenced"), 0);
  ct_run(L, "assert(host.post(f, true, 'later') == 0)\n"
            "u = loom.start(function() return fut:wait() end)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ASSERT_EQ(ct_int(L, "u:result() == 'later'"), 1);
  ct_close(L, &loop);
  return 0;
}

/* Every waiter of a future wakes with the outcome. */
int test_future_multiple_waiters(void) {
  uv_loop_t loop;
  lua_State *L;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  L = ct_state(&loop);
  ct_run(L, "fut, f = host.future() ts = {}\n"
            "for i = 1, 5 do ts[i] = loom.start(function() "
            "return pcall(fut.wait, fut) end) end\n"
            "host.post_later(f, false, 'shared failure', 10)");
  ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ct_join_threads();
  ct_run(L, "for i = 1, 5 do local ok, e = ts[i]:result()\n"
            "  assert(ok == false and e == 'shared failure') end");
  ct_close(L, &loop);
  return 0;
}
