/*
** fs.c: files and paths through libuv's fs requests (API section 7), the
** native half of loom.fs. Every operation runs in libuv's threadpool and
** is a checkpoint; failures cross as fail tuples (rule E2) and
** lua/loom/fs.lua raises loom.IOError. Request lifetime is req.c's.
**
** A File (userdata "loom.File", user value 1: its path) owns one file
** descriptor. Invariants:
**  - f->inflight counts the requests in flight that use f->fd; each pins
**    the File, so the File outlives them. The descriptor is closed only
**    when none is in flight (a close asked for earlier is queued in
**    f->close_req and submitted by the last one), so no request ever
**    reads or writes a descriptor number that was closed and reused.
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
**  - Closing never blocks the loop: f:close() waits (a checkpoint) for
**    the close request; __gc and __close start it in the background
**    (counted in ctx->nclosing, so loom.run waits for it), or close at
**    once when no loop runs.
**  - An open cancelled in the background that succeeds closes the new
**    descriptor in its callback: nothing leaks.
*/
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "req.h"

#define LOOM_FILE_MT "loom.File"

/* Largest single read (Linux transfers at most this much at once). */
#define FS_MAXREAD 0x7ffff000

/* Request kinds (r->kind). */
#define FK_PATH 0   /* stat, unlink, mkdir...: no File */
#define FK_OPEN 1
#define FK_READ 2
#define FK_WRITE 3
#define FK_FSTAT 4
#define FK_CLOSE 5

/* Request stages (r->stage). */
#define FS_SEQ 0x01    /* a read/write at the File's position */

typedef struct fs_file {
  loom_ctx *ctx;
  uv_file fd;           /* -1: not open, or its close was submitted */
  int oflags;           /* open(2) flags */
  int inflight;         /* requests in flight on fd */
  int64_t pos;          /* position of reads/writes without offset */
  loom_lot seq_lot;     /* tasks waiting for seq_busy to clear */
  loom_req *close_req;  /* close queued until inflight drops to 0 */
  char *stash;          /* bytes of a cancelled read (cannot seek) */
  size_t stash_len, stash_off;
  unsigned char closed;   /* no more operations (or not open yet) */
  unsigned char seq_busy; /* a read/write without offset is in flight */
  unsigned char noseek;   /* pread said ESPIPE: use the kernel position */
  unsigned char append;   /* O_APPEND */
} fs_file;

/* Free what an fs request's result owns (pure C). */
static void fs_cleanup(loom_req *r) { uv_fs_req_cleanup(&r->u.fs); }

static void on_close(uv_fs_t *req);

/* {====================================================================
** Closing
** ===================================================================== */

/* [-0, +0, -] Close 'fd' synchronously (no loop runs, or teardown). */
static void close_now(loom_ctx *ctx, uv_file fd) {
  uv_fs_t req;
  if (ctx->loop != NULL) {
    uv_fs_close(ctx->loop, &req, fd, NULL);
    uv_fs_req_cleanup(&req);
  } else {
    close(fd);
  }
}

/* [-0, +0, -] Submit close request 'r' for 'fd' (pure C); on refusal,
** or during teardown, close at once and complete 'r'. */
static void close_submit(loom_ctx *ctx, loom_req *r, uv_file fd) {
  int rc;
  r->kind = FK_CLOSE;
  r->flags = (unsigned char)((r->flags & ~RQ_QUEUED) | RQ_NOCANCEL);
  if (ctx->closing) {
    close_now(ctx, fd);
    r->status = 0;
    loom__req_finish(r);
    return;
  }
  r->cleanup = fs_cleanup;
  rc = uv_fs_close(ctx->loop, &r->u.fs, fd, on_close);
  if (rc < 0) {
    close_now(ctx, fd);
    r->status = rc;
    loom__req_finish(r);
    return;
  }
  r->flags |= RQ_SUBMITTED;
}

/* Completion of a close (libuv context). */
static void on_close(uv_fs_t *req) {
  loom_req *r = loom_req_of(req);
  r->status = req->result < 0 ? (int)req->result : 0;
  loom__req_finish(r);
}

/* Mark 'f' closed: wake the tasks waiting to read or write (they raise
** "closed"), drop the stash. Pure C. */
static void file_mark_closed(fs_file *f) {
  f->closed = 1;
  free(f->stash);
  f->stash = NULL;
  f->stash_len = f->stash_off = 0;
  if (!f->ctx->closing) loom__lot_wake_all(f->ctx, &f->seq_lot);
}

