/*
** worker.c: the Lua side of a worker thread (thread.h): its own Lua
** state, and the running of one job in it. Everything here runs on the
** worker's thread and touches only the worker's state and the job's C
** memory (DESIGN.md B14); pool.c owns the thread and hands it jobs.
**
** A worker state has the standard libraries; each job sets its
** package.path and package.cpath to the caller's (only when they
** differ from the state's), so `require` finds the caller's modules, and
** modules stay loaded for later jobs; `require "loom.core"` gives the
** copy of loom.core that runs the worker (a preload). A job's function
** arrives as the bytes of string.dump and is loaded once per worker (a
** cache keyed by those bytes); its only upvalue, if any, is _ENV, which
** load sets to the worker's globals. Its arguments are decoded (copy.c),
** it runs under a message handler that appends the worker's traceback to
** a string error, and its results or its error are encoded into the job.
*/
#include <string.h>

#include "lualib.h"

#include "thread.h"

/* Registry keys of a worker state: the light userdata of the worker's
** current-job field, and the cache of loaded functions. */
static const char current_key = 'j';
static const char fncache_key = 'f';

/* How many functions a worker keeps loaded before starting afresh. */
#define FNCACHE_MAX 64

/* [-0, +0, -] See thread.h. */
loom_job *loom__worker_job(lua_State *L) {
  loom_job **current;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &current_key);
  current = (loom_job **)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return current != NULL ? *current : NULL;
}

