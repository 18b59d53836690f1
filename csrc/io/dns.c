/*
** dns.c: name resolution with uv_getaddrinfo (README, I/O): the native half of
** loom.dns, and the lookup tcp.c uses for connect and listen.
**
** A lookup is a guarded request (req.h) that runs in libuv's threadpool;
** its task waits for it, and the result, which stays in the request until
** the request is freed, is read in the continuation (DESIGN.md B10). A
** cancelled lookup is detached: uv_cancel stops it if it has not started,
** and otherwise it finishes in the background and its callback frees the
** result (also after the Lua state has gone: it touches only its block).
** Failures cross as fail tuples (DESIGN.md E2); lua/loom/dns.lua raises
** loom.IOError. core.getaddrinfo deduplicates addresses (one entry per
** address, first one wins), in the resolver's order.
*/
#include <stdio.h>
#include <string.h>

#include "io.h"

/* A lookup; 'ai' is its result until the request is freed. */
typedef struct gai_req {
  loom_req r;
  uv_getaddrinfo_t g;
  struct addrinfo *ai;
} gai_req;

/* [-0, +0, -] Free a lookup's result (pure C; also after teardown). */
static void gai_cleanup(loom_req *r) {
  gai_req *q = (gai_req *)r;
  if (q->ai != NULL) uv_freeaddrinfo(q->ai);
  q->ai = NULL;
}

/* Completion of a lookup (libuv context, pure C). */
static void on_getaddrinfo(uv_getaddrinfo_t *g, int status,
                           struct addrinfo *res) {
  gai_req *q = (gai_req *)loom__req_of(g);
  q->r.status = status;
  q->ai = res;
  loom__req_finish(&q->r);
}

/* [-0, +(1|3), y] Start a lookup for task 't' (its guard pushed) and wait
** for it; 'k' continues. Returns a fail tuple if libuv refuses it. */
int loom__gai_wait(lua_State *L, loom_ctx *ctx, loom_task *t,
                   const char *host, const char *service,
                   const struct addrinfo *hints, lua_KFunction k) {
  gai_req *q = (gai_req *)loom__req_new(L, ctx, sizeof(gai_req), 1);
  int rc;
  loom__req_bind(&q->r, &q->g);
  q->r.cleanup = gai_cleanup;
  rc = uv_getaddrinfo(ctx->loop, &q->g, on_getaddrinfo, host, service,
                      hints);
  if (rc < 0) return loom__req_fail(L, &q->r, rc);
  q->r.flags |= RQ_SUBMITTED;
  loom__waiting(t, "dns");
  return loom__req_wait(L, t, &q->r, loom__req_abort_detach, k);
}

/* [-0, +0, -] The addresses of a completed lookup. */
const struct addrinfo *loom__gai_result(loom_req *r) {
  return ((gai_req *)r)->ai;
}

/* [-0, +1|3, e] Continuation of core.getaddrinfo: the array of addresses,
** or the fail tuple. */
static int k_getaddrinfo(lua_State *L, int status, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, loom_ctxup(L), kc);
  const struct addrinfo *ai;
  int n = 0, seen;
  (void)status;
  if (r->status < 0) return loom__req_fail(L, r, r->status);
  lua_newtable(L);                        /* [guard list] */
  lua_newtable(L);                        /* [guard list seen] */
  seen = lua_gettop(L);
  for (ai = loom__gai_result(r); ai != NULL; ai = ai->ai_next) {
    const char *family;
    if (ai->ai_addr == NULL) continue;
    if (ai->ai_family == AF_INET) family = "inet";
    else if (ai->ai_family == AF_INET6) family = "inet6";
    else continue;
    loom__push_sockaddr(L, ai->ai_addr);      /* [... addr port] */
    lua_pushfstring(L, "%s/%s", family, lua_tostring(L, -2));
    if (lua_rawget(L, seen) != LUA_TNIL) {    /* a duplicate */
      lua_pop(L, 3);
      continue;
    }
    lua_pop(L, 1);
    lua_pushfstring(L, "%s/%s", family, lua_tostring(L, -2));
    lua_pushboolean(L, 1);
    lua_rawset(L, seen);
    lua_createtable(L, 0, 3);                 /* [... addr port entry] */
    lua_insert(L, -3);
    lua_setfield(L, -3, "port");
    lua_setfield(L, -2, "addr");
    lua_pushstring(L, family);
    lua_setfield(L, -2, "family");
    lua_rawseti(L, seen - 1, ++n);
  }
  lua_pop(L, 1);                          /* [guard list] */
  loom__req_free(L, r);
  return 1;
}

/* [-2, +(1|3), y] Checkpoint. core.getaddrinfo(host [, port]) -> array of
** { addr =, family =, port = } | nil, code, message. 'port' is an integer
** in 0..65535 or a numeric string. */
static int l_getaddrinfo(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *host = loom__checkstring(L, 1);
  char service[16];
  const char *svc = NULL;
  struct addrinfo hints;
  loom_task *t;
  if (!lua_isnoneornil(L, 2)) {
    snprintf(service, sizeof(service), "%d", loom__checkport(L, 2));
    svc = service;
  }
  lua_settop(L, 2);
  t = loom__checkpoint_enter(L, ctx);
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  /* one entry per address */
  if (svc != NULL) hints.ai_flags = AI_NUMERICSERV;
  return loom__gai_wait(L, ctx, t, host, svc, &hints, k_getaddrinfo);
}

static const luaL_Reg dns_funcs[] = {
  {"getaddrinfo", l_getaddrinfo},
  {NULL, NULL}
};

/* [-0, +0, m] Register the dns functions in the core table on top. */
void loom__dns_open(lua_State *L, loom_ctx *ctx) {
  loom__setfuncs(L, ctx, dns_funcs);
}
