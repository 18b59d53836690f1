/*
** scope.c: the cancel-scope tree and level-triggered delivery.
**
** Every scope has a parent (up to ctx->top) and a list of children: the
** nested scopes of its own task, the scopes of groups opened inside it,
** and the root scopes of the tasks spawned into a group. A scope is
** "effectively cancelled" (SF_EFFECTIVE) when it was cancelled itself, or
** when its parent is and it is not shielded; the flag is kept up to date
** eagerly by an iterative walk (no C recursion, so any depth of nesting
** works: DESIGN.md, "Invariants") whenever a
** scope is cancelled, moved or (un)shielded, and the same walk calls the
** abort function of every task that becomes cancelled while blocked. A
** checkpoint then needs one test: task->scope->flags & SF_EFFECTIVE.
**
** Which scope catches a Cancelled (Trio's rule, decided when the error
** reaches a scope's boundary): a scope catches iff it was cancelled itself
** and the cancellation of its parent is not visible to it (the parent is
** not effectively cancelled, or the scope is a shield). So the outermost
** cancelled scope below the nearest shield wins.
**
** Sibling lists are doubly linked with head->prev pointing at the tail,
** so children are appended in spawn order and removed in O(1).
**
** Delivery: a checkpoint (loom__checkpoint_enter) raises Cancelled when
** the task's innermost scope is effectively cancelled; a wait aborted by
** a cancellation raises it when the task resumes (loom__resumed); a plain
** yield (loom__yield_now) tests again after its turn.
*/
#include <math.h>
#include <string.h>

#include "core.h"

static void scope_deadline_fire(loom_ctx *ctx, loom_timer *tm);

/* [-0, +0, -] Initialise a scope that is not in the tree yet. */
void loom__scope_init(loom_scope *s, int kind, loom_task *owner) {
  memset(s, 0, sizeof(*s));
  s->kind = (unsigned char)kind;
  s->owner = owner;
  loom__timer_init(&s->timer);
}

/* Is 's' effectively cancelled, given its own state and its parent's?
** Sets '*creason' to the reason of the scope that catches a Cancelled
** raised in 's': the parent's catcher when the parent's cancellation is
** visible (the outermost wins), else 's' itself. */
static int scope_eval(const loom_scope *s, unsigned char *creason) {
  if (!(s->flags & SF_SHIELD) && s->parent != NULL &&
      (s->parent->flags & SF_EFFECTIVE)) {
    *creason = s->parent->creason;
    return 1;
  }
  if (s->flags & SF_CANCELLED) {
    *creason = s->reason;
    return 1;
  }
  *creason = CR_NONE;
  return 0;
}

/* Set the effective state of 's' (and its catcher's reason). */
static void scope_set(loom_scope *s, int effective, unsigned char creason) {
  if (effective) s->flags |= SF_EFFECTIVE;
  else s->flags &= (unsigned short)~SF_EFFECTIVE;
  s->creason = creason;
}

/* [-0, +0, -] Append 's' (with no children) to the children of 'parent'
** and compute its effective state. Nothing below it can be waiting yet. */
void loom__scope_link(loom_ctx *ctx, loom_scope *s, loom_scope *parent) {
  loom_scope *head = parent->child;
  (void)ctx;
  s->parent = parent;
  s->next = NULL;
  if (head == NULL) {
    parent->child = s;
    s->prev = s;
  } else {
    s->prev = head->prev;
    head->prev->next = s;
    head->prev = s;
  }
  s->flags |= SF_LINKED;
  {
    unsigned char cr;
    int eff = scope_eval(s, &cr);
    scope_set(s, eff, cr);
  }
}

/* Remove 's' from its parent's children; its own children stay attached. */
static void scope_detach(loom_scope *s) {
  loom_scope *p = s->parent;
  if (p == NULL) return;
  if (p->child == s) {
    p->child = s->next;
    if (s->next != NULL) s->next->prev = s->prev;
  } else {
    s->prev->next = s->next;
    if (s->next != NULL) s->next->prev = s->prev;
    else p->child->prev = s->prev;  /* 's' was the tail */
  }
  s->parent = s->next = s->prev = NULL;
  s->flags &= (unsigned short)~SF_LINKED;
}

