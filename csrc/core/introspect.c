/*
** introspect.c: loom.tree(), a snapshot of the live tasks as nested
** tables, and the descriptions of blocked tasks that loom.dump (Lua), the
** deadlock error (sched.c) and the tree share.
**
** The tree follows the cancel-scope tree (scope.c): a task's children are
** the tasks whose root scopes lie in its subtree (spawned into groups it
** hosts), the structure of structured concurrency. The walk is iterative
** (no C recursion, so a chain of 20 000 nested groups is fine); the node
** tables of the enclosing tasks wait on the Lua stack. Nothing here
** changes any state, and nothing runs while it walks.
*/
#include <math.h>
#include <string.h>

#include "core.h"

/* [-0, +1, m] Push what 't' waits on, for people: "sleep", "join task-7",
** "group 'workers' (3 running)", "tcp read"...; nil when it does not
** wait (it runs, or is ready to). */
void loom__push_waiting(lua_State *L, loom_ctx *ctx, loom_task *t) {
  if (t->state != TS_WAITING || t->what == NULL) {
    if (t->state == TS_WAITING) lua_pushliteral(L, "wait");
    else lua_pushnil(L);
    return;
  }
  if ((strcmp(t->what, "join") == 0 || strcmp(t->what, "start") == 0) &&
      t->wait_obj != NULL) {          /* parked in the other's joiners */
    loom_task *u = (loom_task *)((char *)t->wait_obj -
                                 offsetof(loom_task, joiners));
    lua_pushfstring(L, "%s ", t->what);
    loom__push_name(L, ctx, u, 0);
    lua_concat(L, 2);
  } else if (strcmp(t->what, "group") == 0 && t->wait_obj != NULL) {
    loom_group *g = (loom_group *)t->wait_obj;
    lua_pushfstring(L, "group (%d running)", g->nlive);
  } else {
    lua_pushstring(L, t->what);
  }
}

/* [-0, +0, -] The earliest deadline that applies to 't' (its scopes and
** those around it, up to the nearest shield), HUGE_VAL if none. */
static double task_deadline(loom_task *t) {
  loom_scope *s;
  double when = HUGE_VAL;
  for (s = t->scope; s != NULL; s = s->parent) {
    if (s->kind == SK_USER && s->timer.when < when) when = s->timer.when;
    if (s->flags & SF_SHIELD) break;
  }
  return when;
}

/* [-0, +0, -] Is 't' inside a shield? */
static int task_shielded(loom_task *t) {
  loom_scope *s;
  for (s = t->scope; s != NULL; s = s->parent)
    if (s->flags & SF_SHIELD) return 1;
  return 0;
}

/* [-0, +1, m] Push the description of scope 's' of a task: { kind =
** "group" | "timeout" | "move_on" | "scope" | "shield", deadline = (when, or
** nil), cancelled = (boolean) }. */
static void push_scope_desc(lua_State *L, loom_ctx *ctx, loom_scope *s) {
  const char *kind = s->kind == SK_GROUP ? "group"
                     : (s->flags & SF_SHIELD) ? "shield"
                     : (s->flags & SF_TIMEOUT) ? "timeout"
                     : s->timer.when != HUGE_VAL ? "move_on" : "scope";
  (void)ctx;
  lua_createtable(L, 0, 3);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  if (s->timer.when != HUGE_VAL && s->kind == SK_USER) {
    lua_pushnumber(L, (lua_Number)s->timer.when);
    lua_setfield(L, -2, "deadline");
  }
  lua_pushboolean(L, (s->flags & SF_CANCELLED) != 0);
  lua_setfield(L, -2, "cancelled");
}

/* [-0, +1, m] Push the node of the live task 't' (its children table
** empty, filled by the walk). */
static void push_node(lua_State *L, loom_ctx *ctx, loom_task *t) {
  static const char *const status_names[] = {
    "running", "ok", "error", "cancelled"
  };
  double when = task_deadline(t);
  loom_scope *s;
  int n = 0;
  luaL_checkstack(L, 6, NULL);
  lua_createtable(L, 0, 12);
  loom__push_name(L, ctx, t, 0);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, status_names[t->status]);
  lua_setfield(L, -2, "status");
  loom__push_spawned_at(L, t);
  lua_setfield(L, -2, "spawned_at");
  loom__push_waiting(L, ctx, t);
  lua_setfield(L, -2, "waiting");
  if (t->state == TS_WAITING && t->what != NULL) {
    lua_pushnumber(L, loom__now(ctx) - t->since);
    lua_setfield(L, -2, "waited");
  }
  if (when != HUGE_VAL) {
    lua_pushnumber(L, when);
    lua_setfield(L, -2, "deadline");
  }
  lua_pushboolean(L, task_shielded(t));
  lua_setfield(L, -2, "shielded");
  lua_pushboolean(L, t->scope != NULL && (t->scope->flags & SF_EFFECTIVE));
  lua_setfield(L, -2, "cancelled");
  lua_pushinteger(L, (lua_Integer)t->id);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, t->state == TS_READY ? "ready"
                    : t->state == TS_RUNNING ? "running" : "waiting");
  lua_setfield(L, -2, "state");
  lua_newtable(L);                       /* its own open scopes, outer first */
  for (s = t->scope; s != NULL && s != &t->root; s = s->parent) n++;
  for (s = t->scope; s != NULL && s != &t->root; s = s->parent) {
    push_scope_desc(L, ctx, s);
    lua_rawseti(L, -2, n--);
  }
  lua_setfield(L, -2, "scopes");
  lua_newtable(L);
  lua_setfield(L, -2, "children");
}

