/*
** context.c: the per-state context of loom. One loom_ctx per Lua state,
** malloc'd (libuv may still hold its handles after the state has gone,
** DESIGN.md B6) and owned by a full userdata kept in the registry under
** the address of 'ctx_key'. The context holds the loop (loom's own, or a
** host loop given by loom_attach), the main thread, registry references
** to the anchor table (objects libuv or the scheduler point to, DESIGN.md B5)
** and to the metatables and preallocated values of the engine.
**
** Also here, because every layer needs them and they need nothing else:
**  - anchors: pinning a value in the anchor table, and releasing anchors
**    from libuv callbacks at the next scheduler pass;
**  - classes (DESIGN.md, "Objects"): one way to make the metatable of a
**    kind of object, one receiver check;
**  - hooks: the layers above register what the engine calls when loom.run
**    begins, ends and returns, and at teardown, so the engine names
**    nothing of them.
**
** The context's __gc is the last-resort teardown (DESIGN.md B13): it runs the
** teardown hooks (which close every I/O handle without running Lua),
** closes the engine's handles, and frees the context once libuv has let
** go of them.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static const char ctx_key = 'c';

/* Key of a class's methods table in its metatable (loom__class_extend). */
static const char methods_key = 'm';

/* [-0, +0, -] The context of state L, or NULL before luaopen_loom_core. */
loom_ctx *loom__ctx(lua_State *L) {
  loom_ctx **box;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key);
  box = (loom_ctx **)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return box ? *box : NULL;
}

/* {====================================================================
** Anchors
** ===================================================================== */

/* [-0, +1, -] Push the registry value with reference 'ref'. */
void loom__pushref(lua_State *L, loom_ctx *ctx, int ref) {
  (void)ctx;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
}

/* [-0, +0, -] A free slot of the anchor table, for the caller to fill
** (loom__anchor, or the spawn path, which has the table on the stack). */
int loom__anchor_slot(loom_ctx *ctx) {
  return ctx->anchor_nfree > 0 ? ctx->anchor_free[--ctx->anchor_nfree]
                               : ++ctx->anchor_top;
}

/* [-1, +0, m] Pop the top value into the anchor table; return its ref
** (a positive slot; LUA_REFNIL for nil). Slots are recycled through a C
** free list, so anchoring is one table store (luaL_ref also reads the
** table's free list and length, which costs several times more on the
** per-task path). */
int loom__anchor(lua_State *L, loom_ctx *ctx) {
  int ref;
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return LUA_REFNIL;
  }
  ref = loom__anchor_slot(ctx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_anchor);
  lua_insert(L, -2);
  lua_rawseti(L, -2, ref);
  lua_pop(L, 1);
  return ref;
}

/* [-0, +0, -] Drop anchor 'ref' (a positive slot) of the anchor table at
** stack index 'tidx' (not a pseudo-index): clear it, which allocates
** nothing, and put it on the free list. */
void loom__unanchor_in(lua_State *L, loom_ctx *ctx, int tidx, int ref) {
  lua_pushnil(L);
  lua_rawseti(L, tidx < 0 ? tidx - 1 : tidx, ref);
  if (ctx->anchor_nfree == ctx->anchor_capfree) {
    int cap = ctx->anchor_capfree ? 2 * ctx->anchor_capfree : 256;
    int *nf = (int *)realloc(ctx->anchor_free, (size_t)cap * sizeof(int));
    if (nf == NULL) return;  /* the slot is not reused; no harm */
    ctx->anchor_free = nf;
    ctx->anchor_capfree = cap;
  }
  ctx->anchor_free[ctx->anchor_nfree++] = ref;
}

/* [-0, +0, -] Drop anchor 'ref' (LUA_NOREF and LUA_REFNIL are ignored). */
void loom__unanchor(lua_State *L, loom_ctx *ctx, int ref) {
  if (ref <= 0) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_anchor);
  loom__unanchor_in(L, ctx, -1, ref);
  lua_pop(L, 1);
}

/* [-0, +0, -] Release anchor 'ref' at the next scheduler pass: for libuv
** callbacks, which may not call the Lua API (DESIGN.md B1). */
void loom__release_later(loom_ctx *ctx, int ref) {
  if (ref == LUA_NOREF || ref == LUA_REFNIL) return;
  if (ctx->dead_n == ctx->dead_cap) {
    int cap = ctx->dead_cap ? 2 * ctx->dead_cap : 64;
    int *nr = (int *)realloc(ctx->dead_refs, (size_t)cap * sizeof(int));
    if (nr == NULL) return;  /* out of memory: the anchor leaks */
    ctx->dead_refs = nr;
    ctx->dead_cap = cap;
  }
  ctx->dead_refs[ctx->dead_n++] = ref;
}

/* [-0, +0, m] Release the anchors queued by loom__release_later. */
void loom__release_now(lua_State *L, loom_ctx *ctx) {
  while (ctx->dead_n > 0)
    loom__unanchor(L, ctx, ctx->dead_refs[--ctx->dead_n]);
}

/* {====================================================================
** Functions and classes
** ===================================================================== */

