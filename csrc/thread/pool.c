/*
** pool.c: the worker threads of a Lua state (thread.h): loom's own
** threads (uv_thread_create, not libuv's threadpool, which file I/O and
** DNS need), the FIFO of jobs beyond loom.thread_limit, the delivery of
** finished jobs on the loop thread, and teardown.
**
** Slots. At most 'limit' jobs hold a slot at once: from the moment they
** are handed to the workers (JS_READY) until their delivery on the loop
** thread. Jobs beyond that wait in a FIFO on the loop thread (JS_WAITING)
** and take the slots in order as they free. Workers are made on demand
** when a job gets a slot and no idle worker is left for it, and live on,
** each with its Lua state (worker.c), for later jobs: an idle worker
** waits on the pool's condition variable. A worker idle while there are
** more workers than the limit ends (a lowered thread_limit), detached.
**
** Delivery. A worker that finishes a job posts it to the loop thread with
** the state's poster (embed/post.c; DESIGN.md B14); the delivery, pure C
** (DESIGN.md B1), frees the slot, gives it to the next job of the FIFO and
** wakes the waiting task, which decodes the results from the job
** (DESIGN.md B10). Every job holding a slot holds the poster, so the loop
** stays alive while work runs: loom.run waits (no false "deadlock") and a
** host's uv_run does not return.
**
** Ownership of a job (malloc'd, DESIGN.md B6): its box, a userdata on the
** waiting task's stack, owns it while it is new, waiting for a slot, or
** delivered; the pool owns it while it holds a slot. When the box is
** collected first (the task is gone, or abandoned the job) the delivery
** frees it, and until then it counts in ctx->nclosing, so loom.run
** returns only after it (nothing outlives loom.run). pool->all lists every
** job for teardown.
**
** Teardown (DESIGN.md B13), from the context's teardown hook at lua_close
** (the poster is already closed: nothing more is delivered): jobs not
** started and jobs finished are freed; a running job is marked cancelled
** and orphaned: its worker frees it when the function returns. Idle
** workers are told to end and joined; a busy worker is detached and ends
** by itself after its job (it closes its Lua state; the last thread to
** let go of the pool frees it). So lua_close does not wait for long jobs
** and nothing a worker still uses is freed. Detaching is safe because
** loom.core pins its own code (dlopen with RTLD_NODELETE) before making
** the first thread: Lua's dlclose at lua_close cannot unmap the code a
** detached worker runs. Where the pin fails, teardown joins busy workers
** instead (lua_close then waits for their jobs).
**
** Invariants:
**  - the ready queue, the worker lists, job->orphan, the states JS_READY,
**    JS_RUNNING and JS_DONE and the counters below 'mu' change only under
**    pool->mu; the other fields of the pool are the loop thread's;
**  - lock order: pool->mu, then the poster's lock;
**  - nslots jobs hold a slot and the poster (one hold each).
*/
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "thread.h"

#define LOOM_JOB_MT "loom.ThreadJob"

typedef struct loom_worker loom_worker;

struct loom_worker {
  uv_thread_t tid;
  loom_pool *pool;
  loom_worker *next;       /* pool->workers or pool->zombies */
  loom_job *job;           /* the job it runs (under mu) */
  unsigned char detached;  /* under mu: it frees itself at its end */
};

struct loom_pool {
  uv_mutex_t mu;
  uv_cond_t cv;            /* idle workers wait for a job or the end */
  /* Under mu: */
  loom_job *ready_head, *ready_tail;   /* jobs with a slot, no worker */
  int nready;
  loom_worker *workers;    /* live workers */
  loom_worker *zombies;    /* workers that ended (limit lowered) while
                           ** the pin had failed: joined at teardown */
  int nworkers, nidle;
  int limit;               /* written by the loop thread under mu */
  int closed;              /* teardown began */
  int refs;                /* the state until teardown, and each thread */
  int njobs;               /* jobs allocated */
  /* The loop thread's: */
  loom_ctx *ctx;
  loom_poster *poster;     /* from the first job on */
  loom_job *wait_head, *wait_tail;     /* the FIFO: no slot yet */
  int nwaiting;
  int nslots;              /* jobs holding a slot */
  loom_job *all;           /* every job, for teardown */
  int pinned;              /* 1: pinned; -1: the pin failed */
};

