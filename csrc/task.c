/*
** task.c: tasks. A task is one coroutine plus one C record (loom_task, the
** payload of the Task userdata, whose user value 1 is the coroutine). The
** coroutine runs task_main, which calls the task's function under a
** yieldable xpcall with loom's message handler, so an error unwinds the
** task's own stack (its <close> variables and pcall handlers run, and may
** wait) before the task reports it (rule B8, SEMANTICS (b)). The message
** handler (traceback.c) takes the traceback at the raise point.
**
** When a task finishes, its results (or [error, traceback, raise order])
** stay on its dead coroutine's stack: join, wait and result copy them from
** there. The message handler and the tracebacks are in traceback.c;
** sleeping is in clock.c.
**
** The one suspend primitive (rule B3): loom__suspend records the wait and
** its abort function in the task and yields the private token; the
** scheduler is the only resumer. Every continuation starts with
** loom__resumed, which raises Cancelled if the wait was aborted.
*/
#include <math.h>
#include <string.h>

#include "internal.h"

const char loom__token = 't';

/* {====================================================================
** Entering blocking calls
** ===================================================================== */

/* [-0, +0, e] The task whose own coroutine is L, or raise the misuse error
** of api section 1. */
loom_task *loom__running(lua_State *L, loom_ctx *ctx) {
  loom_task *t = ctx->current;
  if (t == NULL)
    luaL_error(L, "loom: outside of a loom task (blocking calls must run "
               "inside loom.run or a task it started)");
  if (t->co != L)
    luaL_error(L, "loom: blocking call from a nested coroutine (a "
               "coroutine created inside a task cannot wait; call it from "
               "the task itself)");
  if (!lua_isyieldable(L))
    luaL_error(L, "loom: cannot wait here (the task is being closed, or "
               "the call crosses a C function that cannot yield)");
  return t;
}

/* [-0, +0, e] The checkpoint test: raise Cancelled if the innermost scope
** of 't' is effectively cancelled (deadlines that passed count). */
void loom__check_cancel(lua_State *L, loom_ctx *ctx, loom_task *t) {
  loom__clock_due(ctx);
  if (t->scope->flags & SF_EFFECTIVE) {
    loom__clock_sync(ctx);
    loom__raise_cancelled(L, ctx, loom__cancel_reason(t));
  }
}

/* [-0, +0, e] Enter a checkpoint: the running task, after the test. */
loom_task *loom__checkpoint_enter(lua_State *L, loom_ctx *ctx) {
  loom_task *t = loom__running(L, ctx);
  loom__check_cancel(L, ctx, t);
  return t;
}

/* [-0, +0, y] Suspend the running task 't' on a wait (B3). 'abort' tears
** the wait down when a scope cancels it (NULL: not abortable); 'k'
** continues the calling C function once the scheduler resumes the task. */
int loom__suspend(lua_State *L, loom_task *t, loom_abort_fn abort,
                  void *wait_obj, lua_KFunction k) {
  if (t->state == TS_RUNNING) t->state = TS_WAITING;
  t->abort = abort;
  t->wait_obj = wait_obj;
  lua_pushlightuserdata(L, (void *)&loom__token);
  return lua_yieldk(L, 1, (lua_KContext)t, k);
}

/* [-0, +0, e] First thing in every continuation: raise Cancelled if the
** wait was aborted. */
void loom__resumed(lua_State *L, loom_ctx *ctx, loom_task *t) {
  int wake = t->wake;
  t->wake = TW_NONE;
  if (wake == TW_CANCELLED)
    loom__raise_cancelled(L, ctx, loom__cancel_reason(t));
}

/* {====================================================================
** The coroutine body
** ===================================================================== */

static int task_main_k(lua_State *co, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(co);
  loom_task *t = ctx->current;
  (void)kc;
  if (status == LUA_OK || status == LUA_YIELD) {   /* [msgh results...] */
    t->status = TO_OK;
    return lua_gettop(co) - 1;   /* the results; msgh is dropped */
  }
  if (loom__is_cancelled(co, ctx, -1)) {           /* [msgh err] */
    t->status = TO_CANCELLED;
    return 0;
  }
  t->status = TO_ERROR;
  lua_remove(co, 1);                               /* [err] */
  lua_pushinteger(co, loom__stash_take(co, ctx, t, 1));
  lua_insert(co, -2);                              /* [err seq tb] */
  lua_insert(co, -2);                              /* [err tb seq] */
  return 3;
}

