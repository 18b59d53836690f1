/*
** stream.c: byte streams over any uv_stream_t (TCP, Unix pipes, child
** stdio), the Stream objects (README, "I/O"): creating, closing,
** addresses, options, and the connect requests of tcp.c and pipe.c.
** Reading is in stream_read.c, writing in stream_write.c; each adds its
** methods to the class made here. Listeners are in listener.c.
**
** Closing. s:close() and the __gc/__close metamethods are one idempotent,
** non-blocking operation (DESIGN.md B7): a task blocked reading is woken and
** raises "closed"; writes in flight end with UV_ECANCELED, reported the same
** way.
*/
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

/* [-0, +0, -] Free the receive buffer with the block. */
static void stream_finalize(loom_handle *h) {
  loom__rbuf_free(&((loom_stream *)h)->rb);
}

static const loom_handle_type stream_type = {"stream", NULL,
                                             stream_finalize, 0};

/* [-0, +1, v] Raise the "closed" error of a stream. */
int loom__stream_closed(lua_State *L) {
  return loom__error(L, "loom: the stream is closed");
}

/* [-0, +0, v] The open Stream receiving a method call at 'idx' (raises
** "closed" once closed). */
loom_stream *loom__stream_check(lua_State *L, int idx) {
  loom_stream *s = (loom_stream *)loom__handle_check(L, idx);
  if (s->closed) loom__stream_closed(L);
  return s;
}

/* {====================================================================
** Closing, addresses, options
** ===================================================================== */

/* [-0, +0, -] Close 's' (idempotent, pure C); a blocked reader is woken
** and raises "closed"; writes in flight end with UV_ECANCELED. */
void loom__stream_close(loom_stream *s) {
  loom_ctx *ctx;
  if (s->closed) return;
  s->closed = 1;
  s->reading = 0;
  ctx = loom__handle_ctx(&s->h);
  if (s->reader != NULL && ctx != NULL) {
    loom_task *t = s->reader;
    s->reader = NULL;
    loom__wake(ctx, t, TW_OK);
  }
  loom__handle_close(&s->h);
}

/* [-1, +0, v] s:close(), and __close: idempotent, never blocks. */
static int l_stream_close(lua_State *L) {
  loom_stream *s;
  loom__checkself(L, 1);
  s = (loom_stream *)loom__handle_box(L, 1);
  if (s != NULL) loom__stream_close(s);
  return 0;
}

/* [-1, +1, v] s:is_closed() -> boolean. */
static int l_stream_is_closed(lua_State *L) {
  loom_stream *s;
  loom__checkself(L, 1);
  s = (loom_stream *)loom__handle_box(L, 1);
  lua_pushboolean(L, s == NULL || s->closed);
  return 1;
}

/* [-1, +0, -] __gc: close, let the block go (DESIGN.md B7). Never raises. */
static int l_stream_gc(lua_State *L) {
  loom_handle **box = (loom_handle **)lua_touserdata(L, 1);
  loom_stream *s = (loom_stream *)*box;
  if (s == NULL) return 0;
  *box = NULL;
  loom__stream_close(s);
  loom__handle_close(&s->h);   /* also when never opened */
  loom__handle_release(&s->h);
  return 0;
}

/* [-0, +(2|3), m] Address of a stream or listener handle, the peer's or
** its own: addr, port (a pipe: path, nil), or a fail tuple. */
int loom__push_endpoint(lua_State *L, int kind, uv_handle_t *h, int peer) {
  struct sockaddr_storage ss;
  int rc, len = (int)sizeof ss;
  if (kind == LOOM_TCP) {
    rc = peer ? uv_tcp_getpeername((uv_tcp_t *)h, (struct sockaddr *)&ss,
                                   &len)
              : uv_tcp_getsockname((uv_tcp_t *)h, (struct sockaddr *)&ss,
                                   &len);
    if (rc < 0) return loom__fail(L, rc);
    return loom__push_sockaddr(L, (struct sockaddr *)&ss);
  } else {
    char path[1024];
    size_t n = sizeof path;
    rc = peer ? uv_pipe_getpeername((uv_pipe_t *)h, path, &n)
              : uv_pipe_getsockname((uv_pipe_t *)h, path, &n);
    if (rc < 0) return loom__fail(L, rc);
    lua_pushlstring(L, path, n);
    lua_pushnil(L);
    return 2;
  }
}

/* [-1, +(2|3), v] s:peername() -> addr, port (a pipe: path, nil). */
static int l_stream_peername(lua_State *L) {
  loom_stream *s = loom__stream_check(L, 1);
  return loom__push_endpoint(L, s->kind, &s->u.handle, 1);
}

