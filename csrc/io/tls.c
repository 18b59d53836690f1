/*
** tls.c: TLS streams (loom.TlsStream; README, "TLS"): TLS as a layer over
** any Stream, with the Stream's methods and meaning on the decrypted
** bytes, plus handshake, alpn, version and peer_certificate.
**
** The ciphertext path. OpenSSL works on two memory BIOs and never touches
** a socket. Incoming ciphertext stays in the plain Stream's receive buffer
** (stream_read.c) until a TLS operation needs it: the task feeds what is
** buffered to OpenSSL, and when OpenSSL wants more it waits on the Stream
** in C (loom__stream_wait), its continuation feeding again. Decrypted bytes
** land in the TLS stream's own loom_rbuf (rbuf.c), from which the reads
** take their results as a Stream's do. What OpenSSL writes for the peer
** goes out through the Stream's write path (loom__stream_send): the
** kernel takes it at once, or a request carries a malloc'd copy. Nothing
** runs in a libuv callback but the Stream's own: every OpenSSL call is
** made by a task, in order, so records go out in the order OpenSSL made
** them. Backpressure holds: ciphertext is read only while a TLS read
** waits, so an unread stream fills the Stream's buffer and reading stops.
**
** The handshake runs in the first task that reads, writes, shuts down or
** calls s:handshake(); other tasks wait for it in a parking lot. A failed
** handshake closes the stream; its error is sticky.
**
** Cancellation (DESIGN.md B9, B10). A read waiting for ciphertext is
** aborted without loss: the ciphertext is still in the Stream's buffer,
** what was decrypted in the TLS buffer. A write encrypts all its data at
** once and waits for its last request, whose abort closes the Stream (a
** cancelled write either went out whole or the stream is closed, as for a
** Stream). A cancelled handshake closes the stream.
**
** Lifetime. The TlsStream userdata holds the SSL (freed by __gc, DESIGN.md
** B7) and, as user values, the plain Stream (which it owns: closing the
** TLS stream closes it) and its loom.TlsContext. libuv never points into
** it, so it needs no anchor; a task waiting on it keeps it on its stack.
*/
#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "io.h"

/* Plaintext encrypted per SSL_write (the ciphertext is sent after each). */
#define TLS_CHUNK (64 * 1024)

/* Handshake states. */
#define HS_PENDING 0
#define HS_DONE 1
#define HS_FAILED 2

/* The sticky error of a TLS failure (err > 0; libuv errors are < 0). */
#define TLS_EFAIL 1

typedef struct tls_stream {
  SSL *ssl;                /* NULL once freed */
  BIO *net_in, *net_out;   /* ciphertext from / for the peer (SSL owns) */
  loom_stream *s;          /* the plain Stream's block (user value 1) */
  loom_rbuf rb;            /* decrypted bytes not read yet */
  loom_task *reader;       /* task in a read, or NULL */
  loom_task *hs_task;      /* task running the handshake, or NULL */
  loom_lot hs_lot;         /* tasks waiting for the handshake */
  int err;                 /* sticky: libuv error, TLS_EFAIL, or 0 */
  char msg[160];           /* TLS_EFAIL: OpenSSL's reason */
  char verr[120];          /* TLS_EFAIL: a verification's error, or "" */
  unsigned char hs;        /* HS_* */
  unsigned char kind;      /* the Stream's: LOOM_TCP or LOOM_PIPE */
  unsigned char server;    /* the server side */
  unsigned char closed;    /* s:close() */
  unsigned char eof;       /* the peer's close_notify (or allowed EOF) */
  unsigned char net_eof;   /* the Stream's EOF was given to OpenSSL */
  unsigned char sent_close;  /* close_notify sent */
} tls_stream;

#define tls_closed(x) ((x)->closed || (x)->s->closed)

/* [-0, +0, v] The TlsStream receiving a method call at 'idx'. */
static tls_stream *check_tls(lua_State *L, int idx) {
  tls_stream *x = (tls_stream *)loom__checkself(L, idx);
  if (x->ssl == NULL) loom__stream_closed(L);
  return x;
}

/* [-0, +0, v] The same, open. */
static tls_stream *check_open(lua_State *L, int idx) {
  tls_stream *x = check_tls(L, idx);
  if (tls_closed(x)) loom__stream_closed(L);
  return x;
}

