/*
** io.h: the private header of loom's I/O layer (csrc/io/): the I/O state,
** handles, requests, streams, listeners and fs requests that its files
** share. The layer builds on the engine (core/core.h) and names nothing of
** the layers above. Its files, lowest first:
**   status.c    libuv values <-> Lua values (fail tuples, addresses)
**   handle.c    the I/O state of a context; lifetime of libuv handles
**   req.c       lifetime of libuv requests
**   dns.c       name resolution (loom.dns; shared with tcp.c)
**   rbuf.c      receive buffers (a Stream's, a TLS stream's)
**   stream.c    Stream objects: creation, closing, addresses, connects
**   stream_read.c / stream_write.c   reading and writing a Stream
**   listener.c  Listener objects
**   tcp.c pipe.c udp.c process.c signal.c   one libuv family each
**   tls_ctx.c   TLS contexts (OpenSSL's SSL_CTX), errors, certificates
**   tls.c       TLS streams over any Stream (OpenSSL on memory BIOs)
**   fs.c        path operations; fs requests (shared with file.c)
**   filestate.c the descriptor of a File: requests in flight, closing
**   file.c      File objects
*/
#ifndef loom_io_h
#define loom_io_h

#include <sys/socket.h>

#include "../core/core.h"

/* {====================================================================
** The I/O state and handles (handle.c)
** ===================================================================== */

/*
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
** block (DESIGN.md B6) whose first member is a loom_handle; the family's struct
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
** anchor (DESIGN.md B5): collected while libuv still holds the handle, it just
** closes it; a task blocked on the object keeps it on its stack anyway.
** A type with 'internal' set (loom's own watchers and timers) is not
** counted in io->nio_open.
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
** Counters (nothing outlives its owner: DESIGN.md "Principles"):
** io->nio_open counts handles opened and not yet closed, ctx->nclosing those
** whose close callback is pending (loom.run waits for it to reach 0).
** loom__handles_teardown closes every block of the context without Lua at state
** teardown (DESIGN.md B13).
**
** CALLBACKS AFTER TEARDOWN. The rule for every on_* function of the I/O
** files: touch only malloc'd memory the callback's object holds a
** reference to (its handle block, its request block, the loom_io, a File
** state), get the context only through loom__handle_ctx or loom__req_ctx
** (NULL during and after teardown), and when it is NULL only free memory.
** Lua memory (a task's record, a userdata, a string) is reached only while
** the context is alive: waking a waiting task, or libuv reading a pinned
** string being written (which stops at uv_close; see "Requests" below for the
** threadpool). A File's state is therefore a malloc'd block (file.c),
** not the payload of its userdata.
*/

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
  ** counted in io->nio_open. */
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
  int nio_open;           /* handles open (not loom's own), not closing */
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
/* [-0, +1, m] The same, owned by a new userdata with metatable 'mt' (by
** name; NULL: the running function's class) and 'nuv' user values,
** pushed on the stack. */
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
/* [-0, +0, v] The block of the receiver at 'idx' (loom__checkself): an
** argument error if it is not one, "closed" if it was collected. */
loom_handle *loom__handle_check(lua_State *L, int idx);
/* [-1, +0, -] A __gc for blocks with no special needs: close + release. */
int loom__handle_gc(lua_State *L);
/* [-0, +0, -] In a callback: the live context, or NULL when the state is
** being torn down (then only free memory). */
loom_ctx *loom__handle_ctx(loom_handle *h);
/* [-0, +0, m] Make the I/O state of 'ctx' and register core.io_stats (the
** first opener of the layer). */
void loom__handles_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** status.c
** ===================================================================== */
/* [-0, +3, m] Push the fail tuple nil, uv_err_name(err), uv_strerror(err);
** returns 3. The one fail-tuple helper of the I/O layer (DESIGN.md E2). */
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

/* {====================================================================
** Requests (req.c)
** ===================================================================== */

