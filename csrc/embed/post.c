/*
** post.c: the cross-thread post (embed.h): messages from any thread,
** delivered on the loop's thread through one uv_async_t per Lua state.
** Futures (future.c) settle through it.
**
** The poster is malloc'd (libuv holds its async handle until the close
** callback, after the state has gone: DESIGN.md B6) and owned by a
** userdata in the registry whose __gc closes it at lua_close (DESIGN.md B13: no
** Lua runs there). Invariants:
**  - ps->closed and the queue change only under ps->mu;
**  - ps->nhold counts what waits for posts on the loop thread; the async
**    handle is referenced exactly while it is not 0 (ps->reffed).
*/
#include <stdlib.h>

#include "embed.h"

struct loom_poster {
  uv_async_t async;
  uv_mutex_t mu;
  loom_ctx *ctx;
  loom_post *qhead, *qtail;  /* posted, not delivered (under mu) */
  int closed;                /* lua_close began (written under mu) */
  int async_ready;           /* async initialised on ctx->loop */
  int reffed;                /* async referenced */
  int nhold;                 /* things waiting for posts */
};

static const char poster_key = 'p';

/* [-0, +0, -] The poster of L's state, or NULL. */
static loom_poster *poster_get(lua_State *L) {
  loom_poster **box;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &poster_key);
  box = (loom_poster **)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return box != NULL ? *box : NULL;
}

/* Reference the async handle exactly while something holds the poster
** (loop thread). */
static void poster_sync_ref(loom_poster *ps) {
  int want = ps->nhold > 0;
  if (!ps->async_ready || ps->closed || want == ps->reffed) return;
  if (want) uv_ref((uv_handle_t *)&ps->async);
  else uv_unref((uv_handle_t *)&ps->async);
  ps->reffed = want;
}

static void poster_free(loom_poster *ps) {
  uv_mutex_destroy(&ps->mu);
  free(ps);
}

static void on_poster_closed(uv_handle_t *h) {
  poster_free((loom_poster *)h->data);
}

/* Take the whole queue (under the lock; 'close': refuse later posts) and
** deliver each message in the order they were posted, with 'ctx'. */
static void poster_drain(loom_poster *ps, loom_ctx *ctx, int close) {
  loom_post *q, *p;
  uv_mutex_lock(&ps->mu);
  if (ps->closed) {
    uv_mutex_unlock(&ps->mu);
    return;
  }
  ps->closed = close;
  q = ps->qhead;
  ps->qhead = ps->qtail = NULL;
  uv_mutex_unlock(&ps->mu);
  while (q != NULL) {
    p = q;
    q = p->qnext;
    p->qnext = NULL;
    p->deliver(ctx, p);
  }
}

/* The async callback (libuv context, pure C, DESIGN.md B1): deliver every
** queued message. */
static void on_async(uv_async_t *a) {
  loom_poster *ps = (loom_poster *)a->data;
  poster_drain(ps, ps->ctx, 0);
}

/* [-0, +0, e] See embed.h. */
loom_poster *loom__poster(lua_State *L, loom_ctx *ctx) {
  loom_poster *ps = poster_get(L);
  int rc;
  if (ps == NULL || ps->closed)
    luaL_error(L, "loom: the state is being closed");
  if (ps->async_ready) return ps;
  loom__sched_prepare(L, ctx);
  rc = uv_async_init(ctx->loop, &ps->async, on_async);
  if (rc != 0)
    luaL_error(L, "loom: cannot create the cross-thread async handle (%s)",
               uv_strerror(rc));
  ps->async.data = ps;
  uv_unref((uv_handle_t *)&ps->async);
  ps->async_ready = 1;
  return ps;
}

void loom__poster_lock(loom_poster *ps) { uv_mutex_lock(&ps->mu); }

void loom__poster_unlock(loom_poster *ps) { uv_mutex_unlock(&ps->mu); }

int loom__poster_closed(loom_poster *ps) { return ps->closed; }

/* [-0, +0, -] See embed.h. The send happens under the lock, so that
** lua_close cannot close the handle between the append and the send. */
int loom__post_locked(loom_poster *ps, loom_post *p) {
  if (ps->closed || !ps->async_ready) return -1;
  p->qnext = NULL;
  if (ps->qtail != NULL) ps->qtail->qnext = p;
  else ps->qhead = p;
  ps->qtail = p;
  uv_async_send(&ps->async);
  return 0;
}

/* [-0, +0, -] See embed.h. */
void loom__poster_hold(loom_poster *ps, int delta) {
  ps->nhold += delta;
  poster_sync_ref(ps);
}

/* [-0, +0, -] See embed.h. */
int loom__poster_referenced(loom_poster *ps) {
  return ps != NULL && ps->reffed;
}

/* [-0, +0, -] __gc of the poster's box, at lua_close: refuse further
** posts, let go of queued messages, close the async handle (DESIGN.md B13: no
** Lua runs). */
static int l_poster_gc(lua_State *L) {
  loom_poster **box = (loom_poster **)lua_touserdata(L, 1);
  loom_poster *ps = *box;
  if (ps == NULL) return 0;
  *box = NULL;
  poster_drain(ps, NULL, 1);
  ps->ctx = NULL;
  if (ps->async_ready) uv_close((uv_handle_t *)&ps->async, on_poster_closed);
  else poster_free(ps);
  return 0;
}

static const luaL_Reg poster_meta[] = {
  {"__gc", l_poster_gc},
  {NULL, NULL}
};

static const loom_class poster_class = {
  "loom.Poster", NULL, poster_meta, NULL, NULL, NULL, NULL
};

/* [-0, +0, m] Make the poster of the state (its async handle is made on
** first use). */
void loom__post_open(lua_State *L, loom_ctx *ctx) {
  loom_poster **box;
  loom_poster *ps;
  loom__class_open(L, ctx, &poster_class);
  box = (loom_poster **)lua_newuserdatauv(L, sizeof(loom_poster *), 0);
  *box = NULL;
  lua_insert(L, -2);
  lua_setmetatable(L, -2);
  ps = (loom_poster *)calloc(1, sizeof(loom_poster));
  if (ps == NULL) luaL_error(L, "loom: out of memory (poster)");
  if (uv_mutex_init(&ps->mu) != 0) {
    free(ps);
    luaL_error(L, "loom: cannot create a mutex");
  }
  ps->ctx = ctx;
  *box = ps;
  lua_rawsetp(L, LUA_REGISTRYINDEX, &poster_key);
}
