/*
** helpers.c: what the C tests share: a Lua state embedding loom on a
** test loop, with a `host` table of C functions that play the host
** (futures settled from the loop thread, or posted later from worker
** threads), Lua snippets run and evaluated from C, teardown checks, stderr
** capture and a warning counter.
*/
#include <unistd.h>

#include "ctest.h"

int ct_warnings = 0;

double ct_ms(void) { return (double)uv_hrtime() / 1e6; }

/* {====================================================================
** Worker threads that post
** ===================================================================== */

#define MAX_POSTERS 64

typedef struct poster {
  uv_thread_t tid;
  loom_future *f;
  int ok;
  char *data;
  size_t len;
  int ms;
  int rc;
} poster;

static poster posters[MAX_POSTERS];
static int nposters = 0;

static void poster_main(void *arg) {
  poster *p = (poster *)arg;
  if (p->ms > 0) uv_sleep((unsigned int)p->ms);
  p->rc = loom_future_post(p->f, p->ok, p->data, p->len);
}

void ct_join_threads(void) {
  int i;
  for (i = 0; i < nposters; i++) {
    ASSERT_EQ(uv_thread_join(&posters[i].tid), 0);
    free(posters[i].data);
  }
  nposters = 0;
}

/* host.post_later(f, ok, data, ms) -> i: a thread sleeps 'ms' then posts;
** host.post_rc(i) after ct_join_threads gives what the post returned. */
static int l_post_later(lua_State *L) {
  poster *p;
  size_t len;
  const char *data = luaL_checklstring(L, 3, &len);
  ASSERT(nposters < MAX_POSTERS);
  p = &posters[nposters];
  p->f = (loom_future *)lua_touserdata(L, 1);
  p->ok = lua_toboolean(L, 2);
  p->data = (char *)malloc(len + 1);
  memcpy(p->data, data, len + 1);
  p->len = len;
  p->ms = (int)luaL_optinteger(L, 4, 0);
  p->rc = 99;
  ASSERT_EQ(uv_thread_create(&p->tid, poster_main, p), 0);
  lua_pushinteger(L, nposters++);
  return 1;
}

static int l_post_rc(lua_State *L) {
  lua_Integer i = luaL_checkinteger(L, 1);
  lua_pushinteger(L, posters[i].rc);
  return 1;
}

/* }==================================================================== */

/* host.future() -> fut, f (a light userdata) */
static int l_future(lua_State *L) {
  loom_future *f = loom_future_new(L);
  lua_pushlightuserdata(L, f);
  return 2;
}

/* host.resolve(f, ...) */
static int l_resolve(lua_State *L) {
  loom_future *f = (loom_future *)lua_touserdata(L, 1);
  loom_future_resolve(L, f, lua_gettop(L) - 1);
  return 0;
}

/* host.reject(f, err) */
static int l_reject(lua_State *L) {
  loom_future *f = (loom_future *)lua_touserdata(L, 1);
  lua_settop(L, 2);
  loom_future_reject(L, f);
  return 0;
}

/* host.post(f, ok, data) -> rc, from the loop thread */
static int l_post(lua_State *L) {
  loom_future *f = (loom_future *)lua_touserdata(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 3, &len);
  lua_pushinteger(L, loom_future_post(f, lua_toboolean(L, 2), data, len));
  return 1;
}

static const luaL_Reg host_funcs[] = {
  {"future", l_future},
  {"resolve", l_resolve},
  {"reject", l_reject},
  {"post", l_post},
  {"post_later", l_post_later},
  {"post_rc", l_post_rc},
  {NULL, NULL}
};

static void warnf(void *ud, const char *msg, int tocont) {
  static int cont = 0;
  (void)ud;
  if (!cont && msg[0] != '@') ct_warnings++;
  cont = tocont;
}

static int msgh(lua_State *L) {
  luaL_traceback(L, L, luaL_tolstring(L, 1, NULL), 1);
  return 1;
}

void ct_run(lua_State *L, const char *code) {
  int base = lua_gettop(L);
  lua_pushcfunction(L, msgh);
  if (luaL_loadstring(L, code) != LUA_OK ||
      lua_pcall(L, 0, 0, base + 1) != LUA_OK) {
    fprintf(stderr, "Lua error: %s\n", lua_tostring(L, -1));
    fflush(stderr);
    abort();
  }
  lua_settop(L, base);
}

/* [-0, +1] Evaluate 'expr'. */
static void eval(lua_State *L, const char *expr) {
  lua_pushfstring(L, "return (%s)", expr);
  if (luaL_loadstring(L, lua_tostring(L, -1)) != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK) {
    fprintf(stderr, "Lua error in `%s`: %s\n", expr, lua_tostring(L, -1));
    fflush(stderr);
    abort();
  }
  lua_remove(L, -2);
}

long long ct_int(lua_State *L, const char *expr) {
  long long v;
  eval(L, expr);
  if (lua_isboolean(L, -1)) v = lua_toboolean(L, -1);
  else v = (long long)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return v;
}

char *ct_str(lua_State *L, const char *expr) {
  char *s;
  size_t len;
  const char *v;
  eval(L, expr);
  v = luaL_tolstring(L, -1, &len);
  s = (char *)malloc(len + 1);
  memcpy(s, v, len + 1);
  lua_pop(L, 2);
  return s;
}

lua_State *ct_state(uv_loop_t *loop) {
  lua_State *L = luaL_newstate();
  ASSERT_NOT_NULL(L);
  luaL_openlibs(L);
  lua_setwarnf(L, warnf, NULL);
  ct_run(L, "package.path = './lua/?.lua;./lua/?/init.lua;' .. "
            "package.path");
  luaL_requiref(L, "loom.core", luaopen_loom_core, 0);
  lua_pop(L, 1);
  if (loop != NULL) ASSERT_EQ(loom_attach(L, loop), 0);
  ct_run(L, "loom = require 'loom'");
  luaL_newlib(L, host_funcs);
  lua_setglobal(L, "host");
  return L;
}

void ct_close(lua_State *L, uv_loop_t *loop) {
  lua_close(L);
  if (loop != NULL) {
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_EQ(uv_loop_close(loop), 0);
  }
}

/* Print what is still on 'loop' (a failing teardown test says what). */
static void on_walk_print(uv_handle_t *h, void *arg) {
  (void)arg;
  fprintf(stderr, "  left on the loop: %s (active %d, closing %d)\n",
          uv_handle_type_name(h->type), uv_is_active(h), uv_is_closing(h));
}

void ct_close_nowait(lua_State *L, uv_loop_t *loop) {
  int rc;
  lua_close(L);
  uv_run(loop, UV_RUN_NOWAIT);
  rc = uv_loop_close(loop);
  if (rc != 0) uv_walk(loop, on_walk_print, NULL);
  ASSERT_EQ(rc, 0);
}

static int saved_fd = -1;
static FILE *capture = NULL;

void ct_stderr_begin(void) {
  fflush(stderr);
  capture = tmpfile();
  ASSERT_NOT_NULL(capture);
  saved_fd = dup(2);
  ASSERT(saved_fd >= 0);
  ASSERT(dup2(fileno(capture), 2) >= 0);
}

char *ct_stderr_end(void) {
  long n;
  char *s;
  fflush(stderr);
  ASSERT(dup2(saved_fd, 2) >= 0);
  close(saved_fd);
  n = ftell(capture);
  ASSERT(n >= 0);
  s = (char *)malloc((size_t)n + 1);
  rewind(capture);
  ASSERT_EQ(fread(s, 1, (size_t)n, capture), n);
  s[n] = '\0';
  fclose(capture);
  capture = NULL;
  return s;
}
