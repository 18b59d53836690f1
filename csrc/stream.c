/*
** stream.c: byte streams over any uv_stream_t (TCP, Unix pipes, child
** stdio), the Stream objects of API section 7. Listeners are in
** listener.c; both are declared in stream.h.
**
** Reading. Bytes land in the stream's receive buffer (B10), never in the
** wake-up of a task: libuv reads straight into the free end of the buffer
** and each read copies once, from the buffer into a Lua string. Reading
** starts at the first read and goes on while the buffer has room; when it
** is full and nobody is waiting for more, reading stops (backpressure:
** the kernel's window closes) until a read takes bytes out. A blocked
** reader waits for a condition (any byte, n bytes, a newline); the read
** callback wakes it only when the condition holds, and the woken reader
** takes its bytes from the buffer, so a reader cancelled at any moment
** loses nothing. End of stream and read errors are sticky. One task reads
** a stream at a time.
**
** Writing. A write first tries uv_try_write; what the kernel does not
** take at once goes out with uv_write straight from the Lua string,
** pinned by its request until the write callback (B5). A write that has
** to wait can be cancelled, but not taken back: an unknown part of the
** data may have gone out. So the abort of a pending write (or shutdown)
** closes the stream, which makes libuv end the pending requests with
** UV_ECANCELED: the writer raises Cancelled at once, and the stream is
** unusable afterwards, like a Trio stream whose send_all was cancelled. A
** write that completed before the cancellation returns normally (the
** Cancelled comes at the next checkpoint).
**
** Closing. s:close() and the __gc/__close metamethods are one idempotent,
** non-blocking operation (B7): a task blocked reading is woken and raises
** "closed"; writes in flight end with UV_ECANCELED, reported the same way.
*/
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

/* Read modes: what a blocked reader waits for. */
#define RM_ANY 1     /* at least one byte */
#define RM_EXACT 2   /* s->want bytes */
#define RM_LINE 3    /* a newline */

#define BUF_SIZE (64 * 1024)   /* receive buffer; grows for long reads */

/* [-0, +0, -] Free the receive buffer with the block. */
static void stream_finalize(loom_handle *h) {
  loom_stream *s = (loom_stream *)h;
  free(s->buf);
  s->buf = NULL;
}

static const loom_handle_type stream_type = {"stream", NULL,
                                             stream_finalize, 0};

/* [-0, +1, v] Raise the "closed" error of a stream. */
static int closed_error(lua_State *L) {
  return loom__error(L, "loom: the stream is closed");
}

/* [-0, +0, v] The open Stream at 'idx' (raises "closed" once closed). */
static loom_stream *check_stream(lua_State *L, int idx) {
  loom_stream *s = (loom_stream *)loom__handle_check(L, idx, LOOM_STREAM_MT);
  if (s->closed) closed_error(L);
  return s;
}

/* {====================================================================
** Receive buffer
** ===================================================================== */

static void on_read(uv_stream_t *us, ssize_t n, const uv_buf_t *b);

/* Alloc callback (libuv context, pure C): give libuv the free end of
** the buffer; allocate it first, compact it when the free end is small,
** grow it when it is full and a reader waits for more. */
static void on_alloc(uv_handle_t *uh, size_t suggested, uv_buf_t *b) {
  loom_stream *s = (loom_stream *)uh->data;
  (void)suggested;
  b->base = NULL;
  b->len = 0;
  if (s->buf == NULL) {
    s->buf = (char *)malloc(BUF_SIZE);
    if (s->buf == NULL) return;   /* UV_ENOBUFS: reading pauses */
    s->cap = BUF_SIZE;
    s->head = 0;
  }
  if (s->head > 0 && s->cap - (s->head + s->len) < s->cap / 4) {
    memmove(s->buf, s->buf + s->head, s->len);
    s->head = 0;
  }
  if (s->len == s->cap && s->reader != NULL) {
    size_t ncap = 2 * s->cap;
    char *nb;
    if (s->rmode == RM_EXACT && s->want > ncap) ncap = s->want;
    nb = (char *)realloc(s->buf, ncap);
    if (nb == NULL) return;
    s->buf = nb;
    s->cap = ncap;
  }
  b->base = s->buf + s->head + s->len;
  b->len = s->cap - (s->head + s->len);
}

/* [-0, +0, -] Stop reading (the buffer is full, or the stream ended). */
static void stream_stop(loom_stream *s) {
  if (s->reading) {
    uv_read_stop(&s->u.stream);
    s->reading = 0;
  }
}

/* [-0, +0, -] Make sure reading is on unless the stream has ended or the
** buffer is full with no reader waiting; returns 0 or a libuv error. */
static int stream_start(loom_stream *s) {
  int rc;
  if (s->reading || s->eof || s->rerr != 0 || s->closed) return 0;
  if (s->buf != NULL && s->len == s->cap && s->reader == NULL) return 0;
  rc = uv_read_start(&s->u.stream, on_alloc, on_read);
  if (rc == 0) s->reading = 1;
  return rc;
}