/* [-0, +(3|4), m] Push the fail tuple of the sticky error of 'x':
** nil, code, message, and for a failed verification its text. */
static int push_err(lua_State *L, tls_stream *x) {
  if (x->err < 0) return loom__fail(L, x->err);
  lua_pushnil(L);
  lua_pushliteral(L, "ETLS");
  lua_pushstring(L, x->msg);
  if (x->verr[0] == '\0') return 3;
  lua_pushstring(L, x->verr);
  return 4;
}

/* [-0, +0, -] Record the TLS failure of the last OpenSSL call (SSL_get_error
** 'e') as the sticky error of 'x'. */
static void record_failure(tls_stream *x, int e) {
  x->err = TLS_EFAIL;
  loom__tls_describe(x->ssl, e, x->msg, sizeof x->msg, x->verr,
                     sizeof x->verr);
}

/* {====================================================================
** Closing
** ===================================================================== */

/* [-0, +0, -] Try to send close_notify at once, never waiting (a close):
** only after the handshake and when no write is in flight, so that it
** comes after everything written. */
static void notify_close(tls_stream *x) {
  loom_stream *s = x->s;
  char *p;
  long n;
  if (x->hs != HS_DONE || x->sent_close || s->closed || s->nwrites > 0 ||
      loom__handle_ctx(&s->h) == NULL)
    return;
  ERR_clear_error();
  if (SSL_shutdown(x->ssl) >= 0) {
    x->sent_close = 1;
    n = BIO_get_mem_data(x->net_out, &p);
    if (n > 0) {
      uv_buf_t b = uv_buf_init(p, (unsigned int)n);
      (void)uv_try_write(&s->u.stream, &b, 1);
    }
  }
  (void)BIO_reset(x->net_out);
  ERR_clear_error();
}

/* [-0, +0, -] Close 'x' and its Stream (idempotent, pure C): tasks
** waiting for its handshake and a task blocked in a read wake and raise
** "closed"; the decrypted bytes nobody will read are freed. With
** 'notify', try to send close_notify first. */
static void tls_close(tls_stream *x, int notify) {
  loom_ctx *ctx;
  if (x->closed) return;
  if (notify) notify_close(x);
  x->closed = 1;
  loom__rbuf_free(&x->rb);
  ctx = loom__handle_ctx(&x->s->h);
  if (ctx != NULL) loom__lot_wake_all(ctx, &x->hs_lot);
  loom__stream_close(x->s);
}

/* {====================================================================
** The ciphertext path
** ===================================================================== */

/* [-0, +0, m] Send what OpenSSL wrote for the peer through the Stream's
** write path. A request left in flight goes on in the background, or,
** with 'last', replaces '*last' (which goes on in the background): the
** caller waits for it. Returns 0 or a libuv error. */
static int flush_out(lua_State *L, loom_ctx *ctx, tls_stream *x,
                     loom_req **last) {
  loom_req *r = NULL;
  char *p;
  long n = BIO_get_mem_data(x->net_out, &p);
  int rc;
  if (n <= 0) return 0;
  if (x->s->closed) rc = UV_ECANCELED;
  else rc = loom__stream_send(L, ctx, x->s, p, (size_t)n, &r);
  (void)BIO_reset(x->net_out);
  if (r != NULL) {
    if (last != NULL && *last != NULL) loom__req_detach(*last);
    if (last != NULL) *last = r;
    else loom__req_detach(r);     /* its callback frees it */
  }
  return rc < 0 ? rc : 0;
}

/* [-0, +0, -] Give OpenSSL the ciphertext the Stream has buffered, or its
** end. Returns 1 if OpenSSL has something new, 0 if nothing came yet (the
** caller waits), or the Stream's read error. */
static int feed(tls_stream *x) {
  loom_stream *s = x->s;
  if (s->rb.len > 0) {
    size_t k = s->rb.len > INT_MAX ? INT_MAX : s->rb.len;
    int w = BIO_write(x->net_in, s->rb.buf + s->rb.head, (int)k);
    if (w <= 0) return UV_ENOMEM;
    loom__stream_take(s, (size_t)w);
    return 1;
  }
  if (s->rerr != 0) return s->rerr;
  if (s->eof && !x->net_eof) {      /* OpenSSL decides: truncation? */
    x->net_eof = 1;
    BIO_set_mem_eof_return(x->net_in, 0);
    return 1;
  }
  return s->eof ? UV_EOF : 0;
}

