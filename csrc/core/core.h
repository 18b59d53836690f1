/*
** core.h: the private header of loom's engine (csrc/core/), the lowest
** layer: the structures every other layer builds on and the prototypes
** shared between the engine's files. doc/DESIGN.md describes the layers;
** this header names nothing of the layers above (sync/, io/, embed/).
**
** The model. A context (one per Lua state) owns a libuv loop, a FIFO
** ready queue of tasks, one min-heap of timers driving one uv_timer_t, and
** a tree of cancel scopes rooted at ctx->top. A task is one coroutine plus
** one C record (loom_task, the payload of the Task userdata). Each task
** has an embedded root scope; a group has an embedded scope; loom.scope
** and the timeout family create user scopes. A task's chain of scopes runs
** from its innermost scope (task->scope) up through its root scope into
** the scope it was spawned under, and so on up to ctx->top.
**
** The files, lowest first; a file calls only the files before it:
**   args.c       argument errors, blamed on the caller of a Lua wrapper
**   context.c    the context, anchors, classes, hooks of the layers above
**   wait.c       the running task, suspending, waking, the ready queue
**   parking.c    FIFO queues of waiting tasks
**   clock.c      time, the deadline heap and its one uv_timer_t
**   errors.c     error values, classes, errors nobody owns
**   traceback.c  where errors were raised (the stash, the message handler)
**   scope.c      the cancel-scope tree, checkpoints, delivery
**   sleep.c      loom.sleep: the timer of a task's root scope
**   task.c       Task objects: creation, names, outcomes, join
**   group.c      task groups
**   introspect.c loom.tree: the live tasks, what they wait on
**   sched.c      the resume loop, the end of a task, loom.run
**
** Invariants:
**  - a task is in at most one of: the ready queue, a parking lot, the timer
**    heap (its root.timer), or an I/O wait; task->state says which;
**  - scope->flags & SF_EFFECTIVE == own cancellation, or the parent's
**    effective cancellation when the scope is not shielded;
**  - a running or suspended task is anchored (task->ref in the anchor
**    table), and its coroutine is its user value 1; a finished task keeps
**    its outcome there instead, and its coroutine goes back to the pool;
**  - nothing in the engine raises inside a libuv callback: callbacks that
**    need Lua go through one lua_pcall of a trampoline (DESIGN.md B1).
*/
#ifndef loom_core_h
#define loom_core_h

#include <stddef.h>

#include <uv.h>

#include "lua.h"
#include "lauxlib.h"

#include "../loom.h"

/* Only Lua 5.4 is accepted (DESIGN.md B15); within 5.4, lua_closethread
** appeared in 5.4.6 and replaces lua_resetthread, which closes the pending
** to-be-closed variables of a dead or suspended coroutine (DESIGN.md B8). */
#if !defined(LUA_VERSION_NUM) || LUA_VERSION_NUM != 504
#error "loom needs Lua 5.4"
#endif
#if LUA_VERSION_RELEASE_NUM < 50406
#define lua_closethread(L, from) ((void)(from), lua_resetthread(L))
#endif

typedef struct loom_ctx loom_ctx;
typedef struct loom_task loom_task;
typedef struct loom_scope loom_scope;
typedef struct loom_group loom_group;
typedef struct loom_lot loom_lot;
typedef struct loom_timer loom_timer;
typedef struct loom_class loom_class;
typedef struct loom_hooks loom_hooks;

/* What an abort function tells the canceller (Trio's Abort). */
#define LOOM_ABORT_SUCCEEDED 1
#define LOOM_ABORT_FAILED 0

/* Tears down the wait of a blocked task 't' when its scope is cancelled.
** Pure C: may not raise, may not call Lua. */
typedef int (*loom_abort_fn)(loom_ctx *ctx, loom_task *t);

/* What a deadline does when it passes (wake a sleeper, cancel a scope):
** registered with the timer entry by the layer that queued it. Pure C. */
typedef void (*loom_fire_fn)(loom_ctx *ctx, loom_timer *tm);

/* A deadline; while queued it has an entry in ctx->heap, which carries
** the key (when, FIFO number) the heap is ordered by. */
struct loom_timer {
  double when;     /* absolute time on loom.now()'s clock; HUGE_VAL = none */
  int index;       /* position in ctx->heap, or -1 when not queued */
};

