/*
** future.c: futures of the embedding API (loom_future_*, API section 8)
** and loom.await, the bridge from callback-style APIs to tasks.
**
** A future is a malloc'd loom_future (B6: a thread may hold its pointer
** after Lua has let go of it) and a Lua object `fut` whose payload points
** to it. It is settled once: on the loop's thread by resolve/reject, whose
** values go into fut's user value (B5, B10: waiters take them from the
** object, never from the wake-up), or from any thread by loom_future_post,
** which copies one string into the struct, appends the struct to the
** queue of the context's hub under the hub's mutex and signals the hub's
** one uv_async_t; the async callback drains the whole queue (several sends
** may give one callback), marks the futures settled and wakes their
** waiters, in pure C (B1, B14). No Lua API call happens off the loop
** thread.
**
** Invariants:
**  - f->posted and f->state change only under hub->mu; f->state changes
**    only on the loop thread, so the loop thread reads it without the lock;
**  - a future is freed when it is settled and its Lua object is gone
**    (f->box == NULL), whichever comes second, or at lua_close (the hub's
**    finalizer frees every future left, then closes the async handle; the
**    close callback frees the hub);
**  - hub->nwait counts the unsettled futures that have a waiter; the async
**    handle is referenced exactly while it is not 0, so a task waiting for
**    a post keeps the loop alive (no false "deadlock" in loom.run, no early
**    return of the host's uv_run) and an idle loom keeps no reference.
**
** loom.await(fn, ...) calls fn(..., cb) and waits for cb in a small Lua
** object (an "await cell") that the task keeps on its stack; a callback
** that comes after the waiter was cancelled, or a second call, is ignored
** (with a Lua warning, E7).
*/
#include <stdlib.h>
#include <string.h>

#include "future.h"

#define LOOM_FUTURE_MT "loom.Future"
#define LOOM_AWAIT_MT "loom.AwaitCell"

/* Outcome of a future (f->state). */
#define FS_PENDING 0
#define FS_OK 1
#define FS_ERR 2

/* Where the value of a settled future lives (f->src). */
#define FV_LUA 0   /* user value 1 of fut: the value, or a table if n > 1 */
#define FV_POST 1  /* f->data and f->len: the posted string */

typedef struct loom_fhub loom_fhub;

struct loom_future {
  loom_fhub *hub;
  loom_future *prev, *next;  /* hub->all (loop thread only) */
  loom_future *qnext;        /* hub's post queue (under hub->mu) */
  loom_future **box;         /* payload of fut; NULL once it is collected */
  loom_lot waiters;          /* tasks in fut:wait() */
  char *data;                /* posted bytes (malloc'd), or NULL */
  size_t len;
  int nvals;                 /* FV_LUA: number of values */
  unsigned char posted;      /* under hub->mu */
  unsigned char ok;          /* what the post asked for */
  unsigned char state;       /* FS_*, see the invariants */
  unsigned char src;         /* FV_* */
};

/* Per-state hub of the futures: malloc'd, because libuv holds its async
** handle until the close callback, after the state has gone (B6). */
struct loom_fhub {
  uv_async_t async;
  uv_mutex_t mu;
  loom_ctx *ctx;
  loom_future *all;            /* every allocated future */
  loom_future *qhead, *qtail;  /* posted, not delivered (under mu) */
  int closed;                  /* lua_close began (written under mu) */
  int async_ready;             /* async initialised on ctx->loop */
  int reffed;                  /* async referenced */
  int nwait;                   /* unsettled futures with a waiter */
  int nlive;                   /* allocated futures */
  int r_weak;                  /* registry: lightuserdata(f) -> fut, weak */
  int r_mt;                    /* registry: the Future metatable */
};

/* An await cell (payload of a full userdata with one user value). */
#define AW_PENDING 0
#define AW_DONE 1
#define AW_ABANDONED 2

typedef struct loom_await {
  loom_task *waiter;  /* the suspended task, or NULL */
  int state;          /* AW_* */
  int n;              /* number of values (user value 1 is their table) */
} loom_await;