/* [-0, +0, -] Would a checkpoint of 't' raise Cancelled now? (Tested
** before waiting again after a wake-up, DESIGN.md B9.) */
static int cancel_due(loom_ctx *ctx, loom_task *t) {
  loom__clock_due(ctx);
  return (t->scope->flags & SF_EFFECTIVE) != 0;
}

/* {====================================================================
** The handshake
** ===================================================================== */

/* [-0, +0, -] The handshake is over (done or failed): wake its waiters. */
static void hs_over(loom_ctx *ctx, tls_stream *x, int state) {
  x->hs = (unsigned char)state;
  x->hs_task = NULL;
  loom__lot_wake_all(ctx, &x->hs_lot);
}

/* [-0, +0, -] The handshake failed: it is over, the stream closed. */
static void hs_failed(loom_ctx *ctx, tls_stream *x) {
  hs_over(ctx, x, HS_FAILED);
  tls_close(x, 0);
}

/* Abort of a task waiting for another's handshake (pure C): leave the
** lot (SUCCEEDED). */
static int abort_parked(loom_ctx *ctx, loom_task *t) {
  tls_stream *x = (tls_stream *)t->wait_obj;
  (void)ctx;
  loom__lot_remove(&x->hs_lot, t);
  return LOOM_ABORT_SUCCEEDED;
}

/* Abort of the handshake's task waiting for ciphertext (pure C): a
** cancelled handshake closes the stream (SUCCEEDED). */
static int abort_handshake(loom_ctx *ctx, loom_task *t) {
  tls_stream *x = (tls_stream *)t->wait_obj;
  x->s->reader = NULL;
  hs_failed(ctx, x);
  return LOOM_ABORT_SUCCEEDED;
}

/* [-0, +(0|3|4), y] Make sure the handshake of 'x' is done, for task 't'
** in an operation that 'k' continues (it calls this again with 'again'
** set). Returns 0 once done, or the number of values of the fail tuple
** pushed; raises "closed"; or suspends: waiting for the task that runs
** the handshake, or running it and waiting for ciphertext. */
static int handshake_step(lua_State *L, loom_ctx *ctx, tls_stream *x,
                          loom_task *t, int again, lua_KFunction k) {
  int r, e, rc;
  if (x->hs == HS_DONE) return 0;
  if (x->hs == HS_FAILED && x->err != 0) return push_err(L, x);
  if (tls_closed(x)) {
    if (x->hs_task == t) hs_over(ctx, x, HS_PENDING);
    return loom__stream_closed(L);
  }
  if (x->hs_task != NULL && x->hs_task != t) {
    if (again) loom__check_cancel(L, ctx, t);
    loom__lot_push(&x->hs_lot, t);
    loom__waiting(t, "tls handshake");
    return loom__suspend(L, t, abort_parked, x, k);
  }
  x->hs_task = t;
  for (;;) {
    ERR_clear_error();
    r = SSL_do_handshake(x->ssl);
    e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(x->ssl, r);
    if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ)
      record_failure(x, e);           /* before the alert goes out */
    rc = flush_out(L, ctx, x, NULL);
    if (rc < 0 && x->err == 0) x->err = rc;
    if (x->err != 0) break;
    if (r == 1) {
      hs_over(ctx, x, HS_DONE);
      return 0;
    }
    rc = feed(x);
    if (rc > 0) continue;
    if (rc < 0) {
      x->err = rc;
      break;
    }
    if (again && cancel_due(ctx, t)) {   /* cancelled: close, raise */
      hs_failed(ctx, x);
      loom__check_cancel(L, ctx, t);
    }
    loom__waiting(t, "tls handshake");
    rc = loom__stream_wait(L, t, x->s, abort_handshake, x, k);
    x->err = rc;                        /* reading could not start */
    break;
  }
  hs_failed(ctx, x);
  return push_err(L, x);
}

/* An operation of a TLS stream, run at first with 'again' 0, then again
** by its continuation after each wait. */
typedef int (*tls_op)(lua_State *L, loom_ctx *ctx, loom_task *t,
                      int again);

