/*
** group.c: task groups (nurseries). A group is a userdata holding a
** loom_group, anchored while open; its user values are the arrays of
** errors and tracebacks (made on the first failure) and its name.
**
** The body of with_group runs in the host task inside the group's scope;
** the root scope of each child is a child of the group's scope, so one
** cancellation of that scope reaches the body and every child. When a
** child or the body fails, its error and traceback are recorded and the
** group's scope is cancelled (CR_FAILED). When the body is done, the host
** waits (not a checkpoint, not abortable) until no child is left, then:
** errors -> one ErrorGroup; a Cancelled that reached the boundary -> caught
** if the group's own cancellation is the one to catch it, else passed on;
** children cancelled by an enclosing scope -> that cancellation goes on;
** otherwise the body's results.
**
** g:start() runs the child under the caller's innermost scope until it
** calls started(...), which moves its root scope under the group's scope.
** Until then its failure belongs to the caller, not to the group.
*/
#include <string.h>

#include "core.h"

#define check_group(L, idx) ((loom_group *)loom__checkself(L, (idx)))

/* [-0, +1, -] Push the userdata of an open (anchored) group. */
static void push_group(lua_State *L, loom_ctx *ctx, loom_group *g) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_anchor);
  lua_rawgeti(L, -1, g->ref);
  lua_remove(L, -2);
}

/* [-0, +0, m] Record the error at 'erridx', with the traceback at 'tbidx'
** and its raise-order number 'seq', in the group at 'gidx': errors are
** kept in the order they were raised, which is not always the order their
** tasks finished (cleanup may wait). A nil error is recorded as a string.
** User values: 1 errors, 2 tracebacks, 3 name, 4 raise-order numbers. */
static void group_record(lua_State *L, loom_group *g, int gidx, int erridx,
                         int tbidx, lua_Integer seq) {
  int k, pos, i;
  gidx = lua_absindex(L, gidx);
  erridx = lua_absindex(L, erridx);
  tbidx = lua_absindex(L, tbidx);
  luaL_checkstack(L, 6, NULL);
  for (k = 1; k <= 4; k++) {
    if (k == 3) continue;
    if (lua_getiuservalue(L, gidx, k) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setiuservalue(L, gidx, k);
    }
  }                                         /* [errors tbs seqs] */
  pos = g->nerrors + 1;
  while (pos > 1) {
    lua_rawgeti(L, -1, pos - 1);
    if (lua_tointeger(L, -1) <= seq) {
      lua_pop(L, 1);
      break;
    }
    lua_pop(L, 1);
    pos--;
  }
  for (i = g->nerrors; i >= pos; i--) {     /* shift the later ones up */
    for (k = -3; k <= -1; k++) {
      lua_rawgeti(L, k, i);
      lua_rawseti(L, k - 1, i + 1);
    }
  }
  if (lua_isnil(L, erridx)) lua_pushliteral(L, "(error object is a nil value)");
  else lua_pushvalue(L, erridx);
  lua_rawseti(L, -4, pos);
  lua_pushvalue(L, tbidx);
  lua_rawseti(L, -3, pos);
  lua_pushinteger(L, seq);
  lua_rawseti(L, -2, pos);
  lua_pop(L, 3);
  g->nerrors++;
}

static void group_fail(loom_ctx *ctx, loom_group *g) {
  g->flags |= GF_FAILED;
  loom__scope_cancel(ctx, &g->scope, CR_FAILED);
}

/* An abandoned group whose last child has finished: report its errors to
** the unhandled hook, drop it. */
static void group_release_abandoned(lua_State *L, loom_ctx *ctx,
                                    loom_group *g) {
  loom__scope_unlink(ctx, &g->scope);
  g->scope.flags |= SF_EXITED;
  if (g->nerrors > 0) {
    push_group(L, ctx, g);
    loom__push_error_group(L, ctx, -1);
    lua_pushnil(L);
    loom__report_unhandled(L, ctx, -2, -1);
    lua_pop(L, 3);
  }
  loom__unanchor(L, ctx, g->ref);
  g->ref = LUA_NOREF;
}

