/*
** sync.h: the private header of the synchronisation layer (csrc/sync/):
** what its files share. sync.c holds the with(fn, ...) protocol and the
** hand-off test; event.c, lock.c, semaphore.c, condition.c and channel.c
** one object each (condition.c builds on lock.c). Every object is a
** userdata of a "loom.Xxx" class (core.h, loom_class), so a method checks
** its receiver with one metatable comparison (loom__checkself).
**
** Every object is built on the parking lot (parking.c): a waiter is parked
** with loom__lot_abort as its abort function, so a cancelled waiter leaves
** the queue and never receives a hand-off. What a wake-up hands over (the
** ownership of a lock, a permit, a channel value) is recorded in the object
** before the waiter is woken (DESIGN.md B10), and a TW_OK wake-up can no longer
** be aborted: the woken task always runs its continuation.
*/
#ifndef loom_sync_h
#define loom_sync_h

#include "../core/core.h"

/* Metatable names (they appear in luaL_typeerror messages). */
#define LOOM_EVENT_MT "loom.Event"
#define LOOM_LOCK_MT "loom.Lock"
#define LOOM_SEMAPHORE_MT "loom.Semaphore"
#define LOOM_CONDITION_MT "loom.Condition"
#define LOOM_CHANNEL_MT "loom.Channel"

/* [-0, +0, -] Has a cancellation reached 't' (a deadline that passed
** counts)? For continuations that must give back what a wake-up handed
** over before raising. */
int loom__sync_cancelled(loom_ctx *ctx, loom_task *t);

/* [-1, +0, v] Re-raise the error on top in the running task, keeping the
** traceback recorded where it was first raised. */
int loom__sync_rethrow(lua_State *L, loom_ctx *ctx);

/* [-0, +r, e] with(fn, ...) protocol: the stack is [obj fn args...] and
** the object is held; call fn(args...) under the task's message handler;
** 'k' releases the object and returns fn's results or re-raises. */
int loom__sync_with_call(lua_State *L, loom_ctx *ctx, lua_KFunction k);

/* Did the protected call of loom__sync_with_call fail? */
#define LOOM_WITH_FAILED(status) ((status) != LUA_OK && (status) != LUA_YIELD)

/* {====================================================================
** Locks (lock.c), also used by conditions (condition.c)
** ===================================================================== */

typedef struct sync_lock {
  loom_lot waiters;
  unsigned owner;     /* id of the holding task; 0 when free */
} sync_lock;

#define check_lock(L, i) ((sync_lock *)loom__checkself(L, (i)))

/* [-0, +0, -] Release 'lk': hand it to the first waiter, or free it. */
void loom__lock_handoff(loom_ctx *ctx, sync_lock *lk);
/* [-0, +0, e] A waiter of 'lk' resumed: raise Cancelled if its wait was
** aborted; if it was handed the lock but cancelled since, pass it on and
** raise Cancelled. */
void loom__lock_woken(lua_State *L, loom_ctx *ctx, loom_task *t,
                      sync_lock *lk);
/* [-0, +0, v] Raise unless the running task holds 'lk'. */
void loom__lock_check_owner(lua_State *L, loom_ctx *ctx, sync_lock *lk,
                            const char *what);
/* [-0, +0, y] Checkpoint: acquire 'lk' for the running task. */
int loom__lock_acquire(lua_State *L, loom_ctx *ctx, sync_lock *lk);
/* [-0, +0, v] Release 'lk' (the running task must hold it). */
int loom__lock_release(lua_State *L, loom_ctx *ctx, sync_lock *lk);
/* [-0, +r, y] lk:with(fn, ...) on the stack [lk fn args...]. */
int loom__lock_with(lua_State *L, loom_ctx *ctx, sync_lock *lk);

/* {====================================================================
** Openers
** ===================================================================== */
void loom__event_open(lua_State *L, loom_ctx *ctx);
void loom__lock_open(lua_State *L, loom_ctx *ctx);
void loom__semaphore_open(lua_State *L, loom_ctx *ctx);
void loom__condition_open(lua_State *L, loom_ctx *ctx);
void loom__channel_open(lua_State *L, loom_ctx *ctx);

#endif