/*
** Lifetime of libuv requests, for every I/O family (stream_write.c,
** tcp.c, pipe.c, udp.c, dns.c, fs.c, file.c).
**
** A request is a malloc'd block (DESIGN.md B6) that starts with a loom_req,
** followed by the family's libuv request and its own fields:
**
**   typedef struct write_req { loom_req r; uv_write_t w; } write_req;
**   wr = loom__req_new(L, ctx, sizeof *wr, 0);
**   loom__req_bind(&wr->r, &wr->w);        (r.uv, w.data = &wr->r)
**
** so a stream write allocates what a write needs and no more. A libuv
** callback finds its loom_req in the request's data field.
**
** Pins. While it is in flight a request pins, in the context's anchor
** table (DESIGN.md B5), up to LOOM_REQ_NPIN Lua values libuv points into (a
** string being written); they are released when the request is freed.
**
** Owners. Exactly one party frees a request:
**  - the task waiting for it (loom__req_wait), in its continuation, once
**    the callback has woken it (loom__req_resumed gives the request back;
**    loom__req_free frees it);
**  - its callback (loom__req_finish), once nobody waits: the waiting task
**    was cancelled and the abort detached the request, or the request
**    was started in the background (loom__req_new_bg). A detached request
**    counts in ctx->nclosing until its callback has run, so loom.run
**    returns only after it (nothing outlives loom.run: DESIGN.md
**    "Principles").
** Aborts (the task's scope is cancelled, DESIGN.md B9), chosen at wait
** time:
**  - loom__req_abort_detach: detach, uv_cancel unless RQ_NOCANCEL (the
**    threadpool drops work that has not started; otherwise it finishes in
**    the background and its result is discarded); SUCCEEDED;
**  - loom__req_abort_failed: the request cannot be stopped, the task gets
**    its real result and meets Cancelled at its next checkpoint; FAILED;
**  - a family's own abort that stops the operation some other way (closing
**    the stream of a write or a connect) and calls loom__req_detach.
**
** The guard. A request may be "guarded" (loom__req_new(..., 1)): a small
** userdata pushed on the stack owns it until the task waits, and again in
** the continuation, so that a raise before the request is freed (out of
** memory while building a large result) cannot leak it: the guard's __gc
** frees the request, or detaches it if libuv still holds it. Requests
** whose continuation cannot raise before freeing them (stream writes,
** connects) go without, and save the userdata. Either way the request is
** on top of the task's stack when its continuation runs (a guard, or a
** light userdata pushed by loom__req_wait): the suspend primitive gives
** continuations the task as their context.
**
** Teardown (DESIGN.md B13). With a host loop attached, lua_close may run while
** requests are in flight; their callbacks then run in the host's next
** uv_run, after the context and every Lua object are gone. The rule:
** a callback touches only the request's block, the loom_io it holds a
** reference to (malloc'd; io->ctx is NULL once the context is torn down)
** and other malloc'd blocks it holds a reference to (a File's state in
** file.c); it gets the context only through loom__req_ctx, which returns
** NULL during and after teardown, and then it only frees memory: no wake,
** no anchor released, no counter touched, no new libuv request (a file
** descriptor that must be closed is closed synchronously). Nothing a
** request points into may be Lua memory that lua_close
** frees while libuv still reads it: libuv stops touching a handle's write
** buffers at uv_close (teardown closes every handle), but threadpool work
** reads its buffer until it completes, so fs writes on a host loop copy
** their data (file.c).
*/

/* How many Lua values a request can pin. */
#define LOOM_REQ_NPIN 2

/* Request flags. */
#define RQ_SUBMITTED 0x01  /* handed to libuv: its callback will run */
#define RQ_DETACHED 0x02   /* nobody waits: the callback frees it */
#define RQ_COUNTED 0x04    /* counted in ctx->nclosing */
#define RQ_COMPLETED 0x08  /* its callback has run */
#define RQ_QUEUED 0x10     /* its family will submit it later */
#define RQ_NOCANCEL 0x20   /* never uv_cancel it (a close must happen) */