/* [-1, +(2|3), v] s:sockname() -> addr, port (a pipe: path, nil). */
static int l_stream_sockname(lua_State *L) {
  loom_stream *s = loom__stream_check(L, 1);
  return loom__push_endpoint(L, s->kind, &s->u.handle, 0);
}

/* [-2, +(1|3), v] s:set_nodelay(on) -> s: TCP_NODELAY (on by default). */
static int l_stream_set_nodelay(lua_State *L) {
  loom_stream *s = loom__stream_check(L, 1);
  int rc;
  if (s->kind != LOOM_TCP)
    return loom__error(L, "loom: set_nodelay: not a TCP stream");
  rc = uv_tcp_nodelay(&s->u.tcp, lua_isnone(L, 2) || lua_toboolean(L, 2));
  if (rc < 0) return loom__fail(L, rc);
  lua_settop(L, 1);
  return 1;
}

/* [-1, +1, m] __tostring: "loom.Stream (tcp)", "... (pipe, closed)". */
static int l_stream_tostring(lua_State *L) {
  loom_stream *s = (loom_stream *)loom__handle_box(L, 1);
  lua_pushfstring(L, "loom.Stream (%s%s)",
                  s == NULL || s->kind == LOOM_TCP ? "tcp" : "pipe",
                  s == NULL || s->closed ? ", closed" : "");
  return 1;
}

/* [-0, +1, v] Push a new Stream of 'kind', its handle initialised. */
loom_stream *loom__stream_new(lua_State *L, loom_ctx *ctx, int kind) {
  loom_stream *s = (loom_stream *)loom__handle_new(
      L, ctx, sizeof(loom_stream), &stream_type, LOOM_STREAM_MT, 0);
  int rc = kind == LOOM_TCP ? uv_tcp_init(ctx->loop, &s->u.tcp)
                            : uv_pipe_init(ctx->loop, &s->u.pipe, 0);
  s->kind = (unsigned char)kind;
  if (rc < 0) {
    s->closed = 1;
    loom__error(L, "loom: cannot create a stream (%s)", uv_strerror(rc));
  }
  loom__handle_opened(&s->h, &s->u.handle);
  return s;
}

/* {====================================================================
** Connect requests (tcp.c, pipe.c)
** ===================================================================== */

/* [-0, +0, m] A new connect request (not guarded), bound to its
** uv_connect_t. */
loom_connect *loom__connect_new(lua_State *L, loom_ctx *ctx) {
  loom_connect *cr =
      (loom_connect *)loom__req_new(L, ctx, sizeof(loom_connect), 0);
  loom__req_bind(&cr->r, &cr->c);
  return cr;
}

/* Connect callback of every loom stream (libuv context, pure C). */
void loom__on_connect(uv_connect_t *c, int status) {
  loom_req *r = loom__req_of(c);
  r->status = status;
  loom__req_finish(r);
}

/* Abort of a pending connect (pure C): close the stream; libuv then calls
** the connect callback with UV_ECANCELED, which frees the detached
** request (SUCCEEDED). */
int loom__connect_abort(loom_ctx *ctx, loom_task *t) {
  loom_connect *cr = (loom_connect *)t->wait_obj;
  (void)ctx;
  loom__req_detach(&cr->r);
  loom__stream_close((loom_stream *)cr->c.handle->data);
  return LOOM_ABORT_SUCCEEDED;
}

/* {====================================================================
** Registration
** ===================================================================== */

/* [-0, +0, -] Writing to a peer that has gone must fail with EPIPE, not
** kill the process: ignore SIGPIPE unless the host has its own handler.
** (libuv resets dispositions in the children it spawns.) */
static void ignore_sigpipe(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
      !(sa.sa_flags & SA_SIGINFO)) {
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
  }
}

static const luaL_Reg stream_methods[] = {
  {"close", l_stream_close},
  {"is_closed", l_stream_is_closed},
  {"peername", l_stream_peername},
  {"sockname", l_stream_sockname},
  {"set_nodelay", l_stream_set_nodelay},
  {NULL, NULL}
};

static const luaL_Reg stream_meta[] = {
  {"__gc", l_stream_gc},
  {"__close", l_stream_close},
  {"__tostring", l_stream_tostring},
  {NULL, NULL}
};

/* Its methods table is core.stream_methods: stream.lua wraps the native
** methods to raise IOError. */
static const loom_class stream_class = {
  LOOM_STREAM_MT, stream_methods, stream_meta, NULL, NULL,
  "stream_methods", NULL
};

/* [-0, +0, m] Register the Stream class (stream_read.c and stream_write.c
** add their methods); ignore SIGPIPE. */
void loom__stream_open(lua_State *L, loom_ctx *ctx) {
  ignore_sigpipe();
  loom__class_open(L, ctx, &stream_class);
  lua_pop(L, 1);
}
