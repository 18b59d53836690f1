/*
** io.c: registration and teardown of loom's I/O families (issue 4).
*/
#include "internal.h"

/* [-0, +0, m] Register the I/O functions in the core table on top. */
void loom__io_open(lua_State *L, loom_ctx *ctx) {
  (void)L;
  (void)ctx;
}

/* [-0, +0, -] Close every I/O handle at state teardown (rule B13). */
void loom__io_teardown(loom_ctx *ctx) { (void)ctx; }

/* SIGINT during loom.run: cancels the whole tree (see signal.c). */
int loom__sigint_arm(loom_ctx *ctx) {
  (void)ctx;
  return 0;
}

void loom__sigint_disarm(loom_ctx *ctx) { (void)ctx; }
