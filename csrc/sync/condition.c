/*
** condition.c: loom.condition([lock]). Waiters park on the condition;
** notify moves them to the lock's queue (Trio's repark), where the lock's
** release hands them the lock like any waiter. wait() returns or raises
** only once the task holds the lock again: after an abort the task queues
** again for the lock and ignores further aborts (the re-acquire is
** shielded).
*/
#include <string.h>

#include "sync.h"

/* {====================================================================
** Condition
** ===================================================================== */

typedef struct sync_cond {
  loom_lot waiters;
  sync_lock *lock;    /* the Lock userdata is user value 1 */
} sync_cond;

#define check_cond(L, i) \
  ((sync_cond *)loom__checkself(L, i))

/* [-0|1, +1, v] loom.condition([lock]) -> a Condition over 'lock' or over
** a new Lock (its field 'lock'). */
static int l_cond_new(lua_State *L) {
  sync_lock *lk;
  sync_cond *c;
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lk = (sync_lock *)lua_newuserdatauv(L, sizeof(sync_lock), 0);
    memset(lk, 0, sizeof(*lk));
    luaL_setmetatable(L, LOOM_LOCK_MT);
  } else {
    lk = (sync_lock *)loom__checkudata(L, 1, LOOM_LOCK_MT);
    lua_settop(L, 1);
  }
  c = (sync_cond *)loom__newself(L, sizeof(sync_cond), 1);
  c->lock = lk;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

/* [-0, +0, v] Check the condition at index 1 and replace it by its lock
** (the lock functions then run on it). */
static sync_lock *cond_lock_arg(lua_State *L) {
  sync_cond *c = check_cond(L, 1);
  lua_getiuservalue(L, 1, 1);
  lua_replace(L, 1);
  return c->lock;
}

/* [-1, +0, y] Checkpoint. c:acquire(): acquire c.lock. */
static int l_cond_acquire(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  return loom__lock_acquire(L, ctx, cond_lock_arg(L));
}

/* [-1, +0, v] c:release(): release c.lock. */
static int l_cond_release(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  return loom__lock_release(L, ctx, cond_lock_arg(L));
}

/* [-(2+n), +r, y] Checkpoint. c:with(fn, ...): c.lock:with(fn, ...). */
static int l_cond_with(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  return loom__lock_with(L, ctx, cond_lock_arg(L));
}

/* [-0, +0, y] Continuation of wait(), also after each re-acquire wait.
** Stack: [c aborted]. 'aborted' records that a cancellation aborted the
** wait; the task then queues for the lock again, ignoring further aborts
** (an abort only takes it out of the queue: it queues again), and raises
** Cancelled once it holds the lock, if it is still cancelled then. */
static int k_cond_wait(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = (loom_task *)kc;
  sync_lock *lk = ((sync_cond *)lua_touserdata(L, 1))->lock;
  (void)status;
  if (t->wake == TW_CANCELLED) {
    lua_pushboolean(L, 1);
    lua_replace(L, 2);
  }
  t->wake = TW_NONE;
  if (lk->owner != t->id) {      /* not handed the lock: aborted */
    if (lk->owner != 0) {
      loom__lot_push(&lk->waiters, t);
      loom__waiting(t, "lock");
      return loom__suspend(L, t, loom__lot_abort, &lk->waiters,
                           k_cond_wait);
    }
    lk->owner = t->id;           /* free: then nobody waits for it */
  }
  if (lua_toboolean(L, 2)) loom__check_cancel(L, ctx, t);
  return 0;
}

/* [-1, +0, y] Checkpoint. c:wait(): release the lock, wait for a notify,
** re-acquire the lock, return; the lock is held again whenever wait()
** returns or raises (Cancelled included). */
static int l_cond_wait(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_cond *c = check_cond(L, 1);
  loom_task *t = loom__running(L, ctx);
  loom__lock_check_owner(L, ctx, c->lock, "wait");
  loom__check_cancel(L, ctx, t);  /* raises with the lock still held */
  lua_settop(L, 1);
  lua_pushboolean(L, 0);          /* [c aborted] */
  loom__lock_handoff(ctx, c->lock);
  loom__waiting(t, "condition");
  return loom__lot_park(L, t, &c->waiters, k_cond_wait);
}

/* [-0, +0, -] Move up to 'n' waiters of 'c' to the queue of its lock
** (their abort now removes them from there): the lock's releases hand it
** to them in turn. */
static void cond_notify(sync_cond *c, lua_Integer n) {
  loom_task *w;
  while (n-- > 0 && (w = loom__lot_pop(&c->waiters)) != NULL) {
    loom__lot_push(&c->lock->waiters, w);
    w->wait_obj = &c->lock->waiters;
  }
}

/* [-(1|2), +0, v] c:notify([n]): wake up to n (default 1) waiters, oldest
** first; they return from wait() as they get the lock. */
static int l_cond_notify(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_cond *c = check_cond(L, 1);
  lua_Integer n = loom__optinteger(L, 2, 1);
  loom__argcheck(L, n >= 0, 2, "must be >= 0");
  loom__lock_check_owner(L, ctx, c->lock, "notify");
  cond_notify(c, n);
  return 0;
}

/* [-1, +0, v] c:notify_all(): wake every waiter. */
static int l_cond_notify_all(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_cond *c = check_cond(L, 1);
  loom__lock_check_owner(L, ctx, c->lock, "notify_all");
  cond_notify(c, LUA_MAXINTEGER);
  return 0;
}

/* [-2, +1, -] __index: the methods, then the field 'lock'. */
static int l_cond_index(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(3)) != LUA_TNIL) return 1;
  if (lua_type(L, 2) == LUA_TSTRING &&
      strcmp(lua_tostring(L, 2), "lock") == 0)
    lua_getiuservalue(L, 1, 1);
  return 1;
}

/* [-1, +1, m] __tostring: the number of waiters. */
static int l_cond_tostring(lua_State *L) {
  sync_cond *c = check_cond(L, 1);
  lua_pushfstring(L, "loom.Condition (%d waiting)", c->waiters.n);
  return 1;
}

static const luaL_Reg cond_methods[] = {
  {"acquire", l_cond_acquire},
  {"release", l_cond_release},
  {"with", l_cond_with},
  {"wait", l_cond_wait},
  {"notify", l_cond_notify},
  {"notify_all", l_cond_notify_all},
  {NULL, NULL}
};

static const luaL_Reg cond_meta[] = {
  {"__tostring", l_cond_tostring},
  {NULL, NULL}
};

static const luaL_Reg cond_funcs[] = {
  {"condition", l_cond_new},
  {NULL, NULL}
};

static const loom_class cond_class = {
  LOOM_CONDITION_MT, cond_methods, cond_meta, l_cond_index, cond_funcs,
  NULL, NULL
};

/* [-0, +0, m] Register the Condition class and core.condition in the core
** table on top. */
void loom__condition_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &cond_class);
  lua_pop(L, 1);
}