/* An entry of the deadline heap: its key (a copy of the timer's, so that
** ordering never reads the timer), the timer, and what its expiry does.
** A cleared timer's entry stays where it is with tm = NULL (dead) until
** it reaches the top or the heap is compacted (clock.c). */
typedef struct loom_heap_entry {
  double when;
  loom_timer *tm;
  unsigned seq;     /* FIFO among equal deadlines */
  unsigned fire;    /* index in ctx->fires (24 bytes an entry, not 32) */
} loom_heap_entry;

#define LOOM_MAX_FIRES 8   /* distinct fire functions (sleep, scope) */

/* A FIFO wait queue of tasks ("parking lot"), linked through task->next. */
struct loom_lot {
  loom_task *head, *tail;
  int n;
};

/* Scope kinds. */
#define SK_TOP 0    /* the tree's root, and the parent of loom.start roots */
#define SK_TASK 1   /* a task's root scope (t:cancel()) */
#define SK_GROUP 2  /* a group's scope (g:cancel(), cancel on failure) */
#define SK_USER 3   /* loom.scope, loom.timeout, ..., loom.shield */

/* Scope flags. */
#define SF_CANCELLED 0x01  /* cancel_called: by cancel() or its deadline */
#define SF_EFFECTIVE 0x02  /* cancelled here, or inherited from above */
#define SF_SHIELD 0x04
#define SF_CAUGHT 0x08     /* cancelled_caught */
#define SF_LINKED 0x10     /* in the tree */
#define SF_EXITED 0x20     /* left; cancel() and deadline changes ignored */
#define SF_TIMEOUT 0x40    /* a deadline catch raises TimeoutError */

/* Why a scope was cancelled (the first reason sticks). */
#define CR_NONE 0
#define CR_EXPLICIT 1   /* s:cancel() */
#define CR_DEADLINE 2
#define CR_GROUP 3      /* g:cancel() */
#define CR_FAILED 4     /* a task or the body of the group failed */
#define CR_TASK 5       /* t:cancel() */
#define CR_INTERRUPT 6  /* Ctrl-C */
#define CR_SHUTDOWN 7   /* loom.shutdown() */
#define CR_DEADLOCK 8   /* loom.run found every task blocked forever */
#define CR_ABANDONED 9  /* the host task of the group died */
#define CR_COUNT 10

struct loom_scope {
  loom_scope *parent;
  loom_scope *child;        /* first child */
  loom_scope *next, *prev;  /* siblings */
  loom_task *owner;         /* task that opened it (root scope: the task) */
  loom_timer timer;         /* deadline; for SK_TASK, the task's sleep */
  unsigned char kind;
  unsigned char reason;     /* CR_*: why it was cancelled itself */
  unsigned short flags;     /* SF_* */
  unsigned char creason;    /* while SF_EFFECTIVE: the reason of the scope
                            ** that catches a Cancelled raised here (the
                            ** outermost cancelled one up to the nearest
                            ** shield), kept with SF_EFFECTIVE */
};

/* Task states: where the task is. */
#define TS_READY 1     /* in the ready queue */
#define TS_RUNNING 2
#define TS_WAITING 3   /* suspended on a wait with (maybe) an abort */
#define TS_DONE 4

/* Task outcomes (t.status). */
#define TO_RUNNING 0
#define TO_OK 1
#define TO_ERROR 2
#define TO_CANCELLED 3

/* Wake reasons, read by the continuation of the suspend primitive. */
#define TW_NONE 0
#define TW_OK 1
#define TW_CANCELLED 2

/* Task flags. */
#define TF_NEW 0x01       /* not resumed yet: the stack holds its call */
#define TF_STARTING 0x02  /* g:start() child that has not called started */
#define TF_STASH 0x04     /* ctx stash holds an error record for it */
#define TF_RUNROOT 0x08   /* the root task of loom.run */
#define TF_HOSTROOT 0x10  /* a root task of loom.start */
#define TF_NAMED 0x20     /* has a name in the names table */
#define TF_STARTED 0x40   /* g:start() child that called started */
#define TF_JOINWAIT 0x80  /* blocked until other tasks finish (join-like) */