static const char hub_key = 'f';

/* {====================================================================
** The hub
** ===================================================================== */

/* [-0, +0, -] The hub of L's state, or NULL. */
static loom_fhub *hub_get(lua_State *L) {
  loom_fhub **box;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &hub_key);
  box = (loom_fhub **)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return box != NULL ? *box : NULL;
}

/* Reference the async handle exactly while some unsettled future has a
** waiter (loop thread). */
static void hub_sync_ref(loom_fhub *hub) {
  int want = hub->nwait > 0;
  if (!hub->async_ready || hub->closed || want == hub->reffed) return;
  if (want) uv_ref((uv_handle_t *)&hub->async);
  else uv_unref((uv_handle_t *)&hub->async);
  hub->reffed = want;
}

static void hub_free(loom_fhub *hub) {
  uv_mutex_destroy(&hub->mu);
  free(hub);
}

static void on_hub_closed(uv_handle_t *h) {
  hub_free((loom_fhub *)h->data);
}

/* Unlink and free 'f' (loop thread; 'f' is in no queue). */
static void future_free(loom_fhub *hub, loom_future *f) {
  if (f->prev != NULL) f->prev->next = f->next;
  else hub->all = f->next;
  if (f->next != NULL) f->next->prev = f->prev;
  hub->nlive--;
  free(f->data);
  free(f);
}

/* The waiters of 'f', which has just been settled, are woken. */
static void future_wake(loom_fhub *hub, loom_future *f) {
  if (f->waiters.n > 0) {
    hub->nwait--;
    loom__lot_wake_all(hub->ctx, &f->waiters);
  }
  hub_sync_ref(hub);
}

/* The async callback (libuv context, pure C, B1): deliver every queued
** post. */
static void on_async(uv_async_t *a) {
  loom_fhub *hub = (loom_fhub *)a->data;
  loom_future *q, *f;
  uv_mutex_lock(&hub->mu);
  if (hub->closed) {
    uv_mutex_unlock(&hub->mu);
    return;
  }
  q = hub->qhead;
  hub->qhead = hub->qtail = NULL;
  for (f = q; f != NULL; f = f->qnext) {
    f->state = f->ok ? FS_OK : FS_ERR;
    f->src = FV_POST;
  }
  uv_mutex_unlock(&hub->mu);
  while (q != NULL) {
    f = q;
    q = f->qnext;
    f->qnext = NULL;
    if (f->box == NULL) future_free(hub, f);  /* nobody can wait on it */
    else future_wake(hub, f);
  }
}

/* [-0, +0, e] Make the async handle on the loop (first future). */
static void hub_ensure_async(lua_State *L, loom_ctx *ctx, loom_fhub *hub) {
  int rc;
  if (hub->async_ready) return;
  loom__sched_prepare(L, ctx);
  rc = uv_async_init(ctx->loop, &hub->async, on_async);
  if (rc != 0)
    luaL_error(L, "loom: cannot create the futures' async handle (%s)",
               uv_strerror(rc));
  hub->async.data = hub;
  uv_unref((uv_handle_t *)&hub->async);
  hub->async_ready = 1;
}

/* [-0, +0, -] __gc of the hub, at lua_close (it is in the registry): free
** every future left, close the async handle (B13: no Lua runs). Posts
** that come meanwhile are refused. */
static int l_hub_gc(lua_State *L) {
  loom_fhub **box = (loom_fhub **)lua_touserdata(L, 1);
  loom_fhub *hub = *box;
  loom_future *f;
  if (hub == NULL) return 0;
  *box = NULL;
  uv_mutex_lock(&hub->mu);
  hub->closed = 1;
  hub->qhead = hub->qtail = NULL;
  uv_mutex_unlock(&hub->mu);
  while ((f = hub->all) != NULL) {
    if (f->box != NULL) *f->box = NULL;
    future_free(hub, f);
  }
  hub->ctx = NULL;
  if (hub->async_ready) uv_close((uv_handle_t *)&hub->async, on_hub_closed);
  else hub_free(hub);
  return 0;
}