/* [-0, +0, m] Like luaL_setfuncs with the ctx as the one upvalue: module
** functions that belong to no class. */
void loom__setfuncs(lua_State *L, loom_ctx *ctx, const luaL_Reg *l) {
  for (; l != NULL && l->name != NULL; l++) {
    lua_pushlightuserdata(L, ctx);
    lua_pushcclosure(L, l->func, 1);
    lua_setfield(L, -2, l->name);
  }
}

/* [-0, +0, m] Set the functions 'l' in the table on top, each a closure
** with upvalues (ctx, the metatable at absolute index 'mt'). */
static void setfuncs_class(lua_State *L, loom_ctx *ctx, int mt,
                           const luaL_Reg *l) {
  for (; l != NULL && l->name != NULL; l++) {
    lua_pushlightuserdata(L, ctx);
    lua_pushvalue(L, mt);
    lua_pushcclosure(L, l->func, 2);
    lua_setfield(L, -2, l->name);
  }
}

/* [-0, +1, m] Register class 'c' (core.h): its metatable, registered under
** c->name as luaL_newmetatable does (__name included), with its methods,
** metamethods and functions, every one a closure with upvalues (ctx, the
** metatable). The core module table is on top on entry; the class's
** functions (and its methods table, if c->methods_field) go in it. Pushes
** the metatable. */
void loom__class_open(lua_State *L, loom_ctx *ctx, const loom_class *c) {
  int core = lua_gettop(L), mt;
  luaL_checkstack(L, 8, NULL);
  luaL_newmetatable(L, c->name);
  mt = lua_gettop(L);
  lua_newtable(L);                               /* [mt methods] */
  setfuncs_class(L, ctx, mt, c->methods);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, mt, &methods_key);
  if (c->methods_field != NULL) {
    lua_pushvalue(L, -1);
    lua_setfield(L, core, c->methods_field);
  }
  if (c->natives_field != NULL) {
    lua_newtable(L);
    setfuncs_class(L, ctx, mt, c->methods);
    lua_setfield(L, core, c->natives_field);
  }
  if (c->index != NULL) {
    lua_pushlightuserdata(L, ctx);
    lua_pushvalue(L, mt);
    lua_pushvalue(L, -3);                        /* [mt methods ctx mt m] */
    lua_pushcclosure(L, c->index, 3);
    lua_setfield(L, mt, "__index");
    lua_pop(L, 1);
  } else {
    lua_setfield(L, mt, "__index");
  }
  lua_pushvalue(L, mt);
  setfuncs_class(L, ctx, mt, c->meta);
  lua_pop(L, 1);
  lua_pushvalue(L, core);
  setfuncs_class(L, ctx, mt, c->funcs);
  lua_settop(L, mt);
}

/* [-0, +0, m] Add 'methods' to the class 'name' made by loom__class_open
** (a class whose methods live in several files, each registering its
** own). Raises if there is no such class. */
void loom__class_extend(lua_State *L, loom_ctx *ctx, const char *name,
                        const luaL_Reg *methods) {
  int mt;
  luaL_checkstack(L, 6, NULL);
  if (luaL_getmetatable(L, name) != LUA_TTABLE)
    luaL_error(L, "loom: internal error: no class %s to extend", name);
  mt = lua_gettop(L);
  lua_rawgetp(L, mt, &methods_key);
  setfuncs_class(L, ctx, mt, methods);
  lua_pop(L, 2);
}

/* [-0, +0, v] The receiver check of every method: the payload of the
** userdata at 'idx' if its metatable is the running function's class
** (upvalue 2, see loom__class_open), compared by address; else the type
** error of luaL_checkudata, blamed on a wrapper's caller (args.c). */
void *loom__checkself(lua_State *L, int idx) {
  void *p = lua_touserdata(L, idx);
  if (p != NULL && lua_getmetatable(L, idx)) {
    /* Addresses (both are tables; the class is kept by the registry):
    ** a little cheaper than lua_rawequal on every method call. */
    int same =
        lua_topointer(L, -1) == lua_topointer(L, lua_upvalueindex(2));
    lua_pop(L, 1);
    if (same) return p;
  }
  lua_getfield(L, lua_upvalueindex(2), "__name");
  loom__typeerror(L, idx, lua_tostring(L, -1));
  return NULL;
}

/* [-0, +1, m] A new userdata of 'size' zeroed bytes and 'nuv' user
** values with the running function's class (upvalue 2): constructors. */
void *loom__newself(lua_State *L, size_t size, int nuv) {
  void *p = lua_newuserdatauv(L, size, nuv);
  memset(p, 0, size);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_setmetatable(L, -2);
  return p;
}

/* {====================================================================
** Hooks of the layers above
** ===================================================================== */

/* [-0, +0, -] Call 'h' (static data) with 'data' at each moment it names;
** at most LOOM_MAX_HOOKS layers register (a fixed set, in loom.c's
** table). */
void loom__hooks_add(loom_ctx *ctx, const loom_hooks *h, void *data) {
  if (ctx->nhooks == LOOM_MAX_HOOKS) return;  /* cannot happen */
  ctx->hooks[ctx->nhooks].h = h;
  ctx->hooks[ctx->nhooks].data = data;
  ctx->nhooks++;
}

