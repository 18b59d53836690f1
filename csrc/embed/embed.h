/*
** embed.h: the private header of the embedding layer (csrc/embed/): what
** its files share. The layer builds on the engine (core/core.h) and
** implements the embedding API of loom.h. Its files, lowest first:
**   post.c    the cross-thread post: messages from any thread, delivered
**             on the loop's thread through one uv_async_t
**   future.c  loom_future_*: results that C code hands to waiting tasks
**   await.c   loom.await: the bridge from callback-style APIs to tasks
**   luv.c     loom.use_luv: loom and luv on one libuv loop
*/
#ifndef loom_embed_h
#define loom_embed_h

#include "../core/core.h"

/* {====================================================================
** post.c: the cross-thread post
** =====================================================================
** A poster is per Lua state: a mutex-guarded queue of messages and one
** uv_async_t on the loop. Any thread may post a message (DESIGN.md B14:
** the only code that runs off the loop thread); since several sends can
** give one callback, the async callback drains the whole queue and
** delivers each message on the loop thread, in pure C (DESIGN.md B1). The async
** handle is referenced exactly while something holds the poster (a task
** waits for a post), so a waiting task keeps the loop alive and an idle
** loom keeps no reference. At lua_close the poster is closed: posts are
** refused, queued messages are delivered with a NULL context (free only),
** and the async handle is closed (its close callback frees the poster).
*/

typedef struct loom_post loom_post;
typedef struct loom_poster loom_poster;

/* A message: embedded first in the poster's own struct. */
struct loom_post {
  loom_post *qnext;     /* the poster's queue (under its lock) */
  /* Delivers 'p' on the loop thread (pure C, no Lua); 'ctx' is NULL when
  ** the state is being closed: then only let go of it. */
  void (*deliver)(loom_ctx *ctx, loom_post *p);
};

/* [-0, +0, e] The poster of L's state, its async handle initialised on
** the loop (made by the first call: creates the loop, see loom_loop). */
loom_poster *loom__poster(lua_State *L, loom_ctx *ctx);
/* [-0, +0, -] Lock / unlock the poster's mutex (any thread): what a
** poster and the loop thread both touch is read and written under it. */
void loom__poster_lock(loom_poster *ps);
void loom__poster_unlock(loom_poster *ps);
/* [-0, +0, -] Under the lock: is the state being closed? */
int loom__poster_closed(loom_poster *ps);
/* [-0, +0, -] Under the lock, any thread: queue 'p' and signal the loop;
** refused (returns -1) once the poster is closed, else 0. */
int loom__post_locked(loom_poster *ps, loom_post *p);
/* [-0, +0, -] Loop thread: 'delta' (+1/-1) more things wait for posts;
** the async handle is referenced while some do. */
void loom__poster_hold(loom_poster *ps, int delta);
/* [-0, +0, -] Loop thread: is the async handle referenced (for tests)? */
int loom__poster_referenced(loom_poster *ps);
void loom__post_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** future.c, await.c, luv.c
** ===================================================================== */
void loom__future_open(lua_State *L, loom_ctx *ctx);
void loom__await_open(lua_State *L, loom_ctx *ctx);
void loom__luv_open(lua_State *L, loom_ctx *ctx);

#endif