/* Start closing 'f' in the background (pure C, never blocks the loop, no
** task waits): __gc, __close, a close outside tasks or a cancelled close.
** With requests in flight the close is queued until the last one ends. */
static void file_close_bg(fs_file *f) {
  loom_ctx *ctx = f->ctx;
  loom_req *r;
  uv_file fd;
  if (f->closed) return;
  file_mark_closed(f);
  if (f->fd < 0) return;
  if (f->inflight > 0) {
    r = loom__req_new_bg(ctx);
    if (r == NULL) return;  /* out of memory: the descriptor leaks */
    r->flags |= RQ_QUEUED;
    f->close_req = r;
    return;
  }
  fd = f->fd;
  f->fd = -1;
  if (ctx->closing || ctx->loop == NULL ||
      (ctx->own_loop && ctx->loop_depth == 0)) {
    close_now(ctx, fd);     /* no loop runs that would finish a request */
    return;
  }
  r = loom__req_new_bg(ctx);
  if (r == NULL) {
    close_now(ctx, fd);
    return;
  }
  close_submit(ctx, r, fd);
}

/* A request on 'f' has ended (pure C): let the next read/write go, and
** submit a queued close when it was the last one. */
static void file_op_done(fs_file *f, loom_req *r) {
  if (r->stage & FS_SEQ) {
    f->seq_busy = 0;
    if (!f->ctx->closing) loom__lot_wake_all(f->ctx, &f->seq_lot);
  }
  if (--f->inflight == 0 && f->close_req != NULL) {
    loom_req *cr = f->close_req;
    uv_file fd = f->fd;
    f->close_req = NULL;
    f->fd = -1;
    close_submit(f->ctx, cr, fd);
  }
}

/* }==================================================================== */

/* {====================================================================
** Results
** ===================================================================== */

/* The type name of a st_mode. */
static const char *mode_type(uint64_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "file";
    case S_IFDIR: return "directory";
    case S_IFLNK: return "link";
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "socket";
    case S_IFCHR: return "char";
    case S_IFBLK: return "block";
    default: return "unknown";
  }
}

/* [-0, +0, m] t[k] = ts in seconds (float), t on top. */
static void set_time(lua_State *L, const char *k, const uv_timespec_t *ts) {
  lua_pushnumber(L, (lua_Number)ts->tv_sec + (lua_Number)ts->tv_nsec / 1e9);
  lua_setfield(L, -2, k);
}

