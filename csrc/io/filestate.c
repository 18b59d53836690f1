/*
** filestate.c: the state of a File (file.c): a malloc'd fs_file block
** (DESIGN.md B6) that the requests working on the file hold references
** to, never to the userdata, so their callbacks may run after the File
** was collected, or after lua_close with a host loop (the block is freed
** by whichever of the userdata's __gc and the last request lets go
** last). This file owns the descriptor's life: the requests in flight on
** it, and closing it, which never blocks the loop. Invariants:
**  - f->inflight counts the requests in flight that use f->fd. The
**    descriptor is closed only when none is (a close asked for earlier is
**    queued in f->close_req and submitted by the last one), so no request
**    ever reads or writes a descriptor number that was closed and reused.
**  - At most one read or write without an offset is in flight
**    (f->seq_busy; the others wait in f->seq_lot).
**  - f:close() waits (a checkpoint) for the close request; __gc and
**    __close start it in the background (counted in ctx->nclosing, so
**    loom.run waits for it), or close at once when no loop runs (or the
**    context is gone).
*/
#include <stdlib.h>
#include <unistd.h>

#include "io.h"

static void on_close(uv_fs_t *req);

/* [-0, +0, -] The live context of 'f', NULL during or after teardown. */
loom_ctx *loom__file_ctx(fs_file *f) {
  loom_ctx *ctx = f->io->ctx;
  return (ctx != NULL && !ctx->closing) ? ctx : NULL;
}

/* [-0, +0, -] Drop a reference to 'f'; the last one frees it. */
void loom__file_unref(fs_file *f) {
  loom_io *io;
  if (--f->refs > 0) return;
  io = f->io;
  free(f->stash);
  free(f);
  loom__io_unref(io);
}

/* Frees what a request on a File owns, and its reference to the File
** (pure C; also after teardown). */
void loom__file_req_cleanup(loom_req *r) {
  fs_req *q = (fs_req *)r;
  loom__fs_cleanup(r);
  if (q->f != NULL) loom__file_unref(q->f);
  q->f = NULL;
}



/* {====================================================================
** Closing
** ===================================================================== */

/* [-0, +0, -] Submit close request 'q' for 'fd' (pure C); on refusal, or
** when the context is gone, close at once and complete 'q'. */
void loom__file_close_submit(fs_req *q, uv_file fd) {
  loom_ctx *ctx = loom__req_ctx(&q->r);
  int rc;
  q->kind = FK_CLOSE;
  q->r.flags = (unsigned char)((q->r.flags & ~RQ_QUEUED) | RQ_NOCANCEL);
  if (ctx == NULL) {
    close(fd);            /* teardown: no new request (req.h) */
    q->r.status = 0;
    loom__req_finish(&q->r);
    return;
  }
  rc = uv_fs_close(ctx->loop, &q->fs, fd, on_close);
  if (rc < 0) {
    close(fd);
    q->r.status = rc;
    loom__req_finish(&q->r);
    return;
  }
  q->r.flags |= RQ_SUBMITTED;
}

/* Completion of a close (libuv context, pure C). */
static void on_close(uv_fs_t *req) {
  loom_req *r = loom__req_of(req);
  r->status = req->result < 0 ? (int)req->result : 0;
  loom__req_finish(r);
}

/* Mark 'f' closed: wake the tasks waiting to read or write (they raise
** "closed"), drop the stash. Pure C. */
void loom__file_mark_closed(fs_file *f) {
  loom_ctx *ctx = loom__file_ctx(f);
  f->closed = 1;
  free(f->stash);
  f->stash = NULL;
  f->stash_len = f->stash_off = 0;
  if (ctx != NULL) loom__lot_wake_all(ctx, &f->seq_lot);
}

/* [-0, +0, -] A background close request (detached, counted), or NULL. */
static fs_req *close_req_bg(loom_ctx *ctx) {
  fs_req *q = (fs_req *)loom__req_new_bg(ctx, sizeof(fs_req));
  if (q != NULL) {
    loom__req_bind(&q->r, &q->fs);
    q->r.cleanup = loom__fs_cleanup;
    q->off = -1;
  }
  return q;
}