/* }==================================================================== */

/* {====================================================================
** The C API
** ===================================================================== */

LOOM_API loom_future *loom_future_new(lua_State *L) {
  loom_ctx *ctx = loom__ctx(L);
  loom_fhub *hub;
  loom_future *f, **box;
  if (ctx == NULL) {
    luaL_error(L, "loom: loom.core is not open in this state");
    return NULL;
  }
  hub = hub_get(L);
  if (hub == NULL || hub->closed) {
    luaL_error(L, "loom: the state is being closed");
    return NULL;
  }
  hub_ensure_async(L, ctx, hub);
  luaL_checkstack(L, 4, "loom_future_new");
  box = (loom_future **)lua_newuserdatauv(L, sizeof(loom_future *), 1);
  *box = NULL;                                 /* [fut] */
  lua_rawgeti(L, LUA_REGISTRYINDEX, hub->r_mt);
  lua_setmetatable(L, -2);
  f = (loom_future *)calloc(1, sizeof(loom_future));
  if (f == NULL) {
    luaL_error(L, "loom: out of memory (future)");
    return NULL;
  }
  f->hub = hub;
  f->next = hub->all;
  if (hub->all != NULL) hub->all->prev = f;
  hub->all = f;
  hub->nlive++;
  f->box = box;
  *box = f;
  lua_rawgeti(L, LUA_REGISTRYINDEX, hub->r_weak);
  lua_pushvalue(L, -2);
  lua_rawsetp(L, -2, f);                       /* weak[f] = fut */
  lua_pop(L, 1);
  return f;
}

/* [-n, +0, m] Settle 'f' with outcome 'how' and the 'n' values on top. */
static void future_settle(lua_State *L, loom_future *f, int how, int n) {
  loom_fhub *hub;
  int refused, i;
  if (f == NULL) {
    lua_pop(L, n);
    return;
  }
  hub = f->hub;
  if (n > 1) {                   /* pack first: may raise, changes nothing */
    lua_createtable(L, n, 0);
    lua_insert(L, -(n + 1));
    for (i = n; i >= 1; i--) lua_rawseti(L, -(i + 1), i);
  }
  uv_mutex_lock(&hub->mu);
  refused = f->posted || f->state != FS_PENDING || hub->closed;
  if (!refused) f->state = (unsigned char)how;
  uv_mutex_unlock(&hub->mu);
  if (refused) {
    lua_pop(L, n > 1 ? 1 : n);
    lua_warning(L, "loom: a future was settled twice; the second outcome "
                "was ignored", 0);
    return;
  }
  f->src = FV_LUA;
  f->nvals = n;
  if (n > 0) {
    int stored = 0;
    if (f->box != NULL && lua_checkstack(L, 3)) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, hub->r_weak);
      if (lua_rawgetp(L, -1, f) == LUA_TUSERDATA) {   /* [v weak fut] */
        lua_rotate(L, -3, 1);                          /* [fut v weak] */
        lua_pop(L, 1);
        lua_setiuservalue(L, -2, 1);
        lua_pop(L, 1);
        stored = 1;
      } else {
        lua_pop(L, 2);
      }
    }
    if (!stored) lua_pop(L, 1);  /* fut is unreachable: nobody will read */
  }
  future_wake(hub, f);
  if (f->box == NULL) future_free(hub, f);
}

LOOM_API void loom_future_resolve(lua_State *L, loom_future *f,
                                  int nvalues) {
  future_settle(L, f, FS_OK, nvalues);
}

LOOM_API void loom_future_reject(lua_State *L, loom_future *f) {
  future_settle(L, f, FS_ERR, 1);
}

