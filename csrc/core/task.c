/*
** task.c: tasks. A task is one coroutine plus one C record (loom_task, the
** payload of the Task userdata, whose user value 1 is the coroutine). The
** coroutine runs task_main, which calls the task's function under a
** yieldable xpcall with loom's message handler, so an error unwinds the
** task's own stack (its <close> variables and pcall handlers run, and may
** wait) before the task reports it (DESIGN.md B8). The message handler
** (traceback.c) takes the traceback at the raise point; this file heads
** it with the task's name.
**
** When a task finishes (sched.c ends it), its results (or [error,
** traceback, raise order]) are on its coroutine's stack; once its group
** and joiners have been told, they move into the Task object (user value
** 1: the one result itself, or a table of them) and the coroutine, reset,
** goes to the context's pool, from which the next spawn takes it: a
** steady spawn-join workload allocates no thread and no stack, and a
** finished task that the program keeps costs its Task object only.
*/
#include <math.h>
#include <string.h>

#include "core.h"

/* {====================================================================
** The coroutine body
** ===================================================================== */

/* [-0, +0, m] The error at 'idx' is a Cancelled that reached the top of
** its task or of a group's body where no scope around it is cancelled: it
** was caught, kept and raised again after the scope it belongs to was
** left (or a shield went up while it unwound). It must not make a failure
** look like a cancellation (as Trio treats a stray Cancelled): replace it
** with an ordinary error, which the group reports. */
void loom__stray_cancelled(lua_State *L, int idx) {
  const char *why = "cancelled";
  idx = lua_absindex(L, idx);
  if (lua_getfield(L, idx, "message") == LUA_TSTRING)
    why = lua_tostring(L, -1);
  lua_pushfstring(L, "loom: a Cancelled (%s) escaped its scope: it was "
                  "raised again where no scope around it is cancelled "
                  "(caught with pcall and re-raised after leaving the "
                  "scope?); it is reported as an error", why);
  lua_replace(L, idx);
  lua_pop(L, 1);
}

static int task_main_k(lua_State *co, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(co);
  loom_task *t = ctx->current;
  lua_Integer seq;
  int named;
  (void)kc;
  if (status == LUA_OK || status == LUA_YIELD) {   /* [msgh results...] */
    t->status = TO_OK;
    return lua_gettop(co) - 1;   /* the results; msgh is dropped */
  }
  if (loom__is_cancelled(co, ctx, -1) && (t->root.flags & SF_EFFECTIVE)) {
    t->status = TO_CANCELLED;                      /* [msgh err] */
    return 0;
  }
  t->status = TO_ERROR;
  lua_remove(co, 1);                               /* [err] */
  seq = loom__stash_take(co, ctx, t, 1, &named);   /* [err tb] */
  if (loom__is_cancelled(co, ctx, 1)) loom__stray_cancelled(co, 1);
  loom__push_traceback(co, ctx, t, named);
  lua_pushinteger(co, seq);                        /* [err tb seq] */
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

/* {====================================================================
** Spawn sites
** =====================================================================
** t.spawned_at is the line of the call that created the task: the first
** Lua caller outside loom's own Lua modules (so a task spawned by
** `l:serve` gets the user's line), and its chunk's short source name. The
** record points at a copy of that name which the context keeps for good
** (ctx->r_sites, string -> the same string), since a task outlives its
** spawner's function. One spawn site after another usually comes from the
** same chunk, so the context remembers the last one (its source's address
** and kept name): when both match, neither the check for a loom frame nor
** the table is needed. The name is compared too, since a collected chunk's
** source string may leave its address to another chunk: only one of the
** same name could then pass for the remembered one, and it names the same
** site (a loom module would have to bear a user chunk's name). */

/* [-0, +0, m] The kept copy of the short source name 's'. */
static const char *kept_source(lua_State *L, loom_ctx *ctx, const char *s) {
  const char *kept;
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_sites);           /* [sites] */
  lua_pushstring(L, s);
  lua_pushvalue(L, -1);
  if (lua_rawget(L, -3) != LUA_TSTRING) {           /* [sites s kept?] */
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushvalue(L, -1);
    lua_rawset(L, -4);                                  /* sites[s] = s */
  }
  kept = lua_tostring(L, -1);       /* the table keeps it: see above */
  lua_settop(L, top);
  return kept;
}