/* [-0, +(1|3|4), y] The body of every continuation: raise Cancelled if
** the wait was aborted, else run 'op' again. */
static int resume_op(lua_State *L, lua_KContext kc, tls_op op) {
  loom_ctx *ctx = loom_ctxup(L);
  loom__resumed(L, ctx, (loom_task *)kc);
  return op(L, ctx, (loom_task *)kc, 1);
}

/* [-0, +(1|3|4), y] The start of an operation with 'nargs' arguments on
** the stream at index 1 (checked by the caller): a checkpoint. */
static int start_op(lua_State *L, int nargs, tls_op op) {
  loom_ctx *ctx = loom_ctxup(L);
  lua_settop(L, nargs);
  return op(L, ctx, loom__checkpoint_enter(L, ctx), 0);
}

static int k_handshake(lua_State *L, int status, lua_KContext kc);

/* [-1, +(1|3|4), y] s:handshake() and its continuation: the stream, or
** the fail tuple of the handshake. */
static int handshake_op(lua_State *L, loom_ctx *ctx, loom_task *t,
                        int again) {
  tls_stream *x = (tls_stream *)lua_touserdata(L, 1);
  int n = handshake_step(L, ctx, x, t, again, k_handshake);
  if (n > 0) return n;
  lua_settop(L, 1);
  return 1;
}

/* [-0, +(1|3|4), y] Continuation of s:handshake() after a wait. */
static int k_handshake(lua_State *L, int status, lua_KContext kc) {
  (void)status;
  return resume_op(L, kc, handshake_op);
}

/* [-1, +(1|3|4), y] Checkpoint. s:handshake() -> s | nil, code, message
** [, verify_error]. Idempotent: once done it returns at once; after a
** failure it gives the same error; on a closed stream it raises. */
static int l_tls_handshake(lua_State *L) {
  tls_stream *x = check_tls(L, 1);
  if (tls_closed(x) && x->hs != HS_FAILED) return loom__stream_closed(L);
  return start_op(L, 1, handshake_op);
}

/* {====================================================================
** Reading
** ===================================================================== */

/* Abort of a read waiting for ciphertext (pure C): what came stays in
** the Stream's buffer, what was decrypted in the TLS buffer (SUCCEEDED). */
static int abort_read(loom_ctx *ctx, loom_task *t) {
  tls_stream *x = (tls_stream *)t->wait_obj;
  (void)ctx;
  x->s->reader = NULL;
  x->reader = NULL;
  return LOOM_ABORT_SUCCEEDED;
}

/* [-0, +0, m] Decrypt into the TLS buffer: returns 1 if something changed
** (bytes, the end, an error recorded), 0 if OpenSSL waits for ciphertext
** that has not come. */
static int decrypt(lua_State *L, loom_ctx *ctx, tls_stream *x) {
  size_t room = loom__rbuf_room(&x->rb, 1);
  int r, e, rc;
  if (room == 0) {
    x->err = UV_ENOMEM;
    return 1;
  }
  ERR_clear_error();
  r = SSL_read(x->ssl, loom__rbuf_tail(&x->rb),
               room > INT_MAX ? INT_MAX : (int)room);
  e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(x->ssl, r);
  if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ &&
      e != SSL_ERROR_ZERO_RETURN)
    record_failure(x, e);
  (void)flush_out(L, ctx, x, NULL);   /* post-handshake messages */
  if (r > 0) {
    x->rb.len += (size_t)r;
    return 1;
  }
  if (e == SSL_ERROR_ZERO_RETURN) {
    x->eof = 1;
    return 1;
  }
  if (e != SSL_ERROR_WANT_READ) return 1;   /* recorded above */
  rc = feed(x);
  if (rc < 0) x->err = rc;
  return rc != 0;
}

static int k_read(lua_State *L, int status, lua_KContext kc);

