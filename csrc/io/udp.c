/*
** udp.c: UDP sockets (README, I/O), the native half of loom.udp.
**
** A Udp object ("loom.Udp") is a handle block of handle.c (io.h): libuv
** owns it until its close callback, the userdata box until its __gc, and
** the second to let go frees it (DESIGN.md B6, B7). The socket receives from
** the moment it is bound: every datagram is copied into a queue in the
** object (at most UDP_MAXQ; reading pauses beyond), and a task blocked in
** receive_from is only woken; it takes the datagram from the queue itself
** (DESIGN.md B10). So a receive cancelled at any moment loses nothing: the
** datagram stays queued for the next one. The handle is referenced only
** while a task waits in receive_from, so an idle socket never keeps the
** loop alive (README, "Embedding loom"). send_to first tries to send at once
** (uv_udp_try_send); when the kernel is full it queues a uv_udp_send
** request (req.h) that pins the data; closing the socket ends it with
** UV_ECANCELED (libuv reads the data no more once the handle is closing,
** which is what makes a pinned string safe at teardown). Failures cross
** as fail tuples (DESIGN.md E2); lua/loom/udp.lua resolves names and raises
** loom.IOError. Closing wakes the receivers, who raise "closed".
*/
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

#define LOOM_UDP_MT "loom.Udp"
#define UDP_MAXQ 1024             /* queued datagrams before a pause */
#define UDP_BUFSIZE (64 * 1024)   /* the largest datagram */

typedef struct udp_dgram {
  struct udp_dgram *next;
  struct sockaddr_storage from;
  size_t len;
  char data[];
} udp_dgram;

typedef struct udp_obj {
  loom_handle h;               /* first: the block of handle.c */
  uv_udp_t udp;
  udp_dgram *head, *tail;      /* received, not taken yet */
  int nq;                      /* their number */
  char *rbuf;                  /* buffer lent to libuv for receiving */
  loom_lot receivers;          /* tasks blocked in receive_from */
  int rerr;                    /* receive error to report once, or 0 */
  int port;                    /* bound port */
  int family;                  /* AF_INET or AF_INET6 */
  unsigned char closed;
  unsigned char reading;       /* uv_udp_recv_start is on */
} udp_obj;

/* {====================================================================
** The datagram queue
** ===================================================================== */

/* [-0, +0, -] Drop every queued datagram. */
static void queue_clear(udp_obj *o) {
  while (o->head != NULL) {
    udp_dgram *d = o->head;
    o->head = d->next;
    free(d);
  }
  o->tail = NULL;
  o->nq = 0;
}

/* Frees what the block owns (handle.c calls it before freeing it). */
static void udp_finalize(loom_handle *h) {
  udp_obj *o = (udp_obj *)h;
  queue_clear(o);
  free(o->rbuf);
  o->rbuf = NULL;
}

static const loom_handle_type udp_type = {"udp", NULL, udp_finalize, 0};

/* [-0, +0, -] Reference the handle only while a task waits for a
** datagram, so that an idle socket never keeps the loop alive. */
static void udp_update_ref(udp_obj *o) {
  if (o->closed) return;
  if (o->receivers.n > 0) uv_ref((uv_handle_t *)&o->udp);
  else uv_unref((uv_handle_t *)&o->udp);
}

/* Lend libuv the object's receive buffer (allocated once). */
static void on_alloc(uv_handle_t *uh, size_t suggested, uv_buf_t *b) {
  udp_obj *o = (udp_obj *)uh->data;
  (void)suggested;
  if (o->rbuf == NULL) o->rbuf = (char *)malloc(UDP_BUFSIZE);
  b->base = o->rbuf;
  b->len = o->rbuf != NULL ? UDP_BUFSIZE : 0;   /* 0: UV_ENOBUFS */
}

