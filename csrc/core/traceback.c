/*
** traceback.c: where each error raised in a task came from. The message
** handler of every loom xpcall (the task trampoline, scopes, groups, with)
** takes the traceback at the raise point and keeps it in the context's
** stash (a table keyed by the task) with the error value and its
** raise-order number (ErrorGroup keeps errors in raise order). When loom
** itself re-raises an error (a scope or group passing it on, start()
** taking over a child's error), the stash keeps the original traceback
** instead of recording the re-raise point. The stash knows nothing of
** names: the task layer heads a traceback with its task's name when it
** takes it (task.c, loom__push_traceback); a traceback taken over from
** another task is already headed ("named").
*/
#include "core.h"

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

/* [-2, +0, m] stash[t] = {err, tb, rethrow, seq, named}: err and tb are
** on top; seq numbers errors in the order they were raised; named: tb is
** already headed with its task's name. */
static void stash_set(lua_State *L, loom_ctx *ctx, loom_task *t,
                      int rethrow, int named) {
  lua_createtable(L, 5, 0);
  lua_insert(L, -3);
  lua_rawseti(L, -3, 2);
  lua_rawseti(L, -2, 1);
  lua_pushboolean(L, rethrow);
  lua_rawseti(L, -2, 3);
  lua_pushinteger(L, (lua_Integer)++ctx->err_seq);
  lua_rawseti(L, -2, 4);
  lua_pushboolean(L, named);
  lua_rawseti(L, -2, 5);
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
    stash_set(L, ctx, t, 1, 1);
    return;
  }
  if (stash_get(L, ctx, t) == LUA_TTABLE) {
    lua_rawgeti(L, -1, 1);
    if (loom__same_error(L, -1, errindex)) {
      lua_pushboolean(L, 1);
      lua_rawseti(L, -3, 3);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* [-0, +1, m] Push the traceback recorded for the error at 'errindex' in
** 't', or nil if there is none; '*named' tells whether it is headed with
** its task's name. Returns the error's raise-order number. */
lua_Integer loom__stash_take(lua_State *L, loom_ctx *ctx, loom_task *t,
                             int errindex, int *named) {
  errindex = lua_absindex(L, errindex);
  *named = 0;
  if (stash_get(L, ctx, t) == LUA_TTABLE) {
    lua_rawgeti(L, -1, 1);
    if (loom__same_error(L, -1, errindex)) {
      lua_Integer seq;
      lua_rawgeti(L, -2, 5);
      *named = lua_toboolean(L, -1);
      lua_rawgeti(L, -3, 4);
      seq = lua_tointeger(L, -1);
      lua_rawgeti(L, -4, 2);                   /* [rec err named seq tb] */
      lua_replace(L, -5);
      lua_pop(L, 3);
      return seq;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushnil(L);
  return (lua_Integer)++ctx->err_seq;
}

/* {====================================================================
** Tracebacks without loom's own frames
** =====================================================================
** As luaL_traceback, but leaving out the frames of loom's machinery, as
** Trio hides its own: the Lua functions of loom's modules (with_group,
** the I/O wrappers), the C functions they call (xpcall), loom's C
** functions (those whose first upvalue is the context: the task body at
** the bottom of every task, core.*) and the tail-call marks of those
** frames. What is left is the user's code, from the raise point down to
** the task's function. loom.configure{ internal_frames = true } keeps
** everything (for work on loom itself). */

#define TB_FIRST 10     /* frames shown before a long stack's gap */
#define TB_LAST 11      /* and after it, as luaL_traceback */

/* [-0, +0, -] Is the function on top of L one of loom's C functions? */
static int loom_cfunction(lua_State *L, loom_ctx *ctx) {
  int mine = 0;
  if (lua_iscfunction(L, -1) && lua_getupvalue(L, -1, 1) != NULL) {
    mine = lua_touserdata(L, -1) == (void *)ctx;
    lua_pop(L, 1);
  }
  return mine;
}

/* [-0, +0, -] Is frame 'level' of L1 (its "Slnt" information in '*ar')
** part of loom's machinery? */
static int hidden_frame(lua_State *L, loom_ctx *ctx, lua_State *L1,
                        int level, lua_Debug *ar) {
  lua_Debug up;
  int hidden;
  if (ctx->full_tracebacks) return 0;
  if (*ar->what != 'C') return loom__loom_frame(L, ar);
  lua_getinfo(L, "f", ar);                  /* the function, on L */
  hidden = loom_cfunction(L, ctx);
  lua_pop(L, 1);
  if (!hidden && lua_getstack(L1, level + 1, &up)) {
    lua_getinfo(L1, "S", &up);                  /* called by loom's Lua? */
    hidden = loom__loom_frame(L, &up);
  }
  return hidden;
}

/* [-0, +0, m] Add "file:line: in function 'name'" for frame 'ar' to 'b'
** (the words of luaL_traceback). */
static void add_frame(luaL_Buffer *b, lua_Debug *ar) {
  lua_State *L = b->L;
  if (ar->currentline <= 0)
    lua_pushfstring(L, "\n\t%s: in ", ar->short_src);
  else
    lua_pushfstring(L, "\n\t%s:%d: in ", ar->short_src, ar->currentline);
  luaL_addvalue(b);
  if (loom__push_global_name(L, ar)) {   /* args.c */
    lua_pushfstring(L, "function '%s'", lua_tostring(L, -1));
    lua_remove(L, -2);
  } else if (*ar->namewhat != '\0') {
    lua_pushfstring(L, "%s '%s'", ar->namewhat, ar->name);
  } else if (*ar->what == 'm') {
    lua_pushliteral(L, "main chunk");
  } else if (*ar->what != 'C') {
    lua_pushfstring(L, "function <%s:%d>", ar->short_src, ar->linedefined);
  } else {
    lua_pushliteral(L, "?");
  }
  luaL_addvalue(b);
  if (ar->istailcall) luaL_addstring(b, "\n\t(...tail calls...)");
}

/* [-0, +1, m] Push the traceback of L1 from 'level' on, without loom's
** own frames: "stack traceback:\n\t...". */
void loom__traceback(lua_State *L, loom_ctx *ctx, lua_State *L1, int level) {
  luaL_Buffer b;
  lua_Debug ar;
  int lv, n = 0, i = 0;
  luaL_checkstack(L, 8, NULL);
  for (lv = level; lua_getstack(L1, lv, &ar); lv++) {     /* count them */
    lua_getinfo(L1, "S", &ar);
    if (!hidden_frame(L, ctx, L1, lv, &ar)) n++;
  }
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "stack traceback:");
  for (lv = level; lua_getstack(L1, lv, &ar); lv++) {
    lua_getinfo(L1, "Slnt", &ar);
    if (hidden_frame(L, ctx, L1, lv, &ar)) continue;
    if (n > TB_FIRST + TB_LAST && i == TB_FIRST) {
      lua_pushfstring(L, "\n\t...\t(skipping %d levels)",
                      n - TB_FIRST - TB_LAST);
      luaL_addvalue(&b);
    }
    if (n <= TB_FIRST + TB_LAST || i < TB_FIRST || i >= n - TB_LAST)
      add_frame(&b, &ar);
    i++;
  }
  luaL_pushresult(&b);
}

/* }==================================================================== */

/* [-1, +1, m] The message handler of every loom xpcall: record where a new
** error was raised, pass it on as it is. Loom's own re-raises are passed
** on untouched, and so are the Cancelled values delivered in a cancelled
** scope; a Cancelled raised where no scope is cancelled (caught with pcall
** and raised again after its scope was left: it will become an error of
** the task) gets its traceback like any error. */
static int l_msgh(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = ctx->current;
  if (t == NULL || t->co != L) return 1;
  if (loom__is_cancelled(L, ctx, 1) && (t->scope->flags & SF_EFFECTIVE))
    return 1;
  lua_settop(L, 1);
  if (stash_get(L, ctx, t) == LUA_TTABLE) {    /* [err rec] */
    int type = lua_type(L, 1);
    lua_rawgeti(L, 2, 1);
    lua_rawgeti(L, 2, 3);
    if (loom__same_error(L, -2, 1) &&
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
  loom__traceback(L, ctx, L, 1);               /* [err err tb] */
  stash_set(L, ctx, t, 0, 0);
  return 1;
}

/* [-0, +0, m] Make the stash; register the message handler (core.msgh,
** ctx->r_msgh). */
void loom__traceback_open(lua_State *L, loom_ctx *ctx) {
  lua_newtable(L);
  ctx->r_stash = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushlightuserdata(L, ctx);
  lua_pushcclosure(L, l_msgh, 1);
  lua_pushvalue(L, -1);
  ctx->r_msgh = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_setfield(L, -2, "msgh");
}