/* [-0, +0, m] Record where 't' is being spawned from. */
static void task_site(lua_State *L, loom_ctx *ctx, loom_task *t) {
  lua_Debug ar;
  int level;
  for (level = 1; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.currentline <= 0) continue;            /* C, or no line info */
    if (ar.source != ctx->site_source || ctx->site_src == NULL ||
        strcmp(ar.short_src, ctx->site_src) != 0) {
      if (loom__loom_frame(L, &ar)) continue;    /* a loom frame: go up */
      ctx->site_src = kept_source(L, ctx, ar.short_src);
      ctx->site_source = ar.source;
    }
    t->src = ctx->site_src;
    t->line = ar.currentline;
    return;
  }
}

/* [-0, +1, m] Push t.spawned_at, "file:line" (the file as Lua's
** tracebacks show it), or nil when unknown (spawned from C). */
void loom__push_spawned_at(lua_State *L, loom_task *t) {
  if (t->src == NULL) lua_pushnil(L);
  else lua_pushfstring(L, "%s:%d", t->src, t->line);
}

/* }==================================================================== */

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
  t = (loom_task *)lua_newuserdatauv(L, sizeof(loom_task), 2);
  memset(t, 0, sizeof(*t));
  if (ctx->spawn_sites) task_site(L, ctx, t);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_task_mt);
  lua_setmetatable(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_anchor);       /* [t anchors] */
  if (ctx->current != NULL) {                 /* t.parent, user value 2 */
    lua_rawgeti(L, -1, ctx->current->ref);
    lua_setiuservalue(L, -3, 2);
    t->parent = ctx->current;
  }
  if (ctx->pool_n > 0) {
    /* A reset coroutine of a finished task, in an anchor slot that the new
    ** task takes over. */
    int ref = ctx->pool[--ctx->pool_n];
    lua_rawgeti(L, -1, ref);                          /* [t anchors co] */
    co = lua_tothread(L, -1);
    lua_pushvalue(L, -3);
    lua_rawseti(L, -3, ref);                          /* anchors[ref] = t */
    lua_remove(L, -2);                                /* [t co] */
    t->ref = ref;
  } else {
    t->ref = loom__anchor_slot(ctx);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, t->ref);                       /* anchors[ref] = t */
    lua_pop(L, 1);
    co = lua_newthread(L);                            /* [t co] */
  }
  if (nargs + 3 > LUA_MINSTACK && !lua_checkstack(co, nargs + 3))
    luaL_error(L, "loom: too many arguments for a task");
  lua_rawgeti(co, LUA_REGISTRYINDEX, ctx->r_task_main);
  lua_rawgeti(co, LUA_REGISTRYINDEX, ctx->r_msgh);
  for (i = 0; i <= nargs; i++) lua_pushvalue(L, fidx + i);
  lua_xmove(L, co, nargs + 1);                 /* fn, args -> co */
  lua_setiuservalue(L, -2, 1);                 /* [t] */
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

/* [-0, +1, m] Push the name of 't' ("task-N" unless renamed); its Task
** object is at 'idx', or 'idx' is 0 and 't' is alive (anchored). */
void loom__push_name(lua_State *L, loom_ctx *ctx, loom_task *t, int idx) {
  if ((t->flags & TF_NAMED) && (idx != 0 || t->ref != LUA_NOREF)) {
    idx = idx != 0 ? lua_absindex(L, idx) : 0;
    loom__pushref(L, ctx, ctx->r_names);
    if (idx != 0) lua_pushvalue(L, idx);
    else loom__push_task(L, ctx, t);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (lua_type(L, -1) == LUA_TSTRING) return;
    lua_pop(L, 1);
  }
  lua_pushfstring(L, "task-%d", (int)t->id);
}

#define CHAIN_MAX 20    /* tasks shown in a traceback's spawn chain */

