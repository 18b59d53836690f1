/*
** file.c: File objects (loom.fs.open, f:read, f:write, f:stat, f:close),
** on libuv's fs requests (io.h, "fs requests").
**
** A File (userdata "loom.File", user value 1: its path) is a box holding
** the pointer of its state, an fs_file block whose descriptor and
** requests in flight filestate.c manages. Invariants:
**  - Reads and writes without an offset use the File's own position
**    f->pos (pread/pwrite), and at most one of them is in flight
**    (f->seq_busy; the others wait in f->seq_lot). A read advances the
**    position only when its task takes the bytes: a read cancelled in the
**    background is discarded and the next read returns the same bytes.
**    A write advances it when the bytes are in the file, whether or not
**    its task was cancelled meanwhile. Files that cannot seek (FIFOs,
**    terminals) use the kernel's position instead, and the bytes of a
**    cancelled read are kept in f->stash for the next read. In append mode
**    writes go to the end of the file and leave f->pos alone.
**  - Closing never blocks the loop (filestate.c).
**  - An open cancelled in the background that succeeds closes the new
**    descriptor in its callback: nothing leaks.
**  - A write's data is a pinned Lua string, except with a host loop: then
**    lua_close may free the string while the threadpool still writes it,
**    so the request writes from a copy (io.h, "Requests": Teardown).
*/
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

#define LOOM_FILE_MT "loom.File"

/* Largest single read (Linux transfers at most this much at once). */
#define FS_MAXREAD 0x7ffff000

/* {====================================================================
** Opening
** ===================================================================== */

