/*
** luv.c: the native half of loom.use_luv, which puts loom and luv (the
** libuv binding, `require "luv"`) on one libuv loop.
**
** luv's C API (luv.h: luv_set_loop, luv_loop, luv_set_callback) lives in
** luv.so, which Lua loads with RTLD_LOCAL, so loom finds it with dlsym on
** luv's own library: the file package.searchpath finds (dlopen gives the
** handle Lua's loader gets too) when luv is not loaded yet, or the file
** that holds one of luv's C functions (dladdr, then dlopen RTLD_NOLOAD)
** when it is; the global scope is the fallback (luv linked into the
** host). Both sides must use the same libuv: versions are compared first.
**
** Which loop wins, and why it is safe at lua_close. luv opened without a
** loop creates its own and a finalizer (loop_gc) that closes every handle
** of luv's current loop with luv's close callback and then closes that
** loop; run on a loop that still holds loom's handles it would hand them
** to luv's callback. Finalizers run newest first. So:
**  A. luv not loaded: luv_set_loop(main thread, loom's loop) before luv
**     opens: luv makes no loop and no loop_gc; loom's context closes the
**     loop (or the host does). Errors in luv callbacks then go to
**     loom.on_unhandled instead of exiting the process (luv_set_callback).
**  B. luv already on loom's loop: nothing to do.
**  C. luv loaded, its loop empty (no handle, no request): move luv to
**     loom's loop; a sentinel made now (so finalized before luv's loop_gc)
**     moves luv back to its own empty loop at lua_close, which loop_gc
**     then closes harmlessly.
**  D. luv's loop in use and loom has no loop and no task yet: loom
**     attaches to luv's loop, only if luv was opened before loom.core
**     (then loom's context is finalized first and its handles are closed
**     when loop_gc walks the loop); otherwise it is refused.
**  E. both loops in use: refused with an error that says what to reorder.
*/
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"

/* luv's flags for its callback routine (luv.h). */
#define LUVF_NOTRACEBACK 0x02
#define LUVF_NOERRMSG 0x04

typedef int (*luv_pcall_fn)(lua_State *L, int nargs, int nresults,
                            int flags);
typedef void (*luv_set_loop_fn)(lua_State *L, uv_loop_t *loop);
typedef uv_loop_t *(*luv_loop_fn)(lua_State *L);
typedef void (*luv_set_callback_fn)(lua_State *L, luv_pcall_fn pcall);
typedef unsigned int (*uv_version_fn)(void);

/* What loom needs of luv's library. */
typedef struct luv_api {
  void *lib;                         /* dlopen handle (to dlclose), or NULL */
  luv_set_loop_fn set_loop;
  luv_loop_fn get_loop;
  luv_set_callback_fn set_callback;  /* NULL if absent */
  uv_version_fn uv_version;          /* the libuv luv's library sees */
} luv_api;

/* Registry keys. */
static const char luv_first_key = 'l';  /* luv was open before loom.core */
static const char tb_key = 't';         /* traceback of the last error */

/* A function pointer from dlsym's object pointer (POSIX guarantees the
** conversion; memcpy keeps -pedantic quiet). */
static void *api_sym(void *lib, const char *name) {
  void *p = lib != NULL ? dlsym(lib, name) : NULL;
  if (p == NULL) p = dlsym(RTLD_DEFAULT, name);
  return p;
}

/* [-0, +0, v] Fill 'api' from library 'lib' (may be NULL); raise if
** luv's loop functions are missing. */
static void api_load(lua_State *L, luv_api *api, void *lib,
                     const char *where) {
  void *p;
  memset(api, 0, sizeof(*api));
  api->lib = lib;
  p = api_sym(lib, "luv_set_loop");
  memcpy(&api->set_loop, &p, sizeof(p));
  p = api_sym(lib, "luv_loop");
  memcpy(&api->get_loop, &p, sizeof(p));
  p = api_sym(lib, "luv_set_callback");
  memcpy(&api->set_callback, &p, sizeof(p));
  p = lib != NULL ? dlsym(lib, "uv_version") : NULL;
  memcpy(&api->uv_version, &p, sizeof(p));
  if (api->set_loop == NULL || api->get_loop == NULL) {
    if (lib != NULL) dlclose(lib);
    api->lib = NULL;
    luaL_error(L, "loom.use_luv: cannot find luv's C API (luv_set_loop, "
               "luv_loop) in %s", where);
  }
}

/* [-0, +0, v] Raise unless the libuv seen by luv's library is loom's. */
static void api_check_libuv(lua_State *L, luv_api *api) {
  unsigned int theirs;
  if (api->uv_version == NULL || api->uv_version == uv_version) return;
  theirs = api->uv_version();
  if (theirs == uv_version()) return;  /* another copy, same version */
  if (api->lib != NULL) dlclose(api->lib);
  api->lib = NULL;
  luaL_error(L, "loom.use_luv: luv was built against another libuv "
             "(%d.%d.%d; loom uses %s): rebuild luv or loom against the "
             "same libuv", (int)(theirs >> 16) & 0xff,
             (int)(theirs >> 8) & 0xff, (int)theirs & 0xff,
             uv_version_string());
}

