/*
** signal.c: loom.signal.wait and Ctrl-C (README, I/O).
**
** One watcher (a uv_signal_t block with no Lua owner) per signal number
** and context, made at first use. Tasks in signal.wait(name) park in the
** watcher's lot; a signal wakes all of them. The watcher is referenced
** only while tasks wait (a task waiting for a signal keeps loom.run
** alive; an idle watcher does not). Once a signal other than SIGINT has
** been waited for, its watcher stays installed until the Lua state
** closes: a later signal with no task waiting is dropped instead of
** taking its default action (which would kill the process for SIGUSR1).
**
** SIGINT: while loom.run runs (loom__sigint_arm .. loom__sigint_disarm)
** the SIGINT watcher is installed, unreferenced. Ctrl-C then:
**  - wakes the tasks waiting in signal.wait("SIGINT") if there are any
**    (a program that waits for SIGINT handles Ctrl-C itself, as with
**    Trio's open_signal_receiver);
**  - else, the first time, sets ctx->interrupted and cancels the whole
**    task tree (CR_INTERRUPT): cleanup runs, loom.run raises Interrupted;
**  - else (a second Ctrl-C while that cleanup runs), restores the
**    default action and re-raises SIGINT: the process dies at once, the
**    escape hatch for cleanup that hangs.
** When neither loom.run nor a waiter needs it, the SIGINT watcher is
** stopped and the handler found at arming (lua.c's, say) is put back.
*/
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

#define NSIGNALS 65

typedef struct sigwatch {
  loom_handle h;
  uv_signal_t sig;
  loom_lot waiters;
  int signum;
  unsigned char started, refd;
  unsigned char waited;      /* signal.wait has used it: it stays */
} sigwatch;

typedef struct sig_state {
  sigwatch *w[NSIGNALS];
  int armed;                 /* inside loom.run */
  int saved_ok;
  struct sigaction saved;    /* SIGINT action before the watcher */
  int dump_signum;           /* loom.dump_on_signal's signal, or 0 */
  int r_dump;                /* and the dumper (a registry ref) */
} sig_state;

/* [-0, +0, -] The watcher's block is freed: forget it. */
static void watch_finalize(loom_handle *h) {
  sigwatch *w = (sigwatch *)h;
  sig_state *st = (sig_state *)h->io->signals;
  if (st != NULL && st->w[w->signum] == w) st->w[w->signum] = NULL;
}

static const loom_handle_type watch_type = {"signal", NULL, watch_finalize,
                                            1};

/* [-0, +0, -] The signal state of 'io', made on first use (NULL when out
** of memory). */
static sig_state *state_of(loom_io *io) {
  if (io->signals == NULL) {
    sig_state *st = (sig_state *)calloc(1, sizeof(sig_state));
    if (st != NULL) st->r_dump = LUA_NOREF;
    io->signals = st;
  }
  return (sig_state *)io->signals;
}

/* [-0, +0, -] The watcher of 'signum', made (not started) on first use;
** NULL when out of memory. */
static sigwatch *watch_get(loom_ctx *ctx, sig_state *st, int signum) {
  sigwatch *w = st->w[signum];
  if (w != NULL) return w;
  w = (sigwatch *)loom__handle_alloc(ctx, sizeof(sigwatch), &watch_type);
  if (w == NULL) return NULL;
  if (uv_signal_init(ctx->loop, &w->sig) != 0) {
    loom__handle_close(&w->h);
    return NULL;
  }
  loom__handle_opened(&w->h, (uv_handle_t *)&w->sig);
  w->signum = signum;
  uv_unref((uv_handle_t *)&w->sig);
  st->w[signum] = w;
  return w;
}

static void on_signal(uv_signal_t *sh, int signum);

/* [-0, +0, -] Install the watcher (for SIGINT, save the action it
** replaces first); returns 0 or a libuv error. */
static int watch_start(sig_state *st, sigwatch *w) {
  int rc;
  if (w->started) return 0;
  if (w->signum == SIGINT && !st->saved_ok)
    st->saved_ok = sigaction(SIGINT, NULL, &st->saved) == 0;
  rc = uv_signal_start(&w->sig, on_signal, w->signum);
  if (rc == 0) w->started = 1;
  return rc;
}

