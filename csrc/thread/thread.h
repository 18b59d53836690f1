/*
** thread.h: the private header of the thread layer (csrc/thread/):
** loom.to_thread, blocking work run by loom's own worker threads, each
** with a Lua state of its own. The layer builds on the engine
** (core/core.h) and on the cross-thread post of the embedding layer
** (embed/embed.h), which delivers finished jobs on the loop's thread. Its
** files, lowest first:
**   copy.c       values copied between Lua states through a byte buffer
**   worker.c     a worker's Lua state and the running of one job in it
**   pool.c       the worker threads, the FIFO of jobs, thread_limit,
**                delivery and teardown
**   to_thread.c  the Lua API: loom.to_thread, loom.thread.cancelled
**
** Threads (DESIGN.md B14). A worker thread calls the Lua API only on its
** own lua_State, which no other thread touches while the worker lives; the
** loop thread calls it only on the states of the program. What the two
** share is C memory: a job (the bytes of its function and arguments going
** out, of its results coming back), guarded by the pool's mutex, and the
** job's cancelled flag, an atomic. Values never cross as Lua values: they
** are encoded into a buffer by the thread that owns them (copy.c) and
** decoded by the other.
*/
#ifndef loom_thread_h
#define loom_thread_h

#include "../core/core.h"
#include "../embed/embed.h"

typedef struct loom_buf loom_buf;
typedef struct loom_job loom_job;
typedef struct loom_pool loom_pool;

/* {====================================================================
** copy.c: values copied between Lua states
** =====================================================================
** Copyable values: nil, booleans, numbers, strings, and tables whose keys
** and values are copyable (raw contents; metatables are not copied).
** A table reached twice (shared, or a cycle) is encoded once and referred
** to afterwards, so the copy has the same shape. Encoding and decoding
** walk tables with an explicit stack (on the Lua stack), not C recursion,
** so any depth of nesting the Lua stack can hold works. */

/* A growable malloc'd byte buffer (the bytes of a job). */
struct loom_buf {
  char *p;
  size_t n, cap;
};

/* [-0, +0, -] Make room for 'extra' more bytes; 0, or -1 if out of
** memory (pure C: any thread). */
int loom__buf_reserve(loom_buf *b, size_t extra);
/* [-0, +0, -] Append 'len' bytes; 0 or -1 (out of memory). */
int loom__buf_add(loom_buf *b, const void *data, size_t len);
/* [-0, +0, -] Free the bytes; the buffer is empty again. */
void loom__buf_free(loom_buf *b);
/* [-0, +(0|1), m] Encode the 'n' values from index 'first' and append
** them to 'b' (one numbering of tables across them). Returns 0; or, if a
** value cannot be copied, its position among them (from 1) with a
** description of the culprit pushed ("a function at .cb[2]"). Raises
** only memory errors. */
int loom__copy_encode(lua_State *L, int first, int n, loom_buf *b);
/* [-0, +n, m] Decode 'n' values from the 'len' bytes at 'p' (made by
** loom__copy_encode) and push them; returns the position after them. */
size_t loom__copy_decode(lua_State *L, const char *p, size_t len, int n);

/* {====================================================================
** Jobs
** =====================================================================
** A job is malloc'd (a worker uses it while the Lua side may have let go
** of it, DESIGN.md B6). Its owner, at any time, is one of: its box (a
** userdata on the waiting task's stack), a worker thread (once the box
** is gone after teardown began), or the pool (from submission until its
** delivery on the loop thread); pool.c says who frees it when. */

/* Where a job is (job->state). */
#define JS_NEW 0       /* made, not submitted (or taken back) */
#define JS_WAITING 1   /* in the pool's FIFO: no free slot (loop thread) */
#define JS_READY 2     /* given a slot, waiting for a worker (under mu) */
#define JS_RUNNING 3   /* a worker runs it (under mu) */
#define JS_DONE 4      /* finished, posted to the loop thread (under mu) */
#define JS_DELIVERED 5 /* back on the loop thread: results ready */