/* [-0, +1, m] Push the spawn chain of the live task 't', for the end of its
** tracebacks: "spawn chain:\n\ttask 'NAME' spawned at FILE:LINE" for it,
** then its parent, up to the root (at most CHAIN_MAX lines). */
static void push_spawn_chain(lua_State *L, loom_ctx *ctx, loom_task *t) {
  int n = 0;
  luaL_checkstack(L, 8, NULL);
  lua_pushliteral(L, "\nspawn chain:");                      /* [s] */
  loom__push_task(L, ctx, t);                          /* [s task] */
  while (lua_type(L, -1) == LUA_TUSERDATA) {
    loom_task *u = (loom_task *)lua_touserdata(L, -1);
    if (n++ == CHAIN_MAX) {
      lua_pushliteral(L, "\n\t...");
      lua_rotate(L, -2, 1);                      /* [s "..." task] */
      lua_pop(L, 1);
      lua_concat(L, 2);
      return;
    }
    lua_pushliteral(L, "\n\ttask '");
    loom__push_name(L, ctx, u, -2);
    if (u->src != NULL) {
      lua_pushliteral(L, "' spawned at ");
      loom__push_spawned_at(L, u);
      lua_concat(L, 4);
    } else {
      lua_pushliteral(L, "'");
      lua_concat(L, 3);
    }                                          /* [s task line] */
    lua_rotate(L, -3, -1);                      /* [task line s] */
    lua_rotate(L, -2, 1);                       /* [task s line] */
    lua_concat(L, 2);                           /* [task s'] */
    lua_insert(L, -2);                          /* [s' task] */
    lua_getiuservalue(L, -1, 2);               /* [s' task parent] */
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
}

/* [-1, +1, m] Head the traceback on top (a string, or nil when none was
** recorded) with the name of the live task 't' and end it with its spawn
** chain: "in task 'NAME':\n...\nspawn chain:...". A traceback already
** 'named' (taken over from another task) is left as it is. */
void loom__push_traceback(lua_State *L, loom_ctx *ctx, loom_task *t,
                          int named) {
  if (named && lua_type(L, -1) == LUA_TSTRING) return;
  if (lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushliteral(L, "(no traceback)");
  }
  lua_pushliteral(L, "in task '");
  loom__push_name(L, ctx, t, 0);
  lua_pushliteral(L, "':\n");
  lua_rotate(L, -4, -1);                 /* [prefix name ":\n" tb] */
  push_spawn_chain(L, ctx, t);
  lua_concat(L, 5);
}

/* {====================================================================
** Outcomes
** ===================================================================== */

/* [-0, +n, m] Push copies of the 'n' values at the bottom of the dead
** coroutine of 't'. */
static int push_co_values(lua_State *L, loom_task *t, int tidx, int n) {
  int i;
  if (n + 2 > LUA_MINSTACK) luaL_checkstack(L, n, "too many results");
  if (n == 0) return 0;
  lua_getiuservalue(L, tidx, 1);        /* the outcome (loom__task_settle) */
  if (t->status == TO_OK && t->nres == 1) return 1;
  for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -(n + 1));
  return n;
}

/* [-0, +1, m] Push the 'i'-th value of the outcome of the finished task
** 't' (its Task object at 'tidx'): a result, or for a failed task 1 the
** error, 2 its traceback, 3 its raise order. */
int loom__task_push_value(lua_State *L, loom_task *t, int tidx, int i) {
  tidx = lua_absindex(L, tidx);
  if (i > t->nres || t->status == TO_CANCELLED) {
    lua_pushnil(L);
  } else if (t->co != NULL) {                  /* not settled yet */
    lua_pushvalue(t->co, i);
    lua_xmove(t->co, L, 1);
  } else if (lua_getiuservalue(L, tidx, 1) == LUA_TTABLE &&
             !(t->status == TO_OK && t->nres == 1)) {
    lua_rawgeti(L, -1, i);
    lua_remove(L, -2);
  }
  return 1;
}

#define KEEP_FINISHED 16  /* finished ancestors a chain keeps */

/* [-0, +0, -] Task 't' (its Task at 'idx') has just finished: if more
** than KEEP_FINISHED finished tasks follow it up its parent chain, the
** last of them forgets its parent. So a relay of tasks, each spawning the
** next then ending, holds a bounded number of them, while t.parent of a
** finished task stays what it was in every ordinary program. The walk is
** in C (t->parent is valid while user value 2 keeps it alive); the Lua
** one runs only to cut. */
static void forget_old_ancestors(lua_State *L, loom_task *t, int idx) {
  loom_task *p = t->parent;
  int n = 0;
  while (p != NULL && p->state == TS_DONE && ++n < KEEP_FINISHED)
    p = p->parent;
  if (n < KEEP_FINISHED || p == NULL || p->parent == NULL) return;
  lua_pushvalue(L, idx);                       /* [x]: walk to p's Task */
  while (lua_touserdata(L, -1) != (void *)p) {
    lua_getiuservalue(L, -1, 2);
    lua_remove(L, -2);
  }
  lua_pushnil(L);
  lua_setiuservalue(L, -2, 2);
  p->parent = NULL;
  lua_pop(L, 1);
}