/* A datagram, or a receive error (libuv context, pure C): queue it, then
** wake one receiver, who takes it from the queue. */
static void on_recv(uv_udp_t *uu, ssize_t nread, const uv_buf_t *b,
                    const struct sockaddr *addr, unsigned flags) {
  udp_obj *o = (udp_obj *)uu->data;
  loom_ctx *ctx = loom__handle_ctx(&o->h);
  (void)flags;  /* UV_UDP_PARTIAL: a truncated datagram is kept as is */
  if (o->closed) return;
  if (nread < 0) {
    o->rerr = (int)nread;
  } else if (addr == NULL) {
    return;                         /* nothing more to read for now */
  } else {
    udp_dgram *d = (udp_dgram *)malloc(offsetof(udp_dgram, data) +
                                       (size_t)nread);
    if (d == NULL) return;          /* out of memory: dropped, as UDP may */
    memset(&d->from, 0, sizeof d->from);
    memcpy(&d->from, addr, addr->sa_family == AF_INET6
                               ? sizeof(struct sockaddr_in6)
                               : sizeof(struct sockaddr_in));
    d->len = (size_t)nread;
    memcpy(d->data, b->base, (size_t)nread);
    d->next = NULL;
    if (o->tail != NULL) o->tail->next = d;
    else o->head = d;
    o->tail = d;
    if (++o->nq >= UDP_MAXQ && o->reading) {   /* full: let the kernel */
      uv_udp_recv_stop(uu);                    /* buffer (and drop) */
      o->reading = 0;
    }
  }
  if (ctx != NULL && loom__lot_wake_one(ctx, &o->receivers))
    udp_update_ref(o);
}

/* [-0, +0, -] Turn receiving on (unless closed or full); 0 or an error. */
static int udp_start(udp_obj *o) {
  int rc;
  if (o->reading || o->closed || o->nq >= UDP_MAXQ) return 0;
  rc = uv_udp_recv_start(&o->udp, on_alloc, on_recv);
  if (rc == 0) o->reading = 1;
  return rc;
}

/* }==================================================================== */

/* {====================================================================
** Methods
** ===================================================================== */

/* [-0, +0, -] Close 'o' (idempotent, pure C): receivers raise "closed";
** queued datagrams are dropped. */
static void udp_close(udp_obj *o) {
  loom_ctx *ctx;
  if (o->closed) return;
  o->closed = 1;
  o->reading = 0;
  queue_clear(o);
  ctx = loom__handle_ctx(&o->h);
  if (ctx != NULL) loom__lot_wake_all(ctx, &o->receivers);
  loom__handle_close(&o->h);
}

/* [-0, +0, v] Raise the "closed" error. */
static int closed_error(lua_State *L) {
  return loom__error(L, "loom: the UDP socket is closed");
}

/* [-0, +0, v] The open Udp object at 'idx'. */
static udp_obj *check_udp(lua_State *L, int idx) {
  udp_obj *o = (udp_obj *)loom__handle_check(L, idx);
  if (o->closed) closed_error(L);
  return o;
}

/* Abort function of a blocked receiver: leave the queue of receivers. */
static int receive_abort(loom_ctx *ctx, loom_task *t) {
  loom_lot *lot = (loom_lot *)t->wait_obj;
  udp_obj *o = (udp_obj *)(void *)((char *)lot -
                                   offsetof(udp_obj, receivers));
  (void)ctx;
  loom__lot_remove(lot, t);
  udp_update_ref(o);
  return LOOM_ABORT_SUCCEEDED;
}

static int k_receive(lua_State *L, int status, lua_KContext kc);

/* [-0, +?, y] The body of receive_from: take a queued datagram or error,
** or wait. Stack: u. */
static int udp_receive(lua_State *L, loom_task *t) {
  udp_obj *o = check_udp(L, 1);
  udp_dgram *d = o->head;
  if (d != NULL) {
    lua_pushlstring(L, d->data, d->len);
    loom__push_sockaddr(L, (struct sockaddr *)&d->from);
    o->head = d->next;
    if (o->head == NULL) o->tail = NULL;
    o->nq--;
    free(d);
    if (!o->reading && o->nq <= UDP_MAXQ / 2) {
      int rc = udp_start(o);
      if (rc < 0 && o->rerr == 0) o->rerr = rc;
    }
    return 3;
  }
  if (o->rerr != 0) {
    int err = o->rerr;
    o->rerr = 0;
    return loom__fail(L, err);
  }
  loom__lot_push(&o->receivers, t);
  udp_update_ref(o);
  loom__waiting(t, "udp receive");
  return loom__suspend(L, t, receive_abort, &o->receivers, k_receive);
}

/* Continuation of a receiver that was woken: take what woke it. If it
** was woken for nothing (another task took the datagram first), test
** cancellation again before waiting again. */
static int k_receive(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = (loom_task *)kc;
  udp_obj *o;
  (void)status;
  loom__resumed(L, ctx, t);
  o = check_udp(L, 1);
  if (o->head == NULL && o->rerr == 0) loom__check_cancel(L, ctx, t);
  return udp_receive(L, t);
}

