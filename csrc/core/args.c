/*
** args.c: argument errors of the C functions that Lua wrappers call
** (DESIGN.md E1: misuse raises at once, at the caller's line).
**
** Many C functions are wrapped by Lua functions: the I/O wrappers turn
** fail tuples into IOError values (DESIGN.md E2); with_group and the
** timeout family give the native groups and scopes their idiomatic shape.
** A wrapper calls its C function with its own arguments, in the same
** positions. An argument error raised the usual way (luaL_argerror) would
** describe the wrapper's call of the C function: the wrapper's line, and
** self counted as argument #1 even when the user wrote f:read("x"). The
** functions here do what their luaL_ counterparts do, with one
** difference: when the running C function was called by a registered
** wrapper, the error is reported as the wrapper's caller sees it: at the
** caller's line, with the wrapper's name, and arguments numbered as in
** the caller's call (a method call does not count self; "calling 'read'
** on bad self" for a bad self). The Lua modules register their wrappers
** once, at load, with core.mark_wrappers(t) (a weak-keyed set in the
** registry). Nothing here costs anything until an error is raised: the
** checks take the fast path of the Lua API and look at the call stack
** only to build the message.
*/
#include <stdarg.h>
#include <string.h>

#include "core.h"

/* Registry keys of the set of wrapper functions, and of the set of the
** sources (chunk names) of loom's Lua modules. */
static const char wrappers_key = 'w';
static const char sources_key = 's';

/* [-0, +0, -] Is the function running at 'level' a registered wrapper? */
static int is_wrapper(lua_State *L, int level) {
  lua_Debug ar;
  int wrapped = 0;
  if (!lua_getstack(L, level, &ar) || !lua_checkstack(L, 3)) return 0;
  lua_getinfo(L, "f", &ar);                           /* [fn] */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &wrappers_key) == LUA_TTABLE) {
    lua_pushvalue(L, -2);                             /* [fn set fn] */
    wrapped = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return wrapped;
}

/* [-0, +0, -] The level (0: the running C function) of the function whose
** call an argument error describes. 0 as in Lua, unless the C function's
** caller is a wrapper: then that wrapper (1), or, while the blamed
** wrapper was called by another wrapper as a plain function (its
** arguments passed on in the same positions), that one. */
static int blame_level(lua_State *L) {
  lua_Debug ar;
  int level = 0;
  while (is_wrapper(L, level + 1)) {
    if (level > 0) {   /* the call of the wrapper at 'level' */
      if (!lua_getstack(L, level, &ar)) break;
      lua_getinfo(L, "n", &ar);
      if (ar.namewhat != NULL && strcmp(ar.namewhat, "method") == 0) break;
    }
    level++;
  }
  return level;
}

/* [-0, +(0|1), m] Is the function of 'ar' (a frame of any thread of L's
** state) a field of a loaded module?
** Pushes its name and returns 1 if so, else pushes nothing and returns 0
** (what luaL_argerror does for a function without a name). A function
** of loom is in several modules (loom.semaphore, loom.core and loom
** itself): the name the user knows wins: a field of `_G` or of `loom`
** first, then the shortest ("loom.fs.stat", not "loom.core.fs_stat"). */
int loom__push_global_name(lua_State *L, lua_Debug *ar) {
  int top = lua_gettop(L), found = 0, best_rank = 0;
  size_t best_len = 0;
  if (!lua_checkstack(L, 8)) return 0;
  lua_getinfo(L, "f", ar);                            /* [fn] */
  lua_pushnil(L);                                     /* [fn best] */
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);                                 /* [fn best loaded k] */
  while (lua_next(L, top + 3) != 0) {                 /* [.. k mod] */
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
      const char *mod = lua_tostring(L, -2);
      int rank = strcmp(mod, LUA_GNAME) == 0 ? 1
                 : strcmp(mod, "loom") == 0 ? 2 : 3;
      lua_pushnil(L);
      while (lua_next(L, -2) != 0) {                  /* [.. mod f v] */
        if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, top + 1)) {
          size_t len;
          if (rank == 1) lua_pushvalue(L, -2);
          else lua_pushfstring(L, "%s.%s", mod, lua_tostring(L, -2));
          lua_tolstring(L, -1, &len);
          if (!found || rank < best_rank ||
              (rank == best_rank && len < best_len)) {
            found = 1;
            best_rank = rank;
            best_len = len;
            lua_replace(L, top + 2);
          } else {
            lua_pop(L, 1);
          }
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  if (found) lua_copy(L, top + 2, top + 1);           /* [best best loaded] */
  lua_settop(L, top + found);
  return found;
}