/* Read callback (libuv context, pure C): account the bytes libuv put in
** the buffer, record EOF or an error, wake the reader if its condition
** now holds (it takes the bytes itself, B10). */
static void on_read(uv_stream_t *us, ssize_t n, const uv_buf_t *b) {
  loom_stream *s = (loom_stream *)us->data;
  loom_ctx *ctx = loom__handle_ctx(&s->h);
  int ready = 0;
  if (n > 0) {
    s->len += (size_t)n;
    switch (s->rmode) {
      case RM_ANY: ready = 1; break;
      case RM_EXACT: ready = s->len >= s->want; break;
      default: ready = memchr(b->base, '\n', (size_t)n) != NULL; break;
    }
    if (s->len == s->cap && s->reader == NULL) stream_stop(s);  /* full */
  } else if (n == UV_ENOBUFS) {
    stream_stop(s);        /* out of memory: wait for the next read */
  } else if (n == UV_EOF) {
    s->eof = 1;
    stream_stop(s);
    ready = 1;
  } else if (n < 0) {
    s->rerr = (int)n;
    stream_stop(s);
    ready = 1;
  }
  if (ready && s->reader != NULL && ctx != NULL) {
    loom_task *t = s->reader;
    s->reader = NULL;
    loom__wake(ctx, t, TW_OK);
  }
}

/* [-0, +0, -] Take 'k' bytes off the front of the buffer; give back a
** buffer that a long read grew once it is empty. */
static void consume(loom_stream *s, size_t k) {
  s->head += k;
  s->len -= k;
  s->scan = 0;
  if (s->len == 0) {
    s->head = 0;
    if (s->cap > BUF_SIZE) {   /* give back what a long read grew */
      free(s->buf);
      s->buf = NULL;
      s->cap = 0;
    }
  }
}

