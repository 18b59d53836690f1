/*
** req.c: lifetime of libuv requests (rule B6), for dns.c, fs.c and udp.c.
**
** A request is malloc'd, pins the Lua values libuv points to until its
** callback (rule B5), and has exactly one owner at any time: the task that
** waits for it, or, once nobody waits (the task was cancelled, or the
** request was started in the background), its own completion callback.
** The waiting task owns it until the callback wakes it with TW_OK; its
** continuation then takes the result and frees it (loom__req_free). A
** cancelled wait is aborted at once (LOOM_ABORT_SUCCEEDED): the abort calls
** uv_cancel, which stops threadpool work that has not started (the callback
** then runs with UV_ECANCELED) and fails harmlessly otherwise; either way
** the request is now detached, counts in ctx->nclosing (loom.run waits for
** it, rule 2.1.5) and is freed by its callback, which releases its pins
** with loom__release_later. No Lua runs in a callback (rule B1), and during
** teardown (ctx->closing) callbacks only free memory (rule B13).
**
** A continuation finds its request on top of the task's stack: when it is
** made, loom__req_new pushes a small guard userdata ("loom.Request") that
** points to it, and the scheduler resumes the task with no values. The
** guard is a safety net: if its owner raises before freeing the request
** (out of memory while building a result), the guard's __gc frees it, or
** detaches it if libuv still holds it. A detached request is no longer
** the guard's (the abort clears it).
*/
#include <stdlib.h>
#include <string.h>

#include "req.h"

#define LOOM_REQUEST_MT "loom.Request"

/* The guard userdata of a waited-for request. */
typedef struct req_guard {
  loom_req *r;  /* NULL once freed or detached */
} req_guard;

/* A zeroed request of 'ctx' with no pins, or NULL (pure C). */
static loom_req *req_alloc(loom_ctx *ctx) {
  loom_req *r = (loom_req *)malloc(sizeof(loom_req));
  int i;
  if (r == NULL) return NULL;
  memset(r, 0, sizeof(*r));
  r->ctx = ctx;
  r->off = -1;
  for (i = 0; i < LOOM_REQ_NPIN; i++) r->pins[i] = LUA_NOREF;
  return r;
}

/* [-0, +1, m] A new request of context 'ctx', and push its guard, which
** owns it from now on: nothing else may be pushed above the guard until
** loom__req_wait. Raises a memory error (nothing leaks). */
loom_req *loom__req_new(lua_State *L, loom_ctx *ctx) {
  req_guard *g = (req_guard *)lua_newuserdatauv(L, sizeof(req_guard), 0);
  loom_req *r;
  g->r = NULL;
  luaL_setmetatable(L, LOOM_REQUEST_MT);
  r = req_alloc(ctx);
  if (r == NULL) {
    luaL_error(L, "loom: not enough memory for an I/O request");
    return NULL;
  }
  g->r = r;
  r->guard = g;
  return r;
}

/* [-0, +0, -] A request nobody will wait for (a close started by __gc),
** or NULL if out of memory; pure C. Its callback frees it, and loom.run
** waits for that (ctx->nclosing). */
loom_req *loom__req_new_bg(loom_ctx *ctx) {
  loom_req *r = req_alloc(ctx);
  if (r != NULL) {
    r->flags |= RQ_DETACHED | RQ_COUNTED;
    ctx->nclosing++;
  }
  return r;
}

/* [-0, +0, m] Pin the value at 'idx' until the request ends. */
void loom__req_pin(lua_State *L, loom_req *r, int idx) {
  int i;
  for (i = 0; i < LOOM_REQ_NPIN; i++) {
    if (r->pins[i] == LUA_NOREF) {
      lua_pushvalue(L, idx);
      r->pins[i] = loom__anchor(L, r->ctx);
      return;
    }
  }
  luaL_error(L, "loom: internal error (too many pins on a request)");
}

/* Count 'r' in ctx->nclosing, once: loom.run waits for its callback. */
static void req_count(loom_req *r) {
  if (r->flags & RQ_COUNTED) return;
  r->flags |= RQ_COUNTED;
  r->ctx->nclosing++;
}

/* Abort function of a task waiting for a request (pure C, rule B9): detach
** the request, try to stop it, and let the task go at once. */
static int req_abort(loom_ctx *ctx, loom_task *t) {
  loom_req *r = (loom_req *)t->wait_obj;
  (void)ctx;
  r->waiter = NULL;
  r->flags |= RQ_DETACHED;
  if (r->guard != NULL) r->guard->r = NULL;
  r->guard = NULL;
  req_count(r);
  if ((r->flags & RQ_SUBMITTED) && !(r->flags & RQ_NOCANCEL))
    (void)uv_cancel(&r->u.req);  /* UV_EBUSY: it runs; it is discarded */
  return LOOM_ABORT_SUCCEEDED;
}

