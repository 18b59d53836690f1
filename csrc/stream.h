/*
** stream.h: the Stream (stream.c) and Listener (listener.c) objects that
** tcp.c, pipe.c and process.c build on, and the connect request they
** share.
**
** A Stream is a handle block (io.h) with a receive buffer; a Listener a
** handle block that accepts lazily. A connection being made is a Stream
** from the start: its connect request (a loom_connect, req.h) is waited
** for with loom__connect_abort, which closes the stream when the task is
** cancelled (libuv then completes the request with UV_ECANCELED and its
** callback frees it).
*/
#ifndef loom_stream_h
#define loom_stream_h

#include "req.h"

#define LOOM_STREAM_MT "loom.Stream"
#define LOOM_LISTENER_MT "loom.Listener"

/* Kinds of stream. */
#define LOOM_TCP 1
#define LOOM_PIPE 2

typedef struct loom_stream loom_stream;
typedef struct loom_listener loom_listener;

/* A byte stream over a uv_stream_t, with its receive buffer. */
struct loom_stream {
  loom_handle h;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } u;
  char *buf;              /* receive buffer, NULL until the first read */
  size_t cap;             /* its size */
  size_t head, len;       /* buffered bytes: buf[head .. head + len) */
  size_t want;            /* read_exactly: bytes the reader waits for */
  size_t scan;            /* read_line: buffered bytes with no newline */
  loom_task *reader;      /* task blocked in a read, or NULL */
  int rerr;               /* sticky read error (libuv code) or 0 */
  int nwrites;            /* writes in flight */
  unsigned char kind;     /* LOOM_TCP or LOOM_PIPE */
  unsigned char rmode;    /* what the reader waits for */
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
** stream.c
** ===================================================================== */
/* [-0, +1, m] Push a new Stream of 'kind' with an initialised handle
** (not connected); raises if libuv cannot initialise it. */
loom_stream *loom__stream_new(lua_State *L, loom_ctx *ctx, int kind);
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
/* [-0, +0, m] Register the Listener metatable; its methods go in the
** core table on top as core.listener_methods. */
void loom__listener_open(lua_State *L, loom_ctx *ctx);

#endif
