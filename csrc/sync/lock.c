/*
** lock.c: loom.lock(), FIFO-fair mutual exclusion owned by a task.
** Invariant: waiters are parked only while the lock is held; release
** hands the lock to the first waiter at once (no barging), so "free"
** implies "no waiter". A waiter handed the lock but cancelled before it
** runs passes it on (loom__lock_woken). Conditions (condition.c) use the
** functions exported here through sync.h.
*/
#include <string.h>

#include "sync.h"

/* {====================================================================
** Lock
** ===================================================================== */

/* [-0, +0, -] Release 'lk': hand it to the first waiter, or free it. */
void loom__lock_handoff(loom_ctx *ctx, sync_lock *lk) {
  loom_task *w = loom__lot_pop(&lk->waiters);
  if (w == NULL) {
    lk->owner = 0;
    return;
  }
  lk->owner = w->id;
  loom__wake(ctx, w, TW_OK);
}

/* [-0, +0, e] A waiter of 'lk' resumed: raise Cancelled if its wait was
** aborted (it holds nothing); if it was handed the lock but has been
** cancelled since, pass the lock on and raise Cancelled. */
void loom__lock_woken(lua_State *L, loom_ctx *ctx, loom_task *t,
                      sync_lock *lk) {
  loom__resumed(L, ctx, t);
  if (loom__sync_cancelled(ctx, t)) {
    loom__lock_handoff(ctx, lk);
    loom__check_cancel(L, ctx, t);
  }
}

/* [-0, +0, v] Raise unless the running task holds 'lk'. */
void loom__lock_check_owner(lua_State *L, loom_ctx *ctx, sync_lock *lk,
                            const char *what) {
  loom_task *t = ctx->current;
  if (lk->owner == 0)
    luaL_error(L, "loom: %s: the lock is not held by any task", what);
  if (t == NULL || t->id != lk->owner)
    luaL_error(L, "loom: %s: the lock is held by another task (only the "
               "task that acquired it may release it)", what);
}

/* [-0, +1, m] loom.lock() -> a new Lock, free. */
static int l_lock_new(lua_State *L) {
  loom__newself(L, sizeof(sync_lock), 0);
  return 1;
}

/* [-0, +0, v] Take 'lk' at once if it is free: 0 taken, 1 must wait.
** Raises if 't' already holds it (locks are not reentrant: it would wait
** forever). */
static int lock_try(lua_State *L, loom_task *t, sync_lock *lk) {
  if (lk->owner == 0) {
    lk->owner = t->id;
    return 0;
  }
  if (lk->owner == t->id)
    luaL_error(L, "loom: the lock is already held by this task (loom "
               "locks are not reentrant)");
  return 1;
}

/* [-0, +0, e] Continuation of a parked acquire (see loom__lock_woken). */
static int k_lock_acquire(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  (void)status;
  loom__lock_woken(L, ctx, (loom_task *)kc, (sync_lock *)lua_touserdata(L, 1));
  return 0;
}

/* [-0, +0, y] Acquire the lock at index 1 (already checked). */
int loom__lock_acquire(lua_State *L, loom_ctx *ctx, sync_lock *lk) {
  loom_task *t = loom__checkpoint_enter(L, ctx);
  lua_settop(L, 1);
  if (!lock_try(L, t, lk)) return 0;
  loom__waiting(t, "lock");
  return loom__lot_park(L, t, &lk->waiters, k_lock_acquire);
}

/* [-1, +0, y] Checkpoint. lk:acquire(): wait until the lock is free, in
** FIFO order. */
static int l_lock_acquire(lua_State *L) {
  return loom__lock_acquire(L, loom_ctxup(L), check_lock(L, 1));
}

/* [-0, +0, v] Release the lock at index 1 (already checked). */
int loom__lock_release(lua_State *L, loom_ctx *ctx, sync_lock *lk) {
  loom__lock_check_owner(L, ctx, lk, "release");
  loom__lock_handoff(ctx, lk);
  return 0;
}

/* [-1, +0, v] lk:release(): hand the lock to the next waiter; raises
** unless the current task holds it. */
static int l_lock_release(lua_State *L) {
  return loom__lock_release(L, loom_ctxup(L), check_lock(L, 1));
}

/* [-1, +1, v] lk:locked() -> true while some task holds the lock. */
static int l_lock_locked(lua_State *L) {
  lua_pushboolean(L, check_lock(L, 1)->owner != 0);
  return 1;
}

/* [-r, +r, e] Continuation of fn's protected call in with(): stack
** [lk msgh results...] or [lk msgh err]. Release (hand the lock on), then
** return the results or re-raise the error. If fn released the lock
** itself, raise a misuse error, unless fn raised: its error wins. */
static int k_lock_with_done(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_lock *lk = (sync_lock *)lua_touserdata(L, 1);
  loom_task *t = ctx->current;
  (void)kc;
  if (t != NULL && lk->owner == t->id) loom__lock_handoff(ctx, lk);
  else if (!LOOM_WITH_FAILED(status))   /* an error in fn takes precedence */
    loom__lock_check_owner(L, ctx, lk, "with");
  if (LOOM_WITH_FAILED(status)) return loom__sync_rethrow(L, ctx);
  return lua_gettop(L) - 2;
}

/* [-0, +r, e] Continuation of a parked with(): the lock was handed over;
** go on with the call of fn. */
static int k_lock_with(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  (void)status;
  loom__lock_woken(L, ctx, (loom_task *)kc, (sync_lock *)lua_touserdata(L, 1));
  return loom__sync_with_call(L, ctx, k_lock_with_done);
}

/* [-0, +r, y] with() on the lock at index 1 (already checked). */
int loom__lock_with(lua_State *L, loom_ctx *ctx, sync_lock *lk) {
  loom_task *t;
  loom__check_callable(L, 2);
  t = loom__checkpoint_enter(L, ctx);
  if (!lock_try(L, t, lk))
    return loom__sync_with_call(L, ctx, k_lock_with_done);
  loom__waiting(t, "lock");
  return loom__lot_park(L, t, &lk->waiters, k_lock_with);
}

/* [-(2+n), +r, y] Checkpoint. lk:with(fn, ...): acquire, call fn(...),
** release (also when fn raises or is cancelled); returns fn's results. */
static int l_lock_with(lua_State *L) {
  return loom__lock_with(L, loom_ctxup(L), check_lock(L, 1));
}

/* [-1, +1, m] __tostring: free, or the holder's id and the waiters. */
static int l_lock_tostring(lua_State *L) {
  sync_lock *lk = check_lock(L, 1);
  if (lk->owner == 0)
    lua_pushliteral(L, "loom.Lock (free)");
  else
    lua_pushfstring(L, "loom.Lock (held by task-%d, %d waiting)",
                    (int)lk->owner, lk->waiters.n);
  return 1;
}

static const luaL_Reg lock_methods[] = {
  {"acquire", l_lock_acquire},
  {"release", l_lock_release},
  {"locked", l_lock_locked},
  {"is_locked", l_lock_locked},
  {"with", l_lock_with},
  {NULL, NULL}
};

static const luaL_Reg lock_meta[] = {
  {"__tostring", l_lock_tostring},
  {NULL, NULL}
};

static const luaL_Reg lock_funcs[] = {
  {"lock", l_lock_new},
  {NULL, NULL}
};

static const loom_class lock_class = {
  LOOM_LOCK_MT, lock_methods, lock_meta, NULL, lock_funcs, NULL, NULL
};

/* [-0, +0, m] Register the Lock class and core.lock in the core
** table on top. */
void loom__lock_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &lock_class);
  lua_pop(L, 1);
}
