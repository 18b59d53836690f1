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

/* Read modes: what a blocked reader waits for. */
#define RM_ANY 1     /* at least one byte */
#define RM_EXACT 2   /* s->want bytes */
#define RM_LINE 3    /* a newline */

#define BUF_SIZE LOOM_STREAM_BUF   /* grows for long reads */

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
** now holds (it takes the bytes itself, DESIGN.md B10). */
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
  loom__waiting(t, s->kind == LOOM_TCP ? "tcp read" : "pipe read");
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
  loom_stream *s = loom__stream_check(L, 1);
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
  loom_stream *s = loom__stream_check(L, 1);
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
  loom_stream *s = loom__stream_check(L, 1);
  loom_task *t;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  return read_op(L, ctx, s, t, RM_LINE, 0, 0);
}

static const luaL_Reg read_methods[] = {
  {"read", l_stream_read},
  {"read_exactly", l_stream_read_exactly},
  {"read_line", l_stream_read_line},
  {NULL, NULL}
};

/* [-0, +0, m] Add the read methods to the Stream class. */
void loom__stream_read_open(lua_State *L, loom_ctx *ctx) {
  loom__class_extend(L, ctx, LOOM_STREAM_MT, read_methods);
}