/* [-0, +0, -] Take 's' out of the tree. Children it still has (only after
** misuse: a host task that died with scopes open) move to its parent. */
void loom__scope_unlink(loom_ctx *ctx, loom_scope *s) {
  loom_scope *p = s->parent;
  if (!(s->flags & SF_LINKED)) return;
  while (s->child != NULL)
    loom__scope_move(ctx, s->child, p != NULL ? p : &ctx->top);
  if (s->kind != SK_TASK) loom__timer_clear(ctx, &s->timer);
  scope_detach(s);
}

/* [-0, +0, -] Move 's' (with its subtree) under 'parent', updating the
** effective state of the subtree (g:start() hand-over, abandoned groups). */
void loom__scope_move(loom_ctx *ctx, loom_scope *s, loom_scope *parent) {
  scope_detach(s);
  s->parent = NULL;
  {
    int eff = (s->flags & SF_EFFECTIVE) != 0;
    unsigned char cr = s->creason;
    loom__scope_link(ctx, s, parent);
    /* link() recomputed the state; restore the old one so that
    ** propagate() sees the change and walks the subtree. */
    scope_set(s, eff, cr);
  }
  loom__scope_propagate(ctx, s);
}

/* Abort the wait of a task that has just become cancelled (DESIGN.md B9). The
** abort function runs at most once per wait. */
static void task_abort(loom_ctx *ctx, loom_task *t) {
  loom_abort_fn fn = t->abort;
  if (t->state != TS_WAITING || fn == NULL) return;
  t->abort = NULL;
  if (fn(ctx, t) == LOOM_ABORT_SUCCEEDED) loom__wake(ctx, t, TW_CANCELLED);
}

/* [-0, +0, -] Recompute the effective state of 's' (and who catches a
** Cancelled there) and, where it changed, of its subtree; abort the waits
** of tasks that became cancelled. Each scope of the subtree is visited
** at most once per call. */
void loom__scope_propagate(loom_ctx *ctx, loom_scope *s) {
  loom_scope *x = s;
  for (;;) {
    int was = (x->flags & SF_EFFECTIVE) != 0;
    unsigned char cr;
    int now = scope_eval(x, &cr);
    if (now != was || cr != x->creason) {
      scope_set(x, now, cr);
      if (now && !was && x->owner != NULL && x->owner->scope == x)
        task_abort(ctx, x->owner);
      if (x->child != NULL) {
        x = x->child;
        continue;
      }
    }
    /* Next sibling, or climb; stop when back at 's'. */
    for (;;) {
      if (x == s) return;
      if (x->next != NULL) {
        x = x->next;
        break;
      }
      x = x->parent;
    }
  }
}

/* [-0, +0, -] Cancel 's' for 'reason' (idempotent; ignored once exited). */
void loom__scope_cancel(loom_ctx *ctx, loom_scope *s, int reason) {
  if (s->flags & (SF_CANCELLED | SF_EXITED)) return;
  s->flags |= SF_CANCELLED;
  s->reason = (unsigned char)reason;
  if (s->kind != SK_TASK) loom__timer_clear(ctx, &s->timer);
  if (s->flags & SF_LINKED) loom__scope_propagate(ctx, s);
}

/* The fire function of a scope's deadline: cancel the scope. */
static void scope_deadline_fire(loom_ctx *ctx, loom_timer *tm) {
  loom_scope *s = (loom_scope *)((char *)tm - offsetof(loom_scope, timer));
  loom__scope_cancel(ctx, s, CR_DEADLINE);
}

/* [-0, +0, -] Does 's' catch a Cancelled that reaches its boundary now? */
int loom__scope_catches(loom_scope *s) {
  if (!(s->flags & SF_CANCELLED)) return 0;
  if (s->flags & SF_SHIELD) return 1;
  return s->parent == NULL || !(s->parent->flags & SF_EFFECTIVE);
}

/* [-0, +0, -] The reason of the scope that will catch a Cancelled raised
** at a checkpoint of 't': the outermost cancelled scope up to the nearest
** shield (included), kept in each effectively cancelled scope, so this is
** O(1) whatever the depth of nesting. */
int loom__cancel_reason(loom_task *t) {
  loom_scope *s = t->scope;
  if ((s->flags & SF_EFFECTIVE) && s->creason != CR_NONE) return s->creason;
  return CR_EXPLICIT;
}

/* {====================================================================
** Checkpoints
** ===================================================================== */

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

