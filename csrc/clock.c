/*
** clock.c: loom's clock and its one timer. All deadlines (sleeps and
** scope deadlines) are loom_timer entries on one binary min-heap ordered by
** (when, seq), FIFO among equal deadlines; one uv_timer_t is armed for the
** earliest (rule B11). Sleeping is a heap push, waking is a pop. The clock
** is monotonic, read with uv_hrtime (uv_now is cached per loop iteration),
** or a virtual clock for tests that jumps to the next deadline as soon as
** no task is ready (Trio's autojump clock with threshold 0).
**
** A timer entry lives inside a scope: for a task's root scope it is the
** task's sleep, for other scopes the scope's deadline. Firing a sleep
** wakes the task; firing a deadline cancels the scope. Neither calls Lua,
** so the timer callback needs no trampoline (rule B1).
*/
#include <math.h>
#include <stdlib.h>

#include "internal.h"

#define TIMER_SCOPE(tm) \
  ((loom_scope *)((char *)(tm) - offsetof(loom_scope, timer)))

/* [-0, +0, -] The time on loom's clock, in seconds. */
double loom__now(loom_ctx *ctx) {
  if (ctx != NULL && ctx->virtual_clock) return ctx->vnow;
  return (double)uv_hrtime() / 1e9;
}

static int timer_less(const loom_timer *a, const loom_timer *b) {
  if (a->when != b->when) return a->when < b->when;
  return (int)(a->seq - b->seq) < 0;
}

static void heap_place(loom_ctx *ctx, int i, loom_timer *tm) {
  ctx->heap[i] = tm;
  tm->index = i;
}

static void heap_up(loom_ctx *ctx, int i) {
  loom_timer *tm = ctx->heap[i];
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!timer_less(tm, ctx->heap[p])) break;
    heap_place(ctx, i, ctx->heap[p]);
    i = p;
  }
  heap_place(ctx, i, tm);
}

static void heap_down(loom_ctx *ctx, int i) {
  loom_timer *tm = ctx->heap[i];
  int n = ctx->heap_n;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && timer_less(ctx->heap[c + 1], ctx->heap[c])) c++;
    if (!timer_less(ctx->heap[c], tm)) break;
    heap_place(ctx, i, ctx->heap[c]);
    i = c;
  }
  heap_place(ctx, i, tm);
}

/* [-0, +0, e] Queue 'tm' for 'when' (or move it there). */
void loom__timer_set(lua_State *L, loom_ctx *ctx, loom_timer *tm,
                     double when) {
  if (when == HUGE_VAL) {
    loom__timer_clear(ctx, tm);
    tm->when = HUGE_VAL;
    return;
  }
  tm->when = when;
  tm->seq = ctx->heap_seq++;
  if (tm->index >= 0) {
    heap_up(ctx, tm->index);
    heap_down(ctx, tm->index);
    return;
  }
  if (ctx->heap_n == ctx->heap_cap) {
    int cap = ctx->heap_cap ? 2 * ctx->heap_cap : 64;
    loom_timer **nh =
        (loom_timer **)realloc(ctx->heap, (size_t)cap * sizeof(*nh));
    if (nh == NULL) luaL_error(L, "loom: out of memory (timer heap)");
    ctx->heap = nh;
    ctx->heap_cap = cap;
  }
  heap_place(ctx, ctx->heap_n++, tm);
  heap_up(ctx, tm->index);
}

/* [-0, +0, -] Take 'tm' off the heap if it is queued. */
void loom__timer_clear(loom_ctx *ctx, loom_timer *tm) {
  int i = tm->index;
  loom_timer *last;
  if (i < 0) return;
  tm->index = -1;
  last = ctx->heap[--ctx->heap_n];
  if (last == tm) return;
  heap_place(ctx, i, last);
  heap_up(ctx, i);
  heap_down(ctx, last->index);
}

/* [-0, +0, -] Fire every entry that is due: wake sleepers, cancel scopes
** whose deadline passed. Pure C. */
void loom__clock_fire(loom_ctx *ctx) {
  double now = loom__now(ctx);
  while (ctx->heap_n > 0 && ctx->heap[0]->when <= now) {
    loom_timer *tm = ctx->heap[0];
    loom_scope *s = TIMER_SCOPE(tm);
    loom__timer_clear(ctx, tm);
    if (s->kind == SK_TASK) {
      loom_task *t = s->owner;
      tm->when = HUGE_VAL;
      if (t->state == TS_WAITING) loom__wake(ctx, t, TW_OK);
    } else {
      loom__scope_cancel(ctx, s, CR_DEADLINE);
    }
  }
}

/* [-0, +0, -] At a checkpoint: a deadline that has passed counts even if
** the timer has not fired yet. */
void loom__clock_due(loom_ctx *ctx) {
  if (ctx->heap_n > 0 && ctx->heap[0]->when <= loom__now(ctx))
    loom__clock_fire(ctx);
}

static void on_timer(uv_timer_t *h) {
  loom_ctx *ctx = (loom_ctx *)h->data;
  if (ctx->closing) return;
  ctx->timer_on = 0;
  ctx->timer_due = HUGE_VAL;
  if (ctx->virtual_clock && ctx->ready_head == NULL && ctx->heap_n > 0 &&
      ctx->heap[0]->when > ctx->vnow)
    ctx->vnow = ctx->heap[0]->when;  /* every task is blocked: jump */
  loom__clock_fire(ctx);
  loom__clock_sync(ctx);
}