/* [-0, +0, m] Child 't' of its group has finished (scheduler context). */
void loom__group_child_done(lua_State *L, loom_ctx *ctx, loom_task *t) {
  loom_group *g = t->group;
  if (t->flags & TF_STARTING) {
    /* Its outcome goes to the caller of g:start(), woken as a joiner. */
    t->flags &= (unsigned char)~TF_STARTING;
  } else if (t->status == TO_ERROR) {
    lua_checkstack(L, 4);
    push_group(L, ctx, g);
    lua_pushvalue(t->co, 1);
    lua_pushvalue(t->co, 2);
    lua_xmove(t->co, L, 2);
    group_record(L, g, -3, -2, -1, lua_tointeger(t->co, 3));
    lua_pop(L, 3);
    group_fail(ctx, g);
  } else if (t->status == TO_CANCELLED) {
    g->flags |= GF_CHILDCANCEL;
  }
  g->nlive--;
  if (g->slots.head != NULL) loom__lot_wake_one(ctx, &g->slots);
  if (g->nlive == 0) {
    if (g->flags & GF_JOINING) loom__wake(ctx, g->host, TW_OK);
    else if (g->flags & GF_ABANDONED) group_release_abandoned(L, ctx, g);
  }
}

/* [-0, +0, m] The host of 'g' died with the group open (misuse): close the
** group, cancel its children, report its errors once they are done. */
void loom__group_abandon(lua_State *L, loom_ctx *ctx, loom_group *g) {
  g->flags |= GF_ABANDONED | GF_CLOSED;
  g->flags &= ~(unsigned)GF_JOINING;
  loom__scope_move(ctx, &g->scope, &ctx->top);
  loom__scope_cancel(ctx, &g->scope, CR_ABANDONED);
  if (g->nlive == 0) group_release_abandoned(L, ctx, g);
}

/* {====================================================================
** with_group: open and exit
** ===================================================================== */

/* [-2, +1, e] core.group_open(name, limit): open a group in the running
** task; its scope becomes the task's innermost. */
static int l_group_open(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = loom__running(L, ctx);
  lua_Integer limit = loom__optinteger(L, 2, 0);
  loom_group *g;
  if (!lua_isnoneornil(L, 1)) loom__checktype(L, 1, LUA_TSTRING);
  loom__argcheck(L, limit >= 0 && limit <= 0x7fffffff, 2,
                "limit must be a positive integer");
  g = (loom_group *)loom__newself(L, sizeof(loom_group), 4);
  if (!lua_isnoneornil(L, 1)) {
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 3);
  }
  g->host = t;
  g->limit = (int)limit;
  loom__scope_init(&g->scope, SK_GROUP, t);
  lua_pushvalue(L, -1);
  g->ref = loom__anchor(L, ctx);
  loom__scope_link(ctx, &g->scope, t->scope);
  t->scope = &g->scope;
  return 1;
}

static int k_group_exit(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = (loom_task *)kc;
  loom_group *g = check_group(L, 1);
  int ok = lua_toboolean(L, 2);
  int caught, outer;
  (void)status;
  t->wake = TW_NONE;
  if (g->nlive > 0) {
    /* A task ran between the wake-up and now and spawned into the group
    ** (it is open until this point): wait for that child too. */
    g->flags |= GF_JOINING;
    t->flags |= TF_JOINWAIT;
    loom__waiting(t, "group");
    return loom__suspend(L, t, NULL, g, k_group_exit);
  }
  t->flags &= (unsigned char)~TF_JOINWAIT;
  g->flags &= ~(unsigned)GF_JOINING;
  g->flags |= GF_CLOSED;
  loom__clock_due(ctx);
  caught = !ok && loom__is_cancelled(L, ctx, 3) &&
           loom__scope_catches(&g->scope);
  outer = g->scope.parent != NULL &&
          (g->scope.parent->flags & SF_EFFECTIVE) != 0;
  t->scope = g->scope.parent;
  loom__scope_unlink(ctx, &g->scope);
  g->scope.flags |= SF_EXITED;
  loom__unanchor(L, ctx, g->ref);
  g->ref = LUA_NOREF;
  loom__clock_sync(ctx);
  if (g->nerrors > 0) {
    loom__push_error_group(L, ctx, 1);
    return lua_error(L);
  }
  if (!ok) {
    if (caught) {
      g->scope.flags |= SF_CAUGHT;
      return 0;
    }
    lua_settop(L, 3);
    loom__stash_rethrow(L, ctx, t, 3, 0);
    return lua_error(L);
  }
  if ((g->flags & GF_CHILDCANCEL) && outer)
    return loom__raise_cancelled(L, ctx, loom__cancel_reason(t));
  return lua_gettop(L) - 2;
}