/* [-3, +(1|3|4), y] A read of 'mode' ('n' as in loom_rbuf) on the TLS
** stream at index 1 (the mode and 'n' at 2 and 3, for the continuation):
** what the TLS buffer gives, decrypting and waiting until it can. */
static int read_op(lua_State *L, loom_ctx *ctx, loom_task *t, int again) {
  tls_stream *x = (tls_stream *)lua_touserdata(L, 1);
  int mode = (int)lua_tointeger(L, 2), r;
  size_t n = (size_t)lua_tointeger(L, 3);
  for (;;) {
    if (tls_closed(x)) {
      if (x->reader == t) x->reader = NULL;
      return loom__stream_closed(L);
    }
    r = loom__rbuf_take(L, &x->rb, mode, n, 0);
    if (r < 0 && x->err != 0) r = push_err(L, x);
    if (r < 0 && x->eof) r = loom__rbuf_take(L, &x->rb, mode, n, 1);
    if (r >= 0) {
      if (x->reader == t) x->reader = NULL;
      return r;
    }
    r = handshake_step(L, ctx, x, t, again, k_read);
    if (r > 0) return r;
    if (x->reader != NULL && x->reader != t)
      return loom__error(L, "loom: another task is already reading from "
                         "this stream");
    x->reader = t;
    loom__rbuf_expect(&x->rb, mode, n);   /* how far the buffer grows */
    if (decrypt(L, ctx, x)) continue;
    if (again && cancel_due(ctx, t)) {
      x->reader = NULL;
      loom__check_cancel(L, ctx, t);
    }
    loom__waiting(t, "tls read");
    r = loom__stream_wait(L, t, x->s, abort_read, x, k_read);
    x->reader = NULL;
    x->err = r;                          /* reading could not start */
  }
}

/* [-0, +(1|3|4), y] Continuation of the reads after a wait. */
static int k_read(lua_State *L, int status, lua_KContext kc) {
  (void)status;
  return resume_op(L, kc, read_op);
}

/* [-2, +(1|3|4), y] The reads (checkpoints), as a Stream's. */
static int tls_read_mode(lua_State *L, int mode) {
  size_t n;
  check_open(L, 1);
  n = loom__read_arg(L, &mode);
  lua_settop(L, 1);
  lua_pushinteger(L, mode);
  lua_pushinteger(L, (lua_Integer)n);
  return start_op(L, 3, read_op);
}

/* [-2, +(1|3|4), y] Checkpoint. s:read([max]) (as Stream:read). */
static int l_tls_read(lua_State *L) {
  return tls_read_mode(L, LOOM_RM_ANY);
}

/* [-2, +(1|3|4), y] Checkpoint. s:read_exactly(n). */
static int l_tls_read_exactly(lua_State *L) {
  return tls_read_mode(L, LOOM_RM_EXACT);
}

/* [-2, +(1|3|4), y] Checkpoint. s:read_line([{max = n}]). */
static int l_tls_read_line(lua_State *L) {
  return tls_read_mode(L, LOOM_RM_LINE);
}

/* [-1, +(1|3|4), y] Checkpoint. s:read_all(). */
static int l_tls_read_all(lua_State *L) {
  return tls_read_mode(L, LOOM_RM_ALL);
}

/* {====================================================================
** Writing, shutting down
** ===================================================================== */

/* [-0, +(1|3), v] Continuation of a write or a close_notify: the stream
** at index 1, or the fail tuple; "closed" if a close cut it short. */
static int k_sent(lua_State *L, int status, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, loom_ctxup(L), kc);
  tls_stream *x = (tls_stream *)lua_touserdata(L, 1);
  int n = loom__stream_req_done(L, r, x->closed ? NULL : x->s);
  (void)status;
  if (n > 0) return n;
  lua_settop(L, 1);
  return 1;
}

/* [-0, +(1|3|4), y] Send what OpenSSL wrote (the records of a write, or
** close_notify), then return the stream at index 1 once the kernel has
** it all: wait for the last request (its abort closes the stream; the
** earlier ones go on in the background, in order). */
static int send_out(lua_State *L, loom_ctx *ctx, tls_stream *x,
                    loom_task *t, loom_req *last) {
  int rc = flush_out(L, ctx, x, &last);
  if (rc < 0) {
    if (last != NULL) loom__req_detach(last);
    return loom__fail(L, rc);
  }
  if (last == NULL) {
    lua_settop(L, 1);
    return 1;
  }
  loom__waiting(t, "tls write");
  return loom__req_wait(L, t, last, loom__stream_write_abort, k_sent);
}

