/*
** future.c: futures of the embedding API (loom_future_*, loom.h).
**
** A future is a malloc'd loom_future (DESIGN.md B6: a thread may hold its
** pointer after Lua has let go of it) and a Lua object `fut` whose payload
** points to it. It is settled once: on the loop's thread by resolve or
** reject, whose values go into fut's user value (DESIGN.md B5, B10: waiters
** take them from the object, never from the wake-up), or from any thread by
** loom_future_post, which copies one string into the struct and posts it
** to the loop thread (post.c); its delivery marks the future settled and
** wakes the waiters, in pure C (DESIGN.md B1, B14). No Lua API call happens off
** the loop thread.
**
** Invariants:
**  - f->posted, f->state and f->src change only under the poster's lock
**    (posting threads read the bytes around f->posted); f->state
**    changes only on the loop thread, so the loop thread reads it without
**    the lock;
**  - a future is freed when it is settled and its Lua object is gone
**    (f->box == NULL), whichever comes second, or at lua_close (the
**    teardown hook frees every future left);
**  - an unsettled future with waiters holds the poster once, so a task
**    waiting for a post keeps the loop alive (no false "deadlock" in
**    loom.run, no early return of the host's uv_run) and an idle loom
**    keeps no reference.
*/
#include <stdlib.h>
#include <string.h>

#include "embed.h"

#define LOOM_FUTURE_MT "loom.Future"

/* Outcome of a future (f->state). */
#define FS_PENDING 0
#define FS_OK 1
#define FS_ERR 2

/* Where the value of a settled future lives (f->src). */
#define FV_LUA 0   /* user value 1 of fut: the value, or a table if n > 1 */
#define FV_POST 1  /* f->data and f->len: the posted string */

/* The futures of a Lua state (malloc'd; freed by the teardown hook). */
typedef struct future_state {
  loom_poster *poster;
  loom_future *all;          /* every allocated future */
  int nlive;                 /* allocated futures */
  int r_weak;                /* registry: lightuserdata(f) -> fut, weak */
} future_state;

struct loom_future {
  loom_post post;            /* first: the post of loom_future_post */
  future_state *fs;
  loom_future *prev, *next;  /* fs->all (loop thread only) */
  loom_future **box;         /* payload of fut; NULL once it is collected */
  loom_lot waiters;          /* tasks in fut:wait() */
  char *data;                /* posted bytes (malloc'd), or NULL */
  size_t len;
  int nvals;                 /* FV_LUA: number of values */
  unsigned char posted;      /* under the poster's lock */
  unsigned char ok;          /* what the post asked for */
  unsigned char state;       /* FS_*, see the invariants */
  unsigned char src;         /* FV_* */
};

static const char state_key = 'f';

/* [-0, +0, -] The futures of L's state, or NULL. */
static future_state *state_get(lua_State *L) {
  future_state *fs;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &state_key);
  fs = (future_state *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return fs;
}

/* Unlink and free 'f' (loop thread; 'f' is in no queue). */
static void future_free(future_state *fs, loom_future *f) {
  if (f->prev != NULL) f->prev->next = f->next;
  else fs->all = f->next;
  if (f->next != NULL) f->next->prev = f->prev;
  fs->nlive--;
  free(f->data);
  free(f);
}

/* The waiters of 'f', which has just been settled, are woken. */
static void future_wake(loom_ctx *ctx, loom_future *f) {
  if (f->waiters.n > 0) {
    loom__poster_hold(f->fs->poster, -1);
    loom__lot_wake_all(ctx, &f->waiters);
  }
}

/* Delivery of a post (loop thread, pure C): settle 'f', wake its waiters;
** free it if nobody can wait on it any more. At lua_close ('ctx' NULL)
** the teardown hook frees it. */
static void future_deliver(loom_ctx *ctx, loom_post *p) {
  loom_future *f = (loom_future *)p;
  if (ctx == NULL) return;
  loom__poster_lock(f->fs->poster);     /* posting threads read them */
  f->state = f->ok ? FS_OK : FS_ERR;
  f->src = FV_POST;
  loom__poster_unlock(f->fs->poster);
  if (f->box == NULL) future_free(f->fs, f);
  else future_wake(ctx, f);
}

/* {====================================================================
** The C API
** ===================================================================== */