/* [-0, +0, -] Call every hook of moment 'which' (LOOM_HOOK_*): in the
** order they were added, teardown in the reverse order. Pure C. */
void loom__hooks_call(loom_ctx *ctx, int which) {
  int i, n = ctx->nhooks;
  for (i = 0; i < n; i++) {
    int k = which == LOOM_HOOK_TEARDOWN ? n - 1 - i : i;
    loom_hook_fn fn = ctx->hooks[k].h->fn[which];
    if (fn != NULL) fn(ctx, ctx->hooks[k].data);
  }
}

/* {====================================================================
** Life of the context
** ===================================================================== */

/* Close callback of the context's handles: the last one frees the ctx. */
static void on_ctx_handle_closed(uv_handle_t *h) {
  loom_ctx *ctx = (loom_ctx *)h->data;
  if (--ctx->nhandles_open == 0 && ctx->closing == 2) {
    free(ctx->heap);
    free(ctx);
  }
}

static void close_ctx_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, on_ctx_handle_closed);
}

/* Close every handle still open on loom's own loop (I/O objects the
** program never closed); their owners are already being collected. */
static void on_walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* [-0, +0, -] __gc of the context (DESIGN.md B13): no Lua code runs. */
static int ctx_gc(lua_State *L) {
  loom_ctx **box = (loom_ctx **)lua_touserdata(L, 1);
  loom_ctx *ctx = *box;
  if (ctx == NULL) return 0;
  *box = NULL;
  ctx->closing = 1;
  ctx->current = NULL;
  /* I/O objects can exist without any task having run (a UDP socket
  ** bound at the top level of a script): always run the teardown. */
  loom__hooks_call(ctx, LOOM_HOOK_TEARDOWN);
  if (ctx->sched_ready) {
    close_ctx_handle((uv_handle_t *)&ctx->h.check);
    close_ctx_handle((uv_handle_t *)&ctx->h.idle);
    close_ctx_handle((uv_handle_t *)&ctx->h.timer);
  }
  if (ctx->own_loop) {
    uv_walk(ctx->loop, on_walk_close, NULL);
    while (uv_loop_close(ctx->loop) == UV_EBUSY) {
      uv_walk(ctx->loop, on_walk_close, NULL);
      uv_run(ctx->loop, UV_RUN_NOWAIT);
    }
  }
  free(ctx->dead_refs);
  ctx->dead_refs = NULL;
  free(ctx->anchor_free);
  ctx->anchor_free = NULL;
  if (ctx->nhandles_open == 0) {
    free(ctx->heap);
    free(ctx);
  } else {
    ctx->closing = 2;  /* the host's next uv_run frees it */
  }
  return 0;
}

/* [-0, +0, m] Create the context of L if it has none. The parts register
** their functions and initialise their share of it afterwards (loom.c). */
void loom__ctx_open(lua_State *L) {
  loom_ctx **box;
  loom_ctx *ctx;
  int i;
  if (loom__ctx(L) != NULL) return;
  box = (loom_ctx **)lua_newuserdatauv(L, sizeof(loom_ctx *), 0);
  *box = NULL;
  luaL_newmetatable(L, LOOM_CTX_MT);
  lua_pushcfunction(L, ctx_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  ctx = (loom_ctx *)calloc(1, sizeof(loom_ctx));
  if (ctx == NULL) luaL_error(L, "loom: out of memory");
  *box = ctx;
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ctx_key);
  lua_pushvalue(L, -1);
  ctx->r_self = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  ctx->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  ctx->drive = ctx->L;
  ctx->timer_due = HUGE_VAL;
  ctx->next_id = 1;
  ctx->r_unhandled = LUA_NOREF;
  for (i = 0; i < CR_COUNT; i++) ctx->r_cancelled[i] = LUA_NOREF;
  lua_createtable(L, 256, 0);           /* the anchor table */
  ctx->r_anchor = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* [-0, +0, -] Pick loom's own loop when no host loop was attached.
** Returns 0 or a libuv error code. */
int loom__ensure_loop(loom_ctx *ctx) {
  int rc;
  if (ctx->loop != NULL) return 0;
  rc = uv_loop_init(&ctx->h.own_loop);
  if (rc != 0) return rc;
  ctx->loop = &ctx->h.own_loop;
  ctx->own_loop = 1;
  return 0;
}

LOOM_API int loom_attach(lua_State *L, uv_loop_t *loop) {
  loom_ctx *ctx = loom__ctx(L);
  if (ctx == NULL || loop == NULL) return UV_EINVAL;
  if (ctx->loop == loop) return 0;
  if (ctx->loop != NULL || ctx->ntasks > 0 || ctx->running) return UV_EBUSY;
  ctx->loop = loop;
  ctx->own_loop = 0;
  return 0;
}

LOOM_API uv_loop_t *loom_loop(lua_State *L) {
  loom_ctx *ctx = loom__ctx(L);
  if (ctx == NULL) return NULL;
  if (loom__ensure_loop(ctx) != 0) return NULL;
  return ctx->loop;
}
