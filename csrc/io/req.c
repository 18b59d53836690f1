/*
** req.c: lifetime of libuv requests (DESIGN.md B5, B6, B9, B13), for
** every I/O family; the protocol is described in io.h ("Requests").
**
** A request has exactly one owner at any time: the task that waits for
** it (until its continuation frees it), or its own completion callback
** (once it is detached: its task was cancelled, or nobody ever waited).
** A detached request counts in ctx->nclosing until its callback, which
** releases its pins with loom__release_later. Every request holds a
** reference to the context's loom_io, which outlives the Lua state, and
** reaches the context only through it: after teardown io->ctx is NULL and
** the callbacks only free memory. No Lua runs in a callback (DESIGN.md B1).
**
** The optional guard ("loom.Request", a userdata holding the request's
** pointer) is the safety net of requests whose continuation may raise
** before freeing them: its __gc frees the request, or detaches it if
** libuv still holds it. The guard and the request point to each other;
** whichever goes first clears the other's pointer.
*/
#include <stdlib.h>
#include <string.h>

#include "io.h"

#define LOOM_REQUEST_MT "loom.Request"

/* The guard userdata of a waited-for request. */
struct loom_req_guard {
  loom_req *r;  /* NULL once freed or detached */
};

/* [-0, +0, -] A zeroed request of 'size' bytes holding a reference to
** 'io', or NULL (pure C). */
static loom_req *req_alloc(loom_io *io, size_t size) {
  loom_req *r;
  int i;
  if (io == NULL || size < sizeof(loom_req)) return NULL;
  r = (loom_req *)calloc(1, size);
  if (r == NULL) return NULL;
  r->io = io;
  io->nrefs++;
  for (i = 0; i < LOOM_REQ_NPIN; i++) r->pins[i] = LUA_NOREF;
  return r;
}

/* [-0, +0, -] Free the block of 'r' (its pins are already released) and
** drop its reference to the I/O state. */
static void req_release(loom_req *r) {
  loom_io *io = r->io;
  loom_ctx *ctx = io->ctx;
  if (r->guard != NULL) r->guard->r = NULL;
  if (r->cleanup != NULL) r->cleanup(r);
  if ((r->flags & RQ_COUNTED) && ctx != NULL) ctx->nclosing--;
  free(r);
  loom__io_unref(io);
}

/* [-0, +(0|1), m] A new request; with 'guard', push its guard first (so
** that a memory error leaks nothing). */
void *loom__req_new(lua_State *L, loom_ctx *ctx, size_t size, int guard) {
  loom_req_guard *g = NULL;
  loom_req *r;
  if (guard) {
    g = (loom_req_guard *)lua_newuserdatauv(L, sizeof(loom_req_guard), 0);
    g->r = NULL;
    luaL_setmetatable(L, LOOM_REQUEST_MT);
  }
  r = req_alloc(loom__io(ctx), size);
  if (r == NULL) {
    luaL_error(L, "loom: out of memory (I/O request)");
    return NULL;
  }
  if (g != NULL) {
    g->r = r;
    r->guard = g;
  }
  return r;
}

/* [-0, +0, -] A detached request, counted in ctx->nclosing; NULL if out of
** memory. */
void *loom__req_new_bg(loom_ctx *ctx, size_t size) {
  loom_req *r = req_alloc(loom__io(ctx), size);
  if (r != NULL) {
    r->flags |= RQ_DETACHED | RQ_COUNTED;
    ctx->nclosing++;
  }
  return r;
}

/* [-0, +0, m] Pin the value at 'idx' until the request is freed. */
void loom__req_pin(lua_State *L, loom_req *r, int idx) {
  int i;
  for (i = 0; i < LOOM_REQ_NPIN; i++) {
    if (r->pins[i] == LUA_NOREF) {
      lua_pushvalue(L, idx);
      r->pins[i] = loom__anchor(L, r->io->ctx);
      return;
    }
  }
  luaL_error(L, "loom: internal error (too many pins on a request)");
}

/* [-0, +0, -] Nobody waits for 'r' any more: its callback frees it, and
** loom.run waits for that (ctx->nclosing). Pure C. */
void loom__req_detach(loom_req *r) {
  loom_ctx *ctx = r->io->ctx;
  r->waiter = NULL;
  r->flags |= RQ_DETACHED;
  if (r->guard != NULL) r->guard->r = NULL;
  r->guard = NULL;
  if (!(r->flags & RQ_COUNTED) && ctx != NULL) {
    r->flags |= RQ_COUNTED;
    ctx->nclosing++;
  }
}