typedef struct loom_req loom_req;
typedef struct loom_req_guard loom_req_guard;

/* Frees what a request's result owns (pure C, no Lua; may run after the
** Lua state has gone). */
typedef void (*loom_req_cleanup_fn)(loom_req *r);

struct loom_req {
  uv_req_t *uv;                 /* the libuv request inside the block */
  loom_io *io;                  /* I/O state (a reference is held) */
  loom_task *waiter;            /* task blocked on it, or NULL */
  loom_req_guard *guard;        /* its guard while a task owns it */
  loom_req_cleanup_fn cleanup;  /* frees the family's results, or NULL */
  int pins[LOOM_REQ_NPIN];      /* anchors, LUA_NOREF when unused */
  int status;                   /* result: 0, or a libuv error */
  unsigned char flags;          /* RQ_* */
};

/* [-0, +0, -] Make 'r' own the libuv request 'uvreq' (inside its block):
** r->uv, and uvreq->data pointing back to 'r'. */
#define loom__req_bind(r, uvreq) \
  ((r)->uv = (uv_req_t *)(uvreq), (uvreq)->data = (r))
/* [-0, +0, -] The loom_req of a libuv request made by loom. */
#define loom__req_of(uvreq) ((loom_req *)(uvreq)->data)

/* [-0, +0, m] Register the class of request guards. */
void loom__req_open(lua_State *L, loom_ctx *ctx);
/* [-0, +(0|1), m] A zeroed request block of 'size' bytes (at least a
** loom_req) with no pins; with 'guard', push its guard, which owns it
** from now on (nothing else may be pushed above the guard until
** loom__req_wait). Raises a memory error; nothing leaks. */
void *loom__req_new(lua_State *L, loom_ctx *ctx, size_t size, int guard);
/* [-0, +0, -] A request nobody will wait for (a close started by __gc),
** or NULL if out of memory; pure C. Counted in ctx->nclosing, freed by
** its callback. */
void *loom__req_new_bg(loom_ctx *ctx, size_t size);
/* [-0, +0, m] Pin the value at 'idx' until the request is freed. */
void loom__req_pin(lua_State *L, loom_req *r, int idx);
/* [-0, +(0|1), y] Suspend the running task 't' until 'r' (submitted, or
** queued for its family to submit) completes; 'abort' is one of the
** aborts above; 'k' continues and must start with loom__req_resumed. */
int loom__req_wait(lua_State *L, loom_task *t, loom_req *r,
                   loom_abort_fn abort, lua_KFunction k);
/* [-0, +0, e] First thing in the continuation of loom__req_wait: raise
** Cancelled if the wait was aborted (the request then belongs to its
** callback and must not be touched), else return the request, now the
** caller's to free. It stays on top of the stack (guard or light
** userdata). */
loom_req *loom__req_resumed(lua_State *L, loom_ctx *ctx, lua_KContext kc);
/* [-0, +0, -] From an abort (pure C): nobody waits for 'r' any more; its
** callback will free it; count it in ctx->nclosing. */
void loom__req_detach(loom_req *r);
/* Aborts of a task waiting on a request (its wait_obj); see above. */
int loom__req_abort_detach(loom_ctx *ctx, loom_task *t);
int loom__req_abort_failed(loom_ctx *ctx, loom_task *t);
/* [-0, +0, -] In a callback: the live context of 'r', or NULL during and
** after teardown (then only free memory). */
loom_ctx *loom__req_ctx(loom_req *r);
/* [-0, +0, -] In a callback, before loom__req_finish: will the result
** reach a task? (If not, free what the result owns, or undo it.) */
int loom__req_wanted(loom_req *r);
/* [-0, +0, -] From a completion callback, result stored in the block:
** wake the waiter (returns 1) or free a request nobody waits for
** (returns 0). */
int loom__req_finish(loom_req *r);
/* [-0, +0, m] Free 'r' from Lua context (pins released now). */
void loom__req_free(lua_State *L, loom_req *r);
/* [-0, +3, m] Free 'r' and push the fail tuple of 'err'; returns 3. */
int loom__req_fail(lua_State *L, loom_req *r, int err);