/* {====================================================================
** Jobs
** ===================================================================== */

/* [-0, +0, -] Free the memory of 'job' (any thread; it is in no list). */
static void job_destroy(loom_job *job) {
  loom__buf_free(&job->in);
  loom__buf_free(&job->out);
  free(job);
}

/* [-0, +0, -] Take 'job' out of pool->all (loop thread). */
static void job_unlink(loom_pool *pool, loom_job *job) {
  if (job->prev != NULL) job->prev->next = job->next;
  else pool->all = job->next;
  if (job->next != NULL) job->next->prev = job->prev;
  job->prev = job->next = NULL;
}

/* [-0, +0, -] See thread.h. */
void loom__job_free(loom_job *job) {
  loom_pool *pool = job->pool;
  if (job->box != NULL) *job->box = NULL;
  if (job->counted && pool->ctx != NULL) pool->ctx->nclosing--;
  job_unlink(pool, job);
  pool->njobs--;
  job_destroy(job);
}

/* [-0, +0, -] Remove 'job' from the queue (*head, *tail) linked through
** qnext, if it is there; returns 1 if it was. */
static int queue_remove(loom_job **head, loom_job **tail, loom_job *job) {
  loom_job **pp = head, *prev = NULL;
  while (*pp != NULL && *pp != job) {
    prev = *pp;
    pp = &(*pp)->qnext;
  }
  if (*pp == NULL) return 0;
  *pp = job->qnext;
  if (*tail == job) *tail = prev;
  job->qnext = NULL;
  return 1;
}

/* [-0, +0, -] Remove 'job' from the FIFO (loop thread). */
static void fifo_remove(loom_pool *pool, loom_job *job) {
  if (queue_remove(&pool->wait_head, &pool->wait_tail, job))
    pool->nwaiting--;
}

/* [-0, +0, -] Under mu: remove 'job' from the ready queue. */
static void ready_remove(loom_pool *pool, loom_job *job) {
  if (queue_remove(&pool->ready_head, &pool->ready_tail, job))
    pool->nready--;
}

/* }==================================================================== */

/* {====================================================================
** Worker threads
** ===================================================================== */

/* [-0, +0, -] Under mu, on the worker thread: post the finished 'job' to the
** loop thread. Refused once the poster is closed (lua_close began): teardown
** then frees the job. */
static void job_post(loom_pool *pool, loom_job *job) {
  job->state = JS_DONE;
  loom__poster_lock(pool->poster);
  (void)loom__post_locked(pool->poster, &job->post);
  loom__poster_unlock(pool->poster);
}

/* [-0, +0, -] Under mu: unlink 'w' from the live workers. */
static void worker_unlink(loom_pool *pool, loom_worker *w) {
  loom_worker **pp = &pool->workers;
  while (*pp != NULL && *pp != w) pp = &(*pp)->next;
  if (*pp != NULL) *pp = w->next;
  w->next = NULL;
  pool->nworkers--;
}

/* [-0, +0, -] Free the pool (its last user: the state or a thread). */
static void pool_free(loom_pool *pool) {
  uv_cond_destroy(&pool->cv);
  uv_mutex_destroy(&pool->mu);
  free(pool);
}

