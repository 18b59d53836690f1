/*
** issue10_12_require_host.c: a host program that loads loom only through
** `require` (it is not linked with loom.core), attaches loom to its own
** loop, starts tasks, then closes the Lua state (which unloads the C
** libraries `require` loaded) and runs its loop once: the close callbacks
** of loom's handles must still find their code, and the loop must close.
** Built and run by issue10_12_embedding_teardown_spec.lua; argv[1] is the
** repository root.
*/
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>
#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"
int main(int argc, char **argv) {
  uv_loop_t loop;
  lua_State *L;
  int (*attach)(lua_State *, uv_loop_t *);
  void *sym;
  int rc;
  (void)argc;
  uv_loop_init(&loop);
  L = luaL_newstate();
  luaL_openlibs(L);
  lua_pushstring(L, argv[1]);
  lua_setglobal(L, "ROOT");
  if (luaL_dostring(L, "package.path = ROOT .. '/lua/?.lua;' .. ROOT .. '/lua/?/init.lua;' .. package.path\n"
                       "package.cpath = ROOT .. '/' .. (os.getenv('LOOM_BUILD') or 'build') .. '/?.so;' .. package.cpath\n"
                       "loom = require 'loom'")) { printf("%s\n", lua_tostring(L, -1)); return 1; }
  sym = dlsym(RTLD_DEFAULT, "loom_attach");
  if (sym == NULL) {   /* loaded RTLD_LOCAL: find it in the library */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchpath");
    lua_pushliteral(L, "loom.core");
    lua_getfield(L, -3, "cpath");
    lua_call(L, 2, 1);
    {
      void *h = dlopen(lua_tostring(L, -1), RTLD_NOW | RTLD_NOLOAD);
      sym = dlsym(h, "loom_attach");
      dlclose(h);   /* only Lua's reference is left */
    }
    lua_pop(L, 2);
  }
  memcpy(&attach, &sym, sizeof sym);
  if (attach(L, &loop) != 0) { printf("attach failed\n"); return 1; }
  if (luaL_dostring(L, "loom.start(function() loom.sleep(100) end)\n"
                       "loom.start(function() l = loom.tcp.listen('127.0.0.1', 0) loom.sleep(100) end)")) { printf("%s\n", lua_tostring(L, -1)); return 1; }
  uv_run(&loop, UV_RUN_NOWAIT);
  lua_close(L);
  uv_run(&loop, UV_RUN_NOWAIT);
  rc = uv_loop_close(&loop);
  printf("uv_loop_close: %d\n", rc);
  return rc == 0 ? 0 : 1;
}