/* [-(2+n), +(0|n), e] core.group_exit(g, ok, ...): the body of 'g' ended
** with the outcome of its xpcall. Waits for the children (not a
** checkpoint), then returns the body's results or raises (see above). */
static int l_group_exit(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_group *g = check_group(L, 1);
  loom_task *t = ctx->current;
  int stray;
  if (t == NULL || t->co != L || t != g->host || t->scope != &g->scope)
    return luaL_error(L, "loom: group stack corrupted (a group was left "
                      "from another task or out of order)");
  g->flags |= GF_BODYDONE;
  /* A Cancelled leaving the body while the group's scope is not cancelled
  ** is stray (task.c): an error of the body, as any other. */
  stray = !lua_toboolean(L, 2) && loom__is_cancelled(L, ctx, 3) &&
          !(g->scope.flags & SF_EFFECTIVE);
  if (!lua_toboolean(L, 2) && (stray || !loom__is_cancelled(L, ctx, 3))) {
    lua_Integer seq;
    int named;
    lua_settop(L, 3);
    seq = loom__stash_take(L, ctx, t, 3, &named);
    if (stray) loom__stray_cancelled(L, 3);
    loom__push_traceback(L, ctx, t, named);
    group_record(L, g, 1, 3, 4, seq);
    lua_settop(L, 3);
    group_fail(ctx, g);
  }
  if (g->nlive > 0) {
    g->flags |= GF_JOINING;
    t->flags |= TF_JOINWAIT;
    loom__waiting(t, "group");
    return loom__suspend(L, t, NULL, g, k_group_exit);
  }
  return k_group_exit(L, LUA_OK, (lua_KContext)t);
}

/* {====================================================================
** spawn and start
** ===================================================================== */

static void check_open(lua_State *L, loom_group *g) {
  if (g->flags & GF_CLOSED)
    luaL_error(L, "loom: the group is closed (with_group has returned); "
               "cannot start a task in it");
}

/* Wait for room under the group's limit (a checkpoint, only when it has to
** wait). Returns 1 if the caller must suspend (already arranged). */
static int wait_for_room(lua_State *L, loom_ctx *ctx, loom_group *g,
                         lua_KFunction k, int *yielded) {
  loom_task *me;
  if (g->limit == 0 || g->nlive < g->limit) return 0;
  me = loom__checkpoint_enter(L, ctx);
  loom__waiting(me, "group limit");
  *yielded = loom__lot_park(L, me, &g->slots, k);
  return 1;
}

static int k_spawn(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_group *g = check_group(L, 1);
  int r;
  if (status == LUA_YIELD) loom__resumed(L, ctx, (loom_task *)kc);
  check_open(L, g);
  if (wait_for_room(L, ctx, g, k_spawn, &r)) return r;
  loom__new_task(L, ctx, 2, lua_gettop(L) - 2, &g->scope, g);
  g->nlive++;
  return 1;
}

/* g:spawn(fn, ...) -> Task. A checkpoint only when the group's limit makes
** it wait. */
static int l_group_spawn(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_group *g = check_group(L, 1);
  loom__check_callable(L, 2);
  check_open(L, g);
  if (g->limit > 0 && g->nlive >= g->limit)
    return k_spawn(L, LUA_OK, 0);   /* must wait for room */
  loom__new_task(L, ctx, 2, lua_gettop(L) - 2, &g->scope, g);
  g->nlive++;
  return 1;
}

/* started(...): the child of g:start() is ready; hand the values to the
** caller and move the child under the group. */
static int l_started(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *child = (loom_task *)lua_touserdata(L, lua_upvalueindex(2));
  loom_task *caller;
  int n = lua_gettop(L);
  if (!(child->flags & TF_STARTING))
    return luaL_error(L, "loom: started() already called (or the task has "
                      "already finished)");
  child->flags &= (unsigned char)~TF_STARTING;
  child->flags |= TF_STARTED;
  caller = child->joiners.head;
  if (caller != NULL) {
    if (!lua_checkstack(caller->co, n + 1))
      return luaL_error(L, "loom: too many values for started()");
    lua_xmove(L, caller->co, n);
    caller->nres = n;
    loom__lot_remove(&child->joiners, caller);
    loom__wake(ctx, caller, TW_OK);
  }
  if (child->state != TS_DONE)
    loom__scope_move(ctx, &child->root, &child->group->scope);
  return 0;
}

