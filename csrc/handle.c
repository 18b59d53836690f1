/*
** handle.c: lifetime of the libuv handles and requests of loom's I/O
** (rules B5, B6, B7, B13; the protocol is described in io.h).
**
** Every handle lives in a malloc'd block owned by libuv until its close
** callback and by at most one Lua userdata until its __gc; the second to
** let go frees it, so libuv never sees freed memory and Lua never sees a
** dangling pointer (the box is cleared by __gc). Since libuv points only
** into the block, never into Lua memory, the userdata itself needs no
** anchor: the Lua values libuv does point into (strings being written)
** are pinned by their requests. Every block of a context is linked in
** its loom_io, which is what lets loom__handles_teardown close them all
** without Lua when the state goes (B13). The loom_io of a
** context is found through a small mutex-guarded registry (contexts of
** different Lua states may live on different threads), and outlives its
** context until the last block and request are freed: after teardown,
** io->ctx is NULL and callbacks only free memory.
**
** Requests: a block starting with a loom_ioreq. A task waiting for one is
** woken by its callback through loom__ioreq_finish; a task that gave up
** (abort SUCCEEDED after uv_cancel) leaves the block to the callback,
** which frees it and releases its pinned value at the next pass.
*/
#include <stdlib.h>
#include <string.h>

#include <dirent.h>

#include "io.h"

/* {====================================================================
** Registry of I/O states, one per context
** ===================================================================== */

static uv_once_t registry_once = UV_ONCE_INIT;
static uv_mutex_t registry_lock;
static loom_io *registry;

/* [-0, +0, -] Once per process: the registry's mutex. */
static void registry_init(void) {
  if (uv_mutex_init(&registry_lock) != 0) abort();
}

/* [-0, +0, -] The I/O state of 'ctx', or NULL if it has none. */
loom_io *loom__io(loom_ctx *ctx) {
  loom_io *io;
  uv_once(&registry_once, registry_init);
  uv_mutex_lock(&registry_lock);
  for (io = registry; io != NULL && io->ctx != ctx; io = io->next) {
  }
  uv_mutex_unlock(&registry_lock);
  return io;
}

/* [-0, +0, -] Take 'io' out of the registry (its context is going). */
static void registry_remove(loom_io *io) {
  loom_io **pp;
  uv_mutex_lock(&registry_lock);
  for (pp = &registry; *pp != NULL; pp = &(*pp)->next) {
    if (*pp == io) {
      *pp = io->next;
      break;
    }
  }
  uv_mutex_unlock(&registry_lock);
}

/* [-0, +0, -] Drop a reference to 'io'; free it once its context is gone
** and nothing points to it. */
static void io_unref(loom_io *io) {
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
  io_unref(io);
}