/* [-0, +(3|4), m] The fail tuple of an OpenSSL write call that failed
** (SSL_get_error 'e'), not sticky. */
static int write_failed(lua_State *L, tls_stream *x, int e) {
  char msg[160], verr[120];
  loom__tls_describe(x->ssl, e, msg, sizeof msg, verr, sizeof verr);
  lua_pushnil(L);
  lua_pushliteral(L, "ETLS");
  lua_pushstring(L, msg);
  return 3;
}

static int k_write(lua_State *L, int status, lua_KContext kc);

/* [-2, +(1|3|4), y] Write the string at index 2 (after the handshake):
** encrypt it all, chunk by chunk, each chunk's records handed to the
** Stream's write path at once, so that the write is one unit in the
** stream whatever other tasks write; then wait for the kernel to take
** the last of it. */
static int write_op(lua_State *L, loom_ctx *ctx, loom_task *t, int again) {
  tls_stream *x = (tls_stream *)lua_touserdata(L, 1);
  size_t len, off = 0;
  const char *data = lua_tolstring(L, 2, &len);
  loom_req *last = NULL;
  int n;
  if (tls_closed(x)) return loom__stream_closed(L);
  if (len == 0) {                 /* nothing to send: no handshake either */
    lua_settop(L, 1);
    return 1;
  }
  n = handshake_step(L, ctx, x, t, again, k_write);
  if (n > 0) return n;
  while (off < len) {
    size_t k = len - off < TLS_CHUNK ? len - off : TLS_CHUNK;
    ERR_clear_error();
    n = SSL_write(x->ssl, data + off, (int)k);
    if (n <= 0) {
      if (last != NULL) loom__req_detach(last);
      return write_failed(L, x, SSL_get_error(x->ssl, n));
    }
    off += (size_t)n;
    if (off < len && (n = flush_out(L, ctx, x, &last)) < 0) {
      if (last != NULL) loom__req_detach(last);
      return loom__fail(L, n);
    }
  }
  return send_out(L, ctx, x, t, last);
}

/* [-0, +(1|3|4), y] Continuation of s:write() after a wait. */
static int k_write(lua_State *L, int status, lua_KContext kc) {
  (void)status;
  return resume_op(L, kc, write_op);
}

/* [-2, +(1|3|4), y] Checkpoint. s:write(data) -> s | nil, code, message:
** returns once the kernel has the encrypted data (backpressure). */
static int l_tls_write(lua_State *L) {
  size_t len;
  check_open(L, 1);
  loom__checklstring(L, 2, &len);
  loom__argcheck(L, len <= 0x7fffffff, 2, "string too long (2 GiB at most)");
  return start_op(L, 2, write_op);
}

static int k_notify(lua_State *L, int status, lua_KContext kc);

/* [-1, +(1|3|4), y] Send close_notify (after the handshake) and wait for
** the kernel to take it; a second call does nothing. */
static int notify_op(lua_State *L, loom_ctx *ctx, loom_task *t, int again) {
  tls_stream *x = (tls_stream *)lua_touserdata(L, 1);
  int n;
  if (tls_closed(x)) return loom__stream_closed(L);
  n = handshake_step(L, ctx, x, t, again, k_notify);
  if (n > 0) return n;
  if (!x->sent_close) {
    ERR_clear_error();
    n = SSL_shutdown(x->ssl);
    if (n < 0) return write_failed(L, x, SSL_get_error(x->ssl, n));
    x->sent_close = 1;
  }
  return send_out(L, ctx, x, t, NULL);
}

/* [-0, +(1|3|4), y] Continuation of s:_notify() after a wait. */
static int k_notify(lua_State *L, int status, lua_KContext kc) {
  (void)status;
  return resume_op(L, kc, notify_op);
}

/* [-1, +(1|3|4), y] Checkpoint. s:_notify() -> s | fail tuple: the TLS
** half of s:shutdown() (tls.lua then shuts the Stream's write side). */
static int l_tls_notify(lua_State *L) {
  check_open(L, 1);
  return start_op(L, 1, notify_op);
}

/* {====================================================================
** Closing, addresses, what was negotiated
** ===================================================================== */