LOOM_API int loom_future_post(loom_future *f, int ok, const char *data,
                              size_t len) {
  loom_fhub *hub;
  char *copy = NULL;
  int rc = -1;
  if (f == NULL || (data == NULL && len > 0)) return -1;
  hub = f->hub;
  if (len > 0) {
    copy = (char *)malloc(len);
    if (copy == NULL) return -1;
    memcpy(copy, data, len);
  }
  uv_mutex_lock(&hub->mu);
  if (!hub->closed && !f->posted && f->state == FS_PENDING) {
    f->posted = 1;
    f->ok = (unsigned char)(ok != 0);
    f->data = copy;
    f->len = len;
    f->qnext = NULL;
    if (hub->qtail != NULL) hub->qtail->qnext = f;
    else hub->qhead = f;
    hub->qtail = f;
    copy = NULL;
    rc = 0;
    /* Under the lock, so that lua_close cannot close the handle between
    ** the append and the send. */
    uv_async_send(&hub->async);
  }
  uv_mutex_unlock(&hub->mu);
  free(copy);
  return rc;
}

/* }==================================================================== */

/* {====================================================================
** The Future object
** ===================================================================== */

/* [-0, +0, v] The future at 'idx' (raises if it is not one, or if the
** state is being closed). */
static loom_future *check_future(lua_State *L, int idx) {
  loom_future **box = (loom_future **)luaL_checkudata(L, idx,
                                                      LOOM_FUTURE_MT);
  if (*box == NULL) luaL_error(L, "loom.Future: closed");
  return *box;
}

/* [-0, +n, e] The outcome of settled 'f' (object at 'idx'): push its
** values, or raise its error. */
static int future_push_outcome(lua_State *L, loom_future *f, int idx) {
  int i, n;
  if (f->src == FV_POST) {
    lua_pushlstring(L, f->data != NULL ? f->data : "", f->len);
    if (f->state == FS_ERR) return lua_error(L);
    return 1;
  }
  if (f->nvals == 0) return 0;
  lua_getiuservalue(L, idx, 1);
  if (f->state == FS_ERR) return lua_error(L);
  if (f->nvals == 1) return 1;
  n = f->nvals;
  luaL_checkstack(L, n, "too many values in a future");
  for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -(n + 1));
  return n;
}

/* Abort of a waiter (a scope cancelled it): leave the lot. Pure C. */
static int future_abort(loom_ctx *ctx, loom_task *t) {
  loom_future *f = (loom_future *)t->wait_obj;
  (void)ctx;
  loom__lot_remove(&f->waiters, t);
  if (f->waiters.n == 0) {
    f->hub->nwait--;
    hub_sync_ref(f->hub);
  }
  return LOOM_ABORT_SUCCEEDED;
}

static int k_future_wait(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  (void)status;
  loom__resumed(L, ctx, (loom_task *)kc);
  return future_push_outcome(L, check_future(L, 1), 1);
}

/* Checkpoint. fut:wait(): wait until the future is settled; return its
** values or raise its error. */
static int l_future_wait(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_future *f = check_future(L, 1);
  loom_task *t;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  if (f->state != FS_PENDING)
    return k_future_wait(L, LUA_OK, (lua_KContext)t);
  if (f->waiters.n == 0) {
    f->hub->nwait++;
    hub_sync_ref(f->hub);
  }
  loom__lot_push(&f->waiters, t);
  return loom__suspend(L, t, future_abort, f, k_future_wait);
}

/* fut:done(): true once settled (a post counts once delivered). */
static int l_future_done(lua_State *L) {
  lua_pushboolean(L, check_future(L, 1)->state != FS_PENDING);
  return 1;
}

static int l_future_tostring(lua_State *L) {
  loom_future **box = (loom_future **)luaL_checkudata(L, 1,
                                                      LOOM_FUTURE_MT);
  const char *what = "closed";
  if (*box != NULL) {
    static const char *const names[] = {"pending", "resolved", "rejected"};
    what = names[(*box)->state];
  }
  lua_pushfstring(L, "loom.Future: %s (%p)", what, (void *)box);
  return 1;
}

