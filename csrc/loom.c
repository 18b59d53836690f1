/*
** loom.c: luaopen_loom_core, the module opener of `loom.core`, the native
** half of loom (the public module is `loom`, lua/loom/init.lua, which
** wraps it). It creates the per-state context and calls, in order, the
** opener of every part, each of which registers its classes and functions
** in the module table and initialises its share of the context. The table
** below is the only place that names every part; it lists them layer by
** layer, lowest first (doc/DESIGN.md): a part may rely on the ones above
** it in the table having been opened.
*/
#include <dlfcn.h>
#include <string.h>

#include "core/core.h"
#include "sync/sync.h"
#include "io/io.h"
#include "embed/embed.h"
#include "thread/thread.h"

static const loom_opener openers[] = {
  /* core/: the engine */
  loom__args_open,
  loom__clock_open,
  loom__errors_open,
  loom__traceback_open,
  loom__scope_open,
  loom__sleep_open,
  loom__task_open,
  loom__group_open,
  loom__introspect_open,
  loom__sched_open,
  /* sync/: synchronisation objects */
  loom__event_open,
  loom__lock_open,
  loom__semaphore_open,
  loom__condition_open,
  loom__channel_open,
  /* io/: the I/O families */
  loom__handles_open,
  loom__req_open,
  loom__stream_open,
  loom__stream_read_open,
  loom__stream_write_open,
  loom__listener_open,
  loom__tcp_open,
  loom__pipe_open,
  loom__udp_open,
  loom__dns_open,
  loom__fs_open,
  loom__file_open,
  loom__process_open,
  loom__signal_open,
  loom__tlsctx_open,
  loom__tls_open,
  /* embed/: the embedding API and bridges */
  loom__post_open,
  loom__future_open,
  loom__await_open,
  loom__luv_open,
  /* thread/: blocking work on worker threads */
  loom__pool_open,
  loom__to_thread_open,
};

/* Keep this library loaded for the life of the process. Lua unloads the
** C libraries that `require` loaded when the state closes; but with a host
** loop, the close callbacks of loom's handles run in the host's next
** uv_run, after lua_close, and must still find their code (loom.h,
** "Teardown"). */
static void pin_library(void) {
  static int pinned = 0;
  Dl_info info;
  void *self;
  lua_CFunction opener = luaopen_loom_core;
  if (pinned) return;
  memcpy(&self, &opener, sizeof self);
  if (dladdr(self, &info) != 0 && info.dli_fname != NULL &&
      /* cppcheck-suppress leakReturnValNotUsed ; the pin is never closed */
      dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != NULL)
    pinned = 1;
}

/* [-0, +1, m] Open loom.core in L's state: the first call makes the
** context and the module table; a later call (a host that opens it
** itself after `require "loom"`, say) returns the same table. */
LOOM_API int luaopen_loom_core(lua_State *L) {
  loom_ctx *ctx;
  size_t i;
  luaL_checkversion(L);
  ctx = loom__ctx(L);
  if (ctx != NULL) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_core);
    return 1;
  }
  pin_library();
  loom__ctx_open(L);
  ctx = loom__ctx(L);
  lua_newtable(L);
  for (i = 0; i < sizeof openers / sizeof openers[0]; i++)
    openers[i](L, ctx);
  lua_pushliteral(L, "0.1.0");
  lua_setfield(L, -2, "version");
  lua_pushvalue(L, -1);
  ctx->r_core = luaL_ref(L, LUA_REGISTRYINDEX);
  return 1;
}
