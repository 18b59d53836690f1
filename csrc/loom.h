/*
** loom.h: the embedding API of loom (API.md section 8).
**
** A host program that embeds Lua opens loom with luaopen_loom_core (or
** lets `require "loom"` do it), may give loom its own libuv loop with
** loom_attach, and may hand results from C to waiting Lua tasks through
** futures. Every function here must be called on the loop's thread except
** loom_future_post, which is safe from any thread.
**
** With a host loop attached, the host runs uv_run itself: ready loom tasks
** run from a uv_check_t callback with no extra call, and when no task is
** ready or sleeping loom keeps no active referenced handle, so
** uv_run(loop, UV_RUN_DEFAULT) returns by itself. When the Lua state is
** closed, loom closes its handles; with a host loop, the host's next
** uv_run performs the final frees (run it once more before
** uv_loop_close).
*/
#ifndef loom_h
#define loom_h

#include <stddef.h>

#include <uv.h>

#include "lua.h"

#if defined(_WIN32)
#define LOOM_API __declspec(dllexport)
#else
#define LOOM_API __attribute__((visibility("default")))
#endif

/* The module opener of `loom.core`: pushes the core module table. The Lua
** facade (`require "loom"`) calls it; a host may call it through
** luaL_requiref(L, "loom.core", luaopen_loom_core, 0). */
LOOM_API int luaopen_loom_core(lua_State *L);

/* Use the host's 'loop' instead of loom's own. Call after loom.core is
** opened and before any task runs (after `require "loom"` is fine).
** Returns 0, or a libuv error code (UV_EBUSY when tasks already exist or
** a loop run is under way). The loop must outlive the Lua state. */
LOOM_API int loom_attach(lua_State *L, uv_loop_t *loop);

/* The loop loom uses (its own, or the attached one). loom.core must be
** opened. */
LOOM_API uv_loop_t *loom_loop(lua_State *L);

#endif
