/*
** sync.c: what the synchronisation objects share: the class helpers
** (metatables whose methods carry the context and the class), the
** with(fn, ...) call protocol, and the opener that registers every object
** (event.c, lock.c, semaphore.c, condition.c, channel.c).
**
** Every object is a small C record in a userdata with one parking lot of
** waiters (parking.c); every waiting task keeps the object on its stack,
** so an object with waiters is never collected; objects own no memory
** besides their userdata and need no __gc.
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
void *loom__sync_new(lua_State *L, size_t size, int nuv) {
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
int loom__sync_with_call(lua_State *L, loom_ctx *ctx, lua_KFunction k) {
  int n = lua_gettop(L) - 2;
  loom__pushref(L, ctx, ctx->r_msgh);
  lua_insert(L, 2);                       /* [obj msgh fn args...] */
  return k(L, lua_pcallk(L, n, LUA_MULTRET, 2, 0, k), 0);
}

/* Did the protected call of loom__sync_with_call fail? */
#define LOOM_WITH_FAILED(status) ((status) != LUA_OK && (status) != LUA_YIELD)

/* {====================================================================
** Registration
** ===================================================================== */

/* [-0, +0, m] Make class 'name' and set its constructor 'ctor' as field
** 'field' of the core table on top of the stack. */
void loom__sync_register(lua_State *L, loom_ctx *ctx, const char *name,
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
  loom__event_open(L, ctx);
  loom__lock_open(L, ctx);
  loom__semaphore_open(L, ctx);
  loom__condition_open(L, ctx);
  loom__channel_open(L, ctx);
}
