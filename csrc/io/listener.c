/*
** listener.c: listening sockets, the Listener objects of loom.tcp.listen
** and loom.pipe.listen (README, I/O).
**
** A Listener is a handle block (io.h) that accepts lazily: libuv keeps one
** accepted connection and stops polling the socket until uv_accept takes
** it, so connections nobody accepts wait in the kernel's backlog, and an
** accept cancelled at any moment loses none (the connection callback only
** counts the connection and wakes one acceptor, which takes it itself,
** DESIGN.md B10). Several tasks may accept at once; they wait in a parking
** lot. Closing wakes them all with a "closed" error and removes the
** socket file a pipe listener bound.
*/
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

/* [-0, +0, -] Free the bound path with the block. */
static void listener_finalize(loom_handle *h) {
  loom_listener *l = (loom_listener *)h;
  free(l->path);
  l->path = NULL;
}

static const loom_handle_type listener_type = {"listener", NULL,
                                               listener_finalize, 0};

/* [-0, +0, v] The Listener at 'idx'. */
static loom_listener *check_listener(lua_State *L, int idx) {
  return (loom_listener *)loom__handle_check(L, idx);
}

/* [-0, +0, v] Raise the "closed" error of a listener. */
static int closed_error(lua_State *L) {
  return loom__error(L, "loom: the listener is closed");
}

/* [-0, +0, -] Reference the handle only while a task is blocked in
** accept: a listener nobody accepts on cannot wake anyone, so it does not
** keep the loop alive (loom.run's deadlock rule; connections wait in the
** backlog meanwhile). */
static void listener_update_ref(loom_listener *l) {
  if (l->closed) return;
  if (l->acceptors.n > 0) uv_ref(&l->u.handle);
  else uv_unref(&l->u.handle);
}

/* Connection callback (libuv context, pure C): libuv holds one accepted
** connection until uv_accept; wake one acceptor to take it. */
static void on_connection(uv_stream_t *server, int status) {
  loom_listener *l = (loom_listener *)server->data;
  loom_ctx *ctx = loom__handle_ctx(&l->h);
  if (status < 0) l->err = status;
  else l->pending++;
  if (ctx != NULL) loom__lot_wake_one(ctx, &l->acceptors);
  listener_update_ref(l);
}

/* Abort of accept (pure C): leave the acceptors (SUCCEEDED). */
static int accept_abort(loom_ctx *ctx, loom_task *t) {
  loom_listener *l = (loom_listener *)t->wait_obj;
  (void)ctx;
  loom__lot_remove(&l->acceptors, t);
  listener_update_ref(l);
  return LOOM_ABORT_SUCCEEDED;
}

static int k_accept(lua_State *L, int status, lua_KContext kc);

/* [-0, +(1|3), y] Accept from the Listener at index 1, blocking until a
** connection comes; 'again': resumed after a wake (test cancellation
** before blocking again). Index 2 true ('soft', for serve): a closed
** listener returns false instead of raising. */
static int accept_op(lua_State *L, loom_ctx *ctx, loom_listener *l,
                     loom_task *t, int again) {
  if (l->closed) {
    if (lua_toboolean(L, 2)) {
      lua_pushboolean(L, 0);
      return 1;
    }
    return closed_error(L);
  }
  if (l->pending > 0) {
    loom_stream *c = loom__stream_new(L, ctx, l->kind);
    int rc = uv_accept(&l->u.stream, &c->u.stream);
    l->pending--;
    if (rc < 0) {
      loom__stream_close(c);
      return loom__fail(L, rc);
    }
    if (l->kind == LOOM_TCP) uv_tcp_nodelay(&c->u.tcp, 1);
    return 1;
  }
  if (l->err != 0) {
    int e = l->err;
    l->err = 0;
    return loom__fail(L, e);
  }
  if (again) loom__check_cancel(L, ctx, t);
  loom__waiting(t, l->kind == LOOM_TCP ? "tcp accept" : "pipe accept");
  loom__lot_push(&l->acceptors, t);
  listener_update_ref(l);
  return loom__suspend(L, t, accept_abort, l, k_accept);
}

/* [-0, +(1|3), y] Continuation of accept. */
static int k_accept(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = (loom_task *)kc;
  (void)status;
  loom__resumed(L, ctx, t);
  return accept_op(L, ctx, (loom_listener *)loom__handle_box(L, 1), t, 1);
}

/* [-2, +(1|3), y] Checkpoint. l:accept([soft]) -> Stream | false (soft,
** closed) | nil, code, message. */
static int l_listener_accept(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_listener *l = check_listener(L, 1);
  loom_task *t;
  lua_settop(L, 2);
  t = loom__checkpoint_enter(L, ctx);
  return accept_op(L, ctx, l, t, 0);
}

/* [-0, +0, -] Close a listener (idempotent, pure C): acceptors raise
** "closed"; a pipe's socket file is removed. */
void loom__listener_close(loom_listener *l) {
  loom_ctx *ctx;
  if (l->closed) return;
  l->closed = 1;
  ctx = loom__handle_ctx(&l->h);
  if (ctx != NULL) loom__lot_wake_all(ctx, &l->acceptors);
  if (l->path != NULL) unlink(l->path);
  loom__handle_close(&l->h);
}