/* [-(2+n), +r, e] Stack: msgh, fn, args... Run fn(args...) under xpcall;
** returns its results, or (err, traceback, seq), or nothing if cancelled.
*/
static int task_main(lua_State *co) {
  int n = lua_gettop(co) - 2;
  return task_main_k(co, lua_pcallk(co, n, LUA_MULTRET, 1, 0, task_main_k),
                     0);
}

/* {====================================================================
** Creating and finishing tasks
** ===================================================================== */

/* [-0, +1, m] Create a task running the callable at 'fidx' with the
** 'nargs' values after it, child of scope 'parent' and member of group
** 'g' (NULL for roots); queue it and push its Task object. */
loom_task *loom__new_task(lua_State *L, loom_ctx *ctx, int fidx, int nargs,
                          loom_scope *parent, loom_group *g) {
  lua_State *co;
  loom_task *t;
  int i;
  fidx = lua_absindex(L, fidx);
  /* A C function may push LUA_MINSTACK values; check only beyond that. */
  if (nargs + 5 > LUA_MINSTACK)
    luaL_checkstack(L, nargs + 5, "too many arguments");
  t = (loom_task *)lua_newuserdatauv(L, sizeof(loom_task), 1);
  memset(t, 0, sizeof(*t));
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_task_mt);
  lua_setmetatable(L, -2);
  co = lua_newthread(L);                       /* [t co] */
  if (nargs + 3 > LUA_MINSTACK && !lua_checkstack(co, nargs + 3))
    luaL_error(L, "loom: too many arguments for a task");
  lua_rawgeti(co, LUA_REGISTRYINDEX, ctx->r_task_main);
  lua_rawgeti(co, LUA_REGISTRYINDEX, ctx->r_msgh);
  for (i = 0; i <= nargs; i++) lua_pushvalue(L, fidx + i);
  lua_xmove(L, co, nargs + 1);                 /* fn, args -> co */
  lua_setiuservalue(L, -2, 1);                 /* [t] */
  lua_pushvalue(L, -1);
  t->ref = loom__anchor(L, ctx);
  t->co = co;
  t->group = g;
  t->id = ctx->next_id++;
  t->nres = nargs + 2;
  t->flags = TF_NEW;
  t->status = TO_RUNNING;
  loom__scope_init(&t->root, SK_TASK, t);
  loom__scope_link(ctx, &t->root, parent);
  t->scope = &t->root;
  ctx->ntasks++;
  loom__enqueue(ctx, t);
  return t;
}

/* [-0, +1, -] Push the Task object of a live (anchored) task. */
void loom__push_task(lua_State *L, loom_ctx *ctx, loom_task *t) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_anchor);
  lua_rawgeti(L, -1, t->ref);
  lua_remove(L, -2);
}

/* [-0, +1, m] Push the name of 't' ("task-N" unless renamed). */
void loom__push_name(lua_State *L, loom_ctx *ctx, loom_task *t) {
  if ((t->flags & TF_NAMED) && t->ref != LUA_NOREF) {
    loom__pushref(L, ctx, ctx->r_names);
    loom__push_task(L, ctx, t);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (lua_type(L, -1) == LUA_TSTRING) return;
    lua_pop(L, 1);
  }
  lua_pushfstring(L, "task-%d", (int)t->id);
}

/* Name of a task given its object at 'idx'. */
void loom__push_name_of(lua_State *L, loom_ctx *ctx, loom_task *t,
                        int idx) {
  if (t->flags & TF_NAMED) {
    loom__pushref(L, ctx, ctx->r_names);
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (lua_type(L, -1) == LUA_TSTRING) return;
    lua_pop(L, 1);
  }
  lua_pushfstring(L, "task-%d", (int)t->id);
}

