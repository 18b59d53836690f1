/*
** core.c: luaopen_loom_core, the module opener of `loom.core`, and the
** only file that knows every part: it creates the per-state context and
** lets each part register its metatables and functions in the module
** table. `loom.core` is the native half of loom; the public module is
** `loom` (lua/loom/init.lua), which wraps it.
*/
#include "internal.h"

LOOM_API int luaopen_loom_core(lua_State *L) {
  loom_ctx *ctx;
  luaL_checkversion(L);
  loom__ctx_open(L);
  ctx = loom__ctx(L);
  lua_newtable(L);
  loom__errors_open(L, ctx);
  loom__clock_open(L, ctx);
  loom__traceback_open(L, ctx);
  loom__task_open(L, ctx);
  loom__scope_open(L, ctx);
  loom__group_open(L, ctx);
  loom__sched_open(L, ctx);
  loom__sync_open(L, ctx);
  loom__io_open(L, ctx);
  loom__future_open(L, ctx);
  lua_pushliteral(L, "0.1.0");
  lua_setfield(L, -2, "version");
  return 1;
}
