/*
** req.h: lifetime of libuv requests (req.c), for every I/O family
** (stream.c, tcp.c, pipe.c, udp.c, dns.c, fs.c, file.c).
**
** A request is a malloc'd block (rule B6) that starts with a loom_req,
** followed by the family's libuv request and its own fields:
**
**   typedef struct write_req { loom_req r; uv_write_t w; } write_req;
**   wr = loom__req_new(L, ctx, sizeof *wr, 0);
**   loom__req_bind(&wr->r, &wr->w);        (r.uv, w.data = &wr->r)
**
** so a stream write allocates what a write needs and no more. A libuv
** callback finds its loom_req in the request's data field.
**
** Pins. While it is in flight a request pins, in the context's anchor
** table (rule B5), up to LOOM_REQ_NPIN Lua values libuv points into (a
** string being written); they are released when the request is freed.
**
** Owners. Exactly one party frees a request:
**  - the task waiting for it (loom__req_wait), in its continuation, once
**    the callback has woken it (loom__req_resumed gives the request back;
**    loom__req_free frees it);
**  - its callback (loom__req_finish), once nobody waits: the waiting task
**    was cancelled and the abort detached the request, or the request
**    was started in the background (loom__req_new_bg). A detached request
**    counts in ctx->nclosing until its callback has run, so loom.run
**    returns only after it (nothing outlives loom.run, rule 2.1.5).
** Aborts (the task's scope is cancelled, rule B9), chosen at wait time:
**  - loom__req_abort_detach: detach, uv_cancel unless RQ_NOCANCEL (the
**    threadpool drops work that has not started; otherwise it finishes in
**    the background and its result is discarded); SUCCEEDED;
**  - loom__req_abort_failed: the request cannot be stopped, the task gets
**    its real result and meets Cancelled at its next checkpoint; FAILED;
**  - a family's own abort that stops the operation some other way (closing
**    the stream of a write or a connect) and calls loom__req_detach.
**
** The guard. A request may be "guarded" (loom__req_new(..., 1)): a small
** userdata pushed on the stack owns it until the task waits, and again in
** the continuation, so that a raise before the request is freed (out of
** memory while building a large result) cannot leak it: the guard's __gc
** frees the request, or detaches it if libuv still holds it. Requests
** whose continuation cannot raise before freeing them (stream writes,
** connects) go without, and save the userdata. Either way the request is
** on top of the task's stack when its continuation runs (a guard, or a
** light userdata pushed by loom__req_wait): the suspend primitive gives
** continuations the task as their context.
**
** Teardown (rule B13). With a host loop attached, lua_close may run while
** requests are in flight; their callbacks then run in the host's next
** uv_run, after the context and every Lua object are gone. The rule:
** a callback touches only the request's block, the loom_io it holds a
** reference to (malloc'd; io->ctx is NULL once the context is torn down)
** and other malloc'd blocks it holds a reference to (a File's state in
** file.c); it gets the context only through loom__req_ctx, which returns
** NULL during and after teardown, and then it only frees memory: no wake,
** no anchor released, no counter touched, no new libuv request (a file
** descriptor that must be closed is closed synchronously). Nothing a
** request points into may be Lua memory that lua_close
** frees while libuv still reads it: libuv stops touching a handle's write
** buffers at uv_close (teardown closes every handle), but threadpool work
** reads its buffer until it completes, so fs writes on a host loop copy
** their data (file.c).
*/
#ifndef loom_req_h
#define loom_req_h

#include "io.h"

/* How many Lua values a request can pin. */
#define LOOM_REQ_NPIN 2

/* Request flags. */
#define RQ_SUBMITTED 0x01  /* handed to libuv: its callback will run */
#define RQ_DETACHED 0x02   /* nobody waits: the callback frees it */
#define RQ_COUNTED 0x04    /* counted in ctx->nclosing */
#define RQ_COMPLETED 0x08  /* its callback has run */
#define RQ_QUEUED 0x10     /* its family will submit it later */
#define RQ_NOCANCEL 0x20   /* never uv_cancel it (a close must happen) */

typedef struct loom_req loom_req;
typedef struct loom_req_guard loom_req_guard;

/* Frees what a request's result owns (pure C, no Lua; may run after the
** Lua state has gone). */
typedef void (*loom_req_cleanup_fn)(loom_req *r);

