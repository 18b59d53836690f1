/*
** stream_write.c: writing a Stream (API: s:write, s:shutdown).
**
** Writing. A write first tries uv_try_write; what the kernel does not
** take at once goes out with uv_write straight from the Lua string,
** pinned by its request until the write callback (DESIGN.md B5). A write that
** has to wait can be cancelled, but not taken back: an unknown part of the
** data may have gone out. So the abort of a pending write (or shutdown)
** closes the stream, which makes libuv end the pending requests with
** UV_ECANCELED: the writer raises Cancelled at once, and the stream is
** unusable afterwards, like a Trio stream whose send_all was cancelled. A
** write that completed before the cancellation returns normally (the
** Cancelled comes at the next checkpoint).
**
** C writers (the TLS layer, tls.c) send bytes that live in no Lua string
** with loom__stream_send: what uv_try_write does not take is copied into
** the request's own malloc'd block (DESIGN.md B6), in order with the other
** writes.
*/
#include <stdlib.h>
#include <string.h>

#include "io.h"

/* {====================================================================
** Writing and shutting down
** ===================================================================== */

/* A write or shutdown request of a stream. */
typedef struct stream_req {
  loom_req r;
  loom_stream *s;         /* the stream's block (alive until the request
                          ** ends: libuv calls back before it closes) */
  char *copy;             /* loom__stream_send's copy of the data */
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
int loom__stream_write_abort(loom_ctx *ctx, loom_task *t) {
  stream_req *q = (stream_req *)t->wait_obj;
  (void)ctx;
  loom__req_detach(&q->r);
  loom__stream_close(q->s);
  return LOOM_ABORT_SUCCEEDED;
}

/* [-0, +(0|3), v] The end of the wait for a write or shutdown request
** 'r' of 's' (NULL: collected), taken with loom__req_resumed: free it;
** 0 if it succeeded, else push the fail tuple (3), or raise "closed" if a
** close cut it short. */
int loom__stream_req_done(lua_State *L, loom_req *r, loom_stream *s) {
  int st = r->status;
  loom__req_free(L, r);
  if (st == UV_ECANCELED && (s == NULL || s->closed))
    return loom__stream_closed(L);
  return st < 0 ? loom__fail(L, st) : 0;
}

/* [-1, +(1|3), v] Continuation of write and shutdown: the Stream is at
** index 1, the request on top. Returns the stream, or a fail tuple;
** raises "closed" if a close cut it short. */
static int k_req_done(lua_State *L, int status, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, loom_ctxup(L), kc);
  int n = loom__stream_req_done(L, r,
                                (loom_stream *)loom__handle_box(L, 1));
  (void)status;
  if (n > 0) return n;
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

/* [-0, +0, -] Hand 'len' bytes at 'data' to the kernel at once if no
** write is in flight (they would go first): returns 1 if it took them
** all, 0 with '*off' set to what it took, or a libuv error. */
static int try_first(loom_stream *s, const char *data, size_t len,
                     size_t *off) {
  uv_buf_t b;
  int rc;
  *off = 0;
  if (s->nwrites > 0) return 0;
  b = uv_buf_init((char *)data, (unsigned int)len);
  rc = uv_try_write(&s->u.stream, &b, 1);
  if (rc >= 0 && (size_t)rc == len) return 1;
  if (rc < 0 && rc != UV_EAGAIN) return rc;
  if (rc > 0) *off = (size_t)rc;
  return 0;
}

/* Frees loom__stream_send's copy with its request (pure C). */
static void copy_cleanup(loom_req *r) {
  free(((stream_req *)r)->copy);
}

/* [-0, +0, m] Send 'len' bytes at 'data' (not a Lua value) on the open
** 's', after the writes in flight: what uv_try_write does not take is
** copied into the request's block. Returns 0 when the kernel took it all,
** 1 with '*req' set to the request in flight, or a libuv error. The caller
** waits for '*req' (loom__req_wait with loom__stream_write_abort, then
** loom__stream_req_done) or lets it go (loom__req_detach: its callback
** frees it). */
int loom__stream_send(lua_State *L, loom_ctx *ctx, loom_stream *s,
                      const char *data, size_t len, loom_req **req) {
  size_t off;
  stream_req *q;
  uv_buf_t b;
  int rc = try_first(s, data, len, &off);
  *req = NULL;
  if (rc != 0) return rc < 0 ? rc : 0;
  q = stream_req_new(L, ctx, s);
  q->copy = (char *)malloc(len - off);
  if (q->copy == NULL) {
    loom__req_free(L, &q->r);
    return UV_ENOMEM;
  }
  memcpy(q->copy, data + off, len - off);
  q->r.cleanup = copy_cleanup;
  loom__req_bind(&q->r, &q->u.w);
  b = uv_buf_init(q->copy, (unsigned int)(len - off));
  rc = uv_write(&q->u.w, &s->u.stream, &b, 1, on_write);
  if (rc < 0) {
    loom__req_free(L, &q->r);   /* frees the copy */
    return rc;
  }
  q->r.flags |= RQ_SUBMITTED;
  s->nwrites++;
  *req = &q->r;
  return 1;
}

/* [-2, +(1|3), y] Checkpoint. s:write(data) -> s | nil, code, message.
** Returns when the kernel has the data: what uv_try_write does not take
** goes out with uv_write from the pinned Lua string (no copy). */
static int l_stream_write(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_stream *s = loom__stream_check(L, 1);
  size_t len, off;
  const char *data = loom__checklstring(L, 2, &len);
  loom_task *t;
  stream_req *q;
  uv_buf_t b;
  int rc;
  loom__argcheck(L, len <= 0x7fffffff, 2, "string too long (2 GiB at most)");
  lua_settop(L, 2);
  t = loom__checkpoint_enter(L, ctx);
  rc = len == 0 ? 1 : try_first(s, data, len, &off);
  if (rc < 0) return loom__fail(L, rc);
  if (rc > 0) {
    lua_settop(L, 1);
    return 1;
  }
  q = stream_req_new(L, ctx, s);
  loom__req_bind(&q->r, &q->u.w);
  loom__req_pin(L, &q->r, 2);          /* the string (DESIGN.md B5) */
  b = uv_buf_init((char *)data + off, (unsigned int)(len - off));
  rc = uv_write(&q->u.w, &s->u.stream, &b, 1, on_write);
  if (rc < 0) return loom__req_fail(L, &q->r, rc);
  q->r.flags |= RQ_SUBMITTED;
  s->nwrites++;
  loom__waiting(t, s->kind == LOOM_TCP ? "tcp write" : "pipe write");
  return loom__req_wait(L, t, &q->r, loom__stream_write_abort, k_req_done);
}

/* [-1, +(1|3), y] Checkpoint. s:shutdown() -> s | nil, code, message:
** end the write side once pending writes are out (the peer reads EOF).
** A second call does nothing. Cancelled while pending, it closes the
** stream, as a cancelled write does. */
static int l_stream_shutdown(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_stream *s = loom__stream_check(L, 1);
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
  loom__waiting(t, s->kind == LOOM_TCP ? "tcp shutdown" : "pipe shutdown");
  return loom__req_wait(L, t, &q->r, loom__stream_write_abort, k_req_done);
}

static const luaL_Reg write_methods[] = {
  {"write", l_stream_write},
  {"shutdown", l_stream_shutdown},
  {NULL, NULL}
};

/* [-0, +0, m] Add the write methods to the Stream class. */
void loom__stream_write_open(lua_State *L, loom_ctx *ctx) {
  loom__class_extend(L, ctx, LOOM_STREAM_MT, write_methods);
}
