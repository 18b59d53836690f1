/*
** wait.c: how a task waits, at the bottom of the engine. Which task is
** running, the one suspend primitive, waking a task and the FIFO ready
** queue it goes to: the parking lots, the tasks, the scheduler and every
** blocking call above build on these.
**
** The suspend primitive (DESIGN.md B3): loom__suspend records the wait
** and its abort function in the task and yields the private token; the
** scheduler is the only resumer (DESIGN.md B2). Every continuation starts with
** loom__resumed (scope.c), which raises Cancelled if the wait was
** aborted. A woken task goes to the ready queue; while the queue is not
** empty, a uv_idle_t keeps libuv's poll from blocking (DESIGN.md B4), so the
** check callback of the scheduler runs it in the same loop turn.
*/
#include "core.h"

const char loom__token = 't';

/* [-0, +0, e] The task whose own coroutine is L, or raise the misuse error
** (README, "Running"), at the user's line. */
loom_task *loom__running(lua_State *L, loom_ctx *ctx) {
  loom_task *t = ctx->current;
  if (t == NULL)
    loom__misuse_error(L, "loom: outside of a loom task (blocking calls "
                       "must run inside loom.run or a task it started)");
  if (t->co != L)
    loom__misuse_error(L, "loom: blocking call from a nested coroutine (a "
                       "coroutine created inside a task cannot wait; call "
                       "it from the task itself)");
  if (!lua_isyieldable(L))
    loom__misuse_error(L, "loom: cannot wait here (the task is being "
                       "closed, or the call crosses a C function that "
                       "cannot yield)");
  return t;
}

/* [-0, +0, y] Suspend the running task 't' on a wait (named beforehand
** with loom__waiting; a task put back in the ready queue is not waiting).
** 'abort' tears the wait down when a scope cancels it (NULL: not
** abortable); 'k' continues the calling C function once the scheduler
** resumes the task. Called from a C function of loom (its upvalue 1 is the
** context). */
int loom__suspend(lua_State *L, loom_task *t, loom_abort_fn abort,
                  void *wait_obj, lua_KFunction k) {
  double since = t->since;
  if (t->state == TS_RUNNING && t->what != NULL)
    since = loom__now(loom_ctxup(L));
  return loom__suspend_since(L, t, abort, wait_obj, k, since);
}

/* [-0, +0, y] loom__suspend for a caller that has just read the clock:
** 'since' is when the wait began (saves reading it again). */
int loom__suspend_since(lua_State *L, loom_task *t, loom_abort_fn abort,
                        void *wait_obj, lua_KFunction k, double since) {
  if (t->state == TS_RUNNING) {
    t->state = TS_WAITING;
    t->since = since;
  }
  t->abort = abort;
  t->wait_obj = wait_obj;
  lua_pushlightuserdata(L, (void *)&loom__token);
  return lua_yieldk(L, 1, (lua_KContext)t, k);
}

/* {====================================================================
** The ready queue
** ===================================================================== */

static void on_idle(uv_idle_t *h) { (void)h; }

/* [-0, +0, -] Keep the poll from blocking while tasks are ready. */
void loom__ready_kick(loom_ctx *ctx) {
  if (!ctx->idle_on && ctx->sched_ready && !ctx->closing &&
      ctx->ready_head != NULL) {
    uv_idle_start(&ctx->h.idle, on_idle);
    ctx->idle_on = 1;
  }
}

/* [-0, +0, -] After a scheduler pass: let the poll block again when
** nothing is ready. */
void loom__ready_settle(loom_ctx *ctx) {
  if (ctx->ready_head == NULL && ctx->idle_on) {
    uv_idle_stop(&ctx->h.idle);
    ctx->idle_on = 0;
  }
}

/* [-0, +0, -] Append 't' to the ready queue. */
void loom__enqueue(loom_ctx *ctx, loom_task *t) {
  t->state = TS_READY;
  t->next = t->prev = NULL;
  if (ctx->ready_tail != NULL) ctx->ready_tail->next = t;
  else ctx->ready_head = t;
  ctx->ready_tail = t;
  if (!ctx->idle_on) loom__ready_kick(ctx);
}

/* [-0, +0, -] End the wait of 't' and queue it; 'reason' is TW_OK or
** TW_CANCELLED (an aborted wait). */
void loom__wake(loom_ctx *ctx, loom_task *t, int reason) {
  t->wake = (unsigned char)reason;
  t->flags &= (unsigned char)~TF_JOINWAIT;
  t->abort = NULL;
  t->wait_obj = NULL;
  t->what = NULL;
  loom__enqueue(ctx, t);
}