/* {====================================================================
** dns.c: name resolution shared with tcp.c
** ===================================================================== */
/* [-0, +(1|3), y] Start resolving 'host' ('service' may be NULL) for task
** 't' and wait (a guarded request); 'k' continues: it takes the request
** with loom__req_resumed, the addresses with loom__gai_result, then frees
** it with loom__req_free. Returns a fail tuple if libuv refuses. A
** cancelled lookup is detached (uv_cancel if it has not started). */
int loom__gai_wait(lua_State *L, loom_ctx *ctx, loom_task *t,
                   const char *host, const char *service,
                   const struct addrinfo *hints, lua_KFunction k);
/* [-0, +0, -] The addresses of a completed lookup (NULL on failure). */
const struct addrinfo *loom__gai_result(loom_req *r);

/* {====================================================================
** Streams and listeners (stream.c, stream_read.c, stream_write.c,
** listener.c)
** ===================================================================== */

/*
** The Stream and Listener objects that tcp.c, pipe.c and process.c build
** on, and the connect request they share.
**
** A Stream is a handle block (above) with a receive buffer; a Listener a
** handle block that accepts lazily. A connection being made is a Stream
** from the start: its connect request (a loom_connect, above) is waited
** for with loom__connect_abort, which closes the stream when the task is
** cancelled (libuv then completes the request with UV_ECANCELED and its
** callback frees it).
*/

#define LOOM_STREAM_MT "loom.Stream"
#define LOOM_LISTENER_MT "loom.Listener"

/* Kinds of stream. */
#define LOOM_TCP 1
#define LOOM_PIPE 2

typedef struct loom_stream loom_stream;
typedef struct loom_listener loom_listener;
typedef struct loom_rbuf loom_rbuf;

/* Read modes: what a read waits for (loom_rbuf.mode). */
#define LOOM_RM_ANY 1     /* at least one byte (at most 'want') */
#define LOOM_RM_EXACT 2   /* 'want' bytes */
#define LOOM_RM_LINE 3    /* a newline (a line of at most 'want' bytes) */
#define LOOM_RM_LINEKEEP 4  /* the same, the line's ending kept */
#define LOOM_RM_ALL 5     /* everything, up to the end of the stream */

/* First size of a receive buffer (it grows for long reads). */
#define LOOM_RBUF_SIZE (64 * 1024)

/* A receive buffer (rbuf.c): the bytes that arrived and were not read
** yet, and the read waiting on them. A Stream's holds what libuv read, a
** TLS stream's what OpenSSL decrypted. Pure C, malloc'd storage: libuv
** writes into its free end. */
struct loom_rbuf {
  char *buf;              /* storage, NULL until the first byte */
  size_t cap;             /* its size */
  size_t head, len;       /* buffered bytes: buf[head .. head + len) */
  size_t scan;            /* read_line: buffered bytes with no newline */
  size_t want;            /* RM_ANY: at most; RM_EXACT: the count;
                          ** RM_LINE(KEEP): the longest line; RM_ALL:
                          ** unused; (size_t)-1: no bound */
  unsigned char mode;     /* LOOM_RM_* of the read recorded */
};

/* A byte stream over a uv_stream_t, with its receive buffer. */
struct loom_stream {
  loom_handle h;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } u;
  loom_rbuf rb;           /* receive buffer and the reader's condition */
  loom_task *reader;      /* task blocked in a read, or NULL */
  int rerr;               /* sticky read error (libuv code) or 0 */
  int nwrites;            /* writes in flight */
  unsigned char kind;     /* LOOM_TCP or LOOM_PIPE */
  unsigned char reading;  /* uv_read_start is on */
  unsigned char eof;      /* the peer's end of stream was seen */
  unsigned char closed;   /* closed: s:close(), or a cancelled write */
  unsigned char shut;     /* s:shutdown() was called */
};

