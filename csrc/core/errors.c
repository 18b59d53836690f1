/*
** errors.c: loom's native error values (DESIGN.md E3 to E6), and errors
** that nobody owns.
**
**  - Cancelled: one preallocated value per cancel reason, with a protected
**    metatable, so user code cannot build one (only loom creates
**    Cancelled values) and delivering a cancellation allocates nothing.
**    It is raised at every checkpoint while its scope stays cancelled and
**    never enters an ErrorGroup.
**  - TimeoutError: made fresh at the boundary of a timeout whose deadline
**    cancelled it.
**  - TaskCancelled: what join()/result() raise for a cancelled task.
**  - Interrupted: what loom.run raises after Ctrl-C.
**  - ErrorGroup: built when a group with errors exits; 'errors' and
**    'tracebacks' are the group's own arrays, in the order recorded.
**
** Each class is a table with 'name' and 'is'; Class:is(e) compares the
** metatable of any value with the class's (no error for non-tables). The
** Lua layer adds ErrorGroup's methods and __tostring, and makes IOError
** with core.new_class.
**
** An error with no owner (the root task of loom.start failed, a group was
** abandoned with errors, a callback failed) goes to the handler set with
** loom.on_unhandled; the default writes the error and its traceback to
** stderr and the program goes on (DESIGN.md E6).
*/
#include <stdio.h>

#include "core.h"

static const char *const reason_keys[CR_COUNT] = {
  "none", "explicit", "deadline", "group", "failed", "task", "interrupt",
  "shutdown", "deadlock", "abandoned"
};

static const char *const reason_texts[CR_COUNT] = {
  "cancelled",
  "the scope was cancelled",
  "deadline exceeded",
  "the group was cancelled",
  "a task of the group failed",
  "the task was cancelled",
  "interrupted (SIGINT)",
  "loom.shutdown() was called",
  "deadlock: every task was blocked forever",
  "the host task of the group died"
};

/* [-0, +0, -] Are the values at 'a' and 'b' the same error value: raw
** equality, or both NaN (an error(0/0) must find its own traceback,
** though NaN never equals itself). */
int loom__same_error(lua_State *L, int a, int b) {
  if (lua_rawequal(L, a, b)) return 1;
  if (lua_type(L, a) == LUA_TNUMBER && lua_type(L, b) == LUA_TNUMBER) {
    lua_Number x = lua_tonumber(L, a), y = lua_tonumber(L, b);
    return x != x && y != y;
  }
  return 0;
}

/* [-0, +0, -] Is the value at 'idx' a Cancelled? */
int loom__is_cancelled(lua_State *L, loom_ctx *ctx, int idx) {
  int r;
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  r = lua_topointer(L, -1) == ctx->cancelled_mt;
  lua_pop(L, 1);
  return r;
}

/* [-0, +1, v] Raise the Cancelled value of 'reason'. */
int loom__raise_cancelled(lua_State *L, loom_ctx *ctx, int reason) {
  if (reason <= CR_NONE || reason >= CR_COUNT) reason = CR_EXPLICIT;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_cancelled[reason]);
  return lua_error(L);
}

/* [-0, +1, m] Push a new TimeoutError for the deadline of 's'. */
void loom__push_timeout_error(lua_State *L, loom_ctx *ctx, loom_scope *s) {
  lua_createtable(L, 0, 2);
  lua_pushliteral(L, "deadline exceeded");
  lua_setfield(L, -2, "message");
  lua_pushnumber(L, s->timer.when);
  lua_setfield(L, -2, "deadline");
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_timeout_mt);
  lua_setmetatable(L, -2);
}

/* [-0, +1, m] Push a new TaskCancelled for the Task at 'tidx', whose name
** is 'name'. */
void loom__push_task_cancelled(lua_State *L, loom_ctx *ctx, int tidx,
                               const char *name) {
  tidx = lua_absindex(L, tidx);
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, tidx);
  lua_setfield(L, -2, "task");
  lua_pushfstring(L, "task '%s' was cancelled", name);
  lua_setfield(L, -2, "message");
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_taskcancelled_mt);
  lua_setmetatable(L, -2);
}

/* [-0, +1, m] Push a new ErrorGroup for the group at 'gidx'. */
void loom__push_error_group(lua_State *L, loom_ctx *ctx, int gidx) {
  loom_group *g = (loom_group *)lua_touserdata(L, gidx);
  int k;
  static const char *const fields[] = {"errors", "tracebacks", "name"};
  gidx = lua_absindex(L, gidx);
  lua_createtable(L, 0, 4);
  for (k = 1; k <= 3; k++) {
    if (lua_getiuservalue(L, gidx, k) == LUA_TNONE || lua_isnil(L, -1)) {
      lua_pop(L, 1);
      if (k < 3) lua_newtable(L);
      else continue;
    }
    lua_setfield(L, -2, fields[k - 1]);
  }
  lua_pushinteger(L, g->nerrors);
  lua_setfield(L, -2, "n");
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_errorgroup_mt);
  lua_setmetatable(L, -2);
}

