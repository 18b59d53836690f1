/*
** sched.c: the scheduler, the only resumer of tasks (DESIGN.md B2), and
** the owner of a task's end (as Trio's Runner is).
**
** libuv drives the scheduler (DESIGN.md B4): a uv_check_t callback resumes the
** tasks that were ready when it began, and wait.c's uv_idle_t is active only
** while the ready queue is not empty, so that the poll does not block
** then. So a host that runs uv_run itself gets loom's tasks run with no
** extra call. The check handle is unreferenced: a loop with no ready,
** sleeping or I/O-waiting task has no active referenced loom handle, and
** uv_run returns.
**
** Each pass runs inside one lua_pcall of a C trampoline (DESIGN.md B1), on the
** thread that drives the loop: the caller of loom.run, or the main thread
** when the host runs the loop. When a task's coroutine returns, the task
** is finished here: its leftover scopes closed, its group told, its
** joiners woken, its anchor dropped.
**
** loom.run runs a root task until it and every task have finished; if the
** loop runs dry first, every task is blocked with nothing left to wake it:
** loom.run cancels them all, lets their cleanup run, and raises a
** "deadlock" error. The layers above take part through the context's
** hooks (Ctrl-C is watched during loom.run, child processes are ended
** when its tasks are done).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static int run_done(loom_ctx *ctx);

/* {====================================================================
** The end of a task
** ===================================================================== */

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
static void task_finished(lua_State *L, loom_ctx *ctx, loom_task *t,
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
  if (run_done(ctx)) uv_stop(ctx->loop);
  loom__task_settle(L, ctx, t);             /* drops its anchor */
}

/* [-0, +0, m] End 't' with the error 'why' after misuse (a plain
** coroutine.yield in the task), a deadlock, or a broken trampoline (then
** 'why' is NULL and the error value is on top of the task's coroutine):
** take the traceback of where it stopped, close its pending <close>
** variables (they cannot wait: a coroutine being closed cannot yield) and
** finish it. */
static void task_kill(lua_State *L, loom_ctx *ctx, loom_task *t,
                      const char *why) {
  lua_State *co = t->co;
  if (why == NULL) lua_xmove(co, L, 1);   /* the error value on top of co */
  else lua_pushstring(L, why);
  /* Where the task stopped, taken before its stack goes. */
  loom__traceback(L, ctx, co, 0);              /* [err tb] */
  ctx->current = t;
  if (lua_closethread(co, L) != LUA_OK) {
    /* A closing method failed: its error replaces the original
    ** (DESIGN.md B8). */
    lua_xmove(co, L, 1);
    lua_replace(L, -3);
  }
  ctx->current = NULL;
  lua_settop(co, 0);
  lua_xmove(L, co, 2);                         /* co: [err tb] */
  loom__push_traceback(co, ctx, t, 0);
  lua_pushinteger(co, (lua_Integer)++ctx->err_seq);
  t->status = TO_ERROR;
  task_finished(L, ctx, t, 3);
}

/* {====================================================================
** The resume loop
** ===================================================================== */

/* Resume 't' once and deal with how it stopped (on the driving thread L,
** inside the pass's protected call). */
static void task_resume(lua_State *L, loom_ctx *ctx, loom_task *t) {
  lua_State *co = t->co;
  int nargs = 0, nres = 0, st;
  if (t->flags & TF_NEW) {
    t->flags &= (unsigned char)~TF_NEW;
    nargs = t->nres;
  }
  t->state = TS_RUNNING;
  ctx->current = t;
  st = lua_resume(co, L, nargs, &nres);
  ctx->current = NULL;
  if (ctx->gc_torture) lua_gc(L, LUA_GCCOLLECT);   /* finds missing pins */
  if (st == LUA_YIELD) {
    if (nres == 1 && lua_touserdata(co, -1) == (void *)&loom__token) {
      lua_pop(co, 1);
      if (t->state == TS_RUNNING) t->state = TS_WAITING;
      return;
    }
    lua_pop(co, nres);
    task_kill(L, ctx, t,
              "loom: coroutine.yield() called directly in a task "
              "(only loom's blocking calls may suspend a task; yield "
              "inside a coroutine of your own instead)");
  } else if (st == LUA_OK) {
    task_finished(L, ctx, t, nres);
  } else {
    task_kill(L, ctx, t, NULL);
  }
}