/* A listening socket; connections wait in the kernel until accepted. */
struct loom_listener {
  loom_handle h;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } u;
  loom_lot acceptors;     /* tasks blocked in accept */
  int pending;            /* connections libuv holds for uv_accept */
  int err;                /* error of the connection callback, or 0 */
  int port;               /* bound TCP port */
  char *path;             /* bound pipe path (unlinked by close) */
  unsigned char kind;
  unsigned char closed;
};

/* A connect request. */
typedef struct loom_connect {
  loom_req r;
  uv_connect_t c;
} loom_connect;

/* {====================================================================
** rbuf.c
** ===================================================================== */
/* [-0, +0, -] The free end of 'b' (loom__rbuf_room bytes). */
#define loom__rbuf_tail(b) ((b)->buf + (b)->head + (b)->len)
/* [-0, +0, -] Record the read that waits on 'b': mode LOOM_RM_*, and
** 'want' (what the read callback tests, loom__rbuf_ready). */
#define loom__rbuf_expect(b, m, w) \
  ((void)((b)->mode = (unsigned char)(m)), (void)((b)->want = (w)))
/* [-0, +0, -] Free the storage (the buffer can be used again). */
void loom__rbuf_free(loom_rbuf *b);
/* [-0, +0, -] Make room at the free end: allocate, compact, and with
** 'grow' (a reader waits for more) grow a full buffer (twice, or to what
** a read_exactly needs). Returns the free bytes (0: full or no memory). */
size_t loom__rbuf_room(loom_rbuf *b, int grow);
/* [-0, +0, -] Does the recorded read hold (or fail) now that the 'n'
** bytes at 'fresh' were appended (and counted in 'len')? */
int loom__rbuf_ready(const loom_rbuf *b, const char *fresh, size_t n);
/* [-0, +0, -] Take 'k' bytes off the front. */
void loom__rbuf_consume(loom_rbuf *b, size_t k);
/* [-0, +(0|1|3), m] Satisfy a read of 'mode' ('want' as in loom_rbuf)
** from what 'b' holds: push its result (a string; nil at 'eof'; the fail
** tuple nil, "ELINETOOLONG", message for a line over its bound, whose
** bytes stay buffered) and return the number of values, or -1 (nothing
** pushed) when it must wait, never with 'eof'. */
int loom__rbuf_take(lua_State *L, loom_rbuf *b, int mode, size_t want,
                    int eof);

/* {====================================================================
** stream.c, stream_read.c, stream_write.c
** ===================================================================== */
/* [-0, +1, m] Push a new Stream of 'kind' with an initialised handle
** (not connected); raises if libuv cannot initialise it. */
loom_stream *loom__stream_new(lua_State *L, loom_ctx *ctx, int kind);
/* [-0, +0, v] The open Stream receiving a method call at 'idx'. */
loom_stream *loom__stream_check(lua_State *L, int idx);
/* [-0, +1, v] Raise the "closed" error of a stream. */
int loom__stream_closed(lua_State *L);
/* [-0, +0, -] Close a stream (idempotent, pure C): a task blocked reading
** is woken and raises "closed"; writes in flight end with UV_ECANCELED. */
void loom__stream_close(loom_stream *s);
/* [-0, +(2|3), m] Address of a stream or listener handle of 'kind', the
** peer's or its own: addr, port (a pipe: path, nil), or a fail tuple. */
int loom__push_endpoint(lua_State *L, int kind, uv_handle_t *h, int peer);
/* [-0, +0, m] A new connect request (not guarded; bound to r.c). */
loom_connect *loom__connect_new(lua_State *L, loom_ctx *ctx);
/* The uv_connect_cb of loom's streams: finishes the request. */
void loom__on_connect(uv_connect_t *c, int status);
/* Abort of a task waiting on a loom_connect: close the stream, detach the
** request (SUCCEEDED). */
int loom__connect_abort(loom_ctx *ctx, loom_task *t);
/* [-0, +0, v] The 'want' of a read of '*mode' (LOOM_RM_*) from its
** argument at index 2: read's max, read_exactly's count, read_line's
** {max = n, keep = b} (keep turns RM_LINE into RM_LINEKEEP); (size_t)-1
** for no bound. */
size_t loom__read_arg(lua_State *L, int *mode);
/* [-0, +0, y] Suspend 't' until 's' has a byte buffered, has ended, failed
** or closed: 't' becomes its reader, with 'abort' and 'obj' as its wait
** (the abort must clear s->reader) and 'k' as its continuation. Returns
** a libuv error if reading cannot start; otherwise it does not return. */
int loom__stream_wait(lua_State *L, loom_task *t, loom_stream *s,
                      loom_abort_fn abort, void *obj, lua_KFunction k);
