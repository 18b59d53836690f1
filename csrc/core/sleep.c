/*
** sleep.c: loom.sleep and loom.sleep_until. A task's sleep is the timer of
** its root scope (a task has no deadline of its own, so that timer is
** free), queued in the one deadline heap of clock.c with sleep_fire as
** what its expiry does: wake the task. A sleep is a heap push and a
** wake-up a pop: no libuv handle per sleeper (DESIGN.md B11). sleep(0)
** and negative durations yield to the other ready tasks; both are
** checkpoints.
*/
#include <math.h>

#include "core.h"

/* The fire function of a sleep: wake the sleeper (pure C). */
static void sleep_fire(loom_ctx *ctx, loom_timer *tm) {
  loom_task *t = (loom_task *)((char *)tm - offsetof(loom_task, root) -
                               offsetof(loom_scope, timer));
  tm->when = HUGE_VAL;
  if (t->state == TS_WAITING) loom__wake(ctx, t, TW_OK);
}

static int k_slept(lua_State *L, int status, lua_KContext kc) {
  (void)status;
  loom__resumed(L, loom_ctxup(L), (loom_task *)kc);
  return 0;
}

/* Abort of a sleep (pure C): take the timer off the heap. */
static int sleep_abort(loom_ctx *ctx, loom_task *t) {
  loom__timer_clear(ctx, &t->root.timer);
  t->root.timer.when = HUGE_VAL;
  return LOOM_ABORT_SUCCEEDED;
}

/* [-0, +0, y] Suspend 't' until 'when' (it has passed the checkpoint);
** 'now' is the clock, just read (once per sleep: each read is a system
** clock call). */
static int sleep_until(lua_State *L, loom_ctx *ctx, loom_task *t,
                       double when, double now) {
  if (when <= now) return loom__yield_now(L, ctx, t);
  loom__waiting(t, "sleep");
  if (when == HUGE_VAL)   /* forever: only a cancellation wakes it */
    return loom__suspend_since(L, t, sleep_abort, NULL, k_slept, now);
  loom__timer_set(L, ctx, &t->root.timer, when, sleep_fire);
  loom__clock_sync(ctx);
  return loom__suspend_since(L, t, sleep_abort, &t->root.timer, k_slept,
                             now);
}

/* [-0, +0, v] The duration or time at 'idx': a number, not NaN. */
static double check_seconds(lua_State *L, int idx) {
  double d;
  if (lua_type(L, idx) != LUA_TNUMBER) loom__typeerror(L, idx, "number");
  d = lua_tonumber(L, idx);
  if (d != d) loom__argerror(L, idx, "NaN is not a duration");
  return d;
}

/* [-1, +0, y] Checkpoint. loom.sleep(seconds) */
static int l_sleep(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  double d = check_seconds(L, 1);
  loom_task *t = loom__checkpoint_enter(L, ctx);
  double now;
  if (d <= 0) return loom__yield_now(L, ctx, t);
  now = loom__now(ctx);
  return sleep_until(L, ctx, t, now + d, now);
}

/* [-1, +0, y] Checkpoint. loom.sleep_until(when) */
static int l_sleep_until(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  double when = check_seconds(L, 1);
  loom_task *t = loom__checkpoint_enter(L, ctx);
  return sleep_until(L, ctx, t, when, loom__now(ctx));
}

static const luaL_Reg sleep_funcs[] = {
  {"sleep", l_sleep},
  {"sleep_until", l_sleep_until},
  {NULL, NULL}
};

/* [-0, +0, m] Register core.sleep and core.sleep_until in the core table
** on top. */
void loom__sleep_open(lua_State *L, loom_ctx *ctx) {
  loom__setfuncs(L, ctx, sleep_funcs);
}
