/*
** io.h: what loom's I/O files share: the I/O state and handles
** (handle.c), argument checks for wrapped functions (args.c) and
** conversions (status.c). Requests (and the name resolution tcp.c shares
** with dns.c) are in req.h; Streams and Listeners, which tcp.c, pipe.c
** and process.c build on, in stream.h.
**
** THE I/O STATE. Each context has one loom_io (ctx->io, made by
** loom__handles_open when the first family opens). It is malloc'd and
** reference-counted: every handle block, request and File state holds a
** reference, so it outlives the Lua state until the last of them is
** freed. At state teardown (loom__handles_teardown, from the context's
** __gc) io->ctx becomes NULL: a callback that runs later (with a host
** loop, in the host's next uv_run, after lua_close) finds no context and
** only frees memory.
**
** HANDLES (handle.c). Every libuv handle loom opens lives in a malloc'd
** block (rule B6) whose first member is a loom_handle; the family's struct
** embeds the libuv handle itself:
**
**   typedef struct my_obj { loom_handle h; uv_udp_t udp; ... } my_obj;
**
** The block has up to two owners. libuv owns it from loom__handle_opened
** until the close callback; the Lua object owns it (LH_LUA) from
** loom__handle_new until its __gc. Whichever lets go second frees it
** (luv's two-phase free). A block with no Lua object (a child process
** nobody references, a signal watcher) is freed by its close callback.
** The userdata is a box holding the block's pointer, set to NULL by __gc.
** libuv never points into Lua memory, so a handle's userdata needs no
** anchor (B5): collected while libuv still holds the handle, it just
** closes it; a task blocked on the object keeps it on its stack anyway.
** A type with 'internal' set (loom's own watchers and timers) is not
** counted in ctx->nio_open.
**
** Life of a handle:
**   o = loom__handle_new(L, ctx, sizeof *o, &my_type, "loom.Udp", 0);
**   rc = uv_udp_init(loom__loop(ctx), &o->udp);
**   if (rc < 0) return loom__fail(L, rc);    (the box frees it at __gc)
**   loom__handle_opened(&o->h, (uv_handle_t *)&o->udp);
**   ... o->h.uv->data is &o->h, so callbacks get the block back ...
**   loom__handle_close(&o->h);   (x:close(): idempotent, pure C)
**   __gc: loom__handle_gc (close, then let the block go)
**
** Counters (rule 2.1.5): ctx->nio_open counts handles opened and not yet
** closed, ctx->nclosing those whose close callback is pending (loom.run
** waits for it to reach 0). loom__handles_teardown closes every block of
** the context without Lua at state teardown (B13).
**
** CALLBACKS AFTER TEARDOWN. The rule for every on_* function of the I/O
** files: touch only malloc'd memory the callback's object holds a
** reference to (its handle block, its request block, the loom_io, a File
** state), get the context only through loom__handle_ctx or loom__req_ctx
** (NULL during and after teardown), and when it is NULL only free memory.
** Lua memory (a task's record, a userdata, a string) is reached only while
** the context is alive: waking a waiting task, or libuv reading a pinned
** string being written (which stops at uv_close; see req.h for the
** threadpool). A File's state is therefore a malloc'd block (file.c),
** not the payload of its userdata.
*/
#ifndef loom_io_h
#define loom_io_h

#include <sys/socket.h>

#include "internal.h"

typedef struct loom_io loom_io;
typedef struct loom_handle loom_handle;
typedef struct loom_handle_type loom_handle_type;

/* What a family tells the handle layer about its blocks. */
struct loom_handle_type {
  const char *name;                   /* "stream", "process", ... */
  /* At state teardown, before the close (pure C; may be NULL). */
  void (*teardown)(loom_handle *h);
  /* Frees what the block owns besides itself (may be NULL). */
  void (*finalize)(loom_handle *h);
  /* 1: loom's own watcher or timer (no user object, no descriptor), not
  ** counted in ctx->nio_open. */
  int internal;
};