/* [-0, +0, -] The body of a worker thread (no Lua state of the program is
** touched here, DESIGN.md B14): take jobs from the ready queue and run them
** in its own Lua state until teardown, or until it is idle while there are
** more workers than the limit. Signals go to the other threads (the loop's
** watches Ctrl-C). */
static void worker_main(void *arg) {
  loom_worker *w = (loom_worker *)arg;
  loom_pool *pool = w->pool;
  lua_State *W = NULL;
  sigset_t all;
  int last, detached;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  uv_mutex_lock(&pool->mu);
  for (;;) {
    loom_job *job;
    while (!pool->closed && pool->ready_head == NULL) {
      if (pool->nworkers > pool->limit) {        /* one too many: end */
        worker_unlink(pool, w);
        if (pool->pinned == 1) {       /* ends and frees itself */
          w->detached = 1;
          pthread_detach(pthread_self());
        } else {                       /* teardown joins it */
          w->next = pool->zombies;
          pool->zombies = w;
        }
        goto done;
      }
      pool->nidle++;
      uv_cond_wait(&pool->cv, &pool->mu);
      pool->nidle--;
    }
    if (pool->closed) break;
    job = pool->ready_head;
    pool->ready_head = job->qnext;
    if (pool->ready_head == NULL) pool->ready_tail = NULL;
    job->qnext = NULL;
    pool->nready--;
    job->state = JS_RUNNING;
    w->job = job;
    uv_mutex_unlock(&pool->mu);
    if (W == NULL) W = loom__worker_state(&w->job);
    if (W != NULL) {
      loom__worker_run(W, job);
    } else {                      /* no memory for a state: say so */
      job->outcome = JO_ERROR;
      job->out.n = 0;
    }
    uv_mutex_lock(&pool->mu);
    w->job = NULL;
    if (job->orphan) job_destroy(job);   /* teardown gave it up */
    else job_post(pool, job);
  }
done:
  uv_mutex_unlock(&pool->mu);
  if (W != NULL) lua_close(W);
  uv_mutex_lock(&pool->mu);
  last = --pool->refs == 0;
  detached = w->detached;
  uv_mutex_unlock(&pool->mu);
  if (detached) free(w);
  if (last) pool_free(pool);
}

/* Any address inside loom.core's code or data, for dladdr. */
static const char self_anchor = 'a';

/* [-0, +0, -] Make loom.core's code stay mapped until the process ends,
** so that a worker detached at teardown never runs unmapped code: 1, or
** -1 if that failed. */
static int pin_self(void) {
  Dl_info info;
  if (dladdr(&self_anchor, &info) == 0 || info.dli_fname == NULL)
    return -1;
  /* cppcheck-suppress leakReturnValNotUsed ; the pin is never closed */
  return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE)
             != NULL ? 1 : -1;
}

/* [-0, +0, -] Under mu: start one more worker; 0 or a libuv error. */
static int worker_spawn(loom_pool *pool) {
  loom_worker *w = (loom_worker *)calloc(1, sizeof *w);
  int rc;
  if (w == NULL) return UV_ENOMEM;
  w->pool = pool;
  rc = uv_thread_create(&w->tid, worker_main, w);
  if (rc != 0) {
    free(w);
    return rc;
  }
  w->next = pool->workers;
  pool->workers = w;
  pool->nworkers++;
  pool->refs++;
  return 0;
}

/* [-0, +0, -] Loop thread: give 'job' a slot: queue it for the workers,
** making a worker if none is idle for it. If no worker exists and none
** can be made, the job ends at once with JO_NOTHREAD (delivered like any
** other). */
static void job_give_slot(loom_pool *pool, loom_job *job) {
  int rc = 0;
  if (pool->pinned == 0) pool->pinned = pin_self();
  job->slot = 1;
  pool->nslots++;
  loom__poster_hold(pool->poster, 1);
  uv_mutex_lock(&pool->mu);
  job->state = JS_READY;
  job->qnext = NULL;
  if (pool->ready_tail != NULL) pool->ready_tail->qnext = job;
  else pool->ready_head = job;
  pool->ready_tail = job;
  pool->nready++;
  if (pool->nready > pool->nidle) rc = worker_spawn(pool);
  if (rc != 0 && pool->nworkers == 0) {
    ready_remove(pool, job);
    job->outcome = JO_NOTHREAD;
    job->err = rc;
    job_post(pool, job);
  } else {
    uv_cond_signal(&pool->cv);
  }
  uv_mutex_unlock(&pool->mu);
}

/* [-0, +0, -] Loop thread: give free slots to the jobs of the FIFO, in
** order. */
static void pool_dispatch(loom_pool *pool) {
  while (pool->wait_head != NULL && pool->nslots < pool->limit) {
    loom_job *job = pool->wait_head;
    pool->wait_head = job->qnext;
    if (pool->wait_head == NULL) pool->wait_tail = NULL;
    job->qnext = NULL;
    pool->nwaiting--;
    job_give_slot(pool, job);
  }
}