struct loom_task {
  loom_scope root;          /* its own scope; root.timer is its sleep */
  lua_State *co;            /* its coroutine (user value 1) while it runs;
                            ** NULL once finished: then user value 1 holds
                            ** its outcome (loom__task_settle) */
  loom_scope *scope;        /* innermost scope it is in */
  loom_group *group;        /* group it belongs to, NULL for roots */
  loom_task *next, *prev;   /* ready queue or the lot it waits in */
  void *wait_obj;           /* what it waits on (a lot, a stream, ...) */
  loom_abort_fn abort;      /* NULL: the wait cannot be aborted */
  loom_lot joiners;         /* tasks waiting in t:join()/t:wait() */
  int ref;                  /* anchor while alive, LUA_NOREF after */
  unsigned id;              /* N of the default name task-N */
  int nres;                 /* before the first run: nargs; after: nres */
  loom_task *parent;        /* the spawning task (t.parent, user value 2,
                            ** which keeps it alive), or NULL */
  int line;                 /* spawned_at: the line of the spawning call */
  const char *src;          /* and its chunk's short name (a string the
                            ** context keeps: task.c, "Spawn sites") */
  const char *what;         /* what it waits on ("sleep", "tcp read"...),
                            ** NULL when it does not wait */
  double since;             /* when it began to wait (loom.now) */
  unsigned char state;      /* TS_* */
  unsigned char status;     /* TO_* */
  unsigned char wake;       /* TW_* */
  unsigned char flags;      /* TF_* */
};

/* Group flags. */
#define GF_CLOSED 0x01      /* with_group returned: spawning is refused */
#define GF_JOINING 0x02     /* the host waits for the children */
#define GF_FAILED 0x04      /* a child or the body raised an error */
#define GF_BODYDONE 0x08
#define GF_CHILDCANCEL 0x10 /* some child ended cancelled */
#define GF_ABANDONED 0x20   /* its host died with the group open */

struct loom_group {
  loom_scope scope;   /* the scope of the body and the children */
  loom_task *host;
  int nlive;          /* children spawned and not finished */
  int limit;          /* 0: no limit */
  loom_lot slots;     /* spawners waiting for room (limit) */
  int ref;            /* anchor while open */
  int nerrors;
  unsigned flags;     /* GF_* */
};

/* The moments at which the layers above the engine are called (hooks):
** they let the engine trigger what it must not name. */
#define LOOM_HOOK_RUN_BEGIN 0  /* loom.run starts (Ctrl-C is watched) */
#define LOOM_HOOK_RUN_END 1    /* loom.run's tasks are done: end what they
                               ** left running (child processes) */
#define LOOM_HOOK_RUN_EXIT 2   /* loom.run returns */
#define LOOM_HOOK_TEARDOWN 3   /* the Lua state closes: close every handle
                               ** without running Lua (DESIGN.md B13) */
#define LOOM_HOOK_COUNT 4
#define LOOM_MAX_HOOKS 8

typedef void (*loom_hook_fn)(loom_ctx *ctx, void *data);

/* What a layer wants called at each moment (NULL: nothing). */
struct loom_hooks {
  loom_hook_fn fn[LOOM_HOOK_COUNT];
};

/* A class of Lua objects (DESIGN.md, "Objects"): one loom__class_open call
** makes its metatable; every method, metamethod and function gets the
** upvalues (ctx, metatable), so loom__checkself tests a receiver with one
** comparison. */
struct loom_class {
  const char *name;          /* __name ("loom.Event"); also the registry
                             ** key of the metatable, as luaL_newmetatable */
  const luaL_Reg *methods;   /* may be NULL */
  const luaL_Reg *meta;      /* metamethods (__gc, __close, ...); or NULL */
  lua_CFunction index;       /* NULL: __index is the methods table; else
                             ** __index is this function with upvalues
                             ** (ctx, metatable, methods): for fields */
  const luaL_Reg *funcs;     /* functions set in the core table (the
                             ** constructors), upvalues (ctx, metatable) */
  const char *methods_field; /* core[methods_field] = the methods table,
                             ** which the Lua layer wraps; or NULL */
  const char *natives_field; /* core[natives_field] = a second table of
                             ** the same C methods; or NULL */
};

