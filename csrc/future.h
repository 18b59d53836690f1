/*
** future.h: prototypes shared by the files of the embedding area
** (future.c: futures and loom.await; luv.c: loom.use_luv).
*/
#ifndef loom_future_h
#define loom_future_h

#include "internal.h"

/* {====================================================================
** future.c
** ===================================================================== */

/* loom__future_open (prototyped in internal.h, called by core.c)
** registers loom.await, the Future metatable and the test helpers of
** futures, then calls loom__luv_open. */

/* {====================================================================
** luv.c
** ===================================================================== */

/* [-0, +0, m] Register the helpers of loom.use_luv in the core table on
** top; note whether luv was opened before loom.core. */
void loom__luv_open(lua_State *L, loom_ctx *ctx);

#endif
