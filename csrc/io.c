/*
** io.c: registration and teardown of loom's I/O families (API section 7).
**
** Each family lives in its own file (stream.c, tcp.c, pipe.c, process.c,
** signal.c, udp.c, dns.c, fs.c) and defines its opener; the weak defaults
** below keep the build whole while a family is not written yet.
*/
#include "internal.h"

#define WEAK __attribute__((weak))

WEAK void loom__stream_open(lua_State *L, loom_ctx *ctx) {
  (void)L;
  (void)ctx;
}
WEAK void loom__tcp_open(lua_State *L, loom_ctx *ctx) {
  (void)L;
  (void)ctx;
}
WEAK void loom__pipe_open(lua_State *L, loom_ctx *ctx) {
  (void)L;
  (void)ctx;
}
WEAK void loom__process_open(lua_State *L, loom_ctx *ctx) {
  (void)L;
  (void)ctx;
}
WEAK void loom__signal_open(lua_State *L, loom_ctx *ctx) {
  (void)L;
  (void)ctx;
}
WEAK void loom__udp_open(lua_State *L, loom_ctx *ctx) {
  (void)L;
  (void)ctx;
}
WEAK void loom__dns_open(lua_State *L, loom_ctx *ctx) {
  (void)L;
  (void)ctx;
}
WEAK void loom__fs_open(lua_State *L, loom_ctx *ctx) {
  (void)L;
  (void)ctx;
}
WEAK void loom__handles_teardown(loom_ctx *ctx) { (void)ctx; }
WEAK void loom__processes_run_end(loom_ctx *ctx) { (void)ctx; }
WEAK int loom__sigint_arm(loom_ctx *ctx) {
  (void)ctx;
  return 0;
}
WEAK void loom__sigint_disarm(loom_ctx *ctx) { (void)ctx; }

/* [-0, +0, m] Register every I/O family in the core table on top. */
void loom__io_open(lua_State *L, loom_ctx *ctx) {
  loom__stream_open(L, ctx);
  loom__tcp_open(L, ctx);
  loom__pipe_open(L, ctx);
  loom__process_open(L, ctx);
  loom__signal_open(L, ctx);
  loom__udp_open(L, ctx);
  loom__dns_open(L, ctx);
  loom__fs_open(L, ctx);
}

/* [-0, +0, -] Close every I/O handle at state teardown, without Lua
** (rule B13); see handle.c. */
void loom__io_teardown(loom_ctx *ctx) { loom__handles_teardown(ctx); }

/* [-0, +0, -] loom.run's tasks are done: terminate the child processes
** they left running (process.c), so that loom.run can wait for them. */
void loom__io_run_end(loom_ctx *ctx) { loom__processes_run_end(ctx); }