/* Close the scopes a dead task left open (only after misuse: a task
** killed while inside a scope or group). */
static void task_close_scopes(lua_State *L, loom_ctx *ctx, loom_task *t) {
  while (t->scope != &t->root && t->scope != NULL) {
    loom_scope *s = t->scope;
    t->scope = s->parent;
    if (s->kind == SK_GROUP) {
      loom__group_abandon(L, ctx, (loom_group *)s);
    } else {
      loom__scope_unlink(ctx, s);
      s->flags |= SF_EXITED;
    }
  }
}

/* [-0, +0, m] Finish 't', whose outcome (t->status) and 'nres' values
** (results, or err and traceback) are on its coroutine's stack. Runs in
** the scheduler (protected). */
void loom__task_finished(lua_State *L, loom_ctx *ctx, loom_task *t,
                         int nres) {
  t->state = TS_DONE;
  t->nres = nres;
  t->abort = NULL;
  t->wait_obj = NULL;
  task_close_scopes(L, ctx, t);
  t->scope = &t->root;
  loom__timer_clear(ctx, &t->root.timer);
  loom__scope_unlink(ctx, &t->root);
  t->root.flags |= SF_EXITED;
  loom__stash_clear(L, ctx, t);
  if (t->group != NULL) {
    loom__group_child_done(L, ctx, t);
  } else if ((t->flags & TF_HOSTROOT) && t->status == TO_ERROR) {
    lua_checkstack(L, 3);
    lua_pushvalue(t->co, 1);
    lua_xmove(t->co, L, 1);
    loom__push_task(L, ctx, t);
    loom__report_unhandled(L, ctx, -2, -1);
    lua_pop(L, 2);
  }
  loom__lot_wake_all(ctx, &t->joiners);
  ctx->ntasks--;
  if (loom__run_done(ctx)) uv_stop(ctx->loop);
  loom__unanchor(L, ctx, t->ref);
  t->ref = LUA_NOREF;
}

/* [-0, +0, m] End 't' with the error 'why' after misuse (a plain
** coroutine.yield in the task) or a broken trampoline: close its pending
** <close> variables (they cannot wait: pitfall 30) and finish it. The error
** value, if any, is on top of the task's coroutine. */
void loom__task_kill(lua_State *L, loom_ctx *ctx, loom_task *t,
                     const char *why) {
  lua_State *co = t->co;
  if (why == NULL) {           /* keep the error value on top of co */
    lua_xmove(co, L, 1);
  } else {
    lua_pushstring(L, why);
  }
  ctx->current = t;
  if (lua_closethread(co, L) != LUA_OK) {
    /* A closing method failed: its error replaces the original (B8). */
    lua_xmove(co, L, 1);
    lua_replace(L, -2);
  }
  ctx->current = NULL;
  lua_settop(co, 0);
  lua_xmove(L, co, 1);
  lua_pushliteral(co, "in task '");
  loom__push_name(co, ctx, t);
  lua_pushliteral(co, "':\n(no traceback: the task was closed)");
  lua_concat(co, 3);
  lua_pushinteger(co, (lua_Integer)++ctx->err_seq);
  t->status = TO_ERROR;
  loom__task_finished(L, ctx, t, 3);
}

/* {====================================================================
** Outcomes
** ===================================================================== */

/* [-0, +n, m] Push copies of the 'n' values at the bottom of the dead
** coroutine of 't'. */
static int push_co_values(lua_State *L, loom_task *t, int n) {
  int i;
  if (n + 2 > LUA_MINSTACK) luaL_checkstack(L, n, "too many results");
  if (!lua_checkstack(t->co, n)) luaL_error(L, "loom: too many results");
  for (i = 1; i <= n; i++) lua_pushvalue(t->co, i);
  lua_xmove(t->co, L, n);
  return n;
}

/* [-0, +n, e] The outcome of finished task 't' as join() gives it:
** return its results, or raise its error / a TaskCancelled error. */
int loom__push_outcome(lua_State *L, loom_ctx *ctx, loom_task *t,
                       int tidx) {
  switch (t->status) {
    case TO_OK:
      return push_co_values(L, t, t->nres);
    case TO_ERROR:
      push_co_values(L, t, 1);
      return lua_error(L);
    default:
      loom__push_task_cancelled(L, ctx, t, tidx);
      return lua_error(L);
  }
}

