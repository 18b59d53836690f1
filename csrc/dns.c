/*
** dns.c: name resolution with uv_getaddrinfo (API section 7), as the
** native half of loom.dns.
**
** core.getaddrinfo(host [, port]) is a checkpoint: it submits one lookup
** to libuv's threadpool and waits for it; the result is built in the
** continuation, from the request (rule B10). Failures cross as fail tuples
** (rule E2); lua/loom/dns.lua raises loom.IOError. A cancelled lookup is
** abandoned through req.c: uv_cancel stops it if it has not started, and
** otherwise it finishes in the background and its result is freed there.
** Addresses are deduplicated (one entry per address, first one wins), in
** the resolver's order.
*/
#include <stdio.h>
#include <string.h>

#include "req.h"

/* [-0, +0, -] Free a lookup's result (pure C). */
static void gai_cleanup(loom_req *r) {
  if (r->ai != NULL) uv_freeaddrinfo(r->ai);
  r->ai = NULL;
}

/* Completion of a lookup (libuv context, pure C). */
static void on_getaddrinfo(uv_getaddrinfo_t *req, int status,
                           struct addrinfo *res) {
  loom_req *r = loom_req_of(req);
  r->status = status;
  r->ai = res;
  loom__req_finish(r);
}

/* [-0, +2, m] Push the numeric address of 'sa' and its port; returns the
** family name ("inet", "inet6") or NULL for other families (nothing is
** pushed then). */
static const char *push_sockaddr(lua_State *L, const struct sockaddr *sa) {
  char ip[INET6_ADDRSTRLEN];
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    uv_ip4_name(a, ip, sizeof(ip));
    lua_pushstring(L, ip);
    lua_pushinteger(L, ntohs(a->sin_port));
    return "inet";
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(a, ip, sizeof(ip));
    lua_pushstring(L, ip);
    lua_pushinteger(L, ntohs(a->sin6_port));
    return "inet6";
  }
  return NULL;
}

/* [-0, +1|3, e] Continuation of getaddrinfo: the array of addresses, or
** the fail tuple. */
static int k_getaddrinfo(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_req *r = loom__req_resumed(L, ctx, kc);
  struct addrinfo *ai;
  int n = 0, seen;
  (void)status;
  if (r->status < 0) return loom__req_fail(L, r, r->status);
  lua_newtable(L);                        /* [guard list] */
  lua_newtable(L);                        /* [guard list seen] */
  seen = lua_gettop(L);
  for (ai = r->ai; ai != NULL; ai = ai->ai_next) {
    const char *family;
    if (ai->ai_addr == NULL) continue;
    family = push_sockaddr(L, ai->ai_addr);   /* [... addr port] */
    if (family == NULL) continue;
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

/* Checkpoint. core.getaddrinfo(host [, port]) -> array of { addr =,
** family =, port = } | nil, code, message. 'port' is an integer in
** 0..65535 or a numeric string. */
static int l_getaddrinfo(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *host = luaL_checkstring(L, 1);
  char service[16];
  const char *svc = NULL;
  struct addrinfo hints;
  loom_task *t;
  loom_req *r;
  int rc;
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
  r = loom__req_new(L, ctx);
  r->cleanup = gai_cleanup;
  rc = uv_getaddrinfo(ctx->loop, &r->u.gai, on_getaddrinfo, host, svc,
                      &hints);
  if (rc < 0) return loom__req_fail(L, r, rc);
  r->flags |= RQ_SUBMITTED;
  return loom__req_wait(L, t, r, k_getaddrinfo);
}

static const luaL_Reg dns_funcs[] = {
  {"getaddrinfo", l_getaddrinfo},
  {NULL, NULL}
};

/* [-0, +0, m] Register the dns functions in the core table on top. */
void loom__dns_open(lua_State *L, loom_ctx *ctx) {
  loom__req_open(L, ctx);
  loom__setfuncs(L, ctx, dns_funcs);
}