/* [-1, +0, m] Open the libraries; record the current-job field; make
** `require "loom.core"` open this very copy of loom.core (whatever
** package.cpath says), the one whose pool runs the worker and whose
** loom.thread.cancelled reads the job. */
static int state_init(lua_State *W) {
  void *current = lua_touserdata(W, 1);
  luaL_openlibs(W);
  luaL_getsubtable(W, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(W, luaopen_loom_core);
  lua_setfield(W, -2, "loom.core");
  lua_pop(W, 1);
  lua_pushlightuserdata(W, current);
  lua_rawsetp(W, LUA_REGISTRYINDEX, &current_key);
  lua_newtable(W);
  lua_rawsetp(W, LUA_REGISTRYINDEX, &fncache_key);
  return 0;
}

/* [-0, +0, -] See thread.h. */
lua_State *loom__worker_state(loom_job **current) {
  lua_State *W = luaL_newstate();
  if (W == NULL) return NULL;
  lua_pushcfunction(W, state_init);
  lua_pushlightuserdata(W, (void *)current);
  if (lua_pcall(W, 1, 0, 0) != LUA_OK) {
    lua_close(W);
    return NULL;
  }
  return W;
}

/* [-0, +0, m] Set package[field] to the 'len' bytes at 's' unless it
** already holds them. The package table is at index 'pkg'. */
static void set_path(lua_State *W, int pkg, const char *field,
                     const char *s, size_t len) {
  size_t cur;
  const char *v;
  lua_getfield(W, pkg, field);
  v = lua_tolstring(W, -1, &cur);
  lua_pop(W, 1);
  if (v != NULL && cur == len && memcmp(v, s, len) == 0) return;
  lua_pushlstring(W, s, len);
  lua_setfield(W, pkg, field);
}

/* [-0, +1, m] Push the job's function: from the cache, or loaded from its
** bytes (and cached). */
static void push_function(lua_State *W, const char *fn, size_t len) {
  lua_rawgetp(W, LUA_REGISTRYINDEX, &fncache_key);   /* [cache] */
  lua_pushlstring(W, fn, len);                       /* [cache bytes] */
  lua_pushvalue(W, -1);
  if (lua_rawget(W, -3) == LUA_TFUNCTION) {          /* [cache bytes f] */
    lua_replace(W, -3);
    lua_pop(W, 1);
    return;
  }
  lua_pop(W, 1);
  if (luaL_loadbufferx(W, fn, len, "=(loom.to_thread)", "b") != LUA_OK)
    lua_error(W);                                    /* cannot happen */
  if (lua_rawgeti(W, -3, 0) == LUA_TNUMBER &&        /* count */
      lua_tointeger(W, -1) >= FNCACHE_MAX) {
    lua_pop(W, 1);
    lua_newtable(W);                                 /* start afresh */
    lua_pushvalue(W, -1);
    lua_rawsetp(W, LUA_REGISTRYINDEX, &fncache_key);
    lua_replace(W, -4);
    lua_pushinteger(W, 0);
  }
  lua_pushinteger(W, lua_tointeger(W, -1) + 1);      /* [c b f n n+1] */
  lua_rawseti(W, -5, 0);
  lua_pop(W, 1);                                     /* [cache bytes f] */
  lua_pushvalue(W, -2);
  lua_pushvalue(W, -2);
  lua_rawset(W, -5);                                 /* cache[bytes] = f */
  lua_replace(W, -3);
  lua_pop(W, 1);
}

/* [-1, +1, m] The message handler of a job's function: a string error
** gets the worker's traceback; a value that could not be copied back
** becomes its description with the traceback; other values (tables,
** numbers, booleans, nil) are left as they are. */
static int job_msgh(lua_State *W) {
  int t = lua_type(W, 1);
  if (t == LUA_TTABLE || t == LUA_TNUMBER || t == LUA_TBOOLEAN ||
      t == LUA_TNIL)
    return 1;
  luaL_tolstring(W, 1, NULL);
  luaL_traceback(W, W, NULL, 1);
  lua_pushfstring(W, "%s\nworker thread %s", lua_tostring(W, -2),
                  lua_tostring(W, -1));
  return 1;
}

/* [-0, +0, m] Put the error value at 'idx' into job->out; a value that
** cannot be copied (a table holding a function) becomes a string. */
static void put_error(lua_State *W, loom_job *job, int idx) {
  idx = lua_absindex(W, idx);
  job->outcome = JO_ERROR;
  job->out.n = 0;
  if (loom__copy_encode(W, idx, 1, &job->out) == 0) return;
  luaL_tolstring(W, idx, NULL);
  lua_pushfstring(W, "%s (the error value could not be copied from the "
                  "worker thread: %s)",
                  lua_tostring(W, -1), lua_tostring(W, -2));
  job->out.n = 0;
  if (loom__copy_encode(W, -1, 1, &job->out) != 0)
    luaL_error(W, "loom: internal error (a string cannot be copied)");
}

/* [-1, +0, m] Run the job (light userdata at 1), protected: its errors
** and results end up in job->out. */
static int job_run(lua_State *W) {
  loom_job *job = (loom_job *)lua_touserdata(W, 1);
  const char *in = job->in.p;
  size_t off = 0;
  int nres, bad;
  lua_settop(W, 0);
  if (job->paths) {
    lua_getfield(W, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(W, -1, LUA_LOADLIBNAME) == LUA_TTABLE) {
      set_path(W, 2, "path", in, job->path_len);
      set_path(W, 2, "cpath", in + job->path_len, job->cpath_len);
    }
    lua_settop(W, 0);
  }
  off = job->path_len + job->cpath_len;
  lua_pushcfunction(W, job_msgh);                    /* 1 */
  push_function(W, in + off, job->fn_len);           /* 2 */
  off += job->fn_len;
  loom__copy_decode(W, in + off, job->in.n - off, job->nargs);
  if (lua_pcall(W, job->nargs, LUA_MULTRET, 1) != LUA_OK) {
    put_error(W, job, -1);
    return 0;
  }
  nres = lua_gettop(W) - 1;
  job->out.n = 0;
  bad = loom__copy_encode(W, 2, nres, &job->out);
  if (bad == 0) {
    job->outcome = JO_OK;
    job->nres = nres;
    return 0;
  }
  lua_pushfstring(W, "loom.to_thread: result #%d of the function cannot "
                  "be copied back from the worker thread: %s", bad,
                  lua_tostring(W, -1));
  put_error(W, job, -1);
  return 0;
}

/* [-2, +0, m] After job_run itself failed (out of memory in the worker):
** the error at 2 becomes the job's error. */
static int job_fail(lua_State *W) {
  put_error(W, (loom_job *)lua_touserdata(W, 1), 2);
  return 0;
}

/* [-0, +0, -] See thread.h. */
void loom__worker_run(lua_State *W, loom_job *job) {
  job->outcome = JO_ERROR;
  job->nres = 0;
  job->out.n = 0;
  lua_settop(W, 0);
  if (!lua_checkstack(W, 4)) return;
  lua_pushcfunction(W, job_run);
  lua_pushlightuserdata(W, job);
  if (lua_pcall(W, 1, 0, 0) != LUA_OK) {
    lua_pushcfunction(W, job_fail);
    lua_pushlightuserdata(W, job);
    lua_rotate(W, -3, -1);                 /* [job_fail job err] */
    if (lua_pcall(W, 2, 0, 0) != LUA_OK) {
      job->outcome = JO_ERROR;             /* empty: not enough memory */
      job->out.n = 0;
    }
  }
  lua_settop(W, 0);
}
