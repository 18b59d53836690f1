/*
** await.c: loom.await(fn, ...), the bridge from callback-style APIs to
** tasks. It calls fn(..., cb) and waits for cb in a small Lua object (an
** "await cell", class loom.AwaitCell) that the task keeps on its stack; a
** callback that comes after the waiter was cancelled, or a second call,
** is ignored (with a Lua warning, DESIGN.md E7). The values given to cb
** are stored in the cell (DESIGN.md B10) and the woken task takes them from
** there.
*/
#include "embed.h"

#define LOOM_AWAIT_MT "loom.AwaitCell"

/* An await cell (payload of a full userdata with one user value). */
#define AW_PENDING 0
#define AW_DONE 1
#define AW_ABANDONED 2

typedef struct loom_await {
  loom_task *waiter;  /* the suspended task, or NULL */
  int state;          /* AW_* */
  int n;              /* number of values (user value 1 is their table) */
} loom_await;

/* cb(...): the callback handed to fn by loom.await (upvalue 2: the cell).
** Stores the values in the cell and wakes its waiter; a call after the
** waiter was cancelled, or a second call, is ignored. Never raises except
** for memory errors. */
static int l_await_cb(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_await *c = (loom_await *)lua_touserdata(L, lua_upvalueindex(2));
  int n = lua_gettop(L), i;
  if (c->state != AW_PENDING) {
    loom__warning(L, ctx, c->state == AW_DONE
                ? "loom: a loom.await callback was called more than once; "
                  "the later call was ignored"
                : "loom: a loom.await callback was called after its "
                  "waiter was cancelled; the call was ignored");
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
  loom__waiting(t, "await");
  return loom__suspend(L, t, await_abort, c, k_await_woken);
}

/* [-(1+n), +r, y] Checkpoint. loom.await(fn, ...): call fn(..., cb) and
** wait until cb is called; return cb's arguments. */
static int l_await(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  int n = lua_gettop(L) - 1;
  loom_task *t;
  loom_await *c;
  loom__check_callable(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  luaL_checkstack(L, 4, "too many arguments to loom.await");
  c = (loom_await *)loom__newself(L, sizeof(loom_await), 1);
  c->state = AW_PENDING;
  lua_insert(L, 1);                      /* [cell fn args...] */
  lua_pushlightuserdata(L, ctx);
  lua_pushvalue(L, 1);
  lua_pushcclosure(L, l_await_cb, 2);    /* [cell fn args... cb] */
  lua_callk(L, n + 1, 0, (lua_KContext)t, k_await_called);
  return k_await_called(L, LUA_OK, (lua_KContext)t);
}

/* }==================================================================== */

static const luaL_Reg await_funcs[] = {
  {"await", l_await},
  {NULL, NULL}
};

static const loom_class await_class = {
  LOOM_AWAIT_MT, NULL, NULL, NULL, await_funcs, NULL, NULL
};

/* [-0, +0, m] Register the await cells' class and core.await. */
void loom__await_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &await_class);
  lua_pop(L, 1);
}