/* At most this many coroutines of finished tasks are kept for reuse: a
** steady spawn-join workload then allocates no thread and no stack. */
#define LOOM_POOL_MAX 1024

/* The handles a context owns; malloc'd, because libuv may hold them after
** the Lua state has gone (DESIGN.md B6). */
typedef struct loom_handles {
  uv_check_t check;    /* sched.c: resumes ready tasks */
  uv_idle_t idle;      /* wait.c: keeps the poll from blocking */
  uv_timer_t timer;    /* clock.c: the earliest deadline */
  uv_loop_t own_loop;
} loom_handles;

struct loom_ctx {
  uv_loop_t *loop;        /* NULL until the first task or loom_loop() */
  loom_handles h;         /* ctx itself is malloc'd for their sake
                          ** (DESIGN.md B6) */
  int own_loop;           /* loop is h.own_loop, initialised by us */
  int sched_ready;        /* handles initialised on 'loop' */
  int idle_on, check_on, timer_on;
  lua_State *L;           /* main thread (DESIGN.md B12) */
  lua_State *drive;       /* thread driving the loop right now */
  loom_task *current;     /* task being resumed, or NULL */
  loom_task *ready_head, *ready_tail;
  loom_heap_entry *heap;
  int heap_n, heap_cap;   /* entries, dead ones included */
  int heap_dead;          /* entries of cleared timers (clock.c) */
  loom_fire_fn fires[LOOM_MAX_FIRES];  /* what heap entries' expiry does */
  int nfires;
  unsigned heap_seq;
  double timer_due;       /* when the uv timer is armed for; HUGE_VAL none */
  int virtual_clock;
  double vnow;            /* virtual clock's time */
  loom_scope top;         /* root of the scope tree */
  loom_scope started;     /* parent of loom.start roots */
  unsigned next_id;
  int ntasks;             /* live tasks */
  int running;            /* inside loom.run */
  int loop_depth;         /* uv_run calls made by loom under way */
  loom_task *run_root;
  int closing;            /* teardown: callbacks only free memory */
  int nhandles_open;      /* ctx handles not yet closed (teardown) */
  int interrupted;        /* Ctrl-C cancelled the tree during loom.run */
  int gc_torture;         /* debug: full collection after every resume */
  int nclosing;           /* handles closing and requests finishing in the
                          ** background: loom.run waits for them */
  unsigned err_seq;       /* raise order of errors (ErrorGroup order) */
  /* Registry references. */
  int r_anchor;           /* anchor table: ref -> object in flight */
  int r_stash;            /* lightuserdata(task) -> {err, tb, rethrow} */
  int r_names;            /* weak: task -> name */
  int r_task_mt;
  int r_task_main, r_msgh;
  int r_sites;            /* short sources kept for t.spawned_at (task.c) */
  const char *site_source;  /* the last spawn site's chunk (its source) */
  const char *site_src;   /* and its kept short source name */
  int spawn_sites;        /* record t.spawned_at (loom.configure) */
  int full_tracebacks;    /* keep loom's frames (loom.configure) */
  int pool[LOOM_POOL_MAX];  /* anchor slots holding reset coroutines of
                           ** finished tasks, for the next spawns */
  int pool_n;
  int r_cancelled[CR_COUNT];   /* one preallocated Cancelled per reason */
  int r_cancelled_mt, r_timeout_mt, r_taskcancelled_mt, r_errorgroup_mt;
  int r_interrupted_mt;
  const void *cancelled_mt;    /* its address: one-comparison test */
  int r_unhandled;        /* loom.on_unhandled handler, or LUA_NOREF */
  int r_self;             /* the ctx userdata */
  int r_core;             /* the loom.core module table */
  int *anchor_free;       /* free slots of the anchor table */
  int anchor_nfree, anchor_capfree, anchor_top;
  int *dead_refs;         /* anchors to release at the next pass */
  int dead_n, dead_cap;
  struct {                /* what the layers above asked to be called */
    const loom_hooks *h;
    void *data;
  } hooks[LOOM_MAX_HOOKS];
  int nhooks;
  void *io;               /* the I/O layer's state (io/handle.c) */
};


/* Metatable names. */
#define LOOM_TASK_MT "loom.Task"
#define LOOM_GROUP_MT "loom.Group"
#define LOOM_SCOPE_MT "loom.Scope"
#define LOOM_CTX_MT "loom.Context"