/* [-0, +0, -] Loop thread: 'job', which held a slot, holds it no more. */
static void job_release_slot(loom_pool *pool, loom_job *job) {
  job->slot = 0;
  pool->nslots--;
  loom__poster_hold(pool->poster, -1);
}

/* [-0, +0, -] Loop thread: if 'job' has a slot but no worker took it
** yet, take it back (nothing ran); returns 1 if so. */
static int job_take_back(loom_pool *pool, loom_job *job) {
  int back;
  if (!job->slot) return 0;
  uv_mutex_lock(&pool->mu);
  back = job->state == JS_READY;
  if (back) ready_remove(pool, job);
  uv_mutex_unlock(&pool->mu);
  if (!back) return 0;
  job->state = JS_NEW;
  job_release_slot(pool, job);
  pool_dispatch(pool);
  return 1;
}

/* }==================================================================== */

/* {====================================================================
** Submission, delivery, cancellation
** ===================================================================== */

/* [-0, +0, -] See thread.h. */
int loom__thread_default_limit(void) {
  unsigned n = uv_available_parallelism();
  return n < 4 ? 4 : n > INT_MAX ? INT_MAX : (int)n;
}

/* [-0, +0, -] See thread.h. */
void loom__pool_set_limit(loom_pool *pool, int limit) {
  if (limit < 1) limit = 1;
  if (limit == pool->limit) return;
  uv_mutex_lock(&pool->mu);
  pool->limit = limit;
  uv_cond_broadcast(&pool->cv);        /* idle workers beyond it end */
  uv_mutex_unlock(&pool->mu);
  if (pool->poster != NULL) pool_dispatch(pool);
}

/* [-0, +0, -] See thread.h. */
void loom__job_submit(loom_pool *pool, loom_job *job, loom_task *t) {
  job->waiter = t;
  if (pool->nslots < pool->limit && pool->wait_head == NULL) {
    job_give_slot(pool, job);
    return;
  }
  job->state = JS_WAITING;
  job->qnext = NULL;
  if (pool->wait_tail != NULL) pool->wait_tail->qnext = job;
  else pool->wait_head = job;
  pool->wait_tail = job;
  pool->nwaiting++;
}

/* [-0, +0, -] Delivery of a finished job (loop thread, pure C, DESIGN.md
** B1): free its slot for the next job, then wake its task, or free it if
** nobody wants its results. At lua_close ('ctx' NULL) teardown frees it. */
static void job_deliver(loom_ctx *ctx, loom_post *p) {
  loom_job *job = (loom_job *)p;
  loom_pool *pool = job->pool;
  loom_task *t = job->waiter;
  if (ctx == NULL) return;
  job->state = JS_DELIVERED;
  job_release_slot(pool, job);
  job->waiter = NULL;
  if (job->counted) {             /* nobody waits: the results go */
    job->counted = 0;
    ctx->nclosing--;
    loom__buf_free(&job->out);
  }
  if (job->box == NULL) loom__job_free(job);
  else if (t != NULL) loom__wake(ctx, t, TW_OK);
  pool_dispatch(pool);
}

/* [-0, +0, -] Count 'job', which nobody waits for any more, in ctx->nclosing
** until it is freed: loom.run waits for it. */
static void job_count(loom_pool *pool, loom_job *job) {
  if (!job->counted && pool->ctx != NULL) {
    job->counted = 1;
    pool->ctx->nclosing++;
  }
}