/* Handle flags. */
#define LH_LUA 0x01      /* a Lua object (userdata box) owns the block */
#define LH_OPEN 0x02     /* libuv handle initialised */
#define LH_CLOSING 0x04  /* uv_close called */
#define LH_CLOSED 0x08   /* close callback ran */

struct loom_handle {
  uv_handle_t *uv;               /* the libuv handle inside the block */
  loom_io *io;                   /* I/O state of the context */
  loom_handle *next, *prev;      /* every block of the context */
  const loom_handle_type *type;
  unsigned char flags;           /* LH_* */
};

/* Per-context I/O state (ctx->io). It outlives the context until its last
** reference is dropped (callbacks after teardown find ctx == NULL). */
struct loom_io {
  loom_ctx *ctx;          /* NULL after loom__handles_teardown */
  loom_handle *handles;   /* every handle block not freed yet */
  int nrefs;              /* blocks, requests and File states alive */
  void *signals;          /* signal.c's state */
  void *procs;            /* process.c's state */
};

/* {====================================================================
** handle.c
** ===================================================================== */
/* [-0, +0, -] The I/O state of 'ctx' (made by loom__handles_open). */
#define loom__io(ctx) ((loom_io *)(ctx)->io)
/* [-0, +0, -] The loop of 'ctx' (set up before any task runs). */
#define loom__loop(ctx) ((ctx)->loop)
/* [-0, +0, -] Take a reference to 'io' / drop one (the last one, once
** the context is gone, frees it). */
#define loom__io_ref(io) ((void)(io)->nrefs++)
void loom__io_unref(loom_io *io);
/* [-0, +0, -] A zeroed block of 'size' bytes with no Lua owner; NULL when
** out of memory. */
void *loom__handle_alloc(loom_ctx *ctx, size_t size,
                         const loom_handle_type *type);
/* [-0, +1, m] The same, owned by a new userdata with metatable 'mt' and
** 'nuv' user values, pushed on the stack. */
void *loom__handle_new(lua_State *L, loom_ctx *ctx, size_t size,
                       const loom_handle_type *type, const char *mt,
                       int nuv);
/* [-0, +0, -] Record that 'uv' (inside the block) was initialised. */
void loom__handle_opened(loom_handle *h, uv_handle_t *uv);
/* [-0, +0, -] Close the libuv handle (idempotent, pure C). A block never
** opened and owned by nobody is freed at once. */
void loom__handle_close(loom_handle *h);
/* [-0, +0, -] The Lua object lets go (its __gc): free if closed. */
void loom__handle_release(loom_handle *h);
/* [-0, +0, -] Is the libuv handle open (initialised, not closing)? */
#define loom__handle_is_open(h) \
  (((h)->flags & (LH_OPEN | LH_CLOSING)) == LH_OPEN)