/* [-0, +0, -] Arm (or stop) the uv timer for the earliest deadline. Called
** after anything that may have changed the top of the heap. */
void loom__clock_sync(loom_ctx *ctx) {
  double due, delta;
  uint64_t ms;
  if (!ctx->sched_ready || ctx->closing) return;
  if (ctx->heap_n == 0) {
    if (ctx->timer_on) {
      uv_timer_stop(&ctx->h.timer);
      ctx->timer_on = 0;
      ctx->timer_due = HUGE_VAL;
    }
    return;
  }
  due = ctx->heap[0]->when;
  if (ctx->virtual_clock) {
    /* Jump only once no task is ready; the scheduler syncs again after
    ** each pass. (Re-arming at 0 ms while tasks are ready would make
    ** libuv run the timer again and again in the same loop turn.) */
    if (ctx->ready_head != NULL) {
      if (ctx->timer_on) {
        uv_timer_stop(&ctx->h.timer);
        ctx->timer_on = 0;
        ctx->timer_due = HUGE_VAL;
      }
      return;
    }
    ms = 0;
  } else {
    if (ctx->timer_on && due == ctx->timer_due) return;
    delta = due - loom__now(ctx);
    if (delta <= 0) ms = 0;
    else if (delta > 1e12) ms = (uint64_t)1e15;  /* ~30 000 years */
    else ms = (uint64_t)ceil(delta * 1000.0);
    uv_update_time(ctx->loop);
  }
  uv_timer_start(&ctx->h.timer, on_timer, ms, 0);
  ctx->timer_on = 1;
  ctx->timer_due = due;
}

/* {====================================================================
** Sleeping: a task's sleep is the timer of its root scope
** ===================================================================== */

static int k_return0(lua_State *L, int status, lua_KContext kc) {
  (void)status;
  loom__resumed(L, loom_ctxup(L), (loom_task *)kc);
  return 0;
}

static int sleep_abort(loom_ctx *ctx, loom_task *t) {
  loom__timer_clear(ctx, &t->root.timer);
  t->root.timer.when = HUGE_VAL;
  return LOOM_ABORT_SUCCEEDED;
}

static int sleep_until(lua_State *L, loom_ctx *ctx, loom_task *t,
                       double when) {
  if (when <= loom__now(ctx)) return loom__yield_now(L, ctx, t);
  if (when == HUGE_VAL)   /* forever: only a cancellation wakes it */
    return loom__suspend(L, t, sleep_abort, NULL, k_return0);
  loom__timer_set(L, ctx, &t->root.timer, when);
  loom__clock_sync(ctx);
  return loom__suspend(L, t, sleep_abort, &t->root.timer, k_return0);
}

static double check_seconds(lua_State *L, int idx) {
  double d;
  luaL_argexpected(L, lua_type(L, idx) == LUA_TNUMBER, idx, "number");
  d = lua_tonumber(L, idx);
  if (d != d) luaL_argerror(L, idx, "NaN is not a duration");
  return d;
}

/* Checkpoint. loom.checkpoint(): yield to the other ready tasks. */
static int l_sleep(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  double d = check_seconds(L, 1);
  loom_task *t = loom__checkpoint_enter(L, ctx);
  if (d <= 0) return loom__yield_now(L, ctx, t);
  return sleep_until(L, ctx, t, loom__now(ctx) + d);
}

/* Checkpoint. loom.sleep_until(when) */
static int l_sleep_until(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  double when = check_seconds(L, 1);
  return sleep_until(L, ctx, loom__checkpoint_enter(L, ctx), when);
}

/* [-0, +1, -] loom.now() */
static int l_now(lua_State *L) {
  lua_pushnumber(L, loom__now(loom_ctxup(L)));
  return 1;
}

/* [-1, +0, e] core.set_virtual_clock(on): test support; only while no
** task exists. */
static int l_set_virtual_clock(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  int on = lua_toboolean(L, 1);
  if (ctx->ntasks > 0 || ctx->running || ctx->heap_n > 0)
    return luaL_error(L, "loom: the clock can only be changed while no "
                      "task exists");
  if (on && !ctx->virtual_clock) ctx->vnow = (double)uv_hrtime() / 1e9;
  ctx->virtual_clock = on;
  return 0;
}

static const luaL_Reg clock_funcs[] = {
  {"now", l_now},
  {"sleep", l_sleep},
  {"sleep_until", l_sleep_until},
  {"set_virtual_clock", l_set_virtual_clock},
  {NULL, NULL}
};

/* [-0, +0, m] Register the clock functions in the core table on top. */
void loom__clock_open(lua_State *L, loom_ctx *ctx) {
  loom__setfuncs(L, ctx, clock_funcs);
}

/* [-0, +0, -] Initialise the timer handle (scheduler set-up). */
void loom__clock_init(loom_ctx *ctx) {
  uv_timer_init(ctx->loop, &ctx->h.timer);
  ctx->h.timer.data = ctx;
  ctx->nhandles_open++;
}