/* How many passes one check callback may run while tasks keep waking each
** other before libuv gets to poll for I/O again. Each pass resumes only
** the tasks that were ready when it began (DESIGN.md B4); running a few in a
** row saves a loop turn (a poll system call) per hand-off between tasks. */
#define LOOM_PASSES_PER_TURN 16

/* [-1, +0, e] The pass trampoline: run passes while tasks are ready (at
** most LOOM_PASSES_PER_TURN); each resumes the tasks that were ready when
** it began; tasks woken meanwhile wait for the next pass. */
static int sched_pass(lua_State *L) {
  loom_ctx *ctx = (loom_ctx *)lua_touserdata(L, 1);
  int pass;
  lua_settop(L, 0);
  loom__release_now(L, ctx);
  for (pass = 0; pass < LOOM_PASSES_PER_TURN; pass++) {
    loom_task *last = ctx->ready_tail, *t;
    int more = last != NULL;
    if (!more) break;
    while (more && (t = ctx->ready_head) != NULL) {
      more = (t != last);
      ctx->ready_head = t->next;
      if (ctx->ready_head == NULL) ctx->ready_tail = NULL;
      t->next = NULL;
      task_resume(L, ctx, t);
    }
  }
  return 0;
}

/* After a pass: let the poll block when nothing is ready; arm the timer
** for the earliest deadline. */
static void sched_settle(loom_ctx *ctx) {
  loom__ready_settle(ctx);
  loom__clock_sync(ctx);
}

/* The check callback (libuv context: only '-' API calls outside the
** protected pass, DESIGN.md B1). */
static void on_check(uv_check_t *h) {
  loom_ctx *ctx = (loom_ctx *)h->data;
  lua_State *L = ctx->drive;
  int st;
  if (ctx->closing) return;
  if (ctx->current != NULL) {
    /* A task is being resumed: this is a uv_run called from inside it
    ** (luv's uv.run, say), which libuv does not support: resuming other
    ** tasks here would run them inside the running one. Make that uv_run
    ** return; they run when the task yields. */
    uv_stop(ctx->loop);
    return;
  }
  if (ctx->ready_head != NULL || ctx->dead_n > 0) {
    if (!lua_checkstack(L, 4)) {
      fprintf(stderr, "loom: no stack space to run tasks\n");
      return;
    }
    lua_pushcfunction(L, sched_pass);
    lua_pushlightuserdata(L, ctx);
    ctx->loop_depth++;   /* a loop run is under way: no nested loom.run */
    st = lua_pcall(L, 1, 0, 0);
    ctx->loop_depth--;
    if (st != LUA_OK) {
      /* The pass itself failed (out of memory): report it, go on. */
      ctx->current = NULL;
      lua_pushnil(L);
      loom__report_unhandled(L, ctx, -2, -1);
      lua_pop(L, 2);
    }
  }
  sched_settle(ctx);
}

/* [-0, +0, -] Initialise the scheduler's handles on ctx->loop. */
static void sched_init(loom_ctx *ctx) {
  uv_check_init(ctx->loop, &ctx->h.check);
  ctx->h.check.data = ctx;
  uv_check_start(&ctx->h.check, on_check);
  uv_unref((uv_handle_t *)&ctx->h.check);
  uv_idle_init(ctx->loop, &ctx->h.idle);
  ctx->h.idle.data = ctx;
  loom__clock_init(ctx);
  ctx->nhandles_open += 2;
  ctx->check_on = 1;
}