/* [-0, +0, m] t[k] = v, t on top. */
static void set_int(lua_State *L, const char *k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

/* [-0, +1, m] Push the stat table of 's'. */
static void push_stat(lua_State *L, const uv_stat_t *s) {
  lua_createtable(L, 0, 16);
  set_int(L, "size", s->st_size);
  lua_pushstring(L, mode_type(s->st_mode));
  lua_setfield(L, -2, "type");
  set_int(L, "mode", s->st_mode & 07777);
  set_int(L, "nlink", s->st_nlink);
  set_int(L, "uid", s->st_uid);
  set_int(L, "gid", s->st_gid);
  set_int(L, "ino", s->st_ino);
  set_int(L, "dev", s->st_dev);
  set_int(L, "rdev", s->st_rdev);
  set_int(L, "blksize", s->st_blksize);
  set_int(L, "blocks", s->st_blocks);
  set_time(L, "atime", &s->st_atim);
  set_time(L, "mtime", &s->st_mtim);
  set_time(L, "ctime", &s->st_ctim);
  set_time(L, "birthtime", &s->st_birthtim);
}

/* The type name of a directory entry. */
static const char *dirent_type(uv_dirent_type_t t) {
  switch (t) {
    case UV_DIRENT_FILE: return "file";
    case UV_DIRENT_DIR: return "directory";
    case UV_DIRENT_LINK: return "link";
    case UV_DIRENT_FIFO: return "fifo";
    case UV_DIRENT_SOCKET: return "socket";
    case UV_DIRENT_CHAR: return "char";
    case UV_DIRENT_BLOCK: return "block";
    default: return "unknown";
  }
}

/* }==================================================================== */

/* {====================================================================
** Path operations: stat, lstat, unlink, mkdir, rmdir, rename, scandir
** ===================================================================== */

/* [-0, +0, v] The permission bits at 'idx' (a number: a string such as
** "644" would silently mean decimal), or 'def' if none. */
static lua_Integer check_mode(lua_State *L, int idx, lua_Integer def) {
  lua_Integer mode;
  if (lua_isnoneornil(L, idx)) return def;
  luaL_argexpected(L, lua_type(L, idx) == LUA_TNUMBER, idx, "number");
  mode = luaL_checkinteger(L, idx);
  luaL_argcheck(L, mode >= 0 && mode <= 07777, idx, "mode out of range");
  return mode;
}

/* Completion of a path operation (libuv context). */
static void on_fs_path(uv_fs_t *req) {
  loom_req *r = loom_req_of(req);
  r->status = req->result < 0 ? (int)req->result : 0;
  loom__req_finish(r);
}

/* [-0, +1, m] A request for a path operation (its guard pushed). */
static loom_req *path_req(lua_State *L, loom_ctx *ctx) {
  loom_req *r = loom__req_new(L, ctx);
  r->kind = FK_PATH;
  r->cleanup = fs_cleanup;
  return r;
}

/* [-0, +?, y] The tail of every fs call: if libuv refused the request
** ('rc' < 0), free it and return the fail tuple; else wait for it, 'k'
** continuing. */
static int path_go(lua_State *L, loom_task *t, loom_req *r, int rc,
                   lua_KFunction k) {
  if (rc < 0) return loom__req_fail(L, r, rc);
  r->flags |= RQ_SUBMITTED;
  return loom__req_wait(L, t, r, k);
}

/* [-0, +1|3, e] Continuation: true, or the fail tuple. */
static int k_true(lua_State *L, int status, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, loom_ctxup(L), kc);
  (void)status;
  if (r->status < 0) return loom__req_fail(L, r, r->status);
  loom__req_free(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

/* [-0, +1|3, e] Continuation: the stat table, or the fail tuple. */
static int k_stat(lua_State *L, int status, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, loom_ctxup(L), kc);
  (void)status;
  if (r->status < 0) return loom__req_fail(L, r, r->status);
  push_stat(L, &r->u.fs.statbuf);
  loom__req_free(L, r);
  return 1;
}

/* [-0, +1|3, e] Continuation: the array of entries, or the fail tuple. */
static int k_scandir(lua_State *L, int status, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, loom_ctxup(L), kc);
  uv_dirent_t ent;
  int n = 0;
  (void)status;
  if (r->status < 0) return loom__req_fail(L, r, r->status);
  lua_newtable(L);
  while (uv_fs_scandir_next(&r->u.fs, &ent) == 0) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, ent.name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, dirent_type(ent.type));
    lua_setfield(L, -2, "type");
    lua_rawseti(L, -2, ++n);
  }
  loom__req_free(L, r);
  return 1;
}

/* Checkpoint. core.fs_stat(path) -> table | nil, code, message. */
static int l_fs_stat(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *path = luaL_checkstring(L, 1);
  loom_task *t;
  loom_req *r;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  r = path_req(L, ctx);
  return path_go(L, t, r, uv_fs_stat(ctx->loop, &r->u.fs, path, on_fs_path),
                 k_stat);
}

/* Checkpoint. core.fs_lstat(path): stat of a link itself. */
static int l_fs_lstat(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *path = luaL_checkstring(L, 1);
  loom_task *t;
  loom_req *r;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  r = path_req(L, ctx);
  return path_go(L, t, r,
                 uv_fs_lstat(ctx->loop, &r->u.fs, path, on_fs_path), k_stat);
}

/* Checkpoint. core.fs_unlink(path) -> true | nil, code, message. */
static int l_fs_unlink(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *path = luaL_checkstring(L, 1);
  loom_task *t;
  loom_req *r;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  r = path_req(L, ctx);
  return path_go(L, t, r,
                 uv_fs_unlink(ctx->loop, &r->u.fs, path, on_fs_path), k_true);
}

/* Checkpoint. core.fs_mkdir(path [, mode = 0777]). */
static int l_fs_mkdir(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *path = luaL_checkstring(L, 1);
  lua_Integer mode = check_mode(L, 2, 0777);
  loom_task *t;
  loom_req *r;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  r = path_req(L, ctx);
  return path_go(L, t, r,
                 uv_fs_mkdir(ctx->loop, &r->u.fs, path, (int)mode,
                             on_fs_path), k_true);
}

