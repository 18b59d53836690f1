/*
** stream_read.c: reading a Stream (API: s:read, s:read_exactly,
** s:read_line), the receive buffer and libuv's read callbacks.
**
** Reading. Bytes land in the stream's receive buffer (DESIGN.md B10), never in
** the wake-up of a task: libuv reads straight into the free end of the buffer
** and each read copies once, from the buffer into a Lua string. Reading
** starts at the first read and goes on while the buffer has room; when it
** is full and nobody is waiting for more, reading stops (backpressure:
** the kernel's window closes) until a read takes bytes out. A blocked
** reader waits for a condition (any byte, n bytes, a newline); the read
** callback wakes it only when the condition holds, and the woken reader
** takes its bytes from the buffer, so a reader cancelled at any moment
** loses nothing. End of stream and read errors are sticky. One task reads
** a stream at a time.
*/
#include <stdlib.h>
#include <string.h>

#include "io.h"

#define RM_ANY LOOM_RM_ANY
#define RM_EXACT LOOM_RM_EXACT
#define RM_LINE LOOM_RM_LINE

/* {====================================================================
** Receive buffer (rbuf.c holds the bytes and takes the results)
** ===================================================================== */

static void on_read(uv_stream_t *us, ssize_t n, const uv_buf_t *b);

/* Alloc callback (libuv context, pure C): give libuv the free end of the
** buffer, which grows only when it is full and a reader waits for more
** (rbuf.c). */
static void on_alloc(uv_handle_t *uh, size_t suggested, uv_buf_t *b) {
  loom_stream *s = (loom_stream *)uh->data;
  size_t room = loom__rbuf_room(&s->rb, s->reader != NULL);
  (void)suggested;
  b->base = room > 0 ? loom__rbuf_tail(&s->rb) : NULL;
  b->len = room;   /* 0: UV_ENOBUFS, reading pauses */
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
  if (s->rb.buf != NULL && s->rb.len == s->rb.cap && s->reader == NULL)
    return 0;
  rc = uv_read_start(&s->u.stream, on_alloc, on_read);
  if (rc == 0) s->reading = 1;
  return rc;
}