/* [-0, +0, v] luaL_argerror, blamed on the wrapper's caller when the
** running C function was called by a registered wrapper. */
int loom__argerror(lua_State *L, int arg, const char *extramsg) {
  lua_Debug ar;
  int level = blame_level(L);
  const char *name;
  if (!lua_getstack(L, level, &ar))   /* no stack frame? */
    return luaL_error(L, "bad argument #%d (%s)", arg, extramsg);
  lua_getinfo(L, "n", &ar);
  if (ar.namewhat != NULL && strcmp(ar.namewhat, "method") == 0) {
    arg--;
    if (arg == 0) {
      luaL_where(L, level + 1);
      lua_pushfstring(L, "calling '%s' on bad self (%s)",
                      ar.name != NULL ? ar.name : "?", extramsg);
      lua_concat(L, 2);
      return lua_error(L);
    }
  }
  name = ar.name;
  if (name == NULL)
    name = loom__push_global_name(L, &ar) ? lua_tostring(L, -1) : "?";
  luaL_where(L, level + 1);
  lua_pushfstring(L, "bad argument #%d to '%s' (%s)", arg, name, extramsg);
  lua_concat(L, 2);
  return lua_error(L);
}

/* [-0, +0, v] luaL_typeerror, blamed as loom__argerror. */
int loom__typeerror(lua_State *L, int arg, const char *tname) {
  const char *typearg;
  if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING)
    typearg = lua_tostring(L, -1);
  else if (lua_type(L, arg) == LUA_TLIGHTUSERDATA)
    typearg = "light userdata";
  else
    typearg = luaL_typename(L, arg);
  return loom__argerror(L, arg, lua_pushfstring(L, "%s expected, got %s",
                                                tname, typearg));
}

/* [-0, +1, v] luaL_error at the level of the wrapper's caller (or of the
** caller, when no wrapper is involved). */
int loom__error(lua_State *L, const char *fmt, ...) {
  va_list argp;
  va_start(argp, fmt);
  luaL_where(L, blame_level(L) + 1);
  lua_pushvfstring(L, fmt, argp);
  va_end(argp);
  lua_concat(L, 2);
  return lua_error(L);
}

/* [-0, +0, -] Is the function running at 'level' a Lua function of one of
** loom's Lua modules (a source registered by core.mark_wrappers or
** core.mark_sources)? */
static int in_loom_source(lua_State *L, int level) {
  lua_Debug ar;
  if (!lua_getstack(L, level, &ar)) return 0;
  lua_getinfo(L, "S", &ar);
  return loom__loom_frame(L, &ar);
}

/* [-0, +0, -] Is the frame 'ar' (its "S" information filled, of any
** thread of L's state) a Lua function of one of loom's Lua modules? The
** set is keyed by the address of the source name, which lives as long as
** those modules' functions (always: package.loaded keeps them). */
int loom__loom_frame(lua_State *L, const lua_Debug *ar) {
  int in = 0, top = lua_gettop(L);
  if (ar->what == NULL || ar->what[0] != 'L' || !lua_checkstack(L, 2))
    return 0;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &sources_key) == LUA_TTABLE)
    in = lua_rawgetp(L, -1, ar->source) != LUA_TNIL;
  lua_settop(L, top);
  return in;
}

/* [-0, +0, -] The level of the first Lua function calling the running C
** function that is not in one of loom's Lua modules (1 when the user
** called it), with its "Sl" information in '*ar'; 0 when there is none.
** C functions between them (an xpcall of with_group) are passed over. */
int loom__user_level(lua_State *L, lua_Debug *ar) {
  int level;
  for (level = 1; lua_getstack(L, level, ar); level++) {
    lua_getinfo(L, "Sl", ar);
    if (ar->what != NULL && ar->what[0] != 'C' && !loom__loom_frame(L, ar))
      return level;
  }
  return 0;
}

/* [-0, +1, v] The error of a misuse of the running C function (outside of
** a task, from a nested coroutine): luaL_error at the level of the first
** caller that is not in one of loom's Lua modules, so that it names the
** user's line, not with_group's or fs.lua's (DESIGN.md E1). */
int loom__misuse_error(lua_State *L, const char *fmt, ...) {
  va_list argp;
  int level = 1;
  while (in_loom_source(L, level)) level++;
  va_start(argp, fmt);
  luaL_where(L, level);
  lua_pushvfstring(L, fmt, argp);
  va_end(argp);
  lua_concat(L, 2);
  return lua_error(L);
}