/* [-0, +0, -] Reference the watcher while tasks wait; stop a SIGINT
** watcher nobody needs and put the previous action back. */
static void watch_settle(sig_state *st, sigwatch *w) {
  int want_ref = w->waiters.n > 0;
  if (want_ref && !w->refd) uv_ref((uv_handle_t *)&w->sig);
  if (!want_ref && w->refd) uv_unref((uv_handle_t *)&w->sig);
  w->refd = (unsigned char)want_ref;
  if (w->signum == SIGINT && w->started && !want_ref && !st->armed) {
    uv_signal_stop(&w->sig);
    w->started = 0;
    if (st->saved_ok) sigaction(SIGINT, &st->saved, NULL);
    st->saved_ok = 0;
  }
}

/* [-0, +0, -] Ctrl-C during loom.run with nobody waiting for SIGINT:
** cancel the tree the first time, die the default way the second. */
static void interrupt(loom_ctx *ctx, sigwatch *w) {
  if (!ctx->interrupted) {
    ctx->interrupted = 1;
    loom__scope_cancel(ctx, &ctx->top, CR_INTERRUPT);
    loom__clock_sync(ctx);
    return;
  }
  /* Second Ctrl-C during the cleanup: die the default way. */
  uv_signal_stop(&w->sig);
  w->started = 0;
  signal(SIGINT, SIG_DFL);
  raise(SIGINT);
}

/* loom.dump_on_signal's signal arrived: call the dumper (loom.dump to
** stderr) on the thread driving the loop, in one protected call (libuv
** context: DESIGN.md B1). Not while a task runs a nested uv_run (luv's
** uv.run): that thread is not free to call. */
static void dump_now(loom_ctx *ctx, sig_state *st) {
  lua_State *L = ctx->drive;
  if (L == NULL || ctx->current != NULL || ctx->closing ||
      st->r_dump == LUA_NOREF || !lua_checkstack(L, 2))
    return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->r_dump);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    fprintf(stderr, "loom: dump_on_signal: %s\n",
            lua_isstring(L, -1) ? lua_tostring(L, -1) : "error");
    fflush(stderr);
    lua_pop(L, 1);
  }
}

/* Signal callback (libuv context, pure C). */
static void on_signal(uv_signal_t *sh, int signum) {
  sigwatch *w = (sigwatch *)sh->data;
  loom_ctx *ctx = loom__handle_ctx(&w->h);
  sig_state *st;
  if (ctx == NULL) return;
  st = (sig_state *)w->h.io->signals;
  if (signum == st->dump_signum) dump_now(ctx, st);
  if (w->waiters.n > 0) {
    loom__lot_wake_all(ctx, &w->waiters);
    watch_settle(st, w);
  } else if (signum == SIGINT && st->armed) {
    interrupt(ctx, w);
  }
}

/* Abort of signal.wait (pure C): leave the lot (SUCCEEDED). */
static int sigwait_abort(loom_ctx *ctx, loom_task *t) {
  sigwatch *w = (sigwatch *)t->wait_obj;
  (void)ctx;
  loom__lot_remove(&w->waiters, t);
  watch_settle((sig_state *)w->h.io->signals, w);
  return LOOM_ABORT_SUCCEEDED;
}

/* [-0, +1, -] Continuation of signal.wait: the name at index 2. */
static int k_sigwait(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  (void)status;
  loom__resumed(L, ctx, (loom_task *)kc);
  lua_settop(L, 2);
  return 1;
}

/* [-1, +(1|3), y] Checkpoint. core.signal_wait(signal) -> its name |
** nil, code, message. Waits for the next delivery of the signal (a name
** or a number); every task waiting for it wakes. */
static int l_signal_wait(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  int signum = loom__checksignal(L, 1);
  const char *name = loom__signame(signum);
  loom_task *t;
  sig_state *st;
  sigwatch *w;
  int rc;
  loom__argcheck(L, signum < NSIGNALS, 1, "bad signal number");
  lua_settop(L, 1);
  if (name != NULL) lua_pushstring(L, name);
  else lua_pushinteger(L, signum);
  t = loom__checkpoint_enter(L, ctx);
  st = state_of(loom__io(ctx));
  w = st != NULL ? watch_get(ctx, st, signum) : NULL;
  if (w == NULL) return loom__fail(L, UV_ENOMEM);
  rc = watch_start(st, w);
  if (rc < 0) return loom__fail(L, rc);
  w->waited = 1;
  loom__lot_push(&w->waiters, t);
  watch_settle(st, w);
  loom__waiting(t, "signal");
  return loom__suspend(L, t, sigwait_abort, w, k_sigwait);
}

