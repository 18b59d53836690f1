/*
** ctest.h: the C tests of loom's embedding API (csrc/loom.h), with
** libuv-style ASSERT macros (uv:test/task.h). Each test is a function
** 'int test_<name>(void)' returning 0; a failed ASSERT prints where and
** aborts, and the runner (main.c), which runs every test in a child
** process with a watchdog, counts it as failed. The runner prints
** "N passed, M failed" last.
*/
#ifndef loom_ctest_h
#define loom_ctest_h

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#include "loom.h"

#define ASSERT(expr)                                                     \
  do {                                                                   \
    if (!(expr)) {                                                       \
      fprintf(stderr, "Assertion failed in %s on line %d: %s\n",         \
              __FILE__, __LINE__, #expr);                                \
      fflush(stderr);                                                    \
      abort();                                                           \
    }                                                                    \
  } while (0)

#define ASSERT_BASE(a, op, b, type, fmt)                                 \
  do {                                                                   \
    type ea_ = (type)(a);                                                \
    type eb_ = (type)(b);                                                \
    if (!(ea_ op eb_)) {                                                 \
      fprintf(stderr, "Assertion failed in %s on line %d: `%s %s %s` "   \
              "(" fmt " %s " fmt ")\n", __FILE__, __LINE__, #a, #op, #b, \
              ea_, #op, eb_);                                            \
      fflush(stderr);                                                    \
      abort();                                                           \
    }                                                                    \
  } while (0)

#define ASSERT_EQ(a, b) ASSERT_BASE(a, ==, b, long long, "%lld")
#define ASSERT_NE(a, b) ASSERT_BASE(a, !=, b, long long, "%lld")
#define ASSERT_GE(a, b) ASSERT_BASE(a, >=, b, long long, "%lld")
#define ASSERT_LE(a, b) ASSERT_BASE(a, <=, b, long long, "%lld")
#define ASSERT_NULL(a) ASSERT_BASE(a, ==, NULL, const void *, "%p")
#define ASSERT_NOT_NULL(a) ASSERT_BASE(a, !=, NULL, const void *, "%p")
#define ASSERT_PTR_EQ(a, b) ASSERT_BASE(a, ==, b, const void *, "%p")
#define ASSERT_PTR_NE(a, b) ASSERT_BASE(a, !=, b, const void *, "%p")

#define ASSERT_STR_EQ(a, b)                                              \
  do {                                                                   \
    const char *sa_ = (a), *sb_ = (b);                                   \
    if (sa_ == NULL || sb_ == NULL || strcmp(sa_, sb_) != 0) {           \
      fprintf(stderr, "Assertion failed in %s on line %d: `%s == %s` "   \
              "(\"%s\" == \"%s\")\n", __FILE__, __LINE__, #a, #b,        \
              sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");               \
      fflush(stderr);                                                    \
      abort();                                                           \
    }                                                                    \
  } while (0)

/* Every test, in the order the runner runs them. */
#define TEST_LIST(X)                \
  X(exports)                        \
  X(attach_refusals)                \
  X(attach_after_task_refused)      \
  X(loop_own_then_attach_refused)   \
  X(host_runs_ready_tasks)          \
  X(host_loop_idle_no_reference)    \
  X(future_new_needs_loom)          \
  X(future_resolve_from_timer)      \
  X(future_reject_keeps_value)      \
  X(future_settle_twice_refused)    \
  X(future_post_rejects_string)     \
  X(future_post_many_threads)       \
  X(future_post_keeps_loop_alive)   \
  X(future_post_in_loom_run)        \
  X(future_collected_unsettled)     \
  X(future_waiter_cancelled)        \
  X(future_multiple_waiters)        \
  X(start_unhandled_custom)         \
  X(start_unhandled_default)        \
  X(start_unhandled_handler_fails)  \
  X(start_cancel_not_unhandled)     \
  X(shutdown_waits_for_cleanup)     \
  X(shutdown_then_start_again)      \
  X(teardown_pending_host_loop)     \
  X(teardown_pending_own_loop)      \
  X(teardown_nowait_after_shutdown) \
  X(teardown_nowait_no_shutdown)    \
  X(open_twice_same_table)          \
  X(thread_host_loop_alive)         \
  X(thread_teardown_running_own_loop) \
  X(thread_teardown_running_host_loop) \
  X(thread_teardown_undelivered_and_queued) \
  X(thread_states_in_turn)

#define CTEST_DECLARE(name) int test_##name(void);
TEST_LIST(CTEST_DECLARE)

/* {====================================================================
** Helpers (helpers.c)
** ===================================================================== */

/* A new state with the standard libraries, loom's Lua files on the path,
** loom.core opened from the linked library, `loom` (the facade) and
** `host` (the test host's C functions) as globals, attached to 'loop'
** unless it is NULL. */
lua_State *ct_state(uv_loop_t *loop);

/* lua_close(L), one uv_run(UV_RUN_NOWAIT) of 'loop', then
** uv_loop_close must return 0 (issue 10, item 12). */
void ct_close_nowait(lua_State *L, uv_loop_t *loop);

/* Run Lua 'code' (a chunk) in L; abort with the message if it fails. */
void ct_run(lua_State *L, const char *code);

/* Evaluate Lua expression 'expr' and return it as an integer (booleans:
** 0/1). */
long long ct_int(lua_State *L, const char *expr);

/* Evaluate 'expr' into a malloc'd string (caller frees). */
char *ct_str(lua_State *L, const char *expr);

/* lua_close, then run 'loop' until libuv has delivered every close
** callback, and check that uv_loop_close returns 0. */
void ct_close(lua_State *L, uv_loop_t *loop);

/* Join every thread that host.post_later started. */
void ct_join_threads(void);

/* Capture what the process writes to stderr between begin and end
** (returns a malloc'd string). */
void ct_stderr_begin(void);
char *ct_stderr_end(void);

/* Number of Lua warnings (lua_warning) seen by states made by ct_state. */
extern int ct_warnings;

/* Milliseconds on a monotonic clock. */
double ct_ms(void);

#endif