/* [-0, +0, e] Make the loop and the scheduler's handles ready (before the
** first task, future or wait). */
void loom__sched_prepare(lua_State *L, loom_ctx *ctx) {
  int rc = loom__ensure_loop(ctx);
  if (rc != 0) luaL_error(L, "loom: cannot create the event loop (%s)",
                          uv_strerror(rc));
  if (!ctx->sched_ready) {
    sched_init(ctx);
    ctx->sched_ready = 1;
  }
}

/* [-0, +0, -] Run the loop once in 'mode' with L driving it. */
int loom__loop_run(lua_State *L, loom_ctx *ctx, uv_run_mode mode) {
  lua_State *saved = ctx->drive;
  int r;
  ctx->drive = L;
  ctx->loop_depth++;
  loom__ready_kick(ctx);
  loom__clock_sync(ctx);
  r = uv_run(ctx->loop, mode);
  ctx->loop_depth--;
  ctx->drive = saved;
  return r;
}

/* {====================================================================
** Deadlock: cancel, then kill what is left
** ===================================================================== */

/* The first task under 'root' that is blocked in a wait that is not a
** join on other tasks (those end by themselves once the tasks they wait
** for are gone), in tree order; NULL if none. */
static loom_task *find_blocked(loom_ctx *ctx, loom_scope *root) {
  loom_scope *x = root;
  (void)ctx;
  for (;;) {
    if (x->owner != NULL && x->owner->scope == x &&
        x->owner->state == TS_WAITING && !(x->owner->flags & TF_JOINWAIT))
      return x->owner;
    if (x->child != NULL) {
      x = x->child;
      continue;
    }
    while (x != root && x->next == NULL) x = x->parent;
    if (x == root) return NULL;
    x = x->next;
  }
}

/* Close every task under 'root' that is still blocked after having been
** cancelled (a shielded wait nobody will end); tasks joining them are
** woken as they finish. Returns how many were closed. */
static int kill_blocked(lua_State *L, loom_ctx *ctx, loom_scope *root) {
  int n = 0;
  loom_task *t;
  while ((t = find_blocked(ctx, root)) != NULL) {
    if (t->abort != NULL) {
      loom_abort_fn fn = t->abort;
      t->abort = NULL;
      fn(ctx, t);
    }
    task_kill(L, ctx, t,
              "loom: deadlock: the task was blocked forever, even "
              "after being cancelled, and was closed");
    n++;
  }
  return n;
}

/* {====================================================================
** loom.run, loom.start, loom.shutdown
** ===================================================================== */

/* Is the loom.run under way finished: its root task done and
** no task left outside the subtree of loom.start's tasks (which a host may
** run beside it and which loom.run does not wait for)? */
static int run_done(loom_ctx *ctx) {
  loom_scope *c;
  if (!ctx->running || ctx->run_root == NULL ||
      ctx->run_root->state != TS_DONE)
    return 0;
  for (c = ctx->top.child; c != NULL; c = c->next)
    if (c != &ctx->started) return 0;
  return 1;
}

/* Deadlock: cancel every subtree of the run (all but loom.start's). */
static void cancel_run(loom_ctx *ctx) {
  loom_scope *c;
  for (c = ctx->top.child; c != NULL; c = c->next)
    if (c != &ctx->started) loom__scope_cancel(ctx, c, CR_DEADLOCK);
}

/* Close the run's tasks still blocked after cancel_run. */
static int kill_run_blocked(lua_State *L, loom_ctx *ctx) {
  loom_scope *c;
  int n = 0, k;
again:
  for (c = ctx->top.child; c != NULL; c = c->next) {
    if (c == &ctx->started) continue;
    if ((k = kill_blocked(L, ctx, c)) > 0) {
      n += k;
      goto again;   /* the tree changed */
    }
  }
  return n;
}

