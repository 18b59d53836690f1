/*
** to_thread.c: the Lua API of the thread layer (README, "Blocking work:
** to_thread"): loom.to_thread, loom.thread.cancelled, the default of
** loom.thread_limit.
**
** loom.to_thread([opts,] fn, ...) checks and encodes everything on the
** caller's side before the checkpoint, so a bad argument raises at once
** (DESIGN.md E1) and nothing reaches a worker: fn must be a Lua function
** whose only upvalue, if any, is _ENV (it moves as the bytes of
** string.dump, cached per function in a weak table); the arguments must be
** copyable (copy.c). The job goes into a box on the task's stack (pool.c
** says who owns it when), the task waits with loom__job_abort as its
** abort (DESIGN.md B9), and its continuation takes the outcome from the
** job (DESIGN.md B10): the results, or the error raised again, or the
** cancellation. loom.thread_limit is a plain field of the `loom` table,
** read at each call.
*/
#include <limits.h>
#include <string.h>

#include "lualib.h"

#include "thread.h"

/* Registry key of the weak cache: function -> the bytes of its dump
** (cache[0]: entries added since the cache was made). */
static const char dumps_key = 'd';

/* Entries the cache takes before it starts afresh: a program that makes
** a new closure for each call (a function expression inside a loop)
** keeps a bounded table, not one the size of its peak. */
#define DUMPS_MAX 256

/* [-0, +1, m] Push a new dump cache, registered. */
static void new_dumps(lua_State *L) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushinteger(L, 0);
  lua_rawseti(L, -2, 0);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &dumps_key);
}

/* [-0, +0, -] lua_dump's writer: append to the job's buffer. */
static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
  (void)L;
  return loom__buf_add((loom_buf *)ud, p, sz) != 0;
}

/* [-0, +0, v] Append the dump of the function at 'fidx' to 'b' (after
** checking it can move, on its first use); returns its length. */
static size_t put_function(lua_State *L, int fidx, loom_buf *b) {
  size_t len, start = b->n;
  const char *s;
  int i;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &dumps_key);       /* [cache] */
  lua_pushvalue(L, fidx);
  if (lua_rawget(L, -2) == LUA_TSTRING) {              /* [cache dump] */
    s = lua_tolstring(L, -1, &len);
    if (loom__buf_add(b, s, len) != 0)
      luaL_error(L, "not enough memory (thread job)");
    lua_pop(L, 2);
    return len;
  }
  lua_pop(L, 1);
  if (lua_iscfunction(L, fidx))
    loom__argerror(L, fidx, "a C function cannot be moved to a worker "
                   "thread (pass a Lua function)");
  for (i = 1; (s = lua_getupvalue(L, fidx, i)) != NULL; i++) {
    lua_pop(L, 1);
    if (strcmp(s, "_ENV") != 0)
      loom__argerror(L, fidx, lua_pushfstring(L, "the function has the "
                     "upvalue '%s'; only _ENV can move to a worker thread "
                     "(pass the value as an argument)", s));
  }
  lua_pushvalue(L, fidx);
  if (lua_dump(L, dump_writer, b, 0) != 0)
    luaL_error(L, "not enough memory (thread job)");
  lua_pop(L, 1);
  len = b->n - start;
  lua_rawgeti(L, -1, 0);
  i = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (i >= DUMPS_MAX) {
    lua_pop(L, 1);
    new_dumps(L);
    i = 0;
  }
  lua_pushinteger(L, i + 1);
  lua_rawseti(L, -2, 0);
  lua_pushvalue(L, fidx);
  lua_pushlstring(L, b->p + start, len);
  lua_rawset(L, -3);                                   /* cache[fn] = dump */
  lua_pop(L, 1);
  return len;
}

/* [-0, +0, m] Append package.path and package.cpath to the job, if the
** package library is loaded and they are strings. */
static void put_paths(lua_State *L, loom_job *job) {
  size_t lp, lc;
  const char *p, *c;
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, LUA_LOADLIBNAME) == LUA_TTABLE) {
    lua_getfield(L, -1, "path");
    lua_getfield(L, -2, "cpath");
    p = lua_tolstring(L, -2, &lp);
    c = lua_tolstring(L, -1, &lc);
    if (p != NULL && c != NULL) {
      if (loom__buf_add(&job->in, p, lp) != 0 ||
          loom__buf_add(&job->in, c, lc) != 0)
        luaL_error(L, "not enough memory (thread job)");
      job->paths = 1;
      job->path_len = lp;
      job->cpath_len = lc;
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 2);
}

/* [-0, +0, v] loom.thread_limit (the field of the loaded `loom` table),
** or the default when there is none. */
static int read_limit(lua_State *L) {
  int limit = 0, top = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "loom") == LUA_TTABLE &&
      lua_getfield(L, -1, "thread_limit") != LUA_TNIL) {
    int isint;
    lua_Integer n = lua_tointegerx(L, -1, &isint);
    if (isint && n >= 1 && lua_type(L, -1) == LUA_TNUMBER) {
      limit = n > INT_MAX ? INT_MAX : (int)n;
    } else if (lua_type(L, -1) == LUA_TNUMBER &&
               lua_tonumber(L, -1) >= (lua_Number)INT_MAX) {
      limit = INT_MAX;                                 /* math.huge */
    } else {
      loom__error(L, "loom.thread_limit must be a positive integer (got "
                  "%s)", luaL_tolstring(L, -1, NULL));
    }
  }
  lua_settop(L, top);
  /* The default (a system call) only when loom.thread_limit is unset. */
  return limit > 0 ? limit : loom__thread_default_limit();
}