/* Abort (pure C, DESIGN.md B9): detach the request, try to stop it, and
** let the task go at once. uv_cancel fails with UV_EBUSY once the work
** runs: it then completes in the background and is discarded. */
int loom__req_abort_detach(loom_ctx *ctx, loom_task *t) {
  loom_req *r = (loom_req *)t->wait_obj;
  (void)ctx;
  loom__req_detach(r);
  if ((r->flags & RQ_SUBMITTED) && !(r->flags & RQ_NOCANCEL))
    (void)uv_cancel(r->uv);
  return LOOM_ABORT_SUCCEEDED;
}

/* Abort (pure C): the request cannot be stopped; the task waits for its
** real result and meets Cancelled at its next checkpoint. */
int loom__req_abort_failed(loom_ctx *ctx, loom_task *t) {
  (void)ctx;
  (void)t;
  return LOOM_ABORT_FAILED;
}

/* [-0, +(0|1), y] Suspend 't' until 'r' completes. A guarded request has
** its guard on top of the stack; otherwise push 'r' as a light userdata,
** for the continuation. */
int loom__req_wait(lua_State *L, loom_task *t, loom_req *r,
                   loom_abort_fn abort, lua_KFunction k) {
  r->waiter = t;
  if (r->guard == NULL) lua_pushlightuserdata(L, r);
  return loom__suspend(L, t, abort, r, k);
}

/* [-0, +0, e] In the continuation: raise Cancelled if the wait was
** aborted, else return the request (top of the stack). */
loom_req *loom__req_resumed(lua_State *L, loom_ctx *ctx, lua_KContext kc) {
  loom__resumed(L, ctx, (loom_task *)kc);
  if (lua_type(L, -1) == LUA_TLIGHTUSERDATA)
    return (loom_req *)lua_touserdata(L, -1);
  return ((loom_req_guard *)lua_touserdata(L, -1))->r;
}

/* [-0, +0, -] The live context of 'r', NULL during or after teardown. */
loom_ctx *loom__req_ctx(loom_req *r) {
  loom_ctx *ctx = r->io->ctx;
  return (ctx != NULL && !ctx->closing) ? ctx : NULL;
}

/* [-0, +0, -] Will loom__req_finish hand the result to a task? */
int loom__req_wanted(loom_req *r) {
  return r->waiter != NULL && loom__req_ctx(r) != NULL;
}

/* [-0, +0, -] From a completion callback (pure C), result stored: wake the
** waiter, who takes the result and frees 'r' (returns 1), or free 'r',
** whose pins are released at the next scheduler pass (returns 0). */
int loom__req_finish(loom_req *r) {
  loom_ctx *ctx = loom__req_ctx(r);
  loom_task *t = r->waiter;
  int i;
  r->flags |= RQ_COMPLETED;
  if (t != NULL && ctx != NULL) {
    r->waiter = NULL;
    loom__wake(ctx, t, TW_OK);
    return 1;
  }
  if (ctx != NULL)
    for (i = 0; i < LOOM_REQ_NPIN; i++) loom__release_later(ctx, r->pins[i]);
  req_release(r);
  return 0;
}

/* [-0, +0, m] Free 'r' from Lua context (a continuation, or a request
** libuv refused): its pins are released now. */
void loom__req_free(lua_State *L, loom_req *r) {
  loom_ctx *ctx = r->io->ctx;
  int i;
  for (i = 0; i < LOOM_REQ_NPIN; i++) loom__unanchor(L, ctx, r->pins[i]);
  req_release(r);
}

/* [-0, +3, m] Free 'r' and push the fail tuple of 'err' (DESIGN.md E2). */
int loom__req_fail(lua_State *L, loom_req *r, int err) {
  loom__req_free(L, r);
  return loom__fail(L, err);
}

/* [-1, +0, -] __gc of a guard: its request's owner raised before freeing
** it. If libuv still holds it (or its family will submit it), detach it:
** the callback frees it; else free it now. Never raises (DESIGN.md,
** DESIGN.md B7). */
static int l_guard_gc(lua_State *L) {
  loom_req_guard *g = (loom_req_guard *)lua_touserdata(L, 1);
  loom_req *r = g->r;
  if (r == NULL) return 0;
  g->r = NULL;
  r->guard = NULL;
  if ((r->flags & (RQ_SUBMITTED | RQ_QUEUED)) &&
      !(r->flags & RQ_COMPLETED)) {
    loom__req_detach(r);
  } else if (r->io->ctx != NULL) {
    loom__req_free(L, r);
  } else {
    req_release(r);   /* the context is gone: so are the anchors */
  }
  return 0;
}

static const luaL_Reg guard_meta[] = {
  {"__gc", l_guard_gc},
  {NULL, NULL}
};

static const loom_class guard_class = {
  LOOM_REQUEST_MT, NULL, guard_meta, NULL, NULL, NULL, NULL
};

/* [-0, +0, m] Register the guard's class. */
void loom__req_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &guard_class);
  lua_pop(L, 1);
}