/* [-0, +0, m] The finished task 't' has told its group and joiners (the
** scheduler, sched.c): move its outcome (the values on its coroutine's
** stack) into its Task object, and let go of its anchor: the slot keeps
** the coroutine, reset, for the next spawn (when the pool has room), or is
** freed. */
void loom__task_settle(lua_State *L, loom_ctx *ctx, loom_task *t) {
  lua_State *co = t->co;
  int n = t->status == TO_CANCELLED ? 0 : t->nres, i;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_anchor);     /* [anchors] */
  lua_rawgeti(L, -1, t->ref);                          /* [anchors task] */
  lua_getiuservalue(L, -1, 1);                      /* [anchors task co] */
  if (n == 1 && t->status == TO_OK) {
    lua_xmove(co, L, 1);                       /* the one result */
  } else if (n == 0) {
    lua_pushnil(L);
  } else {
    lua_createtable(L, n, 0);
    for (i = 1; i <= n; i++) {
      lua_pushvalue(co, i);
      lua_xmove(co, L, 1);
      lua_rawseti(L, -2, i);
    }
  }
  lua_setiuservalue(L, -3, 1);                 /* [anchors task co] */
  t->co = NULL;
  forget_old_ancestors(L, t, -2);
  lua_settop(co, 0);
  /* It returned from its main function (or was closed): it is at its base
  ** level with nothing pending, as a new coroutine. */
  if (ctx->pool_n < LOOM_POOL_MAX && lua_status(co) == LUA_OK) {
    lua_rawseti(L, -3, t->ref);                /* anchors[ref] = co */
    ctx->pool[ctx->pool_n++] = t->ref;
    lua_pop(L, 2);
  } else {
    lua_pop(L, 2);
    loom__unanchor_in(L, ctx, -1, t->ref);     /* the table at hand */
    lua_pop(L, 1);
  }
  t->ref = LUA_NOREF;
}

/* [-0, +n, e] The outcome of finished task 't' as join() gives it:
** return its results, or raise its error / a TaskCancelled error. */
int loom__push_outcome(lua_State *L, loom_ctx *ctx, loom_task *t,
                       int tidx) {
  switch (t->status) {
    case TO_OK:
      return push_co_values(L, t, tidx, t->nres);
    case TO_ERROR:
      loom__task_push_value(L, t, tidx, 1);
      return lua_error(L);
    default:
      loom__push_name(L, ctx, t, tidx);
      loom__push_task_cancelled(L, ctx, tidx, lua_tostring(L, -1));
      return lua_error(L);
  }
}

/* {====================================================================
** Task methods
** ===================================================================== */

#define check_task(L, idx) ((loom_task *)loom__checkself(L, (idx)))

static int k_join(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *me = (loom_task *)kc;
  (void)status;
  loom__resumed(L, ctx, me);
  return loom__push_outcome(L, ctx, check_task(L, 1), 1);
}

/* Wait (abortably) until 't' is done; then 'k'. */
static int wait_done(lua_State *L, loom_ctx *ctx, loom_task *t,
                     lua_KFunction k) {
  loom_task *me = loom__checkpoint_enter(L, ctx);
  if (t->state == TS_DONE) return k(L, LUA_OK, (lua_KContext)me);
  if (t == me) return luaL_error(L, "loom: a task cannot wait for itself");
  loom__waiting(me, "join");
  return loom__lot_park(L, me, &t->joiners, k);
}

/* Checkpoint. t:join() -> results of t, or raises its error. */
static int l_task_join(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = check_task(L, 1);
  lua_settop(L, 1);
  return wait_done(L, ctx, t, k_join);
}

static int k_wait(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *me = (loom_task *)kc;
  loom_task *t = check_task(L, 1);
  (void)status;
  loom__resumed(L, ctx, me);
  switch (t->status) {
    case TO_OK:
      lua_pushliteral(L, "ok");
      return 1 + push_co_values(L, t, 1, t->nres);
    case TO_ERROR:
      lua_pushliteral(L, "error");
      return 1 + loom__task_push_value(L, t, 1, 1);
    default:
      lua_pushliteral(L, "cancelled");
      return 1;
  }
}

