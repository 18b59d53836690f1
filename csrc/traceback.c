/*
** traceback.c: where each error raised in a task came from. The message
** handler of every loom xpcall (the task trampoline, scopes, groups, with)
** takes the traceback at the raise point, with the task's name, and keeps
** it in the context's stash (a table keyed by the task) with the error
** value and its raise-order number (ErrorGroup keeps errors in raise
** order). When loom itself re-raises an error (a scope or group passing
** it on, start() taking over a child's error), the stash keeps the
** original traceback instead of recording the re-raise point.
*/
#include "internal.h"

/* {====================================================================
** The error stash: traceback of the last error raised in each task
** ===================================================================== */

/* [-0, +1, m] Push stash[t] (or nil). */
static int stash_get(lua_State *L, loom_ctx *ctx, loom_task *t) {
  if (!(t->flags & TF_STASH)) {
    lua_pushnil(L);
    return LUA_TNIL;
  }
  loom__pushref(L, ctx, ctx->r_stash);
  lua_rawgetp(L, -1, t);
  lua_remove(L, -2);
  return lua_type(L, -1);
}

/* [-2, +0, m] stash[t] = {err, tb, rethrow, seq}: err and tb are on top;
** seq numbers errors in the order they were raised. */
static void stash_set(lua_State *L, loom_ctx *ctx, loom_task *t,
                      int rethrow) {
  lua_createtable(L, 4, 0);
  lua_insert(L, -3);
  lua_rawseti(L, -3, 2);
  lua_rawseti(L, -2, 1);
  lua_pushboolean(L, rethrow);
  lua_rawseti(L, -2, 3);
  lua_pushinteger(L, (lua_Integer)++ctx->err_seq);
  lua_rawseti(L, -2, 4);
  loom__pushref(L, ctx, ctx->r_stash);
  lua_insert(L, -2);
  lua_rawsetp(L, -2, t);
  lua_pop(L, 1);
  t->flags |= TF_STASH;
}

/* [-0, +0, m] Forget the stashed error of 't' (it has finished). */
void loom__stash_clear(lua_State *L, loom_ctx *ctx, loom_task *t) {
  if (!(t->flags & TF_STASH)) return;
  loom__pushref(L, ctx, ctx->r_stash);
  lua_pushnil(L);
  lua_rawsetp(L, -2, t);
  lua_pop(L, 1);
  t->flags &= (unsigned char)~TF_STASH;
}

/* [-0, +0, m] Mark the error at 'errindex' as re-raised by loom in 't', so
** that the message handler keeps its original traceback. With 'tbindex',
** record that traceback for it (an error taken over from another task). */
void loom__stash_rethrow(lua_State *L, loom_ctx *ctx, loom_task *t,
                         int errindex, int tbindex) {
  errindex = lua_absindex(L, errindex);
  if (tbindex != 0) {
    tbindex = lua_absindex(L, tbindex);
    lua_pushvalue(L, errindex);
    lua_pushvalue(L, tbindex);
    stash_set(L, ctx, t, 1);
    return;
  }
  if (stash_get(L, ctx, t) == LUA_TTABLE) {
    lua_rawgeti(L, -1, 1);
    if (lua_rawequal(L, -1, errindex)) {
      lua_pushboolean(L, 1);
      lua_rawseti(L, -3, 3);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* [-0, +1, m] Push the traceback recorded for the error at 'errindex' in
** 't', or a placeholder. Returns the error's raise-order number. */
lua_Integer loom__stash_take(lua_State *L, loom_ctx *ctx, loom_task *t,
                             int errindex) {
  errindex = lua_absindex(L, errindex);
  if (stash_get(L, ctx, t) == LUA_TTABLE) {
    lua_rawgeti(L, -1, 1);
    if (lua_rawequal(L, -1, errindex)) {
      lua_Integer seq;
      lua_rawgeti(L, -2, 4);
      seq = lua_tointeger(L, -1);
      lua_rawgeti(L, -3, 2);
      lua_replace(L, -4);
      lua_pop(L, 2);
      return seq;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushliteral(L, "in task '");
  loom__push_name(L, ctx, t);
  lua_pushliteral(L, "':\n(no traceback)");
  lua_concat(L, 3);
  return (lua_Integer)++ctx->err_seq;
}

/* [-1, +1, m] The message handler of every loom xpcall: record where a new
** error was raised (traceback with the task's name), pass it on as it
** is. Cancelled values and loom's own re-raises are passed on untouched. */
static int l_msgh(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = ctx->current;
  if (t == NULL || t->co != L || loom__is_cancelled(L, ctx, 1)) return 1;
  lua_settop(L, 1);
  if (stash_get(L, ctx, t) == LUA_TTABLE) {    /* [err rec] */
    int type = lua_type(L, 1);
    lua_rawgeti(L, 2, 1);
    lua_rawgeti(L, 2, 3);
    if (lua_rawequal(L, -2, 1) &&
        (lua_toboolean(L, -1) || type == LUA_TTABLE ||
         type == LUA_TUSERDATA || type == LUA_TTHREAD ||
         type == LUA_TFUNCTION)) {
      lua_pushboolean(L, 0);
      lua_rawseti(L, 2, 3);
      lua_settop(L, 1);
      return 1;
    }
  }
  lua_settop(L, 1);
  lua_pushvalue(L, 1);                         /* [err err] */
  lua_pushliteral(L, "in task '");
  loom__push_name(L, ctx, t);
  lua_pushliteral(L, "':\n");
  luaL_traceback(L, L, NULL, 1);
  lua_concat(L, 4);                            /* [err err tb] */
  stash_set(L, ctx, t, 0);
  return 1;
}

/* [-0, +0, m] Register the message handler (core.msgh, ctx->r_msgh). */
void loom__traceback_open(lua_State *L, loom_ctx *ctx) {
  lua_pushlightuserdata(L, ctx);
  lua_pushcclosure(L, l_msgh, 1);
  lua_pushvalue(L, -1);
  ctx->r_msgh = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_setfield(L, -2, "msgh");
}