/* [-0, +(0|1|3), m] Satisfy a read of 'mode' (limit or count 'n') from
** the buffer: push its result and return the number of values, or return
** -1 (nothing pushed) if it has to wait. EOF and errors are sticky. */
static int read_take(lua_State *L, loom_stream *s, int mode, size_t n) {
  const char *p = s->buf + s->head;
  if (s->len > 0) {
    if (mode == RM_ANY) {
      size_t k = s->len < n ? s->len : n;
      lua_pushlstring(L, p, k);
      consume(s, k);
      return 1;
    } else if (mode == RM_EXACT) {
      if (s->len >= n) {
        lua_pushlstring(L, p, n);
        consume(s, n);
        return 1;
      }
    } else {
      const char *nl = NULL;
      if (s->len > s->scan)
        nl = (const char *)memchr(p + s->scan, '\n', s->len - s->scan);
      if (nl != NULL) {
        size_t k = (size_t)(nl - p), e = k;
        if (e > 0 && p[e - 1] == '\r') e--;
        lua_pushlstring(L, p, e);
        consume(s, k + 1);
        return 1;
      }
      s->scan = s->len;
    }
  } else if (mode == RM_EXACT && n == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (s->rerr != 0) return loom__fail(L, s->rerr);
  if (s->eof) {
    if (mode == RM_LINE && s->len > 0) {   /* last line, no newline */
      lua_pushlstring(L, p, s->len);
      consume(s, s->len);
      return 1;
    }
    lua_pushnil(L);   /* read_exactly: what came stays buffered */
    return 1;
  }
  return -1;
}

static int k_read(lua_State *L, int status, lua_KContext kc);

/* Abort of a blocked read (pure C): nothing to undo, the bytes stay
** buffered (SUCCEEDED). */
static int read_abort(loom_ctx *ctx, loom_task *t) {
  loom_stream *s = (loom_stream *)t->wait_obj;
  (void)ctx;
  s->reader = NULL;
  return LOOM_ABORT_SUCCEEDED;
}

/* [-0, +(1|3), y] Read from the Stream at index 1 in 'mode': return what
** the buffer gives, or block until it can. 'again': resumed after a wake
** that did not satisfy the read (test cancellation before blocking). */
static int read_op(lua_State *L, loom_ctx *ctx, loom_stream *s,
                   loom_task *t, int mode, size_t n, int again) {
  int r, rc;
  if (s->closed) return closed_error(L);
  r = read_take(L, s, mode, n);
  if (r >= 0) {
    if (!s->reading) stream_start(s);   /* room again: resume reading */
    return r;
  }
  if (s->reader != NULL && s->reader != t)
    return loom__error(L, "loom: another task is already reading from this "
                       "stream");
  if (again) loom__check_cancel(L, ctx, t);
  if (mode == RM_EXACT && n > s->cap) {   /* make room for all of it */
    size_t ncap = n > BUF_SIZE ? n : BUF_SIZE;
    char *nb = (char *)realloc(s->buf, ncap);
    if (nb == NULL) return loom__error(L, "loom: out of memory (read)");
    if (s->buf == NULL) s->head = 0;
    s->buf = nb;
    s->cap = ncap;
  }
  s->rmode = (unsigned char)mode;
  s->want = n;
  s->reader = t;
  rc = stream_start(s);
  if (rc < 0) {
    s->reader = NULL;
    return loom__fail(L, rc);
  }
  return loom__suspend(L, t, read_abort, s, k_read);
}

/* [-0, +(1|3), y] Continuation of the reads: the Stream is at index 1,
** the mode and count in the stream. */
static int k_read(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = (loom_task *)kc;
  loom_stream *s;
  (void)status;
  loom__resumed(L, ctx, t);
  s = (loom_stream *)loom__handle_box(L, 1);
  return read_op(L, ctx, s, t, s->rmode, s->want, 1);
}

/* [-2, +(1|3), y] Checkpoint. s:read([max]) -> string of 1..max bytes |
** nil at EOF | nil, code, message. */
static int l_stream_read(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_stream *s = check_stream(L, 1);
  size_t max = (size_t)-1;
  loom_task *t;
  if (!lua_isnoneornil(L, 2)) {
    lua_Integer m = loom__checkinteger(L, 2);
    loom__argcheck(L, m >= 1, 2, "max must be at least 1");
    max = (size_t)m;
  }
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  return read_op(L, ctx, s, t, RM_ANY, max, 0);
}

/* [-2, +(1|3), y] Checkpoint. s:read_exactly(n) -> string of n bytes |
** nil at EOF (the partial bytes stay buffered) | nil, code, message. */
static int l_stream_read_exactly(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_stream *s = check_stream(L, 1);
  lua_Integer n = loom__checkinteger(L, 2);
  loom_task *t;
  loom__argcheck(L, n >= 0, 2, "count must not be negative");
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  return read_op(L, ctx, s, t, RM_EXACT, (size_t)n, 0);
}

/* [-1, +(1|3), y] Checkpoint. s:read_line() -> line without "\n" (or
** "\r\n") | the last line at EOF | nil | nil, code, message. */
static int l_stream_read_line(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_stream *s = check_stream(L, 1);
  loom_task *t;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  return read_op(L, ctx, s, t, RM_LINE, 0, 0);
}

/* {====================================================================
** Writing and shutting down
** ===================================================================== */

/* A write or shutdown request of a stream. */
typedef struct stream_req {
  loom_req r;
  loom_stream *s;         /* the stream's block (alive until the request
                          ** ends: libuv calls back before it closes) */
  union {
    uv_write_t w;
    uv_shutdown_t sh;
  } u;
} stream_req;

/* Write callback (libuv context, pure C): hand the status to the
** writer. */
static void on_write(uv_write_t *w, int status) {
  stream_req *q = (stream_req *)loom__req_of(w);
  q->s->nwrites--;
  q->r.status = status;
  loom__req_finish(&q->r);
}

/* Shutdown callback (libuv context, pure C). */
static void on_shutdown(uv_shutdown_t *sh, int status) {
  stream_req *q = (stream_req *)loom__req_of(sh);
  q->r.status = status;
  loom__req_finish(&q->r);
}

/* Abort of a pending write or shutdown (pure C): its data may be partly
** sent, so the stream cannot go on; close it (libuv ends the request with
** UV_ECANCELED, and its callback frees it). SUCCEEDED. */
static int write_abort(loom_ctx *ctx, loom_task *t) {
  stream_req *q = (stream_req *)t->wait_obj;
  (void)ctx;
  loom__req_detach(&q->r);
  loom__stream_close(q->s);
  return LOOM_ABORT_SUCCEEDED;
}

/* [-1, +(1|3), v] Continuation of write and shutdown: the Stream is at
** index 1, the request on top. Returns the stream, or a fail tuple;
** raises "closed" if a close cut it short. */
static int k_req_done(lua_State *L, int status, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, loom_ctxup(L), kc);
  loom_stream *s = (loom_stream *)loom__handle_box(L, 1);
  int st = r->status;
  (void)status;
  loom__req_free(L, r);
  if (st == UV_ECANCELED && (s == NULL || s->closed))
    return closed_error(L);
  if (st < 0) return loom__fail(L, st);
  lua_settop(L, 1);
  return 1;
}

/* [-0, +0, m] A new write or shutdown request of 's'. */
static stream_req *stream_req_new(lua_State *L, loom_ctx *ctx,
                                  loom_stream *s) {
  stream_req *q = (stream_req *)loom__req_new(L, ctx, sizeof(stream_req),
                                               0);
  q->s = s;
  return q;
}

