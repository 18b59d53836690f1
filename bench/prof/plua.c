/*
** plua.c: a minimal Lua 5.4 interpreter linked statically against
** liblua5.4.a, which keeps the symbols of Lua's internal functions
** (luaV_execute, luaD_precall, luaH_*...), so that perf and callgrind can
** name them (the Debian lua5.4 binary is stripped). Profiling aid only:
**   cc -O2 -g $(pkg-config --cflags lua5.4) bench/prof/plua.c \
**      /usr/lib/x86_64-linux-gnu/liblua5.4.a -Wl,-E -lm -ldl \
**      -o build/bench/plua
**   build/bench/plua script.lua [args...]
*/
#include <stdio.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

static int msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg != NULL ? msg : "(error object)", 1);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L;
  int i, status;
  if (argc < 2) {
    fprintf(stderr, "usage: plua script.lua [args...]\n");
    return 1;
  }
  L = luaL_newstate();
  luaL_openlibs(L);
  lua_createtable(L, argc, 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
  lua_pushcfunction(L, msgh);
  status = luaL_loadfile(L, argv[1]);
  if (status == LUA_OK) {
    for (i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
    status = lua_pcall(L, argc - 2, 0, 1);
  }
  if (status != LUA_OK) fprintf(stderr, "plua: %s\n", lua_tostring(L, -1));
  lua_close(L);
  return status == LUA_OK ? 0 : 1;
}