/* How it ended (job->outcome). */
#define JO_OK 0        /* out: the results */
#define JO_ERROR 1     /* out: the error value */
#define JO_NOTHREAD 2  /* no worker thread could be made: out is empty,
                       ** job->err the libuv error */

struct loom_job {
  loom_post post;          /* first: its delivery (embed.h) */
  loom_pool *pool;
  loom_job *qnext;         /* the pool's FIFO or ready queue */
  loom_job *prev, *next;   /* pool->inflight (loop thread) */
  loom_task *waiter;       /* the task waiting for it; NULL if nobody */
  loom_job **box;          /* payload of its box; NULL once collected */
  loom_buf in;             /* package.path, cpath, function, arguments */
  size_t path_len, cpath_len, fn_len;  /* the parts of 'in', in order */
  int nargs;
  loom_buf out;            /* results or error (written by the worker) */
  int nres;
  int err;                 /* JO_NOTHREAD: the libuv error */
  int cancelled;           /* atomic: the waiter was cancelled */
  unsigned char state;     /* JS_* */
  unsigned char outcome;   /* JO_* */
  unsigned char abandon;   /* opts.abandon_on_cancel */
  unsigned char aborted;   /* the waiter's abort ran (loop thread) */
  unsigned char counted;   /* counted in ctx->nclosing */
  unsigned char slot;      /* holds a slot (loop thread): then 'state'
                           ** is read under the pool's mutex */
  unsigned char orphan;    /* under mu: the worker frees it when done */
  unsigned char paths;     /* 'in' starts with package.path and cpath */
};

/* Atomic access to job->cancelled (a worker reads it while the loop
** thread may set it). */
#define loom__job_set_cancelled(j) \
  __atomic_store_n(&(j)->cancelled, 1, __ATOMIC_RELEASE)
#define loom__job_cancelled(j) \
  __atomic_load_n(&(j)->cancelled, __ATOMIC_ACQUIRE)

/* {====================================================================
** worker.c: a worker's Lua state and the running of a job
** ===================================================================== */

/* [-0, +0, -] A new Lua state for a worker (standard libraries), where
** loom.thread.cancelled reads the job '*current' (the worker's field: the
** job it runs, or NULL); NULL if out of memory. Any thread. */
lua_State *loom__worker_state(loom_job **current);
/* [-0, +0, -] Run 'job' in the worker state W (on its thread): set its
** package paths, load its function, decode its arguments, call it, and
** encode its results or its error into job->out. Never raises. */
void loom__worker_run(lua_State *W, loom_job *job);
/* [-0, +0, -] The job the worker state L runs right now, or NULL: the
** main state of a program, or an idle worker. On L's thread. */
loom_job *loom__worker_job(lua_State *L);

/* {====================================================================
** pool.c: worker threads, the FIFO, delivery, teardown
** ===================================================================== */

/* [-0, +0, e] The pool of L's state (made by the first call; its poster
** too). */
loom_pool *loom__pool(lua_State *L, loom_ctx *ctx);
/* [-0, +0, -] The default of loom.thread_limit: the number of CPUs, at
** least 4. */
int loom__thread_default_limit(void);
/* [-0, +0, -] Set the number of jobs that may run at once (>= 1). */
void loom__pool_set_limit(loom_pool *pool, int limit);
/* [-0, +0, m] A new job in a box pushed on the stack (the box owns it
** until it is submitted). */
loom_job *loom__job_new(lua_State *L, loom_pool *pool);
/* [-0, +0, -] Submit 'job' for task 't' (loop thread, pure C): it runs
** as soon as fewer than the limit run, FIFO. */
void loom__job_submit(loom_pool *pool, loom_job *job, loom_task *t);
/* Abort of a task waiting for a job (its wait_obj, DESIGN.md B9). */
int loom__job_abort(loom_ctx *ctx, loom_task *t);
/* [-0, +0, -] Free a delivered or never submitted job (loop thread). */
void loom__job_free(loom_job *job);
void loom__pool_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** to_thread.c
** ===================================================================== */
void loom__to_thread_open(lua_State *L, loom_ctx *ctx);

#endif