/* Every C function of loom has the ctx as upvalue 1. */
#define loom_ctxup(L) ((loom_ctx *)lua_touserdata(L, lua_upvalueindex(1)))

/* The signature of every opener of loom.c's table: register a part in the
** core module table on top of the stack. */
typedef void (*loom_opener)(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** args.c: argument errors, blamed on the caller of a Lua wrapper
** =====================================================================
** A Lua wrapper (stream.lua's Stream:read, group.lua's with_group...)
** calls its C function with its own arguments in the same positions.
** Lua's luaL_argerror would blame the wrapper: its line, its call of the
** C function (self counted: "bad argument #2 to 'read'" for f:read("x")).
** These helpers behave like the luaL_ ones, but when the C function was
** called by a registered wrapper (core.mark_wrappers) they report the
** error as the wrapper's caller sees it: its line, the wrapper's name,
** arguments counted as in that call (a method call does not count self).
** They cost nothing until they raise. */
int loom__argerror(lua_State *L, int arg, const char *extramsg);
int loom__typeerror(lua_State *L, int arg, const char *tname);
/* [-0, +1, v] luaL_error at the level of the wrapper's caller. */
int loom__error(lua_State *L, const char *fmt, ...);
/* [-0, +1, v] luaL_error at the level of the first caller outside loom's
** Lua modules: misuse (outside of a task, from a nested coroutine). */
int loom__misuse_error(lua_State *L, const char *fmt, ...);
/* [-0, +0, -] Is frame 'ar' ("S" filled) in one of loom's Lua modules? */
int loom__loom_frame(lua_State *L, const lua_Debug *ar);
/* [-0, +(0|1), m] Push the name under which the function of 'ar' is a
** field of a loaded module ("loom.sleep"); returns 0, pushing nothing, if
** it is none. */
int loom__push_global_name(lua_State *L, lua_Debug *ar);
/* [-0, +0, -] The level of the first Lua caller outside loom's Lua
** modules ("Sl" in 'ar'), or 0. */
int loom__user_level(lua_State *L, lua_Debug *ar);
/* [-0, +0, v] The error of loom__checkinteger at 'arg'. */
int loom__integer_error(lua_State *L, int arg);
lua_Integer loom__optinteger(lua_State *L, int arg, lua_Integer def);
const char *loom__optlstring(lua_State *L, int arg, const char *def,
                             size_t *len);
void loom__checktype(lua_State *L, int arg, int t);
/* [-0, +0, v] Raise an argument error unless the value at 'idx' can be
** called (a function, or a value whose metatable has __call). */
void loom__check_callable(lua_State *L, int idx);
void loom__args_open(lua_State *L, loom_ctx *ctx);

/* [-0, +0, v] The integer at 'arg' (luaL_checkinteger). The checks used
** on hot paths (a stream's read and write) are inline: their cost is the
** Lua API call's. */
static inline lua_Integer loom__checkinteger(lua_State *L, int arg) {
  int isnum;
  lua_Integer n = lua_tointegerx(L, arg, &isnum);
  if (!isnum) loom__integer_error(L, arg);
  return n;
}

/* [-0, +0, v] The string at 'arg' (luaL_checklstring). */
static inline const char *loom__checklstring(lua_State *L, int arg,
                                             size_t *len) {
  const char *s = lua_tolstring(L, arg, len);
  if (s == NULL) loom__typeerror(L, arg, lua_typename(L, LUA_TSTRING));
  return s;
}

/* [-0, +0, v] The userdata at 'arg' with the metatable registered as
** 'mt' (luaL_checkudata): an argument of another class than the running
** function's (for the receiver, see loom__checkself). */
static inline void *loom__checkudata(lua_State *L, int arg, const char *mt) {
  void *p = luaL_testudata(L, arg, mt);
  if (p == NULL) loom__typeerror(L, arg, mt);
  return p;
}

#define loom__checkstring(L, a) (loom__checklstring(L, (a), NULL))
#define loom__optstring(L, a, d) (loom__optlstring(L, (a), (d), NULL))
#define loom__argcheck(L, cond, arg, msg) \
  ((void)((cond) || loom__argerror(L, (arg), (msg))))

/* {====================================================================
** context.c: the context, anchors, classes, hooks
** ===================================================================== */
loom_ctx *loom__ctx(lua_State *L);
void loom__ctx_open(lua_State *L);
void loom__pushref(lua_State *L, loom_ctx *ctx, int ref);
int loom__anchor_slot(loom_ctx *ctx);
int loom__anchor(lua_State *L, loom_ctx *ctx);
void loom__unanchor(lua_State *L, loom_ctx *ctx, int ref);
void loom__unanchor_in(lua_State *L, loom_ctx *ctx, int tidx, int ref);
void loom__release_later(loom_ctx *ctx, int ref);
void loom__release_now(lua_State *L, loom_ctx *ctx);
void loom__setfuncs(lua_State *L, loom_ctx *ctx, const luaL_Reg *l);
void loom__class_open(lua_State *L, loom_ctx *ctx, const loom_class *c);
void loom__class_extend(lua_State *L, loom_ctx *ctx, const char *name,
                        const luaL_Reg *methods);
void *loom__checkself(lua_State *L, int idx);
void *loom__newself(lua_State *L, size_t size, int nuv);
void loom__hooks_add(loom_ctx *ctx, const loom_hooks *h, void *data);
void loom__hooks_call(loom_ctx *ctx, int which);
int loom__ensure_loop(loom_ctx *ctx);

/* {====================================================================
** wait.c: the running task, suspending, waking, the ready queue
** ===================================================================== */

/* The token yielded by the suspend primitive (DESIGN.md B3). */
extern const char loom__token;

/* Name what the running task 't' is about to wait on (a static string:
** "event", "tcp read"...), for loom.tree, loom.dump and the deadlock
** error; loom__suspend then records when the wait began. */
#define loom__waiting(t, w) ((void)((t)->what = (w)))

loom_task *loom__running(lua_State *L, loom_ctx *ctx);
int loom__suspend(lua_State *L, loom_task *t, loom_abort_fn abort,
                  void *wait_obj, lua_KFunction k);
int loom__suspend_since(lua_State *L, loom_task *t, loom_abort_fn abort,
                        void *wait_obj, lua_KFunction k, double since);
void loom__enqueue(loom_ctx *ctx, loom_task *t);
void loom__wake(loom_ctx *ctx, loom_task *t, int reason);
void loom__ready_kick(loom_ctx *ctx);
void loom__ready_settle(loom_ctx *ctx);

/* {====================================================================
** parking.c: FIFO queues of waiting tasks
** ===================================================================== */
void loom__lot_push(loom_lot *lot, loom_task *t);
void loom__lot_remove(loom_lot *lot, loom_task *t);
loom_task *loom__lot_pop(loom_lot *lot);
int loom__lot_park(lua_State *L, loom_task *t, loom_lot *lot,
                   lua_KFunction k);
int loom__lot_abort(loom_ctx *ctx, loom_task *t);
int loom__lot_wake_one(loom_ctx *ctx, loom_lot *lot);
int loom__lot_wake_all(loom_ctx *ctx, loom_lot *lot);

/* {====================================================================
** clock.c: time, the deadline heap and its one uv_timer_t
** ===================================================================== */

/* [-0, +0, -] The time on loom's clock, in seconds: monotonic (uv_hrtime:
** uv_now is cached per loop turn), or the virtual clock of the specs. */
static inline double loom__now(loom_ctx *ctx) {
  if (ctx != NULL && ctx->virtual_clock) return ctx->vnow;
  return (double)uv_hrtime() / 1e9;
}
void loom__timer_init(loom_timer *tm);
void loom__timer_set(lua_State *L, loom_ctx *ctx, loom_timer *tm,
                     double when, loom_fire_fn fire);
void loom__timer_clear(loom_ctx *ctx, loom_timer *tm);
int loom__timer_count(loom_ctx *ctx);
void loom__clock_sync(loom_ctx *ctx);
void loom__clock_due(loom_ctx *ctx);
void loom__clock_init(loom_ctx *ctx);
void loom__clock_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** errors.c: error values, classes, errors nobody owns
** ===================================================================== */
int loom__same_error(lua_State *L, int a, int b);
int loom__is_cancelled(lua_State *L, loom_ctx *ctx, int idx);
int loom__raise_cancelled(lua_State *L, loom_ctx *ctx, int reason);
void loom__push_timeout_error(lua_State *L, loom_ctx *ctx, loom_scope *s);
void loom__push_task_cancelled(lua_State *L, loom_ctx *ctx, int tidx,
                               const char *name);
void loom__push_error_group(lua_State *L, loom_ctx *ctx, int gidx);
void loom__push_interrupted(lua_State *L, loom_ctx *ctx);
void loom__warning(lua_State *L, loom_ctx *ctx, const char *msg);
void loom__report_unhandled(lua_State *L, loom_ctx *ctx, int errindex,
                            int taskindex);
void loom__errors_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** traceback.c: where errors were raised
** ===================================================================== */
void loom__stash_rethrow(lua_State *L, loom_ctx *ctx, loom_task *t,
                         int errindex, int tbindex);
lua_Integer loom__stash_take(lua_State *L, loom_ctx *ctx, loom_task *t,
                             int errindex, int *named);
void loom__stash_clear(lua_State *L, loom_ctx *ctx, loom_task *t);
void loom__traceback(lua_State *L, loom_ctx *ctx, lua_State *L1, int level);
void loom__traceback_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** scope.c: the cancel-scope tree, checkpoints, delivery
** ===================================================================== */
void loom__scope_init(loom_scope *s, int kind, loom_task *owner);
void loom__scope_link(loom_ctx *ctx, loom_scope *s, loom_scope *parent);
void loom__scope_unlink(loom_ctx *ctx, loom_scope *s);
void loom__scope_move(loom_ctx *ctx, loom_scope *s, loom_scope *parent);
void loom__scope_cancel(loom_ctx *ctx, loom_scope *s, int reason);
void loom__scope_propagate(loom_ctx *ctx, loom_scope *s);
int loom__scope_catches(loom_scope *s);
int loom__cancel_reason(loom_task *t);
void loom__check_cancel(lua_State *L, loom_ctx *ctx, loom_task *t);
loom_task *loom__checkpoint_enter(lua_State *L, loom_ctx *ctx);
void loom__resumed(lua_State *L, loom_ctx *ctx, loom_task *t);
int loom__yield_now(lua_State *L, loom_ctx *ctx, loom_task *t);
void loom__scope_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** sleep.c: loom.sleep
** ===================================================================== */
void loom__sleep_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** task.c: Task objects
** ===================================================================== */
loom_task *loom__new_task(lua_State *L, loom_ctx *ctx, int fidx, int nargs,
                          loom_scope *parent, loom_group *g);
void loom__push_task(lua_State *L, loom_ctx *ctx, loom_task *t);
void loom__push_name(lua_State *L, loom_ctx *ctx, loom_task *t, int idx);
void loom__push_spawned_at(lua_State *L, loom_task *t);
void loom__stray_cancelled(lua_State *L, int idx);
void loom__push_traceback(lua_State *L, loom_ctx *ctx, loom_task *t,
                          int named);
int loom__push_outcome(lua_State *L, loom_ctx *ctx, loom_task *t, int tidx);
int loom__task_push_value(lua_State *L, loom_task *t, int tidx, int i);
void loom__task_settle(lua_State *L, loom_ctx *ctx, loom_task *t);
void loom__task_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** group.c: task groups
** ===================================================================== */
void loom__group_child_done(lua_State *L, loom_ctx *ctx, loom_task *t);
void loom__group_abandon(lua_State *L, loom_ctx *ctx, loom_group *g);
void loom__group_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** introspect.c: loom.tree, what blocked tasks wait on
** ===================================================================== */
void loom__push_waiting(lua_State *L, loom_ctx *ctx, loom_task *t);
void loom__push_blocked(lua_State *L, loom_ctx *ctx);
void loom__introspect_open(lua_State *L, loom_ctx *ctx);

/* {====================================================================
** sched.c: the resume loop, the end of a task, loom.run
** ===================================================================== */
void loom__sched_prepare(lua_State *L, loom_ctx *ctx);
int loom__loop_run(lua_State *L, loom_ctx *ctx, uv_run_mode mode);
void loom__sched_open(lua_State *L, loom_ctx *ctx);

#endif
