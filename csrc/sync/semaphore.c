/*
** semaphore.c: loom.semaphore(n [, max]). Invariant: waiters exist only
** while the value is 0; a release hands the permit to the first waiter
** instead of counting it, and a waiter handed a permit but cancelled
** before it runs gives it to the next one (or back to the count).
*/
#include <string.h>

#include "sync.h"

/* {====================================================================
** Semaphore
** ===================================================================== */

typedef struct sync_sem {
  loom_lot waiters;
  lua_Integer value;  /* free permits; 0 while anyone waits */
  lua_Integer max;    /* release above it raises; LUA_MAXINTEGER: none */
} sync_sem;

#define check_sem(L, i) \
  ((sync_sem *)loom__checkself(L, i))

/* [-0, +0, -] Give one permit back: to the first waiter, or to the count.
** Returns 0 if the count is already at its maximum (nothing done). */
static int sem_give(loom_ctx *ctx, sync_sem *s) {
  loom_task *w = loom__lot_pop(&s->waiters);
  if (w != NULL) {
    loom__wake(ctx, w, TW_OK);
    return 1;
  }
  if (s->value >= s->max) return 0;
  s->value++;
  return 1;
}

/* [-0, +0, e] Like loom__lock_woken: raise Cancelled if the wait was aborted;
** give the permit back and raise if cancelled since the hand-off. */
static void sem_woken(lua_State *L, loom_ctx *ctx, loom_task *t,
                      sync_sem *s) {
  loom__resumed(L, ctx, t);
  if (loom__sync_cancelled(ctx, t)) {
    sem_give(ctx, s);
    loom__check_cancel(L, ctx, t);
  }
}

/* [-0|2, +1, v] loom.semaphore(n [, max]) -> a Semaphore with n permits;
** with 'max', releasing above it raises. */
static int l_sem_new(lua_State *L) {
  lua_Integer n = loom__checkinteger(L, 1);
  lua_Integer max = loom__optinteger(L, 2, LUA_MAXINTEGER);
  sync_sem *s;
  loom__argcheck(L, n >= 0, 1, "the initial value must be >= 0");
  loom__argcheck(L, max >= n, 2, "max must be >= the initial value");
  s = (sync_sem *)loom__newself(L, sizeof(sync_sem), 0);
  s->value = n;
  s->max = max;
  return 1;
}

/* [-0, +0, e] Continuation of a parked acquire (see sem_woken). */
static int k_sem_acquire(lua_State *L, int status, lua_KContext kc) {
  (void)status;
  sem_woken(L, loom_ctxup(L), (loom_task *)kc,
            (sync_sem *)lua_touserdata(L, 1));
  return 0;
}

/* [-1, +0, y] Checkpoint. sem:acquire(): take a permit, waiting (FIFO)
** while the value is 0. */
static int l_sem_acquire(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_sem *s = check_sem(L, 1);
  loom_task *t = loom__checkpoint_enter(L, ctx);
  lua_settop(L, 1);
  if (s->value > 0) {
    s->value--;
    return 0;
  }
  loom__waiting(t, "semaphore");
  return loom__lot_park(L, t, &s->waiters, k_sem_acquire);
}

/* [-1, +0, v] sem:release(): give a permit back (to the first waiter if
** any); raises if that would exceed the maximum. */
static int l_sem_release(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_sem *s = check_sem(L, 1);
  if (!sem_give(ctx, s))
    return luaL_error(L, "loom: semaphore released too many times (its "
                      "maximum value is %I)", (LUAI_UACINT)s->max);
  return 0;
}

/* [-r, +r, e] Continuation of fn's protected call in sem:with(): give
** the permit back, return fn's results or re-raise its error. */
static int k_sem_with_done(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  (void)kc;
  sem_give(ctx, (sync_sem *)lua_touserdata(L, 1));
  if (LOOM_WITH_FAILED(status)) return loom__sync_rethrow(L, ctx);
  return lua_gettop(L) - 2;
}

/* [-0, +r, e] Continuation of a parked sem:with(): call fn. */
static int k_sem_with(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  (void)status;
  sem_woken(L, ctx, (loom_task *)kc, (sync_sem *)lua_touserdata(L, 1));
  return loom__sync_with_call(L, ctx, k_sem_with_done);
}

/* [-(2+n), +r, y] Checkpoint. sem:with(fn, ...): acquire, call fn(...),
** release (also when fn raises or is cancelled); returns fn's results. */
static int l_sem_with(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_sem *s = check_sem(L, 1);
  loom_task *t;
  loom__check_callable(L, 2);
  t = loom__checkpoint_enter(L, ctx);
  if (s->value > 0) {
    s->value--;
    return loom__sync_with_call(L, ctx, k_sem_with_done);
  }
  loom__waiting(t, "semaphore");
  return loom__lot_park(L, t, &s->waiters, k_sem_with);
}

/* [-2, +1, -] __index: the methods, then the fields 'value' and 'max'. */
static int l_sem_index(lua_State *L) {
  sync_sem *s = (sync_sem *)lua_touserdata(L, 1);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(3)) != LUA_TNIL) return 1;
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "value") == 0) lua_pushinteger(L, s->value);
    else if (strcmp(k, "max") == 0 && s->max != LUA_MAXINTEGER)
      lua_pushinteger(L, s->max);
  }
  return 1;
}

/* [-1, +1, m] __tostring: the value and the number of waiters. */
static int l_sem_tostring(lua_State *L) {
  sync_sem *s = check_sem(L, 1);
  lua_pushfstring(L, "loom.Semaphore (value %I, %d waiting)",
                  (LUAI_UACINT)s->value, s->waiters.n);
  return 1;
}

static const luaL_Reg sem_methods[] = {
  {"acquire", l_sem_acquire},
  {"release", l_sem_release},
  {"with", l_sem_with},
  {NULL, NULL}
};

static const luaL_Reg sem_meta[] = {
  {"__tostring", l_sem_tostring},
  {NULL, NULL}
};

static const luaL_Reg sem_funcs[] = {
  {"semaphore", l_sem_new},
  {NULL, NULL}
};

static const loom_class sem_class = {
  LOOM_SEMAPHORE_MT, sem_methods, sem_meta, l_sem_index, sem_funcs, NULL, NULL
};

/* [-0, +0, m] Register the Semaphore class and core.semaphore in the core
** table on top. */
void loom__semaphore_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &sem_class);
  lua_pop(L, 1);
}