/* [-0, +0, -] Hook: loom.run begins: install the SIGINT watcher
** (unreferenced). */
static void sigint_arm(loom_ctx *ctx, void *data) {
  loom_io *io = loom__io(ctx);
  sig_state *st = io != NULL ? state_of(io) : NULL;
  sigwatch *w;
  int rc;
  (void)data;
  if (st == NULL || ctx->loop == NULL) return;
  w = watch_get(ctx, st, SIGINT);
  if (w == NULL) return;   /* out of memory: Ctrl-C ends the process */
  st->armed = 1;
  rc = watch_start(st, w);
  (void)rc;                /* same: the default disposition stays */
  watch_settle(st, w);
}

/* [-0, +0, -] Hook: loom.run returns: uninstall the SIGINT watcher unless
** tasks wait for SIGINT; the previous handler comes back. */
static void sigint_disarm(loom_ctx *ctx, void *data) {
  loom_io *io = loom__io(ctx);
  sig_state *st = io != NULL ? (sig_state *)io->signals : NULL;
  (void)data;
  if (st == NULL) return;
  st->armed = 0;
  if (st->w[SIGINT] != NULL) watch_settle(st, st->w[SIGINT]);
}

/* [-0, +0, -] Stop watching the dump signal (unless signal.wait uses its
** watcher): it takes its default action again. */
static void dump_stop(sig_state *st) {
  sigwatch *w = st->dump_signum != 0 ? st->w[st->dump_signum] : NULL;
  if (w != NULL && w->started && !w->waited) {
    uv_signal_stop(&w->sig);
    w->started = 0;
  }
  st->dump_signum = 0;
}

/* [-2, +0, e] core.dump_on_signal(signal | nil, dumper): from now on, the
** signal (a name or a number; not SIGINT, Ctrl-C) calls dumper() on the
** loop's thread whenever the loop runs (loom.run, or a host's loop); nil
** stops it. The watcher does not keep the loop alive. */
static int l_dump_on_signal(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  sig_state *st = state_of(loom__io(ctx));
  sigwatch *w;
  int signum, rc;
  if (st == NULL) return luaL_error(L, "not enough memory");
  if (lua_isnoneornil(L, 1) || (lua_isboolean(L, 1) && !lua_toboolean(L, 1))) {
    dump_stop(st);
    return 0;
  }
  signum = loom__checksignal(L, 1);
  loom__argcheck(L, signum < NSIGNALS, 1, "bad signal number");
  loom__argcheck(L, signum != SIGINT, 1,
                 "SIGINT is Ctrl-C, which loom.run handles");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  rc = loom__ensure_loop(ctx);
  if (rc < 0) return loom__fail(L, rc);
  if (st->dump_signum != signum) dump_stop(st);
  w = watch_get(ctx, st, signum);
  if (w == NULL) return loom__fail(L, UV_ENOMEM);
  rc = watch_start(st, w);
  if (rc < 0) return loom__fail(L, rc);
  lua_settop(L, 2);
  if (st->r_dump == LUA_NOREF) {
    st->r_dump = luaL_ref(L, LUA_REGISTRYINDEX);
  } else {
    lua_rawseti(L, LUA_REGISTRYINDEX, st->r_dump);
  }
  st->dump_signum = signum;
  return 0;
}

static const luaL_Reg signal_funcs[] = {
  {"signal_wait", l_signal_wait},
  {"dump_on_signal", l_dump_on_signal},
  {NULL, NULL}
};

static const loom_hooks signal_hooks = {
  {sigint_arm, NULL, sigint_disarm, NULL}
};

/* [-0, +0, m] Register core.signal_wait; watch Ctrl-C while loom.run
** runs. */
void loom__signal_open(lua_State *L, loom_ctx *ctx) {
  loom__setfuncs(L, ctx, signal_funcs);
  loom__hooks_add(ctx, &signal_hooks, NULL);
}
