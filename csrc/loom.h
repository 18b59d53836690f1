/*
** loom.h: the embedding API of loom (README, "Embedding loom").
**
** A host program that embeds Lua opens loom with luaopen_loom_core (or
** lets `require "loom"` do it), may give loom its own libuv loop with
** loom_attach, and may hand results from C to waiting Lua tasks through
** futures. Every function here must be called on the loop's thread (the
** thread that runs uv_run on loom_loop(L)) except loom_future_post, which
** is safe from any thread.
**
** Host loop. With a host loop attached, the host runs uv_run itself:
** ready loom tasks run from a uv_check_t callback with no extra call, and
** when no task is ready, sleeping, waiting for I/O or waiting for a future
** loom keeps no active referenced handle, so uv_run(loop, UV_RUN_DEFAULT)
** returns by itself. A Lua `loom.start(fn, ...)` starts a root task
** without running the loop; `loom.shutdown()` cancels every such task and
** runs the loop until their cleanup is done; errors escaping them go to
** `loom.on_unhandled(fn)`. Call loom.run and loom.shutdown only from
** outside uv_run (neither may run inside a libuv callback of the host).
**
** Teardown, in this order: make sure no thread will call
** loom_future_post any more (join your worker threads); call
** `loom.shutdown()`; lua_close(L), which closes loom's handles without
** running Lua; with a host loop, run uv_run(loop, UV_RUN_DEFAULT) once
** more so libuv delivers the close callbacks that free loom's memory;
** then uv_loop_close(loop) returns 0. With loom's own loop, lua_close
** does all of it.
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
** facade (`require "loom"`) calls it; a host that links loom may call it
** through luaL_requiref(L, "loom.core", luaopen_loom_core, 0). */
LOOM_API int luaopen_loom_core(lua_State *L);

/* Use the host's 'loop' instead of loom's own. Call after loom.core is
** opened and before any task runs, future is made or loom_loop is asked
** (after `require "loom"` is fine). Returns 0 (also when 'loop' is
** already the one in use), UV_EINVAL if loom.core is not open in L, or
** UV_EBUSY when loom already uses another loop (tasks exist, loom.run
** ran, loom_loop or loom_future_new was called, loom.use_luv adopted
** luv's). The loop must outlive the Lua state (see Teardown above). */
LOOM_API int loom_attach(lua_State *L, uv_loop_t *loop);

/* The loop loom uses: the attached one, or loom's own (created by this
** call if needed, after which loom_attach refuses another loop). NULL if
** loom.core is not open in L. */
LOOM_API uv_loop_t *loom_loop(lua_State *L);

/* {====================================================================
** Futures: results that C code hands to waiting Lua tasks.
**
** loom_future_new pushes a Lua object `fut`; a task calls `fut:wait()`
** (a checkpoint) to wait until the host settles it: once, with
** loom_future_resolve or loom_future_reject on the loop's thread, or with
** loom_future_post from any thread. Any number of tasks may wait, and
** `fut:wait()` keeps returning (or raising) the same outcome after it is
** settled; `fut:done()` tells whether it is. A cancelled waiter leaves
** the future untouched.
**
** Settling twice is refused: the first of resolve, reject or post wins;
** a later resolve/reject pops its values and changes nothing (it reports
** a warning: to loom.on_unhandled's handler if set, else stderr), a later
** post returns -1.
**
** Ownership. The C pointer stays valid while `fut` is reachable from Lua
** or the future is unsettled (a post that has not been delivered yet
** counts as unsettled). Once it is settled and `fut` is unreachable, loom
** frees it: keep `fut` reachable (a registry reference, a task's local)
** if you need to touch the pointer after settling it. A future that is
** collected unsettled stays allocated until it is settled; lua_close
** frees every future, so no thread may post during or after lua_close.
**
** Loop liveness. While some task waits on an unsettled future, loom keeps
** its uv_async_t referenced: a host's uv_run(UV_RUN_DEFAULT) does not
** return and loom.run does not report a deadlock, because another thread
** may post at any time. So a future that nobody will ever settle, waited
** on by a task, keeps the loop running until that task is cancelled.
** ===================================================================== */

typedef struct loom_future loom_future;

/* [-0, +1, m] Push a new unsettled future object and return its C
** pointer. Creates the loop (see loom_loop) and the future's uv_async_t
** on first use, so attach a host loop first. Raises a Lua error on
** failure (out of memory, libuv error): call it from a C function that
** Lua called, or under lua_pcall. */
LOOM_API loom_future *loom_future_new(lua_State *L);

/* [-n, +0, m] Settle 'f' with the 'nvalues' values on top of L's stack,
** which are popped; waiting tasks wake and `fut:wait()` returns them (nils
** included). On the loop's thread only, from any thread of the state L
** (also from a C function called by a task). Never raises for nvalues <=
** 1; with more values it may raise a memory error. Refused (values
** popped, a warning emitted) if 'f' is already settled or posted. */
LOOM_API void loom_future_resolve(lua_State *L, loom_future *f,
                                  int nvalues);

/* [-1, +0, -] Settle 'f' with the error value on top of L's stack (popped):
** `fut:wait()` raises that value, unchanged. On the loop's thread only.
** Refused like loom_future_resolve. */
LOOM_API void loom_future_reject(lua_State *L, loom_future *f);

/* Thread-safe: settle 'f' from any thread with one string value ('len'
** bytes at 'data', copied; 'data' may be NULL when 'len' is 0), resolved
** if 'ok' is non-zero, rejected otherwise (then `fut:wait()` raises the
** string). The value is queued and delivered on the loop's thread
** through one uv_async_t, in the next loop iteration. Returns 0, or -1 at
** once if 'f' was already settled or posted, if the Lua state is being
** closed, or if memory for the copy ran out. Never calls Lua. */
LOOM_API int loom_future_post(loom_future *f, int ok, const char *data,
                              size_t len);

#endif