/* The open(2) flags of io.open-style 'mode' ("r", "w", "a", "r+", "w+",
** "a+", with an optional "b", and "x" after "w" for O_EXCL), or -1. */
static int parse_flags(const char *m) {
  int fl, plus = 0, b = 0, x = 0;
  char kind = *m;
  if (kind == '\0') return -1;
  for (m++; *m != '\0'; m++) {
    if (*m == '+' && !plus) plus = 1;
    else if (*m == 'b' && !b) b = 1;
    else if (*m == 'x' && !x && kind == 'w') x = 1;
    else return -1;
  }
  switch (kind) {
    case 'r': fl = plus ? O_RDWR : O_RDONLY; break;
    case 'w': fl = (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC; break;
    case 'a': fl = (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND; break;
    default: return -1;
  }
  if (x) fl |= O_EXCL;
  return fl;
}

/* Completion of an open (libuv context, pure C). If the task still waits,
** the File takes the descriptor; if it was cancelled, or the context is
** gone, close the descriptor (with the same request). */
static void on_open(uv_fs_t *req) {
  fs_req *q = (fs_req *)loom__req_of(req);
  ssize_t res = req->result;
  if (res >= 0 && loom__req_wanted(&q->r)) {
    q->f->fd = (uv_file)res;
    q->f->closed = 0;
    q->r.status = 0;
    loom__req_finish(&q->r);
    return;
  }
  q->r.status = res < 0 ? (int)res : 0;
  if (res >= 0) {            /* nobody wants it: close it (no leak) */
    uv_fs_req_cleanup(&q->fs);
    loom__file_close_submit(q, (uv_file)res);
    return;
  }
  loom__req_finish(&q->r);
}

/* [-0, +1|3, e] Continuation: the File (at index 4), or the fail tuple. */
static int k_open(lua_State *L, int status, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, loom_ctxup(L), kc);
  (void)status;
  if (r->status < 0) return loom__req_fail(L, r, r->status);
  loom__req_free(L, r);
  lua_pushvalue(L, 4);                    /* the File */
  return 1;
}

/* [-3, +(1|3), y] Checkpoint. core.fs_open(path [, flags = "r" [, mode =
** 0666]]) -> File | nil, code, message. */
static int l_fs_open(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *path = loom__checkstring(L, 1);
  const char *fm = loom__optstring(L, 2, "r");
  lua_Integer mode = loom__fs_checkmode(L, 3, 0666);
  int oflags = parse_flags(fm);
  loom_task *t;
  fs_file **box;
  fs_file *f;
  fs_req *q;
  loom__argcheck(L, oflags != -1, 2, "invalid mode (expected \"r\", \"w\", "
                 "\"a\", \"r+\", \"w+\" or \"a+\")");
  lua_settop(L, 3);
  t = loom__checkpoint_enter(L, ctx);
  box = (fs_file **)lua_newuserdatauv(L, sizeof(fs_file *), 1); /* 4 */
  *box = NULL;
  luaL_setmetatable(L, LOOM_FILE_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 4, 1);
  f = (fs_file *)calloc(1, sizeof(fs_file));
  if (f == NULL) return luaL_error(L, "loom: out of memory (File)");
  f->io = loom__io(ctx);
  loom__io_ref(f->io);
  f->refs = 1;                            /* the userdata's */
  f->fd = -1;
  f->closed = 1;                          /* not open yet */
  f->oflags = oflags;
  f->append = (oflags & O_APPEND) != 0;
  *box = f;
  q = loom__fs_req_new(L, ctx, FK_OPEN);  /* 5: its guard */
  q->r.cleanup = loom__file_req_cleanup;
  q->f = f;
  f->refs++;
  return loom__fs_go(L, t, q,
                     uv_fs_open(ctx->loop, &q->fs, path, oflags, (int)mode,
                                on_open), k_open);
}

/* }==================================================================== */

/* {====================================================================
** File methods
** ===================================================================== */

/* [-0, +0, v] The File at 'idx', which must be open ("closed" otherwise). */
static fs_file *check_file(lua_State *L, int idx) {
  fs_file *f = *(fs_file **)loom__checkself(L, idx);
  if (f == NULL || f->closed)
    loom__error(L, "loom.File: attempt to use a closed file");
  return f;
}

/* Completion of a read (libuv context, pure C). */
static void on_read(uv_fs_t *req) {
  fs_req *q = (fs_req *)loom__req_of(req);
  fs_file *f = q->f;
  loom_ctx *ctx = loom__req_ctx(&q->r);
  ssize_t res = req->result;
  if (res == UV_ESPIPE && (q->stage & FS_SEQ) && q->off >= 0 &&
      ctx != NULL) {
    uv_buf_t b = uv_buf_init(q->buf, (unsigned int)q->len);
    f->noseek = 1;                        /* a pipe: use read(2) */
    q->off = -1;
    uv_fs_req_cleanup(req);
    if (uv_fs_read(ctx->loop, req, f->fd, &b, 1, -1, on_read) == 0) return;
    res = UV_ESPIPE;
  }
  if ((q->stage & FS_SEQ) && res > 0 && ctx != NULL) {
    if (q->r.waiter != NULL) {
      if (!f->noseek) f->pos += res;
    } else if (f->noseek && !f->closed) {
      /* Read in the background from a pipe: keep the bytes (DESIGN.md B10). */
      char *s = (char *)realloc(f->stash, f->stash_len + (size_t)res);
      if (s != NULL) {
        memcpy(s + f->stash_len, q->buf, (size_t)res);
        f->stash = s;
        f->stash_len += (size_t)res;
      }
    }
  }
  q->r.status = (int)(res < 0 ? res : 0);
  q->done = res > 0 ? (size_t)res : 0;
  loom__file_op_done(f, q);
  loom__req_finish(&q->r);
}

/* [-0, +1|3, e] Continuation: the bytes, nil at the end, or the fail
** tuple. */
static int k_read(lua_State *L, int status, lua_KContext kc) {
  fs_req *q = (fs_req *)loom__req_resumed(L, loom_ctxup(L), kc);
  (void)status;
  if (q->r.status < 0) return loom__req_fail(L, &q->r, q->r.status);
  if (q->done == 0) lua_pushnil(L);       /* end of file */
  else lua_pushlstring(L, q->buf, q->done);
  loom__req_free(L, &q->r);
  return 1;
}

static int k_read_lock(lua_State *L, int status, lua_KContext kc);

/* [-0, +?, y] The body of f:read(n [, offset]); stack: f, n, offset. */
static int file_read(lua_State *L, loom_ctx *ctx, loom_task *t) {
  fs_file *f = check_file(L, 1);
  lua_Integer n = lua_tointeger(L, 2);
  lua_Integer off = lua_isnil(L, 3) ? -1 : lua_tointeger(L, 3);
  fs_req *q;
  uv_buf_t b;
  int rc;
  if (off < 0) {
    if (f->stash != NULL) {               /* bytes kept from a pipe */
      size_t k = f->stash_len - f->stash_off;
      if ((lua_Integer)k > n) k = (size_t)n;
      lua_pushlstring(L, f->stash + f->stash_off, k);
      f->stash_off += k;
      if (f->stash_off == f->stash_len) {
        free(f->stash);
        f->stash = NULL;
        f->stash_len = f->stash_off = 0;
      }
      return 1;
    }
    if (f->seq_busy) {
      loom__waiting(t, "fs read");
      return loom__lot_park(L, t, &f->seq_lot, k_read_lock);
    }
  }
  if (n == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (n > FS_MAXREAD) n = FS_MAXREAD;
  q = loom__fs_req_new(L, ctx, FK_READ);
  q->buf = (char *)malloc((size_t)n);
  if (q->buf == NULL) return luaL_error(L, "loom: out of memory (read)");
  q->len = (size_t)n;
  loom__file_op_start(f, q, off < 0);
  q->off = off >= 0 ? off : (f->noseek ? -1 : f->pos);
  b = uv_buf_init(q->buf, (unsigned int)n);
  rc = uv_fs_read(ctx->loop, &q->fs, f->fd, &b, 1, q->off, on_read);
  if (rc < 0) loom__file_op_refused(f, q);
  return loom__fs_go(L, t, q, rc, k_read);
}

/* Continuation of a read that waited for the previous one to end: test
** cancellation again (a wait that starts now could not be aborted
** otherwise), then try again. */
static int k_read_lock(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = (loom_task *)kc;
  (void)status;
  loom__resumed(L, ctx, t);
  loom__check_cancel(L, ctx, t);
  return file_read(L, ctx, t);
}

/* [-3, +(1|3), y] Checkpoint. f:read(n [, offset]) -> string (up to n
** bytes) | nil at the end of the file | nil, code, message. Without
** 'offset' reads at the File's position and advances it. */
static int l_file_read(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  lua_Integer n;
  check_file(L, 1);
  n = loom__checkinteger(L, 2);
  loom__argcheck(L, n >= 0, 2, "negative count");
  if (!lua_isnoneornil(L, 3))
    loom__argcheck(L, loom__checkinteger(L, 3) >= 0, 3, "negative offset");
  lua_settop(L, 3);
  return file_read(L, ctx, loom__checkpoint_enter(L, ctx));
}

/* Submit the rest of write 'q' on 'f' (pure C); returns libuv's code. */
static int write_submit(uv_loop_t *loop, fs_file *f, fs_req *q);

/* Completion of a write (libuv context, pure C): go on until every byte
** is written, unless the task is gone. */
static void on_write(uv_fs_t *req) {
  fs_req *q = (fs_req *)loom__req_of(req);
  fs_file *f = q->f;
  loom_ctx *ctx = loom__req_ctx(&q->r);
  ssize_t res = req->result;
  uv_fs_req_cleanup(req);
  if (res == UV_ESPIPE && (q->stage & FS_SEQ) && q->off >= 0 &&
      ctx != NULL) {
    f->noseek = 1;
    q->off = -1;
    if (write_submit(ctx->loop, f, q) == 0) return;
  }
  if (res > 0) {
    q->done += (size_t)res;
    if (q->off >= 0) q->off += res;
    if ((q->stage & FS_SEQ) && !f->noseek && !f->append) f->pos += res;
    if (q->done < q->len && loom__req_wanted(&q->r)) {
      int rc = write_submit(ctx->loop, f, q);
      if (rc == 0) return;
      res = rc;
    }
  }
  q->r.status = (int)(res < 0 ? res : 0);
  loom__file_op_done(f, q);
  loom__req_finish(&q->r);
}

static int write_submit(uv_loop_t *loop, fs_file *f, fs_req *q) {
  uv_buf_t b = uv_buf_init((char *)q->data + q->done,
                           (unsigned int)(q->len - q->done));
  return uv_fs_write(loop, &q->fs, f->fd, &b, 1, q->off, on_write);
}

/* [-0, +1|3, e] Continuation: the File (index 1), or the fail tuple. */
static int k_write(lua_State *L, int status, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, loom_ctxup(L), kc);
  (void)status;
  if (r->status < 0) return loom__req_fail(L, r, r->status);
  loom__req_free(L, r);
  lua_pushvalue(L, 1);
  return 1;
}

static int k_write_lock(lua_State *L, int status, lua_KContext kc);

/* [-0, +?, y] The body of f:write(data [, offset]); stack: f, data,
** offset. */
static int file_write(lua_State *L, loom_ctx *ctx, loom_task *t) {
  fs_file *f = check_file(L, 1);
  size_t len;
  const char *data = lua_tolstring(L, 2, &len);
  lua_Integer off = lua_isnil(L, 3) ? -1 : lua_tointeger(L, 3);
  fs_req *q;
  int rc;
  if (off < 0 && f->seq_busy) {
    loom__waiting(t, "fs write");
    return loom__lot_park(L, t, &f->seq_lot, k_write_lock);
  }
  if (len == 0) {
    lua_pushvalue(L, 1);
    return 1;
  }
  q = loom__fs_req_new(L, ctx, FK_WRITE);
  if (ctx->own_loop) {
    loom__req_pin(L, &q->r, 2);  /* lua_close drains loom's own loop */
    q->data = data;
  } else {
    q->buf = (char *)malloc(len);        /* see "Teardown", req.h */
    if (q->buf == NULL) return luaL_error(L, "loom: out of memory (write)");
    memcpy(q->buf, data, len);
    q->data = q->buf;
  }
  q->len = len;
  loom__file_op_start(f, q, off < 0);
  if (off >= 0) q->off = off;
  else q->off = (f->noseek || f->append) ? -1 : f->pos;
  rc = write_submit(ctx->loop, f, q);
  if (rc < 0) loom__file_op_refused(f, q);
  return loom__fs_go(L, t, q, rc, k_write);
}

/* Continuation of a write that waited for its turn: as k_read_lock. */
static int k_write_lock(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = (loom_task *)kc;
  (void)status;
  loom__resumed(L, ctx, t);
  loom__check_cancel(L, ctx, t);
  return file_write(L, ctx, t);
}

/* [-3, +(1|3), y] Checkpoint. f:write(data [, offset]) -> f | nil, code,
** message. Without 'offset' writes at the File's position and advances it
** (in append mode: at the end of the file). */
static int l_file_write(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  check_file(L, 1);
  loom__checktype(L, 2, LUA_TSTRING);
  if (!lua_isnoneornil(L, 3))
    loom__argcheck(L, loom__checkinteger(L, 3) >= 0, 3, "negative offset");
  lua_settop(L, 3);
  return file_write(L, ctx, loom__checkpoint_enter(L, ctx));
}

/* Completion of an fstat (libuv context, pure C). */
static void on_fstat(uv_fs_t *req) {
  fs_req *q = (fs_req *)loom__req_of(req);
  q->r.status = req->result < 0 ? (int)req->result : 0;
  loom__file_op_done(q->f, q);
  loom__req_finish(&q->r);
}

/* [-1, +(1|3), y] Checkpoint. f:stat() -> table | nil, code, message. */
static int l_file_stat(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  fs_file *f = check_file(L, 1);
  loom_task *t;
  fs_req *q;
  int rc;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  q = loom__fs_req_new(L, ctx, FK_FSTAT);
  loom__file_op_start(f, q, 0);
  rc = uv_fs_fstat(ctx->loop, &q->fs, f->fd, on_fstat);
  if (rc < 0) loom__file_op_refused(f, q);
  return loom__fs_go(L, t, q, rc, loom__fs_k_stat);
}

/* [-0, +1|3, e] Continuation: true, or the fail tuple. */
static int k_close(lua_State *L, int status, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, loom_ctxup(L), kc);
  (void)status;
  if (r->status < 0) return loom__req_fail(L, r, r->status);
  loom__req_free(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

/* [-1, +(1|3), y] Checkpoint (in a task). f:close() -> true | nil, code,
** message. Idempotent. The file is closed even if the task is cancelled:
** then the close finishes in the background. Outside a task it closes
** without waiting. Tasks waiting to read or write the file raise
** "closed". */
static int l_file_close(lua_State *L);

/* [-1, +1, v] f:is_closed() -> boolean. */
static int l_file_is_closed(lua_State *L) {
  fs_file *f = *(fs_file **)loom__checkself(L, 1);
  lua_pushboolean(L, f == NULL || f->closed);
  return 1;
}

static int l_file_close(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  fs_file *f = *(fs_file **)loom__checkself(L, 1);
  loom_task *t = ctx->current;
  fs_req *q;
  int rc;
  lua_settop(L, 1);
  if (f == NULL || f->closed) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (t == NULL || t->co != L || !lua_isyieldable(L)) {
    loom__file_close_bg(f);                     /* no task can wait */
    lua_pushboolean(L, 1);
    return 1;
  }
  loom__clock_due(ctx);
  if (t->scope->flags & SF_EFFECTIVE) {
    loom__file_close_bg(f);                     /* cancelled: close anyway */
    loom__check_cancel(L, ctx, t);        /* raises */
  }
  q = loom__fs_req_new(L, ctx, FK_CLOSE);
  rc = loom__file_close_with(ctx, f, q);
  if (rc < 0) return loom__req_fail(L, &q->r, rc);
  loom__waiting(t, "fs close");
  return loom__req_wait(L, t, &q->r, loom__req_abort_detach, k_close);
}

/* [-1, +0, -] __gc and __close of a File (DESIGN.md B7): close it in the
** background; never raises, never blocks, never wakes anything but
** waiters of this File. __gc also lets the state go. */
static int l_file_gc(lua_State *L) {
  fs_file **box = (fs_file **)lua_touserdata(L, 1);
  fs_file *f = box != NULL ? *box : NULL;
  if (f == NULL) return 0;
  loom__file_close_bg(f);
  return 0;
}

/* [-1, +0, -] __gc: close, then drop the userdata's reference. */
static int l_file_collect(lua_State *L) {
  fs_file **box = (fs_file **)lua_touserdata(L, 1);
  fs_file *f = box != NULL ? *box : NULL;
  if (f == NULL) return 0;
  *box = NULL;
  loom__file_close_bg(f);
  loom__file_unref(f);
  return 0;
}

/* [-2, +1, m] __index of a File: its methods, and the field 'path'. */
static int l_file_index(lua_State *L) {
  const char *k = lua_tostring(L, 2);
  if (k != NULL && strcmp(k, "path") == 0) {
    loom__checkself(L, 1);
    lua_getiuservalue(L, 1, 1);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(3));
  return 1;
}

/* [-1, +1, m] __tostring of a File: "loom.File: path", with " (closed)". */
static int l_file_tostring(lua_State *L) {
  fs_file *f = *(fs_file **)loom__checkself(L, 1);
  lua_getiuservalue(L, 1, 1);
  lua_pushfstring(L, "loom.File: %s%s", lua_tostring(L, -1),
                  f == NULL || f->closed ? " (closed)" : "");
  return 1;
}

/* }==================================================================== */

static const luaL_Reg file_methods[] = {
  {"read", l_file_read},
  {"write", l_file_write},
  {"stat", l_file_stat},
  {"close", l_file_close},
  {"is_closed", l_file_is_closed},
  {NULL, NULL}
};

static const luaL_Reg file_funcs[] = {
  {"fs_open", l_fs_open},
  {NULL, NULL}
};

static const luaL_Reg file_meta[] = {
  {"__gc", l_file_collect},
  {"__close", l_file_gc},
  {"__tostring", l_file_tostring},
  {NULL, NULL}
};

/* The methods table of Files is core.File_methods, in which
** lua/loom/fs.lua puts its wrappers of the native methods, found in
** core.File_native. */
static const loom_class file_class = {
  LOOM_FILE_MT, file_methods, file_meta, l_file_index, file_funcs,
  "File_methods", "File_native"
};

/* [-0, +0, m] Register the File class and core.fs_open. */
void loom__file_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &file_class);
  lua_pop(L, 1);
}