/* [-0, +1, m] Push a new Interrupted error (Ctrl-C during loom.run). */
void loom__push_interrupted(lua_State *L, loom_ctx *ctx) {
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "interrupted (SIGINT)");
  lua_setfield(L, -2, "message");
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_interrupted_mt);
  lua_setmetatable(L, -2);
}

/* {====================================================================
** Errors nobody owns
** ===================================================================== */

static int tostring_any(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* The default handler: the error and its traceback to stderr. */
static int default_unhandled(lua_State *L) {
  loom_task *t = (loom_task *)luaL_testudata(L, 2, LOOM_TASK_MT);
  const char *msg;
  lua_pushcfunction(L, tostring_any);
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    lua_pushfstring(L, "(error object is a %s value; its __tostring failed)",
                    luaL_typename(L, 1));
  }
  msg = lua_tostring(L, -1);
  fprintf(stderr, "loom: unhandled error: %s\n", msg);
  if (t != NULL && t->state == TS_DONE && t->status == TO_ERROR &&
      t->nres >= 2 && t->co != NULL) {   /* reported before it settles */
    lua_pushvalue(t->co, 1);                    /* the task's error */
    lua_pushvalue(t->co, 2);                    /* and its traceback */
    lua_xmove(t->co, L, 2);
    if (loom__same_error(L, 1, -2) && lua_type(L, -1) == LUA_TSTRING)
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
  }
  fflush(stderr);
  return 0;
}

/* [-0, +0, -] Report a misuse loom notices but cannot raise (a callback
** called twice, a future settled twice), 'msg' starting with "loom: ":
** to loom.on_unhandled's handler when one is set (the message as the
** error, no task), else on stderr. Not as a Lua warning: warnings are off
** by default under lua5.4, which would hide it. */
void loom__warning(lua_State *L, loom_ctx *ctx, const char *msg) {
  if (ctx != NULL && !ctx->closing && ctx->r_unhandled != LUA_NOREF &&
      lua_checkstack(L, 3)) {
    lua_pushstring(L, msg);
    lua_pushnil(L);
    loom__report_unhandled(L, ctx, -2, -1);
    lua_pop(L, 2);
    return;
  }
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

/* [-0, +0, -] Hand an error nobody owns (at 'errindex'; the task or nil at
** 'taskindex') to loom.on_unhandled's handler, protected; if the handler
** fails, report that to stderr (DESIGN.md E6). */
void loom__report_unhandled(lua_State *L, loom_ctx *ctx, int errindex,
                            int taskindex) {
  errindex = lua_absindex(L, errindex);
  taskindex = lua_absindex(L, taskindex);
  if (!lua_checkstack(L, 4)) return;
  if (ctx->r_unhandled != LUA_NOREF)
    lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_unhandled);
  else
    lua_pushcfunction(L, default_unhandled);
  lua_pushvalue(L, errindex);
  lua_pushvalue(L, taskindex);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    const char *m = lua_tostring(L, -1);
    fprintf(stderr, "loom: the on_unhandled handler failed: %s\n",
            m != NULL ? m : "(error object is not a string)");
    fflush(stderr);
    lua_pop(L, 1);
  }
}

/* [-1, +1, m] loom.on_unhandled(fn): set the handler (nil restores the
** default); returns the previous one. */
static int l_on_unhandled(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  if (!lua_isnoneornil(L, 1)) loom__checktype(L, 1, LUA_TFUNCTION);
  if (ctx->r_unhandled != LUA_NOREF)
    lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_unhandled);
  else
    lua_pushnil(L);
  luaL_unref(L, LUA_REGISTRYINDEX, ctx->r_unhandled);
  ctx->r_unhandled = LUA_NOREF;
  if (!lua_isnoneornil(L, 1)) {
    lua_pushvalue(L, 1);
    ctx->r_unhandled = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return 1;
}

/* {====================================================================
** Classes
** ===================================================================== */

/* Class:is(e) -> boolean; upvalue 1 is the class's metatable. */
static int l_class_is(lua_State *L) {
  int r = 0;
  if (lua_getmetatable(L, 2)) {
    r = lua_rawequal(L, -1, lua_upvalueindex(1));
    lua_pop(L, 1);
  }
  lua_pushboolean(L, r);
  return 1;
}

static int l_class_tostring(lua_State *L) {
  lua_getfield(L, 1, "name");
  return 1;
}

/* [-0, +1, m] Push a class table for the metatable at 'mtidx'. */
static void push_class(lua_State *L, int mtidx, const char *name) {
  mtidx = lua_absindex(L, mtidx);
  lua_createtable(L, 0, 2);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  lua_pushvalue(L, mtidx);
  lua_pushcclosure(L, l_class_is, 1);
  lua_setfield(L, -2, "is");
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, l_class_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setmetatable(L, -2);
}

