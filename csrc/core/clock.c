/*
** clock.c: loom's clock and its one timer. Every deadline (sleeps and
** scope deadlines) is an entry of one (4-ary) min-heap ordered by
** (when, seq), FIFO among equal deadlines; one uv_timer_t is armed for the
** earliest (DESIGN.md B11). Queueing a deadline is a heap push, firing
** it is a pop, clearing it marks its entry dead (see "Clearing"). The
** clock is monotonic, read with uv_hrtime (uv_now is cached per loop
** iteration), or a virtual clock for tests that jumps to the next
** deadline as soon as no task is ready (Trio's autojump clock with
** threshold 0).
**
** The clock knows nothing of what a deadline means: each heap entry
** carries the fire function of the layer that queued it (sleep.c wakes a
** sleeper, scope.c cancels a scope). Fire functions are pure C and call no
** Lua, so the timer callback needs no trampoline (DESIGN.md B1).
*/
#include <math.h>
#include <stdlib.h>

#include "core.h"

/* [-0, +0, -] Initialise a timer that is not queued. */
void loom__timer_init(loom_timer *tm) {
  tm->when = HUGE_VAL;
  tm->index = -1;
}

static int entry_less(const loom_heap_entry *a, const loom_heap_entry *b) {
  if (a->when != b->when) return a->when < b->when;
  return (int)(a->seq - b->seq) < 0;
}

static void heap_place(loom_ctx *ctx, int i, loom_heap_entry e) {
  ctx->heap[i] = e;
  if (e.tm != NULL) e.tm->index = i;
}

/* The heap is 4-ary: half the levels of a binary heap, so a pop moves
** half as many entries (each move also writes the moved timer's index,
** a cache miss into a task record far away), and the children compared at
** each level are adjacent in memory. */
#define HEAP_D 4

static void heap_up(loom_ctx *ctx, int i) {
  loom_heap_entry e = ctx->heap[i];
  while (i > 0) {
    int p = (i - 1) / HEAP_D;
    if (!entry_less(&e, &ctx->heap[p])) break;
    heap_place(ctx, i, ctx->heap[p]);
    i = p;
  }
  heap_place(ctx, i, e);
}

static void heap_down(loom_ctx *ctx, int i) {
  loom_heap_entry e = ctx->heap[i];
  int n = ctx->heap_n;
  for (;;) {
    int c = HEAP_D * i + 1, end = c + HEAP_D, best = c, j;
    if (c >= n) break;
    if (end > n) end = n;
    for (j = c + 1; j < end; j++)
      if (entry_less(&ctx->heap[j], &ctx->heap[best])) best = j;
    if (!entry_less(&ctx->heap[best], &e)) break;
    heap_place(ctx, i, ctx->heap[best]);
    i = best;
  }
  heap_place(ctx, i, e);
}

/* {====================================================================
** Clearing: dead entries
** =====================================================================
** Clearing a timer (a sleep cut short, a scope left before its deadline:
** the common case of a timeout) only marks its entry dead, O(1); so does
** cancelling 10^5 sleepers at once. Dead entries keep their keys, so the
** heap order holds with them in it; whoever reads the earliest deadline
** first drops the dead ones at the top (heap_top). Dead entries at the end
** of the array are dropped at once; once they are more than half of the
** heap (and more than HEAP_MIN_DEAD), or many pile up at the top, the heap
** is rebuilt without them in O(n): each entry dies once, so the cost stays
** O(1) per clear, amortised. */

#define HEAP_MIN_DEAD 64

/* Take the top entry off. */
static void heap_pop(loom_ctx *ctx) {
  loom_heap_entry last = ctx->heap[--ctx->heap_n];
  if (ctx->heap_n == 0) return;
  heap_place(ctx, 0, last);
  heap_down(ctx, 0);
}

/* Rebuild the heap from its live entries (Floyd's heapify). */
static void heap_compact(loom_ctx *ctx) {
  int i, n = 0;
  for (i = 0; i < ctx->heap_n; i++)
    if (ctx->heap[i].tm != NULL) heap_place(ctx, n++, ctx->heap[i]);
  ctx->heap_n = n;
  ctx->heap_dead = 0;
  for (i = (n - 2) / HEAP_D; i >= 0 && n > 1; i--) heap_down(ctx, i);
}

/* Drop the dead entries at the end of the array. */
static void heap_trim(loom_ctx *ctx) {
  while (ctx->heap_n > 0 && ctx->heap[ctx->heap_n - 1].tm == NULL) {
    ctx->heap_n--;
    ctx->heap_dead--;
  }
}

/* The earliest live entry, or NULL: dead entries at the top are dropped
** first (popped one by one, or all at once by a rebuild when they are at
** least one in 16). */
static loom_heap_entry *heap_top(loom_ctx *ctx) {
  while (ctx->heap_n > 0 && ctx->heap[0].tm == NULL) {
    if (ctx->heap_dead > HEAP_MIN_DEAD && 16 * ctx->heap_dead > ctx->heap_n) {
      heap_compact(ctx);
    } else {
      heap_pop(ctx);
      ctx->heap_dead--;
      heap_trim(ctx);
    }
  }
  return ctx->heap_n > 0 ? &ctx->heap[0] : NULL;
}

/* [-0, +0, -] The number of queued (live) deadlines. */
int loom__timer_count(loom_ctx *ctx) {
  return ctx->heap_n - ctx->heap_dead;
}