/* [-0, +0, y] Suspend the running task 't' until request 'r' (submitted,
** or to be submitted by its family) completes; 'k' continues it and gets
** 'r' from loom__req_resumed. The guard of 'r' is on top of the stack. */
int loom__req_wait(lua_State *L, loom_task *t, loom_req *r,
                   lua_KFunction k) {
  r->waiter = t;
  return loom__suspend(L, t, req_abort, r, k);
}

/* [-0, +0, e] First thing in the continuation of loom__req_wait: raise
** Cancelled if the wait was aborted (the request then belongs to its
** callback and must not be touched), else return the request, which the
** caller now owns and must free with loom__req_free. Its guard stays on
** top of the stack. */
loom_req *loom__req_resumed(lua_State *L, loom_ctx *ctx, lua_KContext kc) {
  req_guard *g;
  loom__resumed(L, ctx, (loom_task *)kc);
  g = (req_guard *)luaL_checkudata(L, -1, LOOM_REQUEST_MT);
  return g->r;
}

/* __gc of a guard: a request whose owner raised before freeing it (out
** of memory). If libuv still holds it, its callback frees it; else free
** it now. */
static int l_guard_gc(lua_State *L) {
  req_guard *g = (req_guard *)lua_touserdata(L, 1);
  loom_req *r = g->r;
  if (r != NULL) {
    g->r = NULL;
    r->guard = NULL;
    r->waiter = NULL;
    if ((r->flags & (RQ_SUBMITTED | RQ_QUEUED)) &&
        !(r->flags & RQ_COMPLETED)) {
      r->flags |= RQ_DETACHED;
      req_count(r);
    } else {
      loom__req_free(L, r);
    }
  }
  return 0;
}

/* [-0, +0, m] Register the guard's metatable (idempotent; every family
** opener calls it). */
void loom__req_open(lua_State *L, loom_ctx *ctx) {
  (void)ctx;
  if (luaL_newmetatable(L, LOOM_REQUEST_MT)) {
    lua_pushcfunction(L, l_guard_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
}

/* [-0, +0, -] Free 'r' and what it owns, from a libuv callback (pure C):
** the pins are released at the next scheduler pass. */
void loom__req_discard(loom_req *r) {
  loom_ctx *ctx = r->ctx;
  int i;
  if (r->guard != NULL) r->guard->r = NULL;
  if (r->cleanup != NULL) r->cleanup(r);
  free(r->buf);
  for (i = 0; i < LOOM_REQ_NPIN; i++)
    if (!ctx->closing) loom__release_later(ctx, r->pins[i]);
  if (r->flags & RQ_COUNTED) ctx->nclosing--;
  free(r);
}

/* [-0, +0, -] Called by a family's completion callback once the result is
** stored in 'r' (pure C). If a task waits, wake it (it takes the result
** and frees 'r') and return 1; otherwise free 'r' and return 0. */
int loom__req_finish(loom_req *r) {
  loom_ctx *ctx = r->ctx;
  loom_task *t = r->waiter;
  r->flags |= RQ_COMPLETED;
  if (t != NULL && !ctx->closing) {
    r->waiter = NULL;
    loom__wake(ctx, t, TW_OK);
    return 1;
  }
  loom__req_discard(r);
  return 0;
}

/* [-0, +0, m] Free 'r' from Lua context (a continuation, or a request that
** libuv refused): its pins are released now. */
void loom__req_free(lua_State *L, loom_req *r) {
  loom_ctx *ctx = r->ctx;
  int i;
  if (r->guard != NULL) r->guard->r = NULL;
  if (r->cleanup != NULL) r->cleanup(r);
  free(r->buf);
  for (i = 0; i < LOOM_REQ_NPIN; i++) loom__unanchor(L, ctx, r->pins[i]);
  if (r->flags & RQ_COUNTED) ctx->nclosing--;
  free(r);
}

/* [-0, +3, m] Free 'r' (libuv refused it, or the continuation is done with
** it) and push the fail tuple of 'err' (rule E2); returns 3. */
int loom__req_fail(lua_State *L, loom_req *r, int err) {
  loom__req_free(L, r);
  return loom__fail(L, err);
}