/* __index of Cancelled values: their fields live in upvalue 1, a table
** value -> fields, so that the shared values cannot be changed. */
static int l_cancelled_index(lua_State *L) {
  lua_pushvalue(L, 1);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TTABLE) return 0;
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

static int l_cancelled_newindex(lua_State *L) {
  return luaL_error(L, "loom.Cancelled values are read-only");
}

/* __tostring of error values: "<class name>: <message>". */
static int l_error_tostring(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  if (lua_getfield(L, 1, "message") == LUA_TSTRING) {
    lua_pushliteral(L, ": ");
    lua_insert(L, -2);
    lua_concat(L, 3);
  } else {
    lua_pop(L, 1);
  }
  return 1;
}

/* [-0, +1, m] A new error metatable with that __tostring. */
static void new_error_mt(lua_State *L, const char *name) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, name);
  lua_pushcclosure(L, l_error_tostring, 1);
  lua_setfield(L, -2, "__tostring");
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
}

/* core.new_class(name) -> class, metatable (for Lua-made error classes). */
static int l_new_class(lua_State *L) {
  const char *name = loom__checkstring(L, 1);
  new_error_mt(L, name);
  push_class(L, -1, name);
  lua_insert(L, -2);
  return 2;
}

/* core.is_cancelled(e) */
static int l_is_cancelled(lua_State *L) {
  lua_pushboolean(L, loom__is_cancelled(L, loom_ctxup(L), 1));
  return 1;
}

/* The error classes besides Cancelled, and where the context keeps a
** reference to their metatables. */
static const struct {
  const char *name;
  size_t ref;          /* offset of the loom_ctx field */
} error_classes[] = {
  {"loom.TimeoutError", offsetof(loom_ctx, r_timeout_mt)},
  {"loom.TaskCancelled", offsetof(loom_ctx, r_taskcancelled_mt)},
  {"loom.ErrorGroup", offsetof(loom_ctx, r_errorgroup_mt)},
  {"loom.Interrupted", offsetof(loom_ctx, r_interrupted_mt)},
  {NULL, 0}
};

/* [-0, +0, m] Build the classes, metatables and Cancelled values; set
** core.classes, core.metatables, core.is_cancelled, core.new_class and
** core.on_unhandled in the core table on top. */
void loom__errors_open(lua_State *L, loom_ctx *ctx) {
  int i;
  lua_newtable(L);                                 /* classes */
  lua_newtable(L);                                 /* metatables */
  /* Cancelled: protected metatable, never exported. */
  new_error_mt(L, "loom.Cancelled");
  lua_pushliteral(L, "loom.Cancelled");
  lua_setfield(L, -2, "__metatable");
  lua_newtable(L);                                 /* value -> fields */
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_cancelled_index, 1);
  lua_setfield(L, -3, "__index");
  lua_pushcfunction(L, l_cancelled_newindex);
  lua_setfield(L, -3, "__newindex");
  for (i = 0; i < CR_COUNT; i++) {
    lua_newtable(L);                               /* the value */
    lua_pushvalue(L, -3);
    lua_setmetatable(L, -2);
    lua_createtable(L, 0, 2);                      /* its fields */
    lua_pushstring(L, reason_keys[i]);
    lua_setfield(L, -2, "reason");
    lua_pushstring(L, reason_texts[i]);
    lua_setfield(L, -2, "message");
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);                             /* fields[value] = ... */
    ctx->r_cancelled[i] = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_pop(L, 1);
  push_class(L, -1, "loom.Cancelled");
  lua_setfield(L, -4, "Cancelled");
  ctx->cancelled_mt = lua_topointer(L, -1);
  ctx->r_cancelled_mt = luaL_ref(L, LUA_REGISTRYINDEX);
  /* The other classes: classes[short] and metatables[short]. */
  for (i = 0; error_classes[i].name != NULL; i++) {
    const char *shortname = error_classes[i].name + 5;  /* after "loom." */
    new_error_mt(L, error_classes[i].name);
    push_class(L, -1, error_classes[i].name);
    lua_setfield(L, -4, shortname);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, shortname);
    *(int *)((char *)ctx + error_classes[i].ref) =
        luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_setfield(L, -3, "metatables");
  lua_setfield(L, -2, "classes");
  lua_pushlightuserdata(L, ctx);
  lua_pushcclosure(L, l_is_cancelled, 1);
  lua_setfield(L, -2, "is_cancelled");
  lua_pushcfunction(L, l_new_class);
  lua_setfield(L, -2, "new_class");
  lua_pushlightuserdata(L, ctx);
  lua_pushcclosure(L, l_on_unhandled, 1);
  lua_setfield(L, -2, "on_unhandled");
}