LOOM_API loom_future *loom_future_new(lua_State *L) {
  loom_ctx *ctx = loom__ctx(L);
  future_state *fs;
  loom_future *f, **box;
  if (ctx == NULL) {
    luaL_error(L, "loom: loom.core is not open in this state");
    return NULL;
  }
  fs = state_get(L);
  if (fs == NULL) {
    luaL_error(L, "loom: the state is being closed");
    return NULL;
  }
  {
    /* Set once: posting threads read it without the lock (a rewrite of
    ** the same value would still be a data race). */
    loom_poster *ps = loom__poster(L, ctx);
    if (fs->poster == NULL) fs->poster = ps;
  }
  luaL_checkstack(L, 4, "loom_future_new");
  box = (loom_future **)lua_newuserdatauv(L, sizeof(loom_future *), 1);
  *box = NULL;                                 /* [fut] */
  luaL_setmetatable(L, LOOM_FUTURE_MT);
  f = (loom_future *)calloc(1, sizeof(loom_future));
  if (f == NULL) {
    luaL_error(L, "loom: out of memory (future)");
    return NULL;
  }
  f->post.deliver = future_deliver;
  f->fs = fs;
  f->next = fs->all;
  if (fs->all != NULL) fs->all->prev = f;
  fs->all = f;
  fs->nlive++;
  f->box = box;
  *box = f;
  lua_rawgeti(L, LUA_REGISTRYINDEX, fs->r_weak);
  lua_pushvalue(L, -2);
  lua_rawsetp(L, -2, f);                       /* weak[f] = fut */
  lua_pop(L, 1);
  return f;
}

/* [-n, +0, m] Settle 'f' with outcome 'how' and the 'n' values on top. */
static void future_settle(lua_State *L, loom_future *f, int how, int n) {
  future_state *fs;
  loom_ctx *ctx = loom__ctx(L);
  int refused, i;
  if (f == NULL) {
    lua_pop(L, n);
    return;
  }
  fs = f->fs;
  if (n > 1) {                   /* pack first: may raise, changes nothing */
    lua_createtable(L, n, 0);
    lua_insert(L, -(n + 1));
    for (i = n; i >= 1; i--) lua_rawseti(L, -(i + 1), i);
  }
  loom__poster_lock(fs->poster);
  refused = f->posted || f->state != FS_PENDING ||
            loom__poster_closed(fs->poster);
  if (!refused) {
    f->state = (unsigned char)how;
    f->src = FV_LUA;
  }
  loom__poster_unlock(fs->poster);
  if (refused) {
    lua_pop(L, n > 1 ? 1 : n);
    loom__warning(L, ctx, "loom: a future was settled twice; the second outcome "
                "was ignored");
    return;
  }
  f->nvals = n;
  if (n > 0) {
    int stored = 0;
    if (f->box != NULL && lua_checkstack(L, 3)) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, fs->r_weak);
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
  future_wake(ctx, f);
  if (f->box == NULL) future_free(fs, f);
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
  loom_poster *ps;
  char *copy = NULL;
  int rc = -1;
  if (f == NULL || (data == NULL && len > 0)) return -1;
  ps = f->fs->poster;
  if (len > 0) {
    copy = (char *)malloc(len);
    if (copy == NULL) return -1;
    memcpy(copy, data, len);
  }
  loom__poster_lock(ps);
  if (!loom__poster_closed(ps) && !f->posted && f->state == FS_PENDING) {
    f->posted = 1;
    f->ok = (unsigned char)(ok != 0);
    f->data = copy;
    f->len = len;
    rc = loom__post_locked(ps, &f->post);
    if (rc == 0) copy = NULL;
    else f->posted = 0, f->data = NULL, f->len = 0;
  }
  loom__poster_unlock(ps);
  free(copy);
  return rc;
}

/* }==================================================================== */

/* {====================================================================
** The Future object
** ===================================================================== */

/* [-0, +0, v] The future receiving a method call at 'idx' (raises if the
** state is being closed). */
static loom_future *check_future(lua_State *L, int idx) {
  loom_future **box = (loom_future **)loom__checkself(L, idx);
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
  if (f->waiters.n == 0) loom__poster_hold(f->fs->poster, -1);
  return LOOM_ABORT_SUCCEEDED;
}

static int k_future_wait(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  (void)status;
  loom__resumed(L, ctx, (loom_task *)kc);
  return future_push_outcome(L, check_future(L, 1), 1);
}