/* __gc (B7): the object is gone; the struct goes too once settled. */
static int l_future_gc(lua_State *L) {
  loom_future **box = (loom_future **)lua_touserdata(L, 1);
  loom_future *f = *box;
  if (f == NULL) return 0;
  *box = NULL;
  f->box = NULL;
  /* Settled: free. Unsettled (also posted and not delivered): a thread
  ** may still post, or the async callback will free it. */
  if (f->state != FS_PENDING) future_free(f->hub, f);
  return 0;
}

/* }==================================================================== */

/* {====================================================================
** loom.await
** ===================================================================== */

/* cb(...): the callback handed to fn by loom.await (upvalue 2: the cell).
** Stores the values in the cell and wakes its waiter; a call after the
** waiter was cancelled, or a second call, is ignored. Never raises except
** for memory errors. */
static int l_await_cb(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_await *c = (loom_await *)lua_touserdata(L, lua_upvalueindex(2));
  int n = lua_gettop(L), i;
  if (c->state != AW_PENDING) {
    lua_warning(L, c->state == AW_DONE
                ? "loom: a loom.await callback was called more than once; "
                  "the later call was ignored"
                : "loom: a loom.await callback was called after its "
                  "waiter was cancelled; the call was ignored", 0);
    return 0;
  }
  lua_createtable(L, n, 0);
  lua_insert(L, 1);
  for (i = n; i >= 1; i--) lua_rawseti(L, 1, i);
  lua_setiuservalue(L, lua_upvalueindex(2), 1);
  c->n = n;
  c->state = AW_DONE;
  if (c->waiter != NULL) {
    loom_task *t = c->waiter;
    c->waiter = NULL;
    loom__wake(ctx, t, TW_OK);
  }
  return 0;
}

/* [-0, +n, m] The values given to the callback of cell 'c' (at 1). */
static int await_push_values(lua_State *L, loom_await *c) {
  int i;
  if (c->n == 0) return 0;
  luaL_checkstack(L, c->n + 1, "too many values in a loom.await callback");
  lua_getiuservalue(L, 1, 1);
  for (i = 1; i <= c->n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -(c->n + 1));
  return c->n;
}

/* Abort: the waiter was cancelled; a later callback is ignored. */
static int await_abort(loom_ctx *ctx, loom_task *t) {
  loom_await *c = (loom_await *)t->wait_obj;
  (void)ctx;
  c->waiter = NULL;
  c->state = AW_ABANDONED;
  return LOOM_ABORT_SUCCEEDED;
}

static int k_await_woken(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  (void)status;
  loom__resumed(L, ctx, (loom_task *)kc);
  return await_push_values(L, (loom_await *)lua_touserdata(L, 1));
}

/* fn has returned: take the values if the callback already came, else
** wait for it. */
static int k_await_called(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = (loom_task *)kc;
  loom_await *c = (loom_await *)lua_touserdata(L, 1);
  (void)status;
  lua_settop(L, 1);
  if (c->state == AW_DONE) return await_push_values(L, c);
  /* fn may have run for a while (it may wait itself): test for a
  ** cancellation before suspending, and drop the callback if it raises. */
  c->state = AW_ABANDONED;
  loom__check_cancel(L, ctx, t);
  c->state = AW_PENDING;
  c->waiter = t;
  return loom__suspend(L, t, await_abort, c, k_await_woken);
}

