/*
** tcp.c: loom.tcp.connect and loom.tcp.listen (README, I/O).
**
** Both resolve their host first: a numeric address is used as it is; a
** name goes through dns.c's lookup (a threadpool request; a cancelled
** lookup is abandoned at once, DESIGN.md B9, and loom.run waits for it). The
** addresses found are copied into a userdata on the stack (so nothing
** leaks whatever raises later) and tried in turn: connect tries each until
** one accepts, so "localhost" works whether it resolves to ::1 or to
** 127.0.0.1 first; listen binds the first that works. A connection being
** made is a Stream from the start: cancelling the connect closes it.
** TCP streams have TCP_NODELAY on.
**
** listen's options: backlog (default 511) and reuseport. libuv (1.44) has
** no flag for SO_REUSEPORT, so with reuseport the socket is made here,
** the option set on it, and the socket handed to libuv (uv_tcp_open)
** before the bind: several processes or loops can then listen on one
** port, and the kernel spreads the connections among them.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

#define MAX_ADDRS 16
#define DEFAULT_BACKLOG 511

/* The addresses to try (a userdata at stack index 4). */
typedef struct addr_list {
  int n, i;            /* count, next to try */
  int err;             /* error of the last attempt */
  int backlog;         /* listen */
  int reuseport;       /* listen: set SO_REUSEPORT before binding */
  struct sockaddr_storage a[MAX_ADDRS];
} addr_list;

/* [-0, +1, m] Push an empty address list. */
static addr_list *push_addrs(lua_State *L) {
  addr_list *a = (addr_list *)lua_newuserdatauv(L, sizeof(addr_list), 0);
  memset(a, 0, sizeof *a);
  a->backlog = DEFAULT_BACKLOG;
  return a;
}

/* [-0, +(0|3), y] Resolve 'host':'port' for task 't'; 'k' continues
** with the request on top of the stack. Returns a fail tuple if the
** lookup cannot start. */
static int resolve(lua_State *L, loom_ctx *ctx, loom_task *t,
                   const char *host, int port, int passive,
                   lua_KFunction k) {
  struct addrinfo hints;
  char service[16];
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  if (passive) hints.ai_flags = AI_PASSIVE;
  snprintf(service, sizeof service, "%d", port);
  return loom__gai_wait(L, ctx, t, host, service, &hints, k);
}

/* [-0, +(0|3), m] In the continuation of resolve (index 4 and above
** free): take the lookup's addresses, free its request, and push the
** address list at index 4; or return a fail tuple (its size; 0 when the
** list was pushed). Raises Cancelled if the lookup was cancelled. */
static int take_resolved(lua_State *L, loom_ctx *ctx, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, ctx, kc);
  struct sockaddr_storage tmp[MAX_ADDRS];
  const struct addrinfo *ai;
  int n = 0, st = r->status, i;
  addr_list *a;
  for (ai = loom__gai_result(r); ai != NULL && n < MAX_ADDRS;
       ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof tmp[0]) continue;
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    memset(&tmp[n], 0, sizeof tmp[n]);
    memcpy(&tmp[n], ai->ai_addr, ai->ai_addrlen);
    n++;
  }
  loom__req_free(L, r);
  if (st < 0) return loom__fail(L, st);
  if (n == 0) return loom__fail(L, UV_EAI_NONAME);
  lua_settop(L, 3);
  a = push_addrs(L);
  for (i = 0; i < n; i++) a->a[i] = tmp[i];
  a->n = n;
  return 0;
}

/* {====================================================================
** connect
** ===================================================================== */

static int k_connected(lua_State *L, int status, lua_KContext kc);

/* [-0, +(1|3), y] Try the next address of the list at index 4; the
** Stream being connected is at index 5. 'again': not the first try. */
static int connect_next(lua_State *L, loom_ctx *ctx, loom_task *t,
                        int again) {
  addr_list *a = (addr_list *)lua_touserdata(L, 4);
  while (a->i < a->n) {
    const struct sockaddr *sa = (const struct sockaddr *)&a->a[a->i++];
    loom_stream *s;
    loom_connect *cr;
    int rc;
    lua_settop(L, 4);
    if (again) loom__check_cancel(L, ctx, t);
    again = 1;
    s = loom__stream_new(L, ctx, LOOM_TCP);           /* index 5 */
    cr = loom__connect_new(L, ctx);
    rc = uv_tcp_connect(&cr->c, &s->u.tcp, sa, loom__on_connect);
    if (rc < 0) {
      loom__req_free(L, &cr->r);
      loom__stream_close(s);
      a->err = rc;
      continue;
    }
    cr->r.flags |= RQ_SUBMITTED;
    loom__waiting(t, "tcp connect");
    return loom__req_wait(L, t, &cr->r, loom__connect_abort, k_connected);
  }
  return loom__fail(L, a->err != 0 ? a->err : UV_EADDRNOTAVAIL);
}

/* [-1, +(1|3), y] Continuation of a connect attempt (the request on top,
** index 6): the Stream at index 5, or the next address. */
static int k_connected(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_req *r = loom__req_resumed(L, ctx, kc);
  loom_task *t = (loom_task *)kc;
  loom_stream *s;
  int st = r->status;
  (void)status;
  loom__req_free(L, r);
  s = (loom_stream *)loom__handle_box(L, 5);
  if (st == 0) {
    uv_tcp_nodelay(&s->u.tcp, 1);
    lua_settop(L, 5);
    return 1;
  }
  ((addr_list *)lua_touserdata(L, 4))->err = st;
  loom__stream_close(s);
  return connect_next(L, ctx, t, 1);
}