/* Read callback (libuv context, pure C): account the bytes libuv put in
** the buffer, record EOF or an error, wake the reader if its condition
** now holds (it takes the bytes itself, DESIGN.md B10). */
static void on_read(uv_stream_t *us, ssize_t n, const uv_buf_t *b) {
  loom_stream *s = (loom_stream *)us->data;
  loom_ctx *ctx = loom__handle_ctx(&s->h);
  int ready = 0;
  if (n > 0) {
    s->rb.len += (size_t)n;
    ready = loom__rbuf_ready(&s->rb, b->base, (size_t)n);
    if (s->rb.len == s->rb.cap && s->reader == NULL) stream_stop(s);
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

/* [-0, +(0|1|3), m] Satisfy a read of 'mode' ('n': the limit, the count
** or the longest line) from the buffer: push its result and return the
** number of values, or return -1 (nothing pushed) if it has to wait. EOF
** and errors are sticky; bytes already buffered come first. */
static int read_take(lua_State *L, loom_stream *s, int mode, size_t n) {
  int r = loom__rbuf_take(L, &s->rb, mode, n, 0);
  if (r >= 0) return r;
  if (s->rerr != 0) return loom__fail(L, s->rerr);
  if (s->eof) return loom__rbuf_take(L, &s->rb, mode, n, 1);
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

/* [-0, +(1|3), y] Read from the Stream at index 1 in 'mode' ('n': the
** limit, the count or the longest line): return what the buffer gives,
** or block until it can. 'again': resumed after a wake that did not
** satisfy the read (test cancellation before blocking). No memory is
** reserved for bytes that have not come (rbuf.c, "Growth"). */
static int read_op(lua_State *L, loom_ctx *ctx, loom_stream *s,
                   loom_task *t, int mode, size_t n, int again) {
  int r, rc;
  if (s->closed) return loom__stream_closed(L);
  r = read_take(L, s, mode, n);
  if (r >= 0) {
    if (!s->reading) stream_start(s);   /* room again: resume reading */
    return r;
  }
  if (s->reader != NULL && s->reader != t)
    return loom__error(L, "loom: another task is already reading from this "
                       "stream");
  if (again) loom__check_cancel(L, ctx, t);
  loom__rbuf_expect(&s->rb, mode, n);
  s->reader = t;
  rc = stream_start(s);
  if (rc < 0) {
    s->reader = NULL;
    return loom__fail(L, rc);
  }
  loom__waiting(t, s->kind == LOOM_TCP ? "tcp read" : "pipe read");
  return loom__suspend(L, t, read_abort, s, k_read);
}

/* [-0, +(1|3), y] Continuation of the reads: the Stream is at index 1,
** the mode and count in its buffer. */
static int k_read(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = (loom_task *)kc;
  loom_stream *s;
  (void)status;
  loom__resumed(L, ctx, t);
  s = (loom_stream *)loom__handle_box(L, 1);
  return read_op(L, ctx, s, t, s->rb.mode, s->rb.want, 1);
}

/* [-0, +0, v] The 'want' of a read of 'mode' from its argument at index
** 2 (shared with the TLS streams, tls.c): read's max (none: unlimited),
** read_exactly's count, read_line's options {max = n} (none: unlimited). */
size_t loom__read_arg(lua_State *L, int *mode) {
  lua_Integer m;
  if (*mode == LOOM_RM_ALL) return (size_t)-1;
  if (*mode == RM_EXACT) {
    m = loom__checkinteger(L, 2);
    loom__argcheck(L, m >= 0, 2, "count must not be negative");
    return (size_t)m;
  }
  if (lua_isnoneornil(L, 2)) return (size_t)-1;
  if (*mode == RM_ANY) {
    m = loom__checkinteger(L, 2);
    loom__argcheck(L, m >= 1, 2, "max must be at least 1");
    return (size_t)m;
  }
  loom__checktype(L, 2, LUA_TTABLE);
  if (lua_getfield(L, 2, "keep") != LUA_TNIL) {
    loom__argcheck(L, lua_isboolean(L, -1), 2, "opts.keep must be a boolean");
    if (lua_toboolean(L, -1)) *mode = LOOM_RM_LINEKEEP;
  }
  lua_pop(L, 1);
  if (lua_getfield(L, 2, "max") == LUA_TNIL) return (size_t)-1;
  loom__argcheck(L, lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0, 2,
                 "opts.max must be a non-negative integer");
  return (size_t)lua_tointeger(L, -1);
}

/* [-2, +(1|3), y] The reads; each is a checkpoint. */
static int stream_read_mode(lua_State *L, int mode) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_stream *s = loom__stream_check(L, 1);
  size_t n = loom__read_arg(L, &mode);
  loom_task *t;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  return read_op(L, ctx, s, t, mode, n, 0);
}

/* [-2, +(1|3), y] Checkpoint. s:read([max]) -> string of 1..max bytes |
** nil at EOF | nil, code, message. */
static int l_stream_read(lua_State *L) {
  return stream_read_mode(L, RM_ANY);
}

/* [-2, +(1|3), y] Checkpoint. s:read_exactly(n) -> string of n bytes |
** nil at EOF (the partial bytes stay buffered) | nil, code, message. The
** buffer grows as the bytes come, never ahead of them. */
static int l_stream_read_exactly(lua_State *L) {
  return stream_read_mode(L, RM_EXACT);
}

/* [-2, +(1|3), y] Checkpoint. s:read_line([{max = n, keep = b}]) -> line
** without "\n" (or "\r\n"; kept with keep) | the last line at EOF | nil |
** nil, code, message; ELINETOOLONG once a line has more than n bytes (they
** stay buffered). */
static int l_stream_read_line(lua_State *L) {
  return stream_read_mode(L, RM_LINE);
}

/* [-1, +(1|3), y] Checkpoint. s:read_all() -> every byte up to the end of
** the stream ("" if none came) | nil, code, message (what arrived stays
** buffered). */
static int l_stream_read_all(lua_State *L) {
  return stream_read_mode(L, LOOM_RM_ALL);
}

/* {====================================================================
** Waiting for ciphertext (tls.c)
** ===================================================================== */

/* [-0, +0, y] Suspend 't' until 's' has a byte buffered, has ended,
** failed or been closed (the TLS layer's wait for ciphertext): 't'
** becomes the stream's reader, 'abort' and 'obj' its wait, 'k' its
** continuation, which takes the bytes with loom__stream_take. Returns a
** libuv error if reading cannot start; otherwise it does not return. */
int loom__stream_wait(lua_State *L, loom_task *t, loom_stream *s,
                      loom_abort_fn abort, void *obj, lua_KFunction k) {
  int rc;
  loom__rbuf_expect(&s->rb, RM_ANY, (size_t)-1);
  s->reader = t;
  rc = stream_start(s);
  if (rc < 0) {
    s->reader = NULL;
    return rc;
  }
  return loom__suspend(L, t, abort, obj, k);
}

/* [-0, +0, -] Take the first 'k' buffered bytes of 's' (the caller has
** copied them) and read on if the buffer had filled. */
void loom__stream_take(loom_stream *s, size_t k) {
  loom__rbuf_consume(&s->rb, k);
  if (!s->reading) stream_start(s);
}

static const luaL_Reg read_methods[] = {
  {"read", l_stream_read},
  {"read_exactly", l_stream_read_exactly},
  {"read_line", l_stream_read_line},
  {"read_all", l_stream_read_all},
  {NULL, NULL}
};

/* [-0, +0, m] Add the read methods to the Stream class. */
void loom__stream_read_open(lua_State *L, loom_ctx *ctx) {
  loom__class_extend(L, ctx, LOOM_STREAM_MT, read_methods);
}