/* [-0, +0, -] The block of the userdata at 'idx' (NULL after __gc). */
loom_handle *loom__handle_box(lua_State *L, int idx);
/* [-0, +0, v] The block of the box at 'idx' with metatable 'mt' (an
** argument error otherwise, as loom__checkudata). */
loom_handle *loom__handle_check(lua_State *L, int idx, const char *mt);
/* [-1, +0, -] A __gc for blocks with no special needs: close + release. */
int loom__handle_gc(lua_State *L);
/* [-0, +0, -] In a callback: the live context, or NULL when the state is
** being torn down (then only free memory). */
loom_ctx *loom__handle_ctx(loom_handle *h);
/* [-0, +0, m] Set up the I/O state of 'ctx' (idempotent): ctx->io, the
** request guard's metatable, core.io_stats and core.mark_wrappers. */
void loom__handles_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** args.c: argument errors of the C functions that Lua wrappers call
** =====================================================================
** A Lua wrapper (stream.lua's S.read, fs.lua's File:read...) calls its C
** function with its own arguments in the same positions, then turns a
** fail tuple into an IOError. Lua's own luaL_argerror would blame the
** wrapper: its line, its call of the C function (self counted, "bad
** argument #2 to 'read'" for f:read("x")). These helpers behave like the
** luaL_ ones, but when the C function was called by a registered wrapper
** (core.mark_wrappers) they report the error as the wrapper's caller
** sees it: its line, the wrapper's name, arguments counted as in that
** call (a method call does not count self). They cost nothing until
** they raise. */
int loom__argerror(lua_State *L, int arg, const char *extramsg);
int loom__typeerror(lua_State *L, int arg, const char *tname);
/* [-0, +1, v] luaL_error at the level of the wrapper's caller. */
int loom__error(lua_State *L, const char *fmt, ...);
/* [-0, +0, v] The error of loom__checkinteger at 'arg'. */
int loom__integer_error(lua_State *L, int arg);
lua_Integer loom__optinteger(lua_State *L, int arg, lua_Integer def);
const char *loom__optlstring(lua_State *L, int arg, const char *def,
                             size_t *len);
void loom__checktype(lua_State *L, int arg, int t);

/* [-0, +0, v] The integer at 'arg' (luaL_checkinteger). The checks used
** on hot paths (a stream's read and write) are inline: their cost is the
** Lua API call's. */
static inline lua_Integer loom__checkinteger(lua_State *L, int arg) {
  int isnum;
  lua_Integer n = lua_tointegerx(L, arg, &isnum);
  if (!isnum) loom__integer_error(L, arg);
  return n;
}

/* [-0, +0, v] The string at 'arg' (luaL_checklstring). */
static inline const char *loom__checklstring(lua_State *L, int arg,
                                             size_t *len) {
  const char *s = lua_tolstring(L, arg, len);
  if (s == NULL) loom__typeerror(L, arg, lua_typename(L, LUA_TSTRING));
  return s;
}

/* [-0, +0, v] The userdata at 'arg' with metatable 'mt'
** (luaL_checkudata). */
static inline void *loom__checkudata(lua_State *L, int arg, const char *mt) {
  void *p = luaL_testudata(L, arg, mt);
  if (p == NULL) loom__typeerror(L, arg, mt);
  return p;
}

#define loom__checkstring(L, a) (loom__checklstring(L, (a), NULL))
#define loom__optstring(L, a, d) (loom__optlstring(L, (a), (d), NULL))
#define loom__argcheck(L, cond, arg, msg) \
  ((void)((cond) || loom__argerror(L, (arg), (msg))))
/* [-0, +0, m] core.mark_wrappers(t): every Lua function in table 't' is a
** wrapper whose C function's argument errors are reported for it. */
int loom__l_mark_wrappers(lua_State *L);

/* {====================================================================
** status.c
** ===================================================================== */
/* [-0, +3, m] Push the fail tuple nil, uv_err_name(err), uv_strerror(err);
** returns 3. The one fail-tuple helper of the I/O layer (rule E2). */
int loom__fail(lua_State *L, int err);
/* [-0, +2, m] Push host, port of a socket address (path, nil for AF_UNIX;
** nil, nil for other families); returns 2. */
int loom__push_sockaddr(lua_State *L, const struct sockaddr *sa);
/* [-0, +0, -] Fill 'out' from a numeric IPv4/IPv6 address and a port;
** returns 0 or a libuv error (UV_EINVAL if 'host' is not numeric). */
int loom__numeric_addr(const char *host, int port,
                       struct sockaddr_storage *out);
/* [-0, +0, -] The port of an AF_INET/AF_INET6 address, else -1. */
int loom__sockaddr_port(const struct sockaddr_storage *ss);
/* [-0, +0, v] The port argument at 'idx': an integer in 0..65535. */
int loom__checkport(lua_State *L, int idx);
/* [-0, +0, -] The signal number of "SIGTERM" (or "TERM"), 0 if unknown. */
int loom__signum(const char *name);
/* [-0, +0, -] The name of signal 'signum' ("SIGTERM"), or NULL. */
const char *loom__signame(int signum);
/* [-0, +0, v] A signal given at 'idx' as a name or a number. */
int loom__checksignal(lua_State *L, int idx);

#endif