/* [-0, +0, v] Raise the argument error of a non-integer at 'arg'. */
int loom__integer_error(lua_State *L, int arg) {
  if (lua_isnumber(L, arg))
    return loom__argerror(L, arg, "number has no integer representation");
  return loom__typeerror(L, arg, lua_typename(L, LUA_TNUMBER));
}

/* [-0, +0, v] The integer at 'arg', or 'def' if none or nil. */
lua_Integer loom__optinteger(lua_State *L, int arg, lua_Integer def) {
  return lua_isnoneornil(L, arg) ? def : loom__checkinteger(L, arg);
}

/* [-0, +0, v] The string at 'arg', or 'def' if none or nil. */
const char *loom__optlstring(lua_State *L, int arg, const char *def,
                             size_t *len) {
  if (lua_isnoneornil(L, arg)) {
    if (len != NULL) *len = def != NULL ? strlen(def) : 0;
    return def;
  }
  return loom__checklstring(L, arg, len);
}

/* [-0, +0, v] The value at 'arg' has type 't'. */
void loom__checktype(lua_State *L, int arg, int t) {
  if (lua_type(L, arg) != t) loom__typeerror(L, arg, lua_typename(L, t));
}

/* [-0, +0, v] Raise an argument error unless the value at 'idx' can be
** called. */
void loom__check_callable(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TFUNCTION) return;
  if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  luaL_typeerror(L, idx, "function");
}

/* [-1, +1, -] core.is_callable(v) -> boolean: a function, or a value whose
** metatable has __call (the test every spawn and scope makes of its
** body). */
static int l_is_callable(lua_State *L) {
  int r = lua_type(L, 1) == LUA_TFUNCTION;
  if (!r && luaL_getmetafield(L, 1, "__call") != LUA_TNIL) {
    lua_pop(L, 1);
    r = 1;
  }
  lua_pushboolean(L, r);
  return 1;
}

/* [-0, +1, m] Push the weak set of the registry at 'key', made if
** needed. */
static void push_set(lua_State *L, const char *key, const char *mode) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    if (mode != NULL) {
      lua_createtable(L, 0, 1);
      lua_pushstring(L, mode);
      lua_setfield(L, -2, "__mode");
      lua_setmetatable(L, -2);
    }
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
  }
}

/* [-1, +0, m] core.mark_sources(t): the Lua functions of table 't' belong
** to one of loom's modules: misuse errors raised under them name their
** caller's line instead (loom__misuse_error). */
static int l_mark_sources(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  push_set(L, &sources_key, NULL);        /* [t sources] */
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {           /* [t sources k v] */
    if (lua_type(L, -1) == LUA_TFUNCTION && !lua_iscfunction(L, -1)) {
      lua_Debug ar;
      lua_pushvalue(L, -1);
      lua_getinfo(L, ">S", &ar);
      lua_pushboolean(L, 1);
      lua_rawsetp(L, 2, ar.source);       /* sources[&source] = true */
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* [-1, +0, m] core.mark_wrappers(t): register every Lua function that is
** a value of table 't' as a wrapper (see above); their module is one of
** loom's (core.mark_sources). */
static int l_mark_wrappers(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_pushcfunction(L, l_mark_sources);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 0);
  push_set(L, &wrappers_key, "k");        /* weak-keyed set */
  lua_pushnil(L);                         /* [t set k] */
  while (lua_next(L, 1) != 0) {           /* [t set k v] */
    if (lua_type(L, -1) == LUA_TFUNCTION && !lua_iscfunction(L, -1)) {
      lua_pushvalue(L, -1);
      lua_pushboolean(L, 1);
      lua_rawset(L, 2);                   /* set[v] = true */
    }
    lua_pop(L, 1);                        /* [t set k] */
  }
  return 0;
}

static const luaL_Reg args_funcs[] = {
  {"is_callable", l_is_callable},
  {"mark_sources", l_mark_sources},
  {"mark_wrappers", l_mark_wrappers},
  {NULL, NULL}
};

/* [-0, +0, m] Register core.is_callable and core.mark_wrappers in the core
** table on top (they need no context). */
void loom__args_open(lua_State *L, loom_ctx *ctx) {
  (void)ctx;
  luaL_setfuncs(L, args_funcs, 0);
}