/* [-0, +0, e] First thing in every continuation of a suspended task:
** raise Cancelled if the wait was aborted. */
void loom__resumed(lua_State *L, loom_ctx *ctx, loom_task *t) {
  int wake = t->wake;
  t->wake = TW_NONE;
  if (wake == TW_CANCELLED)
    loom__raise_cancelled(L, ctx, loom__cancel_reason(t));
}

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
  loom__waiting(t, NULL);                  /* ready, not waiting */
  loom__enqueue(ctx, t);
  return loom__suspend(L, t, NULL, NULL, k_yielded);
}

/* [-0, +0, y] Checkpoint. loom.checkpoint(): yield to the other ready
** tasks. */
static int l_checkpoint(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  return loom__yield_now(L, ctx, loom__checkpoint_enter(L, ctx));
}

/* {====================================================================
** Scope objects: loom.scope, loom.timeout, loom.move_on_*, loom.shield
** ===================================================================== */

#define check_scope(L, idx) ((loom_scope *)loom__checkself(L, (idx)))

/* [-0, +0, e] Set the deadline of a live user scope. */
static void scope_set_deadline(lua_State *L, loom_ctx *ctx, loom_scope *s,
                               double when) {
  if (s->flags & (SF_EXITED | SF_CANCELLED)) return;  /* no effect */
  if (when == HUGE_VAL) {
    loom__timer_clear(ctx, &s->timer);
    s->timer.when = HUGE_VAL;
  } else if (when <= loom__now(ctx)) {
    loom__timer_clear(ctx, &s->timer);
    s->timer.when = when;
    loom__scope_cancel(ctx, s, CR_DEADLINE);
  } else {
    loom__timer_set(L, ctx, &s->timer, when, scope_deadline_fire);
  }
  loom__clock_sync(ctx);
}

/* A deadline argument: a number (not NaN) or nil. 'field' is set for a
** field assignment (s.deadline = x), where there is no argument to name. */
static double check_when(lua_State *L, int idx, int field) {
  double when;
  if (lua_isnoneornil(L, idx)) return HUGE_VAL;
  if (lua_type(L, idx) != LUA_TNUMBER) {
    if (field)
      luaL_error(L, "loom.Scope: bad value for field 'deadline' (number "
                 "expected, got %s)", luaL_typename(L, idx));
    loom__typeerror(L, idx, "number or nil");
  }
  when = lua_tonumber(L, idx);
  if (when != when) {
    if (field) luaL_error(L, "loom.Scope: bad value for field 'deadline' "
                          "(NaN)");
    loom__argerror(L, idx, "deadline is NaN");
  }
  return when;
}

/* [-3, +1, e] core.scope_open(deadline, shield, timeout): open a user
** scope in the running task and make it the innermost. */
static int l_scope_open(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = loom__running(L, ctx);
  double when = check_when(L, 1, 0);
  loom_scope *s = (loom_scope *)loom__newself(L, sizeof(loom_scope), 0);
  loom__scope_init(s, SK_USER, t);
  if (lua_toboolean(L, 2)) s->flags |= SF_SHIELD;
  if (lua_toboolean(L, 3)) s->flags |= SF_TIMEOUT;
  loom__scope_link(ctx, s, t->scope);
  t->scope = s;
  scope_set_deadline(L, ctx, s, when);
  return 1;
}

/* [-(2+n), +(0|n), e] core.scope_exit(s, ok, ...): leave scope 's' with the
** outcome of its body (as returned by xpcall). Returns the body's results;
** returns nothing if 's' caught the Cancelled; raises a new TimeoutError
** if it caught one caused by its deadline and it is a timeout; otherwise
** re-raises the body's error unchanged. */
static int l_scope_exit(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_scope *s = check_scope(L, 1);
  loom_task *t = ctx->current;
  int ok = lua_toboolean(L, 2);
  int caught = 0;
  if (t == NULL || t->co != L || t->scope != s)
    return luaL_error(L, "loom: scope stack corrupted (a scope was left "
                      "from another task or out of order)");
  loom__clock_due(ctx);
  if (!ok && loom__is_cancelled(L, ctx, 3) && loom__scope_catches(s)) {
    caught = 1;
    s->flags |= SF_CAUGHT;
  }
  t->scope = s->parent;
  loom__scope_unlink(ctx, s);
  s->flags |= SF_EXITED;
  loom__clock_sync(ctx);
  if (ok) return lua_gettop(L) - 2;
  if (!caught) {
    lua_settop(L, 3);
    loom__stash_rethrow(L, ctx, t, 3, 0);
    return lua_error(L);
  }
  if ((s->flags & SF_TIMEOUT) && s->reason == CR_DEADLINE) {
    loom__push_timeout_error(L, ctx, s);
    return lua_error(L);
  }
  return 0;
}

