/*
** process.c: child processes, loom.process.spawn (README, I/O).
**
** A Process is a uv_process_t block; its piped stdio are Streams (pipe
** kind, stream.c) kept in the userdata's user values. The invariant is
** "no zombie ever": a process handle is closed only after libuv has
** reaped the child (its exit callback), never before, so a Process that
** the program drops while the child runs stays in C (an orphan block)
** until the exit.
**
** Termination: when a task waiting in p:wait() is cancelled, the child
** gets SIGTERM, then SIGKILL after a grace of 1 s (a uv_timer_t of its
** own, made only then); the abort fails (DESIGN.md B9), so the waiter wakes
** when the child has been reaped and then raises the Cancelled. A wait that
** starts in an already-cancelled scope terminates the child the same way.
**
** loom.run does not outlive its children: a child spawned by a task of
** loom.run counts in ctx->nclosing until it is reaped (loom.run waits for
** that count to reach 0 before it returns), and once every task of the
** run has finished the engine calls processes_run_end (a hook), which
** terminates such children as above. A child spawned by a task of
** loom.start (beside loom.run, on a host's loop) belongs to that task,
** which loom.run does not wait for: it is neither counted nor terminated
** by loom.run. At state teardown (DESIGN.md B13) a running child is killed with
** SIGKILL and reaped synchronously.
*/
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "io.h"

#define LOOM_PROCESS_MT "loom.Process"
#define GRACE_MS 1000

typedef struct loom_proc loom_proc;

struct loom_proc {
  loom_handle h;
  uv_process_t proc;
  loom_lot waiters;          /* tasks in p:wait() */
  loom_proc *next, *prev;    /* running children of the context */
  loom_handle *grace;        /* SIGKILL timer while terminating */
  int pid;
  int termsig;
  int64_t code;
  unsigned char running;     /* spawned, not reaped */
  unsigned char exited;      /* reaped: code, termsig are valid */
  unsigned char terminating; /* SIGTERM sent */
  unsigned char cancelkill;  /* terminated because a wait was cancelled */
  unsigned char in_run;      /* spawned by a task of loom.run: counted in
                             ** ctx->nclosing until reaped */
  unsigned char group;       /* spec.process_group: the leader of a new
                             ** process group, signalled as a whole */
};

/* [-0, +0, -] Send 'sig' to the child, or to its whole process group
** (spec.process_group). Returns 0 or a libuv error. */
static int proc_signal(loom_proc *p, int sig) {
  if (p->group && p->pid > 0) return uv_kill(-p->pid, sig);
  return uv_process_kill(&p->proc, sig);
}

/* The grace timer of a terminating child. */
typedef struct grace_timer {
  loom_handle h;
  uv_timer_t tm;
  loom_proc *p;
} grace_timer;

/* Per context: the running children. */
typedef struct procs_state {
  loom_proc *live;
  int nlive;
} procs_state;

static const loom_handle_type grace_type = {"grace timer", NULL, NULL, 1};

/* [-0, +0, -] The process state of 'io', made on first use (NULL when
** out of memory). */
static procs_state *procs_of(loom_io *io) {
  if (io->procs == NULL) io->procs = calloc(1, sizeof(procs_state));
  return (procs_state *)io->procs;
}

/* Timer callback (libuv context, pure C): the grace is over, SIGKILL. */
static void on_grace(uv_timer_t *tm) {
  grace_timer *g = (grace_timer *)tm->data;
  loom_proc *p = g->p;
  if (!p->exited) proc_signal(p, SIGKILL);
  p->grace = NULL;
  loom__handle_close(&g->h);
}

/* [-0, +0, -] SIGTERM now, SIGKILL after the grace (pure C). */
static void proc_terminate(loom_ctx *ctx, loom_proc *p, int cancel) {
  grace_timer *g;
  if (cancel) p->cancelkill = 1;
  if (!p->running || p->terminating) return;
  p->terminating = 1;
  proc_signal(p, SIGTERM);
  g = (grace_timer *)loom__handle_alloc(ctx, sizeof(grace_timer),
                                        &grace_type);
  if (g == NULL) return;
  if (uv_timer_init(ctx->loop, &g->tm) != 0) {
    loom__handle_close(&g->h);
    return;
  }
  loom__handle_opened(&g->h, (uv_handle_t *)&g->tm);
  g->p = p;
  uv_timer_start(&g->tm, on_grace, GRACE_MS, 0);
  uv_unref((uv_handle_t *)&g->tm);
  p->grace = &g->h;
}