/* [-0, +0, -] Take the first 'k' bytes of the buffer of 's' (copied by
** the caller); read on if it had filled. */
void loom__stream_take(loom_stream *s, size_t k);
/* [-0, +0, m] Send 'len' bytes at 'data' (C memory, copied if the kernel
** does not take them at once) on the open 's', in order after the writes
** in flight. Returns 0 (the kernel took them), 1 with '*req' in flight,
** or a libuv error. Wait for '*req' with loom__stream_write_abort and end
** with loom__stream_req_done, or let it go with loom__req_detach. */
int loom__stream_send(lua_State *L, loom_ctx *ctx, loom_stream *s,
                      const char *data, size_t len, loom_req **req);
/* Abort of a task waiting for a write or shutdown request of a stream:
** close the stream, detach the request (SUCCEEDED). */
int loom__stream_write_abort(loom_ctx *ctx, loom_task *t);
/* [-0, +(0|3), v] After the wait for write request 'r' of 's': free it;
** 0, or push its fail tuple (3), or raise "closed" if a close ended it. */
int loom__stream_req_done(lua_State *L, loom_req *r, loom_stream *s);
/* [-0, +0, m] Register the Stream class; the reading and writing files
** add their methods to it. */
void loom__stream_open(lua_State *L, loom_ctx *ctx);
void loom__stream_read_open(lua_State *L, loom_ctx *ctx);
void loom__stream_write_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** listener.c
** ===================================================================== */
/* [-0, +1, m] Push a new Listener of 'kind' with an initialised handle. */
loom_listener *loom__listener_new(lua_State *L, loom_ctx *ctx, int kind);
/* [-0, +0, -] Close a listener (idempotent, pure C): acceptors raise
** "closed"; a pipe's socket file is removed. */
void loom__listener_close(loom_listener *l);
/* [-0, +0, -] Start listening; returns 0 or a libuv error. */
int loom__listener_listen(loom_listener *l, int backlog);
/* [-0, +0, m] Register the Listener class; its methods table is
** core.listener_methods. */
void loom__listener_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** TLS (tls_ctx.c, tls.c): OpenSSL over any Stream
** ===================================================================== */

/*
** A TLS stream (tls.c) is a layer over a Stream: OpenSSL works on two
** memory BIOs, the ciphertext goes through the Stream's own buffer and
** write path, the plaintext lands in the TLS stream's loom_rbuf. The
** OpenSSL types are named here by their struct tags only, so that only
** the TLS files include OpenSSL's headers.
*/
struct ssl_ctx_st;
struct ssl_st;
struct x509_st;

#define LOOM_TLSCTX_MT "loom.TlsContext"
#define LOOM_TLS_MT "loom.TlsStream"

/* An SSL_CTX made from an options table: the payload of a
** loom.TlsContext. Every TLS stream made with it keeps it as a user value;
** each SSL holds a reference to the SSL_CTX, which goes with the last. */
typedef struct loom_tlsctx {
  struct ssl_ctx_st *ssl_ctx;   /* NULL after __gc */
  unsigned char *alpn;          /* a server's protocols (wire format) */
  unsigned int alpn_len;
  unsigned char server;         /* a server's context */
  unsigned char verify;         /* the peer's certificate is verified */
} loom_tlsctx;