/* [-1, +0, v] l:close(), and __close: idempotent, never blocks. */
static int l_listener_close(lua_State *L) {
  loom_listener *l;
  loom__checkself(L, 1);
  l = (loom_listener *)loom__handle_box(L, 1);
  if (l != NULL) loom__listener_close(l);
  return 0;
}

/* [-1, +1, v] l:is_closed() -> boolean. */
static int l_listener_is_closed(lua_State *L) {
  loom_listener *l;
  loom__checkself(L, 1);
  l = (loom_listener *)loom__handle_box(L, 1);
  lua_pushboolean(L, l == NULL || l->closed);
  return 1;
}

/* [-1, +0, -] __gc: close, let the block go (DESIGN.md B7). Never raises. */
static int l_listener_gc(lua_State *L) {
  loom_handle **box = (loom_handle **)lua_touserdata(L, 1);
  loom_listener *l = (loom_listener *)*box;
  if (l == NULL) return 0;
  *box = NULL;
  loom__listener_close(l);
  loom__handle_close(&l->h);   /* also when never opened */
  loom__handle_release(&l->h);
  return 0;
}

/* [-1, +(2|3), v] l:sockname() -> addr, port (a pipe: path, nil). */
static int l_listener_sockname(lua_State *L) {
  loom_listener *l = check_listener(L, 1);
  if (l->closed) return closed_error(L);
  return loom__push_endpoint(L, l->kind, &l->u.handle, 0);
}

/* [-2, +1, v] __index: fields port and path, then the methods (upvalue
** 2). */
static int l_listener_index(lua_State *L) {
  loom_listener *l = check_listener(L, 1);
  const char *k = lua_tostring(L, 2);
  if (k != NULL && strcmp(k, "port") == 0) {
    if (l->kind == LOOM_TCP) lua_pushinteger(L, l->port);
    else lua_pushnil(L);
  } else if (k != NULL && strcmp(k, "path") == 0) {
    if (l->path != NULL) lua_pushstring(L, l->path);
    else lua_pushnil(L);
  } else {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(3));
  }
  return 1;
}

/* [-1, +1, m] __tostring: "loom.Listener (tcp port 8080)". */
static int l_listener_tostring(lua_State *L) {
  loom_listener *l = (loom_listener *)loom__handle_box(L, 1);
  if (l != NULL && l->kind == LOOM_TCP)
    lua_pushfstring(L, "loom.Listener (tcp port %d%s)", l->port,
                    l->closed ? ", closed" : "");
  else
    lua_pushfstring(L, "loom.Listener (pipe %s%s)",
                    l != NULL && l->path != NULL ? l->path : "?",
                    l == NULL || l->closed ? ", closed" : "");
  return 1;
}

/* [-0, +1, v] Push a new Listener of 'kind', its handle initialised. */
loom_listener *loom__listener_new(lua_State *L, loom_ctx *ctx, int kind) {
  loom_listener *l = (loom_listener *)loom__handle_new(
      L, ctx, sizeof(loom_listener), &listener_type, LOOM_LISTENER_MT, 0);
  int rc = kind == LOOM_TCP ? uv_tcp_init(ctx->loop, &l->u.tcp)
                            : uv_pipe_init(ctx->loop, &l->u.pipe, 0);
  l->kind = (unsigned char)kind;
  if (rc < 0) {
    l->closed = 1;
    loom__error(L, "loom: cannot create a listener (%s)", uv_strerror(rc));
  }
  loom__handle_opened(&l->h, &l->u.handle);
  return l;
}

/* [-0, +0, -] Listen with 'backlog' (0 or a libuv error); record the
** bound TCP port. */
int loom__listener_listen(loom_listener *l, int backlog) {
  int rc = uv_listen(&l->u.stream, backlog, on_connection);
  if (rc == 0) listener_update_ref(l);
  if (rc == 0 && l->kind == LOOM_TCP) {
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;
    if (uv_tcp_getsockname(&l->u.tcp, (struct sockaddr *)&ss, &len) == 0)
      l->port = loom__sockaddr_port(&ss);
  }
  return rc;
}

/* {====================================================================
** Registration
** ===================================================================== */

static const luaL_Reg listener_methods[] = {
  {"accept", l_listener_accept},
  {"close", l_listener_close},
  {"is_closed", l_listener_is_closed},
  {"sockname", l_listener_sockname},
  {NULL, NULL}
};

static const luaL_Reg listener_meta[] = {
  {"__gc", l_listener_gc},
  {"__close", l_listener_close},
  {"__tostring", l_listener_tostring},
  {NULL, NULL}
};

/* Its methods table is core.listener_methods: stream.lua wraps the
** native methods to raise IOError. */
static const loom_class listener_class = {
  LOOM_LISTENER_MT, listener_methods, listener_meta, l_listener_index,
  NULL, "listener_methods", NULL
};

/* [-0, +0, m] Register the Listener class. */
void loom__listener_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &listener_class);
  lua_pop(L, 1);
}