/* [-0, +0, -] 'p' is reaped: out of the running list. */
static void live_remove(procs_state *ps, loom_proc *p) {
  if (p->prev != NULL) p->prev->next = p->next;
  else ps->live = p->next;
  if (p->next != NULL) p->next->prev = p->prev;
  p->next = p->prev = NULL;
  ps->nlive--;
}

/* Exit callback (libuv context, pure C): libuv has reaped the child.
** Record the status, wake the waiters, close the handle (only now). */
static void on_proc_exit(uv_process_t *up, int64_t status, int termsig) {
  loom_proc *p = (loom_proc *)up->data;
  loom_ctx *ctx = loom__handle_ctx(&p->h);
  p->exited = 1;
  p->running = 0;
  p->code = status;
  p->termsig = termsig;
  live_remove((procs_state *)p->h.io->procs, p);
  if (p->grace != NULL) {
    loom__handle_close(p->grace);
    p->grace = NULL;
  }
  if (ctx != NULL) {
    if (p->in_run) ctx->nclosing--;  /* the child is reaped */
    loom__lot_wake_all(ctx, &p->waiters);
  }
  loom__handle_close(&p->h);
}

/* [-0, +0, -] Hook: loom.run's tasks are all done (the engine calls this
** before it waits for ctx->nclosing to reach 0): terminate the children
** they left running (SIGTERM, SIGKILL after the grace), so that the run
** ends with all of them reaped. Pure C. */
static void processes_run_end(loom_ctx *ctx, void *data) {
  loom_io *io = loom__io(ctx);
  procs_state *ps = io != NULL ? (procs_state *)io->procs : NULL;
  loom_proc *p;
  (void)data;
  if (ps == NULL) return;
  for (p = ps->live; p != NULL; p = p->next)
    if (p->in_run) proc_terminate(ctx, p, 0);
}

/* [-0, +0, -] Is 't' a task of loom.run (not under loom.start's scope)? */
static int task_in_run(loom_ctx *ctx, loom_task *t) {
  loom_scope *s;
  if (!ctx->running) return 0;
  for (s = t->scope; s != NULL; s = s->parent)
    if (s == &ctx->started) return 0;
  return 1;
}

/* [-0, +0, -] State teardown (DESIGN.md B13): kill a running child and reap it
** here, since closing its handle takes it out of libuv's reaping. */
static void proc_teardown(loom_handle *h) {
  loom_proc *p = (loom_proc *)h;
  struct timespec ms = {0, 1000000};
  int i;
  if (!p->running) return;
  p->running = 0;
  kill(p->group ? -p->pid : p->pid, SIGKILL);
  loom__handle_close(h);
  for (i = 0; i < 5000; i++) {
    pid_t r = waitpid(p->pid, NULL, WNOHANG);
    if (r == p->pid || (r < 0 && errno != EINTR)) break;
    nanosleep(&ms, NULL);
  }
}

static const loom_handle_type proc_type = {"process", proc_teardown, NULL,
                                           0};

/* {====================================================================
** spawn
** ===================================================================== */

static const char *const stdio_names[] = {"stdin", "stdout", "stderr"};

/* [-0, +0, v] The mode of spec[name]: "inherit" (default), "null" or
** "pipe". */
static int stdio_mode(lua_State *L, const char *name) {
  static const char *const modes[] = {"inherit", "null", "pipe", NULL};
  int m;
  lua_getfield(L, 1, name);
  if (lua_isnil(L, -1)) m = 0;
  else if (lua_type(L, -1) != LUA_TSTRING)
    m = loom__argerror(L, 1, lua_pushfstring(L, "spec.%s must be "
                       "\"inherit\", \"null\" or \"pipe\"", name));
  else {
    const char *s = lua_tostring(L, -1);
    for (m = 0; modes[m] != NULL && strcmp(modes[m], s) != 0; m++) {
    }
    if (modes[m] == NULL)
      loom__argerror(L, 1, lua_pushfstring(L, "spec.%s must be "
                     "\"inherit\", \"null\" or \"pipe\", got \"%s\"",
                     name, s));
  }
  lua_pop(L, 1);
  return m;
}

