/*
** sync.c: what the synchronisation objects share: the with(fn, ...) call
** protocol and the test a continuation makes before keeping what a
** wake-up handed over.
**
** Every object is a small C record in a userdata with one parking lot of
** waiters (parking.c); every waiting task keeps the object on its stack,
** so an object with waiters is never collected; objects own no memory
** besides their userdata and need no __gc.
*/
#include "sync.h"

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
int loom__sync_with_call(lua_State *L, loom_ctx *ctx, lua_KFunction k) {
  int n = lua_gettop(L) - 2;
  loom__pushref(L, ctx, ctx->r_msgh);
  lua_insert(L, 2);                       /* [obj msgh fn args...] */
  return k(L, lua_pcallk(L, n, LUA_MULTRET, 2, 0, k), 0);
}