/* {====================================================================
** tls_ctx.c, tls.c
** ===================================================================== */
/* [-0, +0, v] The loom.TlsContext at 'idx' (an argument error if not). */
loom_tlsctx *loom__tlsctx_check(lua_State *L, int idx);
/* [-0, +0, -] Describe the failure of an OpenSSL call on 'ssl' whose
** SSL_get_error was 'err': OpenSSL's reason into 'msg', and for a failed
** verification X509's text into 'verr' (else ""). Empties OpenSSL's error
** queue. */
void loom__tls_describe(struct ssl_st *ssl, int err, char *msg, size_t n,
                        char *verr, size_t vn);
/* [-0, +0, -] A client's peer is 'name' (a host name or an IP address):
** SNI for a name, and with 'verify' the name or address checked against
** the certificate. Returns 1, or 0 if OpenSSL refused. */
int loom__tls_set_peer(struct ssl_st *ssl, const char *name, int verify);
/* [-0, +1, m] Push the table of certificate 'x': subject, issuer,
** not_before, not_after, serial, san. */
void loom__tls_push_cert(lua_State *L, struct x509_st *x);
/* [-0, +0, -] Count TLS streams made (+1) or freed (-1), for
** core.tls_stats. */
void loom__tls_count(int delta);
/* [-0, +0, m] Register loom.TlsContext (core.tls_context, core.tls_stats)
** and loom.TlsStream (core.tls_wrap, core.tls_stream_methods). */
void loom__tlsctx_open(lua_State *L, loom_ctx *ctx);
void loom__tls_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** Openers of the families (tcp.c, pipe.c, udp.c, dns.c, fs.c, file.c,
** process.c, signal.c): register their classes and functions in the core
** table on top.
** ===================================================================== */
void loom__tcp_open(lua_State *L, loom_ctx *ctx);
void loom__pipe_open(lua_State *L, loom_ctx *ctx);
void loom__udp_open(lua_State *L, loom_ctx *ctx);
void loom__dns_open(lua_State *L, loom_ctx *ctx);
void loom__fs_open(lua_State *L, loom_ctx *ctx);
void loom__file_open(lua_State *L, loom_ctx *ctx);
void loom__process_open(lua_State *L, loom_ctx *ctx);
void loom__signal_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** fs requests and File state (fs.c, filestate.c, file.c)
** ===================================================================== */

/*
** What fs.c (path operations), filestate.c and file.c (File objects)
** share: the fs request block and the conversions of results to Lua
** values.
**
** Every fs operation is an fs_req (a request, above): a loom_req, the uv_fs_t,
** and the fields a File operation needs. A request on a File holds a
** reference to the File's state ('f', a malloc'd block, file.c), never to
** its userdata, so its callback may run after the Lua state has gone.
*/

/* Request kinds (kind). */
#define FK_PATH 0   /* stat, unlink, mkdir...: no File */
#define FK_OPEN 1
#define FK_READ 2
#define FK_WRITE 3
#define FK_FSTAT 4
#define FK_CLOSE 5

/* Request stages (stage). */
#define FS_SEQ 0x01    /* a read/write at the File's position */

typedef struct fs_file fs_file;
typedef struct fs_req fs_req;

struct fs_req {
  loom_req r;
  uv_fs_t fs;
  fs_file *f;            /* File state it holds a reference to, or NULL */
  char *buf;             /* malloc'd: read buffer, or a copy of the data */
  const char *data;      /* bytes to write (pinned string, or buf) */
  size_t len;            /* buf's size, or the length to write */
  size_t done;           /* bytes read or written so far */
  int64_t off;           /* file offset, -1 for the kernel's position */
  unsigned char kind;    /* FK_* */
  unsigned char stage;   /* FS_* */
};