/* [-0, +3, m] The fail tuple of a spawn that libuv refused with 'rc': the
** message names what caused it: the working directory when it is given
** and is not a directory one can enter, else the command. */
static int spawn_fail(lua_State *L, int rc, const char *cmd,
                      const char *cwd) {
  uv_fs_t req;
  int cwd_bad = 0;
  if (cwd != NULL && (rc == UV_ENOENT || rc == UV_ENOTDIR ||
                      rc == UV_EACCES)) {
    int st = uv_fs_stat(NULL, &req, cwd, NULL);
    cwd_bad = st < 0 || (req.statbuf.st_mode & S_IFMT) != S_IFDIR ||
              uv_fs_access(NULL, &req, cwd, X_OK, NULL) < 0;
    uv_fs_req_cleanup(&req);
  }
  lua_pushnil(L);
  lua_pushstring(L, uv_err_name(rc));
  if (cwd_bad)
    lua_pushfstring(L, "cwd '%s': %s", cwd, uv_strerror(rc));
  else
    lua_pushfstring(L, "'%s': %s", cmd, rc == UV_ENOENT
                    ? "command not found (no such file or directory)"
                    : uv_strerror(rc));
  return 3;
}

/* [-1, +(1|3), e] Checkpoint. core.process_spawn(spec) -> Process | nil,
** code, message. Never blocks, but like every I/O call raises outside a
** task. Stack: 1 spec, 2 strings kept alive, 3 argv, 4 envp, 5 Process. */
static int l_process_spawn(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  uv_process_options_t opts;
  uv_stdio_container_t stdio[3];
  char **argv, **envp = NULL;
  loom_task *t;
  loom_proc *p;
  procs_state *ps;
  lua_Integer n, i;
  int nenv = 0, modes[3], rc;
  loom__checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  n = luaL_len(L, 1);
  loom__argcheck(L, n >= 1, 1, "spec[1] must be the command");
  lua_newtable(L);                                         /* 2 */
  argv = (char **)lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *),
                                    0);                    /* 3 */
  for (i = 1; i <= n; i++) {
    int ty = lua_geti(L, 1, i);
    if (ty != LUA_TSTRING && ty != LUA_TNUMBER)
      return loom__argerror(L, 1, lua_pushfstring(L, "spec[%d] must be "
                            "a string, got %s", (int)i,
                            luaL_typename(L, -1)));
    lua_tostring(L, -1);
    argv[i - 1] = (char *)lua_tostring(L, -1);
    lua_rawseti(L, 2, i);
  }
  argv[n] = NULL;
  lua_getfield(L, 1, "env");
  if (!lua_isnil(L, -1)) {
    if (!lua_istable(L, -1))
      return loom__argerror(L, 1, "spec.env must be a table");
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      nenv++;
      lua_pop(L, 1);
    }
    envp = (char **)lua_newuserdatauv(L, (size_t)(nenv + 1) *
                                      sizeof(char *), 0);
    lua_replace(L, -2);                                     /* 4 */
    nenv = 0;
    lua_getfield(L, 1, "env");
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING ||
          (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
        return loom__argerror(L, 1, "spec.env must map names to strings");
      lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
      envp[nenv++] = (char *)lua_tostring(L, -1);
      lua_rawseti(L, 2, n + nenv);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    envp[nenv] = NULL;
  }
  lua_settop(L, 4);
  memset(&opts, 0, sizeof opts);
  lua_getfield(L, 1, "cwd");
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      return loom__argerror(L, 1, "spec.cwd must be a string");
    opts.cwd = lua_tostring(L, -1);
    lua_rawseti(L, 2, 0);
  } else {
    lua_pop(L, 1);
  }
  for (i = 0; i < 3; i++) modes[i] = stdio_mode(L, stdio_names[i]);
  t = loom__checkpoint_enter(L, ctx);
  ps = procs_of(loom__io(ctx));
  if (ps == NULL) return luaL_error(L, "loom: out of memory (process)");
  p = (loom_proc *)loom__handle_new(L, ctx, sizeof(loom_proc), &proc_type,
                                    LOOM_PROCESS_MT, 3);    /* 5 */
  memset(stdio, 0, sizeof stdio);
  for (i = 0; i < 3; i++) {
    if (modes[i] == 0) {
      stdio[i].flags = UV_INHERIT_FD;
      stdio[i].data.fd = (int)i;
    } else if (modes[i] == 1) {
      stdio[i].flags = UV_IGNORE;
    } else {
      loom_stream *s = loom__stream_new(L, ctx, LOOM_PIPE);
      stdio[i].flags = (uv_stdio_flags)(UV_CREATE_PIPE |
                       (i == 0 ? UV_READABLE_PIPE : UV_WRITABLE_PIPE));
      stdio[i].data.stream = &s->u.stream;
      lua_setiuservalue(L, 5, (int)i + 1);
    }
  }
  lua_getfield(L, 1, "process_group");
  if (lua_toboolean(L, -1)) opts.flags |= UV_PROCESS_DETACHED;  /* setsid */
  lua_pop(L, 1);
  opts.exit_cb = on_proc_exit;
  opts.file = argv[0];
  opts.args = argv;
  opts.env = envp;
  opts.stdio_count = 3;
  opts.stdio = stdio;
  rc = uv_spawn(ctx->loop, &p->proc, &opts);
  loom__handle_opened(&p->h, (uv_handle_t *)&p->proc);
  if (rc < 0) {
    for (i = 1; i <= 3; i++) {
      if (lua_getiuservalue(L, 5, (int)i) == LUA_TUSERDATA)
        loom__stream_close((loom_stream *)loom__handle_box(L, -1));
      lua_pop(L, 1);
    }
    loom__handle_close(&p->h);
    return spawn_fail(L, rc, argv[0], opts.cwd);
  }
  p->pid = p->proc.pid;
  p->running = 1;
  p->group = (opts.flags & UV_PROCESS_DETACHED) != 0;
  if (task_in_run(ctx, t)) {
    p->in_run = 1;
    ctx->nclosing++;        /* reaped by on_proc_exit; loom.run waits */
  }
  p->next = ps->live;
  if (ps->live != NULL) ps->live->prev = p;
  ps->live = p;
  ps->nlive++;
  return 1;
}

