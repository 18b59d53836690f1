/*
** status.c: conversions between libuv values and Lua values for the I/O
** families (the role of luv's util.c). A libuv status becomes the fail
** tuple `nil, code, message` (DESIGN.md E2: the Lua wrappers turn it into a
** loom.IOError; C never builds error objects); socket addresses become
** `host, port`; signals go between names ("SIGTERM") and numbers. The
** argument checks here report errors through args.c, so they are blamed
** on the user's call of a wrapper. Nothing here keeps state.
*/
#include <signal.h>
#include <string.h>

#include <sys/un.h>

#include "io.h"

/* [-0, +3, m] nil, uv_err_name(err), uv_strerror(err). */
int loom__fail(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushstring(L, uv_err_name(err));
  lua_pushstring(L, uv_strerror(err));
  return 3;
}

/* [-0, +2, m] host, port of 'sa'; for a Unix socket, its path and nil. */
int loom__push_sockaddr(lua_State *L, const struct sockaddr *sa) {
  char ip[INET6_ADDRSTRLEN + 1];
  switch (sa->sa_family) {
    case AF_INET: {
      const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
      uv_ip4_name(a, ip, sizeof ip);
      lua_pushstring(L, ip);
      lua_pushinteger(L, ntohs(a->sin_port));
      return 2;
    }
    case AF_INET6: {
      const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
      uv_ip6_name(a, ip, sizeof ip);
      lua_pushstring(L, ip);
      lua_pushinteger(L, ntohs(a->sin6_port));
      return 2;
    }
    case AF_UNIX: {
      const struct sockaddr_un *a = (const struct sockaddr_un *)sa;
      lua_pushstring(L, a->sun_path);
      lua_pushnil(L);
      return 2;
    }
    default:
      lua_pushnil(L);
      lua_pushnil(L);
      return 2;
  }
}

/* [-0, +0, -] Numeric address to sockaddr; UV_EINVAL if not numeric. */
int loom__numeric_addr(const char *host, int port,
                       struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0) return 0;
  memset(out, 0, sizeof *out);
  if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0) return 0;
  return UV_EINVAL;
}

/* [-0, +0, -] The port of an IPv4 or IPv6 address, else -1. */
int loom__sockaddr_port(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
  if (ss->ss_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
  return -1;
}

/* [-0, +0, v] A port number argument. */
int loom__checkport(lua_State *L, int idx) {
  lua_Integer p;
  int isnum;
  p = lua_tointegerx(L, idx, &isnum);
  if (!isnum) loom__typeerror(L, idx, "integer port");
  loom__argcheck(L, p >= 0 && p <= 65535, idx, "port out of range");
  return (int)p;
}

/* {====================================================================
** Signal names
** ===================================================================== */

static const struct {
  const char *name;
  int num;
} signals[] = {
  {"SIGHUP", SIGHUP}, {"SIGINT", SIGINT}, {"SIGQUIT", SIGQUIT},
  {"SIGILL", SIGILL}, {"SIGTRAP", SIGTRAP}, {"SIGABRT", SIGABRT},
  {"SIGBUS", SIGBUS}, {"SIGFPE", SIGFPE}, {"SIGKILL", SIGKILL},
  {"SIGUSR1", SIGUSR1}, {"SIGSEGV", SIGSEGV}, {"SIGUSR2", SIGUSR2},
  {"SIGPIPE", SIGPIPE}, {"SIGALRM", SIGALRM}, {"SIGTERM", SIGTERM},
  {"SIGCHLD", SIGCHLD}, {"SIGCONT", SIGCONT}, {"SIGSTOP", SIGSTOP},
  {"SIGTSTP", SIGTSTP}, {"SIGTTIN", SIGTTIN}, {"SIGTTOU", SIGTTOU},
  {"SIGURG", SIGURG}, {"SIGXCPU", SIGXCPU}, {"SIGXFSZ", SIGXFSZ},
  {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF}, {"SIGWINCH", SIGWINCH},
#ifdef SIGIO
  {"SIGIO", SIGIO},
#endif
#ifdef SIGPWR
  {"SIGPWR", SIGPWR},
#endif
  {"SIGSYS", SIGSYS},
  {NULL, 0}
};

/* [-0, +0, -] Number of "SIGTERM" or "TERM"; 0 if unknown. */
int loom__signum(const char *name) {
  int i;
  if (strncmp(name, "SIG", 3) == 0) name += 3;
  for (i = 0; signals[i].name != NULL; i++)
    if (strcmp(signals[i].name + 3, name) == 0) return signals[i].num;
  return 0;
}

/* [-0, +0, -] Name of 'signum', or NULL. */
const char *loom__signame(int signum) {
  int i;
  for (i = 0; signals[i].name != NULL; i++)
    if (signals[i].num == signum) return signals[i].name;
  return NULL;
}

/* [-0, +0, v] A signal name or number at 'idx'. */
int loom__checksignal(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_Integer n;
    int isint;
    n = lua_tointegerx(L, idx, &isint);
    loom__argcheck(L, isint && n > 0 && n < 65, idx, "bad signal number");
    return (int)n;
  } else {
    const char *name = loom__checkstring(L, idx);
    int n = loom__signum(name);
    if (n == 0)
      loom__argerror(L, idx,
                     lua_pushfstring(L, "unknown signal '%s'", name));
    return n;
  }
}