/* [-0, +0, v] The Task at 'idx'. Only from functions with the ctx as
** upvalue 1 (every function of the core). */
loom_task *loom__checktask(lua_State *L, int idx) {
  return (loom_task *)loom__checkobj(L, idx, loom_ctxup(L)->task_mt,
                                     LOOM_TASK_MT);
}

/* [-0, +0, v] Raise an argument error unless the value at 'idx' can be
** called. */
void loom__check_callable(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TFUNCTION) return;
  if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  luaL_typeerror(L, idx, "function");
}

/* {====================================================================
** Task methods
** ===================================================================== */

static int k_join(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *me = (loom_task *)kc;
  (void)status;
  loom__resumed(L, ctx, me);
  return loom__push_outcome(L, ctx, loom__checktask(L, 1), 1);
}

/* Wait (abortably) until 't' is done; then 'k'. */
static int wait_done(lua_State *L, loom_ctx *ctx, loom_task *t,
                     lua_KFunction k) {
  loom_task *me = loom__checkpoint_enter(L, ctx);
  if (t->state == TS_DONE) return k(L, LUA_OK, (lua_KContext)me);
  if (t == me) return luaL_error(L, "loom: a task cannot wait for itself");
  return loom__lot_park(L, me, &t->joiners, k);
}

/* Checkpoint. t:join() -> results of t, or raises its error. */
static int l_task_join(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = loom__checktask(L, 1);
  lua_settop(L, 1);
  return wait_done(L, ctx, t, k_join);
}

static int k_wait(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *me = (loom_task *)kc;
  loom_task *t = loom__checktask(L, 1);
  (void)status;
  loom__resumed(L, ctx, me);
  switch (t->status) {
    case TO_OK:
      lua_pushliteral(L, "ok");
      return 1 + push_co_values(L, t, t->nres);
    case TO_ERROR:
      lua_pushliteral(L, "error");
      return 1 + push_co_values(L, t, 1);
    default:
      lua_pushliteral(L, "cancelled");
      return 1;
  }
}

/* Checkpoint. t:wait() -> "ok", ... | "error", err | "cancelled". */
static int l_task_wait(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = loom__checktask(L, 1);
  lua_settop(L, 1);
  return wait_done(L, ctx, t, k_wait);
}

/* t:result(): the outcome of a finished task, without waiting. */
static int l_task_result(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = loom__checktask(L, 1);
  if (t->state != TS_DONE) {
    lua_settop(L, 1);
    loom__push_name_of(L, ctx, t, 1);
    return luaL_error(L, "loom: task '%s' has not finished",
                      lua_tostring(L, -1));
  }
  return loom__push_outcome(L, ctx, t, 1);
}

/* t:cancel(): cancel this task alone (no effect once it has finished). */
static int l_task_cancel(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = loom__checktask(L, 1);
  if (t->state != TS_DONE) {
    loom__scope_cancel(ctx, &t->root, CR_TASK);
    loom__clock_sync(ctx);
  }
  return 0;
}

static int l_task_done(lua_State *L) {
  lua_pushboolean(L, loom__checktask(L, 1)->state == TS_DONE);
  return 1;
}

static int l_task_cancelled(lua_State *L) {
  lua_pushboolean(L, loom__checktask(L, 1)->status == TO_CANCELLED);
  return 1;
}

static const char *const status_names[] = {
  "running", "ok", "error", "cancelled"
};

static int l_task_index(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t;
  const char *k;
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;  /* method */
  t = loom__checktask(L, 1);
  k = lua_tostring(L, 2);
  if (k != NULL && strcmp(k, "status") == 0)
    lua_pushstring(L, status_names[t->status]);
  else if (k != NULL && strcmp(k, "name") == 0)
    loom__push_name_of(L, ctx, t, 1);
  else
    lua_pushnil(L);
  return 1;
}

