/*
** context.c: the per-state context of loom. One loom_ctx per Lua state,
** malloc'd (libuv may still hold its handles after the state has gone,
** rule B6) and owned by a full userdata kept in the registry under the
** address of 'ctx_key'. The context holds the loop (loom's own, or a host
** loop given by loom_attach), the main thread, registry references to the
** anchor table (objects libuv or the scheduler point to, rule B5) and to
** the metatables and preallocated values of the core. Its __gc is the
** last-resort teardown (rule B13): it closes loom's handles without
** running any Lua, and frees the context once libuv has let go of them.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char ctx_key = 'c';

/* [-0, +0, -] The context of state L, or NULL before luaopen_loom_core. */
loom_ctx *loom__ctx(lua_State *L) {
  loom_ctx **box;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key);
  box = (loom_ctx **)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return box ? *box : NULL;
}

/* [-0, +1, -] Push the registry value with reference 'ref'. */
void loom__pushref(lua_State *L, loom_ctx *ctx, int ref) {
  (void)ctx;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
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
  ref = ctx->anchor_nfree > 0 ? ctx->anchor_free[--ctx->anchor_nfree]
                              : ++ctx->anchor_top;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_anchor);
  lua_insert(L, -2);
  lua_rawseti(L, -2, ref);
  lua_pop(L, 1);
  return ref;
}

/* [-0, +0, -] Drop anchor 'ref' (LUA_NOREF and LUA_REFNIL are ignored).
** Clearing an existing slot of the table allocates nothing. */
void loom__unanchor(lua_State *L, loom_ctx *ctx, int ref) {
  if (ref <= 0) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->r_anchor);
  lua_pushnil(L);
  lua_rawseti(L, -2, ref);
  lua_pop(L, 1);
  if (ctx->anchor_nfree == ctx->anchor_capfree) {
    int cap = ctx->anchor_capfree ? 2 * ctx->anchor_capfree : 256;
    int *nf = (int *)realloc(ctx->anchor_free, (size_t)cap * sizeof(int));
    if (nf == NULL) return;  /* the slot is not reused; no harm */
    ctx->anchor_free = nf;
    ctx->anchor_capfree = cap;
  }
  ctx->anchor_free[ctx->anchor_nfree++] = ref;
}

/* [-0, +0, v] The userdata at 'idx' if its metatable is 'mt' (compared by
** address); else raise the usual type error naming 'tname'. Much cheaper
** than luaL_checkudata, which looks the metatable up by name. */
void *loom__checkobj(lua_State *L, int idx, const void *mt,
                     const char *tname) {
  void *p = lua_touserdata(L, idx);
  if (p != NULL && lua_getmetatable(L, idx)) {
    int same = lua_topointer(L, -1) == mt;
    lua_pop(L, 1);
    if (same) return p;
  }
  return luaL_checkudata(L, idx, tname);
}

/* [-0, +0, m] Like luaL_setfuncs with the ctx as the one upvalue. */
void loom__setfuncs(lua_State *L, loom_ctx *ctx, const luaL_Reg *l) {
  for (; l->name != NULL; l++) {
    lua_pushlightuserdata(L, ctx);
    lua_pushcclosure(L, l->func, 1);
    lua_setfield(L, -2, l->name);
  }
}

/* Close callback of the context's handles: the last one frees the ctx. */
static void on_ctx_handle_closed(uv_handle_t *h) {
  loom_ctx *ctx = (loom_ctx *)h->data;
  if (--ctx->nhandles_open == 0 && ctx->closing == 2) {
    free(ctx->heap);
    free(ctx);
  }
}

static void close_ctx_handle(loom_ctx *ctx, uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, on_ctx_handle_closed);
  (void)ctx;
}

/* Close every handle still open on loom's own loop (I/O objects the
** program never closed); their owners are already being collected. */
static void on_walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* [-0, +0, -] __gc of the context (rule B13): no Lua code runs. */
static int ctx_gc(lua_State *L) {
  loom_ctx **box = (loom_ctx **)lua_touserdata(L, 1);
  loom_ctx *ctx = *box;
  if (ctx == NULL) return 0;
  *box = NULL;
  ctx->closing = 1;
  ctx->current = NULL;
  /* I/O objects can exist without any task having run (a UDP socket
  ** bound at the top level of a script): always tear the I/O layer down. */
  loom__io_teardown(ctx);
  if (ctx->sched_ready) {
    close_ctx_handle(ctx, (uv_handle_t *)&ctx->h.check);
    close_ctx_handle(ctx, (uv_handle_t *)&ctx->h.idle);
    close_ctx_handle(ctx, (uv_handle_t *)&ctx->h.timer);
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

/* [-0, +0, m] Create the context of L if it has none. */
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
  lua_newtable(L);
  ctx->r_anchor = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  ctx->r_stash = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);                      /* weak-keyed names table */
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  ctx->r_names = luaL_ref(L, LUA_REGISTRYINDEX);
  loom__scope_init(&ctx->top, SK_TOP, NULL);
  ctx->top.flags |= SF_LINKED;
  loom__scope_init(&ctx->started, SK_TOP, NULL);
  loom__scope_link(ctx, &ctx->started, &ctx->top);
}

/* Pick loom's own loop when no host loop was attached. Returns 0 or a
** libuv error code. */
static int ctx_ensure_loop(loom_ctx *ctx) {
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
  if (ctx_ensure_loop(ctx) != 0) return NULL;
  return ctx->loop;
}

/* [-0, +0, e] Make the loop and the scheduler's handles ready. */
void loom__sched_prepare(lua_State *L, loom_ctx *ctx) {
  int rc = ctx_ensure_loop(ctx);
  if (rc != 0) luaL_error(L, "loom: cannot create the event loop (%s)",
                          uv_strerror(rc));
  if (!ctx->sched_ready) {
    loom__sched_init(ctx);
    ctx->sched_ready = 1;
  }
}