/* [-0, +0, v] Load 'api' from the library holding C function 'fn'. */
static void api_from_function(lua_State *L, luv_api *api, lua_CFunction fn) {
  Dl_info info;
  void *addr, *lib = NULL;
  const char *where = "the process";
  memcpy(&addr, &fn, sizeof(addr));
  if (fn != NULL && dladdr(addr, &info) != 0 && info.dli_fname != NULL) {
    where = info.dli_fname;
    lib = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  }
  api_load(L, api, lib, where);
}

/* {====================================================================
** luv's callback routine: errors go to loom.on_unhandled
** ===================================================================== */

/* [-1, +1, m] Message handler: keep the traceback aside, pass the error
** on unchanged (DESIGN.md E3). */
static int l_luv_msgh(lua_State *L) {
  luaL_traceback(L, L, NULL, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &tb_key);
  lua_settop(L, 1);
  return 1;
}

/* [-1, +0, e] Report the error at 1 with no owner: to the on_unhandled
** handler if one is set (raw value, no task), else to stderr with its
** traceback. Runs under lua_pcall. */
static int l_luv_report(lua_State *L) {
  loom_ctx *ctx = (loom_ctx *)lua_touserdata(L, 2);
  if (ctx != NULL && !ctx->closing && ctx->r_unhandled != LUA_NOREF) {
    lua_pushnil(L);
    loom__report_unhandled(L, ctx, 1, -1);
    return 0;
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, &tb_key);
  fprintf(stderr, "loom: unhandled error in a luv callback: %s\n%s\n",
          luaL_tolstring(L, 1, NULL),
          lua_isstring(L, 3) ? lua_tostring(L, 3) : "(no traceback)");
  fflush(stderr);
  return 0;
}

/* luv calls this instead of luv_cfpcall for every callback (luv.h: pops
** the function and 'nargs' arguments, leaves the results and returns
** their number, or leaves nothing and returns minus the error status).
** It never exits the process: an error is reported as one with no owner
** (DESIGN.md E6). Runs in libuv context: only '-' API calls outside pcalls. */
static int luv_pcall(lua_State *L, int nargs, int nresults, int flags) {
  int func = lua_gettop(L) - nargs;  /* the function, then its results */
  int st, msgh = 0;
  if (!lua_checkstack(L, 4)) {
    lua_pop(L, nargs + 1);
    return -LUA_ERRMEM;
  }
  if (!(flags & LUVF_NOTRACEBACK)) {
    lua_pushcfunction(L, l_luv_msgh);
    lua_insert(L, func);
    msgh = func;
  }
  st = lua_pcall(L, nargs, nresults, msgh);
  if (msgh != 0) lua_remove(L, msgh);
  if (st == LUA_OK)
    return nresults == LUA_MULTRET ? lua_gettop(L) - func + 1 : nresults;
  if (!(flags & LUVF_NOERRMSG)) {
    lua_pushcfunction(L, l_luv_report);
    lua_insert(L, -2);
    lua_pushlightuserdata(L, loom__ctx(L));
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
      fprintf(stderr, "loom: an error in a luv callback could not be "
              "reported\n");
      lua_pop(L, 1);
    }
  } else {
    lua_pop(L, 1);
  }
  return -st;
}

/* }==================================================================== */

/* {====================================================================
** Sentinel of case C: gives luv its own loop back at lua_close
** ===================================================================== */

typedef struct luv_sentinel {
  luv_set_loop_fn set_loop;
  uv_loop_t *loop;
} luv_sentinel;

/* [-0, +0, -] __gc: luv's loop_gc will close luv's own (empty) loop. */
static int l_sentinel_gc(lua_State *L) {
  luv_sentinel *s = (luv_sentinel *)lua_touserdata(L, 1);
  lua_State *main;
  if (s->set_loop == NULL) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  main = lua_tothread(L, -1);
  lua_pop(L, 1);
  s->set_loop(main, s->loop);
  s->set_loop = NULL;
  return 0;
}

/* }==================================================================== */

/* [-0, +0, e] The main thread, with room for luv's pushes. */
static lua_State *main_thread(lua_State *L, loom_ctx *ctx) {
  if (!lua_checkstack(ctx->L, 8)) luaL_error(L, "loom.use_luv: no stack");
  return ctx->L;
}