/* Run the loop until the run's root task and every task of the run have
** finished (loom__run_done). If the loop runs dry first, every task is
** blocked with nothing left to wake it: cancel the run's tasks; if some are
** still blocked after that (shielded), close them. Returns 1 if a deadlock
** happened, having pushed the list of the tasks blocked then. */
static int run_until_done(lua_State *L, loom_ctx *ctx, loom_task *root) {
  int deadlock = 0;
  for (;;) {
    int alive = loom__loop_run(L, ctx, UV_RUN_DEFAULT);
    (void)root;
    if (run_done(ctx)) break;
    if (alive || ctx->ready_head != NULL) continue;
    if (!deadlock) {
      deadlock = 1;
      loom__push_blocked(L, ctx);       /* for the error: who waited */
      cancel_run(ctx);
    } else if (kill_run_blocked(L, ctx) == 0) {
      break;  /* cannot happen: a join always waits on a blocked task */
    }
  }
  /* End what the tasks left running, and let closing I/O handles run
  ** their close callbacks (nothing outlives loom.run). */
  loom__hooks_call(ctx, LOOM_HOOK_RUN_END);
  while (ctx->nclosing > 0) loom__loop_run(L, ctx, UV_RUN_ONCE);
  loom__release_now(L, ctx);
  if (ctx->top.flags & SF_CANCELLED) {
    /* Deadlock or Ctrl-C cancelled the tree's root, which is permanent:
    ** take the cancellation back for the next run. */
    ctx->top.flags &= (unsigned short)~(SF_CANCELLED | SF_EFFECTIVE);
    ctx->top.reason = CR_NONE;
    ctx->top.creason = CR_NONE;
    loom__scope_propagate(ctx, &ctx->started);
  }
  return deadlock;
}

/* loom.run(fn, ...): run fn(...) as the root task until everything has
** finished; return its results or raise its error. */
static int l_run(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t;
  int deadlock, n = lua_gettop(L);
  loom__check_callable(L, 1);
  if (ctx->running || ctx->current != NULL || ctx->loop_depth > 0)
    return luaL_error(L, "loom.run: already running (loom.run cannot be "
                      "called from inside a loom task or a running loop)");
  loom__sched_prepare(L, ctx);
  t = loom__new_task(L, ctx, 1, n - 1, &ctx->top, NULL);
  t->flags |= TF_RUNROOT;
  lua_replace(L, 1);                     /* keep the Task at index 1 */
  lua_settop(L, 1);
  ctx->running = 1;
  ctx->run_root = t;
  ctx->interrupted = 0;
  loom__hooks_call(ctx, LOOM_HOOK_RUN_BEGIN);
  deadlock = run_until_done(L, ctx, t);
  loom__hooks_call(ctx, LOOM_HOOK_RUN_EXIT);
  ctx->running = 0;
  ctx->run_root = NULL;
  if (ctx->interrupted) {
    ctx->interrupted = 0;
    if (t->status != TO_ERROR) {
      loom__push_interrupted(L, ctx);
      return lua_error(L);
    }
  }
  if (deadlock && t->status != TO_ERROR)
    return luaL_error(L, "loom.run: deadlock: every task was blocked with "
                      "nothing left to wake it; they were cancelled. "
                      "Blocked tasks:%s", lua_tostring(L, 2));
  return loom__push_outcome(L, ctx, t, 1);
}

/* loom.start(fn, ...): start fn(...) as a root task without running the
** loop (for hosts that run it); returns the Task. */
static int l_start(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t;
  loom__check_callable(L, 1);
  loom__sched_prepare(L, ctx);
  t = loom__new_task(L, ctx, 1, lua_gettop(L) - 1, &ctx->started, NULL);
  t->flags |= TF_HOSTROOT;
  return 1;
}