static int k_start(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *me = (loom_task *)kc;
  loom_task *child = (loom_task *)lua_touserdata(L, 2);  /* ours */
  (void)status;
  me->wake = TW_NONE;
  me->flags &= (unsigned char)~TF_JOINWAIT;
  if (child->flags & TF_STARTED) return me->nres;
  if (child->status == TO_ERROR) {
    loom__task_push_value(L, child, 2, 1);   /* its error, traceback */
    loom__task_push_value(L, child, 2, 2);
    loom__stash_rethrow(L, ctx, me, -2, -1);
    lua_pop(L, 1);
    return lua_error(L);
  }
  loom__check_cancel(L, ctx, me);
  return luaL_error(L, "loom: g:start(): the task %s without calling "
                    "started()", child->status == TO_CANCELLED
                                     ? "was cancelled" : "returned");
}

static int k_start_room(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *me = (loom_task *)kc;
  loom_group *g = check_group(L, 1);
  loom_task *child;
  int r;
  if (status == LUA_YIELD) loom__resumed(L, ctx, me);
  check_open(L, g);
  if (wait_for_room(L, ctx, g, k_start_room, &r)) return r;
  lua_pushnil(L);               /* placeholder for 'started' */
  lua_insert(L, 3);
  child = loom__new_task(L, ctx, 2, lua_gettop(L) - 2, me->scope, g);
  child->flags |= TF_STARTING;
  g->nlive++;
  lua_pushlightuserdata(L, ctx);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_started, 2);
  lua_xmove(L, child->co, 1);
  lua_replace(child->co, 4);    /* [task_main msgh fn started args...] */
  lua_replace(L, 2);            /* [g child] */
  lua_settop(L, 2);
  me->flags |= TF_JOINWAIT;
  loom__lot_push(&child->joiners, me);
  loom__waiting(me, "start");
  return loom__suspend(L, me, NULL, &child->joiners, k_start);
}

/* Checkpoint. g:start(fn, ...) -> the values the child passes to
** started(...). */
static int l_group_start(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_group *g = check_group(L, 1);
  loom_task *me;
  loom__check_callable(L, 2);
  check_open(L, g);
  me = loom__checkpoint_enter(L, ctx);
  return k_start_room(L, LUA_OK, (lua_KContext)me);
}

/* g:cancel(): cancel the body and every child; with_group then returns. */
static int l_group_cancel(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_group *g = check_group(L, 1);
  loom__scope_cancel(ctx, &g->scope, CR_GROUP);
  loom__clock_sync(ctx);
  return 0;
}

static int l_group_index(lua_State *L) {
  loom_group *g;
  const char *k;
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(3)) != LUA_TNIL) return 1;  /* method */
  g = check_group(L, 1);
  k = lua_tostring(L, 2);
  if (k != NULL && strcmp(k, "cancel_called") == 0)
    lua_pushboolean(L, (g->scope.flags & SF_CANCELLED) != 0);
  else if (k != NULL && strcmp(k, "name") == 0)
    lua_getiuservalue(L, 1, 3);
  else
    lua_pushnil(L);
  return 1;
}

static int l_group_tostring(lua_State *L) {
  loom_group *g = check_group(L, 1);
  lua_getiuservalue(L, 1, 3);
  lua_pushfstring(L, "loom.Group%s%s (%s, %d running)",
                  lua_isstring(L, -1) ? " " : "",
                  lua_isstring(L, -1) ? lua_tostring(L, -1) : "",
                  (g->flags & GF_CLOSED) ? "closed" : "open", g->nlive);
  return 1;
}

static const luaL_Reg group_methods[] = {
  {"spawn", l_group_spawn},
  {"start", l_group_start},
  {"cancel", l_group_cancel},
  {NULL, NULL}
};

static const luaL_Reg group_meta[] = {
  {"__tostring", l_group_tostring},
  {NULL, NULL}
};

static const luaL_Reg group_funcs[] = {
  {"group_open", l_group_open},
  {"group_exit", l_group_exit},
  {NULL, NULL}
};

static const loom_class group_class = {
  LOOM_GROUP_MT, group_methods, group_meta, l_group_index, group_funcs,
  NULL, NULL
};

/* [-0, +0, m] Register the Group class, core.group_open and
** core.group_exit in the core table on top. */
void loom__group_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &group_class);
  lua_pop(L, 1);
}
