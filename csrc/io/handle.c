/*
** handle.c: the I/O state of a context and the lifetime of the libuv
** handles of loom's I/O (DESIGN.md B5, B6, B7, B13; the protocol is
** described in io.h).
**
** Every handle lives in a malloc'd block owned by libuv until its close
** callback and by at most one Lua userdata until its __gc; the second to
** let go frees it, so libuv never sees freed memory and Lua never sees a
** dangling pointer (the box is cleared by __gc). Since libuv points only
** into the block, never into Lua memory, the userdata itself needs no
** anchor: the Lua values libuv does point into (strings being written)
** are pinned by their requests (req.c). Every block of a context is
** linked in its loom_io (ctx->io), which is what lets
** loom__handles_teardown close them all without Lua when the state goes
** (DESIGN.md B13). The loom_io is reference-counted by every block, request and
** File state, and outlives its context until the last of them is freed:
** after teardown, io->ctx is NULL and callbacks only free memory.
*/
#include <stdlib.h>
#include <string.h>

#include <dirent.h>

#include "io.h"

/* {====================================================================
** The I/O state
** ===================================================================== */

/* [-0, +0, -] Drop a reference to 'io'; free it once its context is gone
** and nothing points to it. */
void loom__io_unref(loom_io *io) {
  if (--io->nrefs == 0 && io->ctx == NULL) {
    free(io->signals);
    free(io->procs);
    free(io);
  }
}

/* {====================================================================
** Handles
** ===================================================================== */

/* [-0, +0, -] A zeroed block with no owner yet; NULL when out of memory
** or when the context has no I/O state. */
void *loom__handle_alloc(loom_ctx *ctx, size_t size,
                         const loom_handle_type *type) {
  loom_io *io = loom__io(ctx);
  loom_handle *h;
  if (io == NULL) return NULL;
  h = (loom_handle *)calloc(1, size);
  if (h == NULL) return NULL;
  h->io = io;
  h->type = type;
  h->next = io->handles;
  if (io->handles != NULL) io->handles->prev = h;
  io->handles = h;
  io->nrefs++;
  return h;
}

/* [-0, +0, -] Unlink and free a block nobody owns any more. */
static void handle_free(loom_handle *h) {
  loom_io *io = h->io;
  if (h->type != NULL && h->type->finalize != NULL) h->type->finalize(h);
  if (h->prev != NULL) h->prev->next = h->next;
  else io->handles = h->next;
  if (h->next != NULL) h->next->prev = h->prev;
  free(h);
  loom__io_unref(io);
}

/* [-0, +1, m] A new block owned by a new userdata box of class 'mt' (by
** name; NULL: the running function's class, loom__newself). */
void *loom__handle_new(lua_State *L, loom_ctx *ctx, size_t size,
                       const loom_handle_type *type, const char *mt,
                       int nuv) {
  loom_handle **box;
  loom_handle *h;
  if (mt == NULL) {
    box = (loom_handle **)loom__newself(L, sizeof(loom_handle *), nuv);
  } else {
    box = (loom_handle **)lua_newuserdatauv(L, sizeof(loom_handle *), nuv);
    *box = NULL;
    luaL_setmetatable(L, mt);
  }
  h = (loom_handle *)loom__handle_alloc(ctx, size, type);
  if (h == NULL) luaL_error(L, "loom: out of memory (I/O handle)");
  h->flags |= LH_LUA;
  *box = h;
  return h;
}

/* [-0, +0, -] 'uv', inside the block, has been initialised. */
void loom__handle_opened(loom_handle *h, uv_handle_t *uv) {
  h->uv = uv;
  uv->data = h;
  h->flags |= LH_OPEN;
  if (!h->type->internal) h->io->nio_open++;
}

/* Close callback of every block (libuv context, pure C): count it, and
** free the block if no Lua object owns it. */
static void on_handle_closed(uv_handle_t *uv) {
  loom_handle *h = (loom_handle *)uv->data;
  loom_ctx *ctx = h->io->ctx;
  if (ctx != NULL) ctx->nclosing--;
  h->flags |= LH_CLOSED;
  if (!(h->flags & LH_LUA)) handle_free(h);
}

/* [-0, +0, -] Close the libuv handle of 'h' (idempotent). */
void loom__handle_close(loom_handle *h) {
  loom_ctx *ctx = h->io->ctx;
  if (!(h->flags & LH_OPEN)) {
    h->flags |= LH_CLOSED;       /* nothing to close */
    if (!(h->flags & LH_LUA)) handle_free(h);
    return;
  }
  if (h->flags & LH_CLOSING) return;
  h->flags |= LH_CLOSING;
  if (!h->type->internal) h->io->nio_open--;
  if (ctx != NULL) ctx->nclosing++;
  uv_close(h->uv, on_handle_closed);
}