/* [-0, +0, -] Abort of a task waiting for a job (DESIGN.md B9; pure C). A
** job that has not started is taken back: nothing ran, SUCCEEDED. A running
** one is told (loom.thread.cancelled); with abandon_on_cancel the task goes
** at once (SUCCEEDED) and the results are dropped when the job ends;
** otherwise the task waits for the end (FAILED), and its continuation raises
** the cancellation. */
int loom__job_abort(loom_ctx *ctx, loom_task *t) {
  loom_job *job = (loom_job *)t->wait_obj;
  loom_pool *pool = job->pool;
  (void)ctx;
  job->aborted = 1;
  if (!job->slot) {               /* in the FIFO */
    fifo_remove(pool, job);
    job->state = JS_NEW;
    job->waiter = NULL;
    return LOOM_ABORT_SUCCEEDED;
  }
  if (job_take_back(pool, job)) {
    job->waiter = NULL;
    return LOOM_ABORT_SUCCEEDED;
  }
  loom__job_set_cancelled(job);
  if (!job->abandon) return LOOM_ABORT_FAILED;
  job->waiter = NULL;
  job_count(pool, job);
  return LOOM_ABORT_SUCCEEDED;
}

/* }==================================================================== */

/* {====================================================================
** The box of a job
** ===================================================================== */

/* [-0, +0, m] See thread.h. */
loom_job *loom__job_new(lua_State *L, loom_pool *pool) {
  loom_job **box = (loom_job **)lua_newuserdatauv(L, sizeof(loom_job *), 0);
  loom_job *job;
  *box = NULL;
  luaL_setmetatable(L, LOOM_JOB_MT);
  job = (loom_job *)calloc(1, sizeof *job);
  if (job == NULL) {
    luaL_error(L, "not enough memory (thread job)");
    return NULL;
  }
  job->post.deliver = job_deliver;
  job->pool = pool;
  job->box = box;
  *box = job;
  job->next = pool->all;
  if (pool->all != NULL) pool->all->prev = job;
  pool->all = job;
  pool->njobs++;
  return job;
}

/* [-1, +0, -] __gc of a box (DESIGN.md B7: never raises, never blocks):
** free the job unless a worker has it; then its delivery frees it, and
** loom.run waits for that. */
static int l_job_gc(lua_State *L) {
  loom_job **box = (loom_job **)lua_touserdata(L, 1);
  loom_job *job = *box;
  loom_pool *pool;
  if (job == NULL) return 0;
  *box = NULL;
  job->box = NULL;
  job->waiter = NULL;
  pool = job->pool;
  if (!job->slot && job->state == JS_WAITING) {
    fifo_remove(pool, job);
    job->state = JS_NEW;
  }
  if (!job->slot || job_take_back(pool, job)) {
    loom__job_free(job);
    return 0;
  }
  job_count(pool, job);               /* a worker runs it */
  return 0;
}

/* }==================================================================== */

/* {====================================================================
** The pool of a state: creation, statistics, teardown
** ===================================================================== */

static const char pool_key = 'p';

/* [-0, +0, e] See thread.h. */
loom_pool *loom__pool(lua_State *L, loom_ctx *ctx) {
  loom_pool *pool;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &pool_key);
  pool = (loom_pool *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (pool == NULL) luaL_error(L, "loom: the state is being closed");
  if (pool->poster == NULL) pool->poster = loom__poster(L, ctx);
  return pool;
}

/* [-0, +1, m] core.thread_stats() -> {workers =, idle =, busy =, running =,
** waiting =, jobs =, limit =}: worker threads that have not ended (a
** worker leaving because of a lowered limit counts until it has closed
** its Lua state), idle, running a job; jobs holding a slot, waiting in
** the FIFO, allocated; the limit. For tests and leak checks. */
static int l_thread_stats(lua_State *L) {
  loom_pool *pool;
  loom_worker *w;
  int v[4];
  lua_rawgetp(L, LUA_REGISTRYINDEX, &pool_key);
  pool = (loom_pool *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (pool == NULL) return 0;
  uv_mutex_lock(&pool->mu);
  v[0] = pool->refs - 1;   /* threads not ended (also those ending now) */
  v[1] = pool->nidle;
  v[2] = 0;
  for (w = pool->workers; w != NULL; w = w->next) v[2] += w->job != NULL;
  v[3] = pool->njobs;
  uv_mutex_unlock(&pool->mu);
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, v[0]);
  lua_setfield(L, -2, "workers");
  lua_pushinteger(L, v[1]);
  lua_setfield(L, -2, "idle");
  lua_pushinteger(L, v[2]);
  lua_setfield(L, -2, "busy");
  lua_pushinteger(L, pool->nslots);
  lua_setfield(L, -2, "running");
  lua_pushinteger(L, pool->nwaiting);
  lua_setfield(L, -2, "waiting");
  lua_pushinteger(L, v[3]);
  lua_setfield(L, -2, "jobs");
  lua_pushinteger(L, pool->limit);
  lua_setfield(L, -2, "limit");
  return 1;
}