struct loom_req {
  uv_req_t *uv;                 /* the libuv request inside the block */
  loom_io *io;                  /* I/O state (a reference is held) */
  loom_task *waiter;            /* task blocked on it, or NULL */
  loom_req_guard *guard;        /* its guard while a task owns it */
  loom_req_cleanup_fn cleanup;  /* frees the family's results, or NULL */
  int pins[LOOM_REQ_NPIN];      /* anchors, LUA_NOREF when unused */
  int status;                   /* result: 0, or a libuv error */
  unsigned char flags;          /* RQ_* */
};

/* [-0, +0, -] Make 'r' own the libuv request 'uvreq' (inside its block):
** r->uv, and uvreq->data pointing back to 'r'. */
#define loom__req_bind(r, uvreq) \
  ((r)->uv = (uv_req_t *)(uvreq), (uvreq)->data = (r))
/* [-0, +0, -] The loom_req of a libuv request made by loom. */
#define loom__req_of(uvreq) ((loom_req *)(uvreq)->data)

/* [-0, +0, m] Register the guard metatable (loom__handles_open). */
void loom__req_open(lua_State *L, loom_ctx *ctx);
/* [-0, +(0|1), m] A zeroed request block of 'size' bytes (at least a
** loom_req) with no pins; with 'guard', push its guard, which owns it
** from now on (nothing else may be pushed above the guard until
** loom__req_wait). Raises a memory error; nothing leaks. */
void *loom__req_new(lua_State *L, loom_ctx *ctx, size_t size, int guard);
/* [-0, +0, -] A request nobody will wait for (a close started by __gc),
** or NULL if out of memory; pure C. Counted in ctx->nclosing, freed by
** its callback. */
void *loom__req_new_bg(loom_ctx *ctx, size_t size);
/* [-0, +0, m] Pin the value at 'idx' until the request is freed. */
void loom__req_pin(lua_State *L, loom_req *r, int idx);
/* [-0, +(0|1), y] Suspend the running task 't' until 'r' (submitted, or
** queued for its family to submit) completes; 'abort' is one of the
** aborts above; 'k' continues and must start with loom__req_resumed. */
int loom__req_wait(lua_State *L, loom_task *t, loom_req *r,
                   loom_abort_fn abort, lua_KFunction k);
/* [-0, +0, e] First thing in the continuation of loom__req_wait: raise
** Cancelled if the wait was aborted (the request then belongs to its
** callback and must not be touched), else return the request, now the
** caller's to free. It stays on top of the stack (guard or light
** userdata). */
loom_req *loom__req_resumed(lua_State *L, loom_ctx *ctx, lua_KContext kc);
/* [-0, +0, -] From an abort (pure C): nobody waits for 'r' any more; its
** callback will free it; count it in ctx->nclosing. */
void loom__req_detach(loom_req *r);
/* Aborts of a task waiting on a request (its wait_obj); see above. */
int loom__req_abort_detach(loom_ctx *ctx, loom_task *t);
int loom__req_abort_failed(loom_ctx *ctx, loom_task *t);
/* [-0, +0, -] In a callback: the live context of 'r', or NULL during and
** after teardown (then only free memory). */
loom_ctx *loom__req_ctx(loom_req *r);
/* [-0, +0, -] In a callback, before loom__req_finish: will the result
** reach a task? (If not, free what the result owns, or undo it.) */
int loom__req_wanted(loom_req *r);
/* [-0, +0, -] From a completion callback, result stored in the block:
** wake the waiter (returns 1) or free a request nobody waits for
** (returns 0). */
int loom__req_finish(loom_req *r);
/* [-0, +0, m] Free 'r' from Lua context (pins released now). */
void loom__req_free(lua_State *L, loom_req *r);
/* [-0, +3, m] Free 'r' and push the fail tuple of 'err'; returns 3. */
int loom__req_fail(lua_State *L, loom_req *r, int err);

/* {====================================================================
** dns.c: name resolution shared with tcp.c
** ===================================================================== */
/* [-0, +(1|3), y] Start resolving 'host' ('service' may be NULL) for task
** 't' and wait (a guarded request); 'k' continues: it takes the request
** with loom__req_resumed, the addresses with loom__gai_result, then frees
** it with loom__req_free. Returns a fail tuple if libuv refuses. A
** cancelled lookup is detached (uv_cancel if it has not started). */
int loom__gai_wait(lua_State *L, loom_ctx *ctx, loom_task *t,
                   const char *host, const char *service,
                   const struct addrinfo *hints, lua_KFunction k);
/* [-0, +0, -] The addresses of a completed lookup (NULL on failure). */
const struct addrinfo *loom__gai_result(loom_req *r);

#endif
