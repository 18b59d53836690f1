/*
** fs.c: path operations through libuv's fs requests (README, I/O), the native
** half of loom.fs: stat, lstat, unlink, mkdir, rmdir, rename, scandir; File
** objects are in file.c. Every operation runs in libuv's threadpool and is a
** checkpoint; failures cross as fail tuples (DESIGN.md E2) and lua/loom/fs.lua
** raises loom.IOError.
**
** Each call is one guarded request (req.h) that its task waits for; its
** result (a stat buffer, directory entries) stays in the request and is
** converted in the continuation. A cancelled call is abandoned at once:
** uv_cancel drops work that has not started, otherwise it completes in
** the background and its callback frees it (loom.run waits for that).
** libuv copies the paths it is given, so no Lua memory is pinned.
*/
#include <stdlib.h>

#include <sys/stat.h>

#include "io.h"

/* {====================================================================
** Requests and results (shared with file.c)
** ===================================================================== */

/* Free what an fs request owns (pure C; also after teardown). */
void loom__fs_cleanup(loom_req *r) {
  fs_req *q = (fs_req *)r;
  uv_fs_req_cleanup(&q->fs);
  free(q->buf);
  q->buf = NULL;
}

/* [-0, +1, m] A new guarded fs request of 'kind'. */
fs_req *loom__fs_req_new(lua_State *L, loom_ctx *ctx, int kind) {
  fs_req *q = (fs_req *)loom__req_new(L, ctx, sizeof(fs_req), 1);
  loom__req_bind(&q->r, &q->fs);
  q->r.cleanup = loom__fs_cleanup;
  q->kind = (unsigned char)kind;
  q->off = -1;
  return q;
}

/* What a task waits on in an fs request of type 't'. */
static const char *fs_what(uv_fs_type t) {
  switch (t) {
    case UV_FS_OPEN: return "fs open";
    case UV_FS_CLOSE: return "fs close";
    case UV_FS_READ: return "fs read";
    case UV_FS_WRITE: return "fs write";
    case UV_FS_STAT: return "fs stat";
    case UV_FS_LSTAT: return "fs lstat";
    case UV_FS_FSTAT: return "fs fstat";
    case UV_FS_UNLINK: return "fs unlink";
    case UV_FS_MKDIR: return "fs mkdir";
    case UV_FS_RMDIR: return "fs rmdir";
    case UV_FS_RENAME: return "fs rename";
    case UV_FS_SCANDIR: return "fs scandir";
    default: return "fs";
  }
}

/* [-0, +?, y] Wait for 'q' (submitted with result 'rc'), or fail. */
int loom__fs_go(lua_State *L, loom_task *t, fs_req *q, int rc,
                lua_KFunction k) {
  if (rc < 0) return loom__req_fail(L, &q->r, rc);
  q->r.flags |= RQ_SUBMITTED;
  loom__waiting(t, fs_what(q->fs.fs_type));
  return loom__req_wait(L, t, &q->r, loom__req_abort_detach, k);
}

/* [-0, +0, v] The permission bits at 'idx' (a number: a string such as
** "644" would silently mean decimal), or 'def' if none. */
lua_Integer loom__fs_checkmode(lua_State *L, int idx, lua_Integer def) {
  lua_Integer mode;
  if (lua_isnoneornil(L, idx)) return def;
  if (lua_type(L, idx) != LUA_TNUMBER) loom__typeerror(L, idx, "number");
  mode = loom__checkinteger(L, idx);
  loom__argcheck(L, mode >= 0 && mode <= 07777, idx, "mode out of range");
  return mode;
}

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

/* [-0, +1|3, e] Continuation: the stat table, or the fail tuple. */
int loom__fs_k_stat(lua_State *L, int status, lua_KContext kc) {
  fs_req *q = (fs_req *)loom__req_resumed(L, loom_ctxup(L), kc);
  (void)status;
  if (q->r.status < 0) return loom__req_fail(L, &q->r, q->r.status);
  push_stat(L, &q->fs.statbuf);
  loom__req_free(L, &q->r);
  return 1;
}

/* }==================================================================== */

/* {====================================================================
** Path operations
** ===================================================================== */

/* Completion of a path operation (libuv context, pure C). */
static void on_fs_path(uv_fs_t *req) {
  loom_req *r = loom__req_of(req);
  r->status = req->result < 0 ? (int)req->result : 0;
  loom__req_finish(r);
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

/* [-0, +1|3, e] Continuation: the array of entries, or the fail tuple. */
static int k_scandir(lua_State *L, int status, lua_KContext kc) {
  fs_req *q = (fs_req *)loom__req_resumed(L, loom_ctxup(L), kc);
  uv_dirent_t ent;
  int n = 0;
  (void)status;
  if (q->r.status < 0) return loom__req_fail(L, &q->r, q->r.status);
  lua_newtable(L);
  while (uv_fs_scandir_next(&q->fs, &ent) == 0) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, ent.name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, dirent_type(ent.type));
    lua_setfield(L, -2, "type");
    lua_rawseti(L, -2, ++n);
  }
  loom__req_free(L, &q->r);
  return 1;
}

