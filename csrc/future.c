/*
** future.c: loom_future_* of the embedding API (issue 5).
*/
#include "internal.h"

/* [-0, +0, m] Register the future functions in the core table on top. */
void loom__future_open(lua_State *L, loom_ctx *ctx) {
  (void)L;
  (void)ctx;
}
