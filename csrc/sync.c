/*
** sync.c: events, locks, semaphores and conditions, each a small C record
** in a userdata with one parking lot of waiters (parking.c), plus the class
** helpers that channel.c shares (sync.h).
**
** Invariants:
**  - a lock's owner is the id of the task that holds it (0: free; ids are
**    never reused, so a dead owner cannot be mistaken for a new task), and
**    its waiters are parked only while it is held: release hands the lock
**    to the first waiter at once (FIFO, no barging), so "free" implies "no
**    waiter";
**  - likewise a semaphore's waiters exist only while its value is 0, and a
**    release hands the permit to the first waiter instead of counting it;
**  - a waiter that is handed a lock or a permit but whose scope is
**    cancelled before it runs gives it back to the next waiter (or frees
**    it) and raises Cancelled, so the lock never stays with a task that did
**    not get it; an aborted waiter was never handed anything;
**  - a condition's waiters are parked on the condition; notify moves them
**    to the lock's queue (Trio's repark), where the lock's release hands
**    them the lock like any waiter. wait() returns or raises only once the
**    task holds the lock again: after an abort the task queues again for
**    the lock and ignores further aborts (the re-acquire is shielded);
**  - every waiting task keeps the object on its stack, so an object with
**    waiters is never collected; objects own no memory besides their
**    userdata and need no __gc.
*/
#include <string.h>

#include "sync.h"

/* {====================================================================
** Class helpers (shared with channel.c)
** ===================================================================== */

/* [-0, +0, m] Set the functions 'l' in the table on top, each a closure
** with (ctx, the metatable at absolute index 'mt') as upvalues. */
static void setfuncs2(lua_State *L, loom_ctx *ctx, int mt,
                      const luaL_Reg *l) {
  for (; l != NULL && l->name != NULL; l++) {
    lua_pushlightuserdata(L, ctx);
    lua_pushvalue(L, mt);
    lua_pushcclosure(L, l->func, 2);
    lua_setfield(L, -2, l->name);
  }
}

/* [-0, +1, m] See sync.h: make the class 'name', push its metatable. */
void loom__sync_class(lua_State *L, loom_ctx *ctx, const char *name,
                      const luaL_Reg *methods, const luaL_Reg *meta,
                      lua_CFunction index) {
  int mt;
  luaL_newmetatable(L, name);
  mt = lua_gettop(L);
  lua_newtable(L);                        /* [mt methods] */
  setfuncs2(L, ctx, mt, methods);
  if (index != NULL) {
    lua_pushlightuserdata(L, ctx);
    lua_insert(L, -2);
    lua_pushcclosure(L, index, 2);        /* [mt index] */
  }
  lua_setfield(L, mt, "__index");
  lua_pushvalue(L, mt);
  setfuncs2(L, ctx, mt, meta);
  lua_pop(L, 1);
}

/* [-0, +1, m] See sync.h: push 'f' with (ctx, class) upvalues. */
void loom__sync_pushfunc(lua_State *L, loom_ctx *ctx, int mtidx,
                         lua_CFunction f) {
  mtidx = lua_absindex(L, mtidx);
  lua_pushlightuserdata(L, ctx);
  lua_pushvalue(L, mtidx);
  lua_pushcclosure(L, f, 2);
}

/* [-0, +0, v] See sync.h: the receiver, or a type error. */
void *loom__sync_check(lua_State *L, int idx, const char *name) {
  void *p = lua_touserdata(L, idx);
  if (p != NULL && lua_getmetatable(L, idx)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(2));
    lua_pop(L, 1);
    if (same) return p;
  }
  return luaL_checkudata(L, idx, name);
}

/* [-0, +1, m] A new userdata of 'size' zeroed bytes and 'nuv' user values,
** with the class metatable (upvalue 2 of the running constructor). */
static void *sync_new(lua_State *L, size_t size, int nuv) {
  void *p = lua_newuserdatauv(L, size, nuv);
  memset(p, 0, size);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_setmetatable(L, -2);
  return p;
}

/* [-0, +0, -] See sync.h (may fire due deadlines; never raises). */
int loom__sync_cancelled(loom_ctx *ctx, loom_task *t) {
  loom__clock_due(ctx);
  return (t->scope->flags & SF_EFFECTIVE) != 0;
}