/* Checkpoint. u:receive_from() -> data, host, port | nil, code, message.
** Waits for a datagram; raises "closed" if the socket is or gets closed. */
static int l_udp_receive_from(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  check_udp(L, 1);
  lua_settop(L, 1);
  return udp_receive(L, loom__checkpoint_enter(L, ctx));
}

/* A queued send. */
typedef struct send_req {
  loom_req r;
  uv_udp_send_t s;
} send_req;

/* Completion of a queued send (libuv context, pure C). */
static void on_send(uv_udp_send_t *req, int status) {
  loom_req *r = loom__req_of(req);
  r->status = status;
  loom__req_finish(r);
}

/* [-0, +1|3, e] Continuation of a queued send: true, the fail tuple, or
** "closed" if the socket was closed while the datagram waited. */
static int k_send(lua_State *L, int status, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, loom_ctxup(L), kc);
  udp_obj *o = (udp_obj *)loom__handle_box(L, 1);
  int st = r->status;
  (void)status;
  loom__req_free(L, r);
  if (st == UV_ECANCELED && (o == NULL || o->closed)) return closed_error(L);
  if (st < 0) return loom__fail(L, st);
  lua_pushboolean(L, 1);
  return 1;
}

/* Checkpoint. u:send_to(data, host, port) -> true | nil, code, message.
** 'host' is a numeric address (loom.udp resolves names first). Returns
** once the datagram is handed to the kernel. */
static int l_udp_send_to(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  udp_obj *o = check_udp(L, 1);
  size_t len;
  const char *data = loom__checklstring(L, 2, &len);
  const char *host = loom__checkstring(L, 3);
  int port = loom__checkport(L, 4);
  struct sockaddr_storage ss;
  loom_task *t;
  send_req *q;
  uv_buf_t b;
  int rc;
  lua_settop(L, 4);
  t = loom__checkpoint_enter(L, ctx);
  rc = loom__numeric_addr(host, port, &ss);
  if (rc < 0) return loom__fail(L, rc);
  b = uv_buf_init((char *)data, (unsigned int)len);
  rc = uv_udp_try_send(&o->udp, &b, 1, (const struct sockaddr *)&ss);
  if (rc >= 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (rc != UV_EAGAIN && rc != UV_ENOSYS) return loom__fail(L, rc);
  /* The kernel is full: queue it. Its data stays pinned until the
  ** callback, also if the task is cancelled (the send goes on). */
  q = (send_req *)loom__req_new(L, ctx, sizeof(send_req), 0);
  loom__req_bind(&q->r, &q->s);
  loom__req_pin(L, &q->r, 2);
  rc = uv_udp_send(&q->s, &o->udp, &b, 1, (const struct sockaddr *)&ss,
                   on_send);
  if (rc < 0) return loom__req_fail(L, &q->r, rc);
  q->r.flags |= RQ_SUBMITTED | RQ_NOCANCEL;
  loom__waiting(t, "udp send");
  return loom__req_wait(L, t, &q->r, loom__req_abort_detach, k_send);
}

/* u:sockname() -> host, port of the bound socket. */
static int l_udp_sockname(lua_State *L) {
  udp_obj *o = check_udp(L, 1);
  struct sockaddr_storage ss;
  int len = (int)sizeof ss;
  int rc = uv_udp_getsockname(&o->udp, (struct sockaddr *)&ss, &len);
  if (rc < 0) return loom__fail(L, rc);
  return loom__push_sockaddr(L, (struct sockaddr *)&ss);
}

/* u:close(): idempotent, never blocks; a task blocked in receive_from
** raises "closed". Also __close. */
static int l_udp_close(lua_State *L) {
  udp_obj *o;
  loom__checkself(L, 1);
  o = (udp_obj *)loom__handle_box(L, 1);
  if (o != NULL) udp_close(o);
  return 0;
}

/* __gc: close, let the block go (DESIGN.md B7). */
static int l_udp_gc(lua_State *L) {
  loom_handle **box = (loom_handle **)lua_touserdata(L, 1);
  udp_obj *o = (udp_obj *)*box;
  if (o == NULL) return 0;
  *box = NULL;
  udp_close(o);
  loom__handle_close(&o->h);     /* also when never opened */
  loom__handle_release(&o->h);
  return 0;
}

/* [-1, +1, v] u:is_closed() -> boolean (the field 'closed' too). */
static int l_udp_is_closed(lua_State *L) {
  udp_obj *o;
  loom__checkself(L, 1);
  o = (udp_obj *)loom__handle_box(L, 1);
  lua_pushboolean(L, o == NULL || o->closed);
  return 1;
}

/* __index: methods, and the fields 'port', 'family', 'closed'. */
static int l_udp_index(lua_State *L) {
  udp_obj *o = (udp_obj *)loom__handle_box(L, 1);
  const char *k = lua_tostring(L, 2);
  if (k != NULL && o != NULL) {
    if (strcmp(k, "port") == 0) {
      lua_pushinteger(L, o->port);
      return 1;
    }
    if (strcmp(k, "family") == 0) {
      lua_pushstring(L, o->family == AF_INET6 ? "inet6" : "inet");
      return 1;
    }
  }
  if (k != NULL && strcmp(k, "closed") == 0) {
    lua_pushboolean(L, o == NULL || o->closed);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(3));
  return 1;
}

/* __tostring: "loom.Udp (port N)" or "loom.Udp (closed)". */
static int l_udp_tostring(lua_State *L) {
  udp_obj *o = (udp_obj *)loom__handle_box(L, 1);
  if (o == NULL || o->closed) lua_pushliteral(L, "loom.Udp (closed)");
  else lua_pushfstring(L, "loom.Udp (port %d)", o->port);
  return 1;
}

/* core.udp_bind(host, port) -> Udp | nil, code, message. 'host' is a
** numeric address (loom.udp resolves names first); port 0 picks a free
** one (u.port tells which). A checkpoint: it never waits, but like every
** I/O call it raises outside a task (README, I/O). */
static int l_udp_bind(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *host = loom__checkstring(L, 1);
  int port = loom__checkport(L, 2);
  struct sockaddr_storage ss;
  int len = (int)sizeof ss;
  uv_loop_t *loop;
  udp_obj *o;
  int rc;
  lua_settop(L, 2);
  loom__checkpoint_enter(L, ctx);
  loop = ctx->loop;
  rc = loom__numeric_addr(host, port, &ss);
  if (rc < 0) return loom__fail(L, rc);
  lua_settop(L, 2);
  o = (udp_obj *)loom__handle_new(L, ctx, sizeof(udp_obj), &udp_type,
                                  LOOM_UDP_MT, 0);
  o->family = ss.ss_family;
  rc = uv_udp_init(loop, &o->udp);
  if (rc < 0) {
    o->closed = 1;                      /* the box frees it at __gc */
    return loom__fail(L, rc);
  }
  loom__handle_opened(&o->h, (uv_handle_t *)&o->udp);
  rc = uv_udp_bind(&o->udp, (const struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = uv_udp_getsockname(&o->udp, (struct sockaddr *)&ss, &len);
  if (rc == 0) rc = udp_start(o);
  if (rc < 0) {
    udp_close(o);
    return loom__fail(L, rc);
  }
  o->port = loom__sockaddr_port(&ss);
  udp_update_ref(o);
  return 1;
}

/* }==================================================================== */

static const luaL_Reg udp_methods[] = {
  {"receive_from", l_udp_receive_from},
  {"send_to", l_udp_send_to},
  {"sockname", l_udp_sockname},
  {"close", l_udp_close},
  {"is_closed", l_udp_is_closed},
  {NULL, NULL}
};

static const luaL_Reg udp_funcs[] = {
  {"udp_bind", l_udp_bind},
  {NULL, NULL}
};

static const luaL_Reg udp_meta[] = {
  {"__gc", l_udp_gc},
  {"__close", l_udp_close},
  {"__tostring", l_udp_tostring},
  {NULL, NULL}
};

/* Its methods table is core.Udp_methods, in which lua/loom/udp.lua puts
** its wrappers of the native methods, found in core.Udp_native. */
static const loom_class udp_class = {
  LOOM_UDP_MT, udp_methods, udp_meta, l_udp_index, udp_funcs,
  "Udp_methods", "Udp_native"
};

/* [-0, +0, m] Register the Udp class and core.udp_bind. */
void loom__udp_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &udp_class);
  lua_pop(L, 1);
}