/* Checkpoint. loom.await(fn, ...): call fn(..., cb) and wait until cb is
** called; return cb's arguments. */
static int l_await(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  int n = lua_gettop(L) - 1;
  loom_task *t;
  loom_await *c;
  loom__check_callable(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  luaL_checkstack(L, 4, "too many arguments to loom.await");
  c = (loom_await *)lua_newuserdatauv(L, sizeof(loom_await), 1);
  c->waiter = NULL;
  c->state = AW_PENDING;
  c->n = 0;
  luaL_setmetatable(L, LOOM_AWAIT_MT);
  lua_insert(L, 1);                      /* [cell fn args...] */
  lua_pushlightuserdata(L, ctx);
  lua_pushvalue(L, 1);
  lua_pushcclosure(L, l_await_cb, 2);    /* [cell fn args... cb] */
  lua_callk(L, n + 1, 0, (lua_KContext)t, k_await_called);
  return k_await_called(L, LUA_OK, (lua_KContext)t);
}

/* }==================================================================== */

/* {====================================================================
** Test helpers (core.future_*: not public API)
** ===================================================================== */

/* core.future_new() -> fut: a future as loom_future_new makes it. */
static int l_future_new(lua_State *L) {
  loom_future_new(L);
  return 1;
}

/* core.future_resolve(fut, ...): loom_future_resolve with the values. */
static int l_future_resolve(lua_State *L) {
  loom_future *f = check_future(L, 1);
  loom_future_resolve(L, f, lua_gettop(L) - 1);
  return 0;
}

/* core.future_reject(fut, err): loom_future_reject. */
static int l_future_reject(lua_State *L) {
  loom_future *f = check_future(L, 1);
  lua_settop(L, 2);
  loom_future_reject(L, f);
  return 0;
}

/* core.future_post(fut, ok, data) -> 0 or -1: loom_future_post from the
** loop's thread. */
static int l_future_post(lua_State *L) {
  loom_future *f = check_future(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 3, &len);
  lua_pushinteger(L, loom_future_post(f, lua_toboolean(L, 2), data, len));
  return 1;
}

/* core.future_stats() -> {live =, waiting =, referenced =}. */
static int l_future_stats(lua_State *L) {
  loom_fhub *hub = hub_get(L);
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, hub != NULL ? hub->nlive : 0);
  lua_setfield(L, -2, "live");
  lua_pushinteger(L, hub != NULL ? hub->nwait : 0);
  lua_setfield(L, -2, "waiting");
  lua_pushboolean(L, hub != NULL && hub->reffed);
  lua_setfield(L, -2, "referenced");
  return 1;
}

/* }==================================================================== */

static const luaL_Reg future_methods[] = {
  {"wait", l_future_wait},
  {"done", l_future_done},
  {NULL, NULL}
};

static const luaL_Reg future_funcs[] = {
  {"await", l_await},
  {"future_new", l_future_new},
  {"future_resolve", l_future_resolve},
  {"future_reject", l_future_reject},
  {"future_post", l_future_post},
  {"future_stats", l_future_stats},
  {NULL, NULL}
};

/* [-0, +0, m] Register the future functions in the core table on top. */
void loom__future_open(lua_State *L, loom_ctx *ctx) {
  loom_fhub **box;
  loom_fhub *hub;
  if (hub_get(L) == NULL) {
    box = (loom_fhub **)lua_newuserdatauv(L, sizeof(loom_fhub *), 0);
    *box = NULL;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_hub_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    hub = (loom_fhub *)calloc(1, sizeof(loom_fhub));
    if (hub == NULL) luaL_error(L, "loom: out of memory (futures)");
    if (uv_mutex_init(&hub->mu) != 0) {
      free(hub);
      luaL_error(L, "loom: cannot create a mutex");
    }
    hub->ctx = ctx;
    hub->r_weak = hub->r_mt = LUA_NOREF;
    *box = hub;
    lua_rawsetp(L, LUA_REGISTRYINDEX, &hub_key);
    lua_newtable(L);                       /* weak map f -> fut */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    hub->r_weak = luaL_ref(L, LUA_REGISTRYINDEX);
    luaL_newmetatable(L, LOOM_FUTURE_MT);
    lua_newtable(L);
    loom__setfuncs(L, ctx, future_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_future_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_future_tostring);
    lua_setfield(L, -2, "__tostring");
    hub->r_mt = luaL_ref(L, LUA_REGISTRYINDEX);
    luaL_newmetatable(L, LOOM_AWAIT_MT);
    lua_pop(L, 1);
  }
  loom__setfuncs(L, ctx, future_funcs);
  loom__luv_open(L, ctx);
}