/* [-1, +0, v] See sync.h: re-raise the error on top. */
int loom__sync_rethrow(lua_State *L, loom_ctx *ctx) {
  loom_task *t = ctx->current;
  if (t != NULL && t->co == L) loom__stash_rethrow(L, ctx, t, -1, 0);
  return lua_error(L);
}

/* [-0, +r, e] Second half of every with(fn, ...): the stack is
** [obj fn args...] and the object is held; call fn(args...) under the
** task's message handler; 'k' releases the object and returns fn's
** results or re-raises its error (Cancelled included). */
static int with_call(lua_State *L, loom_ctx *ctx, lua_KFunction k) {
  int n = lua_gettop(L) - 2;
  loom__pushref(L, ctx, ctx->r_msgh);
  lua_insert(L, 2);                       /* [obj msgh fn args...] */
  return k(L, lua_pcallk(L, n, LUA_MULTRET, 2, 0, k), 0);
}

/* Did the protected call of with_call fail? */
#define with_failed(status) ((status) != LUA_OK && (status) != LUA_YIELD)

/* {====================================================================
** Event
** ===================================================================== */

typedef struct sync_event {
  loom_lot waiters;
  int set;
} sync_event;

#define check_event(L, i) \
  ((sync_event *)loom__sync_check(L, i, LOOM_EVENT_MT))

/* [-0, +1, m] loom.event() -> a new Event, not set. */
static int l_event_new(lua_State *L) {
  sync_new(L, sizeof(sync_event), 0);
  return 1;
}

/* [-1, +0, v] ev:set(): set the flag and wake every waiter, in order
** (idempotent). */
static int l_event_set(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_event *ev = check_event(L, 1);
  ev->set = 1;
  loom__lot_wake_all(ctx, &ev->waiters);
  return 0;
}

/* [-1, +0, v] ev:clear(): reset the flag; tasks already woken still
** return. */
static int l_event_clear(lua_State *L) {
  check_event(L, 1)->set = 0;
  return 0;
}

/* [-1, +1, v] ev:is_set() -> boolean. */
static int l_event_is_set(lua_State *L) {
  lua_pushboolean(L, check_event(L, 1)->set);
  return 1;
}

/* [-0, +0, e] Continuation of ev:wait(): Cancelled if aborted. */
static int k_event_wait(lua_State *L, int status, lua_KContext kc) {
  (void)status;
  loom__resumed(L, loom_ctxup(L), (loom_task *)kc);
  return 0;
}

/* [-1, +0, y] Checkpoint. ev:wait(): return once the event is set. */
static int l_event_wait(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_event *ev = check_event(L, 1);
  loom_task *t = loom__checkpoint_enter(L, ctx);
  if (ev->set) return 0;
  lua_settop(L, 1);
  return loom__lot_park(L, t, &ev->waiters, k_event_wait);
}

/* [-1, +1, m] __tostring: the flag and the number of waiters. */
static int l_event_tostring(lua_State *L) {
  sync_event *ev = check_event(L, 1);
  lua_pushfstring(L, "loom.Event (%s, %d waiting)",
                  ev->set ? "set" : "not set", ev->waiters.n);
  return 1;
}

static const luaL_Reg event_methods[] = {
  {"set", l_event_set},
  {"clear", l_event_clear},
  {"is_set", l_event_is_set},
  {"wait", l_event_wait},
  {NULL, NULL}
};

static const luaL_Reg event_meta[] = {
  {"__tostring", l_event_tostring},
  {NULL, NULL}
};

/* {====================================================================
** Lock
** ===================================================================== */

typedef struct sync_lock {
  loom_lot waiters;
  unsigned owner;     /* id of the holding task; 0 when free */
} sync_lock;

#define check_lock(L, i) ((sync_lock *)loom__sync_check(L, i, LOOM_LOCK_MT))