/* [-1, +1, v] s:is_closed() -> boolean. */
static int l_tls_is_closed(lua_State *L) {
  tls_stream *x = (tls_stream *)loom__checkself(L, 1);
  lua_pushboolean(L, x->ssl == NULL || tls_closed(x));
  return 1;
}

/* [-1, +0, v] s:close(), and __close: send close_notify if that can be
** done at once, close the Stream. Idempotent, never blocks. */
static int l_tls_close(lua_State *L) {
  tls_stream *x = (tls_stream *)loom__checkself(L, 1);
  if (x->ssl != NULL) tls_close(x, 1);
  return 0;
}

/* [-1, +0, -] __gc: close the Stream (no close_notify: the stream was
** abandoned, not closed), free the SSL and the buffer. Never raises. */
static int l_tls_gc(lua_State *L) {
  tls_stream *x = (tls_stream *)lua_touserdata(L, 1);
  loom_stream *s;
  if (x->ssl == NULL) return 0;
  lua_getiuservalue(L, 1, 1);
  s = (loom_stream *)loom__handle_box(L, -1);   /* NULL: collected first */
  if (s != NULL && !x->closed) {
    x->closed = 1;
    loom__stream_close(s);
  }
  x->closed = 1;
  SSL_free(x->ssl);      /* and its BIOs; drops its SSL_CTX reference */
  x->ssl = NULL;
  loom__rbuf_free(&x->rb);
  loom__tls_count(-1);
  return 0;
}

/* [-1, +(2|3), v] The address of the Stream under the TLS stream at index
** 1, the peer's or its own, as a Stream's. */
static int tls_endpoint(lua_State *L, int peer) {
  tls_stream *x = check_open(L, 1);
  return loom__push_endpoint(L, x->s->kind, &x->s->u.handle, peer);
}

/* [-1, +(2|3), v] s:peername() -> addr, port. */
static int l_tls_peername(lua_State *L) {
  return tls_endpoint(L, 1);
}

/* [-1, +(2|3), v] s:sockname() -> addr, port. */
static int l_tls_sockname(lua_State *L) {
  return tls_endpoint(L, 0);
}

/* [-1, +1, v] s:_plain() -> the Stream under the TLS stream (tls.lua). */
static int l_tls_plain(lua_State *L) {
  check_open(L, 1);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

/* [-1, +1, v] s:alpn() -> the protocol negotiated, or nil. */
static int l_tls_alpn(lua_State *L) {
  tls_stream *x = check_tls(L, 1);
  const unsigned char *p = NULL;
  unsigned int len = 0;
  if (x->hs == HS_DONE) SSL_get0_alpn_selected(x->ssl, &p, &len);
  if (p != NULL && len > 0) lua_pushlstring(L, (const char *)p, len);
  else lua_pushnil(L);
  return 1;
}

/* [-1, +1, v] s:version() -> "TLSv1.3"..., or nil before the handshake. */
static int l_tls_version(lua_State *L) {
  tls_stream *x = check_tls(L, 1);
  if (x->hs == HS_DONE) lua_pushstring(L, SSL_get_version(x->ssl));
  else lua_pushnil(L);
  return 1;
}

/* [-1, +1, m] s:peer_certificate() -> table (tls_ctx.c), or nil: none
** was sent, or the handshake is not done. */
static int l_tls_peer_certificate(lua_State *L) {
  tls_stream *x = check_tls(L, 1);
  X509 *c = x->hs == HS_DONE ? SSL_get0_peer_certificate(x->ssl) : NULL;
  if (c != NULL) loom__tls_push_cert(L, c);
  else lua_pushnil(L);
  return 1;
}

/* [-1, +1, m] __tostring: "loom.TlsStream (tcp, TLSv1.3, client)". */
static int l_tls_tostring(lua_State *L) {
  tls_stream *x = (tls_stream *)lua_touserdata(L, 1);
  const char *state = x->ssl == NULL || tls_closed(x) ? "closed"
                      : x->hs == HS_DONE ? SSL_get_version(x->ssl)
                      : x->hs == HS_FAILED ? "handshake failed"
                                           : "handshake pending";
  lua_pushfstring(L, "loom.TlsStream (%s, %s, %s)",
                  x->kind == LOOM_TCP ? "tcp" : "pipe", state,
                  x->server ? "server" : "client");
  return 1;
}

/* [-4, +1, v] core.tls_wrap(stream, context, name, allow_truncation) ->
** TlsStream: TLS over the open Stream 'stream' (which it owns from now
** on), with the loom.TlsContext 'context'; a client connects to 'name'
** (SNI and the name verified; may be nil). No I/O: the handshake comes
** with the first operation. */
static int l_tls_wrap(lua_State *L) {
  loom_handle **box = (loom_handle **)luaL_testudata(L, 1, LOOM_STREAM_MT);
  loom_tlsctx *c = loom__tlsctx_check(L, 2);
  const char *name = lua_tostring(L, 3);
  loom_stream *s;
  tls_stream *x;
  BIO *in, *out;
  if (box == NULL) return loom__typeerror(L, 1, LOOM_STREAM_MT);
  s = (loom_stream *)*box;
  if (s == NULL || s->closed) return loom__stream_closed(L);
  if (s->reader != NULL)
    return loom__error(L, "loom.tls: a task is reading from the stream");
  x = (tls_stream *)loom__newself(L, sizeof(tls_stream), 2);   /* 5 */
  x->s = s;
  x->kind = s->kind;
  x->server = c->server;
  x->ssl = SSL_new(c->ssl_ctx);
  if (x->ssl == NULL) return loom__error(L, "loom.tls: out of memory (SSL)");
  loom__tls_count(1);
  in = BIO_new(BIO_s_mem());
  out = BIO_new(BIO_s_mem());
  if (in == NULL || out == NULL) {
    BIO_free(in);
    BIO_free(out);
    return loom__error(L, "loom.tls: out of memory (BIO)");
  }
  SSL_set_bio(x->ssl, in, out);
  x->net_in = in;
  x->net_out = out;
  if (lua_toboolean(L, 4))      /* a peer's EOF is a clean end */
    SSL_set_options(x->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (c->server) {
    SSL_set_accept_state(x->ssl);
  } else {
    SSL_set_connect_state(x->ssl);
    if (name != NULL && !loom__tls_set_peer(x->ssl, name, c->verify))
      return loom__error(L, "loom.tls: cannot use the name '%s'", name);
  }
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 5, 1);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 5, 2);
  return 1;
}