/* [-0, +0, v] The Process at 'idx'. */
static loom_proc *check_proc(lua_State *L, int idx) {
  return (loom_proc *)loom__handle_check(L, idx);
}

/* [-0, +2, m] code, signal name: (code, nil) after a normal exit, (nil,
** "SIGxxx") when a signal killed the child. */
static int push_status(lua_State *L, loom_proc *p) {
  if (p->termsig != 0) {
    const char *name = loom__signame(p->termsig);
    lua_pushnil(L);
    if (name != NULL) lua_pushstring(L, name);
    else lua_pushinteger(L, p->termsig);
  } else {
    lua_pushinteger(L, (lua_Integer)p->code);
    lua_pushnil(L);
  }
  return 2;
}

/* [-0, +2, v] Continuation of p:wait(): the child is reaped. If the wait
** terminated it because of a cancellation, raise that Cancelled now. */
static int k_wait(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = (loom_task *)kc;
  loom_proc *p;
  (void)status;
  loom__resumed(L, ctx, t);
  p = (loom_proc *)loom__handle_box(L, 1);
  if (p->cancelkill) loom__check_cancel(L, ctx, t);
  return push_status(L, p);
}

/* Abort of p:wait() (pure C): terminate the child; the wait goes on
** until it is reaped (FAILED), then k_wait raises the Cancelled. */
static int wait_abort(loom_ctx *ctx, loom_task *t) {
  proc_terminate(ctx, (loom_proc *)t->wait_obj, 1);
  return LOOM_ABORT_FAILED;
}

