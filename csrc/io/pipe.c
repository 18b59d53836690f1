/*
** pipe.c: loom.pipe.connect and loom.pipe.listen, streams over Unix
** domain sockets (README, I/O). They are the Streams
** and Listeners of stream.c with a uv_pipe_t inside; a listener removes its
** socket file when it is closed (only a file it bound itself).
*/
#include <stdlib.h>
#include <string.h>

#include <sys/un.h>

#include "io.h"

/* [-0, +0, v] The socket path at 'idx'. Returns the libuv error that
** using it must give (UV_ENAMETOOLONG for a path longer than a Unix
** socket address holds: libuv would silently cut it, and the listener
** would then remove the wrong file), or 0. */
static int check_path(lua_State *L, int idx, const char **path) {
  size_t len;
  *path = loom__checklstring(L, idx, &len);
  loom__argcheck(L, strlen(*path) == len, idx, "path contains a '\\0'");
  if (len >= sizeof(((struct sockaddr_un *)0)->sun_path))
    return UV_ENAMETOOLONG;
  return 0;
}

#define DEFAULT_BACKLOG 511

/* [-1, +(1|3), y] Continuation of pipe_connect (the request at index 3):
** the Stream at index 2, or a fail tuple. */
static int k_pipe_connected(lua_State *L, int status, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, loom_ctxup(L), kc);
  loom_stream *s;
  int st = r->status;
  (void)status;
  loom__req_free(L, r);
  s = (loom_stream *)loom__handle_box(L, 2);
  if (st < 0) {
    loom__stream_close(s);
    return loom__fail(L, st);
  }
  lua_settop(L, 2);
  return 1;
}

/* [-1, +(1|3), y] Checkpoint. core.pipe_connect(path) -> Stream | nil,
** code, message. */
static int l_pipe_connect(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *path;
  int bad = check_path(L, 1, &path);
  loom_task *t;
  loom_stream *s;
  loom_connect *cr;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  if (bad != 0) return loom__fail(L, bad);
  s = loom__stream_new(L, ctx, LOOM_PIPE);          /* index 2 */
  cr = loom__connect_new(L, ctx);
  uv_pipe_connect(&cr->c, &s->u.pipe, path, loom__on_connect);
  cr->r.flags |= RQ_SUBMITTED;                      /* index 3: cr */
  loom__waiting(t, "pipe connect");
  return loom__req_wait(L, t, &cr->r, loom__connect_abort,
                        k_pipe_connected);
}

/* [-2, +(1|3), e] Checkpoint. core.pipe_listen(path [, opts]) ->
** Listener | nil, code, message; opts.backlog. Never blocks, but like
** every I/O call raises outside a task. */
static int l_pipe_listen(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *path;
  int bad = check_path(L, 1, &path);
  int backlog = DEFAULT_BACKLOG, rc;
  loom_listener *l;
  if (!lua_isnoneornil(L, 2)) {
    loom__checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "backlog");
    if (!lua_isnil(L, -1)) {
      loom__argcheck(L, lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0,
                     2, "opts.backlog must be a positive integer");
      backlog = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  loom__checkpoint_enter(L, ctx);
  if (bad != 0) return loom__fail(L, bad);
  l = loom__listener_new(L, ctx, LOOM_PIPE);
  rc = uv_pipe_bind(&l->u.pipe, path);
  if (rc < 0) {
    loom__listener_close(l);
    return loom__fail(L, rc);
  }
  l->path = (char *)malloc(strlen(path) + 1);
  if (l->path != NULL) strcpy(l->path, path);
  rc = loom__listener_listen(l, backlog);
  if (rc < 0) {
    loom__listener_close(l);
    return loom__fail(L, rc);
  }
  return 1;
}

static const luaL_Reg pipe_funcs[] = {
  {"pipe_connect", l_pipe_connect},
  {"pipe_listen", l_pipe_listen},
  {NULL, NULL}
};

/* [-0, +0, m] Register core.pipe_connect and core.pipe_listen. */
void loom__pipe_open(lua_State *L, loom_ctx *ctx) {
  loom__setfuncs(L, ctx, pipe_funcs);
}