/* Checkpoint. core.fs_rmdir(path). */
static int l_fs_rmdir(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *path = luaL_checkstring(L, 1);
  loom_task *t;
  loom_req *r;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  r = path_req(L, ctx);
  return path_go(L, t, r,
                 uv_fs_rmdir(ctx->loop, &r->u.fs, path, on_fs_path), k_true);
}

/* Checkpoint. core.fs_rename(from, to). */
static int l_fs_rename(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *from = luaL_checkstring(L, 1);
  const char *to = luaL_checkstring(L, 2);
  loom_task *t;
  loom_req *r;
  lua_settop(L, 2);
  t = loom__checkpoint_enter(L, ctx);
  r = path_req(L, ctx);
  return path_go(L, t, r,
                 uv_fs_rename(ctx->loop, &r->u.fs, from, to, on_fs_path),
                 k_true);
}

/* Checkpoint. core.fs_scandir(path) -> array of { name =, type = }. */
static int l_fs_scandir(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *path = luaL_checkstring(L, 1);
  loom_task *t;
  loom_req *r;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  r = path_req(L, ctx);
  return path_go(L, t, r,
                 uv_fs_scandir(ctx->loop, &r->u.fs, path, 0, on_fs_path),
                 k_scandir);
}

/* }==================================================================== */

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