/* Start closing 'f' in the background (pure C, never blocks the loop, no
** task waits): __gc, __close, a close outside tasks or a cancelled close.
** With requests in flight the close is queued until the last one ends. */
void loom__file_close_bg(fs_file *f) {
  loom_ctx *ctx = loom__file_ctx(f);
  fs_req *q;
  uv_file fd;
  if (f->closed) return;
  loom__file_mark_closed(f);
  if (f->fd < 0) return;
  if (f->inflight > 0) {
    if (ctx == NULL) return;   /* the last request closes it (teardown) */
    q = close_req_bg(ctx);
    if (q == NULL) return;     /* out of memory: the last request closes */
    q->r.flags |= RQ_QUEUED;
    f->close_req = q;
    return;
  }
  fd = f->fd;
  f->fd = -1;
  if (ctx == NULL || ctx->loop == NULL ||
      (ctx->own_loop && ctx->loop_depth == 0)) {
    close(fd);                 /* no loop runs that would finish it */
    return;
  }
  q = close_req_bg(ctx);
  if (q == NULL) {
    close(fd);
    return;
  }
  loom__file_close_submit(q, fd);
}

/* A request on 'f' has ended (pure C): let the next read/write go, and
** close the descriptor when it was the last one and a close was asked
** for. */
void loom__file_op_done(fs_file *f, fs_req *q) {
  loom_ctx *ctx = loom__file_ctx(f);
  if (q->stage & FS_SEQ) {
    f->seq_busy = 0;
    if (ctx != NULL) loom__lot_wake_all(ctx, &f->seq_lot);
  }
  if (--f->inflight == 0 && f->closed && f->fd >= 0) {
    fs_req *cq = f->close_req;
    uv_file fd = f->fd;
    f->close_req = NULL;
    f->fd = -1;
    if (cq != NULL) loom__file_close_submit(cq, fd);
    else close(fd);            /* asked for at teardown, or out of memory */
  }
}

/* }==================================================================== */

/* [-0, +0, m] Start request 'q' on the open File 'f': a reference to the
** File, count the request, take the turn of 'seq' operations. */
void loom__file_op_start(fs_file *f, fs_req *q, int seq) {
  q->r.cleanup = loom__file_req_cleanup;
  q->f = f;
  f->refs++;
  if (seq) {
    q->stage |= FS_SEQ;
    f->seq_busy = 1;
  }
  f->inflight++;
}

/* [-0, +0, -] Undo file_op_start after libuv refused the request (the
** request's cleanup drops its reference). */
void loom__file_op_refused(fs_file *f, fs_req *q) {
  if (q->stage & FS_SEQ) {
    loom_ctx *ctx = loom__file_ctx(f);
    f->seq_busy = 0;
    if (ctx != NULL) loom__lot_wake_all(ctx, &f->seq_lot);
  }
  f->inflight--;
}


/* [-0, +0, -] Start closing the open File 'f' with request 'q', which a
** task will wait for: 'f' is closed from now on; the descriptor is closed
** now, or by the last request in flight on it. Returns 0, or a libuv
** error (the descriptor is then closed at once, synchronously). */
int loom__file_close_with(loom_ctx *ctx, fs_file *f, fs_req *q) {
  uv_file fd;
  int rc;
  q->r.flags |= RQ_NOCANCEL;
  loom__file_mark_closed(f);
  if (f->inflight > 0) {
    q->r.flags |= RQ_QUEUED;              /* the last request submits it */
    f->close_req = q;
    return 0;
  }
  fd = f->fd;
  f->fd = -1;
  rc = uv_fs_close(ctx->loop, &q->fs, fd, on_close);
  if (rc < 0) {
    close(fd);
    return rc;
  }
  q->r.flags |= RQ_SUBMITTED;
  return 0;
}