/* The operations of core.fs_<name>(path [, arg]). */
#define OP_STAT 0
#define OP_LSTAT 1
#define OP_UNLINK 2
#define OP_MKDIR 3
#define OP_RMDIR 4
#define OP_RENAME 5
#define OP_SCANDIR 6

/* [-(1|2), +(1|3), y] Checkpoint. The body of every path operation: check
** the arguments, submit the request, wait; 'k' makes the result. */
static int path_op(lua_State *L, int op) {
  loom_ctx *ctx = loom_ctxup(L);
  const char *path = loom__checkstring(L, 1);
  const char *to = op == OP_RENAME ? loom__checkstring(L, 2) : NULL;
  lua_Integer mode = op == OP_MKDIR ? loom__fs_checkmode(L, 2, 0777) : 0;
  uv_loop_t *loop;
  loom_task *t;
  fs_req *q;
  int rc;
  lua_settop(L, 2);
  t = loom__checkpoint_enter(L, ctx);
  loop = ctx->loop;
  q = loom__fs_req_new(L, ctx, FK_PATH);
  switch (op) {
    case OP_STAT:
      rc = uv_fs_stat(loop, &q->fs, path, on_fs_path);
      return loom__fs_go(L, t, q, rc, loom__fs_k_stat);
    case OP_LSTAT:
      rc = uv_fs_lstat(loop, &q->fs, path, on_fs_path);
      return loom__fs_go(L, t, q, rc, loom__fs_k_stat);
    case OP_UNLINK:
      rc = uv_fs_unlink(loop, &q->fs, path, on_fs_path);
      return loom__fs_go(L, t, q, rc, k_true);
    case OP_MKDIR:
      rc = uv_fs_mkdir(loop, &q->fs, path, (int)mode, on_fs_path);
      return loom__fs_go(L, t, q, rc, k_true);
    case OP_RMDIR:
      rc = uv_fs_rmdir(loop, &q->fs, path, on_fs_path);
      return loom__fs_go(L, t, q, rc, k_true);
    case OP_RENAME:
      rc = uv_fs_rename(loop, &q->fs, path, to, on_fs_path);
      return loom__fs_go(L, t, q, rc, k_true);
    default:
      rc = uv_fs_scandir(loop, &q->fs, path, 0, on_fs_path);
      return loom__fs_go(L, t, q, rc, k_scandir);
  }
}

/* Checkpoint. core.fs_stat(path) -> table | nil, code, message. */
static int l_fs_stat(lua_State *L) { return path_op(L, OP_STAT); }

/* Checkpoint. core.fs_lstat(path): stat of a link itself. */
static int l_fs_lstat(lua_State *L) { return path_op(L, OP_LSTAT); }

/* Checkpoint. core.fs_unlink(path) -> true | nil, code, message. */
static int l_fs_unlink(lua_State *L) { return path_op(L, OP_UNLINK); }

/* Checkpoint. core.fs_mkdir(path [, mode = 0777]). */
static int l_fs_mkdir(lua_State *L) { return path_op(L, OP_MKDIR); }

/* Checkpoint. core.fs_rmdir(path). */
static int l_fs_rmdir(lua_State *L) { return path_op(L, OP_RMDIR); }

/* Checkpoint. core.fs_rename(from, to). */
static int l_fs_rename(lua_State *L) { return path_op(L, OP_RENAME); }

/* Checkpoint. core.fs_scandir(path) -> array of { name =, type = }. */
static int l_fs_scandir(lua_State *L) { return path_op(L, OP_SCANDIR); }

/* }==================================================================== */

static const luaL_Reg fs_funcs[] = {
  {"fs_stat", l_fs_stat},
  {"fs_lstat", l_fs_lstat},
  {"fs_unlink", l_fs_unlink},
  {"fs_mkdir", l_fs_mkdir},
  {"fs_rmdir", l_fs_rmdir},
  {"fs_rename", l_fs_rename},
  {"fs_scandir", l_fs_scandir},
  {NULL, NULL}
};

/* [-0, +0, m] Register the path functions in the core table on top. */
void loom__fs_open(lua_State *L, loom_ctx *ctx) {
  loom__setfuncs(L, ctx, fs_funcs);
}