/* core.luv_preopen(path, opener) -> handle: case A, before
** `require "luv"`. Load luv's library (from 'path', or the library of the
** C function 'opener', a package.preload entry), check its libuv, and set
** loom's loop (and loom's callback routine) into luv's context. The
** returned light userdata goes to core.luv_preopen_end. */
static int l_luv_preopen(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  luv_api api;
  uv_loop_t *loop;
  lua_State *main;
  if (lua_type(L, 1) == LUA_TSTRING) {
    const char *path = lua_tostring(L, 1);
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
      return luaL_error(L, "loom.use_luv: cannot load luv (%s)", dlerror());
    api_load(L, &api, lib, path);
  } else {
    api_from_function(L, &api, lua_tocfunction(L, 2));
  }
  api_check_libuv(L, &api);
  loop = loom_loop(L);
  if (loop == NULL) {
    if (api.lib != NULL) dlclose(api.lib);
    return luaL_error(L, "loom.use_luv: cannot create loom's loop");
  }
  main = main_thread(L, ctx);
  api.set_loop(main, loop);
  if (api.set_callback != NULL) api.set_callback(main, luv_pcall);
  lua_pushlightuserdata(L, api.lib);
  return 1;
}

/* core.luv_preopen_end(handle): drop the library reference taken by
** luv_preopen (Lua's loader holds its own). */
static int l_luv_preopen_end(lua_State *L) {
  void *lib = lua_touserdata(L, 1);
  if (lib != NULL) dlclose(lib);
  return 0;
}

/* Count the handles of a loop (uv_walk callback). */
static void on_walk_count(uv_handle_t *h, void *arg) {
  (void)h;
  (*(int *)arg)++;
}

/* core.luv_join(uv, version): cases B to E with the luv module 'uv' and
** the libuv version it reports. Returns "same", "moved" or "attached". */
static int l_luv_join(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  luv_api api;
  uv_loop_t *theirs, *ours;
  lua_State *main;
  int nhandles = 0, luv_first;
  lua_Integer v = loom__checkinteger(L, 2);
  loom__checktype(L, 1, LUA_TTABLE);
  if ((unsigned int)v != uv_version()) {
    return luaL_error(L, "loom.use_luv: luv was built against another "
                      "libuv (%d.%d.%d; loom uses %s): rebuild luv or "
                      "loom against the same libuv", (int)(v >> 16) & 0xff,
                      (int)(v >> 8) & 0xff, (int)v & 0xff,
                      uv_version_string());
  }
  lua_getfield(L, 1, "version");
  api_from_function(L, &api, lua_tocfunction(L, -1));
  lua_pop(L, 1);
  if (api.lib != NULL) dlclose(api.lib);  /* luv stays loaded (Lua's) */
  main = main_thread(L, ctx);
  theirs = api.get_loop(main);
  ours = ctx->loop;
  if (theirs != NULL && theirs == ours) {                    /* B */
    lua_pushliteral(L, "same");
    return 1;
  }
  if (theirs != NULL) uv_walk(theirs, on_walk_count, &nhandles);
  if (theirs == NULL || (nhandles == 0 && !uv_loop_alive(theirs))) {
    luv_sentinel *s;                                         /* C */
    ours = loom_loop(L);
    if (ours == NULL)
      return luaL_error(L, "loom.use_luv: cannot create loom's loop");
    s = (luv_sentinel *)lua_newuserdatauv(L, sizeof(luv_sentinel), 0);
    s->set_loop = NULL;
    s->loop = theirs;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_sentinel_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    luaL_ref(L, LUA_REGISTRYINDEX);        /* lives until lua_close */
    api.set_loop(main, ours);
    if (theirs != NULL) s->set_loop = api.set_loop;
    lua_pushliteral(L, "moved");
    return 1;
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, &luv_first_key);
  luv_first = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (ours == NULL && ctx->ntasks == 0 && luv_first) {       /* D */
    int rc = loom_attach(L, theirs);
    if (rc != 0)
      return luaL_error(L, "loom.use_luv: cannot attach to luv's loop "
                        "(%s)", uv_strerror(rc));
    lua_pushliteral(L, "attached");
    return 1;
  }
  return luaL_error(L, "loom.use_luv: luv already has handles on its own "
                    "loop and loom %s; call loom.use_luv() before luv "
                    "creates handles (best: before require \"luv\")",
                    ours == NULL ? "was loaded first"
                                 : "already uses another loop");
}

/* core.is_cfunction(v) -> true if v is a C function. */
static int l_is_cfunction(lua_State *L) {
  lua_pushboolean(L, lua_iscfunction(L, 1));
  return 1;
}

static const luaL_Reg luv_funcs[] = {
  {"is_cfunction", l_is_cfunction},
  {"luv_preopen", l_luv_preopen},
  {"luv_preopen_end", l_luv_preopen_end},
  {"luv_join", l_luv_join},
  {NULL, NULL}
};

/* [-0, +0, m] Register the helpers of loom.use_luv in the core table on
** top, and note whether luv was opened before loom.core (case D). */
void loom__luv_open(lua_State *L, loom_ctx *ctx) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &luv_first_key) == LUA_TNIL) {
    lua_getfield(L, LUA_REGISTRYINDEX, "luv_context");
    lua_pushboolean(L, !lua_isnil(L, -1));
    lua_rawsetp(L, LUA_REGISTRYINDEX, &luv_first_key);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  loom__setfuncs(L, ctx, luv_funcs);
}