/* [-0, +0, -] Release 'lk': hand it to the first waiter, or free it. */
static void lock_handoff(loom_ctx *ctx, sync_lock *lk) {
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
static void lock_woken(lua_State *L, loom_ctx *ctx, loom_task *t,
                       sync_lock *lk) {
  loom__resumed(L, ctx, t);
  if (loom__sync_cancelled(ctx, t)) {
    lock_handoff(ctx, lk);
    loom__check_cancel(L, ctx, t);
  }
}

/* [-0, +0, v] Raise unless the running task holds 'lk'. */
static void lock_check_owner(lua_State *L, loom_ctx *ctx, sync_lock *lk,
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
  sync_new(L, sizeof(sync_lock), 0);
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

/* [-0, +0, e] Continuation of a parked acquire (see lock_woken). */
static int k_lock_acquire(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  (void)status;
  lock_woken(L, ctx, (loom_task *)kc, (sync_lock *)lua_touserdata(L, 1));
  return 0;
}

/* [-0, +0, y] Acquire the lock at index 1 (already checked). */
static int lock_acquire(lua_State *L, loom_ctx *ctx, sync_lock *lk) {
  loom_task *t = loom__checkpoint_enter(L, ctx);
  lua_settop(L, 1);
  if (!lock_try(L, t, lk)) return 0;
  return loom__lot_park(L, t, &lk->waiters, k_lock_acquire);
}

/* [-1, +0, y] Checkpoint. lk:acquire(): wait until the lock is free, in
** FIFO order. */
static int l_lock_acquire(lua_State *L) {
  return lock_acquire(L, loom_ctxup(L), check_lock(L, 1));
}

/* [-0, +0, v] Release the lock at index 1 (already checked). */
static int lock_release(lua_State *L, loom_ctx *ctx, sync_lock *lk) {
  lock_check_owner(L, ctx, lk, "release");
  lock_handoff(ctx, lk);
  return 0;
}

/* [-1, +0, v] lk:release(): hand the lock to the next waiter; raises
** unless the current task holds it. */
static int l_lock_release(lua_State *L) {
  return lock_release(L, loom_ctxup(L), check_lock(L, 1));
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
  if (t != NULL && lk->owner == t->id) lock_handoff(ctx, lk);
  else if (!with_failed(status))   /* an error in fn takes precedence */
    lock_check_owner(L, ctx, lk, "with");
  if (with_failed(status)) return loom__sync_rethrow(L, ctx);
  return lua_gettop(L) - 2;
}

/* [-0, +r, e] Continuation of a parked with(): the lock was handed over;
** go on with the call of fn. */
static int k_lock_with(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  (void)status;
  lock_woken(L, ctx, (loom_task *)kc, (sync_lock *)lua_touserdata(L, 1));
  return with_call(L, ctx, k_lock_with_done);
}

/* [-0, +r, y] with() on the lock at index 1 (already checked). */
static int lock_with(lua_State *L, loom_ctx *ctx, sync_lock *lk) {
  loom_task *t;
  loom__check_callable(L, 2);
  t = loom__checkpoint_enter(L, ctx);
  if (!lock_try(L, t, lk)) return with_call(L, ctx, k_lock_with_done);
  return loom__lot_park(L, t, &lk->waiters, k_lock_with);
}

/* [-(2+n), +r, y] Checkpoint. lk:with(fn, ...): acquire, call fn(...),
** release (also when fn raises or is cancelled); returns fn's results. */
static int l_lock_with(lua_State *L) {
  return lock_with(L, loom_ctxup(L), check_lock(L, 1));
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
  {"with", l_lock_with},
  {NULL, NULL}
};

static const luaL_Reg lock_meta[] = {
  {"__tostring", l_lock_tostring},
  {NULL, NULL}
};

/* {====================================================================
** Semaphore
** ===================================================================== */

typedef struct sync_sem {
  loom_lot waiters;
  lua_Integer value;  /* free permits; 0 while anyone waits */
  lua_Integer max;    /* release above it raises; LUA_MAXINTEGER: none */
} sync_sem;

#define check_sem(L, i) \
  ((sync_sem *)loom__sync_check(L, i, LOOM_SEMAPHORE_MT))

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

/* [-0, +0, e] Like lock_woken: raise Cancelled if the wait was aborted;
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
  lua_Integer n = luaL_checkinteger(L, 1);
  lua_Integer max = luaL_optinteger(L, 2, LUA_MAXINTEGER);
  sync_sem *s;
  luaL_argcheck(L, n >= 0, 1, "the initial value must be >= 0");
  luaL_argcheck(L, max >= n, 2, "max must be >= the initial value");
  s = (sync_sem *)sync_new(L, sizeof(sync_sem), 0);
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
  if (with_failed(status)) return loom__sync_rethrow(L, ctx);
  return lua_gettop(L) - 2;
}

/* [-0, +r, e] Continuation of a parked sem:with(): call fn. */
static int k_sem_with(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  (void)status;
  sem_woken(L, ctx, (loom_task *)kc, (sync_sem *)lua_touserdata(L, 1));
  return with_call(L, ctx, k_sem_with_done);
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
    return with_call(L, ctx, k_sem_with_done);
  }
  return loom__lot_park(L, t, &s->waiters, k_sem_with);
}

/* [-2, +1, -] __index: the methods, then the fields 'value' and 'max'. */
static int l_sem_index(lua_State *L) {
  sync_sem *s = (sync_sem *)lua_touserdata(L, 1);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
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

/* {====================================================================
** Condition
** ===================================================================== */

typedef struct sync_cond {
  loom_lot waiters;
  sync_lock *lock;    /* the Lock userdata is user value 1 */
} sync_cond;

#define check_cond(L, i) \
  ((sync_cond *)loom__sync_check(L, i, LOOM_CONDITION_MT))

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
    lk = (sync_lock *)luaL_checkudata(L, 1, LOOM_LOCK_MT);
    lua_settop(L, 1);
  }
  c = (sync_cond *)sync_new(L, sizeof(sync_cond), 1);
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
  return lock_acquire(L, ctx, cond_lock_arg(L));
}