/* Completion of an open (libuv context). If the task still waits, the
** File takes the descriptor; if it was cancelled, close the descriptor. */
static void on_open(uv_fs_t *req) {
  loom_req *r = loom_req_of(req);
  fs_file *f = (fs_file *)r->obj;
  loom_ctx *ctx = r->ctx;
  ssize_t res = req->result;
  if (res >= 0 && r->waiter != NULL && !ctx->closing) {
    f->fd = (uv_file)res;
    f->closed = 0;
    r->status = 0;
    loom__req_finish(r);
    return;
  }
  r->status = res < 0 ? (int)res : 0;
  if (res >= 0) {            /* nobody wants it: close it (no leak) */
    uv_fs_req_cleanup(&r->u.fs);
    close_submit(ctx, r, (uv_file)res);
    return;
  }
  loom__req_finish(r);
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

/* Checkpoint. core.fs_open(path [, flags = "r" [, mode = 0666]]) -> File
** | nil, code, message. */
static int l_fs_open(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *path = luaL_checkstring(L, 1);
  const char *fm = luaL_optstring(L, 2, "r");
  lua_Integer mode = check_mode(L, 3, 0666);
  int oflags = parse_flags(fm);
  loom_task *t;
  loom_req *r;
  fs_file *f;
  luaL_argcheck(L, oflags != -1, 2, "invalid mode (expected \"r\", \"w\", "
                "\"a\", \"r+\", \"w+\" or \"a+\")");
  lua_settop(L, 3);
  t = loom__checkpoint_enter(L, ctx);
  f = (fs_file *)lua_newuserdatauv(L, sizeof(fs_file), 1);   /* [.. f] */
  memset(f, 0, sizeof(*f));
  f->ctx = ctx;
  f->fd = -1;
  f->closed = 1;                          /* not open yet */
  f->oflags = oflags;
  f->append = (oflags & O_APPEND) != 0;
  luaL_setmetatable(L, LOOM_FILE_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 4, 1);
  r = loom__req_new(L, ctx);              /* [.. f guard] */
  loom__req_pin(L, r, 4);
  r->obj = f;
  r->kind = FK_OPEN;
  r->cleanup = fs_cleanup;
  return path_go(L, t, r,
                 uv_fs_open(ctx->loop, &r->u.fs, path, oflags, (int)mode,
                            on_open), k_open);
}

/* }==================================================================== */

/* {====================================================================
** File methods
** ===================================================================== */

/* [-0, +0, v] The File at 'idx', which must be open ("closed" otherwise). */
static fs_file *check_file(lua_State *L, int idx) {
  fs_file *f = (fs_file *)luaL_checkudata(L, idx, LOOM_FILE_MT);
  if (f->closed) {               /* at the caller of the Lua wrapper */
    luaL_where(L, 2);
    lua_pushliteral(L, "loom.File: attempt to use a closed file");
    lua_concat(L, 2);
    lua_error(L);
  }
  return f;
}

/* [-0, +0, m] Start request 'r' on the open File 'f' at stack index 1:
** pin it, count the request, take the turn of 'seq' operations. */
static void file_op_start(lua_State *L, fs_file *f, loom_req *r, int seq) {
  loom__req_pin(L, r, 1);
  r->obj = f;
  r->cleanup = fs_cleanup;
  if (seq) {
    r->stage |= FS_SEQ;
    f->seq_busy = 1;
  }
  f->inflight++;
}

/* [-0, +0, -] Undo file_op_start after libuv refused the request. */
static void file_op_refused(fs_file *f, loom_req *r) {
  if (r->stage & FS_SEQ) {
    f->seq_busy = 0;
    loom__lot_wake_all(f->ctx, &f->seq_lot);
  }
  f->inflight--;
}

/* Completion of a read (libuv context). */
static void on_read(uv_fs_t *req) {
  loom_req *r = loom_req_of(req);
  fs_file *f = (fs_file *)r->obj;
  loom_ctx *ctx = r->ctx;
  ssize_t res = req->result;
  if (res == UV_ESPIPE && (r->stage & FS_SEQ) && r->off >= 0 &&
      !ctx->closing) {
    uv_buf_t b = uv_buf_init(r->buf, (unsigned int)r->len);
    f->noseek = 1;                        /* a pipe: use read(2) */
    r->off = -1;
    uv_fs_req_cleanup(req);
    if (uv_fs_read(ctx->loop, req, f->fd, &b, 1, -1, on_read) == 0) return;
    res = UV_ESPIPE;
  }
  if ((r->stage & FS_SEQ) && res > 0 && !ctx->closing) {
    if (r->waiter != NULL) {
      if (!f->noseek) f->pos += res;
    } else if (f->noseek && !f->closed) {
      /* Read in the background from a pipe: keep the bytes (B10). */
      char *s = (char *)realloc(f->stash, f->stash_len + (size_t)res);
      if (s != NULL) {
        memcpy(s + f->stash_len, r->buf, (size_t)res);
        f->stash = s;
        f->stash_len += (size_t)res;
      }
    }
  }
  r->status = (int)(res < 0 ? res : 0);
  r->done = res > 0 ? (size_t)res : 0;
  file_op_done(f, r);
  loom__req_finish(r);
}

/* [-0, +1|3, e] Continuation: the bytes, nil at the end, or the fail
** tuple. */
static int k_read(lua_State *L, int status, lua_KContext kc) {
  loom_req *r = loom__req_resumed(L, loom_ctxup(L), kc);
  (void)status;
  if (r->status < 0) return loom__req_fail(L, r, r->status);
  if (r->done == 0) lua_pushnil(L);       /* end of file */
  else lua_pushlstring(L, r->buf, r->done);
  loom__req_free(L, r);
  return 1;
}

static int k_read_lock(lua_State *L, int status, lua_KContext kc);

/* [-0, +?, y] The body of f:read(n [, offset]); stack: f, n, offset. */
static int file_read(lua_State *L, loom_ctx *ctx, loom_task *t) {
  fs_file *f = check_file(L, 1);
  lua_Integer n = lua_tointeger(L, 2);
  lua_Integer off = lua_isnil(L, 3) ? -1 : lua_tointeger(L, 3);
  loom_req *r;
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
    if (f->seq_busy) return loom__lot_park(L, t, &f->seq_lot, k_read_lock);
  }
  if (n == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (n > FS_MAXREAD) n = FS_MAXREAD;
  r = loom__req_new(L, ctx);
  r->kind = FK_READ;
  r->buf = (char *)malloc((size_t)n);
  if (r->buf == NULL) return luaL_error(L, "loom: not enough memory");
  r->len = (size_t)n;
  file_op_start(L, f, r, off < 0);
  r->off = off >= 0 ? off : (f->noseek ? -1 : f->pos);
  b = uv_buf_init(r->buf, (unsigned int)n);
  rc = uv_fs_read(ctx->loop, &r->u.fs, f->fd, &b, 1, r->off, on_read);
  if (rc < 0) {
    file_op_refused(f, r);
    return loom__req_fail(L, r, rc);
  }
  r->flags |= RQ_SUBMITTED;
  return loom__req_wait(L, t, r, k_read);
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

/* Checkpoint. f:read(n [, offset]) -> string (up to n bytes) | nil at the
** end of the file | nil, code, message. Without 'offset' reads at the
** File's position and advances it. */
static int l_file_read(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  lua_Integer n;
  check_file(L, 1);
  n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "negative count");
  if (!lua_isnoneornil(L, 3))
    luaL_argcheck(L, luaL_checkinteger(L, 3) >= 0, 3, "negative offset");
  lua_settop(L, 3);
  return file_read(L, ctx, loom__checkpoint_enter(L, ctx));
}

/* Submit the rest of write 'r' on 'f' (pure C); returns libuv's code. */
static int write_submit(loom_ctx *ctx, fs_file *f, loom_req *r);

/* Completion of a write (libuv context): go on until every byte is
** written, unless the task is gone. */
static void on_write(uv_fs_t *req) {
  loom_req *r = loom_req_of(req);
  fs_file *f = (fs_file *)r->obj;
  loom_ctx *ctx = r->ctx;
  ssize_t res = req->result;
  uv_fs_req_cleanup(req);
  if (res == UV_ESPIPE && (r->stage & FS_SEQ) && r->off >= 0 &&
      !ctx->closing) {
    f->noseek = 1;
    r->off = -1;
    if (write_submit(ctx, f, r) == 0) return;
  }
  if (res > 0) {
    r->done += (size_t)res;
    if (r->off >= 0) r->off += res;
    if ((r->stage & FS_SEQ) && !f->noseek && !f->append) f->pos += res;
    if (r->done < r->len && r->waiter != NULL && !ctx->closing) {
      int rc = write_submit(ctx, f, r);
      if (rc == 0) return;
      res = rc;
    }
  }
  r->status = (int)(res < 0 ? res : 0);
  file_op_done(f, r);
  loom__req_finish(r);
}

static int write_submit(loom_ctx *ctx, fs_file *f, loom_req *r) {
  uv_buf_t b = uv_buf_init((char *)r->data + r->done,
                           (unsigned int)(r->len - r->done));
  return uv_fs_write(ctx->loop, &r->u.fs, f->fd, &b, 1, r->off, on_write);
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
  loom_req *r;
  int rc;
  if (off < 0 && f->seq_busy)
    return loom__lot_park(L, t, &f->seq_lot, k_write_lock);
  if (len == 0) {
    lua_pushvalue(L, 1);
    return 1;
  }
  r = loom__req_new(L, ctx);
  r->kind = FK_WRITE;
  file_op_start(L, f, r, off < 0);
  loom__req_pin(L, r, 2);
  r->data = data;
  r->len = len;
  if (off >= 0) r->off = off;
  else r->off = (f->noseek || f->append) ? -1 : f->pos;
  rc = write_submit(ctx, f, r);
  if (rc < 0) {
    file_op_refused(f, r);
    return loom__req_fail(L, r, rc);
  }
  r->flags |= RQ_SUBMITTED;
  return loom__req_wait(L, t, r, k_write);
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

/* Checkpoint. f:write(data [, offset]) -> f | nil, code, message. Without
** 'offset' writes at the File's position and advances it (in append mode:
** at the end of the file). */
static int l_file_write(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  check_file(L, 1);
  luaL_checktype(L, 2, LUA_TSTRING);
  if (!lua_isnoneornil(L, 3))
    luaL_argcheck(L, luaL_checkinteger(L, 3) >= 0, 3, "negative offset");
  lua_settop(L, 3);
  return file_write(L, ctx, loom__checkpoint_enter(L, ctx));
}

/* Completion of an fstat (libuv context). */
static void on_fstat(uv_fs_t *req) {
  loom_req *r = loom_req_of(req);
  r->status = req->result < 0 ? (int)req->result : 0;
  file_op_done((fs_file *)r->obj, r);
  loom__req_finish(r);
}

/* Checkpoint. f:stat() -> table | nil, code, message. */
static int l_file_stat(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  fs_file *f = check_file(L, 1);
  loom_task *t;
  loom_req *r;
  int rc;
  lua_settop(L, 1);
  t = loom__checkpoint_enter(L, ctx);
  r = loom__req_new(L, ctx);
  r->kind = FK_FSTAT;
  file_op_start(L, f, r, 0);
  rc = uv_fs_fstat(ctx->loop, &r->u.fs, f->fd, on_fstat);
  if (rc < 0) {
    file_op_refused(f, r);
    return loom__req_fail(L, r, rc);
  }
  r->flags |= RQ_SUBMITTED;
  return loom__req_wait(L, t, r, k_stat);
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

/* Checkpoint (in a task). f:close() -> true | nil, code, message.
** Idempotent. The file is closed even if the task is cancelled: then the
** close finishes in the background. Outside a task it closes without
** waiting. Tasks waiting to read or write the file raise "closed". */
static int l_file_close(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  fs_file *f = (fs_file *)luaL_checkudata(L, 1, LOOM_FILE_MT);
  loom_task *t = ctx->current;
  loom_req *r;
  lua_settop(L, 1);
  if (f->closed) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (t == NULL || t->co != L || !lua_isyieldable(L)) {
    file_close_bg(f);                     /* no task can wait */
    lua_pushboolean(L, 1);
    return 1;
  }
  loom__clock_due(ctx);
  if (t->scope->flags & SF_EFFECTIVE) {
    file_close_bg(f);                     /* cancelled: close anyway */
    loom__check_cancel(L, ctx, t);        /* raises */
  }
  r = loom__req_new(L, ctx);
  r->flags |= RQ_NOCANCEL;
  file_mark_closed(f);
  if (f->inflight > 0) {
    r->flags |= RQ_QUEUED;                /* the last request submits it */
    f->close_req = r;
  } else {
    uv_file fd = f->fd;
    int rc;
    f->fd = -1;
    r->kind = FK_CLOSE;
    r->cleanup = fs_cleanup;
    rc = uv_fs_close(ctx->loop, &r->u.fs, fd, on_close);
    if (rc < 0) {
      close_now(ctx, fd);
      return loom__req_fail(L, r, rc);
    }
    r->flags |= RQ_SUBMITTED;
  }
  return loom__req_wait(L, t, r, k_close);
}

/* __gc and __close of a File (rule B7): close it in the background; never
** raises, never blocks, never wakes anything but waiters of this File. */
static int l_file_gc(lua_State *L) {
  fs_file *f = (fs_file *)lua_touserdata(L, 1);
  if (f != NULL && f->ctx != NULL) file_close_bg(f);
  return 0;
}

/* __index of a File: its methods, and the field 'path'. */
static int l_file_index(lua_State *L) {
  const char *k = lua_tostring(L, 2);
  if (k != NULL && strcmp(k, "path") == 0) {
    luaL_checkudata(L, 1, LOOM_FILE_MT);
    lua_getiuservalue(L, 1, 1);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(2));
  return 1;
}

/* __tostring of a File: "loom.File: path", with " (closed)". */
static int l_file_tostring(lua_State *L) {
  fs_file *f = (fs_file *)luaL_checkudata(L, 1, LOOM_FILE_MT);
  lua_getiuservalue(L, 1, 1);
  lua_pushfstring(L, "loom.File: %s%s", lua_tostring(L, -1),
                  f->closed ? " (closed)" : "");
  return 1;
}

/* }==================================================================== */

static const luaL_Reg file_methods[] = {
  {"read", l_file_read},
  {"write", l_file_write},
  {"stat", l_file_stat},
  {"close", l_file_close},
  {NULL, NULL}
};

static const luaL_Reg fs_funcs[] = {
  {"fs_open", l_fs_open},
  {"fs_stat", l_fs_stat},
  {"fs_lstat", l_fs_lstat},
  {"fs_unlink", l_fs_unlink},
  {"fs_mkdir", l_fs_mkdir},
  {"fs_rmdir", l_fs_rmdir},
  {"fs_rename", l_fs_rename},
  {"fs_scandir", l_fs_scandir},
  {NULL, NULL}
};

/* [-0, +0, m] Register the File metatable and the fs functions in the
** core table on top. The methods table of Files is core.File_methods, in
** which lua/loom/fs.lua puts its wrappers of the native methods, found in
** core.File_native. */
void loom__fs_open(lua_State *L, loom_ctx *ctx) {
  loom__req_open(L, ctx);
  lua_newtable(L);                             /* [core natives] */
  loom__setfuncs(L, ctx, file_methods);
  lua_setfield(L, -2, "File_native");
  luaL_newmetatable(L, LOOM_FILE_MT);          /* [core mt] */
  lua_newtable(L);                             /* [core mt methods] */
  loom__setfuncs(L, ctx, file_methods);
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "File_methods");
  lua_pushlightuserdata(L, ctx);
  lua_insert(L, -2);
  lua_pushcclosure(L, l_file_index, 2);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_file_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_file_gc);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, l_file_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  loom__setfuncs(L, ctx, fs_funcs);
}