/* [-0, +0, -] The Lua owner lets go; free the block if libuv has too. */
void loom__handle_release(loom_handle *h) {
  h->flags &= (unsigned char)~LH_LUA;
  if (h->flags & LH_CLOSED) handle_free(h);
}

/* [-0, +0, -] The block of the box at 'idx' (NULL after __gc). */
loom_handle *loom__handle_box(lua_State *L, int idx) {
  loom_handle **box = (loom_handle **)lua_touserdata(L, idx);
  return box != NULL ? *box : NULL;
}

/* [-0, +0, v] The block of the receiver at 'idx' (loom__checkself);
** raises if it was collected. */
loom_handle *loom__handle_check(lua_State *L, int idx) {
  loom_handle **box = (loom_handle **)loom__checkself(L, idx);
  if (*box == NULL) loom__error(L, "loom: the object is closed");
  return *box;
}

/* [-1, +0, -] __gc of boxes whose block needs no special care: close the
** handle, let the block go. Never raises, never yields (DESIGN.md B7). */
int loom__handle_gc(lua_State *L) {
  loom_handle **box = (loom_handle **)lua_touserdata(L, 1);
  loom_handle *h = box != NULL ? *box : NULL;
  if (h == NULL) return 0;
  *box = NULL;
  loom__handle_close(h);
  loom__handle_release(h);
  return 0;
}

/* [-0, +0, -] The live context of 'h', NULL during teardown. */
loom_ctx *loom__handle_ctx(loom_handle *h) {
  loom_ctx *ctx = h->io->ctx;
  return (ctx != NULL && !ctx->closing) ? ctx : NULL;
}

/* [-0, +0, -] The teardown hook of the I/O layer: close every block of
** 'ctx' without running Lua (DESIGN.md B13). The teardown of each family's
** blocks runs first (child processes are killed and reaped there); then the
** context lets go of its I/O state, and the close callbacks that run
** later only free memory. */
static void handles_teardown(loom_ctx *ctx, void *data) {
  loom_io *io = (loom_io *)data;
  loom_handle *h, *next;
  if (io == NULL || ctx->io != io) return;
  for (h = io->handles; h != NULL; h = h->next) {
    if (h->type != NULL && h->type->teardown != NULL) h->type->teardown(h);
  }
  for (h = io->handles; h != NULL; h = next) {
    next = h->next;  /* 'h' may be freed by its close */
    if (!(h->flags & LH_CLOSING)) loom__handle_close(h);
  }
  io->ctx = NULL;
  ctx->io = NULL;
  io->nrefs++;   /* io_unref checks ctx; balance to run that check */
  loom__io_unref(io);
}

/* {====================================================================
** Accounting for tests
** ===================================================================== */

/* [-0, +0, -] Open file descriptors of the process (Linux /proc), -1 if
** unknown. */
static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  if (d == NULL) return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;   /* the directory's own descriptor */
}

/* [-0, +1, m] core.io_stats() -> { open =, closing =, blocks =, fds = }:
** I/O handles open, handles whose close callback is pending (and running
** children), blocks not freed yet, open file descriptors of the process.
** Not a checkpoint; for tests and leak checks. */
static int l_io_stats(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_io *io = loom__io(ctx);
  loom_handle *h;
  int n = 0;
  if (io != NULL)
    for (h = io->handles; h != NULL; h = h->next) n++;
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, count_fds());
  lua_setfield(L, -2, "fds");
  lua_pushinteger(L, io != NULL ? io->nio_open : 0);
  lua_setfield(L, -2, "open");
  lua_pushinteger(L, ctx->nclosing);
  lua_setfield(L, -2, "closing");
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "blocks");
  return 1;
}

static const luaL_Reg handle_funcs[] = {
  {"io_stats", l_io_stats},
  {NULL, NULL}
};

static const loom_hooks handle_hooks = {
  {NULL, NULL, NULL, handles_teardown}
};

/* [-0, +0, m] Make the I/O state of 'ctx' (the first opener of the I/O
** layer) and its teardown hook; register core.io_stats in the core table
** on top. */
void loom__handles_open(lua_State *L, loom_ctx *ctx) {
  loom_io *io = (loom_io *)calloc(1, sizeof(loom_io));
  if (io == NULL) luaL_error(L, "loom: out of memory (I/O state)");
  io->ctx = ctx;
  ctx->io = io;
  loom__hooks_add(ctx, &handle_hooks, io);
  loom__setfuncs(L, ctx, handle_funcs);
}