/* loom.shutdown(): cancel every task started with loom.start and run the
** loop until they have finished (their cleanup included). */
static int l_shutdown(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_scope *s;
  int rounds = 0;
  if (ctx->current != NULL || ctx->loop_depth > 0)
    return luaL_error(L, "loom.shutdown: cannot be called from inside a "
                      "loom task or a running loop");
  if (!ctx->sched_ready) return 0;
  while (ctx->started.child != NULL) {
    int alive;
    /* Also the tasks started meanwhile (by cleanup code, say). */
    for (s = ctx->started.child; s != NULL; s = s->next)
      loom__scope_cancel(ctx, s, CR_SHUTDOWN);
    alive = loom__loop_run(L, ctx, UV_RUN_ONCE);
    if (!alive && ctx->ready_head == NULL && ctx->started.child != NULL &&
        kill_blocked(L, ctx, &ctx->started) == 0 && ++rounds > 2)
      break;
  }
  /* Handles still closing and requests the cancelled tasks left running
  ** in libuv's threadpool (a DNS lookup, a file read): wait for them, so
  ** that after lua_close one uv_run of the host's loop frees everything
  ** and uv_loop_close succeeds. */
  while (ctx->nclosing > 0 && loom__loop_run(L, ctx, UV_RUN_ONCE)) {
  }
  loom__loop_run(L, ctx, UV_RUN_NOWAIT);
  return 0;
}

/* core.stats(): counters for tests and leak checks. */
static int l_stats(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  int n = 0;
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, ctx->ntasks);
  lua_setfield(L, -2, "tasks");
  lua_pushinteger(L, loom__timer_count(ctx));
  lua_setfield(L, -2, "timers");
  lua_pushinteger(L, ctx->heap_n);     /* dead entries included (clock.c) */
  lua_setfield(L, -2, "timer_entries");
  loom__pushref(L, ctx, ctx->r_anchor);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    n++;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushinteger(L, n - ctx->pool_n);      /* pooled coroutines are not */
  lua_setfield(L, -2, "anchors");
  lua_pushinteger(L, ctx->pool_n);
  lua_setfield(L, -2, "pooled");
  loom__pushref(L, ctx, ctx->r_stash);
  lua_pushnil(L);
  n = 0;
  while (lua_next(L, -2) != 0) {
    n++;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "stashed");
  lua_pushboolean(L, ctx->top.child == &ctx->started &&
                         ctx->started.next == NULL &&
                         ctx->started.child == NULL);
  lua_setfield(L, -2, "tree_empty");
  lua_pushboolean(L, ctx->ready_head == NULL);
  lua_setfield(L, -2, "ready_empty");
  return 1;
}

/* [-0, +1, -] core.loop_busy() -> true while a task runs or loom runs the
** loop (uv_run must not be entered again then: loom.use_luv's uv.run). */
static int l_loop_busy(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  lua_pushboolean(L, ctx->current != NULL || ctx->loop_depth > 0);
  return 1;
}

/* [-1, +0, -] core.set_gc_torture(on): a full garbage collection after
** every resume of a task (a debug switch for the specs: an object that
** libuv or the scheduler needs but nothing anchors is collected at once).
** Also on when the environment variable LOOM_GC_TORTURE is set. */
static int l_set_gc_torture(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  ctx->gc_torture = lua_toboolean(L, 1);
  return 0;
}

static const luaL_Reg sched_funcs[] = {
  {"set_gc_torture", l_set_gc_torture},
  {"loop_busy", l_loop_busy},
  {"run", l_run},
  {"start", l_start},
  {"shutdown", l_shutdown},
  {"stats", l_stats},
  {NULL, NULL}
};

/* [-0, +0, m] Register the scheduler functions in the core table on top. */
void loom__sched_open(lua_State *L, loom_ctx *ctx) {
  const char *torture = getenv("LOOM_GC_TORTURE");
  ctx->gc_torture = torture != NULL && *torture != '\0' &&
                    strcmp(torture, "0") != 0;
  loom__setfuncs(L, ctx, sched_funcs);
}