/* [-0, +1, m] A new block owned by a new userdata box. */
void *loom__handle_new(lua_State *L, loom_ctx *ctx, size_t size,
                       const loom_handle_type *type, const char *mt,
                       int nuv) {
  loom_handle **box =
      (loom_handle **)lua_newuserdatauv(L, sizeof(loom_handle *), nuv);
  loom_handle *h;
  *box = NULL;
  luaL_setmetatable(L, mt);
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
  if (h->io->ctx != NULL && !h->type->internal) h->io->ctx->nio_open++;
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
  if (ctx != NULL) {
    if (!h->type->internal) ctx->nio_open--;
    ctx->nclosing++;
  }
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

/* [-0, +0, v] The block of the box at 'idx' with metatable 'mt'. */
loom_handle *loom__handle_check(lua_State *L, int idx, const char *mt) {
  loom_handle **box = (loom_handle **)luaL_checkudata(L, idx, mt);
  if (*box == NULL) luaL_error(L, "loom: the object is closed");
  return *box;
}

/* [-1, +0, -] __gc of boxes whose block needs no special care: close the
** handle, let the block go. Never raises, never yields (B7). */
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

/* [-0, +0, -] Close every block of 'ctx' without running Lua (B13): the
** teardown hook of each family runs first (child processes are killed and
** reaped there); then the context lets go of its I/O state, and the close
** callbacks that run later only free memory. */
void loom__handles_teardown(loom_ctx *ctx) {
  loom_io *io = loom__io(ctx);
  loom_handle *h, *next;
  if (io == NULL) return;
  for (h = io->handles; h != NULL; h = h->next) {
    if (h->type != NULL && h->type->teardown != NULL) h->type->teardown(h);
  }
  for (h = io->handles; h != NULL; h = next) {
    next = h->next;  /* 'h' may be freed by its close */
    if (!(h->flags & LH_CLOSING)) loom__handle_close(h);
  }
  registry_remove(io);
  io->ctx = NULL;
  io->nrefs++;   /* io_unref checks ctx; balance to run that check */
  io_unref(io);
}

/* {====================================================================
** Requests
** ===================================================================== */

/* [-0, +0, m] A zeroed request block. */
void *loom__ioreq_new(lua_State *L, loom_ctx *ctx, size_t size) {
  loom_io *io = loom__io(ctx);
  loom_ioreq *r = (loom_ioreq *)calloc(1, size);
  if (r == NULL || io == NULL) {
    free(r);
    luaL_error(L, "loom: out of memory (I/O request)");
  }
  r->io = io;
  r->ref = LUA_NOREF;
  io->nrefs++;
  return r;
}

/* [-0, +0, -] Free a request block. */
static void req_release(loom_ioreq *r) {
  loom_io *io = r->io;
  free(r);
  io_unref(io);
}

/* [-0, +0, -] Callback side: wake the waiter, or free an abandoned
** block (its pinned value is released at the next scheduler pass). */
void loom__ioreq_finish(loom_ioreq *r, int status) {
  loom_ctx *ctx = r->io->ctx;
  r->status = status;
  if (ctx != NULL && ctx->closing) ctx = NULL;
  if (r->waiter != NULL && ctx != NULL) {
    loom_task *t = r->waiter;
    r->waiter = NULL;
    loom__wake(ctx, t, TW_OK);
    return;
  }
  if (ctx != NULL) loom__release_later(ctx, r->ref);
  req_release(r);
}

/* [-0, +0, -] Will loom__ioreq_finish hand the result to a task? */
int loom__ioreq_wanted(loom_ioreq *r) {
  loom_ctx *ctx = r->io->ctx;
  return r->waiter != NULL && ctx != NULL && !ctx->closing;
}

/* [-0, +0, -] Lua side: unpin and free a finished request. */
void loom__ioreq_free(lua_State *L, loom_ctx *ctx, loom_ioreq *r) {
  loom__unanchor(L, ctx, r->ref);
  req_release(r);
}

/* Abort function (pure C): the request cannot be stopped, the task
** waits for its result (B9). */
int loom__ioreq_abort_failed(loom_ctx *ctx, loom_task *t) {
  (void)ctx;
  (void)t;
  return LOOM_ABORT_FAILED;
}

/* Abort function (pure C): uv_cancel the request; SUCCEEDED abandons it
** to its callback, EBUSY makes the abort FAILED. */
int loom__ioreq_abort_cancel(loom_ctx *ctx, loom_task *t) {
  loom_ioreq *r = (loom_ioreq *)t->wait_obj;
  (void)ctx;
  if (uv_cancel(r->uv) != 0) return LOOM_ABORT_FAILED;
  r->waiter = NULL;   /* the callback (UV_ECANCELED) frees the block */
  return LOOM_ABORT_SUCCEEDED;
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
  lua_pushinteger(L, ctx->nio_open);
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

/* [-0, +0, m] Make the I/O state of 'ctx'; register io_stats in the core
** table on top. */
void loom__handles_open(lua_State *L, loom_ctx *ctx) {
  loom_io *io = loom__io(ctx);
  if (io == NULL) {
    io = (loom_io *)calloc(1, sizeof(loom_io));
    if (io == NULL) luaL_error(L, "loom: out of memory (I/O state)");
    io->ctx = ctx;
    uv_mutex_lock(&registry_lock);
    io->next = registry;
    registry = io;
    uv_mutex_unlock(&registry_lock);
  }
  loom__setfuncs(L, ctx, handle_funcs);
}