/* [-0, +n, e] Push the results of the delivered job of 'box' (or raise
** its error), and free it. */
static int job_outcome(lua_State *L, loom_ctx *ctx, loom_task *t,
                       loom_job **box) {
  loom_job *job = *box;
  int n;
  if (job->outcome == JO_NOTHREAD) {
    int err = job->err;
    loom__job_free(job);
    return luaL_error(L, "loom.to_thread: cannot create a worker thread "
                      "(%s)", uv_strerror(err));
  }
  if (job->outcome == JO_ERROR) {
    if (job->out.n == 0) {
      loom__job_free(job);
      return luaL_error(L, "loom.to_thread: not enough memory in the "
                        "worker thread");
    }
    loom__copy_decode(L, job->out.p, job->out.n, 1);
    loom__job_free(job);
    return lua_error(L);
  }
  /* Cancelled while it ran, and waited for it: the cancellation goes on
  ** (unless it was withdrawn meanwhile: then the results). */
  if (job->aborted) loom__check_cancel(L, ctx, t);
  n = job->nres;
  loom__copy_decode(L, job->out.p, job->out.n, n);
  loom__job_free(job);
  return n;
}

/* [-0, +n, e] Continuation of loom.to_thread: the box at index 1. */
static int k_to_thread(lua_State *L, int status, lua_KContext kc) {
  loom_ctx *ctx = loom_ctxup(L);
  loom_task *t = (loom_task *)kc;
  (void)status;
  loom__resumed(L, ctx, t);           /* raises if the wait was aborted */
  return job_outcome(L, ctx, t, (loom_job **)lua_touserdata(L, 1));
}

/* [-(n), +r, y] Checkpoint. loom.to_thread([opts,] fn, ...) -> the
** results of fn(...), run on a worker thread. */
static int l_to_thread(lua_State *L) {
  loom_ctx *ctx = loom_ctxup(L);
  int fidx = 1, nargs, bad, limit, abandon = 0;
  loom_pool *pool;
  loom_job *job;
  loom_task *t;
  if (lua_type(L, 1) == LUA_TTABLE) {
    lua_getfield(L, 1, "abandon_on_cancel");
    loom__argcheck(L, lua_isnil(L, -1) || lua_isboolean(L, -1), 1,
                   "opts.abandon_on_cancel must be a boolean");
    abandon = lua_toboolean(L, -1);
    lua_pop(L, 1);
    fidx = 2;
  }
  if (lua_type(L, fidx) != LUA_TFUNCTION)
    loom__typeerror(L, fidx, "function");
  nargs = lua_gettop(L) - fidx;
  limit = read_limit(L);
  pool = loom__pool(L, ctx);
  job = loom__job_new(L, pool);                        /* [.. box] */
  put_paths(L, job);
  job->fn_len = put_function(L, fidx, &job->in);
  job->nargs = nargs;
  bad = loom__copy_encode(L, fidx + 1, nargs, &job->in);
  if (bad != 0)
    return loom__argerror(L, fidx + bad, lua_pushfstring(L,
                          "%s cannot be copied to a worker thread",
                          lua_tostring(L, -1)));
  job->abandon = (unsigned char)abandon;
  t = loom__checkpoint_enter(L, ctx);
  lua_replace(L, 1);                                   /* the box at 1 */
  lua_settop(L, 1);
  loom__pool_set_limit(pool, limit);
  loom__job_submit(pool, job, t);
  loom__waiting(t, "to_thread");
  return loom__suspend(L, t, loom__job_abort, job, k_to_thread);
}

/* [-0, +1, -] loom.thread.cancelled() -> boolean: inside a worker's job,
** has the task waiting for it been cancelled? false elsewhere. */
static int l_thread_cancelled(lua_State *L) {
  loom_job *job = loom__worker_job(L);
  lua_pushboolean(L, job != NULL && loom__job_cancelled(job));
  return 1;
}

/* [-0, +1, -] core.thread_in_worker() -> boolean: is a worker's job
** running in this state? */
static int l_thread_in_worker(lua_State *L) {
  lua_pushboolean(L, loom__worker_job(L) != NULL);
  return 1;
}

/* [-0, +1, -] core.thread_default_limit() -> the number of CPUs, at
** least 4. */
static int l_thread_default_limit(lua_State *L) {
  lua_pushinteger(L, loom__thread_default_limit());
  return 1;
}

/* [-1, +0, -] core.thread_block(ms): block the calling thread (a test
** helper for the specs' worker functions: not public API). */
static int l_thread_block(lua_State *L) {
  lua_Integer ms = luaL_checkinteger(L, 1);
  if (ms > 0) uv_sleep((unsigned int)(ms > 60000 ? 60000 : ms));
  return 0;
}

/* [-0, +1, -] core.thread_cpu_count() -> the number of CPUs this
** process may use (uv_available_parallelism). */
static int l_thread_cpu_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)uv_available_parallelism());
  return 1;
}

static const luaL_Reg to_thread_funcs[] = {
  {"to_thread", l_to_thread},
  {"thread_cancelled", l_thread_cancelled},
  {"thread_in_worker", l_thread_in_worker},
  {"thread_default_limit", l_thread_default_limit},
  {"thread_cpu_count", l_thread_cpu_count},
  {"thread_block", l_thread_block},
  {NULL, NULL}
};

/* [-0, +0, m] Register loom.to_thread and the thread functions in the
** core table on top; the weak cache of dumped functions. */
void loom__to_thread_open(lua_State *L, loom_ctx *ctx) {
  loom__setfuncs(L, ctx, to_thread_funcs);
  new_dumps(L);
  lua_pop(L, 1);
}