/* [-1, +n, y] Checkpoint. fut:wait(): wait until the future is settled;
** return its values or raise its error. */
static int l_future_wait(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_future *f = check_future(L, 1);
  loom_task *t;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  if (f->state != FS_PENDING)
    return k_future_wait(L, LUA_OK, (lua_KContext)t);
  if (f->waiters.n == 0) loom__poster_hold(f->fs->poster, 1);
  loom__lot_push(&f->waiters, t);
  loom__waiting(t, "future");
  return loom__suspend(L, t, future_abort, f, k_future_wait);
}

/* [-1, +1, v] fut:done(): true once settled (a post counts once
** delivered). */
static int l_future_done(lua_State *L) {
  lua_pushboolean(L, check_future(L, 1)->state != FS_PENDING);
  return 1;
}

static int l_future_tostring(lua_State *L) {
  loom_future **box = (loom_future **)loom__checkself(L, 1);
  const char *what = "closed";
  if (*box != NULL) {
    static const char *const names[] = {"pending", "resolved", "rejected"};
    what = names[(*box)->state];
  }
  lua_pushfstring(L, "loom.Future: %s (%p)", what, (void *)box);
  return 1;
}

/* __gc (DESIGN.md B7): the object is gone; the struct goes too once
** settled. */
static int l_future_gc(lua_State *L) {
  loom_future **box = (loom_future **)lua_touserdata(L, 1);
  loom_future *f = *box;
  if (f == NULL) return 0;
  *box = NULL;
  f->box = NULL;
  /* Settled: free. Unsettled (also posted and not delivered): a thread
  ** may still post, or the delivery will free it. */
  if (f->state != FS_PENDING) future_free(f->fs, f);
  return 0;
}

/* Teardown hook (lua_close, after the poster was closed; no Lua runs):
** free every future left. */
static void futures_teardown(loom_ctx *ctx, void *data) {
  future_state *fs = (future_state *)data;
  loom_future *f;
  (void)ctx;
  while ((f = fs->all) != NULL) {
    if (f->box != NULL) *f->box = NULL;
    future_free(fs, f);
  }
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
  const char *data = loom__checklstring(L, 3, &len);
  lua_pushinteger(L, loom_future_post(f, lua_toboolean(L, 2), data, len));
  return 1;
}

/* core.future_stats() -> {live =, waiting =, referenced =}: futures
** allocated, unsettled futures with a waiter, is the async handle
** referenced. */
static int l_future_stats(lua_State *L) {
  future_state *fs = state_get(L);
  loom_future *f;
  int nwait = 0;
  if (fs != NULL)
    for (f = fs->all; f != NULL; f = f->next)
      if (f->waiters.n > 0 && f->state == FS_PENDING) nwait++;
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, fs != NULL ? fs->nlive : 0);
  lua_setfield(L, -2, "live");
  lua_pushinteger(L, nwait);
  lua_setfield(L, -2, "waiting");
  lua_pushboolean(L, fs != NULL && loom__poster_referenced(fs->poster));
  lua_setfield(L, -2, "referenced");
  return 1;
}

/* }==================================================================== */

static const luaL_Reg future_methods[] = {
  {"wait", l_future_wait},
  {"done", l_future_done},
  {"is_done", l_future_done},
  {NULL, NULL}
};

static const luaL_Reg future_meta[] = {
  {"__gc", l_future_gc},
  {"__tostring", l_future_tostring},
  {NULL, NULL}
};

static const luaL_Reg future_funcs[] = {
  {"future_new", l_future_new},
  {"future_resolve", l_future_resolve},
  {"future_reject", l_future_reject},
  {"future_post", l_future_post},
  {"future_stats", l_future_stats},
  {NULL, NULL}
};

static const loom_class future_class = {
  LOOM_FUTURE_MT, future_methods, future_meta, NULL, future_funcs, NULL,
  NULL
};

static const loom_hooks future_hooks = {
  {NULL, NULL, NULL, futures_teardown}
};

/* [-0, +0, m] Register the Future class and the test helpers in the core
** table on top; the state's futures are freed at teardown. */
void loom__future_open(lua_State *L, loom_ctx *ctx) {
  future_state *fs;
  loom__class_open(L, ctx, &future_class);
  lua_pop(L, 1);
  fs = (future_state *)lua_newuserdatauv(L, sizeof(future_state), 0);
  memset(fs, 0, sizeof *fs);
  fs->r_weak = LUA_NOREF;
  lua_rawsetp(L, LUA_REGISTRYINDEX, &state_key);
  lua_newtable(L);                       /* weak map f -> fut */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  fs->r_weak = luaL_ref(L, LUA_REGISTRYINDEX);
  loom__hooks_add(ctx, &future_hooks, fs);
}