/* [-1, +0, -] core.tls_unhandled(err): report the error of a failed
** handshake in a serve loop to loom.on_unhandled, with the running task
** (DESIGN.md E6); the loop and the other connections go on. */
static int l_tls_unhandled(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  lua_settop(L, 1);
  if (ctx->current != NULL) loom__push_task(L, ctx, ctx->current);
  else lua_pushnil(L);
  loom__report_unhandled(L, ctx, 1, 2);
  return 0;
}

/* {====================================================================
** Registration
** ===================================================================== */

static const luaL_Reg tls_methods[] = {
  {"handshake", l_tls_handshake},
  {"read", l_tls_read},
  {"read_exactly", l_tls_read_exactly},
  {"read_line", l_tls_read_line},
  {"read_all", l_tls_read_all},
  {"write", l_tls_write},
  {"_notify", l_tls_notify},
  {"close", l_tls_close},
  {"is_closed", l_tls_is_closed},
  {"peername", l_tls_peername},
  {"sockname", l_tls_sockname},
  {"alpn", l_tls_alpn},
  {"version", l_tls_version},
  {"peer_certificate", l_tls_peer_certificate},
  {"_plain", l_tls_plain},
  {NULL, NULL}
};

static const luaL_Reg tls_meta[] = {
  {"__gc", l_tls_gc},
  {"__close", l_tls_close},
  {"__tostring", l_tls_tostring},
  {NULL, NULL}
};

static const luaL_Reg tls_funcs[] = {
  {"tls_wrap", l_tls_wrap},
  {"tls_unhandled", l_tls_unhandled},
  {NULL, NULL}
};

/* Its methods table is core.tls_stream_methods: tls.lua wraps the native
** methods to raise IOError. */
static const loom_class tls_class = {
  LOOM_TLS_MT, tls_methods, tls_meta, NULL, tls_funcs,
  "tls_stream_methods", NULL
};

/* [-0, +0, m] Register loom.TlsStream and core.tls_wrap. */
void loom__tls_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &tls_class);
  lua_pop(L, 1);
}