/* [-1, +2, y] Checkpoint. p:wait() -> code, signal. In a cancelled scope
** a running child is terminated and reaped before Cancelled is raised. */
static int l_process_wait(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_proc *p = check_proc(L, 1);
  loom_task *t;
  lua_settop(L, 1);
  t = loom__running(L, ctx);
  loom__clock_due(ctx);
  if (t->scope->flags & SF_EFFECTIVE) {
    if (!p->running) loom__check_cancel(L, ctx, t);   /* raises */
    proc_terminate(ctx, p, 1);                       /* then reap it */
    loom__lot_push(&p->waiters, t);
    loom__waiting(t, "process wait");
    return loom__suspend(L, t, NULL, p, k_wait);
  }
  if (!p->running) return push_status(L, p);
  loom__lot_push(&p->waiters, t);
  loom__waiting(t, "process wait");
  return loom__suspend(L, t, wait_abort, p, k_wait);
}

/* [-2, +(1|3), v] p:kill([signal]) -> true | false (already reaped) |
** nil, code, message. Not a checkpoint. */
static int l_process_kill(lua_State *L) {
  loom_proc *p = check_proc(L, 1);
  int sig = lua_isnoneornil(L, 2) ? SIGTERM : loom__checksignal(L, 2);
  int rc;
  if (!p->running) {
    lua_pushboolean(L, 0);
    return 1;
  }
  rc = proc_signal(p, sig);
  if (rc < 0) return loom__fail(L, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* [-1, +0, -] __gc: a child still running stays in C until it is
** reaped; never raises (DESIGN.md B7). */
static int l_process_gc(lua_State *L) {
  loom_handle **box = (loom_handle **)lua_touserdata(L, 1);
  loom_proc *p = (loom_proc *)*box;
  if (p == NULL) return 0;
  *box = NULL;
  if (!p->running) loom__handle_close(&p->h);
  loom__handle_release(&p->h);
  return 0;
}

/* [-2, +1, v] __index: pid, stdin, stdout, stderr, then the methods
** (upvalue 2). */
static int l_process_index(lua_State *L) {
  loom_proc *p = check_proc(L, 1);
  const char *k = lua_tostring(L, 2);
  int i;
  if (k != NULL && strcmp(k, "pid") == 0) {
    lua_pushinteger(L, p->pid);
    return 1;
  }
  for (i = 0; k != NULL && i < 3; i++) {
    if (strcmp(k, stdio_names[i]) == 0) {
      lua_getiuservalue(L, 1, i + 1);
      return 1;
    }
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(3));
  return 1;
}

/* [-1, +1, m] __tostring: "loom.Process (pid 123)". */
static int l_process_tostring(lua_State *L) {
  loom_proc *p = (loom_proc *)loom__handle_box(L, 1);
  lua_pushfstring(L, "loom.Process (pid %d%s)", p != NULL ? p->pid : 0,
                  p != NULL && p->running ? "" : ", exited");
  return 1;
}

static const luaL_Reg process_methods[] = {
  {"wait", l_process_wait},
  {"kill", l_process_kill},
  {NULL, NULL}
};

static const luaL_Reg process_funcs[] = {
  {"process_spawn", l_process_spawn},
  {NULL, NULL}
};

static const luaL_Reg process_meta[] = {
  {"__gc", l_process_gc},
  {"__tostring", l_process_tostring},
  {NULL, NULL}
};

/* Its methods table is core.process_methods (process.lua wraps them). */
static const loom_class process_class = {
  LOOM_PROCESS_MT, process_methods, process_meta, l_process_index,
  process_funcs, "process_methods", NULL
};

static const loom_hooks process_hooks = {
  {NULL, processes_run_end, NULL, NULL}
};

/* [-0, +0, m] Register the Process class and core.process_spawn; end the
** children loom.run's tasks left running when they are done. */
void loom__process_open(lua_State *L, loom_ctx *ctx) {
  loom__class_open(L, ctx, &process_class);
  lua_pop(L, 1);
  loom__hooks_add(ctx, &process_hooks, NULL);
}