/* }==================================================================== */

/* The index of 'fire' in ctx->fires, registered on first use (there is
** one per layer that queues deadlines). */
static unsigned fire_id(loom_ctx *ctx, loom_fire_fn fire) {
  int i;
  for (i = 0; i < ctx->nfires; i++)
    if (ctx->fires[i] == fire) return (unsigned)i;
  if (ctx->nfires == LOOM_MAX_FIRES) abort();   /* a fixed set: cannot be */
  ctx->fires[ctx->nfires] = fire;
  return (unsigned)ctx->nfires++;
}

/* [-0, +0, e] Queue 'tm' for 'when' (or move it there); when it passes,
** 'fire' runs (after the entry left the heap). */
void loom__timer_set(lua_State *L, loom_ctx *ctx, loom_timer *tm,
                     double when, loom_fire_fn fire) {
  loom_heap_entry e;
  if (when == HUGE_VAL) {
    loom__timer_clear(ctx, tm);
    tm->when = HUGE_VAL;
    return;
  }
  tm->when = when;
  if (tm->index >= 0) {
    loom_heap_entry *q = &ctx->heap[tm->index];
    q->when = when;
    q->seq = ctx->heap_seq++;
    q->fire = fire_id(ctx, fire);
    heap_up(ctx, tm->index);
    heap_down(ctx, tm->index);
    return;
  }
  if (ctx->heap_n == ctx->heap_cap && ctx->heap_dead > 0 &&
      4 * ctx->heap_dead >= ctx->heap_n)
    heap_compact(ctx);          /* a quarter is dead: room without growing */
  if (ctx->heap_n == ctx->heap_cap) {
    int cap = ctx->heap_cap ? 2 * ctx->heap_cap : 64;
    loom_heap_entry *nh =
        (loom_heap_entry *)realloc(ctx->heap, (size_t)cap * sizeof(*nh));
    if (nh == NULL) luaL_error(L, "loom: out of memory (timer heap)");
    ctx->heap = nh;
    ctx->heap_cap = cap;
  }
  e.when = when;
  e.seq = ctx->heap_seq++;
  e.tm = tm;
  e.fire = fire_id(ctx, fire);
  heap_place(ctx, ctx->heap_n++, e);
  heap_up(ctx, tm->index);
}

/* [-0, +0, -] Take 'tm' off the heap if it is queued. */
void loom__timer_clear(loom_ctx *ctx, loom_timer *tm) {
  int i = tm->index;
  if (i < 0) return;
  tm->index = -1;
  ctx->heap[i].tm = NULL;
  ctx->heap_dead++;
  if (i == ctx->heap_n - 1) {
    heap_trim(ctx);
  } else if (ctx->heap_dead > HEAP_MIN_DEAD &&
             2 * ctx->heap_dead > ctx->heap_n) {
    heap_compact(ctx);
  }
}

/* [-0, +0, -] Fire every entry that is due, earliest first. Pure C. */
static void clock_fire(loom_ctx *ctx) {
  double now = loom__now(ctx);
  loom_heap_entry *top;
  while ((top = heap_top(ctx)) != NULL && top->when <= now) {
    loom_heap_entry e = *top;
    e.tm->index = -1;
    heap_pop(ctx);                  /* taken off, not marked dead first */
    ctx->fires[e.fire](ctx, e.tm);
  }
}

/* [-0, +0, -] At a checkpoint: a deadline that has passed counts even if
** the timer has not fired yet. (A dead top is earlier than every live
** entry: when it has not passed, nothing has.) */
void loom__clock_due(loom_ctx *ctx) {
  if (ctx->heap_n > 0 && ctx->heap[0].when <= loom__now(ctx))
    clock_fire(ctx);
}

static void on_timer(uv_timer_t *h) {
  loom_ctx *ctx = (loom_ctx *)h->data;
  loom_heap_entry *top;
  if (ctx->closing) return;
  ctx->timer_on = 0;
  ctx->timer_due = HUGE_VAL;
  if (ctx->virtual_clock && ctx->ready_head == NULL &&
      (top = heap_top(ctx)) != NULL && top->when > ctx->vnow)
    ctx->vnow = top->when;  /* every task is blocked: jump */
  clock_fire(ctx);
  loom__clock_sync(ctx);
}

/* [-0, +0, -] Arm (or stop) the uv timer for the earliest deadline. Called
** after anything that may have changed the top of the heap. */
void loom__clock_sync(loom_ctx *ctx) {
  double due, delta;
  uint64_t ms;
  loom_heap_entry *top;
  if (!ctx->sched_ready || ctx->closing) return;
  if ((top = heap_top(ctx)) == NULL) {
    if (ctx->timer_on) {
      uv_timer_stop(&ctx->h.timer);
      ctx->timer_on = 0;
      ctx->timer_due = HUGE_VAL;
    }
    return;
  }
  due = top->when;
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
  if (ctx->ntasks > 0 || ctx->running || loom__timer_count(ctx) > 0)
    return luaL_error(L, "loom: the clock can only be changed while no "
                      "task exists");
  ctx->heap_n = ctx->heap_dead = 0;  /* no dead key of the other clock */
  if (on && !ctx->virtual_clock) ctx->vnow = (double)uv_hrtime() / 1e9;
  ctx->virtual_clock = on;
  return 0;
}

static const luaL_Reg clock_funcs[] = {
  {"now", l_now},
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
