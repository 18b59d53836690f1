/*
** fs.h: what fs.c (path operations) and file.c (File objects) share: the
** fs request block and the conversions of results to Lua values.
**
** Every fs operation is an fs_req (req.h): a loom_req, the uv_fs_t, and
** the fields a File operation needs. A request on a File holds a
** reference to the File's state ('f', a malloc'd block, file.c), never to
** its userdata, so its callback may run after the Lua state has gone.
*/
#ifndef loom_fs_h
#define loom_fs_h

#include "req.h"

/* Request kinds (kind). */
#define FK_PATH 0   /* stat, unlink, mkdir...: no File */
#define FK_OPEN 1
#define FK_READ 2
#define FK_WRITE 3
#define FK_FSTAT 4
#define FK_CLOSE 5

/* Request stages (stage). */
#define FS_SEQ 0x01    /* a read/write at the File's position */

typedef struct fs_file fs_file;

typedef struct fs_req {
  loom_req r;
  uv_fs_t fs;
  fs_file *f;            /* File state it holds a reference to, or NULL */
  char *buf;             /* malloc'd: read buffer, or a copy of the data */
  const char *data;      /* bytes to write (pinned string, or buf) */
  size_t len;            /* buf's size, or the length to write */
  size_t done;           /* bytes read or written so far */
  int64_t off;           /* file offset, -1 for the kernel's position */
  unsigned char kind;    /* FK_* */
  unsigned char stage;   /* FS_* */
} fs_req;

/* [-0, +(0|1), m] A new fs request of 'kind' (guarded: its guard is
** pushed), bound to its uv_fs_t, with loom__fs_cleanup. */
fs_req *loom__fs_req_new(lua_State *L, loom_ctx *ctx, int kind);
/* Frees what an fs request owns: the uv_fs_t's results and 'buf'. */
void loom__fs_cleanup(loom_req *r);
/* [-0, +(1|3), y] The tail of every fs call: if libuv refused the
** request ('rc' < 0), free it and return the fail tuple; else wait for it
** (abandoned when cancelled), 'k' continuing. */
int loom__fs_go(lua_State *L, loom_task *t, fs_req *q, int rc,
                lua_KFunction k);
/* [-0, +0, v] The permission bits at 'idx' (a number), or 'def'. */
lua_Integer loom__fs_checkmode(lua_State *L, int idx, lua_Integer def);
/* [-0, +(1|3), e] Continuation: the stat table of the request, or the
** fail tuple. */
int loom__fs_k_stat(lua_State *L, int status, lua_KContext kc);
/* [-0, +0, m] Register the File metatable and core.fs_open (file.c) in
** the core table on top. */
void loom__file_open(lua_State *L, loom_ctx *ctx);

#endif