/* The state of a File (filestate.c, file.c): a malloc'd block, because
** the requests in flight on it may outlive the File object. */
struct fs_file {
  loom_io *io;          /* I/O state (a reference is held) */
  int refs;             /* the userdata, and the requests holding it */
  uv_file fd;           /* -1: not open, or its close was submitted */
  int oflags;           /* open(2) flags */
  int inflight;         /* requests in flight on fd */
  int64_t pos;          /* position of reads/writes without offset */
  loom_lot seq_lot;     /* tasks waiting for seq_busy to clear */
  fs_req *close_req;    /* close queued until inflight drops to 0 */
  char *stash;          /* bytes of a cancelled read (cannot seek) */
  size_t stash_len, stash_off;
  unsigned char closed;   /* no more operations (or not open yet) */
  unsigned char seq_busy; /* a read/write without offset is in flight */
  unsigned char noseek;   /* pread said ESPIPE: use the kernel position */
  unsigned char append;   /* O_APPEND */
};

/* [-0, +(0|1), m] A new fs request of 'kind' (guarded: its guard is
** pushed), bound to its uv_fs_t, with loom__fs_cleanup. */
fs_req *loom__fs_req_new(lua_State *L, loom_ctx *ctx, int kind);
/* Frees what an fs request owns: the uv_fs_t's results and 'buf'. */
void loom__fs_cleanup(loom_req *r);
/* [-0, +(1|3), y] The tail of every fs call: if libuv refused the
** request ('rc' < 0), free it and return the fail tuple; else wait for it
** (abandoned when cancelled), 'k' continuing. */
int loom__fs_go(lua_State *L, loom_task *t, fs_req *q, int rc,
                lua_KFunction k);
/* [-0, +0, v] The permission bits at 'idx' (a number), or 'def'. */
lua_Integer loom__fs_checkmode(lua_State *L, int idx, lua_Integer def);
/* [-0, +(1|3), e] Continuation: the stat table of the request, or the
** fail tuple. */
int loom__fs_k_stat(lua_State *L, int status, lua_KContext kc);

/* {====================================================================
** filestate.c: a File's descriptor, its requests in flight, closing
** ===================================================================== */
/* [-0, +0, -] The live context of 'f', NULL during or after teardown. */
loom_ctx *loom__file_ctx(fs_file *f);
/* [-0, +0, -] Drop a reference to 'f'; the last one frees it. */
void loom__file_unref(fs_file *f);
/* Frees what a request on a File owns, and its reference to the File
** (pure C; also after teardown). */
void loom__file_req_cleanup(loom_req *r);
/* [-0, +0, -] Submit close request 'q' for 'fd' (pure C); on refusal, or
** when the context is gone, close at once and complete 'q'. */
void loom__file_close_submit(fs_req *q, uv_file fd);
/* [-0, +0, -] Mark 'f' closed: wake the tasks waiting to read or write
** (they raise "closed"), drop the stash. Pure C. */
void loom__file_mark_closed(fs_file *f);
/* [-0, +0, -] Close 'f' in the background (__gc, __close, a close outside
** a task or a cancelled close); pure C, never blocks the loop. */
void loom__file_close_bg(fs_file *f);
/* [-0, +0, -] Close the open 'f' with request 'q', which a task waits
** for; returns 0 or a libuv error (the descriptor closed at once). */
int loom__file_close_with(loom_ctx *ctx, fs_file *f, fs_req *q);
/* [-0, +0, m] Request 'q' starts on the open 'f': a reference to 'f', one
** more in flight, and with 'seq' the turn of reads/writes without
** offset. */
void loom__file_op_start(fs_file *f, fs_req *q, int seq);
/* [-0, +0, -] Undo loom__file_op_start after libuv refused 'q'. */
void loom__file_op_refused(fs_file *f, fs_req *q);
/* [-0, +0, -] Request 'q' on 'f' has ended (pure C): let the next
** read/write go; close the descriptor if a close waits for it. */
void loom__file_op_done(fs_file *f, fs_req *q);

#endif