/* [-0, +0, -] Teardown hook (lua_close, after the poster was closed; no Lua
** runs): free the jobs nobody runs, orphan the running ones, end the workers
** (joined when idle, detached when busy), and let go of the pool. */
static void pool_teardown(loom_ctx *ctx, void *data) {
  loom_pool *pool = (loom_pool *)data;
  loom_worker *join = NULL, *w, *nw;
  loom_job *job, *nj;
  int last;
  (void)ctx;
  uv_mutex_lock(&pool->mu);
  pool->closed = 1;
  pool->ready_head = pool->ready_tail = NULL;
  pool->nready = 0;
  for (job = pool->all; job != NULL; job = nj) {
    nj = job->next;
    if (job->box != NULL) *job->box = NULL;
    job->box = NULL;
    job->counted = 0;
    job->prev = job->next = NULL;
    if (job->state == JS_RUNNING) {
      loom__job_set_cancelled(job);
      job->orphan = 1;                  /* its worker frees it */
    } else {
      pool->njobs--;
      job_destroy(job);
    }
  }
  pool->all = NULL;
  for (w = pool->workers; w != NULL; w = nw) {
    nw = w->next;
    if (w->job != NULL && pool->pinned == 1) {
      w->detached = 1;
      pthread_detach(w->tid);   /* uv_thread_t is a pthread_t on Unix */
    } else {
      w->next = join;
      join = w;
    }
  }
  for (w = pool->zombies; w != NULL; w = nw) {
    nw = w->next;
    w->next = join;
    join = w;
  }
  pool->workers = pool->zombies = NULL;
  pool->nworkers = 0;
  uv_cond_broadcast(&pool->cv);
  uv_mutex_unlock(&pool->mu);
  for (w = join; w != NULL; w = nw) {
    nw = w->next;
    uv_thread_join(&w->tid);
    free(w);
  }
  pool->ctx = NULL;
  uv_mutex_lock(&pool->mu);
  last = --pool->refs == 0;
  uv_mutex_unlock(&pool->mu);
  if (last) pool_free(pool);
}

static const luaL_Reg job_meta[] = {
  {"__gc", l_job_gc},
  {NULL, NULL}
};

static const luaL_Reg pool_funcs[] = {
  {"thread_stats", l_thread_stats},
  {NULL, NULL}
};

static const loom_class job_class = {
  LOOM_JOB_MT, NULL, job_meta, NULL, pool_funcs, NULL, NULL
};

static const loom_hooks pool_hooks = {
  {NULL, NULL, NULL, pool_teardown}
};

/* [-0, +0, m] Make the pool of the state (no thread yet) and register the
** class of job boxes and core.thread_stats in the core table on top. */
void loom__pool_open(lua_State *L, loom_ctx *ctx) {
  loom_pool *pool;
  loom__class_open(L, ctx, &job_class);
  lua_pop(L, 1);
  pool = (loom_pool *)calloc(1, sizeof *pool);
  if (pool == NULL) luaL_error(L, "loom: out of memory (thread pool)");
  if (uv_mutex_init(&pool->mu) != 0) {
    free(pool);
    luaL_error(L, "loom: cannot create a mutex");
  }
  if (uv_cond_init(&pool->cv) != 0) {
    uv_mutex_destroy(&pool->mu);
    free(pool);
    luaL_error(L, "loom: cannot create a condition variable");
  }
  pool->ctx = ctx;
  pool->refs = 1;
  pool->limit = loom__thread_default_limit();
  lua_pushlightuserdata(L, pool);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &pool_key);
  loom__hooks_add(ctx, &pool_hooks, pool);
}