/* [-0, +0, m] Append the node on top to the children of the node at
** 'parent' (popping it). */
static void add_child(lua_State *L, int parent) {
  lua_getfield(L, parent, "children");
  lua_insert(L, -2);
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  lua_pop(L, 1);
}

/* [-0, +1, m] Push the node of the task owning root scope 'top' with the
** nodes of every task below it, walking the scope tree without
** recursion: entering the root scope of another task pushes its node,
** leaving it appends it to the node of the task around it. */
static void push_tree(lua_State *L, loom_ctx *ctx, loom_scope *top) {
  loom_scope *x = top;
  push_node(L, ctx, top->owner);
  for (;;) {
    if (x->child != NULL) {
      x = x->child;
    } else {
      for (;;) {                   /* leave x, then its ancestors */
        if (x == top) return;
        if (x->kind == SK_TASK && x->owner != NULL)
          add_child(L, lua_gettop(L) - 1);
        if (x->next != NULL) {
          x = x->next;
          break;
        }
        x = x->parent;
      }
    }
    if (x->kind == SK_TASK && x->owner != NULL) {
      luaL_checkstack(L, 8, "loom.tree: tasks nested too deeply");
      push_node(L, ctx, x->owner);
    }
  }
}

/* [-0, +0, -] The scope after 'x' in a preorder walk of the subtree of
** 'top' (NULL at its end). */
static loom_scope *next_scope(loom_scope *x, loom_scope *top) {
  if (x->child != NULL) return x->child;
  for (; x != top; x = x->parent)
    if (x->next != NULL) return x->next;
  return NULL;
}

#define BLOCKED_MAX 50    /* tasks listed in a deadlock error */

/* [-0, +1, m] Push the list of the blocked tasks of loom.run's tree (all
** but loom.start's), for its deadlock error: one "\n\ttask 'NAME' waiting
** for WHAT (spawned at FILE:LINE)" per task, at most BLOCKED_MAX. */
void loom__push_blocked(lua_State *L, loom_ctx *ctx) {
  loom_scope *c, *x;
  int n = 0;
  luaL_checkstack(L, 8, NULL);
  lua_pushliteral(L, "");                                 /* [list] */
  for (c = ctx->top.child; c != NULL; c = c->next) {
    if (c == &ctx->started) continue;
    for (x = c; x != NULL; x = next_scope(x, c)) {
      loom_task *t = x->owner;
      if (x->kind != SK_TASK || t == NULL || t->state != TS_WAITING)
        continue;
      if (n++ >= BLOCKED_MAX) continue;
      lua_pushliteral(L, "\n\ttask '");
      loom__push_name(L, ctx, t, 0);
      lua_pushliteral(L, "' waiting for ");
      loom__push_waiting(L, ctx, t);
      if (t->src != NULL) {
        lua_pushliteral(L, " (spawned at ");
        loom__push_spawned_at(L, t);
        lua_pushliteral(L, ")");
        lua_concat(L, 8);                        /* [list + line] */
      } else {
        lua_concat(L, 5);
      }
    }
  }
  if (n > BLOCKED_MAX) {
    lua_pushfstring(L, "\n\t... and %d more", n - BLOCKED_MAX);
    lua_concat(L, 2);
  }
}

/* [-0, +1, m] loom.tree(): the live tasks of the current run as nested
** tables: the root task of loom.run while it runs; otherwise (a host
** loop) a node named "loom" whose children are the tasks of loom.start.
** Callable from a task or from outside. */
static int l_tree(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_scope *c;
  if (ctx->running && ctx->run_root != NULL &&
      ctx->run_root->state != TS_DONE) {
    push_tree(L, ctx, &ctx->run_root->root);
    return 1;
  }
  lua_createtable(L, 0, 5);
  lua_pushliteral(L, "loom");
  lua_setfield(L, -2, "name");
  lua_pushliteral(L, "running");
  lua_setfield(L, -2, "status");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "shielded");
  lua_newtable(L);
  lua_setfield(L, -2, "scopes");
  lua_newtable(L);
  lua_setfield(L, -2, "children");
  for (c = ctx->started.child; c != NULL; c = c->next) {
    if (c->kind != SK_TASK || c->owner == NULL) continue;
    push_tree(L, ctx, c);
    add_child(L, lua_gettop(L) - 1);
  }
  return 1;
}

/* [-1, +0, v] core.configure_spawn_sites(on): record t.spawned_at (on by
** default; loom.configure{ spawn_sites = false } turns it off). */
static int l_configure_spawn_sites(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  ctx->spawn_sites = lua_toboolean(L, 1);
  return 0;
}

/* [-1, +0, -] core.configure_internal_frames(on): tracebacks keep the
** frames of loom's machinery (off by default, traceback.c). */
static int l_configure_internal_frames(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  ctx->full_tracebacks = lua_toboolean(L, 1);
  return 0;
}

static const luaL_Reg introspect_funcs[] = {
  {"configure_internal_frames", l_configure_internal_frames},
  {"tree", l_tree},
  {"configure_spawn_sites", l_configure_spawn_sites},
  {NULL, NULL}
};

/* [-0, +0, m] Register core.tree and core.configure_spawn_sites in the
** core table on top. */
void loom__introspect_open(lua_State *L, loom_ctx *ctx) {
  loom__setfuncs(L, ctx, introspect_funcs);
}