static int l_scope_cancel(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_scope *s = check_scope(L, 1);
  loom__scope_cancel(ctx, s, CR_EXPLICIT);
  return 0;
}

static int l_scope_reschedule(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_scope *s = check_scope(L, 1);
  scope_set_deadline(L, ctx, s, check_when(L, 2, 0));
  return 0;
}

static int l_scope_expired(lua_State *L) {
  loom_scope *s = check_scope(L, 1);
  lua_pushboolean(L, (s->flags & SF_CANCELLED) && s->reason == CR_DEADLINE);
  return 1;
}

static int l_scope_index(lua_State *L) {
  loom_scope *s = check_scope(L, 1);
  const char *k = lua_tostring(L, 2);
  if (k == NULL) return 0;
  if (strcmp(k, "deadline") == 0) lua_pushnumber(L, s->timer.when);
  else if (strcmp(k, "shield") == 0)
    lua_pushboolean(L, (s->flags & SF_SHIELD) != 0);
  else if (strcmp(k, "cancel_called") == 0)
    lua_pushboolean(L, (s->flags & SF_CANCELLED) != 0);
  else if (strcmp(k, "cancelled_caught") == 0)
    lua_pushboolean(L, (s->flags & SF_CAUGHT) != 0);
  else {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(3));  /* methods */
  }
  return 1;
}

static int l_scope_newindex(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_scope *s = check_scope(L, 1);
  const char *k = lua_tostring(L, 2);
  if (k != NULL && strcmp(k, "deadline") == 0) {
    scope_set_deadline(L, ctx, s, check_when(L, 3, 1));
  } else if (k != NULL && strcmp(k, "shield") == 0) {
    if (!lua_isboolean(L, 3))
      return luaL_error(L, "loom.Scope: bad value for field 'shield' "
                        "(boolean expected, got %s)", luaL_typename(L, 3));
    if (lua_toboolean(L, 3)) s->flags |= SF_SHIELD;
    else s->flags &= (unsigned short)~SF_SHIELD;
    if (s->flags & SF_LINKED) loom__scope_propagate(ctx, s);
  } else {
    return luaL_error(L, "loom.Scope: cannot set field '%s'",
                      k != NULL ? k : luaL_typename(L, 2));
  }
  return 0;
}

static int l_scope_tostring(lua_State *L) {
  loom_scope *s = check_scope(L, 1);
  lua_pushfstring(L, "loom.Scope (%s%s%s)",
                  (s->flags & SF_EXITED) ? "exited" : "active",
                  (s->flags & SF_CANCELLED) ? ", cancelled" : "",
                  (s->flags & SF_SHIELD) ? ", shielded" : "");
  return 1;
}

static const luaL_Reg scope_methods[] = {
  {"cancel", l_scope_cancel},
  {"reschedule", l_scope_reschedule},
  {"expired", l_scope_expired},
  {NULL, NULL}
};

static const luaL_Reg scope_meta[] = {
  {"__newindex", l_scope_newindex},
  {"__tostring", l_scope_tostring},
  {NULL, NULL}
};

static const luaL_Reg scope_funcs[] = {
  {"scope_open", l_scope_open},
  {"scope_exit", l_scope_exit},
  {NULL, NULL}
};

static const loom_class scope_class = {
  LOOM_SCOPE_MT, scope_methods, scope_meta, l_scope_index, scope_funcs,
  NULL, NULL
};

static const luaL_Reg checkpoint_funcs[] = {
  {"checkpoint", l_checkpoint},
  {NULL, NULL}
};

/* [-0, +0, m] Make the scope tree's root and the parent of loom.start's
** roots; register the Scope class, core.scope_open, core.scope_exit and
** core.checkpoint in the core table on top. */
void loom__scope_open(lua_State *L, loom_ctx *ctx) {
  loom__scope_init(&ctx->top, SK_TOP, NULL);
  ctx->top.flags |= SF_LINKED;
  loom__scope_init(&ctx->started, SK_TOP, NULL);
  loom__scope_link(ctx, &ctx->started, &ctx->top);
  loom__class_open(L, ctx, &scope_class);
  lua_pop(L, 1);
  loom__setfuncs(L, ctx, checkpoint_funcs);
}
