/*
** req.h: lifetime of libuv requests (req.c), shared by dns.c, fs.c and
** udp.c.
**
** A loom_req is malloc'd (rule B6) and wraps one uv_req_t of any family
** (its first member, so a libuv callback gets it back with loom_req_of).
** While it is in flight it pins, in the context's anchor table (rule B5),
** every Lua value libuv points to (a string being written, the object whose
** memory the completion callback touches). Exactly one party frees it:
**  - the task waiting for it, in its continuation, when the request
**    completed while the task was still waiting (loom__req_free);
**  - the completion callback, when nobody waits any more: the waiting task
**    was cancelled (its abort detached the request) or the request was
**    started in the background (a close from __gc). Such a request counts
**    in ctx->nclosing until its callback has run, so loom.run returns only
**    after it (nothing outlives loom.run); its pins are released with
**    loom__release_later.
** Cancelling a waiting task (req_abort) calls uv_cancel, which succeeds
** when the threadpool has not started the work (the callback then runs
** with UV_ECANCELED); otherwise the work finishes in the background and
** its result is discarded. Either way the abort succeeds at once: the task
** is woken with Cancelled, and the request is freed by its callback.
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
struct req_guard;

/* Frees what a request's result owns (pure C, no Lua). */
typedef void (*loom_req_cleanup_fn)(loom_req *r);

struct loom_req {
  union {
    uv_req_t req;
    uv_fs_t fs;
    uv_getaddrinfo_t gai;
    uv_udp_send_t send;
  } u;
  loom_ctx *ctx;
  loom_task *waiter;            /* task blocked on it, or NULL */
  struct req_guard *guard;      /* its guard while a task owns it */
  loom_req_cleanup_fn cleanup;  /* frees the family's results, or NULL */
  void *obj;                    /* the family's object (a File), pinned */
  char *buf;                    /* malloc'd read buffer, or NULL */
  const char *data;             /* bytes to write (a pinned string) */
  size_t len;                   /* buf's size, or the length to write */
  size_t done;                  /* bytes written so far */
  int64_t off;                  /* file offset, -1 for the position */
  struct addrinfo *ai;          /* getaddrinfo's result */
  int status;                   /* result (< 0: a libuv error) */
  int pins[LOOM_REQ_NPIN];      /* anchors, LUA_NOREF when unused */
  unsigned char flags;          /* RQ_* */
  unsigned char kind;           /* the family's own tag */
  unsigned char stage;          /* the family's own state */
};

/* The loom_req of a libuv request (the union is its first member). */
#define loom_req_of(p) ((loom_req *)(void *)(p))

/* [-0, +0, m] Register the guard metatable (every family opener). */
void loom__req_open(lua_State *L, loom_ctx *ctx);
/* [-0, +1, m] A new request; pushes its guard, which owns it until the
** task waits (loom__req_wait) and frees it if an error comes first. */
loom_req *loom__req_new(lua_State *L, loom_ctx *ctx);
/* [-0, +0, -] A request nobody waits for (pure C; NULL if out of memory):
** counted in ctx->nclosing, freed by its callback. */
loom_req *loom__req_new_bg(loom_ctx *ctx);
/* [-0, +0, m] Pin the value at 'idx' until the request ends. */
void loom__req_pin(lua_State *L, loom_req *r, int idx);
/* [-0, +0, y] Wait for 'r' (its guard on top of the stack); 'k' continues
** and must start with loom__req_resumed. */
int loom__req_wait(lua_State *L, loom_task *t, loom_req *r,
                   lua_KFunction k);
/* [-0, +0, e] In 'k': raise Cancelled if the wait was aborted, else the
** request, now the caller's to free. */
loom_req *loom__req_resumed(lua_State *L, loom_ctx *ctx, lua_KContext kc);
/* [-0, +0, -] From a completion callback, result stored: wake the waiter
** (returns 1) or free a request nobody waits for (returns 0). */
int loom__req_finish(loom_req *r);
/* [-0, +0, -] Free 'r' from a callback (pins released later). */
void loom__req_discard(loom_req *r);
/* [-0, +0, m] Free 'r' from Lua context (pins released now). */
void loom__req_free(lua_State *L, loom_req *r);
/* [-0, +3, m] Free 'r' and push the fail tuple of 'err'; returns 3. */
int loom__req_fail(lua_State *L, loom_req *r, int err);

#endif