/* [-1, +(1|3), y] Continuation of connect's resolution. */
static int k_resolved_connect(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  int n = take_resolved(L, ctx, kc);
  (void)status;
  if (n > 0) return n;
  return connect_next(L, ctx, (loom_task *)kc, 1);
}

/* [-2, +(1|3), y] Checkpoint. core.tcp_connect(host, port) -> Stream |
** nil, code, message. Stack: 1 host, 2 port, 3 nil, 4 addresses,
** 5 the Stream being connected, 6 its request. */
static int l_tcp_connect(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *host = loom__checkstring(L, 1);
  int port = loom__checkport(L, 2);
  struct sockaddr_storage ss;
  loom_task *t;
  addr_list *a;
  lua_settop(L, 3);
  t = loom__checkpoint_enter(L, ctx);
  if (loom__numeric_addr(host, port, &ss) != 0)
    return resolve(L, ctx, t, host, port, 0, k_resolved_connect);
  a = push_addrs(L);
  a->a[0] = ss;
  a->n = 1;
  return connect_next(L, ctx, t, 0);
}

/* {====================================================================
** listen
** ===================================================================== */

/* [-0, +0, -] Give the TCP handle 'tcp' a new socket of 'family' with
** SO_REUSEPORT set (before the bind); 0 or a libuv error. */
static int open_reuseport(uv_tcp_t *tcp, int family) {
#ifdef SO_REUSEPORT
  int fd, on = 1, rc;
  fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return uv_translate_sys_error(errno);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
    rc = uv_translate_sys_error(errno);
    close(fd);
    return rc;
  }
  rc = uv_tcp_open(tcp, (uv_os_sock_t)fd);
  if (rc != 0) close(fd);
  return rc;
#else
  (void)tcp;
  (void)family;
  return UV_ENOTSUP;
#endif
}

/* [-0, +(1|3), m] Bind and listen on the first address of the list at
** index 4 that works. */
static int listen_first(lua_State *L, loom_ctx *ctx) {
  addr_list *a = (addr_list *)lua_touserdata(L, 4);
  int i;
  for (i = 0; i < a->n; i++) {
    const struct sockaddr *sa = (const struct sockaddr *)&a->a[i];
    loom_listener *l;
    int rc = 0;
    lua_settop(L, 4);
    l = loom__listener_new(L, ctx, LOOM_TCP);
    if (a->reuseport) rc = open_reuseport(&l->u.tcp, sa->sa_family);
    if (rc == 0) rc = uv_tcp_bind(&l->u.tcp, sa, 0);
    if (rc == 0) rc = loom__listener_listen(l, a->backlog);
    if (rc == 0) return 1;
    loom__listener_close(l);
    a->err = rc;
  }
  return loom__fail(L, a->err != 0 ? a->err : UV_EADDRNOTAVAIL);
}

/* [-0, +0, v] Read listen's options (the table at index 3) into 'a':
** backlog (a positive integer, default 511), reuseport (a boolean). */
static void listen_opts(lua_State *L, addr_list *a) {
  lua_Integer backlog = DEFAULT_BACKLOG;
  lua_getfield(L, 3, "backlog");
  if (!lua_isnil(L, -1)) {
    loom__argcheck(L, lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0,
                   3, "opts.backlog must be a positive integer");
    backlog = lua_tointeger(L, -1);
  }
  lua_getfield(L, 3, "reuseport");
  loom__argcheck(L, lua_isnil(L, -1) || lua_isboolean(L, -1), 3,
                 "opts.reuseport must be a boolean");
  if (a != NULL) {
    a->backlog = backlog > 0x7fffffff ? 0x7fffffff : (int)backlog;
    a->reuseport = lua_toboolean(L, -1);
  }
  lua_pop(L, 2);
}

/* [-1, +(1|3), y] Continuation of listen's resolution. */
static int k_resolved_listen(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  int n = take_resolved(L, ctx, kc);
  (void)status;
  if (n > 0) return n;
  listen_opts(L, (addr_list *)lua_touserdata(L, 4));
  return listen_first(L, ctx);
}

/* [-3, +(1|3), y] Checkpoint. core.tcp_listen(host, port [, opts]) ->
** Listener | nil, code, message. host nil or "*": every IPv4 address;
** opts.backlog, opts.reuseport. Stack: 1 host, 2 port, 3 opts, 4
** addresses, 5 the Listener. */
static int l_tcp_listen(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *host = loom__optstring(L, 1, "*");
  int port = loom__checkport(L, 2);
  struct sockaddr_storage ss;
  loom_task *t;
  addr_list *a;
  if (!lua_isnoneornil(L, 3)) {
    loom__checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    listen_opts(L, NULL);             /* check them before any wait */
  } else {
    lua_settop(L, 2);
    lua_newtable(L);
  }
  lua_settop(L, 3);
  if (strcmp(host, "*") == 0) host = "0.0.0.0";
  t = loom__checkpoint_enter(L, ctx);
  if (loom__numeric_addr(host, port, &ss) != 0)
    return resolve(L, ctx, t, host, port, 1, k_resolved_listen);
  a = push_addrs(L);
  a->a[0] = ss;
  a->n = 1;
  listen_opts(L, a);
  return listen_first(L, ctx);
}

static const luaL_Reg tcp_funcs[] = {
  {"tcp_connect", l_tcp_connect},
  {"tcp_listen", l_tcp_listen},
  {NULL, NULL}
};

/* [-0, +0, m] Register core.tcp_connect and core.tcp_listen. */
void loom__tcp_open(lua_State *L, loom_ctx *ctx) {
  loom__setfuncs(L, ctx, tcp_funcs);
}