/* [-2, +(1|3), y] Checkpoint. s:write(data) -> s | nil, code, message.
** Returns when the kernel has the data: what uv_try_write does not take
** goes out with uv_write from the pinned Lua string (no copy). */
static int l_stream_write(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_stream *s = check_stream(L, 1);
  size_t len, off = 0;
  const char *data = loom__checklstring(L, 2, &len);
  loom_task *t;
  stream_req *q;
  uv_buf_t b;
  int rc;
  loom__argcheck(L, len <= 0x7fffffff, 2, "string too long (2 GiB at most)");
  lua_settop(L, 2);
  t = loom__checkpoint_enter(L, ctx);
  if (len == 0) {
    lua_settop(L, 1);
    return 1;
  }
  if (s->nwrites == 0) {
    b = uv_buf_init((char *)data, (unsigned int)len);
    rc = uv_try_write(&s->u.stream, &b, 1);
    if (rc >= 0 && (size_t)rc == len) {
      lua_settop(L, 1);
      return 1;
    }
    if (rc < 0 && rc != UV_EAGAIN) return loom__fail(L, rc);
    if (rc > 0) off = (size_t)rc;
  }
  q = stream_req_new(L, ctx, s);
  loom__req_bind(&q->r, &q->u.w);
  loom__req_pin(L, &q->r, 2);          /* the string (B5) */
  b = uv_buf_init((char *)data + off, (unsigned int)(len - off));
  rc = uv_write(&q->u.w, &s->u.stream, &b, 1, on_write);
  if (rc < 0) return loom__req_fail(L, &q->r, rc);
  q->r.flags |= RQ_SUBMITTED;
  s->nwrites++;
  return loom__req_wait(L, t, &q->r, write_abort, k_req_done);
}

/* [-1, +(1|3), y] Checkpoint. s:shutdown() -> s | nil, code, message:
** end the write side once pending writes are out (the peer reads EOF).
** A second call does nothing. Cancelled while pending, it closes the
** stream, as a cancelled write does. */
static int l_stream_shutdown(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_stream *s = check_stream(L, 1);
  loom_task *t;
  stream_req *q;
  int rc;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  if (s->shut) return 1;
  q = stream_req_new(L, ctx, s);
  loom__req_bind(&q->r, &q->u.sh);
  rc = uv_shutdown(&q->u.sh, &s->u.stream, on_shutdown);
  if (rc < 0) return loom__req_fail(L, &q->r, rc);
  q->r.flags |= RQ_SUBMITTED;
  s->shut = 1;
  return loom__req_wait(L, t, &q->r, write_abort, k_req_done);
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
  loom__checkudata(L, 1, LOOM_STREAM_MT);
  s = (loom_stream *)loom__handle_box(L, 1);
  if (s != NULL) loom__stream_close(s);
  return 0;
}

/* [-1, +0, -] __gc: close, let the block go (B7). Never raises. */
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
  loom_stream *s = check_stream(L, 1);
  return loom__push_endpoint(L, s->kind, &s->u.handle, 1);
}

/* [-1, +(2|3), v] s:sockname() -> addr, port (a pipe: path, nil). */
static int l_stream_sockname(lua_State *L) {
  loom_stream *s = check_stream(L, 1);
  return loom__push_endpoint(L, s->kind, &s->u.handle, 0);
}

/* [-2, +(1|3), v] s:set_nodelay(on) -> s: TCP_NODELAY (on by default). */
static int l_stream_set_nodelay(lua_State *L) {
  loom_stream *s = check_stream(L, 1);
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

static const luaL_Reg stream_methods[] = {
  {"read", l_stream_read},
  {"read_exactly", l_stream_read_exactly},
  {"read_line", l_stream_read_line},
  {"write", l_stream_write},
  {"shutdown", l_stream_shutdown},
  {"close", l_stream_close},
  {"peername", l_stream_peername},
  {"sockname", l_stream_sockname},
  {"set_nodelay", l_stream_set_nodelay},
  {NULL, NULL}
};

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

/* [-0, +0, m] Set up the I/O state; register the Stream and Listener
** metatables, their method tables as core.stream_methods and
** core.listener_methods (stream.lua wraps them to raise IOError). */
void loom__stream_open(lua_State *L, loom_ctx *ctx) {
  loom__handles_open(L, ctx);
  ignore_sigpipe();
  luaL_newmetatable(L, LOOM_STREAM_MT);
  lua_newtable(L);
  loom__setfuncs(L, ctx, stream_methods);
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "stream_methods");
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_stream_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_stream_close);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, l_stream_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  loom__listener_open(L, ctx);
}