/* [-1, +0, v] c:release(): release c.lock. */
static int l_cond_release(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  return lock_release(L, ctx, cond_lock_arg(L));
}

/* [-(2+n), +r, y] Checkpoint. c:with(fn, ...): c.lock:with(fn, ...). */
static int l_cond_with(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  return lock_with(L, ctx, cond_lock_arg(L));
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
  lock_check_owner(L, ctx, c->lock, "wait");
  loom__check_cancel(L, ctx, t);  /* raises with the lock still held */
  lua_settop(L, 1);
  lua_pushboolean(L, 0);          /* [c aborted] */
  lock_handoff(ctx, c->lock);
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
  lua_Integer n = luaL_optinteger(L, 2, 1);
  luaL_argcheck(L, n >= 0, 2, "must be >= 0");
  lock_check_owner(L, ctx, c->lock, "notify");
  cond_notify(c, n);
  return 0;
}

/* [-1, +0, v] c:notify_all(): wake every waiter. */
static int l_cond_notify_all(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sync_cond *c = check_cond(L, 1);
  lock_check_owner(L, ctx, c->lock, "notify_all");
  cond_notify(c, LUA_MAXINTEGER);
  return 0;
}

/* [-2, +1, -] __index: the methods, then the field 'lock'. */
static int l_cond_index(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
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

/* {====================================================================
** Opener
** ===================================================================== */

/* [-0, +0, m] Make class 'name' and set its constructor 'ctor' as field
** 'field' of the core table on top of the stack. */
static void sync_register(lua_State *L, loom_ctx *ctx, const char *name,
                          const luaL_Reg *methods, const luaL_Reg *meta,
                          lua_CFunction index, const char *field,
                          lua_CFunction ctor) {
  loom__sync_class(L, ctx, name, methods, meta, index);
  loom__sync_pushfunc(L, ctx, -1, ctor);
  lua_setfield(L, -3, field);
  lua_pop(L, 1);
}

/* [-0, +0, m] Register the sync classes and their constructors
** (core.event, core.lock, core.semaphore, core.condition, core.channel) in
** the core table on top. */
void loom__sync_open(lua_State *L, loom_ctx *ctx) {
  sync_register(L, ctx, LOOM_EVENT_MT, event_methods, event_meta, NULL,
                "event", l_event_new);
  sync_register(L, ctx, LOOM_LOCK_MT, lock_methods, lock_meta, NULL,
                "lock", l_lock_new);
  sync_register(L, ctx, LOOM_SEMAPHORE_MT, sem_methods, sem_meta,
                l_sem_index, "semaphore", l_sem_new);
  sync_register(L, ctx, LOOM_CONDITION_MT, cond_methods, cond_meta,
                l_cond_index, "condition", l_cond_new);
  loom__channel_open(L, ctx);
}