/* Checkpoint. t:wait() -> "ok", ... | "error", err | "cancelled". */
static int l_task_wait(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = check_task(L, 1);
  lua_settop(L, 1);
  return wait_done(L, ctx, t, k_wait);
}

/* t:result(): the outcome of a finished task, without waiting. */
static int l_task_result(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = check_task(L, 1);
  if (t->state != TS_DONE) {
    lua_settop(L, 1);
    loom__push_name(L, ctx, t, 1);
    return luaL_error(L, "loom: task '%s' has not finished",
                      lua_tostring(L, -1));
  }
  return loom__push_outcome(L, ctx, t, 1);
}

/* t:cancel(): cancel this task alone (no effect once it has finished). */
static int l_task_cancel(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = check_task(L, 1);
  if (t->state != TS_DONE) {
    loom__scope_cancel(ctx, &t->root, CR_TASK);
    loom__clock_sync(ctx);
  }
  return 0;
}

static int l_task_done(lua_State *L) {
  lua_pushboolean(L, check_task(L, 1)->state == TS_DONE);
  return 1;
}

static int l_task_cancelled(lua_State *L) {
  lua_pushboolean(L, check_task(L, 1)->status == TO_CANCELLED);
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
  if (lua_rawget(L, lua_upvalueindex(3)) != LUA_TNIL) return 1;  /* method */
  t = check_task(L, 1);
  k = lua_tostring(L, 2);
  if (k != NULL && strcmp(k, "status") == 0)
    lua_pushstring(L, status_names[t->status]);
  else if (k != NULL && strcmp(k, "name") == 0)
    loom__push_name(L, ctx, t, 1);
  else if (k != NULL && strcmp(k, "spawned_at") == 0)
    loom__push_spawned_at(L, t);
  else if (k != NULL && strcmp(k, "parent") == 0)
    lua_getiuservalue(L, 1, 2);
  else
    lua_pushnil(L);
  return 1;
}

static int l_task_newindex(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = check_task(L, 1);
  const char *k = lua_tostring(L, 2);
  if (k == NULL || strcmp(k, "name") != 0)
    return luaL_error(L, "loom.Task: cannot set field '%s'",
                      k != NULL ? k : luaL_typename(L, 2));
  if (!lua_isstring(L, 3))
    return luaL_error(L, "loom.Task: bad value for field 'name' (string "
                      "expected, got %s)", luaL_typename(L, 3));
  loom__pushref(L, ctx, ctx->r_names);
  lua_pushvalue(L, 1);
  {
    size_t len;
    const char *name = lua_tolstring(L, 3, &len);
    lua_pushlstring(L, name, len);      /* all of it, \0 included */
  }
  lua_rawset(L, -3);
  t->flags |= TF_NAMED;
  return 0;
}

static int l_task_tostring(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = check_task(L, 1);
  loom__push_name(L, ctx, t, 1);
  lua_pushfstring(L, "loom.Task: %s (%s)", lua_tostring(L, -1),
                  status_names[t->status]);
  return 1;
}

/* {====================================================================
** Module functions
** ===================================================================== */

/* [-0, +1, -] loom.current_task() -> Task or nil. */
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
  {"is_done", l_task_done},
  {"is_cancelled", l_task_cancelled},
  {NULL, NULL}
};

static const luaL_Reg task_meta[] = {
  {"__newindex", l_task_newindex},
  {"__tostring", l_task_tostring},
  {NULL, NULL}
};

static const luaL_Reg task_funcs[] = {
  {"current_task", l_current_task},
  {NULL, NULL}
};

static const loom_class task_class = {
  LOOM_TASK_MT, task_methods, task_meta, l_task_index, task_funcs, NULL,
  NULL
};

/* [-0, +0, m] Register the Task class, the coroutine body and
** core.current_task in the core table on top; make the names table. */
void loom__task_open(lua_State *L, loom_ctx *ctx) {
  lua_newtable(L);                      /* weak-keyed names table */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  ctx->r_names = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);                      /* the spawn sites' sources */
  ctx->r_sites = luaL_ref(L, LUA_REGISTRYINDEX);
  ctx->spawn_sites = 1;
  loom__class_open(L, ctx, &task_class);
  ctx->r_task_mt = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushlightuserdata(L, ctx);
  lua_pushcclosure(L, task_main, 1);
  ctx->r_task_main = luaL_ref(L, LUA_REGISTRYINDEX);
}