static int l_task_newindex(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = loom__checktask(L, 1);
  const char *k = lua_tostring(L, 2);
  if (k == NULL || strcmp(k, "name") != 0)
    return luaL_error(L, "loom.Task: cannot set field '%s'",
                      k != NULL ? k : luaL_typename(L, 2));
  if (!lua_isstring(L, 3))
    return luaL_error(L, "loom.Task: bad value for field 'name' (string "
                      "expected, got %s)", luaL_typename(L, 3));
  loom__pushref(L, ctx, ctx->r_names);
  lua_pushvalue(L, 1);
  lua_pushstring(L, lua_tostring(L, 3));
  lua_rawset(L, -3);
  t->flags |= TF_NAMED;
  return 0;
}

static int l_task_tostring(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = loom__checktask(L, 1);
  loom__push_name_of(L, ctx, t, 1);
  lua_pushfstring(L, "loom.Task: %s (%s)", lua_tostring(L, -1),
                  status_names[t->status]);
  return 1;
}

/* {====================================================================
** Module functions: checkpoint, current_task
** ===================================================================== */

/* After a plain yield the task tests for cancellation again: a cancel
** that arrived while it waited for its turn is delivered now (as Trio and
** asyncio do). */
static int k_yielded(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = (loom_task *)kc;
  (void)status;
  loom__resumed(L, ctx, t);
  loom__check_cancel(L, ctx, t);
  return 0;
}

/* [-0, +0, y] Yield the running task 't' to the other ready tasks (the
** second half of a checkpoint; sleep(0) too). */
int loom__yield_now(lua_State *L, loom_ctx *ctx, loom_task *t) {
  loom__enqueue(ctx, t);
  return loom__suspend(L, t, NULL, NULL, k_yielded);
}

static int l_checkpoint(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  return loom__yield_now(L, ctx, loom__checkpoint_enter(L, ctx));
}

/* Checkpoint. loom.sleep(seconds) */
static int l_current_task(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  if (ctx->current == NULL) lua_pushnil(L);
  else loom__push_task(L, ctx, ctx->current);
  return 1;
}

static const luaL_Reg task_methods[] = {
  {"join", l_task_join},
  {"wait", l_task_wait},
  {"result", l_task_result},
  {"cancel", l_task_cancel},
  {"done", l_task_done},
  {"cancelled", l_task_cancelled},
  {NULL, NULL}
};

/* core.is_callable(v) -> boolean: a function, or a value whose metatable
** has __call (the test every spawn and scope makes of its body). */
static int l_is_callable(lua_State *L) {
  int r = lua_type(L, 1) == LUA_TFUNCTION;
  if (!r && luaL_getmetafield(L, 1, "__call") != LUA_TNIL) {
    lua_pop(L, 1);
    r = 1;
  }
  lua_pushboolean(L, r);
  return 1;
}

static const luaL_Reg task_funcs[] = {
  {"is_callable", l_is_callable},
  {"checkpoint", l_checkpoint},
  {"current_task", l_current_task},
  {NULL, NULL}
};

/* [-0, +0, m] Register the Task metatable, the trampoline and the task
** functions in the core table on top of the stack. */
void loom__task_open(lua_State *L, loom_ctx *ctx) {
  luaL_newmetatable(L, LOOM_TASK_MT);
  lua_pushlightuserdata(L, ctx);
  lua_newtable(L);
  loom__setfuncs(L, ctx, task_methods);
  lua_pushcclosure(L, l_task_index, 2);
  lua_setfield(L, -2, "__index");
  lua_pushlightuserdata(L, ctx);
  lua_pushcclosure(L, l_task_newindex, 1);
  lua_setfield(L, -2, "__newindex");
  lua_pushlightuserdata(L, ctx);
  lua_pushcclosure(L, l_task_tostring, 1);
  lua_setfield(L, -2, "__tostring");
  ctx->task_mt = lua_topointer(L, -1);
  ctx->r_task_mt = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushlightuserdata(L, ctx);
  lua_pushcclosure(L, task_main, 1);
  ctx->r_task_main = luaL_ref(L, LUA_REGISTRYINDEX);
  loom__setfuncs(L, ctx, task_funcs);
}
